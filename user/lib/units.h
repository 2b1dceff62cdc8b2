/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * units: the unit rules of promtool's metric linter, so `emitd lint` warns
 * about a name before `promtool check metrics` flags a scrape of it.
 *
 * promtool (client_golang's prometheus/testutil/promlint, the MetricUnits
 * and UnitAbbreviations rules) splits a metric name at '_' and flags
 *   - a word that is a known unit other than a base unit, or a metric
 *     prefix (milli, micro, kilo, kibi, ...) followed by a known unit:
 *     "milliseconds", "minutes", "bits", "kilobytes"
 *     ("use base unit \"seconds\" instead of \"milliseconds\""). Which
 *     word, when a name has several units, depends on the version: today's
 *     promlint takes the first unit word, base or not; the one in Debian's
 *     promtool 2.42 (client_golang 1.14) takes whichever unit a Go map
 *     iteration meets first, so "x_bits_seconds" is flagged on some runs
 *     and not on others. Any word promtool may flag is flagged here;
 *   - an abbreviation as a whole word anywhere after the first: s, ms, us,
 *     ns, sec, b, kb, mb, gb, tb, pb, m, h, d
 *     ("metric names should not contain abbreviated units").
 * The tables below are promlint's, plus the factor of each word in its base
 * unit, for a `scale:` hint.
 *
 * Pure data and lookups.
 */
#ifndef EMITD_UNITS_H
#define EMITD_UNITS_H

#include <stdbool.h>
#include <stddef.h>

struct unit_finding {
	const char *word;	/* in the name: not NUL-terminated, @len bytes */
	size_t len;
	bool abbreviation;	/* else a non-base unit */
	const char *base;	/* the base unit promtool asks for: "seconds" */
	/* one @word is @factor @base (0: no single factor, e.g. fahrenheit, m) */
	double factor;
};

/*
 * The first unit promtool may flag in the metric name @name (the full
 * exported name): a non-base unit, else an abbreviation. False when there
 * is none.
 */
bool units__check_name(const char *name, struct unit_finding *f);

#endif /* EMITD_UNITS_H */
