/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * guard: the growth of each metric's series, in series per minute, the
 * figure behind emitd_cardinality_growth_per_minute.
 *
 * The kernel enforces the series budgets and folds over-budget series into
 * the metric's overflow series; the agent tells the guard of every series it
 * sees appear. The guard counts a series as admitted while the metric's and
 * the global budget have room, as the budgets are written in the spec:
 *  - a metric's budget counts its overflow series too, so at most
 *    budget - 1 series of it are admitted (budget 1: none);
 *  - the global budget holds one slot per metric back for its overflow
 *    series, so at most global_budget - nr_metrics are admitted in all.
 * First come, first admitted; series never leave.
 *
 * Growth per minute is a count, never a rate scaled up: the series admitted
 * over the last minute. guard__tick() keeps the admitted-series count of
 * every metric at most every GUARD_GROWTH_SPACING_MS (GUARD_GROWTH_SAMPLES
 * kept); the growth is admitted now - admitted at the newest sample at least
 * GUARD_GROWTH_WINDOW_MS old (a window of 60 to 61 s). During the agent's
 * first minute it is the series admitted since the first sample. It can
 * therefore never exceed what the metric's budget admits in a minute.
 *
 * Pure: no clocks, no global state; the caller passes timestamps. Metrics
 * are indices 0..nr_metrics-1 (their position in the spec).
 */
#ifndef EMITD_GUARD_H
#define EMITD_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define GUARD_GROWTH_WINDOW_MS	60000
#define GUARD_GROWTH_SPACING_MS	1000
#define GUARD_GROWTH_SAMPLES	62	/* > window / spacing: a baseline is always kept */

struct guard;

/*
 * A guard for @nr_metrics metrics with @budgets[i] >= 1 each and
 * @global_budget >= nr_metrics. Returns NULL with errno EINVAL or ENOMEM.
 */
struct guard *guard__new(const unsigned int *budgets, unsigned int nr_metrics,
			 unsigned int global_budget);
void guard__free(struct guard *g);

/*
 * One new series of @metric. True when it counts as admitted (both budgets
 * had room); false when it is over a budget, or @metric is not one.
 */
bool guard__admit(struct guard *g, unsigned int metric);

/*
 * Sample the admitted-series counts at @now_ms and update the growth per
 * minute. Call it once per drain. -EINVAL when @now_ms is before the
 * previous tick.
 */
int guard__tick(struct guard *g, uint64_t now_ms);

/* Series of @metric admitted over the last minute, as of the last tick; 0 for no such metric. */
double guard__growth(const struct guard *g, unsigned int metric);

#endif /* EMITD_GUARD_H */
