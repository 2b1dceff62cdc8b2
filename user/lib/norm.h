/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * norm: normalization telemetry, the agent side of a `normalization` metric.
 *
 * Pure: no BPF, no sockets, no clocks; the caller passes every timestamp.
 * Two inputs, kept apart because they have different guarantees:
 *   - exact counts (norm__set_counts): cumulative events and zeroed events per
 *     context, read from the kernel's per-CPU maps at every drain;
 *   - samples (norm__record): the raw (before, after) pairs of the sample lane,
 *     which may drop records under load. They feed the magnitude means, the
 *     zeroed-in-samples count and the rolling window. sample_coverage =
 *     samples / events shows how much of the traffic the means stand on.
 *
 * Contexts: strings from the probed process, so hostile. Ill-formed UTF-8 is
 * replaced by U+FFFD (one per maximal ill-formed subpart, as /metrics does)
 * and a context is cut, at a character boundary, to NORM_CONTEXT_MAX bytes.
 * At most NORM_MAX_CONTEXTS distinct contexts are kept; any further one is
 * folded into NORM_OTHER_CONTEXT, which always has room. Folding keeps totals
 * exact: samples simply add up, and the cumulative counts of folded contexts
 * are kept by name, without samples (NORM_MAX_FOLDED of them; past that
 * norm__set_counts() returns -ENOSPC and counts the update as dropped).
 *
 * Undefined ratios are never NaN: a field whose *_valid flag is false is 0 in
 * the structs and the JSON and "n/a" in the text report. Non-finite samples
 * (inf, nan) count as samples but are left out of the means.
 *
 * Not thread-safe: the caller serializes calls on one collector. Context
 * strings handed out (struct norm_event) stay valid until norm__free(), so a
 * window copied under the caller's lock may be used after it is released.
 */
#ifndef EMITD_NORM_H
#define EMITD_NORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "emitd.h"

#define NORM_DEFAULT_HISTORY	2048		/* norm__new(0) */
#define NORM_MAX_HISTORY	(1U << 20)	/* 32 MiB of window at most */
#define NORM_MAX_CONTEXTS	256		/* distinct contexts, __other__ aside */
#define NORM_MAX_FOLDED		4096		/* folded contexts with exact counts */
#define NORM_CONTEXT_MAX	255		/* bytes of a context, NUL aside */
#define NORM_OTHER_CONTEXT	EMITD_OTHER_VALUE
#define NORM_JSON_VERSION	1

struct norm_collector;

/* One sample-lane event of the rolling window. */
struct norm_event {
	uint64_t ts_ms;
	const char *context;		/* owned by the collector */
	double before;
	double after;
};

struct norm_stats {
	const char *context;		/* NULL for the overall line */
	uint64_t events;		/* exact, from the kernel maps */
	uint64_t zeroed;		/* exact: after == 0 (either sign) */
	uint64_t samples;		/* sample-lane records */
	uint64_t zeroed_samples;	/* samples with after == 0 */
	uint64_t nonfinite_samples;	/* before or after inf/nan: not in the means */
	double zeroed_fraction;		/* min(1, zeroed / events) */
	double mean_abs_before;		/* over the finite samples */
	double mean_abs_after;
	double sample_coverage;		/* min(1, samples / events) */
	bool zeroed_fraction_valid;	/* events > 0 */
	bool means_valid;		/* finite samples > 0 and finite means */
	bool coverage_valid;		/* events > 0 */
};

struct norm_summary {
	struct norm_stats *contexts;	/* sorted by context, bytewise */
	unsigned int nr_contexts;
	struct norm_stats overall;
	unsigned int history_limit;
	unsigned int window_len;	/* events in the window now */
	uint64_t recorded;		/* samples ever recorded */
	uint64_t folded_samples;	/* samples folded into __other__ */
	uint64_t folded_contexts;	/* folded contexts with tracked counts */
	uint64_t dropped_count_updates;	/* norm__set_counts() -ENOSPC */
};

/* @history_limit: window length, 0 for NORM_DEFAULT_HISTORY. NULL + errno. */
struct norm_collector *norm__new(unsigned int history_limit);
void norm__free(struct norm_collector *c);

/* A sample-lane event: O(1) apart from the context lookup. -EINVAL, -ENOMEM. */
int norm__record(struct norm_collector *c, uint64_t ts_ms, const char *context,
		 double before, double after);
/*
 * Exact cumulative counts of @context, replacing the previous ones. zeroed
 * may exceed events by a racy per-CPU read; the fraction is clamped to 1.
 * -EINVAL, -ENOMEM, -ENOSPC (too many folded contexts, update dropped).
 */
int norm__set_counts(struct norm_collector *c, const char *context, uint64_t events,
		     uint64_t zeroed);

unsigned int norm__history_limit(const struct norm_collector *c);
unsigned int norm__window_len(const struct norm_collector *c);

/*
 * The last min(cap, window_len) events of the window into @out, oldest first
 * (record order). Returns how many were copied, or -EINVAL.
 */
int norm__to_timeseries(const struct norm_collector *c, struct norm_event *out, size_t cap);

/* Fills @out (owned by the caller: norm_summary__free()). -EINVAL, -ENOMEM. */
int norm__summary(const struct norm_collector *c, struct norm_summary *out);
void norm_summary__free(struct norm_summary *s);

/*
 * The window as CSV at @path, replaced atomically: a temp file in the same
 * directory (mkostemp), fsync, rename. Header `timestamp_ms,context,before,after`,
 * one event a line (LF), numbers as the first of %.15g/%.16g/%.17g that strtod()
 * reads back bit-exactly (inf, -inf, nan spelled so; C locale), contexts
 * quoted per RFC 4180 when they hold a comma, quote, CR or LF. A new file gets
 * mode 0644, a replaced one keeps its mode. On error the temp file is removed
 * and -errno returned.
 */
int norm__export_csv(const struct norm_collector *c, const char *path);
/* The same for events the caller copied out (norm__to_timeseries()). */
int norm__write_csv(const struct norm_event *ev, size_t n, const char *path);

/* Human-readable table per context and overall. -EINVAL, -ENOMEM, -EIO. */
int norm__report(const struct norm_collector *c, FILE *f);

/*
 * Summary as JSON (object "contexts", "overall", window fields; see
 * docs/NORMALIZATION.md). norm__to_json_last() adds "timeseries", the last
 * @last_n events of the window (non-finite values as null). *out is a new
 * reference. -EINVAL, -ENOMEM.
 */
int norm__to_json(const struct norm_collector *c, json_t **out);
int norm__to_json_last(const struct norm_collector *c, size_t last_n, json_t **out);
/* Summary from norm__to_json() output: -EINVAL, -ENOMEM, -EPROTO if malformed. */
int norm__summary_from_json(const json_t *j, struct norm_summary *out);
/* The text of norm__report() from norm__to_json() output; errors as above, -EIO. */
int norm__report_from_json(json_t *j, FILE *f);

#endif /* EMITD_NORM_H */
