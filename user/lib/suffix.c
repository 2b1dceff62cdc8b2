// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * suffix: the series suffixes of each metric type. See suffix.h.
 */
#include <stdio.h>
#include <string.h>

#include "lib/suffix.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const counter_series[] = { "" };
static const char *const gauge_series[] = { "" };
static const char *const histogram_series[] = { SUFFIX_BUCKET, SUFFIX_COUNT, SUFFIX_SUM };
static const char *const normalization_series[] = {
	SUFFIX_NORM_EVENTS, SUFFIX_NORM_ZEROED, SUFFIX_NORM_BEFORE,
	SUFFIX_NORM_AFTER, SUFFIX_NORM_SAMPLES,
};

static const struct {
	const char *const *v;
	size_t nr;
} series[SUFFIX_TYPE_NR] = {
	[SUFFIX_COUNTER] = { counter_series, ARRAY_SIZE(counter_series) },
	[SUFFIX_GAUGE] = { gauge_series, ARRAY_SIZE(gauge_series) },
	[SUFFIX_HISTOGRAM] = { histogram_series, ARRAY_SIZE(histogram_series) },
	[SUFFIX_NORMALIZATION] = { normalization_series, ARRAY_SIZE(normalization_series) },
};

size_t suffix__series(enum suffix_type type, const char *const **out)
{
	if ((unsigned int)type >= SUFFIX_TYPE_NR) {
		*out = NULL;
		return 0;
	}
	*out = series[type].v;
	return series[type].nr;
}

bool suffix__has(const char *name, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && !memcmp(name + len - n, suffix, n);
}

size_t suffix__strip_total(const char *name, size_t len)
{
	size_t n = strlen(SUFFIX_TOTAL);

	return len > n && suffix__has(name, len, SUFFIX_TOTAL) ? len - n : len;
}

int suffix__unit(char *buf, size_t size, const char *unit, bool counter)
{
	return snprintf(buf, size, "_%s%s", unit, counter ? SUFFIX_TOTAL : "");
}
