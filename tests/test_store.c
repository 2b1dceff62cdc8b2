// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * store: metrics from a spec, series found or created by key, their label
 * values (strings, integers, the overflow series' EMITD_OTHER_VALUE), the
 * sort for a stable exposition, and the setters a drain and the sample lane
 * go through.
 *
 * Any UBSan report fails this binary (see __ubsan_default_options below),
 * in the sanitizer build too, where reports are otherwise only printed.
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

#include "agent/store.h"
#include "emitd.h"
#include "lib/metric_id.h"
#include "spec/hash.h"
#include "spec/spec.h"

/* Read by the UBSan runtime when the binary is built with -fsanitize=undefined. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

enum { M_HITS, M_DEPTH, M_TEMP, M_LATENCY, M_NORM, M_QUIET, NR_M };

static const char spec_yml[] =
	"version: 1\n"
	"namespace: t\n"
	"targets:\n"
	"  - { name: app, binary: /usr/bin/app }\n"
	"metrics:\n"
	"  - name: hits_total\n"
	"    type: counter\n"
	"    help: Hits, by route and code.\n"
	"    labels: [route, code]\n"
	"    probe: { target: app, uprobe: hit,\n"
	"             labels: { route: { arg: 0, as: string }, code: { arg: 1 } } }\n"
	"  - name: depth\n"
	"    type: gauge\n"
	"    help: Queue depth.\n"
	"    probe: { target: app, uprobe: depth, value: { arg: 0 } }\n"
	"  - name: temp\n"
	"    type: gauge\n"
	"    help: Temperature.\n"
	"    probe: { target: app, uprobe: temp, value: { arg: 0, deref: f64 } }\n"
	"  - name: latency_us\n"
	"    type: histogram\n"
	"    help: Latency.\n"
	"    probe: { target: app, uprobe: done, value: { arg: 0, as: u64 } }\n"
	"    buckets: [1, 10, 100]\n"
	"  - name: norm\n"
	"    type: normalization\n"
	"    help: Renormalizations.\n"
	"    labels: [context]\n"
	"    probe: { target: app, uprobe: clean, before: { arg: 0, deref: f64 },\n"
	"             after: { arg: 1, deref: f64 }, labels: { context: { arg: 2, as: string } } }\n"
	"  - name: quiet_total\n"
	"    type: counter\n"
	"    help: Never hit.\n"
	"    labels: [route]\n"
	"    probe: { target: app, uprobe: quiet, labels: { route: { arg: 0, as: string } } }\n";

struct fixture {
	struct spec *spec;
	struct store st;
	char msg[256];
};

static int setup(void **state)
{
	struct spec_diags d = {};
	struct fixture *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return -1;
	err = spec__load_buf("store.yml", spec_yml, strlen(spec_yml), &f->spec, &d);
	if (err)
		spec_diags__print(&d, "store.yml", stderr);
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

	store__free(&f->st);
	spec__free(f->spec);
	free(f);
	return 0;
}

static struct emitd_series_key key_of(const struct store *st, int metric)
{
	struct emitd_series_key k;

	memset(&k, 0, sizeof(k));
	k.metric_id = st->metrics[metric].id;
	return k;
}

static struct emitd_series_key hits_key(const struct store *st, const char *route, int64_t code)
{
	struct emitd_series_key k = key_of(st, M_HITS);

	strncpy(k.labels[0].str, route, EMITD_LABEL_LEN - 1);
	k.labels[1].num = code;
	return k;
}

static uint64_t raw_of(double d)
{
	uint64_t raw;

	memcpy(&raw, &d, sizeof(raw));
	return raw;
}

static void test_init_from_spec(void **state)
{
	struct fixture *f = *state;
	const struct store *st = &f->st;
	const struct store_metric *m = st->metrics;

	assert_int_equal(st->nr_metrics, NR_M);
	assert_string_equal(m[M_HITS].full_name, "t_hits_total");
	assert_int_equal(m[M_HITS].id, emitd_metric_id("t_hits_total"));
	assert_int_equal(m[M_HITS].idx, M_HITS);
	assert_ptr_equal(m[M_HITS].spec, &f->spec->metrics[M_HITS]);
	/* the kind and value type of each metric */
	assert_int_equal(m[M_HITS].kind, EMITD_KIND_COUNTER);
	assert_int_equal(m[M_HITS].value_type, SPEC_VAL_U64);	/* no value source: a count */
	assert_int_equal(m[M_DEPTH].kind, EMITD_KIND_GAUGE);
	assert_int_equal(m[M_DEPTH].value_type, SPEC_VAL_S64);
	assert_int_equal(m[M_TEMP].value_type, SPEC_VAL_F64);
	assert_int_equal(m[M_LATENCY].kind, EMITD_KIND_HISTOGRAM);
	assert_int_equal(m[M_LATENCY].value_type, SPEC_VAL_U64);
	assert_int_equal(m[M_NORM].kind, EMITD_KIND_NORMALIZATION);
	assert_int_equal(m[M_NORM].value_type, SPEC_VAL_F64);	/* the `after` source */
	/* metrics without labels are fixed; the slot is the position until the collector sets it */
	assert_false(m[M_HITS].fixed);
	assert_int_equal(m[M_HITS].slot, M_HITS);
	assert_true(m[M_DEPTH].fixed);
	assert_int_equal(m[M_DEPTH].slot, M_DEPTH);
	assert_true(m[M_TEMP].fixed);
	assert_true(m[M_LATENCY].fixed);
	assert_int_equal(m[M_LATENCY].slot, M_LATENCY);
	assert_false(m[M_HITS].fresh);
	/* no series until a drain finds them */
	assert_int_equal(m[M_HITS].nr_series, 0);
	assert_false(m[M_HITS].trial);
}

/* emitd_spec_info: the store carries the hash gen writes into the manifest. */
static void test_spec_hash(void **state)
{
	struct fixture *f = *state;
	char hex[SPEC_SHA256_HEX];

	assert_int_equal(spec__hash(f->spec, hex), 0);
	assert_string_equal(f->st.spec_sha256, hex);
	assert_int_equal(strlen(f->st.spec_sha256), 64);
	assert_string_equal(f->st.spec_namespace, "t");
}

/* Every metric without labels has its one series, at 0, before any drain. */
static void test_fixed_series_warm(void **state)
{
	struct fixture *f = *state;
	const struct store_metric *m = f->st.metrics;
	struct emitd_series_key k = key_of(&f->st, M_DEPTH);

	assert_int_equal(m[M_DEPTH].nr_series, 1);
	assert_int_equal(m[M_TEMP].nr_series, 1);
	assert_int_equal(m[M_LATENCY].nr_series, 1);
	assert_non_null(m[M_LATENCY].series[0]->slots);
	assert_int_equal(m[M_LATENCY].series[0]->count, 0);
	assert_float_equal(m[M_DEPTH].series[0]->gauge, 0, 0);
	/* the drain's key (drain_fixed) finds it */
	assert_ptr_equal(store__series(&f->st, &k), m[M_DEPTH].series[0]);
	assert_int_equal(m[M_DEPTH].nr_series, 1);
	/* labelled metrics without values have none */
	assert_int_equal(m[M_HITS].nr_series, 0);
	assert_int_equal(m[M_QUIET].nr_series, 0);
}

static const char warm_yml[] =
	"version: 1\n"
	"namespace: w\n"
	"targets: [{ name: app, binary: /usr/bin/app }]\n"
	"metrics:\n"
	"  - name: hits_total\n"
	"    type: counter\n"
	"    help: Hits.\n"
	"    labels: [route, code]\n"
	"    probe: { target: app, uprobe: hit,\n"
	"             labels: { route: { arg: 0, as: string, values: [/api/users, /api/orders] },\n"
	"                       code: { arg: 1, values: [200, -1] } } }\n"
	"  - name: lat_us\n"
	"    type: histogram\n"
	"    help: Latency.\n"
	"    labels: [route]\n"
	"    probe: { target: app, uprobe: done, value: { arg: 1 },\n"
	"             labels: { route: { arg: 0, as: string, values: ['/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'] } } }\n"
	"    buckets: [1, 10]\n";

/*
 * The spec's warm values: one series per combination at 0, found by the
 * key the kernel builds for the same label bytes (a string zero-padded to
 * 32 bytes, an integer as s64), so the kernel's series and the warm one are
 * one series: no duplicate, the count exact.
 */
static void test_warm_series_merge(void **state)
{
	struct spec_diags d = {};
	struct spec *spec = NULL;
	struct store st;
	struct emitd_series_key k;
	struct emitd_counter v[2] = { { 3 }, { 4 } };
	struct series *s;
	char msg[256], route[EMITD_LABEL_LEN + 1];
	size_t i;

	(void)state;
	assert_int_equal(spec__load_buf("warm.yml", warm_yml, strlen(warm_yml), &spec, &d), 0);
	assert_int_equal(store__init(&st, spec, msg, sizeof(msg)), 0);
	assert_int_equal(st.metrics[0].nr_series, 4);
	store__sort(&st);
	assert_string_equal(st.metrics[0].series[0]->labels[0], "/api/orders");
	assert_string_equal(st.metrics[0].series[0]->labels[1], "-1");
	assert_string_equal(st.metrics[0].series[3]->labels[0], "/api/users");
	assert_string_equal(st.metrics[0].series[3]->labels[1], "200");
	for (i = 0; i < 4; i++)
		assert_int_equal(st.metrics[0].series[i]->count, 0);
	/* the kernel's key: zeroed, the string read with its NUL, the int as s64 */
	memset(&k, 0, sizeof(k));
	k.metric_id = st.metrics[0].id;
	memcpy(k.labels[0].str, "/api/users", sizeof("/api/users"));
	k.labels[1].num = 200;
	s = store__series(&st, &k);
	assert_non_null(s);
	assert_ptr_equal(s, st.metrics[0].series[3]);
	/* not in the kernel's budget until a drain reads it from a map */
	for (i = 0; i < 4; i++)
		assert_false(series__admitted(st.metrics[0].series[i]));
	store__apply_counter(s, v, 2);
	assert_int_equal(s->count, 7);
	assert_true(series__admitted(s));
	assert_false(series__admitted(st.metrics[0].series[2]));
	k.labels[1].num = -1;
	assert_ptr_equal(store__series(&st, &k), st.metrics[0].series[2]);
	assert_int_equal(st.metrics[0].nr_series, 4);	/* merged, nothing added */
	/* a value the spec did not list is a new series */
	k.labels[1].num = 404;
	assert_non_null(store__series(&st, &k));
	assert_int_equal(st.metrics[0].nr_series, 5);
	/* 31 bytes fill the key but for its NUL, as bpf_probe_read_user_str() leaves it */
	memset(&k, 0, sizeof(k));
	k.metric_id = st.metrics[1].id;
	memset(route, 'x', sizeof(route));
	route[0] = '/';
	memcpy(k.labels[0].str, route, EMITD_LABEL_LEN - 1);
	assert_int_equal(st.metrics[1].nr_series, 1);
	assert_ptr_equal(store__series(&st, &k), st.metrics[1].series[0]);
	assert_non_null(st.metrics[1].series[0]->slots);
	store__free(&st);
	spec__free(spec);
	spec_diags__free(&d);
}

static void test_metric_by_id(void **state)
{
	struct fixture *f = *state;

	assert_ptr_equal(store__metric_by_id(&f->st, f->st.metrics[M_NORM].id),
			 &f->st.metrics[M_NORM]);
	assert_null(store__metric_by_id(&f->st, emitd_metric_id("t_not_in_the_spec")));
}

static void test_series_found_or_created(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key a = hits_key(&f->st, "/a", 200);
	struct emitd_series_key b = hits_key(&f->st, "/a", 500);
	struct series *sa, *sb;

	sa = store__series(&f->st, &a);
	assert_non_null(sa);
	assert_ptr_equal(sa->metric, &f->st.metrics[M_HITS]);
	assert_memory_equal(&sa->key, &a, sizeof(a));
	assert_null(sa->slots);				/* a counter has no buckets */
	assert_ptr_equal(store__series(&f->st, &a), sa);	/* same key, same series */
	sb = store__series(&f->st, &b);
	assert_non_null(sb);
	assert_ptr_not_equal(sb, sa);			/* another label value, another series */
	assert_int_equal(f->st.metrics[M_HITS].nr_series, 2);
	assert_false(f->st.metrics[M_HITS].sorted);
	assert_int_equal(f->st.orphans, 0);
}

static void test_unknown_metric_is_an_orphan(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k;

	memset(&k, 0, sizeof(k));
	k.metric_id = emitd_metric_id("t_gone_from_the_spec");
	assert_null(store__series(&f->st, &k));
	assert_null(store__series(&f->st, &k));
	assert_int_equal(f->st.orphans, 2);		/* counted at every lookup */
	store__reset_orphans(&f->st);
	assert_int_equal(f->st.orphans, 0);
}

static void test_label_values_formatted(void **state)
{
	struct fixture *f = *state;
	char long_route[EMITD_LABEL_LEN + 8];
	struct emitd_series_key k = hits_key(&f->st, "/api/users", -42);
	struct series *s = store__series(&f->st, &k);

	assert_non_null(s);
	assert_string_equal(s->labels[0], "/api/users");	/* as: string */
	assert_string_equal(s->labels[1], "-42");		/* an integer arg, signed */
	assert_null(s->labels[2]);				/* the metric has two labels */

	/* a string without its NUL in the key stops at the key's bound */
	k = key_of(&f->st, M_HITS);
	memset(long_route, 'x', sizeof(long_route));
	memcpy(k.labels[0].str, long_route, EMITD_LABEL_LEN);
	s = store__series(&f->st, &k);
	assert_non_null(s);
	assert_int_equal(strlen(s->labels[0]), EMITD_LABEL_LEN - 1);
}

static void test_overflow_series_labels(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = key_of(&f->st, M_HITS);
	struct emitd_counter one = { 1 };
	struct series *s;

	k.flags = EMITD_KEY_OTHER;
	s = store__series(&f->st, &k);
	assert_non_null(s);
	store__apply_counter(s, &one, 1);
	assert_false(series__admitted(s));	/* the overflow series takes no budget */
	assert_string_equal(s->labels[0], EMITD_OTHER_VALUE);	/* every label */
	assert_string_equal(s->labels[1], EMITD_OTHER_VALUE);
	assert_string_equal(EMITD_OTHER_VALUE, "__other__");
}

static void test_sort_by_label_values(void **state)
{
	struct fixture *f = *state;
	const char *routes[] = { "/c", "/a", "/b" };
	const struct store_metric *m = &f->st.metrics[M_HITS];
	struct emitd_series_key k;
	struct series *longer, *cut;
	size_t i;

	for (i = 0; i < 3; i++) {
		k = hits_key(&f->st, routes[i], 1);
		assert_non_null(store__series(&f->st, &k));
	}
	k = hits_key(&f->st, "/a", 0);		/* same first label: the second decides */
	assert_non_null(store__series(&f->st, &k));
	store__sort(&f->st);
	assert_true(m->sorted);
	assert_int_equal(m->nr_series, 4);
	assert_string_equal(m->series[0]->labels[0], "/a");
	assert_string_equal(m->series[0]->labels[1], "0");
	assert_string_equal(m->series[1]->labels[0], "/a");
	assert_string_equal(m->series[1]->labels[1], "1");
	assert_string_equal(m->series[2]->labels[0], "/b");
	assert_string_equal(m->series[3]->labels[0], "/c");

	/*
	 * Equal label values (a key whose string fills the label without its
	 * NUL, cut to the 31 bytes of another key): the key decides.
	 */
	k = key_of(&f->st, M_NORM);
	memset(k.labels[0].str, 'x', EMITD_LABEL_LEN);
	longer = store__series(&f->st, &k);
	k = key_of(&f->st, M_NORM);
	memset(k.labels[0].str, 'x', EMITD_LABEL_LEN - 1);
	cut = store__series(&f->st, &k);
	assert_non_null(longer);
	assert_non_null(cut);
	m = &f->st.metrics[M_NORM];
	store__sort(&f->st);
	assert_string_equal(m->series[0]->labels[0], m->series[1]->labels[0]);
	assert_ptr_equal(m->series[0], cut);		/* the key's NUL sorts first */
	assert_ptr_equal(m->series[1], longer);
}

/*
 * Label bytes come from the probed process: distinct bytes give distinct
 * label values (user/lib/labelenc.h), whatever a renderer would make of them,
 * and a target's own "__other__" is not the overflow series' value.
 */
static void test_hostile_label_values_stay_distinct(void **state)
{
	static const char *const raw[] = {
		"\x80", "\xff", "\xef\xbf\xbd", "\\x80", "\\", "__other__",
	};
	static const char *const shown[] = {
		"\\x80", "\\xff", "\xef\xbf\xbd", "\\\\x80", "\\\\", "\\__other__",
	};
	struct fixture *f = *state;
	struct emitd_series_key k;
	struct series *s;
	size_t i;

	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		k = hits_key(&f->st, raw[i], 7);
		s = store__series(&f->st, &k);
		assert_non_null(s);
		assert_string_equal(s->labels[0], shown[i]);
		assert_string_equal(s->labels[1], "7");		/* integers unaffected */
	}
	k = key_of(&f->st, M_HITS);
	k.flags = EMITD_KEY_OTHER;
	s = store__series(&f->st, &k);
	assert_non_null(s);
	assert_string_equal(s->labels[0], EMITD_OTHER_VALUE);	/* folded: plain */
}

/*
 * A metric without series has no series array: sorting it must not hand
 * qsort a NULL base (UBSan: "null pointer passed as argument 1").
 */
static void test_sort_metric_without_series(void **state)
{
	struct fixture *f = *state;
	const struct store_metric *quiet = &f->st.metrics[M_QUIET];

	assert_int_equal(quiet->nr_series, 0);
	assert_null(quiet->series);
	store__sort(&f->st);
	assert_true(quiet->sorted);
	assert_int_equal(quiet->nr_series, 0);
}

static void test_apply_counter_replaces_with_cpu_sum(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = hits_key(&f->st, "/a", 200);
	struct series *s = store__series(&f->st, &k);
	struct emitd_counter v[3] = { { 5 }, { 0 }, { 7 } };

	assert_non_null(s);
	store__apply_counter(s, v, 3);
	assert_int_equal(s->count, 12);
	v[0].value = 6;
	store__apply_counter(s, v, 3);			/* monotonic maps: replace, never add */
	assert_int_equal(s->count, 13);
	store__apply_counter(s, v, 1);			/* only the CPUs given */
	assert_int_equal(s->count, 6);
}

static void test_apply_gauge_newest_cpu_wins(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = key_of(&f->st, M_DEPTH);
	struct series *s = store__series(&f->st, &k);
	struct emitd_gauge v[3] = {
		{ .raw = 10, .ktime_ns = 100, .updates = 1 },
		{ .raw = (uint64_t)-3, .ktime_ns = 300, .updates = 2 },
		{ .raw = 99, .ktime_ns = 900, .updates = 0 },	/* never updated: ignored */
	};

	assert_non_null(s);
	store__apply_gauge(s, v, 3);
	assert_float_equal(s->gauge, -3, 0);		/* s64 value of the newest update */
	assert_int_equal(s->gauge_ktime, 300);
	memset(v, 0, sizeof(v));
	store__apply_gauge(s, v, 3);			/* no update at all: the value stays */
	assert_float_equal(s->gauge, -3, 0);
	assert_int_equal(s->gauge_ktime, 0);

	k = key_of(&f->st, M_TEMP);
	s = store__series(&f->st, &k);
	assert_non_null(s);
	v[0] = (struct emitd_gauge){ .raw = raw_of(21.5), .ktime_ns = 5, .updates = 1 };
	store__apply_gauge(s, v, 1);
	assert_float_equal(s->gauge, 21.5, 0);		/* f64 bits */
}

static void test_apply_hist_sums_buckets(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = key_of(&f->st, M_LATENCY);
	struct series *s = store__series(&f->st, &k);
	struct emitd_hist *v = calloc(2, sizeof(*v));

	assert_non_null(s);
	assert_non_null(s->slots);			/* a histogram has its buckets */
	assert_non_null(v);
	v[0].count = 3;
	v[0].sum = 30;
	v[0].slots[0] = 1;
	v[0].slots[3] = 2;
	v[1].count = 1;
	v[1].sum = -4;
	v[1].slots[3] = 1;
	store__apply_hist(s, v, 2);
	assert_int_equal(s->count, 4);
	assert_int_equal(s->isum, 26);
	assert_int_equal(s->slots[0], 1);
	assert_int_equal(s->slots[3], 3);
	store__apply_hist(s, v, 1);			/* replaced, not added */
	assert_int_equal(s->count, 3);
	assert_int_equal(s->slots[3], 2);
	free(v);
}

static void test_apply_norm_counts(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = key_of(&f->st, M_NORM);
	struct emitd_norm v[2] = { { .events = 5, .zeroed = 1 }, { .events = 2, .zeroed = 2 } };
	struct series *s;

	strcpy(k.labels[0].str, "budget_buffer");
	s = store__series(&f->st, &k);
	assert_non_null(s);
	assert_string_equal(s->labels[0], "budget_buffer");
	store__apply_norm(s, v, 2);
	assert_int_equal(s->count, 7);
	assert_int_equal(s->zeroed, 3);
}

static void test_add_sample(void **state)
{
	struct fixture *f = *state;
	struct store_metric *lat = &f->st.metrics[M_LATENCY], *norm = &f->st.metrics[M_NORM];
	struct emitd_series_key k = key_of(&f->st, M_LATENCY);
	struct emitd_sample smp = { .metric_id = lat->id, .v1 = 40 };
	struct series *s = store__series(&f->st, &k);

	assert_non_null(s);
	store__add_sample(lat, s, &smp);
	smp.v1 = 2;
	store__add_sample(lat, s, &smp);
	assert_float_equal(s->fsum, 42, 0);		/* u64 values, summed as doubles */
	assert_int_equal(s->fsum_samples, 2);

	k = key_of(&f->st, M_NORM);
	s = store__series(&f->st, &k);
	assert_non_null(s);
	smp = (struct emitd_sample){ .metric_id = norm->id, .v1 = raw_of(-1.5),
				     .v2 = raw_of(0.25) };
	store__add_sample(norm, s, &smp);
	smp.v1 = raw_of(0.5);
	smp.v2 = raw_of(-0.25);
	store__add_sample(norm, s, &smp);
	assert_float_equal(s->before_abs_sum, 2.0, 0);	/* |before| */
	assert_float_equal(s->after_abs_sum, 0.5, 0);	/* |after| */
	assert_int_equal(s->samples, 2);
	assert_int_equal(s->count, 0);			/* events come from the map */
	assert_int_equal(s->zeroed, 0);

	/* a counter has nothing to take from a sample */
	k = hits_key(&f->st, "/a", 1);
	s = store__series(&f->st, &k);
	assert_non_null(s);
	store__add_sample(&f->st.metrics[M_HITS], s, &smp);
	assert_int_equal(s->samples, 0);
	assert_int_equal(s->fsum_samples, 0);
	assert_int_equal(s->count, 0);
}

/* hits{route="/r/<i>", code=<i % 7>}; the route also in @route */
static struct emitd_series_key routed_key(const struct store *st, char *route, size_t i)
{
	struct emitd_series_key k = key_of(st, M_HITS);

	snprintf(route, EMITD_LABEL_LEN, "/r/%zu", i);
	snprintf(k.labels[0].str, EMITD_LABEL_LEN, "%s", route);
	k.labels[1].num = (int64_t)(i % 7);
	return k;
}

/* Many series: each found again as itself, where it was, after the index grew. */
static void test_many_series_found_again(void **state)
{
	struct fixture *f = *state;
	enum { N = 5000 };
	struct series **made = calloc(N, sizeof(*made));
	struct emitd_series_key k;
	char route[EMITD_LABEL_LEN];
	size_t i;

	assert_non_null(made);
	for (i = 0; i < N; i++) {
		k = routed_key(&f->st, route, i);
		made[i] = store__series(&f->st, &k);
		assert_non_null(made[i]);
	}
	assert_int_equal(f->st.metrics[M_HITS].nr_series, N);
	for (i = 0; i < N; i++) {
		k = routed_key(&f->st, route, i);
		assert_ptr_equal(store__series(&f->st, &k), made[i]);
		assert_string_equal(made[i]->labels[0], route);
		assert_ptr_equal(f->st.metrics[M_HITS].series[i], made[i]);
	}
	/* the same route with another code is another series */
	k = hits_key(&f->st, "/r/0", 1);
	assert_ptr_not_equal(store__series(&f->st, &k), made[0]);
	assert_int_equal(f->st.metrics[M_HITS].nr_series, N + 1);
	free(made);
}

/* A string label that ends inside the key is read from the key, not copied. */
static void test_string_label_kept_in_key(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = hits_key(&f->st, "/api/users", 7);
	char exact[EMITD_LABEL_LEN];
	struct series *s = store__series(&f->st, &k);

	assert_non_null(s);
	assert_ptr_equal(s->labels[0], s->key.labels[0].str);
	/* the longest string with its NUL in the key */
	memset(exact, 'y', sizeof(exact));
	exact[EMITD_LABEL_LEN - 1] = '\0';
	k = key_of(&f->st, M_HITS);
	memcpy(k.labels[0].str, exact, sizeof(exact));
	s = store__series(&f->st, &k);
	assert_non_null(s);
	assert_string_equal(s->labels[0], exact);
	assert_ptr_equal(s->labels[0], s->key.labels[0].str);
}

/*
 * A string whose encoding differs from its bytes (a backslash, an ill-formed
 * byte, "__other__"), or a key without its NUL, gets its own copy: the key
 * keeps the process's bytes. Freed at teardown (ASan: no bad free, no leak).
 */
static void test_string_label_encoded_apart(void **state)
{
	static const char *const raw[] = { "a\\b", "\xc3(", "__other__" };
	static const char *const shown[] = { "a\\\\b", "\\xc3(", "\\__other__" };
	struct fixture *f = *state;
	struct emitd_series_key k;
	struct series *s;
	size_t i;

	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		k = hits_key(&f->st, raw[i], 7);
		s = store__series(&f->st, &k);
		assert_non_null(s);
		assert_string_equal(s->labels[0], shown[i]);
		assert_ptr_not_equal(s->labels[0], s->key.labels[0].str);
		assert_string_equal(s->key.labels[0].str, raw[i]);
	}
	/* a key that fills the label: its first EMITD_LABEL_LEN - 1 bytes */
	k = key_of(&f->st, M_HITS);
	memset(k.labels[0].str, 'z', EMITD_LABEL_LEN);
	s = store__series(&f->st, &k);
	assert_non_null(s);
	assert_int_equal(strlen(s->labels[0]), EMITD_LABEL_LEN - 1);
	assert_ptr_not_equal(s->labels[0], s->key.labels[0].str);
	/* the overflow series: the shared value, in no key */
	k = key_of(&f->st, M_HITS);
	k.flags = EMITD_KEY_OTHER;
	s = store__series(&f->st, &k);
	assert_non_null(s);
	assert_string_equal(s->labels[0], EMITD_OTHER_VALUE);
	assert_ptr_not_equal(s->labels[0], s->key.labels[0].str);
}

/* The kinds share a series' memory: values of another kind change nothing. */
static void test_values_of_another_kind_ignored(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = key_of(&f->st, M_LATENCY);
	struct emitd_gauge g = { .raw = 5, .ktime_ns = 9, .updates = 1 };
	struct emitd_counter c = { 11 };
	struct emitd_norm n = { .events = 3, .zeroed = 1 };
	struct emitd_sample smp = { .v1 = 40 };
	struct series *lat = store__series(&f->st, &k), *depth;
	uint64_t *slots;

	assert_non_null(lat);
	slots = lat->slots;
	assert_non_null(slots);
	store__apply_gauge(lat, &g, 1);
	store__apply_counter(lat, &c, 1);
	store__apply_norm(lat, &n, 1);
	assert_ptr_equal(lat->slots, slots);	/* freed at teardown: still the buckets */
	assert_int_equal(lat->count, 0);
	assert_int_equal(lat->isum, 0);
	/* a sample of another metric than the series' own */
	smp.metric_id = f->st.metrics[M_NORM].id;
	store__add_sample(&f->st.metrics[M_NORM], lat, &smp);
	assert_int_equal(lat->fsum_samples, 0);
	assert_ptr_equal(lat->slots, slots);

	k = key_of(&f->st, M_DEPTH);
	depth = store__series(&f->st, &k);
	assert_non_null(depth);
	store__apply_counter(depth, &c, 1);
	assert_int_equal(depth->count, 0);
	assert_int_equal(depth->gauge_ktime, 0);
}

static void test_raw_to_double(void **state)
{
	(void)state;
	assert_float_equal(store__raw_to_double((uint64_t)-5, SPEC_VAL_S64), -5, 0);
	assert_float_equal(store__raw_to_double((uint64_t)-5, SPEC_VAL_U64),
			   18446744073709551611.0, 0);
	assert_float_equal(store__raw_to_double(raw_of(-0.125), SPEC_VAL_F64), -0.125, 0);
	assert_true(isnan(store__raw_to_double(raw_of(NAN), SPEC_VAL_F64)));
}

static void test_set_trial(void **state)
{
	struct fixture *f = *state;

	store_metric__set_trial(&f->st.metrics[M_LATENCY]);
	assert_true(f->st.metrics[M_LATENCY].trial);
	assert_false(f->st.metrics[M_HITS].trial);
}

static void test_kind_from_spec(void **state)
{
	(void)state;
	assert_int_equal(emitd_kind__from_spec(SPEC_COUNTER), EMITD_KIND_COUNTER);
	assert_int_equal(emitd_kind__from_spec(SPEC_GAUGE), EMITD_KIND_GAUGE);
	assert_int_equal(emitd_kind__from_spec(SPEC_HISTOGRAM), EMITD_KIND_HISTOGRAM);
	assert_int_equal(emitd_kind__from_spec(SPEC_NORMALIZATION), EMITD_KIND_NORMALIZATION);
}

/* What a retired map held is added to every apply. */
static void test_carry_added_to_every_apply(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = hits_key(&f->st, "/a", 200);
	struct series *s = store__series(&f->st, &k);
	struct emitd_counter c[2] = { { 3 }, { 4 } }, carried = { 100 };
	struct emitd_hist *h = calloc(2, sizeof(*h)), hc = { .count = 5, .sum = 50 };
	struct emitd_norm nc = { .events = 9, .zeroed = 1 }, n[1] = { { 1, 1 } };

	assert_non_null(s);
	assert_non_null(h);
	assert_int_equal(store__set_carry(s, &carried), 0);
	carried.value = 0;				/* copied, not referenced */
	store__apply_counter(s, c, 2);
	assert_int_equal(s->count, 107);
	store__apply_counter(s, c, 2);			/* again: still once */
	assert_int_equal(s->count, 107);

	k = key_of(&f->st, M_LATENCY);
	s = store__series(&f->st, &k);
	hc.slots[2] = 5;
	h[0].count = 1;
	h[0].sum = 7;
	h[0].slots[2] = 1;
	assert_int_equal(store__set_carry(s, &hc), 0);
	store__apply_hist(s, h, 2);
	assert_int_equal(s->count, 6);
	assert_int_equal(s->isum, 57);
	assert_int_equal(s->slots[2], 6);

	k = key_of(&f->st, M_NORM);
	s = store__series(&f->st, &k);
	assert_int_equal(store__set_carry(s, &nc), 0);
	store__apply_norm(s, n, 1);
	assert_int_equal(s->count, 10);
	assert_int_equal(s->zeroed, 2);
	free(h);
}

/* A carried gauge is one more value: the newest wins. */
static void test_carry_gauge_newest_wins(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key k = key_of(&f->st, M_DEPTH);
	struct series *s = store__series(&f->st, &k);
	struct emitd_gauge live[1] = { { .raw = 0, .ktime_ns = 0, .updates = 0 } };
	struct emitd_gauge carried = { .raw = 42, .ktime_ns = 500, .updates = 7 };

	assert_int_equal(store__set_carry(s, &carried), 0);
	store__apply_gauge(s, live, 1);			/* no update since: the carried value */
	assert_float_equal(s->gauge, 42, 0);
	assert_int_equal(s->gauge_ktime, 500);
	live[0] = (struct emitd_gauge){ .raw = 8, .ktime_ns = 900, .updates = 1 };
	store__apply_gauge(s, live, 1);			/* a newer update wins */
	assert_float_equal(s->gauge, 8, 0);
	assert_int_equal(s->gauge_ktime, 900);
}

/* A rebuilt store keeps the sample lane's sums of unchanged metrics only. */
static void test_adopt_samples(void **state)
{
	struct fixture *f = *state;
	struct emitd_series_key lk = key_of(&f->st, M_LATENCY), nk = key_of(&f->st, M_NORM);
	struct series *s = store__series(&f->st, &lk), *t;
	struct store st;
	char msg[64];

	s->fsum = 1.5;
	s->fsum_samples = 3;
	s = store__series(&f->st, &nk);
	s->before_abs_sum = 2;
	s->after_abs_sum = 1;
	s->samples = 4;
	assert_int_equal(store__init(&st, f->spec, msg, sizeof(msg)), 0);
	st.metrics[M_NORM].fresh = true;		/* changed meaning: starts afresh */
	assert_int_equal(store__adopt_samples(&st, &f->st), 0);
	t = store__series(&st, &lk);
	assert_float_equal(t->fsum, 1.5, 0);
	assert_int_equal(t->fsum_samples, 3);
	assert_int_equal(t->count, 0);			/* counts come from the maps */
	assert_int_equal(st.metrics[M_NORM].nr_series, 0);
	assert_int_equal(st.metrics[M_HITS].nr_series, 0);	/* nothing sampled there */
	store__free(&st);
}

/* A namer that knows cgroup 7 and no other. */
static int fake_cgroup_path(void *ctx, uint64_t id, char *buf, size_t size)
{
	(*(int *)ctx)++;
	if (id != 7)
		return -ENOENT;
	snprintf(buf, size, "/system.slice/a\\b\xff.service");
	return 0;
}

/* Labels of the task's context: pid, uid as numbers, comm as a string, cgroup by the namer. */
static void test_task_labels_formatted(void **state)
{
	static const char y[] =
		"version: 1\nnamespace: t\ntargets: [{ name: app, binary: /usr/bin/app }]\n"
		"metrics:\n"
		"  - name: hits_total\n"
		"    type: counter\n"
		"    help: Hits.\n"
		"    labels: [pid, uid, comm, cgroup]\n"
		"    probe: { target: app, uprobe: hit, labels: { pid: { source: pid },\n"
		"             uid: { source: uid }, comm: { source: comm },\n"
		"             cgroup: { source: cgroup } } }\n";
	struct spec_diags d = {};
	struct emitd_series_key k;
	struct spec *spec;
	struct store st;
	struct series *s;
	char msg[128];
	int calls = 0;

	(void)state;
	assert_int_equal(spec__load_buf("t.yml", y, strlen(y), &spec, &d), 0);
	assert_int_equal(store__init(&st, spec, msg, sizeof(msg)), 0);
	store__set_cgroup_namer(&st, fake_cgroup_path, &calls);
	memset(&k, 0, sizeof(k));
	k.metric_id = st.metrics[0].id;
	k.labels[0].num = 4242;
	k.labels[1].num = 65534;
	memcpy(k.labels[2].str, "post\\gres\x80", 11);	/* a task chooses its comm */
	k.labels[3].num = 7;
	s = store__series(&st, &k);
	assert_non_null(s);
	assert_string_equal(s->labels[0], "4242");
	assert_string_equal(s->labels[1], "65534");
	assert_string_equal(s->labels[2], "post\\\\gres\\x80");	/* lib/labelenc */
	assert_string_equal(s->labels[3], "/system.slice/a\\\\b\\xff.service");
	k.labels[3].num = 8;				/* unresolved: its number */
	s = store__series(&st, &k);
	assert_string_equal(s->labels[3], "8");
	assert_int_equal(calls, 2);			/* once per new series */
	assert_non_null(store__series(&st, &k));
	assert_int_equal(calls, 2);
	store__free(&st);
	assert_int_equal(store__init(&st, spec, msg, sizeof(msg)), 0);
	k.labels[3].num = 7;				/* no namer: numbers */
	k.metric_id = st.metrics[0].id;
	assert_string_equal(store__series(&st, &k)->labels[3], "7");
	store__free(&st);
	spec__free(spec);
	spec_diags__free(&d);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_from_spec),
		T(test_spec_hash),
		T(test_fixed_series_warm),
		cmocka_unit_test(test_warm_series_merge),
		T(test_metric_by_id),
		T(test_series_found_or_created),
		T(test_unknown_metric_is_an_orphan),
		T(test_label_values_formatted),
		T(test_overflow_series_labels),
		cmocka_unit_test(test_task_labels_formatted),
		T(test_sort_by_label_values),
		T(test_hostile_label_values_stay_distinct),
		T(test_sort_metric_without_series),
		T(test_apply_counter_replaces_with_cpu_sum),
		T(test_apply_gauge_newest_cpu_wins),
		T(test_apply_hist_sums_buckets),
		T(test_apply_norm_counts),
		T(test_add_sample),
		T(test_many_series_found_again),
		T(test_string_label_kept_in_key),
		T(test_string_label_encoded_apart),
		T(test_values_of_another_kind_ignored),
		T(test_carry_added_to_every_apply),
		T(test_carry_gauge_newest_wins),
		T(test_adopt_samples),
		cmocka_unit_test(test_raw_to_double),
		T(test_set_trial),
		cmocka_unit_test(test_kind_from_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
