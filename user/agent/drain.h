/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * agent_batch: the agent's drain controller (drain.c). It feeds the kernel's
 * pending counters and the sample ring's fill to the cadence (cadence.h),
 * drains when the cadence says so, re-arms the kernel's wake-up mark with the
 * new target, switches shedding on and off, and keeps the figures of the
 * drain loop, the lanes, the cardinality guard and histogram trial mode,
 * which agent_batch__stats() copies out.
 */
#ifndef EMITD_AGENT_DRAIN_H
#define EMITD_AGENT_DRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cadence.h"
#include "agent/collector.h"

#define AGENT_BATCH_MAX_TRIAL		16
#define AGENT_BATCH_NR_DRAIN_BOUNDS	13	/* emitd_drain_duration_seconds */
#define AGENT_BATCH_NR_TRIAL_QS		3	/* p50, p95, p99 */

struct agent_batch_opts {
	struct cadence_config cadence;
	double drain_budget_s;		/* time for one drain before the normal lane waits */
	const char *trial[AGENT_BATCH_MAX_TRIAL];	/* --hist-trial metric names */
	size_t nr_trial;
	unsigned int trial_window;	/* raw observations kept per metric, default 4096 */
};

struct agent_batch_trial_stats {
	uint32_t metric_idx;		/* the store metric */
	bool valid;			/* enough observations for the deviations */
	double deviation[AGENT_BATCH_NR_TRIAL_QS];
};

/* What the controller has seen, copied out by agent_batch__stats(). */
struct agent_batch_stats {
	/* drain durations: bounds (static data) and non-cumulative counts */
	const double *drain_bounds;
	uint64_t drain_slots[AGENT_BATCH_NR_DRAIN_BOUNDS + 1];
	uint64_t drain_count;
	double drain_sum;
	uint64_t last_increments;	/* events the last drain took in */
	struct cadence_stats cadence;
	double lane_worst_s[COLLECTOR_LANE_MAX];	/* over the last one to two minutes */
	double growth_per_minute[EMITD_MAX_METRICS];	/* by store metric */
	struct agent_batch_trial_stats trials[AGENT_BATCH_MAX_TRIAL];
	size_t nr_trials;
	const char *const *trial_quantiles;	/* the quantile label values, static */
};

struct agent_batch;

void agent_batch_opts__init(struct agent_batch_opts *o);
/* Check --hist-trial names against the spec; marks their probes for sampling. */
int agent_batch__new(const struct agent_batch_opts *o, struct collector *c, uint64_t now_ms,
		     struct agent_batch **out);
void agent_batch__free(struct agent_batch *ab);
/* After collector__reload(): the guard and trial mode follow the new store. */
int agent_batch__respec(struct agent_batch *ab);

/* A raw observation of a trial histogram, from the sample lane. */
void agent_batch__on_sample(struct agent_batch *ab, const struct store_metric *m, double v);

/*
 * Look at the kernel counters at @now_ms: returns true when a drain is due,
 * and the milliseconds until the next look otherwise.
 */
bool agent_batch__due(struct agent_batch *ab, uint64_t now_ms, int *timeout_ms);
/* After a drain that took @seconds: cadence, wake mark, shedding, guard. */
int agent_batch__drained(struct agent_batch *ab, uint64_t now_ms, double seconds);
double agent_batch__budget_s(const struct agent_batch *ab);
void agent_batch__stats(const struct agent_batch *ab, struct agent_batch_stats *out);

#endif /* EMITD_AGENT_DRAIN_H */
