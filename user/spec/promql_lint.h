/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * promql_lint: `emitd lint` checks that PromQL expressions parse, each one
 * reported at its place in the spec when it does not.
 *
 * There is no PromQL parser in C: the expressions are written as recording
 * rules to a temporary rules file and Prometheus' own parser, `promtool check
 * rules`, reads it. This runs a subprocess, so it is kept out of spec__load().
 * The caller says which expressions: a plain list, each with where it is
 * reported (gen/cli.c's gen__lint_promql() gives the spec's own and every
 * expression gen writes for it).
 */
#ifndef EMITD_LINT_PROMQL_H
#define EMITD_LINT_PROMQL_H

#include <stddef.h>

#include "spec/spec.h"

/* Overrides the promtool found in $PATH. */
#define LINT_PROMTOOL_ENV	"EMITD_PROMTOOL"
#define LINT_PROMTOOL		"promtool"
/* Record names in the temporary rules file: <prefix><index>. */
#define LINT_RECORD_PREFIX	"emitd:lint:expr_"

/* One expression to parse, and where a failure is reported. */
struct promql_expr {
	const char *expr;
	struct spec_mark mark;	/* line:col in the spec; 0:0 for none */
	const char *field;	/* "metrics[0].panels[1].promql", "metrics[2]", "" for none */
	const char *origin;	/* where gen writes it ("rules/alerts.yml, Name"), NULL for the spec's own */
};

/*
 * Parse the @nr expressions of @v with promtool. Each one that does not
 * parse adds a diagnostic to @diags at its mark and field:
 * "PromQL does not parse: <promtool's message>", followed by
 * " (generated expression `<expr>` in <origin>)" when it has an origin.
 *
 * Returns 0 when all parse, also when promtool is not installed (a warning
 * goes to stderr); -EINVAL when some did not (diagnostics added); another
 * negative errno when the check could not run (said on stderr).
 */
int promql__lint(const struct promql_expr *v, size_t nr, struct spec_diags *diags);

#endif /* EMITD_LINT_PROMQL_H */
