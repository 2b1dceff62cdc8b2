/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * collector: the BPF side of the agent. Opens, sizes, loads and pins the
 * programs and maps, attaches one link per spec probe (and per PID), and
 * drains the per-CPU maps and the sample lane into a store.
 */
#ifndef EMITD_COLLECTOR_H
#define EMITD_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/elf_site.h"
#include "emitd.h"
#include "spec/spec.h"
#include "agent/store.h"

struct collector_opts {
	size_t sz;
	const struct spec *spec;
	const pid_t *pids;		/* attach to these PIDs only (NULL: all) */
	size_t nr_pids;
	const char *pin_root;		/* default EMITD_PIN_ROOT */
	size_t ringbuf_bytes;		/* sample lane size, power of two */
	bool per_key;			/* never use batch lookups (old kernels, tests) */
};

struct collector_probe {
	const struct spec_metric *metric;
	uint32_t cfg_id;		/* BPF cookie and `cfg` index */
	char *name;			/* "symbol" or "provider:name" */
	char *binary;			/* resolved path */
	pid_t pid;			/* -1: every process */
	struct elf_site site;
	struct bpf_link *link;
};

enum collector_map {
	COLLECTOR_MAP_COUNTERS,
	COLLECTOR_MAP_GAUGES,
	COLLECTOR_MAP_HISTS,
	COLLECTOR_MAP_NORMS,
	COLLECTOR_MAP_MAX,
};

enum collector_lane {
	COLLECTOR_LANE_HOT,		/* `hot: true` metrics: drained first, never shed */
	COLLECTOR_LANE_NORMAL,
	COLLECTOR_LANE_MAX,
};

struct emitd_sample;

/* Called for every sample-lane record, after the store took it. */
typedef void (*collector_sample_fn)(void *ctx, const struct store_metric *m,
				    const struct series *s, const struct emitd_sample *smp);

struct collector {
	struct emit_bpf *skel;
	struct ring_buffer *rb;
	const struct spec *spec;
	const pid_t *pids_req;
	size_t nr_pids_req;
	struct collector_probe *probes;
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

int collector__open(struct collector *c, const struct collector_opts *opts);
/* The configuration of @sm's probes, before the site adds its operands. */
int collector__metric_cfg(const struct store_metric *sm, struct emitd_probe_cfg *cfg);
/* Attach every probe; errors name the spec line of the failing probe. */
int collector__attach(struct collector *c);
/* Consume the sample lane for up to @timeout_ms (0: what is there now). */
int collector__poll(struct collector *c, int timeout_ms);
/*
 * Read the maps into the store: the hot lane first, then the normal lane
 * unless @budget_s (> 0) is already spent, in which case it is deferred to
 * the next call.
 */
int collector__drain(struct collector *c, double budget_s);
/* Fill of the sample ring buffer: records submitted, not yet consumed. */
double collector__ring_fill(const struct collector *c);
/* Events since the last drain, from the per-CPU counters. */
uint64_t collector__pending(struct collector *c);
/* The fd to poll for samples and wake-ups (then call collector__poll(c, 0)). */
int collector__epoll_fd(const struct collector *c);
/*
 * Wake the agent once @target more events have arrived: on any one CPU, or,
 * with @spread, on any CPU once it has its share (target / CPUs).
 */
int collector__set_wake(struct collector *c, uint64_t target, bool spread);
/* What the kernel sheds for non-hot metrics: EMITD_SHED_* bits. */
int collector__set_shed(struct collector *c, uint32_t shed);
const char *collector_lane__name(enum collector_lane l);
/* A raw map or sample value as a double, by the value's type. */
double collector__raw_to_double(__u64 raw, enum spec_val_type t);
void collector__close(struct collector *c);

const char *collector_map__name(enum collector_map m);

#endif /* EMITD_COLLECTOR_H */
