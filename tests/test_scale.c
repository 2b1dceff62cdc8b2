// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * lib/scale: exported = read x scale, as the correctly rounded quotient when
 * 1 / scale is an integer, monotonic, and its inverse for bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/scale.h"

static void test_no_scale(void **state)
{
	(void)state;
	assert_true(scale__export(1234.5, 1) == 1234.5);
	assert_true(scale__export(1234.5, 0) == 1234.5);	/* none given */
	assert_true(scale__unexport(0.25, 1) == 0.25);
	assert_true(isnan(scale__export(NAN, 1e-6)));
}

/* 1500 us is 0.0015 s: the decimal text, as strtod reads it back. */
static void test_decimal_quotient(void **state)
{
	char buf[64];
	long long us;

	(void)state;
	assert_true(scale__export(1500, 1e-6) == 0.0015);
	assert_true(scale__export(3, 1e-3) == 0.003);
	assert_true(scale__export(7, 1e-9) == 7e-9);
	for (us = 0; us < 2000000; us += 1237) {
		snprintf(buf, sizeof(buf), "%lld.%06lld", us / 1000000, us % 1000000);
		assert_true(scale__export((double)us, 1e-6) == strtod(buf, NULL));
	}
	/* no integer inverse: a plain product */
	assert_true(scale__export(8, 0.125) == 1);
	assert_true(scale__export(3, 60) == 180);
	assert_true(scale__export(10, 0.3) == 10 * 0.3);
}

/* A counter that grows still grows once scaled. */
static void test_monotonic(void **state)
{
	const double scales[] = { 1e-6, 1e-3, 0.3, 7, 1e-9 };
	double prev, v;
	uint64_t c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(scales) / sizeof(scales[0]); i++) {
		prev = -1;
		for (c = (1ULL << 53) - 4096; c < (1ULL << 53); c++) {
			v = scale__export((double)c, scales[i]);
			assert_true(v >= prev);
			prev = v;
		}
	}
}

static void test_integral(void **state)
{
	double k;

	(void)state;
	assert_true(scale__integral(scale__unexport(0.000002, 1e-6), &k) && k == 2);
	assert_true(scale__integral(scale__unexport(1.048576, 1e-6), &k) && k == 1048576);
	assert_true(scale__integral(scale__unexport(0.3, 0.1), &k) && k == 3);
	assert_true(scale__integral(0, &k) && k == 0);
	assert_true(scale__integral(-4, &k) && k == -4);
	assert_false(scale__integral(scale__unexport(0.0000015, 1e-6), &k));
	assert_false(scale__integral(1 + 1e-12, &k));
	assert_false(scale__integral(1e-300, &k));
	assert_false(scale__integral(INFINITY, &k));
	assert_false(scale__integral(NAN, &k));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_scale),
		cmocka_unit_test(test_decimal_quotient),
		cmocka_unit_test(test_monotonic),
		cmocka_unit_test(test_integral),
	};

	return cmocka_run_group_tests_name("scale", tests, NULL, NULL);
}
