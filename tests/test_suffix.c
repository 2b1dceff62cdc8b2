// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * suffix: the series of each metric type, the counter's _total, unit
 * suffixes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lib/suffix.h"

static void assert_series(enum suffix_type type, const char *const *want, size_t nr)
{
	const char *const *got;
	size_t i;

	assert_int_equal(suffix__series(type, &got), nr);
	for (i = 0; i < nr; i++)
		assert_string_equal(got[i], want[i]);
}

static void test_series(void **state)
{
	static const char *const plain[] = { "" };
	static const char *const hist[] = { "_bucket", "_count", "_sum" };
	static const char *const norm[] = {
		"_events_total", "_zeroed_total", "_before_abs_mean", "_after_abs_mean",
		"_samples_total",
	};
	const char *const *got;

	(void)state;
	assert_series(SUFFIX_COUNTER, plain, 1);
	assert_series(SUFFIX_GAUGE, plain, 1);
	assert_series(SUFFIX_HISTOGRAM, hist, 3);
	assert_series(SUFFIX_NORMALIZATION, norm, 5);
	assert_int_equal(suffix__series(SUFFIX_TYPE_NR, &got), 0);
	assert_null(got);
}

static void test_total(void **state)
{
	(void)state;
	assert_true(suffix__has("hits_total", 10, SUFFIX_TOTAL));
	assert_false(suffix__has("hits_total", 9, SUFFIX_TOTAL));
	assert_false(suffix__has("total", 5, SUFFIX_TOTAL));
	assert_int_equal(suffix__strip_total("hits_total", 10), 4);
	assert_int_equal(suffix__strip_total("hits", 4), 4);
	/* a name that is the suffix alone keeps it */
	assert_int_equal(suffix__strip_total("_total", 6), 6);
	assert_int_equal(suffix__strip_total("a_total", 7), 1);
}

static void test_unit(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(suffix__unit(buf, sizeof(buf), "seconds", false), 8);
	assert_string_equal(buf, "_seconds");
	suffix__unit(buf, sizeof(buf), "bytes", true);
	assert_string_equal(buf, "_bytes_total");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_series),
		cmocka_unit_test(test_total),
		cmocka_unit_test(test_unit),
	};

	return cmocka_run_group_tests_name("suffix", tests, NULL, NULL);
}
