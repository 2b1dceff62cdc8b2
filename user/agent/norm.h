/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * agent_norm: normalization telemetry in the agent. One collector (norm.h)
 * per `normalization` metric, fed by the sample lane (before, after, context)
 * and by the exact per-context counts of every drain; served as JSON at
 * /normalization and exported as CSV on an interval.
 */
#ifndef EMITD_AGENT_NORM_H
#define EMITD_AGENT_NORM_H

#include <stdint.h>

#include "lib/expo.h"
#include "agent/store.h"

struct agent_norm_opts {
	unsigned int history_limit;	/* events in the rolling window, default 2048 */
	const char *csv_path;		/* NULL: no CSV export */
	double csv_interval_s;		/* default 10 */
	unsigned int json_last;		/* timeseries entries in /normalization, default 256 */
};

struct agent_norm;

int agent_norm__new(const struct store *st, const struct agent_norm_opts *o,
		    struct agent_norm **out);
void agent_norm__free(struct agent_norm *an);
/*
 * After a reload, on the drain thread: one collector per normalization
 * metric of @st, the same one as before for a metric of the same name.
 */
int agent_norm__respec(struct agent_norm *an, const struct store *st);

/* From the sample lane: @ts_ms is wall-clock time. */
void agent_norm__record(struct agent_norm *an, const struct store_metric *m,
			const struct series *s, uint64_t ts_ms, double before, double after);
/* After a drain: the exact counts of every context. */
void agent_norm__update(struct agent_norm *an);
/* Export the CSV files when their interval has passed (@now_s monotonic). */
void agent_norm__tick(struct agent_norm *an, double now_s);
/* The /normalization document; thread-safe. */
int agent_norm__json(struct agent_norm *an, struct expo_buf *out);
/* The CSV path of the @i-th normalization metric (callers free). */
char *agent_norm__csv_path(const char *base, unsigned int i, const char *metric);

#endif /* EMITD_AGENT_NORM_H */
