/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * http: the agent's HTTP endpoint on libmicrohttpd.
 *
 *   GET|HEAD /metrics   exposition (the path is metrics_path); format from
 *                       Accept (negotiate__format()), gzip when
 *                       Accept-Encoding allows (negotiate__accepts_gzip());
 *                       always "Vary: Accept, Accept-Encoding"
 *   GET|HEAD /healthz   503 "starting\n" until ready() says so; then health()'s
 *                       status (200, anything else is 503) and text, or
 *                       200 "ok\n" without a health callback
 *   GET|HEAD /snapshot  JSON from snapshot(), 404 when no snapshot callback
 *   GET|HEAD /normalization  JSON from normalization(), likewise
 *   POST|PUT /-/reload  reload(): 0 → 200 "reloaded\n", < 0 → 500 with its
 *                       message; 404 when no reload callback; other methods
 *                       405 with "Allow: POST, PUT". A body is read and
 *                       discarded, at most HTTP_MAX_RELOAD_BODY bytes: a
 *                       longer Content-Length gets 413, a chunked body that
 *                       grows past it is closed without a reply. Prometheus'
 *                       convention.
 *   other paths         404;  other methods: 405 with "Allow: GET, HEAD"
 *
 * Paths match exactly; a query string is ignored. A callback returning < 0
 * gives a 500.
 *
 * TLS, basic auth and response headers come from the web configuration
 * (webconfig.h, exporter-toolkit's format), when @web is given:
 * - TLS through libmicrohttpd's GnuTLS support: the certificate and key,
 *   the priorities (min/max version), and the client certificate policy,
 *   applied to each connection's session before its handshake: the Require
 *   modes make GnuTLS refuse a handshake without a certificate, the Verify
 *   modes check the certificate against client_ca_file (and its key purpose,
 *   TLS WWW client, when it names one) during the handshake, so a client
 *   without an acceptable certificate never reaches HTTP. A client speaking
 *   plain HTTP to the TLS port fails its handshake and is closed.
 * - basic_auth_users: every path, /healthz and /-/reload included (as
 *   exporter-toolkit does), needs "Authorization: Basic" with a user's
 *   password; otherwise 401 with "WWW-Authenticate: Basic realm=..." (see
 *   basic_auth.h for bcrypt and its cache). Checked before the method and
 *   the path, after the request target's own checks (400).
 * - http_server_config.headers are added to every response the handlers
 *   give (not to the few errors libmicrohttpd answers itself: 400 without
 *   Host, 413/414/431).
 *
 * Strictness: HTTP/1.1 without Host gets 400 (MHD_OPTION_STRICT_FOR_CLIENT,
 * which also refuses a space inside the request target); so does a request
 * target holding a NUL byte, raw or as %00, anywhere in path or query (MHD
 * would unescape "/metrics%00" to a C string equal to "/metrics").
 *
 * Keep-alive: HTTP/1.1 connections stay open after a reply (HTTP/1.0 with
 * "Connection: Keep-Alive" too) unless the client sent "Connection: close".
 * A request with a body (Content-Length other than 0, or Transfer-Encoding)
 * or a method other than GET/HEAD is answered without reading the body and
 * the connection is closed after the reply; /-/reload is the exception
 * (see above).
 *
 * Threading: MHD's internal polling with a pool of `threads` worker threads
 * (MHD_USE_POLL_INTERNAL_THREAD, MHD_OPTION_THREAD_POOL_SIZE), each
 * multiplexing its share of the connections with poll(2): no FD_SETSIZE
 * ceiling however many BPF fds the agent holds. (Not MHD's epoll mode:
 * there, 0.9.75 can miss a client's FIN that arrives with its request, and a
 * half-closed connection then lingers after its reply until the deadline.)
 * A connection waiting for its client, however slowly that client trickles
 * bytes, holds no thread: only a socket and its memory pool. Requests are
 * answered inside the worker's event loop, so an answer that blocks (a first
 * gzip of a rendering, a scrape waiting for a drain: see view.h; a bcrypt
 * of an unknown password; a reload) delays the other connections of that one
 * worker, never the other workers. Consequently:
 *
 *   THE CALLBACKS RUN ON MHD WORKER THREADS, SEVERAL AT ONCE. They must be
 *   thread-safe and should not block for long; the agent serves immutable,
 *   reference-counted renderings (view.h).
 *
 * Bounds, each with its http_opts field and default below:
 * - max_conns connections in total. MHD splits them evenly over the workers;
 *   a worker at its share stops accepting, and new connections wait in the
 *   kernel's listen backlog (HTTP_BACKLOG) until a slot frees. Each is a
 *   file descriptor: at RLIMIT_NOFILE MHD likewise stops accepting for a
 *   while.
 * - max_conns_per_ip connections from one client address; one more is
 *   accepted and closed at once, without a reply. On loopback every
 *   127.x.y.z is its own address, so this bounds what one address can hold,
 *   not what a local user can: the request deadline and the idle watermark
 *   are what free slots.
 * - request_deadline_ms for each request to arrive complete (request line
 *   and headers; and a /-/reload body), counted from the connection's
 *   accept (the TLS handshake included), or, on a kept-alive connection,
 *   from the moment its next request line is complete; a connection still
 *   short of a complete request then is shut down (shutdown(2), no reply)
 *   by a watchdog thread, whatever it trickled in meanwhile (counted in
 *   http_stats.deadline_drops).
 * - keepalive_idle_ms: a kept-alive connection that completed a request may
 *   wait that long for its next request line, however slowly that line
 *   trickles in (Prometheus scrapes every 15 s and reuses its connection);
 *   then it is closed (idle_timeouts). While it waits, MHD's inactivity
 *   timeout is raised to match.
 * - idle_watermark: when more than that many connections are open, the
 *   watchdog closes the kept-alive connections that wait for a next
 *   request, the longest-waiting first, until the count is back at the
 *   watermark (idle_reaped); a connection that completed a request is
 *   therefore all an attacker gets to hold for long, and never more than
 *   the watermark of them: max_conns - idle_watermark slots stay for new
 *   clients, each bounded by the request deadline.
 * - timeout_s of inactivity while a reply is being sent (a client that
 *   stops reading) or while a request arrives (MHD's idle timeout).
 * - max_request_bytes for the request line plus headers (MHD's
 *   per-connection memory pool; a longer request gets 431/414 and is
 *   closed). Request bodies are never read, but for /-/reload's.
 * Not bounded: the time a client takes to read a reply while it keeps
 * reading something every timeout_s; a body is held (so its rendering stays
 * alive) until then.
 */
#ifndef EMITD_HTTP_H
#define EMITD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/expo.h"

#define HTTP_DEFAULT_LISTEN		"127.0.0.1:9477"
#define HTTP_DEFAULT_MAX_CONNS		1024	/* in total */
#define HTTP_DEFAULT_PER_IP_CONNS	16	/* from one client address */
#define HTTP_DEFAULT_REQUEST_DEADLINE_MS	5000	/* for a complete request head */
#define HTTP_DEFAULT_THREADS		4	/* MHD worker threads */
#define HTTP_DEFAULT_TIMEOUT_S		10	/* of inactivity */
#define HTTP_BACKLOG			64	/* listen(2) backlog */
#define HTTP_DEFAULT_MAX_REQUEST	(16 * 1024)
#define HTTP_MIN_MAX_REQUEST		4096
#define HTTP_DEFAULT_METRICS_PATH	"/metrics"
#define HTTP_DEFAULT_KEEPALIVE_IDLE_MS	120000	/* as Go's net/http */
#define HTTP_DEFAULT_IDLE_WATERMARK_PCT	50	/* idle_watermark: this % of max_conns */
#define HTTP_MAX_RELOAD_BODY		4096	/* bytes of a /-/reload body, discarded */
#define HTTP_RELOAD_MSG_LEN		512
#define HTTP_HEALTH_LEN			4096	/* bytes of a /healthz body */
#define HTTP_AUTH_REALM			"emitd"

struct webconfig;

struct http_server;

/*
 * Bytes the server sends without copying them: @data stays valid and
 * unchanged until the server calls release(cookie), which it does exactly
 * once, when it no longer needs them (the reply was sent or abandoned).
 */
struct http_body {
	const void *data;
	size_t len;			/* bytes sent: gzip-compressed when asked */
	size_t raw_len;			/* the rendering's size before gzip */
	void (*release)(void *cookie);	/* NULL: nothing to release */
	void *cookie;
};

/*
 * A complete exposition in @fmt (expo__render() of every family, then
 * expo__finish()), gzip-compressed (RFC 1952) when @gzip, as a body the
 * server releases. Returns 0 with @out filled, or a negative errno (→ 500)
 * with nothing to release.
 */
typedef int (*http_render_fn)(void *ctx, enum expo_format fmt, bool gzip,
			      struct http_body *out);
/* Appends the /snapshot JSON document to @out; 0 or a negative errno (→ 500). */
typedef int (*http_snapshot_fn)(void *ctx, struct expo_buf *out);
/* /healthz: true once the agent serves real data. */
typedef bool (*http_ready_fn)(void *ctx);
/*
 * /healthz once ready: the status (200 or 503) and the body, written to
 * @buf (@len bytes, NUL-terminated).
 */
typedef int (*http_health_fn)(void *ctx, char *buf, size_t len);
/*
 * POST|PUT /-/reload: 0 when reloaded; a negative errno with what went wrong
 * in @msg (@msg_len bytes, NUL-terminated, empty: strerror() is sent).
 */
typedef int (*http_reload_fn)(void *ctx, char *msg, size_t msg_len);

struct http_opts {
	size_t sz;			/* sizeof(struct http_opts) */
	/*
	 * Numeric "IPv4:PORT" or "[IPv6]:PORT"; NULL or "" → HTTP_DEFAULT_LISTEN.
	 * Port 0 binds a free port (see http_server__port()). IPv6 sockets are
	 * IPV6_V6ONLY. Host names are not resolved.
	 */
	const char *listen;
	unsigned int max_conns;		/* 0 → HTTP_DEFAULT_MAX_CONNS */
	unsigned int timeout_s;		/* 0 → HTTP_DEFAULT_TIMEOUT_S */
	size_t max_request_bytes;	/* 0 → HTTP_DEFAULT_MAX_REQUEST; >= HTTP_MIN_MAX_REQUEST */
	http_render_fn render;		/* required */
	http_snapshot_fn snapshot;	/* NULL → /snapshot is 404 */
	http_snapshot_fn normalization;	/* NULL → /normalization is 404 */
	http_ready_fn ready;		/* NULL → always ready */
	http_health_fn health;		/* NULL → 200 "ok\n" once ready */
	void *ctx;			/* passed to the callbacks */
	unsigned int max_conns_per_ip;	/* 0 → HTTP_DEFAULT_PER_IP_CONNS */
	unsigned int request_deadline_ms;	/* 0 → HTTP_DEFAULT_REQUEST_DEADLINE_MS */
	unsigned int threads;		/* 0 → HTTP_DEFAULT_THREADS; at most max_conns */
	/*
	 * The exposition's path; NULL or "" → HTTP_DEFAULT_METRICS_PATH. "/"
	 * and then printable ASCII without space, '?' or '#', and none of
	 * the other routes' paths.
	 */
	const char *metrics_path;
	/* TLS, basic auth, headers; NULL: plain HTTP. Must outlive the server. */
	const struct webconfig *web;
	http_reload_fn reload;		/* NULL → /-/reload is 404 */
	unsigned int keepalive_idle_ms;	/* 0 → HTTP_DEFAULT_KEEPALIVE_IDLE_MS */
	unsigned int idle_watermark;	/* 0 → HTTP_DEFAULT_IDLE_WATERMARK_PCT of max_conns */
};

/* Scrape self-metrics (the emitd_scrape_* family). */
struct http_stats {
	uint64_t requests;		/* requests answered, any path and status */
	uint64_t scrapes;		/* /metrics answered with 200 (GET and HEAD) */
	uint64_t scrapes_gzip;		/* ... of which gzip-encoded */
	uint64_t scrape_errors;		/* /metrics answered with 500 */
	uint64_t scrape_bytes;		/* body bytes of 200 scrapes as sent (after gzip) */
	uint64_t scrape_bytes_uncompressed;	/* ... before gzip */
	uint64_t last_scrape_bytes;
	uint64_t last_scrape_bytes_uncompressed;
	double scrape_seconds_total;	/* render + gzip time of 200 scrapes */
	double last_scrape_seconds;
	uint64_t deadline_drops;	/* connections shut down by the request deadline */
	uint64_t idle_timeouts;		/* kept-alive connections closed after keepalive_idle_ms */
	uint64_t idle_reaped;		/* ... closed early, over the idle watermark */
	uint64_t unauthorized;		/* 401 answers */
};

/*
 * Binds, listens and starts serving. Errors: -EINVAL (bad options or listen
 * string), -EADDRINUSE, -EACCES, -EADDRNOTAVAIL and other socket errnos,
 * -ENOMEM, -EOPNOTSUPP (TLS asked of a libmicrohttpd without it), -EIO
 * (libmicrohttpd refused to start, e.g. a certificate GnuTLS refuses).
 * Callers print strerror(-err) with the address.
 */
int http_server__start(const struct http_opts *opts, struct http_server **out);

/* Stops accepting, waits for in-flight requests, frees @s. NULL is a no-op. */
void http_server__stop(struct http_server *s);

/* Whether @path may be http_opts.metrics_path (see there). */
bool http__valid_metrics_path(const char *path);

/* The bound TCP port (useful with port 0). */
int http_server__port(const struct http_server *s);

/* A consistent copy of the counters; thread-safe, callable from callbacks. */
void http_server__stats(struct http_server *s, struct http_stats *out);

#endif /* EMITD_HTTP_H */
