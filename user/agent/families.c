// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/families.h"
#include "lib/scale.h"
#include "lib/suffix.h"

static void *fb_track(struct fam_builder *fb, void *p)
{
	void **v;

	if (!p) {
		fb->err = -ENOMEM;
		return NULL;
	}
	if (fb->nr_allocs == fb->cap_allocs) {
		size_t cap = fb->cap_allocs ? fb->cap_allocs * 2 : 64;

		v = realloc(fb->allocs, cap * sizeof(*v));
		if (!v) {
			free(p);
			fb->err = -ENOMEM;
			return NULL;
		}
		fb->allocs = v;
		fb->cap_allocs = cap;
	}
	fb->allocs[fb->nr_allocs++] = p;
	return p;
}

static void *fb_calloc(struct fam_builder *fb, size_t n, size_t sz)
{
	return fb_track(fb, calloc(n ? n : 1, sz));
}

static char *fb_strdup(struct fam_builder *fb, const char *s)
{
	return fb_track(fb, strdup(s));
}

static struct expo_family *fb_new(struct fam_builder *fb)
{
	struct expo_family *v;

	if (fb->err)
		return NULL;
	if (fb->nr_fams == fb->cap_fams) {
		size_t cap = fb->cap_fams ? fb->cap_fams * 2 : 32;

		v = realloc(fb->fams, cap * sizeof(*v));
		if (!v) {
			fb->err = -ENOMEM;
			return NULL;
		}
		fb->fams = v;
		fb->cap_fams = cap;
	}
	v = &fb->fams[fb->nr_fams++];
	memset(v, 0, sizeof(*v));
	return v;
}

void fam_builder__free(struct fam_builder *fb)
{
	size_t i;

	for (i = 0; i < fb->nr_allocs; i++)
		free(fb->allocs[i]);
	free(fb->allocs);
	free(fb->fams);
	memset(fb, 0, sizeof(*fb));
}

static const char **label_names(struct fam_builder *fb, const struct spec_metric *m)
{
	const char **names = fb_calloc(fb, m->nr_labels, sizeof(*names));
	size_t i;

	if (names)
		for (i = 0; i < m->nr_labels; i++)
			names[i] = m->labels[i].name;
	return names;
}

static void set_label_values(struct expo_series *es, const struct series *s)
{
	es->label_values = (const char *const *)s->labels;
}

/*
 * A value with a `scale:` (lib/scale.h) is exported scaled: the kernel keeps
 * what the probe read. The `le` bounds are the spec's, already in the
 * exported unit; an integer _sum without a scale stays an exact integer.
 */
static void add_histogram(struct fam_builder *fb, const struct store_metric *m,
			  struct expo_family *f, struct expo_series *es)
{
	double scale = spec_metric__scale(m->spec);
	size_t i;

	f->type = EXPO_HISTOGRAM;
	f->bounds = m->spec->buckets.bounds;
	f->nr_bounds = m->spec->buckets.nr_bounds;
	(void)fb;
	for (i = 0; i < m->nr_series; i++) {
		const struct series *s = m->series[i];

		set_label_values(&es[i], s);
		es[i].count = s->count;
		es[i].buckets = s->slots;
		if (m->value_type == SPEC_VAL_F64) {
			es[i].sum = scale__export(s->fsum, scale);
		} else if (scale != 1) {
			es[i].sum = scale__export((double)s->isum, scale);
		} else {
			es[i].isum = s->isum;
			es[i].sum_is_int = true;
		}
	}
}

/* A counter with a scale is a float: its count, scaled (lib/scale.h). */
static void add_plain(const struct store_metric *m, struct expo_family *f,
		      struct expo_series *es)
{
	double scale = spec_metric__scale(m->spec);
	size_t i;

	f->type = m->kind == EMITD_KIND_COUNTER ? EXPO_COUNTER : EXPO_GAUGE;
	for (i = 0; i < m->nr_series; i++) {
		const struct series *s = m->series[i];

		set_label_values(&es[i], s);
		es[i].count = s->count;
		if (m->kind != EMITD_KIND_COUNTER) {
			es[i].value = scale__export(s->gauge, scale);
		} else if (scale != 1) {
			es[i].value = scale__export((double)s->count, scale);
			es[i].value_is_float = true;
		}
	}
}

enum norm_part { NORM_EVENTS, NORM_ZEROED, NORM_BEFORE, NORM_AFTER, NORM_SAMPLES, NORM_MAX };

static const struct {
	const char *suffix;
	const char *help;
	enum expo_type type;
} norm_parts[NORM_MAX] = {
	[NORM_EVENTS] = { SUFFIX_NORM_EVENTS, "Normalization events", EXPO_COUNTER },
	[NORM_ZEROED] = { SUFFIX_NORM_ZEROED, "Normalization events whose after value is exactly zero", EXPO_COUNTER },
	[NORM_BEFORE] = { SUFFIX_NORM_BEFORE, "Mean |before| over the sampled events", EXPO_GAUGE },
	[NORM_AFTER] = { SUFFIX_NORM_AFTER, "Mean |after| over the sampled events", EXPO_GAUGE },
	[NORM_SAMPLES] = { SUFFIX_NORM_SAMPLES, "Events behind the means (sample-lane coverage)", EXPO_COUNTER },
};

static void norm_value(const struct series *s, enum norm_part p, struct expo_series *es)
{
	switch (p) {
	case NORM_EVENTS:
		es->count = s->count;
		break;
	case NORM_ZEROED:
		es->count = s->zeroed;
		break;
	case NORM_BEFORE:
		es->value = s->samples ? s->before_abs_sum / s->samples : NAN;
		break;
	case NORM_AFTER:
		es->value = s->samples ? s->after_abs_sum / s->samples : NAN;
		break;
	default:
		es->count = s->samples;
		break;
	}
}

static void add_normalization(struct fam_builder *fb, const struct store_metric *m)
{
	char name[256], help[512];
	int p;
	size_t i;

	for (p = 0; p < NORM_MAX; p++) {
		struct expo_family *f = fb_new(fb);
		struct expo_series *es;

		if (!f)
			return;
		snprintf(name, sizeof(name), "%s%s", m->full_name, norm_parts[p].suffix);
		snprintf(help, sizeof(help), "%s: %s.", m->spec->help, norm_parts[p].help);
		f->name = fb_strdup(fb, name);
		f->help = fb_strdup(fb, help);
		f->type = norm_parts[p].type;
		f->label_names = label_names(fb, m->spec);
		f->nr_labels = m->spec->nr_labels;
		es = fb_calloc(fb, m->nr_series, sizeof(*es));
		if (!es)
			return;
		for (i = 0; i < m->nr_series; i++) {
			set_label_values(&es[i], m->series[i]);
			norm_value(m->series[i], p, &es[i]);
		}
		f->series = es;
		f->nr_series = m->nr_series;
	}
}

void fam_builder__add_store(struct fam_builder *fb, const struct store *st)
{
	size_t i;

	for (i = 0; i < st->nr_metrics; i++) {
		const struct store_metric *m = &st->metrics[i];
		struct expo_family *f;
		struct expo_series *es;

		if (m->kind == EMITD_KIND_NORMALIZATION) {
			add_normalization(fb, m);
			continue;
		}
		f = fb_new(fb);
		es = fb_calloc(fb, m->nr_series, sizeof(*es));
		if (!f || !es)
			return;
		f->name = m->full_name;
		f->help = m->spec->help;
		f->unit = m->spec->unit;
		f->label_names = label_names(fb, m->spec);
		f->nr_labels = m->spec->nr_labels;
		f->series = es;
		f->nr_series = m->nr_series;
		if (m->kind == EMITD_KIND_HISTOGRAM)
			add_histogram(fb, m, f, es);
		else
			add_plain(m, f, es);
	}
}

void fam_builder__add_labelled(struct fam_builder *fb, const char *name, const char *help,
			       enum expo_type type, const char *const *names, size_t nl,
			       const char *const *lv, const double *values, size_t nr)
{
	struct expo_family *f = fb_new(fb);
	struct expo_series *es = fb_calloc(fb, nr, sizeof(*es));
	const char **nm = fb_calloc(fb, nl, sizeof(*nm));
	const char **vals = fb_calloc(fb, nr * nl, sizeof(*vals));
	size_t i, j;

	if (!f || !es || !nm || !vals)
		return;
	f->name = fb_strdup(fb, name);
	f->help = fb_strdup(fb, help);
	f->type = type;
	for (j = 0; j < nl; j++)
		nm[j] = fb_strdup(fb, names[j]);
	f->label_names = nm;
	f->nr_labels = nl;
	for (i = 0; i < nr; i++) {
		for (j = 0; j < nl; j++)
			vals[i * nl + j] = fb_strdup(fb, lv[i * nl + j]);
		es[i].label_values = &vals[i * nl];
		es[i].value = values[i];
		es[i].count = values[i] >= 0 ? (uint64_t)values[i] : 0;
	}
	f->series = es;
	f->nr_series = nr;
}

void fam_builder__add_simple(struct fam_builder *fb, const char *name, const char *help,
			     enum expo_type type, const char *label_name,
			     const char *const *label_values, const double *values, size_t nr)
{
	const char *names[1] = { label_name };

	fam_builder__add_labelled(fb, name, help, type, names, label_name ? 1 : 0,
				  label_values, values, nr);
}

void fam_builder__add_histogram(struct fam_builder *fb, const char *name, const char *help,
				const double *bounds, size_t nr_bounds, const uint64_t *buckets,
				uint64_t count, double sum)
{
	struct expo_family *f = fb_new(fb);
	struct expo_series *es = fb_calloc(fb, 1, sizeof(*es));
	const char **no_labels = fb_calloc(fb, 1, sizeof(*no_labels));
	double *b = fb_calloc(fb, nr_bounds, sizeof(*b));
	uint64_t *slots = fb_calloc(fb, nr_bounds + 1, sizeof(*slots));

	if (!f || !es || !no_labels || !b || !slots)
		return;
	memcpy(b, bounds, nr_bounds * sizeof(*b));
	memcpy(slots, buckets, (nr_bounds + 1) * sizeof(*slots));
	es->label_values = no_labels;
	es->buckets = slots;
	es->count = count;
	es->sum = sum;
	f->name = fb_strdup(fb, name);
	f->help = fb_strdup(fb, help);
	f->type = EXPO_HISTOGRAM;
	f->bounds = b;
	f->nr_bounds = nr_bounds;
	f->series = es;
	f->nr_series = 1;
}

void fam_builder__add_value(struct fam_builder *fb, const char *name, const char *help,
			    enum expo_type type, double value)
{
	fam_builder__add_simple(fb, name, help, type, NULL, NULL, &value, 1);
}
