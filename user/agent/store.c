// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/labelenc.h"
#include "lib/metric_id.h"
#include "lib/scale.h"
#include "agent/store.h"

/*
 * The series' memory and their index. Series are carved from chunks (no
 * allocator header each, neighbours stay neighbours) and never freed one by
 * one: the store only grows until store__free(). The index hashes the key
 * into chains linked through the nodes themselves, at most one node per
 * bucket on average: 16 bytes a series where a tsearch node took 32.
 */
struct series_node {
	struct series s;
	struct series_node *next;	/* the index's chain */
};

struct series_chunk {
	struct series_chunk *prev;
	size_t used, cap;
	struct series_node nodes[];
};

#define CHUNK_MIN	64
#define CHUNK_MAX	4096		/* nodes */
#define BUCKETS_MIN	64

struct store_index {
	struct series_node **buckets;
	size_t nr_buckets;		/* a power of two */
	size_t nr;
	struct series_chunk *chunks;	/* the newest first */
	size_t nr_nodes;		/* in all chunks */
};

/* The overflow series' label value, shared by all of them. */
static char other_value[] = EMITD_OTHER_VALUE;

enum emitd_kind emitd_kind__from_spec(enum spec_metric_type t)
{
	switch (t) {
	case SPEC_COUNTER:
		return EMITD_KIND_COUNTER;
	case SPEC_GAUGE:
		return EMITD_KIND_GAUGE;
	case SPEC_HISTOGRAM:
		return EMITD_KIND_HISTOGRAM;
	case SPEC_NORMALIZATION:
		return EMITD_KIND_NORMALIZATION;
	}
	return 0;
}

static enum spec_val_type metric_value_type(const struct spec_metric *m)
{
	const struct spec_src *src = &m->probe.value;

	if (m->type == SPEC_NORMALIZATION)
		src = &m->probe.after;
	return src->kind == SPEC_SRC_NONE ? SPEC_VAL_U64 : src->type;
}

/* The key the kernel builds for these label values: zeroed, then each label. */
static void warm_key(const struct store_metric *m, const size_t *pick,
		     struct emitd_series_key *key)
{
	const struct spec_metric *sm = m->spec;
	size_t i;

	memset(key, 0, sizeof(*key));
	key->metric_id = m->id;
	for (i = 0; i < sm->nr_labels; i++) {
		const char *v = sm->labels[i].values[pick[i]];

		if (spec_src_kind__is_string(sm->labels[i].src.kind))
			strncpy(key->labels[i].str, v, EMITD_LABEL_LEN - 1);
		else
			key->labels[i].num = (__s64)strtoll(v, NULL, 10);
	}
}

/* The next combination of label values, odometer order; false after the last. */
static bool next_pick(const struct spec_metric *sm, size_t *pick)
{
	size_t i;

	for (i = sm->nr_labels; i-- > 0;) {
		if (++pick[i] < sm->labels[i].nr_values)
			return true;
		pick[i] = 0;
	}
	return false;
}

/*
 * Series known before any event: every series of a metric without labels,
 * and every combination of the warm values the spec lists. They are keyed
 * exactly as the kernel keys them, so the drain finds them when the kernel
 * creates them; until then they are only here, and take nothing of the
 * kernel's budgets.
 */
static int store__warm(struct store *st)
{
	struct emitd_series_key key;
	size_t i, pick[EMITD_MAX_LABELS];

	for (i = 0; i < st->nr_metrics; i++) {
		const struct store_metric *m = &st->metrics[i];

		if (!m->fixed && !spec_metric__nr_warm(m->spec))
			continue;
		memset(pick, 0, sizeof(pick));
		do {
			warm_key(m, pick, &key);
			if (!store__series(st, &key))
				return -ENOMEM;
		} while (next_pick(m->spec, pick));
	}
	return 0;
}

int store__init(struct store *st, const struct spec *spec, char *err_msg, size_t err_sz)
{
	size_t i, j;
	int err;

	memset(st, 0, sizeof(*st));
	st->spec_namespace = spec->namespace_;
	err = spec__hash(spec, st->spec_sha256);
	if (err) {
		snprintf(err_msg, err_sz, "spec hash: %s", strerror(-err));
		return err;
	}
	st->metrics = calloc(spec->nr_metrics, sizeof(*st->metrics));
	st->index = calloc(1, sizeof(*st->index));
	if (!st->metrics || !st->index)
		goto err_nomem;
	st->nr_metrics = spec->nr_metrics;
	for (i = 0; i < spec->nr_metrics; i++) {
		struct store_metric *sm = &st->metrics[i];

		sm->spec = &spec->metrics[i];
		sm->idx = i;
		sm->full_name = spec_metric__full_name(spec, sm->spec);
		if (!sm->full_name)
			goto err_nomem;
		sm->id = emitd_metric_id(sm->full_name);
		sm->kind = emitd_kind__from_spec(sm->spec->type);
		sm->value_type = metric_value_type(sm->spec);
		sm->fixed = !sm->spec->nr_labels;
		sm->slot = i;
		for (j = 0; j < i; j++) {
			if (st->metrics[j].id != sm->id)
				continue;
			snprintf(err_msg, err_sz, "metric ids of %s and %s collide; rename one",
				 st->metrics[j].full_name, sm->full_name);
			store__free(st);
			return -EEXIST;
		}
	}
	if (store__warm(st))
		goto err_nomem;
	return 0;

err_nomem:
	snprintf(err_msg, err_sz, "series store: %s", strerror(ENOMEM));
	store__free(st);
	return -ENOMEM;
}

/* A label value of @s allocated: neither in its key nor the shared overflow value. */
static bool label_owned(const struct series *s, const char *l)
{
	uintptr_t p = (uintptr_t)l, k = (uintptr_t)s->key.labels;

	return l && l != other_value && !(p >= k && p < k + sizeof(s->key.labels));
}

/* What @s holds besides its node. */
static void series__release(struct series *s)
{
	int i;

	for (i = 0; i < EMITD_MAX_LABELS; i++)
		if (label_owned(s, s->labels[i]))
			free(s->labels[i]);
	if (s->metric && s->metric->kind == EMITD_KIND_HISTOGRAM)
		free(s->slots);
	free(s->carry);
}

static void index__free(struct store_index *ix)
{
	struct series_chunk *c, *prev;
	size_t i;

	if (!ix)
		return;
	for (c = ix->chunks; c; c = prev) {
		prev = c->prev;
		for (i = 0; i < c->used; i++)
			series__release(&c->nodes[i].s);
		free(c);
	}
	free(ix->buckets);
	free(ix);
}

void store__free(struct store *st)
{
	size_t i;

	index__free(st->index);
	for (i = 0; i < st->nr_metrics; i++) {
		free(st->metrics[i].full_name);
		free(st->metrics[i].series);
	}
	free(st->metrics);
	memset(st, 0, sizeof(*st));
}

void store__set_cgroup_namer(struct store *st, store_cgroup_fn fn, void *ctx)
{
	st->cgroup_path = fn;
	st->cgroup_ctx = ctx;
}

struct store_metric *store__metric_by_id(struct store *st, uint32_t id)
{
	size_t i;

	for (i = 0; i < st->nr_metrics; i++)
		if (st->metrics[i].id == id)
			return &st->metrics[i];
	return NULL;
}

_Static_assert(sizeof(struct emitd_series_key) % sizeof(uint64_t) == 0,
	       "a key hashes as 64-bit words");

static uint64_t key_hash(const struct emitd_series_key *key)
{
	const unsigned char *p = (const unsigned char *)key;
	uint64_t h = 0x9e3779b97f4a7c15ULL, w;
	size_t i;

	for (i = 0; i < sizeof(*key); i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h;
}

static struct series_node *index__find(const struct store_index *ix,
				       const struct emitd_series_key *key, uint64_t h)
{
	struct series_node *n;

	if (!ix->nr_buckets)
		return NULL;
	for (n = ix->buckets[h & (ix->nr_buckets - 1)]; n; n = n->next)
		if (!memcmp(&n->s.key, key, sizeof(*key)))
			return n;
	return NULL;
}

/* Twice the buckets (or the first ones), the chains rehashed. */
static int index__grow(struct store_index *ix)
{
	size_t nb = ix->nr_buckets ? ix->nr_buckets * 2 : BUCKETS_MIN, i;
	struct series_node **b = calloc(nb, sizeof(*b)), *n, *next;

	if (!b)
		return -ENOMEM;
	for (i = 0; i < ix->nr_buckets; i++) {
		for (n = ix->buckets[i]; n; n = next) {
			size_t j = key_hash(&n->s.key) & (nb - 1);

			next = n->next;
			n->next = b[j];
			b[j] = n;
		}
	}
	free(ix->buckets);
	ix->buckets = b;
	ix->nr_buckets = nb;
	return 0;
}

/* A zeroed node from the newest chunk, or from a new, larger one. */
static struct series_node *index__take(struct store_index *ix)
{
	struct series_chunk *c = ix->chunks;

	if (!c || c->used == c->cap) {
		size_t cap = ix->nr_nodes < CHUNK_MIN ? CHUNK_MIN :
			     ix->nr_nodes > CHUNK_MAX ? CHUNK_MAX : ix->nr_nodes;

		c = calloc(1, sizeof(*c) + cap * sizeof(c->nodes[0]));
		if (!c)
			return NULL;
		c->cap = cap;
		c->prev = ix->chunks;
		ix->chunks = c;
		ix->nr_nodes += cap;
	}
	return &c->nodes[c->used++];
}

/* Give back the node index__take() just handed out, cleared. */
static void index__untake(struct store_index *ix, struct series_node *n)
{
	memset(n, 0, sizeof(*n));
	ix->chunks->used--;
}

static void index__insert(struct store_index *ix, struct series_node *n, uint64_t h)
{
	size_t j = h & (ix->nr_buckets - 1);

	n->next = ix->buckets[j];
	ix->buckets[j] = n;
	ix->nr++;
}

/* Bytes the target chose (a string, a comm, a cgroup's name), encoded injectively. */
static char *encode_label(const char *raw)
{
	size_t n = strlen(raw);
	char *buf = malloc(LABELENC_SIZE(n));

	if (buf && labelenc__encode(raw, buf, LABELENC_SIZE(n))) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* A cgroup label: the id's path where the namer resolves it, else the number. */
static char *format_cgroup(const struct store *st, __u64 id)
{
	char path[4096], num[24];

	if (st->cgroup_path && !st->cgroup_path(st->cgroup_ctx, id, path, sizeof(path)))
		return encode_label(path);
	snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)id);
	return strdup(num);
}

/*
 * The value of string label @v: its bytes' encoding, read from the key
 * itself when that is the key's bytes up to a NUL the key holds (most
 * strings: well-formed UTF-8 without a backslash, not "__other__").
 */
static char *format_string(union emitd_label *v)
{
	char raw[EMITD_LABEL_LEN], enc[LABELENC_SIZE(EMITD_LABEL_LEN - 1)];

	memcpy(raw, v->str, EMITD_LABEL_LEN - 1);
	raw[EMITD_LABEL_LEN - 1] = '\0';	/* a key may fill the label */
	if (labelenc__encode(raw, enc, sizeof(enc)))
		return NULL;
	if (memchr(v->str, '\0', EMITD_LABEL_LEN) && !strcmp(enc, v->str))
		return v->str;
	return strdup(enc);
}

/*
 * A string label's bytes are the probed process's: encoded injectively
 * (lib/labelenc.h), so distinct bytes never share a series on a page and a
 * literal "__other__" is not the overflow series' EMITD_OTHER_VALUE. The
 * result is valid UTF-8: expo's U+FFFD replacement never applies to it.
 * A comm is such a string; pid, tid and uid are numbers.
 */
static char *format_label(const struct store *st, const struct spec_label *l,
			  union emitd_label *v)
{
	char buf[24];

	if (spec_src_kind__is_string(l->src.kind))
		return format_string(v);
	if (l->src.kind == SPEC_SRC_CGROUP)
		return format_cgroup(st, (__u64)v->num);
	snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)v->num);
	return strdup(buf);
}

/* Fill the zeroed @s for @key of @m. */
static int series__init(const struct store *st, struct series *s, struct store_metric *m,
			const struct emitd_series_key *key)
{
	size_t i;

	s->key = *key;
	s->metric = m;
	for (i = 0; i < m->spec->nr_labels; i++) {
		if (key->flags & EMITD_KEY_OTHER)
			s->labels[i] = other_value;
		else
			s->labels[i] = format_label(st, &m->spec->labels[i], &s->key.labels[i]);
		if (!s->labels[i])
			return -ENOMEM;
	}
	if (m->kind == EMITD_KIND_HISTOGRAM) {
		s->slots = calloc(EMITD_NR_SLOTS, sizeof(*s->slots));
		if (!s->slots)
			return -ENOMEM;
	}
	return 0;
}

static int metric__append(struct store_metric *m, struct series *s)
{
	if (m->nr_series == m->cap_series) {
		size_t cap = m->cap_series ? m->cap_series * 2 : 16;
		struct series **v = realloc(m->series, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->series = v;
		m->cap_series = cap;
	}
	m->series[m->nr_series++] = s;
	m->sorted = false;
	return 0;
}

struct series *store__series(struct store *st, const struct emitd_series_key *key)
{
	struct store_index *ix = st->index;
	uint64_t h = key_hash(key);
	struct series_node *n = index__find(ix, key, h);
	struct store_metric *m;

	if (n)
		return &n->s;
	m = store__metric_by_id(st, key->metric_id);
	if (!m) {
		st->orphans++;
		return NULL;
	}
	if (ix->nr >= ix->nr_buckets && index__grow(ix))
		return NULL;
	n = index__take(ix);
	if (!n)
		return NULL;
	if (series__init(st, &n->s, m, key) || metric__append(m, &n->s)) {
		series__release(&n->s);
		index__untake(ix, n);
		return NULL;
	}
	index__insert(ix, n, h);
	return &n->s;
}

static int series_label_cmp(const void *a, const void *b, void *arg)
{
	size_t sort_nr_labels = *(const size_t *)arg;
	const struct series *x = *(struct series *const *)a;
	const struct series *y = *(struct series *const *)b;
	size_t i;
	int c;

	for (i = 0; i < sort_nr_labels; i++) {
		c = strcmp(x->labels[i], y->labels[i]);
		if (c)
			return c;
	}
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

void store__sort(struct store *st)
{
	size_t i;

	for (i = 0; i < st->nr_metrics; i++) {
		struct store_metric *m = &st->metrics[i];

		if (m->sorted)
			continue;
		/* qsort_r's base must not be NULL, even for no elements */
		if (m->nr_series > 1)
			qsort_r(m->series, m->nr_series, sizeof(*m->series), series_label_cmp,
				(void *)&m->spec->nr_labels);
		m->sorted = true;
	}
}

void store__reset_orphans(struct store *st)
{
	st->orphans = 0;
}

void store_metric__set_trial(struct store_metric *m)
{
	m->trial = true;
}

double store__raw_to_double(__u64 raw, enum spec_val_type t)
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

double store_metric__value(const struct store_metric *m, __u64 raw)
{
	return scale__export(store__raw_to_double(raw, m->value_type),
			     spec_metric__scale(m->spec));
}

/* The per-CPU values are read as arrays of these: no padding between CPUs. */
_Static_assert(sizeof(struct emitd_counter) % 8 == 0, "per-CPU values are 8-byte aligned");
_Static_assert(sizeof(struct emitd_gauge) % 8 == 0, "per-CPU values are 8-byte aligned");
_Static_assert(sizeof(struct emitd_hist) % 8 == 0, "per-CPU values are 8-byte aligned");
_Static_assert(sizeof(struct emitd_norm) % 8 == 0, "per-CPU values are 8-byte aligned");

bool series__admitted(const struct series *s)
{
	return s->in_kernel && !(s->key.flags & EMITD_KEY_OTHER);
}

/* Counters, histograms and normalizations: the sums start again from zero. */
static void reset_sums(struct series *s)
{
	s->in_kernel = true;
	s->count = 0;
	if (s->metric->kind == EMITD_KIND_HISTOGRAM) {
		s->isum = 0;
		if (s->slots)
			memset(s->slots, 0, EMITD_NR_SLOTS * sizeof(*s->slots));
	} else if (s->metric->kind == EMITD_KIND_NORMALIZATION) {
		s->zeroed = 0;
	}
}

void store__apply_counter(struct series *s, const struct emitd_counter *percpu, int ncpus)
{
	int cpu;

	if (s->metric->kind != EMITD_KIND_COUNTER)
		return;
	reset_sums(s);
	for (cpu = 0; cpu < ncpus; cpu++)
		s->count += percpu[cpu].value;
	if (s->carry)
		s->count += ((const struct emitd_counter *)s->carry)->value;
}

static void newest_gauge(struct series *s, const struct emitd_gauge *g)
{
	if (g->updates && g->ktime_ns >= s->gauge_ktime) {
		s->gauge_ktime = g->ktime_ns;
		s->gauge = store__raw_to_double(g->raw, s->metric->value_type);
	}
}

void store__apply_gauge(struct series *s, const struct emitd_gauge *percpu, int ncpus)
{
	int cpu;

	if (s->metric->kind != EMITD_KIND_GAUGE)
		return;
	s->in_kernel = true;
	s->gauge_ktime = 0;
	for (cpu = 0; cpu < ncpus; cpu++)
		newest_gauge(s, &percpu[cpu]);
	if (s->carry)
		newest_gauge(s, s->carry);
}

static void add_hist(struct series *s, const struct emitd_hist *h)
{
	int i;

	s->count += h->count;
	s->isum += h->sum;
	if (s->slots)
		for (i = 0; i < EMITD_NR_SLOTS; i++)
			s->slots[i] += h->slots[i];
}

void store__apply_hist(struct series *s, const struct emitd_hist *percpu, int ncpus)
{
	int cpu;

	if (s->metric->kind != EMITD_KIND_HISTOGRAM)
		return;
	reset_sums(s);
	for (cpu = 0; cpu < ncpus; cpu++)
		add_hist(s, &percpu[cpu]);
	if (s->carry)
		add_hist(s, s->carry);
}

static void add_norm(struct series *s, const struct emitd_norm *n)
{
	s->count += n->events;
	s->zeroed += n->zeroed;
}

void store__apply_norm(struct series *s, const struct emitd_norm *percpu, int ncpus)
{
	int cpu;

	if (s->metric->kind != EMITD_KIND_NORMALIZATION)
		return;
	reset_sums(s);
	for (cpu = 0; cpu < ncpus; cpu++)
		add_norm(s, &percpu[cpu]);
	if (s->carry)
		add_norm(s, s->carry);
}

size_t store__value_size(enum emitd_kind kind)
{
	switch (kind) {
	case EMITD_KIND_COUNTER:
		return sizeof(struct emitd_counter);
	case EMITD_KIND_GAUGE:
		return sizeof(struct emitd_gauge);
	case EMITD_KIND_HISTOGRAM:
		return sizeof(struct emitd_hist);
	default:
		return sizeof(struct emitd_norm);
	}
}

int store__set_carry(struct series *s, const void *value)
{
	size_t n = store__value_size(s->metric->kind);

	if (!s->carry) {
		s->carry = malloc(n);
		if (!s->carry)
			return -ENOMEM;
	}
	memcpy(s->carry, value, n);
	return 0;
}

static bool same_metric(const struct store_metric *a, const struct store_metric *b)
{
	return a->kind == b->kind && a->value_type == b->value_type &&
	       !strcmp(a->full_name, b->full_name);
}

/* What the sample lane summed in @s: nothing but for histograms and normalizations. */
static bool has_samples(const struct series *s)
{
	if (s->metric->kind == EMITD_KIND_HISTOGRAM)
		return s->fsum_samples;
	return s->metric->kind == EMITD_KIND_NORMALIZATION && s->samples;
}

/* @s's sample-lane sums into @d, a series of a same_metric() (the kinds share memory). */
static void copy_samples(struct series *d, const struct series *s)
{
	if (s->metric->kind == EMITD_KIND_HISTOGRAM) {
		d->fsum = s->fsum;
		d->fsum_samples = s->fsum_samples;
	} else {
		d->before_abs_sum = s->before_abs_sum;
		d->after_abs_sum = s->after_abs_sum;
		d->samples = s->samples;
	}
}

int store__adopt_samples(struct store *st, const struct store *old)
{
	size_t i, j;

	for (i = 0; i < old->nr_metrics; i++) {
		const struct store_metric *om = &old->metrics[i];
		struct store_metric *m = store__metric_by_id(st, om->id);

		if (!m || m->fresh || !same_metric(m, om))
			continue;
		for (j = 0; j < om->nr_series; j++) {
			const struct series *os = om->series[j];
			struct series *s;

			if (!has_samples(os))
				continue;
			s = store__series(st, &os->key);
			if (!s)
				return -ENOMEM;
			copy_samples(s, os);
		}
	}
	return 0;
}

void store__add_sample(const struct store_metric *m, struct series *s,
		       const struct emitd_sample *smp)
{
	if (s->metric != m)
		return;
	if (m->kind == EMITD_KIND_HISTOGRAM) {
		s->fsum += store__raw_to_double(smp->v1, m->value_type);
		s->fsum_samples++;
	} else if (m->kind == EMITD_KIND_NORMALIZATION) {
		s->before_abs_sum += fabs(store__raw_to_double(smp->v1, m->spec->probe.before.type));
		s->after_abs_sum += fabs(store__raw_to_double(smp->v2, m->spec->probe.after.type));
		s->samples++;
	}
}
