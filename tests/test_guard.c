// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * guard: budgets, folding into __other__ with exact totals, the global
 * budget across metrics, the folding_started edge and growth per minute.
 *
 * The fold tests simulate the caller's store: a series is unknown, admitted
 * (it has its own value) or folded (its values go to the metric's
 * __other__), and every drained delta lands in exactly one of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/guard.h"

#define NR_SERIES	10000
#define NR_ROUNDS	5

enum slot_state {
	SLOT_UNKNOWN = 0,
	SLOT_ADMITTED,
	SLOT_FOLDED,
};

/* The caller's side: one metric's series and its __other__. */
struct sim_store {
	enum slot_state state[NR_SERIES];
	uint64_t value[NR_SERIES];	/* admitted series only */
	uint64_t other;			/* __other__ */
	bool other_exists;
	unsigned int warnings;		/* folding_started seen */
	uint64_t input_total;
	uint64_t input[NR_SERIES];	/* every delta, per series */
};

/* Deterministic xorshift64*, so a failure reproduces. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Route one drained delta of series @i as the agent's store would. */
static void sim_drain(struct guard *g, unsigned int metric, struct sim_store *st,
		      unsigned int i, uint64_t delta)
{
	struct guard_verdict v;

	st->input[i] += delta;
	st->input_total += delta;
	if (st->state[i] == SLOT_ADMITTED) {
		st->value[i] += delta;
		return;
	}
	assert_int_equal(guard__admit(g, metric, st->state[i] == SLOT_UNKNOWN, &v), 0);
	if (v.folding_started) {
		assert_false(st->other_exists);
		st->other_exists = true;
		st->warnings++;
	}
	if (!v.fold) {
		assert_int_equal(v.reason, GUARD_ADMITTED);
		st->state[i] = SLOT_ADMITTED;
		st->value[i] += delta;
		return;
	}
	assert_true(st->other_exists);
	if (st->state[i] == SLOT_FOLDED)
		assert_int_equal(v.reason, GUARD_FOLD_KNOWN);
	st->state[i] = SLOT_FOLDED;
	st->other += delta;
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
	assert_null(guard__new(ok, 2, 1));		/* no room for two __other__ */
	assert_int_equal(errno, EINVAL);
	assert_null(guard__new(NULL, 2, 4096));
}

static void test_bad_arguments(void **state)
{
	const unsigned int b[] = { 4 };
	struct guard_metric_stats ms;
	struct guard_verdict v;
	struct guard *g;

	(void)state;
	g = guard__new(b, 1, 10);
	assert_non_null(g);
	assert_int_equal(guard__admit(g, 1, true, &v), -EINVAL);
	assert_int_equal(guard__admit(g, 0, true, NULL), -EINVAL);
	assert_int_equal(guard__metric_stats(g, 1, &ms), -EINVAL);
	/* "folded before" for a metric that never folded: a caller bug */
	assert_int_equal(guard__admit(g, 0, false, &v), -EINVAL);
	assert_int_equal(guard__metric_stats(g, 0, &ms), 0);
	assert_int_equal(ms.admitted, 0);
	assert_int_equal(ms.folded_series, 0);
	guard__free(g);
}

/* 10,000 distinct series with random counts against a budget of 64. */
static void test_fold_keeps_totals_exact(void **state)
{
	const unsigned int budget[] = { 64 };
	struct guard_metric_stats ms;
	struct sim_store *st;
	uint64_t seed = 0x9e3779b97f4a7c15ULL, sum;
	unsigned int r, i, admitted = 0;
	struct guard *g;

	(void)state;
	st = calloc(1, sizeof(*st));
	assert_non_null(st);
	g = guard__new(budget, 1, 4096);
	assert_non_null(g);
	for (r = 0; r < NR_ROUNDS; r++) {
		/* each drain round sees every series in a fresh random order */
		for (i = 0; i < NR_SERIES; i++) {
			unsigned int s = (unsigned int)(rnd(&seed) % NR_SERIES);
			uint64_t delta = 1 + rnd(&seed) % 1000;

			sim_drain(g, 0, st, s, delta);
		}
		for (i = 0; i < NR_SERIES; i++)
			sim_drain(g, 0, st, i, rnd(&seed) % 50);
	}

	sum = st->other;
	for (i = 0; i < NR_SERIES; i++) {
		if (st->state[i] != SLOT_ADMITTED)
			continue;
		admitted++;
		assert_int_equal(st->value[i], st->input[i]);	/* exact per series */
		sum += st->value[i];
	}
	assert_int_equal(sum, st->input_total);			/* the fold loses nothing */
	assert_int_equal(admitted, 63);				/* one slot for __other__ */
	assert_int_equal(st->warnings, 1);			/* folding_started fired once */

	assert_int_equal(guard__metric_stats(g, 0, &ms), 0);
	assert_int_equal(ms.budget, 64);
	assert_int_equal(ms.admitted, 63);
	assert_int_equal(ms.series, 64);			/* never above the budget */
	assert_int_equal(ms.folded_series, NR_SERIES - 63);	/* distinct, counted once */
	assert_true(ms.folding);
	assert_int_equal(ms.fold_reason, GUARD_FOLD_METRIC_BUDGET);
	guard__free(g);
	free(st);
}

/* The first budget - 1 series, in call order, are the admitted ones. */
static void test_admission_is_first_come(void **state)
{
	const unsigned int budget[] = { 4 };
	struct guard_verdict v;
	struct guard *g;
	unsigned int i;

	(void)state;
	g = guard__new(budget, 1, 100);
	assert_non_null(g);
	for (i = 0; i < 3; i++) {
		assert_int_equal(guard__admit(g, 0, true, &v), 0);
		assert_false(v.fold);
		assert_false(v.folding_started);
	}
	assert_int_equal(guard__admit(g, 0, true, &v), 0);
	assert_true(v.fold);
	assert_true(v.folding_started);
	assert_int_equal(v.reason, GUARD_FOLD_METRIC_BUDGET);
	for (i = 0; i < 10; i++) {
		assert_int_equal(guard__admit(g, 0, true, &v), 0);
		assert_true(v.fold);
		assert_false(v.folding_started);
	}
	assert_int_equal(guard__admit(g, 0, false, &v), 0);	/* known folded series */
	assert_true(v.fold);
	assert_int_equal(v.reason, GUARD_FOLD_KNOWN);
	guard__free(g);
}

static void test_budget_one_folds_everything(void **state)
{
	const unsigned int budget[] = { 1 };
	struct guard_metric_stats ms;
	struct guard_verdict v;
	struct guard *g;

	(void)state;
	g = guard__new(budget, 1, 1);
	assert_non_null(g);
	assert_int_equal(guard__admit(g, 0, true, &v), 0);
	assert_true(v.fold && v.folding_started);
	assert_int_equal(guard__admit(g, 0, true, &v), 0);
	assert_true(v.fold && !v.folding_started);
	assert_int_equal(guard__metric_stats(g, 0, &ms), 0);
	assert_int_equal(ms.series, 1);
	assert_int_equal(ms.admitted, 0);
	assert_int_equal(ms.folded_series, 2);
	guard__free(g);
}

/*
 * Three metrics of budget 64 under a global budget of 100: 97 ordinary
 * series fit (3 global slots held for the __other__ series). Metric 0 takes
 * 63, metric 1 the remaining 34, metric 2 none; each folds once, and the
 * total ends at exactly 100.
 */
static void test_global_budget_across_metrics(void **state)
{
	const unsigned int budget[] = { 64, 64, 64 };
	const unsigned int want_admitted[] = { 63, 34, 0 };
	const enum guard_reason want_reason[] = {
		GUARD_FOLD_METRIC_BUDGET, GUARD_FOLD_GLOBAL_BUDGET, GUARD_FOLD_GLOBAL_BUDGET,
	};
	struct sim_store *st[3];
	struct guard_metric_stats ms;
	struct guard_stats gs;
	uint64_t seed = 42, sum;
	unsigned int m, i;
	struct guard *g;

	(void)state;
	g = guard__new(budget, 3, 100);
	assert_non_null(g);
	for (m = 0; m < 3; m++) {
		st[m] = calloc(1, sizeof(*st[m]));
		assert_non_null(st[m]);
	}
	/* metric 0 fills up first, then 1, then 2; then all interleaved */
	for (m = 0; m < 3; m++)
		for (i = 0; i < 200; i++)
			sim_drain(g, m, st[m], i, 1 + rnd(&seed) % 100);
	for (i = 0; i < 3000; i++) {
		m = (unsigned int)(rnd(&seed) % 3);
		sim_drain(g, m, st[m], (unsigned int)(rnd(&seed) % 1000), rnd(&seed) % 100);
	}

	for (m = 0; m < 3; m++) {
		sum = st[m]->other;
		for (i = 0; i < NR_SERIES; i++)
			if (st[m]->state[i] == SLOT_ADMITTED)
				sum += st[m]->value[i];
		assert_int_equal(sum, st[m]->input_total);
		assert_int_equal(st[m]->warnings, 1);
		assert_int_equal(guard__metric_stats(g, m, &ms), 0);
		assert_int_equal(ms.admitted, want_admitted[m]);
		assert_int_equal(ms.series, want_admitted[m] + 1);
		assert_int_equal(ms.fold_reason, want_reason[m]);
	}
	guard__stats(g, &gs);
	assert_int_equal(gs.nr_metrics, 3);
	assert_int_equal(gs.global_budget, 100);
	assert_int_equal(gs.admitted, 97);
	assert_int_equal(gs.series, 100);
	assert_int_equal(gs.folding_metrics, 3);
	for (m = 0; m < 3; m++)
		free(st[m]);
	guard__free(g);
}

static void admit_n(struct guard *g, unsigned int metric, unsigned int n)
{
	struct guard_verdict v;

	while (n--) {
		assert_int_equal(guard__admit(g, metric, true, &v), 0);
		assert_false(v.fold);
	}
}

static double growth(const struct guard *g, unsigned int metric)
{
	struct guard_metric_stats ms;

	assert_int_equal(guard__metric_stats(g, metric, &ms), 0);
	return ms.growth_per_minute;
}

static void test_growth_sliding_minute(void **state)
{
	const unsigned int budget[] = { 1000, 1000 };
	struct guard *g;

	(void)state;
	g = guard__new(budget, 2, 4096);
	assert_non_null(g);
	assert_int_equal(guard__tick(g, 0), 0);
	assert_float_equal(growth(g, 0), 0, 0);
	admit_n(g, 0, 10);
	/* younger than a minute: from the oldest sample, scaled to a minute */
	assert_int_equal(guard__tick(g, 30000), 0);
	assert_float_equal(growth(g, 0), 20, 1e-9);
	assert_float_equal(growth(g, 1), 0, 0);
	admit_n(g, 0, 30);
	assert_int_equal(guard__tick(g, 60000), 0);		/* baseline: t=0 */
	assert_float_equal(growth(g, 0), 40, 1e-9);
	assert_int_equal(guard__tick(g, 100000), 0);		/* baseline: t=30000 */
	assert_float_equal(growth(g, 0), 30.0 * 60000 / 70000, 1e-9);
	assert_int_equal(guard__tick(g, 220000), 0);		/* baseline: t=100000 */
	assert_float_equal(growth(g, 0), 0, 0);
	assert_int_equal(guard__tick(g, 219999), -EINVAL);	/* time went back */
	guard__free(g);
}

/* Steady growth of 6 series per 5 s tick: 72 per minute, across ring wraps. */
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
			assert_float_equal(growth(g, 0), 72, 1e-9);
	}
	guard__free(g);
}

static void test_reason_strings(void **state)
{
	(void)state;
	assert_string_equal(guard_reason__str(GUARD_ADMITTED), "admitted");
	assert_string_equal(guard_reason__str(GUARD_FOLD_METRIC_BUDGET), "metric_budget");
	assert_string_equal(guard_reason__str(GUARD_FOLD_GLOBAL_BUDGET), "global_budget");
	assert_string_equal(guard_reason__str(GUARD_FOLD_KNOWN), "known");
	assert_string_equal(GUARD_OTHER_VALUE, "__other__");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_budgets),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_fold_keeps_totals_exact),
		cmocka_unit_test(test_admission_is_first_come),
		cmocka_unit_test(test_budget_one_folds_everything),
		cmocka_unit_test(test_global_budget_across_metrics),
		cmocka_unit_test(test_growth_sliding_minute),
		cmocka_unit_test(test_growth_steady_ring),
		cmocka_unit_test(test_reason_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
