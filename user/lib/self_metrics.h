/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * self_metrics: the table of emitd's own metric families (`emitd_*`).
 *
 * Every self-metric is declared here once: its name, exposition type, help,
 * label names and the panel it gets on emitd's own dashboard, if any. The
 * agent renders its families from this table (agent/self_metrics.c,
 * agent/signal.c), the generator names them and draws emitd's dashboard
 * from it (gen/common.c, gen/rules.c, gen/dashboards.c), so a name is
 * written in one place only.
 *
 * Pure data: no state, no allocation. The order of the enum is the order of
 * the table, not the order of the exposition (the agent decides that).
 */
#ifndef EMITD_LIB_SELF_METRICS_H
#define EMITD_LIB_SELF_METRICS_H

#include <stddef.h>

#include "lib/expo.h"

#define SELF_METRIC_MAX_LABELS	5

enum self_metric_id {
	/* the agent itself */
	SELF_BUILD_INFO,
	SELF_START_TIME_SECONDS,
	/* provenance: the spec the agent runs */
	SELF_SPEC_INFO,
	/* probes and the kernel side */
	SELF_PROBE_SITE_INFO,
	SELF_PROBE_ATTACHED,
	SELF_TARGET_UP,
	SELF_PROBE_HITS_TOTAL,
	SELF_MAP_FULL_DROPS_TOTAL,
	SELF_MAP_ENTRIES,
	SELF_MAP_FILL_RATIO,
	SELF_EVENTS_TOTAL,
	SELF_PROBE_READ_ERRORS_TOTAL,
	SELF_LABEL_TRUNCATED_TOTAL,
	SELF_LABEL_DEFERRED_TOTAL,
	SELF_LABEL_REPLAYED_TOTAL,
	SELF_EVENTS_FILTERED_TOTAL,
	SELF_FOLLOW_DROPPED_TOTAL,
	SELF_RINGBUF_DROPPED_TOTAL,
	SELF_SAMPLE_LANE_RECORDS_TOTAL,
	SELF_ORPHAN_SERIES,
	/* the drain and the scrapes */
	SELF_DRAINS_TOTAL,
	SELF_DRAIN_LAST_DURATION_SECONDS,
	SELF_DRAIN_BATCH_FALLBACKS_TOTAL,
	SELF_SCRAPES_TOTAL,
	SELF_SCRAPE_BYTES_TOTAL,
	SELF_SCRAPE_DURATION_SECONDS,
	SELF_HTTP_DEADLINE_DROPS_TOTAL,
	SELF_HTTP_IDLE_CLOSED_TOTAL,
	/* signal metrics */
	SELF_SIGNAL_ENTROPY,
	SELF_CHANNEL_CRITICALITY,
	SELF_CHANNEL_UNIQUE_INFORMATION,
	SELF_SIGNAL_JOINT_ENTROPY,
	SELF_SIGNAL_TOTAL_CORRELATION,
	SELF_RESILIENCE_INDEX,
	SELF_RESILIENCE_ZONE,
	SELF_PAYLOAD_ENTROPY,
	SELF_PAYLOAD_FRAME_BYTES,
	/* the drain controller: cadence, shedding, lanes */
	SELF_DRAIN_DURATION_SECONDS,
	SELF_DRAIN_INCREMENTS,
	SELF_DRAIN_ADAPTIVE_TARGET,
	SELF_DRAIN_PENDING,
	SELF_DRAIN_RATE_EVENTS_PER_SECOND,
	SELF_DRAIN_BACKPRESSURE_EVENTS_TOTAL,
	SELF_DRAIN_MODE,
	SELF_DRAIN_SHEDDING,
	SELF_DRAIN_SHED_TOTAL,
	SELF_DRAIN_WAKEUPS_TOTAL,
	SELF_DRAIN_WAKEUPS_DROPPED_TOTAL,
	SELF_RINGBUF_FILL_RATIO,
	SELF_DRAIN_LANE_DELAY_SECONDS,
	SELF_DRAIN_LANE_DEFERRALS_TOTAL,
	/* the cardinality guard */
	SELF_CARDINALITY_SERIES,
	SELF_CARDINALITY_BUDGET,
	SELF_CARDINALITY_FOLDED_SERIES,
	SELF_CARDINALITY_FOLDED_EVENTS_TOTAL,
	SELF_CARDINALITY_GROWTH_PER_MINUTE,
	/* histogram trial mode */
	SELF_HIST_QUANTILE_DEVIATION,
	/* remote write */
	SELF_REMOTE_WRITE_SAMPLES_TOTAL,
	SELF_REMOTE_WRITE_QUEUE_SAMPLES,
	SELF_REMOTE_WRITE_LAST_SUCCESS_TIMESTAMP_SECONDS,
	/* reloads of the spec, in Prometheus' own names */
	SELF_CONFIG_LAST_RELOAD_SUCCESSFUL,
	SELF_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
	SELF_METRICS_NR,
};

/*
 * A panel of emitd's own dashboard (gen/dashboards.c), drawn from one
 * self-metric: @expr is a PromQL format whose one %s is the metric's name.
 * @unit is a Grafana unit, @legend a Grafana legend format (may be NULL).
 */
struct self_panel {
	const char *title;
	const char *expr;
	const char *unit;
	const char *legend;
};

struct self_metric {
	const char *name;
	enum expo_type type;
	const char *help;
	/* label names, in the order of the label values; NULL after the last */
	const char *labels[SELF_METRIC_MAX_LABELS + 1];
	struct self_panel panel;	/* title NULL: no panel on emitd's dashboard */
};

/* The table entry of @id; NULL when @id is not a self-metric. */
const struct self_metric *self_metrics__get(enum self_metric_id id);
/* The family name of @id, emitd_...; NULL when @id is not a self-metric. */
const char *self_metrics__name(enum self_metric_id id);
/* The number of label names of @m. */
size_t self_metric__nr_labels(const struct self_metric *m);

#endif /* EMITD_LIB_SELF_METRICS_H */
