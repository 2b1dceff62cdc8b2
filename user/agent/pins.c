// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Pins: maps outlive the agent under the pin root, so counts survive
 * restarts. Before the load: mount bpffs when missing, drop pinned maps that
 * no longer fit the spec or whose fixed slots moved. After it: mode 0600,
 * the fixed slots' owners, metric signatures (series of a metric that
 * changed meaning go), and the kernel's budget counts reconciled with what
 * the pinned maps already hold.
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
		enum collector_map m = collector_map__of_kind(sm->kind);

		if (!sm->fixed)
			continue;
		key = fixed_id_key(m, sm->slot);
		if (!bpf_map_lookup_elem(fd, &key, &id) && (id == sm->id || id == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_root,
			 bpf_map__name(collector__fixed_map(c, m)));
		if (!unlink(path))
			log_warn("%s: the spec moved metric %s to another slot: its pinned counts restart from zero",
				 path, sm->full_name);
	}
	close(fd);
}

void pins__drop_stale(struct collector *c, const char *pin_root)
{
	drop_incompatible_pins(pin_root, c);
	drop_moved_fixed_slots(pin_root, c);
}

int pins__write_fixed_ids(struct collector *c)
{
	int fd = bpf_map__fd(c->skel->maps.fixed_ids), err;
	uint32_t key;
	size_t i;

	for (i = 0; i < c->store.nr_metrics; i++) {
		const struct store_metric *sm = &c->store.metrics[i];

		if (!sm->fixed)
			continue;
		key = fixed_id_key(collector_map__of_kind(sm->kind), sm->slot);
		err = bpf_map_update_elem(fd, &key, &sm->id, BPF_ANY);
		if (err)
			return err;
	}
	return 0;
}

void pins__set_modes(struct collector *c)
{
	struct bpf_map *map;
	const char *path;

	bpf_object__for_each_map(map, c->skel->obj) {
		path = bpf_map__pin_path(map);
		if (path && chmod(path, 0600))
			log_warn("chmod 0600 %s: %s", path, strerror(errno));
	}
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
	enum collector_map m = collector_map__of_kind(sm->kind);
	void *zero = calloc(c->ncpus, collector_map__value_size(m));

	if (zero)
		bpf_map_update_elem(bpf_map__fd(collector__fixed_map(c, m)), &sm->slot, zero,
				    BPF_ANY);
	free(zero);
}

/*
 * Pinned series keep their counts across restarts only while their metric
 * means the same: a new kind, value type, bucket bounds or label kind makes
 * the old numbers wrong under the new name, so they go, with a warning.
 */
int pins__check_metric_sigs(struct collector *c)
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
			purged += purge_map(c, bpf_map__fd(collector__agg_map(c, m, l)), stale);
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
int pins__reconcile_budgets(struct collector *c)
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
			cnt.admitted += series__admitted(sm->series[j]);
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
