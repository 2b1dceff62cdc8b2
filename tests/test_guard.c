// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * guard: which new series count as admitted under the metric and global
 * budgets, and the growth per minute of the admitted series (the figure the
 * agent exports as emitd_cardinality_growth_per_minute).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "lib/guard.h"

/* Offer @n new series of @metric; the number the guard admitted. */
static unsigned int offer(struct guard *g, unsigned int metric, unsigned int n)
{
	unsigned int admitted = 0;

	while (n--)
		admitted += guard__admit(g, metric);
	return admitted;
}

static void test_new_rejects_bad_budgets(void **state)
{
	const unsigned int zero[] = { 64, 0 };
	const unsigned int ok[] = { 64, 64 };

	(void)state;
	errno = 0;
	assert_null(guard__new(zero, 2, 4096));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(guard__new(ok, 2, 1));		/* no room for two overflow series */
	assert_int_equal(errno, EINVAL);
	assert_null(guard__new(NULL, 2, 4096));
}

static void test_bad_arguments(void **state)
{
	const unsigned int b[] = { 4 };
	struct guard *g;

	(void)state;
	g = guard__new(b, 1, 10);
	assert_non_null(g);
	assert_false(guard__admit(g, 1));		/* no metric 1 */
	assert_false(guard__admit(NULL, 0));
	assert_int_equal(guard__tick(NULL, 0), -EINVAL);
	assert_float_equal(guard__growth(g, 1), 0, 0);
	assert_float_equal(guard__growth(NULL, 0), 0, 0);
	/* the bad calls counted nothing: metric 0 still has its 3 series */
	assert_int_equal(offer(g, 0, 10), 3);
	guard__free(g);
}

/* The first budget - 1 series, in call order, are the admitted ones. */
static void test_admission_is_first_come(void **state)
{
	const unsigned int budget[] = { 4 };
	struct guard *g;
	unsigned int i;

	(void)state;
	g = guard__new(budget, 1, 100);
	assert_non_null(g);
	for (i = 0; i < 3; i++)
		assert_true(guard__admit(g, 0));
	for (i = 0; i < 10; i++)
		assert_false(guard__admit(g, 0));	/* the budget never frees up */
	guard__free(g);
}

/* 10,000 distinct series against a budget of 64: one slot is the overflow's. */
static void test_many_series_admit_budget_minus_one(void **state)
{
	const unsigned int budget[] = { 64 };
	struct guard *g;

	(void)state;
	g = guard__new(budget, 1, 4096);
	assert_non_null(g);
	assert_int_equal(offer(g, 0, 10000), 63);
	guard__free(g);
}

static void test_budget_one_admits_nothing(void **state)
{
	const unsigned int budget[] = { 1 };
	struct guard *g;

	(void)state;
	g = guard__new(budget, 1, 1);
	assert_non_null(g);
	assert_int_equal(offer(g, 0, 5), 0);
	guard__free(g);
}

/*
 * Three metrics of budget 64 under a global budget of 100: 97 series fit
 * (3 global slots held for the overflow series). Metric 0 takes 63,
 * metric 1 the remaining 34, metric 2 none.
 */
static void test_global_budget_across_metrics(void **state)
{
	const unsigned int budget[] = { 64, 64, 64 };
	const unsigned int want_admitted[] = { 63, 34, 0 };
	unsigned int m, admitted[3] = {};
	struct guard *g;

	(void)state;
	g = guard__new(budget, 3, 100);
	assert_non_null(g);
	for (m = 0; m < 3; m++)
		admitted[m] = offer(g, m, 200);
	/* interleaved, once every budget is spent: nothing more */
	for (m = 0; m < 3; m++)
		assert_int_equal(offer(g, m, 100), 0);
	for (m = 0; m < 3; m++)
		assert_int_equal(admitted[m], want_admitted[m]);
	guard__free(g);
}

static void admit_n(struct guard *g, unsigned int metric, unsigned int n)
{
	while (n--)
		assert_true(guard__admit(g, metric));
}

static void test_growth_sliding_minute(void **state)
{
	const unsigned int budget[] = { 1000, 1000 };
	struct guard *g;

	(void)state;
	g = guard__new(budget, 2, 4096);
	assert_non_null(g);
	assert_int_equal(guard__tick(g, 0), 0);
	assert_float_equal(guard__growth(g, 0), 0, 0);
	admit_n(g, 0, 10);
	/* younger than a minute: the series admitted since the first sample, not scaled */
	assert_int_equal(guard__tick(g, 30000), 0);
	assert_float_equal(guard__growth(g, 0), 10, 1e-9);
	assert_float_equal(guard__growth(g, 1), 0, 0);
	admit_n(g, 0, 30);
	assert_int_equal(guard__tick(g, 60000), 0);		/* baseline: t=0 */
	assert_float_equal(guard__growth(g, 0), 40, 1e-9);
	assert_int_equal(guard__tick(g, 100000), 0);		/* baseline: t=30000 */
	assert_float_equal(guard__growth(g, 0), 30, 1e-9);
	assert_int_equal(guard__tick(g, 220000), 0);		/* baseline: t=100000 */
	assert_float_equal(guard__growth(g, 0), 0, 0);
	assert_int_equal(guard__tick(g, 219999), -EINVAL);	/* time went back */
	guard__free(g);
}

/* Steady growth of 6 series per 5 s tick: 72 in every minute, across ring wraps. */
static void test_growth_steady_ring(void **state)
{
	const unsigned int budget[] = { 10000 };
	uint64_t t;
	struct guard *g;

	(void)state;
	g = guard__new(budget, 1, 10000);
	assert_non_null(g);
	for (t = 0; t <= 600000; t += 5000) {
		if (t)
			admit_n(g, 0, 6);
		assert_int_equal(guard__tick(g, t), 0);
		if (t >= 60000)
			assert_float_equal(guard__growth(g, 0), 72, 1e-9);
	}
	guard__free(g);
}

/*
 * The 422.9 for a metric capped at 16 series: 15 series in the first
 * 2 s were scaled to a minute. The figure is a count of series admitted over
 * the last minute, so it never exceeds what the budget admits.
 */
static void test_growth_is_bounded_by_the_budget(void **state)
{
	const unsigned int budget[] = { 16 };
	uint64_t t;
	struct guard *g;

	(void)state;
	g = guard__new(budget, 1, 100);
	assert_non_null(g);
	assert_int_equal(guard__tick(g, 0), 0);
	assert_int_equal(offer(g, 0, 400), 15);
	for (t = 100; t <= 120000; t += 100) {
		assert_int_equal(guard__tick(g, t), 0);
		assert_true(guard__growth(g, 0) <= 15);
		if (t <= 60000)
			assert_float_equal(guard__growth(g, 0), 15, 1e-9);
	}
	assert_float_equal(guard__growth(g, 0), 0, 0);	/* a minute later: no new series */
	guard__free(g);
}

/* Series over the budget do not grow the figure: 10 offered, 3 admitted. */
static void test_growth_counts_admitted_only(void **state)
{
	const unsigned int budget[] = { 4 };
	struct guard *g;

	(void)state;
	g = guard__new(budget, 1, 100);
	assert_non_null(g);
	assert_int_equal(guard__tick(g, 0), 0);
	assert_int_equal(offer(g, 0, 10), 3);
	assert_int_equal(guard__tick(g, 60000), 0);
	assert_float_equal(guard__growth(g, 0), 3, 1e-9);
	guard__free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_budgets),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_admission_is_first_come),
		cmocka_unit_test(test_many_series_admit_budget_minus_one),
		cmocka_unit_test(test_budget_one_admits_nothing),
		cmocka_unit_test(test_global_budget_across_metrics),
		cmocka_unit_test(test_growth_sliding_minute),
		cmocka_unit_test(test_growth_steady_ring),
		cmocka_unit_test(test_growth_counts_admitted_only),
		cmocka_unit_test(test_growth_is_bounded_by_the_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
