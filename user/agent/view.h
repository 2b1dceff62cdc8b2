/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * view: the renderings the HTTP server serves, as the drain loop publishes
 * them.
 *
 * A publication renders the families once into text 0.0.4, and into
 * OpenMetrics too while OpenMetrics scrapes came in the last VIEW_OM_KEEP_MS,
 * and becomes the current view: immutable, reference-counted bytes. A scrape
 * is served from the current view's buffer itself, never a copy: the body
 * view_pub__body() hands out points into the view and holds a reference
 * until the server releases it, so a view outlives its replacement for as
 * long as a reply is still being sent from it.
 *
 * gzip: each format of a view is compressed at most once, on the first gzip
 * scrape of that view (lazily: a view nobody asks gzip of is never
 * compressed). Concurrent first gzip scrapes wait for the one compression
 * under a per-format lock; every later gzip scrape of the view gets the same
 * compressed bytes without locking. A failed compression (-ENOMEM) is not
 * remembered: the next gzip scrape tries again.
 *
 * Drain on scrape: a scrape can ask the drain loop for a fresh drain and wait
 * (at most VIEW_WAIT_MS) until a cycle that started after its request has
 * published. The loop polls view_pub__request_fd(), calls
 * view_pub__take_request() when it is readable, view_pub__cycle_start() as a
 * cycle starts and view_pub__publish() at its end.
 *
 * Threading: view_pub__body(), view_pub__get() and view__put() from any
 * thread, concurrently; the drain-loop calls from the drain loop's thread.
 * view_pub__body() may block: for one compression of the rendering, or, when
 * asked to (drain) or for the first OpenMetrics scrape in a while, until the
 * loop publishes (at most VIEW_WAIT_MS each time).
 */
#ifndef EMITD_VIEW_H
#define EMITD_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/http.h"
#include "lib/expo.h"

/* How long one OpenMetrics scrape keeps OpenMetrics rendered at each drain. */
#define VIEW_OM_KEEP_MS		(10 * 60 * 1000)
/* The longest a scrape waits for the drain loop to publish. */
#define VIEW_WAIT_MS		2000

struct view;
struct view_pub;

/* Errors: -ENOMEM, or the errno of eventfd(2). */
int view_pub__new(struct view_pub **out);

/*
 * Drops the publisher's reference to the current view. Bodies still held
 * keep their view (and what it needs of the publisher) alive until released.
 * NULL is a no-op.
 */
void view_pub__free(struct view_pub *p);

/*
 * Renders @fams (expo__render() and expo__finish() of each format) into a new
 * view and makes it current. Returns 0, -ENOMEM or -EINVAL (expo__render());
 * on error the current view stays.
 */
int view_pub__publish(struct view_pub *p, const struct expo_family *fams, size_t nr);

/*
 * The current rendering in @fmt, gzip-compressed when @gzip, as a body for
 * the HTTP server (http_render_fn). With @drain, first asks the drain loop
 * for a fresh drain and waits for it. Returns 0 or -EAGAIN (nothing
 * published yet, or no OpenMetrics rendering came within VIEW_WAIT_MS),
 * -ENOMEM (compression).
 */
int view_pub__body(struct view_pub *p, enum expo_format fmt, bool gzip, bool drain,
		   struct http_body *out);

/* How many compressions all views of @p have made. */
uint64_t view_pub__compressions(const struct view_pub *p);

/* The current view with a reference (view__put() it), or NULL. */
struct view *view_pub__get(struct view_pub *p);

/* The view's text 0.0.4 rendering; NULL @v gives "" and 0. */
const char *view__text(const struct view *v, size_t *len);

/* Drops a reference; NULL is a no-op. */
void view__put(struct view *v);

/* --- the drain loop's side -------------------------------------------------- */

/* Readable (EPOLLIN) while a scrape waits for a drain. */
int view_pub__request_fd(const struct view_pub *p);

/* Consumes the pending requests; true when there were any. */
bool view_pub__take_request(struct view_pub *p);

/* A drain cycle starts: the requests made so far are served by its publication. */
void view_pub__cycle_start(struct view_pub *p);

#endif /* EMITD_VIEW_H */
