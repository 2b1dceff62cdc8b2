// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * quantile: exact quantiles, histogram_quantile and the deviation between
 * them. Every expected value below was computed by hand and checked against
 * Prometheus 2.42 (`promtool test rules` evaluating quantile() and
 * histogram_quantile() over the same numbers); they are compared bit for
 * bit, as Prometheus printed them. The one case where newer Prometheus
 * differs says so. The worked examples are in docs/BATCHING.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <string.h>

#include "lib/quantile.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Exact equality, with NaN equal to NaN: the values must match Prometheus'. */
static void assert_same(double got, double want)
{
	if (isnan(want)) {
		assert_true(isnan(got));
		return;
	}
	if (got != want)
		fail_msg("got %.17g, want %.17g", got, want);
}

static double hq(double q, const double *bounds, const uint64_t *cum, size_t n)
{
	double out = 12345;

	assert_int_equal(quantile__histogram(q, bounds, cum, n, &out), 0);
	return out;
}

/* PromQL: quantile(q, x) over x = {7,1,10,3,9,2,8,4,6,5}. */
static void test_exact_known_data(void **state)
{
	const double x[] = { 7, 1, 10, 3, 9, 2, 8, 4, 6, 5 };
	const double qs[] = { 0.5, 0.95, 0.99, 0, 1, 0.33 };
	const double want[] = { 5.5, 9.549999999999999, 9.91, 1, 10, 3.97 };
	double out[ARRAY_SIZE(qs)];
	size_t i;

	(void)state;
	assert_int_equal(quantile__exact(x, ARRAY_SIZE(x), qs, ARRAY_SIZE(qs), out), 0);
	for (i = 0; i < ARRAY_SIZE(qs); i++)
		assert_same(out[i], want[i]);
}

/* PromQL: quantile(q, y) over y = {0.1, 0.2, 0.7}; float rounding included. */
static void test_exact_fractions(void **state)
{
	const double y[] = { 0.7, 0.1, 0.2 };
	const double qs[] = { 0.5, 0.95, 0.99, 0.25 };
	const double want[] = { 0.2, 0.6499999999999999, 0.69, 0.15000000000000002 };
	double out[ARRAY_SIZE(qs)];
	size_t i;

	(void)state;
	assert_int_equal(quantile__exact(y, ARRAY_SIZE(y), qs, ARRAY_SIZE(qs), out), 0);
	for (i = 0; i < ARRAY_SIZE(qs); i++)
		assert_same(out[i], want[i]);
}

static void test_exact_edges(void **state)
{
	const double one[] = { 42 };
	const double with_nan[] = { NAN, 3, NAN, 1, 2 };
	const double only_nan[] = { NAN, NAN };
	const double qs[] = { 0, 0.5, 1, -0.1, 1.1, NAN };
	double out[ARRAY_SIZE(qs)];

	(void)state;
	assert_int_equal(quantile__exact(one, 1, qs, ARRAY_SIZE(qs), out), 0);
	assert_same(out[0], 42);
	assert_same(out[1], 42);
	assert_same(out[2], 42);
	assert_true(isinf(out[3]) && out[3] < 0);	/* q < 0: -Inf, as PromQL */
	assert_true(isinf(out[4]) && out[4] > 0);	/* q > 1: +Inf */
	assert_true(isnan(out[5]));

	/* NaN observations are left out: the quantiles of {1, 2, 3} */
	assert_int_equal(quantile__exact(with_nan, ARRAY_SIZE(with_nan), qs, 3, out), 0);
	assert_same(out[0], 1);
	assert_same(out[1], 2);
	assert_same(out[2], 3);

	/* no observations: NaN */
	assert_int_equal(quantile__exact(only_nan, ARRAY_SIZE(only_nan), qs, 3, out), 0);
	assert_true(isnan(out[1]));
	assert_int_equal(quantile__exact(NULL, 0, qs, 1, out), 0);
	assert_true(isnan(out[0]));
	assert_true(isnan(quantile__sorted(NULL, 0, 0.5)));

	assert_int_equal(quantile__exact(NULL, 3, qs, 1, out), -EINVAL);
	assert_int_equal(quantile__exact(one, 1, NULL, 1, out), -EINVAL);
}

/* The input is not modified (the function sorts a copy). */
static void test_exact_leaves_input(void **state)
{
	double x[] = { 3, 1, 2 };
	const double q = 0.5;
	double out;

	(void)state;
	assert_int_equal(quantile__exact(x, 3, &q, 1, &out), 0);
	assert_same(out, 2);
	assert_same(x[0], 3);
	assert_same(x[1], 1);
	assert_same(x[2], 2);
}

/* a_bucket: le=1:2 le=2:5 le=4:9 le=+Inf:10 */
static void test_histogram_worked_example(void **state)
{
	const double le[] = { 1, 2, 4, INFINITY };
	const uint64_t cum[] = { 2, 5, 9, 10 };

	(void)state;
	assert_same(hq(0, le, cum, 4), 0);		/* lowest bucket starts at 0 */
	assert_same(hq(0.1, le, cum, 4), 0.5);		/* rank 1 of 2 in (0, 1] */
	assert_same(hq(0.25, le, cum, 4), 1.1666666666666667);	/* 1 + 1 * 0.5/3 */
	assert_same(hq(0.5, le, cum, 4), 2);		/* 1 + 1 * 3/3 */
	assert_same(hq(0.9, le, cum, 4), 4);		/* 2 + 2 * 4/4 */
	assert_same(hq(0.95, le, cum, 4), 4);		/* in +Inf: highest finite bound */
	assert_same(hq(1, le, cum, 4), 4);
	assert_same(hq(-0.1, le, cum, 4), -INFINITY);
	assert_same(hq(1.1, le, cum, 4), INFINITY);
	assert_same(hq(NAN, le, cum, 4), NAN);
}

/* g_bucket: an exp2 latency histogram of 100 observations. */
static void test_histogram_exp2_latency(void **state)
{
	const double le[] = { 1, 2, 4, 8, 16, 32, 64, 128, INFINITY };
	const uint64_t cum[] = { 0, 1, 3, 10, 40, 90, 99, 100, 100 };

	(void)state;
	assert_same(hq(0.5, le, cum, 9), 19.2);		/* 16 + 16 * 10/50 */
	assert_same(hq(0.95, le, cum, 9), 49.77777777777778);	/* 32 + 32 * 5/9 */
	assert_same(hq(0.99, le, cum, 9), 64);		/* 32 + 32 * 9/9 */
}

/* b_bucket: le=-1:3 le=0:5 le=+Inf:6; the lowest bound is <= 0. */
static void test_histogram_negative_lowest(void **state)
{
	const double le[] = { -1, 0, INFINITY };
	const uint64_t cum[] = { 3, 5, 6 };

	(void)state;
	assert_same(hq(0, le, cum, 3), -1);		/* lowest bucket: its bound */
	assert_same(hq(0.3, le, cum, 3), -1);
	assert_same(hq(0.6, le, cum, 3), -0.7000000000000002);	/* -1 + 1 * 0.6/2 */
}

/*
 * z_bucket: le=0:0 le=1:4 le=+Inf:4, w_bucket: le=0:2 le=1:4 le=+Inf:4. A
 * lowest bound of exactly 0 is returned as is, even from an empty bucket.
 */
static void test_histogram_zero_lowest(void **state)
{
	const double le[] = { 0, 1, INFINITY };
	const uint64_t z[] = { 0, 4, 4 };
	const uint64_t w[] = { 2, 4, 4 };

	(void)state;
	assert_same(hq(0, le, z, 3), 0);
	assert_same(hq(0.25, le, w, 3), 0);
	assert_same(hq(0.75, le, w, 3), 0.5);
}

/* c_bucket: le=1:0 le=2:4 le=+Inf:4. */
static void test_histogram_empty_first_bucket(void **state)
{
	const double le[] = { 1, 2, INFINITY };
	const uint64_t cum[] = { 0, 4, 4 };

	(void)state;
	/* Prometheus divides 0 by the empty bucket's 0 count: NaN */
	assert_same(hq(0, le, cum, 3), NAN);
	assert_same(hq(0.5, le, cum, 3), 1.5);
}

static void test_histogram_nan_cases(void **state)
{
	const double no_inf[] = { 1, 2 };
	const uint64_t no_inf_cum[] = { 3, 5 };
	const double only_inf[] = { INFINITY };
	const uint64_t only_inf_cum[] = { 5 };
	const double le[] = { 1, INFINITY };
	const uint64_t empty[] = { 0, 0 };

	(void)state;
	assert_same(hq(0.5, no_inf, no_inf_cum, 2), NAN);	/* no +Inf bucket */
	assert_same(hq(0.5, only_inf, only_inf_cum, 1), NAN);	/* fewer than 2 buckets */
	assert_same(hq(0.5, le, empty, 2), NAN);		/* no observations */
	assert_same(hq(0.5, NULL, NULL, 0), NAN);
}

/*
 * Above 10^12 observations Prometheus >= 2.49 (PR #13153) takes a relative
 * increase of <= 1e-12 between buckets for float noise and flattens it:
 * p_bucket le=1:1e12 le=2:1e12+1 le=+Inf:1e12+1 gives 1 at q=1 (2.42, in
 * Debian bookworm, gives 2). At 10^11 the increase counts: 2 in both.
 */
static void test_histogram_precision_correction(void **state)
{
	const double le[] = { 1, 2, INFINITY };
	const uint64_t p[] = { 1000000000000ULL, 1000000000001ULL, 1000000000001ULL };
	const uint64_t r[] = { 100000000000ULL, 100000000001ULL, 100000000001ULL };

	(void)state;
	assert_same(hq(1, le, p, 3), 1);
	assert_same(hq(1, le, r, 3), 2);
}

static void test_histogram_rejects_malformed(void **state)
{
	const double unsorted[] = { 2, 1, INFINITY };
	const double dup[] = { 1, 1, INFINITY };
	const double nan_le[] = { 1, NAN, INFINITY };
	const double le[] = { 1, 2, INFINITY };
	const uint64_t cum[] = { 1, 2, 3 };
	const uint64_t decreasing[] = { 3, 2, 3 };
	double out;

	(void)state;
	assert_int_equal(quantile__histogram(0.5, unsorted, cum, 3, &out), -EINVAL);
	assert_int_equal(quantile__histogram(0.5, dup, cum, 3, &out), -EINVAL);
	assert_int_equal(quantile__histogram(0.5, nan_le, cum, 3, &out), -EINVAL);
	assert_int_equal(quantile__histogram(0.5, le, decreasing, 3, &out), -EINVAL);
	assert_int_equal(quantile__histogram(0.5, le, cum, 3, NULL), -EINVAL);
	assert_int_equal(quantile__histogram(0.5, NULL, cum, 3, &out), -EINVAL);
}

/* Bucketing follows `le`: a value equal to a bound belongs to that bucket. */
static void test_bucketize_le_semantics(void **state)
{
	const double le[] = { 1, 2, 4, INFINITY };
	const double v[] = { 0.5, 1, nextafter(1, 2), 2, 3.9, 4, 4.0001, 1e300, INFINITY, NAN, -7 };
	const uint64_t want[] = { 3, 5, 7, 10 };
	uint64_t cum[4];
	size_t i;

	(void)state;
	assert_int_equal(quantile__bucketize(v, ARRAY_SIZE(v), le, 4, cum), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(cum[i], want[i]);

	/* without +Inf, values above the last bound are counted nowhere */
	assert_int_equal(quantile__bucketize(v, ARRAY_SIZE(v), le, 3, cum), 0);
	assert_int_equal(cum[2], 7);
	assert_int_equal(quantile__bucketize(v, 2, (const double[]){ 2, 1 }, 2, cum), -EINVAL);
}

/* Trial mode end to end: the raw side and the bucket side of one window. */
static void test_trial_mode_window(void **state)
{
	const double le[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, INFINITY };
	const double qs[] = { 0.5, 0.95, 0.99 };
	double raw[1000], exact[3], est;
	uint64_t cum[ARRAY_SIZE(le)];
	size_t i;

	(void)state;
	for (i = 0; i < 1000; i++)
		raw[i] = (double)(1000 - i);		/* 1..1000, reversed */
	assert_int_equal(quantile__exact(raw, 1000, qs, 3, exact), 0);
	assert_same(exact[0], 500.5);
	assert_float_equal(exact[1], 950.05, 1e-9);
	assert_float_equal(exact[2], 990.01, 1e-9);
	assert_int_equal(quantile__bucketize(raw, 1000, le, ARRAY_SIZE(le), cum), 0);
	assert_int_equal(cum[8], 256);
	assert_int_equal(cum[9], 512);
	assert_int_equal(cum[10], 1000);
	/* p50: rank 500 in (256, 512] holding 256: 256 + 256 * 244/256 = 500 */
	est = hq(0.5, le, cum, ARRAY_SIZE(le));
	assert_same(est, 500);
	assert_float_equal(quantile__deviation(est, exact[0]), 0.5 / 500.5, 1e-15);
	/* p99: rank 990 in (512, 1024] holding 488: 512 + 512 * 478/488 */
	est = hq(0.99, le, cum, ARRAY_SIZE(le));
	assert_float_equal(est, 512 + 512.0 * 478 / 488, 1e-9);
	/* the wide top bucket overestimates the tail by about 2.4% */
	assert_float_equal(quantile__deviation(est, exact[2]), (est - exact[2]) / exact[2], 1e-15);
	assert_true(quantile__deviation(est, exact[2]) > 0.02);
	assert_true(quantile__deviation(est, exact[2]) < 0.03);
}

static void test_deviation_edges(void **state)
{
	(void)state;
	assert_same(quantile__deviation(110, 100), 0.1);
	assert_same(quantile__deviation(90, 100), 0.1);
	assert_same(quantile__deviation(-90, -100), 0.1);	/* |raw| in the denominator */
	assert_same(quantile__deviation(5, 5), 0);
	assert_same(quantile__deviation(0, 0), 0);		/* raw 0, bucket 0: none */
	assert_same(quantile__deviation(0.5, 0), INFINITY);	/* raw 0, bucket not: +Inf */
	assert_same(quantile__deviation(-0.5, 0), INFINITY);
	assert_same(quantile__deviation(INFINITY, INFINITY), 0);
	assert_same(quantile__deviation(INFINITY, 3), INFINITY);
	assert_same(quantile__deviation(3, -INFINITY), INFINITY);
	assert_same(quantile__deviation(NAN, 3), NAN);		/* e.g. an empty histogram */
	assert_same(quantile__deviation(3, NAN), NAN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_known_data),
		cmocka_unit_test(test_exact_fractions),
		cmocka_unit_test(test_exact_edges),
		cmocka_unit_test(test_exact_leaves_input),
		cmocka_unit_test(test_histogram_worked_example),
		cmocka_unit_test(test_histogram_exp2_latency),
		cmocka_unit_test(test_histogram_negative_lowest),
		cmocka_unit_test(test_histogram_zero_lowest),
		cmocka_unit_test(test_histogram_empty_first_bucket),
		cmocka_unit_test(test_histogram_nan_cases),
		cmocka_unit_test(test_histogram_precision_correction),
		cmocka_unit_test(test_histogram_rejects_malformed),
		cmocka_unit_test(test_bucketize_le_semantics),
		cmocka_unit_test(test_trial_mode_window),
		cmocka_unit_test(test_deviation_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
