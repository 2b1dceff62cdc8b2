// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/drain.h"
#include "lib/guard.h"
#include "lib/log.h"
#include "lib/quantile.h"

static const double drain_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
};
#define NR_DRAIN_BOUNDS (sizeof(drain_bounds) / sizeof(drain_bounds[0]))

static const double trial_qs[] = { 0.5, 0.95, 0.99 };
static const char *const trial_q_names[] = { "0.5", "0.95", "0.99" };
#define NR_TRIAL_QS 3

#define LANE_WINDOW_MS 60000

struct trial {
	const struct store_metric *m;
	double *ring;			/* last `trial_window` raw observations */
	size_t head, nr;
	double deviation[NR_TRIAL_QS];
	bool valid;
};

struct agent_batch {
	struct agent_batch_opts o;
	struct collector *c;
	struct cadence cad;
	struct cadence_decision last;
	/* drain loop */
	uint64_t drain_slots[NR_DRAIN_BOUNDS + 1];
	uint64_t drain_count;
	double drain_sum;
	uint64_t events_at_last_drain;
	uint64_t last_increments;
	uint32_t shed_flags;
	/* lanes: the worst delay of the current and the previous minute */
	double lane_worst[COLLECTOR_LANE_MAX][2];
	uint64_t lane_window_ms;
	/* guard */
	struct guard *guard;
	size_t *admitted_seen;		/* per metric: admitted series fed to the guard */
	bool *fold_warned;
	/* trial mode */
	struct trial trials[AGENT_BATCH_MAX_TRIAL];
	size_t nr_trials;
};

void agent_batch_opts__init(struct agent_batch_opts *o)
{
	memset(o, 0, sizeof(*o));
	cadence_config__init(&o->cadence);
	o->drain_budget_s = 0.05;
	o->trial_window = 4096;
}

static int setup_trials(struct agent_batch *ab, struct store *st)
{
	size_t i, j;

	for (i = 0; i < ab->o.nr_trial; i++) {
		struct store_metric *m = NULL;

		for (j = 0; j < st->nr_metrics; j++)
			if (!strcmp(st->metrics[j].spec->name, ab->o.trial[i]) ||
			    !strcmp(st->metrics[j].full_name, ab->o.trial[i]))
				m = &st->metrics[j];
		if (!m || m->kind != EMITD_KIND_HISTOGRAM) {
			log_err("--hist-trial %s: no histogram of that name in the spec", ab->o.trial[i]);
			return -EINVAL;
		}
		m->trial = true;
		ab->trials[ab->nr_trials].m = m;
		ab->trials[ab->nr_trials].ring = calloc(ab->o.trial_window, sizeof(double));
		if (!ab->trials[ab->nr_trials++].ring)
			return -ENOMEM;
	}
	return 0;
}

static int setup_guard(struct agent_batch *ab, const struct store *st)
{
	unsigned int budgets[EMITD_MAX_METRICS];
	size_t i;

	for (i = 0; i < st->nr_metrics; i++)
		budgets[i] = st->metrics[i].spec->budget;
	ab->guard = guard__new(budgets, st->nr_metrics,
			       ab->c->spec->global_budget > st->nr_metrics ?
			       ab->c->spec->global_budget : st->nr_metrics);
	ab->admitted_seen = calloc(st->nr_metrics + 1, sizeof(*ab->admitted_seen));
	ab->fold_warned = calloc(st->nr_metrics + 1, sizeof(*ab->fold_warned));
	return ab->guard && ab->admitted_seen && ab->fold_warned ? 0 : -ENOMEM;
}

int agent_batch__new(const struct agent_batch_opts *o, struct collector *c, uint64_t now_ms,
		     struct agent_batch **out)
{
	struct agent_batch *ab = calloc(1, sizeof(*ab));
	char err[CADENCE_ERR_LEN] = "";
	int ret;

	if (!ab)
		return -ENOMEM;
	ab->o = *o;
	ab->c = c;
	ret = cadence_config__validate(&o->cadence, err, sizeof(err));
	if (!ret)
		ret = cadence__init(&ab->cad, &o->cadence, now_ms);
	if (ret) {
		log_err("drain cadence: %s", err[0] ? err : strerror(-ret));
		goto err;
	}
	ret = setup_trials(ab, &c->store);
	if (!ret)
		ret = setup_guard(ab, &c->store);
	if (ret)
		goto err;
	ab->lane_window_ms = now_ms;
	ab->events_at_last_drain = c->events_at_drain;
	ret = collector__set_wake(c, cadence__target(&ab->cad), true);
	if (ret)
		goto err;
	*out = ab;
	return 0;
err:
	agent_batch__free(ab);
	return ret;
}

void agent_batch__free(struct agent_batch *ab)
{
	size_t i;

	if (!ab)
		return;
	for (i = 0; i < ab->nr_trials; i++)
		free(ab->trials[i].ring);
	guard__free(ab->guard);
	free(ab->admitted_seen);
	free(ab->fold_warned);
	free(ab);
}

bool agent_batch__wants_samples(const struct agent_batch *ab, const struct store_metric *m)
{
	size_t i;

	for (i = 0; ab && i < ab->nr_trials; i++)
		if (ab->trials[i].m == m)
			return true;
	return false;
}

void agent_batch__on_sample(struct agent_batch *ab, const struct store_metric *m, double v)
{
	struct trial *t;
	size_t i;

	for (i = 0; i < ab->nr_trials; i++) {
		t = &ab->trials[i];
		if (t->m != m)
			continue;
		t->ring[(t->head + t->nr) % ab->o.trial_window] = v;
		if (t->nr < ab->o.trial_window)
			t->nr++;
		else
			t->head = (t->head + 1) % ab->o.trial_window;
	}
}

double agent_batch__budget_s(const struct agent_batch *ab)
{
	return ab->o.drain_budget_s;
}

bool agent_batch__due(struct agent_batch *ab, uint64_t now_ms, int *timeout_ms)
{
	struct cadence_obs obs = { .now_ms = now_ms };
	struct collector *c = ab->c;

	obs.pending = collector__pending(c);
	obs.events = c->events_total;
	obs.max_fill = collector__ring_fill(c);	/* the backlog the drain empties */
	if (cadence__observe(&ab->cad, &obs) || cadence__decide(&ab->cad, now_ms, &ab->last)) {
		*timeout_ms = 10;
		return true;
	}
	*timeout_ms = ab->last.timeout_ms > 60000 ? 60000 : (int)ab->last.timeout_ms;
	if (!ab->last.drain && c->woken) {
		/*
		 * A CPU reached its share before the whole target arrived: wait
		 * for the rest on any single CPU, so one busy CPU wakes us at
		 * most twice per drain.
		 */
		uint64_t target = cadence__target(&ab->cad);
		/* a wake left over from the previous arming: spread again */
		bool stale = obs.pending * c->ncpus < target;

		collector__set_wake(c, target > obs.pending ? target - obs.pending : 1, stale);
	}
	return ab->last.drain;
}

static void observe_drain_time(struct agent_batch *ab, double s)
{
	size_t i;

	for (i = 0; i < NR_DRAIN_BOUNDS && s > drain_bounds[i]; i++)
		;
	ab->drain_slots[i]++;
	ab->drain_count++;
	ab->drain_sum += s;
}

static void observe_lanes(struct agent_batch *ab, uint64_t now_ms)
{
	int l;

	if (now_ms - ab->lane_window_ms >= LANE_WINDOW_MS) {
		for (l = 0; l < COLLECTOR_LANE_MAX; l++) {
			ab->lane_worst[l][1] = ab->lane_worst[l][0];
			ab->lane_worst[l][0] = 0;
		}
		ab->lane_window_ms = now_ms;
	}
	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		if (ab->c->lane_delay_s[l] > ab->lane_worst[l][0])
			ab->lane_worst[l][0] = ab->c->lane_delay_s[l];
}

/* Feed newly admitted series to the guard; warn once when a metric folds. */
static void observe_guard(struct agent_batch *ab, uint64_t now_ms)
{
	const struct store *st = &ab->c->store;
	struct guard_verdict v;
	size_t i, j, admitted;

	for (i = 0; i < st->nr_metrics; i++) {
		const struct store_metric *m = &st->metrics[i];

		for (j = 0, admitted = 0; j < m->nr_series; j++)
			admitted += !(m->series[j]->key.flags & EMITD_KEY_OTHER);
		for (; ab->admitted_seen[i] < admitted; ab->admitted_seen[i]++)
			guard__admit(ab->guard, i, true, &v);
		if (!ab->fold_warned[i] && ab->c->series_count[i].folded_events) {
			ab->fold_warned[i] = true;
			log_warn("metric %s reached its series budget (%u): new series now fold into %s=\"__other__\"",
				 m->full_name, m->spec->budget,
				 m->spec->nr_labels ? m->spec->labels[0].name : "labels");
		}
	}
	guard__tick(ab->guard, now_ms);
}

/*
 * p50/p95/p99 of the window twice: from the raw values, and as Prometheus
 * would estimate them from the metric's buckets filled with the same values.
 */
static int trial_deviation(struct trial *t, size_t window)
{
	const struct spec_buckets *b = &t->m->spec->buckets;
	size_t nb = b->nr_bounds + 1, k;
	double raw[NR_TRIAL_QS], est, *vals, *ub;
	uint64_t *cum;
	int err = -ENOMEM;

	vals = malloc(t->nr * sizeof(*vals));
	ub = malloc(nb * sizeof(*ub));
	cum = calloc(nb, sizeof(*cum));
	if (!vals || !ub || !cum)
		goto out;
	for (k = 0; k < t->nr; k++)
		vals[k] = t->ring[(t->head + k) % window];
	memcpy(ub, b->bounds, b->nr_bounds * sizeof(*ub));
	ub[b->nr_bounds] = INFINITY;
	err = quantile__exact(vals, t->nr, trial_qs, NR_TRIAL_QS, raw);
	if (!err)
		err = quantile__bucketize(vals, t->nr, ub, nb, cum);
	for (k = 0; !err && k < NR_TRIAL_QS; k++) {
		err = quantile__histogram(trial_qs[k], ub, cum, nb, &est);
		t->deviation[k] = quantile__deviation(est, raw[k]);
	}
out:
	free(vals);
	free(ub);
	free(cum);
	return err;
}

static void compute_trials(struct agent_batch *ab)
{
	size_t i;

	for (i = 0; i < ab->nr_trials; i++) {
		struct trial *t = &ab->trials[i];

		t->valid = t->nr >= 2 && !trial_deviation(t, ab->o.trial_window);
	}
}

int agent_batch__drained(struct agent_batch *ab, uint64_t now_ms, double seconds)
{
	struct collector *c = ab->c;
	uint32_t shed;
	int err;

	ab->last_increments = c->events_at_drain - ab->events_at_last_drain;
	ab->events_at_last_drain = c->events_at_drain;
	observe_drain_time(ab, seconds);
	observe_lanes(ab, now_ms);
	observe_guard(ab, now_ms);
	compute_trials(ab);
	err = cadence__drained(&ab->cad, now_ms, ab->last_increments);
	if (err)
		return err;
	err = collector__set_wake(c, cadence__target(&ab->cad), true);
	if (err)
		return err;
	shed = cadence__shedding(&ab->cad) ? EMITD_SHED_SAMPLES | EMITD_SHED_NEW_SERIES : 0;
	if (shed != ab->shed_flags) {
		log_warn("backpressure: %s shedding of non-hot sample-lane records and new series",
			 shed ? "starting" : "stopping");
		err = collector__set_shed(c, shed);
		ab->shed_flags = shed;
	}
	return err;
}

static void add_drain_histogram(struct agent_batch *ab, struct fam_builder *fb)
{
	static const char *const no_labels[1];
	struct expo_series es = {
		.label_values = no_labels,
		.buckets = ab->drain_slots,
		.count = ab->drain_count,
		.sum = ab->drain_sum,
	};
	struct expo_family f = {
		.name = "emitd_drain_duration_seconds",
		.help = "Wall time of each drain of the BPF maps.",
		.type = EXPO_HISTOGRAM,
		.bounds = drain_bounds,
		.nr_bounds = NR_DRAIN_BOUNDS,
		.series = &es,
		.nr_series = 1,
	};

	fam_builder__add_family(fb, &f);
}

static void add_cadence_metrics(struct agent_batch *ab, struct fam_builder *fb)
{
	static const char *const modes[] = { "normal", "aggressive" };
	static const char *const reasons[] = { "sample_lane", "new_series" };
	struct cadence_stats st;
	double mode[2], shed[2];

	cadence__stats(&ab->cad, &st);
	add_drain_histogram(ab, fb);
	fam_builder__add_value(fb, "emitd_drain_increments", "Events the last drain took in.", EXPO_GAUGE,
		ab->last_increments);
	fam_builder__add_value(fb, "emitd_drain_adaptive_target",
		"Events to wait for before the next drain: clamp(rate x target interval, min, max).",
		EXPO_GAUGE, st.target);
	fam_builder__add_value(fb, "emitd_drain_pending", "Events since the last drain, at the last look.",
		EXPO_GAUGE, st.pending);
	fam_builder__add_value(fb, "emitd_drain_rate_events_per_second", "EWMA of the event rate.", EXPO_GAUGE,
		st.rate);
	fam_builder__add_value(fb, "emitd_drain_backpressure_events_total",
		"Backpressure episodes: pending or ring fill above the high watermark.",
		EXPO_COUNTER, st.backpressure_events);
	mode[0] = st.mode == CADENCE_NORMAL;
	mode[1] = st.mode == CADENCE_AGGRESSIVE;
	fam_builder__add_simple(fb, "emitd_drain_mode", "1 for the current drain mode.",
				EXPO_GAUGE, "mode", modes, mode, 2);
	fam_builder__add_value(fb, "emitd_drain_shedding", "1 while non-hot work is shed.", EXPO_GAUGE,
		st.shedding);
	shed[0] = ab->c->stats[EMITD_STAT_SHED_SAMPLES];
	shed[1] = ab->c->stats[EMITD_STAT_SHED_NEW_SERIES];
	fam_builder__add_simple(fb, "emitd_drain_shed_total",
				"Events shed in the kernel under backpressure, by what was shed.",
				EXPO_COUNTER, "reason", reasons, shed, 2);
	fam_builder__add_value(fb, "emitd_drain_wakeups_total",
		"Times the kernel woke the agent because pending reached the target.",
		EXPO_COUNTER, ab->c->wakeups);
	fam_builder__add_value(fb, "emitd_drain_wakeups_dropped_total",
		"Wake-ups the kernel could not send (full wake ring); the max interval covers them.",
		EXPO_COUNTER, ab->c->stats[EMITD_STAT_WAKE_DROPPED]);
	fam_builder__add_value(fb, "emitd_ringbuf_fill_ratio", "Sample ring buffer fill at the last drain.",
		EXPO_GAUGE, collector__ring_fill(ab->c));
}

static void add_lane_metrics(struct agent_batch *ab, struct fam_builder *fb)
{
	const char *lanes[COLLECTOR_LANE_MAX];
	double worst[COLLECTOR_LANE_MAX];
	int l;

	for (l = 0; l < COLLECTOR_LANE_MAX; l++) {
		lanes[l] = collector_lane__name(l);
		worst[l] = fmax(ab->lane_worst[l][0], ab->lane_worst[l][1]);
	}
	fam_builder__add_simple(fb, "emitd_drain_lane_delay_seconds",
				"Worst time between two drains of a lane over the last one to two minutes.",
				EXPO_GAUGE, "lane", lanes, worst, COLLECTOR_LANE_MAX);
	fam_builder__add_value(fb, "emitd_drain_lane_deferrals_total",
		"Normal-lane drains put off to the next cycle because the drain budget was spent.",
		EXPO_COUNTER, ab->c->lane_deferrals);
}

static void add_guard_metrics(struct agent_batch *ab, struct fam_builder *fb)
{
	const struct store *st = &ab->c->store;
	size_t n = st->nr_metrics, i;
	const char **names = calloc(n + 1, sizeof(*names));
	double *series = calloc(n + 1, sizeof(double)), *budget = calloc(n + 1, sizeof(double));
	double *folded = calloc(n + 1, sizeof(double)), *events = calloc(n + 1, sizeof(double));
	double *growth = calloc(n + 1, sizeof(double));
	struct guard_metric_stats gs;

	if (!names || !series || !budget || !folded || !events || !growth) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		names[i] = st->metrics[i].full_name;
		series[i] = st->metrics[i].nr_series;
		budget[i] = st->metrics[i].spec->budget;
		folded[i] = ab->c->series_count[i].folded_series;
		events[i] = ab->c->series_count[i].folded_events;
		if (!guard__metric_stats(ab->guard, i, &gs))
			growth[i] = gs.growth_per_minute;
	}
	fam_builder__add_simple(fb, "emitd_cardinality_series", "Series of each metric, __other__ included.",
				EXPO_GAUGE, "metric", names, series, n);
	fam_builder__add_simple(fb, "emitd_cardinality_budget", "Series budget of each metric (spec).",
				EXPO_GAUGE, "metric", names, budget, n);
	fam_builder__add_simple(fb, "emitd_cardinality_folded_series",
				"Distinct series folded into __other__ (counted in the kernel; exact up to 16384 folded series, after which a series evicted from the LRU of folded keys may be counted again).",
				EXPO_GAUGE, "metric", names, folded, n);
	fam_builder__add_simple(fb, "emitd_cardinality_folded_events_total",
				"Events that went to __other__ because their series was over budget.",
				EXPO_COUNTER, "metric", names, events, n);
	fam_builder__add_simple(fb, "emitd_cardinality_growth_per_minute",
				"New series admitted per minute (1-minute sliding difference).",
				EXPO_GAUGE, "metric", names, growth, n);
out:
	free(names);
	free(series);
	free(budget);
	free(folded);
	free(events);
	free(growth);
}

static void add_trial_metrics(struct agent_batch *ab, struct fam_builder *fb)
{
	const char *names[] = { "metric", "quantile" };
	const char *lv[AGENT_BATCH_MAX_TRIAL * NR_TRIAL_QS * 2];
	double v[AGENT_BATCH_MAX_TRIAL * NR_TRIAL_QS];
	size_t i, k, n = 0;

	for (i = 0; i < ab->nr_trials; i++) {
		if (!ab->trials[i].valid)
			continue;
		for (k = 0; k < NR_TRIAL_QS; k++) {
			lv[n * 2] = ab->trials[i].m->full_name;
			lv[n * 2 + 1] = trial_q_names[k];
			v[n++] = ab->trials[i].deviation[k];
		}
	}
	fam_builder__add_labelled(fb, "emitd_hist_quantile_deviation",
				  "Trial mode: |bucket estimate - raw quantile| / |raw quantile| over the window.",
				  EXPO_GAUGE, names, 2, lv, v, n);
}

void agent_batch__add_metrics(struct agent_batch *ab, struct fam_builder *fb)
{
	if (!ab)
		return;
	add_cadence_metrics(ab, fb);
	add_lane_metrics(ab, fb);
	add_guard_metrics(ab, fb);
	add_trial_metrics(ab, fb);
}
