// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec: the YAML metric spec -> struct spec, with file:line:col diagnostics.
 *
 * libyaml's document API builds the node graph; the walkers below check it
 * against schema v1 by hand. They only ever descend into keys the schema
 * knows, so a hostile document (deep nesting, alias cycles, huge sequences
 * under unknown keys) costs at most one visit per schema field. Every error
 * is collected; the spec is rejected when there was any.
 *
 * Diagnostic marks: a bad value points at the value, an unknown or duplicate
 * key at the key, a missing field at the mapping that lacks it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "spec/spec.h"

#define FIELD_LEN	256	/* dotted field path */
#define QUOTE_LEN	72	/* user text quoted into a message */
#define DESC_LEN	(QUOTE_LEN + 16)
#define LIST_LEN	256
#define MAX_DEPTH	32	/* the schema needs 6 levels */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct ctx {
	yaml_document_t *doc;
	struct spec *spec;
	struct spec_diags *diags;
	size_t first;		/* this load's first diagnostic in diags->v */
	size_t nr_errors;	/* errors this load found, shown or not */
	bool oom;
	bool ns_ok;		/* namespace valid: full names can be formed */
	bool global_ok;		/* global_budget valid or defaulted */
	bool targets_ok;	/* targets parsed: probe.target can be checked */
};

/* One key a mapping may hold, and what map_scan() found for it. */
struct slot {
	const char *key;
	yaml_node_t *knode;
	yaml_node_t *val;
};

/* ---- diagnostics ---- */

static int diags_vadd(struct spec_diags *d, struct spec_mark mark,
		      const char *field, const char *fmt, va_list ap)
{
	struct spec_diag *v;
	char *msg, *fld;

	v = realloc(d->v, (d->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->v = v;
	if (vasprintf(&msg, fmt, ap) < 0)
		return -ENOMEM;
	fld = strdup(field ? field : "");
	if (!fld) {
		free(msg);
		return -ENOMEM;
	}
	v[d->nr].mark = mark;
	v[d->nr].field = fld;
	v[d->nr].msg = msg;
	d->nr++;
	d->nr_errors++;
	return 0;
}

int spec_diags__add(struct spec_diags *diags, struct spec_mark mark,
		    const char *field, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = diags_vadd(diags, mark, field, fmt, ap);
	va_end(ap);
	return err;
}

static bool diags_full(const struct ctx *c)
{
	return c->diags->nr - c->first >= SPEC_MAX_DIAGS;
}

__attribute__((format(printf, 4, 5)))
static void diag(struct ctx *c, struct spec_mark mark, const char *field,
		 const char *fmt, ...)
{
	va_list ap;

	c->nr_errors++;
	if (diags_full(c))
		return;
	va_start(ap, fmt);
	if (diags_vadd(c->diags, mark, field, fmt, ap))
		c->oom = true;
	va_end(ap);
}

static bool mark_before(struct spec_mark a, struct spec_mark b)
{
	if (!a.line != !b.line)
		return a.line;		/* marks without a position go last */
	if (a.line != b.line)
		return a.line < b.line;
	return a.col < b.col;
}

/* Stable sort of this load's diagnostics by position (there are few). */
static void sort_diags(struct ctx *c)
{
	struct spec_diag *v = c->diags->v, tmp;
	size_t i, j;

	for (i = c->first + 1; i < c->diags->nr; i++) {
		tmp = v[i];
		for (j = i; j > c->first && mark_before(tmp.mark, v[j - 1].mark); j--)
			v[j] = v[j - 1];
		v[j] = tmp;
	}
}

void spec_diags__print(const struct spec_diags *diags, const char *path, FILE *f)
{
	const struct spec_diag *d;
	size_t i;

	if (!path)
		path = "<spec>";
	for (i = 0; i < diags->nr; i++) {
		d = &diags->v[i];
		if (d->mark.line)
			fprintf(f, "%s:%u:%u: error: ", path, d->mark.line, d->mark.col);
		else
			fprintf(f, "%s: error: ", path);
		if (d->field && *d->field)
			fprintf(f, "%s: ", d->field);
		fprintf(f, "%s\n", d->msg);
	}
}

void spec_diags__free(struct spec_diags *diags)
{
	size_t i;

	if (!diags)
		return;
	for (i = 0; i < diags->nr; i++) {
		free(diags->v[i].field);
		free(diags->v[i].msg);
	}
	free(diags->v);
	memset(diags, 0, sizeof(*diags));
}

/* ---- text helpers ---- */

/* Drop a UTF-8 sequence that a truncation at @o may have cut. */
static size_t utf8_trim(const char *buf, size_t o)
{
	while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
		o--;
	if (o > 1 && (unsigned char)buf[o - 1] >= 0xc0)
		o--;
	return o;
}

/* @s quoted for a message: escaped, one line, shortened to QUOTE_LEN. */
static const char *quote_n(char buf[QUOTE_LEN], const char *s, size_t len)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char ch = s[i];

		if (o + 10 > QUOTE_LEN) {
			o = utf8_trim(buf, o);
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += snprintf(buf + o, QUOTE_LEN - o, "\\x%02x", ch);
		} else {
			buf[o++] = ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const char *quote(char buf[QUOTE_LEN], const char *s)
{
	return quote_n(buf, s, strlen(s));
}

/* "parent.key", or parent["key"] when key is not an identifier. */
static const char *fkey(char buf[FIELD_LEN], const char *parent, const char *key)
{
	char q[QUOTE_LEN];

	if (spec__valid_ident(key))
		snprintf(buf, FIELD_LEN, "%s%s%s", parent, *parent ? "." : "", key);
	else
		snprintf(buf, FIELD_LEN, "%s[%s]", parent, quote(q, key));
	return buf;
}

static const char *fidx(char buf[FIELD_LEN], const char *parent, size_t i)
{
	snprintf(buf, FIELD_LEN, "%.*s[%zu]", FIELD_LEN - 24, parent, i);
	return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Does <namespace>_<name> end in @suffix ("_..."), whatever the namespace? */
static bool full_ends_with(const char *name, const char *suffix)
{
	return ends_with(name, suffix) || !strcmp(name, suffix + 1);
}

static bool str_in(const char *s, const char *const *set)
{
	for (; *set; set++) {
		if (!strcmp(s, *set))
			return true;
	}
	return false;
}

/* "a, b or c" */
static const char *join_or(char buf[LIST_LEN], const char *const *set)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; *set; set++) {
		const char *sep = o ? (set[1] ? ", " : " or ") : "";

		o += snprintf(buf + o, LIST_LEN - o, "%s%s", sep, *set);
		if (o >= LIST_LEN)
			break;
	}
	return buf;
}

/* Within a typo of @cand? */
static bool close_enough(unsigned int d, const char *cand)
{
	return d <= 3 && 3 * d <= strlen(cand) + 2;
}

static bool all_chars(const char *s, const char *extra, bool lower_only)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char ch = *s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			continue;
		if (!lower_only && ch >= 'A' && ch <= 'Z')
			continue;
		if (!strchr(extra, ch))
			return false;
	}
	return true;
}

/* ---- YAML nodes ---- */

enum scalar_kind { SK_NULL, SK_BOOL, SK_INT, SK_FLOAT, SK_STR };

static yaml_node_t *node_at(struct ctx *c, int i)
{
	return yaml_document_get_node(c->doc, i);
}

static struct spec_mark mark_of(const yaml_node_t *n)
{
	struct spec_mark m = { 0, 0 };

	if (n) {
		m.line = n->start_mark.line + 1;
		m.col = n->start_mark.column + 1;
	}
	return m;
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t seq_len(const yaml_node_t *n)
{
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

static yaml_node_t *seq_item(struct ctx *c, const yaml_node_t *n, size_t i)
{
	return node_at(c, n->data.sequence.items.start[i]);
}

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

/* "a mapping", "string \"x\"", "integer 12", ... for "expected X, got Y". */
static const char *describe(char buf[DESC_LEN], const yaml_node_t *n)
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
			 quote_n(q, s, n->data.scalar.length));
		break;
	}
	return buf;
}

static bool expect(struct ctx *c, const yaml_node_t *n, yaml_node_type_t type,
		   const char *field, const char *what)
{
	char d[DESC_LEN];

	if (n && n->type == type)
		return true;
	diag(c, mark_of(n), field, "expected %s, got %s", what, describe(d, n));
	return false;
}

/* A non-empty string without NUL bytes; NULL (and an error) otherwise. */
static const char *str_ref(struct ctx *c, const yaml_node_t *n, const char *field)
{
	char d[DESC_LEN];

	if (!n || n->type != YAML_SCALAR_NODE || scalar_kind(n) == SK_NULL) {
		diag(c, mark_of(n), field, "expected a string, got %s", describe(d, n));
		return NULL;
	}
	if (strlen(sval(n)) != n->data.scalar.length) {
		diag(c, mark_of(n), field, "must not contain NUL bytes");
		return NULL;
	}
	if (!n->data.scalar.length) {
		diag(c, mark_of(n), field, "must not be empty");
		return NULL;
	}
	return sval(n);
}

static bool get_str(struct ctx *c, const yaml_node_t *n, const char *field, char **out)
{
	const char *s = str_ref(c, n, field);

	if (!s)
		return false;
	*out = strdup(s);
	if (!*out) {
		c->oom = true;
		return false;
	}
	return true;
}

static bool get_int(struct ctx *c, const yaml_node_t *n, const char *field,
		    long long *out)
{
	char d[DESC_LEN];
	const char *s;
	int base = 10;

	if (!n || n->type != YAML_SCALAR_NODE || scalar_kind(n) != SK_INT) {
		diag(c, mark_of(n), field, "expected an integer, got %s", describe(d, n));
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
		diag(c, mark_of(n), field, "%s is out of range", describe(d, n));
		return false;
	}
	return true;
}

static bool get_num(struct ctx *c, const yaml_node_t *n, const char *field,
		    double *out)
{
	char d[DESC_LEN];
	enum scalar_kind k = SK_NULL;
	const char *s;

	if (n && n->type == YAML_SCALAR_NODE)
		k = scalar_kind(n);
	if (k != SK_INT && k != SK_FLOAT) {
		diag(c, mark_of(n), field, "expected a number, got %s", describe(d, n));
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

static bool get_bool(struct ctx *c, const yaml_node_t *n, const char *field,
		     bool *out)
{
	char d[DESC_LEN];

	if (!n || n->type != YAML_SCALAR_NODE || scalar_kind(n) != SK_BOOL) {
		diag(c, mark_of(n), field, "expected a boolean (true or false), got %s",
		     describe(d, n));
		return false;
	}
	*out = sval(n)[0] == 't' || sval(n)[0] == 'T';
	return true;
}

/* The value of the first @key in mapping @map, or NULL. */
static yaml_node_t *map_get(struct ctx *c, const yaml_node_t *map, const char *key)
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

static void unknown_key(struct ctx *c, const yaml_node_t *k, const char *field,
			const struct slot *slots, size_t nr)
{
	char q[QUOTE_LEN], list[LIST_LEN];
	const char *keys[32], *best = NULL;
	unsigned int best_d = UINT_MAX, d;
	size_t i;

	for (i = 0; i < nr && i < ARRAY_SIZE(keys) - 1; i++) {
		keys[i] = slots[i].key;
		d = spec__edit_distance(sval(k), slots[i].key);
		if (d < best_d && close_enough(d, slots[i].key)) {
			best_d = d;
			best = slots[i].key;
		}
	}
	keys[i] = NULL;
	quote_n(q, sval(k), k->data.scalar.length);
	if (best)
		diag(c, mark_of(k), field, "unknown key %s (did you mean \"%s\"?)", q, best);
	else
		diag(c, mark_of(k), field, "unknown key %s (expected %s)", q,
		     join_or(list, keys));
}

static struct slot *find_slot(struct slot *slots, size_t nr, const yaml_node_t *k)
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

/* Match the keys of mapping @map to @slots; report unknown and duplicate keys. */
static void map_scan(struct ctx *c, const yaml_node_t *map, const char *field,
		     struct slot *slots, size_t nr)
{
	char f[FIELD_LEN], d[DESC_LEN];
	yaml_node_pair_t *p;
	struct slot *s;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);

		if (!k || k->type != YAML_SCALAR_NODE) {
			diag(c, mark_of(k), field, "expected a string key, got %s",
			     describe(d, k));
			continue;
		}
		s = find_slot(slots, nr, k);
		if (!s) {
			unknown_key(c, k, field, slots, nr);
		} else if (s->knode) {
			diag(c, mark_of(k), fkey(f, field, s->key),
			     "duplicate key (first at %u:%u)",
			     mark_of(s->knode).line, mark_of(s->knode).col);
		} else {
			s->knode = k;
			s->val = node_at(c, p->value);
		}
	}
}

static bool required(struct ctx *c, const yaml_node_t *map, const char *field,
		     const struct slot *s, const char *why)
{
	char f[FIELD_LEN];

	if (s->val)
		return true;
	fkey(f, field, s->key);
	if (why)
		diag(c, mark_of(map), f, "missing required field (%s)", why);
	else
		diag(c, mark_of(map), f, "missing required field");
	return false;
}

/* ---- targets ---- */

static void parse_target(struct ctx *c, yaml_node_t *n, const char *field,
			 struct spec_target *t)
{
	enum { T_NAME, T_BINARY, T_PID, T_NR };
	struct slot s[T_NR] = {
		[T_NAME] = { .key = "name" }, [T_BINARY] = { .key = "binary" },
		[T_PID] = { .key = "pid" },
	};
	char f[FIELD_LEN], q[QUOTE_LEN];
	long long pid;

	t->mark = mark_of(n);
	if (!expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	map_scan(c, n, field, s, T_NR);
	if (required(c, n, field, &s[T_NAME], NULL) &&
	    get_str(c, s[T_NAME].val, fkey(f, field, "name"), &t->name) &&
	    !all_chars(t->name, "_.-", false))
		diag(c, mark_of(s[T_NAME].val), f,
		     "invalid target name %s (must match [a-zA-Z0-9_.-]+)",
		     quote(q, t->name));
	if (s[T_BINARY].val) {
		t->binary_mark = mark_of(s[T_BINARY].val);
		get_str(c, s[T_BINARY].val, fkey(f, field, "binary"), &t->binary);
	}
	if (s[T_PID].val && get_int(c, s[T_PID].val, fkey(f, field, "pid"), &pid)) {
		if (pid < 1 || pid > INT_MAX)
			diag(c, mark_of(s[T_PID].val), f,
			     "must be a process id between 1 and %d (got %lld)",
			     INT_MAX, pid);
		else
			t->pid = pid;
	}
	if (!s[T_BINARY].val && !s[T_PID].val)
		diag(c, t->mark, field, "needs a binary, a pid or both");
}

static void check_target_dup(struct ctx *c, yaml_node_t *n, size_t j)
{
	const struct spec_target *t = c->spec->targets;
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t i;

	if (!t[j].name)
		return;
	for (i = 0; i < j; i++) {
		if (t[i].name && !strcmp(t[i].name, t[j].name)) {
			snprintf(f, sizeof(f), "targets[%zu].name", j);
			diag(c, mark_of(map_get(c, n, "name")), f,
			     "duplicate target name %s (first at targets[%zu])",
			     quote(q, t[j].name), i);
			return;
		}
	}
}

static void parse_targets(struct ctx *c, yaml_node_t *n)
{
	struct spec *spec = c->spec;
	char f[FIELD_LEN];
	size_t nr, i;

	if (!expect(c, n, YAML_SEQUENCE_NODE, "targets", "a list of targets"))
		return;
	nr = seq_len(n);
	if (!nr) {
		diag(c, mark_of(n), "targets", "must list at least one target");
		return;
	}
	if (nr > SPEC_MAX_TARGETS) {
		diag(c, mark_of(n), "targets", "too many targets (%zu, at most %d)",
		     nr, SPEC_MAX_TARGETS);
		nr = SPEC_MAX_TARGETS;
	} else {
		c->targets_ok = true;
	}
	spec->targets = calloc(nr, sizeof(*spec->targets));
	if (!spec->targets) {
		c->oom = true;
		c->targets_ok = false;
		return;
	}
	spec->nr_targets = nr;
	for (i = 0; i < nr; i++) {
		yaml_node_t *item = seq_item(c, n, i);

		parse_target(c, item, fidx(f, "targets", i), &spec->targets[i]);
		check_target_dup(c, item, i);
	}
}

/* ---- sources ---- */

enum src_role {
	SRC_VALUE,	/* value, before, after: a number */
	SRC_LABEL,	/* a label: integer argument or string */
};

enum { S_ARG, S_AS, S_DEREF, S_OFFSET, S_NR };

static void parse_src_arg(struct ctx *c, const yaml_node_t *n, const char *field,
			  enum spec_probe_kind kind, struct spec_src *src)
{
	long long arg;

	if (!get_int(c, n, field, &arg))
		return;
	if (kind == SPEC_PROBE_UPROBE && (arg < 0 || arg > SPEC_MAX_UPROBE_ARG))
		diag(c, mark_of(n), field,
		     "a uprobe can read arguments 0..%d only (x86-64 passes the first six integer arguments in registers), got %lld",
		     SPEC_MAX_UPROBE_ARG, arg);
	else if (arg < 0 || arg > SPEC_MAX_ARG)
		diag(c, mark_of(n), field, "must be between 0 and %d (got %lld)",
		     SPEC_MAX_ARG, arg);
	else
		src->arg = arg;
}

static void parse_src_as(struct ctx *c, const yaml_node_t *n, const char *field,
			 enum src_role role, struct spec_src *src)
{
	char q[QUOTE_LEN];
	const char *s = str_ref(c, n, field);

	if (!s)
		return;
	if (!strcmp(s, "s64")) {
		src->type = SPEC_VAL_S64;
	} else if (!strcmp(s, "u64")) {
		src->type = SPEC_VAL_U64;
	} else if (!strcmp(s, "string") && role == SRC_LABEL) {
		src->kind = SPEC_SRC_STRING;
	} else if (!strcmp(s, "string")) {
		diag(c, mark_of(n), field,
		     "a string cannot be a metric value (as: string is for label sources only)");
	} else if (!strcmp(s, "f64")) {
		diag(c, mark_of(n), field,
		     "f64 cannot be read from an argument (x86-64 passes doubles in XMM registers, which probes cannot read): pass a pointer and use { arg: N, deref: f64 }");
	} else {
		diag(c, mark_of(n), field, "unknown type %s (expected %s)", quote(q, s),
		     role == SRC_LABEL ? "s64, u64 or string" : "s64 or u64");
	}
}

static void parse_src_deref(struct ctx *c, const yaml_node_t *n, const char *field,
			    enum src_role role, struct spec_src *src)
{
	char q[QUOTE_LEN];
	const char *s = str_ref(c, n, field);

	if (!s)
		return;
	if (role == SRC_LABEL) {
		diag(c, mark_of(n), field,
		     "label sources cannot dereference pointers in spec v1 (use { arg: N } or { arg: N, as: string })");
		return;
	}
	src->kind = SPEC_SRC_DEREF;
	if (!strcmp(s, "s64"))
		src->type = SPEC_VAL_S64;
	else if (!strcmp(s, "u64"))
		src->type = SPEC_VAL_U64;
	else if (!strcmp(s, "f64"))
		src->type = SPEC_VAL_F64;
	else
		diag(c, mark_of(n), field, "unknown type %s (expected u64, s64 or f64)",
		     quote(q, s));
}

static void parse_src_offset(struct ctx *c, const struct slot *s,
			     const char *field, struct spec_src *src)
{
	long long off;

	if (!s[S_DEREF].val) {
		diag(c, mark_of(s[S_OFFSET].knode), field, "only valid with deref");
		return;
	}
	if (!get_int(c, s[S_OFFSET].val, field, &off))
		return;
	if (off < 0 || off > SPEC_MAX_OFFSET)
		diag(c, mark_of(s[S_OFFSET].val), field,
		     "must be between 0 and %d (got %lld)", SPEC_MAX_OFFSET, off);
	else
		src->offset = off;
}

/* { arg: N [, as: s64|u64|string] } or { arg: N, deref: T [, offset: K] } */
static void parse_src(struct ctx *c, const yaml_node_t *n, const char *field,
		      enum src_role role, enum spec_probe_kind kind,
		      struct spec_src *src)
{
	struct slot s[S_NR] = {
		[S_ARG] = { .key = "arg" }, [S_AS] = { .key = "as" },
		[S_DEREF] = { .key = "deref" }, [S_OFFSET] = { .key = "offset" },
	};
	char f[FIELD_LEN], d[DESC_LEN];

	src->mark = mark_of(n);
	if (!n || n->type != YAML_MAPPING_NODE) {
		diag(c, mark_of(n), field,
		     "expected a source mapping such as { arg: 0 }, got %s",
		     describe(d, n));
		return;
	}
	map_scan(c, n, field, s, S_NR);
	src->kind = SPEC_SRC_ARG;
	src->type = SPEC_VAL_S64;
	if (required(c, n, field, &s[S_ARG], NULL))
		parse_src_arg(c, s[S_ARG].val, fkey(f, field, "arg"), kind, src);
	if (s[S_AS].val && s[S_DEREF].val)
		diag(c, mark_of(s[S_DEREF].knode), fkey(f, field, "deref"),
		     "cannot be combined with as (deref names the type it reads)");
	else if (s[S_AS].val)
		parse_src_as(c, s[S_AS].val, fkey(f, field, "as"), role, src);
	else if (s[S_DEREF].val)
		parse_src_deref(c, s[S_DEREF].val, fkey(f, field, "deref"), role, src);
	if (s[S_OFFSET].val)
		parse_src_offset(c, s, fkey(f, field, "offset"), src);
}

/* ---- probes ---- */

enum { P_TARGET, P_UPROBE, P_USDT, P_VALUE, P_BEFORE, P_AFTER, P_LABELS, P_NR };

static void parse_probe_target(struct ctx *c, const yaml_node_t *n,
			       const char *field, struct spec_probe *p)
{
	const struct spec *spec = c->spec;
	const char *best = NULL;
	unsigned int best_d = UINT_MAX, d;
	char q[QUOTE_LEN];
	size_t i;

	if (!get_str(c, n, field, &p->target) || !c->targets_ok ||
	    spec__find_target(spec, p->target))
		return;
	for (i = 0; i < spec->nr_targets; i++) {
		const char *name = spec->targets[i].name;

		if (!name)
			continue;
		d = spec__edit_distance(p->target, name);
		if (d < best_d && close_enough(d, name)) {
			best_d = d;
			best = name;
		}
	}
	quote(q, p->target);
	if (best)
		diag(c, mark_of(n), field, "unknown target %s (did you mean \"%s\"?)",
		     q, best);
	else
		diag(c, mark_of(n), field, "unknown target %s (not listed in targets)", q);
}

static void parse_uprobe(struct ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_probe *p)
{
	char q[QUOTE_LEN];

	p->site_mark = mark_of(n);
	if (!get_str(c, n, field, &p->symbol))
		return;
	if (spec__valid_ident(p->symbol))
		p->kind = SPEC_PROBE_UPROBE;
	else
		diag(c, mark_of(n), field,
		     "invalid symbol %s (expected a C identifier)", quote(q, p->symbol));
}

static void parse_usdt(struct ctx *c, const yaml_node_t *n, const char *field,
		       struct spec_probe *p)
{
	const char *s = str_ref(c, n, field), *colon;
	char q[QUOTE_LEN];

	p->site_mark = mark_of(n);
	if (!s)
		return;
	colon = strchr(s, ':');
	if (colon) {
		p->provider = strndup(s, colon - s);
		p->name = strdup(colon + 1);
		if (!p->provider || !p->name) {
			c->oom = true;
			return;
		}
	}
	if (colon && spec__valid_ident(p->provider) && spec__valid_ident(p->name))
		p->kind = SPEC_PROBE_USDT;
	else
		diag(c, mark_of(n), field,
		     "invalid USDT probe %s (expected 'provider:name', both C identifiers)",
		     quote(q, s));
}

static void parse_probe_site(struct ctx *c, const yaml_node_t *n,
			     const char *field, const struct slot *s,
			     struct spec_probe *p)
{
	char f[FIELD_LEN];

	if (!s[P_UPROBE].val && !s[P_USDT].val)
		diag(c, mark_of(n), field,
		     "needs one of uprobe: SYMBOL or usdt: 'provider:name'");
	else if (s[P_UPROBE].val && s[P_USDT].val)
		diag(c, mark_of(s[P_USDT].knode), fkey(f, field, "usdt"),
		     "cannot be combined with uprobe (a probe is a uprobe or a USDT probe)");
	else if (s[P_UPROBE].val)
		parse_uprobe(c, s[P_UPROBE].val, fkey(f, field, "uprobe"), p);
	else
		parse_usdt(c, s[P_USDT].val, fkey(f, field, "usdt"), p);
}

static void parse_probe_value(struct ctx *c, const yaml_node_t *n,
			      const char *field, const struct slot *s,
			      struct spec_metric *m)
{
	char f[FIELD_LEN], why[64];
	const yaml_node_t *v = s[P_VALUE].val;

	fkey(f, field, "value");
	if (v && m->type == SPEC_NORMALIZATION) {
		diag(c, mark_of(s[P_VALUE].knode), f,
		     "not allowed for normalization metrics (they read before and after)");
	} else if (v) {
		parse_src(c, v, f, SRC_VALUE, m->probe.kind, &m->probe.value);
		if (m->type == SPEC_COUNTER && m->probe.value.type == SPEC_VAL_F64)
			diag(c, mark_of(v), f,
			     "a counter adds its increments in the kernel, which has no floating point: use an integer (u64 or s64) increment");
	} else if (m->type == SPEC_GAUGE || m->type == SPEC_HISTOGRAM) {
		snprintf(why, sizeof(why), "a %s needs a value",
			 spec_metric_type__name(m->type));
		required(c, n, field, &s[P_VALUE], why);
	}
}

static void parse_probe_norm(struct ctx *c, const yaml_node_t *n,
			     const char *field, const struct slot *s,
			     struct spec_metric *m)
{
	struct spec_src *src[] = { &m->probe.before, &m->probe.after };
	char f[FIELD_LEN];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(src); i++) {
		const struct slot *sl = &s[P_BEFORE + i];

		fkey(f, field, sl->key);
		if (sl->val && m->type && m->type != SPEC_NORMALIZATION)
			diag(c, mark_of(sl->knode), f,
			     "only normalization metrics read before and after");
		else if (sl->val)
			parse_src(c, sl->val, f, SRC_VALUE, m->probe.kind, src[i]);
		else if (m->type == SPEC_NORMALIZATION)
			required(c, n, field, sl,
				 "a normalization compares before and after");
	}
}

/* The label among m->labels named by key node @k, or -1. */
static int label_index(const struct spec_metric *m, const yaml_node_t *k)
{
	size_t i;

	if (k->type != YAML_SCALAR_NODE ||
	    strlen(sval(k)) != k->data.scalar.length)
		return -1;
	for (i = 0; i < m->nr_labels; i++) {
		if (m->labels[i].name && !strcmp(m->labels[i].name, sval(k)))
			return i;
	}
	return -1;
}

/*
 * Match probe.labels (mapping @n) to the metric's labels; @mf is the
 * metric's field. Returns marks of the matched keys in @seen.
 */
static void match_label_sources(struct ctx *c, const yaml_node_t *n,
				const char *mf, struct spec_metric *m,
				bool labels_ok, struct spec_mark *seen)
{
	char f[FIELD_LEN], pf[FIELD_LEN], q[QUOTE_LEN], d[DESC_LEN];
	yaml_node_pair_t *p;
	int i;

	snprintf(pf, sizeof(pf), "%s.probe.labels", mf);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);

		if (!k || k->type != YAML_SCALAR_NODE) {
			diag(c, mark_of(k), pf, "expected a label name, got %s",
			     describe(d, k));
			continue;
		}
		fkey(f, pf, sval(k));
		i = label_index(m, k);
		if (i < 0 && labels_ok)
			diag(c, mark_of(k), f,
			     "source for undeclared label %s (add it to %s.labels)",
			     quote_n(q, sval(k), k->data.scalar.length), mf);
		if (i < 0)
			continue;
		if (seen[i].line) {
			diag(c, mark_of(k), f, "duplicate key (first at %u:%u)",
			     seen[i].line, seen[i].col);
			continue;
		}
		seen[i] = mark_of(k);
		parse_src(c, node_at(c, p->value), f, SRC_LABEL, m->probe.kind,
			  &m->labels[i].src);
	}
}

/* Every label needs a source and every source a label. */
static void parse_probe_labels(struct ctx *c, const yaml_node_t *n,
			       const char *mf, struct spec_metric *m,
			       bool labels_ok)
{
	struct spec_mark seen[SPEC_MAX_LABELS] = { { 0, 0 } };
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t i;

	if (n) {
		snprintf(f, sizeof(f), "%s.probe.labels", mf);
		if (!expect(c, n, YAML_MAPPING_NODE, f,
			    "a mapping of label name to source"))
			return;
		match_label_sources(c, n, mf, m, labels_ok, seen);
	}
	for (i = 0; labels_ok && i < m->nr_labels; i++) {
		if (seen[i].line)
			continue;
		snprintf(f, sizeof(f), "%s.labels[%zu]", mf, i);
		diag(c, m->labels[i].mark, f, "label %s has no source in probe.labels",
		     quote(q, m->labels[i].name));
	}
}

static void parse_probe(struct ctx *c, const yaml_node_t *n, const char *mf,
			struct spec_metric *m, bool labels_ok)
{
	struct slot s[P_NR] = {
		[P_TARGET] = { .key = "target" }, [P_UPROBE] = { .key = "uprobe" },
		[P_USDT] = { .key = "usdt" }, [P_VALUE] = { .key = "value" },
		[P_BEFORE] = { .key = "before" }, [P_AFTER] = { .key = "after" },
		[P_LABELS] = { .key = "labels" },
	};
	struct spec_probe *p = &m->probe;
	char field[FIELD_LEN], f[FIELD_LEN];

	fkey(field, mf, "probe");
	p->mark = mark_of(n);
	if (!expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	map_scan(c, n, field, s, P_NR);
	if (required(c, n, field, &s[P_TARGET], NULL))
		parse_probe_target(c, s[P_TARGET].val, fkey(f, field, "target"), p);
	parse_probe_site(c, n, field, s, p);
	parse_probe_value(c, n, field, s, m);
	parse_probe_norm(c, n, field, s, m);
	parse_probe_labels(c, s[P_LABELS].val, mf, m, labels_ok);
}

/* ---- buckets ---- */

static bool set_bounds(struct ctx *c, struct spec_buckets *b,
		       enum spec_bucket_kind kind, size_t nr)
{
	b->bounds = calloc(nr, sizeof(*b->bounds));
	if (!b->bounds) {
		c->oom = true;
		return false;
	}
	b->kind = kind;
	b->nr_bounds = nr;
	return true;
}

static bool get_pow2(struct ctx *c, const yaml_node_t *n, const char *field,
		     long long *out)
{
	if (!get_int(c, n, field, out))
		return false;
	if (*out >= 1 && !(*out & (*out - 1)))
		return true;
	diag(c, mark_of(n), field, "must be a power of two >= 1 (got %lld)", *out);
	return false;
}

static void parse_exp2(struct ctx *c, const yaml_node_t *n, const char *field,
		       struct spec_buckets *b)
{
	enum { E_MIN, E_MAX, E_NR };
	struct slot s[E_NR] = {
		[E_MIN] = { .key = "min" },
		[E_MAX] = { .key = "max" },
	};
	char f[FIELD_LEN];
	long long lo = 0, hi = 0;
	bool ok = true;
	int nr, i;

	if (!expect(c, n, YAML_MAPPING_NODE, field, "a mapping { min, max }"))
		return;
	map_scan(c, n, field, s, E_NR);
	if (!required(c, n, field, &s[E_MIN], NULL) ||
	    !get_pow2(c, s[E_MIN].val, fkey(f, field, "min"), &lo))
		ok = false;
	if (!required(c, n, field, &s[E_MAX], NULL) ||
	    !get_pow2(c, s[E_MAX].val, fkey(f, field, "max"), &hi))
		ok = false;
	if (!ok)
		return;
	if (lo >= hi) {
		diag(c, mark_of(s[E_MAX].val), fkey(f, field, "max"),
		     "must be greater than min (%lld)", lo);
		return;
	}
	nr = __builtin_ctzll(hi) - __builtin_ctzll(lo) + 1;
	if (nr > SPEC_MAX_BOUNDS) {
		diag(c, mark_of(n), field, "%d bounds from %lld to %lld, at most %d allowed",
		     nr, lo, hi, SPEC_MAX_BOUNDS);
		return;
	}
	if (!set_bounds(c, b, SPEC_BUCKETS_EXP2, nr))
		return;
	for (i = 0; i < nr; i++)
		b->bounds[i] = ldexp((double)lo, i);
}

static bool get_finite(struct ctx *c, const yaml_node_t *n, const char *field,
		       double *out)
{
	if (!get_num(c, n, field, out))
		return false;
	if (isfinite(*out))
		return true;
	diag(c, mark_of(n), field, "must be finite");
	return false;
}

static void fill_linear(struct ctx *c, const yaml_node_t *n, const char *field,
			struct spec_buckets *b, double start, double width,
			size_t nr)
{
	size_t i;

	if (!set_bounds(c, b, SPEC_BUCKETS_LINEAR, nr))
		return;
	for (i = 0; i < nr; i++) {
		b->bounds[i] = start + (double)i * width;
		if (!isfinite(b->bounds[i])) {
			diag(c, mark_of(n), field, "bound %zu overflows to infinity", i);
			return;
		}
		if (i && b->bounds[i] <= b->bounds[i - 1]) {
			diag(c, mark_of(n), field,
			     "width %g is too small for start %g: bounds %zu and %zu are equal as doubles",
			     width, start, i - 1, i);
			return;
		}
	}
}

static void parse_linear(struct ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_buckets *b)
{
	enum { L_START, L_WIDTH, L_COUNT, L_NR };
	struct slot s[L_NR] = {
		[L_START] = { .key = "start" }, [L_WIDTH] = { .key = "width" },
		[L_COUNT] = { .key = "count" },
	};
	char f[FIELD_LEN];
	double start = 0, width = 0;
	long long count = 0;
	bool ok = true;

	if (!expect(c, n, YAML_MAPPING_NODE, field, "a mapping { start, width, count }"))
		return;
	map_scan(c, n, field, s, L_NR);
	if (!required(c, n, field, &s[L_START], NULL) ||
	    !get_finite(c, s[L_START].val, fkey(f, field, "start"), &start))
		ok = false;
	if (!required(c, n, field, &s[L_WIDTH], NULL) ||
	    !get_finite(c, s[L_WIDTH].val, fkey(f, field, "width"), &width)) {
		ok = false;
	} else if (width <= 0) {
		diag(c, mark_of(s[L_WIDTH].val), f, "must be > 0");
		ok = false;
	}
	if (!required(c, n, field, &s[L_COUNT], NULL) ||
	    !get_int(c, s[L_COUNT].val, fkey(f, field, "count"), &count)) {
		ok = false;
	} else if (count < 1 || count > SPEC_MAX_BOUNDS) {
		diag(c, mark_of(s[L_COUNT].val), f, "must be between 1 and %d (got %lld)",
		     SPEC_MAX_BOUNDS, count);
		ok = false;
	}
	if (ok)
		fill_linear(c, n, field, b, start, width, count);
}

static void parse_explicit(struct ctx *c, const yaml_node_t *n, const char *field,
			   struct spec_buckets *b)
{
	const char *prev_text = NULL;
	char f[FIELD_LEN];
	size_t nr = seq_len(n), i;
	double v;

	if (!nr) {
		diag(c, mark_of(n), field, "must list at least one bound");
		return;
	}
	if (nr > SPEC_MAX_BOUNDS) {
		diag(c, mark_of(n), field, "too many bounds (%zu, at most %d)",
		     nr, SPEC_MAX_BOUNDS);
		return;
	}
	if (!set_bounds(c, b, SPEC_BUCKETS_EXPLICIT, nr))
		return;
	for (i = 0; i < nr; i++) {
		const yaml_node_t *item = seq_item(c, n, i);

		fidx(f, field, i);
		if (!get_num(c, item, f, &v))
			continue;
		if (!isfinite(v)) {
			diag(c, mark_of(item), f,
			     "bucket bounds must be finite (+Inf is implicit)");
			continue;
		}
		if (prev_text && v == b->bounds[i - 1])
			diag(c, mark_of(item), f, "duplicate bucket bound %.32s", sval(item));
		else if (prev_text && v < b->bounds[i - 1])
			diag(c, mark_of(item), f, "buckets not sorted (%.32s after %.32s)",
			     sval(item), prev_text);
		b->bounds[i] = v;
		prev_text = sval(item);
	}
}

static void parse_buckets(struct ctx *c, const yaml_node_t *n, const char *field,
			  struct spec_buckets *b)
{
	enum { B_EXP2, B_LINEAR, B_NR };
	struct slot s[B_NR] = {
		[B_EXP2] = { .key = "exp2" },
		[B_LINEAR] = { .key = "linear" },
	};
	char f[FIELD_LEN], d[DESC_LEN];

	b->mark = mark_of(n);
	if (n->type == YAML_SEQUENCE_NODE) {
		parse_explicit(c, n, field, b);
		return;
	}
	if (n->type != YAML_MAPPING_NODE) {
		diag(c, mark_of(n), field,
		     "expected a list of bounds or a mapping with exp2 or linear, got %s",
		     describe(d, n));
		return;
	}
	map_scan(c, n, field, s, B_NR);
	if (s[B_EXP2].val && s[B_LINEAR].val)
		diag(c, mark_of(s[B_LINEAR].knode), fkey(f, field, "linear"),
		     "cannot be combined with exp2");
	else if (s[B_EXP2].val)
		parse_exp2(c, s[B_EXP2].val, fkey(f, field, "exp2"), b);
	else if (s[B_LINEAR].val)
		parse_linear(c, s[B_LINEAR].val, fkey(f, field, "linear"), b);
	else if (n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		diag(c, mark_of(n), field,
		     "needs exp2, linear or an explicit list of bounds");
}

/* ---- panels and alerts ---- */

static void parse_panel(struct ctx *c, const yaml_node_t *n, const char *field,
			struct spec_panel *p)
{
	static const char *const types[] = {
		"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", NULL,
	};
	enum { PN_TITLE, PN_PROMQL, PN_UNIT, PN_TYPE, PN_NR };
	struct slot s[PN_NR] = {
		[PN_TITLE] = { .key = "title" }, [PN_PROMQL] = { .key = "promql" },
		[PN_UNIT] = { .key = "unit" }, [PN_TYPE] = { .key = "panel_type" },
	};
	char f[FIELD_LEN], q[QUOTE_LEN], list[LIST_LEN];

	p->mark = mark_of(n);
	if (!expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	map_scan(c, n, field, s, PN_NR);
	if (required(c, n, field, &s[PN_TITLE], NULL))
		get_str(c, s[PN_TITLE].val, fkey(f, field, "title"), &p->title);
	if (required(c, n, field, &s[PN_PROMQL], NULL))
		get_str(c, s[PN_PROMQL].val, fkey(f, field, "promql"), &p->promql);
	if (s[PN_UNIT].val)
		get_str(c, s[PN_UNIT].val, fkey(f, field, "unit"), &p->unit);
	if (!s[PN_TYPE].val) {
		p->panel_type = strdup("timeseries");
		c->oom |= !p->panel_type;
	} else if (get_str(c, s[PN_TYPE].val, fkey(f, field, "panel_type"),
			   &p->panel_type) && !str_in(p->panel_type, types)) {
		diag(c, mark_of(s[PN_TYPE].val), f, "unknown panel_type %s (expected %s)",
		     quote(q, p->panel_type), join_or(list, types));
	}
}

static bool valid_alert_name(const char *s)
{
	return isalpha((unsigned char)*s) && all_chars(s, "_", false);
}

static void parse_alert(struct ctx *c, const yaml_node_t *n, const char *field,
			struct spec_alert *a)
{
	static const char *const severities[] = { "critical", "warning", "info", NULL };
	enum { A_ALERT, A_EXPR, A_FOR, A_SEVERITY, A_SUMMARY, A_NR };
	struct slot s[A_NR] = {
		[A_ALERT] = { .key = "alert" }, [A_EXPR] = { .key = "expr" },
		[A_FOR] = { .key = "for" },
		[A_SEVERITY] = { .key = "severity" }, [A_SUMMARY] = { .key = "summary" },
	};
	char f[FIELD_LEN], q[QUOTE_LEN], list[LIST_LEN];

	a->mark = mark_of(n);
	if (!expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	map_scan(c, n, field, s, A_NR);
	if (required(c, n, field, &s[A_ALERT], NULL) &&
	    get_str(c, s[A_ALERT].val, fkey(f, field, "alert"), &a->alert) &&
	    !valid_alert_name(a->alert))
		diag(c, mark_of(s[A_ALERT].val), f,
		     "invalid alert name %s (expected a CamelCase identifier such as DemoNoRequests: [A-Za-z][A-Za-z0-9_]*)",
		     quote(q, a->alert));
	if (required(c, n, field, &s[A_EXPR], NULL))
		get_str(c, s[A_EXPR].val, fkey(f, field, "expr"), &a->expr);
	if (s[A_FOR].val &&
	    get_str(c, s[A_FOR].val, fkey(f, field, "for"), &a->for_) &&
	    !spec__valid_duration(a->for_))
		diag(c, mark_of(s[A_FOR].val), f,
		     "invalid duration %s (expected a Prometheus duration such as 30s, 10m or 1h30m)",
		     quote(q, a->for_));
	if (required(c, n, field, &s[A_SEVERITY], NULL) &&
	    get_str(c, s[A_SEVERITY].val, fkey(f, field, "severity"), &a->severity) &&
	    !str_in(a->severity, severities))
		diag(c, mark_of(s[A_SEVERITY].val), f, "unknown severity %s (expected %s)",
		     quote(q, a->severity), join_or(list, severities));
	if (required(c, n, field, &s[A_SUMMARY], NULL))
		get_str(c, s[A_SUMMARY].val, fkey(f, field, "summary"), &a->summary);
}

static void parse_panels(struct ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	char f[FIELD_LEN];
	size_t i, nr;

	if (!expect(c, n, YAML_SEQUENCE_NODE, field, "a list of panels"))
		return;
	nr = seq_len(n);
	if (!nr)
		return;
	m->panels = calloc(nr, sizeof(*m->panels));
	if (!m->panels) {
		c->oom = true;
		return;
	}
	m->nr_panels = nr;
	for (i = 0; i < nr; i++)
		parse_panel(c, seq_item(c, n, i), fidx(f, field, i), &m->panels[i]);
}

static void parse_alerts(struct ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	char f[FIELD_LEN];
	size_t i, nr;

	if (!expect(c, n, YAML_SEQUENCE_NODE, field, "a list of alerts"))
		return;
	nr = seq_len(n);
	if (!nr)
		return;
	m->alerts = calloc(nr, sizeof(*m->alerts));
	if (!m->alerts) {
		c->oom = true;
		return;
	}
	m->nr_alerts = nr;
	for (i = 0; i < nr; i++)
		parse_alert(c, seq_item(c, n, i), fidx(f, field, i), &m->alerts[i]);
}

/* ---- metrics ---- */

enum {
	M_NAME, M_TYPE, M_HELP, M_UNIT, M_FAMILY, M_LABELS, M_BUDGET, M_HOT,
	M_SIGNAL, M_PROBE, M_BUCKETS, M_PANELS, M_ALERTS, M_NR,
};

static const char *const type_names[] = {
	[SPEC_COUNTER] = "counter",
	[SPEC_GAUGE] = "gauge",
	[SPEC_HISTOGRAM] = "histogram",
	[SPEC_NORMALIZATION] = "normalization",
};

static void parse_type(struct ctx *c, const yaml_node_t *n, const char *field,
		       struct spec_metric *m)
{
	const char *s = str_ref(c, n, field);
	char q[QUOTE_LEN];
	int t;

	if (!s)
		return;
	for (t = SPEC_COUNTER; t <= SPEC_NORMALIZATION; t++) {
		if (!strcmp(s, type_names[t])) {
			m->type = t;
			return;
		}
	}
	diag(c, mark_of(n), field,
	     "unknown metric type %s (expected counter, gauge, histogram or normalization)",
	     quote(q, s));
}

static bool valid_metric_name(const char *s)
{
	return all_chars(s, "_", false);
}

/* Suffix rules for the type; returns false when one was broken. */
static bool check_type_suffix(struct ctx *c, const yaml_node_t *n,
			      const char *field, const struct spec_metric *m)
{
	static const char *const hist[] = { "_bucket", "_count", "_sum" };
	const char *tname = spec_metric_type__name(m->type);
	char q[QUOTE_LEN];
	size_t i;

	quote(q, m->name);
	if (m->type == SPEC_COUNTER && !full_ends_with(m->name, "_total")) {
		diag(c, mark_of(n), field, "counter name %s must end in \"_total\"", q);
		return false;
	}
	if (m->type != SPEC_COUNTER && full_ends_with(m->name, "_total")) {
		diag(c, mark_of(n), field,
		     "%s name %s must not end in \"_total\" (only counters do)", tname, q);
		return false;
	}
	for (i = 0; m->type == SPEC_HISTOGRAM && i < ARRAY_SIZE(hist); i++) {
		if (full_ends_with(m->name, hist[i])) {
			diag(c, mark_of(n), field,
			     "histogram name %s must not end in \"%s\" (histograms export _bucket, _count and _sum series)",
			     q, hist[i]);
			return false;
		}
	}
	return true;
}

static void check_metric_name(struct ctx *c, const yaml_node_t *n,
			      const char *field, const struct spec_metric *m,
			      bool unit_ok)
{
	char q[QUOTE_LEN], suffix[QUOTE_LEN + 8];

	quote(q, m->name);
	if (strchr(m->name, ':')) {
		diag(c, mark_of(n), field,
		     "invalid metric name %s (':' is reserved for recording rules)", q);
		return;
	}
	if (!valid_metric_name(m->name)) {
		diag(c, mark_of(n), field,
		     "invalid metric name %s (the full name <namespace>_<name> must match [a-zA-Z_][a-zA-Z0-9_]*)",
		     q);
		return;
	}
	if (!m->type || !check_type_suffix(c, n, field, m) || !unit_ok || !m->unit)
		return;
	snprintf(suffix, sizeof(suffix), "_%s%s", m->unit,
		 m->type == SPEC_COUNTER ? "_total" : "");
	if (!full_ends_with(m->name, suffix))
		diag(c, mark_of(n), field, "name %s must end in \"%s\" to match its unit",
		     q, suffix);
}

static void check_help(struct ctx *c, const yaml_node_t *n, const char *field,
		       const char *help)
{
	const char *s;

	if (strpbrk(help, "\r\n")) {
		diag(c, mark_of(n), field, "must be a single line");
		return;
	}
	for (s = help; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			diag(c, mark_of(n), field, "must not contain control characters");
			return;
		}
	}
}

static void check_label_name(struct ctx *c, const yaml_node_t *n,
			     const char *field, const struct spec_metric *m,
			     size_t idx, bool *ok)
{
	const char *name = m->labels[idx].name;
	char q[QUOTE_LEN];
	size_t i;

	quote(q, name);
	if (!spec__valid_ident(name)) {
		diag(c, mark_of(n), field,
		     "invalid label name %s (must match [a-zA-Z_][a-zA-Z0-9_]*)", q);
	} else if (!strncmp(name, "__", 2)) {
		diag(c, mark_of(n), field,
		     "invalid label name %s (names starting with \"__\" are reserved)", q);
	} else if (!strcmp(name, "le") && m->type == SPEC_HISTOGRAM) {
		diag(c, mark_of(n), field,
		     "label name \"le\" is reserved for histogram bucket bounds");
	} else if (!strcmp(name, "quantile")) {
		diag(c, mark_of(n), field,
		     "label name \"quantile\" is reserved for summary quantiles");
	}
	for (i = 0; i < idx; i++) {
		if (!strcmp(m->labels[i].name, name)) {
			diag(c, mark_of(n), field, "duplicate label %s (first at labels[%zu])",
			     q, i);
			*ok = false;
			return;
		}
	}
}

/* Returns whether the whole list was read (so sources can be matched). */
static bool parse_labels(struct ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	char f[FIELD_LEN];
	size_t nr, i;
	bool ok = true;

	if (!expect(c, n, YAML_SEQUENCE_NODE, field, "a list of label names"))
		return false;
	nr = seq_len(n);
	if (nr > SPEC_MAX_LABELS) {
		diag(c, mark_of(n), field, "too many labels (%zu, at most %d)",
		     nr, SPEC_MAX_LABELS);
		return false;
	}
	for (i = 0; i < nr; i++) {
		const yaml_node_t *item = seq_item(c, n, i);
		struct spec_label *l = &m->labels[m->nr_labels];

		fidx(f, field, i);
		l->mark = mark_of(item);
		if (!get_str(c, item, f, &l->name)) {
			ok = false;
			continue;
		}
		m->nr_labels++;
		check_label_name(c, item, f, m, m->nr_labels - 1, &ok);
	}
	return ok;
}

static void parse_budget(struct ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	long long v;

	if (!get_int(c, n, field, &v))
		return;
	if (v <= 0)
		diag(c, mark_of(n), field, "must be > 0 (got %lld)", v);
	else if (c->global_ok && v > c->spec->global_budget)
		diag(c, mark_of(n), field, "%lld exceeds global_budget (%u)", v,
		     c->spec->global_budget);
	else if (v > SPEC_MAX_BUDGET)
		diag(c, mark_of(n), field, "must be at most %u (got %lld)",
		     SPEC_MAX_BUDGET, v);
	else
		m->budget = v;
}

static void parse_metric_text(struct ctx *c, const struct slot *s,
			      const yaml_node_t *n, const char *field,
			      struct spec_metric *m)
{
	char f[FIELD_LEN], q[QUOTE_LEN];
	bool unit_ok = false;

	if (s[M_UNIT].val && get_str(c, s[M_UNIT].val, fkey(f, field, "unit"), &m->unit)) {
		unit_ok = islower((unsigned char)m->unit[0]) &&
			  all_chars(m->unit, "_", true);
		if (!unit_ok)
			diag(c, mark_of(s[M_UNIT].val), f,
			     "invalid unit %s (must match [a-z][a-z0-9_]*)",
			     quote(q, m->unit));
	}
	if (required(c, n, field, &s[M_NAME], NULL) &&
	    get_str(c, s[M_NAME].val, fkey(f, field, "name"), &m->name))
		check_metric_name(c, s[M_NAME].val, f, m, unit_ok);
	if (required(c, n, field, &s[M_HELP], NULL) &&
	    get_str(c, s[M_HELP].val, fkey(f, field, "help"), &m->help))
		check_help(c, s[M_HELP].val, f, m->help);
	if (!s[M_FAMILY].val) {
		m->family = strdup("default");
		c->oom |= !m->family;
	} else if (get_str(c, s[M_FAMILY].val, fkey(f, field, "family"), &m->family) &&
		   !all_chars(m->family, "_-", true)) {
		diag(c, mark_of(s[M_FAMILY].val), f,
		     "invalid family %s (must match [a-z0-9_-]+)", quote(q, m->family));
	}
}

static void parse_metric_buckets(struct ctx *c, const struct slot *s,
				 const yaml_node_t *n, const char *field,
				 struct spec_metric *m)
{
	char f[FIELD_LEN];

	fkey(f, field, "buckets");
	if (m->type == SPEC_HISTOGRAM) {
		if (required(c, n, field, &s[M_BUCKETS], "a histogram needs buckets"))
			parse_buckets(c, s[M_BUCKETS].val, f, &m->buckets);
	} else if (m->type && s[M_BUCKETS].val) {
		diag(c, mark_of(s[M_BUCKETS].knode), f, "only histograms have buckets");
	}
}

static void parse_metric(struct ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	struct slot s[M_NR] = {
		[M_NAME] = { .key = "name" }, [M_TYPE] = { .key = "type" },
		[M_HELP] = { .key = "help" },
		[M_UNIT] = { .key = "unit" }, [M_FAMILY] = { .key = "family" },
		[M_LABELS] = { .key = "labels" }, [M_BUDGET] = { .key = "budget" },
		[M_HOT] = { .key = "hot" }, [M_SIGNAL] = { .key = "signal" },
		[M_PROBE] = { .key = "probe" }, [M_BUCKETS] = { .key = "buckets" },
		[M_PANELS] = { .key = "panels" }, [M_ALERTS] = { .key = "alerts" },
	};
	char f[FIELD_LEN];
	bool labels_ok = true;

	m->mark = mark_of(n);
	m->budget = SPEC_DEFAULT_BUDGET;
	if (!expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	map_scan(c, n, field, s, M_NR);
	if (required(c, n, field, &s[M_TYPE], NULL))
		parse_type(c, s[M_TYPE].val, fkey(f, field, "type"), m);
	parse_metric_text(c, s, n, field, m);
	if (s[M_LABELS].val)
		labels_ok = parse_labels(c, s[M_LABELS].val, fkey(f, field, "labels"), m);
	if (s[M_BUDGET].val)
		parse_budget(c, s[M_BUDGET].val, fkey(f, field, "budget"), m);
	if (s[M_HOT].val)
		get_bool(c, s[M_HOT].val, fkey(f, field, "hot"), &m->hot);
	if (s[M_SIGNAL].val)
		get_bool(c, s[M_SIGNAL].val, fkey(f, field, "signal"), &m->signal);
	if (required(c, n, field, &s[M_PROBE], NULL))
		parse_probe(c, s[M_PROBE].val, field, m, labels_ok);
	parse_metric_buckets(c, s, n, field, m);
	if (s[M_PANELS].val)
		parse_panels(c, s[M_PANELS].val, fkey(f, field, "panels"), m);
	if (s[M_ALERTS].val)
		parse_alerts(c, s[M_ALERTS].val, fkey(f, field, "alerts"), m);
}

/* ---- cross-metric checks ---- */

/* A name a metric exports or reserves: base[0..len) followed by suffix. */
struct name_ref {
	const char *base;
	size_t len;
	const char *suffix;
};

static size_t reserved_names(const struct spec_metric *m, struct name_ref *out)
{
	const char *const *sfx;
	size_t len = strlen(m->name), nr = 0, i, n;

	out[nr++] = (struct name_ref){ m->name, len, "" };
	/* an OpenMetrics counter family is named without _total */
	if (m->type == SPEC_COUNTER && len > 6 && ends_with(m->name, "_total"))
		out[nr++] = (struct name_ref){ m->name, len - 6, "" };
	n = spec_metric_type__suffixes(m->type, &sfx);
	for (i = 0; i < n; i++) {
		if (*sfx[i])
			out[nr++] = (struct name_ref){ m->name, len, sfx[i] };
	}
	return nr;
}

static char ref_char(const struct name_ref *r, size_t i)
{
	return i < r->len ? r->base[i] : r->suffix[i - r->len];
}

static bool ref_eq(const struct name_ref *a, const struct name_ref *b)
{
	size_t n = a->len + strlen(a->suffix), i;

	if (n != b->len + strlen(b->suffix))
		return false;
	for (i = 0; i < n; i++) {
		if (ref_char(a, i) != ref_char(b, i))
			return false;
	}
	return true;
}

static bool metric_named(const struct spec_metric *m)
{
	return m->name && m->type && valid_metric_name(m->name);
}

/* The first of @a that is also among @b, or NULL. */
static const struct name_ref *shared_name(const struct name_ref *a, size_t na,
					  const struct name_ref *b, size_t nb)
{
	size_t x, y;

	for (x = 0; x < na; x++) {
		for (y = 0; y < nb; y++) {
			if (ref_eq(&a[x], &b[y]))
				return &a[x];
		}
	}
	return NULL;
}

/* Report the first name metric @j shares with an earlier metric. */
static void check_collision(struct ctx *c, const yaml_node_t *n, size_t j)
{
	const struct spec_metric *mv = c->spec->metrics, *mj = &mv[j];
	const struct name_ref *r;
	struct name_ref a[8], b[8];
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t na, i;

	na = reserved_names(mj, a);
	for (i = 0; i < j; i++) {
		if (!metric_named(&mv[i]) || !strcmp(mv[i].name, mj->name))
			continue;
		r = shared_name(a, na, b, reserved_names(&mv[i], b));
		if (!r)
			continue;
		snprintf(f, sizeof(f), "metrics[%zu].name", j);
		diag(c, mark_of(n), f,
		     "name \"%s%s%.*s%s\" collides with a name reserved by metrics[%zu] (%s %s)",
		     c->ns_ok ? c->spec->namespace_ : "", c->ns_ok ? "_" : "",
		     (int)r->len, r->base, r->suffix, i,
		     spec_metric_type__name(mv[i].type), quote(q, mv[i].name));
		return;
	}
}

static void check_names(struct ctx *c, const yaml_node_t *metrics)
{
	const struct spec_metric *mv = c->spec->metrics;
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t i, j;

	for (j = 0; j < c->spec->nr_metrics; j++) {
		const yaml_node_t *n = map_get(c, seq_item(c, metrics, j), "name");
		bool dup = false;

		if (!mv[j].name)
			continue;
		for (i = 0; i < j && !dup; i++) {
			if (!mv[i].name || strcmp(mv[i].name, mv[j].name))
				continue;
			snprintf(f, sizeof(f), "metrics[%zu].name", j);
			diag(c, mark_of(n), f, "duplicate metric name %s (first at metrics[%zu])",
			     quote(q, mv[j].name), i);
			dup = true;
		}
		if (!dup && metric_named(&mv[j]))
			check_collision(c, n, j);
	}
}

/* Does a metric export the series <namespace>_<rest>? */
static bool series_defined(const struct spec *spec, const char *rest, size_t len)
{
	const char *const *sfx;
	size_t i, k, n, nlen;

	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (!m->name)
			continue;
		nlen = strlen(m->name);
		if (len < nlen || strncmp(rest, m->name, nlen))
			continue;
		if (!m->type && (len == nlen || rest[nlen] == '_'))
			return true;	/* type unknown: already reported */
		n = spec_metric_type__suffixes(m->type, &sfx);
		for (k = 0; k < n; k++) {
			if (len - nlen == strlen(sfx[k]) &&
			    !strncmp(rest + nlen, sfx[k], len - nlen))
				return true;
		}
	}
	return false;
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
static struct spec_mark scalar_offset_mark(const yaml_node_t *n, size_t off)
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

struct ref_check {
	struct ctx *c;
	const yaml_node_t *node;
	const char *field;
};

/* Name the series of a histogram/normalization referenced by its base name. */
static bool hint_series(const struct spec *spec, const char *rest, size_t len,
			char *buf, size_t size)
{
	const char *const *sfx;
	size_t i, k, n, o;

	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (!m->name || strlen(m->name) != len || strncmp(m->name, rest, len) ||
		    (m->type != SPEC_HISTOGRAM && m->type != SPEC_NORMALIZATION))
			continue;
		n = spec_metric_type__suffixes(m->type, &sfx);
		o = snprintf(buf, size, "metrics[%zu] is a %s exporting ", i,
			     spec_metric_type__name(m->type));
		for (k = 0; k < n && o < size; k++)
			o += snprintf(buf + o, size - o, "%s%s_%s%s",
				      k ? (k + 1 < n ? ", " : " and ") : "",
				      spec->namespace_, m->name, sfx[k]);
		return true;
	}
	return false;
}

/* The closest defined series to @id, into @buf; false when none is close. */
static bool hint_closest(const struct spec *spec, const char *id,
			 char *buf, size_t size)
{
	unsigned int best = UINT_MAX, d;
	const char *const *sfx;
	char cand[160];
	size_t i, k, n;

	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (!m->name || strlen(m->name) > 100)
			continue;
		n = spec_metric_type__suffixes(m->type, &sfx);
		for (k = 0; k < n; k++) {
			snprintf(cand, sizeof(cand), "%s_%s%s", spec->namespace_,
				 m->name, sfx[k]);
			d = spec__edit_distance(id, cand);
			if (d < best && close_enough(d, cand)) {
				best = d;
				snprintf(buf, size, "did you mean \"%s\"?", cand);
			}
		}
	}
	return best != UINT_MAX;
}

static int check_ref(const char *id, size_t len, size_t off, void *arg)
{
	struct ref_check *r = arg;
	const struct spec *spec = r->c->spec;
	size_t nslen = strlen(spec->namespace_);
	char hint[512], q[QUOTE_LEN], *name;

	if (len < nslen + 1 || strncmp(id, spec->namespace_, nslen) || id[nslen] != '_')
		return 0;
	if (series_defined(spec, id + nslen + 1, len - nslen - 1))
		return 0;
	if (diags_full(r->c)) {
		r->c->nr_errors++;	/* counted, not shown: skip the hints */
		return 0;
	}
	name = strndup(id, len);
	if (!name) {
		r->c->oom = true;
		return -ENOMEM;
	}
	if (!hint_series(spec, id + nslen + 1, len - nslen - 1, hint, sizeof(hint)) &&
	    !hint_closest(spec, name, hint, sizeof(hint)))
		snprintf(hint, sizeof(hint), "not defined by this spec");
	diag(r->c, scalar_offset_mark(r->node, off), r->field,
	     "unknown metric %s (%s)", quote(q, name), hint);
	free(name);
	return 0;
}

static void check_expr(struct ctx *c, const yaml_node_t *item, const char *key,
		       const char *expr, const char *field)
{
	struct ref_check r = { c, map_get(c, item, key), field };

	if (expr && r.node)
		spec__promql_for_each_ident(expr, check_ref, &r);
}

/* Every <namespace>_* name in panels and alerts must be a defined series. */
static void check_refs(struct ctx *c, const yaml_node_t *metrics)
{
	char f[FIELD_LEN];
	size_t i, k;

	for (i = 0; i < c->spec->nr_metrics; i++) {
		const struct spec_metric *m = &c->spec->metrics[i];
		const yaml_node_t *mn = seq_item(c, metrics, i);
		const yaml_node_t *panels = map_get(c, mn, "panels");
		const yaml_node_t *alerts = map_get(c, mn, "alerts");

		for (k = 0; k < m->nr_panels; k++) {
			snprintf(f, sizeof(f), "metrics[%zu].panels[%zu].promql", i, k);
			check_expr(c, seq_item(c, panels, k), "promql",
				   m->panels[k].promql, f);
		}
		for (k = 0; k < m->nr_alerts; k++) {
			snprintf(f, sizeof(f), "metrics[%zu].alerts[%zu].expr", i, k);
			check_expr(c, seq_item(c, alerts, k), "expr",
				   m->alerts[k].expr, f);
		}
	}
}

static void parse_metrics(struct ctx *c, yaml_node_t *n)
{
	struct spec *spec = c->spec;
	char f[FIELD_LEN];
	size_t nr, i;

	if (!expect(c, n, YAML_SEQUENCE_NODE, "metrics", "a list of metrics"))
		return;
	nr = seq_len(n);
	if (!nr) {
		diag(c, mark_of(n), "metrics", "must list at least one metric");
		return;
	}
	if (nr > SPEC_MAX_METRICS) {
		diag(c, mark_of(n), "metrics",
		     "too many metrics (%zu, at most %d: one probe each)",
		     nr, SPEC_MAX_METRICS);
		nr = SPEC_MAX_METRICS;
	}
	spec->metrics = calloc(nr, sizeof(*spec->metrics));
	if (!spec->metrics) {
		c->oom = true;
		return;
	}
	spec->nr_metrics = nr;
	for (i = 0; i < nr; i++)
		parse_metric(c, seq_item(c, n, i), fidx(f, "metrics", i), &spec->metrics[i]);
	check_names(c, n);
	if (c->ns_ok)
		check_refs(c, n);
}

/* ---- top level ---- */

enum { R_VERSION, R_NAMESPACE, R_GLOBAL, R_TARGETS, R_METRICS, R_NR };

/* Returns false when the spec is of another version: nothing else applies. */
static bool parse_version(struct ctx *c, const yaml_node_t *root)
{
	const yaml_node_t *n = map_get(c, root, "version");
	long long v;

	if (!n) {
		diag(c, mark_of(root), "version", "missing required field (use version: 1)");
		return true;
	}
	if (!get_int(c, n, "version", &v))
		return true;
	if (v == 1) {
		c->spec->version = 1;
		return true;
	}
	diag(c, mark_of(n), "version",
	     "unsupported spec version %lld (this emitd reads version 1)", v);
	return false;
}

static void parse_namespace(struct ctx *c, const yaml_node_t *n)
{
	char q[QUOTE_LEN];

	if (!get_str(c, n, "namespace", &c->spec->namespace_))
		return;
	quote(q, c->spec->namespace_);
	if (!spec__valid_ident(c->spec->namespace_))
		diag(c, mark_of(n), "namespace",
		     "invalid namespace %s (must match [a-zA-Z_][a-zA-Z0-9_]*)", q);
	else if (!strcmp(c->spec->namespace_, "emitd"))
		diag(c, mark_of(n), "namespace",
		     "namespace \"emitd\" is reserved for emitd's own metrics");
	else
		c->ns_ok = true;
}

static void parse_global_budget(struct ctx *c, const yaml_node_t *n)
{
	long long v;

	c->spec->global_budget = SPEC_DEFAULT_GLOBAL_BUDGET;
	c->global_ok = true;
	if (!n)
		return;
	c->global_ok = false;
	if (!get_int(c, n, "global_budget", &v))
		return;
	if (v <= 0) {
		diag(c, mark_of(n), "global_budget", "must be > 0 (got %lld)", v);
	} else if (v > SPEC_MAX_BUDGET) {
		diag(c, mark_of(n), "global_budget", "must be at most %u (got %lld)",
		     SPEC_MAX_BUDGET, v);
	} else {
		c->spec->global_budget = v;
		c->global_ok = true;
	}
}

static void parse_root(struct ctx *c, const yaml_node_t *root)
{
	struct slot s[R_NR] = {
		[R_VERSION] = { .key = "version" }, [R_NAMESPACE] = { .key = "namespace" },
		[R_GLOBAL] = { .key = "global_budget" }, [R_TARGETS] = { .key = "targets" },
		[R_METRICS] = { .key = "metrics" },
	};
	char d[DESC_LEN];

	if (root->type != YAML_MAPPING_NODE) {
		diag(c, mark_of(root), NULL,
		     "expected a mapping with version, namespace, targets and metrics, got %s",
		     describe(d, root));
		return;
	}
	if (!parse_version(c, root))
		return;
	map_scan(c, root, "", s, R_NR);
	if (required(c, root, "", &s[R_NAMESPACE], NULL))
		parse_namespace(c, s[R_NAMESPACE].val);
	parse_global_budget(c, s[R_GLOBAL].val);
	if (required(c, root, "", &s[R_TARGETS], NULL))
		parse_targets(c, s[R_TARGETS].val);
	if (required(c, root, "", &s[R_METRICS], NULL))
		parse_metrics(c, s[R_METRICS].val);
}

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

static void yaml_error(struct ctx *c, const yaml_parser_t *p, const char *buf,
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
			diag(c, m, NULL, "invalid input: %s (#%X)", problem,
			     (unsigned int)p->problem_value);
		else
			diag(c, m, NULL, "invalid input: %s", problem);
		break;
	default:
		if (p->context)
			diag(c, m, NULL, "YAML syntax error: %s (%s at %zu:%zu)", problem,
			     p->context, p->context_mark.line + 1,
			     p->context_mark.column + 1);
		else
			diag(c, m, NULL, "YAML syntax error: %s", problem);
		break;
	}
}

/*
 * libyaml's scanner is quadratic in the flow nesting depth, so a cheap event
 * pass refuses deep documents before the loader sees them. It stops at the
 * limit; syntax errors are left to the loader, which reports them.
 */
static bool too_deep(struct ctx *c, const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t e;
	bool deep = false, end = false;
	int depth = 0;

	if (!yaml_parser_initialize(&p)) {
		c->oom = true;
		return true;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!deep && !end && yaml_parser_parse(&p, &e)) {
		if (e.type == YAML_SEQUENCE_START_EVENT ||
		    e.type == YAML_MAPPING_START_EVENT)
			deep = ++depth > MAX_DEPTH;
		else if (e.type == YAML_SEQUENCE_END_EVENT ||
			 e.type == YAML_MAPPING_END_EVENT)
			depth--;
		end = e.type == YAML_STREAM_END_EVENT;
		if (deep)
			diag(c, (struct spec_mark){ e.start_mark.line + 1,
						    e.start_mark.column + 1 },
			     NULL, "nested deeper than %d levels", MAX_DEPTH);
		yaml_event_delete(&e);
	}
	if (p.error == YAML_MEMORY_ERROR)
		c->oom = true;
	yaml_parser_delete(&p);
	return deep || c->oom;
}

static void parse_document(struct ctx *c, yaml_parser_t *parser, const char *buf,
			   size_t len)
{
	yaml_document_t doc, next;
	yaml_node_t *root;

	if (!yaml_parser_load(parser, &doc)) {
		yaml_error(c, parser, buf, len);
		return;
	}
	c->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		diag(c, (struct spec_mark){ 1, 1 }, NULL,
		     "spec is empty (expected a mapping with version, namespace, targets and metrics)");
	} else {
		parse_root(c, root);
		if (!yaml_parser_load(parser, &next)) {
			yaml_error(c, parser, buf, len);
		} else {
			root = yaml_document_get_root_node(&next);
			if (root)
				diag(c, mark_of(root), NULL,
				     "a spec is one YAML document (found a second one)");
			yaml_document_delete(&next);
		}
	}
	c->doc = NULL;
	yaml_document_delete(&doc);
}

static int finish(struct ctx *c, struct spec **out)
{
	size_t shown = c->diags->nr - c->first;

	sort_diags(c);
	if (c->nr_errors > shown &&
	    spec_diags__add(c->diags, (struct spec_mark){ 0, 0 }, NULL,
			    "%zu more errors not shown", c->nr_errors - shown))
		c->oom = true;
	if (c->oom)
		spec_diags__add(c->diags, (struct spec_mark){ 0, 0 }, NULL,
				"out of memory");
	if (c->oom || c->nr_errors) {
		spec__free(c->spec);
		return c->oom ? -ENOMEM : -EINVAL;
	}
	*out = c->spec;
	return 0;
}

int spec__load_buf(const char *name, const char *buf, size_t len,
		   struct spec **out, struct spec_diags *diags)
{
	struct ctx c = { .diags = diags, .first = diags->nr };
	yaml_parser_t parser;

	*out = NULL;
	if (len > SPEC_MAX_FILE_SIZE) {
		spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL,
				"too large (%zu bytes, at most %d)", len,
				SPEC_MAX_FILE_SIZE);
		return -EFBIG;
	}
	c.spec = calloc(1, sizeof(*c.spec));
	if (!c.spec)
		return -ENOMEM;
	c.spec->path = strdup(name ? name : "<spec>");
	c.spec->global_budget = SPEC_DEFAULT_GLOBAL_BUDGET;
	if (!c.spec->path || !yaml_parser_initialize(&parser)) {
		c.oom = true;
		return finish(&c, out);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!too_deep(&c, buf, len))
		parse_document(&c, &parser, buf, len);
	yaml_parser_delete(&parser);
	return finish(&c, out);
}

static int io_error(struct spec_diags *diags, const char *what, int err)
{
	spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL, "%s: %s", what,
			strerror(-err));
	return err;
}

/* Read all of @path, at most SPEC_MAX_FILE_SIZE bytes. */
static int read_file(const char *path, char **bufp, size_t *lenp,
		     struct spec_diags *diags)
{
	size_t len = 0, cap = SPEC_MAX_FILE_SIZE + 1;
	struct stat st;
	char *buf;
	ssize_t r;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return io_error(diags, "cannot open", -errno);
	if (!fstat(fd, &st) && S_ISDIR(st.st_mode)) {
		err = io_error(diags, "cannot read", -EISDIR);
		goto out_close;
	}
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	while (len < cap) {
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = io_error(diags, "cannot read", -errno);
			goto out_free;
		}
		if (!r)
			break;
		len += r;
	}
	if (len > SPEC_MAX_FILE_SIZE) {
		err = -EFBIG;
		spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL,
				"too large (more than %d bytes)", SPEC_MAX_FILE_SIZE);
		goto out_free;
	}
	*bufp = buf;
	*lenp = len;
	goto out_close;
out_free:
	free(buf);
out_close:
	close(fd);
	return err;
}

int spec__load(const char *path, struct spec **out, struct spec_diags *diags)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	err = read_file(path, &buf, &len, diags);
	if (err)
		return err;
	err = spec__load_buf(path, buf, len, out, diags);
	free(buf);
	return err;
}

/* ---- the rest of the API ---- */

static void free_metric(struct spec_metric *m)
{
	size_t i;

	free(m->name);
	free(m->help);
	free(m->unit);
	free(m->family);
	for (i = 0; i < m->nr_labels; i++)
		free(m->labels[i].name);
	free(m->probe.target);
	free(m->probe.symbol);
	free(m->probe.provider);
	free(m->probe.name);
	free(m->buckets.bounds);
	for (i = 0; i < m->nr_panels; i++) {
		free(m->panels[i].title);
		free(m->panels[i].promql);
		free(m->panels[i].unit);
		free(m->panels[i].panel_type);
	}
	free(m->panels);
	for (i = 0; i < m->nr_alerts; i++) {
		free(m->alerts[i].alert);
		free(m->alerts[i].expr);
		free(m->alerts[i].for_);
		free(m->alerts[i].severity);
		free(m->alerts[i].summary);
	}
	free(m->alerts);
}

void spec__free(struct spec *spec)
{
	size_t i;

	if (!spec)
		return;
	for (i = 0; i < spec->nr_targets; i++) {
		free(spec->targets[i].name);
		free(spec->targets[i].binary);
	}
	free(spec->targets);
	for (i = 0; i < spec->nr_metrics; i++)
		free_metric(&spec->metrics[i]);
	free(spec->metrics);
	free(spec->namespace_);
	free(spec->path);
	free(spec);
}

const char *spec_metric_type__name(enum spec_metric_type t)
{
	if (t >= SPEC_COUNTER && t <= SPEC_NORMALIZATION)
		return type_names[t];
	return "unknown";
}

const struct spec_target *spec__find_target(const struct spec *spec, const char *name)
{
	size_t i;

	for (i = 0; i < spec->nr_targets; i++) {
		if (spec->targets[i].name && !strcmp(spec->targets[i].name, name))
			return &spec->targets[i];
	}
	return NULL;
}

char *spec_metric__full_name(const struct spec *spec, const struct spec_metric *m)
{
	char *s;

	if (asprintf(&s, "%s_%s", spec->namespace_, m->name) < 0)
		return NULL;
	return s;
}
