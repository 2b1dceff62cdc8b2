/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * scale: a value's `scale:` (spec `value: { arg: 1, scale: 1e-6 }`), between
 * the unit the probe reads and the unit emitd exports.
 *
 * exported = read × scale. The kernel keeps what it reads (integers stay
 * integers: counts, sums and bucketing are exact there); the agent scales
 * when it renders, and turns a histogram's bounds, written in the exported
 * unit, into the unit the kernel compares in (bound / scale).
 *
 * The arithmetic: when 1 / scale is an integer N (1e-3, 1e-6, 1e-9: the
 * usual case), a read value is divided by N, so its exported double is the
 * correctly rounded decimal quotient (1500 µs is 0.0015 s, not
 * 0.0015000000000000000312...) and a bound is multiplied by N; otherwise
 * both multiply, or divide, by scale. Either way the result is one
 * correctly rounded operation on the read value, hence monotonic: a counter
 * that grows still grows once scaled.
 *
 * Pure: no state.
 */
#ifndef EMITD_SCALE_H
#define EMITD_SCALE_H

#include <stdbool.h>

/* Read value -> exported value. A @scale of 1 (or 0: none given) is none. */
double scale__export(double v, double scale);

/* Exported value (a bound) -> the unit the probe reads, not rounded. */
double scale__unexport(double v, double scale);

/*
 * Is @v, an unrounded scale__unexport(), an integer up to the rounding of
 * the decimal literals it came from (a few units in the last place)? Its
 * integer is in @out. 0.000002 / 1e-6 is 2 (as 1.9999999999999998 or
 * 2.0000000000000004); 0.0000015 / 1e-6 (1.5) is not an integer.
 */
bool scale__integral(double v, double *out);

#endif /* EMITD_SCALE_H */
