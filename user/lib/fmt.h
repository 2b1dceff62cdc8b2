/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fmt: values as text: doubles, YAML scalars, printf into a new string.
 *
 * fmt__double() is the one double formatter: the fewest significant digits
 * (at least @min_digits) that strtod() reads back as the same double, bit
 * for bit, laid out as printf's %g would at that precision, or as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) (what Prometheus writes). The layout
 * is the caller's; the digits are always the same search. The decimal point
 * is '.' whatever the locale.
 *
 * Pure: no state, no allocation except fmt__str().
 */
#ifndef EMITD_FMT_H
#define EMITD_FMT_H

#include <stddef.h>
#include <stdio.h>

/* Room for any fmt__double() text, NUL included ("-1.2345678901234567e-308"). */
#define FMT_DOUBLE_LEN		32
/* fmt__double()'s @min_digits for the shortest text. */
#define FMT_SHORTEST		1

enum fmt_double_flags {
	/*
	 * Go's layout: exponent form from 1e+06 on (and below 1e-04), so 100
	 * is "100". Without it, printf's %g: exponent form from 10^precision
	 * on, so 100 (one digit) is "1e+02" and 1048576 is "1048576".
	 */
	FMT_GO		= 1 << 0,
	/* ".0" after a value written without '.' or exponent (OpenMetrics). */
	FMT_INT_DOT	= 1 << 1,
	/* NaN, +Inf, -Inf (Prometheus) instead of nan, inf, -inf (printf). */
	FMT_PROM_SPECIAL = 1 << 2,
};

/*
 * Write @v to @buf (FMT_DOUBLE_LEN bytes): the shortest text of at least
 * @min_digits (1..17) significant digits that reads back as @v, in the
 * layout @flags (enum fmt_double_flags) ask for. -0 is "-0". Returns the
 * length.
 */
size_t fmt__double(char *buf, double v, int min_digits, unsigned int flags);

/*
 * Write @s as a YAML scalar: single-quoted, or double-quoted with escapes
 * when it holds control characters, C1 controls, YAML line breaks (NEL, LS,
 * PS) or a BOM. A YAML parser reads back exactly @s.
 */
void fmt__yaml_quote(FILE *f, const char *s);

/* vasprintf() as an expression: the new string, or NULL when out of memory. */
char *fmt__str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* EMITD_FMT_H */
