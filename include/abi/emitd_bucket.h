/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Histogram bucket selection shared by the BPF programs and the agent, so the
 * unit tests exercise the very code the kernel runs.
 *
 * BPF has no floating point. Values and bounds are compared through an
 * order-preserving u64 image of their type:
 *   u64: the value itself
 *   s64: the value with its sign bit flipped
 *   f64: IEEE-754 bits; negative numbers are bit-inverted, others get the sign
 *        bit set. -0.0 is folded into +0.0 and every NaN sorts above +Inf, so
 *        a NaN lands only in the +Inf bucket, as `NaN <= le` is false.
 * Prometheus `le` semantics: a value falls in the first bucket whose bound is
 * >= the value; above every finite bound it falls in the +Inf slot (nr_bounds).
 */
#ifndef EMITD_BUCKET_H
#define EMITD_BUCKET_H

#include "emitd.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define EMITD_SIGN_BIT		0x8000000000000000ULL
#define EMITD_F64_EXP_MASK	0x7ff0000000000000ULL
#define EMITD_F64_ABS_MASK	0x7fffffffffffffffULL

static __always_inline __u64 emitd_image_f64(__u64 bits)
{
	if ((bits & EMITD_F64_ABS_MASK) > EMITD_F64_EXP_MASK)
		return ~0ULL;			/* NaN: above +Inf */
	if (bits == EMITD_SIGN_BIT)
		bits = 0;			/* -0.0 == +0.0 */
	if (bits & EMITD_SIGN_BIT)
		return ~bits;
	return bits | EMITD_SIGN_BIT;
}

static __always_inline __u64 emitd_image(__u64 raw, __u8 type)
{
	switch (type) {
	case EMITD_VAL_F64:
		return emitd_image_f64(raw);
	case EMITD_VAL_S64:
		return raw ^ EMITD_SIGN_BIT;
	default:
		return raw;
	}
}

/*
 * Index of the first bound >= image, or nr_bounds when none is. @bounds holds
 * EMITD_NR_SLOTS entries of which the first @nr_bounds are sorted ascending.
 * A bounded binary search: 7 steps cover 64 slots.
 */
static __always_inline __u32 emitd_bucket_slot(const __u64 *bounds, __u32 nr_bounds,
					       __u64 image)
{
	__u32 lo = 0, hi = nr_bounds, mid;
	int i;

	if (hi > EMITD_MAX_BOUNDS)
		hi = EMITD_MAX_BOUNDS;
	for (i = 0; i < 7; i++) {
		if (lo >= hi)
			break;
		mid = (lo + hi) / 2;
		if (image <= bounds[mid & (EMITD_NR_SLOTS - 1)])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo & (EMITD_NR_SLOTS - 1);
}

#endif /* EMITD_BUCKET_H */
