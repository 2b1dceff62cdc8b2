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

#include "bucket.h"
#include "collector.h"
#include "emit.skel.h"
#include "emitd_bucket.h"
#include "log.h"

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

static struct bpf_map *agg_map(struct collector *c, enum collector_map m)
{
	switch (m) {
	case COLLECTOR_MAP_COUNTERS:
		return c->skel->maps.counters;
	case COLLECTOR_MAP_GAUGES:
		return c->skel->maps.gauges;
	case COLLECTOR_MAP_HISTS:
		return c->skel->maps.hists;
	case COLLECTOR_MAP_NORMS:
		return c->skel->maps.norms;
	default:
		return NULL;
	}
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
	log_warn("pinned map %s does not match the spec (max_entries %u -> %u): recreating it, its counts restart from zero",
		 path, info.max_entries, bpf_map__max_entries(map));
	unlink(path);
}

static void size_maps(struct collector *c)
{
	uint64_t want[COLLECTOR_MAP_MAX] = {};
	size_t i;
	int m;

	for (i = 0; i < c->spec->nr_metrics; i++) {
		const struct spec_metric *sm = &c->spec->metrics[i];

		want[map_of_kind(emitd_kind__from_spec(sm->type))] += sm->budget;
	}
	for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
		if (!want[m])
			want[m] = 1;
		if (want[m] > UINT32_MAX / 2)
			want[m] = UINT32_MAX / 2;
		c->map_max[m] = want[m];
		bpf_map__set_max_entries(agg_map(c, m), want[m]);
	}
}

static void pin_modes(const char *pin_root, struct collector *c)
{
	struct bpf_map *maps[] = {
		c->skel->maps.counters, c->skel->maps.gauges, c->skel->maps.hists,
		c->skel->maps.norms, c->skel->maps.stats,
	};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_root, bpf_map__name(maps[i]));
		if (chmod(path, 0600))
			log_warn("chmod 0600 %s: %s", path, strerror(errno));
	}
}

static int handle_sample(void *ctx, void *data, size_t len);

static int alloc_drain_buffers(struct collector *c)
{
	size_t vsz = (sizeof(struct emitd_hist) + 7) & ~7UL;

	c->buf_entries = DRAIN_CHUNK;
	c->keybuf = calloc(c->buf_entries, sizeof(struct emitd_series_key));
	c->valbuf = calloc(c->buf_entries * c->ncpus, vsz);
	return c->keybuf && c->valbuf ? 0 : -ENOMEM;
}

int collector__open(struct collector *c, const struct collector_opts *opts)
{
	const char *pin_root = opts->pin_root ? opts->pin_root : EMITD_PIN_ROOT;
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root);
	int err, m;

	memset(c, 0, sizeof(*c));
	c->spec = opts->spec;
	c->pids_req = opts->pids;
	c->nr_pids_req = opts->nr_pids;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0)
		return c->ncpus ? c->ncpus : -EINVAL;
	err = store__init(&c->store, opts->spec);
	if (err)
		return err;
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
	for (m = 0; m < COLLECTOR_MAP_MAX; m++)
		drop_incompatible_pin(pin_root, agg_map(c, m));
	drop_incompatible_pin(pin_root, c->skel->maps.stats);

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
	pin_modes(pin_root, c);

	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.samples), handle_sample, c, NULL);
	if (!c->rb) {
		err = -errno;
		log_err("cannot open the sample ring buffer: %s", strerror(-err));
		goto err_out;
	}
	err = alloc_drain_buffers(c);
	if (err)
		goto err_out;
	return 0;

err_out:
	collector__close(c);
	return err;
}

static void src_to_bpf(const struct spec_src *s, struct emitd_src *d)
{
	d->kind = s->kind == SPEC_SRC_ARG ? EMITD_SRC_ARG :
		  s->kind == SPEC_SRC_DEREF ? EMITD_SRC_DEREF :
		  s->kind == SPEC_SRC_STRING ? EMITD_SRC_STRING : EMITD_SRC_NONE;
	d->arg = s->arg;
	d->type = s->type == SPEC_VAL_F64 ? EMITD_VAL_F64 :
		  s->type == SPEC_VAL_U64 ? EMITD_VAL_U64 : EMITD_VAL_S64;
	d->offset = s->offset;
}

static int build_cfg(const struct store_metric *sm, struct emitd_probe_cfg *cfg)
{
	const struct spec_metric *m = sm->spec;
	size_t i;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	cfg->metric_id = sm->id;
	cfg->kind = sm->kind;
	cfg->nr_labels = m->nr_labels;
	if (m->type == SPEC_NORMALIZATION) {
		src_to_bpf(&m->probe.before, &cfg->value);
		src_to_bpf(&m->probe.after, &cfg->value2);
		cfg->flags |= EMITD_CFG_SAMPLE;
	} else {
		src_to_bpf(&m->probe.value, &cfg->value);
	}
	for (i = 0; i < m->nr_labels; i++)
		src_to_bpf(&m->labels[i].src, &cfg->labels[i]);
	if (m->probe.kind == SPEC_PROBE_USDT)
		cfg->flags |= EMITD_CFG_USDT;
	if (m->type != SPEC_HISTOGRAM)
		return 0;
	if (m->buckets.nr_bounds > EMITD_MAX_BOUNDS)
		return -E2BIG;
	cfg->nr_bounds = m->buckets.nr_bounds;
	err = bucket__images(m->buckets.bounds, m->buckets.nr_bounds, cfg->value.type,
			     cfg->bounds);
	if (err)
		return err;
	if (cfg->value.type == EMITD_VAL_F64)
		cfg->flags |= EMITD_CFG_SAMPLE;	/* the f64 _sum is summed in userspace */
	return 0;
}

static void spec_where(const struct spec *spec, const struct spec_mark *mk, char *buf, size_t n)
{
	snprintf(buf, n, "%s:%u:%u", spec->path, mk->line, mk->col);
}

/* Resolve the binary a probe attaches to: the target's, or PID's exe. */
static char *probe_binary(const struct spec *spec, const struct spec_target *t, pid_t pid)
{
	char link[64], exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n;

	if (pid > 0) {
		snprintf(link, sizeof(link), "/proc/%d/exe", pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n < 0)
			return NULL;
		exe[n] = '\0';
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, exe);
		return strdup(path);
	}
	(void)spec;
	if (!t->binary)
		return NULL;
	return realpath(t->binary, NULL);
}

static int resolve_site(struct collector *c, struct collector_probe *p)
{
	const struct spec_probe *sp = &p->metric->probe;
	char where[PATH_MAX];
	int err;

	spec_where(c->spec, &sp->site_mark, where, sizeof(where));
	if (sp->kind == SPEC_PROBE_UPROBE)
		err = elf_site__find_symbol(p->binary, sp->symbol, &p->site);
	else
		err = elf_site__find_usdt(p->binary, sp->provider, sp->name, &p->site);
	if (err == -ENOENT)
		log_err("%s: %s %s not found in %s", where,
			sp->kind == SPEC_PROBE_UPROBE ? "symbol" : "USDT probe", p->name, p->binary);
	else if (err == -ENOEXEC)
		log_err("%s: %s is not an ELF binary", where, p->binary);
	else if (err)
		log_err("%s: cannot read %s: %s", where, p->binary, strerror(-err));
	return err;
}

static int attach_one(struct collector *c, struct collector_probe *p)
{
	const struct spec_probe *sp = &p->metric->probe;
	char where[PATH_MAX];
	int err;

	err = resolve_site(c, p);
	if (err)
		return err;
	if (sp->kind == SPEC_PROBE_UPROBE) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = p->cfg_id);

		p->link = bpf_program__attach_uprobe_opts(c->skel->progs.emitd_uprobe, p->pid,
							  p->binary, p->site.file_offset, &uo);
	} else {
		LIBBPF_OPTS(bpf_usdt_opts, uo, .usdt_cookie = p->cfg_id);

		p->link = bpf_program__attach_usdt(c->skel->progs.emitd_usdt, p->pid, p->binary,
						   sp->provider, sp->name, &uo);
	}
	if (!p->link) {
		err = -errno;
		spec_where(c->spec, &sp->site_mark, where, sizeof(where));
		log_err("%s: cannot attach %s in %s: %s", where, p->name, p->binary,
			strerror(-err));
		return err;
	}
	log_info("attached %s %s in %s (pid %s) at 0x%llx: site %s (%s)",
		 sp->kind == SPEC_PROBE_UPROBE ? "uprobe" : "usdt", p->name, p->binary,
		 p->pid > 0 ? "filter" : "any", (unsigned long long)p->site.file_offset,
		 site_kind__name(p->site.kind),
		 p->site.kind == SITE_NOP5 ? "optimized 5-byte nop" :
		 p->site.kind == SITE_EMULATED ? "instruction emulated" :
		 "single-stepped: slow, see include/emitd_probe.h");
	return 0;
}

static char *probe_name(const struct spec_probe *sp)
{
	char *s = NULL;

	if (sp->kind == SPEC_PROBE_UPROBE)
		return strdup(sp->symbol);
	if (asprintf(&s, "%s:%s", sp->provider, sp->name) < 0)
		return NULL;
	return s;
}

static int add_probe(struct collector *c, size_t metric_idx, pid_t pid)
{
	const struct spec_metric *m = &c->spec->metrics[metric_idx];
	const struct spec_target *t = spec__find_target(c->spec, m->probe.target);
	struct collector_probe *p, *v;
	char where[PATH_MAX];

	v = realloc(c->probes, (c->nr_probes + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->probes = v;
	p = &c->probes[c->nr_probes];
	memset(p, 0, sizeof(*p));
	p->metric = m;
	p->cfg_id = metric_idx;
	p->pid = pid > 0 ? pid : -1;
	p->name = probe_name(&m->probe);
	if (!p->name)
		return -ENOMEM;
	c->nr_probes++;
	if (!t) {
		spec_where(c->spec, &m->probe.mark, where, sizeof(where));
		log_err("%s: unknown target %s", where, m->probe.target);
		return -ENOENT;
	}
	if (pid <= 0 && t->pid > 0)
		p->pid = pid = t->pid;
	p->binary = probe_binary(c->spec, t, pid);
	if (!p->binary) {
		spec_where(c->spec, pid > 0 ? &t->mark : &t->binary_mark, where, sizeof(where));
		if (pid > 0)
			log_err("%s: target %s: cannot resolve the binary of pid %d: %s", where,
				t->name, pid, strerror(errno));
		else
			log_err("%s: target %s: binary %s: %s", where, t->name,
				t->binary ? t->binary : "(none)", strerror(errno));
		return -ENOENT;
	}
	return attach_one(c, p);
}

static int fill_cfg_map(struct collector *c)
{
	struct emitd_probe_cfg cfg;
	__u32 i;
	int err;

	if (c->store.nr_metrics > EMITD_MAX_PROBES) {
		log_err("%s: %zu metrics, at most %d probes are supported", c->spec->path,
			c->store.nr_metrics, EMITD_MAX_PROBES);
		return -E2BIG;
	}
	for (i = 0; i < c->store.nr_metrics; i++) {
		err = build_cfg(&c->store.metrics[i], &cfg);
		if (err) {
			log_err("%s:%u:%u: metric %s: bad bucket bounds for its value type: %s",
				c->spec->path, c->store.metrics[i].spec->buckets.mark.line,
				c->store.metrics[i].spec->buckets.mark.col,
				c->store.metrics[i].full_name, strerror(-err));
			return err;
		}
		err = bpf_map_update_elem(bpf_map__fd(c->skel->maps.cfg), &i, &cfg, BPF_ANY);
		if (err)
			return err;
	}
	return 0;
}

int collector__attach(struct collector *c)
{
	size_t i, j;
	int err;

	err = fill_cfg_map(c);
	if (err)
		return err;
	for (i = 0; i < c->spec->nr_metrics; i++) {
		if (!c->nr_pids_req) {
			err = add_probe(c, i, 0);
			if (err)
				return err;
			continue;
		}
		for (j = 0; j < c->nr_pids_req; j++) {
			err = add_probe(c, i, c->pids_req[j]);
			if (err)
				return err;
		}
	}
	return 0;
}

int collector__poll(struct collector *c, int timeout_ms)
{
	int n = ring_buffer__poll(c->rb, timeout_ms);

	return n == -EINTR ? 0 : n;
}

static double raw_to_double(__u64 raw, enum spec_val_type t)
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
		s->fsum += raw_to_double(smp->v1, m->value_type);
		s->fsum_samples++;
	} else if (m->kind == EMITD_KIND_NORMALIZATION) {
		s->before_abs_sum += fabs(raw_to_double(smp->v1, m->spec->probe.before.type));
		s->after_abs_sum += fabs(raw_to_double(smp->v2, m->spec->probe.after.type));
		s->samples++;
	}
	return 0;
}

/* Sum one entry's per-CPU values into its series. */
static void apply_entry(struct collector *c, enum collector_map map,
			const struct emitd_series_key *key, const void *vals, size_t vsz)
{
	struct store_metric *m = store__metric_by_id(&c->store, key->metric_id);
	struct series *s = m ? store__series(&c->store, key) : NULL;
	int cpu, i;

	if (!s)
		return;
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
				s->gauge = raw_to_double(g->raw, m->value_type);
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

/* Per-key reads: the fallback when the kernel refuses batch operations. */
static int drain_map_keys(struct collector *c, enum collector_map map, int fd)
{
	struct emitd_series_key key, next;
	size_t vsz = value_size(map);
	void *prev = NULL;
	uint64_t n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!bpf_map_lookup_elem(fd, &next, c->valbuf)) {
			apply_entry(c, map, &next, c->valbuf, vsz);
			n++;
		}
		key = next;
		prev = &key;
	}
	c->map_entries[map] = n;
	return 0;
}

static int drain_map(struct collector *c, enum collector_map map)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	int fd = bpf_map__fd(agg_map(c, map));
	size_t vsz = value_size(map), i;
	__u64 in = 0, out = 0;
	bool first = true;
	uint64_t n = 0;
	__u32 count;
	int err;

	for (;;) {
		count = c->buf_entries;
		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, c->keybuf, c->valbuf,
					   &count, &bo);
		if (err && errno != ENOENT) {
			if (errno == EINVAL || errno == ENOTSUP || errno == ENOSPC) {
				c->batch_fallbacks++;
				return drain_map_keys(c, map, fd);
			}
			return -errno;
		}
		for (i = 0; i < count; i++)
			apply_entry(c, map, (struct emitd_series_key *)c->keybuf + i,
				    (char *)c->valbuf + i * vsz * c->ncpus, vsz);
		n += count;
		if (err)
			break;
		in = out;
		first = false;
	}
	c->map_entries[map] = n;
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

int collector__drain(struct collector *c)
{
	double t0 = now_seconds();
	int m, err;

	/* Samples first, so f64 sums are at least as fresh as the counts. */
	err = collector__poll(c, 0);
	if (err < 0)
		return err;
	for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
		err = drain_map(c, m);
		if (err) {
			log_err("draining map %s: %s", collector_map__name(m), strerror(-err));
			return err;
		}
	}
	read_percpu_array(bpf_map__fd(c->skel->maps.stats), EMITD_STAT_MAX, c->stats, c->ncpus);
	read_percpu_array(bpf_map__fd(c->skel->maps.probe_hits), EMITD_MAX_PROBES, c->hits,
			  c->ncpus);
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
	memset(c, 0, sizeof(*c));
}
