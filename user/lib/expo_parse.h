/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * expo_parse: read Prometheus text exposition 0.0.4 back into samples.
 *
 * The remote-write sender takes its samples from the agent's own published
 * rendering (lib/expo.c's output), so what is pushed is exactly what a scrape
 * of the same drain sees. The parser accepts the format in general, not only
 * emitd's output: comment and blank lines are skipped, a sample line is
 * `name[{label="value",...}] value [timestamp]` with the label-value escapes
 * \\, \" and \n, values as Go's ParseFloat reads them (+Inf, -Inf, NaN).
 * Timestamps are read and ignored: the caller stamps the snapshot.
 *
 * Pure: no allocation beyond one scratch buffer per call, no I/O.
 */
#ifndef EMITD_EXPO_PARSE_H
#define EMITD_EXPO_PARSE_H

#include <stddef.h>

#define EXPO_PARSE_MAX_LABELS	32

struct expo_label {
	const char *name;
	const char *value;		/* unescaped, NUL-terminated */
};

/*
 * One sample: @name, @nr labels in the order written, @value. The strings
 * live until the callback returns. A negative return stops the parse and is
 * returned by expo_parse__text().
 */
typedef int (*expo_sample_fn)(void *ctx, const char *name, const struct expo_label *labels,
			      size_t nr, double value);

/*
 * Parse the @len bytes at @buf. 0 when every line parsed; -EINVAL on a
 * malformed line (its 1-based number in *@bad_line when not NULL), -E2BIG on
 * more than EXPO_PARSE_MAX_LABELS labels, -ENOMEM, or the callback's error.
 */
int expo_parse__text(const char *buf, size_t len, expo_sample_fn fn, void *ctx,
		     unsigned int *bad_line);

#endif /* EMITD_EXPO_PARSE_H */
