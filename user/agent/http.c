// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * http: /metrics, /healthz, /snapshot, /normalization and /-/reload on
 * libmicrohttpd, over TLS and behind basic auth when the web configuration
 * says so. See http.h.
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
 *
 * Each tracked connection is in one of three states, under conns_lock:
 * HEAD (its request is arriving: the deadline runs), BUSY (the request is
 * complete and being answered: no deadline), IDLE (kept alive after a
 * reply, waiting for the next request line: keepalive_idle_ms runs, and it
 * sits on the idle list, oldest first, for the watermark). The URI callback
 * (a request line is complete) moves IDLE to HEAD, the first call of the
 * access handler HEAD to BUSY (unless a /-/reload body is still to come),
 * and the completion callback BUSY to IDLE. MHD's own inactivity timeout is
 * raised for the IDLE stretch (MHD_set_connection_option(), on the
 * connection's own thread, in the completion and URI callbacks, which MHD
 * calls without its cleanup lock held).
 *
 * TLS client certificates: MHD creates a connection's GnuTLS session before
 * it notifies STARTED and runs the handshake later, in the worker's loop; so
 * STARTED sets the session's certificate request (and, for the verify
 * modes, a verify function) before the client's first byte is read.
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

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "agent/basic_auth.h"
#include "agent/http.h"
#include "agent/negotiate.h"
#include "agent/webconfig.h"

#define CT_TEXT			"text/plain; charset=utf-8"
#define CT_JSON			"application/json"
#define RELOAD_PATH		"/-/reload"
#define ALLOW_GET		"GET, HEAD"
#define ALLOW_POST		"POST, PUT"
#define MAX_PATH_LEN		256	/* of metrics_path */

enum conn_state {
	CONN_HEAD = 0,		/* a request is arriving: the deadline runs */
	CONN_BUSY,		/* being answered */
	CONN_IDLE,		/* kept alive, waiting for a next request */
};

/* One connection, from MHD's STARTED to its CLOSED notification. */
struct http_conn {
	struct http_conn *prev, *next;	/* under conns_lock */
	struct http_conn *idle_prev, *idle_next;	/* on the idle list: under conns_lock */
	int fd;
	uint64_t since_ms;		/* HEAD's or IDLE's clock began: under conns_lock */
	enum conn_state state;		/* under conns_lock */
	bool dropped;			/* shut down by the watchdog: under conns_lock */
	/* on the connection's worker thread only */
	struct MHD_Connection *mhd;
	bool long_timeout;		/* MHD's timeout raised for an idle wait */
	/* the current request */
	size_t target_len;		/* strlen() of the raw request target */
	bool target_nul;		/* "%00" in it */
	bool head_done;			/* the handler has seen the head */
	bool answered;
	bool auth_ok;			/* basic auth passed (or none asked) */
	bool reading_body;		/* a /-/reload body is coming */
	bool body_too_large;		/* ... declared longer than HTTP_MAX_RELOAD_BODY */
	size_t body_bytes;		/* ... so much of it so far */
};

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_opts opts;
	int port;
	pthread_mutex_t lock;		/* protects stats */
	struct http_stats stats;
	pthread_mutex_t conns_lock;	/* protects conns, idle, nr_live and stopping */
	struct http_conn conns;		/* list head */
	struct http_conn idle;		/* idle list head: oldest first */
	unsigned int nr_live;		/* tracked and not dropped */
	pthread_cond_t wake;		/* the watchdog's sleep (CLOCK_MONOTONIC) */
	bool stopping;
	pthread_t watchdog;
	struct basic_auth *auth;	/* NULL: no basic auth */
	char priorities[256];		/* GnuTLS's, with TLS */
};

/* --- options and listen address ------------------------------------------- */

bool http__valid_metrics_path(const char *p)
{
	static const char *const taken[] = { "/healthz", "/snapshot", "/normalization",
					     RELOAD_PATH };
	size_t i, len = strlen(p);

	if (p[0] != '/' || len >= MAX_PATH_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (p[i] <= ' ' || p[i] > '~' || p[i] == '?' || p[i] == '#')
			return false;
	for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		if (!strcmp(p, taken[i]))
			return false;
	return true;
}

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
	if (!out->metrics_path || !out->metrics_path[0])
		out->metrics_path = HTTP_DEFAULT_METRICS_PATH;
	if (!out->keepalive_idle_ms)
		out->keepalive_idle_ms = HTTP_DEFAULT_KEEPALIVE_IDLE_MS;
	if (!out->idle_watermark)
		out->idle_watermark = (unsigned int)((uint64_t)out->max_conns *
						     HTTP_DEFAULT_IDLE_WATERMARK_PCT / 100);
	if (!out->idle_watermark)
		out->idle_watermark = 1;
	if (out->idle_watermark > out->max_conns)
		out->idle_watermark = out->max_conns;
	if (out->max_request_bytes < HTTP_MIN_MAX_REQUEST || !out->render ||
	    !http__valid_metrics_path(out->metrics_path))
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

static void stats_unauthorized(struct http_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stats.unauthorized++;
	pthread_mutex_unlock(&s->lock);
}

/* --- replies ---------------------------------------------------------------- */

struct reply_hdrs {
	const char *content_type;
	bool gzip;		/* Content-Encoding: gzip */
	bool vary;		/* Vary: Accept, Accept-Encoding */
	const char *allow;	/* Allow: ...; NULL: none */
	bool challenge;		/* WWW-Authenticate: Basic */
};

static bool add_header(struct MHD_Response *resp, const char *name, const char *value)
{
	return MHD_add_response_header(resp, name, value) == MHD_YES;
}

static bool add_headers(struct http_server *s, struct MHD_Response *resp,
			const struct reply_hdrs *h)
{
	const struct webconfig *web = s->opts.web;
	size_t i;

	if (!add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, h->content_type))
		return false;
	if (h->gzip && !add_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip"))
		return false;
	if (h->vary && !add_header(resp, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding"))
		return false;
	if (h->allow && !add_header(resp, MHD_HTTP_HEADER_ALLOW, h->allow))
		return false;
	if (h->challenge && !add_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"" HTTP_AUTH_REALM "\", charset=\"UTF-8\""))
		return false;
	for (i = 0; web && i < web->nr_headers; i++)
		if (!add_header(resp, web->headers[i].name, web->headers[i].value))
			return false;
	return true;
}

/* Queues @resp with @h's headers; consumes @resp. */
static enum MHD_Result queue(struct http_server *s, struct MHD_Connection *conn,
			     unsigned int status, struct MHD_Response *resp,
			     const struct reply_hdrs *h)
{
	enum MHD_Result ret;

	if (!add_headers(s, resp, h)) {
		MHD_destroy_response(resp);
		return MHD_NO;		/* MHD closes the connection */
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Queues @body (ownership passes to MHD, freed in every case). */
static enum MHD_Result reply_buf(struct http_server *s, struct MHD_Connection *conn,
				 unsigned int status, struct expo_buf *body,
				 const struct reply_hdrs *h)
{
	struct MHD_Response *resp;

	stats_request(s);
	resp = MHD_create_response_from_buffer(body->len, body->data,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		expo_buf__free(body);
		return MHD_NO;
	}
	body->data = NULL;		/* now MHD's */
	expo_buf__free(body);
	return queue(s, conn, status, resp, h);
}

/* A static @text; @h may be NULL (only Content-Type). */
static enum MHD_Result reply_text_h(struct http_server *s, struct MHD_Connection *conn,
				    unsigned int status, const char *text,
				    const struct reply_hdrs *h)
{
	struct reply_hdrs hh = { 0 };
	struct MHD_Response *resp;

	if (h)
		hh = *h;
	hh.content_type = CT_TEXT;
	stats_request(s);
	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	return queue(s, conn, status, resp, &hh);
}

static enum MHD_Result reply_text(struct http_server *s, struct MHD_Connection *conn,
				  unsigned int status, const char *text)
{
	return reply_text_h(s, conn, status, text, NULL);
}

static enum MHD_Result reply_not_allowed(struct http_server *s, struct MHD_Connection *conn,
					 const char *allow)
{
	const struct reply_hdrs h = { .allow = allow };

	return reply_text_h(s, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", &h);
}

static enum MHD_Result reply_unauthorized(struct http_server *s, struct MHD_Connection *conn)
{
	const struct reply_hdrs h = { .challenge = true };

	stats_unauthorized(s);
	return reply_text_h(s, conn, MHD_HTTP_UNAUTHORIZED, "unauthorized\n", &h);
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

	stats_request(s);
	resp = MHD_create_response_from_buffer_with_free_callback_cls(body->len,
			(void *)body->data, body->release, body->cookie);
	if (!resp) {
		body_release(body);
		return MHD_NO;
	}
	return queue(s, conn, MHD_HTTP_OK, resp, h);
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
				  "metrics rendering failed\n");
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
		return reply_text(s, conn, MHD_HTTP_NOT_FOUND, "not found\n");
	err = fn(s->opts.ctx, &body);
	if (err >= 0)
		err = maybe_gzip(conn, &body);
	if (err < 0) {
		expo_buf__free(&body);
		return reply_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "document failed\n");
	}
	h.gzip = err == 1;
	return reply_buf(s, conn, MHD_HTTP_OK, &body, &h);
}

static enum MHD_Result serve_healthz(struct http_server *s, struct MHD_Connection *conn)
{
	const struct reply_hdrs h = { .content_type = CT_TEXT };
	struct expo_buf body = { 0 };
	char text[HTTP_HEALTH_LEN];
	int status;

	if (s->opts.ready && !s->opts.ready(s->opts.ctx))
		return reply_text(s, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n");
	if (!s->opts.health)
		return reply_text(s, conn, MHD_HTTP_OK, "ok\n");
	text[0] = '\0';
	status = s->opts.health(s->opts.ctx, text, sizeof(text));
	text[sizeof(text) - 1] = '\0';
	if (status != MHD_HTTP_OK)
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
	if (expo_buf__append(&body, text, strlen(text))) {
		expo_buf__free(&body);
		return reply_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "health failed\n");
	}
	return reply_buf(s, conn, (unsigned int)status, &body, &h);
}

/* POST|PUT /-/reload, its body (if any) read and discarded. */
static enum MHD_Result serve_reload(struct http_server *s, struct MHD_Connection *conn)
{
	const struct reply_hdrs h = { .content_type = CT_TEXT };
	char msg[HTTP_RELOAD_MSG_LEN] = "";
	struct expo_buf body = { 0 };
	int err;

	err = s->opts.reload(s->opts.ctx, msg, sizeof(msg));
	if (!err)
		return reply_text(s, conn, MHD_HTTP_OK, "reloaded\n");
	msg[sizeof(msg) - 1] = '\0';
	if (!msg[0])
		snprintf(msg, sizeof(msg), "%s", strerror(err < 0 ? -err : EIO));
	if (expo_buf__append(&body, "reload failed: ", 15) ||
	    expo_buf__append(&body, msg, strlen(msg)) || expo_buf__append(&body, "\n", 1)) {
		expo_buf__free(&body);
		return reply_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "reload failed\n");
	}
	return reply_buf(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR, &body, &h);
}

static bool has_body(struct MHD_Connection *conn)
{
	const char *len = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) || (len && strcmp(len, "0"));
}

/* The declared Content-Length fits HTTP_MAX_RELOAD_BODY (none declared: chunked, counted). */
static bool body_fits(struct MHD_Connection *conn)
{
	const char *len = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return !len || (strspn(len, "0123456789") == strlen(len) && strlen(len) <= 9 &&
			strtoul(len, NULL, 10) <= HTTP_MAX_RELOAD_BODY);
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

static bool is_method(const char *method, const char *m)
{
	return !strcmp(method, m);
}

static bool get_or_head(const char *method)
{
	return is_method(method, MHD_HTTP_METHOD_GET) || is_method(method, MHD_HTTP_METHOD_HEAD);
}

static bool post_or_put(const char *method)
{
	return is_method(method, MHD_HTTP_METHOD_POST) || is_method(method, MHD_HTTP_METHOD_PUT);
}

/* The order: the target's own checks, basic auth, then method and path. */
static enum MHD_Result answer(struct http_server *s, struct MHD_Connection *conn,
			      const struct http_conn *c, const char *url,
			      const char *method, const char *version)
{
	if (bad_target(c, url, version))
		return reply_text(s, conn, MHD_HTTP_BAD_REQUEST, "bad request target\n");
	if (!c->auth_ok)
		return reply_unauthorized(s, conn);
	if (!strcmp(url, RELOAD_PATH)) {
		if (!s->opts.reload)
			return reply_text(s, conn, MHD_HTTP_NOT_FOUND, "not found\n");
		if (!post_or_put(method))
			return reply_not_allowed(s, conn, ALLOW_POST);
		if (c->body_too_large)
			return reply_text(s, conn, MHD_HTTP_CONTENT_TOO_LARGE,
					  "request body too large\n");
		return serve_reload(s, conn);
	}
	if (!get_or_head(method))
		return reply_not_allowed(s, conn, ALLOW_GET);
	if (!strcmp(url, s->opts.metrics_path))
		return serve_metrics(s, conn);
	if (!strcmp(url, "/healthz"))
		return serve_healthz(s, conn);
	if (!strcmp(url, "/snapshot"))
		return serve_json(s, conn, s->opts.snapshot);
	if (!strcmp(url, "/normalization"))
		return serve_json(s, conn, s->opts.normalization);
	return reply_text(s, conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void set_state(struct http_server *s, struct http_conn *c, enum conn_state st)
{
	pthread_mutex_lock(&s->conns_lock);
	c->state = st;
	pthread_mutex_unlock(&s->conns_lock);
}

/*
 * The head of a request is complete: check basic auth, and say whether to
 * wait for the access handler's next call. GET and HEAD without a body wait
 * (an answer queued at the first call makes MHD close the connection after
 * it), as does a /-/reload that may be served: its body, if any, is read;
 * anything else is answered at once, its body never read.
 */
static bool on_head(struct http_server *s, struct MHD_Connection *conn, struct http_conn *c,
		    const char *url, const char *method)
{
	bool body = has_body(conn), wait;

	c->auth_ok = !s->auth ||
		     basic_auth__check(s->auth, header(conn, MHD_HTTP_HEADER_AUTHORIZATION));
	wait = !body && get_or_head(method);
	c->body_too_large = body && !body_fits(conn);
	c->reading_body = c->auth_ok && s->opts.reload && post_or_put(method) &&
			  !strcmp(url, RELOAD_PATH) && !c->body_too_large;
	/* a reload's body arrives under the request deadline */
	set_state(s, c, c->reading_body ? CONN_HEAD : CONN_BUSY);
	return wait || c->reading_body;
}

/*
 * MHD access handler; *req_cls is the connection (set by on_uri). The first
 * call comes once the request head is parsed (on_head()); the following
 * ones bring a body, if it is read, and then the last one, with none.
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
		if (on_head(s, conn, c, url, method))
			return MHD_YES;
	} else if (*upload_data_size) {	/* a reload's body: counted, discarded */
		c->body_bytes += *upload_data_size;
		*upload_data_size = 0;
		/*
		 * a chunked body past the bound: closed without a reply (MHD
		 * queues no reply in the middle of a body)
		 */
		return c->body_bytes <= HTTP_MAX_RELOAD_BODY ? MHD_YES : MHD_NO;
	}
	if (c->reading_body)
		set_state(s, c, CONN_BUSY);
	c->answered = true;
	return answer(s, conn, c, url, method, version);
}

/* --- connections, the request deadline, the idle watermark -------------------- */

/* Under conns_lock. */
static void idle_unlink(struct http_conn *c)
{
	if (!c->idle_next)
		return;
	c->idle_prev->idle_next = c->idle_next;
	c->idle_next->idle_prev = c->idle_prev;
	c->idle_prev = c->idle_next = NULL;
}

/* Under conns_lock: at the tail, the newest. */
static void idle_link(struct http_server *s, struct http_conn *c)
{
	c->idle_next = &s->idle;
	c->idle_prev = s->idle.idle_prev;
	s->idle.idle_prev->idle_next = c;
	s->idle.idle_prev = c;
}

static void conns_link(struct http_server *s, struct http_conn *c)
{
	pthread_mutex_lock(&s->conns_lock);
	c->next = s->conns.next;
	c->prev = &s->conns;
	s->conns.next->prev = c;
	s->conns.next = c;
	s->nr_live++;
	if (s->nr_live > s->opts.idle_watermark && s->idle.idle_next != &s->idle)
		pthread_cond_signal(&s->wake);	/* make room now, not at the next tick */
	pthread_mutex_unlock(&s->conns_lock);
}

static void conns_unlink(struct http_server *s, struct http_conn *c)
{
	pthread_mutex_lock(&s->conns_lock);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	idle_unlink(c);
	if (!c->dropped)
		s->nr_live--;
	pthread_mutex_unlock(&s->conns_lock);
}

/* For the Require modes GnuTLS itself refuses a handshake without a certificate. */
static int verify_peer(gnutls_session_t session, bool required)
{
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	unsigned int n = 0, status = 0;

	if (!gnutls_certificate_get_peers(session, &n) || !n)
		return required ? GNUTLS_E_NO_CERTIFICATE_FOUND : 0;
	if (gnutls_certificate_verify_peers(session, &purpose, 1, &status) < 0 || status)
		return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	return 0;
}

static int verify_if_given(gnutls_session_t session)
{
	return verify_peer(session, false);
}

static int verify_required(gnutls_session_t session)
{
	return verify_peer(session, true);
}

/* The client certificate policy of @conn's TLS session, before its handshake. */
static bool tls_session_setup(struct http_server *s, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;
	gnutls_session_t session;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!info || !info->tls_session)
		return false;
	session = info->tls_session;
	switch (s->opts.web->client_auth) {
	case WEBCONFIG_NO_CLIENT_CERT:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_IGNORE);
		break;
	case WEBCONFIG_REQUEST_CLIENT_CERT:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
		break;
	case WEBCONFIG_REQUIRE_ANY_CLIENT_CERT:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
		break;
	case WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
		gnutls_session_set_verify_function(session, verify_if_given);
		break;
	case WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_function(session, verify_required);
		break;
	}
	return true;
}

static bool tls_on(const struct http_server *s)
{
	return s->opts.web && s->opts.web->tls;
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
	if (c && tls_on(s) && !tls_session_setup(s, conn)) {
		free(c);
		c = NULL;
	}
	*socket_ctx = c;
	if (!c) {			/* no deadline or no TLS policy for it: refuse it */
		if (info)
			shutdown(info->connect_fd, SHUT_RDWR);
		return;
	}
	c->fd = info->connect_fd;
	c->mhd = conn;
	c->since_ms = now_ms();
	conns_link(s, c);
}

/* MHD's inactivity timeout of @c: long while it waits idle, timeout_s otherwise. */
static void set_long_timeout(struct http_server *s, struct http_conn *c, bool on)
{
	unsigned int secs = s->opts.timeout_s;

	if (c->long_timeout == on)
		return;
	/* past the watchdog's own close, which comes first */
	if (on)
		secs = s->opts.keepalive_idle_ms / 1000 + s->opts.timeout_s;
	MHD_set_connection_option(c->mhd, MHD_CONNECTION_OPTION_TIMEOUT, secs);
	c->long_timeout = on;
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request line arrived; its context is @c. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;
	struct http_server *s = cls;
	struct http_conn *c;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	c = info ? info->socket_context : NULL;
	if (!c)
		return NULL;
	c->target_len = uri ? strlen(uri) : 0;
	c->target_nul = uri && strstr(uri, "%00");
	c->head_done = false;
	c->answered = false;
	c->auth_ok = false;
	c->reading_body = false;
	c->body_too_large = false;
	c->body_bytes = 0;
	pthread_mutex_lock(&s->conns_lock);
	if (c->state == CONN_IDLE) {	/* a kept-alive connection's next request */
		idle_unlink(c);
		c->since_ms = now_ms();
	}
	c->state = CONN_HEAD;
	pthread_mutex_unlock(&s->conns_lock);
	set_long_timeout(s, c, false);
	return c;
}

/*
 * MHD_OPTION_NOTIFY_COMPLETED: the reply is done. A connection kept alive
 * now waits for its next request: idle. (On other codes MHD closes it; and
 * DAEMON_SHUTDOWN comes with MHD's cleanup lock held: no MHD call then.)
 */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct http_server *s = cls;
	struct http_conn *c = *req_cls;

	(void)conn;
	if (!c)
		return;
	pthread_mutex_lock(&s->conns_lock);
	c->since_ms = now_ms();
	if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK && !c->dropped) {
		c->state = CONN_IDLE;
		idle_link(s, c);
		if (s->nr_live > s->opts.idle_watermark)
			pthread_cond_signal(&s->wake);
	} else {
		c->state = CONN_HEAD;
	}
	pthread_mutex_unlock(&s->conns_lock);
	if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		set_long_timeout(s, c, true);
}

/* Under conns_lock: shut @c down; MHD sees EOF and closes it in its thread. */
static void drop(struct http_server *s, struct http_conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
	c->dropped = true;
	idle_unlink(c);
	s->nr_live--;
}

struct drops {
	uint64_t deadline, idle_timeout, reaped;
};

/*
 * Under conns_lock: the requests past their deadline, the idle connections
 * past keepalive_idle_ms, then the oldest idle ones while over the watermark.
 */
static void drop_due(struct http_server *s, uint64_t now, struct drops *d)
{
	uint64_t deadline = s->opts.request_deadline_ms, idle = s->opts.keepalive_idle_ms;
	struct http_conn *c, *next;

	for (c = s->conns.next; c != &s->conns; c = c->next) {
		if (c->dropped || c->state == CONN_BUSY)
			continue;
		if (c->state == CONN_HEAD && now - c->since_ms >= deadline) {
			drop(s, c);
			d->deadline++;
		} else if (c->state == CONN_IDLE && now - c->since_ms >= idle) {
			drop(s, c);
			d->idle_timeout++;
		}
	}
	for (c = s->idle.idle_next; c != &s->idle && s->nr_live > s->opts.idle_watermark;
	     c = next) {
		next = c->idle_next;
		drop(s, c);
		d->reaped++;
	}
}

static void *watchdog_main(void *arg)
{
	struct http_server *s = arg;
	uint64_t tick = s->opts.request_deadline_ms / 10, t;
	struct timespec until;
	struct drops d;

	tick = tick < 10 ? 10 : tick > 250 ? 250 : tick;
	pthread_mutex_lock(&s->conns_lock);
	while (!s->stopping) {
		memset(&d, 0, sizeof(d));
		drop_due(s, now_ms(), &d);
		if (d.deadline || d.idle_timeout || d.reaped) {
			pthread_mutex_lock(&s->lock);
			s->stats.deadline_drops += d.deadline;
			s->stats.idle_timeouts += d.idle_timeout;
			s->stats.idle_reaped += d.reaped;
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
	s->idle.idle_next = s->idle.idle_prev = &s->idle;
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

/*
 * The TLS options, as an MHD_OPTION_ARRAY of @o (at least 5 items): none
 * without TLS. Returns 0, -EOPNOTSUPP or -ENOSPC.
 */
static int tls_options(struct http_server *s, struct MHD_OptionItem *o)
{
	const struct webconfig *web = s->opts.web;
	size_t n = 0;

	if (tls_on(s)) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			return -EOPNOTSUPP;
		if (webconfig__priorities(web, s->priorities, sizeof(s->priorities)))
			return -ENOSPC;
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, web->cert_pem };
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, web->key_pem };
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, s->priorities };
		if (web->client_ca_pem)
			o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
							  web->client_ca_pem };
	}
	o[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return 0;
}

static int start_daemon(struct http_server *s, int fd, bool v6)
{
	unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD;
	struct MHD_OptionItem tls[5];
	int err;

	err = tls_options(s, tls);
	if (err)
		return err;
	if (tls_on(s))
		flags |= MHD_USE_TLS;
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
				     MHD_OPTION_ARRAY, tls,
				     MHD_OPTION_END);
	return s->daemon ? 0 : -EIO;
}

static int auth_start(struct http_server *s)
{
	const struct webconfig *web = s->opts.web;

	if (!web || !web->nr_users)
		return 0;
	return basic_auth__new(web->users, web->nr_users, &s->auth);
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
	if (!err)
		err = auth_start(s);
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
	basic_auth__free(s->auth);
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
	basic_auth__free(s->auth);
	free(s);
}

int http_server__port(const struct http_server *s)
{
	return s->port;
}
