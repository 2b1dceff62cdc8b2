// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * guard: per-metric and global series budgets, folding into __other__
 * (see guard.h and docs/BATCHING.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/guard.h"

struct guard_metric {
	unsigned int budget;
	unsigned int admitted;
	uint64_t folded_series;
	bool folding;
	enum guard_reason fold_reason;
	double growth;
	unsigned int samples[GUARD_GROWTH_SAMPLES];	/* admitted, ring like ts[] */
};

struct guard {
	unsigned int nr_metrics;
	unsigned int global_budget;
	unsigned int admitted;		/* ordinary series, all metrics */
	unsigned int others;		/* __other__ series created */
	uint64_t folded_series;
	bool ticked;
	uint64_t last_tick_ms;
	uint64_t ts[GUARD_GROWTH_SAMPLES];		/* sample times, ring */
	unsigned int nr_samples;
	unsigned int head;				/* the newest sample */
	struct guard_metric metrics[];
};

struct guard *guard__new(const unsigned int *budgets, unsigned int nr_metrics,
			 unsigned int global_budget)
{
	struct guard *g;
	unsigned int i;

	if ((nr_metrics && !budgets) || global_budget < nr_metrics)
		goto out_inval;
	for (i = 0; i < nr_metrics; i++)
		if (!budgets[i])
			goto out_inval;
	g = calloc(1, sizeof(*g) + (size_t)nr_metrics * sizeof(g->metrics[0]));
	if (!g) {
		errno = ENOMEM;
		return NULL;
	}
	g->nr_metrics = nr_metrics;
	g->global_budget = global_budget;
	for (i = 0; i < nr_metrics; i++)
		g->metrics[i].budget = budgets[i];
	return g;
out_inval:
	errno = EINVAL;
	return NULL;
}

void guard__free(struct guard *g)
{
	free(g);
}

/* Room for one more ordinary series, with the __other__ slots held back. */
static enum guard_reason room_for(const struct guard *g, const struct guard_metric *m)
{
	if (m->admitted + 1 >= m->budget)
		return GUARD_FOLD_METRIC_BUDGET;
	if (g->admitted + g->nr_metrics >= g->global_budget)
		return GUARD_FOLD_GLOBAL_BUDGET;
	return GUARD_ADMITTED;
}

static void fold(struct guard *g, struct guard_metric *m, enum guard_reason reason,
		 struct guard_verdict *v)
{
	v->fold = true;
	v->reason = reason;
	m->folded_series++;
	g->folded_series++;
	if (m->folding)
		return;
	m->folding = true;
	m->fold_reason = reason;
	g->others++;
	v->folding_started = true;
}

int guard__admit(struct guard *g, unsigned int metric, bool is_new, struct guard_verdict *v)
{
	struct guard_metric *m;
	enum guard_reason reason;

	if (!g || !v || metric >= g->nr_metrics)
		return -EINVAL;
	m = &g->metrics[metric];
	memset(v, 0, sizeof(*v));
	if (!is_new) {
		if (!m->folding)
			return -EINVAL;
		v->fold = true;
		v->reason = GUARD_FOLD_KNOWN;
		return 0;
	}
	reason = room_for(g, m);
	if (reason != GUARD_ADMITTED) {
		fold(g, m, reason, v);
		return 0;
	}
	m->admitted++;
	g->admitted++;
	v->reason = GUARD_ADMITTED;
	return 0;
}

static unsigned int ring_idx(const struct guard *g, unsigned int age)
{
	return (g->head + GUARD_GROWTH_SAMPLES - age) % GUARD_GROWTH_SAMPLES;
}

static void push_sample(struct guard *g, uint64_t now_ms)
{
	unsigned int i;

	if (g->nr_samples)
		g->head = (g->head + 1) % GUARD_GROWTH_SAMPLES;
	if (g->nr_samples < GUARD_GROWTH_SAMPLES)
		g->nr_samples++;
	g->ts[g->head] = now_ms;
	for (i = 0; i < g->nr_metrics; i++)
		g->metrics[i].samples[g->head] = g->metrics[i].admitted;
}

/* The newest sample at least a window old, else the oldest one. */
static unsigned int baseline(const struct guard *g, uint64_t now_ms)
{
	unsigned int age, idx;

	for (age = 0; age < g->nr_samples; age++) {
		idx = ring_idx(g, age);
		if (now_ms - g->ts[idx] >= GUARD_GROWTH_WINDOW_MS)
			return idx;
	}
	return ring_idx(g, g->nr_samples - 1);
}

int guard__tick(struct guard *g, uint64_t now_ms)
{
	struct guard_metric *m;
	unsigned int i, base;
	uint64_t span;

	if (!g || (g->ticked && now_ms < g->last_tick_ms))
		return -EINVAL;
	if (!g->nr_samples || now_ms - g->ts[g->head] >= GUARD_GROWTH_SPACING_MS)
		push_sample(g, now_ms);
	g->ticked = true;
	g->last_tick_ms = now_ms;
	base = baseline(g, now_ms);
	span = now_ms - g->ts[base];
	for (i = 0; i < g->nr_metrics; i++) {
		m = &g->metrics[i];
		m->growth = span ? (double)(m->admitted - m->samples[base]) *
				   GUARD_GROWTH_WINDOW_MS / (double)span : 0.0;
	}
	return 0;
}

int guard__metric_stats(const struct guard *g, unsigned int metric,
			struct guard_metric_stats *st)
{
	const struct guard_metric *m;

	if (!g || !st || metric >= g->nr_metrics)
		return -EINVAL;
	m = &g->metrics[metric];
	memset(st, 0, sizeof(*st));
	st->budget = m->budget;
	st->admitted = m->admitted;
	st->series = m->admitted + (m->folding ? 1 : 0);
	st->folded_series = m->folded_series;
	st->folding = m->folding;
	st->fold_reason = m->fold_reason;
	st->growth_per_minute = m->growth;
	return 0;
}

void guard__stats(const struct guard *g, struct guard_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->nr_metrics = g->nr_metrics;
	st->global_budget = g->global_budget;
	st->admitted = g->admitted;
	st->series = g->admitted + g->others;
	st->folded_series = g->folded_series;
	st->folding_metrics = g->others;
}

unsigned int guard__nr_metrics(const struct guard *g)
{
	return g->nr_metrics;
}

const char *guard_reason__str(enum guard_reason reason)
{
	switch (reason) {
	case GUARD_ADMITTED:
		return "admitted";
	case GUARD_FOLD_METRIC_BUDGET:
		return "metric_budget";
	case GUARD_FOLD_GLOBAL_BUDGET:
		return "global_budget";
	case GUARD_FOLD_KNOWN:
		return "known";
	}
	return "unknown";
}
