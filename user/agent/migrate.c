// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Migration: a pinned map this load cannot reuse (a series map that must
 * grow, the sample ring of another size, a layout of an older emitd) is
 * retired, not recreated and zeroed.
 *
 *   before the load   its pin is renamed <name>-retired-<id>: the handler
 *                     still in `progs` keeps counting into it, the load
 *                     makes a new map under the name
 *   before the switch the keys it holds are inserted (zero) into the new
 *                     map, so the guard sees the same series in both
 *   the switch        `progs` gets this load's handler (and `progs_ctx` its
 *                     context handler): one update each, after
 *                     which every event runs the new handler into the new
 *                     maps; a grace period later no old handler runs
 *   after             the retired map, frozen now, is read once and its
 *                     values (summed over CPUs; gauges: the newest) added to
 *                     the carry of its kind, then its pin goes
 *
 * A drained value is the new map's per-CPU sum plus the carry. The carry
 * maps (carry_<kind>, agent-written only) are replaced whole: a new map is
 * pinned beside and renamed over the old one, with the ids of the retired
 * maps it holds, so an agent stopped half-way carries nothing twice.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/collector_internal.h"
#include "emit.skel.h"
#include "lib/log.h"

#define RETIRED		"-retired-"	/* bpffs reserves names with dots */
#define LEGACY_FIXED_IDS	"fixed_ids"	/* slot owners of emitd before pinned links */
#define LEGACY_MAX_PROBES	64

/*
 * Handlers run inside an RCU read-side section: a grace period
 * (membarrier's global command is a synchronize_rcu) waits for every one
 * that started before; the sleep covers kernels where it is not available.
 */
void collector__grace(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(50000);
	usleep(10000);
}

static const char *carry_name(enum collector_map m)
{
	static const char *const names[COLLECTOR_MAP_MAX] = {
		"carry_counters", "carry_gauges", "carry_hists", "carry_norms",
	};

	return names[m];
}

static int add_retired(struct collector *c, enum collector_retired_kind kind,
		       enum collector_map m, enum collector_lane lane, const char *path, int fd,
		       uint32_t id)
{
	struct collector_retired *v = realloc(c->retired, (c->nr_retired + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	c->retired = v;
	v = &c->retired[c->nr_retired];
	v->kind = kind;
	v->map = m;
	v->lane = lane;
	v->fd = fd;
	v->id = id;
	v->path = strdup(path);
	if (!v->path)
		return -ENOMEM;
	c->nr_retired++;
	return 0;
}

void migrate__free_retired(struct collector *c)
{
	size_t i;

	for (i = 0; i < c->nr_retired; i++) {
		close(c->retired[i].fd);
		free(c->retired[i].path);
	}
	free(c->retired);
	c->retired = NULL;
	c->nr_retired = 0;
}

/* Where the -retired-<id> of a pin's name starts. */
static const char *retired_tag(const char *path)
{
	const char *s = strrchr(path, '/');

	return strstr(s ? s : path, RETIRED);
}

void migrate__unretire(struct collector *c, size_t keep)
{
	const char *tag;
	size_t i;

	for (i = keep; i < c->nr_retired; i++) {
		tag = retired_tag(c->retired[i].path);
		if (tag) {
			char to[PATH_MAX];

			snprintf(to, sizeof(to), "%.*s", (int)(tag - c->retired[i].path),
				 c->retired[i].path);
			if (rename(c->retired[i].path, to))
				log_err("cannot rename %s back to %s: %s", c->retired[i].path, to,
					strerror(errno));
		}
		close(c->retired[i].fd);
		free(c->retired[i].path);
	}
	if (keep < c->nr_retired)
		c->nr_retired = keep;
}

static bool same_shape(const struct bpf_map_info *info, const struct bpf_map *map)
{
	return info->type == bpf_map__type(map) && info->key_size == bpf_map__key_size(map) &&
	       info->value_size == bpf_map__value_size(map) &&
	       info->map_flags == bpf_map__map_flags(map);
}

/* What becomes of a pinned map @map's load cannot reuse. */
static int retire_kind(const struct collector *c, const struct bpf_map *map,
		       const struct bpf_map_info *info, enum collector_retired_kind *kind,
		       enum collector_map *m, enum collector_lane *lane)
{
	bool layout = info->key_size == bpf_map__key_size(map) &&
		      info->value_size == bpf_map__value_size(map);

	*lane = COLLECTOR_LANE_NORMAL;
	if (collector__is_agg_map(c, map, m, lane) && layout) {
		*kind = COLLECTOR_RETIRED_SERIES;
		return 0;
	}
	if (collector__is_fixed_map(c, map, m) && layout && info->type == bpf_map__type(map)) {
		*kind = COLLECTOR_RETIRED_FIXED;
		return 0;
	}
	if (map == c->skel->maps.samples && info->type == bpf_map__type(map)) {
		*kind = COLLECTOR_RETIRED_RING;
		return 0;
	}
	return -ENOENT;
}

static int check_pin(struct collector *c, struct bpf_map *map)
{
	const char *path = bpf_map__pin_path(map);
	enum collector_retired_kind kind;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	enum collector_lane lane;
	enum collector_map m;
	char to[PATH_MAX];
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;	/* not pinned yet: the load makes it */
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (same_shape(&info, map) && info.max_entries == bpf_map__max_entries(map))
		goto reuse;
	/* a series map larger than needed still fits: maps never shrink */
	if (same_shape(&info, map) && collector__is_agg_map(c, map, &m, &lane) &&
	    info.max_entries >= bpf_map__max_entries(map)) {
		bpf_map__set_max_entries(map, info.max_entries);
		goto reuse;
	}
	if (retire_kind(c, map, &info, &kind, &m, &lane)) {
		log_warn("pinned map %s does not fit this emitd (type, key or value size, flags or size %u, %u wanted): recreating it, what it held is lost",
			 path, info.max_entries, bpf_map__max_entries(map));
		close(fd);
		unlink(path);
		return 0;
	}
	snprintf(to, sizeof(to), "%s" RETIRED "%u", path, info.id);
	if (rename(path, to)) {
		err = -errno;
		close(fd);
		log_err("cannot retire %s: %s", path, strerror(-err));
		return err;
	}
	log_info("pinned map %s (size %u) does not fit (size %u wanted): migrating what it holds to a new one",
		 path, info.max_entries, bpf_map__max_entries(map));
	return add_retired(c, kind, m, lane, to, fd, info.id);
reuse:
	close(fd);
	return 0;
}

int migrate__check_pins(struct collector *c, struct emit_bpf *skel)
{
	struct emit_bpf *running = c->skel;
	struct bpf_map *map;
	int err = 0;

	c->skel = skel;		/* the map helpers name this object's maps */
	bpf_object__for_each_map(map, skel->obj) {
		if (!bpf_map__pin_path(map))
			continue;
		err = check_pin(c, map);
		if (err)
			break;
	}
	c->skel = running;
	return err;
}

static bool marked(const struct collector *c, uint32_t id)
{
	size_t i;
	int m;

	for (m = 0; m < COLLECTOR_MAP_MAX; m++)
		for (i = 0; i < c->carry[m].nr_marks; i++)
			if (c->carry[m].marks[i] == id)
				return true;
	return false;
}

/* <name>-retired-<id> of an agent that stopped while migrating. */
static int found_retired(struct collector *c, struct emit_bpf *skel, const char *name)
{
	const char *tag = strstr(name, RETIRED);
	enum collector_retired_kind kind;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	enum collector_lane lane;
	enum collector_map m;
	char path[PATH_MAX], base[64];
	struct bpf_map *map;
	int fd;

	size_t i;

	snprintf(path, sizeof(path), "%s/%s", c->pin_root, name);
	for (i = 0; i < c->nr_retired; i++)
		if (!strcmp(c->retired[i].path, path))
			return 0;	/* known: a switch that failed keeps it */
	snprintf(base, sizeof(base), "%.*s", (int)(tag - name), name);
	map = bpf_object__find_map_by_name(skel->obj, base);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (!map || bpf_obj_get_info_by_fd(fd, &info, &len) ||
	    retire_kind(c, map, &info, &kind, &m, &lane) || marked(c, info.id)) {
		close(fd);
		unlink(path);	/* carried already, or nothing to carry */
		return 0;
	}
	log_info("%s: an agent stopped while migrating it: carrying what it holds", path);
	return add_retired(c, kind, m, lane, path, fd, info.id);
}

int migrate__find_retired(struct collector *c, struct emit_bpf *skel)
{
	struct emit_bpf *running = c->skel;
	struct dirent *de;
	DIR *d = opendir(c->pin_root);
	int err = 0;

	if (!d)
		return -errno;
	c->skel = skel;		/* the map helpers name this object's maps */
	while (!err && (de = readdir(d)))
		if (strstr(de->d_name, RETIRED))
			err = found_retired(c, skel, de->d_name);
	c->skel = running;
	closedir(d);
	return err;
}

/* The carry: entries sorted by key, coalesced. */

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct emitd_series_key));
}

static void gauge_add(struct emitd_gauge *d, const struct emitd_gauge *s)
{
	if (!s->updates)
		return;
	if (!d->updates || s->ktime_ns >= d->ktime_ns) {
		d->raw = s->raw;
		d->ktime_ns = s->ktime_ns;
	}
	d->updates += s->updates;
}

/* Add one value of @m's layout to another: sums, or the newest gauge. */
static void value_add(enum collector_map m, void *dst, const void *src)
{
	struct emitd_hist *dh = dst;
	const struct emitd_hist *sh = src;
	int i;

	switch (m) {
	case COLLECTOR_MAP_COUNTERS:
		((struct emitd_counter *)dst)->value += ((const struct emitd_counter *)src)->value;
		break;
	case COLLECTOR_MAP_GAUGES:
		gauge_add(dst, src);
		break;
	case COLLECTOR_MAP_HISTS:
		dh->count += sh->count;
		dh->sum += sh->sum;
		for (i = 0; i < EMITD_NR_SLOTS; i++)
			dh->slots[i] += sh->slots[i];
		break;
	default:
		((struct emitd_norm *)dst)->events += ((const struct emitd_norm *)src)->events;
		((struct emitd_norm *)dst)->zeroed += ((const struct emitd_norm *)src)->zeroed;
		break;
	}
}

static int carry_append(struct collector_carry *ca, const struct emitd_series_key *key,
			enum collector_map m, const void *val)
{
	struct carry_entry *e;

	if (ca->nr == ca->cap) {
		size_t cap = ca->cap ? ca->cap * 2 : 64;

		e = realloc(ca->v, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		ca->v = e;
		ca->cap = cap;
	}
	e = &ca->v[ca->nr++];
	memset(e, 0, sizeof(*e));
	e->key = *key;
	value_add(m, &e->v, val);
	ca->dirty = true;
	return 0;
}

static void carry_coalesce(struct collector_carry *ca, enum collector_map m)
{
	size_t i, n = 0;

	if (ca->nr > 1)
		qsort(ca->v, ca->nr, sizeof(*ca->v), key_cmp);
	for (i = 0; i < ca->nr; i++) {
		if (n && !key_cmp(&ca->v[n - 1].key, &ca->v[i].key)) {
			value_add(m, &ca->v[n - 1].v, &ca->v[i].v);
			continue;
		}
		if (n != i)
			ca->v[n] = ca->v[i];
		n++;
	}
	ca->nr = n;
}

static void carry_path(const struct collector *c, enum collector_map m, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", c->pin_root, carry_name(m));
}

static int load_one(struct collector *c, enum collector_map m)
{
	struct collector_carry *ca = &c->carry[m];
	struct emitd_series_key key, next;
	struct carry_entry e;
	char path[PATH_MAX];
	void *prev = NULL;
	uint32_t *v;
	int fd, err = 0;

	carry_path(c, m, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	while (!err && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &e.v))
			continue;
		if (!(key.flags & EMITD_KEY_CARRY_MARK)) {
			err = carry_append(ca, &key, m, &e.v);
			continue;
		}
		v = realloc(ca->marks, (ca->nr_marks + 1) * sizeof(*v));
		if (!v) {
			err = -ENOMEM;
			break;
		}
		ca->marks = v;
		ca->marks[ca->nr_marks++] = (uint32_t)key.labels[0].num;
	}
	close(fd);
	carry_coalesce(ca, m);
	ca->dirty = false;
	return err;
}

int carry__load(struct collector *c)
{
	int m, err = 0;

	for (m = 0; m < COLLECTOR_MAP_MAX && !err; m++)
		err = load_one(c, m);
	if (err)
		log_err("cannot read the carried counts under %s: %s", c->pin_root, strerror(-err));
	return err;
}

void carry__free(struct collector *c)
{
	int m;

	for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
		free(c->carry[m].v);
		free(c->carry[m].marks);
		memset(&c->carry[m], 0, sizeof(c->carry[m]));
	}
}

static int fill_carry_map(int fd, const struct collector_carry *ca)
{
	struct carry_entry mark = {};
	size_t i;

	for (i = 0; i < ca->nr; i++)
		if (bpf_map_update_elem(fd, &ca->v[i].key, &ca->v[i].v, BPF_NOEXIST))
			return -errno;
	mark.key.flags = EMITD_KEY_CARRY_MARK;
	for (i = 0; i < ca->nr_marks; i++) {
		mark.key.labels[0].num = ca->marks[i];
		if (bpf_map_update_elem(fd, &mark.key, &mark.v, BPF_NOEXIST))
			return -errno;
	}
	return 0;
}

/* A new carry map, BTF-typed like the series maps of its kind. */
static int create_carry_map(const struct collector *c, enum collector_map m, size_t n)
{
	const struct bpf_map *agg = collector__agg_map(c, m, COLLECTOR_LANE_NORMAL);
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	size_t vsz = collector_map__value_size(m);
	int fd;

	o.btf_fd = bpf_object__btf_fd(c->skel->obj);
	o.btf_key_type_id = bpf_map__btf_key_type_id(agg);
	o.btf_value_type_id = bpf_map__btf_value_type_id(agg);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, carry_name(m), sizeof(struct emitd_series_key),
			    vsz, n, &o);
	if (fd < 0) {
		o.btf_fd = 0;
		o.btf_key_type_id = o.btf_value_type_id = 0;
		fd = bpf_map_create(BPF_MAP_TYPE_HASH, carry_name(m),
				    sizeof(struct emitd_series_key), vsz, n, &o);
	}
	return fd < 0 ? -errno : fd;
}

/* Replace the pinned carry of kind @m whole: pin the new one beside, rename it over. */
static int carry_commit(struct collector *c, enum collector_map m)
{
	struct collector_carry *ca = &c->carry[m];
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	size_t n = ca->nr + ca->nr_marks;
	int fd, err;

	carry_path(c, m, path, sizeof(path));
	ca->dirty = false;
	if (!n) {
		unlink(path);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s-new", path);
	fd = create_carry_map(c, m, n);
	if (fd < 0)
		return fd;
	err = fill_carry_map(fd, ca);
	unlink(tmp);
	if (!err && bpf_obj_pin(fd, tmp))
		err = -errno;
	if (!err) {
		pins__chmod(tmp);
		if (rename(tmp, path))
			err = -errno;
	}
	close(fd);
	if (err) {
		unlink(tmp);
		log_err("cannot write %s: %s", path, strerror(-err));
	}
	return err;
}

static int commit_dirty(struct collector *c)
{
	int m, err = 0;

	for (m = 0; m < COLLECTOR_MAP_MAX && !err; m++)
		if (c->carry[m].dirty)
			err = carry_commit(c, m);
	return err;
}

/* Whether the series @key goes on: its metric is in @st and did not change meaning. */
static bool keep(const struct store *st, const struct emitd_series_key *key)
{
	const struct store_metric *sm = store__metric_by_id((struct store *)st, key->metric_id);

	return sm && !sm->fresh;
}

int carry__purge(struct collector *c, const struct store *st)
{
	size_t i, n;
	int m;

	for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
		struct collector_carry *ca = &c->carry[m];

		for (i = 0, n = 0; i < ca->nr; i++)
			if (keep(st, &ca->v[i].key))
				ca->v[n++] = ca->v[i];
		if (n != ca->nr)
			ca->dirty = true;
		ca->nr = n;
	}
	return commit_dirty(c);
}

int carry__apply(struct collector *c)
{
	size_t i;
	int m, err;

	for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
		const struct collector_carry *ca = &c->carry[m];

		for (i = 0; i < ca->nr; i++) {
			const struct store_metric *sm = store__metric_by_id(&c->store,
									  ca->v[i].key.metric_id);
			struct series *s;

			if (!sm || (int)collector_map__of_kind(sm->kind) != m)
				continue;
			s = store__series(&c->store, &ca->v[i].key);
			if (!s)
				return -ENOMEM;
			err = store__set_carry(s, &ca->v[i].v);
			if (err)
				return err;
		}
	}
	return 0;
}

/* The live map a retired series map's counts continue in. */
static int live_fd(const struct collector *c, const struct collector_retired *r)
{
	return bpf_map__fd(collector__agg_map(c, r->map, r->lane));
}

/* Every series of @r, zero, in the live map: the same series before the switch. */
static int pre_insert(struct collector *c, const struct collector_retired *r,
		      const struct store *st)
{
	size_t vsz = collector_map__value_size(r->map);
	struct emitd_series_key key, next;
	void *zero = calloc(c->ncpus, vsz), *prev = NULL;
	int fd = live_fd(c, r), err = 0;

	if (!zero)
		return -ENOMEM;
	while (!bpf_map_get_next_key(r->fd, prev, &next)) {
		key = next;
		prev = &key;
		if (keep(st, &key) && bpf_map_update_elem(fd, &key, zero, BPF_NOEXIST) &&
		    errno != EEXIST) {
			err = -errno;
			break;
		}
	}
	free(zero);
	return err;
}

int migrate__prepare(struct collector *c, const struct store *st)
{
	size_t i;
	int err = 0;

	for (i = 0; i < c->nr_retired && !err; i++)
		if (c->retired[i].kind == COLLECTOR_RETIRED_SERIES)
			err = pre_insert(c, &c->retired[i], st);
	if (err)
		log_err("cannot copy the series of the retired maps: %s", strerror(-err));
	return err;
}

/* Sum @r's per-CPU values of one series into @out (zeroed by the caller). */
static void fold_cpus(const struct collector *c, enum collector_map m, const void *vals,
		      void *out)
{
	size_t vsz = collector_map__value_size(m);
	int cpu;

	for (cpu = 0; cpu < c->ncpus; cpu++)
		value_add(m, out, (const char *)vals + cpu * vsz);
}

static int carry_series(struct collector *c, const struct collector_retired *r)
{
	size_t vsz = collector_map__value_size(r->map);
	struct emitd_series_key key, next;
	void *vals = calloc(c->ncpus, vsz), *prev = NULL;
	struct carry_entry e;
	int err = 0;

	if (!vals)
		return -ENOMEM;
	while (!err && !bpf_map_get_next_key(r->fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!keep(&c->store, &key) || bpf_map_lookup_elem(r->fd, &key, vals))
			continue;
		memset(&e.v, 0, sizeof(e.v));
		fold_cpus(c, r->map, vals, &e.v);
		err = carry_append(&c->carry[r->map], &key, r->map, &e.v);
		/* made by the old handler after pre_insert(): the guard counted it */
		memset(vals, 0, c->ncpus * vsz);
		if (!err)
			bpf_map_update_elem(live_fd(c, r), &key, vals, BPF_NOEXIST);
	}
	free(vals);
	return err;
}

/* A fixed array of emitd before pinned links: fixed_ids names each slot's metric. */
static int carry_fixed(struct collector *c, const struct collector_retired *r)
{
	size_t vsz = collector_map__value_size(r->map);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), slot, key, id;
	struct emitd_series_key skey;
	char path[PATH_MAX];
	struct carry_entry e;
	void *vals;
	int ids, err = 0;

	snprintf(path, sizeof(path), "%s/" LEGACY_FIXED_IDS, c->pin_root);
	ids = bpf_obj_get(path);
	if (ids < 0 || bpf_obj_get_info_by_fd(r->fd, &info, &len)) {
		log_warn("%s: no record of whose series it holds: they restart from zero", r->path);
		if (ids >= 0)
			close(ids);
		return 0;
	}
	vals = calloc(c->ncpus, vsz);
	if (info.max_entries > LEGACY_MAX_PROBES)
		info.max_entries = LEGACY_MAX_PROBES;
	for (slot = 0; vals && !err && slot < info.max_entries; slot++) {
		key = r->map * LEGACY_MAX_PROBES + slot;
		if (bpf_map_lookup_elem(ids, &key, &id) || !id ||
		    bpf_map_lookup_elem(r->fd, &slot, vals))
			continue;
		memset(&skey, 0, sizeof(skey));
		skey.metric_id = id;
		if (!keep(&c->store, &skey))
			continue;
		memset(&e.v, 0, sizeof(e.v));
		fold_cpus(c, r->map, vals, &e.v);
		err = carry_append(&c->carry[r->map], &skey, r->map, &e.v);
	}
	close(ids);
	if (!vals)
		return -ENOMEM;
	free(vals);
	return err;
}

static int carry_retired(struct collector *c)
{
	bool touched[COLLECTOR_MAP_MAX] = {};
	size_t i;
	int m, err = 0;

	for (m = 0; m < COLLECTOR_MAP_MAX; m++)
		c->carry[m].nr_marks = 0;	/* the marks are of this switch's maps */
	for (i = 0; i < c->nr_retired && !err; i++) {
		struct collector_retired *r = &c->retired[i];
		struct collector_carry *ca = &c->carry[r->map];
		uint32_t *v;

		if (r->kind == COLLECTOR_RETIRED_RING) {
			err = drain__consume_ring(c, r->fd);
			continue;
		}
		err = r->kind == COLLECTOR_RETIRED_SERIES ? carry_series(c, r) : carry_fixed(c, r);
		v = err ? NULL : realloc(ca->marks, (ca->nr_marks + 1) * sizeof(*v));
		if (!err && !v)
			err = -ENOMEM;
		if (err)
			break;
		ca->marks = v;
		ca->marks[ca->nr_marks++] = r->id;
		touched[r->map] = ca->dirty = true;
	}
	for (m = 0; m < COLLECTOR_MAP_MAX; m++)
		if (touched[m])
			carry_coalesce(&c->carry[m], m);
	return err;
}

static void unlink_retired(struct collector *c)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < c->nr_retired; i++) {
		unlink(c->retired[i].path);
		log_info("%s: migrated", c->retired[i].path);
	}
	migrate__free_retired(c);
	snprintf(path, sizeof(path), "%s/" LEGACY_FIXED_IDS, c->pin_root);
	unlink(path);
}

int migrate__switch(struct collector *c)
{
	int prog = bpf_program__fd(c->skel->progs.emitd_handle);
	int prog_ctx = bpf_program__fd(c->skel->progs.emitd_handle_ctx);
	__u32 zero = 0;
	int err;

	/* two updates, then the grace period: after it, no old handler of either runs */
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.progs), &zero, &prog, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(c->skel->maps.progs_ctx), &zero, &prog_ctx,
				BPF_ANY)) {
		err = -errno;
		log_err("cannot install the handlers in progs and progs_ctx: %s", strerror(-err));
		return err;
	}
	if (!c->nr_retired)
		return 0;
	collector__grace();	/* no event still runs the old handler into the retired maps */
	err = carry_retired(c);
	if (!err)
		err = commit_dirty(c);
	if (!err)
		err = carry__apply(c);
	if (err) {
		log_err("migrating the retired maps: %s (their pins stay for the next start)",
			strerror(-err));
		return err;
	}
	unlink_retired(c);
	return 0;
}
