// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Bucket selection: the kernel's emitd_bucket_slot() over the agent's bound
 * images must agree with Prometheus `le` semantics (value <= bound) at and
 * around every edge, for doubles, signed and unsigned integers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "lib/bucket.h"
#include "emitd_bucket.h"

static __u64 f64_bits(double d)
{
	__u64 b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

/* Reference: the first bound the value is <= to, else the +Inf slot. */
static unsigned int ref_slot_f64(const double *bounds, size_t n, double v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v <= bounds[i])
			return i;
	return n;
}

static unsigned int ref_slot_int(const double *bounds, size_t n, long double v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v <= (long double)bounds[i])
			return i;
	return n;
}

static unsigned int slot_of(const __u64 *img, size_t n, __u64 raw, __u8 type)
{
	return emitd_bucket_slot(img, n, emitd_image(raw, type));
}

static void test_f64_every_edge_and_neighbours(void **state)
{
	const double bounds[] = { -1000, -1, -0.5, 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1, 1e6 };
	const size_t n = sizeof(bounds) / sizeof(bounds[0]);
	__u64 img[EMITD_NR_SLOTS] = {};
	size_t i;

	(void)state;
	assert_int_equal(bucket__images(bounds, n, EMITD_VAL_F64, img), 0);
	for (i = 0; i < n; i++) {
		double edge = bounds[i];
		double around[] = { edge, nextafter(edge, -INFINITY), nextafter(edge, INFINITY) };
		size_t k;

		for (k = 0; k < 3; k++)
			assert_int_equal(slot_of(img, n, f64_bits(around[k]), EMITD_VAL_F64),
					 ref_slot_f64(bounds, n, around[k]));
	}
}

static void test_f64_zero_signs_infinities_nan(void **state)
{
	const double bounds[] = { -0.5, 0, 0.5 };
	__u64 img[EMITD_NR_SLOTS] = {};

	(void)state;
	assert_int_equal(bucket__images(bounds, 3, EMITD_VAL_F64, img), 0);
	/* -0.0 == 0.0, so both are <= the 0 bound */
	assert_int_equal(slot_of(img, 3, f64_bits(-0.0), EMITD_VAL_F64), 1);
	assert_int_equal(slot_of(img, 3, f64_bits(0.0), EMITD_VAL_F64), 1);
	assert_int_equal(slot_of(img, 3, f64_bits(-INFINITY), EMITD_VAL_F64), 0);
	assert_int_equal(slot_of(img, 3, f64_bits(INFINITY), EMITD_VAL_F64), 3);
	/* NaN <= le is false for every bound: only +Inf counts it, either sign */
	assert_int_equal(slot_of(img, 3, f64_bits(NAN), EMITD_VAL_F64), 3);
	assert_int_equal(slot_of(img, 3, f64_bits(-NAN), EMITD_VAL_F64), 3);
	assert_int_equal(slot_of(img, 3, f64_bits(DBL_TRUE_MIN), EMITD_VAL_F64), 2);
	assert_int_equal(slot_of(img, 3, f64_bits(-DBL_TRUE_MIN), EMITD_VAL_F64), 1);
}

static void test_f64_negative_zero_bound(void **state)
{
	const double bounds[] = { -0.0, 1 };
	__u64 img[EMITD_NR_SLOTS] = {};

	(void)state;
	assert_int_equal(bucket__images(bounds, 2, EMITD_VAL_F64, img), 0);
	assert_int_equal(slot_of(img, 2, f64_bits(0.0), EMITD_VAL_F64), 0);
	assert_int_equal(slot_of(img, 2, f64_bits(-0.0), EMITD_VAL_F64), 0);
}

static void test_s64_exp2_edges(void **state)
{
	double bounds[21];
	__u64 img[EMITD_NR_SLOTS] = {};
	long long v;
	size_t i;

	(void)state;
	for (i = 0; i < 21; i++)
		bounds[i] = ldexp(1, i);	/* 1 .. 1048576 */
	assert_int_equal(bucket__images(bounds, 21, EMITD_VAL_S64, img), 0);
	for (i = 0; i < 21; i++) {
		for (v = (long long)bounds[i] - 1; v <= (long long)bounds[i] + 1; v++)
			assert_int_equal(slot_of(img, 21, (__u64)v, EMITD_VAL_S64),
					 ref_slot_int(bounds, 21, v));
	}
	assert_int_equal(slot_of(img, 21, 0, EMITD_VAL_S64), 0);
	assert_int_equal(slot_of(img, 21, (__u64)-5LL, EMITD_VAL_S64), 0);
	assert_int_equal(slot_of(img, 21, (__u64)INT64_MIN, EMITD_VAL_S64), 0);
	assert_int_equal(slot_of(img, 21, (__u64)INT64_MAX, EMITD_VAL_S64), 21);
}

static void test_s64_fractional_and_negative_bounds(void **state)
{
	const double bounds[] = { -2.5, -1, 0.5, 2.5, 10 };
	__u64 img[EMITD_NR_SLOTS] = {};
	long long v;

	(void)state;
	assert_int_equal(bucket__images(bounds, 5, EMITD_VAL_S64, img), 0);
	for (v = -5; v <= 12; v++)
		assert_int_equal(slot_of(img, 5, (__u64)v, EMITD_VAL_S64),
				 ref_slot_int(bounds, 5, v));
}

static void test_u64_linear_edges_and_extremes(void **state)
{
	double bounds[20];
	__u64 img[EMITD_NR_SLOTS] = {};
	unsigned long long v;
	size_t i;

	(void)state;
	for (i = 0; i < 20; i++)
		bounds[i] = 10.0 * i;	/* linear start 0 width 10 */
	assert_int_equal(bucket__images(bounds, 20, EMITD_VAL_U64, img), 0);
	for (v = 0; v <= 200; v++)
		assert_int_equal(slot_of(img, 20, v, EMITD_VAL_U64),
				 ref_slot_int(bounds, 20, v));
	assert_int_equal(slot_of(img, 20, UINT64_MAX, EMITD_VAL_U64), 20);
}

static void test_u64_negative_bound_rejected(void **state)
{
	const double bounds[] = { -1, 1 };
	__u64 img[EMITD_NR_SLOTS] = {};

	(void)state;
	assert_int_equal(bucket__images(bounds, 2, EMITD_VAL_U64, img), -ERANGE);
}

static void test_unsorted_and_too_many_rejected(void **state)
{
	const double unsorted[] = { 1, 0.5 };
	double many[EMITD_MAX_BOUNDS + 1];
	__u64 img[EMITD_NR_SLOTS] = {};
	size_t i;

	(void)state;
	assert_int_equal(bucket__images(unsorted, 2, EMITD_VAL_F64, img), -EINVAL);
	for (i = 0; i < EMITD_MAX_BOUNDS + 1; i++)
		many[i] = i;
	assert_int_equal(bucket__images(many, EMITD_MAX_BOUNDS + 1, EMITD_VAL_F64, img), -E2BIG);
}

static void test_max_bounds_every_slot(void **state)
{
	double bounds[EMITD_MAX_BOUNDS];
	__u64 img[EMITD_NR_SLOTS] = {};
	int i;

	(void)state;
	for (i = 0; i < EMITD_MAX_BOUNDS; i++)
		bounds[i] = i * 2;
	assert_int_equal(bucket__images(bounds, EMITD_MAX_BOUNDS, EMITD_VAL_S64, img), 0);
	for (i = -1; i <= 2 * EMITD_MAX_BOUNDS + 1; i++)
		assert_int_equal(slot_of(img, EMITD_MAX_BOUNDS, (__u64)(long long)i, EMITD_VAL_S64),
				 ref_slot_int(bounds, EMITD_MAX_BOUNDS, i));
}

static void test_no_bounds_everything_in_inf(void **state)
{
	__u64 img[EMITD_NR_SLOTS] = {};

	(void)state;
	assert_int_equal(slot_of(img, 0, 12345, EMITD_VAL_U64), 0);
}

/*
 * The demo's latency: bounds written in seconds (2^i / 1e6), a value read in
 * microseconds with scale 1e-6. The kernel gets the integer bounds 2^i, so a
 * value buckets exactly as it did with exp2 { min: 1, max: 1048576 } in us.
 */
static void test_scaled_bounds_stay_integers(void **state)
{
	double secs[21], us[21];
	__u64 img[EMITD_NR_SLOTS] = {}, ref[EMITD_NR_SLOTS] = {};
	long long v;
	size_t i;

	(void)state;
	for (i = 0; i < 21; i++) {
		us[i] = (double)(1u << i);
		secs[i] = us[i] / 1e6;	/* what strtod makes of "0.000001", ... "1.048576" */
	}
	assert_true(secs[0] == 0.000001 && secs[20] == 1.048576 && secs[10] == 0.001024);
	assert_int_equal(bucket__scaled_images(secs, 21, 1e-6, EMITD_VAL_S64, img), 0);
	assert_int_equal(bucket__images(us, 21, EMITD_VAL_S64, ref), 0);
	assert_memory_equal(img, ref, sizeof(img));
	for (v = -1; v <= 1100000; v += 997)
		assert_int_equal(slot_of(img, 21, (__u64)v, EMITD_VAL_S64),
				 ref_slot_int(us, 21, v));
	for (i = 0; i < 21; i++) {
		v = 1LL << i;
		assert_int_equal(slot_of(img, 21, (__u64)v, EMITD_VAL_S64), i);
		assert_int_equal(slot_of(img, 21, (__u64)(v + 1), EMITD_VAL_S64), i + 1);
	}
}

static void test_scaled_bounds_rejected(void **state)
{
	const double half[] = { 0.000001, 0.0000015 };
	const double same[] = { 0.000001, 0.0000010000000000000003 };
	__u64 img[EMITD_NR_SLOTS] = {};
	double k;

	(void)state;
	/* 1.5 us: no integer bound; a double may be compared with it */
	assert_int_equal(bucket__scaled_images(half, 2, 1e-6, EMITD_VAL_S64, img), -EDOM);
	assert_int_equal(bucket__scaled_images(half, 2, 1e-6, EMITD_VAL_U64, img), -EDOM);
	assert_int_equal(bucket__scaled_images(half, 2, 1e-6, EMITD_VAL_F64, img), 0);
	assert_int_equal(bucket__unscale(0.0000015, 1e-6, EMITD_VAL_F64, &k), 0);
	assert_true(fabs(k - 1.5) < 1e-12);
	/* two distinct doubles, one integer bound */
	assert_int_equal(bucket__scaled_images(same, 2, 1e-6, EMITD_VAL_S64, img), -EINVAL);
	/* without a scale, integer values keep the floor of a fractional bound */
	assert_int_equal(bucket__scaled_images(half, 2, 1, EMITD_VAL_S64, img), 0);
	assert_int_equal(bucket__unscale(2.5, 1, EMITD_VAL_S64, &k), 0);
	assert_true(k == 2.5);
	/* a scale above 1: minutes read, seconds exported */
	assert_int_equal(bucket__unscale(120, 60, EMITD_VAL_S64, &k), 0);
	assert_true(k == 2);
	assert_int_equal(bucket__unscale(90, 60, EMITD_VAL_S64, &k), -EDOM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_f64_every_edge_and_neighbours),
		cmocka_unit_test(test_f64_zero_signs_infinities_nan),
		cmocka_unit_test(test_f64_negative_zero_bound),
		cmocka_unit_test(test_s64_exp2_edges),
		cmocka_unit_test(test_s64_fractional_and_negative_bounds),
		cmocka_unit_test(test_u64_linear_edges_and_extremes),
		cmocka_unit_test(test_u64_negative_bound_rejected),
		cmocka_unit_test(test_unsorted_and_too_many_rejected),
		cmocka_unit_test(test_max_bounds_every_slot),
		cmocka_unit_test(test_no_bounds_everything_in_inf),
		cmocka_unit_test(test_scaled_bounds_stay_integers),
		cmocka_unit_test(test_scaled_bounds_rejected),
	};

	return cmocka_run_group_tests_name("bucket", tests, NULL, NULL);
}
