/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * gen: spec -> generated artifacts (`emitd gen`).
 *
 * Everything here is pure: functions take a parsed struct spec and return
 * strings or jansson values. File IO lives in cli.c only. The same spec
 * gives byte-identical output: fixed key order, no timestamps, a trailing
 * newline on every file. docs/GEN.md describes the artifacts, the panel
 * signature and ID scheme, and the --check exit codes.
 *
 * Who calls whom (no circle): common.c calls no other file of gen/; header,
 * catalog, dashboards, rules and check call common; cli calls them all.
 */
#ifndef EMITD_GEN_H
#define EMITD_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "spec/hash.h"
#include "spec/spec.h"

#define GEN_MAX_PANELS		36	/* per dashboard, alerts overview included */
#define GEN_GRID_COLS		2
#define GEN_GRID_W		12
#define GEN_GRID_H		8
#define GEN_MAX_SPLIT_LABELS	2	/* `sum by (label)` splits per counter */
#define GEN_DS_TYPE		"prometheus"
/* The __inputs entry and the datasource variable of every dashboard. */
#define GEN_DS_VAR		"DS_PROMETHEUS"
#define GEN_DS_UID		"${" GEN_DS_VAR "}"
#define GEN_DS_PROV_UID		"emitd-prometheus"	/* the provisioned datasource */
#define GEN_DS_PROV_NAME	"emitd Prometheus"
#define GEN_DS_PROV_URL		"http://localhost:9090"
#define GEN_GRAFANA_DASH_DIR	"/var/lib/grafana/dashboards/emitd-"	/* + namespace */
#define GEN_DEFAULT_FAMILY	"default"
#define GEN_UID_MAX		40	/* Grafana's limit on dashboard uids */

/* Where the artifacts go, relative to the output directory. */
#define GEN_HEADER_PATH_FMT	"include/generated/%s_metrics.h"	/* namespace */
#define GEN_CATALOG_PATH	"docs/METRICS_CATALOG.md"
#define GEN_DASH_DIR		"dashboards/"
#define GEN_DASH_PATH_FMT	GEN_DASH_DIR "%s.json"			/* slug */
#define GEN_MANIFEST_PATH	GEN_DASH_DIR "manifest.json"
#define GEN_PROV_DASH_PATH	GEN_DASH_DIR "provisioning/dashboards.yml"
#define GEN_PROV_DS_PATH	GEN_DASH_DIR "provisioning/datasources.yml"
#define GEN_RECORDING_PATH	"rules/recording_rules.yml"
#define GEN_ALERTS_PATH		"rules/alerts.yml"
#define GEN_RULES_CATALOG_PATH	"docs/RULES_CATALOG.md"

/* emitd's own dashboard (from lib/self_metrics.h) is the slug of this family. */
#define GEN_SELF_FAMILY		"emitd-health"
/* The alert groups of emitd's own rules in rules/alerts.yml. */
#define GEN_PROVENANCE_GROUP	"emitd-provenance"
#define GEN_HEALTH_GROUP	"emitd-health-suggested"
/* What the spec hash is written as where it would churn (catalog, overview). */
#define GEN_HASH_PLACEHOLDER	"<spec_sha256>"

/* Signature fields are joined with US, the sorted expressions with RS. */
#define GEN_SIG_FS		'\x1f'
#define GEN_SIG_RS		'\x1e'

/* `emitd gen` exit status. */
enum gen_exit {
	GEN_EXIT_OK		= 0,
	GEN_EXIT_ERROR		= 1,	/* invalid spec, or an I/O error */
	GEN_EXIT_USAGE		= 2,
	GEN_EXIT_DASHBOARDS	= 6,	/* dashboards/<slug>.json or the manifest drifted */
	GEN_EXIT_RECORDING	= 8,	/* rules/recording_rules.yml drifted */
	GEN_EXIT_ALERTS		= 9,	/* rules/alerts.yml drifted */
	GEN_EXIT_DOCS		= 10,	/* the C header or the catalog drifted */
	GEN_EXIT_RULES_CATALOG	= 11,	/* docs/RULES_CATALOG.md drifted */
};

enum gen_kind {
	GEN_HEADER = 0,		/* include/generated/<namespace>_metrics.h */
	GEN_CATALOG,		/* docs/METRICS_CATALOG.md */
	GEN_DASHBOARD,		/* dashboards/<slug>.json, emitd's own included */
	GEN_MANIFEST,		/* dashboards/manifest.json */
	GEN_RECORDING,		/* rules/recording_rules.yml */
	GEN_ALERTS,		/* rules/alerts.yml */
	GEN_RULES_CATALOG,	/* docs/RULES_CATALOG.md */
	GEN_PROVISIONING,	/* dashboards/provisioning/{dashboards,datasources}.yml */
	GEN_KIND_NR,
};

struct gen_file {
	enum gen_kind kind;
	char *path;		/* relative to the output directory */
	char *data;		/* the whole file, ends in '\n' */
	size_t len;
};

struct gen_set {
	struct gen_file *files;
	size_t nr;
};

struct gen_dash {
	char *slug;		/* <namespace>-<family>, then <slug>-2, ... */
	char *family;
	char *title;
	json_t *json;		/* the Grafana dashboard */
	size_t nr_panels;
};

struct gen_dashes {
	struct gen_dash *v;
	size_t nr;
};

/* ---- common.c: the shared helpers ---- */

/* A text artifact being written: an open_memstream() FILE. */
struct gen_text {
	FILE *f;
	char *data;
	size_t len;
};

int gen_text__open(struct gen_text *t);
/* Close @t; on success the text moves to *@out and *@len (caller frees). */
int gen_text__close(struct gen_text *t, char **out, size_t *len);
/* Close @t and drop its text (error paths). */
void gen_text__discard(struct gen_text *t);

/* The family of @m, "default" when the spec names none. */
const char *gen__family(const struct spec_metric *m);
/* Distinct families in order of first appearance; returns how many. */
size_t gen__families(const struct spec *spec, const char **fams, size_t max);
/* The first @max label names of @m joined with ", ", "" when none (caller frees). */
char *gen__labels_joined(const struct spec_metric *m, size_t max);
/* "<namespace>-<family>" (caller frees). */
char *gen__slug(const struct spec *spec, const char *family);
/* "demo_trigger" -> "DemoTrigger" (caller frees). */
char *gen__camel(const char *snake);

/* Markdown text (NULL is ""): markup characters escaped, no line breaks. */
void gen__put_md(FILE *f, const char *s);
/* Text for a C comment: no comment terminator, no line breaks. */
void gen__put_comment_text(FILE *f, const char *s);

/*
 * The two alert suggestions for a normalization metric: its zeroed fraction
 * drops sharply against the 1h baseline, its after-mean drifts above zero.
 * Fills @out[0..1]; free the strings with gen_alert__clear().
 */
#define GEN_NORM_SUGGESTIONS	2
int gen__norm_suggestions(const struct spec *spec, const struct spec_metric *m,
			  struct spec_alert out[GEN_NORM_SUGGESTIONS]);
void gen_alert__clear(struct spec_alert *a);

/*
 * emitd's own health suggestions (group GEN_HEALTH_GROUP), one per row of a
 * table of self-metrics (lib/self_metrics.h): fills @out (free each with
 * gen_alert__clear()) and @metric with the self-metric each comes from.
 */
#define GEN_NR_HEALTH		5
int gen__health_alerts(struct spec_alert out[GEN_NR_HEALTH], const char *metric[GEN_NR_HEALTH]);
/*
 * The provenance alert (group GEN_PROVENANCE_GROUP): it fires while an agent
 * of @spec's namespace exports an emitd_spec_info whose sha256 is not @hash,
 * the hash the artifacts were generated from. Free with gen_alert__clear().
 */
int gen__provenance_alert(const struct spec *spec, const char *hash, struct spec_alert *out);
/* @s with every occurrence of @hash written GEN_HASH_PLACEHOLDER (caller frees). */
char *gen__hide_hash(const char *s, const char *hash);
/* A markdown code span for a table cell: longer than any backtick run, `|` escaped. */
void gen__put_md_code(FILE *f, const char *s);

/* json_dumps() with 2-space indentation, in insertion order, plus '\n'. */
char *gen__json_text(const json_t *j, size_t *len);

/*
 * The PromQL expressions the builders write, each recorded as it is built
 * with the metric it comes from: what `emitd lint` parses, and what the
 * rules catalog lists, from the same single generation.
 */
struct gen_expr {
	char *expr;
	char *artifact;		/* GEN_DASH_PATH_FMT, GEN_RECORDING_PATH or GEN_ALERTS_PATH */
	char *name;		/* panel title, record or alert name */
	long metric;		/* index into spec->metrics it comes from, -1 for none */
	char *metric_name;	/* the exported metric it comes from (emitd_* for emitd's own) */
	char *group;		/* rules: the group; NULL for panels */
	const char *source;	/* GEN_SOURCE_*, static */
};

/*
 * Sources: written in the spec; derived by gen (recording rules, panels,
 * the provenance alert); emitd's suggestions (groups *-suggested).
 */
#define GEN_SOURCE_SPEC		"spec"
#define GEN_SOURCE_GENERATED	"generated"
#define GEN_SOURCE_SUGGESTED	"suggested"

struct gen_exprs {
	struct gen_expr *v;
	size_t nr;
};

/*
 * Append a copy of @e (NULL metric_name and group stay NULL); with @l NULL
 * (nothing is recorded), nothing happens.
 */
int gen_exprs__add(struct gen_exprs *l, const struct gen_expr *e);
void gen_exprs__free(struct gen_exprs *l);

/* ---- header.c, catalog.c ---- */

int gen__header(const struct spec *spec, char **out, size_t *len);
int gen__catalog(const struct spec *spec, char **out, size_t *len);

/* ---- rules_catalog.c ---- */

/*
 * docs/RULES_CATALOG.md: every recording rule and alert of @rules (the
 * expressions gen__recording_rules() and gen__alert_rules() recorded) with
 * its group, source, metric and expression.
 */
int gen__rules_catalog(const struct spec *spec, const struct gen_exprs *rules, char **out,
		       size_t *len);

/* ---- provision.c: Grafana file provisioning ---- */

/* dashboards/provisioning/dashboards.yml: a file provider for the dashboards. */
int gen__provision_dashboards(const struct spec *spec, char **out, size_t *len);
/* dashboards/provisioning/datasources.yml: the datasource the dashboards resolve to. */
int gen__provision_datasources(const struct spec *spec, char **out, size_t *len);

/* ---- dashboards.c: dashboards, panels, manifest ---- */

/*
 * One dashboard per family (split at GEN_MAX_PANELS), then emitd's own
 * (slug <namespace>-GEN_SELF_FAMILY) from the panel hints of the self-metrics
 * table. Each panel target's expression is recorded in @exprs (NULL: none)
 * with its dashboard's file, its panel's title and its metric.
 */
int gen_dash__build(const struct spec *spec, struct gen_dashes *out, struct gen_exprs *exprs);
void gen_dashes__free(struct gen_dashes *d);
/* dashboards/manifest.json: every dashboard and the spec's hash. */
json_t *gen_dash__manifest(const struct spec *spec, const struct gen_dashes *d,
			   const char *spec_hash);
/*
 * Semantic signature of a panel, layout and id excluded:
 * type US title US exprs US datasource-type US unit, where exprs are the
 * targets' `expr`s sorted bytewise and joined with RS; absent fields are "".
 * Caller frees; NULL when out of memory.
 */
char *gen_panel__signature(const json_t *panel);
/*
 * Candidate id for a panel: the first 31 bits of
 * SHA-256(slug US signature), or of SHA-256(slug US signature US attempt)
 * for attempt > 0 (collisions). May be 0, which is not a valid id.
 */
uint32_t gen_panel__id(const char *slug, const char *sig, unsigned int attempt);
/*
 * Grafana unit for a spec unit: "us" -> "µs", "bytes" -> "bytes", an unknown
 * one -> "suffix:<unit>"; NULL for none. @buf holds the suffix form.
 */
#define GEN_UNIT_LEN		64
const char *gen__grafana_unit(const char *spec_unit, char buf[GEN_UNIT_LEN]);

/* ---- rules.c: Prometheus rule files ---- */

/* Each rule's expression is recorded in @exprs (NULL: none) with its name and metric. */
int gen__recording_rules(const struct spec *spec, struct gen_exprs *exprs, char **out,
			 size_t *len);
int gen__alert_rules(const struct spec *spec, struct gen_exprs *exprs, char **out,
		     size_t *len);

/* ---- check.c: semantic comparison for --check ---- */

/*
 * Compare @fresh with the bytes on disk (@disk NULL: the file is missing).
 * Prints what differs to @report, each line prefixed with the path. Returns
 * 1 on drift, 0 when current, a negative errno on error. *@hash_only is set
 * when only the spec hash differs: the manifest's spec_sha256, or the
 * GEN_PROVENANCE_GROUP group of the alerts.
 */
int gen_check__file(const struct gen_file *fresh, const char *disk, size_t disk_len,
		    FILE *report, bool *hash_only);
/* Parse YAML text into jansson (every scalar a string); NULL if invalid. */
json_t *gen__yaml_to_json(const char *buf, size_t len);

/*
 * The exit code for the drifted kinds. Precedence, most consequential first:
 * alerts 9 > recording rules 8 > dashboards 6 > header/catalog 10 > rules
 * catalog 11. A kind whose only difference is the spec hash (@hash_only: the
 * manifest's, the provenance alert's) counts only when nothing else drifted.
 */
int gen__drift_exit(const bool drift[GEN_KIND_NR], const bool hash_only[GEN_KIND_NR]);
const char *gen_kind__name(enum gen_kind kind);
int gen_kind__exit(enum gen_kind kind);

/* ---- cli.c: the set, the file system, the commands ---- */

/* Every artifact for @spec, in a fixed order. */
int gen__render(const struct spec *spec, struct gen_set *out);
void gen_set__free(struct gen_set *set);
/*
 * Every PromQL expression gen writes for @spec, from one generation of the
 * dashboards, recording rules and alert rules, in that order, duplicates
 * included.
 */
int gen__exprs(const struct spec *spec, struct gen_exprs *out);

/* Write @set under @dir; unchanged files are left alone. Logs each change. */
int gen__write(const struct gen_set *set, const char *dir, FILE *log);
/* Compare @set with @dir; returns an enum gen_exit value. */
int gen__check(const struct gen_set *set, const char *dir, FILE *report);
/* `emitd gen --spec FILE --out DIR [--check]`; argv[0] is "gen". */
int gen__main(int argc, char **argv);

/*
 * Parse every PromQL expression of @spec (a spec that loaded without
 * errors) with promtool (spec/promql_lint.h): the spec's own panels and
 * alerts, then each distinct expression gen synthesizes, reported at the
 * metric it comes from. Returns as promql__lint() does.
 */
int gen__lint_promql(const struct spec *spec, struct spec_diags *diags);
/* `emitd lint FILE`; argv[0] is "lint". Exit status 0 ok, 1 errors, 2 usage. */
int gen__lint_main(int argc, char **argv);

#endif /* EMITD_GEN_H */
