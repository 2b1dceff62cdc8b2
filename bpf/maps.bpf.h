/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Map definitions for emit.bpf.c: the series maps, one per metric kind and
 * lane. BPF only; include after vmlinux.h and bpf_helpers.h.
 */
#ifndef EMITD_MAPS_BPF_H
#define EMITD_MAPS_BPF_H

#include "emitd.h"

/*
 * The lanes of the series maps. Series with labels hash by their key: the
 * `normal` lane, and the `hot` lane of metrics marked `hot: true`. Their
 * maps allocate a series when it is made (no prealloc) and are sized
 * max(the budgets, EMITD_MAP_FLOOR) rounded up to a power of two by the
 * agent, so budget edits within that size keep the same maps (admit()
 * bounds what they hold by the budgets). Series without labels sit at their
 * metric's slot in a per-CPU array: the `fixed` lane, one entry per slot.
 */
#define EMITD_LANE_normal_TYPE	BPF_MAP_TYPE_PERCPU_HASH
#define EMITD_LANE_normal_KEY	struct emitd_series_key
#define EMITD_LANE_normal_SIZE	EMITD_MAP_FLOOR
#define EMITD_LANE_normal_FLAGS	BPF_F_NO_PREALLOC

#define EMITD_LANE_hot_TYPE	BPF_MAP_TYPE_PERCPU_HASH
#define EMITD_LANE_hot_KEY	struct emitd_series_key
#define EMITD_LANE_hot_SIZE	EMITD_MAP_FLOOR
#define EMITD_LANE_hot_FLAGS	BPF_F_NO_PREALLOC

#define EMITD_LANE_fixed_TYPE	BPF_MAP_TYPE_PERCPU_ARRAY
#define EMITD_LANE_fixed_KEY	__u32
#define EMITD_LANE_fixed_SIZE	EMITD_MAX_METRICS
#define EMITD_LANE_fixed_FLAGS	0

/*
 * One series map of a metric kind in @_lane (normal, hot or fixed), pinned
 * by name and BTF-typed so `bpftool map dump pinned` prints its fields:
 *	EMITD_SERIES_MAP(counters, normal, struct emitd_counter);
 */
#define EMITD_SERIES_MAP(_name, _lane, _value)				\
	struct {							\
		__uint(type, EMITD_LANE_##_lane##_TYPE);		\
		__uint(max_entries, EMITD_LANE_##_lane##_SIZE);		\
		__uint(map_flags, EMITD_LANE_##_lane##_FLAGS);		\
		__type(key, EMITD_LANE_##_lane##_KEY);			\
		__type(value, _value);					\
		__uint(pinning, LIBBPF_PIN_BY_NAME);			\
	} _name SEC(".maps")

#endif /* EMITD_MAPS_BPF_H */
