/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * reload: the requests to load the spec again and how the last load went.
 *
 * A reload runs on the drain loop's thread, which owns the collector and
 * the store: SIGHUP sets a flag the loop reads, and an HTTP worker that got
 * `POST /-/reload` waits in agent_reload__request() until the loop has run
 * it (the loop polls agent_reload__fd()). The status is what Prometheus
 * exports for its own reloads: emitd_config_last_reload_successful and
 * emitd_config_last_reload_success_timestamp_seconds.
 *
 * Threads: agent_reload__request() from any thread; the others from the
 * loop's thread only, except agent_reload__status() (any thread).
 */
#ifndef EMITD_AGENT_RELOAD_H
#define EMITD_AGENT_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#define AGENT_RELOAD_MSG_LEN	256

struct agent_reload;

/* @now_s: the wall-clock time the running spec was loaded (its success). */
int agent_reload__new(double now_s, struct agent_reload **out);
void agent_reload__free(struct agent_reload *r);

/* Readable when an HTTP request waits: then call agent_reload__take(). */
int agent_reload__fd(const struct agent_reload *r);
/* Whether a request waits (consumes the fd's readiness). */
bool agent_reload__take(struct agent_reload *r);
/* The loop ran a reload: 0 or -errno, @msg what went wrong (the status). */
void agent_reload__record(struct agent_reload *r, int err, const char *msg, double now_s);
/* Once the loop published what the reload changed: the waiting requests get the result. */
void agent_reload__answer(struct agent_reload *r);
/* The loop ends: requests waiting or to come get -ECANCELED. */
void agent_reload__close(struct agent_reload *r);

/*
 * From an HTTP worker: ask the loop to reload and wait for it (at most 60
 * s). 0, or -errno with the reason in @msg.
 */
int agent_reload__request(struct agent_reload *r, char *msg, size_t msg_len);

void agent_reload__status(struct agent_reload *r, bool *ok, double *success_s);

#endif /* EMITD_AGENT_RELOAD_H */
