/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * spec/internal.h: what the files of spec/ share with each other, and with
 * nobody else (spec/spec.h is the public side).
 *
 * One load runs top to bottom through these files; each calls only files
 * listed after it (make layering checks that no two call each other):
 *
 *   load.c   spec__load*(), spec__free(): read the file, run the passes
 *   parse.c  the YAML nodes -> struct spec, field by field
 *   check.c  what compares a field with others: duplicates, references to
 *            targets and metrics, budgets
 *   yaml.c   the libyaml document: loading, scalars, mappings, marks, the
 *            dotted field path of a diagnostic
 *   names.c  Prometheus and emitd name rules; the one table of metric types
 *            and the suffixes of the series they export
 *   diag.c   diagnostics: collect, cap, sort, print; quoting; did-you-mean
 *
 * Diagnostic marks: a bad value points at the value, an unknown or
 * duplicate key at the key, a missing field at the mapping that lacks it.
 */
#ifndef EMITD_SPEC_INTERNAL_H
#define EMITD_SPEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <yaml.h>

#include "spec/spec.h"

#define FIELD_LEN	256	/* dotted field path */
#define QUOTE_LEN	72	/* user text quoted into a message */
#define DESC_LEN	(QUOTE_LEN + 16)
#define LIST_LEN	256
#define MSG_LEN		512	/* a message a names.c rule writes */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* One load of one spec. */
struct spec_ctx {
	yaml_document_t *doc;
	struct spec *spec;
	struct spec_diags *diags;
	size_t first;		/* this load's first diagnostic in diags->v */
	size_t nr_errors;	/* errors this load found, shown or not */
	size_t nr_shown;	/* of them, kept in diags */
	bool oom;
	bool ns_ok;		/* namespace valid: full names can be formed */
	bool global_ok;		/* global_budget valid or defaulted */
	bool targets_ok;	/* targets parsed: probe.target can be checked */
	const yaml_node_t *metrics; /* the metrics: list, once read into spec */
};

/* One key a mapping may hold, and what spec_map_scan() found for it. */
struct spec_slot {
	const char *key;
	yaml_node_t *knode;
	yaml_node_t *val;
};

/* ---- diag.c ---- */

/* Report an error of this load (counted always, kept up to SPEC_MAX_DIAGS). */
void spec_diag(struct spec_ctx *c, struct spec_mark mark, const char *field,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A warning: kept (up to SPEC_MAX_DIAGS), printed, rejects nothing. */
void spec_warn(struct spec_ctx *c, struct spec_mark mark, const char *field,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Has this load shown as many diagnostics as it may? */
bool spec_diag_full(const struct spec_ctx *c);
/* Sort this load's diagnostics by position; add "N more" and "out of memory". */
void spec_diag__finish(struct spec_ctx *c);

/* @s quoted for a message: escaped, one line, shortened to QUOTE_LEN. */
const char *spec_quote_n(char buf[QUOTE_LEN], const char *s, size_t len);
const char *spec_quote(char buf[QUOTE_LEN], const char *s);
/* "a, b<last>c" of @v[0..n) into @buf of @size bytes; @last: " or ". */
const char *spec_join(char *buf, size_t size, const char *const *v, size_t n,
		      const char *last);
/* "a, b or c" of the NULL-terminated @set. */
const char *spec_join_or(char buf[LIST_LEN], const char *const *set);

/* ---- names.c ---- */

/* A name a metric exports or reserves: base[0..len) followed by suffix. */
struct spec_name_ref {
	const char *base;
	size_t len;
	const char *suffix;
};

/* The first name @a exports or reserves that @b does too; false if none. */
bool spec_names__shared(const struct spec_metric *a, const struct spec_metric *b,
			struct spec_name_ref *out);

/* ---- yaml.c ---- */

/* Load the first document of @buf into @doc; false when reported. */
bool spec_yaml__load(struct spec_ctx *c, yaml_parser_t *parser, const char *buf,
		     size_t len, yaml_document_t *doc);
/* After the first document: a second one, or a syntax error, is reported. */
void spec_yaml__expect_end(struct spec_ctx *c, yaml_parser_t *parser,
			   const char *buf, size_t len);

static inline yaml_node_t *node_at(const struct spec_ctx *c, int i)
{
	return yaml_document_get_node(c->doc, i);
}

static inline struct spec_mark mark_of(const yaml_node_t *n)
{
	struct spec_mark m = { 0, 0 };

	if (n) {
		m.line = n->start_mark.line + 1;
		m.col = n->start_mark.column + 1;
	}
	return m;
}

static inline const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static inline size_t seq_len(const yaml_node_t *n)
{
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

static inline yaml_node_t *seq_item(const struct spec_ctx *c,
				    const yaml_node_t *n, size_t i)
{
	return node_at(c, n->data.sequence.items.start[i]);
}

static inline bool str_in(const char *s, const char *const *set)
{
	for (; *set; set++) {
		if (!strcmp(s, *set))
			return true;
	}
	return false;
}

/* The mark of byte @off of scalar @n where the text allows, else of @n. */
struct spec_mark spec_mark_at(const yaml_node_t *n, size_t off);
/* "a mapping", "string \"x\"", "integer 12", ... for "expected X, got Y". */
const char *spec_describe(char buf[DESC_LEN], const yaml_node_t *n);
/* "parent.key", or parent["key"] when key is not an identifier. */
const char *spec_fkey(char buf[FIELD_LEN], const char *parent, const char *key);
const char *spec_fidx(char buf[FIELD_LEN], const char *parent, size_t i);

/* Each reports what it expected when @n is not that. */
bool spec_expect(struct spec_ctx *c, const yaml_node_t *n, yaml_node_type_t type,
		 const char *field, const char *what);
/* A non-empty string without NUL bytes; NULL (and an error) otherwise. */
const char *spec_str_ref(struct spec_ctx *c, const yaml_node_t *n,
			 const char *field);
bool spec_get_str(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		  char **out);
bool spec_get_int(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		  long long *out);
bool spec_get_num(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		  double *out);
bool spec_get_bool(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		   bool *out);

/* The value of the first @key in mapping @map, or NULL. */
yaml_node_t *spec_map_get(const struct spec_ctx *c, const yaml_node_t *map,
			  const char *key);
/* Match the keys of mapping @map to @slots; report unknown and duplicate keys. */
void spec_map_scan(struct spec_ctx *c, const yaml_node_t *map, const char *field,
		   struct spec_slot *slots, size_t nr);
/* Reports the field of @s missing from @map (with @why, may be NULL). */
bool spec_required(struct spec_ctx *c, const yaml_node_t *map, const char *field,
		   const struct spec_slot *s, const char *why);

/* ---- check.c ---- */

/* targets[@j], node @n: is its name that of an earlier target? */
void spec_check__target_dup(struct spec_ctx *c, const yaml_node_t *n, size_t j);
/* probe.target @name, node @n: is it a listed target? */
void spec_check__target_ref(struct spec_ctx *c, const yaml_node_t *n,
			    const char *field, const char *name);
/* labels[@idx] of @m, node @n: false when an earlier label has its name. */
bool spec_check__label_dup(struct spec_ctx *c, const yaml_node_t *n,
			   const char *field, const struct spec_metric *m,
			   size_t idx);
/*
 * A series budget @v: in 1..SPEC_MAX_BUDGET and, for a metric's
 * (@per_metric), within global_budget. False when reported.
 */
bool spec_check__budget(struct spec_ctx *c, const yaml_node_t *n,
			const char *field, long long v, bool per_metric);
/* Across the metrics, once parsed: names unique, expressions defined. */
void spec_check__metrics(struct spec_ctx *c);
/* Warm values: every label of @m lists them or none does, and at most budget - 1 series. */
void spec_check__warm(struct spec_ctx *c, const char *mf, const struct spec_metric *m);

/* ---- parse.c ---- */

void spec_parse__root(struct spec_ctx *c, const yaml_node_t *root);

#endif /* EMITD_SPEC_INTERNAL_H */
