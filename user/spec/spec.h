/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * spec: the YAML metric spec, parsed into plain data.
 *
 * A spec is the single source of truth for probes, metric names, help, units,
 * buckets, budgets, panels and alerts. spec__load() parses and validates it;
 * every problem is reported as a diagnostic carrying file:line:col and the
 * offending field, and the spec is rejected when any error was found.
 *
 * The files of spec/ (each function below is in the one named above it):
 * load.c reads and releases a spec, diag.c holds the diagnostics, names.c the
 * name rules, check.c the checks across fields; parse.c and yaml.c (YAML to
 * struct spec) and spec/internal.h are private to spec/. spec/hash.h: the
 * canonical form and its hash.
 */
#ifndef EMITD_SPEC_H
#define EMITD_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define SPEC_MAX_LABELS		4	/* == EMITD_MAX_LABELS */
#define SPEC_MAX_BOUNDS		62	/* finite bucket bounds, +Inf is implicit */
#define SPEC_MAX_ARG		11	/* highest argument index a probe may read */
#define SPEC_DEFAULT_BUDGET	64
#define SPEC_DEFAULT_GLOBAL_BUDGET 4096
#define SPEC_MAX_LABEL_BYTES	31	/* a string label value: EMITD_LABEL_LEN - 1 */
#define SPEC_MAX_COMMS		4	/* == EMITD_MAX_COMMS: names a target's comm: lists */
#define SPEC_MAX_COMM_BYTES	15	/* a task's name: EMITD_COMM_LEN - 1 */
#define SPEC_MAX_CGROUP_BYTES	1024	/* a target's cgroup: path */

struct spec_mark {
	unsigned int line;	/* 1-based; 0 when unknown */
	unsigned int col;	/* 1-based */
};

enum spec_metric_type {
	SPEC_COUNTER = 1,
	SPEC_GAUGE,
	SPEC_HISTOGRAM,
	SPEC_NORMALIZATION,
};

/* Where a value or a label comes from at the probe site. */
enum spec_src_kind {
	SPEC_SRC_NONE = 0,
	SPEC_SRC_ARG,		/* integer argument register / USDT operand */
	SPEC_SRC_DEREF,		/* *(type *)(arg + offset) */
	SPEC_SRC_STRING,	/* NUL-terminated user string at arg */
	/* labels of the current task's context: `{ source: NAME }`, no argument */
	SPEC_SRC_PID,		/* process id (the kernel's tgid); `tgid` is its other name */
	SPEC_SRC_TID,		/* thread id */
	SPEC_SRC_UID,		/* real user id */
	SPEC_SRC_COMM,		/* the thread's name (comm), a string of 15 bytes at most */
	SPEC_SRC_CGROUP,	/* cgroup v2 path, relative to the cgroup root */
};

/* Whether @k reads a probe argument (arg:, deref:, as: string). */
static inline bool spec_src_kind__reads_arg(enum spec_src_kind k)
{
	return k == SPEC_SRC_ARG || k == SPEC_SRC_DEREF || k == SPEC_SRC_STRING;
}

/* Whether a label of source @k is a string (else an integer). */
static inline bool spec_src_kind__is_string(enum spec_src_kind k)
{
	return k == SPEC_SRC_STRING || k == SPEC_SRC_COMM;
}

enum spec_val_type {
	SPEC_VAL_S64 = 0,	/* default for `arg:` */
	SPEC_VAL_U64,
	SPEC_VAL_F64,
};

struct spec_src {
	enum spec_src_kind kind;
	unsigned int arg;		/* 0-based argument index */
	enum spec_val_type type;	/* ARG: `as: s64|u64`; DEREF: `deref: u64|s64|f64` */
	int offset;			/* DEREF only: byte offset */
	/*
	 * probe.value only: `scale:`, exported = read x scale (lib/scale.h);
	 * 1 when absent, 0 in a source the spec does not give.
	 */
	double scale;
	struct spec_mark scale_mark;	/* the scale: value; line 0 when absent */
	struct spec_mark mark;
};

struct spec_label {
	char *name;
	struct spec_src src;		/* ARG (integer label) or STRING */
	struct spec_mark mark;
	/*
	 * The `values:` of its source: expected values, whose series are
	 * exported as 0 before their first event (warm series). Strings as
	 * written, integers in decimal; NULL when none.
	 */
	char **values;
	size_t nr_values;
	struct spec_mark values_mark;
};

enum spec_probe_kind {
	SPEC_PROBE_UPROBE = 1,		/* uprobe: function symbol */
	SPEC_PROBE_USDT,		/* usdt: 'provider:name' */
};

struct spec_probe {
	char *target;			/* name of a spec_target */
	enum spec_probe_kind kind;
	char *symbol;			/* UPROBE: function name */
	char *provider;			/* USDT */
	char *name;			/* USDT */
	struct spec_src value;		/* COUNTER: optional increment (NONE = +1);
					 * GAUGE, HISTOGRAM: required */
	struct spec_src before;		/* NORMALIZATION */
	struct spec_src after;		/* NORMALIZATION */
	struct spec_mark mark;		/* the probe: mapping */
	struct spec_mark site_mark;	/* the uprobe:/usdt: value */
};

enum spec_bucket_kind {
	SPEC_BUCKETS_NONE = 0,
	SPEC_BUCKETS_EXP2,		/* { exp2: { min: 1, max: 1048576 } } */
	SPEC_BUCKETS_LINEAR,		/* { linear: { start: 0, width: 10, count: 20 } } */
	SPEC_BUCKETS_EXPLICIT,		/* [0.5, 1, 2.5, ...] */
};

struct spec_buckets {
	enum spec_bucket_kind kind;
	double *bounds;			/* materialized `le` bounds, strictly increasing, finite */
	size_t nr_bounds;		/* <= SPEC_MAX_BOUNDS */
	struct spec_mark mark;
};

struct spec_panel {
	char *title;
	char *promql;
	char *unit;			/* may be NULL */
	char *panel_type;		/* may be NULL: timeseries */
	struct spec_mark mark;
};

struct spec_alert {
	char *alert;
	char *expr;
	char *for_;			/* Prometheus duration string, may be NULL */
	char *severity;
	char *summary;
	struct spec_mark mark;
};

struct spec_metric {
	char *name;			/* without the namespace prefix */
	enum spec_metric_type type;
	char *help;
	char *unit;			/* may be NULL */
	char *family;			/* may be NULL: "default" */
	struct spec_label labels[SPEC_MAX_LABELS];
	size_t nr_labels;		/* order of `labels: [...]` */
	unsigned int budget;		/* series budget; SPEC_DEFAULT_BUDGET if absent */
	bool hot;
	bool signal;
	struct spec_probe probe;
	struct spec_buckets buckets;	/* HISTOGRAM only */
	struct spec_panel *panels;
	size_t nr_panels;
	struct spec_alert *alerts;
	size_t nr_alerts;
	struct spec_mark mark;
};

struct spec_target {
	char *name;
	char *binary;			/* may be NULL when pid is set; with a pid: a file it maps */
	int pid;			/* 0 when absent */
	/*
	 * Filters, applied in the kernel before an event is counted: the
	 * task's cgroup v2 path is @cgroup or below it (components, without
	 * leading or trailing '/'); its comm is one of @comms.
	 */
	char *cgroup;			/* NULL: any */
	char **comms;			/* NULL: any */
	size_t nr_comms;
	bool follow_forks;		/* with a pid: its descendants too, from their fork */
	struct spec_mark mark;
	struct spec_mark binary_mark;
	struct spec_mark cgroup_mark;
	struct spec_mark comm_mark;
	struct spec_mark follow_mark;
};

/* Whether probes of @t run the context handler for its filters. */
static inline bool spec_target__filters(const struct spec_target *t)
{
	return t->cgroup || t->nr_comms || t->follow_forks;
}

struct spec {
	char *path;
	int version;
	char *namespace_;
	unsigned int global_budget;
	struct spec_target *targets;
	size_t nr_targets;
	struct spec_metric *metrics;
	size_t nr_metrics;
};

struct spec_diag {
	struct spec_mark mark;
	char *field;			/* dotted path, e.g. metrics[2].buckets */
	char *msg;
	bool warning;			/* a warning: the spec loads all the same */
};

struct spec_diags {
	struct spec_diag *v;
	size_t nr;
	size_t nr_errors;		/* of nr; the rest are warnings */
};

/* ---- load.c ---- */

/*
 * Parse and validate @path. On success returns 0 and sets *out. On failure
 * returns a negative errno (-EINVAL for an invalid spec, -ENOENT etc. for IO)
 * and leaves the reasons in @diags (which the caller frees).
 */
int spec__load(const char *path, struct spec **out, struct spec_diags *diags);
/* Same, from a memory buffer; @name is used as the file name in diagnostics. */
int spec__load_buf(const char *name, const char *buf, size_t len,
		   struct spec **out, struct spec_diags *diags);
void spec__free(struct spec *spec);

/* ---- diag.c ---- */

/*
 * "file:line:col: error: field: message\n" for each diagnostic
 * ("warning:" for a warning).
 */
void spec_diags__print(const struct spec_diags *diags, const char *path, FILE *f);
void spec_diags__free(struct spec_diags *diags);

/*
 * "did you mean": the candidate closest to what was typed, within a typo
 * (the agent offers the names it finds in a binary).
 */
struct spec_hint {
	const char *typed;
	const char *best;	/* the best candidate offered, or NULL */
	unsigned int dist;
};

void spec_hint__init(struct spec_hint *h, const char *typed);
/* Is @cand closer than any candidate before, and close enough? */
bool spec_hint__offer(struct spec_hint *h, const char *cand);

/* ---- check.c ---- */

const struct spec_target *spec__find_target(const struct spec *spec, const char *name);
/*
 * The warm series of @m: one per combination of its labels' values (every
 * label lists values, or none does), 0 without values. The linter keeps it
 * at most budget - 1.
 */
size_t spec_metric__nr_warm(const struct spec_metric *m);
/* The `scale:` of @m's value: exported = read x scale; 1 without one. */
double spec_metric__scale(const struct spec_metric *m);

/* ---- names.c ---- */

/* "counter", ..., "unknown"; spec_metric_type__parse() returns 0 if none. */
const char *spec_metric_type__name(enum spec_metric_type t);
enum spec_metric_type spec_metric_type__parse(const char *s);
/* Full exported name: "<namespace>_<name>". Caller frees. */
char *spec_metric__full_name(const struct spec *spec, const struct spec_metric *m);
/* "none", "arg", "deref", "string", "pid", "tid", "uid", "comm", "cgroup"; "?" for another. */
const char *spec_src_kind__name(enum spec_src_kind k);
/* "s64", "u64", "f64"; "?" for another value. */
const char *spec_val_type__name(enum spec_val_type t);
/* "none", "exp2", "linear", "explicit"; "?" for another value. */
const char *spec_bucket_kind__name(enum spec_bucket_kind k);

/*
 * What the linter checks. Limits it enforces beyond the array sizes above:
 */
#define SPEC_MAX_METRICS	64		/* == EMITD_MAX_METRICS: one slot each */
#define SPEC_MAX_TARGETS	64
#define SPEC_MAX_BUDGET		(1U << 20)	/* largest global_budget (series) */
#define SPEC_MAX_UPROBE_ARG	5		/* x86-64 integer argument registers */
#define SPEC_MAX_OFFSET		4095		/* largest deref offset, bytes */
#define SPEC_MAX_FILE_SIZE	(1 << 20)	/* bytes of YAML */
#define SPEC_MAX_DIAGS		100		/* shown per load, then a summary */

/* diag.c: append an error; returns 0 or -ENOMEM. @field may be NULL or "". */
int spec_diags__add(struct spec_diags *diags, struct spec_mark mark,
		    const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* diag.c: Levenshtein distance; UINT_MAX when either string exceeds 128 bytes. */
unsigned int spec__edit_distance(const char *a, const char *b);

/* names.c: [A-Za-z_][A-Za-z0-9_]*: namespaces, label names, C symbols. */
bool spec__valid_ident(const char *s);
/*
 * A USDT probe name as its note holds it: the '-' of dtrace's and the
 * applications' docs stands for "__" ("transaction-commit" is
 * "transaction__commit"). Caller frees; NULL when out of memory.
 */
char *spec_usdt__note_name(const char *s);
/* [a-zA-Z0-9_]+: a metric name without its namespace (so may start with 0-9). */
bool spec__valid_metric_name(const char *s);
/* [a-z][a-z0-9_]*: a unit, which a metric's name ends in. */
bool spec__valid_unit(const char *s);
/* [a-z0-9_-]+: a family (a dashboard row, a rules group). */
bool spec__valid_family(const char *s);
/* [a-zA-Z0-9_.-]+: a target. */
bool spec__valid_target_name(const char *s);
/* [A-Za-z][A-Za-z0-9_]*: a Prometheus alert. */
bool spec__valid_alert_name(const char *s);
/* Prometheus duration: ([0-9]+(ms|s|m|h|d|w|y))+, units largest first. */
bool spec__valid_duration(const char *s);
/*
 * The series a metric of type @t exports are its full name followed by each
 * of the returned suffixes ("" for counters and gauges; "_bucket", "_count",
 * "_sum" for histograms; "_events_total", ... for normalization metrics).
 */
size_t spec_metric_type__suffixes(enum spec_metric_type t,
				  const char *const **suffixes);
/*
 * Call @fn for every metric-name-like identifier in a PromQL expression
 * ([a-zA-Z_:][a-zA-Z0-9_:]*), skipping string literals, comments and number
 * or duration literals; @off is the byte offset in @expr. Stops at and
 * returns the first non-zero value @fn returns.
 */
int spec__promql_for_each_ident(const char *expr,
				int (*fn)(const char *id, size_t len,
					  size_t off, void *arg),
				void *arg);

/*
 * The name rules: true when @name keeps them, else false with the reason
 * (a diagnostic's message, the name quoted) in @msg of @size bytes.
 *
 * A metric's name (without the namespace): no ':', [a-zA-Z0-9_]+; a counter's
 * ends in "_total" and no other type's does; a histogram's does not end in
 * one of its series suffixes; with a @unit (may be NULL), it ends in
 * "_<unit>" (counters: "_<unit>_total"). @type 0 (unknown) checks the
 * characters only.
 */
bool spec_name__check_metric(const char *name, enum spec_metric_type type,
			     const char *unit, char *msg, size_t size);
/* An identifier, not "__*"; "le" (histograms) and "quantile" are reserved. */
bool spec_name__check_label(const char *name, enum spec_metric_type type,
			    char *msg, size_t size);
/* An identifier, and not "emitd" (emitd's own metrics are emitd_*). */
bool spec_name__check_namespace(const char *ns, char *msg, size_t size);

#endif /* EMITD_SPEC_H */
