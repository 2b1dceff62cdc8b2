/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * lint_promql: `emitd lint` checks that every PromQL expression of a spec
 * parses: the spec's panel and alert expressions, and every expression
 * `emitd gen` writes for it (dashboards, recording rules, alert rules).
 *
 * There is no PromQL parser in C: the expressions are written as recording
 * rules to a temporary rules file and Prometheus' own parser, `promtool check
 * rules`, reads it. This runs a subprocess, so it is kept out of spec__load().
 */
#ifndef EMITD_LINT_PROMQL_H
#define EMITD_LINT_PROMQL_H

#include "spec/spec.h"

/* Overrides the promtool found in $PATH. */
#define LINT_PROMTOOL_ENV	"EMITD_PROMTOOL"
#define LINT_PROMTOOL		"promtool"
/* Record names in the temporary rules file: <prefix><index>. */
#define LINT_RECORD_PREFIX	"emitd:lint:expr_"

/*
 * Parse every PromQL expression of @spec (a spec that loaded without errors)
 * with promtool. Each expression that does not parse adds a diagnostic to
 * @diags at the line:col of its panel or alert, or of the metric a generated
 * expression comes from: "PromQL does not parse: <promtool's message>".
 *
 * Returns 0 when all parse, also when promtool is not installed (a warning
 * goes to stderr); -EINVAL when some did not (diagnostics added); another
 * negative errno when the check could not run.
 */
int lint__promql(const struct spec *spec, struct spec_diags *diags);

#endif /* EMITD_LINT_PROMQL_H */
