// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The BPF lifecycle in the libbpf-bootstrap order: open -> configure (map
 * sizes from the spec, pin root) -> load -> fill `cfg` -> attach. Drains read
 * the per-CPU maps with batch lookups and fall back to per-key reads when the
 * kernel refuses batches.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bucket.h"
#include "agent/collector.h"
#include "emit.skel.h"
#include "emitd_bucket.h"
#include "lib/log.h"
#include "lib/metric_id.h"

#define BPFFS		"/sys/fs/bpf"
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

static struct bpf_map *agg_map(struct collector *c, enum collector_map m,
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

static enum collector_lane lane_of(const struct store_metric *sm)
{
	return sm->spec->hot ? COLLECTOR_LANE_HOT : COLLECTOR_LANE_NORMAL;
}

static struct bpf_map *fixed_map(struct collector *c, enum collector_map m)
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

static enum emitd_kind kind_of_map(enum collector_map m)
{
	static const enum emitd_kind kinds[COLLECTOR_MAP_MAX] = {
		EMITD_KIND_COUNTER, EMITD_KIND_GAUGE, EMITD_KIND_HISTOGRAM,
		EMITD_KIND_NORMALIZATION,
	};

	return kinds[m];
}

static enum collector_map map_of_kind(enum emitd_kind k)
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

static bool has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

#ifndef CAP_BPF
#define CAP_BPF		39
#define CAP_PERFMON	38
#endif

/* Say plainly what is missing instead of failing later on EPERM. */
static int check_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;	/* cannot tell: let the kernel decide */
	if (has_cap(data, CAP_SYS_ADMIN) ||
	    (has_cap(data, CAP_BPF) && has_cap(data, CAP_PERFMON)))
		return 0;
	log_err("emitd run needs root (or CAP_BPF and CAP_PERFMON, plus CAP_SYS_ADMIN to mount bpffs): running as uid %d without them",
		(int)geteuid());
	return -EPERM;
}

/* bpffs is not mounted at boot on every node: mount it when missing. */
static int ensure_bpffs(const char *pin_root)
{
	struct statfs st;

	if (statfs(BPFFS, &st) || st.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", BPFFS, "bpf", 0, NULL)) {
			log_err("cannot mount bpffs on %s: %s", BPFFS, strerror(errno));
			return -errno;
		}
		log_info("mounted bpffs on %s", BPFFS);
	}
	if (mkdir(pin_root, 0700) && errno != EEXIST) {
		log_err("cannot create %s: %s", pin_root, strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * A pinned map from an earlier run is reused so counts survive restarts. When
 * the spec changed its shape (size, types) libbpf cannot reuse it: say so and
 * start that map afresh.
 */
static void drop_incompatible_pin(const char *pin_root, struct bpf_map *map)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_root, bpf_map__name(map));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
	    info.type == bpf_map__type(map) &&
	    info.key_size == bpf_map__key_size(map) &&
	    info.value_size == bpf_map__value_size(map) &&
	    info.max_entries == bpf_map__max_entries(map)) {
		close(fd);
		return;
	}
	close(fd);
	log_warn("pinned map %s no longer fits the spec (type, key or value size, or max_entries %u -> %u): recreating it, its counts restart from zero",
		 path, info.max_entries, bpf_map__max_entries(map));
	unlink(path);
}

static void drop_incompatible_pins(const char *pin_root, struct collector *c)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, c->skel->obj)
		if (bpf_map__pin_path(map))
			drop_incompatible_pin(pin_root, map);
}

static uint32_t fixed_id_key(enum collector_map m, uint32_t slot)
{
	return m * EMITD_MAX_PROBES + slot;
}

/*
 * Fixed slots are positional: when the spec moved a metric to another slot,
 * the pinned counts of that kind belong to other metrics. Start them afresh.
 */
static void drop_moved_fixed_slots(const char *pin_root, struct collector *c)
{
	char path[PATH_MAX];
	uint32_t key, id;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/fixed_ids", pin_root);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	for (i = 0; i < c->store.nr_metrics; i++) {
		const struct store_metric *sm = &c->store.metrics[i];
		enum collector_map m = map_of_kind(sm->kind);

		if (!sm->fixed)
			continue;
		key = fixed_id_key(m, sm->slot);
		if (!bpf_map_lookup_elem(fd, &key, &id) && (id == sm->id || id == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_root, bpf_map__name(fixed_map(c, m)));
		if (!unlink(path))
			log_warn("%s: the spec moved metric %s to another slot: its pinned counts restart from zero",
				 path, sm->full_name);
	}
	close(fd);
}

static int write_fixed_ids(struct collector *c)
{
	int fd = bpf_map__fd(c->skel->maps.fixed_ids), err;
	uint32_t key;
	size_t i;

	for (i = 0; i < c->store.nr_metrics; i++) {
		const struct store_metric *sm = &c->store.metrics[i];

		if (!sm->fixed)
			continue;
		key = fixed_id_key(map_of_kind(sm->kind), sm->slot);
		err = bpf_map_update_elem(fd, &key, &sm->id, BPF_ANY);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Each hash map holds the budgets of its metrics (their __other__ series
 * included): the hard ceiling the kernel enforces.
 */
static void size_maps(struct collector *c)
{
	uint64_t want[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX] = {};
	size_t i;
	int m, l;

	for (i = 0; i < c->spec->nr_metrics; i++) {
		const struct store_metric *sm = &c->store.metrics[i];

		if (!sm->fixed)
			want[lane_of(sm)][map_of_kind(sm->kind)] += sm->spec->budget;
	}
	for (l = 0; l < COLLECTOR_LANE_MAX; l++) {
		for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
			uint64_t w = want[l][m] ? want[l][m] : 1;

			if (w > UINT32_MAX / 2)
				w = UINT32_MAX / 2;
			c->map_max[l][m] = w;
			bpf_map__set_max_entries(agg_map(c, m, l), w);
		}
	}
	for (m = 0; m < COLLECTOR_MAP_MAX; m++)
		bpf_map__set_max_entries(fixed_map(c, m),
					 c->store.nr_fixed[kind_of_map(m)] ?: 1);
	c->skel->rodata->global_budget = c->spec->global_budget;
}

static void pin_modes(struct collector *c)
{
	struct bpf_map *map;
	const char *path;

	bpf_object__for_each_map(map, c->skel->obj) {
		path = bpf_map__pin_path(map);
		if (path && chmod(path, 0600))
			log_warn("chmod 0600 %s: %s", path, strerror(errno));
	}
}

static int handle_sample(void *ctx, void *data, size_t len);

static int handle_wake(void *ctx, void *data, size_t len)
{
	struct collector *c = ctx;

	(void)data;
	(void)len;
	c->wakeups++;
	c->woken = true;
	return 0;
}

static size_t value_size(enum collector_map map)
{
	static const size_t sz[COLLECTOR_MAP_MAX] = {
		[COLLECTOR_MAP_COUNTERS] = sizeof(struct emitd_counter),
		[COLLECTOR_MAP_GAUGES] = sizeof(struct emitd_gauge),
		[COLLECTOR_MAP_HISTS] = sizeof(struct emitd_hist),
		[COLLECTOR_MAP_NORMS] = sizeof(struct emitd_norm),
	};

	return (sz[map] + 7) & ~7UL;
}

/* The meaning of a metric's series, for metric_sigs. */
static uint64_t metric_sig(const struct store_metric *sm)
{
	const struct spec_metric *m = sm->spec;
	unsigned char desc[16 + SPEC_MAX_LABELS + EMITD_NR_SLOTS * sizeof(double)];
	size_t n = 0, i;

	desc[n++] = sm->kind;
	desc[n++] = sm->value_type;
	desc[n++] = m->nr_labels;
	desc[n++] = m->hot;
	for (i = 0; i < m->nr_labels; i++)
		desc[n++] = m->labels[i].src.kind;
	for (i = 0; i < m->buckets.nr_bounds && i < EMITD_NR_SLOTS; i++) {
		memcpy(desc + n, &m->buckets.bounds[i], sizeof(double));
		n += sizeof(double);
	}
	return emitd_metric_sig(desc, n);
}

static bool purge_wanted(const struct collector *c, const bool *stale, uint32_t id)
{
	const struct store_metric *sm = store__metric_by_id((struct store *)&c->store, id);

	return !sm || stale[sm->idx];
}

/* Delete the series of stale metrics, and of metrics gone from the spec. */
static uint64_t purge_map(struct collector *c, int fd, const bool *stale)
{
	struct emitd_series_key key, next;
	void *prev = NULL;
	uint64_t n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (purge_wanted(c, stale, next.metric_id) && !bpf_map_delete_elem(fd, &next)) {
			n++;
			continue;	/* next is gone: continue from the same prev */
		}
		key = next;
		prev = &key;
	}
	return n;
}

static void zero_fixed_slot(struct collector *c, const struct store_metric *sm)
{
	size_t vsz = value_size(map_of_kind(sm->kind));
	void *zero = calloc(c->ncpus, vsz);

	if (zero)
		bpf_map_update_elem(bpf_map__fd(fixed_map(c, map_of_kind(sm->kind))), &sm->slot,
				    zero, BPF_ANY);
	free(zero);
}

/*
 * Pinned series keep their counts across restarts only while their metric
 * means the same: a new kind, value type, bucket bounds or label kind makes
 * the old numbers wrong under the new name, so they go, with a warning.
 */
static int check_metric_sigs(struct collector *c)
{
	int fd = bpf_map__fd(c->skel->maps.metric_sigs), l, m;
	bool stale[EMITD_MAX_METRICS] = {};
	uint64_t sig[EMITD_MAX_METRICS], old, purged = 0;
	__u32 id, next, *prev = NULL;
	size_t i;

	for (i = 0; i < c->store.nr_metrics; i++) {
		const struct store_metric *sm = &c->store.metrics[i];

		sig[i] = metric_sig(sm);
		if (bpf_map_lookup_elem(fd, &sm->id, &old) || old == sig[i])
			continue;
		stale[i] = true;
		log_warn("metric %s changed meaning in the spec (kind, value type, buckets or labels): its pinned series restart from zero",
			 sm->full_name);
		if (sm->fixed)
			zero_fixed_slot(c, sm);
	}
	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		for (m = 0; m < COLLECTOR_MAP_MAX; m++)
			purged += purge_map(c, bpf_map__fd(agg_map(c, m, l)), stale);
	if (purged)
		log_info("removed %llu pinned series of changed metrics or of metrics no longer in the spec",
			 (unsigned long long)purged);
	/* forget metrics gone from the spec, then record the current ones */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!store__metric_by_id(&c->store, next) && !bpf_map_delete_elem(fd, &next))
			continue;
		id = next;
		prev = &id;
	}
	for (i = 0; i < c->store.nr_metrics; i++)
		if (bpf_map_update_elem(fd, &c->store.metrics[i].id, &sig[i], BPF_ANY))
			return -errno;
	return 0;
}

/*
 * The kernel's budget counts start from what the (possibly pinned) maps
 * already hold, so a restarted agent keeps enforcing the same budgets.
 */
static int reconcile_budgets(struct collector *c)
{
	struct emitd_series_count cnt;
	uint64_t total = 0;
	__u32 idx;
	size_t j;
	int fd = bpf_map__fd(c->skel->maps.series_count), err;

	err = collector__drain(c, 0);
	if (err)
		return err;
	for (idx = 0; idx < c->store.nr_metrics; idx++) {
		const struct store_metric *sm = &c->store.metrics[idx];

		memset(&cnt, 0, sizeof(cnt));
		for (j = 0; j < sm->nr_series && !sm->fixed; j++)
			cnt.admitted += !(sm->series[j]->key.flags & EMITD_KEY_OTHER);
		total += cnt.admitted;
		err = bpf_map_update_elem(fd, &idx, &cnt, BPF_ANY);
		if (err)
			return err;
	}
	memset(&cnt, 0, sizeof(cnt));
	cnt.admitted = total;
	idx = EMITD_MAX_METRICS;
	return bpf_map_update_elem(fd, &idx, &cnt, BPF_ANY);
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

int collector__open(struct collector *c, const struct collector_opts *opts)
{
	const char *pin_root = opts->pin_root ? opts->pin_root : EMITD_PIN_ROOT;
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root);
	char msg[256];
	int err;

	memset(c, 0, sizeof(*c));
	c->spec = opts->spec;
	c->pids_req = opts->pids;
	c->per_key = opts->per_key;
	c->nr_pids_req = opts->nr_pids;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0)
		return c->ncpus ? c->ncpus : -EINVAL;
	err = store__init(&c->store, opts->spec, msg, sizeof(msg));
	if (err) {
		log_err("%s", msg);
		return err;
	}
	err = check_privileges();
	if (!err)
		err = ensure_bpffs(pin_root);
	if (err)
		goto err_out;

	c->skel = emit_bpf__open_opts(&oo);
	if (!c->skel) {
		err = -errno;
		log_err("cannot open the BPF object: %s", strerror(-err));
		goto err_out;
	}
	size_maps(c);
	if (opts->ringbuf_bytes)
		bpf_map__set_max_entries(c->skel->maps.samples, opts->ringbuf_bytes);
	c->ringbuf_bytes = bpf_map__max_entries(c->skel->maps.samples);
	drop_incompatible_pins(pin_root, c);
	drop_moved_fixed_slots(pin_root, c);

	err = emit_bpf__load(c->skel);
	if (err) {
		if (err == -EPERM)
			log_err("loading BPF programs was refused (%s): emitd run needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN",
				strerror(-err));
		else
			log_err("cannot load the BPF programs: %s (run with --verbose for the verifier log)",
				strerror(-err));
		goto err_out;
	}
	pin_modes(c);
	err = write_fixed_ids(c);
	if (err) {
		log_err("cannot write fixed_ids: %s", strerror(-err));
		goto err_out;
	}

	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.samples), handle_sample, c, NULL);
	if (!c->rb) {
		err = -errno;
		log_err("cannot open the sample ring buffer: %s", strerror(-err));
		goto err_out;
	}
	err = ring_buffer__add(c->rb, bpf_map__fd(c->skel->maps.wake), handle_wake, c);
	if (err) {
		log_err("cannot open the wake-up ring buffer: %s", strerror(-err));
		goto err_out;
	}
	err = alloc_drain_buffers(c);
	if (!err)
		err = check_metric_sigs(c);
	if (!err)
		err = reconcile_budgets(c);
	if (err)
		goto err_out;
	/* the pinned stats carry the submitted count of earlier runs: not this ring's */
	c->samples_base = c->stats[EMITD_STAT_SAMPLES_SUBMITTED];
	return 0;

err_out:
	collector__close(c);
	return err;
}

int collector__poll(struct collector *c, int timeout_ms)
{
	int n = ring_buffer__poll(c->rb, timeout_ms);

	return n == -EINTR ? 0 : n;
}

double collector__raw_to_double(__u64 raw, enum spec_val_type t)
{
	double d;

	switch (t) {
	case SPEC_VAL_F64:
		memcpy(&d, &raw, sizeof(d));
		return d;
	case SPEC_VAL_U64:
		return (double)raw;
	default:
		return (double)(__s64)raw;
	}
}

static int handle_sample(void *ctx, void *data, size_t len)
{
	const struct emitd_sample *smp = data;
	struct collector *c = ctx;
	struct store_metric *m;
	struct series *s;

	if (len < sizeof(*smp))
		return 0;
	c->samples_seen++;
	m = store__metric_by_id(&c->store, smp->metric_id);
	s = m ? store__series(&c->store, &smp->key) : NULL;
	if (!s)
		return 0;
	if (m->kind == EMITD_KIND_HISTOGRAM) {
		s->fsum += collector__raw_to_double(smp->v1, m->value_type);
		s->fsum_samples++;
	} else if (m->kind == EMITD_KIND_NORMALIZATION) {
		s->before_abs_sum += fabs(collector__raw_to_double(smp->v1, m->spec->probe.before.type));
		s->after_abs_sum += fabs(collector__raw_to_double(smp->v2, m->spec->probe.after.type));
		s->samples++;
	}
	if (c->on_sample)
		c->on_sample(c->sample_ctx, m, s, smp);
	return 0;
}

/* Sum one entry's per-CPU values into its series. */
static void apply_values(struct collector *c, enum collector_map map, struct series *s,
			 const void *vals, size_t vsz)
{
	const struct store_metric *m = s->metric;
	int cpu, i;

	if (map == COLLECTOR_MAP_GAUGES)
		s->gauge_ktime = 0;
	if (map == COLLECTOR_MAP_COUNTERS || map == COLLECTOR_MAP_HISTS ||
	    map == COLLECTOR_MAP_NORMS) {
		s->count = 0;
		s->zeroed = 0;
		s->isum = 0;
		if (s->slots)
			memset(s->slots, 0, EMITD_NR_SLOTS * sizeof(*s->slots));
	}
	for (cpu = 0; cpu < c->ncpus; cpu++) {
		const void *v = (const char *)vals + cpu * vsz;

		switch (map) {
		case COLLECTOR_MAP_COUNTERS:
			s->count += ((const struct emitd_counter *)v)->value;
			break;
		case COLLECTOR_MAP_GAUGES: {
			const struct emitd_gauge *g = v;

			if (g->updates && g->ktime_ns >= s->gauge_ktime) {
				s->gauge_ktime = g->ktime_ns;
				s->gauge = collector__raw_to_double(g->raw, m->value_type);
			}
			break;
		}
		case COLLECTOR_MAP_HISTS: {
			const struct emitd_hist *h = v;

			s->count += h->count;
			s->isum += h->sum;
			if (s->slots)
				for (i = 0; i < EMITD_NR_SLOTS; i++)
					s->slots[i] += h->slots[i];
			break;
		}
		case COLLECTOR_MAP_NORMS:
			s->count += ((const struct emitd_norm *)v)->events;
			s->zeroed += ((const struct emitd_norm *)v)->zeroed;
			break;
		default:
			break;
		}
	}
}

static void apply_entry(struct collector *c, enum collector_map map,
			const struct emitd_series_key *key, const void *vals, size_t vsz)
{
	struct series *s = store__series(&c->store, key);

	if (s)
		apply_values(c, map, s, vals, vsz);
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
	size_t vsz = value_size(map);
	void *prev = NULL;
	uint64_t n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!bpf_map_lookup_elem(fd, &next, c->valbuf)) {
			struct series *s = series_at(c, lane, map, n, &next);

			if (s)
				apply_values(c, map, s, c->valbuf, vsz);
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
	int fd = bpf_map__fd(agg_map(c, map, lane));
	size_t vsz = value_size(map), i;
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
				apply_values(c, map, s, (char *)c->valbuf + i * vsz * c->ncpus, vsz);
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
	int fd = bpf_map__fd(fixed_map(c, map));
	struct emitd_series_key key;
	size_t i;

	for (i = 0; i < c->store.nr_metrics; i++) {
		const struct store_metric *sm = &c->store.metrics[i];

		if (!sm->fixed || map_of_kind(sm->kind) != map || lane_of(sm) != lane)
			continue;
		if (bpf_map_lookup_elem(fd, &sm->slot, c->valbuf))
			return -errno;
		memset(&key, 0, sizeof(key));
		key.metric_id = sm->id;
		apply_entry(c, map, &key, c->valbuf, value_size(map));
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

double collector__ring_fill(const struct collector *c)
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

static void read_series_count(struct collector *c)
{
	int fd = bpf_map__fd(c->skel->maps.series_count);
	__u32 i;

	for (i = 0; i <= EMITD_MAX_METRICS; i++)
		if (bpf_map_lookup_elem(fd, &i, &c->series_count[i]))
			memset(&c->series_count[i], 0, sizeof(c->series_count[i]));
}

uint64_t collector__pending(struct collector *c)
{
	read_cpu_events(c);
	/* the ring's fill needs a fresh count of records submitted */
	read_percpu_array(bpf_map__fd(c->skel->maps.stats), EMITD_STAT_MAX, c->stats, c->ncpus);
	return c->events_total - c->events_at_drain;
}

int collector__set_wake(struct collector *c, uint64_t target, bool spread)
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

int collector__set_shed(struct collector *c, uint32_t shed)
{
	struct emitd_ctl ctl = { .shed = shed };
	__u32 zero = 0;

	return bpf_map_update_elem(bpf_map__fd(c->skel->maps.ctl), &zero, &ctl, BPF_ANY);
}

int collector__drain(struct collector *c, double budget_s)
{
	double t0 = now_seconds();
	int err;

	c->store.orphans = 0;	/* counted again by this drain */
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
	read_percpu_array(bpf_map__fd(c->skel->maps.probe_hits), EMITD_MAX_PROBES, c->hits,
			  c->ncpus);
	read_series_count(c);
	store__sort(&c->store);
	c->drains++;
	c->last_drain_seconds = now_seconds() - t0;
	return 0;
}

void collector__close(struct collector *c)
{
	size_t i;

	for (i = 0; i < c->nr_probes; i++) {
		bpf_link__destroy(c->probes[i].link);
		free(c->probes[i].name);
		free(c->probes[i].binary);
	}
	free(c->probes);
	ring_buffer__free(c->rb);
	emit_bpf__destroy(c->skel);
	store__free(&c->store);
	free(c->keybuf);
	free(c->valbuf);
	free(c->cpu_events);
	for (i = 0; i < COLLECTOR_LANE_MAX * COLLECTOR_MAP_MAX; i++)
		free(c->order[i / COLLECTOR_MAP_MAX][i % COLLECTOR_MAP_MAX]);
	memset(c, 0, sizeof(*c));
}
