// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The drain, from the kernel to the store, and its controller.
 *
 * Reads: the per-CPU maps with batch lookups, per-key reads when the kernel
 * refuses batches; a cache of the series at each position of a map's
 * iteration; the sample lane (ring buffer) and the kernel's wake-ups.
 *
 * Controller (agent_batch, drain.h): feeds the kernel's pending counters and
 * the sample ring's fill to the cadence, drains when it says so, re-arms the
 * kernel's wake-up mark, switches shedding on and off, and keeps the figures
 * of the drain loop, the lanes, the cardinality guard and histogram trial
 * mode for agent_batch__stats().
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/collector_internal.h"
#include "agent/deferred.h"
#include "agent/drain.h"
#include "emit.skel.h"
#include "emitd.h"
#include "lib/guard.h"
#include "lib/log.h"
#include "lib/quantile.h"

#define DRAIN_CHUNK	512

static const char *const map_names[COLLECTOR_MAP_MAX] = {
	[COLLECTOR_MAP_COUNTERS] = "counters",
	[COLLECTOR_MAP_GAUGES] = "gauges",
	[COLLECTOR_MAP_HISTS] = "hists",
	[COLLECTOR_MAP_NORMS] = "norms",
};

const char *collector_map__name(enum collector_map m)
{
	return m < COLLECTOR_MAP_MAX ? map_names[m] : "?";
}

const char *collector_lane__name(enum collector_lane l)
{
	return l == COLLECTOR_LANE_HOT ? "hot" : "normal";
}

/*
 * An event whose string label the probe could not read: read it here, then
 * the kernel counts the event (or a label read error). A record the kernel
 * does not take is counted in replay_failures and logged once per reason.
 */
static void handle_deferred(struct collector *c, const struct emitd_deferred *rec)
{
	struct emitd_deferred d = *rec;
	int err;

	err = deferred__read(&d);
	if (err && -err < 64 && !(c->deferred_errnos & (1ULL << -err))) {
		c->deferred_errnos |= 1ULL << -err;
		log_warn("cannot read a string label of process %u that the probe could not read either: %s (counted in emitd_probe_read_errors_total{what=\"label\"})",
			 d.tgid, strerror(-err));
	}
	err = deferred__replay(bpf_program__fd(c->skel->progs.emitd_replay), &d);
	if (!err)
		return;
	if (!c->replay_failures++)
		log_err("cannot hand a deferred event back to the kernel: %s (counted in emitd_probe_read_errors_total{what=\"label_deferred_lost\"})",
			strerror(-err));
}

static int handle_sample(void *ctx, void *data, size_t len)
{
	const struct emitd_sample *smp = data;
	struct collector *c = ctx;
	struct store_metric *m;
	struct series *s;

	_Static_assert(sizeof(struct emitd_deferred) != sizeof(struct emitd_sample),
		       "the sample lane tells its records apart by their size");
	if (len == sizeof(struct emitd_deferred)) {
		c->samples_seen++;
		handle_deferred(c, data);
		return 0;
	}
	if (len < sizeof(*smp))
		return 0;
	c->samples_seen++;
	m = store__metric_by_id(&c->store, smp->metric_id);
	s = m ? store__series(&c->store, &smp->key) : NULL;
	if (!s)
		return 0;
	store__add_sample(m, s, smp);
	if (c->on_sample)
		c->on_sample(c->sample_ctx, m, s, smp);
	return 0;
}

static int handle_wake(void *ctx, void *data, size_t len)
{
	struct collector *c = ctx;

	(void)data;
	(void)len;
	c->wakeups++;
	c->woken = true;
	return 0;
}

static int alloc_drain_buffers(struct collector *c)
{
	size_t vsz = (sizeof(struct emitd_hist) + 7) & ~7UL;

	c->buf_entries = DRAIN_CHUNK;
	c->keybuf = calloc(c->buf_entries, sizeof(struct emitd_series_key));
	c->valbuf = calloc(c->buf_entries * c->ncpus, vsz);
	c->cpu_events = calloc(c->ncpus, sizeof(*c->cpu_events));
	return c->keybuf && c->valbuf && c->cpu_events ? 0 : -ENOMEM;
}

/*
 * The rings are pinned: a ring opened by another agent's load goes on from
 * where the last consumer left it.
 */
int drain__open_rings(struct collector *c)
{
	int err;

	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.samples), handle_sample, c, NULL);
	if (!c->rb) {
		err = -errno;
		log_err("cannot open the sample ring buffer: %s", strerror(-err));
		return err;
	}
	err = ring_buffer__add(c->rb, bpf_map__fd(c->skel->maps.wake), handle_wake, c);
	if (err)
		log_err("cannot open the wake-up ring buffer: %s", strerror(-err));
	return err;
}

void drain__close_rings(struct collector *c)
{
	ring_buffer__free(c->rb);
	c->rb = NULL;
}

int drain__open(struct collector *c)
{
	int err = drain__open_rings(c);

	return err ? err : alloc_drain_buffers(c);
}

void drain__reset_order(struct collector *c)
{
	size_t i;

	for (i = 0; i < COLLECTOR_LANE_MAX * COLLECTOR_MAP_MAX; i++) {
		free(c->order[i / COLLECTOR_MAP_MAX][i % COLLECTOR_MAP_MAX]);
		c->order[i / COLLECTOR_MAP_MAX][i % COLLECTOR_MAP_MAX] = NULL;
		c->order_cap[i / COLLECTOR_MAP_MAX][i % COLLECTOR_MAP_MAX] = 0;
	}
}

void drain__close(struct collector *c)
{
	drain__close_rings(c);
	free(c->keybuf);
	free(c->valbuf);
	free(c->cpu_events);
	c->keybuf = c->valbuf = NULL;
	c->cpu_events = NULL;
	drain__reset_order(c);
}

int drain__consume_ring(struct collector *c, int fd)
{
	struct ring_buffer *rb = ring_buffer__new(fd, handle_sample, c, NULL);
	int n;

	if (!rb)
		return -errno;
	n = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return n < 0 ? n : 0;
}

int collector__poll(struct collector *c, int timeout_ms)
{
	int n = ring_buffer__poll(c->rb, timeout_ms);

	return n == -EINTR ? 0 : n;
}

void collector__on_sample(struct collector *c, collector_sample_fn fn, void *ctx)
{
	c->on_sample = fn;
	c->sample_ctx = ctx;
}

/* Sum one entry's per-CPU values into its series, by the map's kind. */
static void apply_values(struct collector *c, enum collector_map map, struct series *s,
			 const void *vals)
{
	switch (map) {
	case COLLECTOR_MAP_COUNTERS:
		store__apply_counter(s, vals, c->ncpus);
		break;
	case COLLECTOR_MAP_GAUGES:
		store__apply_gauge(s, vals, c->ncpus);
		break;
	case COLLECTOR_MAP_HISTS:
		store__apply_hist(s, vals, c->ncpus);
		break;
	case COLLECTOR_MAP_NORMS:
		store__apply_norm(s, vals, c->ncpus);
		break;
	default:
		break;
	}
}

static void apply_entry(struct collector *c, enum collector_map map,
			const struct emitd_series_key *key, const void *vals)
{
	struct series *s = store__series(&c->store, key);

	if (s)
		apply_values(c, map, s, vals);
}

/* The series at position @pos of this map's iteration, cached across drains. */
static struct series *series_at(struct collector *c, enum collector_lane lane,
				enum collector_map map, size_t pos,
				const struct emitd_series_key *key)
{
	struct series ***order = &c->order[lane][map], *s;
	size_t *cap = &c->order_cap[lane][map];

	if (pos < *cap && (*order)[pos] && !memcmp(&(*order)[pos]->key, key, sizeof(*key)))
		return (*order)[pos];
	s = store__series(&c->store, key);
	if (pos >= *cap) {
		size_t ncap = pos < 1024 ? 1024 : pos * 2;
		struct series **v = realloc(*order, ncap * sizeof(*v));

		if (!v)
			return s;
		memset(v + *cap, 0, (ncap - *cap) * sizeof(*v));
		*order = v;
		*cap = ncap;
	}
	(*order)[pos] = s;
	return s;
}

/* Per-key reads: the fallback when the kernel refuses batch operations. */
static int drain_map_keys(struct collector *c, enum collector_map map,
			  enum collector_lane lane, int fd)
{
	struct emitd_series_key key, next;
	void *prev = NULL;
	uint64_t n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!bpf_map_lookup_elem(fd, &next, c->valbuf)) {
			struct series *s = series_at(c, lane, map, n, &next);

			if (s)
				apply_values(c, map, s, c->valbuf);
			n++;
		}
		key = next;
		prev = &key;
	}
	c->map_entries[lane][map] = n;
	return 0;
}

static int drain_map(struct collector *c, enum collector_map map, enum collector_lane lane)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	int fd = bpf_map__fd(collector__agg_map(c, map, lane));
	size_t vsz = collector_map__value_size(map), i;
	__u64 in = 0, out = 0;
	bool first = true;
	uint64_t n = 0;
	__u32 count;
	int err;

	if (c->per_key)
		return drain_map_keys(c, map, lane, fd);
	for (;;) {
		count = c->buf_entries;
		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, c->keybuf, c->valbuf,
					   &count, &bo);
		if (err && errno != ENOENT) {
			if (errno == EINVAL || errno == ENOTSUP || errno == ENOSPC) {
				c->batch_fallbacks++;
				return drain_map_keys(c, map, lane, fd);
			}
			return -errno;
		}
		for (i = 0; i < count; i++) {
			struct series *s = series_at(c, lane, map, n + i,
						     (struct emitd_series_key *)c->keybuf + i);

			if (s)
				apply_values(c, map, s, (char *)c->valbuf + i * vsz * c->ncpus);
		}
		n += count;
		if (err)
			break;
		in = out;
		first = false;
	}
	c->map_entries[lane][map] = n;
	return 0;
}

/* Series without labels: one array slot each, keyed by their metric. */
static int drain_fixed(struct collector *c, enum collector_map map, enum collector_lane lane)
{
	int fd = bpf_map__fd(collector__fixed_map(c, map));
	struct emitd_series_key key;
	size_t i;

	for (i = 0; i < c->store.nr_metrics; i++) {
		const struct store_metric *sm = &c->store.metrics[i];

		if (!sm->fixed || collector_map__of_kind(sm->kind) != map || collector__lane_of(sm) != lane)
			continue;
		if (bpf_map_lookup_elem(fd, &sm->slot, c->valbuf))
			return -errno;
		memset(&key, 0, sizeof(key));
		key.metric_id = sm->id;
		apply_entry(c, map, &key, c->valbuf);
	}
	return 0;
}

static void read_percpu_array(int fd, __u32 nr, uint64_t *out, int ncpus)
{
	__u64 vals[ncpus];
	__u32 k;
	int cpu;

	for (k = 0; k < nr; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (cpu = 0; cpu < ncpus; cpu++)
			out[k] += vals[cpu];
	}
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int drain_lane(struct collector *c, enum collector_lane lane)
{
	double t = now_seconds();
	int m, err;

	for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
		err = drain_map(c, m, lane);
		if (!err)
			err = drain_fixed(c, m, lane);
		if (err) {
			log_err("draining map %s (%s lane): %s", collector_map__name(m),
				collector_lane__name(lane), strerror(-err));
			return err;
		}
	}
	if (c->lane_last_s[lane])
		c->lane_delay_s[lane] = t - c->lane_last_s[lane];
	c->lane_last_s[lane] = t;
	return 0;
}

static void read_cpu_events(struct collector *c)
{
	__u32 zero = 0;
	int cpu;

	if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.cpu_events), &zero, c->cpu_events))
		return;
	c->events_total = 0;
	for (cpu = 0; cpu < c->ncpus; cpu++)
		c->events_total += c->cpu_events[cpu];
}

/* Fill of the sample ring buffer: records submitted, not yet consumed. */
static double ring_fill(const struct collector *c)
{
	const double rec = (sizeof(struct emitd_sample) + 8 + 7) & ~7UL;	/* + ring header */
	uint64_t sub = c->stats[EMITD_STAT_SAMPLES_SUBMITTED] - c->samples_base;
	double f;

	if (!c->ringbuf_bytes || sub <= c->samples_seen)
		return 0;
	f = (double)(sub - c->samples_seen) * rec / (double)c->ringbuf_bytes;
	return f > 1 ? 1 : f;
}

int collector__epoll_fd(const struct collector *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

/* The guard's counts by store metric (the kernel's are by slot), then the global one. */
static void read_series_count(struct collector *c)
{
	int fd = bpf_map__fd(c->skel->maps.series_count);
	struct emitd_series_count *g = &c->series_count[EMITD_MAX_METRICS];
	__u32 i, slot;

	memset(c->series_count, 0, sizeof(c->series_count));
	for (i = 0; i < c->store.nr_metrics; i++) {
		slot = c->store.metrics[i].slot;
		bpf_map_lookup_elem(fd, &slot, &c->series_count[i]);
	}
	slot = EMITD_MAX_METRICS;
	if (!bpf_map_lookup_elem(fd, &slot, g))
		g->admitted = g->admitted > c->ctl.global_released ?
			      g->admitted - c->ctl.global_released : 0;
}

/* Hits of the sites in use, by cfg_id. */
static void read_hits(struct collector *c)
{
	int fd = bpf_map__fd(c->skel->maps.probe_hits);
	__u64 vals[c->ncpus];
	size_t i;
	int cpu;

	memset(c->hits, 0, sizeof(c->hits));
	for (i = 0; i < c->nr_probes; i++) {
		__u32 id = c->probes[i].cfg_id;

		if (!c->probes[i].attached || bpf_map_lookup_elem(fd, &id, vals))
			continue;
		for (cpu = 0; cpu < c->ncpus; cpu++)
			c->hits[id] += vals[cpu];
	}
}

/* Events since the last drain, from the per-CPU counters. */
static uint64_t pending(struct collector *c)
{
	read_cpu_events(c);
	/* the ring's fill needs a fresh count of records submitted */
	read_percpu_array(bpf_map__fd(c->skel->maps.stats), EMITD_STAT_MAX, c->stats, c->ncpus);
	return c->events_total - c->events_at_drain;
}

/*
 * Wake the agent once @target more events have arrived: on any one CPU, or,
 * with @spread, on any CPU once it has its share (target / CPUs).
 */
static int set_wake(struct collector *c, uint64_t target, bool spread)
{
	uint64_t per_cpu = spread ? (target + c->ncpus - 1) / c->ncpus : target;
	uint64_t marks[c->ncpus];
	__u32 zero = 0;
	int cpu;

	if (!per_cpu)
		per_cpu = 1;
	for (cpu = 0; cpu < c->ncpus; cpu++)
		marks[cpu] = c->cpu_events[cpu] + per_cpu;
	c->woken = false;
	return bpf_map_update_elem(bpf_map__fd(c->skel->maps.cpu_wake), &zero, marks, BPF_ANY);
}

/* What the kernel sheds for non-hot metrics: EMITD_SHED_* bits. */
static int set_shed(struct collector *c, uint32_t shed)
{
	__u32 zero = 0;

	c->ctl.shed = shed;
	return bpf_map_update_elem(bpf_map__fd(c->skel->maps.ctl), &zero, &c->ctl, BPF_ANY);
}

int collector__drain(struct collector *c, double budget_s)
{
	double t0 = now_seconds();
	int err;

	store__reset_orphans(&c->store);	/* counted again by this drain */
	err = collector__poll(c, 0);
	if (err < 0)
		return err;
	t0 = now_seconds();	/* the budget is for the maps, not the sample backlog */
	read_cpu_events(c);
	c->events_at_drain = c->events_total;
	err = drain_lane(c, COLLECTOR_LANE_HOT);
	if (err)
		return err;
	/* the normal lane waits at most one cycle */
	if (budget_s > 0 && now_seconds() - t0 >= budget_s && !c->normal_deferred) {
		c->lane_deferrals++;
		c->normal_deferred = true;
	} else {
		c->normal_deferred = false;
		err = drain_lane(c, COLLECTOR_LANE_NORMAL);
		if (err)
			return err;
	}
	/*
	 * A sample is submitted just after its map update: take the samples of
	 * the events the maps just showed, so sums from the sample lane trail
	 * the counts only by events still in flight on another CPU.
	 */
	err = collector__poll(c, 0);
	if (err < 0)
		return err;
	read_percpu_array(bpf_map__fd(c->skel->maps.stats), EMITD_STAT_MAX, c->stats, c->ncpus);
	read_hits(c);
	read_series_count(c);
	store__sort(&c->store);
	c->drains++;
	c->last_drain_seconds = now_seconds() - t0;
	filters__check(c, now_seconds());
	return 0;
}

void collector__stats(const struct collector *c, struct collector_stats *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->stats, c->stats, sizeof(out->stats));
	memcpy(out->hits, c->hits, sizeof(out->hits));
	memcpy(out->map_entries, c->map_entries, sizeof(out->map_entries));
	memcpy(out->map_max, c->map_max, sizeof(out->map_max));
	out->wakeups = c->wakeups;
	out->woken = c->woken;
	out->ncpus = c->ncpus;
	memcpy(out->lane_delay_s, c->lane_delay_s, sizeof(out->lane_delay_s));
	out->lane_deferrals = c->lane_deferrals;
	memcpy(out->series_count, c->series_count, sizeof(out->series_count));
	out->drains = c->drains;
	out->last_drain_seconds = c->last_drain_seconds;
	out->batch_fallbacks = c->batch_fallbacks;
	out->samples_seen = c->samples_seen;
	out->replay_failures = c->replay_failures;
	out->orphans = c->store.orphans;
	out->ring_fill = ring_fill(c);
	out->probes = c->probes;
	out->nr_probes = c->nr_probes;
	out->failed = c->failed;
	out->nr_failed = c->nr_failed;
	out->nr_metrics = c->store.nr_metrics;
}

const struct store *collector__store(const struct collector *c)
{
	return &c->store;
}

/* The drain controller. */

static const double drain_bounds[AGENT_BATCH_NR_DRAIN_BOUNDS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
};
#define NR_DRAIN_BOUNDS AGENT_BATCH_NR_DRAIN_BOUNDS

static const double trial_qs[AGENT_BATCH_NR_TRIAL_QS] = { 0.5, 0.95, 0.99 };
static const char *const trial_q_names[AGENT_BATCH_NR_TRIAL_QS] = { "0.5", "0.95", "0.99" };
#define NR_TRIAL_QS AGENT_BATCH_NR_TRIAL_QS

#define LANE_WINDOW_MS 60000

struct trial {
	const struct store_metric *m;
	double *ring;			/* last `trial_window` raw observations */
	size_t head, nr;
	double deviation[NR_TRIAL_QS];
	bool valid;
};

struct agent_batch {
	struct agent_batch_opts o;
	struct collector *c;
	struct cadence cad;
	struct cadence_decision last;
	/* drain loop */
	uint64_t drain_slots[NR_DRAIN_BOUNDS + 1];
	uint64_t drain_count;
	double drain_sum;
	uint64_t events_at_last_drain;
	uint64_t last_increments;
	uint32_t shed_flags;
	/* lanes: the worst delay of the current and the previous minute */
	double lane_worst[COLLECTOR_LANE_MAX][2];
	uint64_t lane_window_ms;
	/* guard */
	struct guard *guard;
	size_t *admitted_seen;		/* per metric: admitted series fed to the guard */
	bool *fold_warned;
	/* trial mode */
	struct trial trials[AGENT_BATCH_MAX_TRIAL];
	size_t nr_trials;
};

void agent_batch_opts__init(struct agent_batch_opts *o)
{
	memset(o, 0, sizeof(*o));
	cadence_config__init(&o->cadence);
	o->drain_budget_s = 0.05;
	o->trial_window = 4096;
}

/* The histograms the collector samples raw values of (--hist-trial). */
static int setup_trials(struct agent_batch *ab, const struct store *st)
{
	size_t i;

	for (i = 0; i < st->nr_metrics && ab->nr_trials < AGENT_BATCH_MAX_TRIAL; i++) {
		if (!st->metrics[i].trial)
			continue;
		ab->trials[ab->nr_trials].m = &st->metrics[i];
		ab->trials[ab->nr_trials].ring = calloc(ab->o.trial_window, sizeof(double));
		if (!ab->trials[ab->nr_trials++].ring)
			return -ENOMEM;
	}
	return 0;
}

static int setup_guard(struct agent_batch *ab, const struct store *st)
{
	unsigned int budgets[EMITD_MAX_METRICS];
	size_t i;

	for (i = 0; i < st->nr_metrics; i++)
		budgets[i] = st->metrics[i].spec->budget;
	ab->guard = guard__new(budgets, st->nr_metrics,
			       ab->c->spec->global_budget > st->nr_metrics ?
			       ab->c->spec->global_budget : st->nr_metrics);
	ab->admitted_seen = calloc(st->nr_metrics + 1, sizeof(*ab->admitted_seen));
	ab->fold_warned = calloc(st->nr_metrics + 1, sizeof(*ab->fold_warned));
	return ab->guard && ab->admitted_seen && ab->fold_warned ? 0 : -ENOMEM;
}

static void free_spec_state(struct agent_batch *ab)
{
	size_t i;

	for (i = 0; i < ab->nr_trials; i++)
		free(ab->trials[i].ring);
	memset(ab->trials, 0, sizeof(ab->trials));
	ab->nr_trials = 0;
	guard__free(ab->guard);
	free(ab->admitted_seen);
	free(ab->fold_warned);
	ab->guard = NULL;
	ab->admitted_seen = NULL;
	ab->fold_warned = NULL;
}

int agent_batch__respec(struct agent_batch *ab)
{
	int err;

	free_spec_state(ab);
	err = setup_trials(ab, &ab->c->store);
	if (!err)
		err = setup_guard(ab, &ab->c->store);
	return err;
}

int agent_batch__new(const struct agent_batch_opts *o, struct collector *c, uint64_t now_ms,
		     struct agent_batch **out)
{
	struct agent_batch *ab = calloc(1, sizeof(*ab));
	char err[CADENCE_ERR_LEN] = "";
	int ret;

	if (!ab)
		return -ENOMEM;
	ab->o = *o;
	ab->c = c;
	ret = cadence_config__validate(&o->cadence, err, sizeof(err));
	if (!ret)
		ret = cadence__init(&ab->cad, &o->cadence, now_ms);
	if (ret) {
		log_err("drain cadence: %s", err[0] ? err : strerror(-ret));
		goto err;
	}
	ret = setup_trials(ab, &c->store);
	if (!ret)
		ret = setup_guard(ab, &c->store);
	if (ret)
		goto err;
	ab->lane_window_ms = now_ms;
	ab->events_at_last_drain = c->events_at_drain;
	ret = set_wake(c, cadence__target(&ab->cad), true);
	if (ret)
		goto err;
	*out = ab;
	return 0;
err:
	agent_batch__free(ab);
	return ret;
}

void agent_batch__free(struct agent_batch *ab)
{
	if (!ab)
		return;
	free_spec_state(ab);
	free(ab);
}

void agent_batch__on_sample(struct agent_batch *ab, const struct store_metric *m, double v)
{
	struct trial *t;
	size_t i;

	for (i = 0; i < ab->nr_trials; i++) {
		t = &ab->trials[i];
		if (t->m != m)
			continue;
		t->ring[(t->head + t->nr) % ab->o.trial_window] = v;
		if (t->nr < ab->o.trial_window)
			t->nr++;
		else
			t->head = (t->head + 1) % ab->o.trial_window;
	}
}

double agent_batch__budget_s(const struct agent_batch *ab)
{
	return ab->o.drain_budget_s;
}

bool agent_batch__due(struct agent_batch *ab, uint64_t now_ms, int *timeout_ms)
{
	struct cadence_obs obs = { .now_ms = now_ms };
	struct collector *c = ab->c;

	obs.pending = pending(c);
	obs.events = c->events_total;
	obs.max_fill = ring_fill(c);	/* the backlog the drain empties */
	if (cadence__observe(&ab->cad, &obs) || cadence__decide(&ab->cad, now_ms, &ab->last)) {
		*timeout_ms = 10;
		return true;
	}
	*timeout_ms = ab->last.timeout_ms > 60000 ? 60000 : (int)ab->last.timeout_ms;
	if (!ab->last.drain && c->woken) {
		/*
		 * A CPU reached its share before the whole target arrived: wait
		 * for the rest on any single CPU, so one busy CPU wakes us at
		 * most twice per drain.
		 */
		uint64_t target = cadence__target(&ab->cad);
		/* a wake left over from the previous arming: spread again */
		bool stale = obs.pending * c->ncpus < target;

		set_wake(c, target > obs.pending ? target - obs.pending : 1, stale);
	}
	return ab->last.drain;
}

static void observe_drain_time(struct agent_batch *ab, double s)
{
	size_t i;

	for (i = 0; i < NR_DRAIN_BOUNDS && s > drain_bounds[i]; i++)
		;
	ab->drain_slots[i]++;
	ab->drain_count++;
	ab->drain_sum += s;
}

static void observe_lanes(struct agent_batch *ab, uint64_t now_ms)
{
	int l;

	if (now_ms - ab->lane_window_ms >= LANE_WINDOW_MS) {
		for (l = 0; l < COLLECTOR_LANE_MAX; l++) {
			ab->lane_worst[l][1] = ab->lane_worst[l][0];
			ab->lane_worst[l][0] = 0;
		}
		ab->lane_window_ms = now_ms;
	}
	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		if (ab->c->lane_delay_s[l] > ab->lane_worst[l][0])
			ab->lane_worst[l][0] = ab->c->lane_delay_s[l];
}

/* Feed newly admitted series to the guard; warn once when a metric folds. */
static void observe_guard(struct agent_batch *ab, uint64_t now_ms)
{
	const struct store *st = &ab->c->store;
	size_t i, j, admitted;

	for (i = 0; i < st->nr_metrics; i++) {
		const struct store_metric *m = &st->metrics[i];

		for (j = 0, admitted = 0; j < m->nr_series; j++)
			admitted += series__admitted(m->series[j]);
		for (; ab->admitted_seen[i] < admitted; ab->admitted_seen[i]++)
			guard__admit(ab->guard, i);	/* the kernel enforces the budgets */
		if (!ab->fold_warned[i] && ab->c->series_count[i].folded_events) {
			ab->fold_warned[i] = true;
			log_warn("metric %s reached its series budget (%u): new series now fold into %s=\"" EMITD_OTHER_VALUE "\"",
				 m->full_name, m->spec->budget,
				 m->spec->nr_labels ? m->spec->labels[0].name : "labels");
		}
	}
	guard__tick(ab->guard, now_ms);
}

/*
 * p50/p95/p99 of the window twice: from the raw values, and as Prometheus
 * would estimate them from the metric's buckets filled with the same values.
 */
static int trial_deviation(struct trial *t, size_t window)
{
	const struct spec_buckets *b = &t->m->spec->buckets;
	size_t nb = b->nr_bounds + 1, k;
	double raw[NR_TRIAL_QS], est, *vals, *ub;
	uint64_t *cum;
	int err = -ENOMEM;

	vals = malloc(t->nr * sizeof(*vals));
	ub = malloc(nb * sizeof(*ub));
	cum = calloc(nb, sizeof(*cum));
	if (!vals || !ub || !cum)
		goto out;
	for (k = 0; k < t->nr; k++)
		vals[k] = t->ring[(t->head + k) % window];
	memcpy(ub, b->bounds, b->nr_bounds * sizeof(*ub));
	ub[b->nr_bounds] = INFINITY;
	err = quantile__exact(vals, t->nr, trial_qs, NR_TRIAL_QS, raw);
	if (!err)
		err = quantile__bucketize(vals, t->nr, ub, nb, cum);
	for (k = 0; !err && k < NR_TRIAL_QS; k++) {
		err = quantile__histogram(trial_qs[k], ub, cum, nb, &est);
		t->deviation[k] = quantile__deviation(est, raw[k]);
	}
out:
	free(vals);
	free(ub);
	free(cum);
	return err;
}

static void compute_trials(struct agent_batch *ab)
{
	size_t i;

	for (i = 0; i < ab->nr_trials; i++) {
		struct trial *t = &ab->trials[i];

		t->valid = t->nr >= 2 && !trial_deviation(t, ab->o.trial_window);
	}
}

int agent_batch__drained(struct agent_batch *ab, uint64_t now_ms, double seconds)
{
	struct collector *c = ab->c;
	uint32_t shed;
	int err;

	ab->last_increments = c->events_at_drain - ab->events_at_last_drain;
	ab->events_at_last_drain = c->events_at_drain;
	observe_drain_time(ab, seconds);
	observe_lanes(ab, now_ms);
	observe_guard(ab, now_ms);
	compute_trials(ab);
	err = cadence__drained(&ab->cad, now_ms, ab->last_increments);
	if (err)
		return err;
	err = set_wake(c, cadence__target(&ab->cad), true);
	if (err)
		return err;
	shed = cadence__shedding(&ab->cad) ? EMITD_SHED_SAMPLES | EMITD_SHED_NEW_SERIES : 0;
	if (shed != ab->shed_flags) {
		log_warn("backpressure: %s shedding of non-hot sample-lane records and new series",
			 shed ? "starting" : "stopping");
		err = set_shed(c, shed);
		ab->shed_flags = shed;
	}
	return err;
}

void agent_batch__stats(const struct agent_batch *ab, struct agent_batch_stats *out)
{
	size_t i;
	int l;

	memset(out, 0, sizeof(*out));
	out->drain_bounds = drain_bounds;
	memcpy(out->drain_slots, ab->drain_slots, sizeof(out->drain_slots));
	out->drain_count = ab->drain_count;
	out->drain_sum = ab->drain_sum;
	out->last_increments = ab->last_increments;
	cadence__stats(&ab->cad, &out->cadence);
	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		out->lane_worst_s[l] = fmax(ab->lane_worst[l][0], ab->lane_worst[l][1]);
	for (i = 0; i < ab->c->store.nr_metrics; i++)
		out->growth_per_minute[i] = guard__growth(ab->guard, i);
	for (i = 0; i < ab->nr_trials; i++) {
		out->trials[i].metric_idx = ab->trials[i].m->idx;
		out->trials[i].valid = ab->trials[i].valid;
		memcpy(out->trials[i].deviation, ab->trials[i].deviation,
		       sizeof(out->trials[i].deviation));
	}
	out->nr_trials = ab->nr_trials;
	out->trial_quantiles = trial_q_names;
}
