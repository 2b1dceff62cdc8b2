/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * bucket: histogram bounds from the spec, turned into the order-preserving
 * images the kernel compares against (see include/emitd_bucket.h).
 */
#ifndef EMITD_BUCKET_USER_H
#define EMITD_BUCKET_USER_H

#include <stddef.h>

#include "emitd.h"

/*
 * Image of bound @b for values of @type (enum emitd_val_type). An integer
 * value v satisfies `v <= b` exactly when v <= floor(b), so integer types
 * use floor(b). Returns -ERANGE for a negative bound on unsigned values,
 * which no value could ever reach.
 */
int bucket__bound_image(double b, __u8 type, __u64 *img);

/* All bounds at once; -EINVAL when they are not strictly increasing. */
int bucket__images(const double *bounds, size_t n, __u8 type, __u64 *out);

/*
 * Bound @b of a metric whose value has a `scale:` (lib/scale.h), written in
 * the exported unit, in the unit the probe reads: b / scale. For integer
 * values (@type u64 or s64) with a scale other than 1 it must be an integer
 * (lint says so at the bound): -EDOM when it is not. -EINVAL for NaN.
 */
int bucket__unscale(double b, double scale, __u8 type, double *out);

/*
 * bucket__images() of @bounds, in the exported unit, for a value read in
 * another (bucket__unscale() each): the kernel buckets what it reads, so
 * bucketing stays on integers. -EINVAL also when two bounds become one.
 */
int bucket__scaled_images(const double *bounds, size_t n, double scale, __u8 type,
			  __u64 *out);

#endif /* EMITD_BUCKET_USER_H */
