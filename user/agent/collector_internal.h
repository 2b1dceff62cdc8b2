/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * collector_internal: the collector's state, shared by the files that
 * implement it (loader.c, migrate.c, pins.c, lifecycle.c, attach.c,
 * drain.c, filters.c) and by no one else.
 *
 * Calls between those files go one way: loader -> lifecycle -> attach,
 * loader -> migrate -> drain, loader -> pins, lifecycle -> migrate (the
 * grace period), lifecycle -> pins and migrate -> pins (modes), loader ->
 * attach and drain, drain -> filters. A .c file
 * that includes this header includes "emit.skel.h" itself too, so the
 * Makefile sees that it waits for the skeleton.
 */
#ifndef EMITD_COLLECTOR_INTERNAL_H
#define EMITD_COLLECTOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/collector.h"
#include "emit.skel.h"

#define COLLECTOR_NO_ID		UINT32_MAX	/* a probe without a cfg_id yet */
#define COLLECTOR_MAX_GONE	64		/* exited pids remembered */

/* Why a link goes (collector.drop[]); 0: it stays. */
enum lifecycle_drop {
	LIFECYCLE_KEEP = 0,
	LIFECYCLE_DROP_SPEC,		/* no longer in the spec (or its metric restarts) */
	LIFECYCLE_DROP_UNUSED,		/* its binary was replaced and no process maps the old one */
	LIFECYCLE_DROP_EXITED,		/* its process exited */
	LIFECYCLE_DROP_CHANGED,		/* its binary changed: the site is not there any more */
};

/* A pinned map a load could not reuse, kept until its contents are carried. */
enum collector_retired_kind {
	COLLECTOR_RETIRED_SERIES,	/* a hash series map: folded into the carry */
	COLLECTOR_RETIRED_FIXED,	/* a fixed array of an older layout (fixed_ids) */
	COLLECTOR_RETIRED_RING,		/* the sample ring: consumed once */
};

struct collector_retired {
	enum collector_retired_kind kind;
	enum collector_map map;
	enum collector_lane lane;
	char *path;			/* its pin: <name>-retired-<id> */
	int fd;
	uint32_t id;			/* the kernel's map id */
};

/* One series a retired map held: the kind's value, summed over CPUs. */
struct carry_entry {
	struct emitd_series_key key;
	union {
		struct emitd_counter counter;
		struct emitd_gauge gauge;
		struct emitd_hist hist;
		struct emitd_norm norm;
	} v;
};

/*
 * What the retired maps of one kind held (pin carry_<kind>), sorted by key,
 * and the ids of the retired maps it holds (so none is carried twice).
 */
struct collector_carry {
	struct carry_entry *v;
	size_t nr, cap;
	uint32_t *marks;
	size_t nr_marks;
	bool dirty;			/* to be committed */
};

struct collector {
	struct emit_bpf *skel;
	char *pin_root;
	struct ring_buffer *rb;
	const struct spec *spec;
	pid_t *pids_req;		/* --pid, --pid-file (collector__set_pids()); 0: none now */
	size_t nr_pids_req;
	pid_t gone[COLLECTOR_MAX_GONE];	/* pids seen to exit (collector__pid_exited()) */
	size_t nr_gone;
	bool best_effort;		/* --attach-policy best-effort */
	const char *const *trial;
	size_t nr_trial;
	bool follow_forks;		/* --follow-forks */
	struct cgroups *cgroups;	/* the cgroup v2 hierarchy; NULL: none mounted */
	double filters_checked_s;	/* when the cgroup filters were last checked */
	struct bpf_link *follow[2];	/* follow_forks: the fork and exit programs' links */
	struct collector_probe *probes;	/* the spec's sites, by position */
	size_t nr_probes;
	struct collector_failure *failed;	/* the spec's probes without a link */
	size_t nr_failed;
	struct bpf_link *links[EMITD_MAX_PROBES];	/* the links this agent holds, by cfg_id */
	struct emitd_site *sites;	/* `sites`, as last read or written */
	uint8_t *drop;			/* cfg_ids whose link goes, and why (enum lifecycle_drop) */
	uint32_t slot_owner[EMITD_MAX_METRICS];	/* metric_slots after the apply */
	struct emitd_ctl ctl;		/* what the agent last wrote to `ctl` */
	struct collector_retired *retired;
	size_t nr_retired;
	struct collector_carry carry[COLLECTOR_MAP_MAX];
	struct store store;
	int ncpus;
	size_t ringbuf_req;		/* --ringbuf-bytes, 0: the object's */
	void *keybuf, *valbuf;		/* drain scratch */
	size_t buf_entries;
	uint64_t stats[EMITD_STAT_MAX];
	uint64_t hits[EMITD_MAX_PROBES];
	uint64_t map_entries[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];
	uint32_t map_max[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];
	/* what the last apply did to the links */
	size_t nr_adopted, nr_attached, nr_detached;
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
	/* the guard's counts by store metric, then the global one */
	struct emitd_series_count series_count[EMITD_MAX_METRICS + 1];
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
	uint64_t replay_failures;	/* deferred events emitd_replay did not take */
	uint64_t deferred_errnos;	/* why deferred labels were not read, logged: bit errno */
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

/* Whether @map is a hash series map of @c's object, and which. */
static inline bool collector__is_agg_map(const struct collector *c, const struct bpf_map *map,
					 enum collector_map *m, enum collector_lane *lane)
{
	int i, l;

	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		for (i = 0; i < COLLECTOR_MAP_MAX; i++)
			if (collector__agg_map(c, i, l) == map) {
				*m = i;
				*lane = l;
				return true;
			}
	return false;
}

/* Whether @map is a fixed series array of @c's object, and which. */
static inline bool collector__is_fixed_map(const struct collector *c, const struct bpf_map *map,
					   enum collector_map *m)
{
	int i;

	for (i = 0; i < COLLECTOR_MAP_MAX; i++)
		if (collector__fixed_map(c, i) == map) {
			*m = i;
			return true;
		}
	return false;
}

/* pins.c: before the load */
int pins__mount(const char *pin_root);
/* pins.c: after the load */
void pins__set_modes(struct collector *c);
void pins__chmod(const char *path);
/* Give each metric of @st its slot: its own, else a free one. No map is written. */
int pins__assign_slots(struct collector *c, struct store *st);
/* Mark the metrics of @st whose meaning changed since their series were made fresh. */
int pins__mark_changed(struct collector *c, struct store *st);
/*
 * After the links of removed and fresh metrics are gone: remove their
 * series (maps, folded keys), clear the slots that change owner, record the
 * slots and signatures of @st. (carry__purge() does the carry.)
 */
int pins__retire_metrics(struct collector *c, const struct store *st);
/* The guard's counts of the metrics of @st that no adopted link feeds (!@live[idx]). */
int pins__init_budgets(struct collector *c, const struct store *st, const bool *live);
/* Write c->ctl to `ctl`. */
int pins__write_ctl(struct collector *c);

/* migrate.c */
/* Wait until no handler that started before the call still runs. */
void collector__grace(void);
/*
 * Before the load of @skel: reuse the pins that fit, retire the series maps
 * and the ring that do not, drop the rest.
 */
int migrate__check_pins(struct collector *c, struct emit_bpf *skel);
/* Undo the retirements after the first @keep (a load that failed). */
void migrate__unretire(struct collector *c, size_t keep);
/* Retired maps an earlier agent left behind (it stopped while migrating); after carry__load(). */
int migrate__find_retired(struct collector *c, struct emit_bpf *skel);
/*
 * Before the budgets are counted: the retired maps' series of @st's
 * metrics, zero, in the new maps.
 */
int migrate__prepare(struct collector *c, const struct store *st);
/*
 * Make the handler of c->skel the one every link runs, then carry what the
 * retired maps hold (series of metrics c->store still has, unchanged).
 */
int migrate__switch(struct collector *c);
int carry__load(struct collector *c);
/* Drop the carried series of metrics @st does not have, or has fresh. */
int carry__purge(struct collector *c, const struct store *st);
/* Give the store's series their carried values. */
int carry__apply(struct collector *c);
void carry__free(struct collector *c);
void migrate__free_retired(struct collector *c);

/* lifecycle.c */
/* What a spec wants: its sites, and its probes that cannot be planned. */
struct lifecycle_plan {
	const struct spec *spec;
	struct collector_probe *want;
	size_t nr_want;
	struct collector_failure *failed;
	size_t nr_failed;
};

/*
 * Plan every probe of @spec (every metric of @st, once per pid of the pid
 * set, else for its target's pid or binary). A probe that cannot be
 * planned fails the plan (logged), unless best-effort or the process is
 * not there (a target state): then it is recorded in @pl->failed.
 */
int lifecycle__plan(struct collector *c, const struct spec *spec, const struct store *st,
		    struct lifecycle_plan *pl);
void lifecycle_plan__free(struct lifecycle_plan *pl);
/*
 * Match the planned probes to pinned links (p->adopted) and mark the links
 * that go; a link on a binary replaced on disk that a process still maps
 * joins @pl->want, retained. @refresh: the store is the running one (no
 * metric restarts).
 */
int lifecycle__match(struct collector *c, struct lifecycle_plan *pl, const struct spec *spec,
		     const struct store *st, bool refresh);
/* Unpin and destroy the links that go; their cfg_ids are free after. */
int lifecycle__detach(struct collector *c);
/*
 * Rewrite the adopted probes' configs where they differ, attach and pin the
 * others. A site the kernel refuses fails the call, unless best-effort or
 * @tolerant: then it joins @pl->failed.
 */
int lifecycle__attach(struct collector *c, struct lifecycle_plan *pl, bool tolerant);
/* The collector runs the attached probes and the failures of @pl now. */
void lifecycle__take(struct collector *c, struct lifecycle_plan *pl);
void collector_failures__free(struct collector_failure *v, size_t n);
/* Leave the links pinned and counting, free what this process holds. */
void lifecycle__release(struct collector *c);
/*
 * follow_forks: the fork and exit programs attached (pinned) while a planned
 * site follows a pid, that pid and its descendants in `followed`, and the
 * pids no site follows any more removed from it. Called by lifecycle__attach().
 */
int lifecycle__follow(struct collector *c, const struct collector_probe *want, size_t nr);
/* Whether the metric @idx of the applied store has an adopted link. */
bool lifecycle__metric_live(const struct collector_probe *want, size_t nr, uint32_t idx);

/* attach.c */
struct attach_plan {
	struct collector_probe *v;
	size_t nr;
};

/*
 * Every site of the metric @sm for @pid (<= 0: its target's pid, else every
 * process), resolved, with its identity and config, appended to @pl.
 * Nothing is attached. On an error (logged with the spec's FILE:LINE:COL)
 * @pl is as it was.
 */
int attach__plan_unit(struct attach_plan *pl, const struct collector *c,
		      const struct spec *spec, const struct store_metric *sm, pid_t pid);
/* "symbol" or "provider:name", allocated; NULL: no memory. */
char *attach__probe_name(const struct spec_probe *sp);
/* The per-metric part of a configuration (the sites add their operands). */
int attach__metric_cfg(const struct store_metric *sm, struct emitd_probe_cfg *cfg);
/* The uprobe link of @p, with cookie p->cfg_id; NULL with errno, logged. */
struct bpf_link *attach__link(struct collector *c, const struct collector_probe *p);
void attach__log(const struct collector_probe *p, const char *verb);
void collector_probes__free(struct collector_probe *v, size_t n);

/*
 * filters.c, from the drain: at most once a second (@now_s, monotonic) the
 * cgroup filters follow their cgroup when it is created, removed or created
 * again (a service restart makes a new cgroup, with a new id).
 */
void filters__check(struct collector *c, double now_s);

/* drain.c: the sample and wake-up rings, the drain's scratch buffers */
int drain__open(struct collector *c);
void drain__close(struct collector *c);
int drain__open_rings(struct collector *c);
void drain__close_rings(struct collector *c);
/* Forget the positions of series of a store about to be freed. */
void drain__reset_order(struct collector *c);
/* Consume what the ring @fd holds (a retired sample ring) into the store. */
int drain__consume_ring(struct collector *c, int fd);

#endif /* EMITD_COLLECTOR_INTERNAL_H */
