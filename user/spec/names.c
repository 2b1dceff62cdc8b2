// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec_lint: the pure string-level checks behind the spec linter.
 *
 * Nothing here knows about YAML: identifiers, Prometheus durations, the
 * series names a metric type exports, a PromQL identifier scanner and an
 * edit distance for "did you mean" hints. spec.c uses them while walking the
 * document; gen and the tests use them directly.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"

static bool is_ident_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_ident_char(char ch)
{
	return is_ident_start(ch) || (ch >= '0' && ch <= '9');
}

bool spec__valid_ident(const char *s)
{
	if (!s || !is_ident_start(*s))
		return false;
	for (s++; *s; s++) {
		if (!is_ident_char(*s))
			return false;
	}
	return true;
}

/* Units from the largest down; a duration lists them in this order. */
static int duration_unit(const char **s)
{
	static const char *const units[] = { "ms", "s", "m", "h", "d", "w", "y" };
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i]);

		if (!strncmp(*s, units[i], n)) {
			*s += n;
			return (int)i;
		}
	}
	return -1;
}

bool spec__valid_duration(const char *s)
{
	int prev = INT_MAX;

	if (!s || !*s)
		return false;
	while (*s) {
		int unit;

		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
		unit = duration_unit(&s);
		if (unit < 0 || unit >= prev)
			return false;
		prev = unit;
	}
	return true;
}

static const char *const counter_suffixes[] = { "" };
static const char *const gauge_suffixes[] = { "" };
static const char *const histogram_suffixes[] = { "_bucket", "_count", "_sum" };
static const char *const normalization_suffixes[] = {
	"_events_total", "_zeroed_total", "_before_abs_mean",
	"_after_abs_mean", "_samples_total",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

size_t spec_metric_type__suffixes(enum spec_metric_type t,
				  const char *const **suffixes)
{
	switch (t) {
	case SPEC_COUNTER:
		*suffixes = counter_suffixes;
		return ARRAY_SIZE(counter_suffixes);
	case SPEC_GAUGE:
		*suffixes = gauge_suffixes;
		return ARRAY_SIZE(gauge_suffixes);
	case SPEC_HISTOGRAM:
		*suffixes = histogram_suffixes;
		return ARRAY_SIZE(histogram_suffixes);
	case SPEC_NORMALIZATION:
		*suffixes = normalization_suffixes;
		return ARRAY_SIZE(normalization_suffixes);
	}
	*suffixes = NULL;
	return 0;
}

/* Skip a quoted PromQL string starting at s[i]; returns the index after it. */
static size_t skip_string(const char *s, size_t i)
{
	char quote = s[i++];

	while (s[i] && s[i] != quote) {
		if (quote != '`' && s[i] == '\\' && s[i + 1])
			i++;
		i++;
	}
	return s[i] ? i + 1 : i;
}

static bool is_metric_start(char ch)
{
	return is_ident_start(ch) || ch == ':';
}

static bool is_metric_char(char ch)
{
	return is_ident_char(ch) || ch == ':';
}

int spec__promql_for_each_ident(const char *expr,
				int (*fn)(const char *id, size_t len,
					  size_t off, void *arg),
				void *arg)
{
	size_t i = 0, start;
	int err;

	while (expr[i]) {
		char ch = expr[i];

		if (ch == '"' || ch == '\'' || ch == '`') {
			i = skip_string(expr, i);
		} else if (ch == '#') {
			while (expr[i] && expr[i] != '\n')
				i++;
		} else if (isdigit((unsigned char)ch) ||
			   ((ch == '.' || ch == ':') &&
			    isdigit((unsigned char)expr[i + 1]))) {
			/* ":30s" is a subquery step, not a rule name */
			i += !isdigit((unsigned char)ch);
			/* numbers, durations (5m, 1h30m), hex, exponents */
			while (is_ident_char(expr[i]) || expr[i] == '.')
				i++;
		} else if (is_metric_start(ch)) {
			start = i;
			while (is_metric_char(expr[i]))
				i++;
			err = fn(expr + start, i - start, start, arg);
			if (err)
				return err;
		} else {
			i++;
		}
	}
	return 0;
}

#define EDIT_MAX_LEN 128

unsigned int spec__edit_distance(const char *a, const char *b)
{
	unsigned int row[EDIT_MAX_LEN + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > EDIT_MAX_LEN || lb > EDIT_MAX_LEN)
		return UINT_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		unsigned int diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			unsigned int up = row[j];
			unsigned int best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}
