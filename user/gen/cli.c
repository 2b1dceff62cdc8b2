// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen/cli: the artifact set assembled from the generators, the thin file
 * layer around them, and the two commands built on them:
 *   emitd gen --spec FILE --out DIR [--check]
 *   emitd lint FILE
 *
 * Writing replaces a file only when its bytes change (fileio__replace():
 * temporary file, fsync, rename, fsync of the directory), and deletes
 * dashboards that the previous manifest listed and the spec no longer
 * produces. --check writes nothing: it prints every difference and exits
 * with the code of the most consequential drift. lint hands the spec's own
 * PromQL and every expression gen writes, from one generation, to promtool
 * (spec/promql_lint.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen/gen.h"
#include "lib/fileio.h"
#include "lib/fmt.h"
#include "lib/log.h"
#include "spec/promql_lint.h"

#define MAX_FILE_SIZE	(64 << 20)

/* ---- the whole set ---- */

void gen_set__free(struct gen_set *set)
{
	size_t i;

	if (!set)
		return;
	for (i = 0; i < set->nr; i++) {
		free(set->files[i].path);
		free(set->files[i].data);
	}
	free(set->files);
	set->files = NULL;
	set->nr = 0;
}

/* Append a file; takes @path and @data over, also on failure. */
static int set_add(struct gen_set *set, enum gen_kind kind, char *path, char *data,
		   size_t len)
{
	struct gen_file *files, *f;

	if (!path || !data)
		goto err_nomem;
	files = realloc(set->files, (set->nr + 1) * sizeof(*files));
	if (!files)
		goto err_nomem;
	set->files = files;
	f = &set->files[set->nr++];
	f->kind = kind;
	f->path = path;
	f->data = data;
	f->len = len;
	return 0;
err_nomem:
	free(path);
	free(data);
	return -ENOMEM;
}

/* A text artifact: @err from its generator, or its @data, taken over. */
static int add_text(struct gen_set *set, enum gen_kind kind, char *path, int err,
		    char *data, size_t len)
{
	if (err) {
		free(path);
		free(data);
		return err;
	}
	return set_add(set, kind, path, data, len);
}

static int add_json(struct gen_set *set, enum gen_kind kind, char *path, const json_t *j)
{
	size_t len = 0;
	char *data = j ? gen__json_text(j, &len) : NULL;

	return set_add(set, kind, path, data, len);
}

static int add_dashboards(struct gen_set *set, const struct spec *spec)
{
	struct gen_dashes d = {};
	char hash[SPEC_SHA256_HEX];
	json_t *manifest;
	size_t i;
	int err;

	err = spec__hash(spec, hash);
	if (!err)
		err = gen_dash__build(spec, &d, NULL);
	for (i = 0; !err && i < d.nr; i++)
		err = add_json(set, GEN_DASHBOARD, fmt__str(GEN_DASH_PATH_FMT, d.v[i].slug),
			       d.v[i].json);
	if (!err) {
		manifest = gen_dash__manifest(spec, &d, hash);
		err = add_json(set, GEN_MANIFEST, strdup(GEN_MANIFEST_PATH), manifest);
		json_decref(manifest);
	}
	gen_dashes__free(&d);
	return err;
}

/* The rule files, and the catalog of the rules they hold. */
static int add_rules(struct gen_set *set, const struct spec *spec)
{
	struct gen_exprs rules = {};
	char *data = NULL;
	size_t len = 0;
	int err;

	err = gen__recording_rules(spec, &rules, &data, &len);
	err = add_text(set, GEN_RECORDING, strdup(GEN_RECORDING_PATH), err, data, len);
	if (!err) {
		data = NULL;
		err = gen__alert_rules(spec, &rules, &data, &len);
		err = add_text(set, GEN_ALERTS, strdup(GEN_ALERTS_PATH), err, data, len);
	}
	if (!err) {
		data = NULL;
		err = gen__rules_catalog(spec, &rules, &data, &len);
		err = add_text(set, GEN_RULES_CATALOG, strdup(GEN_RULES_CATALOG_PATH), err, data,
			       len);
	}
	gen_exprs__free(&rules);
	return err;
}

static int add_provisioning(struct gen_set *set, const struct spec *spec)
{
	char *data = NULL;
	size_t len = 0;
	int err;

	err = gen__provision_dashboards(spec, &data, &len);
	err = add_text(set, GEN_PROVISIONING, strdup(GEN_PROV_DASH_PATH), err, data, len);
	if (!err) {
		data = NULL;
		err = gen__provision_datasources(spec, &data, &len);
		err = add_text(set, GEN_PROVISIONING, strdup(GEN_PROV_DS_PATH), err, data, len);
	}
	return err;
}

int gen__render(const struct spec *spec, struct gen_set *out)
{
	char *data = NULL;
	size_t len = 0;
	int err;

	out->files = NULL;
	out->nr = 0;
	err = gen__header(spec, &data, &len);
	err = add_text(out, GEN_HEADER, fmt__str(GEN_HEADER_PATH_FMT, spec->namespace_), err,
		       data, len);
	if (!err) {
		data = NULL;
		err = gen__catalog(spec, &data, &len);
		err = add_text(out, GEN_CATALOG, strdup(GEN_CATALOG_PATH), err, data, len);
	}
	if (!err)
		err = add_dashboards(out, spec);
	if (!err)
		err = add_provisioning(out, spec);
	if (!err)
		err = add_rules(out, spec);
	if (err)
		gen_set__free(out);
	return err;
}

int gen__exprs(const struct spec *spec, struct gen_exprs *out)
{
	struct gen_dashes d = {};
	char *text = NULL;
	size_t len;
	int err;

	out->v = NULL;
	out->nr = 0;
	err = gen_dash__build(spec, &d, out);
	gen_dashes__free(&d);
	if (!err)
		err = gen__recording_rules(spec, out, &text, &len);
	free(text);
	text = NULL;
	if (!err)
		err = gen__alert_rules(spec, out, &text, &len);
	free(text);
	if (err)
		gen_exprs__free(out);
	return err;
}

/* ---- the file system ---- */

static char *join(const char *dir, const char *rel)
{
	return fmt__str("%s/%s", dir, rel);
}

/* mkdir -p for the directories above @path. */
static int make_parents(const char *path)
{
	char *p = strdup(path), *s;
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (s = strchr(p + 1, '/'); s && !err; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			err = -errno;
		*s = '/';
	}
	free(p);
	return err;
}

/* 1 when written, 0 when already current, negative errno on failure. */
static int update_file(const char *dir, const struct gen_file *f)
{
	char *path = join(dir, f->path), *old = NULL;
	size_t old_len = 0;
	int err;

	if (!path)
		return -ENOMEM;
	err = fileio__read_file(path, MAX_FILE_SIZE, &old, &old_len);
	if (!err && old_len == f->len && !memcmp(old, f->data, f->len)) {
		err = 0;
		goto out;
	}
	err = make_parents(path);
	if (!err)
		err = fileio__replace_buf(path, f->data, f->len);
	if (err)
		log_err("gen: cannot write %s: %s", path, strerror(-err));
	else
		err = 1;
out:
	free(old);
	free(path);
	return err;
}

/* ---- dashboards the previous manifest listed ---- */

static bool plain_json_name(const char *s)
{
	size_t n = strlen(s);

	return n > 5 && !strchr(s, '/') && s[0] != '.' && !strcmp(s + n - 5, ".json") &&
	       strcmp(s, "manifest.json");
}

static bool generated(const struct gen_set *set, const char *file)
{
	size_t i;

	for (i = 0; i < set->nr; i++) {
		const char *p = set->files[i].path;

		if (set->files[i].kind == GEN_DASHBOARD &&
		    !strncmp(p, GEN_DASH_DIR, strlen(GEN_DASH_DIR)) &&
		    !strcmp(p + strlen(GEN_DASH_DIR), file))
			return true;
	}
	return false;
}

/* Delete the dashboards of @old_manifest that @set no longer has. */
static int remove_stale(const struct gen_set *set, const char *dir, const char *old,
			size_t len, FILE *log)
{
	json_t *m = json_loadb(old, len, 0, NULL), *d;
	char *rel, *path;
	size_t i;
	int err = 0;

	json_array_foreach(json_object_get(m, "dashboards"), i, d) {
		const char *file = json_string_value(json_object_get(d, "file"));

		if (!file || !plain_json_name(file) || generated(set, file))
			continue;
		rel = fmt__str(GEN_DASH_DIR "%s", file);
		path = rel ? join(dir, rel) : NULL;
		if (!path) {
			err = -ENOMEM;
		} else if (unlink(path) && errno != ENOENT) {
			err = -errno;
			log_err("gen: cannot remove stale %s: %s", path, strerror(errno));
		} else {
			fprintf(log, "removed %s\n", path);
		}
		free(path);
		free(rel);
		if (err)
			break;
	}
	json_decref(m);
	return err;
}

int gen__write(const struct gen_set *set, const char *dir, FILE *log)
{
	char *manifest = join(dir, GEN_MANIFEST_PATH), *old = NULL;
	size_t i, old_len = 0, changed = 0;
	int err = 0, ret;

	if (!manifest)
		return -ENOMEM;
	ret = fileio__read_file(manifest, MAX_FILE_SIZE, &old, &old_len);
	if (ret && ret != -ENOENT)
		log_warn("gen: cannot read the previous %s: %s", manifest, strerror(-ret));
	for (i = 0; i < set->nr && !err; i++) {
		ret = update_file(dir, &set->files[i]);
		if (ret < 0)
			err = ret;
		if (ret <= 0)
			continue;
		fprintf(log, "wrote %s/%s\n", dir, set->files[i].path);
		changed++;
	}
	if (!err && old)
		err = remove_stale(set, dir, old, old_len, log);
	if (!err)
		fprintf(log, "gen: %zu files, %zu updated, in %s\n", set->nr, changed, dir);
	free(old);
	free(manifest);
	return err;
}

/* ---- --check ---- */

static void summary(FILE *report, const bool drift[GEN_KIND_NR], int code, size_t nr)
{
	const char *sep = "";
	size_t k;

	if (code == GEN_EXIT_OK) {
		fprintf(report, "gen: --check: all %zu generated files are current\n", nr);
		return;
	}
	fputs("gen: --check: drift in", report);
	for (k = 0; k < GEN_KIND_NR; k++) {
		if (!drift[k])
			continue;
		fprintf(report, "%s %s (%d)", sep, gen_kind__name(k), gen_kind__exit(k));
		sep = ",";
	}
	fprintf(report, "; exit %d (precedence: alerts 9, recording rules 8, dashboards 6, header/catalog 10, rules catalog 11). Regenerate with `emitd gen --out DIR` and commit.\n",
		code);
}

static int check_one(const struct gen_file *f, const char *dir, FILE *report, bool *drift,
		     bool *hash_only)
{
	char *path = join(dir, f->path), *disk = NULL;
	size_t len = 0;
	int err;

	if (!path)
		return -ENOMEM;
	err = fileio__read_file(path, MAX_FILE_SIZE, &disk, &len);
	if (err && err != -ENOENT) {
		log_err("gen: cannot read %s: %s", path, strerror(-err));
		goto out;
	}
	err = gen_check__file(f, err ? NULL : disk, len, report, hash_only);
	if (err < 0) {
		log_err("gen: cannot compare %s: %s", path, strerror(-err));
		goto out;
	}
	*drift |= err > 0;
	err = 0;
out:
	free(disk);
	free(path);
	return err;
}

int gen__check(const struct gen_set *set, const char *dir, FILE *report)
{
	bool drift[GEN_KIND_NR] = {}, hash_only[GEN_KIND_NR] = {}, h, other = false;
	size_t i, k;
	int err, code;

	for (i = 0; i < set->nr; i++) {
		const struct gen_file *f = &set->files[i];

		h = false;
		err = check_one(f, dir, report, &drift[f->kind], &h);
		if (err)
			return GEN_EXIT_ERROR;
		if (f->kind == GEN_MANIFEST || f->kind == GEN_ALERTS)
			hash_only[f->kind] = h;
	}
	code = gen__drift_exit(drift, hash_only);
	/* A stale spec hash alone is drift; next to other drift it is a note. */
	for (k = 0; k < GEN_KIND_NR; k++)
		other |= drift[k] && !hash_only[k];
	for (k = 0; other && k < GEN_KIND_NR; k++)
		drift[k] &= !hash_only[k];
	summary(report, drift, code, set->nr);
	return code;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fputs("Usage: emitd gen --spec FILE --out DIR [--check]\n"
	      "\n"
	      "Generate from the spec, under DIR:\n"
	      "  include/generated/<namespace>_metrics.h\n"
	      "                                  metric IDs and names\n"
	      "  docs/METRICS_CATALOG.md         the catalog, by family\n"
	      "  dashboards/<slug>.json          Grafana dashboards, one per family,\n"
	      "                                  and <namespace>-emitd-health.json\n"
	      "  dashboards/manifest.json        the dashboards and the spec's hash\n"
	      "  dashboards/provisioning/dashboards.yml, datasources.yml\n"
	      "                                  Grafana file provisioning for them\n"
	      "  rules/recording_rules.yml       Prometheus recording rules\n"
	      "  rules/alerts.yml                the spec's alerts, emitd's own, suggestions\n"
	      "  docs/RULES_CATALOG.md           every rule: group, source, metric, expression\n"
	      "\n"
	      "  -s, --spec FILE   the metric spec (YAML)\n"
	      "  -o, --out DIR     the output root (e.g. . for the repository)\n"
	      "  -c, --check       write nothing; compare DIR with the spec\n"
	      "\n"
	      "Exit status: 0 written / current, 1 invalid spec or I/O error, 2 usage,\n"
	      "--check drift: 9 alert rules, 8 recording rules, 6 dashboards (and their\n"
	      "provisioning), 10 header or catalog, 11 rules catalog (when several drift,\n"
	      "the first in this order).\n", f);
}

static int run(const char *spec_path, const char *out_dir, bool check)
{
	struct spec_diags diags = {};
	struct spec *spec = NULL;
	struct gen_set set = {};
	int err, code = GEN_EXIT_ERROR;

	err = spec__load(spec_path, &spec, &diags);
	spec_diags__print(&diags, spec_path, stderr);
	spec_diags__free(&diags);
	if (err)
		return GEN_EXIT_ERROR;
	err = gen__render(spec, &set);
	if (err == -EINVAL)
		goto out;	/* gen said what is invalid */
	if (err) {
		log_err("gen: %s: cannot generate: %s", spec_path, strerror(-err));
		goto out;
	}
	if (check)
		code = gen__check(&set, out_dir, stdout);
	else
		code = gen__write(&set, out_dir, stdout) ? GEN_EXIT_ERROR : GEN_EXIT_OK;
out:
	gen_set__free(&set);
	spec__free(spec);
	return code;
}

int gen__main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "spec", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *spec_path = NULL, *out_dir = NULL;
	bool check = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "s:o:ch", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			spec_path = optarg;
			break;
		case 'o':
			out_dir = optarg;
			break;
		case 'c':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return GEN_EXIT_OK;
		default:
			usage(stderr);
			return GEN_EXIT_USAGE;
		}
	}
	if (!spec_path || !out_dir || optind != argc) {
		usage(stderr);
		return GEN_EXIT_USAGE;
	}
	return run(spec_path, out_dir, check);
}

/* ---- emitd lint ---- */

struct lint_exprs {
	struct promql_expr *v;
	size_t nr;
};

static void lint_exprs__free(struct lint_exprs *l)
{
	size_t i;

	for (i = 0; i < l->nr; i++) {
		free((char *)l->v[i].field);
		free((char *)l->v[i].origin);
	}
	free(l->v);
	l->v = NULL;
	l->nr = 0;
}

/* @expr lives as long as the list; takes @field and @origin over, also on failure. */
static int lint_exprs__add(struct lint_exprs *l, const char *expr, struct spec_mark mark,
			   char *field, char *origin)
{
	struct promql_expr *v;

	if (!field)
		goto err_nomem;
	v = realloc(l->v, (l->nr + 1) * sizeof(*v));
	if (!v)
		goto err_nomem;
	l->v = v;
	v[l->nr++] = (struct promql_expr){ expr, mark, field, origin };
	return 0;
err_nomem:
	free(field);
	free(origin);
	return -ENOMEM;
}

static bool lint_exprs__has(const struct lint_exprs *l, const char *expr)
{
	size_t i;

	for (i = 0; i < l->nr; i++) {
		if (!strcmp(l->v[i].expr, expr))
			return true;
	}
	return false;
}

/* The spec's own panel and alert expressions, at their panel or alert. */
static int lint_spec_metric(struct lint_exprs *l, const struct spec_metric *m, size_t i)
{
	size_t k;
	int err = 0;

	for (k = 0; !err && k < m->nr_panels; k++) {
		if (m->panels[k].promql)
			err = lint_exprs__add(l, m->panels[k].promql, m->panels[k].mark,
					      fmt__str("metrics[%zu].panels[%zu].promql", i, k),
					      NULL);
	}
	for (k = 0; !err && k < m->nr_alerts; k++) {
		if (m->alerts[k].expr)
			err = lint_exprs__add(l, m->alerts[k].expr, m->alerts[k].mark,
					      fmt__str("metrics[%zu].alerts[%zu].expr", i, k),
					      NULL);
	}
	return err;
}

/* What gen writes, unless an identical expression is already there; at its metric. */
static int lint_generated(struct lint_exprs *l, const struct spec *spec,
			  const struct gen_exprs *gen)
{
	const struct gen_expr *e;
	struct spec_mark mark;
	char *field, *origin;
	size_t i;
	int err = 0;

	for (i = 0; !err && i < gen->nr; i++) {
		e = &gen->v[i];
		if (lint_exprs__has(l, e->expr))
			continue;
		mark = (struct spec_mark){};
		if (e->metric >= 0 && (size_t)e->metric < spec->nr_metrics) {
			mark = spec->metrics[e->metric].mark;
			field = fmt__str("metrics[%ld]", e->metric);
		} else {
			field = strdup("");
		}
		origin = fmt__str("%s, %s", e->artifact, e->name);
		if (!origin) {
			free(field);
			return -ENOMEM;
		}
		err = lint_exprs__add(l, e->expr, mark, field, origin);
	}
	return err;
}

int gen__lint_promql(const struct spec *spec, struct spec_diags *diags)
{
	struct gen_exprs gen = {};
	struct lint_exprs l = {};
	size_t i;
	int err = 0;

	for (i = 0; !err && i < spec->nr_metrics; i++)
		err = lint_spec_metric(&l, &spec->metrics[i], i);
	if (!err)
		err = gen__exprs(spec, &gen);
	if (!err)
		err = lint_generated(&l, spec, &gen);
	if (err)
		fprintf(stderr, "emitd lint: cannot generate the spec's PromQL expressions: %s\n",
			strerror(-err));
	else
		err = promql__lint(l.v, l.nr, diags);
	lint_exprs__free(&l);
	gen_exprs__free(&gen);
	return err;
}


int gen__lint_main(int argc, char **argv)
{
	struct spec_diags diags = {};
	struct spec *spec = NULL;
	int err;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "Usage: emitd lint FILE\n");
		return 2;
	}
	err = spec__load(argv[1], &spec, &diags);
	if (!err)
		err = gen__lint_promql(spec, &diags);
	spec_diags__print(&diags, argv[1], stderr);
	if (!err)
		printf("%s: ok (%zu metrics, %zu targets)\n", argv[1], spec->nr_metrics,
		       spec->nr_targets);
	spec_diags__free(&diags);
	spec__free(spec);
	return err ? 1 : 0;
}
