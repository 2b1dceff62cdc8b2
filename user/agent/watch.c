// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * watch: inotify, pidfds and one timer in an epoll set of their own, and
 * what the agent does when a target changes (see watch.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/watch.h"
#include "lib/log.h"

#define TAG_INOTIFY	1
#define TAG_TIMER	2
#define TAG_PID		3

#define DIR_MASK	(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE | \
			 IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define CHANGED_MASK	(IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM)

/* Where the pid set's entries come from. */
struct pid_source {
	const char *file;	/* --pid-file; NULL: --pid */
	pid_t pid;		/* the process attached to; 0: none now */
	pid_t exited;		/* the last of its processes seen to exit; 0: none */
	bool said_waiting;	/* "waiting" logged for this wait */
	double retry_at;	/* re-read the file then (ms); 0: not waiting */
	unsigned int backoff_ms;
};

enum interest_kind {
	INT_BINARY,		/* a probe's binary, or one a probe waits to change */
	INT_AWAIT,		/* the next missing component of a binary a probe waits for */
	INT_PID_FILE,
};

/* A name in a watched directory and what it means. */
struct interest {
	enum interest_kind kind;
	char *dir;
	char *name;
	char *path;		/* the binary (INT_BINARY, INT_AWAIT) */
	size_t src;		/* INT_PID_FILE: the pid source */
};

struct dir_watch {
	int wd;
	char *dir;
};

struct pid_watch {
	pid_t pid;
	int fd;
};

/* A binary to plan again, now or once it settled. */
struct pending {
	char *path;
	double at;
};

struct target_state {
	char *name;
	bool up;
	bool gone;		/* a process that ran exited: 503 */
	char lines[512];	/* why it is down, one line each */
};

struct watch {
	bool best_effort;
	int efd, ifd, tfd;
	struct pid_source src[WATCH_MAX_SOURCES];
	size_t nr_src;
	pid_t *pids;		/* the pid set, by source */
	struct interest *ints;
	size_t nr_ints;
	struct dir_watch *dirs;
	size_t nr_dirs;
	struct pid_watch *pidws;
	size_t nr_pidws;
	pid_t exits[64];	/* exits seen, not yet handled */
	size_t nr_exits;
	struct pending *pend;
	size_t nr_pend;
	bool resync;		/* a watched directory went: arm again */
	double pid_retry_at;	/* WAIT_PID probes planned again then */
	unsigned int pid_backoff_ms;
	double prune_at, last_prune;
	pid_t gone[64];		/* pids of spec targets (pid:) seen to exit */
	size_t nr_gone;
	struct target_state *targets;
	struct watch_target *pub;
	size_t nr_targets;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool pid_runs(pid_t pid)
{
	return pid > 0 && (!kill(pid, 0) || errno == EPERM);
}

static unsigned int backoff(unsigned int *ms)
{
	unsigned int cur = *ms ? *ms : WATCH_RETRY_MIN_MS;

	*ms = cur * 2 > WATCH_RETRY_MAX_MS ? WATCH_RETRY_MAX_MS : cur * 2;
	return cur;
}

/* ---- pid files ---- */

/* The pid @path names: > 0, or -errno. */
static pid_t read_pid_file(const char *path)
{
	char buf[32], *end;
	long v;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	if (errno || end == buf || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	return (pid_t)v;
}

/* A process @s names now, not the one that exited: its pid, or -errno. */
static pid_t source_read(const struct pid_source *s)
{
	pid_t pid = read_pid_file(s->file);

	if (pid > 0 && (pid == s->exited || !pid_runs(pid)))
		return -ESRCH;
	return pid;
}

static const char *pid_file_error(pid_t err)
{
	return err == -ESRCH ? "names no running process" :
	       err == -EINVAL ? "holds no pid" : strerror((int)-err);
}

int watch__new(const struct watch_opts *o, struct watch **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct watch *w = calloc(1, sizeof(*w));
	size_t i;
	pid_t pid;

	if (!w)
		return -ENOMEM;
	w->efd = w->ifd = w->tfd = -1;
	w->best_effort = o->best_effort;
	if (o->nr_pids + o->nr_pid_files > WATCH_MAX_SOURCES) {
		free(w);
		return -E2BIG;
	}
	w->pids = calloc(o->nr_pids + o->nr_pid_files + 1, sizeof(*w->pids));
	if (!w->pids)
		goto err_nomem;
	for (i = 0; i < o->nr_pids; i++)
		w->src[w->nr_src++].pid = o->pids[i];
	for (i = 0; i < o->nr_pid_files; i++) {
		struct pid_source *s = &w->src[w->nr_src++];

		s->file = o->pid_files[i];
		pid = source_read(s);
		if (pid > 0) {
			s->pid = pid;
			log_info("--pid-file %s names pid %d", s->file, (int)pid);
			continue;
		}
		if (!w->best_effort) {
			log_err("--pid-file %s: %s", s->file, pid_file_error(pid));
			watch__free(w);
			return (int)pid;
		}
		s->retry_at = now_ms();	/* best-effort: waited for */
	}
	for (i = 0; i < w->nr_src; i++)
		w->pids[i] = w->src[i].pid;
	w->efd = epoll_create1(EPOLL_CLOEXEC);
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->efd < 0 || w->ifd < 0 || w->tfd < 0)
		goto err_errno;
	ev.data.u64 = TAG_INOTIFY;
	if (epoll_ctl(w->efd, EPOLL_CTL_ADD, w->ifd, &ev))
		goto err_errno;
	ev.data.u64 = TAG_TIMER;
	if (epoll_ctl(w->efd, EPOLL_CTL_ADD, w->tfd, &ev))
		goto err_errno;
	*out = w;
	return 0;
err_errno:
	i = errno;
	log_err("cannot watch the targets: %s", strerror((int)i));
	watch__free(w);
	return -(int)i;
err_nomem:
	watch__free(w);
	return -ENOMEM;
}

static void interests__free(struct watch *w)
{
	size_t i;

	for (i = 0; i < w->nr_ints; i++) {
		free(w->ints[i].dir);
		free(w->ints[i].name);
		free(w->ints[i].path);
	}
	free(w->ints);
	w->ints = NULL;
	w->nr_ints = 0;
}

static void targets__free(struct watch *w)
{
	size_t i;

	for (i = 0; i < w->nr_targets; i++)
		free(w->targets[i].name);
	free(w->targets);
	free(w->pub);
	w->targets = NULL;
	w->pub = NULL;
	w->nr_targets = 0;
}

void watch__free(struct watch *w)
{
	size_t i;

	if (!w)
		return;
	interests__free(w);
	targets__free(w);
	for (i = 0; i < w->nr_dirs; i++)
		free(w->dirs[i].dir);
	free(w->dirs);
	for (i = 0; i < w->nr_pidws; i++)
		close(w->pidws[i].fd);
	free(w->pidws);
	for (i = 0; i < w->nr_pend; i++)
		free(w->pend[i].path);
	free(w->pend);
	free(w->pids);
	if (w->efd >= 0)
		close(w->efd);
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->tfd >= 0)
		close(w->tfd);
	free(w);
}

const pid_t *watch__pids(const struct watch *w, size_t *nr)
{
	*nr = w->nr_src;
	return w->pids;
}

int watch__fd(const struct watch *w)
{
	return w->efd;
}

/* ---- what to watch ---- */

static int interest_add(struct watch *w, enum interest_kind kind, const char *dir,
			const char *name, const char *path, size_t src)
{
	struct interest *v;
	size_t i;

	for (i = 0; i < w->nr_ints; i++)
		if (w->ints[i].kind == kind && !strcmp(w->ints[i].dir, dir) &&
		    !strcmp(w->ints[i].name, name) &&
		    (!path || !strcmp(w->ints[i].path, path)))
			return 0;
	v = realloc(w->ints, (w->nr_ints + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	w->ints = v;
	v += w->nr_ints;
	v->kind = kind;
	v->src = src;
	v->dir = strdup(dir);
	v->name = strdup(name);
	v->path = path ? strdup(path) : NULL;
	w->nr_ints++;
	if (!v->dir || !v->name || (path && !v->path))
		return -ENOMEM;
	return 0;
}

/* @path's directory and name: @dir gets "/" for a name in the root. */
static void split(const char *path, char *dir, size_t n, const char **name)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(dir, n, ".");
		*name = path;
		return;
	}
	snprintf(dir, n, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	*name = slash + 1;
}

static int watch_binary(struct watch *w, const char *path)
{
	char dir[PATH_MAX];
	const char *name;

	split(path, dir, sizeof(dir), &name);
	return interest_add(w, INT_BINARY, dir, name, path, 0);
}

/* A binary that is not there: its nearest existing parent, for the next component. */
static int await_binary(struct watch *w, const char *path, bool *appeared)
{
	char dir[PATH_MAX], sub[PATH_MAX], next[2 * PATH_MAX];
	const char *name;
	struct stat st;

	snprintf(sub, sizeof(sub), "%s", path);
	for (;;) {
		split(sub, dir, sizeof(dir), &name);
		if (!stat(dir, &st) && S_ISDIR(st.st_mode))
			break;
		if (!strcmp(dir, sub) || !strcmp(dir, "/") || !strcmp(dir, "."))
			return 0;	/* nothing to watch from */
		snprintf(sub, sizeof(sub), "%s", dir);
	}
	/* it may have appeared since the collector looked */
	if (snprintf(next, sizeof(next), "%s/%s", strcmp(dir, "/") ? dir : "", name) <
	    (int)sizeof(next) && !stat(next, &st))
		*appeared = true;
	return interest_add(w, INT_AWAIT, dir, name, path, 0);
}

static int pend_add(struct watch *w, const char *path, double at)
{
	struct pending *v;
	size_t i;

	for (i = 0; i < w->nr_pend; i++) {
		if (strcmp(w->pend[i].path, path))
			continue;
		if (at < w->pend[i].at)
			w->pend[i].at = at;
		return 0;
	}
	v = realloc(w->pend, (w->nr_pend + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	w->pend = v;
	v[w->nr_pend].path = strdup(path);
	v[w->nr_pend].at = at;
	if (!v[w->nr_pend].path)
		return -ENOMEM;
	w->nr_pend++;
	return 0;
}

/* A probe's binary replaced between its plan and now: plan it again. */
static int check_current(struct watch *w, const struct collector_probe *p)
{
	struct stat st;

	if (p->pid > 0 || p->retained)
		return 0;
	if (!stat(p->binary, &st) && st.st_dev == p->ident.dev && st.st_ino == p->ident.ino)
		return 0;
	return pend_add(w, p->binary, now_ms());
}

static int interests_of(struct watch *w, const struct collector_stats *cs, bool *wait_pid)
{
	bool appeared;
	size_t i;
	int err = 0;

	interests__free(w);
	for (i = 0; i < cs->nr_probes && !err; i++) {
		if (cs->probes[i].pid > 0)
			continue;
		err = watch_binary(w, cs->probes[i].binary);
		if (!err)
			err = check_current(w, &cs->probes[i]);
	}
	for (i = 0; i < cs->nr_failed && !err; i++) {
		const struct collector_failure *f = &cs->failed[i];

		appeared = false;
		if (f->wait == COLLECTOR_WAIT_CHANGE && f->path)
			err = watch_binary(w, f->path);
		else if (f->wait == COLLECTOR_WAIT_PATH && f->path)
			err = await_binary(w, f->path, &appeared);
		else if (f->wait == COLLECTOR_WAIT_PID)
			*wait_pid = true;
		if (!err && appeared)
			err = pend_add(w, f->path, now_ms());
	}
	for (i = 0; i < w->nr_src && !err; i++) {
		char dir[PATH_MAX];
		const char *name;

		if (!w->src[i].file)
			continue;
		split(w->src[i].file, dir, sizeof(dir), &name);
		err = interest_add(w, INT_PID_FILE, dir, name, NULL, i);
	}
	return err;
}

static bool dir_wanted(const struct watch *w, const char *dir)
{
	size_t i;

	for (i = 0; i < w->nr_ints; i++)
		if (!strcmp(w->ints[i].dir, dir))
			return true;
	return false;
}

/* inotify watches for the directories of the interests, and no others. */
static int arm_dirs(struct watch *w)
{
	struct dir_watch *v;
	size_t i, j, k = 0;
	int wd;

	for (i = 0; i < w->nr_dirs; i++) {
		if (dir_wanted(w, w->dirs[i].dir)) {
			w->dirs[k++] = w->dirs[i];
			continue;
		}
		inotify_rm_watch(w->ifd, w->dirs[i].wd);
		free(w->dirs[i].dir);
	}
	w->nr_dirs = k;
	for (i = 0; i < w->nr_ints; i++) {
		for (j = 0; j < w->nr_dirs && strcmp(w->dirs[j].dir, w->ints[i].dir); j++)
			;
		if (j < w->nr_dirs)
			continue;
		wd = inotify_add_watch(w->ifd, w->ints[i].dir, DIR_MASK);
		if (wd < 0) {
			log_warn("cannot watch %s for target changes: %s", w->ints[i].dir,
				 strerror(errno));
			w->resync = true;	/* tried again on the timer */
			continue;
		}
		for (j = 0; j < w->nr_dirs && w->dirs[j].wd != wd; j++)
			;
		if (j < w->nr_dirs)
			continue;	/* the same directory by another name */
		v = realloc(w->dirs, (w->nr_dirs + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->dirs = v;
		v[w->nr_dirs].wd = wd;
		v[w->nr_dirs].dir = strdup(w->ints[i].dir);
		if (!v[w->nr_dirs].dir)
			return -ENOMEM;
		w->nr_dirs++;
	}
	return 0;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void exit_seen(struct watch *w, pid_t pid)
{
	size_t i;

	for (i = 0; i < w->nr_exits; i++)
		if (w->exits[i] == pid)
			return;
	if (w->nr_exits < sizeof(w->exits) / sizeof(w->exits[0]))
		w->exits[w->nr_exits++] = pid;
}

static bool pid_attached(const struct collector_stats *cs, pid_t pid)
{
	size_t i;

	for (i = 0; i < cs->nr_probes; i++)
		if (cs->probes[i].pid == pid)
			return true;
	return false;
}

/* A pidfd for each pid the probes are attached to, and for no other. */
static int arm_pids(struct watch *w, const struct collector_stats *cs)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct pid_watch *v;
	size_t i, j, k = 0;
	int fd;

	for (i = 0; i < w->nr_pidws; i++) {
		if (pid_attached(cs, w->pidws[i].pid)) {
			w->pidws[k++] = w->pidws[i];
			continue;
		}
		close(w->pidws[i].fd);
	}
	w->nr_pidws = k;
	for (i = 0; i < cs->nr_probes; i++) {
		pid_t pid = cs->probes[i].pid;

		if (pid <= 0)
			continue;
		for (j = 0; j < w->nr_pidws && w->pidws[j].pid != pid; j++)
			;
		if (j < w->nr_pidws)
			continue;
		fd = pidfd_open(pid);
		if (fd < 0) {
			if (errno == ESRCH)
				exit_seen(w, pid);	/* gone already */
			else
				log_warn("cannot watch pid %d: %s", (int)pid, strerror(errno));
			continue;
		}
		ev.data.u64 = TAG_PID | (uint64_t)(uint32_t)pid << 8;
		v = realloc(w->pidws, (w->nr_pidws + 1) * sizeof(*v));
		if (!v || epoll_ctl(w->efd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			if (!v)
				return -ENOMEM;
			continue;
		}
		w->pidws = v;
		v[w->nr_pidws].pid = pid;
		v[w->nr_pidws++].fd = fd;
	}
	return 0;
}

static void pidw_close(struct watch *w, pid_t pid)
{
	size_t i;

	for (i = 0; i < w->nr_pidws; i++) {
		if (w->pidws[i].pid != pid)
			continue;
		close(w->pidws[i].fd);	/* leaves the epoll set with it */
		w->pidws[i] = w->pidws[--w->nr_pidws];
		return;
	}
}

/* ---- the targets' state ---- */

static void line_add(struct target_state *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void line_add(struct target_state *t, const char *fmt, ...)
{
	size_t n = strlen(t->lines);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->lines + n, sizeof(t->lines) - n, fmt, ap);
	va_end(ap);
	n = strlen(t->lines);
	if (n + 1 < sizeof(t->lines))
		snprintf(t->lines + n, sizeof(t->lines) - n, "\n");
}

static void source_state(const struct pid_source *s, struct target_state *t)
{
	if (s->pid > 0 && pid_runs(s->pid))
		return;
	t->up = false;
	if (s->pid > 0) {
		line_add(t, "target %s: pid %d is not running", t->name, (int)s->pid);
	} else if (s->exited && s->file) {
		t->gone = true;
		line_add(t, "target %s (pid %d) exited; waiting for %s to name its new process",
			 t->name, (int)s->exited, s->file);
	} else if (s->exited) {
		t->gone = true;
		line_add(t, "target %s (pid %d) exited", t->name, (int)s->exited);
	} else {
		line_add(t, "target %s: waiting for %s to name a running process", t->name,
			 s->file);
	}
}

static bool spec_pid_gone(const struct watch *w, pid_t pid)
{
	size_t i;

	for (i = 0; i < w->nr_gone; i++)
		if (w->gone[i] == pid)
			return true;
	return false;
}

static void spec_target_state(const struct watch *w, const struct spec_target *t,
			      struct target_state *ts)
{
	struct stat st;
	size_t i;

	if (w->nr_src) {
		for (i = 0; i < w->nr_src; i++)
			source_state(&w->src[i], ts);
		return;
	}
	if (t->pid > 0) {
		if (spec_pid_gone(w, t->pid)) {
			ts->up = false;
			ts->gone = true;
			line_add(ts, "target %s (pid %d) exited", ts->name, t->pid);
		} else if (!pid_runs(t->pid)) {
			ts->up = false;
			line_add(ts, "target %s: pid %d is not running", ts->name, t->pid);
		}
		return;
	}
	if (t->binary && stat(t->binary, &st)) {
		ts->up = false;
		line_add(ts, "target %s: binary %s: %s", ts->name, t->binary, strerror(errno));
	}
}

static int targets_of(struct watch *w, const struct spec *spec)
{
	size_t i;

	targets__free(w);
	w->targets = calloc(spec->nr_targets + 1, sizeof(*w->targets));
	w->pub = calloc(spec->nr_targets + 1, sizeof(*w->pub));
	if (!w->targets || !w->pub)
		return -ENOMEM;
	for (i = 0; i < spec->nr_targets; i++) {
		struct target_state *ts = &w->targets[i];

		ts->name = strdup(spec->targets[i].name);
		if (!ts->name)
			return -ENOMEM;
		w->nr_targets++;
		ts->up = true;
		spec_target_state(w, &spec->targets[i], ts);
		w->pub[i].name = ts->name;
		w->pub[i].up = ts->up;
	}
	return 0;
}

const struct watch_target *watch__targets(const struct watch *w, size_t *nr)
{
	*nr = w->nr_targets;
	return w->pub;
}

/* ---- the timer ---- */

static void arm_timer(struct watch *w)
{
	struct itimerspec its = {};
	double at = 0, t;
	size_t i;

#define EARLIER(x)	do { t = (x); if (t > 0 && (!at || t < at)) at = t; } while (0)
	for (i = 0; i < w->nr_pend; i++)
		EARLIER(w->pend[i].at);
	for (i = 0; i < w->nr_src; i++)
		EARLIER(w->src[i].retry_at);
	EARLIER(w->pid_retry_at);
	EARLIER(w->prune_at);
	if (w->nr_exits || w->resync)
		EARLIER(now_ms());
#undef EARLIER
	if (at) {
		if (at < 1)
			at = 1;
		its.it_value.tv_sec = (time_t)(at / 1e3);
		its.it_value.tv_nsec = (long)((at - its.it_value.tv_sec * 1e3) * 1e6);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int watch__sync(struct watch *w, struct collector *c, const struct spec *spec)
{
	struct collector_stats cs;
	bool wait_pid = false;
	int err;

	collector__stats(c, &cs);
	w->resync = false;
	err = interests_of(w, &cs, &wait_pid);
	if (!err)
		err = arm_dirs(w);
	if (!err)
		err = arm_pids(w, &cs);
	if (!err)
		err = targets_of(w, spec);
	if (!wait_pid) {
		w->pid_retry_at = 0;
		w->pid_backoff_ms = 0;
	} else if (!w->pid_retry_at) {
		w->pid_retry_at = now_ms() + backoff(&w->pid_backoff_ms);
	}
	if (!collector__has_retained(c))
		w->prune_at = 0;
	else if (!w->prune_at)
		w->prune_at = now_ms() + WATCH_PRUNE_MS;
	arm_timer(w);
	if (err)
		log_err("cannot watch the targets: %s", strerror(-err));
	return err;
}

/* ---- what happened ---- */

static const char *dir_of(const struct watch *w, int wd)
{
	size_t i;

	for (i = 0; i < w->nr_dirs; i++)
		if (w->dirs[i].wd == wd)
			return w->dirs[i].dir;
	return NULL;
}

/* Whether @in waits for the binary itself, not for a directory on its way. */
static bool awaits_file(const struct interest *in)
{
	size_t n = strlen(in->dir);

	return !strncmp(in->path, in->dir, n) && in->path[n] == '/' &&
	       !strcmp(in->path + n + 1, in->name);
}

static void on_inotify(struct watch *w, const struct inotify_event *e)
{
	const char *dir = dir_of(w, e->wd);
	double t = now_ms();
	size_t i;

	if (e->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW))
		w->resync = true;	/* and plan everything again on overflow */
	if (e->mask & IN_Q_OVERFLOW)
		pend_add(w, "", t);
	if (!dir || !e->len)
		return;
	for (i = 0; i < w->nr_ints; i++) {
		struct interest *in = &w->ints[i];

		if (strcmp(in->dir, dir) || strcmp(in->name, e->name))
			continue;
		if (in->kind == INT_PID_FILE) {
			struct pid_source *s = &w->src[in->src];

			if (!s->pid && (e->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)))
				s->retry_at = t;
		} else if (e->mask & (CHANGED_MASK | (in->kind == INT_AWAIT && !awaits_file(in) ?
						      IN_CREATE : 0))) {
			pend_add(w, in->path, t);
		} else if (e->mask & IN_CREATE) {
			pend_add(w, in->path, t + WATCH_SETTLE_MS);
		}
	}
}

static void read_inotify(struct watch *w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *e;
	ssize_t n;
	char *p;

	while ((n = read(w->ifd, buf, sizeof(buf))) > 0)
		for (p = buf; p < buf + n; p += sizeof(*e) + e->len) {
			e = (const struct inotify_event *)p;
			on_inotify(w, e);
		}
}

/* The sources and targets of @pid: its exit logged, its source waiting for its pid file. */
static void on_pid_exit(struct watch *w, const struct spec *spec, pid_t pid)
{
	bool src = false;
	size_t i, j;

	for (i = 0; i < w->nr_src; i++) {
		struct pid_source *s = &w->src[i];

		if (s->pid != pid)
			continue;
		src = true;
		s->exited = pid;
		s->pid = 0;
		w->pids[i] = 0;
		for (j = 0; j < spec->nr_targets; j++)
			log_warn("target %s (pid %d) exited%s%s", spec->targets[j].name, (int)pid,
				 s->file ? "; reading again " : "", s->file ? s->file : "");
		if (s->file) {
			s->retry_at = now_ms();
			s->backoff_ms = 0;
			s->said_waiting = false;
		}
	}
	for (j = 0; !src && j < spec->nr_targets; j++) {
		if (spec->targets[j].pid != pid)
			continue;
		log_warn("target %s (pid %d) exited", spec->targets[j].name, (int)pid);
		if (!spec_pid_gone(w, pid) && w->nr_gone < sizeof(w->gone) / sizeof(w->gone[0]))
			w->gone[w->nr_gone++] = pid;
	}
}

static int refresh(struct collector *c, const char *path, const pid_t *pids, size_t nr)
{
	struct collector_scope sc = { .path = path, .pids = pids, .nr_pids = nr };
	int err = collector__refresh(c, &sc);

	if (err)
		log_err("cannot attach the probes again: %s", strerror(-err));
	return err;
}

static int handle_exits(struct watch *w, struct collector *c, const struct spec *spec)
{
	pid_t exits[sizeof(w->exits) / sizeof(w->exits[0])];
	size_t i, n = w->nr_exits;
	int err;

	if (!n)
		return 0;
	memcpy(exits, w->exits, n * sizeof(exits[0]));
	w->nr_exits = 0;
	for (i = 0; i < n; i++) {
		on_pid_exit(w, spec, exits[i]);
		collector__pid_exited(c, exits[i]);
		pidw_close(w, exits[i]);
	}
	err = collector__set_pids(c, w->pids, w->nr_src);
	return err ? err : refresh(c, NULL, exits, n);
}

/* A pid file to read again: a running process attached, else a retry later. */
static int handle_source(struct watch *w, struct collector *c, size_t i, double t)
{
	struct pid_source *s = &w->src[i];
	pid_t pid, both[2];
	unsigned int ms;
	int err;

	if (!s->retry_at || s->retry_at > t)
		return 0;
	s->retry_at = 0;
	pid = source_read(s);
	if (pid <= 0) {
		ms = backoff(&s->backoff_ms);
		s->retry_at = t + ms;
		if (!s->said_waiting)
			log_warn("--pid-file %s %s: waiting for it to name a running process (watched, and read again every %u ms at most)",
				 s->file, pid_file_error(pid), WATCH_RETRY_MAX_MS);
		s->said_waiting = true;
		return 0;
	}
	s->pid = pid;
	s->backoff_ms = 0;
	s->said_waiting = false;
	w->pids[i] = pid;
	log_info("--pid-file %s names pid %d: attaching to it", s->file, (int)pid);
	err = collector__set_pids(c, w->pids, w->nr_src);
	both[0] = pid;
	both[1] = s->exited;
	return err ? err : refresh(c, NULL, both, s->exited ? 2 : 1);
}

static int handle_pending(struct watch *w, struct collector *c, double t)
{
	size_t i = 0;
	int err = 0;

	while (i < w->nr_pend && !err) {
		struct pending p = w->pend[i];

		if (p.at > t) {
			i++;
			continue;
		}
		w->pend[i] = w->pend[--w->nr_pend];
		if (p.path[0])
			log_info("target binary %s changed on disk: planning its probes again", p.path);
		err = refresh(c, p.path[0] ? p.path : NULL, NULL, 0);
		free(p.path);
	}
	return err;
}

/* The pids WAIT_PID probes wait for, planned again. */
static int handle_pid_retry(struct watch *w, struct collector *c, double t)
{
	struct collector_stats cs;
	pid_t pids[64];
	size_t i, n = 0;

	if (!w->pid_retry_at || w->pid_retry_at > t)
		return 0;
	w->pid_retry_at = 0;
	collector__stats(c, &cs);
	for (i = 0; i < cs.nr_failed && n < sizeof(pids) / sizeof(pids[0]); i++)
		if (cs.failed[i].wait == COLLECTOR_WAIT_PID)
			pids[n++] = cs.failed[i].pid;
	if (!n)
		return 0;
	w->pid_retry_at = t + backoff(&w->pid_backoff_ms);	/* kept if they still fail */
	return refresh(c, NULL, pids, n);
}

static void handle_prune(struct watch *w, struct collector *c, double t, bool events)
{
	bool due = w->prune_at && w->prune_at <= t;

	if (!due && !(events && w->prune_at && t - w->last_prune >= WATCH_PRUNE_MIN_MS))
		return;
	w->last_prune = t;
	w->prune_at = t + WATCH_PRUNE_MS;
	collector__prune(c);
}

int watch__dispatch(struct watch *w, struct collector *c, const struct spec *spec,
		    bool *changed)
{
	struct epoll_event evs[16];
	bool events = false;
	uint64_t ticks;
	double t;
	int i, nr, err = 0;
	size_t k;

	*changed = false;
	nr = epoll_wait(w->efd, evs, 16, 0);
	for (i = 0; i < nr; i++) {
		uint64_t tag = evs[i].data.u64 & 0xff;

		if (tag == TAG_INOTIFY) {
			read_inotify(w);
			events = true;
		} else if (tag == TAG_TIMER) {
			if (read(w->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				return -errno;
		} else {
			exit_seen(w, (pid_t)(evs[i].data.u64 >> 8));
			events = true;
		}
	}
	t = now_ms();
	if (w->nr_exits || w->nr_pend || w->pid_retry_at || w->resync)
		*changed = true;
	err = handle_exits(w, c, spec);
	for (k = 0; k < w->nr_src && !err; k++) {
		if (w->src[k].retry_at && w->src[k].retry_at <= t && w->src[k].file)
			*changed = true;
		err = handle_source(w, c, k, t);
	}
	if (!err)
		err = handle_pending(w, c, t);
	if (!err)
		err = handle_pid_retry(w, c, t);
	if (!err)
		handle_prune(w, c, t, events);
	*changed = true;	/* the targets' state is read again below */
	return watch__sync(w, c, spec) ?: err;
}

/* ---- /healthz ---- */

static const char *store_name(const struct store *st, uint32_t idx)
{
	return idx < st->nr_metrics ? st->metrics[idx].full_name : "?";
}

static bool metric_failed(const struct collector_stats *cs, uint32_t idx)
{
	size_t i;

	for (i = 0; i < cs->nr_failed; i++)
		if (cs->failed[i].metric_idx == idx)
			return true;
	return false;
}

static void failure_line(const struct collector_failure *f, const struct store *st,
			 char *buf, size_t len)
{
	size_t n = strlen(buf);

	n += snprintf(buf + n, len - n, "probe %s (metric %s, target %s", f->name,
		      store_name(st, f->metric_idx), f->target);
	if (f->pid > 0 && n < len)
		n += snprintf(buf + n, len - n, ", pid %d", (int)f->pid);
	if (n < len)
		n += snprintf(buf + n, len - n, "): not attached: %s", strerror(-f->err));
	if (n < len && f->wait == COLLECTOR_WAIT_PATH)
		n += snprintf(buf + n, len - n, "; waiting for %s to appear", f->path);
	else if (n < len && f->wait == COLLECTOR_WAIT_CHANGE)
		n += snprintf(buf + n, len - n, "; tried again when %s changes", f->path);
	else if (n < len && f->wait == COLLECTOR_WAIT_PID)
		n += snprintf(buf + n, len - n, "; tried again until pid %d runs", (int)f->pid);
	if (n < len)
		snprintf(buf + n, len - n, "\n");
}

int watch__health(const struct watch *w, const struct collector_stats *cs,
		  const struct store *st, char *buf, size_t len)
{
	size_t i, nr_up = 0, nr_bad = 0, n;
	bool gone = false, down = false;
	int status;

	for (i = 0; i < cs->nr_metrics; i++)
		nr_up += !metric_failed(cs, (uint32_t)i);
	for (i = 0; i < cs->nr_failed; i++)
		nr_bad += !cs->failed[i].no_process;
	for (i = 0; i < w->nr_targets; i++) {
		gone |= w->targets[i].gone;
		down |= !w->targets[i].up;
	}
	status = gone || (nr_bad && !w->best_effort) ? 503 : 200;
	buf[0] = '\0';
	if (status == 200 && !nr_bad && !down && nr_up == cs->nr_metrics) {
		snprintf(buf, len, "ok\n");
		return status;
	}
	if (status == 200)
		snprintf(buf, len, "ok: %zu of %zu probes attached\n", nr_up, cs->nr_metrics);
	for (i = 0; i < w->nr_targets; i++) {
		n = strlen(buf);
		snprintf(buf + n, len - n, "%s", w->targets[i].lines);
	}
	if (status == 503 && nr_bad) {
		n = strlen(buf);
		snprintf(buf + n, len - n, "%zu of %zu probes not attached\n",
			 cs->nr_metrics - nr_up, cs->nr_metrics);
	}
	for (i = 0; i < cs->nr_failed; i++)
		if (!cs->failed[i].no_process)
			failure_line(&cs->failed[i], st, buf, len);
	return status;
}
