// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/norm.h"
#include "lib/log.h"
#include "lib/norm.h"

struct norm_metric {
	const struct store_metric *m;	/* drain thread only */
	char *name;			/* its full name, for the HTTP thread */
	struct norm_collector *nc;
	char *csv_path;
};

struct agent_norm {
	struct agent_norm_opts o;
	struct norm_metric *v;
	unsigned int nr;
	double last_csv_s;
	pthread_mutex_t lock;		/* collectors: drain thread writes, HTTP reads */
};

/* The first normalization metric writes PATH, the others PATH-stem-<metric>.csv. */
char *agent_norm__csv_path(const char *base, unsigned int i, const char *metric)
{
	const char *dot = strrchr(base, '.'), *slash = strrchr(base, '/');
	char *s = NULL;
	int stem;

	if (!i)
		return strdup(base);
	if (!dot || (slash && dot < slash))
		dot = base + strlen(base);
	stem = dot - base;
	if (asprintf(&s, "%.*s-%s%s", stem, base, metric, dot) < 0)
		return NULL;
	return s;
}

static void norm_metric__free(struct norm_metric *nm)
{
	norm__free(nm->nc);
	free(nm->csv_path);
	free(nm->name);
}

/* One collector per normalization metric of @st; @old's go on for the same names. */
static int build(struct agent_norm *an, const struct store *st, struct norm_metric *old,
		 unsigned int nr_old, struct norm_metric **out, unsigned int *nr_out)
{
	struct norm_metric *v = calloc(st->nr_metrics + 1, sizeof(*v));
	unsigned int nr = 0, k;
	size_t i;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < st->nr_metrics; i++) {
		struct norm_metric *nm = &v[nr];

		if (st->metrics[i].kind != EMITD_KIND_NORMALIZATION)
			continue;
		nm->m = &st->metrics[i];
		for (k = 0; k < nr_old; k++)
			if (old[k].nc && !strcmp(old[k].name, nm->m->full_name))
				break;
		if (k < nr_old) {
			*nm = old[k];
			nm->m = &st->metrics[i];
			memset(&old[k], 0, sizeof(old[k]));
			nr++;
			continue;
		}
		nm->name = strdup(nm->m->full_name);
		nm->nc = norm__new(an->o.history_limit);
		if (an->o.csv_path)
			nm->csv_path = agent_norm__csv_path(an->o.csv_path, nr, nm->m->full_name);
		nr++;
		if (!nm->name || !nm->nc || (an->o.csv_path && !nm->csv_path))
			goto err;
	}
	*out = v;
	*nr_out = nr;
	return 0;
err:
	for (k = 0; k < nr; k++)
		norm_metric__free(&v[k]);
	free(v);
	return -ENOMEM;
}

int agent_norm__new(const struct store *st, const struct agent_norm_opts *o,
		    struct agent_norm **out)
{
	struct agent_norm *an = calloc(1, sizeof(*an));
	int err;

	if (!an)
		return -ENOMEM;
	an->o = *o;
	pthread_mutex_init(&an->lock, NULL);
	err = build(an, st, NULL, 0, &an->v, &an->nr);
	if (err) {
		agent_norm__free(an);
		return err;
	}
	*out = an;
	return 0;
}

int agent_norm__respec(struct agent_norm *an, const struct store *st)
{
	struct norm_metric *v, *old;
	unsigned int nr, nr_old, i;
	int err;

	pthread_mutex_lock(&an->lock);
	err = build(an, st, an->v, an->nr, &v, &nr);
	if (!err) {
		old = an->v;
		nr_old = an->nr;
		an->v = v;
		an->nr = nr;
	}
	pthread_mutex_unlock(&an->lock);
	if (err)
		return err;
	for (i = 0; i < nr_old; i++)
		norm_metric__free(&old[i]);
	free(old);
	return 0;
}

void agent_norm__free(struct agent_norm *an)
{
	unsigned int i;

	if (!an)
		return;
	for (i = 0; i < an->nr; i++)
		norm_metric__free(&an->v[i]);
	free(an->v);
	pthread_mutex_destroy(&an->lock);
	free(an);
}

static struct norm_metric *find(struct agent_norm *an, const struct store_metric *m)
{
	unsigned int i;

	for (i = 0; i < an->nr; i++)
		if (an->v[i].m == m)
			return &an->v[i];
	return NULL;
}

/* The context is the first label's value ("" for a metric without labels). */
static const char *context_of(const struct store_metric *m, const struct series *s)
{
	return m->spec->nr_labels ? s->labels[0] : "";
}

void agent_norm__record(struct agent_norm *an, const struct store_metric *m,
			const struct series *s, uint64_t ts_ms, double before, double after)
{
	struct norm_metric *nm = find(an, m);

	if (!nm)
		return;
	pthread_mutex_lock(&an->lock);
	norm__record(nm->nc, ts_ms, context_of(m, s), before, after);
	pthread_mutex_unlock(&an->lock);
}

void agent_norm__update(struct agent_norm *an)
{
	unsigned int i;
	size_t j;

	pthread_mutex_lock(&an->lock);
	for (i = 0; i < an->nr; i++) {
		const struct store_metric *m = an->v[i].m;

		for (j = 0; j < m->nr_series; j++)
			norm__set_counts(an->v[i].nc, context_of(m, m->series[j]),
					 m->series[j]->count, m->series[j]->zeroed);
	}
	pthread_mutex_unlock(&an->lock);
}

static void export_one(struct agent_norm *an, struct norm_metric *nm)
{
	struct norm_event *ev;
	unsigned int n;
	int err;

	n = norm__history_limit(nm->nc);
	ev = calloc(n + 1, sizeof(*ev));
	if (!ev)
		return;
	pthread_mutex_lock(&an->lock);
	err = norm__to_timeseries(nm->nc, ev, n);
	pthread_mutex_unlock(&an->lock);
	/* context pointers stay valid: only this thread adds contexts */
	if (err >= 0)
		err = norm__write_csv(ev, err, nm->csv_path);
	if (err < 0)
		log_warn("--norm-csv %s: %s", nm->csv_path, strerror(-err));
	free(ev);
}

void agent_norm__tick(struct agent_norm *an, double now_s)
{
	unsigned int i;

	if (!an->o.csv_path || now_s - an->last_csv_s < an->o.csv_interval_s)
		return;
	an->last_csv_s = now_s;
	for (i = 0; i < an->nr; i++)
		export_one(an, &an->v[i]);
}

int agent_norm__json(struct agent_norm *an, struct expo_buf *out)
{
	json_t *root = json_object(), *metrics = json_object(), *one;
	unsigned int i;
	char *text;
	int err = 0;

	if (!root || !metrics) {
		err = -ENOMEM;
		goto out;
	}
	json_object_set_new(root, "version", json_integer(1));
	pthread_mutex_lock(&an->lock);
	for (i = 0; i < an->nr && !err; i++) {
		err = norm__to_json_last(an->v[i].nc, an->o.json_last, &one);
		if (!err)
			err = json_object_set_new(metrics, an->v[i].name, one) ? -ENOMEM : 0;
	}
	pthread_mutex_unlock(&an->lock);
	json_object_set(root, "metrics", metrics);
	text = err ? NULL : json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2));
	if (!err && !text)
		err = -ENOMEM;
	if (!err)
		err = expo_buf__append(out, text, strlen(text));
	free(text);
out:
	json_decref(metrics);
	json_decref(root);
	return err;
}
