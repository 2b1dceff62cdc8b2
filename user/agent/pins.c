// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Pins: maps outlive the agent under the pin root, so counts survive
 * restarts. Before the load: mount bpffs when missing. After it: mode 0600;
 * each metric's slot (its fixed series and guard entry, stable while the
 * metric is in the spec); metric signatures (series of a metric that
 * changed meaning go, with a warning); the series of metrics gone from the
 * spec removed; the kernel's budget counts of metrics no adopted link feeds
 * set from what the maps hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/collector_internal.h"
#include "agent/pin_root.h"
#include "emit.skel.h"
#include "lib/log.h"
#include "lib/metric_id.h"

#define BPFFS		"/sys/fs/bpf"

/*
 * bpffs is not mounted at boot on every node: mount it when missing, mode
 * 0700 as systemd does (without mode= its root is 1777: anyone could create
 * names in it). Then the pin root: checked from / down, missing parts
 * created 0700 (pin_root.h).
 */
int pins__mount(const char *pin_root)
{
	struct statfs st;

	if (statfs(BPFFS, &st) || st.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", BPFFS, "bpf", 0, "mode=0700")) {
			log_err("cannot mount bpffs on %s: %s", BPFFS, strerror(errno));
			return -errno;
		}
		log_info("mounted bpffs on %s (mode 0700)", BPFFS);
	}
	return pin_root__secure(pin_root);
}

void pins__chmod(const char *path)
{
	if (chmod(path, 0600))
		log_warn("chmod 0600 %s: %s", path, strerror(errno));
}

void pins__set_modes(struct collector *c)
{
	struct bpf_map *map;
	const char *path;

	bpf_object__for_each_map(map, c->skel->obj) {
		path = bpf_map__pin_path(map);
		if (path)
			pins__chmod(path);
	}
}

int pins__write_ctl(struct collector *c)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.ctl), &zero, &c->ctl, BPF_ANY))
		return -errno;
	return 0;
}

static int read_slots(const struct collector *c, uint32_t *owner)
{
	int fd = bpf_map__fd(c->skel->maps.metric_slots);
	__u32 slot;

	for (slot = 0; slot < EMITD_MAX_METRICS; slot++)
		if (bpf_map_lookup_elem(fd, &slot, &owner[slot]))
			return -errno;
	return 0;
}

static bool in_store(const struct store *st, uint32_t id)
{
	return id && store__metric_by_id((struct store *)st, id);
}

/*
 * A metric keeps its slot; a new one takes a free slot, else the slot of a
 * metric no longer in the spec (cleared before it is used again).
 */
int pins__assign_slots(struct collector *c, struct store *st)
{
	uint32_t owner[EMITD_MAX_METRICS];
	bool claimed[EMITD_MAX_METRICS] = {};
	size_t i, pass;
	uint32_t slot;
	int err = read_slots(c, owner);

	if (err)
		return err;
	for (i = 0; i < st->nr_metrics; i++)
		st->metrics[i].slot = EMITD_MAX_METRICS;
	for (slot = 0; slot < EMITD_MAX_METRICS; slot++) {
		struct store_metric *sm = owner[slot] ? store__metric_by_id(st, owner[slot]) : NULL;

		if (sm && sm->slot == EMITD_MAX_METRICS) {
			sm->slot = slot;
			claimed[slot] = true;
		}
	}
	for (i = 0; i < st->nr_metrics; i++) {
		struct store_metric *sm = &st->metrics[i];

		/* a free slot first, then one of a metric gone from the spec */
		for (pass = 0; pass < 2 && sm->slot == EMITD_MAX_METRICS; pass++)
			for (slot = 0; slot < EMITD_MAX_METRICS; slot++) {
				bool taken = pass ? in_store(st, owner[slot]) : owner[slot];

				if (claimed[slot] || taken)
					continue;
				sm->slot = slot;
				claimed[slot] = true;
				break;
			}
		if (sm->slot == EMITD_MAX_METRICS)
			return -E2BIG;	/* the spec has at most EMITD_MAX_METRICS */
	}
	for (slot = 0; slot < EMITD_MAX_METRICS; slot++)
		c->slot_owner[slot] = 0;
	for (i = 0; i < st->nr_metrics; i++)
		c->slot_owner[st->metrics[i].slot] = st->metrics[i].id;
	return 0;
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

/*
 * Pinned series keep their counts only while their metric means the same:
 * a new kind, value type, bucket bounds or label kind makes the old numbers
 * wrong under the new name, so the metric is fresh: its links and series go.
 */
int pins__mark_changed(struct collector *c, struct store *st)
{
	int fd = bpf_map__fd(c->skel->maps.metric_sigs);
	uint64_t old;
	size_t i;

	for (i = 0; i < st->nr_metrics; i++) {
		struct store_metric *sm = &st->metrics[i];

		sm->fresh = !bpf_map_lookup_elem(fd, &sm->id, &old) && old != metric_sig(sm);
	}
	return 0;
}

static bool purge_wanted(const struct store *st, uint32_t id)
{
	const struct store_metric *sm = store__metric_by_id((struct store *)st, id);

	return !sm || sm->fresh;
}

/*
 * Delete the series of fresh metrics and of metrics gone from the spec;
 * @admitted counts those that held a place in the global budget.
 */
static uint64_t purge_map(int fd, const struct store *st, uint64_t *admitted)
{
	struct emitd_series_key key, next;
	void *prev = NULL;
	uint64_t n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (purge_wanted(st, next.metric_id) && !bpf_map_delete_elem(fd, &next)) {
			n++;
			if (admitted && !(next.flags & EMITD_KEY_OTHER))
				(*admitted)++;
			continue;	/* next is gone: continue from the same prev */
		}
		key = next;
		prev = &key;
	}
	return n;
}

/* A slot that changes owner, or whose metric is fresh, starts from zero. */
static int clear_slot(struct collector *c, uint32_t slot)
{
	size_t vsz = collector_map__value_size(COLLECTOR_MAP_HISTS);	/* the largest */
	struct emitd_series_count zero_count = {};
	void *zero = calloc(c->ncpus, vsz);
	int m, err = 0;

	if (!zero)
		return -ENOMEM;
	for (m = 0; m < COLLECTOR_MAP_MAX && !err; m++)
		if (bpf_map_update_elem(bpf_map__fd(collector__fixed_map(c, m)), &slot, zero,
					BPF_ANY))
			err = -errno;
	if (!err && bpf_map_update_elem(bpf_map__fd(c->skel->maps.series_count), &slot,
					&zero_count, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}

static int write_sigs(struct collector *c, const struct store *st)
{
	int fd = bpf_map__fd(c->skel->maps.metric_sigs);
	__u32 id, next, *prev = NULL;
	uint64_t sig;
	size_t i;

	/* forget metrics gone from the spec, then record the current ones */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!in_store(st, next) && !bpf_map_delete_elem(fd, &next))
			continue;
		id = next;
		prev = &id;
	}
	for (i = 0; i < st->nr_metrics; i++) {
		sig = metric_sig(&st->metrics[i]);
		if (bpf_map_update_elem(fd, &st->metrics[i].id, &sig, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int write_slots(struct collector *c, const struct store *st, const uint32_t *owner)
{
	int fd = bpf_map__fd(c->skel->maps.metric_slots), err;
	__u32 slot;

	for (slot = 0; slot < EMITD_MAX_METRICS; slot++) {
		const struct store_metric *sm = c->slot_owner[slot] ?
			store__metric_by_id((struct store *)st, c->slot_owner[slot]) : NULL;

		if (owner[slot] != c->slot_owner[slot] || (sm && sm->fresh)) {
			err = clear_slot(c, slot);
			if (err)
				return err;
		}
		if (bpf_map_update_elem(fd, &slot, &c->slot_owner[slot], BPF_ANY))
			return -errno;
	}
	return 0;
}

int pins__retire_metrics(struct collector *c, const struct store *st)
{
	uint32_t owner[EMITD_MAX_METRICS];
	uint64_t purged = 0, admitted = 0;
	size_t i;
	int l, m, err;

	for (i = 0; i < st->nr_metrics; i++)
		if (st->metrics[i].fresh)
			log_warn("metric %s changed meaning in the spec (kind, value type, buckets or labels): its series restart from zero",
				 st->metrics[i].full_name);
	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		for (m = 0; m < COLLECTOR_MAP_MAX; m++)
			purged += purge_map(bpf_map__fd(collector__agg_map(c, m, l)), st,
					    &admitted);
	purge_map(bpf_map__fd(c->skel->maps.folded_keys), st, NULL);
	if (purged)
		log_info("removed %llu series of changed metrics or of metrics no longer in the spec",
			 (unsigned long long)purged);
	c->ctl.global_released += admitted;
	err = read_slots(c, owner);
	if (!err)
		err = write_slots(c, st, owner);
	if (!err)
		err = write_sigs(c, st);
	if (err)
		log_err("cannot record the metrics' slots and signatures: %s", strerror(-err));
	return err;
}

/* Series per metric in the maps, __other__ excluded: the kernel's admitted count. */
static int count_series(struct collector *c, const struct store *st, uint64_t *count)
{
	struct emitd_series_key key, next;
	const struct store_metric *sm;
	void *prev;
	int l, m, fd;

	for (l = 0; l < COLLECTOR_LANE_MAX; l++) {
		for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
			fd = bpf_map__fd(collector__agg_map(c, m, l));
			prev = NULL;
			while (!bpf_map_get_next_key(fd, prev, &next)) {
				sm = store__metric_by_id((struct store *)st, next.metric_id);
				if (sm && !(next.flags & EMITD_KEY_OTHER))
					count[sm->idx]++;
				key = next;
				prev = &key;
			}
		}
	}
	return 0;
}

/*
 * The kernel's budget counts of metrics that no adopted link feeds start
 * from what the maps hold (a live link's metric keeps the kernel's count);
 * the global count too when no link was adopted at all.
 */
int pins__init_budgets(struct collector *c, const struct store *st, const bool *live)
{
	int fd = bpf_map__fd(c->skel->maps.series_count);
	uint64_t count[EMITD_MAX_METRICS] = {}, total = 0;
	struct emitd_series_count cnt;
	bool any_live = false;
	__u32 idx;
	size_t i;

	count_series(c, st, count);
	for (i = 0; i < st->nr_metrics; i++) {
		const struct store_metric *sm = &st->metrics[i];

		total += count[i];
		if (live[i]) {
			any_live = true;
			continue;
		}
		idx = sm->slot;
		if (bpf_map_lookup_elem(fd, &idx, &cnt) || sm->fresh)
			memset(&cnt, 0, sizeof(cnt));
		cnt.admitted = count[i];
		if (bpf_map_update_elem(fd, &idx, &cnt, BPF_ANY))
			return -errno;
	}
	if (any_live)
		return 0;
	idx = EMITD_MAX_METRICS;
	memset(&cnt, 0, sizeof(cnt));
	cnt.admitted = total;
	c->ctl.global_released = 0;
	if (bpf_map_update_elem(fd, &idx, &cnt, BPF_ANY))
		return -errno;
	return 0;
}
