/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * expo: Prometheus text exposition format 0.0.4 and OpenMetrics 1.0.0
 * rendering from plain data. A pure module: no sockets, no clocks, no BPF.
 *
 * Output rules (both formats unless noted)
 *
 * - Families are rendered in the order given, series in the order given.
 *   Metadata is printed even for a family with no series (both formats allow
 *   a MetricFamily with no Metrics).
 *   Text 0.0.4: "# HELP" then "# TYPE". OpenMetrics: "# TYPE", "# UNIT",
 *   "# HELP" (the order the spec recommends). A NULL or empty help prints no
 *   HELP line (OpenMetrics treats an empty HELP as absent anyway).
 * - Escaping. HELP text 0.0.4: backslash and line feed. HELP OpenMetrics and
 *   label values in both formats: backslash, double quote and line feed.
 * - UTF-8. Valid UTF-8 passes through byte-exact. Every ill-formed sequence
 *   in a label value (or help text) is replaced by U+FFFD (EF BF BD), one
 *   U+FFFD per "maximal subpart" as Unicode chapter 3.9 recommends
 *   (overlongs, surrogates, code points above U+10FFFF and truncated
 *   sequences are all ill-formed). The exposition is therefore always valid
 *   UTF-8. NUL cannot occur: values are C strings.
 *   The replacement is lossy: distinct values can render alike, and two
 *   series would then share a label set. It is a last safety net only: the
 *   agent's store never hands expo ill-formed label values, since it encodes
 *   the bytes a probed process sent injectively into valid UTF-8 first
 *   (lib/labelenc.h).
 * - Numbers. Integers (counter totals, bucket counts, _count, integer _sum)
 *   are printed exactly, without a decimal point; a counter marked
 *   `value_is_float` (a count times a scale) is a float. Floats use the shortest
 *   decimal that round-trips to the same double, laid out like Go's
 *   strconv.FormatFloat(v, 'g', -1, 64): exponent form when the decimal
 *   exponent is < -4 or >= 6 ("1e-05", "0.0001", "100000", "1e+06",
 *   "1.5e+07"). OpenMetrics floats additionally get ".0" when they have
 *   neither '.' nor an exponent ("17.0"), like client_golang's OpenMetrics
 *   encoder. Non-finite values: "+Inf", "-Inf", "NaN". Negative zero keeps
 *   its sign ("-0", OpenMetrics "-0.0").
 * - Histogram `le` values use the OpenMetrics canonical form in BOTH formats:
 *   Go %g plus ".0" ("0.005", "1.0", "10.0", "100000.0", "1e+06", "+Inf").
 *   That is what OpenMetrics requires, and what Prometheus 3 normalizes every
 *   `le` to on ingestion, so a series has the same identity whichever format
 *   was negotiated (Prometheus 2 keeps the string as scraped). A bound of -0.0
 *   is printed as "0.0".
 * - Histograms: cumulative `_bucket` lines in ascending `le` order, then
 *   le="+Inf", `_sum`, `_count`. `le="+Inf"` and `_count` are both the total
 *   of `buckets`, so they can never disagree (expo_series.count is not read
 *   for histograms). OpenMetrics: `_sum` is left out when it may not be
 *   exposed (a negative bound, or a negative or NaN sum: the spec says Sum is
 *   a counter).
 * - OpenMetrics counters: the family name in "# TYPE"/"# UNIT"/"# HELP" is the
 *   name without its "_total" suffix; samples are "<family>_total". A counter
 *   whose name lacks "_total" keeps its name as the family name in both
 *   formats and gets "_total" appended to OpenMetrics samples only.
 *   EXPO_UNTYPED is "untyped" in 0.0.4 and "unknown" in OpenMetrics.
 * - "# UNIT" (OpenMetrics only) is printed only when `unit` is non-empty,
 *   made of metric-name characters and the family name ends in "_<unit>";
 *   otherwise it is silently left out.
 * - "# EOF\n" ends an OpenMetrics exposition: expo__finish() adds it, once,
 *   after every family (the agent's self-metrics included) was rendered.
 *
 * Validation: a metric name not matching [a-zA-Z_:][a-zA-Z0-9_:]*, a label
 * name not matching [a-zA-Z_][a-zA-Z0-9_]*, duplicate label names, a label
 * named "le" on a histogram, NULL label values, histogram bounds that are not
 * finite or not strictly ascending, or missing bucket arrays make
 * expo__render() return -EINVAL.
 *
 * Errors: functions that append to an expo_buf return 0, -ENOMEM or -EINVAL.
 * On error the buffer is left exactly as it was at the call (partial output
 * is truncated away), so a caller can render into a shared buffer safely.
 */
#ifndef EMITD_EXPO_H
#define EMITD_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum expo_type {
	EXPO_COUNTER,
	EXPO_GAUGE,
	EXPO_HISTOGRAM,
	EXPO_UNTYPED,
};

struct expo_series {
	const char *const *label_values;	/* nr_labels raw UTF-8 strings (unescaped) */
	uint64_t count;		/* COUNTER value (exact integer); not read for HISTOGRAM */
	double value;		/* GAUGE / UNTYPED value; COUNTER's when value_is_float */
	bool value_is_float;	/* COUNTER: print value, not count (a scaled count) */
	const uint64_t *buckets;	/* HISTOGRAM: nr_bounds + 1 NON-cumulative counts, the last is +Inf overflow */
	double sum;		/* HISTOGRAM _sum (when !sum_is_int) */
	int64_t isum;		/* HISTOGRAM _sum (when sum_is_int), printed exactly */
	bool sum_is_int;
};

struct expo_family {
	const char *name;	/* full metric name as exported in text 0.0.4; counters end in _total */
	const char *help;	/* NULL or "" → no HELP line */
	const char *unit;	/* optional, OpenMetrics # UNIT */
	enum expo_type type;
	const char *const *label_names;
	size_t nr_labels;
	const double *bounds;	/* HISTOGRAM finite `le` bounds, strictly ascending */
	size_t nr_bounds;
	const struct expo_series *series;
	size_t nr_series;
};

/* Growable byte buffer; zero-initialize it, release it with expo_buf__free(). */
struct expo_buf {
	char *data;
	size_t len;
	size_t cap;
};

enum expo_format {
	EXPO_FMT_TEXT_004,
	EXPO_FMT_OPENMETRICS_100,
};

/* Appends the families to @out. */
int expo__render(struct expo_buf *out, const struct expo_family *fams, size_t nr,
		 enum expo_format fmt);

/* Appends the "# EOF\n" terminator for OpenMetrics; nothing for text 0.0.4. */
int expo__finish(struct expo_buf *out, enum expo_format fmt);

/* Appends the gzip (RFC 1952) compression of @in to @out. */
int expo__gzip(const void *in, size_t len, struct expo_buf *out);

/* Appends bytes to @b. */
int expo_buf__append(struct expo_buf *b, const void *data, size_t len);

/* Appends printf output to @b. */
int expo_buf__printf(struct expo_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void expo_buf__free(struct expo_buf *b);

#endif /* EMITD_EXPO_H */
