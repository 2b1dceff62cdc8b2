/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * collector_internal: the collector's state, shared by the files that
 * implement it (loader.c, pins.c, attach.c, drain.c) and by no one else.
 *
 * Calls between those files go one way: loader -> pins -> drain, and
 * loader -> drain; attach.c calls none of them. A .c file that includes this
 * header includes "emit.skel.h" itself too, so the Makefile sees that it
 * waits for the skeleton.
 */
#ifndef EMITD_COLLECTOR_INTERNAL_H
#define EMITD_COLLECTOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/collector.h"
#include "emit.skel.h"

struct collector {
	struct emit_bpf *skel;
	struct ring_buffer *rb;
	const struct spec *spec;
	const pid_t *pids_req;
	size_t nr_pids_req;
	struct collector_probe *probes;
	struct bpf_link *links[EMITD_MAX_PROBES];	/* one per probe */
	size_t nr_probes;
	struct store store;
	int ncpus;
	void *keybuf, *valbuf;		/* drain scratch */
	size_t buf_entries;
	uint64_t stats[EMITD_STAT_MAX];
	uint64_t hits[EMITD_MAX_PROBES];
	uint64_t map_entries[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];
	uint32_t map_max[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];
	/* cadence: per-CPU event counts at the last drain, wake-ups */
	uint64_t *cpu_events;
	uint64_t events_total;		/* all CPUs, at the last read */
	uint64_t events_at_drain;	/* all CPUs, at the last drain */
	uint64_t wakeups;
	bool woken;
	/* lanes */
	double lane_last_s[COLLECTOR_LANE_MAX];	/* monotonic time of the last full drain */
	double lane_delay_s[COLLECTOR_LANE_MAX];	/* its staleness when last drained */
	uint64_t lane_deferrals;	/* normal-lane drains put off to the next cycle */
	bool normal_deferred;		/* the last drain put the normal lane off */
	struct emitd_series_count series_count[EMITD_MAX_METRICS + 1];	/* guard, per metric */
	size_t ringbuf_bytes;
	/*
	 * A hash map iterates in the same order from drain to drain while its
	 * keys do not change: remember which series stood at each position and
	 * skip the store lookup when the key there is the same.
	 */
	struct series **order[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];
	size_t order_cap[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];
	collector_sample_fn on_sample;
	void *sample_ctx;
	uint64_t drains;
	uint64_t batch_fallbacks;	/* drains that fell back to per-key reads */
	bool per_key;
	uint64_t samples_seen;
	uint64_t samples_base;		/* SAMPLES_SUBMITTED when this run's ring was new */
	double last_drain_seconds;
};

/* The maps of one kind and lane, by the skeleton's names. */
static inline struct bpf_map *collector__agg_map(const struct collector *c,
						 enum collector_map m,
						 enum collector_lane lane)
{
	bool hot = lane == COLLECTOR_LANE_HOT;

	switch (m) {
	case COLLECTOR_MAP_COUNTERS:
		return hot ? c->skel->maps.counters_hot : c->skel->maps.counters;
	case COLLECTOR_MAP_GAUGES:
		return hot ? c->skel->maps.gauges_hot : c->skel->maps.gauges;
	case COLLECTOR_MAP_HISTS:
		return hot ? c->skel->maps.hists_hot : c->skel->maps.hists;
	case COLLECTOR_MAP_NORMS:
		return hot ? c->skel->maps.norms_hot : c->skel->maps.norms;
	default:
		return NULL;
	}
}

/* The per-CPU array of a kind's metrics without labels. */
static inline struct bpf_map *collector__fixed_map(const struct collector *c,
						   enum collector_map m)
{
	switch (m) {
	case COLLECTOR_MAP_COUNTERS:
		return c->skel->maps.counters_fixed;
	case COLLECTOR_MAP_GAUGES:
		return c->skel->maps.gauges_fixed;
	case COLLECTOR_MAP_HISTS:
		return c->skel->maps.hists_fixed;
	case COLLECTOR_MAP_NORMS:
		return c->skel->maps.norms_fixed;
	default:
		return NULL;
	}
}

static inline enum collector_lane collector__lane_of(const struct store_metric *sm)
{
	return sm->spec->hot ? COLLECTOR_LANE_HOT : COLLECTOR_LANE_NORMAL;
}

static inline enum emitd_kind collector_map__kind(enum collector_map m)
{
	static const enum emitd_kind kinds[COLLECTOR_MAP_MAX] = {
		EMITD_KIND_COUNTER, EMITD_KIND_GAUGE, EMITD_KIND_HISTOGRAM,
		EMITD_KIND_NORMALIZATION,
	};

	return kinds[m];
}

static inline enum collector_map collector_map__of_kind(enum emitd_kind k)
{
	switch (k) {
	case EMITD_KIND_COUNTER:
		return COLLECTOR_MAP_COUNTERS;
	case EMITD_KIND_GAUGE:
		return COLLECTOR_MAP_GAUGES;
	case EMITD_KIND_HISTOGRAM:
		return COLLECTOR_MAP_HISTS;
	default:
		return COLLECTOR_MAP_NORMS;
	}
}

/* Bytes of one CPU's value in a map of this kind (per-CPU values are 8-aligned). */
static inline size_t collector_map__value_size(enum collector_map map)
{
	static const size_t sz[COLLECTOR_MAP_MAX] = {
		[COLLECTOR_MAP_COUNTERS] = sizeof(struct emitd_counter),
		[COLLECTOR_MAP_GAUGES] = sizeof(struct emitd_gauge),
		[COLLECTOR_MAP_HISTS] = sizeof(struct emitd_hist),
		[COLLECTOR_MAP_NORMS] = sizeof(struct emitd_norm),
	};

	return (sz[map] + 7) & ~7UL;
}

/* pins.c: before the load */
int pins__mount(const char *pin_root);
/* Unlink pinned maps that no longer fit the spec, so the load makes them afresh. */
void pins__drop_stale(struct collector *c, const char *pin_root);
/* pins.c: after the load */
void pins__set_modes(struct collector *c);
int pins__write_fixed_ids(struct collector *c);
int pins__check_metric_sigs(struct collector *c);
int pins__reconcile_budgets(struct collector *c);

/* drain.c: the sample and wake-up rings, the drain's scratch buffers */
int drain__open(struct collector *c);
void drain__close(struct collector *c);

#endif /* EMITD_COLLECTOR_INTERNAL_H */
