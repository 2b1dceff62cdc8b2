/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * guard: the cardinality guard. Per-metric series budgets and a global one;
 * a new series beyond them folds into its metric's overflow series, whose
 * label values are all GUARD_OTHER_VALUE. The caller adds a folded series'
 * values into the overflow series, so every sum over the metric stays
 * exact; only the split by label is lost for the folded series.
 *
 * Pure: no clocks, no global state; the caller passes timestamps. Metrics
 * are indices 0..nr_metrics-1 (the spec's metric ids).
 *
 * Deterministic and bounded: first come, first admitted, in call order.
 * Series never leave, so a budget never frees up and a folded series stays
 * folded.
 *  - Each metric's budget counts every series it exports, `__other__`
 *    included: one slot is held back for `__other__`, so at most budget - 1
 *    ordinary series are admitted (budget 1: everything folds).
 *  - The global budget counts every series of every metric, `__other__`
 *    included: one global slot per metric is held back for its `__other__`,
 *    so at most global_budget - nr_metrics ordinary series are admitted over
 *    all metrics, and the total never exceeds global_budget.
 *
 * Growth per minute is a sliding difference: guard__tick() keeps the
 * admitted-series count of every metric at most every
 * GUARD_GROWTH_SPACING_MS (GUARD_GROWTH_SAMPLES kept); the growth is
 * (admitted now - admitted at the newest sample at least
 * GUARD_GROWTH_WINDOW_MS old) scaled to one minute. Until such a sample
 * exists the oldest sample is the baseline (extrapolated to a minute).
 */
#ifndef EMITD_GUARD_H
#define EMITD_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define GUARD_OTHER_VALUE	"__other__"

#define GUARD_GROWTH_WINDOW_MS	60000
#define GUARD_GROWTH_SPACING_MS	10000
#define GUARD_GROWTH_SAMPLES	8	/* > window / spacing: a baseline is always kept */

enum guard_reason {
	GUARD_ADMITTED = 0,
	GUARD_FOLD_METRIC_BUDGET,	/* the metric's budget is spent */
	GUARD_FOLD_GLOBAL_BUDGET,	/* the global budget is spent */
	GUARD_FOLD_KNOWN,		/* a series folded before */
};

struct guard_verdict {
	bool fold;		/* route the series' values into __other__ */
	/*
	 * The metric's first fold: create its __other__ series and log the
	 * metric's one warning (reason says which budget ran out).
	 */
	bool folding_started;
	enum guard_reason reason;
};

struct guard_metric_stats {
	unsigned int budget;		/* emitd_cardinality_budget */
	unsigned int series;		/* emitd_cardinality_series: admitted + __other__ */
	unsigned int admitted;		/* ordinary series admitted */
	uint64_t folded_series;		/* emitd_cardinality_folded_series: distinct */
	bool folding;			/* __other__ exists */
	enum guard_reason fold_reason;	/* why folding started */
	double growth_per_minute;	/* emitd_cardinality_growth_per_minute */
};

struct guard_stats {
	unsigned int nr_metrics;
	unsigned int global_budget;
	unsigned int series;		/* all metrics, every __other__ included */
	unsigned int admitted;
	uint64_t folded_series;
	unsigned int folding_metrics;
};

struct guard;

/*
 * A guard for @nr_metrics metrics with @budgets[i] >= 1 each and
 * @global_budget >= nr_metrics. Returns NULL with errno EINVAL or ENOMEM.
 */
struct guard *guard__new(const unsigned int *budgets, unsigned int nr_metrics,
			 unsigned int global_budget);
void guard__free(struct guard *g);

/*
 * Decide for one series of @metric that has no series of its own in the
 * caller's store. @is_new: the caller has never seen it; it is admitted when
 * both budgets have room, else folded and counted once in folded_series.
 * !@is_new: the caller folded it before; it folds again, uncounted
 * (-EINVAL if the metric never folded). Returns 0, or -EINVAL for a bad
 * metric index or NULL arguments (nothing counted).
 */
int guard__admit(struct guard *g, unsigned int metric, bool is_new, struct guard_verdict *v);

/*
 * Sample the admitted-series counts at @now_ms and update the growth per
 * minute. Call it once per drain. -EINVAL when @now_ms is before the
 * previous tick.
 */
int guard__tick(struct guard *g, uint64_t now_ms);

int guard__metric_stats(const struct guard *g, unsigned int metric,
			struct guard_metric_stats *st);
void guard__stats(const struct guard *g, struct guard_stats *st);
unsigned int guard__nr_metrics(const struct guard *g);
const char *guard_reason__str(enum guard_reason reason);

#endif /* EMITD_GUARD_H */
