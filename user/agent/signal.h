/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * agent_signal: the agent's signal metrics. Every drain samples the series of
 * `signal: true` metrics into channels (counters: their per-drain rate,
 * gauges: their value at its update time, histograms: their per-drain mean);
 * on a schedule (every N drains or T ms, whichever comes first) it computes
 * entropy, total correlation, resilience and criticality over the window and
 * keeps the MetricsSnapshot v1 JSON for /snapshot.
 */
#ifndef EMITD_AGENT_SIGNAL_H
#define EMITD_AGENT_SIGNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/channels.h"
#include "lib/expo.h"
#include "agent/families.h"
#include "lib/signal_metrics.h"
#include "agent/store.h"

struct agent_signal_opts {
	struct chan_config chan;
	struct signal_config math;
	unsigned int every_drains;	/* default 10 */
	unsigned int every_ms;		/* default 10000 */
};

struct agent_signal;

void agent_signal_opts__init(struct agent_signal_opts *o);
int agent_signal__new(const struct agent_signal_opts *o, struct agent_signal **out);
void agent_signal__free(struct agent_signal *s);

/* Record this drain's channel values; @now_ms is CLOCK_MONOTONIC. */
/* After a reload: the series of the old store are gone (channels go on by name). */
void agent_signal__respec(struct agent_signal *s);
void agent_signal__sample(struct agent_signal *s, const struct store *st, uint64_t now_ms);
bool agent_signal__due(const struct agent_signal *s, uint64_t now_ms);
/*
 * Compute over the window. @frame is the uncompressed /metrics text whose
 * gzip frame gives the payload entropy; @wall_ms is the snapshot timestamp.
 */
int agent_signal__compute(struct agent_signal *s, uint64_t now_ms, uint64_t wall_ms,
			  const void *frame, size_t len);
/* The emitd_signal_* and emitd_resilience_* gauges of the last compute. */
void agent_signal__add_metrics(struct agent_signal *s, struct fam_builder *fb);
/* The last snapshot's JSON; thread-safe (called from HTTP threads). */
int agent_signal__snapshot(struct agent_signal *s, struct expo_buf *out);

#endif /* EMITD_AGENT_SIGNAL_H */
