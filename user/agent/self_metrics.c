// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's own families, in the order of the exposition. Names, types,
 * help and label names come from the table (lib/self_metrics.c); the
 * values from the copies the caller took.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/self_metrics.h"
#include "lib/build_info.h"

void self_metrics__add(struct fam_builder *fb, enum self_metric_id id,
		       const char *const *lv, const double *values, size_t nr)
{
	const struct self_metric *m = self_metrics__get(id);

	if (!m) {
		fb->err = fb->err ?: -EINVAL;
		return;
	}
	fam_builder__add_labelled(fb, m->name, m->help, m->type, m->labels,
				  self_metric__nr_labels(m), lv, values, nr);
}

void self_metrics__add_value(struct fam_builder *fb, enum self_metric_id id, double value)
{
	self_metrics__add(fb, id, NULL, &value, 1);
}

/* The name /metrics exports @m under (namespace_name): the `metric` label of every family. */
static const char *exported_name(const struct store *st, const struct spec_metric *m)
{
	size_t i;

	for (i = 0; i < st->nr_metrics; i++)
		if (st->metrics[i].spec == m)
			return st->metrics[i].full_name;
	return m->name;
}

void self_metrics__add_build(struct fam_builder *fb, const char *libbpf_version,
			     double start_time_s)
{
	const char *lv[] = { build_info__version(), build_info__revision(), libbpf_version };
	double one = 1;

	self_metrics__add(fb, SELF_BUILD_INFO, lv, &one, 1);
	self_metrics__add_value(fb, SELF_START_TIME_SECONDS, start_time_s);
}

/* The spec the agent runs, hashed as gen hashes it (spec/hash.h). */
static void add_spec_info(struct fam_builder *fb, const struct store *st)
{
	const char *lv[] = { st->spec_namespace, st->spec_sha256 };
	double one = 1;

	self_metrics__add(fb, SELF_SPEC_INFO, lv, &one, 1);
}

/* One row per attached site: the probe, where it is and its site kind. */
static void add_site_info(struct fam_builder *fb, const struct store *st,
			  const struct collector_stats *cs)
{
	size_t n = cs->nr_probes, i;
	const char **lv = calloc(n * 5 + 1, sizeof(*lv));
	char (*offs)[24] = calloc(n + 1, sizeof(*offs));
	char **bins = calloc(n + 1, sizeof(*bins));
	double *one = calloc(n + 1, sizeof(*one));

	if (!lv || !offs || !bins || !one) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct collector_probe *p = &cs->probes[i];

		snprintf(offs[i], sizeof(offs[i]), "0x%llx",
			 (unsigned long long)p->site.file_offset);
		/* a link kept on a replaced binary: the same path, another inode */
		if (p->retained && asprintf(&bins[i], "%s (replaced, inode %llu)", p->binary,
					    (unsigned long long)p->ident.ino) < 0) {
			bins[i] = NULL;
			fb->err = -ENOMEM;
			goto out;
		}
		lv[i * 5] = p->name;
		lv[i * 5 + 1] = exported_name(st, p->metric);
		lv[i * 5 + 2] = bins[i] ? bins[i] : p->binary;
		lv[i * 5 + 3] = offs[i];
		lv[i * 5 + 4] = site_kind__name(p->site.kind);
		one[i] = 1;
	}
	self_metrics__add(fb, SELF_PROBE_SITE_INFO, lv, one, n);
out:
	for (i = 0; bins && i < n; i++)
		free(bins[i]);
	free(bins);
	free(lv);
	free(offs);
	free(one);
}

static char *spec_probe_name(const struct spec_probe *sp)
{
	char *s = NULL;

	if (sp->kind == SPEC_PROBE_UPROBE)
		return strdup(sp->symbol);
	return asprintf(&s, "%s:%s", sp->provider, sp->name) < 0 ? NULL : s;
}

/* 1 per probe of the spec that has a link, 0 for one that has none. */
static void add_probe_attached(struct fam_builder *fb, const struct store *st,
			       const struct collector_stats *cs)
{
	size_t n = st->nr_metrics, nr = 0, i, j;
	char **names = calloc(n + 1, sizeof(*names));
	double *up = calloc(n + 1, sizeof(*up));

	if (!names || !up) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct spec_metric *m = st->metrics[i].spec;
		char *name = spec_probe_name(&m->probe);
		bool attached = false;

		if (!name) {
			fb->err = -ENOMEM;
			goto out;
		}
		for (j = 0; j < cs->nr_probes && !attached; j++)
			attached = cs->probes[j].metric == m && cs->probes[j].attached;
		for (j = 0; j < cs->nr_failed && attached; j++)	/* for one pid, one site */
			attached = cs->failed[j].metric_idx != i;
		for (j = 0; j < nr && strcmp(names[j], name); j++)
			;
		if (j < nr) {		/* a probe of several metrics: attached when all are */
			up[j] = up[j] && attached;
			free(name);
			continue;
		}
		names[nr] = name;
		up[nr++] = attached;
	}
	self_metrics__add(fb, SELF_PROBE_ATTACHED, (const char *const *)names, up, nr);
out:
	for (i = 0; names && i < nr; i++)
		free(names[i]);
	free(names);
	free(up);
}

/* Hits per probe, summed over its sites and PIDs. */
static void add_probe_hits(struct fam_builder *fb, const struct store *st,
			   const struct collector_stats *cs)
{
	size_t n = st->nr_metrics, i, j;
	const char **lv = calloc(n * 2 + 1, sizeof(*lv));
	double *hits = calloc(n + 1, sizeof(*hits));

	if (!lv || !hits) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct spec_metric *m = st->metrics[i].spec;

		lv[i * 2 + 1] = st->metrics[i].full_name;
		lv[i * 2] = "";
		for (j = 0; j < cs->nr_probes; j++) {
			if (cs->probes[j].metric != m)
				continue;
			lv[i * 2] = cs->probes[j].name;
			hits[i] += cs->hits[cs->probes[j].cfg_id];
		}
	}
	self_metrics__add(fb, SELF_PROBE_HITS_TOTAL, lv, hits, n);
out:
	free(lv);
	free(hits);
}

static void add_map_metrics(struct fam_builder *fb, const struct collector_stats *cs)
{
	static const int full_stat[COLLECTOR_MAP_MAX] = {
		EMITD_STAT_FULL_COUNTERS, EMITD_STAT_FULL_GAUGES,
		EMITD_STAT_FULL_HISTS, EMITD_STAT_FULL_NORMS,
	};
	const char *maps[COLLECTOR_MAP_MAX];
	double drops[COLLECTOR_MAP_MAX], fill[COLLECTOR_MAP_MAX], entries[COLLECTOR_MAP_MAX];
	int m;

	for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
		uint64_t n = cs->map_entries[COLLECTOR_LANE_NORMAL][m] +
			     cs->map_entries[COLLECTOR_LANE_HOT][m];
		uint64_t cap = cs->map_max[COLLECTOR_LANE_NORMAL][m] +
			       cs->map_max[COLLECTOR_LANE_HOT][m];

		maps[m] = collector_map__name(m);
		drops[m] = cs->stats[full_stat[m]];
		entries[m] = n;
		fill[m] = cap ? (double)n / cap : 0;
	}
	self_metrics__add(fb, SELF_MAP_FULL_DROPS_TOTAL, maps, drops, COLLECTOR_MAP_MAX);
	self_metrics__add(fb, SELF_MAP_ENTRIES, maps, entries, COLLECTOR_MAP_MAX);
	self_metrics__add(fb, SELF_MAP_FILL_RATIO, maps, fill, COLLECTOR_MAP_MAX);
}

static void add_kernel_stats(struct fam_builder *fb, const struct collector_stats *cs)
{
	const char *what[] = { "value", "label", "label_deferred_lost", "config", "handler" };
	double errs[] = {
		cs->stats[EMITD_STAT_READ_ERROR], cs->stats[EMITD_STAT_LABEL_ERROR],
		cs->stats[EMITD_STAT_LABEL_DEFERRED_LOST] + cs->replay_failures,
		cs->stats[EMITD_STAT_NO_CONFIG], cs->stats[EMITD_STAT_NO_PROGRAM],
	};
	const char *why[] = { "process", "cgroup", "comm" };
	double filtered[] = {
		cs->stats[EMITD_STAT_FILTERED_PROCESS], cs->stats[EMITD_STAT_FILTERED_CGROUP],
		cs->stats[EMITD_STAT_FILTERED_COMM],
	};
	double events = 0;
	size_t i;

	for (i = 0; i < EMITD_MAX_PROBES; i++)
		events += cs->hits[i];
	self_metrics__add_value(fb, SELF_EVENTS_TOTAL, events);
	self_metrics__add(fb, SELF_PROBE_READ_ERRORS_TOTAL, what, errs, 5);
	self_metrics__add_value(fb, SELF_LABEL_TRUNCATED_TOTAL,
				cs->stats[EMITD_STAT_LABEL_TRUNCATED]);
	self_metrics__add_value(fb, SELF_LABEL_DEFERRED_TOTAL,
				cs->stats[EMITD_STAT_LABEL_DEFERRED]);
	self_metrics__add_value(fb, SELF_LABEL_REPLAYED_TOTAL,
				cs->stats[EMITD_STAT_LABEL_REPLAYED]);
	self_metrics__add(fb, SELF_EVENTS_FILTERED_TOTAL, why, filtered, 3);
	self_metrics__add_value(fb, SELF_FOLLOW_DROPPED_TOTAL, cs->stats[EMITD_STAT_FOLLOW_FULL]);
	self_metrics__add_value(fb, SELF_RINGBUF_DROPPED_TOTAL,
				cs->stats[EMITD_STAT_RINGBUF_DROPPED]);
	self_metrics__add_value(fb, SELF_SAMPLE_LANE_RECORDS_TOTAL, cs->samples_seen);
	self_metrics__add_value(fb, SELF_ORPHAN_SERIES, cs->orphans);
}

static void add_drain_and_scrapes(struct fam_builder *fb, const struct collector_stats *cs,
				  const struct http_stats *hs)
{
	static const char *const idle_reasons[] = { "timeout", "watermark" };
	const double idle[] = { hs->idle_timeouts, hs->idle_reaped };

	self_metrics__add_value(fb, SELF_DRAINS_TOTAL, cs->drains);
	self_metrics__add_value(fb, SELF_DRAIN_LAST_DURATION_SECONDS, cs->last_drain_seconds);
	self_metrics__add_value(fb, SELF_DRAIN_BATCH_FALLBACKS_TOTAL, cs->batch_fallbacks);
	self_metrics__add_value(fb, SELF_SCRAPES_TOTAL, hs->scrapes);
	self_metrics__add_value(fb, SELF_SCRAPE_BYTES_TOTAL, hs->scrape_bytes);
	self_metrics__add_value(fb, SELF_SCRAPE_DURATION_SECONDS, hs->last_scrape_seconds);
	self_metrics__add_value(fb, SELF_HTTP_DEADLINE_DROPS_TOTAL, hs->deadline_drops);
	self_metrics__add(fb, SELF_HTTP_IDLE_CLOSED_TOTAL, idle_reasons, idle, 2);
}

void self_metrics__add_targets(struct fam_builder *fb, const struct watch_target *t, size_t nr)
{
	const char **lv = calloc(nr + 1, sizeof(*lv));
	double *up = calloc(nr + 1, sizeof(*up));
	size_t i;

	if (!lv || !up) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		lv[i] = t[i].name;
		up[i] = t[i].up;
	}
	self_metrics__add(fb, SELF_TARGET_UP, lv, up, nr);
out:
	free(lv);
	free(up);
}

void self_metrics__add_collector(struct fam_builder *fb, const struct store *st,
				 const struct collector_stats *cs, const struct http_stats *hs)
{
	add_spec_info(fb, st);
	add_site_info(fb, st, cs);
	add_probe_attached(fb, st, cs);
	add_probe_hits(fb, st, cs);
	add_map_metrics(fb, cs);
	add_kernel_stats(fb, cs);
	add_drain_and_scrapes(fb, cs, hs);
}

static void add_drain_histogram(struct fam_builder *fb, const struct agent_batch_stats *bs)
{
	const struct self_metric *m = self_metrics__get(SELF_DRAIN_DURATION_SECONDS);

	fam_builder__add_histogram(fb, m->name, m->help, bs->drain_bounds,
				   AGENT_BATCH_NR_DRAIN_BOUNDS, bs->drain_slots, bs->drain_count,
				   bs->drain_sum);
}

static void add_cadence_metrics(struct fam_builder *fb, const struct collector_stats *cs,
				const struct agent_batch_stats *bs)
{
	static const char *const modes[] = { "normal", "aggressive" };
	static const char *const reasons[] = { "sample_lane", "new_series" };
	const struct cadence_stats *st = &bs->cadence;
	double mode[2], shed[2];

	add_drain_histogram(fb, bs);
	self_metrics__add_value(fb, SELF_DRAIN_INCREMENTS, bs->last_increments);
	self_metrics__add_value(fb, SELF_DRAIN_ADAPTIVE_TARGET, st->target);
	self_metrics__add_value(fb, SELF_DRAIN_PENDING, st->pending);
	self_metrics__add_value(fb, SELF_DRAIN_RATE_EVENTS_PER_SECOND, st->rate);
	self_metrics__add_value(fb, SELF_DRAIN_BACKPRESSURE_EVENTS_TOTAL, st->backpressure_events);
	mode[0] = st->mode == CADENCE_NORMAL;
	mode[1] = st->mode == CADENCE_AGGRESSIVE;
	self_metrics__add(fb, SELF_DRAIN_MODE, modes, mode, 2);
	self_metrics__add_value(fb, SELF_DRAIN_SHEDDING, st->shedding);
	shed[0] = cs->stats[EMITD_STAT_SHED_SAMPLES];
	shed[1] = cs->stats[EMITD_STAT_SHED_NEW_SERIES];
	self_metrics__add(fb, SELF_DRAIN_SHED_TOTAL, reasons, shed, 2);
	self_metrics__add_value(fb, SELF_DRAIN_WAKEUPS_TOTAL, cs->wakeups);
	self_metrics__add_value(fb, SELF_DRAIN_WAKEUPS_DROPPED_TOTAL,
				cs->stats[EMITD_STAT_WAKE_DROPPED]);
	self_metrics__add_value(fb, SELF_RINGBUF_FILL_RATIO, cs->ring_fill);
}

static void add_lane_metrics(struct fam_builder *fb, const struct collector_stats *cs,
			     const struct agent_batch_stats *bs)
{
	const char *lanes[COLLECTOR_LANE_MAX];
	int l;

	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		lanes[l] = collector_lane__name(l);
	self_metrics__add(fb, SELF_DRAIN_LANE_DELAY_SECONDS, lanes, bs->lane_worst_s,
			  COLLECTOR_LANE_MAX);
	self_metrics__add_value(fb, SELF_DRAIN_LANE_DEFERRALS_TOTAL, cs->lane_deferrals);
}

static void add_guard_metrics(struct fam_builder *fb, const struct store *st,
			      const struct collector_stats *cs, const struct agent_batch_stats *bs)
{
	size_t n = st->nr_metrics, i;
	const char **names = calloc(n + 1, sizeof(*names));
	double *series = calloc(n + 1, sizeof(double)), *budget = calloc(n + 1, sizeof(double));
	double *folded = calloc(n + 1, sizeof(double)), *events = calloc(n + 1, sizeof(double));

	if (!names || !series || !budget || !folded || !events) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		names[i] = st->metrics[i].full_name;
		series[i] = st->metrics[i].nr_series;
		budget[i] = st->metrics[i].spec->budget;
		folded[i] = cs->series_count[i].folded_series;
		events[i] = cs->series_count[i].folded_events;
	}
	self_metrics__add(fb, SELF_CARDINALITY_SERIES, names, series, n);
	self_metrics__add(fb, SELF_CARDINALITY_BUDGET, names, budget, n);
	self_metrics__add(fb, SELF_CARDINALITY_FOLDED_SERIES, names, folded, n);
	self_metrics__add(fb, SELF_CARDINALITY_FOLDED_EVENTS_TOTAL, names, events, n);
	self_metrics__add(fb, SELF_CARDINALITY_GROWTH_PER_MINUTE, names, bs->growth_per_minute, n);
out:
	free(names);
	free(series);
	free(budget);
	free(folded);
	free(events);
}

static void add_trial_metrics(struct fam_builder *fb, const struct store *st,
			      const struct agent_batch_stats *bs)
{
	const char *lv[AGENT_BATCH_MAX_TRIAL * AGENT_BATCH_NR_TRIAL_QS * 2];
	double v[AGENT_BATCH_MAX_TRIAL * AGENT_BATCH_NR_TRIAL_QS];
	size_t i, k, n = 0;

	for (i = 0; i < bs->nr_trials; i++) {
		const struct agent_batch_trial_stats *t = &bs->trials[i];

		if (!t->valid)
			continue;
		for (k = 0; k < AGENT_BATCH_NR_TRIAL_QS; k++) {
			lv[n * 2] = st->metrics[t->metric_idx].full_name;
			lv[n * 2 + 1] = bs->trial_quantiles[k];
			v[n++] = t->deviation[k];
		}
	}
	self_metrics__add(fb, SELF_HIST_QUANTILE_DEVIATION, lv, v, n);
}

void self_metrics__add_drain(struct fam_builder *fb, const struct store *st,
			     const struct collector_stats *cs, const struct agent_batch_stats *bs)
{
	add_cadence_metrics(fb, cs, bs);
	add_lane_metrics(fb, cs, bs);
	add_guard_metrics(fb, st, cs, bs);
	add_trial_metrics(fb, st, bs);
}

void self_metrics__add_remote_write(struct fam_builder *fb,
				    const struct remote_write_url_stats *st, size_t nr)
{
	static const char *const results[] = { "sent", "retried", "dropped" };
	const char *lv[RW_MAX_URLS * 3 * 2], *urls[RW_MAX_URLS];
	double samples[RW_MAX_URLS * 3], queued[RW_MAX_URLS], last[RW_MAX_URLS];
	size_t i, k;

	if (!nr)
		return;
	for (i = 0; i < nr && i < RW_MAX_URLS; i++) {
		const uint64_t v[] = { st[i].sent, st[i].retried, st[i].dropped };

		for (k = 0; k < 3; k++) {
			lv[(i * 3 + k) * 2] = st[i].url;
			lv[(i * 3 + k) * 2 + 1] = results[k];
			samples[i * 3 + k] = v[k];
		}
		urls[i] = st[i].url;
		queued[i] = st[i].queued;
		last[i] = st[i].last_success_s;
	}
	self_metrics__add(fb, SELF_REMOTE_WRITE_SAMPLES_TOTAL, lv, samples, i * 3);
	self_metrics__add(fb, SELF_REMOTE_WRITE_QUEUE_SAMPLES, urls, queued, i);
	self_metrics__add(fb, SELF_REMOTE_WRITE_LAST_SUCCESS_TIMESTAMP_SECONDS, urls, last, i);
}
