// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/collector.h"
#include "lib/expo.h"
#include "agent/families.h"
#include "agent/http.h"
#include "agent/view.h"
#include "lib/log.h"
#include "spec/spec.h"

static volatile sig_atomic_t exiting;

static void sig_handler(int sig)
{
	(void)sig;
	exiting = 1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct agent {
	const struct agent_opts *opts;
	struct spec *spec;
	struct collector col;
	struct http_server *http;
	struct view_pub *views;		/* the renderings scrapes are served */
	atomic_bool ready;
	struct agent_signal *signal;
	struct agent_norm *norm;
	struct agent_batch *batch;
	int64_t mono_to_wall_ms;	/* CLOCK_REALTIME - CLOCK_MONOTONIC */
};

/* --drain-on-scrape: each scrape waits for a fresh drain once the loop runs */
static int http_render(void *ctx, enum expo_format fmt, bool gzip, struct http_body *out)
{
	struct agent *a = ctx;

	return view_pub__body(a->views, fmt, gzip,
			      a->opts->drain_on_scrape && atomic_load(&a->ready), out);
}

static int http_snapshot(void *ctx, struct expo_buf *out)
{
	struct agent *a = ctx;

	return agent_signal__snapshot(a->signal, out);
}

static int http_normalization(void *ctx, struct expo_buf *out)
{
	struct agent *a = ctx;

	/* ready is set after the collectors exist: it orders the pointer read */
	return atomic_load(&a->ready) ? agent_norm__json(a->norm, out) : -EAGAIN;
}

static bool http_ready(void *ctx)
{
	struct agent *a = ctx;

	return atomic_load(&a->ready);
}

/* One row per attached site: the probe, where it is and its site kind. */
static void add_site_info(struct fam_builder *fb, const struct collector *c)
{
	const char *names[] = { "probe", "metric", "binary", "offset", "site" };
	size_t n = c->nr_probes, i;
	const char **lv = calloc(n * 5 + 1, sizeof(*lv));
	char (*offs)[24] = calloc(n + 1, sizeof(*offs));
	double *one = calloc(n + 1, sizeof(*one));

	if (!lv || !offs || !one) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct collector_probe *p = &c->probes[i];

		snprintf(offs[i], sizeof(offs[i]), "0x%llx",
			 (unsigned long long)p->site.file_offset);
		lv[i * 5] = p->name;
		lv[i * 5 + 1] = p->metric->name;
		lv[i * 5 + 2] = p->binary;
		lv[i * 5 + 3] = offs[i];
		lv[i * 5 + 4] = site_kind__name(p->site.kind);
		one[i] = 1;
	}
	fam_builder__add_labelled(fb, "emitd_probe_site_info",
				  "Attached probe sites and the kind of instruction each uprobe lands on (nop5: optimized, emulated, single-step).",
				  EXPO_GAUGE, names, 5, lv, one, n);
out:
	free(lv);
	free(offs);
	free(one);
}

/* Hits per probe, summed over its sites and PIDs. */
static void add_probe_hits(struct fam_builder *fb, const struct collector *c)
{
	const char *names[] = { "probe", "metric" };
	size_t n = c->spec->nr_metrics, i, j;
	const char **lv = calloc(n * 2 + 1, sizeof(*lv));
	double *hits = calloc(n + 1, sizeof(*hits));

	if (!lv || !hits) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		lv[i * 2 + 1] = c->spec->metrics[i].name;
		lv[i * 2] = "";
		for (j = 0; j < c->nr_probes; j++) {
			if (c->probes[j].metric != &c->spec->metrics[i])
				continue;
			lv[i * 2] = c->probes[j].name;
			hits[i] += c->hits[c->probes[j].cfg_id];
		}
	}
	fam_builder__add_labelled(fb, "emitd_probe_hits_total",
				  "Probe hits handled in the kernel, by probe.",
				  EXPO_COUNTER, names, 2, lv, hits, n);
out:
	free(lv);
	free(hits);
}

static void add_map_metrics(struct fam_builder *fb, const struct collector *c)
{
	static const int full_stat[COLLECTOR_MAP_MAX] = {
		EMITD_STAT_FULL_COUNTERS, EMITD_STAT_FULL_GAUGES,
		EMITD_STAT_FULL_HISTS, EMITD_STAT_FULL_NORMS,
	};
	const char *maps[COLLECTOR_MAP_MAX];
	double drops[COLLECTOR_MAP_MAX], fill[COLLECTOR_MAP_MAX], entries[COLLECTOR_MAP_MAX];
	int m;

	for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
		uint64_t n = c->map_entries[COLLECTOR_LANE_NORMAL][m] +
			     c->map_entries[COLLECTOR_LANE_HOT][m];
		uint64_t cap = c->map_max[COLLECTOR_LANE_NORMAL][m] +
			       c->map_max[COLLECTOR_LANE_HOT][m];

		maps[m] = collector_map__name(m);
		drops[m] = c->stats[full_stat[m]];
		entries[m] = n;
		fill[m] = cap ? (double)n / cap : 0;
	}
	fam_builder__add_simple(fb, "emitd_map_full_drops_total",
				"Events dropped because their map had no room for a new series.",
				EXPO_COUNTER, "map", maps, drops, COLLECTOR_MAP_MAX);
	fam_builder__add_simple(fb, "emitd_map_entries", "Series held in each aggregation map.",
				EXPO_GAUGE, "map", maps, entries, COLLECTOR_MAP_MAX);
	fam_builder__add_simple(fb, "emitd_map_fill_ratio",
				"Series held over map capacity, by map.",
				EXPO_GAUGE, "map", maps, fill, COLLECTOR_MAP_MAX);
}

static void add_kernel_stats(struct fam_builder *fb, const struct collector *c)
{
	const char *what[] = { "value", "label", "config" };
	double errs[] = {
		c->stats[EMITD_STAT_READ_ERROR], c->stats[EMITD_STAT_LABEL_ERROR],
		c->stats[EMITD_STAT_NO_CONFIG],
	};
	double events = 0;
	size_t i;

	for (i = 0; i < EMITD_MAX_PROBES; i++)
		events += c->hits[i];
	fam_builder__add_value(fb, "emitd_events_total", "Probe hits handled by the BPF programs.",
		EXPO_COUNTER, events);
	fam_builder__add_simple(fb, "emitd_probe_read_errors_total",
				"Events dropped because a user-memory read failed, by what was read.",
				EXPO_COUNTER, "what", what, errs, 3);
	fam_builder__add_value(fb, "emitd_label_truncated_total",
		"String label values cut to 31 bytes (the series key's bound).",
		EXPO_COUNTER, c->stats[EMITD_STAT_LABEL_TRUNCATED]);
	fam_builder__add_value(fb, "emitd_ringbuf_dropped_total",
		"Sample-lane records lost because the ring buffer was full.",
		EXPO_COUNTER, c->stats[EMITD_STAT_RINGBUF_DROPPED]);
	fam_builder__add_value(fb, "emitd_sample_lane_records_total", "Sample-lane records consumed.",
		EXPO_COUNTER, c->samples_seen);
	fam_builder__add_value(fb, "emitd_orphan_series", "Map series of metrics that are no longer in the spec.",
		EXPO_GAUGE, c->store.orphans);
}

static void add_agent_metrics(struct fam_builder *fb, const struct agent *a)
{
	const struct collector *c = &a->col;
	struct http_stats hs = {};

	if (a->http)
		http_server__stats(a->http, &hs);
	fam_builder__add_value(fb, "emitd_drains_total", "Drains of the BPF maps.", EXPO_COUNTER, c->drains);
	fam_builder__add_value(fb, "emitd_drain_last_duration_seconds", "Wall time of the last drain.",
		EXPO_GAUGE, c->last_drain_seconds);
	fam_builder__add_value(fb, "emitd_drain_batch_fallbacks_total",
		"Map reads that fell back from batch lookups to per-key reads.",
		EXPO_COUNTER, c->batch_fallbacks);
	fam_builder__add_value(fb, "emitd_scrapes_total", "HTTP /metrics requests served.", EXPO_COUNTER,
		hs.scrapes);
	fam_builder__add_value(fb, "emitd_scrape_bytes_total", "Bytes sent in /metrics responses.",
		EXPO_COUNTER, hs.scrape_bytes);
	fam_builder__add_value(fb, "emitd_scrape_duration_seconds", "Render and gzip time of the last /metrics response.",
		EXPO_GAUGE, hs.last_scrape_seconds);
}

static int agent__publish(struct agent *a)
{
	struct fam_builder fb = {};
	int err;

	fam_builder__add_store(&fb, &a->col.store);
	add_site_info(&fb, &a->col);
	add_probe_hits(&fb, &a->col);
	add_map_metrics(&fb, &a->col);
	add_kernel_stats(&fb, &a->col);
	add_agent_metrics(&fb, a);
	agent_signal__add_metrics(a->signal, &fb);
	agent_batch__add_metrics(a->batch, &fb);
	err = fb.err;
	if (!err)
		err = view_pub__publish(a->views, fb.fams, fb.nr_fams);
	fam_builder__free(&fb);
	return err;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Sample the signal channels; compute on schedule over the last rendering. */
static void agent__signal(struct agent *a, bool force)
{
	uint64_t t = (uint64_t)now_ms();
	const char *text;
	struct view *v;
	size_t len;
	int err;

	agent_signal__sample(a->signal, &a->col.store, t);
	if (!force && !agent_signal__due(a->signal, t))
		return;
	v = view_pub__get(a->views);
	text = view__text(v, &len);
	err = agent_signal__compute(a->signal, t, wall_ms(), text, len);
	view__put(v);
	if (err)
		log_warn("signal metrics: %s", strerror(-err));
}

static void clock_offset(struct agent *a)
{
	struct timespec mono;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	a->mono_to_wall_ms = (int64_t)wall_ms() -
			     (int64_t)(mono.tv_sec * 1000LL + mono.tv_nsec / 1000000);
}

/* The sample lane's normalization events, with wall-clock timestamps. */
static void on_sample(void *ctx, const struct store_metric *m, const struct series *s,
		      const struct emitd_sample *smp)
{
	struct agent *a = ctx;

	if (m->trial && a->batch)
		agent_batch__on_sample(a->batch, m, collector__raw_to_double(smp->v1, m->value_type));
	if (m->kind != EMITD_KIND_NORMALIZATION || !a->norm)
		return;
	agent_norm__record(a->norm, m, s, smp->ktime_ns / 1000000 + a->mono_to_wall_ms,
			   collector__raw_to_double(smp->v1, m->spec->probe.before.type),
			   collector__raw_to_double(smp->v2, m->spec->probe.after.type));
}

/* One cycle: drain the maps, feed the signal channels, publish. */
static int agent__cycle(struct agent *a, bool first)
{
	double t0 = now_ms();
	int err;

	view_pub__cycle_start(a->views);
	err = collector__drain(&a->col, a->batch ? agent_batch__budget_s(a->batch) : 0);
	if (!err && a->batch)
		err = agent_batch__drained(a->batch, (uint64_t)now_ms(), (now_ms() - t0) / 1e3);
	if (err)
		return err;
	agent_norm__update(a->norm);
	agent_norm__tick(a->norm, now_ms() / 1000.0);
	if (first)
		err = agent__publish(a);
	agent__signal(a, first);
	return err ? err : agent__publish(a);
}

static int loop_epoll(struct agent *a)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int efd = epoll_create1(EPOLL_CLOEXEC);

	if (efd < 0)
		return -errno;
	ev.data.u32 = 0;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, collector__epoll_fd(&a->col), &ev))
		goto err;
	ev.data.u32 = 1;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, view_pub__request_fd(a->views), &ev))
		goto err;
	return efd;
err:
	close(efd);
	return -errno;
}

/* Sleep until the kernel's wake-up, a sample, a scrape request or @timeout_ms. */
static int agent__wait(struct agent *a, int efd, int timeout_ms, bool *scrape)
{
	struct epoll_event evs[2];
	int i, nr;

	nr = epoll_wait(efd, evs, 2, timeout_ms);
	if (nr < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < nr; i++) {
		if (evs[i].data.u32 == 1) {
			if (view_pub__take_request(a->views))
				*scrape = true;
		} else if (collector__poll(&a->col, 0) < 0) {
			return -EIO;
		}
	}
	return 0;
}

/*
 * The drain loop: the cadence decides when to drain (pending >= target, the
 * interval elapsed, or a scrape asked); in between the loop sleeps in epoll
 * until the kernel's wake-up or the next deadline.
 */
static int agent__loop(struct agent *a)
{
	double start = now_ms(), t;
	int efd, timeout, err = 0;
	bool scrape = false;

	efd = loop_epoll(a);
	if (efd < 0) {
		log_err("epoll: %s", strerror(-efd));
		return efd;
	}
	while (!exiting && !err) {
		t = now_ms();
		if (a->opts->exit_after_ms && t - start >= a->opts->exit_after_ms)
			break;
		if (agent_batch__due(a->batch, (uint64_t)t, &timeout) || scrape) {
			scrape = false;
			err = agent__cycle(a, false);
			continue;
		}
		if (a->opts->exit_after_ms && t + timeout > start + a->opts->exit_after_ms)
			timeout = (int)(start + a->opts->exit_after_ms - t) + 1;
		err = agent__wait(a, efd, timeout, &scrape);
		if (err)
			log_err("drain loop: %s", strerror(-err));
	}
	close(efd);
	return err;
}

static int start_http(struct agent *a)
{
	struct http_opts ho = {
		.sz = sizeof(ho),
		.listen = a->opts->listen,
		.render = http_render,
		.snapshot = http_snapshot,
		.normalization = http_normalization,
		.ready = http_ready,
		.ctx = a,
	};
	int err = http_server__start(&ho, &a->http);

	if (err == -EADDRINUSE)
		log_err("cannot listen on %s: address already in use (another emitd? choose one with --listen ADDR:PORT)",
			a->opts->listen);
	else if (err == -EINVAL)
		log_err("--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:9477 or [::1]:9477",
			a->opts->listen);
	else if (err)
		log_err("cannot listen on %s: %s", a->opts->listen, strerror(-err));
	return err;
}

static int load_spec(const char *path, struct spec **out)
{
	struct spec_diags diags = {};
	int err = spec__load(path, out, &diags);

	if (err)
		spec_diags__print(&diags, path, stderr);
	spec_diags__free(&diags);
	return err;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = sig_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int agent__run(const struct agent_opts *opts)
{
	struct collector_opts co = { .sz = sizeof(co) };
	struct agent a = { .opts = opts };
	int err;

	/*
	 * Large renderings (MiBs, made and freed at every drain) get their own
	 * mappings, returned on free, instead of glibc's dynamic threshold moving
	 * them onto a heap that never shrinks; smaller buffers (a view's gzip,
	 * a /snapshot document) stay on a heap that is not trimmed after every
	 * request.
	 */
	mallopt(M_MMAP_THRESHOLD, 2 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);	/* but no heap churn per scrape */
	err = view_pub__new(&a.views);
	if (err)
		return err;
	install_signals();
	err = agent_signal__new(&opts->signal, &a.signal);
	if (err) {
		log_err("signal metrics configuration: %s", strerror(-err));
		goto out;
	}
	err = load_spec(opts->spec_path, &a.spec);
	if (err)
		goto out;
	err = start_http(&a);
	if (err)
		goto out_spec;
	co.spec = a.spec;
	co.pids = opts->pids;
	co.nr_pids = opts->nr_pids;
	co.pin_root = opts->pin_root;
	co.ringbuf_bytes = opts->ringbuf_bytes;
	co.per_key = opts->per_key;
	err = collector__open(&a.col, &co);
	if (err)
		goto out_http;
	err = agent_norm__new(&a.col.store, &opts->norm, &a.norm);
	if (!err)
		err = agent_batch__new(&opts->batch, &a.col, (uint64_t)now_ms(), &a.batch);
	if (err)
		goto out_col;
	clock_offset(&a);	/* once: sample timestamps stay monotonic */
	a.col.on_sample = on_sample;
	a.col.sample_ctx = &a;
	err = collector__attach(&a.col);
	if (err)
		goto out_col;
	err = agent__cycle(&a, true);
	if (err)
		goto out_col;
	atomic_store(&a.ready, true);
	log_info("%zu probes attached; serving http://%s/metrics; adaptive drain: target interval %llu ms, at most %llu ms apart",
		 a.col.nr_probes, opts->listen,
		 (unsigned long long)opts->batch.cadence.target_interval_ms,
		 (unsigned long long)opts->batch.cadence.max_interval_ms);
	err = agent__loop(&a);
	log_info("%s: detaching and exiting", exiting ? "signal received" : "done");
out_col:
	atomic_store(&a.ready, false);
	if (a.norm)
		agent_norm__tick(a.norm, 1e18);	/* a last CSV with everything seen */
	collector__close(&a.col);
out_http:
	http_server__stop(a.http);
out_spec:
	spec__free(a.spec);
out:
	view_pub__free(a.views);
	agent_signal__free(a.signal);
	agent_norm__free(a.norm);
	agent_batch__free(a.batch);
	return err;
}
