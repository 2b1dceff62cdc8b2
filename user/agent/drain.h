/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * agent_batch: the agent's drain controller. It feeds the kernel's pending
 * counters and the sample ring's fill to the cadence (cadence.h), drains
 * when the cadence says so, re-arms the kernel's wake-up mark with the new
 * target, switches shedding on and off, and keeps the self-metrics of the
 * drain loop, the lanes, the cardinality guard and histogram trial mode.
 */
#ifndef EMITD_AGENT_DRAIN_H
#define EMITD_AGENT_DRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cadence.h"
#include "agent/collector.h"
#include "agent/families.h"

#define AGENT_BATCH_MAX_TRIAL	16

struct agent_batch_opts {
	struct cadence_config cadence;
	double drain_budget_s;		/* time for one drain before the normal lane waits */
	const char *trial[AGENT_BATCH_MAX_TRIAL];	/* --hist-trial metric names */
	size_t nr_trial;
	unsigned int trial_window;	/* raw observations kept per metric, default 4096 */
};

struct agent_batch;

void agent_batch_opts__init(struct agent_batch_opts *o);
/* Check --hist-trial names against the spec; marks their probes for sampling. */
int agent_batch__new(const struct agent_batch_opts *o, struct collector *c, uint64_t now_ms,
		     struct agent_batch **out);
void agent_batch__free(struct agent_batch *ab);

/* True when the trial set asks @m's raw values through the sample lane. */
bool agent_batch__wants_samples(const struct agent_batch *ab, const struct store_metric *m);
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

void agent_batch__add_metrics(struct agent_batch *ab, struct fam_builder *fb);

#endif /* EMITD_AGENT_DRAIN_H */
