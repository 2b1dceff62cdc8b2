// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/labelenc.h"
#include "lib/metric_id.h"
#include "lib/scale.h"
#include "agent/store.h"

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
	if (!st->metrics)
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

static void series__free(void *p)
{
	struct series *s = p;
	int i;

	for (i = 0; i < EMITD_MAX_LABELS; i++)
		free(s->labels[i]);
	free(s->slots);
	free(s->carry);
	free(s);
}

void store__free(struct store *st)
{
	size_t i;

	tdestroy(st->index, series__free);
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

static int key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct series *)a)->key, &((const struct series *)b)->key,
		      sizeof(struct emitd_series_key));
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
 * A string label's bytes are the probed process's: encoded injectively
 * (lib/labelenc.h), so distinct bytes never share a series on a page and a
 * literal "__other__" is not the overflow series' EMITD_OTHER_VALUE. The
 * result is valid UTF-8: expo's U+FFFD replacement never applies to it.
 * A comm is such a string; pid, tid and uid are numbers.
 */
static char *format_label(const struct store *st, const struct spec_label *l,
			  const union emitd_label *v)
{
	char raw[EMITD_LABEL_LEN], buf[24];

	if (spec_src_kind__is_string(l->src.kind)) {
		memcpy(raw, v->str, EMITD_LABEL_LEN - 1);
		raw[EMITD_LABEL_LEN - 1] = '\0';	/* a key may fill the label */
		return encode_label(raw);
	}
	if (l->src.kind == SPEC_SRC_CGROUP)
		return format_cgroup(st, (__u64)v->num);
	snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)v->num);
	return strdup(buf);
}

static struct series *series__new(const struct store *st, struct store_metric *m,
				  const struct emitd_series_key *key)
{
	struct series *s = calloc(1, sizeof(*s));
	size_t i;

	if (!s)
		return NULL;
	s->key = *key;
	s->metric = m;
	for (i = 0; i < m->spec->nr_labels; i++) {
		if (key->flags & EMITD_KEY_OTHER)
			s->labels[i] = strdup(EMITD_OTHER_VALUE);
		else
			s->labels[i] = format_label(st, &m->spec->labels[i], &key->labels[i]);
		if (!s->labels[i])
			goto err;
	}
	if (m->kind == EMITD_KIND_HISTOGRAM) {
		s->slots = calloc(EMITD_NR_SLOTS, sizeof(*s->slots));
		if (!s->slots)
			goto err;
	}
	return s;
err:
	series__free(s);
	return NULL;
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
	struct store_metric *m;
	struct series probe, *s, **slot;

	probe.key = *key;
	slot = tfind(&probe, &st->index, key_cmp);
	if (slot)
		return *slot;
	m = store__metric_by_id(st, key->metric_id);
	if (!m) {
		st->orphans++;
		return NULL;
	}
	s = series__new(st, m, key);
	if (!s)
		return NULL;
	if (metric__append(m, s))
		goto err;
	slot = tsearch(s, &st->index, key_cmp);
	if (!slot) {
		m->nr_series--;
		goto err;
	}
	return s;
err:
	series__free(s);
	return NULL;
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
	s->zeroed = 0;
	s->isum = 0;
	if (s->slots)
		memset(s->slots, 0, EMITD_NR_SLOTS * sizeof(*s->slots));
}

void store__apply_counter(struct series *s, const struct emitd_counter *percpu, int ncpus)
{
	int cpu;

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

static void copy_samples(struct series *d, const struct series *s)
{
	d->fsum = s->fsum;
	d->fsum_samples = s->fsum_samples;
	d->before_abs_sum = s->before_abs_sum;
	d->after_abs_sum = s->after_abs_sum;
	d->samples = s->samples;
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

			if (!os->fsum_samples && !os->samples)
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
	if (m->kind == EMITD_KIND_HISTOGRAM) {
		s->fsum += store__raw_to_double(smp->v1, m->value_type);
		s->fsum_samples++;
	} else if (m->kind == EMITD_KIND_NORMALIZATION) {
		s->before_abs_sum += fabs(store__raw_to_double(smp->v1, m->spec->probe.before.type));
		s->after_abs_sum += fabs(store__raw_to_double(smp->v2, m->spec->probe.after.type));
		s->samples++;
	}
}
