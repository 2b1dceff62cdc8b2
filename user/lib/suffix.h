/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * suffix: the names a metric's series take after its own name, in one table.
 *
 * Prometheus and OpenMetrics reserve suffixes by type: a counter's samples
 * end in _total (its OpenMetrics family name drops it), a histogram exports
 * _bucket, _count and _sum. emitd's normalization metrics export five series
 * of their own. A unit is spelled at the end of the name, before _total:
 * request_latency_seconds, sent_bytes_total.
 *
 * The suffixes are string literals, so that they paste into format strings
 * ("rate(%s" SUFFIX_BUCKET "[5m])"). Pure data and lookups.
 */
#ifndef EMITD_SUFFIX_H
#define EMITD_SUFFIX_H

#include <stdbool.h>
#include <stddef.h>

#define SUFFIX_TOTAL		"_total"	/* a counter's samples */
#define SUFFIX_BUCKET		"_bucket"	/* histogram series */
#define SUFFIX_COUNT		"_count"
#define SUFFIX_SUM		"_sum"
#define SUFFIX_NORM_EVENTS	"_events_total"		/* normalization series */
#define SUFFIX_NORM_ZEROED	"_zeroed_total"
#define SUFFIX_NORM_BEFORE	"_before_abs_mean"
#define SUFFIX_NORM_AFTER	"_after_abs_mean"
#define SUFFIX_NORM_SAMPLES	"_samples_total"

enum suffix_type {
	SUFFIX_COUNTER,
	SUFFIX_GAUGE,
	SUFFIX_HISTOGRAM,
	SUFFIX_NORMALIZATION,
	SUFFIX_TYPE_NR,
};

/*
 * The series a metric of @type exports, as suffixes of its name, in export
 * order: "" (the name itself) for counters and gauges; _bucket, _count,
 * _sum for histograms; _events_total, _zeroed_total, _before_abs_mean,
 * _after_abs_mean, _samples_total for normalization metrics. Returns how
 * many; 0 (and NULL) for an unknown type.
 */
size_t suffix__series(enum suffix_type type, const char *const **out);

/* Whether the @len bytes of @name end in @suffix. */
bool suffix__has(const char *name, size_t len, const char *suffix);

/*
 * The length of @name (@len bytes) without a trailing "_total": the name of
 * a counter's OpenMetrics family. @len when there is none, or when @name is
 * "_total" itself.
 */
size_t suffix__strip_total(const char *name, size_t len);

/*
 * How a name carrying @unit must end: "_<unit>", and "_<unit>_total" for a
 * counter. Returns what snprintf() returns.
 */
int suffix__unit(char *buf, size_t size, const char *unit, bool counter);

#endif /* EMITD_SUFFIX_H */
