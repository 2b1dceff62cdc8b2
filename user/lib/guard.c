// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * guard: admitted series under the budgets, and their growth per minute
 * (see guard.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "lib/guard.h"

struct guard_metric {
	unsigned int budget;
	unsigned int admitted;
	double growth;
	unsigned int samples[GUARD_GROWTH_SAMPLES];	/* admitted, ring like ts[] */
};

struct guard {
	unsigned int nr_metrics;
	unsigned int global_budget;
	unsigned int admitted;		/* all metrics */
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

/* Room for one more series, with the overflow series' slots held back. */
static bool has_room(const struct guard *g, const struct guard_metric *m)
{
	return m->admitted + 1 < m->budget && g->admitted + g->nr_metrics < g->global_budget;
}

bool guard__admit(struct guard *g, unsigned int metric)
{
	struct guard_metric *m;

	if (!g || metric >= g->nr_metrics)
		return false;
	m = &g->metrics[metric];
	if (!has_room(g, m))
		return false;
	m->admitted++;
	g->admitted++;
	return true;
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

	if (!g || (g->ticked && now_ms < g->last_tick_ms))
		return -EINVAL;
	if (!g->nr_samples || now_ms - g->ts[g->head] >= GUARD_GROWTH_SPACING_MS)
		push_sample(g, now_ms);
	g->ticked = true;
	g->last_tick_ms = now_ms;
	base = baseline(g, now_ms);
	for (i = 0; i < g->nr_metrics; i++) {
		m = &g->metrics[i];
		m->growth = (double)(m->admitted - m->samples[base]);
	}
	return 0;
}

double guard__growth(const struct guard *g, unsigned int metric)
{
	if (!g || metric >= g->nr_metrics)
		return 0;
	return g->metrics[metric].growth;
}
