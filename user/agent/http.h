/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * http: the agent's HTTP endpoint on libmicrohttpd.
 *
 *   GET|HEAD /metrics   exposition; format from Accept (negotiate__format()),
 *                       gzip when Accept-Encoding allows (negotiate__accepts_gzip());
 *                       always "Vary: Accept, Accept-Encoding"
 *   GET|HEAD /healthz   200 "ok\n" once ready() says so, 503 "starting\n" before
 *   GET|HEAD /snapshot  JSON from snapshot(), 404 when no snapshot callback
 *   GET|HEAD /normalization  JSON from normalization(), likewise
 *   other paths         404;  other methods: 405 with "Allow: GET, HEAD"
 *
 * Paths match exactly; a query string is ignored. A callback returning < 0
 * gives a 500.
 *
 * Threading: MHD runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION
 * with its internal accept thread). A scrape renders and gzips inside the
 * request handler, so a per-connection thread keeps one scraper's render, or a
 * slow reader, from delaying any other scraper, /healthz included; the number
 * of threads is bounded by max_conns and an idle or slow client is dropped
 * after timeout_s. MHD watches sockets with poll() (MHD_USE_AUTO), so there is
 * no FD_SETSIZE ceiling however many BPF fds the agent holds; in this mode a
 * connection beyond max_conns is accepted and closed at once, without a
 * reply (the scraper sees a failed scrape rather than a stalled one).
 * Consequently:
 *
 *   THE CALLBACKS RUN ON MHD THREADS, SEVERAL AT ONCE. They must be
 *   thread-safe; the agent renders from an immutable, reference-counted
 *   snapshot of its store and never blocks on the drain loop.
 *
 * Bounds: max_conns concurrent connections, timeout_s of inactivity per
 * connection, max_request_bytes for the request line plus headers (MHD's
 * per-connection memory pool; a longer request gets 431/414 and is closed).
 * Request bodies are never read.
 */
#ifndef EMITD_HTTP_H
#define EMITD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/expo.h"

#define HTTP_DEFAULT_LISTEN		"127.0.0.1:9477"
#define HTTP_DEFAULT_MAX_CONNS		32
#define HTTP_DEFAULT_TIMEOUT_S		10
#define HTTP_DEFAULT_MAX_REQUEST	(16 * 1024)
#define HTTP_MIN_MAX_REQUEST		4096

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
	void *ctx;			/* passed to the callbacks */
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
};

/*
 * Binds, listens and starts serving. Errors: -EINVAL (bad options or listen
 * string), -EADDRINUSE, -EACCES, -EADDRNOTAVAIL and other socket errnos,
 * -ENOMEM, -EIO (libmicrohttpd refused to start). Callers print
 * strerror(-err) with the address.
 */
int http_server__start(const struct http_opts *opts, struct http_server **out);

/* Stops accepting, waits for in-flight requests, frees @s. NULL is a no-op. */
void http_server__stop(struct http_server *s);

/* The bound TCP port (useful with port 0). */
int http_server__port(const struct http_server *s);

/* A consistent copy of the counters; thread-safe, callable from callbacks. */
void http_server__stats(struct http_server *s, struct http_stats *out);

#endif /* EMITD_HTTP_H */
