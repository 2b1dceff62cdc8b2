// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for user/spec/ (load, parse, check, names, diag, hash). Run from the repo root:
 * the bad-spec corpus is read from tests/spec_bad/, the warnings' corpus
 * from tests/spec_warn/, and spec/demo.yml is
 * checked when it exists.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "spec/hash.h"
#include "spec/spec.h"

#define CORPUS_DIR	"tests/spec_bad"
#define WARN_CORPUS_DIR	"tests/spec_warn"
#define EXPECT_TAG	"# expect: "
#define MAX_EXPECT	16

static const char demo_yml[] =
	"version: 1\n"
	"namespace: demo\n"
	"global_budget: 1024\n"
	"targets:\n"
	"  - name: demo\n"
	"    binary: build/demo-target\n"
	"metrics:\n"
	"  - name: requests_total\n"
	"    type: counter\n"
	"    help: Requests handled, by route.\n"
	"    family: http\n"
	"    labels: [route]\n"
	"    budget: 64\n"
	"    probe:\n"
	"      target: demo\n"
	"      uprobe: handle_request\n"
	"      labels: { route: { arg: 0, as: string } }\n"
	"    panels:\n"
	"      - { title: Requests per second by route, promql: 'sum by (route) (rate(demo_requests_total[5m]))' }\n"
	"    alerts:\n"
	"      - { alert: DemoNoRequests, expr: 'sum(rate(demo_requests_total[10m])) == 0', for: 10m, severity: warning, summary: No requests for 10 minutes }\n"
	"  - name: request_latency_seconds\n"
	"    type: histogram\n"
	"    help: Request latency, in seconds (the probe reads microseconds).\n"
	"    unit: seconds\n"
	"    family: http\n"
	"    probe: { target: demo, usdt: 'demo:request_done', value: { arg: 1, scale: 1e-6 } }\n"
	"    buckets: [0.000001, 0.000002, 0.000004, 0.000008, 0.000016, 0.000032, 0.000064,\n"
	"              0.000128, 0.000256, 0.000512, 0.001024, 0.002048, 0.004096, 0.008192,\n"
	"              0.016384, 0.032768, 0.065536, 0.131072, 0.262144, 0.524288, 1.048576]\n"
	"  - name: payload_ratio\n"
	"    type: histogram\n"
	"    help: Compressed over raw payload size.\n"
	"    unit: ratio\n"
	"    family: http\n"
	"    probe: { target: demo, usdt: 'demo:payload', value: { arg: 0, deref: f64 } }\n"
	"    buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1]\n"
	"  - name: queue_depth\n"
	"    type: gauge\n"
	"    help: Work items waiting in the queue.\n"
	"    family: queue\n"
	"    probe: { target: demo, usdt: 'demo:queue_depth', value: { arg: 0 } }\n"
	"  - name: sensor_value\n"
	"    type: gauge\n"
	"    help: Sensor readings, by sensor id.\n"
	"    family: sensors\n"
	"    labels: [sensor]\n"
	"    signal: true\n"
	"    probe:\n"
	"      target: demo\n"
	"      usdt: 'demo:sensor'\n"
	"      value: { arg: 1, deref: f64 }\n"
	"      labels: { sensor: { arg: 0 } }\n"
	"  - name: trigger_normalization\n"
	"    type: normalization\n"
	"    help: Fractional-budget renormalizations, by context.\n"
	"    family: trigger\n"
	"    labels: [context]\n"
	"    probe:\n"
	"      target: demo\n"
	"      uprobe: drop_rounding_noise\n"
	"      before: { arg: 0, deref: f64 }\n"
	"      after: { arg: 1, deref: f64 }\n"
	"      labels: { context: { arg: 2, as: string } }\n";

/* A valid spec whose only histogram takes its buckets from @buckets. */
static int load_hist(const char *buckets, struct spec **out, struct spec_diags *d)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "version: 1\n"
		 "namespace: t\n"
		 "targets: [{ name: t, pid: 1 }]\n"
		 "metrics:\n"
		 "  - name: h\n"
		 "    type: histogram\n"
		 "    help: H.\n"
		 "    probe: { target: t, usdt: 'p:h', value: { arg: 0 } }\n"
		 "    buckets: %s\n", buckets);
	return spec__load_buf("hist.yml", buf, strlen(buf), out, d);
}

static void assert_src(const struct spec_src *s, enum spec_src_kind kind,
		       unsigned int arg, enum spec_val_type type)
{
	assert_int_equal(s->kind, kind);
	assert_int_equal(s->arg, arg);
	assert_int_equal(s->type, type);
	assert_int_equal(s->offset, 0);
}

static void check_demo_top(const struct spec *s)
{
	assert_int_equal(s->version, 1);
	assert_string_equal(s->namespace_, "demo");
	assert_int_equal(s->global_budget, 1024);
	assert_int_equal(s->nr_targets, 1);
	assert_string_equal(s->targets[0].name, "demo");
	assert_string_equal(s->targets[0].binary, "build/demo-target");
	assert_int_equal(s->targets[0].pid, 0);
	assert_int_equal(s->targets[0].mark.line, 5);
	assert_int_equal(s->targets[0].binary_mark.line, 6);
	assert_int_equal(s->targets[0].binary_mark.col, 13);
	assert_ptr_equal(spec__find_target(s, "demo"), &s->targets[0]);
	assert_null(spec__find_target(s, "nope"));
	assert_int_equal(s->nr_metrics, 6);
}

static void check_demo_counter(const struct spec *s)
{
	const struct spec_metric *m = &s->metrics[0];
	char *full = spec_metric__full_name(s, m);

	assert_string_equal(full, "demo_requests_total");
	free(full);
	assert_int_equal(m->type, SPEC_COUNTER);
	assert_string_equal(spec_metric_type__name(m->type), "counter");
	assert_string_equal(m->help, "Requests handled, by route.");
	assert_null(m->unit);
	assert_string_equal(m->family, "http");
	assert_int_equal(m->budget, 64);
	assert_false(m->hot);
	assert_false(m->signal);
	assert_int_equal(m->nr_labels, 1);
	assert_string_equal(m->labels[0].name, "route");
	assert_src(&m->labels[0].src, SPEC_SRC_STRING, 0, SPEC_VAL_S64);
	assert_string_equal(m->probe.target, "demo");
	assert_int_equal(m->probe.kind, SPEC_PROBE_UPROBE);
	assert_string_equal(m->probe.symbol, "handle_request");
	assert_null(m->probe.provider);
	assert_int_equal(m->probe.value.kind, SPEC_SRC_NONE);
	assert_int_equal(m->probe.site_mark.line, 16);
	assert_int_equal(m->probe.site_mark.col, 15);
	assert_int_equal(m->buckets.kind, SPEC_BUCKETS_NONE);
	assert_int_equal(m->nr_panels, 1);
	assert_string_equal(m->panels[0].title, "Requests per second by route");
	assert_string_equal(m->panels[0].promql,
			    "sum by (route) (rate(demo_requests_total[5m]))");
	assert_null(m->panels[0].unit);
	assert_string_equal(m->panels[0].panel_type, "timeseries");
	assert_int_equal(m->nr_alerts, 1);
	assert_string_equal(m->alerts[0].alert, "DemoNoRequests");
	assert_string_equal(m->alerts[0].for_, "10m");
	assert_string_equal(m->alerts[0].severity, "warning");
	assert_string_equal(m->alerts[0].summary, "No requests for 10 minutes");
}

static void check_demo_histograms(const struct spec *s)
{
	const struct spec_metric *m = &s->metrics[1];
	static const double ratio[] = { 0.1, 0.25, 0.5, 0.75, 0.9, 1 };
	size_t i;

	assert_int_equal(m->type, SPEC_HISTOGRAM);
	assert_string_equal(m->unit, "seconds");
	assert_int_equal(m->budget, SPEC_DEFAULT_BUDGET);
	assert_int_equal(m->probe.kind, SPEC_PROBE_USDT);
	assert_string_equal(m->probe.provider, "demo");
	assert_string_equal(m->probe.name, "request_done");
	assert_null(m->probe.symbol);
	assert_src(&m->probe.value, SPEC_SRC_ARG, 1, SPEC_VAL_S64);
	assert_true(m->probe.value.scale == 1e-6);
	assert_true(spec_metric__scale(m) == 1e-6);
	assert_int_equal(m->probe.value.scale_mark.line, 27);
	assert_int_equal(m->probe.value.scale_mark.col, 79);
	assert_int_equal(m->buckets.kind, SPEC_BUCKETS_EXPLICIT);
	assert_int_equal(m->buckets.nr_bounds, 21);
	/* the edges of exp2 { min: 1, max: 1048576 } in microseconds, in seconds */
	for (i = 0; i < 21; i++)
		assert_true(m->buckets.bounds[i] == (double)(1u << i) / 1e6);

	m = &s->metrics[2];
	assert_string_equal(m->name, "payload_ratio");
	assert_src(&m->probe.value, SPEC_SRC_DEREF, 0, SPEC_VAL_F64);
	assert_int_equal(m->buckets.kind, SPEC_BUCKETS_EXPLICIT);
	assert_int_equal(m->buckets.nr_bounds, 6);
	for (i = 0; i < 6; i++)
		assert_true(m->buckets.bounds[i] == ratio[i]);
}

static void check_demo_rest(const struct spec *s)
{
	const struct spec_metric *m = &s->metrics[3];

	assert_int_equal(m->type, SPEC_GAUGE);
	assert_string_equal(m->family, "queue");
	assert_int_equal(m->nr_labels, 0);
	assert_src(&m->probe.value, SPEC_SRC_ARG, 0, SPEC_VAL_S64);

	m = &s->metrics[4];
	assert_true(m->signal);
	assert_src(&m->probe.value, SPEC_SRC_DEREF, 1, SPEC_VAL_F64);
	assert_string_equal(m->labels[0].name, "sensor");
	assert_src(&m->labels[0].src, SPEC_SRC_ARG, 0, SPEC_VAL_S64);

	m = &s->metrics[5];
	assert_int_equal(m->type, SPEC_NORMALIZATION);
	assert_int_equal(m->probe.kind, SPEC_PROBE_UPROBE);
	assert_string_equal(m->probe.symbol, "drop_rounding_noise");
	assert_int_equal(m->probe.value.kind, SPEC_SRC_NONE);
	assert_src(&m->probe.before, SPEC_SRC_DEREF, 0, SPEC_VAL_F64);
	assert_src(&m->probe.after, SPEC_SRC_DEREF, 1, SPEC_VAL_F64);
	assert_string_equal(m->labels[0].name, "context");
	assert_src(&m->labels[0].src, SPEC_SRC_STRING, 2, SPEC_VAL_S64);
	assert_int_equal(m->buckets.kind, SPEC_BUCKETS_NONE);
}

static void test_demo_spec(void **state)
{
	struct spec_diags d = { 0 };
	struct spec *s;

	(void)state;
	assert_int_equal(spec__load_buf("demo.yml", demo_yml, strlen(demo_yml), &s, &d), 0);
	assert_int_equal(d.nr, 0);
	assert_non_null(s);
	assert_string_equal(s->path, "demo.yml");
	check_demo_top(s);
	check_demo_counter(s);
	check_demo_histograms(s);
	check_demo_rest(s);
	spec__free(s);
	spec_diags__free(&d);
}

/* spec/demo.yml must lint clean (tests run from the repo root). */
static void test_demo_file(void **state)
{
	struct spec_diags d = { 0 };
	struct spec *s;
	int err;

	(void)state;
	err = spec__load("spec/demo.yml", &s, &d);
	spec_diags__print(&d, "spec/demo.yml", stderr);
	assert_int_equal(err, 0);
	assert_int_equal(d.nr, 0);
	spec__free(s);
	spec_diags__free(&d);
}

static void test_defaults(void **state)
{
	static const char y[] =
		"version: 1\n"
		"namespace: n\n"
		"targets: [{ name: t, pid: 4242 }]\n"
		"metrics:\n"
		"  - { name: hits_total, type: counter, help: Hits., hot: true,\n"
		"      probe: { target: t, uprobe: f, value: { arg: 5, as: u64 } } }\n";
	struct spec_diags d = { 0 };
	struct spec *s;

	(void)state;
	assert_int_equal(spec__load_buf("d.yml", y, strlen(y), &s, &d), 0);
	assert_int_equal(s->global_budget, SPEC_DEFAULT_GLOBAL_BUDGET);
	assert_null(s->targets[0].binary);
	assert_int_equal(s->targets[0].pid, 4242);
	assert_int_equal(s->metrics[0].budget, SPEC_DEFAULT_BUDGET);
	assert_string_equal(s->metrics[0].family, "default");
	assert_true(s->metrics[0].hot);
	assert_src(&s->metrics[0].probe.value, SPEC_SRC_ARG, 5, SPEC_VAL_U64);
	spec__free(s);
	spec_diags__free(&d);
}

/* Labels of the task's context and a target's filters (issue 12, item 4). */
static void test_task_sources_and_filters(void **state)
{
	static const char y[] =
		"version: 1\n"
		"namespace: n\n"
		"targets:\n"
		"  - { name: pg, binary: /usr/bin/pg, cgroup: /system.slice/pg.service/,\n"
		"      comm: [postgres, pg_ctl] }\n"
		"  - { name: pm, pid: 12, follow_forks: true, comm: one }\n"
		"  - { name: all, binary: /bin/t }\n"
		"metrics:\n"
		"  - name: hits_total\n"
		"    type: counter\n"
		"    help: Hits.\n"
		"    labels: [pid, tid, uid, comm]\n"
		"    probe: { target: pg, uprobe: f, labels: { pid: { source: tgid },\n"
		"             tid: { source: tid }, uid: { source: uid }, comm: { source: comm } } }\n"
		"  - name: by_cgroup_total\n"
		"    type: counter\n"
		"    help: Hits.\n"
		"    labels: [cgroup, pid]\n"
		"    probe: { target: pm, uprobe: f, labels: { cgroup: { source: cgroup },\n"
		"             pid: { source: pid } } }\n"
		"  - name: warm_total\n"
		"    type: counter\n"
		"    help: Hits.\n"
		"    labels: [uid, comm]\n"
		"    probe: { target: all, uprobe: f, labels: { uid: { source: uid, values: [0, 1000] },\n"
		"             comm: { source: comm, values: [postgres] } } }\n";
	struct spec_diags d = { 0 };
	const struct spec_metric *m;
	const struct spec_target *t;
	struct spec *s;

	(void)state;
	assert_int_equal(spec__load_buf("t.yml", y, strlen(y), &s, &d), 0);
	t = &s->targets[0];
	assert_string_equal(t->cgroup, "system.slice/pg.service");
	assert_int_equal(t->nr_comms, 2);
	assert_string_equal(t->comms[1], "pg_ctl");
	assert_false(t->follow_forks);
	assert_true(spec_target__filters(t));
	t = &s->targets[1];
	assert_true(t->follow_forks);
	assert_null(t->cgroup);
	assert_int_equal(t->nr_comms, 1);
	assert_string_equal(t->comms[0], "one");
	assert_false(spec_target__filters(&s->targets[2]));
	m = &s->metrics[0];
	assert_int_equal(m->labels[0].src.kind, SPEC_SRC_PID);	/* tgid is pid */
	assert_int_equal(m->labels[1].src.kind, SPEC_SRC_TID);
	assert_int_equal(m->labels[2].src.kind, SPEC_SRC_UID);
	assert_int_equal(m->labels[3].src.kind, SPEC_SRC_COMM);
	m = &s->metrics[2];
	assert_int_equal(m->labels[0].nr_values, 2);
	assert_string_equal(m->labels[0].values[1], "1000");
	assert_string_equal(m->labels[1].values[0], "postgres");
	assert_true(spec_src_kind__is_string(SPEC_SRC_COMM));
	assert_false(spec_src_kind__reads_arg(SPEC_SRC_COMM));
	assert_int_equal(s->metrics[1].labels[0].src.kind, SPEC_SRC_CGROUP);
	assert_string_equal(spec_src_kind__name(SPEC_SRC_CGROUP), "cgroup");
	spec__free(s);
	spec_diags__free(&d);
}

/* Filters and task labels are in the spec's hash; a spec without them hashes as before. */
static void test_hash_filters(void **state)
{
	static const char a[] =
		"version: 1\nnamespace: n\ntargets: [{ name: t, binary: /bin/t }]\n"
		"metrics: [{ name: h_total, type: counter, help: H., probe: { target: t, uprobe: f } }]\n";
	static const char b[] =
		"version: 1\nnamespace: n\ntargets: [{ name: t, binary: /bin/t, comm: [x] }]\n"
		"metrics: [{ name: h_total, type: counter, help: H., probe: { target: t, uprobe: f } }]\n";
	char ha[SPEC_SHA256_HEX], hb[SPEC_SHA256_HEX];
	struct spec_diags d = { 0 };
	struct spec *s;

	(void)state;
	assert_int_equal(spec__load_buf("a.yml", a, strlen(a), &s, &d), 0);
	assert_int_equal(spec__hash(s, ha), 0);
	spec__free(s);
	assert_int_equal(spec__load_buf("b.yml", b, strlen(b), &s, &d), 0);
	assert_int_equal(spec__hash(s, hb), 0);
	spec__free(s);
	assert_string_not_equal(ha, hb);
	spec_diags__free(&d);
}

static void test_deref_offset(void **state)
{
	static const char y[] =
		"version: 1\n"
		"namespace: n\n"
		"targets: [{ name: t, binary: /bin/t }]\n"
		"metrics:\n"
		"  - { name: g, type: gauge, help: G.,\n"
		"      probe: { target: t, usdt: 'p:g', value: { arg: 11, deref: u64, offset: 0x10 } } }\n";
	struct spec_diags d = { 0 };
	struct spec *s;

	(void)state;
	assert_int_equal(spec__load_buf("o.yml", y, strlen(y), &s, &d), 0);
	assert_int_equal(s->metrics[0].probe.value.kind, SPEC_SRC_DEREF);
	assert_int_equal(s->metrics[0].probe.value.arg, 11);
	assert_int_equal(s->metrics[0].probe.value.type, SPEC_VAL_U64);
	assert_int_equal(s->metrics[0].probe.value.offset, 16);
	spec__free(s);
	spec_diags__free(&d);
}

/* The dtrace and PostgreSQL docs write "transaction-commit"; the note says "__". */
static void test_usdt_dash_spelling(void **state)
{
	static const char y[] =
		"version: 1\n"
		"namespace: n\n"
		"targets: [{ name: t, binary: /bin/t }]\n"
		"metrics:\n"
		"  - { name: commits_total, type: counter, help: C.,\n"
		"      probe: { target: t, usdt: 'postgresql:transaction-commit' } }\n"
		"  - { name: starts_total, type: counter, help: S.,\n"
		"      probe: { target: t, usdt: postgresql:lwlock-wait-start } }\n"
		"  - { name: aborts_total, type: counter, help: A.,\n"
		"      probe: { target: t, usdt: 'postgresql:transaction__abort' } }\n";
	static const char bad[] =
		"version: 1\n"
		"namespace: n\n"
		"targets: [{ name: t, binary: /bin/t }]\n"
		"metrics:\n"
		"  - { name: c_total, type: counter, help: C.,\n"
		"      probe: { target: t, usdt: 'my-app:-start' } }\n";
	struct spec_diags d = { 0 };
	struct spec *s;
	char *n;

	(void)state;
	assert_int_equal(spec__load_buf("u.yml", y, strlen(y), &s, &d), 0);
	assert_string_equal(s->metrics[0].probe.provider, "postgresql");
	assert_string_equal(s->metrics[0].probe.name, "transaction__commit");
	assert_string_equal(s->metrics[1].probe.name, "lwlock__wait__start");
	assert_string_equal(s->metrics[2].probe.name, "transaction__abort");
	spec__free(s);
	spec_diags__free(&d);

	/* a provider keeps its dashes (and is then no identifier) */
	assert_int_equal(spec__load_buf("b.yml", bad, strlen(bad), &s, &d), -EINVAL);
	assert_int_equal(d.nr, 1);
	assert_int_equal(d.v[0].mark.line, 6);
	spec_diags__free(&d);

	n = spec_usdt__note_name("a-b--c");
	assert_string_equal(n, "a__b____c");
	free(n);
}

static void test_exp2_bounds(void **state)
{
	struct spec_diags d = { 0 };
	struct spec_buckets *b;
	struct spec *s;
	size_t i;

	(void)state;
	assert_int_equal(load_hist("{ exp2: { min: 4, max: 64 } }", &s, &d), 0);
	b = &s->metrics[0].buckets;
	assert_int_equal(b->kind, SPEC_BUCKETS_EXP2);
	assert_int_equal(b->nr_bounds, 5);
	for (i = 0; i < 5; i++)
		assert_true(b->bounds[i] == 4.0 * (1 << i));
	spec__free(s);

	/* the widest range that fits: 2^0 .. 2^61 */
	assert_int_equal(load_hist("{ exp2: { min: 1, max: 2305843009213693952 } }", &s, &d), 0);
	b = &s->metrics[0].buckets;
	assert_int_equal(b->nr_bounds, SPEC_MAX_BOUNDS);
	assert_true(b->bounds[SPEC_MAX_BOUNDS - 1] == ldexp(1, 61));
	spec__free(s);
	spec_diags__free(&d);
}

static void test_linear_bounds(void **state)
{
	static const double want[] = { -1, -0.5, 0, 0.5, 1 };
	struct spec_diags d = { 0 };
	struct spec_buckets *b;
	struct spec *s;
	size_t i;

	(void)state;
	assert_int_equal(load_hist("{ linear: { start: -1, width: 0.5, count: 5 } }", &s, &d), 0);
	b = &s->metrics[0].buckets;
	assert_int_equal(b->kind, SPEC_BUCKETS_LINEAR);
	assert_int_equal(b->nr_bounds, 5);
	for (i = 0; i < 5; i++)
		assert_true(b->bounds[i] == want[i]);
	spec__free(s);

	assert_int_equal(load_hist("{ linear: { start: 0, width: 10, count: 1 } }", &s, &d), 0);
	assert_int_equal(s->metrics[0].buckets.nr_bounds, 1);
	assert_true(s->metrics[0].buckets.bounds[0] == 0);
	spec__free(s);
	spec_diags__free(&d);
}

static void test_explicit_bounds(void **state)
{
	static const double want[] = { -2.5, 0, 1e-3, 7, 1.5e6 };
	struct spec_diags d = { 0 };
	struct spec_buckets *b;
	struct spec *s;
	size_t i;

	(void)state;
	assert_int_equal(load_hist("\n      - -2.5\n      - 0\n      - 1e-3\n"
				   "      - 7\n      - 1.5e+6\n", &s, &d), 0);
	b = &s->metrics[0].buckets;
	assert_int_equal(b->kind, SPEC_BUCKETS_EXPLICIT);
	assert_int_equal(b->nr_bounds, 5);
	for (i = 0; i < 5; i++)
		assert_true(b->bounds[i] == want[i]);
	spec__free(s);

	assert_int_equal(load_hist("[42]", &s, &d), 0);
	assert_int_equal(s->metrics[0].buckets.nr_bounds, 1);
	assert_true(s->metrics[0].buckets.bounds[0] == 42);
	spec__free(s);
	spec_diags__free(&d);
}

/*
 * "line:col: field: message", as in the corpus' expect lines; a warning is
 * "line:col: warning: field: message".
 */
static void format_diag(const struct spec_diag *dg, char *buf, size_t size)
{
	const char *sev = dg->warning ? "warning: " : "";

	if (dg->field && *dg->field)
		snprintf(buf, size, "%u:%u: %s%s: %s", dg->mark.line, dg->mark.col, sev,
			 dg->field, dg->msg);
	else
		snprintf(buf, size, "%u:%u: %s%s", dg->mark.line, dg->mark.col, sev, dg->msg);
}

static size_t read_expects(const char *path, char expect[][512])
{
	char line[512];
	size_t nr = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && nr < MAX_EXPECT) {
		if (strncmp(line, EXPECT_TAG, strlen(EXPECT_TAG)))
			continue;
		line[strcspn(line, "\n")] = '\0';
		strcpy(expect[nr++], line + strlen(EXPECT_TAG));
	}
	fclose(f);
	return nr;
}

/*
 * Returns whether @path produced exactly its expected diagnostics, and was
 * rejected (@loads false: tests/spec_bad/) or loaded (tests/spec_warn/).
 */
static bool check_corpus_file(const char *path, bool loads)
{
	char expect[MAX_EXPECT][512], got[1024];
	struct spec_diags d = { 0 };
	struct spec *s = NULL;
	size_t nr = read_expects(path, expect), i;
	bool ok = nr > 0;
	int err;

	err = spec__load(path, &s, &d);
	if (loads && (err || !s)) {
		print_error("%s: spec__load returned %d, want 0 (warnings only)\n", path, err);
		ok = false;
	} else if (!loads && (err != -EINVAL || s)) {
		print_error("%s: spec__load returned %d, want -EINVAL\n", path, err);
		ok = false;
	}
	if (loads && d.nr_errors) {
		print_error("%s: %zu errors, want none\n", path, d.nr_errors);
		ok = false;
	}
	if (d.nr != nr) {
		print_error("%s: %zu diagnostics, want %zu\n", path, d.nr, nr);
		ok = false;
	}
	for (i = 0; i < d.nr || i < nr; i++) {
		if (i < d.nr)
			format_diag(&d.v[i], got, sizeof(got));
		if (i < d.nr && i < nr && !strcmp(got, expect[i]))
			continue;
		print_error("%s:\n  got:  %s\n  want: %s\n", path,
			    i < d.nr ? got : "(none)", i < nr ? expect[i] : "(none)");
		ok = false;
	}
	spec__free(s);
	spec_diags__free(&d);
	return ok;
}

/* Every .yml of @dir against its expect lines; returns how many there were. */
static size_t run_corpus(const char *dir_path, bool loads, size_t *failed)
{
	char path[512];
	struct dirent *e;
	size_t files = 0, len;
	DIR *dir;

	*failed = 0;
	dir = opendir(dir_path);
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".yml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
		files++;
		*failed += !check_corpus_file(path, loads);
	}
	closedir(dir);
	print_message("%s: %zu corpus files, %zu failed\n", dir_path, files, *failed);
	return files;
}

static void test_bad_corpus(void **state)
{
	size_t failed;

	(void)state;
	assert_true(run_corpus(CORPUS_DIR, false, &failed) >= 25);
	assert_int_equal(failed, 0);
}

/* tests/spec_warn/: specs that load, with exactly their warnings. */
static void test_warn_corpus(void **state)
{
	size_t failed;

	(void)state;
	assert_true(run_corpus(WARN_CORPUS_DIR, true, &failed) >= 5);
	assert_int_equal(failed, 0);
}

static void test_io_errors(void **state)
{
	struct spec_diags d = { 0 };
	struct spec *s = (struct spec *)1;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(spec__load("tests/spec_bad/no-such-file.yml", &s, &d), -ENOENT);
	assert_null(s);
	assert_int_equal(d.nr, 1);
	assert_int_equal(d.nr_errors, 1);
	assert_int_equal(d.v[0].mark.line, 0);
	assert_string_equal(d.v[0].msg, "cannot open: No such file or directory");

	assert_int_equal(spec__load("tests", &s, &d), -EISDIR);
	assert_int_equal(d.nr, 2);

	f = open_memstream(&out, &len);
	assert_non_null(f);
	spec_diags__print(&d, "x.yml", f);
	fclose(f);
	assert_string_equal(out, "x.yml: error: cannot open: No such file or directory\n"
				 "x.yml: error: cannot read: Is a directory\n");
	free(out);
	spec_diags__free(&d);
	assert_int_equal(d.nr, 0);
	assert_null(d.v);
}

static void test_print_format(void **state)
{
	static const char y[] = "version: 1\nnamespace: n\ntargets: []\nmetrics: {}\n";
	struct spec_diags d = { 0 };
	struct spec *s;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(spec__load_buf("p.yml", y, strlen(y), &s, &d), -EINVAL);
	f = open_memstream(&out, &len);
	spec_diags__print(&d, "p.yml", f);
	fclose(f);
	assert_string_equal(out,
		"p.yml:3:10: error: targets: must list at least one target\n"
		"p.yml:4:10: error: metrics: expected a list of metrics, got a mapping\n");
	free(out);
	spec_diags__free(&d);
}

/* A warning loads the spec, is no error, and prints as "warning:". */
static void test_print_warning(void **state)
{
	static const char y[] =
		"version: 1\nnamespace: n\ntargets: [{ name: t, pid: 1 }]\nmetrics:\n"
		"  - { name: wait_ms, type: gauge, help: W., unit: ms,\n"
		"      probe: { target: t, usdt: 'p:w', value: { arg: 0 } } }\n";
	struct spec_diags d = { 0 };
	struct spec *s = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(spec__load_buf("w.yml", y, strlen(y), &s, &d), 0);
	assert_non_null(s);
	assert_int_equal(d.nr, 1);
	assert_int_equal(d.nr_errors, 0);
	assert_true(d.v[0].warning);
	f = open_memstream(&out, &len);
	spec_diags__print(&d, "w.yml", f);
	fclose(f);
	assert_string_equal(out,
		"w.yml:5:51: warning: metrics[0].unit: unit \"ms\": promtool check metrics flags names that end in it (metric names should not contain abbreviated units); use seconds, with value: { ..., scale: 0.001 } for a value read in ms\n");
	free(out);
	spec__free(s);
	spec_diags__free(&d);
}

/* Errors are capped; the rest are counted in a last line. */
static void test_diag_cap(void **state)
{
	struct spec_diags d = { 0 };
	struct spec *s;
	size_t len = 0, i;
	char *buf = malloc(64 * 1024);

	(void)state;
	assert_non_null(buf);
	len += sprintf(buf, "version: 1\nnamespace: n\n");
	for (i = 0; i < 250; i++)
		len += sprintf(buf + len, "bad%zu: 1\n", i);
	assert_int_equal(spec__load_buf("cap.yml", buf, len, &s, &d), -EINVAL);
	assert_int_equal(d.nr, SPEC_MAX_DIAGS + 1);
	assert_int_equal(d.v[SPEC_MAX_DIAGS].mark.line, 0);
	/* 250 unknown keys + targets and metrics missing */
	assert_string_equal(d.v[SPEC_MAX_DIAGS].msg, "152 more errors not shown");
	/* the first 100 found are kept, then sorted by position */
	assert_int_equal(d.v[0].mark.line, 3);
	assert_string_equal(d.v[0].msg, "unknown key \"bad0\" (expected version, namespace, global_budget, targets or metrics)");
	assert_int_equal(d.v[SPEC_MAX_DIAGS - 1].mark.line, 102);
	spec_diags__free(&d);
	free(buf);
}

static void expect_rejected(const char *what, const char *buf, size_t len)
{
	struct spec_diags d = { 0 };
	struct spec *s = NULL;
	int err;

	err = spec__load_buf(what, buf, len, &s, &d);
	if (err >= 0 || s || !d.nr)
		print_error("%s: err %d, spec %p, %zu diags\n", what, err, (void *)s, d.nr);
	assert_true(err < 0);
	assert_null(s);
	assert_true(d.nr >= 1);
	assert_true(d.nr <= SPEC_MAX_DIAGS + 1);
	spec_diags__free(&d);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), i;
	char *buf = malloc(hl + ul * n + tl + 1), *p;

	assert_non_null(buf);
	memcpy(buf, head, hl);
	for (i = 0, p = buf + hl; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return buf;
}

static void test_hostile_nesting(void **state)
{
	char *open_, *close_, *buf;

	(void)state;
	open_ = repeat("version: 1\nnamespace: n\nmetrics: ", "[", 200000, "");
	close_ = repeat(open_, "]", 200000, "\n");
	expect_rejected("deep flow", close_, strlen(close_));
	free(open_);
	free(close_);

	buf = repeat("version: 1\nmetrics: ", "{a: ", 50000, "");
	expect_rejected("deep unclosed", buf, strlen(buf));
	free(buf);

	buf = repeat("version: 1\nmetrics:\n", "- ", 100000, "x\n");
	expect_rejected("deep block", buf, strlen(buf));
	free(buf);
}

static void test_hostile_size(void **state)
{
	char *buf;

	(void)state;
	buf = repeat("version: 1\nnamespace: n\n", "k", 900000, ": 1\n");
	expect_rejected("huge key", buf, strlen(buf));
	free(buf);

	buf = repeat("version: 1\nnamespace: n\nmetrics:\n  - help: ", "h", 900000, "\n");
	expect_rejected("huge help", buf, strlen(buf));
	free(buf);

	buf = repeat("version: 1\nnamespace: n\ntargets: [", "1,", 450000, "]\n");
	expect_rejected("wide sequence", buf, strlen(buf));
	free(buf);

	buf = repeat("version: 1\nnamespace: n\nmetrics: [{panels: [{promql: '",
		     "n_x ", 200000, "'}]}]\n");
	expect_rejected("many references", buf, strlen(buf));
	free(buf);

	buf = repeat("", "#", SPEC_MAX_FILE_SIZE + 1, "");
	expect_rejected("over the size limit", buf, strlen(buf));
	free(buf);
}

static void test_hostile_content(void **state)
{
	static const char nul[] = "version: 1\nnamespace: \"a\\0b\"\n\0\0\0";
	static const char cycle[] =
		"version: 1\nnamespace: n\ntargets: &t [*t]\nmetrics: &m [*m, *m]\n";
	static const char bomb[] =
		"version: 1\nnamespace: n\n"
		"a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"targets: *d\nmetrics: [{ labels: *d, buckets: *d, panels: *d, probe: *d }]\n";
	static const char anchors[] =
		"version: 1\nnamespace: n\ntargets: [&x {name: a, pid: 1}]\n"
		"metrics: [{name: a_total, type: counter, help: &h H, probe: {target: a, uprobe: *h}},\n"
		"          {name: *h, type: *h, help: *h, probe: *x}]\n";
	char buf[4096];
	unsigned int seed, i;

	(void)state;
	expect_rejected("nul", nul, sizeof(nul) - 1);
	expect_rejected("cycle", cycle, strlen(cycle));
	expect_rejected("bomb", bomb, strlen(bomb));
	expect_rejected("anchors", anchors, strlen(anchors));
	expect_rejected("empty buffer", "", 0);
	expect_rejected("only a document marker", "---\n", 4);
	expect_rejected("scalar", "hello", 5);
	expect_rejected("utf16 bom", "\xff\xfe\x00", 3);
	for (seed = 1; seed <= 64; seed++) {
		srandom(seed);
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = random() & 0xff;
		expect_rejected("garbage", buf, sizeof(buf));
		/* printable garbage gets further into the parser */
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = "{}[],:- \n\t'\"&*!|>#%@`abc12"[random() % 27];
		expect_rejected("yaml-ish garbage", buf, sizeof(buf));
	}
}

static int collect_ident(const char *id, size_t len, size_t off, void *arg)
{
	char *out = arg;

	sprintf(out + strlen(out), "%.*s@%zu ", (int)len, id, off);
	return 0;
}

static void test_promql_idents(void **state)
{
	char out[512] = "";

	(void)state;
	spec__promql_for_each_ident(
		"sum by (route) (rate(demo_x{a=\"demo_y\",b=~'q\\'z'}[5m:30s])) "
		"/ 1e3 + 0x1f + .5 # demo_z\n+ demo:rule offset 1h30m", collect_ident, out);
	assert_string_equal(out, "sum@0 by@4 route@8 rate@16 demo_x@21 a@28 b@39 "
				 "demo:rule@89 offset@99 ");
}

static void test_durations(void **state)
{
	static const char *const good[] = {
		"10m", "1h30m", "500ms", "0s", "1y2w3d4h5m6s7ms", "90s",
	};
	static const char *const bad[] = {
		"", "10", "m", "1m1h", "10 m", "1.5h", "10mm", "1h1h", "-1m", "1ms5s",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(spec__valid_duration(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(spec__valid_duration(bad[i]));
}

static void test_helpers(void **state)
{
	const char *const *sfx;

	(void)state;
	assert_int_equal(spec_metric_type__suffixes(SPEC_COUNTER, &sfx), 1);
	assert_string_equal(sfx[0], "");
	assert_int_equal(spec_metric_type__suffixes(SPEC_HISTOGRAM, &sfx), 3);
	assert_string_equal(sfx[2], "_sum");
	assert_int_equal(spec_metric_type__suffixes(SPEC_NORMALIZATION, &sfx), 5);
	assert_string_equal(sfx[4], "_samples_total");
	assert_int_equal(spec_metric_type__suffixes(0, &sfx), 0);
	assert_int_equal(spec__edit_distance("hepl", "help"), 2);
	assert_int_equal(spec__edit_distance("", "abc"), 3);
	assert_int_equal(spec__edit_distance("kitten", "sitting"), 3);
	assert_true(spec__valid_ident("_a1"));
	assert_false(spec__valid_ident("1a"));
	assert_false(spec__valid_ident(""));
	assert_string_equal(spec_metric_type__name(0), "unknown");
}

struct name_case {
	const char *name;
	enum spec_metric_type type;
	const char *unit;
	const char *msg;	/* NULL: the name keeps the rules */
};

static void test_name_metric(void **state)
{
	static const struct name_case cases[] = {
		{ "requests_total", SPEC_COUNTER, NULL, NULL },
		{ "total", SPEC_COUNTER, NULL, NULL },	/* <namespace>_total */
		{ "requests", SPEC_COUNTER, NULL,
		  "counter name \"requests\" must end in \"_total\"" },
		{ "depth", SPEC_GAUGE, NULL, NULL },
		{ "depth_total", SPEC_GAUGE, NULL,
		  "gauge name \"depth_total\" must not end in \"_total\" (only counters do)" },
		{ "x_total", SPEC_NORMALIZATION, NULL,
		  "normalization name \"x_total\" must not end in \"_total\" (only counters do)" },
		{ "x_events", SPEC_NORMALIZATION, NULL, NULL },
		{ "lat_bucket", SPEC_HISTOGRAM, NULL,
		  "histogram name \"lat_bucket\" must not end in \"_bucket\" (histograms export _bucket, _count and _sum series)" },
		{ "sum", SPEC_HISTOGRAM, NULL,
		  "histogram name \"sum\" must not end in \"_sum\" (histograms export _bucket, _count and _sum series)" },
		{ "lat_bucket", SPEC_GAUGE, NULL, NULL },
		{ "lat_us", SPEC_HISTOGRAM, "us", NULL },
		{ "us", SPEC_HISTOGRAM, "us", NULL },
		{ "lat", SPEC_HISTOGRAM, "us",
		  "name \"lat\" must end in \"_us\" to match its unit" },
		{ "busy_seconds_total", SPEC_COUNTER, "seconds", NULL },
		{ "busy_total", SPEC_COUNTER, "seconds",
		  "name \"busy_total\" must end in \"_seconds_total\" to match its unit" },
		{ "a:b", SPEC_GAUGE, NULL,
		  "invalid metric name \"a:b\" (':' is reserved for recording rules)" },
		{ "a-b", 0, NULL,
		  "invalid metric name \"a-b\" (the full name <namespace>_<name> must match [a-zA-Z_][a-zA-Z0-9_]*)" },
		{ "9lives", 0, NULL, NULL },	/* after "<namespace>_" */
		{ "anything", 0, "us", NULL },	/* type unknown: characters only */
	};
	char msg[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct name_case *t = &cases[i];
		bool ok;

		strcpy(msg, "(untouched)");
		ok = spec_name__check_metric(t->name, t->type, t->unit, msg, sizeof(msg));
		if (!t->msg) {
			if (!ok)
				fail_msg("%s: broke a rule: %s", t->name, msg);
			assert_string_equal(msg, "(untouched)");
			continue;
		}
		assert_false(ok);
		assert_string_equal(msg, t->msg);
	}
}

static void test_name_label(void **state)
{
	char msg[512];

	(void)state;
	assert_true(spec_name__check_label("route", SPEC_COUNTER, msg, sizeof(msg)));
	assert_true(spec_name__check_label("le", SPEC_GAUGE, msg, sizeof(msg)));
	assert_false(spec_name__check_label("le", SPEC_HISTOGRAM, msg, sizeof(msg)));
	assert_string_equal(msg, "label name \"le\" is reserved for histogram bucket bounds");
	assert_false(spec_name__check_label("quantile", SPEC_GAUGE, msg, sizeof(msg)));
	assert_string_equal(msg, "label name \"quantile\" is reserved for summary quantiles");
	assert_false(spec_name__check_label("__name__", SPEC_GAUGE, msg, sizeof(msg)));
	assert_string_equal(msg,
			    "invalid label name \"__name__\" (names starting with \"__\" are reserved)");
	assert_false(spec_name__check_label("1a", SPEC_GAUGE, msg, sizeof(msg)));
	assert_string_equal(msg, "invalid label name \"1a\" (must match [a-zA-Z_][a-zA-Z0-9_]*)");
}

static void test_name_namespace(void **state)
{
	char msg[512];

	(void)state;
	assert_true(spec_name__check_namespace("demo", msg, sizeof(msg)));
	assert_true(spec_name__check_namespace("emitd2", msg, sizeof(msg)));
	assert_false(spec_name__check_namespace("emitd", msg, sizeof(msg)));
	assert_string_equal(msg, "namespace \"emitd\" is reserved for emitd's own metrics");
	assert_false(spec_name__check_namespace("my-app", msg, sizeof(msg)));
	assert_string_equal(msg,
			    "invalid namespace \"my-app\" (must match [a-zA-Z_][a-zA-Z0-9_]*)");
}

static void test_name_chars(void **state)
{
	(void)state;
	assert_true(spec__valid_metric_name("9_a_B"));
	assert_false(spec__valid_metric_name(""));
	assert_false(spec__valid_metric_name("a.b"));
	assert_true(spec__valid_unit("us"));
	assert_true(spec__valid_unit("bytes_2"));
	assert_false(spec__valid_unit("Us"));
	assert_false(spec__valid_unit("_us"));
	assert_false(spec__valid_unit("2us"));
	assert_true(spec__valid_family("http-2_x"));
	assert_false(spec__valid_family("Http"));
	assert_true(spec__valid_target_name("demo-target.1_A"));
	assert_false(spec__valid_target_name("demo target"));
	assert_true(spec__valid_alert_name("DemoNoRequests_2"));
	assert_false(spec__valid_alert_name("_Demo"));
	assert_false(spec__valid_alert_name("1Demo"));
}

static void test_metric_types(void **state)
{
	struct spec s = { .namespace_ = "demo" };
	struct spec_metric m = { .name = "x_total" };
	enum spec_metric_type t;
	char *full;

	(void)state;
	for (t = SPEC_COUNTER; t <= SPEC_NORMALIZATION; t++)
		assert_int_equal(spec_metric_type__parse(spec_metric_type__name(t)), t);
	assert_string_equal(spec_metric_type__name(SPEC_HISTOGRAM), "histogram");
	assert_int_equal(spec_metric_type__parse("Counter"), 0);
	assert_int_equal(spec_metric_type__parse("unknown"), 0);
	full = spec_metric__full_name(&s, &m);
	assert_string_equal(full, "demo_x_total");
	free(full);
}

/* An OpenMetrics counter family is named without _total: "x" is taken. */
static void test_counter_family_collision(void **state)
{
	static const char yml[] =
		"version: 1\n"
		"namespace: t\n"
		"targets: [{ name: t, pid: 1 }]\n"
		"metrics:\n"
		"  - { name: x_total, type: counter, help: X., probe: { target: t, uprobe: f } }\n"
		"  - { name: x, type: gauge, help: X., probe: { target: t, uprobe: g, value: { arg: 0 } } }\n";
	struct spec_diags d = { 0 };
	char got[512];
	struct spec *s;

	(void)state;
	assert_int_equal(spec__load_buf("c.yml", yml, strlen(yml), &s, &d), -EINVAL);
	assert_int_equal(d.nr, 1);
	format_diag(&d.v[0], got, sizeof(got));
	assert_string_equal(got, "6:13: metrics[1].name: name \"t_x\" collides with a name reserved by metrics[0] (counter \"x_total\")");
	spec_diags__free(&d);
}

/* A second load appends to the same diags and is judged on its own. */
static void test_diags_accumulate(void **state)
{
	struct spec_diags d = { 0 };
	struct spec *s;

	(void)state;
	assert_int_equal(spec__load_buf("a", "x: 1\n", 5, &s, &d), -EINVAL);
	assert_int_equal(d.nr, 5);
	assert_int_equal(spec__load_buf("b", demo_yml, strlen(demo_yml), &s, &d), 0);
	assert_int_equal(d.nr, 5);
	spec__free(s);
	spec_diags__free(&d);
}

/*
 * spec/hash: the digest is SHA-256 (FIPS 180-2 test vector "abc"), the hash
 * is that of the canonical form, a value changes it, and the canonical form
 * names the enums as the catalog does.
 */
static void test_hash(void **state)
{
	static const char abc[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	struct spec_diags d = {};
	struct spec *a = NULL, *b = NULL;
	char hex[SPEC_SHA256_HEX], ha[SPEC_SHA256_HEX], hb[SPEC_SHA256_HEX];
	char *canon, *edited;

	(void)state;
	assert_int_equal(spec__sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex, abc);
	assert_int_equal(spec__load_buf("a.yml", demo_yml, strlen(demo_yml), &a, &d), 0);
	canon = spec__canonical(a);
	assert_non_null(canon);
	assert_non_null(strstr(canon, "\"kind\":\"string\""));
	assert_non_null(strstr(canon, "\"kind\":\"explicit\""));
	/* the latency's scale, and no other source has one */
	assert_non_null(strstr(canon, "\"scale\":"));
	assert_null(strstr(strstr(canon, "\"scale\":") + 1, "\"scale\":"));
	assert_int_equal(spec__sha256_hex(canon, strlen(canon), hex), 0);
	assert_int_equal(spec__hash(a, ha), 0);
	assert_string_equal(ha, hex);
	assert_int_equal(strlen(ha), 64);
	edited = strdup(demo_yml);
	assert_non_null(edited);
	memcpy(strstr(edited, "budget: 64"), "budget: 65", 10);
	assert_int_equal(spec__load_buf("b.yml", edited, strlen(edited), &b, &d), 0);
	assert_int_equal(spec__hash(b, hb), 0);
	assert_string_not_equal(ha, hb);
	assert_string_equal(spec_src_kind__name(SPEC_SRC_DEREF), "deref");
	assert_string_equal(spec_val_type__name(SPEC_VAL_F64), "f64");
	assert_string_equal(spec_bucket_kind__name(SPEC_BUCKETS_LINEAR), "linear");
	assert_string_equal(spec_bucket_kind__name(99), "?");
	free(edited);
	free(canon);
	spec__free(b);
	spec__free(a);
	spec_diags__free(&d);
}

/* A gauge whose value has the scale @scale ("" for none). */
static void scaled_gauge_hash(const char *scale, char hex[SPEC_SHA256_HEX])
{
	char buf[512];
	struct spec_diags d = {};
	struct spec *s = NULL;

	snprintf(buf, sizeof(buf),
		 "version: 1\n"
		 "namespace: t\n"
		 "targets: [{ name: t, pid: 1 }]\n"
		 "metrics:\n"
		 "  - { name: g_seconds, type: gauge, help: G., unit: seconds,\n"
		 "      probe: { target: t, usdt: 'p:g', value: { arg: 0%s } } }\n", scale);
	assert_int_equal(spec__load_buf("g.yml", buf, strlen(buf), &s, &d), 0);
	assert_int_equal(d.nr, 0);
	assert_int_equal(spec__hash(s, hex), 0);
	spec__free(s);
	spec_diags__free(&d);
}

/* The scale is part of the canonical form; scale: 1 (none) hashes as before it. */
static void test_hash_scale(void **state)
{
	char none[SPEC_SHA256_HEX], one[SPEC_SHA256_HEX], milli[SPEC_SHA256_HEX];
	char micro[SPEC_SHA256_HEX];

	(void)state;
	scaled_gauge_hash("", none);
	scaled_gauge_hash(", scale: 1", one);
	scaled_gauge_hash(", scale: 0.001", milli);
	scaled_gauge_hash(", scale: 1e-6", micro);
	assert_string_equal(none, one);
	assert_string_not_equal(none, milli);
	assert_string_not_equal(milli, micro);
}

/* Warm values: strings as written, integers in decimal, their product, the hash. */
static void test_warm_values(void **state)
{
	static const char yml[] =
		"version: 1\n"
		"namespace: w\n"
		"targets: [{ name: t, pid: 1 }]\n"
		"metrics:\n"
		"  - name: hits_total\n"
		"    type: counter\n"
		"    help: Hits.\n"
		"    labels: [route, code]\n"
		"    budget: 7\n"
		"    probe:\n"
		"      target: t\n"
		"      uprobe: hit\n"
		"      labels:\n"
		"        route: { values: [/api/users, '/api/xxxxxxxxxxxxxxxxxxxxxxxxxx'], arg: 0, as: string }\n"
		"        code: { arg: 1, values: [200, 0x1f4, -1] }\n"
		"  - name: other_total\n"
		"    type: counter\n"
		"    help: Other.\n"
		"    labels: [route]\n"
		"    probe: { target: t, uprobe: other, labels: { route: { arg: 0, as: string } } }\n";
	struct spec_diags d = {};
	struct spec *spec = NULL;
	const struct spec_label *l;
	char *canon;

	(void)state;
	if (spec__load_buf("warm.yml", yml, strlen(yml), &spec, &d))
		spec_diags__print(&d, "warm.yml", stderr);
	assert_non_null(spec);
	l = spec->metrics[0].labels;
	assert_int_equal(l[0].nr_values, 2);
	assert_string_equal(l[0].values[0], "/api/users");
	assert_int_equal(strlen(l[0].values[1]), SPEC_MAX_LABEL_BYTES);	/* 31 bytes fit */
	assert_int_equal(l[1].nr_values, 3);
	assert_string_equal(l[1].values[0], "200");
	assert_string_equal(l[1].values[1], "500");	/* in decimal */
	assert_string_equal(l[1].values[2], "-1");
	assert_int_equal(l[0].values_mark.line, 14);
	assert_int_equal(spec_metric__nr_warm(&spec->metrics[0]), 6);	/* budget 7 - 1 */
	assert_int_equal(spec_metric__nr_warm(&spec->metrics[1]), 0);
	/* in the canonical form (the hash), only where a label lists them */
	canon = spec__canonical(spec);
	assert_non_null(strstr(canon, "\"values\":[\"/api/users\","));
	assert_non_null(strstr(canon, "\"values\":[\"200\",\"500\",\"-1\"]"));
	assert_null(strstr(strstr(canon, "\"other_total\""), "\"values\""));
	free(canon);
	spec__free(spec);
	spec_diags__free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_spec),
		cmocka_unit_test(test_demo_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_deref_offset),
		cmocka_unit_test(test_task_sources_and_filters),
		cmocka_unit_test(test_hash_filters),
		cmocka_unit_test(test_usdt_dash_spelling),
		cmocka_unit_test(test_exp2_bounds),
		cmocka_unit_test(test_linear_bounds),
		cmocka_unit_test(test_explicit_bounds),
		cmocka_unit_test(test_bad_corpus),
		cmocka_unit_test(test_warn_corpus),
		cmocka_unit_test(test_io_errors),
		cmocka_unit_test(test_print_format),
		cmocka_unit_test(test_print_warning),
		cmocka_unit_test(test_diag_cap),
		cmocka_unit_test(test_hostile_nesting),
		cmocka_unit_test(test_hostile_size),
		cmocka_unit_test(test_hostile_content),
		cmocka_unit_test(test_promql_idents),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_diags_accumulate),
		cmocka_unit_test(test_name_metric),
		cmocka_unit_test(test_name_label),
		cmocka_unit_test(test_name_namespace),
		cmocka_unit_test(test_name_chars),
		cmocka_unit_test(test_metric_types),
		cmocka_unit_test(test_counter_family_collision),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_hash_scale),
		cmocka_unit_test(test_warm_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
