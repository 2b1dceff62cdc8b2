// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/channels.h"

struct chan_obs {
	uint64_t ts;
	double v;
};

struct chan {
	char *id;
	struct chan_obs *obs;		/* ring of max_points, oldest at head */
	unsigned int head, nr;
};

struct chan_set {
	struct chan_config cfg;
	struct chan *chans;
	unsigned int nr_chans;
	uint64_t *grid;			/* ring of max_points grid timestamps */
	unsigned int ghead, gnr;
	const char **ids;
};

void chan_config__init(struct chan_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->window_kind = CHAN_WINDOW_TIME;
	cfg->window_value = 60000;
	cfg->align = CHAN_ALIGN_SAMPLE_AND_HOLD;
	cfg->missing = CHAN_MISSING_DROP_INCOMPLETE;
	cfg->min_channels = 2;
	cfg->max_channels = 64;
	cfg->max_points = 4096;
}

int chan_config__parse_align(const char *s, enum chan_align *out)
{
	if (!strcmp(s, "sample-and-hold") || !strcmp(s, "SampleAndHold"))
		*out = CHAN_ALIGN_SAMPLE_AND_HOLD;
	else if (!strcmp(s, "nearest") || !strcmp(s, "Nearest"))
		*out = CHAN_ALIGN_NEAREST;
	else if (!strcmp(s, "linear") || !strcmp(s, "LinearInterpolation"))
		*out = CHAN_ALIGN_LINEAR;
	else
		return -EINVAL;
	return 0;
}

/* "drop-incomplete", "allow-partial:N" or "fill-last-known". */
int chan_config__parse_missing(const char *s, enum chan_missing *out, unsigned int *min_channels)
{
	unsigned int n;
	char tail;

	if (!strcmp(s, "drop-incomplete") || !strcmp(s, "DropIncomplete")) {
		*out = CHAN_MISSING_DROP_INCOMPLETE;
	} else if (!strcmp(s, "fill-last-known") || !strcmp(s, "FillWithLastKnown")) {
		*out = CHAN_MISSING_FILL_LAST_KNOWN;
	} else if (sscanf(s, "allow-partial:%u%c", &n, &tail) == 1 && n >= 1) {
		*out = CHAN_MISSING_ALLOW_PARTIAL;
		*min_channels = n;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* "60s", "1500ms", "5m" (time) or "600" (grid points). */
int chan_config__parse_window(const char *s, enum chan_window_kind *kind, uint64_t *value)
{
	unsigned long long v;
	char unit[4] = "";
	int n;

	n = sscanf(s, "%llu%3s", &v, unit);
	if (n < 1 || !v || s[0] == '-')
		return -EINVAL;
	if (n == 1) {
		*kind = CHAN_WINDOW_SAMPLES;
		*value = v;
		return 0;
	}
	*kind = CHAN_WINDOW_TIME;
	if (!strcmp(unit, "ms"))
		*value = v;
	else if (!strcmp(unit, "s"))
		*value = v * 1000;
	else if (!strcmp(unit, "m"))
		*value = v * 60000;
	else
		return -EINVAL;
	return 0;
}

struct chan_set *chan_set__new(const struct chan_config *cfg)
{
	struct chan_set *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	set->cfg = *cfg;
	if (!set->cfg.max_points)
		set->cfg.max_points = 4096;
	set->chans = calloc(cfg->max_channels ? cfg->max_channels : 1, sizeof(*set->chans));
	set->grid = calloc(set->cfg.max_points, sizeof(*set->grid));
	set->ids = calloc(cfg->max_channels + 1, sizeof(*set->ids));
	if (!set->chans || !set->grid || !set->ids) {
		chan_set__free(set);
		return NULL;
	}
	return set;
}

void chan_set__free(struct chan_set *set)
{
	unsigned int i;

	if (!set)
		return;
	for (i = 0; i < set->nr_chans; i++) {
		free(set->chans[i].id);
		free(set->chans[i].obs);
	}
	free(set->chans);
	free(set->grid);
	free(set->ids);
	free(set);
}

unsigned int chan_set__nr_channels(const struct chan_set *set)
{
	return set->nr_chans;
}

int chan_set__tick(struct chan_set *set, uint64_t ts_ms)
{
	unsigned int cap = set->cfg.max_points;

	if (set->gnr && ts_ms <= set->grid[(set->ghead + set->gnr - 1) % cap])
		return -EINVAL;	/* the grid only moves forward */
	if (set->gnr == cap) {
		set->ghead = (set->ghead + 1) % cap;
		set->gnr--;
	}
	set->grid[(set->ghead + set->gnr++) % cap] = ts_ms;
	return 0;
}

static struct chan *find_or_add(struct chan_set *set, const char *id)
{
	struct chan *c;
	unsigned int i;

	for (i = 0; i < set->nr_chans; i++)
		if (!strcmp(set->chans[i].id, id))
			return &set->chans[i];
	if (set->nr_chans == set->cfg.max_channels)
		return NULL;
	c = &set->chans[set->nr_chans];
	c->id = strdup(id);
	c->obs = calloc(set->cfg.max_points, sizeof(*c->obs));
	if (!c->id || !c->obs) {
		free(c->id);
		free(c->obs);
		memset(c, 0, sizeof(*c));
		return NULL;
	}
	set->nr_chans++;
	return c;
}

static struct chan_obs *obs_at(const struct chan_set *set, const struct chan *c, unsigned int i)
{
	return &c->obs[(c->head + i) % set->cfg.max_points];
}

int chan_set__observe(struct chan_set *set, const char *id, uint64_t ts_ms, double value)
{
	unsigned int cap = set->cfg.max_points;
	struct chan *c;
	struct chan_obs *last;

	if (!isfinite(value))
		return -EINVAL;
	c = find_or_add(set, id);
	if (!c)
		return set->nr_chans == set->cfg.max_channels ? -ENOSPC : -ENOMEM;
	if (c->nr) {
		last = obs_at(set, c, c->nr - 1);
		if (ts_ms < last->ts)
			return -EINVAL;
		if (ts_ms == last->ts) {
			last->v = value;
			return 0;
		}
	}
	if (c->nr == cap) {
		c->head = (c->head + 1) % cap;
		c->nr--;
	}
	*obs_at(set, c, c->nr++) = (struct chan_obs){ .ts = ts_ms, .v = value };
	return 0;
}

/* Index of the last observation with ts <= t, or -1. */
static int obs_floor(const struct chan_set *set, const struct chan *c, uint64_t t)
{
	int lo = 0, hi = (int)c->nr - 1, mid, best = -1;

	while (lo <= hi) {
		mid = lo + (hi - lo) / 2;
		if (obs_at(set, c, mid)->ts <= t) {
			best = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return best;
}

static bool align_one(const struct chan_set *set, const struct chan *c, uint64_t t, double *v)
{
	int i = obs_floor(set, c, t);
	const struct chan_obs *a, *b;

	if (set->cfg.align == CHAN_ALIGN_NEAREST && i + 1 < (int)c->nr) {
		b = obs_at(set, c, i + 1);
		if (i < 0 || b->ts - t < t - obs_at(set, c, i)->ts) {
			*v = b->v;
			return true;
		}
	}
	if (i < 0)
		return false;
	a = obs_at(set, c, i);
	*v = a->v;
	if (set->cfg.align == CHAN_ALIGN_LINEAR && i + 1 < (int)c->nr && a->ts != t) {
		b = obs_at(set, c, i + 1);
		*v = a->v + (b->v - a->v) * (double)(t - a->ts) / (double)(b->ts - a->ts);
	}
	return true;
}

/* First grid index (0-based from the oldest point) inside the window. */
static unsigned int window_start(const struct chan_set *set)
{
	unsigned int cap = set->cfg.max_points, i;
	uint64_t last;

	if (!set->gnr)
		return 0;
	if (set->cfg.window_kind == CHAN_WINDOW_SAMPLES)
		return set->gnr > set->cfg.window_value ? set->gnr - set->cfg.window_value : 0;
	last = set->grid[(set->ghead + set->gnr - 1) % cap];
	for (i = 0; i < set->gnr; i++)
		if (set->grid[(set->ghead + i) % cap] + set->cfg.window_value > last)
			break;
	return i;
}

struct grid_vals {
	unsigned int m;			/* grid points in the window */
	double *v;			/* nr_chans x m */
	bool *ok;			/* present */
};

static int align_all(const struct chan_set *set, struct grid_vals *g)
{
	unsigned int start = window_start(set), c, j, n = set->nr_chans;

	g->m = set->gnr - start;
	g->v = calloc((size_t)n * g->m + 1, sizeof(*g->v));
	g->ok = calloc((size_t)n * g->m + 1, sizeof(*g->ok));
	if (!g->v || !g->ok)
		return -ENOMEM;
	for (c = 0; c < n; c++)
		for (j = 0; j < g->m; j++) {
			uint64_t t = set->grid[(set->ghead + start + j) % set->cfg.max_points];

			g->ok[c * g->m + j] = align_one(set, &set->chans[c], t, &g->v[c * g->m + j]);
		}
	return 0;
}

static void fill_last_known(unsigned int n, struct grid_vals *g)
{
	unsigned int c, j;

	for (c = 0; c < n; c++)
		for (j = 1; j < g->m; j++)
			if (!g->ok[c * g->m + j] && g->ok[c * g->m + j - 1]) {
				g->v[c * g->m + j] = g->v[c * g->m + j - 1];
				g->ok[c * g->m + j] = true;
			}
}

static bool chan_complete(const struct grid_vals *g, unsigned int c)
{
	unsigned int j;

	for (j = 0; j < g->m; j++)
		if (!g->ok[c * g->m + j])
			return false;
	return true;
}

int chan_set__build(struct chan_set *set, struct chan_matrix *out)
{
	struct grid_vals g = {};
	bool *keep_chan = NULL, *keep_row = NULL;
	unsigned int n = set->nr_chans, c, j, k, r;
	int err;

	memset(out, 0, sizeof(*out));
	err = align_all(set, &g);
	if (err)
		goto out;
	if (set->cfg.missing == CHAN_MISSING_FILL_LAST_KNOWN)
		fill_last_known(n, &g);
	keep_chan = calloc(n + 1, sizeof(*keep_chan));
	keep_row = calloc(g.m + 1, sizeof(*keep_row));
	if (!keep_chan || !keep_row) {
		err = -ENOMEM;
		goto out;
	}
	for (c = 0; c < n; c++) {
		keep_chan[c] = set->cfg.missing != CHAN_MISSING_ALLOW_PARTIAL || chan_complete(&g, c);
		out->nr_dropped_channels += !keep_chan[c];
	}
	if (set->cfg.missing == CHAN_MISSING_ALLOW_PARTIAL &&
	    n - out->nr_dropped_channels < set->cfg.min_channels)
		memset(keep_chan, 0, n * sizeof(*keep_chan));
	for (j = 0; j < g.m; j++) {
		keep_row[j] = true;
		for (c = 0; c < n; c++)
			if (keep_chan[c] && !g.ok[c * g.m + j])
				keep_row[j] = false;
		out->nr_samples += keep_row[j];
	}
	for (c = 0; c < n; c++)
		out->nr_channels += keep_chan[c];
	out->samples = calloc((size_t)out->nr_channels * out->nr_samples + 1, sizeof(double));
	if (!out->samples) {
		err = -ENOMEM;
		goto out;
	}
	out->ids = set->ids;
	for (c = 0, k = 0; c < n; c++) {
		if (!keep_chan[c])
			continue;
		set->ids[k] = set->chans[c].id;
		for (j = 0, r = 0; j < g.m; j++)
			if (keep_row[j])
				out->samples[(size_t)k * out->nr_samples + r++] = g.v[c * g.m + j];
		k++;
	}
out:
	free(g.v);
	free(g.ok);
	free(keep_chan);
	free(keep_row);
	if (err)
		chan_matrix__free(out);
	return err;
}

void chan_matrix__free(struct chan_matrix *m)
{
	free(m->samples);
	memset(m, 0, sizeof(*m));
}
