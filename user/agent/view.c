// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * view: published renderings, shared by concurrent scrapes without copies,
 * each format gzipped at most once. See view.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/view.h"

/* One format of a view: its bytes and, once asked for, their gzip. */
struct view_part {
	struct expo_buf plain;
	pthread_mutex_t gz_lock;	/* one compression at a time */
	atomic_bool gz_ready;		/* gz is complete and immutable */
	struct expo_buf gz;
};

/* One immutable rendering of every format, shared by concurrent scrapes. */
struct view {
	atomic_int refs;
	struct view_pub *pub;		/* holds a reference to it */
	bool has_om;
	struct view_part part[2];	/* by enum expo_format */
};

struct view_pub {
	atomic_int refs;		/* the owner's and one per live view */
	pthread_mutex_t lock;		/* guards the fields below */
	struct view *cur;
	pthread_cond_t published;
	int request_fd;			/* eventfd: scrapes asking for a drain */
	uint64_t scrape_req;		/* requests for a drain */
	uint64_t cycle_req;		/* the requests the running cycle serves */
	uint64_t served_req;		/* requests served by a published rendering */
	_Atomic uint64_t om_wanted_until;	/* monotonic ms */
	_Atomic uint64_t compressions;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- publisher lifetime ------------------------------------------------------ */

int view_pub__new(struct view_pub **out)
{
	struct view_pub *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->request_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->request_fd < 0) {
		err = -errno;
		free(p);
		return err;
	}
	atomic_init(&p->refs, 1);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->published, NULL);
	*out = p;
	return 0;
}

static void pub__put(struct view_pub *p)
{
	if (atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	close(p->request_fd);
	pthread_cond_destroy(&p->published);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void view_pub__free(struct view_pub *p)
{
	struct view *v;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	v = p->cur;
	p->cur = NULL;
	pthread_mutex_unlock(&p->lock);
	view__put(v);
	pub__put(p);
}

uint64_t view_pub__compressions(const struct view_pub *p)
{
	return atomic_load(&p->compressions);
}

/* --- views ------------------------------------------------------------------- */

static struct view *view__new(struct view_pub *p)
{
	struct view *v = calloc(1, sizeof(*v));
	size_t i;

	if (!v)
		return NULL;
	atomic_init(&v->refs, 1);
	for (i = 0; i < 2; i++)
		pthread_mutex_init(&v->part[i].gz_lock, NULL);
	atomic_fetch_add(&p->refs, 1);
	v->pub = p;
	return v;
}

void view__put(struct view *v)
{
	size_t i;

	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	for (i = 0; i < 2; i++) {
		expo_buf__free(&v->part[i].plain);
		expo_buf__free(&v->part[i].gz);
		pthread_mutex_destroy(&v->part[i].gz_lock);
	}
	pub__put(v->pub);
	free(v);
}

const char *view__text(const struct view *v, size_t *len)
{
	const struct expo_buf *b = v ? &v->part[EXPO_FMT_TEXT_004].plain : NULL;

	*len = b ? b->len : 0;
	return b && b->data ? b->data : "";
}

struct view *view_pub__get(struct view_pub *p)
{
	struct view *v;

	pthread_mutex_lock(&p->lock);
	v = p->cur;
	if (v)
		atomic_fetch_add(&v->refs, 1);
	pthread_mutex_unlock(&p->lock);
	return v;
}

static int render_part(struct view_part *part, const struct expo_family *fams, size_t nr,
		       enum expo_format fmt)
{
	int err = expo__render(&part->plain, fams, nr, fmt);

	return err ? err : expo__finish(&part->plain, fmt);
}

int view_pub__publish(struct view_pub *p, const struct expo_family *fams, size_t nr)
{
	struct view *v = view__new(p), *old;
	int err;

	if (!v)
		return -ENOMEM;
	err = render_part(&v->part[EXPO_FMT_TEXT_004], fams, nr, EXPO_FMT_TEXT_004);
	/* OpenMetrics only while OpenMetrics scrapers come: it doubles the memory */
	v->has_om = now_ms() < atomic_load(&p->om_wanted_until);
	if (!err && v->has_om)
		err = render_part(&v->part[EXPO_FMT_OPENMETRICS_100], fams, nr,
				  EXPO_FMT_OPENMETRICS_100);
	if (err) {
		view__put(v);
		return err;
	}
	pthread_mutex_lock(&p->lock);
	old = p->cur;
	p->cur = v;
	p->served_req = p->cycle_req;
	pthread_cond_broadcast(&p->published);
	pthread_mutex_unlock(&p->lock);
	view__put(old);
	return 0;
}

/* --- bodies ------------------------------------------------------------------ */

/* Compresses @part once; concurrent callers wait for that one compression. */
static int part_gzip(struct view *v, struct view_part *part)
{
	int err = 0;

	if (atomic_load_explicit(&part->gz_ready, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&part->gz_lock);
	if (!atomic_load_explicit(&part->gz_ready, memory_order_relaxed)) {
		part->gz.len = 0;
		err = expo__gzip(part->plain.data, part->plain.len, &part->gz);
		if (!err) {
			atomic_fetch_add(&v->pub->compressions, 1);
			atomic_store_explicit(&part->gz_ready, true, memory_order_release);
		}
	}
	pthread_mutex_unlock(&part->gz_lock);
	return err;
}

static void body_release(void *cookie)
{
	view__put(cookie);
}

/* Ask the drain loop for a drain and wait (at most VIEW_WAIT_MS) for its rendering. */
static void wait_fresh_drain(struct view_pub *p)
{
	struct timespec until;
	uint64_t one = 1, mine;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += VIEW_WAIT_MS / 1000;
	until.tv_nsec += (VIEW_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	mine = ++p->scrape_req;
	/* served only by a cycle that started after this request */
	if (write(p->request_fd, &one, sizeof(one)) == sizeof(one))
		while (p->served_req < mine &&
		       !pthread_cond_timedwait(&p->published, &p->lock, &until))
			;
	pthread_mutex_unlock(&p->lock);
}

/* The current view, holding OpenMetrics when @fmt needs it; NULL: -EAGAIN. */
static struct view *view_for(struct view_pub *p, enum expo_format fmt, bool drain)
{
	struct view *v;

	if (fmt == EXPO_FMT_OPENMETRICS_100)
		atomic_store(&p->om_wanted_until, now_ms() + VIEW_OM_KEEP_MS);
	if (drain)
		wait_fresh_drain(p);
	v = view_pub__get(p);
	if (v && fmt == EXPO_FMT_OPENMETRICS_100 && !v->has_om) {
		/* the first OpenMetrics scrape in a while: wait for a rendering */
		view__put(v);
		wait_fresh_drain(p);
		v = view_pub__get(p);
		if (v && !v->has_om) {
			view__put(v);
			return NULL;
		}
	}
	return v;
}

int view_pub__body(struct view_pub *p, enum expo_format fmt, bool gzip, bool drain,
		   struct http_body *out)
{
	struct view_part *part;
	struct view *v;
	int err;

	v = view_for(p, fmt, drain);
	if (!v)
		return -EAGAIN;
	part = &v->part[fmt];
	if (gzip) {
		err = part_gzip(v, part);
		if (err) {
			view__put(v);
			return err;
		}
	}
	out->data = gzip ? part->gz.data : part->plain.data;
	out->len = gzip ? part->gz.len : part->plain.len;
	out->raw_len = part->plain.len;
	out->release = body_release;
	out->cookie = v;
	return 0;
}

/* --- the drain loop's side ---------------------------------------------------- */

int view_pub__request_fd(const struct view_pub *p)
{
	return p->request_fd;
}

bool view_pub__take_request(struct view_pub *p)
{
	uint64_t n;

	return read(p->request_fd, &n, sizeof(n)) == sizeof(n);
}

void view_pub__cycle_start(struct view_pub *p)
{
	pthread_mutex_lock(&p->lock);
	p->cycle_req = p->scrape_req;
	pthread_mutex_unlock(&p->lock);
}
