/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * collector: the BPF side of the agent, an opaque object.
 *
 *   loader.c     open, load, apply a spec, reload, close
 *   migrate.c    pins that no longer fit retired, the handler switched, what
 *                retired maps held carried (the carry maps)
 *   pins.c       bpffs, metric slots and signatures, series purged, budgets
 *   lifecycle.c  the spec planned (strict or best-effort), probe links
 *                adopted, detached, attached and pinned; refreshed when a
 *                target changes (collector__refresh(), driven by watch.c),
 *                kept on a replaced binary while a process maps it
 *   attach.c     the sites a spec wants, their configs, one uprobe link each
 *   drain.c      the per-CPU maps and the sample lane into the store
 *   filters.c    the targets' cgroup filters kept current (from the drain)
 *
 * Everything the BPF side uses is pinned under the pin root, the probe
 * links included (<pin root>/links/<cfg_id>): the probes count while no
 * agent runs, and collector__close() leaves them attached. A collector that
 * opens adopts the pinned links its spec still wants, detaches the others
 * and attaches what is missing; collector__reload() does the same for a new
 * spec without a gap for what did not change. `emitd detach` (detach.c)
 * removes the links. collector__refresh() plans the probes of one binary or
 * some pids again when a target changes (a deploy, a pid gone or started):
 * the store is not touched, only links.
 *
 * The agent reads it through collector__stats(), a copy taken at the call,
 * and collector__store(), the series it drained.
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
	const char *const *trial;	/* --hist-trial: histograms with raw values sampled */
	size_t nr_trial;
	/*
	 * --attach-policy best-effort: a probe that cannot be attached is
	 * recorded (collector_stats.failed) and the others run; false
	 * (strict): it fails the open or the reload. Runtime re-attachments
	 * (collector__refresh()) always go on past a failure.
	 */
	bool best_effort;
	bool follow_forks;		/* --follow-forks: every pid target follows its forks */
};

/* One probe site of the spec: its link is adopted or attached. */
struct collector_probe {
	const struct spec_metric *metric;
	const char *spec_path;		/* the spec's file, for messages */
	uint32_t metric_idx;		/* the store metric */
	uint32_t cfg_id;		/* BPF cookie and `cfg` index */
	char *name;			/* "symbol" or "provider:name" */
	char *binary;			/* resolved path */
	pid_t pid;			/* -1: every process */
	struct elf_site site;
	struct emitd_site ident;	/* what `sites` records for its link */
	struct emitd_probe_cfg cfg;	/* its configuration entry */
	const struct spec_target *target;
	bool ctx;			/* runs the context handler: task labels or filters */
	struct emitd_filter filter;	/* ctx: its `filters` entry */
	bool adopted;			/* its pinned link was there already */
	bool attached;			/* it has a link */
	/*
	 * Its link is on a binary replaced on disk (another inode is at the
	 * path now): kept while a process still maps that inode.
	 */
	bool retained;
};

/* What a probe that could not be attached waits for before it is tried again. */
enum collector_wait {
	COLLECTOR_WAIT_NONE,		/* nothing: it is not retried */
	COLLECTOR_WAIT_PATH,		/* its binary to appear at @path */
	COLLECTOR_WAIT_CHANGE,		/* its binary at @path to change */
	COLLECTOR_WAIT_PID,		/* its pid to run (retried on a timer) */
};

/* A probe of the spec (a metric, for one pid or every process) without a link. */
struct collector_failure {
	const struct spec_metric *metric;
	uint32_t metric_idx;		/* the store metric */
	char *name;			/* "symbol" or "provider:name" */
	const char *target;		/* the spec target's name */
	pid_t pid;			/* -1: every process; 0: the pid source names none */
	int err;			/* -errno */
	bool no_process;		/* its process exited or is not named: a target state */
	enum collector_wait wait;
	char *path;			/* WAIT_PATH, WAIT_CHANGE: the binary, absolute */
};

/*
 * What collector__refresh() plans again: the probes on the binary @path
 * (every process), and those of the pids @pids; NULL and 0: everything.
 */
struct collector_scope {
	const char *path;
	const pid_t *pids;
	size_t nr_pids;
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

/* What the collector has seen, copied out by collector__stats(). */
struct collector_stats {
	uint64_t stats[EMITD_STAT_MAX];		/* the kernel's counters, all CPUs */
	uint64_t hits[EMITD_MAX_PROBES];	/* hits per probe, by cfg_id */
	uint64_t map_entries[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];	/* at the last drain */
	uint32_t map_max[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];	/* capacity */
	uint64_t wakeups;		/* kernel wake-ups received */
	bool woken;			/* a wake-up came since the mark was last set */
	int ncpus;
	double lane_delay_s[COLLECTOR_LANE_MAX];	/* staleness of each lane when last drained */
	uint64_t lane_deferrals;	/* normal-lane drains put off to the next cycle */
	struct emitd_series_count series_count[EMITD_MAX_METRICS + 1];	/* per metric, then all */
	uint64_t drains;
	double last_drain_seconds;
	uint64_t batch_fallbacks;	/* drains that fell back to per-key reads */
	uint64_t samples_seen;		/* sample-lane records consumed */
	uint64_t replay_failures;	/* deferred events the kernel did not take back: lost */
	uint64_t orphans;		/* series of metrics no longer in the spec, last drain */
	double ring_fill;		/* sample ring fill: submitted, not yet consumed */
	const struct collector_probe *probes;	/* valid until the next reload, refresh or close */
	size_t nr_probes;
	const struct collector_failure *failed;	/* likewise: the probes without a link */
	size_t nr_failed;
	size_t nr_metrics;		/* probes of the spec (one per metric) */
};

struct collector;
struct emitd_sample;

/* Called for every sample-lane record, after the store took it. */
typedef void (*collector_sample_fn)(void *ctx, const struct store_metric *m,
				    const struct series *s, const struct emitd_sample *smp);

/*
 * loader.c: load and pin, then apply @opts->spec: adopt, detach and attach
 * probe links (errors name the spec line of the failing probe), and drain
 * what the maps hold.
 */
int collector__open(const struct collector_opts *opts, struct collector **out);
/*
 * Apply @spec in place of the running one: links and series of unchanged
 * metrics are kept as they are, added sites attached, removed sites
 * detached and their series removed, maps that must grow migrated. Fails
 * with nothing changed (*@committed false) when a site cannot be resolved;
 * once *@committed is true the collector runs @spec (in part if the return
 * is an error) and @spec must outlive it.
 */
int collector__reload(struct collector *c, const struct spec *spec, bool *committed);
/* Unload and free @c, leaving the probe links pinned and counting; NULL is a no-op. */
void collector__close(struct collector *c);

/*
 * lifecycle.c: the running spec's targets changed (a binary replaced or
 * created, a pid started or gone). Plan the probes of @scope again and
 * reconcile: a site that is new is attached and pinned, one that is the same
 * keeps its link, one of a binary replaced on disk keeps its link while a
 * process still maps the old inode (collector__prune()), the others are
 * detached. What fails is recorded (collector_stats.failed), never fatal.
 * The store is not touched. 0 or -errno (a map write failed).
 */
int collector__refresh(struct collector *c, const struct collector_scope *scope);
/* Detach the retained links whose inode no process maps any more; their number. */
int collector__prune(struct collector *c);
/* Whether links are retained for a replaced binary (then prune now and then). */
bool collector__has_retained(const struct collector *c);
/*
 * The pids to attach to (--pid, --pid-file): each probe is planned once
 * per entry; 0 is a source that names no process now. Copied; takes
 * effect at the next refresh or reload. 0 or -ENOMEM.
 */
int collector__set_pids(struct collector *c, const pid_t *pids, size_t nr);
/* @pid exited: it is not planned again (pids are reused), until it leaves the pid set. */
void collector__pid_exited(struct collector *c, pid_t pid);

/* drain.c */
/* Consume the sample lane for up to @timeout_ms (0: what is there now). */
int collector__poll(struct collector *c, int timeout_ms);
/*
 * Read the maps into the store: the hot lane first, then the normal lane
 * unless @budget_s (> 0) is already spent, in which case it is deferred to
 * the next call.
 */
int collector__drain(struct collector *c, double budget_s);
/* The fd to poll for samples and wake-ups (then call collector__poll(c, 0)). */
int collector__epoll_fd(const struct collector *c);
/* @fn is called with @ctx for every sample-lane record from now on. */
void collector__on_sample(struct collector *c, collector_sample_fn fn, void *ctx);
void collector__stats(const struct collector *c, struct collector_stats *out);
/* The series drained so far; only the drain thread may read it during a drain. */
const struct store *collector__store(const struct collector *c);

const char *collector_lane__name(enum collector_lane l);
const char *collector_map__name(enum collector_map m);

#endif /* EMITD_COLLECTOR_H */
