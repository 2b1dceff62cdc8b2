// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec/parse: the YAML nodes of a spec -> struct spec, field by field.
 *
 * The walkers below check the document against schema v1 by hand: each
 * reads the keys it knows (spec_map_scan() reports the others), converts
 * and range-checks each value, and reports every problem at the node it
 * found it; names go by the rules of names.c, and what needs other parts of
 * the spec is asked of check.c. A walker carries on after an error, so one
 * load reports all it can.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "emitd.h"
#include "lib/bucket.h"
#include "lib/fmt.h"
#include "lib/scale.h"
#include "lib/suffix.h"
#include "lib/units.h"
#include "spec/internal.h"

/* ---- targets ---- */

/*
 * `cgroup: system.slice/postgresql.service`: a cgroup v2 path relative to the
 * cgroup root, its components kept as written ('/' at the ends dropped).
 */
static void parse_target_cgroup(struct spec_ctx *c, const yaml_node_t *n, const char *field,
				struct spec_target *t)
{
	const char *s = spec_str_ref(c, n, field), *p;
	char q[QUOTE_LEN];
	size_t len;

	t->cgroup_mark = mark_of(n);
	if (!s)
		return;
	while (*s == '/')
		s++;
	len = strlen(s);
	while (len && s[len - 1] == '/')
		len--;
	if (!len) {
		spec_diag(c, mark_of(n), field,
			  "the root cgroup holds every task: leave cgroup out to count them all");
		return;
	}
	if (len > SPEC_MAX_CGROUP_BYTES) {
		spec_diag(c, mark_of(n), field, "a cgroup path of %zu bytes (at most %d)", len,
			  SPEC_MAX_CGROUP_BYTES);
		return;
	}
	for (p = s; p < s + len;) {
		size_t k = strcspn(p, "/");

		if (k > (size_t)(s + len - p))
			k = s + len - p;
		if (!k || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.')) {
			spec_diag(c, mark_of(n), field,
				  "%s is not a cgroup path (empty, \".\" or \"..\" component)",
				  spec_quote(q, s));
			return;
		}
		p += k + 1;
	}
	t->cgroup = strndup(s, len);
	c->oom |= !t->cgroup;
}

/* One name of `comm:`: what the kernel keeps of a task's name. */
static bool comm_value(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		       const struct spec_target *t, char **out)
{
	const char *s = spec_str_ref(c, n, field);
	char q[QUOTE_LEN];
	size_t i;

	if (!s)
		return false;
	if (strlen(s) > SPEC_MAX_COMM_BYTES) {
		spec_diag(c, mark_of(n), field,
			  "%s is %zu bytes: a task's name (comm) has at most %d, the kernel cuts the rest",
			  spec_quote(q, s), strlen(s), SPEC_MAX_COMM_BYTES);
		return false;
	}
	for (i = 0; i < t->nr_comms; i++) {
		if (!strcmp(t->comms[i], s)) {
			spec_diag(c, mark_of(n), field, "duplicate name %s", spec_quote(q, s));
			return false;
		}
	}
	*out = strdup(s);
	c->oom |= !*out;
	return *out;
}

/* `comm: postgres` or `comm: [postgres, pg_ctl]`. */
static void parse_target_comm(struct spec_ctx *c, yaml_node_t *n, const char *field,
			      struct spec_target *t)
{
	size_t nr = 1, i;
	char f[FIELD_LEN];
	char *v;

	t->comm_mark = mark_of(n);
	if (n && n->type == YAML_SEQUENCE_NODE) {
		nr = seq_len(n);
		if (!nr || nr > SPEC_MAX_COMMS) {
			spec_diag(c, mark_of(n), field, "must list 1 to %d names (got %zu)",
				  SPEC_MAX_COMMS, nr);
			return;
		}
	}
	t->comms = calloc(nr, sizeof(*t->comms));
	if (!t->comms) {
		c->oom = true;
		return;
	}
	if (!n || n->type != YAML_SEQUENCE_NODE) {
		if (comm_value(c, n, field, t, &v))
			t->comms[t->nr_comms++] = v;
		return;
	}
	for (i = 0; i < nr; i++)
		if (comm_value(c, seq_item(c, n, i), spec_fidx(f, field, i), t, &v))
			t->comms[t->nr_comms++] = v;
}

static void parse_target(struct spec_ctx *c, yaml_node_t *n, const char *field,
			 struct spec_target *t)
{
	enum { T_NAME, T_BINARY, T_PID, T_CGROUP, T_COMM, T_FOLLOW, T_NR };
	struct spec_slot s[T_NR] = {
		[T_NAME] = { .key = "name" }, [T_BINARY] = { .key = "binary" },
		[T_PID] = { .key = "pid" }, [T_CGROUP] = { .key = "cgroup" },
		[T_COMM] = { .key = "comm" }, [T_FOLLOW] = { .key = "follow_forks" },
	};
	char f[FIELD_LEN], q[QUOTE_LEN];
	long long pid;

	t->mark = mark_of(n);
	if (!spec_expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	spec_map_scan(c, n, field, s, T_NR);
	if (spec_required(c, n, field, &s[T_NAME], NULL) &&
	    spec_get_str(c, s[T_NAME].val, spec_fkey(f, field, "name"), &t->name) &&
	    !spec__valid_target_name(t->name))
		spec_diag(c, mark_of(s[T_NAME].val), f,
			  "invalid target name %s (must match [a-zA-Z0-9_.-]+)",
			  spec_quote(q, t->name));
	if (s[T_BINARY].val) {
		t->binary_mark = mark_of(s[T_BINARY].val);
		spec_get_str(c, s[T_BINARY].val, spec_fkey(f, field, "binary"), &t->binary);
	}
	if (s[T_PID].val && spec_get_int(c, s[T_PID].val, spec_fkey(f, field, "pid"), &pid)) {
		if (pid < 1 || pid > INT_MAX)
			spec_diag(c, mark_of(s[T_PID].val), f,
				  "must be a process id between 1 and %d (got %lld)",
				  INT_MAX, pid);
		else
			t->pid = pid;
	}
	if (!s[T_BINARY].val && !s[T_PID].val)
		spec_diag(c, t->mark, field, "needs a binary, a pid or both");
	if (s[T_CGROUP].val)
		parse_target_cgroup(c, s[T_CGROUP].val, spec_fkey(f, field, "cgroup"), t);
	if (s[T_COMM].val)
		parse_target_comm(c, s[T_COMM].val, spec_fkey(f, field, "comm"), t);
	if (s[T_FOLLOW].val) {
		t->follow_mark = mark_of(s[T_FOLLOW].val);
		spec_get_bool(c, s[T_FOLLOW].val, spec_fkey(f, field, "follow_forks"),
			      &t->follow_forks);
	}
}

static void parse_targets(struct spec_ctx *c, yaml_node_t *n)
{
	struct spec *spec = c->spec;
	char f[FIELD_LEN];
	size_t nr, i;

	if (!spec_expect(c, n, YAML_SEQUENCE_NODE, "targets", "a list of targets"))
		return;
	nr = seq_len(n);
	if (!nr) {
		spec_diag(c, mark_of(n), "targets", "must list at least one target");
		return;
	}
	if (nr > SPEC_MAX_TARGETS) {
		spec_diag(c, mark_of(n), "targets", "too many targets (%zu, at most %d)",
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

		parse_target(c, item, spec_fidx(f, "targets", i), &spec->targets[i]);
		spec_check__target_dup(c, item, i);
	}
}

/* ---- sources ---- */

enum src_role {
	SRC_VALUE,	/* value: a number, which may have a scale */
	SRC_NORM,	/* before, after: a number */
	SRC_LABEL,	/* a label: integer argument or string */
};

enum { S_ARG, S_AS, S_DEREF, S_OFFSET, S_VALUES, S_SCALE, S_SOURCE, S_NR };

static void parse_src_arg(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			  enum spec_probe_kind kind, struct spec_src *src)
{
	long long arg;

	if (!spec_get_int(c, n, field, &arg))
		return;
	if (kind == SPEC_PROBE_UPROBE && (arg < 0 || arg > SPEC_MAX_UPROBE_ARG))
		spec_diag(c, mark_of(n), field,
			  "a uprobe can read arguments 0..%d only (x86-64 passes the first six integer arguments in registers), got %lld",
			  SPEC_MAX_UPROBE_ARG, arg);
	else if (arg < 0 || arg > SPEC_MAX_ARG)
		spec_diag(c, mark_of(n), field, "must be between 0 and %d (got %lld)",
			  SPEC_MAX_ARG, arg);
	else
		src->arg = arg;
}

static void parse_src_as(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 enum src_role role, struct spec_src *src)
{
	char q[QUOTE_LEN];
	const char *s = spec_str_ref(c, n, field);

	if (!s)
		return;
	if (!strcmp(s, "s64")) {
		src->type = SPEC_VAL_S64;
	} else if (!strcmp(s, "u64")) {
		src->type = SPEC_VAL_U64;
	} else if (!strcmp(s, "string") && role == SRC_LABEL) {
		src->kind = SPEC_SRC_STRING;
	} else if (!strcmp(s, "string")) {
		spec_diag(c, mark_of(n), field,
			  "a string cannot be a metric value (as: string is for label sources only)");
	} else if (!strcmp(s, "f64")) {
		spec_diag(c, mark_of(n), field,
			  "f64 cannot be read from an argument (x86-64 passes doubles in XMM registers, which probes cannot read): pass a pointer and use { arg: N, deref: f64 }");
	} else {
		spec_diag(c, mark_of(n), field,
			  "unknown type %s (expected %s)", spec_quote(q, s),
			  role == SRC_LABEL ? "s64, u64 or string" : "s64 or u64");
	}
}

static void parse_src_deref(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			    enum src_role role, struct spec_src *src)
{
	char q[QUOTE_LEN];
	const char *s = spec_str_ref(c, n, field);

	if (!s)
		return;
	if (role == SRC_LABEL) {
		spec_diag(c, mark_of(n), field,
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
		spec_diag(c, mark_of(n), field, "unknown type %s (expected u64, s64 or f64)",
			  spec_quote(q, s));
}

static void parse_src_offset(struct spec_ctx *c, const struct spec_slot *s,
			     const char *field, struct spec_src *src)
{
	long long off;

	if (!s[S_DEREF].val) {
		spec_diag(c, mark_of(s[S_OFFSET].knode), field, "only valid with deref");
		return;
	}
	if (!spec_get_int(c, s[S_OFFSET].val, field, &off))
		return;
	if (off < 0 || off > SPEC_MAX_OFFSET)
		spec_diag(c, mark_of(s[S_OFFSET].val), field,
			  "must be between 0 and %d (got %lld)", SPEC_MAX_OFFSET, off);
	else
		src->offset = off;
}

/* `scale: 1e-6`: exported = read x scale, for value: only. */
static void parse_src_scale(struct spec_ctx *c, const struct spec_slot *s,
			    const char *field, enum src_role role, struct spec_src *src)
{
	double v;

	if (role != SRC_VALUE) {
		spec_diag(c, mark_of(s[S_SCALE].knode), field,
			  role == SRC_LABEL ?
			  "only a metric's value has a scale (a label's value is not a quantity)" :
			  "only a metric's value has a scale (before and after are compared as read)");
		return;
	}
	if (!spec_get_num(c, s[S_SCALE].val, field, &v))
		return;
	if (!isfinite(v) || v <= 0) {
		spec_diag(c, mark_of(s[S_SCALE].val), field,
			  "must be a finite number > 0 (got %g): exported = read x scale", v);
		return;
	}
	src->scale = v;
	src->scale_mark = mark_of(s[S_SCALE].val);
}

_Static_assert(SPEC_MAX_LABEL_BYTES == EMITD_LABEL_LEN - 1, "a string label's bytes, NUL excluded");

/* A warm value of a string label: what the kernel's 32-byte key can hold. */
static bool string_value(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 char **out)
{
	char q[QUOTE_LEN];
	const char *s = spec_str_ref(c, n, field);

	if (!s)
		return false;
	if (strlen(s) > SPEC_MAX_LABEL_BYTES) {
		spec_diag(c, mark_of(n), field,
			  "%s is %zu bytes: a string label holds at most %d (the kernel cuts the rest)",
			  spec_quote(q, s), strlen(s), SPEC_MAX_LABEL_BYTES);
		return false;
	}
	if (!strcmp(s, EMITD_OTHER_VALUE)) {
		spec_diag(c, mark_of(n), field,
			  "%s is the value of the overflow series, not a value to expect",
			  spec_quote(q, s));
		return false;
	}
	*out = strdup(s);
	c->oom |= !*out;
	return *out;
}

/* A warm value of a comm label: a task's name. */
static bool comm_label_value(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			     char **out)
{
	char q[QUOTE_LEN];
	const char *s = spec_str_ref(c, n, field);

	if (s && strlen(s) > SPEC_MAX_COMM_BYTES) {
		spec_diag(c, mark_of(n), field,
			  "%s is %zu bytes: a task's name (comm) has at most %d",
			  spec_quote(q, s), strlen(s), SPEC_MAX_COMM_BYTES);
		return false;
	}
	return s && string_value(c, n, field, out);
}

/* A warm value of an integer label, in decimal. */
static bool int_value(struct spec_ctx *c, const yaml_node_t *n, const char *field, char **out)
{
	long long v;

	if (!spec_get_int(c, n, field, &v))
		return false;
	if (asprintf(out, "%lld", v) < 0) {
		*out = NULL;
		c->oom = true;
		return false;
	}
	return true;
}

static bool listed(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(v[i], s))
			return true;
	}
	return false;
}

/* `values: [...]` of a label source, once the source's kind is known. */
static void parse_label_values(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			       struct spec_label *l)
{
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t nr, i;
	char *v;

	l->values_mark = mark_of(n);
	if (!spec_expect(c, n, YAML_SEQUENCE_NODE, field, "a list of label values"))
		return;
	nr = seq_len(n);
	if (!nr || nr > SPEC_MAX_BUDGET) {
		spec_diag(c, mark_of(n), field, "must list 1 to %u values (got %zu)",
			  SPEC_MAX_BUDGET, nr);
		return;
	}
	l->values = calloc(nr, sizeof(*l->values));
	if (!l->values) {
		c->oom = true;
		return;
	}
	for (i = 0; i < nr; i++) {
		const yaml_node_t *item = seq_item(c, n, i);
		bool ok;

		spec_fidx(f, field, i);
		if (l->src.kind == SPEC_SRC_COMM)
			ok = comm_label_value(c, item, f, &v);
		else if (l->src.kind == SPEC_SRC_STRING)
			ok = string_value(c, item, f, &v);
		else
			ok = int_value(c, item, f, &v);
		if (!ok)
			continue;
		if (listed(l->values, l->nr_values, v)) {
			spec_diag(c, mark_of(item), f, "duplicate value %s", spec_quote(q, v));
			free(v);
			continue;
		}
		l->values[l->nr_values++] = v;
	}
}

static const struct {
	const char *name;
	enum spec_src_kind kind;
} task_sources[] = {
	{ "pid", SPEC_SRC_PID }, { "tgid", SPEC_SRC_PID }, { "tid", SPEC_SRC_TID },
	{ "uid", SPEC_SRC_UID }, { "comm", SPEC_SRC_COMM }, { "cgroup", SPEC_SRC_CGROUP },
};

/* `source: NAME`: a label of the current task's context, alone in its mapping. */
static void parse_src_source(struct spec_ctx *c, const struct spec_slot *s, const char *field,
			     enum src_role role, struct spec_src *src)
{
	static const char *const others[] = { "arg", "as", "deref", "offset", "scale" };
	const int slots[] = { S_ARG, S_AS, S_DEREF, S_OFFSET, S_SCALE };
	char f[FIELD_LEN], q[QUOTE_LEN];
	const char *name;
	size_t i;

	if (role != SRC_LABEL) {
		spec_diag(c, mark_of(s[S_SOURCE].knode), spec_fkey(f, field, "source"),
			  "the task's context is for label sources only");
		return;
	}
	for (i = 0; i < ARRAY_SIZE(slots); i++) {
		if (!s[slots[i]].val)
			continue;
		spec_diag(c, mark_of(s[slots[i]].knode), spec_fkey(f, field, others[i]),
			  "cannot be combined with source (a label of the task's context reads no argument)");
		return;
	}
	name = spec_str_ref(c, s[S_SOURCE].val, spec_fkey(f, field, "source"));
	if (!name)
		return;
	for (i = 0; i < ARRAY_SIZE(task_sources); i++) {
		if (!strcmp(name, task_sources[i].name)) {
			src->kind = task_sources[i].kind;
			src->type = SPEC_VAL_S64;
			return;
		}
	}
	spec_diag(c, mark_of(s[S_SOURCE].val), f,
		  "unknown source %s (expected pid, tgid, tid, uid, comm or cgroup)",
		  spec_quote(q, name));
}

static void parse_src_values(struct spec_ctx *c, const struct spec_slot *s, const char *field,
			     struct spec_label *label, const struct spec_src *src)
{
	char f[FIELD_LEN];

	if (!s[S_VALUES].val)
		return;
	spec_fkey(f, field, "values");
	if (!label)
		spec_diag(c, mark_of(s[S_VALUES].knode), f,
			  "only label sources list expected values");
	else if (src->kind == SPEC_SRC_CGROUP)
		spec_diag(c, mark_of(s[S_VALUES].knode), f,
			  "a cgroup's id is known at run time only: a cgroup label lists no values");
	else
		parse_label_values(c, s[S_VALUES].val, f, label);
}

/*
 * { arg: N [, as: s64|u64|string] [, values: [...]] },
 * { arg: N, deref: T [, offset: K] } or { source: pid|tgid|tid|uid|comm|cgroup },
 * and [, scale: S] on a metric's value read from an argument;
 * @label NULL for value sources (no values).
 */
static void parse_src(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		      enum src_role role, enum spec_probe_kind kind,
		      struct spec_src *src, struct spec_label *label)
{
	struct spec_slot s[S_NR] = {
		[S_ARG] = { .key = "arg" }, [S_AS] = { .key = "as" },
		[S_DEREF] = { .key = "deref" }, [S_OFFSET] = { .key = "offset" },
		[S_VALUES] = { .key = "values" }, [S_SCALE] = { .key = "scale" },
		[S_SOURCE] = { .key = "source" },
	};
	char f[FIELD_LEN], d[DESC_LEN];

	src->mark = mark_of(n);
	if (!n || n->type != YAML_MAPPING_NODE) {
		spec_diag(c, mark_of(n), field,
			  "expected a source mapping such as { arg: 0 }, got %s",
			  spec_describe(d, n));
		return;
	}
	spec_map_scan(c, n, field, s, S_NR);
	src->kind = SPEC_SRC_ARG;
	src->type = SPEC_VAL_S64;
	src->scale = 1;
	if (s[S_SOURCE].val) {
		parse_src_source(c, s, field, role, src);
		parse_src_values(c, s, field, label, src);
		return;
	}
	if (spec_required(c, n, field, &s[S_ARG], NULL))
		parse_src_arg(c, s[S_ARG].val, spec_fkey(f, field, "arg"), kind, src);
	if (s[S_AS].val && s[S_DEREF].val)
		spec_diag(c, mark_of(s[S_DEREF].knode), spec_fkey(f, field, "deref"),
			  "cannot be combined with as (deref names the type it reads)");
	else if (s[S_AS].val)
		parse_src_as(c, s[S_AS].val, spec_fkey(f, field, "as"), role, src);
	else if (s[S_DEREF].val)
		parse_src_deref(c, s[S_DEREF].val, spec_fkey(f, field, "deref"), role, src);
	if (s[S_OFFSET].val)
		parse_src_offset(c, s, spec_fkey(f, field, "offset"), src);
	parse_src_values(c, s, field, label, src);
	if (s[S_SCALE].val)
		parse_src_scale(c, s, spec_fkey(f, field, "scale"), role, src);
}

/* ---- probes ---- */

enum { P_TARGET, P_UPROBE, P_USDT, P_VALUE, P_BEFORE, P_AFTER, P_LABELS, P_NR };

static void parse_probe_target(struct spec_ctx *c, const yaml_node_t *n,
			       const char *field, struct spec_probe *p)
{
	if (spec_get_str(c, n, field, &p->target))
		spec_check__target_ref(c, n, field, p->target);
}

static void parse_uprobe(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_probe *p)
{
	char q[QUOTE_LEN];

	p->site_mark = mark_of(n);
	if (!spec_get_str(c, n, field, &p->symbol))
		return;
	if (spec__valid_ident(p->symbol))
		p->kind = SPEC_PROBE_UPROBE;
	else
		spec_diag(c, mark_of(n), field,
			  "invalid symbol %s (expected a C identifier)", spec_quote(q, p->symbol));
}

static void parse_usdt(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		       struct spec_probe *p)
{
	const char *s = spec_str_ref(c, n, field), *colon;
	char q[QUOTE_LEN];

	p->site_mark = mark_of(n);
	if (!s)
		return;
	colon = strchr(s, ':');
	if (colon) {
		p->provider = strndup(s, colon - s);
		p->name = spec_usdt__note_name(colon + 1);	/* "a-b" is "a__b" */
		if (!p->provider || !p->name) {
			c->oom = true;
			return;
		}
	}
	if (colon && spec__valid_ident(p->provider) && spec__valid_ident(p->name))
		p->kind = SPEC_PROBE_USDT;
	else
		spec_diag(c, mark_of(n), field,
			  "invalid USDT probe %s (expected 'provider:name', both C identifiers)",
			  spec_quote(q, s));
}

static void parse_probe_site(struct spec_ctx *c, const yaml_node_t *n,
			     const char *field, const struct spec_slot *s,
			     struct spec_probe *p)
{
	char f[FIELD_LEN];

	if (!s[P_UPROBE].val && !s[P_USDT].val)
		spec_diag(c, mark_of(n), field,
			  "needs one of uprobe: SYMBOL or usdt: 'provider:name'");
	else if (s[P_UPROBE].val && s[P_USDT].val)
		spec_diag(c, mark_of(s[P_USDT].knode), spec_fkey(f, field, "usdt"),
			  "cannot be combined with uprobe (a probe is a uprobe or a USDT probe)");
	else if (s[P_UPROBE].val)
		parse_uprobe(c, s[P_UPROBE].val, spec_fkey(f, field, "uprobe"), p);
	else
		parse_usdt(c, s[P_USDT].val, spec_fkey(f, field, "usdt"), p);
}

static void parse_probe_value(struct spec_ctx *c, const yaml_node_t *n,
			      const char *field, const struct spec_slot *s,
			      struct spec_metric *m)
{
	char f[FIELD_LEN], why[64];
	const yaml_node_t *v = s[P_VALUE].val;

	spec_fkey(f, field, "value");
	if (v && m->type == SPEC_NORMALIZATION) {
		spec_diag(c, mark_of(s[P_VALUE].knode), f,
			  "not allowed for normalization metrics (they read before and after)");
	} else if (v) {
		parse_src(c, v, f, SRC_VALUE, m->probe.kind, &m->probe.value, NULL);
		if (m->type == SPEC_COUNTER && m->probe.value.type == SPEC_VAL_F64)
			spec_diag(c, mark_of(v), f,
				  "a counter adds its increments in the kernel, which has no floating point: use an integer (u64 or s64) increment");
	} else if (m->type == SPEC_GAUGE || m->type == SPEC_HISTOGRAM) {
		snprintf(why, sizeof(why), "a %s needs a value",
			 spec_metric_type__name(m->type));
		spec_required(c, n, field, &s[P_VALUE], why);
	}
}

static void parse_probe_norm(struct spec_ctx *c, const yaml_node_t *n,
			     const char *field, const struct spec_slot *s,
			     struct spec_metric *m)
{
	struct spec_src *src[] = { &m->probe.before, &m->probe.after };
	char f[FIELD_LEN];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(src); i++) {
		const struct spec_slot *sl = &s[P_BEFORE + i];

		spec_fkey(f, field, sl->key);
		if (sl->val && m->type && m->type != SPEC_NORMALIZATION)
			spec_diag(c, mark_of(sl->knode), f,
				  "only normalization metrics read before and after");
		else if (sl->val)
			parse_src(c, sl->val, f, SRC_NORM, m->probe.kind, src[i], NULL);
		else if (m->type == SPEC_NORMALIZATION)
			spec_required(c, n, field, sl,
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
static void match_label_sources(struct spec_ctx *c, const yaml_node_t *n,
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
			spec_diag(c, mark_of(k), pf, "expected a label name, got %s",
				  spec_describe(d, k));
			continue;
		}
		spec_fkey(f, pf, sval(k));
		i = label_index(m, k);
		if (i < 0 && labels_ok)
			spec_diag(c, mark_of(k), f,
				  "source for undeclared label %s (add it to %s.labels)",
				  spec_quote_n(q, sval(k), k->data.scalar.length), mf);
		if (i < 0)
			continue;
		if (seen[i].line) {
			spec_diag(c, mark_of(k), f, "duplicate key (first at %u:%u)",
				  seen[i].line, seen[i].col);
			continue;
		}
		seen[i] = mark_of(k);
		parse_src(c, node_at(c, p->value), f, SRC_LABEL, m->probe.kind,
			  &m->labels[i].src, &m->labels[i]);
	}
}

/* Every label needs a source and every source a label. */
static void parse_probe_labels(struct spec_ctx *c, const yaml_node_t *n,
			       const char *mf, struct spec_metric *m,
			       bool labels_ok)
{
	struct spec_mark seen[SPEC_MAX_LABELS] = { { 0, 0 } };
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t i;

	if (n) {
		snprintf(f, sizeof(f), "%s.probe.labels", mf);
		if (!spec_expect(c, n, YAML_MAPPING_NODE, f,
				 "a mapping of label name to source"))
			return;
		match_label_sources(c, n, mf, m, labels_ok, seen);
	}
	for (i = 0; labels_ok && i < m->nr_labels; i++) {
		if (seen[i].line)
			continue;
		snprintf(f, sizeof(f), "%s.labels[%zu]", mf, i);
		spec_diag(c, m->labels[i].mark, f, "label %s has no source in probe.labels",
			  spec_quote(q, m->labels[i].name));
	}
	if (labels_ok)
		spec_check__warm(c, mf, m);
}

static void parse_probe(struct spec_ctx *c, const yaml_node_t *n, const char *mf,
			struct spec_metric *m, bool labels_ok)
{
	struct spec_slot s[P_NR] = {
		[P_TARGET] = { .key = "target" }, [P_UPROBE] = { .key = "uprobe" },
		[P_USDT] = { .key = "usdt" }, [P_VALUE] = { .key = "value" },
		[P_BEFORE] = { .key = "before" }, [P_AFTER] = { .key = "after" },
		[P_LABELS] = { .key = "labels" },
	};
	struct spec_probe *p = &m->probe;
	char field[FIELD_LEN], f[FIELD_LEN];

	spec_fkey(field, mf, "probe");
	p->mark = mark_of(n);
	if (!spec_expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	spec_map_scan(c, n, field, s, P_NR);
	if (spec_required(c, n, field, &s[P_TARGET], NULL))
		parse_probe_target(c, s[P_TARGET].val, spec_fkey(f, field, "target"), p);
	parse_probe_site(c, n, field, s, p);
	parse_probe_value(c, n, field, s, m);
	parse_probe_norm(c, n, field, s, m);
	parse_probe_labels(c, s[P_LABELS].val, mf, m, labels_ok);
}

/* ---- buckets ---- */

static bool set_bounds(struct spec_ctx *c, struct spec_buckets *b,
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

static bool get_pow2(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		     long long *out)
{
	if (!spec_get_int(c, n, field, out))
		return false;
	if (*out >= 1 && !(*out & (*out - 1)))
		return true;
	spec_diag(c, mark_of(n), field, "must be a power of two >= 1 (got %lld)", *out);
	return false;
}

static void parse_exp2(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		       struct spec_buckets *b)
{
	enum { E_MIN, E_MAX, E_NR };
	struct spec_slot s[E_NR] = {
		[E_MIN] = { .key = "min" },
		[E_MAX] = { .key = "max" },
	};
	char f[FIELD_LEN];
	long long lo = 0, hi = 0;
	bool ok = true;
	int nr, i;

	if (!spec_expect(c, n, YAML_MAPPING_NODE, field, "a mapping { min, max }"))
		return;
	spec_map_scan(c, n, field, s, E_NR);
	if (!spec_required(c, n, field, &s[E_MIN], NULL) ||
	    !get_pow2(c, s[E_MIN].val, spec_fkey(f, field, "min"), &lo))
		ok = false;
	if (!spec_required(c, n, field, &s[E_MAX], NULL) ||
	    !get_pow2(c, s[E_MAX].val, spec_fkey(f, field, "max"), &hi))
		ok = false;
	if (!ok)
		return;
	if (lo >= hi) {
		spec_diag(c, mark_of(s[E_MAX].val), spec_fkey(f, field, "max"),
			  "must be greater than min (%lld)", lo);
		return;
	}
	nr = __builtin_ctzll(hi) - __builtin_ctzll(lo) + 1;
	if (nr > SPEC_MAX_BOUNDS) {
		spec_diag(c, mark_of(n), field,
			  "%d bounds from %lld to %lld, at most %d allowed",
			  nr, lo, hi, SPEC_MAX_BOUNDS);
		return;
	}
	if (!set_bounds(c, b, SPEC_BUCKETS_EXP2, nr))
		return;
	for (i = 0; i < nr; i++)
		b->bounds[i] = ldexp((double)lo, i);
}

static bool get_finite(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		       double *out)
{
	if (!spec_get_num(c, n, field, out))
		return false;
	if (isfinite(*out))
		return true;
	spec_diag(c, mark_of(n), field, "must be finite");
	return false;
}

static void fill_linear(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			struct spec_buckets *b, double start, double width,
			size_t nr)
{
	size_t i;

	if (!set_bounds(c, b, SPEC_BUCKETS_LINEAR, nr))
		return;
	for (i = 0; i < nr; i++) {
		b->bounds[i] = start + (double)i * width;
		if (!isfinite(b->bounds[i])) {
			spec_diag(c, mark_of(n), field, "bound %zu overflows to infinity", i);
			return;
		}
		if (i && b->bounds[i] <= b->bounds[i - 1]) {
			spec_diag(c, mark_of(n), field,
				  "width %g is too small for start %g: bounds %zu and %zu are equal as doubles",
				  width, start, i - 1, i);
			return;
		}
	}
}

static void parse_linear(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_buckets *b)
{
	enum { L_START, L_WIDTH, L_COUNT, L_NR };
	struct spec_slot s[L_NR] = {
		[L_START] = { .key = "start" }, [L_WIDTH] = { .key = "width" },
		[L_COUNT] = { .key = "count" },
	};
	char f[FIELD_LEN];
	double start = 0, width = 0;
	long long count = 0;
	bool ok = true;

	if (!spec_expect(c, n, YAML_MAPPING_NODE, field, "a mapping { start, width, count }"))
		return;
	spec_map_scan(c, n, field, s, L_NR);
	if (!spec_required(c, n, field, &s[L_START], NULL) ||
	    !get_finite(c, s[L_START].val, spec_fkey(f, field, "start"), &start))
		ok = false;
	if (!spec_required(c, n, field, &s[L_WIDTH], NULL) ||
	    !get_finite(c, s[L_WIDTH].val, spec_fkey(f, field, "width"), &width)) {
		ok = false;
	} else if (width <= 0) {
		spec_diag(c, mark_of(s[L_WIDTH].val), f, "must be > 0");
		ok = false;
	}
	if (!spec_required(c, n, field, &s[L_COUNT], NULL) ||
	    !spec_get_int(c, s[L_COUNT].val, spec_fkey(f, field, "count"), &count)) {
		ok = false;
	} else if (count < 1 || count > SPEC_MAX_BOUNDS) {
		spec_diag(c, mark_of(s[L_COUNT].val), f, "must be between 1 and %d (got %lld)",
			  SPEC_MAX_BOUNDS, count);
		ok = false;
	}
	if (ok)
		fill_linear(c, n, field, b, start, width, count);
}

static void parse_explicit(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			   struct spec_buckets *b)
{
	const char *prev_text = NULL;
	char f[FIELD_LEN];
	size_t nr = seq_len(n), i;
	double v;

	if (!nr) {
		spec_diag(c, mark_of(n), field, "must list at least one bound");
		return;
	}
	if (nr > SPEC_MAX_BOUNDS) {
		spec_diag(c, mark_of(n), field, "too many bounds (%zu, at most %d)",
			  nr, SPEC_MAX_BOUNDS);
		return;
	}
	if (!set_bounds(c, b, SPEC_BUCKETS_EXPLICIT, nr))
		return;
	for (i = 0; i < nr; i++) {
		const yaml_node_t *item = seq_item(c, n, i);

		spec_fidx(f, field, i);
		if (!spec_get_num(c, item, f, &v))
			continue;
		if (!isfinite(v)) {
			spec_diag(c, mark_of(item), f,
				  "bucket bounds must be finite (+Inf is implicit)");
			continue;
		}
		if (prev_text && v == b->bounds[i - 1])
			spec_diag(c, mark_of(item), f,
				  "duplicate bucket bound %.32s", sval(item));
		else if (prev_text && v < b->bounds[i - 1])
			spec_diag(c, mark_of(item), f,
				  "buckets not sorted (%.32s after %.32s)",
				  sval(item), prev_text);
		b->bounds[i] = v;
		prev_text = sval(item);
	}
}

static void parse_buckets(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			  struct spec_buckets *b)
{
	enum { B_EXP2, B_LINEAR, B_NR };
	struct spec_slot s[B_NR] = {
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
		spec_diag(c, mark_of(n), field,
			  "expected a list of bounds or a mapping with exp2 or linear, got %s",
			  spec_describe(d, n));
		return;
	}
	spec_map_scan(c, n, field, s, B_NR);
	if (s[B_EXP2].val && s[B_LINEAR].val)
		spec_diag(c, mark_of(s[B_LINEAR].knode), spec_fkey(f, field, "linear"),
			  "cannot be combined with exp2");
	else if (s[B_EXP2].val)
		parse_exp2(c, s[B_EXP2].val, spec_fkey(f, field, "exp2"), b);
	else if (s[B_LINEAR].val)
		parse_linear(c, s[B_LINEAR].val, spec_fkey(f, field, "linear"), b);
	else if (n->data.mapping.pairs.top == n->data.mapping.pairs.start)
		spec_diag(c, mark_of(n), field,
			  "needs exp2, linear or an explicit list of bounds");
}

/* ---- panels and alerts ---- */

static void parse_panel(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			struct spec_panel *p)
{
	static const char *const types[] = {
		"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", NULL,
	};
	enum { PN_TITLE, PN_PROMQL, PN_UNIT, PN_TYPE, PN_NR };
	struct spec_slot s[PN_NR] = {
		[PN_TITLE] = { .key = "title" }, [PN_PROMQL] = { .key = "promql" },
		[PN_UNIT] = { .key = "unit" }, [PN_TYPE] = { .key = "panel_type" },
	};
	char f[FIELD_LEN], q[QUOTE_LEN], list[LIST_LEN];

	p->mark = mark_of(n);
	if (!spec_expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	spec_map_scan(c, n, field, s, PN_NR);
	if (spec_required(c, n, field, &s[PN_TITLE], NULL))
		spec_get_str(c, s[PN_TITLE].val, spec_fkey(f, field, "title"), &p->title);
	if (spec_required(c, n, field, &s[PN_PROMQL], NULL))
		spec_get_str(c, s[PN_PROMQL].val, spec_fkey(f, field, "promql"), &p->promql);
	if (s[PN_UNIT].val)
		spec_get_str(c, s[PN_UNIT].val, spec_fkey(f, field, "unit"), &p->unit);
	if (!s[PN_TYPE].val) {
		p->panel_type = strdup("timeseries");
		c->oom |= !p->panel_type;
	} else if (spec_get_str(c, s[PN_TYPE].val, spec_fkey(f, field, "panel_type"),
				&p->panel_type) && !str_in(p->panel_type, types)) {
		spec_diag(c, mark_of(s[PN_TYPE].val), f, "unknown panel_type %s (expected %s)",
			  spec_quote(q, p->panel_type), spec_join_or(list, types));
	}
}

static void parse_alert(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			struct spec_alert *a)
{
	static const char *const severities[] = { "critical", "warning", "info", NULL };
	enum { A_ALERT, A_EXPR, A_FOR, A_SEVERITY, A_SUMMARY, A_NR };
	struct spec_slot s[A_NR] = {
		[A_ALERT] = { .key = "alert" }, [A_EXPR] = { .key = "expr" },
		[A_FOR] = { .key = "for" },
		[A_SEVERITY] = { .key = "severity" }, [A_SUMMARY] = { .key = "summary" },
	};
	char f[FIELD_LEN], q[QUOTE_LEN], list[LIST_LEN];

	a->mark = mark_of(n);
	if (!spec_expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	spec_map_scan(c, n, field, s, A_NR);
	if (spec_required(c, n, field, &s[A_ALERT], NULL) &&
	    spec_get_str(c, s[A_ALERT].val, spec_fkey(f, field, "alert"), &a->alert) &&
	    !spec__valid_alert_name(a->alert))
		spec_diag(c, mark_of(s[A_ALERT].val), f,
			  "invalid alert name %s (expected a CamelCase identifier such as DemoNoRequests: [A-Za-z][A-Za-z0-9_]*)",
			  spec_quote(q, a->alert));
	if (spec_required(c, n, field, &s[A_EXPR], NULL))
		spec_get_str(c, s[A_EXPR].val, spec_fkey(f, field, "expr"), &a->expr);
	if (s[A_FOR].val &&
	    spec_get_str(c, s[A_FOR].val, spec_fkey(f, field, "for"), &a->for_) &&
	    !spec__valid_duration(a->for_))
		spec_diag(c, mark_of(s[A_FOR].val), f,
			  "invalid duration %s (expected a Prometheus duration such as 30s, 10m or 1h30m)",
			  spec_quote(q, a->for_));
	if (spec_required(c, n, field, &s[A_SEVERITY], NULL) &&
	    spec_get_str(c, s[A_SEVERITY].val, spec_fkey(f, field, "severity"),
			 &a->severity) &&
	    !str_in(a->severity, severities))
		spec_diag(c, mark_of(s[A_SEVERITY].val), f,
			  "unknown severity %s (expected %s)",
			  spec_quote(q, a->severity), spec_join_or(list, severities));
	if (spec_required(c, n, field, &s[A_SUMMARY], NULL))
		spec_get_str(c, s[A_SUMMARY].val, spec_fkey(f, field, "summary"), &a->summary);
}

static void parse_panels(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	char f[FIELD_LEN];
	size_t i, nr;

	if (!spec_expect(c, n, YAML_SEQUENCE_NODE, field, "a list of panels"))
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
		parse_panel(c, seq_item(c, n, i), spec_fidx(f, field, i), &m->panels[i]);
}

static void parse_alerts(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	char f[FIELD_LEN];
	size_t i, nr;

	if (!spec_expect(c, n, YAML_SEQUENCE_NODE, field, "a list of alerts"))
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
		parse_alert(c, seq_item(c, n, i), spec_fidx(f, field, i), &m->alerts[i]);
}

/* ---- metrics ---- */

enum {
	M_NAME, M_TYPE, M_HELP, M_UNIT, M_FAMILY, M_LABELS, M_BUDGET, M_HOT,
	M_SIGNAL, M_PROBE, M_BUCKETS, M_PANELS, M_ALERTS, M_NR,
};

static void parse_type(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		       struct spec_metric *m)
{
	const char *s = spec_str_ref(c, n, field), *names[SPEC_NORMALIZATION + 1];
	char q[QUOTE_LEN], list[LIST_LEN];
	int t;

	if (!s)
		return;
	m->type = spec_metric_type__parse(s);
	if (m->type)
		return;
	for (t = SPEC_COUNTER; t <= SPEC_NORMALIZATION; t++)
		names[t - SPEC_COUNTER] = spec_metric_type__name(t);
	names[t - SPEC_COUNTER] = NULL;
	spec_diag(c, mark_of(n), field, "unknown metric type %s (expected %s)",
		  spec_quote(q, s), spec_join_or(list, names));
}

/* What to write instead of @f's word, for a warning. */
static const char *unit_hint(char *buf, size_t size, const struct unit_finding *f)
{
	char num[FMT_DOUBLE_LEN];

	if (!f->factor || f->factor == 1) {
		snprintf(buf, size, "use %s", f->base);
		return buf;
	}
	fmt__double(num, f->factor, FMT_SHORTEST, FMT_GO);
	snprintf(buf, size, "use %s, with value: { ..., scale: %s } for a value read in %.*s",
		 f->base, num, (int)f->len, f->word);
	return buf;
}

/* promtool's words for @f. */
static const char *unit_rule(char *buf, size_t size, const struct unit_finding *f)
{
	if (f->abbreviation)
		snprintf(buf, size, "metric names should not contain abbreviated units");
	else
		snprintf(buf, size, "use base unit \"%s\" instead of \"%.*s\"", f->base,
			 (int)f->len, f->word);
	return buf;
}

/* `unit:`: one promtool would flag in the name that ends in it. */
static void warn_unit(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		      const char *unit)
{
	char name[128], rule[128], hint[256], q[QUOTE_LEN];
	struct unit_finding f;

	snprintf(name, sizeof(name), "_%s", unit);
	if (strlen(unit) + 1 >= sizeof(name) || !units__check_name(name, &f))
		return;
	spec_warn(c, mark_of(n), field,
		  "unit %s: promtool check metrics flags names that end in it (%s); %s",
		  spec_quote(q, unit), unit_rule(rule, sizeof(rule), &f),
		  unit_hint(hint, sizeof(hint), &f));
}

/*
 * The exported name: a unit promtool would flag. A `unit:` is checked on its
 * own (warn_unit()), so the name is checked without its "_<unit>" ending.
 */
static void warn_name_units(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			    const struct spec_metric *m, bool unit_ok)
{
	char rule[128], hint[256], qw[QUOTE_LEN], qn[QUOTE_LEN], *full, *cut = NULL;
	struct unit_finding f;
	bool found;
	size_t len, ul, tl = strlen(SUFFIX_TOTAL);

	full = c->ns_ok ? spec_metric__full_name(c->spec, m) : strdup(m->name);
	if (!full) {
		c->oom = true;
		return;
	}
	len = strlen(full);
	if (m->type == SPEC_COUNTER && len > tl && !strcmp(full + len - tl, SUFFIX_TOTAL))
		len -= tl;
	ul = unit_ok ? strlen(m->unit) : 0;
	if (ul && len > ul + 1 && full[len - ul - 1] == '_' &&
	    !strncmp(full + len - ul, m->unit, ul))
		cut = &full[len - ul - 1];
	if (cut)
		*cut = '\0';
	found = units__check_name(full, &f);
	if (cut)
		*cut = '_';
	if (found)
		spec_warn(c, mark_of(n), field,
			  "%s in %s: promtool check metrics flags it (%s); %s",
			  spec_quote_n(qw, f.word, f.len), spec_quote(qn, full),
			  unit_rule(rule, sizeof(rule), &f), unit_hint(hint, sizeof(hint), &f));
	free(full);
}

static void check_metric_name(struct spec_ctx *c, const yaml_node_t *n,
			      const char *field, const struct spec_metric *m,
			      bool unit_ok)
{
	char msg[MSG_LEN];

	if (!spec_name__check_metric(m->name, m->type, unit_ok ? m->unit : NULL,
				     msg, sizeof(msg)))
		spec_diag(c, mark_of(n), field, "%s", msg);
	else
		warn_name_units(c, n, field, m, unit_ok);
}

static void check_help(struct spec_ctx *c, const yaml_node_t *n, const char *field,
		       const char *help)
{
	const char *s;

	if (strpbrk(help, "\r\n")) {
		spec_diag(c, mark_of(n), field, "must be a single line");
		return;
	}
	for (s = help; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			spec_diag(c, mark_of(n), field, "must not contain control characters");
			return;
		}
	}
}

static void check_label_name(struct spec_ctx *c, const yaml_node_t *n,
			     const char *field, const struct spec_metric *m,
			     size_t idx, bool *ok)
{
	char msg[MSG_LEN];

	if (!spec_name__check_label(m->labels[idx].name, m->type, msg, sizeof(msg)))
		spec_diag(c, mark_of(n), field, "%s", msg);
	if (!spec_check__label_dup(c, n, field, m, idx))
		*ok = false;
}

/* Returns whether the whole list was read (so sources can be matched). */
static bool parse_labels(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	char f[FIELD_LEN];
	size_t nr, i;
	bool ok = true;

	if (!spec_expect(c, n, YAML_SEQUENCE_NODE, field, "a list of label names"))
		return false;
	nr = seq_len(n);
	if (nr > SPEC_MAX_LABELS) {
		spec_diag(c, mark_of(n), field, "too many labels (%zu, at most %d)",
			  nr, SPEC_MAX_LABELS);
		return false;
	}
	for (i = 0; i < nr; i++) {
		const yaml_node_t *item = seq_item(c, n, i);
		struct spec_label *l = &m->labels[m->nr_labels];

		spec_fidx(f, field, i);
		l->mark = mark_of(item);
		if (!spec_get_str(c, item, f, &l->name)) {
			ok = false;
			continue;
		}
		m->nr_labels++;
		check_label_name(c, item, f, m, m->nr_labels - 1, &ok);
	}
	return ok;
}

static void parse_budget(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	long long v;

	if (spec_get_int(c, n, field, &v) && spec_check__budget(c, n, field, v, true))
		m->budget = v;
}

static void parse_metric_text(struct spec_ctx *c, const struct spec_slot *s,
			      const yaml_node_t *n, const char *field,
			      struct spec_metric *m)
{
	char f[FIELD_LEN], q[QUOTE_LEN];
	bool unit_ok = false;

	if (s[M_UNIT].val &&
	    spec_get_str(c, s[M_UNIT].val, spec_fkey(f, field, "unit"), &m->unit)) {
		unit_ok = spec__valid_unit(m->unit);
		if (!unit_ok)
			spec_diag(c, mark_of(s[M_UNIT].val), f,
				  "invalid unit %s (must match [a-z][a-z0-9_]*)",
				  spec_quote(q, m->unit));
		else
			warn_unit(c, s[M_UNIT].val, f, m->unit);
	}
	if (spec_required(c, n, field, &s[M_NAME], NULL) &&
	    spec_get_str(c, s[M_NAME].val, spec_fkey(f, field, "name"), &m->name))
		check_metric_name(c, s[M_NAME].val, f, m, unit_ok);
	if (spec_required(c, n, field, &s[M_HELP], NULL) &&
	    spec_get_str(c, s[M_HELP].val, spec_fkey(f, field, "help"), &m->help))
		check_help(c, s[M_HELP].val, f, m->help);
	if (!s[M_FAMILY].val) {
		m->family = strdup("default");
		c->oom |= !m->family;
	} else if (spec_get_str(c, s[M_FAMILY].val, spec_fkey(f, field, "family"),
				&m->family) && !spec__valid_family(m->family)) {
		spec_diag(c, mark_of(s[M_FAMILY].val), f,
			  "invalid family %s (must match [a-z0-9_-]+)",
			  spec_quote(q, m->family));
	}
}

/*
 * With a `scale:`, the bounds are in the exported unit and the kernel
 * buckets what the probe reads: bound / scale, an integer for an integer
 * value, and the bounds still distinct. At each bound of a list, else at
 * the exp2 or linear block.
 */
static void check_scaled_buckets(struct spec_ctx *c, const yaml_node_t *n,
				 const char *field, const struct spec_metric *m)
{
	const struct spec_buckets *b = &m->buckets;
	const struct spec_src *v = &m->probe.value;
	__u8 type = v->type == SPEC_VAL_F64 ? EMITD_VAL_F64 : EMITD_VAL_S64;
	char f[FIELD_LEN], nb[FMT_DOUBLE_LEN], nk[FMT_DOUBLE_LEN], ns[FMT_DOUBLE_LEN];
	bool list = n->type == YAML_SEQUENCE_NODE && seq_len(n) == b->nr_bounds;
	double k, prev = 0;
	size_t i;

	fmt__double(ns, v->scale, FMT_SHORTEST, FMT_GO);
	for (i = 0; i < b->nr_bounds; i++) {
		const yaml_node_t *at = list ? seq_item(c, n, i) : n;
		int err = bucket__unscale(b->bounds[i], v->scale, type, &k);

		if (list)
			spec_fidx(f, field, i);
		else
			snprintf(f, sizeof(f), "%s", field);
		fmt__double(nb, b->bounds[i], FMT_SHORTEST, FMT_GO);
		k = err ? scale__unexport(b->bounds[i], v->scale) : k;
		fmt__double(nk, k, FMT_SHORTEST, FMT_GO);
		if (err) {
			spec_diag(c, mark_of(at), f,
				  "bound %s / scale %s is %s, not an integer: the kernel buckets integer values at integer bounds (write a multiple of the scale)",
				  nb, ns, nk);
			return;
		}
		if (i && !(k > prev)) {
			spec_diag(c, mark_of(at), f,
				  "bound %s / scale %s is %s, as is the bound before it: the kernel cannot tell them apart",
				  nb, ns, nk);
			return;
		}
		prev = k;
	}
}

static void parse_metric_buckets(struct spec_ctx *c, const struct spec_slot *s,
				 const yaml_node_t *n, const char *field,
				 struct spec_metric *m)
{
	char f[FIELD_LEN];

	spec_fkey(f, field, "buckets");
	if (m->type == SPEC_HISTOGRAM) {
		if (spec_required(c, n, field, &s[M_BUCKETS], "a histogram needs buckets"))
			parse_buckets(c, s[M_BUCKETS].val, f, &m->buckets);
		if (m->buckets.nr_bounds && m->probe.value.scale_mark.line)
			check_scaled_buckets(c, s[M_BUCKETS].val, f, m);
	} else if (m->type && s[M_BUCKETS].val) {
		spec_diag(c, mark_of(s[M_BUCKETS].knode), f, "only histograms have buckets");
	}
}

static void parse_metric(struct spec_ctx *c, const yaml_node_t *n, const char *field,
			 struct spec_metric *m)
{
	struct spec_slot s[M_NR] = {
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
	if (!spec_expect(c, n, YAML_MAPPING_NODE, field, "a mapping"))
		return;
	spec_map_scan(c, n, field, s, M_NR);
	if (spec_required(c, n, field, &s[M_TYPE], NULL))
		parse_type(c, s[M_TYPE].val, spec_fkey(f, field, "type"), m);
	parse_metric_text(c, s, n, field, m);
	if (s[M_LABELS].val)
		labels_ok = parse_labels(c, s[M_LABELS].val, spec_fkey(f, field, "labels"), m);
	if (s[M_BUDGET].val)
		parse_budget(c, s[M_BUDGET].val, spec_fkey(f, field, "budget"), m);
	if (s[M_HOT].val)
		spec_get_bool(c, s[M_HOT].val, spec_fkey(f, field, "hot"), &m->hot);
	if (s[M_SIGNAL].val)
		spec_get_bool(c, s[M_SIGNAL].val, spec_fkey(f, field, "signal"), &m->signal);
	if (spec_required(c, n, field, &s[M_PROBE], NULL))
		parse_probe(c, s[M_PROBE].val, field, m, labels_ok);
	parse_metric_buckets(c, s, n, field, m);
	if (s[M_PANELS].val)
		parse_panels(c, s[M_PANELS].val, spec_fkey(f, field, "panels"), m);
	if (s[M_ALERTS].val)
		parse_alerts(c, s[M_ALERTS].val, spec_fkey(f, field, "alerts"), m);
}

static void parse_metrics(struct spec_ctx *c, yaml_node_t *n)
{
	struct spec *spec = c->spec;
	char f[FIELD_LEN];
	size_t nr, i;

	if (!spec_expect(c, n, YAML_SEQUENCE_NODE, "metrics", "a list of metrics"))
		return;
	nr = seq_len(n);
	if (!nr) {
		spec_diag(c, mark_of(n), "metrics", "must list at least one metric");
		return;
	}
	if (nr > SPEC_MAX_METRICS) {
		spec_diag(c, mark_of(n), "metrics",
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
		parse_metric(c, seq_item(c, n, i), spec_fidx(f, "metrics", i),
			     &spec->metrics[i]);
	c->metrics = n;
}

/* ---- top level ---- */

enum { R_VERSION, R_NAMESPACE, R_GLOBAL, R_TARGETS, R_METRICS, R_NR };

/* Returns false when the spec is of another version: nothing else applies. */
static bool parse_version(struct spec_ctx *c, const yaml_node_t *root)
{
	const yaml_node_t *n = spec_map_get(c, root, "version");
	long long v;

	if (!n) {
		spec_diag(c, mark_of(root), "version",
			  "missing required field (use version: 1)");
		return true;
	}
	if (!spec_get_int(c, n, "version", &v))
		return true;
	if (v == 1) {
		c->spec->version = 1;
		return true;
	}
	spec_diag(c, mark_of(n), "version",
		  "unsupported spec version %lld (this emitd reads version 1)", v);
	return false;
}

static void parse_namespace(struct spec_ctx *c, const yaml_node_t *n)
{
	char msg[MSG_LEN];

	if (!spec_get_str(c, n, "namespace", &c->spec->namespace_))
		return;
	if (spec_name__check_namespace(c->spec->namespace_, msg, sizeof(msg)))
		c->ns_ok = true;
	else
		spec_diag(c, mark_of(n), "namespace", "%s", msg);
}

static void parse_global_budget(struct spec_ctx *c, const yaml_node_t *n)
{
	long long v;

	c->spec->global_budget = SPEC_DEFAULT_GLOBAL_BUDGET;
	c->global_ok = true;
	if (!n)
		return;
	c->global_ok = false;
	if (!spec_get_int(c, n, "global_budget", &v) ||
	    !spec_check__budget(c, n, "global_budget", v, false))
		return;
	c->spec->global_budget = v;
	c->global_ok = true;
}

void spec_parse__root(struct spec_ctx *c, const yaml_node_t *root)
{
	struct spec_slot s[R_NR] = {
		[R_VERSION] = { .key = "version" }, [R_NAMESPACE] = { .key = "namespace" },
		[R_GLOBAL] = { .key = "global_budget" }, [R_TARGETS] = { .key = "targets" },
		[R_METRICS] = { .key = "metrics" },
	};
	char d[DESC_LEN];

	if (root->type != YAML_MAPPING_NODE) {
		spec_diag(c, mark_of(root), NULL,
			  "expected a mapping with version, namespace, targets and metrics, got %s",
			  spec_describe(d, root));
		return;
	}
	if (!parse_version(c, root))
		return;
	spec_map_scan(c, root, "", s, R_NR);
	if (spec_required(c, root, "", &s[R_NAMESPACE], NULL))
		parse_namespace(c, s[R_NAMESPACE].val);
	parse_global_budget(c, s[R_GLOBAL].val);
	if (spec_required(c, root, "", &s[R_TARGETS], NULL))
		parse_targets(c, s[R_TARGETS].val);
	if (spec_required(c, root, "", &s[R_METRICS], NULL))
		parse_metrics(c, s[R_METRICS].val);
}
