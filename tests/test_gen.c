// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for the generator (user/gen*.c): panel signatures and stable
 * ids, each synthesis rule, the rule files, byte-identical regeneration, and
 * every --check exit code produced by a real edit of the spec.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "gen/gen.h"
#include "lib/fmt.h"
#include "lib/metric_id.h"
#include "lib/self_metrics.h"
#include "spec/hash.h"
#include "spec/spec.h"

/* Every metric type; one counter with panel hints and an alert. */
static const char base_yml[] =
	"version: 1\n"
	"namespace: t\n"
	"targets:\n"
	"  - name: app\n"
	"    binary: /usr/bin/app\n"
	"metrics:\n"
	"  - name: hits_total\n"
	"    type: counter\n"
	"    help: Hits, by route, method and code.\n"
	"    family: web\n"
	"    labels: [route, method, code]\n"
	"    probe:\n"
	"      target: app\n"
	"      uprobe: hit\n"
	"      labels: { route: { arg: 0, as: string }, method: { arg: 1 }, code: { arg: 2 } }\n"
	"  - name: served_total\n"
	"    type: counter\n"
	"    help: Requests served.\n"
	"    family: web\n"
	"    labels: [route]\n"
	"    probe: { target: app, uprobe: serve, labels: { route: { arg: 0, as: string } } }\n"
	"    panels:\n"
	"      - { title: Served by route, promql: 'sum by (route) (rate(t_served_total[5m]))', unit: reqps }\n"
	"    alerts:\n"
	"      - { alert: TNothingServed, expr: 'sum(rate(t_served_total[10m])) == 0', for: 10m, severity: warning, summary: Nothing served for 10 minutes }\n"
	"  - name: latency_seconds\n"
	"    type: histogram\n"
	"    help: Latency.\n"
	"    unit: seconds\n"
	"    family: web\n"
	"    probe: { target: app, usdt: 'app:done', value: { arg: 1 } }\n"
	"    buckets: [0.1, 0.5, 1]\n"
	"  - name: depth\n"
	"    type: gauge\n"
	"    help: Queue depth.\n"
	"    family: queue\n"
	"    probe: { target: app, usdt: 'app:depth', value: { arg: 0 } }\n"
	"  - name: temp\n"
	"    type: gauge\n"
	"    help: Temperature, by sensor.\n"
	"    family: queue\n"
	"    labels: [sensor]\n"
	"    probe: { target: app, usdt: 'app:temp', value: { arg: 1 }, labels: { sensor: { arg: 0 } } }\n"
	"  - name: norm\n"
	"    type: normalization\n"
	"    help: Renormalizations, by context.\n"
	"    family: trig\n"
	"    labels: [context]\n"
	"    probe:\n"
	"      target: app\n"
	"      uprobe: clean\n"
	"      before: { arg: 0, deref: f64 }\n"
	"      after: { arg: 1, deref: f64 }\n"
	"      labels: { context: { arg: 2, as: string } }\n";

/* base_yml with the keys of every mapping in another order. */
static const char reordered_yml[] =
	"metrics:\n"
	"  - type: counter\n"
	"    labels: [route, method, code]\n"
	"    name: hits_total\n"
	"    probe:\n"
	"      labels: { code: { arg: 2 }, route: { as: string, arg: 0 }, method: { arg: 1 } }\n"
	"      uprobe: hit\n"
	"      target: app\n"
	"    family: web\n"
	"    help: Hits, by route, method and code.\n"
	"  - alerts:\n"
	"      - { summary: Nothing served for 10 minutes, severity: warning, for: 10m, expr: 'sum(rate(t_served_total[10m])) == 0', alert: TNothingServed }\n"
	"    panels:\n"
	"      - { unit: reqps, promql: 'sum by (route) (rate(t_served_total[5m]))', title: Served by route }\n"
	"    probe: { labels: { route: { as: string, arg: 0 } }, uprobe: serve, target: app }\n"
	"    labels: [route]\n"
	"    family: web\n"
	"    help: Requests served.\n"
	"    type: counter\n"
	"    name: served_total\n"
	"  - buckets: [0.1, 0.5, 1]\n"
	"    probe: { value: { arg: 1 }, usdt: 'app:done', target: app }\n"
	"    family: web\n"
	"    unit: seconds\n"
	"    help: Latency.\n"
	"    type: histogram\n"
	"    name: latency_seconds\n"
	"  - probe: { value: { arg: 0 }, usdt: 'app:depth', target: app }\n"
	"    family: queue\n"
	"    help: Queue depth.\n"
	"    type: gauge\n"
	"    name: depth\n"
	"  - probe: { labels: { sensor: { arg: 0 } }, value: { arg: 1 }, usdt: 'app:temp', target: app }\n"
	"    labels: [sensor]\n"
	"    family: queue\n"
	"    help: Temperature, by sensor.\n"
	"    type: gauge\n"
	"    name: temp\n"
	"  - probe:\n"
	"      labels: { context: { as: string, arg: 2 } }\n"
	"      after: { deref: f64, arg: 1 }\n"
	"      before: { deref: f64, arg: 0 }\n"
	"      uprobe: clean\n"
	"      target: app\n"
	"    labels: [context]\n"
	"    family: trig\n"
	"    help: Renormalizations, by context.\n"
	"    type: normalization\n"
	"    name: norm\n"
	"# a comment changes nothing\n"
	"targets:\n"
	"  - binary: /usr/bin/app\n"
	"    name: app\n"
	"namespace: t\n"
	"version: 1\n";

/*
 * fsync() counted: the executable's definition is the one libemitd.a's
 * objects link to.
 */
static unsigned int nr_fsync;

int fsync(int fd)
{
	nr_fsync++;
	return (int)syscall(SYS_fsync, fd);
}

/* ---- helpers ---- */

static struct spec *load(const char *yaml)
{
	struct spec_diags diags = {};
	struct spec *spec = NULL;
	int err;

	err = spec__load_buf("test.yml", yaml, strlen(yaml), &spec, &diags);
	if (err)
		spec_diags__print(&diags, "test.yml", stderr);
	spec_diags__free(&diags);
	assert_int_equal(err, 0);
	return spec;
}

static void render(const char *yaml, struct gen_set *set)
{
	struct spec *spec = load(yaml);

	assert_int_equal(gen__render(spec, set), 0);
	spec__free(spec);
}

static void build_dashes(const char *yaml, struct gen_dashes *d)
{
	struct spec *spec = load(yaml);

	assert_int_equal(gen_dash__build(spec, d, NULL), 0);
	spec__free(spec);
}

static const struct gen_file *find_file(const struct gen_set *set, const char *path)
{
	size_t i;

	for (i = 0; i < set->nr; i++) {
		if (!strcmp(set->files[i].path, path))
			return &set->files[i];
	}
	fail_msg("no generated file %s", path);
	return NULL;
}

static const struct gen_dash *find_dash(const struct gen_dashes *d, const char *slug)
{
	size_t i;

	for (i = 0; i < d->nr; i++) {
		if (!strcmp(d->v[i].slug, slug))
			return &d->v[i];
	}
	fail_msg("no dashboard %s", slug);
	return NULL;
}

static const json_t *find_panel(const json_t *dash, const char *title)
{
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(dash, "panels"), i, p) {
		if (!strcmp(json_string_value(json_object_get(p, "title")), title))
			return p;
	}
	return NULL;
}

static const char *panel_expr(const json_t *panel)
{
	const json_t *t = json_array_get(json_object_get(panel, "targets"), 0);

	return json_string_value(json_object_get(t, "expr"));
}

static const char *panel_unit(const json_t *panel)
{
	return json_string_value(json_object_get(json_object_get(json_object_get(panel,
		"fieldConfig"), "defaults"), "unit"));
}

static json_int_t panel_id(const json_t *panel)
{
	return json_integer_value(json_object_get(panel, "id"));
}

/* @s with the first @from replaced by @to; the test fails when absent. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	char *out;

	assert_non_null(at);
	assert_true(asprintf(&out, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from)) > 0);
	return out;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char *make_tmpdir(void)
{
	char *dir = strdup("/tmp/emitd-test-gen-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void remove_tree(char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static char *slurp(const char *dir, const char *rel, size_t *len)
{
	char *path, *buf = NULL;
	size_t n = 0;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
	f = fopen(path, "rb");
	free(path);
	if (!f)
		return NULL;
	assert_int_equal(getdelim(&buf, &n, '\0', f) >= 0, 1);
	*len = ftell(f);
	fclose(f);
	return buf;
}

static void spit(const char *dir, const char *rel, const char *data)
{
	char *path;
	FILE *f;

	assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
	free(path);
}

static void write_set(const char *yaml, const char *dir)
{
	struct gen_set set = {};
	FILE *devnull = fopen("/dev/null", "w");

	render(yaml, &set);
	assert_int_equal(gen__write(&set, dir, devnull), 0);
	fclose(devnull);
	gen_set__free(&set);
}

/* Run --check of @yaml against @dir; *@report gets what it printed. */
static int check_dir(const char *yaml, const char *dir, char **report)
{
	struct gen_set set = {};
	size_t len;
	FILE *f;
	int code;

	render(yaml, &set);
	f = open_memstream(report, &len);
	assert_non_null(f);
	code = gen__check(&set, dir, f);
	fclose(f);
	gen_set__free(&set);
	return code;
}

/* ---- signatures and ids ---- */

static void test_signature_format(void **state)
{
	json_t *p;
	char *sig;

	(void)state;
	p = json_pack("{s:i, s:{s:i}, s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}},"
		      " s:[{s:s}, {s:s}]}",
		      "id", 7, "gridPos", "x", 3, "type", "timeseries", "title", "T",
		      "datasource", "type", "prometheus", "uid", "${DS_PROMETHEUS}",
		      "fieldConfig", "defaults", "unit", "s",
		      "targets", "expr", "rate(b[5m])", "expr", "rate(a[5m])");
	assert_non_null(p);
	sig = gen_panel__signature(p);
	assert_string_equal(sig, "timeseries\x1fT\x1frate(a[5m])\x1erate(b[5m])\x1fprometheus\x1fs");
	free(sig);
	/* layout and id are not part of it; absent fields are "" */
	json_object_del(p, "fieldConfig");
	json_object_set_new(p, "gridPos", json_pack("{s:i}", "x", 12));
	json_object_set_new(p, "id", json_integer(99));
	sig = gen_panel__signature(p);
	assert_string_equal(sig, "timeseries\x1fT\x1frate(a[5m])\x1erate(b[5m])\x1fprometheus\x1f");
	free(sig);
	json_decref(p);
}

static void test_panel_id_hash(void **state)
{
	uint32_t a, b, c;

	(void)state;
	a = gen_panel__id("t-web", "sig", 0);
	b = gen_panel__id("t-web", "sig", 0);
	c = gen_panel__id("t-web", "sig", 1);
	assert_int_equal(a, b);
	assert_int_not_equal(a, c);
	assert_true(a <= 0x7fffffffu && c <= 0x7fffffffu);
	/* the slug is part of the hash */
	assert_int_not_equal(a, gen_panel__id("t-other", "sig", 0));
	/* and separated from the signature: "ab"+"c" is not "a"+"bc" */
	assert_int_not_equal(gen_panel__id("ab", "c", 0), gen_panel__id("a", "bc", 0));
}

/* Same ids, same files, same hash whatever the key order of the YAML. */
static void test_reorder_keys_stable(void **state)
{
	struct gen_set a = {}, b = {};
	struct spec *sa, *sb;
	char ha[SPEC_SHA256_HEX], hb[SPEC_SHA256_HEX];
	size_t i;

	(void)state;
	sa = load(base_yml);
	sb = load(reordered_yml);
	assert_int_equal(spec__hash(sa, ha), 0);
	assert_int_equal(spec__hash(sb, hb), 0);
	assert_string_equal(ha, hb);
	assert_int_equal(gen__render(sa, &a), 0);
	assert_int_equal(gen__render(sb, &b), 0);
	assert_int_equal(a.nr, b.nr);
	for (i = 0; i < a.nr; i++) {
		assert_string_equal(a.files[i].path, b.files[i].path);
		assert_int_equal(a.files[i].len, b.files[i].len);
		assert_memory_equal(a.files[i].data, b.files[i].data, a.files[i].len);
	}
	gen_set__free(&a);
	gen_set__free(&b);
	spec__free(sa);
	spec__free(sb);
}

static void test_reorder_keys_panel_ids(void **state)
{
	struct gen_dashes a = {}, b = {};
	const json_t *pa, *pb;
	size_t i;

	(void)state;
	build_dashes(base_yml, &a);
	build_dashes(reordered_yml, &b);
	assert_int_equal(a.nr, b.nr);
	for (i = 0; i < a.nr; i++) {
		const json_t *panels = json_object_get(a.v[i].json, "panels");
		size_t k;

		json_array_foreach(panels, k, pa) {
			pb = find_panel(b.v[i].json, json_string_value(json_object_get(pa, "title")));
			assert_non_null(pb);
			assert_int_equal(panel_id(pa), panel_id(pb));
			assert_true(panel_id(pa) > 0 && panel_id(pa) <= 0x7fffffff);
		}
	}
	gen_dashes__free(&a);
	gen_dashes__free(&b);
}

static void test_rename_title_changes_id(void **state)
{
	struct gen_dashes a = {}, b = {};
	const json_t *old, *new, *other_a, *other_b;
	char *yml;

	(void)state;
	yml = replace(base_yml, "title: Served by route", "title: Served per route");
	build_dashes(base_yml, &a);
	build_dashes(yml, &b);
	old = find_panel(find_dash(&a, "t-web")->json, "Served by route");
	new = find_panel(find_dash(&b, "t-web")->json, "Served per route");
	assert_non_null(old);
	assert_non_null(new);
	assert_int_not_equal(panel_id(old), panel_id(new));
	/* the other panels keep theirs */
	other_a = find_panel(find_dash(&a, "t-web")->json, "t_hits_total rate (5m)");
	other_b = find_panel(find_dash(&b, "t-web")->json, "t_hits_total rate (5m)");
	assert_int_equal(panel_id(other_a), panel_id(other_b));
	gen_dashes__free(&a);
	gen_dashes__free(&b);
	free(yml);
}

/* Panels identical in every field get distinct, order-independent ids. */
static void test_id_collision(void **state)
{
	struct gen_dashes d = {};
	const json_t *panels, *p;
	json_int_t ids[3];
	size_t i, n = 0;
	char *yml;

	(void)state;
	yml = replace(base_yml,
		      "      - { title: Served by route,",
		      "      - { title: Twin, promql: 't_served_total' }\n"
		      "      - { title: Twin, promql: 't_served_total' }\n"
		      "      - { title: Served by route,");
	build_dashes(yml, &d);
	panels = json_object_get(find_dash(&d, "t-web")->json, "panels");
	json_array_foreach(panels, i, p) {
		if (!strcmp(json_string_value(json_object_get(p, "title")), "Twin"))
			ids[n++] = panel_id(p);
	}
	assert_int_equal(n, 2);
	assert_int_not_equal(ids[0], ids[1]);
	ids[2] = gen_panel__id("t-web", "timeseries\x1fTwin\x1ft_served_total\x1fprometheus\x1f", 0);
	assert_true(ids[0] == ids[2] || ids[1] == ids[2]);
	gen_dashes__free(&d);
	free(yml);
}

/* ---- synthesis ---- */

static void assert_ds(const json_t *ds)
{
	assert_string_equal(json_string_value(json_object_get(ds, "type")), "prometheus");
	assert_string_equal(json_string_value(json_object_get(ds, "uid")), "${DS_PROMETHEUS}");
}

static void test_dashboard_importable(void **state)
{
	struct gen_dashes d = {};
	const json_t *p, *t, *in;
	size_t i, k, j;

	(void)state;
	build_dashes(base_yml, &d);
	assert_int_equal(d.nr, 4);
	assert_string_equal(d.v[0].slug, "t-web");
	assert_string_equal(d.v[1].slug, "t-queue");
	assert_string_equal(d.v[2].slug, "t-trig");
	assert_string_equal(d.v[3].slug, "t-emitd-health");	/* emitd's own, last */
	for (i = 0; i < d.nr; i++) {
		in = json_array_get(json_object_get(d.v[i].json, "__inputs"), 0);
		assert_string_equal(json_string_value(json_object_get(in, "name")), "DS_PROMETHEUS");
		assert_string_equal(json_string_value(json_object_get(in, "pluginId")), "prometheus");
		/* provisioned from a file, ${DS_PROMETHEUS} is this variable */
		in = json_array_get(json_object_get(json_object_get(d.v[i].json, "templating"),
						    "list"), 0);
		assert_string_equal(json_string_value(json_object_get(in, "type")), "datasource");
		assert_string_equal(json_string_value(json_object_get(in, "name")), "DS_PROMETHEUS");
		assert_string_equal(json_string_value(json_object_get(in, "query")), "prometheus");
		assert_string_equal(json_string_value(json_object_get(json_object_get(in, "current"),
								      "value")), GEN_DS_PROV_UID);
		assert_true(json_is_null(json_object_get(d.v[i].json, "id")));
		assert_string_equal(json_string_value(json_object_get(d.v[i].json, "uid")),
				    d.v[i].slug);
		json_array_foreach(json_object_get(d.v[i].json, "panels"), k, p) {
			assert_ds(json_object_get(p, "datasource"));
			json_array_foreach(json_object_get(p, "targets"), j, t)
				assert_ds(json_object_get(t, "datasource"));
		}
	}
	gen_dashes__free(&d);
}

static void test_synth_counter(void **state)
{
	struct gen_dashes d = {};
	const json_t *web, *p;

	(void)state;
	build_dashes(base_yml, &d);
	web = find_dash(&d, "t-web")->json;
	p = find_panel(web, "t_hits_total rate (5m)");
	assert_non_null(p);
	assert_string_equal(panel_expr(p), "sum(rate(t_hits_total[5m]))");
	assert_string_equal(panel_unit(p), "cps");
	p = find_panel(web, "t_hits_total rate by route (5m)");
	assert_string_equal(panel_expr(p), "sum by (route) (rate(t_hits_total[5m]))");
	p = find_panel(web, "t_hits_total rate by method (5m)");
	assert_string_equal(panel_expr(p), "sum by (method) (rate(t_hits_total[5m]))");
	/* at most the first two labels */
	assert_null(find_panel(web, "t_hits_total rate by code (5m)"));
	gen_dashes__free(&d);
}

/* A metric with panel hints gets those and nothing synthesized. */
static void test_hints_replace_synthesis(void **state)
{
	struct gen_dashes d = {};
	const json_t *web, *p;
	size_t i;

	(void)state;
	build_dashes(base_yml, &d);
	web = find_dash(&d, "t-web")->json;
	p = find_panel(web, "Served by route");
	assert_non_null(p);
	assert_string_equal(panel_expr(p), "sum by (route) (rate(t_served_total[5m]))");
	assert_string_equal(panel_unit(p), "reqps");
	json_array_foreach(json_object_get(web, "panels"), i, p) {
		const char *e = panel_expr(p);

		assert_true(!e || !strstr(e, "t_served_total") ||
			    !strcmp(json_string_value(json_object_get(p, "title")), "Served by route"));
	}
	gen_dashes__free(&d);
}

static void test_synth_histogram(void **state)
{
	struct gen_dashes d = {};
	const json_t *web, *p;

	(void)state;
	build_dashes(base_yml, &d);
	web = find_dash(&d, "t-web")->json;
	p = find_panel(web, "t_latency_seconds p95 (5m)");
	assert_string_equal(panel_expr(p),
			    "histogram_quantile(0.95, sum by (le) (rate(t_latency_seconds_bucket[5m])))");
	assert_string_equal(panel_unit(p), "s");
	p = find_panel(web, "t_latency_seconds p99 (5m)");
	assert_string_equal(panel_expr(p),
			    "histogram_quantile(0.99, sum by (le) (rate(t_latency_seconds_bucket[5m])))");
	gen_dashes__free(&d);
}

static void test_synth_gauges(void **state)
{
	struct gen_dashes d = {};
	const json_t *q, *p;

	(void)state;
	build_dashes(base_yml, &d);
	q = find_dash(&d, "t-queue")->json;
	p = find_panel(q, "t_depth");
	assert_string_equal(panel_expr(p), "t_depth");
	p = find_panel(q, "t_temp top 5");
	assert_string_equal(panel_expr(p), "topk(5, t_temp)");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(p, "targets"), 0), "legendFormat")), "{{sensor}}");
	gen_dashes__free(&d);
}

static void test_synth_normalization(void **state)
{
	struct gen_dashes d = {};
	const json_t *t, *p;

	(void)state;
	build_dashes(base_yml, &d);
	t = find_dash(&d, "t-trig")->json;
	p = find_panel(t, "t_norm events rate by context (5m)");
	assert_string_equal(panel_expr(p), "sum by (context) (rate(t_norm_events_total[5m]))");
	p = find_panel(t, "t_norm zeroed fraction by context (5m)");
	assert_string_equal(panel_expr(p),
			    "sum by (context) (rate(t_norm_zeroed_total[5m])) / sum by (context) (rate(t_norm_events_total[5m]))");
	assert_string_equal(panel_unit(p), "percentunit");
	gen_dashes__free(&d);
}

static void test_alerts_overview(void **state)
{
	struct gen_dashes d = {};
	const json_t *p;
	const char *content;

	(void)state;
	build_dashes(base_yml, &d);
	p = json_array_get(json_object_get(find_dash(&d, "t-web")->json, "panels"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "title")), "Alerts overview");
	assert_string_equal(json_string_value(json_object_get(p, "type")), "text");
	content = json_string_value(json_object_get(json_object_get(p, "options"), "content"));
	assert_non_null(strstr(content, "| TNothingServed | warning | 10m | "
				"` sum(rate(t_served_total[10m])) == 0 ` | "
				"Nothing served for 10 minutes | spec |\n"));
	/* every dashboard has one; the trigger family lists the suggestions */
	p = json_array_get(json_object_get(find_dash(&d, "t-trig")->json, "panels"), 0);
	content = json_string_value(json_object_get(json_object_get(p, "options"), "content"));
	assert_non_null(strstr(content, "TNormZeroedFractionDrop"));
	assert_non_null(strstr(content, "TNormAfterMeanDrift"));
	p = json_array_get(json_object_get(find_dash(&d, "t-queue")->json, "panels"), 0);
	content = json_string_value(json_object_get(json_object_get(p, "options"), "content"));
	assert_non_null(strstr(content, "No alerts in this family."));
	gen_dashes__free(&d);
}

static void test_grid_layout(void **state)
{
	struct gen_dashes d = {};
	const json_t *panels, *g;
	size_t i;

	(void)state;
	build_dashes(base_yml, &d);
	panels = json_object_get(find_dash(&d, "t-web")->json, "panels");
	json_array_foreach(panels, i, g) {
		json_int_t x, y, w, h;

		g = json_object_get(g, "gridPos");
		x = json_integer_value(json_object_get(g, "x"));
		y = json_integer_value(json_object_get(g, "y"));
		w = json_integer_value(json_object_get(g, "w"));
		h = json_integer_value(json_object_get(g, "h"));
		if (!i) {
			assert_true(x == 0 && y == 0 && w == 24 && h == 8);
			continue;
		}
		assert_int_equal(w, GEN_GRID_W);
		assert_int_equal(h, GEN_GRID_H);
		assert_int_equal(x, (json_int_t)((i - 1) % 2) * 12);
		assert_int_equal(y, 8 + (json_int_t)((i - 1) / 2) * 8);
	}
	gen_dashes__free(&d);
}

/* 40 hints: the family splits into t-web (36 panels) and t-web-2. */
static void test_panel_cap_split(void **state)
{
	struct gen_dashes d = {};
	struct gen_set set = {};
	const struct gen_file *mf;
	json_t *manifest;
	char *hints = NULL, *yml, line[160];
	size_t i, len = 0, total = 0;
	FILE *f;

	(void)state;
	f = open_memstream(&hints, &len);
	for (i = 0; i < 40; i++) {
		snprintf(line, sizeof(line),
			 "      - { title: Hint %02zu, promql: 'sum(t_served_total) * %zu' }\n", i, i);
		fputs(line, f);
	}
	fputs("      - { title: Served by route,", f);
	fclose(f);
	yml = replace(base_yml, "      - { title: Served by route,", hints);
	build_dashes(yml, &d);
	assert_int_equal(find_dash(&d, "t-web")->nr_panels, GEN_MAX_PANELS);
	assert_true(find_dash(&d, "t-web-2")->nr_panels <= GEN_MAX_PANELS);
	for (i = 0; i < d.nr; i++) {
		const json_t *first = json_array_get(json_object_get(d.v[i].json, "panels"), 0);

		assert_true(json_array_size(json_object_get(d.v[i].json, "panels")) <= GEN_MAX_PANELS);
		assert_string_equal(json_string_value(json_object_get(first, "title")),
				    "Alerts overview");
		if (!strcmp(d.v[i].family, "web"))
			total += d.v[i].nr_panels - 1;
	}
	/* 41 hints + hits (3) + latency (2), nothing lost */
	assert_int_equal(total, 46);
	assert_string_equal(json_string_value(json_object_get(find_dash(&d, "t-web-2")->json,
							      "title")), "t / web (2)");
	render(yml, &set);
	mf = find_file(&set, "dashboards/manifest.json");
	manifest = json_loadb(mf->data, mf->len, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(manifest, "dashboards")), 5);
	find_file(&set, "dashboards/t-web-2.json");
	json_decref(manifest);
	gen_set__free(&set);
	gen_dashes__free(&d);
	free(yml);
	free(hints);
}

/* ---- header, catalog, rules ---- */

static void test_header(void **state)
{
	struct gen_set set = {};
	const struct gen_file *h;
	char want[128];

	(void)state;
	render(base_yml, &set);
	h = find_file(&set, "include/generated/t_metrics.h");
	snprintf(want, sizeof(want), "#define T_HITS_TOTAL_ID\t0x%08xu\n",
		 emitd_metric_id("t_hits_total"));
	assert_non_null(strstr(h->data, want));
	snprintf(want, sizeof(want), "#define T_NORM_ID\t0x%08xu\n", emitd_metric_id("t_norm"));
	assert_non_null(strstr(h->data, want));
	assert_non_null(strstr(h->data, "#define T_HITS_TOTAL_NAME\t\"t_hits_total\"\n"));
	assert_non_null(strstr(h->data, "#define T_LATENCY_SECONDS_USDT\t\"app:done\"\n"));
	assert_non_null(strstr(h->data, "#define T_LATENCY_SECONDS_PROBE(a0, a1) \\\n"
					"\tEMITD_PROBE2(app, done, a0, a1)\n"));
	assert_non_null(strstr(h->data, "#define T_HITS_TOTAL_UPROBE\t\"hit\"\n"));
	assert_non_null(strstr(h->data, "#define T_METRICS_COUNT\t6\n"));
	assert_int_equal(h->data[h->len - 1], '\n');
	gen_set__free(&set);
}

static void test_catalog(void **state)
{
	struct gen_set set = {};
	const struct gen_file *c;
	const char *web, *queue;

	(void)state;
	render(base_yml, &set);
	c = find_file(&set, "docs/METRICS_CATALOG.md");
	web = strstr(c->data, "## Family `web`");
	queue = strstr(c->data, "## Family `queue`");
	assert_true(web && queue && web < queue);
	assert_non_null(strstr(c->data, "- Probe: USDT `app:done` in target `app` (binary `/usr/bin/app`)\n"));
	assert_non_null(strstr(c->data, "- Label `route`: string at arg 0\n"));
	assert_non_null(strstr(c->data, "- Budget: 64 series\n"));
	assert_non_null(strstr(c->data, "- Series: `t_norm_events_total`, `t_norm_zeroed_total`, "
					"`t_norm_before_abs_mean`, `t_norm_after_abs_mean`, "
					"`t_norm_samples_total`\n"));
	assert_non_null(strstr(c->data, "- Buckets (explicit, 3 bounds and +Inf): 0.1, 0.5, 1\n"));
	gen_set__free(&set);
}

static const json_t *rule_named(const json_t *doc, const char *key, const char *name)
{
	const json_t *g, *r;
	size_t i, j;

	json_array_foreach(json_object_get(doc, "groups"), i, g) {
		json_array_foreach(json_object_get(g, "rules"), j, r) {
			const char *n = json_string_value(json_object_get(r, key));

			if (n && !strcmp(n, name))
				return r;
		}
	}
	return NULL;
}

static const char *rule_expr(const json_t *doc, const char *key, const char *name)
{
	const json_t *r = rule_named(doc, key, name);

	assert_non_null(r);
	return json_string_value(json_object_get(r, "expr"));
}

static void test_recording_rules(void **state)
{
	struct gen_set set = {};
	const struct gen_file *f;
	json_t *doc;

	(void)state;
	render(base_yml, &set);
	f = find_file(&set, "rules/recording_rules.yml");
	doc = gen__yaml_to_json(f->data, f->len);
	assert_non_null(doc);
	assert_string_equal(rule_expr(doc, "record", "t:hits:rate5m"),
			    "sum(rate(t_hits_total[5m]))");
	assert_string_equal(rule_expr(doc, "record", "t_route:hits:rate5m"),
			    "sum by (route) (rate(t_hits_total[5m]))");
	assert_string_equal(rule_expr(doc, "record", "t_method:hits:rate5m"),
			    "sum by (method) (rate(t_hits_total[5m]))");
	assert_null(rule_named(doc, "record", "t_code:hits:rate5m"));
	assert_string_equal(rule_expr(doc, "record", "t:hits_total:sum"), "sum(t_hits_total)");
	assert_string_equal(rule_expr(doc, "record", "t:latency_seconds:p99_rate5m"),
			    "histogram_quantile(0.99, sum by (le) (rate(t_latency_seconds_bucket[5m])))");
	assert_non_null(rule_named(doc, "record", "t:norm_zeroed:ratio_rate5m"));
	/* gauges have none */
	assert_null(strstr(f->data, "t_depth"));
	json_decref(doc);
	gen_set__free(&set);
}

static void test_alert_rules(void **state)
{
	struct gen_set set = {};
	const struct gen_file *f;
	const json_t *r;
	json_t *doc;

	(void)state;
	render(base_yml, &set);
	f = find_file(&set, "rules/alerts.yml");
	doc = gen__yaml_to_json(f->data, f->len);
	assert_non_null(doc);
	r = rule_named(doc, "alert", "TNothingServed");
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "for")), "10m");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "labels"),
							      "severity")), "warning");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "annotations"),
							      "summary")),
			    "Nothing served for 10 minutes");
	assert_string_equal(rule_expr(doc, "alert", "EmitdMapFullDrops"),
			    "increase(emitd_map_full_drops_total[5m]) > 0");
	assert_string_equal(rule_expr(doc, "alert", "EmitdRingbufDrops"),
			    "increase(emitd_ringbuf_dropped_total[5m]) > 0");
	assert_string_equal(rule_expr(doc, "alert", "EmitdShedding"),
			    "increase(emitd_drain_shed_total[5m]) > 0");
	assert_string_equal(rule_expr(doc, "alert", "EmitdScrapeSlow"),
			    "emitd_scrape_duration_seconds > 0.5");
	assert_string_equal(rule_expr(doc, "alert", "EmitdCardinalityFolding"),
			    "emitd_cardinality_folded_series > 0");
	assert_non_null(strstr(rule_expr(doc, "alert", "TNormZeroedFractionDrop"), "[1h]"));
	assert_string_equal(rule_expr(doc, "alert", "TNormAfterMeanDrift"),
			    "max by (context) (t_norm_after_abs_mean) > 0");
	json_decref(doc);
	gen_set__free(&set);
}

/* Hostile strings survive the YAML writer exactly. */
static void test_yaml_quoting(void **state)
{
	static const char *const cases[] = {
		"plain", "it's", "a \"quoted\" \\ backslash", "line\nbreak\ttab",
		"{a: [b]} # not a comment", "- dash", "  spaces  ", "\x01\x7f ctl",
		"nel \xc2\x85 ls \xe2\x80\xa8 bom \xef\xbb\xbf", "ünïcödé ✓", "null", "~",
	};
	size_t i, len;
	char *text;
	json_t *doc;
	FILE *f;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = open_memstream(&text, &len);
		fputs("v: ", f);
		fmt__yaml_quote(f, cases[i]);
		fputc('\n', f);
		fclose(f);
		doc = gen__yaml_to_json(text, len);
		assert_non_null(doc);
		assert_string_equal(json_string_value(json_object_get(doc, "v")), cases[i]);
		json_decref(doc);
		free(text);
	}
}

/* ---- determinism and the file layer ---- */

static void test_byte_identical(void **state)
{
	struct gen_set a = {}, b = {};
	char *dir = make_tmpdir(), *disk, *out = NULL;
	size_t i, len, out_len;
	FILE *log;

	(void)state;
	render(base_yml, &a);
	render(base_yml, &b);
	assert_int_equal(a.nr, b.nr);
	for (i = 0; i < a.nr; i++) {
		assert_int_equal(a.files[i].len, b.files[i].len);
		assert_memory_equal(a.files[i].data, b.files[i].data, a.files[i].len);
		assert_int_equal(a.files[i].data[a.files[i].len - 1], '\n');
		assert_null(strstr(a.files[i].data, "2025-"));
	}
	write_set(base_yml, dir);
	/* a second write finds every file current and touches none */
	log = open_memstream(&out, &out_len);
	assert_int_equal(gen__write(&b, dir, log), 0);
	fclose(log);
	assert_non_null(strstr(out, "0 updated"));
	for (i = 0; i < a.nr; i++) {
		disk = slurp(dir, a.files[i].path, &len);
		assert_non_null(disk);
		assert_int_equal(len, a.files[i].len);
		assert_memory_equal(disk, a.files[i].data, len);
		free(disk);
	}
	free(out);
	gen_set__free(&a);
	gen_set__free(&b);
	remove_tree(dir);
}

static void test_check_current(void **state)
{
	char *dir = make_tmpdir(), *report = NULL;

	(void)state;
	write_set(base_yml, dir);
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_OK);
	assert_non_null(strstr(report, "are current"));
	free(report);
	/* the same spec with its keys reordered is current too */
	assert_int_equal(check_dir(reordered_yml, dir, &report), GEN_EXIT_OK);
	free(report);
	remove_tree(dir);
}

/* Moving panels around and renumbering them is not drift. */
static void test_check_ignores_layout(void **state)
{
	char *dir = make_tmpdir(), *report = NULL, *text;
	json_t *d, *panels, *p;
	size_t len, i;

	(void)state;
	write_set(base_yml, dir);
	text = slurp(dir, "dashboards/t-web.json", &len);
	d = json_loads(text, 0, NULL);
	free(text);
	panels = json_object_get(d, "panels");
	json_array_foreach(panels, i, p) {
		json_object_set_new(p, "id", json_integer(1000 + i));
		json_object_set_new(p, "gridPos", json_pack("{s:i, s:i, s:i, s:i}", "h", 3,
							    "w", 24, "x", 0, "y", (int)i * 3));
	}
	/* reverse the panel order */
	for (i = 0; i < json_array_size(panels) / 2; i++) {
		size_t j = json_array_size(panels) - 1 - i;
		json_t *a = json_incref(json_array_get(panels, i));

		json_array_set(panels, i, json_array_get(panels, j));
		json_array_set_new(panels, j, a);
	}
	text = json_dumps(d, JSON_INDENT(4));
	spit(dir, "dashboards/t-web.json", text);
	free(text);
	json_decref(d);
	/* and the rule files requoted, with comments dropped */
	spit(dir, "rules/recording_rules.yml",
	     "groups:\n"
	     "- name: t-web\n"
	     "  rules:\n"
	     "  - {record: \"t:hits:rate5m\", expr: \"sum(rate(t_hits_total[5m]))\"}\n"
	     "  - {record: t_route:hits:rate5m, expr: 'sum by (route) (rate(t_hits_total[5m]))'}\n"
	     "  - {record: t_method:hits:rate5m, expr: \"sum by (method) (rate(t_hits_total[5m]))\"}\n"
	     "  - {expr: sum(t_hits_total), record: t:hits_total:sum}\n"
	     "  - {record: 't:served:rate5m', expr: 'sum(rate(t_served_total[5m]))'}\n"
	     "  - {record: 't_route:served:rate5m', expr: 'sum by (route) (rate(t_served_total[5m]))'}\n"
	     "  - {record: 't:served_total:sum', expr: 'sum(t_served_total)'}\n"
	     "  - record: t:latency_seconds:p95_rate5m\n"
	     "    expr: histogram_quantile(0.95, sum by (le) (rate(t_latency_seconds_bucket[5m])))\n"
	     "  - record: t:latency_seconds:p99_rate5m\n"
	     "    expr: histogram_quantile(0.99, sum by (le) (rate(t_latency_seconds_bucket[5m])))\n"
	     "- name: t-trig\n"
	     "  rules:\n"
	     "  - record: t:norm_events:rate5m\n"
	     "    expr: sum(rate(t_norm_events_total[5m]))\n"
	     "  - record: t:norm_zeroed:ratio_rate5m\n"
	     "    expr: sum(rate(t_norm_zeroed_total[5m])) / sum(rate(t_norm_events_total[5m]))\n");
	if (check_dir(base_yml, dir, &report) != GEN_EXIT_OK)
		fail_msg("layout edits reported as drift:\n%s", report);
	free(report);
	remove_tree(dir);
}

struct drift_case {
	const char *name;
	const char *from;
	const char *to;
	int code;
	const char *expect;	/* in the report */
};

static void run_drift(const struct drift_case *c)
{
	char *dir = make_tmpdir(), *report = NULL, *yml;
	int code;

	write_set(base_yml, dir);
	yml = replace(base_yml, c->from, c->to);
	code = check_dir(yml, dir, &report);
	if (code != c->code || !strstr(report, c->expect))
		fail_msg("%s: exit %d (want %d), report:\n%s", c->name, code, c->code, report);
	/* regenerating clears it */
	write_set(yml, dir);
	free(report);
	assert_int_equal(check_dir(yml, dir, &report), GEN_EXIT_OK);
	free(report);
	free(yml);
	remove_tree(dir);
}

static void test_drift_dashboards(void **state)
{
	static const struct drift_case c = {
		"panel hint promql", "(rate(t_served_total[5m]))'", "(rate(t_served_total[1m]))'",
		GEN_EXIT_DASHBOARDS,
		"dashboards/t-web.json: changed panel \"Served by route\" (signature changed)",
	};

	(void)state;
	run_drift(&c);
}

static void test_drift_dashboards_added(void **state)
{
	static const struct drift_case c = {
		"new hint", "      - { title: Served by route,",
		"      - { title: Served total, promql: 'sum(t_served_total)' }\n"
		"      - { title: Served by route,",
		GEN_EXIT_DASHBOARDS, "dashboards/t-web.json: added panel \"Served total\"",
	};

	(void)state;
	run_drift(&c);
}

/* A counter with hints gets a label: only its recording rules (and the catalog) move. */
static void test_drift_recording(void **state)
{
	static const struct drift_case c = {
		"label on a hinted counter",
		"    labels: [route]\n"
		"    probe: { target: app, uprobe: serve, labels: { route: { arg: 0, as: string } } }",
		"    labels: [route, method]\n"
		"    probe: { target: app, uprobe: serve, labels: { route: { arg: 0, as: string }, method: { arg: 1 } } }",
		GEN_EXIT_RECORDING,
		"rules/recording_rules.yml: added record t_method:served:rate5m (group t-web)",
	};

	(void)state;
	run_drift(&c);
}

static void test_drift_alerts(void **state)
{
	static const struct drift_case c = {
		"alert threshold", "[10m])) == 0'", "[10m])) < 0.1'", GEN_EXIT_ALERTS,
		"rules/alerts.yml: changed alert TNothingServed (group t-web)",
	};

	(void)state;
	run_drift(&c);
}

static void test_drift_docs(void **state)
{
	static const struct drift_case c = {
		"help text", "help: Queue depth.", "help: Items waiting in the queue.",
		GEN_EXIT_DOCS, "include/generated/t_metrics.h: differs from line",
	};

	(void)state;
	run_drift(&c);
}

static void test_drift_budget_catalog(void **state)
{
	static const struct drift_case c = {
		"budget", "    family: queue\n    labels: [sensor]\n",
		"    family: queue\n    budget: 8\n    labels: [sensor]\n",
		GEN_EXIT_DOCS, "docs/METRICS_CATALOG.md: differs from line",
	};

	(void)state;
	run_drift(&c);
}

/* A family disappears: the manifest drifts, and writing deletes its dashboard. */
static void test_drift_removed_dashboard(void **state)
{
	char *dir = make_tmpdir(), *report = NULL, *yml, *tmp, *path;
	size_t len;

	(void)state;
	write_set(base_yml, dir);
	/* both gauges of family queue move to web: no rule changes */
	tmp = replace(base_yml, "family: queue", "family: web");
	yml = replace(tmp, "family: queue", "family: web");
	free(tmp);
	assert_int_equal(check_dir(yml, dir, &report), GEN_EXIT_DASHBOARDS);
	assert_non_null(strstr(report, "dashboards/manifest.json: removed dashboard \"t-queue\""));
	assert_non_null(strstr(report, "dashboards/t-web.json: added panel \"t_temp top 5\""));
	free(report);
	write_set(yml, dir);
	path = slurp(dir, "dashboards/t-queue.json", &len);
	assert_null(path);
	assert_int_equal(check_dir(yml, dir, &report), GEN_EXIT_OK);
	free(report);
	free(yml);
	remove_tree(dir);
}

static void test_drift_precedence(void **state)
{
	bool d[GEN_KIND_NR] = {}, h[GEN_KIND_NR] = {};

	(void)state;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_OK);
	d[GEN_RULES_CATALOG] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_RULES_CATALOG);
	d[GEN_CATALOG] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_DOCS);
	d[GEN_DASHBOARD] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_DASHBOARDS);
	d[GEN_RECORDING] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_RECORDING);
	d[GEN_ALERTS] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_ALERTS);
	/* provisioning is dashboards drift */
	memset(d, 0, sizeof(d));
	d[GEN_PROVISIONING] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_DASHBOARDS);
	/* a stale spec hash alone is drift of its file, otherwise a note */
	memset(d, 0, sizeof(d));
	d[GEN_MANIFEST] = h[GEN_MANIFEST] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_DASHBOARDS);
	d[GEN_ALERTS] = h[GEN_ALERTS] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_ALERTS);
	d[GEN_CATALOG] = true;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_DOCS);
	h[GEN_ALERTS] = false;
	assert_int_equal(gen__drift_exit(d, h), GEN_EXIT_ALERTS);
}

static void test_hand_edited_header(void **state)
{
	char *dir = make_tmpdir(), *report = NULL;

	(void)state;
	write_set(base_yml, dir);
	spit(dir, "include/generated/t_metrics.h", "/* edited */\n");
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_DOCS);
	assert_non_null(strstr(report, "include/generated/t_metrics.h: differs from line 1:"));
	free(report);
	spit(dir, "dashboards/t-web.json", "{ not json");
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_DASHBOARDS);
	assert_non_null(strstr(report, "dashboards/t-web.json: not valid JSON"));
	free(report);
	remove_tree(dir);
}

/* gen__write() makes each file it writes durable, and keeps a file's mode. */
static void test_write_fsyncs(void **state)
{
	char *dir = make_tmpdir(), *edited, *path;
	struct gen_set set = {};
	struct stat st;
	DIR *d;
	struct dirent *de;

	(void)state;
	render(base_yml, &set);
	nr_fsync = 0;
	write_set(base_yml, dir);
	/* each file, and the directory of each rename */
	assert_true(nr_fsync >= 2 * set.nr);
	nr_fsync = 0;
	write_set(base_yml, dir);
	assert_int_equal(nr_fsync, 0);	/* nothing changed, nothing written */
	assert_true(asprintf(&path, "%s/include/generated/t_metrics.h", dir) > 0);
	assert_int_equal(chmod(path, 0600), 0);
	edited = replace(base_yml, "help: Queue depth.", "help: Items waiting.");
	write_set(edited, dir);
	assert_true(nr_fsync > 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* no temporary file left behind */
	free(path);
	assert_true(asprintf(&path, "%s/include/generated", dir) > 0);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp."));
	closedir(d);
	free(path);
	free(edited);
	gen_set__free(&set);
	remove_tree(dir);
}

/* ---- emitd's own dashboard, the provenance alert, the rules catalog, provisioning ---- */

/* Each hint is a PromQL format with exactly one %s (the metric's name). */
static void assert_one_conversion(const char *fmt)
{
	const char *p = strchr(fmt, '%');

	assert_non_null(p);
	assert_int_equal(p[1], 's');
	assert_null(strchr(p + 2, '%'));
}

/* The panels come from the self-metrics table, with the family panels' id scheme. */
static void test_self_dashboard(void **state)
{
	struct gen_dashes d = {};
	const struct gen_dash *own;
	const json_t *panels, *p, *first;
	json_t *body;
	size_t nr = 0;
	char *expr, *sig;
	int id;

	(void)state;
	build_dashes(base_yml, &d);
	own = find_dash(&d, "t-emitd-health");
	assert_string_equal(own->family, GEN_SELF_FAMILY);
	assert_string_equal(own->title, "t / emitd health");
	panels = json_object_get(own->json, "panels");
	for (id = 0; id < SELF_METRICS_NR; id++) {
		const struct self_metric *m = self_metrics__get(id);

		if (!m->panel.title)
			continue;
		nr++;
		assert_one_conversion(m->panel.expr);
		p = find_panel(own->json, m->panel.title);
		if (!p)
			fail_msg("no panel \"%s\" for %s", m->panel.title, m->name);
		expr = fmt__str(m->panel.expr, m->name);
		assert_string_equal(panel_expr(p), expr);
		assert_string_equal(panel_unit(p), m->panel.unit);
		free(expr);
		/* the id: SHA-256 of the slug and the signature */
		body = json_deep_copy(p);
		json_object_del(body, "id");
		json_object_del(body, "gridPos");
		sig = gen_panel__signature(body);
		assert_int_equal(panel_id(p), gen_panel__id("t-emitd-health", sig, 0));
		free(sig);
		json_decref(body);
	}
	/* what the issue asks for is there */
	assert_non_null(find_panel(own->json, "Drain duration p99 (5m)"));
	assert_non_null(find_panel(own->json, "Drains per second (cadence)"));
	assert_non_null(find_panel(own->json, "Backpressure episodes (5m)"));
	assert_non_null(find_panel(own->json, "Events shed per second by reason"));
	assert_non_null(find_panel(own->json, "Map fill by map"));
	assert_non_null(find_panel(own->json, "Series by metric"));
	assert_non_null(find_panel(own->json, "Folded series by metric"));
	assert_non_null(find_panel(own->json, "Series budget by metric"));
	assert_non_null(find_panel(own->json, "Scrape render and gzip time"));
	assert_non_null(find_panel(own->json, "Probe hits per second by probe"));
	assert_non_null(find_panel(own->json, "Probe read errors per second by what was read"));
	assert_non_null(find_panel(own->json, "Ring-buffer drops per second"));
	assert_true(nr >= 12);
	assert_int_equal(json_array_size(panels), nr + 1);
	assert_int_equal(own->nr_panels, nr + 1);
	/* its alerts first, the spec hash written as a placeholder */
	first = json_array_get(panels, 0);
	assert_string_equal(json_string_value(json_object_get(first, "title")), "Alerts overview");
	expr = (char *)json_string_value(json_object_get(json_object_get(first, "options"),
							 "content"));
	assert_non_null(strstr(expr, "EmitdSpecDrift"));
	assert_non_null(strstr(expr, "EmitdScrapeSlow"));
	assert_non_null(strstr(expr, "sha256!=\"" GEN_HASH_PLACEHOLDER "\""));
	gen_dashes__free(&d);
}

/* A family that takes emitd's own slug is an error, not a silent overwrite. */
static void test_self_slug_taken(void **state)
{
	struct gen_dashes d = {};
	struct spec *spec;
	char *yml = replace(base_yml, "family: trig", "family: emitd-health");

	(void)state;
	spec = load(yml);
	assert_int_equal(gen_dash__build(spec, &d, NULL), -EINVAL);
	spec__free(spec);
	free(yml);
}

/* Drift of emitd's dashboard on disk is dashboards drift. */
static void test_drift_self_dashboard(void **state)
{
	char *dir = make_tmpdir(), *report = NULL, *text, *edited;
	size_t len;

	(void)state;
	write_set(base_yml, dir);
	text = slurp(dir, "dashboards/t-emitd-health.json", &len);
	assert_non_null(text);
	edited = replace(text, "\"Map fill by map\"", "\"Map fill\"");
	spit(dir, "dashboards/t-emitd-health.json", edited);
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_DASHBOARDS);
	assert_non_null(strstr(report, "dashboards/t-emitd-health.json: added panel \"Map fill by map\""));
	assert_non_null(strstr(report, "dashboards/t-emitd-health.json: removed panel \"Map fill\""));
	free(report);
	free(edited);
	free(text);
	remove_tree(dir);
}

static const json_t *group_named(const json_t *doc, const char *name)
{
	const json_t *g;
	size_t i;

	json_array_foreach(json_object_get(doc, "groups"), i, g) {
		if (!strcmp(json_string_value(json_object_get(g, "name")), name))
			return g;
	}
	fail_msg("no group %s", name);
	return NULL;
}

/* The alert compares the running hash with the hash of the spec generated from. */
static void test_provenance_alert(void **state)
{
	struct spec *spec = load(base_yml);
	char hash[SPEC_SHA256_HEX], *want;
	struct gen_set set = {};
	const struct gen_file *f;
	const json_t *g, *r;
	json_t *doc;

	(void)state;
	assert_int_equal(spec__hash(spec, hash), 0);
	assert_int_equal(gen__render(spec, &set), 0);
	f = find_file(&set, GEN_ALERTS_PATH);
	doc = gen__yaml_to_json(f->data, f->len);
	assert_non_null(doc);
	g = group_named(doc, GEN_PROVENANCE_GROUP);
	assert_int_equal(json_array_size(json_object_get(g, "rules")), 1);
	r = json_array_get(json_object_get(g, "rules"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "alert")), "EmitdSpecDrift");
	assert_true(asprintf(&want, "emitd_spec_info{namespace=\"t\",sha256!=\"%s\"} == 1",
			     hash) > 0);
	assert_string_equal(json_string_value(json_object_get(r, "expr")), want);
	assert_null(json_object_get(r, "for"));	/* a state, not a rate: at once */
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r,
		"annotations"), "summary")), "out of date with what runs"));
	/* the same hash as the manifest's */
	f = find_file(&set, GEN_MANIFEST_PATH);
	assert_non_null(strstr(f->data, hash));
	free(want);
	json_decref(doc);
	gen_set__free(&set);
	spec__free(spec);
}

/*
 * Only the spec hash of alerts.yml stale: alert drift alone, a note next to
 * other drift (test_drift_docs: a help text edit exits 10).
 */
static void test_drift_provenance(void **state)
{
	char *dir = make_tmpdir(), *report = NULL, *edited;
	struct gen_set set = {};

	(void)state;
	write_set(base_yml, dir);
	edited = replace(base_yml, "help: Queue depth.", "help: Items waiting.");
	render(edited, &set);
	spit(dir, GEN_ALERTS_PATH, find_file(&set, GEN_ALERTS_PATH)->data);
	gen_set__free(&set);
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_ALERTS);
	assert_non_null(strstr(report, "rules/alerts.yml: changed alert EmitdSpecDrift (group emitd-provenance)"));
	free(report);
	/* the spec edited: the header drifts, the stale hashes are notes */
	write_set(base_yml, dir);
	assert_int_equal(check_dir(edited, dir, &report), GEN_EXIT_DOCS);
	assert_non_null(strstr(report, "rules/alerts.yml: changed alert EmitdSpecDrift"));
	assert_null(strstr(report, "alert rules (9)"));
	free(report);
	free(edited);
	remove_tree(dir);
}

static void test_rules_catalog(void **state)
{
	struct spec *spec = load(base_yml);
	char hash[SPEC_SHA256_HEX], *edited;
	struct gen_set set = {}, other = {};
	const struct gen_file *f, *g;
	json_t *doc;
	const json_t *gr, *r;
	size_t i, k, nr = 0;

	(void)state;
	assert_int_equal(spec__hash(spec, hash), 0);
	assert_int_equal(gen__render(spec, &set), 0);
	f = find_file(&set, GEN_RULES_CATALOG_PATH);
	assert_int_equal(f->kind, GEN_RULES_CATALOG);
	assert_non_null(strstr(f->data, "| ` t:hits:rate5m ` | ` t_hits_total ` | generated | t-web | ` sum(rate(t_hits_total[5m])) ` |\n"));
	assert_non_null(strstr(f->data, "| ` TNothingServed ` | ` t_served_total ` | spec | t-web | ` sum(rate(t_served_total[10m])) == 0 ` |\n"));
	assert_non_null(strstr(f->data, "| ` TNormAfterMeanDrift ` | ` t_norm ` | suggested | t-trig-suggested |"));
	assert_non_null(strstr(f->data, "| ` EmitdScrapeSlow ` | ` emitd_scrape_duration_seconds ` | suggested | emitd-health-suggested | ` emitd_scrape_duration_seconds > 0.5 ` |\n"));
	assert_non_null(strstr(f->data, "| ` EmitdSpecDrift ` | ` emitd_spec_info ` | generated | emitd-provenance | ` emitd_spec_info{namespace=\"t\",sha256!=\"<spec_sha256>\"} == 1 ` |\n"));
	assert_null(strstr(f->data, hash));
	/* every rule of both files is listed, by name */
	for (i = 0; i < set.nr; i++) {
		g = &set.files[i];
		if (g->kind != GEN_RECORDING && g->kind != GEN_ALERTS)
			continue;
		doc = gen__yaml_to_json(g->data, g->len);
		json_array_foreach(json_object_get(doc, "groups"), k, gr) {
			size_t j;

			json_array_foreach(json_object_get(gr, "rules"), j, r) {
				const json_t *n = json_object_get(r, "record");
				char *cell;

				n = n ? n : json_object_get(r, "alert");
				assert_true(asprintf(&cell, "| ` %s ` |", json_string_value(n)) > 0);
				assert_non_null(strstr(f->data, cell));
				free(cell);
				nr++;
			}
		}
		json_decref(doc);
	}
	assert_non_null(strstr(f->data, "## Recording rules (11)"));
	assert_non_null(strstr(f->data, "## Alerting rules (9)"));
	assert_int_equal(nr, 20);
	/* a spec edit that changes no rule leaves the catalog as it was */
	edited = replace(base_yml, "help: Queue depth.", "help: Items waiting.");
	render(edited, &other);
	g = find_file(&other, GEN_RULES_CATALOG_PATH);
	assert_int_equal(g->len, f->len);
	assert_memory_equal(g->data, f->data, f->len);
	free(edited);
	gen_set__free(&other);
	gen_set__free(&set);
	spec__free(spec);
}

static void test_drift_rules_catalog(void **state)
{
	char *dir = make_tmpdir(), *report = NULL, *text, *edited;
	size_t len;

	(void)state;
	write_set(base_yml, dir);
	text = slurp(dir, GEN_RULES_CATALOG_PATH, &len);
	assert_non_null(text);
	edited = replace(text, "| spec |", "| suggested |");
	spit(dir, GEN_RULES_CATALOG_PATH, edited);
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_RULES_CATALOG);
	assert_non_null(strstr(report, "docs/RULES_CATALOG.md: differs from line"));
	assert_non_null(strstr(report, "rules catalog (11)"));
	free(report);
	spit(dir, GEN_RULES_CATALOG_PATH, text);
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_OK);
	free(report);
	free(edited);
	free(text);
	remove_tree(dir);
}

/* The provider points at the dashboards, the datasource is the one they select. */
static void test_provisioning(void **state)
{
	struct gen_set set = {};
	const struct gen_file *f;
	const json_t *p, *ds;
	json_t *doc;

	(void)state;
	render(base_yml, &set);
	f = find_file(&set, GEN_PROV_DASH_PATH);
	assert_int_equal(f->kind, GEN_PROVISIONING);
	/* integers and booleans plain: Grafana reads apiVersion and orgId as integers */
	assert_non_null(strstr(f->data, "\napiVersion: 1\n"));
	assert_non_null(strstr(f->data, "    orgId: 1\n"));
	doc = gen__yaml_to_json(f->data, f->len);
	assert_non_null(doc);
	p = json_array_get(json_object_get(doc, "providers"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "emitd-t");
	assert_string_equal(json_string_value(json_object_get(p, "type")), "file");
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "options"),
							      "path")),
			    "/var/lib/grafana/dashboards/emitd-t");
	json_decref(doc);
	f = find_file(&set, GEN_PROV_DS_PATH);
	assert_non_null(strstr(f->data, "\napiVersion: 1\n"));
	doc = gen__yaml_to_json(f->data, f->len);
	assert_non_null(doc);
	ds = json_array_get(json_object_get(doc, "datasources"), 0);
	assert_string_equal(json_string_value(json_object_get(ds, "uid")), GEN_DS_PROV_UID);
	assert_string_equal(json_string_value(json_object_get(ds, "name")), GEN_DS_PROV_NAME);
	assert_string_equal(json_string_value(json_object_get(ds, "type")), "prometheus");
	assert_string_equal(json_string_value(json_object_get(ds, "isDefault")), "false");
	json_decref(doc);
	gen_set__free(&set);
}

static void test_drift_provisioning(void **state)
{
	char *dir = make_tmpdir(), *report = NULL;

	(void)state;
	write_set(base_yml, dir);
	/* requoted, comments dropped: the same document */
	spit(dir, GEN_PROV_DS_PATH,
	     "apiVersion: 1\n"
	     "datasources:\n"
	     "- {name: \"emitd Prometheus\", uid: emitd-prometheus, type: prometheus, access: proxy,\n"
	     "   url: 'http://localhost:9090', orgId: 1, isDefault: false, editable: false}\n");
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_OK);
	free(report);
	spit(dir, GEN_PROV_DASH_PATH, "apiVersion: 1\nproviders: []\n");
	assert_int_equal(check_dir(base_yml, dir, &report), GEN_EXIT_DASHBOARDS);
	assert_non_null(strstr(report, "dashboards/provisioning/dashboards.yml: field \"providers\" changed"));
	assert_non_null(strstr(report, "Grafana provisioning (6)"));
	free(report);
	remove_tree(dir);
}

/* ---- the PromQL expressions, recorded as they are built ---- */

/* Append [expr, artifact, name] for each rule of a rendered rule file. */
static void rule_exprs(const struct gen_file *f, json_t *out)
{
	json_t *doc = gen__yaml_to_json(f->data, f->len);
	const json_t *g, *r;
	size_t i, k;

	assert_non_null(doc);
	json_array_foreach(json_object_get(doc, "groups"), i, g) {
		json_array_foreach(json_object_get(g, "rules"), k, r) {
			const json_t *name = json_object_get(r, "record");

			json_array_append_new(out, json_pack("[O, s, O]", json_object_get(r, "expr"),
							     f->path, name ? name : json_object_get(r, "alert")));
		}
	}
	json_decref(doc);
}

/* What the rendered artifacts hold, read back: dashboards, recording rules, alerts. */
static json_t *artifact_exprs(const struct gen_set *set)
{
	json_t *out = json_array(), *dash;
	const json_t *p, *t;
	size_t i, j, k;

	for (i = 0; i < set->nr; i++) {
		if (set->files[i].kind != GEN_DASHBOARD)
			continue;
		dash = json_loads(set->files[i].data, 0, NULL);
		assert_non_null(dash);
		json_array_foreach(json_object_get(dash, "panels"), j, p) {
			json_array_foreach(json_object_get(p, "targets"), k, t)
				json_array_append_new(out, json_pack("[O, s, O]",
					json_object_get(t, "expr"), set->files[i].path,
					json_object_get(p, "title")));
		}
		json_decref(dash);
	}
	rule_exprs(find_file(set, GEN_RECORDING_PATH), out);
	rule_exprs(find_file(set, GEN_ALERTS_PATH), out);
	return out;
}

/* The recorded expressions are exactly those the artifacts hold, in their order. */
static void test_exprs_match_artifacts(void **state)
{
	struct spec *spec = load(base_yml);
	struct gen_exprs ex = {};
	struct gen_set set = {};
	json_t *want;
	size_t i;

	(void)state;
	assert_int_equal(gen__render(spec, &set), 0);
	want = artifact_exprs(&set);
	assert_int_equal(gen__exprs(spec, &ex), 0);
	assert_int_equal(ex.nr, json_array_size(want));
	for (i = 0; i < ex.nr; i++) {
		const json_t *w = json_array_get(want, i);

		assert_string_equal(ex.v[i].expr, json_string_value(json_array_get(w, 0)));
		assert_string_equal(ex.v[i].artifact, json_string_value(json_array_get(w, 1)));
		assert_string_equal(ex.v[i].name, json_string_value(json_array_get(w, 2)));
	}
	json_decref(want);
	gen_exprs__free(&ex);
	gen_set__free(&set);
	spec__free(spec);
}

/*
 * Each expression is recorded with the metric it comes from: what the metric
 * alone generates, in the same order; emitd's own health alerts with none.
 */
static void test_exprs_metric(void **state)
{
	struct spec *spec = load(base_yml), part;
	struct gen_exprs all = {}, one = {};
	size_t i, k, n;

	(void)state;
	assert_int_equal(gen__exprs(spec, &all), 0);
	for (i = 0; i < spec->nr_metrics; i++) {
		part = *spec;
		part.metrics = &spec->metrics[i];
		part.nr_metrics = 1;
		assert_int_equal(gen__exprs(&part, &one), 0);
		n = 0;
		for (k = 0; k < all.nr; k++) {
			if (all.v[k].metric != (long)i)
				continue;
			while (n < one.nr && one.v[n].metric != 0)
				n++;
			assert_true(n < one.nr);
			assert_string_equal(all.v[k].expr, one.v[n].expr);
			n++;
		}
		while (n < one.nr)
			assert_int_not_equal(one.v[n++].metric, 0);
		gen_exprs__free(&one);
	}
	for (k = 0; k < all.nr; k++) {
		assert_true(all.v[k].metric >= -1 && all.v[k].metric < (long)spec->nr_metrics);
		if (all.v[k].metric < 0)
			assert_non_null(strstr(all.v[k].expr, "emitd_"));
	}
	/* the normalization metric's suggestions are its own */
	for (k = 0; k < all.nr && strcmp(all.v[k].name, "TNormAfterMeanDrift"); k++)
		;
	assert_true(k < all.nr);
	assert_int_equal(all.v[k].metric, 5);
	assert_string_equal(all.v[k].artifact, GEN_ALERTS_PATH);
	gen_exprs__free(&all);
	spec__free(spec);
}

/* `emitd lint FILE`: 0 valid, 1 invalid, 2 usage. */
static void test_lint_main(void **state)
{
	char *dir = make_tmpdir(), *spec_path, *bad_path;
	char *usage1[] = { "lint", NULL }, *usage2[] = { "lint", "-x", NULL };
	char *ok[] = { "lint", NULL, NULL }, *bad[] = { "lint", NULL, NULL };

	(void)state;
	assert_true(asprintf(&spec_path, "%s/spec.yml", dir) > 0);
	assert_true(asprintf(&bad_path, "%s/bad.yml", dir) > 0);
	spit(dir, "spec.yml", base_yml);
	spit(dir, "bad.yml", "version: 1\nnamespace: t\n");
	ok[1] = spec_path;
	bad[1] = bad_path;
	/* the PromQL check is the integration tests'; here promtool is absent */
	assert_int_equal(setenv("EMITD_PROMTOOL", "/nonexistent", 1), 0);
	assert_int_equal(gen__lint_main(1, usage1), 2);
	assert_int_equal(gen__lint_main(2, usage2), 2);
	assert_int_equal(gen__lint_main(2, bad), 1);
	assert_int_equal(gen__lint_main(2, ok), 0);
	unsetenv("EMITD_PROMTOOL");
	free(spec_path);
	free(bad_path);
	remove_tree(dir);
}

/* ---- the command ---- */

static int run_main(const char *a1, const char *a2, const char *a3, const char *a4,
		    const char *a5)
{
	char *argv[] = { "gen", (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5, NULL };
	int argc = 1;

	while (argv[argc])
		argc++;
	return gen__main(argc, argv);
}

static void test_cli(void **state)
{
	char *dir = make_tmpdir(), *spec_path, *bad_path;

	(void)state;
	assert_true(asprintf(&spec_path, "%s/spec.yml", dir) > 0);
	assert_true(asprintf(&bad_path, "%s/bad.yml", dir) > 0);
	spit(dir, "spec.yml", base_yml);
	spit(dir, "bad.yml", "version: 1\nnamespace: t\n");
	assert_int_equal(run_main("--spec", spec_path, NULL, NULL, NULL), GEN_EXIT_USAGE);
	assert_int_equal(run_main("--out", dir, NULL, NULL, NULL), GEN_EXIT_USAGE);
	assert_int_equal(run_main("--spec", spec_path, "--out", dir, "extra"), GEN_EXIT_USAGE);
	assert_int_equal(run_main("--bogus", NULL, NULL, NULL, NULL), GEN_EXIT_USAGE);
	assert_int_equal(run_main("--spec", bad_path, "--out", dir, NULL), GEN_EXIT_ERROR);
	assert_int_equal(run_main("--spec", spec_path, "--out", dir, "--check"), GEN_EXIT_ALERTS);
	assert_int_equal(run_main("--spec", spec_path, "--out", dir, NULL), GEN_EXIT_OK);
	assert_int_equal(run_main("--spec", spec_path, "--out", dir, "--check"), GEN_EXIT_OK);
	assert_int_equal(run_main("-s", spec_path, "-o", dir, "-c"), GEN_EXIT_OK);
	free(spec_path);
	free(bad_path);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_format),
		cmocka_unit_test(test_panel_id_hash),
		cmocka_unit_test(test_reorder_keys_stable),
		cmocka_unit_test(test_reorder_keys_panel_ids),
		cmocka_unit_test(test_rename_title_changes_id),
		cmocka_unit_test(test_id_collision),
		cmocka_unit_test(test_dashboard_importable),
		cmocka_unit_test(test_synth_counter),
		cmocka_unit_test(test_hints_replace_synthesis),
		cmocka_unit_test(test_synth_histogram),
		cmocka_unit_test(test_synth_gauges),
		cmocka_unit_test(test_synth_normalization),
		cmocka_unit_test(test_alerts_overview),
		cmocka_unit_test(test_grid_layout),
		cmocka_unit_test(test_panel_cap_split),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_recording_rules),
		cmocka_unit_test(test_alert_rules),
		cmocka_unit_test(test_yaml_quoting),
		cmocka_unit_test(test_byte_identical),
		cmocka_unit_test(test_check_current),
		cmocka_unit_test(test_check_ignores_layout),
		cmocka_unit_test(test_drift_dashboards),
		cmocka_unit_test(test_drift_dashboards_added),
		cmocka_unit_test(test_drift_recording),
		cmocka_unit_test(test_drift_alerts),
		cmocka_unit_test(test_drift_docs),
		cmocka_unit_test(test_drift_budget_catalog),
		cmocka_unit_test(test_drift_removed_dashboard),
		cmocka_unit_test(test_drift_precedence),
		cmocka_unit_test(test_hand_edited_header),
		cmocka_unit_test(test_write_fsyncs),
		cmocka_unit_test(test_self_dashboard),
		cmocka_unit_test(test_self_slug_taken),
		cmocka_unit_test(test_drift_self_dashboard),
		cmocka_unit_test(test_provenance_alert),
		cmocka_unit_test(test_drift_provenance),
		cmocka_unit_test(test_rules_catalog),
		cmocka_unit_test(test_drift_rules_catalog),
		cmocka_unit_test(test_provisioning),
		cmocka_unit_test(test_drift_provisioning),
		cmocka_unit_test(test_exprs_match_artifacts),
		cmocka_unit_test(test_exprs_metric),
		cmocka_unit_test(test_lint_main),
		cmocka_unit_test(test_cli),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
