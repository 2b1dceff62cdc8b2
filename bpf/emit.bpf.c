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
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "emitd.h"
#include "emitd_bucket.h"

/* libbpf 1.1 stops at PARM5; the sixth x86-64 argument is in r9. */
#if !defined(PT_REGS_PARM6) && defined(__TARGET_ARCH_x86)
#define PT_REGS_PARM6(x) ((x)->r9)
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Sizes are placeholders: the agent sets them from the spec before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EMITD_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct emitd_probe_cfg);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct emitd_series_key);
	__type(value, struct emitd_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct emitd_series_key);
	__type(value, struct emitd_gauge);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} gauges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct emitd_series_key);
	__type(value, struct emitd_hist);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct emitd_series_key);
	__type(value, struct emitd_norm);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} norms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EMITD_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EMITD_MAX_PROBES);
	__type(key, __u32);
	__type(value, __u64);
} probe_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} samples SEC(".maps");

/* Large per-event scratch lives here, not on the 512-byte BPF stack. */
#define NR_UPROBE_ARGS		6
#define NR_UPROBE_ARGS_CAP	8

struct scratch {
	__u64 args[NR_UPROBE_ARGS_CAP];
	struct emitd_series_key key;
	struct emitd_hist hist;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/*
 * Argument registers are copied once per event: the verifier refuses
 * variable offsets into the context, and a switch over PT_REGS_PARMn gets
 * merged by clang into exactly that.
 */
static __always_inline void load_uprobe_args(struct pt_regs *ctx, struct scratch *sc)
{
	sc->args[0] = PT_REGS_PARM1(ctx);
	sc->args[1] = PT_REGS_PARM2(ctx);
	sc->args[2] = PT_REGS_PARM3(ctx);
	sc->args[3] = PT_REGS_PARM4(ctx);
	sc->args[4] = PT_REGS_PARM5(ctx);
	sc->args[5] = PT_REGS_PARM6(ctx);
}

static __always_inline long get_arg(struct pt_regs *ctx, bool usdt, const struct scratch *sc,
				    __u32 n, __u64 *out)
{
	long v;

	if (!usdt) {
		if (n >= NR_UPROBE_ARGS)
			return -22;
		*out = sc->args[n & (NR_UPROBE_ARGS_CAP - 1)];
		return 0;
	}
	if (bpf_usdt_arg(ctx, n, &v))
		return -22;
	*out = v;
	return 0;
}

/* Fetch a value per @src into *raw (integers as-is, f64 as its bits). */
static __always_inline long read_value(struct pt_regs *ctx, bool usdt, const struct scratch *sc,
				       const struct emitd_src *src, __u64 *raw)
{
	__u64 arg;

	if (src->kind == EMITD_SRC_NONE) {
		*raw = 1;
		return 0;
	}
	if (get_arg(ctx, usdt, sc, src->arg, &arg))
		return -22;
	if (src->kind == EMITD_SRC_ARG) {
		*raw = arg;
		return 0;
	}
	if (src->kind != EMITD_SRC_DEREF)
		return -22;
	return bpf_probe_read_user(raw, sizeof(*raw), (void *)(arg + src->offset));
}

static __always_inline long read_labels(struct pt_regs *ctx, bool usdt, struct scratch *sc,
					const struct emitd_probe_cfg *c)
{
	__u64 arg;
	long n;
	int i;

	for (i = 0; i < EMITD_MAX_LABELS; i++) {
		const struct emitd_src *src = &c->labels[i];

		if (i >= c->nr_labels)
			break;
		if (get_arg(ctx, usdt, sc, src->arg, &arg))
			return -22;
		if (src->kind == EMITD_SRC_ARG) {
			sc->key.labels[i].num = arg;
			continue;
		}
		n = bpf_probe_read_user_str(sc->key.labels[i].str, EMITD_LABEL_LEN,
					    (void *)arg);
		if (n < 0)
			return n;
		if (n == EMITD_LABEL_LEN)
			stat_inc(EMITD_STAT_LABEL_TRUNCATED);
	}
	return 0;
}

/*
 * Find the series' per-CPU value, creating it zeroed when new. Returns NULL
 * and counts the drop under @full_stat when the map has no room.
 */
static __always_inline void *series_get(void *map, const struct emitd_series_key *key,
					const void *zero, __u32 full_stat)
{
	void *v = bpf_map_lookup_elem(map, key);
	long err;

	if (v)
		return v;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: another CPU won the race */) {
		stat_inc(full_stat);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

static __always_inline void send_sample(__u32 probe_id, const struct emitd_series_key *key,
					__u64 v1, __u64 v2)
{
	struct emitd_sample *s;

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
}

static __always_inline void do_counter(struct scratch *sc, const struct emitd_probe_cfg *c,
				       __u64 raw)
{
	struct emitd_counter zero = {}, *v;

	v = series_get(&counters, &sc->key, &zero, EMITD_STAT_FULL_COUNTERS);
	if (v)
		v->value += raw;
}

static __always_inline void do_gauge(struct scratch *sc, const struct emitd_probe_cfg *c,
				     __u64 raw)
{
	struct emitd_gauge zero = {}, *v;

	v = series_get(&gauges, &sc->key, &zero, EMITD_STAT_FULL_GAUGES);
	if (!v)
		return;
	v->raw = raw;
	v->ktime_ns = bpf_ktime_get_ns();
	v->updates += 1;
}

static __always_inline void do_hist(struct scratch *sc, const struct emitd_probe_cfg *c,
				    __u64 raw)
{
	struct emitd_hist *v;
	__u32 slot;

	__builtin_memset(&sc->hist, 0, sizeof(sc->hist));
	v = series_get(&hists, &sc->key, &sc->hist, EMITD_STAT_FULL_HISTS);
	if (!v)
		return;
	slot = emitd_bucket_slot(c->bounds, c->nr_bounds, emitd_image(raw, c->value.type));
	v->slots[slot & (EMITD_NR_SLOTS - 1)] += 1;
	v->count += 1;
	if (c->value.type != EMITD_VAL_F64)
		v->sum += (__s64)raw;
}

static __always_inline bool is_zero(__u64 raw, __u8 type)
{
	if (type == EMITD_VAL_F64)
		return (raw & EMITD_F64_ABS_MASK) == 0;
	return raw == 0;
}

static __always_inline void do_norm(struct scratch *sc, const struct emitd_probe_cfg *c,
				    __u64 after)
{
	struct emitd_norm zero = {}, *v;

	v = series_get(&norms, &sc->key, &zero, EMITD_STAT_FULL_NORMS);
	if (!v)
		return;
	v->events += 1;
	if (is_zero(after, c->value2.type))
		v->zeroed += 1;
}

static __always_inline int handle(struct pt_regs *ctx, __u32 probe_id, bool usdt)
{
	const struct emitd_probe_cfg *c;
	struct scratch *sc;
	__u64 raw = 0, raw2 = 0, *hits;
	__u32 zero = 0;

	stat_inc(EMITD_STAT_EVENTS);
	hits = bpf_map_lookup_elem(&probe_hits, &probe_id);
	if (hits)
		*hits += 1;
	c = bpf_map_lookup_elem(&cfg, &probe_id);
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!c || !sc || !c->kind) {
		stat_inc(EMITD_STAT_NO_CONFIG);
		return 0;
	}
	__builtin_memset(&sc->key, 0, sizeof(sc->key));
	sc->key.metric_id = c->metric_id;
	if (!usdt)
		load_uprobe_args(ctx, sc);
	if (read_labels(ctx, usdt, sc, c)) {
		stat_inc(EMITD_STAT_LABEL_ERROR);
		return 0;
	}
	if (read_value(ctx, usdt, sc, &c->value, &raw)) {
		stat_inc(EMITD_STAT_READ_ERROR);
		return 0;
	}
	if (c->kind == EMITD_KIND_NORMALIZATION &&
	    read_value(ctx, usdt, sc, &c->value2, &raw2)) {
		stat_inc(EMITD_STAT_READ_ERROR);
		return 0;
	}

	switch (c->kind) {
	case EMITD_KIND_COUNTER:
		do_counter(sc, c, raw);
		break;
	case EMITD_KIND_GAUGE:
		do_gauge(sc, c, raw);
		break;
	case EMITD_KIND_HISTOGRAM:
		do_hist(sc, c, raw);
		break;
	case EMITD_KIND_NORMALIZATION:
		do_norm(sc, c, raw2);
		break;
	}
	if (c->flags & EMITD_CFG_SAMPLE)
		send_sample(probe_id, &sc->key, raw, raw2);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(emitd_uprobe)
{
	return handle(ctx, (__u32)bpf_get_attach_cookie(ctx), false);
}

SEC("usdt")
int BPF_USDT(emitd_usdt)
{
	return handle(ctx, (__u32)bpf_usdt_cookie(ctx), true);
}

/* The benchmark's floor: the same attach, no work. */
SEC("uprobe")
int BPF_KPROBE(emitd_empty)
{
	return 0;
}
