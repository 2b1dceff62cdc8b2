// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * yaml_depth: the nesting limit, where the first collection past it is, and
 * what it leaves to the loader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lib/yaml_depth.h"

static int depth_of(const char *doc, int max, size_t *line, size_t *col)
{
	*line = *col = 0;
	return yaml__check_depth(doc, strlen(doc), max, line, col);
}

static void test_at_the_limit(void **state)
{
	size_t line, col;

	(void)state;
	assert_int_equal(depth_of("a:\n  b:\n    c: 1\n", 3, &line, &col), 0);
	assert_int_equal(depth_of("[[[1]]]", 3, &line, &col), 0);
	assert_int_equal(depth_of("", 1, &line, &col), 0);
	assert_int_equal(line, 0);
}

static void test_past_the_limit_names_the_collection(void **state)
{
	size_t line, col;

	(void)state;
	assert_int_equal(depth_of("a:\n  b:\n    c: [1]\n", 3, &line, &col), 1);
	assert_int_equal(line, 3);
	assert_int_equal(col, 8);
	assert_int_equal(depth_of("[[[[1]]]]", 3, &line, &col), 1);
	assert_int_equal(line, 1);
	assert_int_equal(col, 4);
}

/* Siblings do not add up: depth is nesting, not the number of collections. */
static void test_siblings_do_not_count(void **state)
{
	size_t line, col;

	(void)state;
	assert_int_equal(depth_of("- [1]\n- [2]\n- [3]\n- [4]\n", 2, &line, &col), 0);
}

/* A syntax error is the loader's to report, with its own position. */
static void test_syntax_errors_are_left_to_the_loader(void **state)
{
	size_t line, col;

	(void)state;
	assert_int_equal(depth_of("a: [1, 2\n", 8, &line, &col), 0);
	assert_int_equal(depth_of("a: b: c\n", 8, &line, &col), 0);
}

/* A deep flow nesting (quadratic in libyaml's scanner) stops at the limit. */
static void test_deep_flow_stops_early(void **state)
{
	static char doc[200001];
	size_t line, col;

	(void)state;
	memset(doc, '[', sizeof(doc) - 1);
	assert_int_equal(depth_of(doc, 32, &line, &col), 1);
	assert_int_equal(line, 1);
	assert_int_equal(col, 33);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_at_the_limit),
		cmocka_unit_test(test_past_the_limit_names_the_collection),
		cmocka_unit_test(test_siblings_do_not_count),
		cmocka_unit_test(test_syntax_errors_are_left_to_the_loader),
		cmocka_unit_test(test_deep_flow_stops_early),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
