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
 * `normal` lane, and the `hot` lane of metrics marked `hot: true`. Series
 * without labels sit at a slot the agent assigns in a per-CPU array: the
 * `fixed` lane. Sizes are placeholders: the agent sets them before load.
 */
#define EMITD_LANE_normal_TYPE	BPF_MAP_TYPE_PERCPU_HASH
#define EMITD_LANE_normal_KEY	struct emitd_series_key
#define EMITD_LANE_normal_SIZE	1024

#define EMITD_LANE_hot_TYPE	BPF_MAP_TYPE_PERCPU_HASH
#define EMITD_LANE_hot_KEY	struct emitd_series_key
#define EMITD_LANE_hot_SIZE	1

#define EMITD_LANE_fixed_TYPE	BPF_MAP_TYPE_PERCPU_ARRAY
#define EMITD_LANE_fixed_KEY	__u32
#define EMITD_LANE_fixed_SIZE	1

/*
 * One series map of a metric kind in @_lane (normal, hot or fixed), pinned
 * by name and BTF-typed so `bpftool map dump pinned` prints its fields:
 *	EMITD_SERIES_MAP(counters, normal, struct emitd_counter);
 */
#define EMITD_SERIES_MAP(_name, _lane, _value)				\
	struct {							\
		__uint(type, EMITD_LANE_##_lane##_TYPE);		\
		__uint(max_entries, EMITD_LANE_##_lane##_SIZE);		\
		__type(key, EMITD_LANE_##_lane##_KEY);			\
		__type(value, _value);					\
		__uint(pinning, LIBBPF_PIN_BY_NAME);			\
	} _name SEC(".maps")

#endif /* EMITD_MAPS_BPF_H */
