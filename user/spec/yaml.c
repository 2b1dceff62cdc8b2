// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec/yaml: the libyaml document of a spec, and the values read from it.
 *
 * libyaml's document API builds the node graph; parse.c walks it with the
 * helpers here, which only ever descend into keys the schema knows, so a
 * hostile document (deep nesting, alias cycles, huge sequences under unknown
 * keys) costs at most one visit per schema field. Scalars resolve as in the
 * YAML 1.2 core schema; a value of the wrong kind is reported at its node as
 * "expected X, got Y".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/yaml_depth.h"
#include "spec/internal.h"

#define MAX_DEPTH	32	/* the schema needs 6 levels */

enum scalar_kind { SK_NULL, SK_BOOL, SK_INT, SK_FLOAT, SK_STR };

/* ---- field paths and marks ---- */

const char *spec_fkey(char buf[FIELD_LEN], const char *parent, const char *key)
{
	char q[QUOTE_LEN];

	if (spec__valid_ident(key))
		snprintf(buf, FIELD_LEN, "%s%s%s", parent, *parent ? "." : "", key);
	else
		snprintf(buf, FIELD_LEN, "%s[%s]", parent, spec_quote(q, key));
	return buf;
}

const char *spec_fidx(char buf[FIELD_LEN], const char *parent, size_t i)
{
	snprintf(buf, FIELD_LEN, "%.*s[%zu]", FIELD_LEN - 24, parent, i);
	return buf;
}

static size_t utf8_chars(const unsigned char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += (s[i] & 0xc0) != 0x80;
	return n;
}

/*
 * The mark of byte @off of scalar @n, when its text maps 1:1 onto one line
 * (plain, or quoted without escapes); the scalar's own mark otherwise.
 * libyaml counts marks in characters, not bytes.
 */
struct spec_mark spec_mark_at(const yaml_node_t *n, size_t off)
{
	yaml_scalar_style_t style = n->data.scalar.style;
	const unsigned char *v = n->data.scalar.value;
	struct spec_mark m = mark_of(n);
	size_t quoted, span;

	quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		 style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	if (style != YAML_PLAIN_SCALAR_STYLE && !quoted)
		return m;
	span = n->end_mark.index - n->start_mark.index;
	if (n->start_mark.line != n->end_mark.line ||
	    span != utf8_chars(v, n->data.scalar.length) + 2 * quoted)
		return m;
	m.col += quoted + utf8_chars(v, off);
	return m;
}

/* ---- scalars ---- */

static bool is_int_text(const char *s)
{
	const char *digits = "0123456789";

	if (s[0] == '0' && s[1] == 'x') {
		digits = "0123456789abcdefABCDEF";
		s += 2;
	} else if (*s == '-' || *s == '+') {
		s++;
	}
	return *s && strspn(s, digits) == strlen(s);
}

static bool is_special_float(const char *s)
{
	static const char *const set[] = {
		".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
		"-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL,
	};

	return str_in(s, set);
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float_text(const char *s)
{
	size_t lead, frac = 0, exp;

	if (is_special_float(s))
		return true;
	if (*s == '-' || *s == '+')
		s++;
	lead = strspn(s, "0123456789");
	s += lead;
	if (*s == '.') {
		frac = strspn(++s, "0123456789");
		s += frac;
	}
	if (!lead && !frac)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		exp = strspn(s, "0123456789");
		if (!exp)
			return false;
		s += exp;
	}
	return !*s;
}

/* YAML 1.2 core schema resolution of a scalar (explicit tags win). */
static enum scalar_kind scalar_kind(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const bools[] = {
		"true", "True", "TRUE", "false", "False", "FALSE", NULL,
	};
	const char *tag = (const char *)n->tag, *s = sval(n);
	bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

	if (tag && !strcmp(tag, YAML_NULL_TAG))
		return SK_NULL;
	if (tag && !strcmp(tag, YAML_BOOL_TAG))
		return str_in(s, bools) ? SK_BOOL : SK_STR;
	if (tag && !strcmp(tag, YAML_INT_TAG))
		return is_int_text(s) ? SK_INT : SK_STR;
	if (tag && !strcmp(tag, YAML_FLOAT_TAG))
		return is_float_text(s) || is_int_text(s) ? SK_FLOAT : SK_STR;
	if (!plain)
		return SK_STR;
	if (str_in(s, nulls))
		return SK_NULL;
	if (str_in(s, bools))
		return SK_BOOL;
	if (is_int_text(s))
		return SK_INT;
	if (is_float_text(s))
		return SK_FLOAT;
	return SK_STR;
}

const char *spec_describe(char buf[DESC_LEN], const yaml_node_t *n)
{
	char q[QUOTE_LEN];
	const char *s;
	size_t len;

	if (!n)
		return "nothing";
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	s = sval(n);
	len = strlen(s);
	switch (scalar_kind(n)) {
	case SK_NULL:
		return "null";
	case SK_BOOL:
		snprintf(buf, DESC_LEN, "boolean %s", s);
		break;
	case SK_INT:
		snprintf(buf, DESC_LEN, "integer %.32s%s", s, len > 32 ? "..." : "");
		break;
	case SK_FLOAT:
		snprintf(buf, DESC_LEN, "number %.32s%s", s, len > 32 ? "..." : "");
		break;
	case SK_STR:
		snprintf(buf, DESC_LEN, "string %s",
			 spec_quote_n(q, s, n->data.scalar.length));
		break;
	}
	return buf;
}

/* ---- values ---- */

bool spec_expect(struct spec_ctx *c, const yaml_node_t *n, yaml_node_type_t type,
		 const char *field, const char *what)
{
	char d[DESC_LEN];

	if (n && n->type == type)
		return true;
	spec_diag(c, mark_of(n), field, "expected %s, got %s", what, spec_describe(d, n));
	return false;
}

const char *spec_str_ref(struct spec_ctx *c, const yaml_node_t *n,
			 const char *field)
{
	char d[DESC_LEN];

	if (!n || n->type != YAML_SCALAR_NODE || scalar_kind(n) == SK_NULL) {
		spec_diag(c, mark_of(n), field,
			  "expected a string, got %s", spec_describe(d, n));
		return NULL;
	}
	if (strlen(sval(n)) != n->data.scalar.length) {
		spec_diag(c, mark_of(n), field, "must not contain NUL bytes");
		return NULL;
	}
	if (!n->data.scalar.length) {
		spec_diag(c, mark_of(n), field, "must not be empty");
		return NULL;
	}
	return sval(n);
}

bool spec_get_str(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		  char **out)
{
	const char *s = spec_str_ref(c, n, field);

	if (!s)
		return false;
	*out = strdup(s);
	if (!*out) {
		c->oom = true;
		return false;
	}
	return true;
}

bool spec_get_int(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 long long *out)
{
	char d[DESC_LEN];
	const char *s;
	int base = 10;

	if (!n || n->type != YAML_SCALAR_NODE || scalar_kind(n) != SK_INT) {
		spec_diag(c, mark_of(n), field,
			  "expected an integer, got %s", spec_describe(d, n));
		return false;
	}
	s = sval(n);
	if (s[0] == '0' && s[1] == 'x') {
		s += 2;
		base = 16;
	}
	errno = 0;
	*out = strtoll(s, NULL, base);
	if (errno == ERANGE) {
		spec_diag(c, mark_of(n), field, "%s is out of range", spec_describe(d, n));
		return false;
	}
	return true;
}

bool spec_get_num(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 double *out)
{
	char d[DESC_LEN];
	enum scalar_kind k = SK_NULL;
	const char *s;

	if (n && n->type == YAML_SCALAR_NODE)
		k = scalar_kind(n);
	if (k != SK_INT && k != SK_FLOAT) {
		spec_diag(c, mark_of(n), field,
			  "expected a number, got %s", spec_describe(d, n));
		return false;
	}
	s = sval(n);
	if (is_special_float(s)) {
		const char *t = s + (*s == '-' || *s == '+');

		if (t[1] == 'n' || t[1] == 'N')
			*out = NAN;
		else
			*out = *s == '-' ? -INFINITY : INFINITY;
	} else {
		*out = strtod(s, NULL);
	}
	return true;
}

bool spec_get_bool(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			  bool *out)
{
	char d[DESC_LEN];

	if (!n || n->type != YAML_SCALAR_NODE || scalar_kind(n) != SK_BOOL) {
		spec_diag(c, mark_of(n), field, "expected a boolean (true or false), got %s",
			  spec_describe(d, n));
		return false;
	}
	*out = sval(n)[0] == 't' || sval(n)[0] == 'T';
	return true;
}

/* ---- mappings ---- */

yaml_node_t *spec_map_get(const struct spec_ctx *c, const yaml_node_t *map,
			  const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp(sval(k), key) &&
		    strlen(sval(k)) == k->data.scalar.length)
			return node_at(c, p->value);
	}
	return NULL;
}

static void unknown_key(struct spec_ctx *c, const yaml_node_t *k, const char *field,
			const struct spec_slot *slots, size_t nr)
{
	char q[QUOTE_LEN], list[LIST_LEN];
	const char *keys[32];
	struct spec_hint h;
	size_t i;

	spec_hint__init(&h, sval(k));
	for (i = 0; i < nr && i < ARRAY_SIZE(keys) - 1; i++) {
		keys[i] = slots[i].key;
		spec_hint__offer(&h, slots[i].key);
	}
	keys[i] = NULL;
	spec_quote_n(q, sval(k), k->data.scalar.length);
	if (h.best)
		spec_diag(c, mark_of(k), field, "unknown key %s (did you mean \"%s\"?)",
			  q, h.best);
	else
		spec_diag(c, mark_of(k), field, "unknown key %s (expected %s)", q,
			  spec_join_or(list, keys));
}

static struct spec_slot *find_slot(struct spec_slot *slots, size_t nr,
				   const yaml_node_t *k)
{
	size_t i;

	if (strlen(sval(k)) != k->data.scalar.length)
		return NULL;
	for (i = 0; i < nr; i++) {
		if (!strcmp(sval(k), slots[i].key))
			return &slots[i];
	}
	return NULL;
}

void spec_map_scan(struct spec_ctx *c, const yaml_node_t *map, const char *field,
			  struct spec_slot *slots, size_t nr)
{
	char f[FIELD_LEN], d[DESC_LEN];
	yaml_node_pair_t *p;
	struct spec_slot *s;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);

		if (!k || k->type != YAML_SCALAR_NODE) {
			spec_diag(c, mark_of(k), field, "expected a string key, got %s",
				  spec_describe(d, k));
			continue;
		}
		s = find_slot(slots, nr, k);
		if (!s) {
			unknown_key(c, k, field, slots, nr);
		} else if (s->knode) {
			spec_diag(c, mark_of(k), spec_fkey(f, field, s->key),
				  "duplicate key (first at %u:%u)",
				  mark_of(s->knode).line, mark_of(s->knode).col);
		} else {
			s->knode = k;
			s->val = node_at(c, p->value);
		}
	}
}

bool spec_required(struct spec_ctx *c, const yaml_node_t *map, const char *field,
			  const struct spec_slot *s, const char *why)
{
	char f[FIELD_LEN];

	if (s->val)
		return true;
	spec_fkey(f, field, s->key);
	if (why)
		spec_diag(c, mark_of(map), f, "missing required field (%s)", why);
	else
		spec_diag(c, mark_of(map), f, "missing required field");
	return false;
}

/* ---- the document ---- */

/* line:col of byte @off (reader errors carry only an offset). */
static struct spec_mark offset_mark(const char *buf, size_t len, size_t off)
{
	struct spec_mark m = { 1, 1 };
	size_t i;

	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			m.line++;
			m.col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			m.col++;
		}
	}
	return m;
}

static void yaml_error(struct spec_ctx *c, const yaml_parser_t *p, const char *buf,
		       size_t len)
{
	struct spec_mark m = { p->problem_mark.line + 1, p->problem_mark.column + 1 };
	const char *problem = p->problem ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		c->oom = true;
		break;
	case YAML_READER_ERROR:
		m = offset_mark(buf, len, p->problem_offset);
		if (p->problem_value != -1)
			spec_diag(c, m, NULL, "invalid input: %s (#%X)", problem,
				  (unsigned int)p->problem_value);
		else
			spec_diag(c, m, NULL, "invalid input: %s", problem);
		break;
	default:
		if (p->context)
			spec_diag(c, m, NULL, "YAML syntax error: %s (%s at %zu:%zu)", problem,
				  p->context, p->context_mark.line + 1,
				  p->context_mark.column + 1);
		else
			spec_diag(c, m, NULL, "YAML syntax error: %s", problem);
		break;
	}
}

/* Refuse deep nesting before the loader (lib/yaml_depth.h). */
static bool too_deep(struct spec_ctx *c, const char *buf, size_t len)
{
	size_t line = 0, col = 0;
	int r = yaml__check_depth(buf, len, MAX_DEPTH, &line, &col);

	if (r < 0)
		c->oom = true;
	else if (r)
		spec_diag(c, (struct spec_mark){ (unsigned int)line, (unsigned int)col }, NULL,
			  "nested deeper than %d levels", MAX_DEPTH);
	return r != 0;
}

bool spec_yaml__load(struct spec_ctx *c, yaml_parser_t *parser, const char *buf,
		     size_t len, yaml_document_t *doc)
{
	if (too_deep(c, buf, len))
		return false;
	if (yaml_parser_load(parser, doc))
		return true;
	yaml_error(c, parser, buf, len);
	return false;
}

void spec_yaml__expect_end(struct spec_ctx *c, yaml_parser_t *parser,
			   const char *buf, size_t len)
{
	yaml_document_t next;
	yaml_node_t *root;

	if (!yaml_parser_load(parser, &next)) {
		yaml_error(c, parser, buf, len);
		return;
	}
	root = yaml_document_get_root_node(&next);
	if (root)
		spec_diag(c, mark_of(root), NULL,
			  "a spec is one YAML document (found a second one)");
	yaml_document_delete(&next);
}
