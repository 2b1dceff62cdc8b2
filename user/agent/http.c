// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * http: /metrics, /healthz, /snapshot and /normalization on libmicrohttpd. See http.h.
 *
 * The listening socket is bound here rather than by MHD so that a port in
 * use is reported as -EADDRINUSE (MHD only says "failed"), and so that port 0
 * can be read back with getsockname(). MHD owns the socket once it started
 * and closes it in MHD_stop_daemon().
 *
 * The request deadline: MHD's timeout counts idle time only, so every
 * connection is tracked from MHD's STARTED to its CLOSED notification, with
 * the time its current request began (accept, or the end of the previous
 * reply) and whether that request's head is complete. A watchdog thread
 * shuts down (shutdown(2)) the sockets of requests past the deadline; MHD
 * then sees EOF and closes the connection in its own thread. The watchdog
 * holds conns_lock while it does so, and CLOSED removes the connection under
 * that lock before MHD close()s the descriptor (MHD notifies first, then
 * closes), so a descriptor the watchdog shuts down is always still the
 * connection's own, never a number reused by another file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agent/http.h"
#include "agent/negotiate.h"

#define CT_TEXT			"text/plain; charset=utf-8"
#define CT_JSON			"application/json"

/* One connection, from MHD's STARTED to its CLOSED notification. */
struct http_conn {
	struct http_conn *prev, *next;	/* under conns_lock */
	int fd;
	uint64_t since_ms;		/* the current request began: under conns_lock */
	bool busy;			/* its head is complete: under conns_lock */
	bool dropped;			/* shut down by the deadline: under conns_lock */
	/* the current request, on the connection's worker thread only */
	size_t target_len;		/* strlen() of the raw request target */
	bool target_nul;		/* "%00" in it */
	bool head_done;			/* the handler has seen the head */
	bool answered;
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_opts opts;
	int port;
	pthread_mutex_t lock;		/* protects stats */
	struct http_stats stats;
	pthread_mutex_t conns_lock;	/* protects conns and stopping */
	struct http_conn conns;		/* list head */
	pthread_cond_t wake;		/* the watchdog's sleep (CLOCK_MONOTONIC) */
	bool stopping;
	pthread_t watchdog;
};

/* --- options and listen address ------------------------------------------- */

static int copy_opts(const struct http_opts *in, struct http_opts *out)
{
	const char *tail;
	size_t i;

	if (!in || in->sz < offsetof(struct http_opts, ctx) + sizeof(in->ctx))
		return -EINVAL;
	/* a newer caller's extra fields must be zero: we cannot honour them */
	tail = (const char *)in + sizeof(*out);
	for (i = sizeof(*out); i < in->sz; i++, tail++) {
		if (*tail)
			return -EINVAL;
	}
	/* an older caller's struct ends early: the fields it lacks are 0 */
	memset(out, 0, sizeof(*out));
	memcpy(out, in, in->sz < sizeof(*out) ? in->sz : sizeof(*out));
	out->sz = sizeof(*out);
	if (!out->listen || !out->listen[0])
		out->listen = HTTP_DEFAULT_LISTEN;
	if (!out->max_conns)
		out->max_conns = HTTP_DEFAULT_MAX_CONNS;
	if (!out->timeout_s)
		out->timeout_s = HTTP_DEFAULT_TIMEOUT_S;
	if (!out->max_request_bytes)
		out->max_request_bytes = HTTP_DEFAULT_MAX_REQUEST;
	if (!out->max_conns_per_ip)
		out->max_conns_per_ip = HTTP_DEFAULT_PER_IP_CONNS;
	if (!out->request_deadline_ms)
		out->request_deadline_ms = HTTP_DEFAULT_REQUEST_DEADLINE_MS;
	if (!out->threads)
		out->threads = HTTP_DEFAULT_THREADS;
	if (out->threads > out->max_conns)
		out->threads = out->max_conns;
	if (out->max_request_bytes < HTTP_MIN_MAX_REQUEST || !out->render)
		return -EINVAL;
	return 0;
}

/* Decimal 0..65535, digits only. */
static int parse_port(const char *s)
{
	int port = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		port = port * 10 + (*s - '0');
	}
	return port > 65535 ? -EINVAL : port;
}

/* "a.b.c.d:port" or "[v6]:port" → sockaddr; host names are not resolved. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *colon, *end;
	bool v6 = s[0] == '[';
	size_t hlen;
	int port;

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		s++;
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
	} else {
		end = colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
	}
	hlen = (size_t)(end - s);
	if (!hlen || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	port = parse_port(colon + 1);
	if (port < 0)
		return port;

	if (v6) {
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -EINVAL;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof(*s4);
	return 0;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Returns a listening socket or a negative errno. */
static int listen_socket(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd, one = 1, err;

	/* non-blocking: the workers share it, one's accept must not block */
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto out_errno;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto out_errno;
	if (bind(fd, (const struct sockaddr *)ss, len))
		goto out_errno;
	if (listen(fd, HTTP_BACKLOG))
		goto out_errno;
	return fd;

out_errno:
	err = -errno;
	close(fd);
	return err;
}

/* --- stats ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stats_request(struct http_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stats.requests++;
	pthread_mutex_unlock(&s->lock);
}

static void stats_scrape(struct http_server *s, size_t sent, size_t raw, bool gz,
			 double seconds)
{
	struct http_stats *st = &s->stats;

	pthread_mutex_lock(&s->lock);
	st->scrapes++;
	st->scrapes_gzip += gz;
	st->scrape_bytes += sent;
	st->scrape_bytes_uncompressed += raw;
	st->last_scrape_bytes = sent;
	st->last_scrape_bytes_uncompressed = raw;
	st->scrape_seconds_total += seconds;
	st->last_scrape_seconds = seconds;
	pthread_mutex_unlock(&s->lock);
}

static void stats_scrape_error(struct http_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stats.scrape_errors++;
	pthread_mutex_unlock(&s->lock);
}

void http_server__stats(struct http_server *s, struct http_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}

/* --- replies ---------------------------------------------------------------- */

struct reply_hdrs {
	const char *content_type;
	bool gzip;		/* Content-Encoding: gzip */
	bool vary;		/* Vary: Accept, Accept-Encoding */
	bool allow;		/* Allow: GET, HEAD */
};

static bool add_headers(struct MHD_Response *resp, const struct reply_hdrs *h)
{
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    h->content_type) != MHD_YES)
		return false;
	if (h->gzip && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
					       "gzip") != MHD_YES)
		return false;
	if (h->vary && MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
					       "Accept, Accept-Encoding") != MHD_YES)
		return false;
	if (h->allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
						"GET, HEAD") != MHD_YES)
		return false;
	return true;
}

/* Queues @body (ownership passes to MHD, freed in every case). */
static enum MHD_Result reply_buf(struct http_server *s, struct MHD_Connection *conn,
				 unsigned int status, struct expo_buf *body,
				 const struct reply_hdrs *h)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	stats_request(s);
	resp = MHD_create_response_from_buffer(body->len, body->data,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		expo_buf__free(body);
		return MHD_NO;		/* MHD closes the connection */
	}
	body->data = NULL;		/* now MHD's */
	expo_buf__free(body);
	if (!add_headers(resp, h)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct http_server *s, struct MHD_Connection *conn,
				  unsigned int status, const char *text, bool allow)
{
	const struct reply_hdrs h = { .content_type = CT_TEXT, .allow = allow };
	struct MHD_Response *resp;
	enum MHD_Result ret;

	stats_request(s);
	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (!add_headers(resp, &h)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* --- handlers --------------------------------------------------------------- */

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* Gzips @body in place when the client accepts it; returns 0, 1 (gzipped) or <0. */
static int maybe_gzip(struct MHD_Connection *conn, struct expo_buf *body)
{
	struct expo_buf z = { 0 };
	int err;

	if (!negotiate__accepts_gzip(header(conn, MHD_HTTP_HEADER_ACCEPT_ENCODING)))
		return 0;
	err = expo__gzip(body->data, body->len, &z);
	if (err) {
		expo_buf__free(&z);
		return err;
	}
	expo_buf__free(body);
	*body = z;
	return 1;
}

static void body_release(struct http_body *b)
{
	if (b->release)
		b->release(b->cookie);
}

/* Queues @body without a copy; MHD releases it once the reply is done. */
static enum MHD_Result reply_body(struct http_server *s, struct MHD_Connection *conn,
				  struct http_body *body, const struct reply_hdrs *h)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	stats_request(s);
	resp = MHD_create_response_from_buffer_with_free_callback_cls(body->len,
			(void *)body->data, body->release, body->cookie);
	if (!resp) {
		body_release(body);
		return MHD_NO;		/* MHD closes the connection */
	}
	if (!add_headers(resp, h)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result serve_metrics(struct http_server *s, struct MHD_Connection *conn)
{
	struct reply_hdrs h = { .vary = true };
	struct http_body body = { 0 };
	double t0 = now_seconds();
	enum expo_format fmt;
	int err;

	fmt = negotiate__format(header(conn, MHD_HTTP_HEADER_ACCEPT));
	h.gzip = negotiate__accepts_gzip(header(conn, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	err = s->opts.render(s->opts.ctx, fmt, h.gzip, &body);
	if (err < 0) {
		stats_scrape_error(s);
		return reply_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "metrics rendering failed\n", false);
	}
	h.content_type = negotiate__content_type(fmt);
	stats_scrape(s, body.len, body.raw_len, h.gzip, now_seconds() - t0);
	return reply_body(s, conn, &body, &h);
}

/* A JSON document from @fn: /snapshot, /normalization. */
static enum MHD_Result serve_json(struct http_server *s, struct MHD_Connection *conn,
				  http_snapshot_fn fn)
{
	struct reply_hdrs h = { .content_type = CT_JSON, .vary = true };
	struct expo_buf body = { 0 };
	int err;

	if (!fn)
		return reply_text(s, conn, MHD_HTTP_NOT_FOUND, "not found\n", false);
	err = fn(s->opts.ctx, &body);
	if (err >= 0)
		err = maybe_gzip(conn, &body);
	if (err < 0) {
		expo_buf__free(&body);
		return reply_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "document failed\n", false);
	}
	h.gzip = err == 1;
	return reply_buf(s, conn, MHD_HTTP_OK, &body, &h);
}

static enum MHD_Result serve_healthz(struct http_server *s, struct MHD_Connection *conn)
{
	if (s->opts.ready && !s->opts.ready(s->opts.ctx))
		return reply_text(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n", false);
	return reply_text(s, conn, MHD_HTTP_OK, "ok\n", false);
}

static bool has_body(struct MHD_Connection *conn)
{
	const char *len = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) || (len && strcmp(len, "0"));
}

/*
 * A NUL in the target, raw or %00. MHD hands the handler the unescaped
 * target as a C string, which a NUL cuts short, so the URI log callback
 * noted the raw target's strlen() and whether it holds "%00"; here that
 * length must reach the version, which MHD parsed from the same line right
 * after the target and one separator. A raw NUL stops strlen() early.
 */
static bool bad_target(const struct http_conn *c, const char *url, const char *version)
{
	if (c->target_nul)
		return true;
	return (uintptr_t)version <= (uintptr_t)url ||
	       (uintptr_t)version - (uintptr_t)url != c->target_len + 1;
}

static enum MHD_Result answer(struct http_server *s, struct MHD_Connection *conn,
			      const struct http_conn *c, const char *url,
			      const char *method, const char *version)
{
	if (bad_target(c, url, version))
		return reply_text(s, conn, MHD_HTTP_BAD_REQUEST, "bad request target\n", false);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method not allowed\n", true);
	if (!strcmp(url, "/metrics"))
		return serve_metrics(s, conn);
	if (!strcmp(url, "/healthz"))
		return serve_healthz(s, conn);
	if (!strcmp(url, "/snapshot"))
		return serve_json(s, conn, s->opts.snapshot);
	if (!strcmp(url, "/normalization"))
		return serve_json(s, conn, s->opts.normalization);
	return reply_text(s, conn, MHD_HTTP_NOT_FOUND, "not found\n", false);
}

/*
 * MHD access handler; *req_cls is the connection (set by on_uri). The first
 * call comes once the request head is parsed: the deadline stops counting.
 * A reply queued in that first call makes MHD close the connection after it
 * (it will not read past a body it did not consume), so GET and HEAD without
 * a body are answered on the second call, which keeps the connection alive;
 * anything else is answered at once, its body never read.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct http_server *s = cls;
	struct http_conn *c = *req_cls;

	(void)upload_data;
	if (!c)
		return MHD_NO;		/* untracked (see on_connection): close */
	if (c->answered) {		/* body data after our reply: drop it */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!c->head_done) {
		c->head_done = true;
		pthread_mutex_lock(&s->conns_lock);
		c->busy = true;
		pthread_mutex_unlock(&s->conns_lock);
		if (!has_body(conn) && (!strcmp(method, MHD_HTTP_METHOD_GET) ||
					!strcmp(method, MHD_HTTP_METHOD_HEAD)))
			return MHD_YES;
	}
	c->answered = true;
	return answer(s, conn, c, url, method, version);
}

/* --- connections and the request deadline ------------------------------------ */

static void conns_link(struct http_server *s, struct http_conn *c)
{
	pthread_mutex_lock(&s->conns_lock);
	c->next = s->conns.next;
	c->prev = &s->conns;
	s->conns.next->prev = c;
	s->conns.next = c;
	pthread_mutex_unlock(&s->conns_lock);
}

static void conns_unlink(struct http_server *s, struct http_conn *c)
{
	pthread_mutex_lock(&s->conns_lock);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	pthread_mutex_unlock(&s->conns_lock);
}

/* MHD_OPTION_NOTIFY_CONNECTION: STARTED at accept, CLOSED before close(2). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *info;
	struct http_server *s = cls;
	struct http_conn *c;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		c = *socket_ctx;
		if (c) {
			conns_unlink(s, c);
			free(c);
		}
		*socket_ctx = NULL;
		return;
	}
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c = info ? calloc(1, sizeof(*c)) : NULL;
	*socket_ctx = c;
	if (!c) {			/* no deadline for it: refuse it */
		if (info)
			shutdown(info->connect_fd, SHUT_RDWR);
		return;
	}
	c->fd = info->connect_fd;
	c->since_ms = now_ms();
	conns_link(s, c);
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request line arrived; its context is @c. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;
	struct http_conn *c;

	(void)cls;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	c = info ? info->socket_context : NULL;
	if (!c)
		return NULL;
	c->target_len = uri ? strlen(uri) : 0;
	c->target_nul = uri && strstr(uri, "%00");
	c->head_done = false;
	c->answered = false;
	return c;
}

/* MHD_OPTION_NOTIFY_COMPLETED: the reply is done; the next request's clock starts. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct http_server *s = cls;
	struct http_conn *c = *req_cls;

	(void)conn;
	(void)code;
	if (!c)
		return;
	pthread_mutex_lock(&s->conns_lock);
	c->busy = false;
	c->since_ms = now_ms();
	pthread_mutex_unlock(&s->conns_lock);
}

/* Shuts down the connections past the deadline; under conns_lock. */
static uint64_t drop_late(struct http_server *s, uint64_t now)
{
	uint64_t deadline = s->opts.request_deadline_ms, n = 0;
	struct http_conn *c;

	for (c = s->conns.next; c != &s->conns; c = c->next) {
		if (c->busy || c->dropped || now - c->since_ms < deadline)
			continue;
		shutdown(c->fd, SHUT_RDWR);
		c->dropped = true;
		n++;
	}
	return n;
}

static void *watchdog_main(void *arg)
{
	struct http_server *s = arg;
	uint64_t tick = s->opts.request_deadline_ms / 10, n, t;
	struct timespec until;

	tick = tick < 10 ? 10 : tick > 250 ? 250 : tick;
	pthread_mutex_lock(&s->conns_lock);
	while (!s->stopping) {
		n = drop_late(s, now_ms());
		if (n) {
			pthread_mutex_lock(&s->lock);
			s->stats.deadline_drops += n;
			pthread_mutex_unlock(&s->lock);
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		t = (uint64_t)until.tv_nsec + tick * 1000000;
		until.tv_sec += (time_t)(t / 1000000000);
		until.tv_nsec = (long)(t % 1000000000);
		pthread_cond_timedwait(&s->wake, &s->conns_lock, &until);
	}
	pthread_mutex_unlock(&s->conns_lock);
	return NULL;
}

static int watchdog_start(struct http_server *s)
{
	pthread_condattr_t attr;
	int err;

	s->conns.next = s->conns.prev = &s->conns;
	err = pthread_mutex_init(&s->conns_lock, NULL);
	if (err)
		return -err;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	err = pthread_cond_init(&s->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (err)
		goto out_mutex;
	err = pthread_create(&s->watchdog, NULL, watchdog_main, s);
	if (err)
		goto out_cond;
	return 0;

out_cond:
	pthread_cond_destroy(&s->wake);
out_mutex:
	pthread_mutex_destroy(&s->conns_lock);
	return -err;
}

static void watchdog_stop(struct http_server *s)
{
	pthread_mutex_lock(&s->conns_lock);
	s->stopping = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->conns_lock);
	pthread_join(s->watchdog, NULL);
}

/* --- lifecycle -------------------------------------------------------------- */

static int start_daemon(struct http_server *s, int fd, bool v6)
{
	unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD;

	if (v6)
		flags |= MHD_USE_IPv6;
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				     MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				     MHD_OPTION_THREAD_POOL_SIZE, s->opts.threads,
				     MHD_OPTION_CONNECTION_LIMIT, s->opts.max_conns,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				     s->opts.max_conns_per_ip,
				     MHD_OPTION_CONNECTION_TIMEOUT, s->opts.timeout_s,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				     s->opts.max_request_bytes,
				     MHD_OPTION_STRICT_FOR_CLIENT, 1,
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				     MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				     MHD_OPTION_END);
	return s->daemon ? 0 : -EIO;
}

int http_server__start(const struct http_opts *opts, struct http_server **out)
{
	struct sockaddr_storage ss;
	struct http_server *s;
	socklen_t len;
	int fd, err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	err = copy_opts(opts, &s->opts);
	if (!err)
		err = parse_listen(s->opts.listen, &ss, &len);
	if (err)
		goto out_free;
	err = pthread_mutex_init(&s->lock, NULL);
	if (err) {
		err = -err;
		goto out_free;
	}
	fd = listen_socket(&ss, len);
	if (fd < 0) {
		err = fd;
		goto out_mutex;
	}
	s->port = bound_port(fd);
	if (s->port < 0) {
		err = s->port;
		close(fd);
		goto out_mutex;
	}
	err = watchdog_start(s);
	if (err) {
		close(fd);
		goto out_mutex;
	}
	/*
	 * On failure MHD may or may not have closed @fd, depending on where it
	 * failed; leaking it on this fatal path beats closing a descriptor
	 * number another thread may already have been handed.
	 */
	err = start_daemon(s, fd, ss.ss_family == AF_INET6);
	if (err)
		goto out_watchdog;
	*out = s;
	return 0;

out_watchdog:
	watchdog_stop(s);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->conns_lock);
out_mutex:
	pthread_mutex_destroy(&s->lock);
out_free:
	free(s);
	return err;
}

void http_server__stop(struct http_server *s)
{
	if (!s)
		return;
	watchdog_stop(s);
	MHD_stop_daemon(s->daemon);	/* CLOSED for every connection left */
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->conns_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int http_server__port(const struct http_server *s)
{
	return s->port;
}
