/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * watch: what the running spec's targets depend on, watched from the drain
 * loop, and the collector kept in step with it (collector__refresh()).
 *
 *   binaries    each binary the probes run on (every process) and each one a
 *               probe waits for: inotify on its directory (IN_MOVED_TO,
 *               IN_CLOSE_WRITE, IN_ATTRIB, IN_DELETE, IN_MOVED_FROM on its
 *               name; IN_CREATE after WATCH_SETTLE_MS). A binary replaced
 *               on disk is attached again; one that does not exist yet is
 *               watched from its nearest existing parent directory.
 *   pids        each pid the probes are attached to, by pidfd: an exit is
 *               logged, the pid is never planned again (pids are reused),
 *               its links go, its targets are down.
 *   pid files   --pid-file FILE: read at start, and again when its process
 *               exits, with an inotify watch on the file and retries backing
 *               off from WATCH_RETRY_MIN_MS to WATCH_RETRY_MAX_MS until it
 *               names a running process, which is then attached.
 *   timers      a pid a probe waits for is retried with the same backoff;
 *               links kept on replaced binaries are pruned (no process maps
 *               the old inode any more) every WATCH_PRUNE_MS, and after
 *               watch events at most every WATCH_PRUNE_MIN_MS.
 *
 * /healthz says what the targets and probes are (watch__health()):
 *   200 "ok\n"          every probe attached, every target there;
 *   200 "ok: N of M probes attached\n" then one line per probe without a
 *                       link and per target not there yet: best-effort;
 *   503 "target NAME (pid PID) exited\n" (and what it waits for): a pid
 *                       target that ran went away, whatever the policy;
 *   503 "N of M probes not attached\n" then the lines: strict, when a
 *                       re-attachment at run time failed (a start or a
 *                       reload that fails does not run at all).
 * The agent answers 503 "starting\n" before its first rendering.
 *
 * Loop thread only: the caller owns the collector and serializes the calls.
 */
#ifndef EMITD_AGENT_WATCH_H
#define EMITD_AGENT_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/collector.h"
#include "spec/spec.h"

#define WATCH_SETTLE_MS		200	/* after IN_CREATE, for the writer to finish */
#define WATCH_RETRY_MIN_MS	100
#define WATCH_RETRY_MAX_MS	5000
#define WATCH_PRUNE_MS		2000
#define WATCH_PRUNE_MIN_MS	500
#define WATCH_MAX_PID_FILES	16
#define WATCH_MAX_SOURCES	(64 + WATCH_MAX_PID_FILES)	/* --pid and --pid-file */
#define WATCH_HEALTH_LEN	4096

struct watch_opts {
	const pid_t *pids;		/* --pid */
	size_t nr_pids;
	const char *const *pid_files;	/* --pid-file */
	size_t nr_pid_files;
	bool best_effort;		/* --attach-policy best-effort */
};

/* Whether a spec target can be probed: its process runs, its binary is there. */
struct watch_target {
	const char *name;
	bool up;
};

struct watch;

/*
 * Read the pid files. One that names no running process is an error
 * (-ESRCH, -ENOENT, -EINVAL; logged) unless best-effort: then it is waited for.
 */
int watch__new(const struct watch_opts *opts, struct watch **out);
void watch__free(struct watch *w);

/* The pid set for the collector (--pid, then --pid-file; 0: none now); until the next call. */
const pid_t *watch__pids(const struct watch *w, size_t *nr);

/* Readable when something happened: then call watch__dispatch(). */
int watch__fd(const struct watch *w);

/* After the collector applied a spec (open, reload): watch what it runs and waits for. */
int watch__sync(struct watch *w, struct collector *c, const struct spec *spec);

/*
 * Read what happened and bring the collector in step (refresh, prune, the
 * pid set). *@changed: the collector's probes changed (publish again).
 * 0, or -errno when the collector could not be changed (logged).
 */
int watch__dispatch(struct watch *w, struct collector *c, const struct spec *spec,
		    bool *changed);

/* The spec's targets, as of the last sync; valid until the next call. */
const struct watch_target *watch__targets(const struct watch *w, size_t *nr);

/* /healthz: the status (200 or 503) and its body in @buf (NUL-terminated). */
int watch__health(const struct watch *w, const struct collector_stats *cs,
		  const struct store *st, char *buf, size_t len);

#endif /* EMITD_AGENT_WATCH_H */
