// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent: the spec, the HTTP server, the collector, and the drain loop
 * that also runs reloads (SIGHUP, `POST /-/reload`) on its own thread.
 * SIGINT, SIGTERM and SIGHUP are blocked but while the loop waits in
 * epoll_pwait(), so their handlers (which set a flag) interrupt the wait.
 */
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

#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "agent/collector.h"
#include "agent/families.h"
#include "agent/http.h"
#include "agent/privs.h"
#include "agent/reload.h"
#include "agent/self_metrics.h"
#include "agent/view.h"
#include "agent/watch.h"
#include "agent/webconfig.h"
#include "lib/expo.h"
#include "lib/log.h"
#include "spec/spec.h"

static volatile sig_atomic_t exiting;
static volatile sig_atomic_t reload_asked;

static void sig_handler(int sig)
{
	if (sig == SIGHUP)
		reload_asked = 1;
	else
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
	struct collector *col;
	struct http_server *http;
	struct webconfig *web;		/* --web.config.file; NULL: none */
	double start_time_s;		/* wall clock, at agent__run() */
	char libbpf_version[24];
	struct view_pub *views;		/* the renderings scrapes are served */
	atomic_bool ready;
	struct agent_signal *signal;
	struct agent_norm *norm;
	struct agent_batch *batch;
	struct remote_write *rw;	/* NULL: no --remote-write.url */
	struct agent_reload *reload;
	struct watch *watch;		/* the targets: binaries, pids, pid files */
	pthread_mutex_t health_lock;	/* health, health_status: the loop writes, HTTP reads */
	char health[WATCH_HEALTH_LEN];
	int health_status;
	sigset_t wait_mask;		/* the signals epoll_pwait() lets through */
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

/* /healthz once ready: what the loop last published (watch.h says what it means). */
static int http_health(void *ctx, char *buf, size_t len)
{
	struct agent *a = ctx;
	int status;

	pthread_mutex_lock(&a->health_lock);
	snprintf(buf, len, "%s", a->health);
	status = a->health_status;
	pthread_mutex_unlock(&a->health_lock);
	return status;
}

/* The health of the targets and probes, for the next /healthz. */
static void publish_health(struct agent *a)
{
	char buf[WATCH_HEALTH_LEN];
	struct collector_stats cs;
	int status;

	collector__stats(a->col, &cs);
	status = watch__health(a->watch, &cs, collector__store(a->col), buf, sizeof(buf));
	pthread_mutex_lock(&a->health_lock);
	memcpy(a->health, buf, sizeof(buf));
	a->health_status = status;
	pthread_mutex_unlock(&a->health_lock);
}

/* POST /-/reload, from an HTTP worker: it waits while the loop runs the reload. */
static int http_reload(void *ctx, char *msg, size_t msg_len)
{
	struct agent *a = ctx;

	return agent_reload__request(a->reload, msg, msg_len);
}

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void add_reload_metrics(struct agent *a, struct fam_builder *fb)
{
	double ts;
	bool ok;

	agent_reload__status(a->reload, &ok, &ts);
	self_metrics__add_value(fb, SELF_CONFIG_LAST_RELOAD_SUCCESSFUL, ok);
	self_metrics__add_value(fb, SELF_CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS, ts);
}

static void add_remote_write(struct agent *a, struct fam_builder *fb)
{
	struct remote_write_url_stats st[RW_MAX_URLS];
	size_t n = 0;

	while (n < RW_MAX_URLS && remote_write__stats(a->rw, n, &st[n]))
		n++;
	self_metrics__add_remote_write(fb, st, n);
}

/* The families of one rendering: the spec's metrics, then emitd's own. */
static void build_families(struct agent *a, struct fam_builder *fb)
{
	const struct store *st = collector__store(a->col);
	struct collector_stats cs;
	struct agent_batch_stats bs;
	struct http_stats hs = {};
	const struct watch_target *targets;
	size_t nr_targets;

	collector__stats(a->col, &cs);
	if (a->http)
		http_server__stats(a->http, &hs);
	fam_builder__add_store(fb, st);
	self_metrics__add_build(fb, a->libbpf_version, a->start_time_s);
	self_metrics__add_collector(fb, st, &cs, &hs);
	targets = watch__targets(a->watch, &nr_targets);
	self_metrics__add_targets(fb, targets, nr_targets);
	add_reload_metrics(a, fb);
	agent_signal__add_metrics(a->signal, fb);
	if (a->batch) {
		agent_batch__stats(a->batch, &bs);
		self_metrics__add_drain(fb, st, &cs, &bs);
	}
	add_remote_write(a, fb);
}

static int agent__publish(struct agent *a)
{
	struct fam_builder fb = {};
	int err;

	build_families(a, &fb);
	err = fb.err;
	if (!err)
		err = view_pub__publish(a->views, fb.fams, fb.nr_fams);
	fam_builder__free(&fb);
	publish_health(a);
	return err;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/*
 * The remote-write senders parse what receivers answer: they start from a
 * thread without capabilities, under the client seccomp allowlist.
 */
static int start_remote_write(void *arg)
{
	struct agent *a = arg;

	return remote_write__new(&a->opts->remote_write, &a->rw);
}

/* Every remote-write interval: queue the rendering just published. */
static void agent__remote_write(struct agent *a)
{
	uint64_t t = (uint64_t)now_ms();
	const char *text;
	struct view *v;
	size_t len;
	int err;

	if (!remote_write__due(a->rw, t))
		return;
	v = view_pub__get(a->views);
	text = view__text(v, &len);
	err = remote_write__offer(a->rw, text, len, (int64_t)wall_ms(), t);
	view__put(v);
	if (err)
		log_warn("remote write: %s", strerror(-err));
}

/* Sample the signal channels; compute on schedule over the last rendering. */
static void agent__signal(struct agent *a, bool force)
{
	uint64_t t = (uint64_t)now_ms();
	const char *text;
	struct view *v;
	size_t len;
	int err;

	agent_signal__sample(a->signal, collector__store(a->col), t);
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
		agent_batch__on_sample(a->batch, m, store_metric__value(m, smp->v1));
	if (m->kind != EMITD_KIND_NORMALIZATION || !a->norm)
		return;
	agent_norm__record(a->norm, m, s, smp->ktime_ns / 1000000 + a->mono_to_wall_ms,
			   store__raw_to_double(smp->v1, m->spec->probe.before.type),
			   store__raw_to_double(smp->v2, m->spec->probe.after.type));
}

/* One cycle: drain the maps, feed the signal channels, publish. */
static int agent__cycle(struct agent *a, bool first)
{
	double t0 = now_ms();
	int err;

	view_pub__cycle_start(a->views);
	err = collector__drain(a->col, a->batch ? agent_batch__budget_s(a->batch) : 0);
	if (!err && a->batch)
		err = agent_batch__drained(a->batch, (uint64_t)now_ms(), (now_ms() - t0) / 1e3);
	if (err)
		return err;
	agent_norm__update(a->norm);
	agent_norm__tick(a->norm, now_ms() / 1000.0);
	if (first)
		err = agent__publish(a);
	agent__signal(a, first);
	if (!err)
		err = agent__publish(a);
	if (!err)
		agent__remote_write(a);
	return err;
}

static int loop_epoll(struct agent *a)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int efd = epoll_create1(EPOLL_CLOEXEC);

	if (efd < 0)
		return -errno;
	ev.data.u32 = 0;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, collector__epoll_fd(a->col), &ev))
		goto err;
	ev.data.u32 = 1;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, view_pub__request_fd(a->views), &ev))
		goto err;
	ev.data.u32 = 2;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, agent_reload__fd(a->reload), &ev))
		goto err;
	ev.data.u32 = 3;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, watch__fd(a->watch), &ev))
		goto err;
	return efd;
err:
	close(efd);
	return -errno;
}

/*
 * Sleep until the kernel's wake-up, a sample, a scrape or reload request,
 * a target's change, a signal or @timeout_ms.
 */
static int agent__wait(struct agent *a, int efd, int timeout_ms, bool *scrape, bool *reload,
		       bool *targets)
{
	struct epoll_event evs[4];
	int i, nr;

	nr = epoll_pwait(efd, evs, 4, timeout_ms, &a->wait_mask);
	if (nr < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < nr; i++) {
		if (evs[i].data.u32 == 1) {
			if (view_pub__take_request(a->views))
				*scrape = true;
		} else if (evs[i].data.u32 == 2) {
			if (agent_reload__take(a->reload))
				*reload = true;
		} else if (evs[i].data.u32 == 3) {
			*targets = true;
		} else if (collector__poll(a->col, 0) < 0) {
			return -EIO;
		}
	}
	return 0;
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

/* What depends on the spec follows the collector's new store. */
static int respec(struct agent *a)
{
	const struct store *st = collector__store(a->col);
	int err;

	agent_signal__respec(a->signal);
	err = agent_norm__respec(a->norm, st);
	if (!err)
		err = agent_batch__respec(a->batch);
	return err;
}

/*
 * Load the spec again and apply it. A spec that does not load, or whose
 * sites cannot be resolved, changes nothing: the running spec goes on.
 */
static int agent__reload(struct agent *a, char *msg, size_t len)
{
	const char *path = a->opts->spec_path;
	struct spec *spec, *old;
	bool committed;
	int err;

	err = load_spec(path, &spec);
	if (err) {
		snprintf(msg, len, "%s: the spec does not load (see the log)", path);
		log_err("spec reload failed: %s does not load: keeping the running spec", path);
		return err;
	}
	err = collector__reload(a->col, spec, &committed);
	if (!committed) {
		spec__free(spec);
		snprintf(msg, len, "%s: %s (see the log)", path, strerror(-err));
		log_err("spec reload failed: %s: %s: keeping the running spec", path,
			strerror(-err));
		return err;
	}
	old = a->spec;
	a->spec = spec;
	err = respec(a) ?: err;
	spec__free(old);
	if (err) {
		snprintf(msg, len, "%s: %s: the spec runs in part (see the log)", path,
			 strerror(-err));
		log_err("spec reload failed: %s: %s: the new spec runs in part", path,
			strerror(-err));
		return err;
	}
	msg[0] = '\0';
	log_info("spec reloaded from %s", path);
	return 0;
}

/* Reload, publish what the new spec shows, then answer who asked. */
static int run_reload(struct agent *a)
{
	char msg[AGENT_RELOAD_MSG_LEN];
	int err = agent__reload(a, msg, sizeof(msg)), cycle;

	agent_reload__record(a->reload, err, msg, wall_s());	/* the status the page shows */
	watch__sync(a->watch, a->col, a->spec);	/* the targets of the spec that runs */
	cycle = agent__cycle(a, true);
	agent_reload__answer(a->reload);
	return cycle;
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
	bool scrape = false, reload = false, targets = false, changed;

	efd = loop_epoll(a);
	if (efd < 0) {
		log_err("epoll: %s", strerror(-efd));
		return efd;
	}
	while (!exiting && !err) {
		if (reload_asked || reload) {
			reload_asked = 0;
			reload = false;
			err = run_reload(a);
			continue;
		}
		if (targets) {
			targets = false;
			err = watch__dispatch(a->watch, a->col, a->spec, &changed);
			if (!err && changed)
				err = agent__cycle(a, false);
			continue;
		}
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
		err = agent__wait(a, efd, timeout, &scrape, &reload, &targets);
		if (err)
			log_err("drain loop: %s", strerror(-err));
	}
	close(efd);
	return err;
}

/* --web.config.file: refused with every error, FILE:LINE:COL, before anything starts. */
static int load_web_config(struct agent *a)
{
	struct spec_diags diags = {};
	const char *path = a->opts->web_config_path;
	int err;

	if (!path || !path[0])
		return 0;
	err = webconfig__load(path, &a->web, &diags);
	if (err) {
		spec_diags__print(&diags, path, stderr);
		log_err("--web.config.file %s: invalid web configuration", path);
	} else if (a->web->nr_users && !a->web->tls) {
		log_warn("%s: basic auth without tls_server_config: passwords cross the network in the clear",
			 path);
	}
	spec_diags__free(&diags);
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
		.health = http_health,
		.ctx = a,
		.metrics_path = a->opts->telemetry_path,
		.reload = http_reload,
	};
	int err = load_web_config(a);

	if (err)
		return err;
	ho.web = a->web;
	err = http_server__start(&ho, &a->http);
	if (err == -EADDRINUSE)
		log_err("cannot listen on %s: address already in use (another emitd? choose one with --listen ADDR:PORT)",
			a->opts->listen);
	else if (err == -EINVAL)
		log_err("--web.listen-address %s: expected ADDR:PORT, e.g. 127.0.0.1:9477 or [::1]:9477",
			a->opts->listen);
	else if (err == -EOPNOTSUPP)
		log_err("--web.config.file %s: this libmicrohttpd has no TLS support",
			a->opts->web_config_path);
	else if (err == -EIO && a->web && a->web->tls)
		log_err("cannot serve HTTPS on %s: libmicrohttpd refused the TLS configuration of %s",
			a->opts->listen, a->opts->web_config_path);
	else if (err)
		log_err("cannot listen on %s: %s", a->opts->listen, strerror(-err));
	return err;
}

/* On a thread without capabilities, under seccomp: MHD's threads inherit both. */
static int start_http_unprivileged(void *a)
{
	return start_http(a);
}

/*
 * Blocked from here on, in every thread started after: delivered only
 * while the loop waits in epoll_pwait() with @a->wait_mask.
 */
static void install_signals(struct agent *a)
{
	struct sigaction sa = { .sa_handler = sig_handler };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &a->wait_mask);
	sigdelset(&a->wait_mask, SIGINT);
	sigdelset(&a->wait_mask, SIGTERM);
	sigdelset(&a->wait_mask, SIGHUP);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void log_serving(const struct agent *a)
{
	const struct cadence_config *cad = &a->opts->batch.cadence;
	struct collector_stats cs;

	collector__stats(a->col, &cs);
	log_info("%zu probes attached; serving %s://%s%s%s; adaptive drain: target interval %llu ms, at most %llu ms apart",
		 cs.nr_probes, a->web && a->web->tls ? "https" : "http", a->opts->listen,
		 a->opts->telemetry_path ? a->opts->telemetry_path : HTTP_DEFAULT_METRICS_PATH,
		 a->web && a->web->nr_users ? " (basic auth)" : "",
		 (unsigned long long)cad->target_interval_ms,
		 (unsigned long long)cad->max_interval_ms);
}

/*
 * Large renderings (MiBs, made and freed at every drain) get their own
 * mappings, returned on free, instead of glibc's dynamic threshold moving
 * them onto a heap that never shrinks; smaller buffers (a view's gzip, a
 * /snapshot document) stay on a heap that is not trimmed after every request.
 */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 2 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);	/* but no heap churn per scrape */
}

/* Open the collector, its normalization and drain controllers, and attach. */
static int start_collector(struct agent *a)
{
	const struct agent_opts *opts = a->opts;
	struct watch_opts wo = {
		.pids = opts->pids,
		.nr_pids = opts->nr_pids,
		.pid_files = opts->pid_files,
		.nr_pid_files = opts->nr_pid_files,
		.best_effort = opts->best_effort,
	};
	struct collector_opts co = {
		.sz = sizeof(co),
		.spec = a->spec,
		.best_effort = opts->best_effort,
		.follow_forks = opts->follow_forks,
		.pin_root = opts->pin_root,
		.ringbuf_bytes = opts->ringbuf_bytes,
		.per_key = opts->per_key,
		.trial = opts->batch.trial,
		.nr_trial = opts->batch.nr_trial,
	};
	int err;

	err = watch__new(&wo, &a->watch);
	if (err)
		return err;
	co.pids = watch__pids(a->watch, &co.nr_pids);
	err = collector__open(&co, &a->col);
	if (!err)
		err = watch__sync(a->watch, a->col, a->spec);
	if (err)
		return err;
	err = agent_norm__new(collector__store(a->col), &opts->norm, &a->norm);
	if (!err)
		err = agent_batch__new(&opts->batch, a->col, (uint64_t)now_ms(), &a->batch);
	if (err)
		return err;
	clock_offset(a);	/* once: sample timestamps stay monotonic */
	collector__on_sample(a->col, on_sample, a);
	return 0;
}

int agent__run(const struct agent_opts *opts)
{
	struct agent a = { .opts = opts, .health_lock = PTHREAD_MUTEX_INITIALIZER };
	int err;

	err = privs__restrict();	/* first: before any other thread exists */
	if (err)
		return err;
	tune_malloc();
	a.start_time_s = wall_ms() / 1e3;
	snprintf(a.libbpf_version, sizeof(a.libbpf_version), "%u.%u", libbpf_major_version(),
		 libbpf_minor_version());
	install_signals(&a);
	err = view_pub__new(&a.views);
	if (!err)
		err = agent_reload__new(wall_s(), &a.reload);
	if (err)
		goto out;
	err = agent_signal__new(&opts->signal, &a.signal);
	if (err) {
		log_err("signal metrics configuration: %s", strerror(-err));
		goto out;
	}
	err = load_spec(opts->spec_path, &a.spec);
	if (err)
		goto out;
	err = privs__run_unprivileged("emitd-http", start_http_unprivileged, &a);
	if (err)
		goto out_spec;
	err = privs__run_unprivileged_client("emitd-rw", start_remote_write, &a);
	if (!err)
		err = start_collector(&a);
	if (err)
		goto out_col;
	err = agent__cycle(&a, true);
	if (err)
		goto out_col;
	atomic_store(&a.ready, true);
	log_serving(&a);
	err = agent__loop(&a);
	log_info("%s: exiting; the probes stay attached and counting (emitd detach --pin-root %s removes them)",
		 exiting ? "signal received" : "done", opts->pin_root ? opts->pin_root : EMITD_PIN_ROOT);
out_col:
	atomic_store(&a.ready, false);
	if (a.reload)
		agent_reload__close(a.reload);
	if (a.norm)
		agent_norm__tick(a.norm, 1e18);	/* a last CSV with everything seen */
	collector__close(a.col);	/* NULL when it did not open */
	http_server__stop(a.http);
	webconfig__free(a.web);
out_spec:
	spec__free(a.spec);
out:
	view_pub__free(a.views);
	agent_reload__free(a.reload);
	agent_signal__free(a.signal);
	agent_norm__free(a.norm);
	agent_batch__free(a.batch);
	remote_write__free(a.rw);
	watch__free(a.watch);
	return err;
}
