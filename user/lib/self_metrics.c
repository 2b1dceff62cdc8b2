// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * self_metrics: every emitd_* family, declared once (see self_metrics.h).
 */
#include "emitd.h"
#include "lib/self_metrics.h"
#include "lib/suffix.h"

#define C	EXPO_COUNTER
#define G	EXPO_GAUGE
#define H	EXPO_HISTOGRAM

/* Panel hints: per-second rate of a counter, summed by a label or in all. */
#define RATE_BY(l)	"sum by (" l ") (rate(%s[5m]))"
#define RATE		"sum(rate(%s[5m]))"

static const struct self_metric table[SELF_METRICS_NR] = {
	[SELF_BUILD_INFO] = { "emitd_build_info", G,
		"A metric with a constant '1' value labeled by the version and revision emitd was built from, and the libbpf version it runs with.",
		{ "version", "revision", "libbpf_version" } },
	[SELF_START_TIME_SECONDS] = { "emitd_start_time_seconds", G,
		"Start time of the agent since the Unix epoch, in seconds." },

	[SELF_SPEC_INFO] = { "emitd_spec_info", G,
		"The spec the agent runs: its namespace and the SHA-256 of its canonical form, as in dashboards/manifest.json.",
		{ "namespace", "sha256" },
		{ "Running specs (namespace, sha256)", "count by (namespace, sha256) (%s)", "short",
		  "{{namespace}} {{sha256}}" } },
	[SELF_PROBE_SITE_INFO] = { "emitd_probe_site_info", G,
		"Attached probe sites and the kind of instruction each uprobe lands on (nop5: optimized, emulated, single-step).",
		{ "probe", "metric", "binary", "offset", "site" } },
	[SELF_PROBE_ATTACHED] = { "emitd_probe_attached", G,
		"1 for each probe of the spec with a link attached, 0 for one without.",
		{ "probe" } },
	[SELF_TARGET_UP] = { "emitd_target_up", G,
		"1 for each target of the spec that can be probed (its process runs, its binary is there), 0 for one that cannot (its process exited, its pid file names none, its binary is missing).",
		{ "target" } },
	[SELF_PROBE_HITS_TOTAL] = { "emitd_probe_hits_total", C,
		"Probe hits handled in the kernel, by probe.", { "probe", "metric" },
		{ "Probe hits per second by probe", RATE_BY("probe"), "cps", "{{probe}}" } },
	[SELF_MAP_FULL_DROPS_TOTAL] = { "emitd_map_full_drops_total", C,
		"Events dropped because their map had no room for a new series.", { "map" },
		{ "Map-full drops per second by map", RATE_BY("map"), "cps", "{{map}}" } },
	[SELF_MAP_ENTRIES] = { "emitd_map_entries", G,
		"Series held in each aggregation map.", { "map" } },
	[SELF_MAP_FILL_RATIO] = { "emitd_map_fill_ratio", G,
		"Series held over map capacity, by map.", { "map" },
		{ "Map fill by map", "max by (map) (%s)", "percentunit", "{{map}}" } },
	[SELF_EVENTS_TOTAL] = { "emitd_events_total", C,
		"Probe hits handled by the BPF programs." },
	[SELF_PROBE_READ_ERRORS_TOTAL] = { "emitd_probe_read_errors_total", C,
		"Events dropped: a user-memory read failed (value; label: also when the agent read a deferred label again), a deferred event was lost (label_deferred_lost: the sample ring was full, or the probe's config changed first), the site had no config, or its link no handler.",
		{ "what" },
		{ "Probe read errors per second by what was read", RATE_BY("what"), "cps", "{{what}}" } },
	[SELF_LABEL_TRUNCATED_TOTAL] = { "emitd_label_truncated_total", C,
		"String label values cut to 31 bytes (the series key's bound)." },
	[SELF_LABEL_DEFERRED_TOTAL] = { "emitd_label_deferred_total", C,
		"Events whose string label the probe could not read (its page not resident: never touched, or reclaimed), sent down the sample lane for the agent to read." },
	[SELF_LABEL_REPLAYED_TOTAL] = { "emitd_label_replayed_total", C,
		"Deferred events whose labels the agent read and handed back to the kernel, which counted them as the probe would have." },
	[SELF_EVENTS_FILTERED_TOTAL] = { "emitd_events_filtered_total", C,
		"Events a target's filter kept out, by reason: process (follow_forks: not a descendant), cgroup, comm.",
		{ "reason" } },
	[SELF_FOLLOW_DROPPED_TOTAL] = { "emitd_follow_dropped_total", C,
		"Forks of followed processes that could not be followed: the followed map was full." },
	[SELF_RINGBUF_DROPPED_TOTAL] = { "emitd_ringbuf_dropped_total", C,
		"Sample-lane records lost because the ring buffer was full.", {},
		{ "Ring-buffer drops per second", RATE, "cps" } },
	[SELF_SAMPLE_LANE_RECORDS_TOTAL] = { "emitd_sample_lane_records_total", C,
		"Sample-lane records consumed." },
	[SELF_ORPHAN_SERIES] = { "emitd_orphan_series", G,
		"Map series of metrics that are no longer in the spec." },

	[SELF_DRAINS_TOTAL] = { "emitd_drains_total", C, "Drains of the BPF maps.", {},
		{ "Drains per second (cadence)", RATE, "cps" } },
	[SELF_DRAIN_LAST_DURATION_SECONDS] = { "emitd_drain_last_duration_seconds", G,
		"Wall time of the last drain." },
	[SELF_DRAIN_BATCH_FALLBACKS_TOTAL] = { "emitd_drain_batch_fallbacks_total", C,
		"Map reads that fell back from batch lookups to per-key reads." },
	[SELF_SCRAPES_TOTAL] = { "emitd_scrapes_total", C, "HTTP /metrics requests served." },
	[SELF_SCRAPE_BYTES_TOTAL] = { "emitd_scrape_bytes_total", C,
		"Bytes sent in /metrics responses." },
	[SELF_SCRAPE_DURATION_SECONDS] = { "emitd_scrape_duration_seconds", G,
		"Render and gzip time of the last /metrics response.", {},
		{ "Scrape render and gzip time", "max(%s)", "s" } },
	[SELF_HTTP_DEADLINE_DROPS_TOTAL] = { "emitd_http_deadline_drops_total", C,
		"HTTP connections shut down because a request did not arrive complete within the request deadline." },
	[SELF_HTTP_IDLE_CLOSED_TOTAL] = { "emitd_http_idle_closed_total", C,
		"Kept-alive HTTP connections closed while waiting for a next request, by reason: timeout (the keep-alive idle timeout) or watermark (more connections open than the idle watermark).",
		{ "reason" } },

	/*
	 * Entropies are in bits, said in the help: promtool takes a _bits suffix
	 * for a non-base unit of bytes ("use base unit bytes instead of bits"),
	 * and bits of information are no amount of storage, so these names carry
	 * no unit.
	 */
	[SELF_SIGNAL_ENTROPY] = { "emitd_signal_entropy", G,
		"Entropy of each signal channel over the window, in bits.", { "channel" } },
	[SELF_CHANNEL_CRITICALITY] = { "emitd_channel_criticality", G,
		"Leave-one-out criticality: R with every channel minus R without this one.",
		{ "channel" } },
	[SELF_CHANNEL_UNIQUE_INFORMATION] = { "emitd_channel_unique_information", G,
		"Unique information of each channel in bits: joint entropy minus joint entropy without it, H(channel | rest); low: the others carry it, it is removable.",
		{ "channel" } },
	[SELF_SIGNAL_JOINT_ENTROPY] = { "emitd_signal_joint_entropy", G,
		"Joint entropy of the signal channels over the window, in bits." },
	[SELF_SIGNAL_TOTAL_CORRELATION] = { "emitd_signal_total_correlation", G,
		"Total correlation: the sum of channel entropies minus the joint entropy, in bits." },
	[SELF_RESILIENCE_INDEX] = { "emitd_resilience_index", G,
		"Resilience index R = total correlation / sum of channel entropies." },
	[SELF_RESILIENCE_ZONE] = { "emitd_resilience_zone", G,
		"1 for the current resilience zone, 0 for the others.", { "zone" } },
	[SELF_PAYLOAD_ENTROPY] = { "emitd_payload_entropy", G,
		"Byte entropy of the gzip-compressed /metrics frame, in bits per byte (0 to 8)." },
	[SELF_PAYLOAD_FRAME_BYTES] = { "emitd_payload_frame_bytes", G,
		"Size of the gzip-compressed /metrics frame." },

	[SELF_DRAIN_DURATION_SECONDS] = { "emitd_drain_duration_seconds", H,
		"Wall time of each drain of the BPF maps.", {},
		{ "Drain duration p99 (5m)",
		  "histogram_quantile(0.99, sum by (le) (rate(%s" SUFFIX_BUCKET "[5m])))", "s" } },
	[SELF_DRAIN_INCREMENTS] = { "emitd_drain_increments", G,
		"Events the last drain took in." },
	[SELF_DRAIN_ADAPTIVE_TARGET] = { "emitd_drain_adaptive_target", G,
		"Events to wait for before the next drain: clamp(rate x target interval, min, max).", {},
		{ "Adaptive drain target (events)", "max(%s)", "short" } },
	[SELF_DRAIN_PENDING] = { "emitd_drain_pending", G,
		"Events since the last drain, at the last look." },
	[SELF_DRAIN_RATE_EVENTS_PER_SECOND] = { "emitd_drain_rate_events_per_second", G,
		"EWMA of the event rate." },
	[SELF_DRAIN_BACKPRESSURE_EVENTS_TOTAL] = { "emitd_drain_backpressure_events_total", C,
		"Backpressure episodes: pending or ring fill above the high watermark.", {},
		{ "Backpressure episodes (5m)", "sum(increase(%s[5m]))", "short" } },
	[SELF_DRAIN_MODE] = { "emitd_drain_mode", G, "1 for the current drain mode.", { "mode" } },
	[SELF_DRAIN_SHEDDING] = { "emitd_drain_shedding", G, "1 while non-hot work is shed.", {},
		{ "Shedding (1 while non-hot work is shed)", "max(%s)", "short" } },
	[SELF_DRAIN_SHED_TOTAL] = { "emitd_drain_shed_total", C,
		"Events shed in the kernel under backpressure, by what was shed.", { "reason" },
		{ "Events shed per second by reason", RATE_BY("reason"), "cps", "{{reason}}" } },
	[SELF_DRAIN_WAKEUPS_TOTAL] = { "emitd_drain_wakeups_total", C,
		"Times the kernel woke the agent because pending reached the target." },
	[SELF_DRAIN_WAKEUPS_DROPPED_TOTAL] = { "emitd_drain_wakeups_dropped_total", C,
		"Wake-ups the kernel could not send (full wake ring); the max interval covers them." },
	[SELF_RINGBUF_FILL_RATIO] = { "emitd_ringbuf_fill_ratio", G,
		"Sample ring buffer fill at the last drain.", {},
		{ "Ring buffer fill", "max(%s)", "percentunit" } },
	[SELF_DRAIN_LANE_DELAY_SECONDS] = { "emitd_drain_lane_delay_seconds", G,
		"Worst time between two drains of a lane over the last one to two minutes.",
		{ "lane" },
		{ "Worst time between drains by lane", "max by (lane) (%s)", "s", "{{lane}}" } },
	[SELF_DRAIN_LANE_DEFERRALS_TOTAL] = { "emitd_drain_lane_deferrals_total", C,
		"Normal-lane drains put off to the next cycle because the drain budget was spent." },

	[SELF_CARDINALITY_SERIES] = { "emitd_cardinality_series", G,
		"Series of each metric, " EMITD_OTHER_VALUE " included.", { "metric" },
		{ "Series by metric", "max by (metric) (%s)", "short", "{{metric}}" } },
	[SELF_CARDINALITY_BUDGET] = { "emitd_cardinality_budget", G,
		"Series budget of each metric (spec).", { "metric" },
		{ "Series budget by metric", "max by (metric) (%s)", "short", "{{metric}}" } },
	[SELF_CARDINALITY_FOLDED_SERIES] = { "emitd_cardinality_folded_series", G,
		"Distinct series folded into " EMITD_OTHER_VALUE " (counted in the kernel; exact up to 16384 folded series, after which a series evicted from the LRU of folded keys may be counted again).",
		{ "metric" },
		{ "Folded series by metric", "max by (metric) (%s)", "short", "{{metric}}" } },
	[SELF_CARDINALITY_FOLDED_EVENTS_TOTAL] = { "emitd_cardinality_folded_events_total", C,
		"Events that went to " EMITD_OTHER_VALUE " because their series was over budget.",
		{ "metric" } },
	[SELF_CARDINALITY_GROWTH_PER_MINUTE] = { "emitd_cardinality_growth_per_minute", G,
		"Series admitted over the last minute (a count, bounded by the budget; during the agent's first minute, since it started).",
		{ "metric" } },

	[SELF_HIST_QUANTILE_DEVIATION] = { "emitd_hist_quantile_deviation", G,
		"Trial mode: |bucket estimate - raw quantile| / |raw quantile| over the window.",
		{ "metric", "quantile" } },
	[SELF_REMOTE_WRITE_SAMPLES_TOTAL] = { "emitd_remote_write_samples_total", C,
		"Remote-write samples by outcome: sent (answered 2xx), retried (each resend after a network error, 5xx or 429), dropped (another 4xx, or pushed out of the full queue).",
		{ "url", "result" } },
	[SELF_REMOTE_WRITE_QUEUE_SAMPLES] = { "emitd_remote_write_queue_samples", G,
		"Remote-write samples waiting to be sent.", { "url" } },
	[SELF_REMOTE_WRITE_LAST_SUCCESS_TIMESTAMP_SECONDS] = {
		"emitd_remote_write_last_success_timestamp_seconds", G,
		"Unix time of the last request the receiver accepted (0: none yet).", { "url" } },

	[SELF_CONFIG_LAST_RELOAD_SUCCESSFUL] = { "emitd_config_last_reload_successful", G,
		"1 when the last load of the spec (start, SIGHUP or POST /-/reload) succeeded." },
	[SELF_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS] = {
		"emitd_config_last_reload_success_timestamp_seconds", G,
		"Wall-clock time of the last successful load of the spec." },
};

const struct self_metric *self_metrics__get(enum self_metric_id id)
{
	return (unsigned int)id < SELF_METRICS_NR ? &table[id] : NULL;
}

const char *self_metrics__name(enum self_metric_id id)
{
	const struct self_metric *m = self_metrics__get(id);

	return m ? m->name : NULL;
}

size_t self_metric__nr_labels(const struct self_metric *m)
{
	size_t n = 0;

	while (n < SELF_METRIC_MAX_LABELS && m->labels[n])
		n++;
	return n;
}
