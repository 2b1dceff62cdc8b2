// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * emitd's in-kernel aggregation: one generic handler per probe kind.
 *
 * Every attached probe carries a BPF cookie, the index of its configuration
 * in `cfg`. The handler reads the value and the label values where the
 * configuration says, builds a series key and adds the event to a per-CPU
 * map: no locks and no allocation on the producer side. Whatever cannot be
 * recorded (a full map, a failed read, a full ring buffer) is counted in
 * `stats`, so nothing is lost silently.
 *
 * Probe links run `emitd_probe`, a dispatcher that tail-calls the handler
 * in `progs`. Links, maps and `progs` are pinned under the pin root, so the
 * probes count while no agent runs, and an agent moves every link to a new
 * handler (bound to new maps) by one update of `progs`: each event runs
 * exactly one handler, the old or the new.
 *
 * A string label on a page that is not resident cannot be read by a probe
 * (it cannot fault the page in): defer_event() sends such an event down the
 * sample lane, the agent reads the string and runs emitd_replay, which
 * counts the event into the same maps by the same code (user/agent/deferred.h).
 * Sites whose metric reads the task's context (pid, comm, cgroup... labels)
 * or whose target filters by process, cgroup or comm run `emitd_probe_ctx`,
 * which tail-calls the context handler in `progs_ctx`: the same handler,
 * built with those reads and filters. The links of every other site never
 * run them, so what they cost is paid by the sites that use them alone.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <asm-generic/errno-base.h>	/* vmlinux.h has types, no errno macros */
#include "emitd.h"
#include "emitd_bucket.h"
#include "maps.bpf.h"
#include "regs.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Every map is pinned by name under the pin root: see the header comment. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EMITD_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct emitd_probe_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cfg SEC(".maps");

/* The handler every probe link runs, through the dispatcher. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} progs SEC(".maps");

/* The context handler, through the context dispatcher. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} progs_ctx SEC(".maps");

/* What each context site's target lets through, by cfg_id (context handler only). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EMITD_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct emitd_filter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} filters SEC(".maps");

/* The processes of follow_forks targets, by tgid: see struct emitd_followed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EMITD_MAX_FOLLOWED);
	__type(key, __u32);
	__type(value, struct emitd_followed);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} followed SEC(".maps");

/* Agent only: what each cfg_id's link is, so a starting agent adopts it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EMITD_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct emitd_site);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sites SEC(".maps");

/*
 * The series maps, per kind and lane (maps.bpf.h): labelled series hash by
 * key in the normal lane; the hot lane holds metrics marked `hot: true`,
 * drained first, never shed.
 */
EMITD_SERIES_MAP(counters, normal, struct emitd_counter);
EMITD_SERIES_MAP(gauges, normal, struct emitd_gauge);
EMITD_SERIES_MAP(hists, normal, struct emitd_hist);
EMITD_SERIES_MAP(norms, normal, struct emitd_norm);

EMITD_SERIES_MAP(counters_hot, hot, struct emitd_counter);
EMITD_SERIES_MAP(gauges_hot, hot, struct emitd_gauge);
EMITD_SERIES_MAP(hists_hot, hot, struct emitd_hist);
EMITD_SERIES_MAP(norms_hot, hot, struct emitd_norm);

/*
 * Series without labels are known when the spec is loaded: they live in
 * per-CPU arrays at a slot the agent assigns, with no key to hash.
 */
EMITD_SERIES_MAP(counters_fixed, fixed, struct emitd_counter);
EMITD_SERIES_MAP(gauges_fixed, fixed, struct emitd_gauge);
EMITD_SERIES_MAP(hists_fixed, fixed, struct emitd_hist);
EMITD_SERIES_MAP(norms_fixed, fixed, struct emitd_norm);

/*
 * What each metric's series mean (kind, value type, bounds, label kinds): a
 * restarted agent drops pinned series whose metric changed meaning.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4 * EMITD_MAX_METRICS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} metric_sigs SEC(".maps");

/*
 * Agent only: the metric id owning each slot (0: free). A metric keeps its
 * slot, its fixed series and its guard entry while it is in the spec.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EMITD_MAX_METRICS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} metric_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EMITD_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EMITD_MAX_PROBES);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} probe_hits SEC(".maps");

/* The size is the agent's --ringbuf-bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} samples SEC(".maps");

/* Cardinality guard: series admitted per metric slot, and in all at the end. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EMITD_MAX_METRICS + 1);
	__type(key, __u32);
	__type(value, struct emitd_series_count);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} series_count SEC(".maps");

/* Series already folded, so each is counted once in folded_series. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EMITD_FOLDED_KEYS);
	__type(key, struct emitd_series_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} folded_keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct emitd_ctl);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ctl SEC(".maps");

/*
 * The adaptive cadence: each CPU counts its events; when its count reaches
 * the mark the agent set for it, the agent is woken through `wake`.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cpu_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cpu_wake SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} wake SEC(".maps");

/*
 * Per-event scratch, on the stack (280 bytes of 512): a per-CPU map would be
 * shared by two tasks that a preemptible kernel interleaves on one CPU.
 */
struct scratch {
	struct emitd_regs regs;
	struct emitd_series_key key;
};

/* What a new series starts from: read-only data, no per-event zeroing. */
static const struct emitd_counter zero_counter;
static const struct emitd_gauge zero_gauge;
static const struct emitd_hist zero_hist;
static const struct emitd_norm zero_norm;

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* Fetch a value per @src into *raw (integers as-is, f64 as its bits). */
static __always_inline long read_value(const struct emitd_probe_cfg *c, const struct scratch *sc,
				       const struct emitd_src *src, __u64 *raw)
{
	__u64 arg;

	if (src->kind == EMITD_SRC_NONE) {
		*raw = 1;
		return 0;
	}
	if (get_arg(c, &sc->regs, src->arg, &arg))
		return -EINVAL;
	if (src->kind == EMITD_SRC_ARG) {
		*raw = arg;
		return 0;
	}
	if (src->kind != EMITD_SRC_DEREF)
		return -EINVAL;
	return bpf_probe_read_user(raw, sizeof(*raw), (void *)(arg + src->offset));
}

/* A string filled the label: truncated unless it ends exactly there. */
static __always_inline bool label_truncated(__u64 arg)
{
	char next = 0;

	bpf_probe_read_user(&next, 1, (void *)(arg + EMITD_LABEL_LEN - 1));
	return next != 0;
}

/*
 * Whether a string at @arg the probe could not read may be read by the
 * agent: any address a process can map (not NULL's page, not the kernel's).
 */
static __always_inline bool deferrable(__u64 arg)
{
	return arg >= 4096 && arg < (1ULL << 56);
}

/* A label of the current task's context, into its (zeroed) key slot. */
static __always_inline void task_label(__u8 kind, union emitd_label *l)
{
	switch (kind) {
	case EMITD_SRC_PID:
		l->num = bpf_get_current_pid_tgid() >> 32;
		break;
	case EMITD_SRC_TID:
		l->num = (__u32)bpf_get_current_pid_tgid();
		break;
	case EMITD_SRC_UID:
		l->num = (__u32)bpf_get_current_uid_gid();
		break;
	case EMITD_SRC_COMM:
		bpf_get_current_comm(l->str, EMITD_COMM_LEN);
		break;
	default:
		l->num = bpf_get_current_cgroup_id();
		break;
	}
}

/*
 * The label values into sc->key; @task: the context handler, which also
 * reads the task's context. With @defer (defer_event() only), a string the
 * probe cannot read leaves its label zero and its address in defer[i].
 */
static __always_inline long read_labels(const struct emitd_probe_cfg *c, struct scratch *sc,
					__u64 *defer, const bool task)
{
	__u64 arg;
	long n;
	int i;

	for (i = 0; i < EMITD_MAX_LABELS; i++) {
		const struct emitd_src *src = &c->labels[i];

		if (i >= c->nr_labels)
			break;
		if (task && src->kind >= EMITD_SRC_PID) {
			task_label(src->kind, &sc->key.labels[i]);
			continue;
		}
		if (get_arg(c, &sc->regs, src->arg, &arg))
			return -EINVAL;
		if (src->kind == EMITD_SRC_ARG) {
			sc->key.labels[i].num = arg;
			continue;
		}
		n = bpf_probe_read_user_str(sc->key.labels[i].str, EMITD_LABEL_LEN,
					    (void *)arg);
		if (n < 0 && defer && deferrable(arg)) {
			defer[i] = arg;
			continue;
		}
		if (n < 0)
			return n;
		if (n == EMITD_LABEL_LEN && label_truncated(arg))
			stat_inc(EMITD_STAT_LABEL_TRUNCATED);
	}
	return 0;
}

static __always_inline bool shedding(const struct emitd_probe_cfg *c, __u32 what)
{
	__u32 zero = 0;
	struct emitd_ctl *k;

	if (c->flags & EMITD_CFG_HOT)
		return false;
	k = bpf_map_lookup_elem(&ctl, &zero);
	return k && (k->shed & what);
}

/* The global count of admitted series @n, less what the agent removed. */
static __always_inline bool global_full(const struct emitd_ctl *k, __u64 n)
{
	return (n > k->global_released ? n - k->global_released : 0) >= k->global_budget;
}

/* Take one series of the metric's and of the global budget, or none. */
static __always_inline bool admit(const struct emitd_probe_cfg *c)
{
	__u32 idx = c->metric_idx, all = EMITD_MAX_METRICS, zero = 0;
	struct emitd_series_count *m, *g;
	struct emitd_ctl *k;

	m = bpf_map_lookup_elem(&series_count, &idx);
	g = bpf_map_lookup_elem(&series_count, &all);
	k = bpf_map_lookup_elem(&ctl, &zero);
	if (!m || !g || !k || m->admitted >= c->budget || global_full(k, g->admitted))
		return false;
	if (__sync_fetch_and_add(&m->admitted, 1) >= c->budget)
		goto undo_metric;
	if (global_full(k, __sync_fetch_and_add(&g->admitted, 1)))
		goto undo_global;
	return true;

undo_global:
	__sync_fetch_and_sub(&g->admitted, 1);
undo_metric:
	__sync_fetch_and_sub(&m->admitted, 1);
	return false;
}

static __always_inline void unadmit(const struct emitd_probe_cfg *c)
{
	__u32 idx = c->metric_idx, all = EMITD_MAX_METRICS;
	struct emitd_series_count *m, *g;

	m = bpf_map_lookup_elem(&series_count, &idx);
	g = bpf_map_lookup_elem(&series_count, &all);
	if (m)
		__sync_fetch_and_sub(&m->admitted, 1);
	if (g)
		__sync_fetch_and_sub(&g->admitted, 1);
}

/* Over budget: count the series once, then send its event to __other__. */
static __always_inline void fold(const struct emitd_probe_cfg *c, struct emitd_series_key *key)
{
	__u32 idx = c->metric_idx;
	struct emitd_series_count *m;
	__u8 one = 1;

	m = bpf_map_lookup_elem(&series_count, &idx);
	if (m && !bpf_map_update_elem(&folded_keys, key, &one, BPF_NOEXIST))
		__sync_fetch_and_add(&m->folded_series, 1);
	__builtin_memset(key->labels, 0, sizeof(key->labels));
	key->flags = EMITD_KEY_OTHER;
}

static __always_inline void count_folded_event(const struct emitd_probe_cfg *c)
{
	__u32 idx = c->metric_idx;
	struct emitd_series_count *m = bpf_map_lookup_elem(&series_count, &idx);

	if (m)
		__sync_fetch_and_add(&m->folded_events, 1);
}

/*
 * Create the series from @zero. *@raced is set when another CPU created it
 * first: the caller then did not add a series.
 */
static __always_inline void *insert(void *map, const struct emitd_series_key *key,
				    const void *zero, __u32 full_stat, bool *raced)
{
	long err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);

	*raced = err == -EEXIST;
	if (err && !*raced) {
		stat_inc(full_stat);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

/*
 * Find the series' per-CPU value, creating it zeroed when new. A new series
 * takes a place in the metric's budget or folds into the metric's __other__
 * series; under backpressure a non-hot metric's new series is shed (folding
 * into an existing __other__ is not a new series). Every
 * event that is not counted is counted somewhere else.
 */
static __always_inline void *series_get(const struct emitd_probe_cfg *c, void *map,
					struct emitd_series_key *key, const void *zero,
					__u32 full_stat)
{
	void *v = bpf_map_lookup_elem(map, key);
	bool raced = false;

	if (v)
		return v;
	if (admit(c)) {
		if (shedding(c, EMITD_SHED_NEW_SERIES)) {
			unadmit(c);
			stat_inc(EMITD_STAT_SHED_NEW_SERIES);
			return NULL;
		}
		v = insert(map, key, zero, full_stat, &raced);
		if (!v || raced)
			unadmit(c);
		return v;
	}
	fold(c, key);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		v = insert(map, key, zero, full_stat, &raced);
	if (v)
		count_folded_event(c);
	return v;
}

static __always_inline void send_sample(const struct emitd_probe_cfg *c, __u32 probe_id,
					const struct emitd_series_key *key, __u64 v1, __u64 v2)
{
	struct emitd_sample *s;

	if (shedding(c, EMITD_SHED_SAMPLES)) {
		stat_inc(EMITD_STAT_SHED_SAMPLES);
		return;
	}
	s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s) {
		stat_inc(EMITD_STAT_RINGBUF_DROPPED);
		return;
	}
	s->probe_id = probe_id;
	s->metric_id = key->metric_id;
	s->v1 = v1;
	s->v2 = v2;
	s->ktime_ns = bpf_ktime_get_ns();
	__builtin_memcpy(&s->key, key, sizeof(*key));
	bpf_ringbuf_submit(s, 0);
	stat_inc(EMITD_STAT_SAMPLES_SUBMITTED);
}

/*
 * The series' per-CPU value: its fixed slot when it has no labels, else its
 * hash entry in the metric's lane.
 */
static __always_inline void *series_value(const struct emitd_probe_cfg *c, void *fixed,
					  void *map, void *hot, struct scratch *sc,
					  const void *zero, __u32 full_stat)
{
	__u32 slot = c->slot;

	if (c->flags & EMITD_CFG_FIXED)
		return bpf_map_lookup_elem(fixed, &slot);
	if (c->flags & EMITD_CFG_HOT)
		return series_get(c, hot, &sc->key, zero, full_stat);
	return series_get(c, map, &sc->key, zero, full_stat);
}

/* Count this CPU's event; wake the agent when the CPU reaches its mark. */
static __always_inline void count_pending(void)
{
	__u64 *events, *mark, n;
	__u32 zero = 0;

	events = bpf_map_lookup_elem(&cpu_events, &zero);
	mark = bpf_map_lookup_elem(&cpu_wake, &zero);
	if (!events || !mark)
		return;
	n = __sync_fetch_and_add(events, 1) + 1;
	if (n < *mark)
		return;
	*mark = ~0ULL;	/* once: the agent re-arms after it looked */
	if (bpf_ringbuf_output(&wake, &n, sizeof(n), BPF_RB_FORCE_WAKEUP))
		stat_inc(EMITD_STAT_WAKE_DROPPED);
}

static __always_inline bool do_counter(struct scratch *sc, const struct emitd_probe_cfg *c,
				       __u64 raw)
{
	struct emitd_counter *v;

	v = series_value(c, &counters_fixed, &counters, &counters_hot, sc, &zero_counter,
			 EMITD_STAT_FULL_COUNTERS);
	if (!v)
		return false;
	__sync_fetch_and_add(&v->value, raw);
	return true;
}

/*
 * A gauge set at @ktime_ns (0: now). The newest of it and this CPU's value
 * wins: a deferred update (emitd_replay) may be older than one counted since.
 */
static __always_inline bool do_gauge(struct scratch *sc, const struct emitd_probe_cfg *c,
				     __u64 raw, __u64 ktime_ns)
{
	struct emitd_gauge *v;

	v = series_value(c, &gauges_fixed, &gauges, &gauges_hot, sc, &zero_gauge,
			 EMITD_STAT_FULL_GAUGES);
	if (!v)
		return false;
	if (!ktime_ns)
		ktime_ns = bpf_ktime_get_ns();
	if (ktime_ns >= v->ktime_ns) {
		v->raw = raw;
		v->ktime_ns = ktime_ns;
	}
	__sync_fetch_and_add(&v->updates, 1);
	return true;
}

static __always_inline bool do_hist(struct scratch *sc, const struct emitd_probe_cfg *c,
				    __u64 raw)
{
	struct emitd_hist *v;
	__u32 slot;

	v = series_value(c, &hists_fixed, &hists, &hists_hot, sc, &zero_hist,
			 EMITD_STAT_FULL_HISTS);
	if (!v)
		return false;
	slot = emitd_bucket_slot(c->bounds, c->nr_bounds, emitd_image(raw, c->value.type));
	__sync_fetch_and_add(&v->slots[slot & (EMITD_NR_SLOTS - 1)], 1);
	__sync_fetch_and_add(&v->count, 1);
	if (c->value.type != EMITD_VAL_F64)
		__sync_fetch_and_add(&v->sum, (__s64)raw);
	return true;
}

static __always_inline bool is_zero(__u64 raw, __u8 type)
{
	if (type == EMITD_VAL_F64)
		return (raw & EMITD_F64_ABS_MASK) == 0;
	return raw == 0;
}

static __always_inline bool do_norm(struct scratch *sc, const struct emitd_probe_cfg *c,
				    __u64 after)
{
	struct emitd_norm *v;

	v = series_value(c, &norms_fixed, &norms, &norms_hot, sc, &zero_norm,
			 EMITD_STAT_FULL_NORMS);
	if (!v)
		return false;
	__sync_fetch_and_add(&v->events, 1);
	if (is_zero(after, c->value2.type))
		__sync_fetch_and_add(&v->zeroed, 1);
	return true;
}

/*
 * Count one event of @c's metric, whose labels are in sc->key, into its
 * maps, and send its sample: what a probe hit and a replayed deferred event
 * (emitd_replay) both do. @ktime_ns: when a gauge was set, 0 for now.
 */
static __always_inline void count_event(struct scratch *sc, const struct emitd_probe_cfg *c,
					__u32 probe_id, __u64 v1, __u64 v2, __u64 ktime_ns)
{
	bool counted = false;

	switch (c->kind) {
	case EMITD_KIND_COUNTER:
		counted = do_counter(sc, c, v1);
		break;
	case EMITD_KIND_GAUGE:
		counted = do_gauge(sc, c, v1, ktime_ns);
		break;
	case EMITD_KIND_HISTOGRAM:
		counted = do_hist(sc, c, v1);
		break;
	case EMITD_KIND_NORMALIZATION:
		counted = do_norm(sc, c, v2);
		break;
	}
	/* a sample only for an event the maps hold: sums match counts */
	if (counted && (c->flags & EMITD_CFG_SAMPLE))
		send_sample(c, probe_id, &sc->key, v1, v2);
}

/* When the probed process started: with its pid, which process it is. */
static __always_inline __u64 process_start(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(t, group_leader, start_boottime);
}

/*
 * A label read failed. A string on a page that is not resident (the target
 * never touched it, or it was reclaimed) cannot be read here: a probe
 * cannot fault a page in. Read everything else now, in the target's
 * context, and send the event down the sample lane with the string's
 * address: the agent reads it (process_vm_readv faults the page in) and
 * hands the event to emitd_replay, which counts it. Any other failure is a
 * label read error; a record the ring has no room for is counted apart. Not
 * shed under backpressure: the record is the event, not a sample of it.
 * Out of line: the handler's path for labels that read is as before.
 */
static __noinline void defer_event(const struct emitd_probe_cfg *c, struct scratch *sc,
				   __u32 probe_id, const bool task)
{
	__u64 addr[EMITD_MAX_LABELS] = {}, raw = 0, raw2 = 0;
	struct emitd_deferred *d;

	__builtin_memset(sc->key.labels, 0, sizeof(sc->key.labels));
	if (read_labels(c, sc, addr, task)) {
		stat_inc(EMITD_STAT_LABEL_ERROR);
		return;
	}
	if (read_value(c, sc, &c->value, &raw) ||
	    (c->kind == EMITD_KIND_NORMALIZATION && read_value(c, sc, &c->value2, &raw2))) {
		stat_inc(EMITD_STAT_READ_ERROR);
		return;
	}
	d = bpf_ringbuf_reserve(&samples, sizeof(*d), 0);
	if (!d) {
		stat_inc(EMITD_STAT_LABEL_DEFERRED_LOST);
		return;
	}
	d->probe_id = probe_id;
	d->metric_id = c->metric_id;
	d->tgid = bpf_get_current_pid_tgid() >> 32;
	d->result = EMITD_REPLAY_READ;
	d->truncated = 0;
	d->pad = 0;
	d->start_ns = process_start();
	d->v1 = raw;
	d->v2 = raw2;
	d->ktime_ns = bpf_ktime_get_ns();
	__builtin_memcpy(d->addr, addr, sizeof(addr));
	__builtin_memcpy(&d->key, &sc->key, sizeof(sc->key));
	bpf_ringbuf_submit(d, 0);
	stat_inc(EMITD_STAT_LABEL_DEFERRED);
	stat_inc(EMITD_STAT_SAMPLES_SUBMITTED);	/* the ring's fill */
}

/* The current process descends from the followed pid @root. */
static __always_inline bool follows(__s32 root)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct emitd_followed *f = bpf_map_lookup_elem(&followed, &tgid);
	int i;

	if (!f)
		return false;
	for (i = 0; i < EMITD_FOLLOW_ROOTS; i++)
		if (f->roots[i] == root)
			return true;
	return false;
}

static __always_inline bool comm_listed(const struct emitd_filter *f)
{
	__u64 comm[EMITD_COMM_LEN / 8] = {};
	int i;

	bpf_get_current_comm(comm, sizeof(comm));
	for (i = 0; i < EMITD_MAX_COMMS; i++) {
		const __u64 *want = (const __u64 *)f->comms[i];

		if (i >= f->nr_comms)
			break;
		if (want[0] == comm[0] && want[1] == comm[1])
			return true;
	}
	return false;
}

/* Whether the target of context site @probe_id lets this event through; if not, counted. */
static __always_inline bool passes(__u32 probe_id)
{
	const struct emitd_filter *f = bpf_map_lookup_elem(&filters, &probe_id);

	if (!f || !f->flags)
		return true;
	if ((f->flags & EMITD_FILTER_FOLLOW) && !follows(f->root)) {
		stat_inc(EMITD_STAT_FILTERED_PROCESS);
		return false;
	}
	if ((f->flags & EMITD_FILTER_CGROUP) &&
	    (!f->cgroup_id ||
	     bpf_get_current_ancestor_cgroup_id(f->cgroup_level) != f->cgroup_id)) {
		stat_inc(EMITD_STAT_FILTERED_CGROUP);
		return false;
	}
	if ((f->flags & EMITD_FILTER_COMM) && !comm_listed(f)) {
		stat_inc(EMITD_STAT_FILTERED_COMM);
		return false;
	}
	return true;
}

/* @task: the context handler (task labels and filters); a constant, so each handler has only its own code. */
static __always_inline int handle(struct pt_regs *ctx, __u32 probe_id, const bool task)
{
	const struct emitd_probe_cfg *c;
	struct scratch scratch, *sc = &scratch;
	__u64 raw = 0, raw2 = 0, *hits;

	hits = bpf_map_lookup_elem(&probe_hits, &probe_id);
	if (hits)
		__sync_fetch_and_add(hits, 1);
	if (task && !passes(probe_id))
		return 0;
	count_pending();
	c = bpf_map_lookup_elem(&cfg, &probe_id);
	if (!c || !c->kind) {
		stat_inc(EMITD_STAT_NO_CONFIG);
		return 0;
	}
	load_regs(ctx, &sc->regs);
	if (!(c->flags & EMITD_CFG_FIXED) || (c->flags & EMITD_CFG_SAMPLE)) {
		__builtin_memset(&sc->key, 0, sizeof(sc->key));
		sc->key.metric_id = c->metric_id;
		if (read_labels(c, sc, NULL, task)) {
			defer_event(c, sc, probe_id, task);
			return 0;
		}
	}
	if (read_value(c, sc, &c->value, &raw)) {
		stat_inc(EMITD_STAT_READ_ERROR);
		return 0;
	}
	if (c->kind == EMITD_KIND_NORMALIZATION && read_value(c, sc, &c->value2, &raw2)) {
		stat_inc(EMITD_STAT_READ_ERROR);
		return 0;
	}
	count_event(sc, c, probe_id, raw, raw2, 0);
	return 0;
}

/* uprobes on functions and USDT sites alike: the cookie is the config index. */
SEC("uprobe")
int BPF_KPROBE(emitd_handle)
{
	return handle(ctx, (__u32)bpf_get_attach_cookie(ctx), false);
}

SEC("uprobe")
int BPF_KPROBE(emitd_handle_ctx)
{
	return handle(ctx, (__u32)bpf_get_attach_cookie(ctx), true);
}

/*
 * What a probe link runs: the handler in @prog_array. A tail call does not
 * return; without a handler there the event is counted as lost.
 */
static __always_inline int dispatch(struct pt_regs *ctx, void *prog_array)
{
	bpf_tail_call(ctx, prog_array, 0);
	stat_inc(EMITD_STAT_NO_PROGRAM);
	return 0;
}

/* The dispatcher of every other site: the plain handler. */
SEC("uprobe")
int BPF_KPROBE(emitd_probe)
{
	return dispatch(ctx, &progs);
}

/* The dispatcher of the sites with task labels or filters: the context handler. */
SEC("uprobe")
int BPF_KPROBE(emitd_probe_ctx)
{
	return dispatch(ctx, &progs_ctx);
}

/*
 * A deferred event (defer_event()) the agent read the labels of, handed
 * back through BPF_PROG_RUN: counted as handle() counts an event, into the
 * same maps (budgets, __other__, shedding, samples). Never run by a probe:
 * the hit and the pending event were counted when the probe fired. A record
 * whose probe now has another metric's config is lost, and counted so.
 */
SEC("syscall")
int emitd_replay(struct emitd_deferred *d)
{
	struct scratch scratch, *sc = &scratch;
	const struct emitd_probe_cfg *c;
	__u32 probe_id = d->probe_id;
	__u64 v1 = d->v1, v2 = d->v2;
	int i;

	c = bpf_map_lookup_elem(&cfg, &probe_id);
	if (!c || !c->kind || c->metric_id != d->metric_id) {
		stat_inc(EMITD_STAT_LABEL_DEFERRED_LOST);
		return 0;
	}
	if (d->result != EMITD_REPLAY_READ) {
		stat_inc(EMITD_STAT_LABEL_ERROR);
		return 0;
	}
	for (i = 0; i < EMITD_MAX_LABELS; i++)
		if (d->truncated & (1U << i))
			stat_inc(EMITD_STAT_LABEL_TRUNCATED);
	__builtin_memcpy(&sc->key, &d->key, sizeof(sc->key));
	sc->key.metric_id = c->metric_id;
	sc->key.flags = 0;
	stat_inc(EMITD_STAT_LABEL_REPLAYED);
	count_event(sc, c, probe_id, v1, v2, d->ktime_ns);
	return 0;
}

/*
 * follow_forks: a child of a followed process is followed from its fork,
 * before it runs (the tracepoint fires in the parent, before the child is
 * woken). Threads share their process's entry.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(emitd_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	struct emitd_followed *f;

	if (ptgid == ctgid)
		return 0;
	f = bpf_map_lookup_elem(&followed, &ptgid);
	if (f && bpf_map_update_elem(&followed, &ctgid, f, BPF_ANY))
		stat_inc(EMITD_STAT_FOLLOW_FULL);
	return 0;
}

/* A process whose last thread exits is followed no more (its pid may be reused). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(emitd_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid;

	if (p->signal->live.counter)
		return 0;
	bpf_map_delete_elem(&followed, &tgid);
	return 0;
}

/* The benchmark's floor: the same attach, no work. */
SEC("uprobe")
int BPF_KPROBE(emitd_empty)
{
	return 0;
}
