// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * families: the store's metrics as exposition families (one per counter,
 * gauge and histogram, five per normalization), the agent's own families
 * (add_simple, add_value, add_labelled, add_histogram: everything copied),
 * and the builder's bookkeeping: every allocation is tracked and freed by
 * fam_builder__free() (the sanitizer build's leak check holds it to that),
 * and an error is sticky.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/families.h"
#include "agent/store.h"
#include "emitd.h"
#include "lib/expo.h"
#include "spec/spec.h"

enum { M_HITS, M_DEPTH, M_LATENCY, M_RATIO, M_NORM, NR_M };

static const char spec_yml[] =
	"version: 1\n"
	"namespace: t\n"
	"targets:\n"
	"  - { name: app, binary: /usr/bin/app }\n"
	"metrics:\n"
	"  - name: hits_total\n"
	"    type: counter\n"
	"    help: Hits, by route.\n"
	"    labels: [route]\n"
	"    probe: { target: app, uprobe: hit, labels: { route: { arg: 0, as: string } } }\n"
	"  - name: depth\n"
	"    type: gauge\n"
	"    help: Queue depth.\n"
	"    probe: { target: app, uprobe: depth, value: { arg: 0 } }\n"
	"  - name: latency_us\n"
	"    type: histogram\n"
	"    help: Latency.\n"
	"    unit: us\n"
	"    probe: { target: app, uprobe: done, value: { arg: 0 } }\n"
	"    buckets: [1, 10, 100]\n"
	"  - name: ratio\n"
	"    type: histogram\n"
	"    help: Ratio.\n"
	"    probe: { target: app, uprobe: ratio, value: { arg: 0, deref: f64 } }\n"
	"    buckets: [0.5, 1]\n"
	"  - name: norm\n"
	"    type: normalization\n"
	"    help: Renormalizations\n"
	"    labels: [context]\n"
	"    probe: { target: app, uprobe: clean, before: { arg: 0, deref: f64 },\n"
	"             after: { arg: 1, deref: f64 }, labels: { context: { arg: 2, as: string } } }\n";

struct fixture {
	struct spec *spec;
	struct store st;
	char msg[256];
	struct fam_builder fb;
};

static int setup(void **state)
{
	struct spec_diags d = {};
	struct fixture *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return -1;
	err = spec__load_buf("fam.yml", spec_yml, strlen(spec_yml), &f->spec, &d);
	if (err)
		spec_diags__print(&d, "fam.yml", stderr);
	spec_diags__free(&d);
	if (err || store__init(&f->st, f->spec, f->msg, sizeof(f->msg))) {
		spec__free(f->spec);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fam_builder__free(&f->fb);
	store__free(&f->st);
	spec__free(f->spec);
	free(f);
	return 0;
}

static struct series *series_of(struct fixture *f, int metric, const char *label)
{
	struct emitd_series_key k;

	memset(&k, 0, sizeof(k));
	k.metric_id = f->st.metrics[metric].id;
	if (label)
		strncpy(k.labels[0].str, label, EMITD_LABEL_LEN - 1);
	return store__series(&f->st, &k);
}

static const struct expo_family *find(const struct fam_builder *fb, const char *name)
{
	size_t i;

	for (i = 0; i < fb->nr_fams; i++)
		if (!strcmp(fb->fams[i].name, name))
			return &fb->fams[i];
	fail_msg("no family %s", name);
	return NULL;
}

/* The 0.0.4 text of @fb's families. */
static char *render(const struct fam_builder *fb)
{
	struct expo_buf b = {};
	char *s;

	assert_int_equal(expo__render(&b, fb->fams, fb->nr_fams, EXPO_FMT_TEXT_004), 0);
	s = strndup(b.data, b.len);
	expo_buf__free(&b);
	assert_non_null(s);
	return s;
}

static void test_add_store_one_family_per_metric(void **state)
{
	struct fixture *f = *state;

	fam_builder__add_store(&f->fb, &f->st);
	assert_int_equal(f->fb.err, 0);
	/* counter, gauge, two histograms, and five for the normalization */
	assert_int_equal(f->fb.nr_fams, 4 + 5);
	assert_string_equal(f->fb.fams[0].name, "t_hits_total");
	assert_string_equal(f->fb.fams[1].name, "t_depth");
	assert_string_equal(f->fb.fams[2].name, "t_latency_us");
	assert_string_equal(f->fb.fams[3].name, "t_ratio");
	assert_string_equal(f->fb.fams[4].name, "t_norm_events_total");
}

static void test_add_store_counter(void **state)
{
	struct fixture *f = *state;
	struct emitd_counter v = { 7 };
	const struct expo_family *fam;
	struct series *s;
	char *text;

	s = series_of(f, M_HITS, "/b");
	assert_non_null(s);
	store__apply_counter(s, &v, 1);
	s = series_of(f, M_HITS, "/a");
	assert_non_null(s);
	v.value = 3;
	store__apply_counter(s, &v, 1);
	store__sort(&f->st);
	fam_builder__add_store(&f->fb, &f->st);
	fam = find(&f->fb, "t_hits_total");
	assert_int_equal(fam->type, EXPO_COUNTER);
	assert_string_equal(fam->help, "Hits, by route.");
	assert_int_equal(fam->nr_labels, 1);
	assert_string_equal(fam->label_names[0], "route");
	assert_int_equal(fam->nr_series, 2);
	assert_string_equal(fam->series[0].label_values[0], "/a");	/* the store's order */
	assert_int_equal(fam->series[0].count, 3);
	assert_int_equal(fam->series[1].count, 7);
	text = render(&f->fb);
	assert_non_null(strstr(text, "# HELP t_hits_total Hits, by route.\n"
				     "# TYPE t_hits_total counter\n"
				     "t_hits_total{route=\"/a\"} 3\n"
				     "t_hits_total{route=\"/b\"} 7\n"));
	free(text);
}

static void test_add_store_gauge(void **state)
{
	struct fixture *f = *state;
	struct emitd_gauge g = { .raw = (uint64_t)-2, .ktime_ns = 1, .updates = 1 };
	const struct expo_family *fam;
	struct series *s = series_of(f, M_DEPTH, NULL);

	assert_non_null(s);
	store__apply_gauge(s, &g, 1);
	fam_builder__add_store(&f->fb, &f->st);
	fam = find(&f->fb, "t_depth");
	assert_int_equal(fam->type, EXPO_GAUGE);
	assert_int_equal(fam->nr_labels, 0);
	assert_int_equal(fam->nr_series, 1);
	assert_float_equal(fam->series[0].value, -2, 0);
}

static void test_add_store_histograms(void **state)
{
	struct fixture *f = *state;
	struct emitd_hist *h = calloc(1, sizeof(*h));
	struct emitd_sample smp = { .v1 = 0 };
	const struct expo_family *fam;
	struct series *s;
	double half = 0.75;

	assert_non_null(h);
	h->count = 3;
	h->sum = 120;
	h->slots[1] = 2;
	h->slots[3] = 1;
	s = series_of(f, M_LATENCY, NULL);
	assert_non_null(s);
	store__apply_hist(s, h, 1);
	s = series_of(f, M_RATIO, NULL);
	assert_non_null(s);
	h->sum = 0;
	store__apply_hist(s, h, 1);
	memcpy(&smp.v1, &half, sizeof(half));
	store__add_sample(&f->st.metrics[M_RATIO], s, &smp);
	fam_builder__add_store(&f->fb, &f->st);

	/* integer values: the exact integer sum */
	fam = find(&f->fb, "t_latency_us");
	assert_int_equal(fam->type, EXPO_HISTOGRAM);
	assert_string_equal(fam->unit, "us");
	assert_int_equal(fam->nr_bounds, 3);
	assert_float_equal(fam->bounds[2], 100, 0);
	assert_int_equal(fam->series[0].count, 3);
	assert_true(fam->series[0].sum_is_int);
	assert_int_equal(fam->series[0].isum, 120);
	assert_int_equal(fam->series[0].buckets[1], 2);
	assert_int_equal(fam->series[0].buckets[3], 1);
	/* f64 values: the sum from the sample lane */
	fam = find(&f->fb, "t_ratio");
	assert_false(fam->series[0].sum_is_int);
	assert_float_equal(fam->series[0].sum, 0.75, 0);
	free(h);
}

static const char scaled_yml[] =
	"version: 1\n"
	"namespace: s\n"
	"targets:\n"
	"  - { name: app, binary: /usr/bin/app }\n"
	"metrics:\n"
	"  - name: busy_seconds_total\n"
	"    type: counter\n"
	"    help: Busy time (the probe adds microseconds).\n"
	"    unit: seconds\n"
	"    probe: { target: app, uprobe: busy, value: { arg: 0, as: u64, scale: 1e-6 } }\n"
	"  - name: age_seconds\n"
	"    type: gauge\n"
	"    help: Age (the probe reads milliseconds).\n"
	"    unit: seconds\n"
	"    probe: { target: app, uprobe: age, value: { arg: 0, scale: 0.001 } }\n"
	"  - name: latency_seconds\n"
	"    type: histogram\n"
	"    help: Latency (the probe reads microseconds).\n"
	"    unit: seconds\n"
	"    probe: { target: app, uprobe: done, value: { arg: 0, scale: 1e-6 } }\n"
	"    buckets: [0.000001, 0.00001, 0.0001]\n"
	"  - name: size_bytes\n"
	"    type: histogram\n"
	"    help: Size (the probe reads kibibytes, as doubles).\n"
	"    unit: bytes\n"
	"    probe: { target: app, uprobe: size, value: { arg: 0, deref: f64, scale: 1024 } }\n"
	"    buckets: [1024, 4096]\n";

/*
 * A value with a scale is exported scaled: a counter as a float (the count
 * over 1e6: 1500 us is 0.0015), a gauge, a histogram's _sum; the buckets
 * and _count as the kernel counted them, `le` as the spec writes it.
 */
static void test_add_store_scaled(void **state)
{
	struct spec_diags d = {};
	struct fam_builder fb = {};
	struct emitd_counter c = { 1500 };
	struct emitd_gauge g = { .raw = 2500, .ktime_ns = 1, .updates = 1 };
	struct emitd_hist *h = calloc(1, sizeof(*h));
	struct emitd_sample smp = {};
	const struct expo_family *fam;
	struct spec *spec = NULL;
	struct store st = {};
	struct emitd_series_key k;
	struct series *s[4];
	double kib = 3.5;
	char msg[128], *text;
	int i;

	(void)state;
	assert_non_null(h);
	assert_int_equal(spec__load_buf("scaled.yml", scaled_yml, strlen(scaled_yml), &spec, &d), 0);
	assert_int_equal(d.nr, 0);
	assert_int_equal(store__init(&st, spec, msg, sizeof(msg)), 0);
	for (i = 0; i < 4; i++) {
		memset(&k, 0, sizeof(k));
		k.metric_id = st.metrics[i].id;
		s[i] = store__series(&st, &k);
		assert_non_null(s[i]);
	}
	store__apply_counter(s[0], &c, 1);
	store__apply_gauge(s[1], &g, 1);
	h->count = 3;
	h->sum = 1234567;		/* microseconds */
	h->slots[0] = 1;
	h->slots[3] = 2;
	store__apply_hist(s[2], h, 1);
	h->sum = 0;
	store__apply_hist(s[3], h, 1);
	memcpy(&smp.v1, &kib, sizeof(kib));
	store__add_sample(&st.metrics[3], s[3], &smp);
	assert_true(store_metric__value(&st.metrics[3], smp.v1) == 3584);
	assert_true(store_metric__value(&st.metrics[2], 1500) == 0.0015);
	fam_builder__add_store(&fb, &st);
	assert_int_equal(fb.err, 0);

	fam = find(&fb, "s_busy_seconds_total");
	assert_true(fam->series[0].value_is_float);
	assert_true(fam->series[0].value == 0.0015);
	assert_true(find(&fb, "s_age_seconds")->series[0].value == 2.5);
	fam = find(&fb, "s_latency_seconds");
	assert_false(fam->series[0].sum_is_int);
	assert_true(fam->series[0].sum == 1.234567);
	assert_true(fam->bounds[0] == 0.000001);
	assert_true(find(&fb, "s_size_bytes")->series[0].sum == 3584);
	text = render(&fb);
	assert_non_null(strstr(text, "s_busy_seconds_total 0.0015\n"));
	assert_non_null(strstr(text, "s_age_seconds 2.5\n"));
	assert_non_null(strstr(text,
		"s_latency_seconds_bucket{le=\"1e-06\"} 1\n"
		"s_latency_seconds_bucket{le=\"1e-05\"} 1\n"
		"s_latency_seconds_bucket{le=\"0.0001\"} 1\n"
		"s_latency_seconds_bucket{le=\"+Inf\"} 3\n"
		"s_latency_seconds_sum 1.234567\n"
		"s_latency_seconds_count 3\n"));
	free(text);
	fam_builder__free(&fb);
	store__free(&st);
	spec__free(spec);
	spec_diags__free(&d);
	free(h);
}

static void test_add_store_normalization(void **state)
{
	static const char *const names[] = {
		"t_norm_events_total", "t_norm_zeroed_total", "t_norm_before_abs_mean",
		"t_norm_after_abs_mean", "t_norm_samples_total",
	};
	struct fixture *f = *state;
	struct emitd_norm n = { .events = 9, .zeroed = 4 };
	const struct expo_family *fam;
	struct emitd_sample smp = {};
	struct series *s, *quiet;
	double before = -3, after = 1;
	size_t i;

	s = series_of(f, M_NORM, "credit");
	quiet = series_of(f, M_NORM, "quiet");
	assert_non_null(s);
	assert_non_null(quiet);
	store__apply_norm(s, &n, 1);
	memcpy(&smp.v1, &before, sizeof(before));
	memcpy(&smp.v2, &after, sizeof(after));
	store__add_sample(&f->st.metrics[M_NORM], s, &smp);
	before = 1;
	after = 0;
	memcpy(&smp.v1, &before, sizeof(before));
	memcpy(&smp.v2, &after, sizeof(after));
	store__add_sample(&f->st.metrics[M_NORM], s, &smp);
	store__sort(&f->st);
	fam_builder__add_store(&f->fb, &f->st);
	for (i = 0; i < 5; i++) {
		fam = find(&f->fb, names[i]);
		assert_int_equal(fam->nr_labels, 1);
		assert_string_equal(fam->label_names[0], "context");
		assert_int_equal(fam->nr_series, 2);
		assert_string_equal(fam->series[0].label_values[0], "credit");
	}
	fam = find(&f->fb, "t_norm_events_total");
	assert_int_equal(fam->type, EXPO_COUNTER);
	assert_string_equal(fam->help, "Renormalizations: Normalization events.");
	assert_int_equal(fam->series[0].count, 9);
	assert_int_equal(find(&f->fb, "t_norm_zeroed_total")->series[0].count, 4);
	fam = find(&f->fb, "t_norm_before_abs_mean");
	assert_int_equal(fam->type, EXPO_GAUGE);
	assert_float_equal(fam->series[0].value, 2, 0);	/* (|-3| + |1|) / 2 */
	assert_true(isnan(fam->series[1].value));	/* no samples: no mean */
	assert_float_equal(find(&f->fb, "t_norm_after_abs_mean")->series[0].value, 0.5, 0);
	assert_int_equal(find(&f->fb, "t_norm_samples_total")->series[0].count, 2);
}

static void test_add_value(void **state)
{
	struct fixture *f = *state;
	char name[] = "emitd_x_total", help[] = "An x.";
	const struct expo_family *fam;

	fam_builder__add_value(&f->fb, name, help, EXPO_COUNTER, 42);
	name[0] = help[0] = '?';			/* the family has its own copies */
	assert_int_equal(f->fb.err, 0);
	assert_int_equal(f->fb.nr_fams, 1);
	fam = &f->fb.fams[0];
	assert_string_equal(fam->name, "emitd_x_total");
	assert_string_equal(fam->help, "An x.");
	assert_int_equal(fam->type, EXPO_COUNTER);
	assert_int_equal(fam->nr_labels, 0);
	assert_int_equal(fam->nr_series, 1);
	assert_int_equal(fam->series[0].count, 42);	/* counters: exact integers */
	assert_float_equal(fam->series[0].value, 42, 0);
}

static void test_add_simple(void **state)
{
	struct fixture *f = *state;
	char a[] = "a", b[] = "b";
	const char *lv[] = { a, b };
	const double v[] = { 1.5, -1 };
	const struct expo_family *fam;

	fam_builder__add_simple(&f->fb, "emitd_y", "A y.", EXPO_GAUGE, "lane", lv, v, 2);
	a[0] = b[0] = '?';
	fam = &f->fb.fams[0];
	assert_int_equal(fam->nr_labels, 1);
	assert_string_equal(fam->label_names[0], "lane");
	assert_int_equal(fam->nr_series, 2);
	assert_string_equal(fam->series[0].label_values[0], "a");
	assert_string_equal(fam->series[1].label_values[0], "b");
	assert_float_equal(fam->series[0].value, 1.5, 0);
	assert_int_equal(fam->series[1].count, 0);	/* negative: no count */
}

static void test_add_labelled(void **state)
{
	struct fixture *f = *state;
	const char *names[] = { "metric", "quantile" };
	const char *lv[] = { "m1", "0.5", "m1", "0.99", "m2", "0.5" };
	const double v[] = { 0.1, 0.2, 0.3 };
	const struct expo_family *fam;
	char *text;

	fam_builder__add_labelled(&f->fb, "emitd_z", "A z.", EXPO_GAUGE, names, 2, lv, v, 3);
	fam = &f->fb.fams[0];
	assert_int_equal(fam->nr_labels, 2);
	assert_string_equal(fam->label_names[1], "quantile");
	assert_int_equal(fam->nr_series, 3);
	assert_string_equal(fam->series[1].label_values[0], "m1");	/* row-major */
	assert_string_equal(fam->series[1].label_values[1], "0.99");
	assert_string_equal(fam->series[2].label_values[0], "m2");
	assert_float_equal(fam->series[2].value, 0.3, 0);
	text = render(&f->fb);
	assert_non_null(strstr(text, "emitd_z{metric=\"m1\",quantile=\"0.99\"} 0.2\n"));
	free(text);

	/* no series at all: a family with metadata only */
	fam_builder__add_labelled(&f->fb, "emitd_empty", "Empty.", EXPO_GAUGE, names, 2,
				  NULL, NULL, 0);
	assert_int_equal(f->fb.err, 0);
	assert_int_equal(f->fb.fams[1].nr_series, 0);
}

static void test_add_histogram_copies(void **state)
{
	struct fixture *f = *state;
	double bounds[] = { 0.1, 1 };
	uint64_t buckets[] = { 2, 3, 1 };
	const struct expo_family *fam;
	char *text;

	fam_builder__add_histogram(&f->fb, "emitd_h_seconds", "An h.", bounds, 2, buckets, 6,
				   2.5);
	bounds[0] = 7;
	buckets[0] = 99;
	fam = &f->fb.fams[0];
	assert_int_equal(fam->type, EXPO_HISTOGRAM);
	assert_int_equal(fam->nr_bounds, 2);
	assert_float_equal(fam->bounds[0], 0.1, 0);
	assert_int_equal(fam->nr_series, 1);
	assert_int_equal(fam->series[0].buckets[0], 2);
	assert_int_equal(fam->series[0].buckets[2], 1);
	assert_float_equal(fam->series[0].sum, 2.5, 0);
	text = render(&f->fb);
	assert_non_null(strstr(text, "emitd_h_seconds_bucket{le=\"0.1\"} 2\n"
				     "emitd_h_seconds_bucket{le=\"1.0\"} 5\n"
				     "emitd_h_seconds_bucket{le=\"+Inf\"} 6\n"
				     "emitd_h_seconds_sum 2.5\n"
				     "emitd_h_seconds_count 6\n"));
	free(text);
}

static void test_free_releases_everything(void **state)
{
	struct fixture *f = *state;
	const double v = 1;
	size_t i;

	for (i = 0; i < 100; i++)			/* past the first growth of both arrays */
		fam_builder__add_value(&f->fb, "emitd_v", "V.", EXPO_GAUGE, v);
	assert_int_equal(f->fb.err, 0);
	assert_int_equal(f->fb.nr_fams, 100);
	assert_true(f->fb.cap_fams >= 100);
	assert_true(f->fb.nr_allocs >= 100 * 2);	/* name and help copies at least */
	assert_true(f->fb.cap_allocs >= f->fb.nr_allocs);
	fam_builder__free(&f->fb);
	assert_null(f->fb.fams);
	assert_null(f->fb.allocs);
	assert_int_equal(f->fb.nr_fams, 0);
	assert_int_equal(f->fb.nr_allocs, 0);
	assert_int_equal(f->fb.cap_allocs, 0);
	fam_builder__free(&f->fb);			/* twice is harmless */
}

static void test_error_is_sticky(void **state)
{
	struct fixture *f = *state;

	fam_builder__add_value(&f->fb, "emitd_a", "A.", EXPO_GAUGE, 1);
	f->fb.err = -ENOMEM;				/* as after a failed allocation */
	fam_builder__add_value(&f->fb, "emitd_b", "B.", EXPO_GAUGE, 2);
	fam_builder__add_store(&f->fb, &f->st);
	assert_int_equal(f->fb.err, -ENOMEM);
	assert_int_equal(f->fb.nr_fams, 1);		/* nothing added after the error */
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_add_store_one_family_per_metric),
		T(test_add_store_counter),
		T(test_add_store_gauge),
		T(test_add_store_histograms),
		cmocka_unit_test(test_add_store_scaled),
		T(test_add_store_normalization),
		T(test_add_value),
		T(test_add_simple),
		T(test_add_labelled),
		T(test_add_histogram_copies),
		T(test_free_releases_everything),
		T(test_error_is_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
