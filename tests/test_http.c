// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Tests for user/agent/http.c: a real server on 127.0.0.1 (port 0) and a
 * plain socket client speaking raw HTTP/1.1 (over GnuTLS for the TLS tests,
 * with the certificates of tests/fixtures/tls/). Behind the render callback sits
 * the agent's own publisher (user/agent/view.c), fed by a small stand-in for
 * the drain loop, so one compression per rendering and zero-copy bodies are
 * checked end to end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <crypt.h>
#include <gnutls/gnutls.h>
#include <zlib.h>

#include "lib/expo.h"
#include "agent/http.h"
#include "agent/view.h"
#include "agent/webconfig.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NR_ROUTES	300
#define IO_TIMEOUT_S	20	/* generous: the suite also runs under valgrind */

#define PROM2_ACCEPT \
	"application/openmetrics-text;version=1.0.0,application/openmetrics-text;" \
	"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define PROM3_ACCEPT \
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;" \
	"version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;" \
	"escaping=allow-utf-8;q=0.4,*/*;q=0.3"

/* --- the fake agent behind the callbacks ------------------------------------ */

struct fake {
	atomic_bool ready;
	atomic_int render_err;		/* returned by render when non-zero */
	atomic_int renders;
	atomic_int bodies;		/* bodies handed out ... */
	atomic_int released;		/* ... and released by the server */
	atomic_bool big;		/* serve big_body instead of the view */
	_Atomic(const void *) last_data;	/* the bytes of the last body */
	struct view_pub *pub;
	pthread_t loop;
	atomic_bool stop;
};

static char route_buf[NR_ROUTES][32];
static const char *route_values[NR_ROUTES][1];
static struct expo_series route_series[NR_ROUTES];
static const char *const route_label[] = { "route" };
static const double bounds[] = { 0.001, 0.01, 0.1, 1 };
static const uint64_t buckets[] = { 1, 2, 3, 4, 5 };
static const char *const hostile[] = { "\"quoted\" \\ \n \xff\xfe" };
static struct expo_series lat_series[] = {
	{ .label_values = hostile, .buckets = buckets, .sum = 1.25 },
};
static struct expo_family fams[] = {
	{ .name = "demo_requests_total", .help = "Requests handled, by route.",
	  .type = EXPO_COUNTER, .label_names = route_label, .nr_labels = 1,
	  .series = route_series, .nr_series = NR_ROUTES },
	{ .name = "demo_latency_seconds", .help = "Latency.", .unit = "seconds",
	  .type = EXPO_HISTOGRAM, .label_names = route_label, .nr_labels = 1,
	  .bounds = bounds, .nr_bounds = 4, .series = lat_series, .nr_series = 1 },
};

static const char snapshot_json[] = "{\"version\":1,\"series\":[]}\n";

#define BIG_BODY	(16 * 1024 * 1024)
static char *big_body;

/* Wraps a body's release to count releases; this test's own bookkeeping. */
struct counted {
	struct fake *f;
	void (*release)(void *cookie);
	void *cookie;
};

static void counted_release(void *cookie)
{
	struct counted *c = cookie;

	if (c->release)
		c->release(c->cookie);
	atomic_fetch_add(&c->f->released, 1);
	free(c);
}

static int fake_render(void *ctx, enum expo_format fmt, bool gzip, struct http_body *out)
{
	struct fake *f = ctx;
	int err = atomic_load(&f->render_err);
	struct counted *c;

	atomic_fetch_add(&f->renders, 1);
	if (err)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (atomic_load(&f->big)) {
		*out = (struct http_body){ .data = big_body, .len = BIG_BODY,
					   .raw_len = BIG_BODY };
	} else {
		err = view_pub__body(f->pub, fmt, gzip, false, out);
		if (err) {
			free(c);
			return err;
		}
	}
	c->f = f;
	c->release = out->release;
	c->cookie = out->cookie;
	out->release = counted_release;
	out->cookie = c;
	atomic_store(&f->last_data, out->data);
	atomic_fetch_add(&f->bodies, 1);
	return 0;
}

/* Stand-in for the drain loop: publishes when a scrape asks for a drain. */
static void *fake_loop(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd = { .fd = view_pub__request_fd(f->pub), .events = POLLIN };

	while (!atomic_load(&f->stop)) {
		if (poll(&pfd, 1, 20) != 1 || !view_pub__take_request(f->pub))
			continue;
		view_pub__cycle_start(f->pub);
		if (view_pub__publish(f->pub, fams, ARRAY_SIZE(fams)))
			break;
	}
	return NULL;
}

static int fake_snapshot(void *ctx, struct expo_buf *out)
{
	(void)ctx;
	return expo_buf__append(out, snapshot_json, strlen(snapshot_json));
}

static bool fake_ready(void *ctx)
{
	struct fake *f = ctx;

	return atomic_load(&f->ready);
}

static struct fake fake;
static struct http_server *srv;
static int port;
static char *expected[2];	/* exposition per format */
static size_t expected_len[2];

static void build_data(void)
{
	size_t i;

	for (i = 0; i < NR_ROUTES; i++) {
		snprintf(route_buf[i], sizeof(route_buf[i]), "/api/v1/item/%zu", i);
		route_values[i][0] = route_buf[i];
		route_series[i].label_values = route_values[i];
		route_series[i].count = i * 1000003ULL;
	}
	for (i = 0; i < 2; i++) {
		struct expo_buf b = { 0 };

		assert_int_equal(expo__render(&b, fams, ARRAY_SIZE(fams), (enum expo_format)i), 0);
		assert_int_equal(expo__finish(&b, (enum expo_format)i), 0);
		expected[i] = b.data;
		expected_len[i] = b.len;
	}
	big_body = malloc(BIG_BODY);
	assert_non_null(big_body);
	memset(big_body, 'b', BIG_BODY);
	assert_int_equal(view_pub__new(&fake.pub), 0);
	assert_int_equal(view_pub__publish(fake.pub, fams, ARRAY_SIZE(fams)), 0);
	assert_int_equal(pthread_create(&fake.loop, NULL, fake_loop, &fake), 0);
}

static struct http_opts default_opts(const char *listen)
{
	struct http_opts o = {
		.sz = sizeof(o), .listen = listen, .render = fake_render,
		.snapshot = fake_snapshot, .ready = fake_ready, .ctx = &fake,
	};

	return o;
}

static int group_setup(void **state)
{
	struct http_opts o = default_opts("127.0.0.1:0");

	(void)state;
	build_data();
	if (http_server__start(&o, &srv))
		return -1;
	port = http_server__port(srv);
	return port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	http_server__stop(srv);
	atomic_store(&fake.stop, true);
	pthread_join(fake.loop, NULL);
	view_pub__free(fake.pub);
	free(big_body);
	free(expected[0]);
	free(expected[1]);
	return 0;
}

/* --- a raw HTTP client ---------------------------------------------------------- */

struct reply {
	int status;		/* 0: the server closed without a status line */
	char *raw;		/* whole response, NUL-terminated */
	size_t raw_len;
	char *body;		/* points into raw */
	size_t body_len;
};

static int connect_to(int family, int p)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (family == AF_INET6)
		assert_int_equal(connect(fd, (struct sockaddr *)&s6, sizeof(s6)), 0);
	else
		assert_int_equal(connect(fd, (struct sockaddr *)&s4, sizeof(s4)), 0);
	return fd;
}

/* Sends what it can: the server may close early on a bad request. */
static void send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* Reads until EOF (or reset). Fails the test on a read timeout. */
static void read_all(int fd, struct expo_buf *b)
{
	char chunk[65536];
	ssize_t n;

	for (;;) {
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail_msg("recv: %s", strerror(errno));
		assert_int_equal(expo_buf__append(b, chunk, (size_t)n), 0);
	}
	assert_int_equal(expo_buf__append(b, "", 1), 0);
	b->len--;
}

static void parse_reply(struct reply *r, struct expo_buf *b)
{
	char *end;

	memset(r, 0, sizeof(*r));
	r->raw = b->data;
	r->raw_len = b->len;
	if (b->len < 12 || strncmp(b->data, "HTTP/1.", 7))
		return;
	r->status = atoi(b->data + 9);
	end = strstr(b->data, "\r\n\r\n");
	assert_non_null(end);
	r->body = end + 4;
	r->body_len = b->len - (size_t)(r->body - b->data);
}

static void reply_free(struct reply *r)
{
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

static void raw_request_family(int family, int p, const char *req, size_t len,
			       struct reply *r)
{
	struct expo_buf b = { 0 };
	int fd = connect_to(family, p);

	send_all(fd, req, len);
	read_all(fd, &b);
	close(fd);
	parse_reply(r, &b);
}

static void raw_request(const char *req, struct reply *r)
{
	raw_request_family(AF_INET, port, req, strlen(req), r);
}

/* "METHOD path" with optional extra header lines ("Name: value\r\n"...). */
static void request_to(int p, const char *method, const char *path,
		       const char *extra, struct reply *r)
{
	char req[4096];

	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n",
		 method, path, extra ? extra : "");
	raw_request_family(AF_INET, p, req, strlen(req), r);
}

static void request(const char *method, const char *path, const char *extra,
		    struct reply *r)
{
	request_to(port, method, path, extra, r);
}

/* Value of a response header (case-insensitive name), copied into @out. */
static bool reply_header(const struct reply *r, const char *name, char *out, size_t sz)
{
	size_t nlen = strlen(name);
	const char *p = r->raw, *eol;

	while ((p = strstr(p, "\r\n")) && p + 2 < r->body - 2) {
		p += 2;
		if (strncasecmp(p, name, nlen) || p[nlen] != ':')
			continue;
		p += nlen + 1;
		while (*p == ' ')
			p++;
		eol = strstr(p, "\r\n");
		snprintf(out, sz, "%.*s", (int)(eol - p), p);
		return true;
	}
	return false;
}

static void assert_header(const struct reply *r, const char *name, const char *want)
{
	char v[512];

	if (!reply_header(r, name, v, sizeof(v)))
		fail_msg("no %s header in:\n%s", name, r->raw);
	assert_string_equal(v, want);
}

static void assert_no_header(const struct reply *r, const char *name)
{
	char v[512];

	assert_false(reply_header(r, name, v, sizeof(v)));
}

static void assert_content_length(const struct reply *r, size_t len)
{
	char v[64], want[32];

	snprintf(want, sizeof(want), "%zu", len);
	assert_true(reply_header(r, "Content-Length", v, sizeof(v)));
	assert_string_equal(v, want);
}

static void inflate_body(const struct reply *r, struct expo_buf *out)
{
	z_stream zs = { 0 };
	char chunk[16384];
	int ret;

	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)r->body;
	zs.avail_in = (uInt)r->body_len;
	do {
		zs.next_out = (Bytef *)chunk;
		zs.avail_out = sizeof(chunk);
		ret = inflate(&zs, Z_NO_FLUSH);
		assert_true(ret == Z_OK || ret == Z_STREAM_END);
		assert_int_equal(expo_buf__append(out, chunk, sizeof(chunk) - zs.avail_out), 0);
	} while (ret != Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0);
	inflateEnd(&zs);
}

static void assert_healthy(void)
{
	struct reply r;

	request("GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, atomic_load(&fake.ready) ? 200 : 503);
	reply_free(&r);
}

/* --- endpoints ------------------------------------------------------------------ */

static void test_healthz(void **state)
{
	struct reply r;

	(void)state;
	atomic_store(&fake.ready, false);
	request("GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.body_len, strlen("starting\n"));
	assert_memory_equal(r.body, "starting\n", r.body_len);
	assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
	reply_free(&r);

	atomic_store(&fake.ready, true);
	request("GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 3);
	assert_memory_equal(r.body, "ok\n", 3);
	reply_free(&r);

	request("HEAD", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	reply_free(&r);
}

static void test_metrics_text(void **state)
{
	struct reply r;

	(void)state;
	request("GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	assert_header(&r, "Vary", "Accept, Accept-Encoding");
	assert_no_header(&r, "Content-Encoding");
	assert_content_length(&r, expected_len[EXPO_FMT_TEXT_004]);
	assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
	assert_memory_equal(r.body, expected[EXPO_FMT_TEXT_004], r.body_len);
	reply_free(&r);

	/* Prometheus 3's default prefers text 1.0.0, which we do not serve */
	request("GET", "/metrics", "Accept: " PROM3_ACCEPT "\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
	reply_free(&r);

	/* a query string is ignored */
	request("GET", "/metrics?name[]=x&debug=1", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
	reply_free(&r);
}

static void test_metrics_openmetrics(void **state)
{
	const size_t n = expected_len[EXPO_FMT_OPENMETRICS_100];
	struct reply r;

	(void)state;
	request("GET", "/metrics", "Accept: " PROM2_ACCEPT "\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type",
		      "application/openmetrics-text; version=1.0.0; charset=utf-8");
	assert_int_equal(r.body_len, n);
	assert_memory_equal(r.body, expected[EXPO_FMT_OPENMETRICS_100], n);
	assert_memory_equal(r.body + n - 6, "# EOF\n", 6);
	reply_free(&r);

	request("GET", "/metrics", "Accept: application/openmetrics-text;q=0\r\n", &r);
	assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	reply_free(&r);
}

static void test_metrics_gzip(void **state)
{
	static const int fmts[] = { EXPO_FMT_TEXT_004, EXPO_FMT_OPENMETRICS_100 };
	struct expo_buf plain = { 0 };
	struct reply r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(fmts); i++) {
		int f = fmts[i];

		request("GET", "/metrics", f ? "Accept: " PROM2_ACCEPT "\r\n"
			"Accept-Encoding: gzip\r\n" : "Accept-Encoding: gzip\r\n", &r);
		assert_int_equal(r.status, 200);
		assert_header(&r, "Content-Encoding", "gzip");
		assert_header(&r, "Vary", "Accept, Accept-Encoding");
		assert_content_length(&r, r.body_len);
		assert_true(r.body_len < expected_len[f] / 3);
		inflate_body(&r, &plain);
		assert_int_equal(plain.len, expected_len[f]);
		assert_memory_equal(plain.data, expected[f], plain.len);
		plain.len = 0;
		reply_free(&r);
	}
	expo_buf__free(&plain);

	request("GET", "/metrics", "Accept-Encoding: gzip;q=0, identity\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_no_header(&r, "Content-Encoding");
	assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
	reply_free(&r);
}

static void test_head_metrics(void **state)
{
	struct reply r;

	(void)state;
	request("HEAD", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	assert_content_length(&r, expected_len[EXPO_FMT_TEXT_004]);
	assert_int_equal(r.body_len, 0);
	reply_free(&r);
}

static void test_snapshot(void **state)
{
	struct expo_buf plain = { 0 };
	struct reply r;

	(void)state;
	request("GET", "/snapshot", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	assert_int_equal(r.body_len, strlen(snapshot_json));
	assert_memory_equal(r.body, snapshot_json, r.body_len);
	reply_free(&r);

	request("GET", "/snapshot", "Accept-Encoding: gzip\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Encoding", "gzip");
	inflate_body(&r, &plain);
	assert_int_equal(plain.len, strlen(snapshot_json));
	assert_memory_equal(plain.data, snapshot_json, plain.len);
	expo_buf__free(&plain);
	reply_free(&r);
}

static void test_not_found(void **state)
{
	static const char *const paths[] = {
		"/", "/metric", "/metrics/", "/Metrics", "/metrics/x", "//metrics",
		"/healthz/", "/snapshot.json", "/favicon.ico", "/%00", "/..%2f..%2fetc",
		"*",
	};
	struct reply r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(paths); i++) {
		request("GET", paths[i], NULL, &r);
		if (r.status != 404 && r.status != 400)
			fail_msg("GET %s: status %d", paths[i], r.status);
		reply_free(&r);
	}
}

static void test_method_not_allowed(void **state)
{
	static const char *const methods[] = {
		"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO", "get",
	};
	struct reply r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(methods); i++) {
		request(methods[i], "/metrics", NULL, &r);
		assert_int_equal(r.status, 405);
		assert_header(&r, "Allow", "GET, HEAD");
		reply_free(&r);
	}
	/* a body is never read, the reply still comes */
	request("POST", "/metrics", "Content-Length: 11\r\n", &r);
	assert_int_equal(r.status, 405);
	reply_free(&r);
	raw_request("POST /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		    "Content-Length: 5\r\n\r\nhello", &r);
	assert_int_equal(r.status, 405);
	reply_free(&r);
	assert_healthy();
}

static void test_render_error(void **state)
{
	struct http_stats before, after;
	struct reply r;

	(void)state;
	http_server__stats(srv, &before);
	atomic_store(&fake.render_err, -EIO);
	request("GET", "/metrics", NULL, &r);
	atomic_store(&fake.render_err, 0);
	assert_int_equal(r.status, 500);
	reply_free(&r);
	http_server__stats(srv, &after);
	assert_int_equal(after.scrape_errors, before.scrape_errors + 1);
	assert_int_equal(after.scrapes, before.scrapes);
	request("GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

/* --- hostile clients ---------------------------------------------------------- */

static void test_malformed_requests(void **state)
{
	static const char *const bad[] = {
		"GARBAGE\r\n\r\n",
		"GET\r\n\r\n",
		"GET /metrics\r\n\r\n",				/* HTTP/0.9 */
		"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\n\r\n",			/* no Host */
		"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"\r\n\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",	/* TLS ClientHello */
		"GET /\xff\xfe HTTP/1.1\r\nHost: \xff\r\n\r\n",
		"GET /metrics HTTP/1.1\nHost: x\n\n",		/* bare LF */
		"GET /metrics HTTP/1.1\r\nHost: x\r\n",		/* truncated */
	};
	struct reply r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char req[512];

		/* close so a server waiting for more input sees EOF */
		snprintf(req, sizeof(req), "%s", bad[i]);
		{
			struct expo_buf b = { 0 };
			int fd = connect_to(AF_INET, port);

			send_all(fd, req, strlen(req));
			shutdown(fd, SHUT_WR);
			read_all(fd, &b);
			close(fd);
			parse_reply(&r, &b);
		}
		/* any answer or none, but never a crash or a hang */
		if (r.status)
			assert_true(r.status >= 200 && r.status < 600);
		reply_free(&r);
		assert_healthy();
	}
}

static void test_oversized_request(void **state)
{
	size_t n = 64 * 1024, i;
	char *req = malloc(n + 256);
	struct reply r;
	int len;

	(void)state;
	assert_non_null(req);
	/* one huge header */
	len = sprintf(req, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + len, 'a', n);
	strcpy(req + len + n, "\r\nConnection: close\r\n\r\n");
	raw_request_family(AF_INET, port, req, strlen(req), &r);
	if (r.status)
		assert_true(r.status == 431 || r.status == 413 || r.status == 400);
	reply_free(&r);
	assert_healthy();

	/* many small headers */
	len = sprintf(req, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; len + 40 < (int)n; i++)
		len += sprintf(req + len, "X-H%zu: v\r\n", i);
	strcpy(req + len, "\r\n");
	raw_request_family(AF_INET, port, req, strlen(req), &r);
	if (r.status)
		assert_true(r.status == 431 || r.status == 413 || r.status == 400);
	reply_free(&r);
	assert_healthy();

	/* a huge URL */
	len = sprintf(req, "GET /");
	memset(req + len, 'u', n);
	strcpy(req + len + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	raw_request_family(AF_INET, port, req, strlen(req), &r);
	if (r.status)
		assert_true(r.status == 414 || r.status == 431 || r.status == 400);
	reply_free(&r);
	assert_healthy();
	free(req);
}

/*
 * Reads one response from a connection that stays open: the head up to the
 * blank line, then Content-Length bytes of body (none for HEAD). Fails the
 * test on EOF or a timeout before the response is complete.
 */
static void read_response(int fd, bool head, struct reply *r)
{
	struct expo_buf b = { 0 };
	size_t want = 0, hlen = 0;
	char chunk[65536], v[64];
	ssize_t n;

	for (;;) {
		if (hlen && b.len >= hlen + want)
			break;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail_msg("connection closed or timed out after %zu bytes", b.len);
		assert_int_equal(expo_buf__append(&b, chunk, (size_t)n), 0);
		assert_int_equal(expo_buf__append(&b, "", 1), 0);
		b.len--;
		if (!hlen && strstr(b.data, "\r\n\r\n")) {
			hlen = (size_t)(strstr(b.data, "\r\n\r\n") + 4 - b.data);
			parse_reply(r, &b);
			if (!head && reply_header(r, "Content-Length", v, sizeof(v)))
				want = strtoul(v, NULL, 10);
		}
	}
	assert_int_equal(b.len, hlen + want);	/* nothing beyond this reply */
	parse_reply(r, &b);
}

/* True when @fd is still open: nothing to read within @ms, but no EOF. */
static bool still_open(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	char c;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, &c, 1, 0);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* HTTP/1.1 keep-alive: requests on one connection, which stays open. */
static void test_keep_alive(void **state)
{
	static const char *const reqs[] = {
		"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
		"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	int fd = connect_to(AF_INET, port);
	struct expo_buf plain = { 0 };
	struct reply r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(reqs); i++) {
		bool head = !strncmp(reqs[i], "HEAD", 4);

		send_all(fd, reqs[i], strlen(reqs[i]));
		read_response(fd, head, &r);
		assert_int_equal(r.status, 200);
		assert_no_header(&r, "Connection");	/* HTTP/1.1: open by default */
		if (strstr(reqs[i], "/metrics") && !head) {
			if (strstr(reqs[i], "gzip")) {
				inflate_body(&r, &plain);
				assert_int_equal(plain.len, expected_len[EXPO_FMT_TEXT_004]);
				plain.len = 0;
			} else {
				assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
				assert_memory_equal(r.body, expected[EXPO_FMT_TEXT_004],
						    r.body_len);
			}
		}
		reply_free(&r);
	}
	assert_true(still_open(fd, 300));
	close(fd);
	expo_buf__free(&plain);

	/* a client that half-closes after its request gets the reply, then EOF */
	for (i = 0; i < 10; i++) {
		struct timespec t0, t1;
		struct expo_buf b = { 0 };

		fd = connect_to(AF_INET, port);
		send_all(fd, reqs[i % 2], strlen(reqs[i % 2]));
		shutdown(fd, SHUT_WR);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		read_all(fd, &b);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		close(fd);
		assert_memory_equal(b.data, "HTTP/1.1 200 ", 13);
		assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 500);
		expo_buf__free(&b);
	}

	/* the client's "Connection: close" is honoured */
	fd = connect_to(AF_INET, port);
	send_all(fd, reqs[0], strlen(reqs[0]) - 2);
	send_all(fd, "Connection: close\r\n\r\n", strlen("Connection: close\r\n\r\n"));
	read_response(fd, false, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Connection", "close");
	reply_free(&r);
	assert_false(still_open(fd, 2000));
	close(fd);
}

/* HTTP/1.1 requires Host (RFC 9112 section 3.2): 400 without it. */
static void test_host_required(void **state)
{
	struct reply r;

	(void)state;
	raw_request("GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	raw_request("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	/* HTTP/1.0 has no Host requirement */
	raw_request("GET /metrics HTTP/1.0\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
	reply_free(&r);
	assert_healthy();
}

/*
 * A NUL in the request target, raw or %00, never reaches a handler as a
 * shorter path: "/metrics\0x" is not "/metrics".
 */
static void test_nul_in_target(void **state)
{
#define NUL_REQ(target) { "GET " target " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", \
			  sizeof("GET " target " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") - 1 }
	static const struct {
		const char *req;
		size_t len;
	} cases[] = {
		NUL_REQ("/metrics%00"),
		NUL_REQ("/metrics%00x"),
		NUL_REQ("/metrics%00?x=1"),
		NUL_REQ("/healthz%00"),
		NUL_REQ("/metrics\0x"),
		NUL_REQ("/metrics\0"),
		NUL_REQ("/metrics\0?x"),
		NUL_REQ("/healthz\0.json"),
		NUL_REQ("/metrics?x=%00"),
		NUL_REQ("/metrics?x=\0"),
	};
#undef NUL_REQ
	struct reply r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		raw_request_family(AF_INET, port, cases[i].req, cases[i].len, &r);
		if (r.status != 400 && r.status != 404)
			fail_msg("case %zu (%.*s): status %d", i,
				 (int)strcspn(cases[i].req + 4, " "), cases[i].req + 4, r.status);
		reply_free(&r);
	}
	/* "%2500" is a literal "%00", "%41" an "A": neither is a NUL */
	request("GET", "/metrics%2500", NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	request("GET", "/%6detrics", NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	assert_healthy();
}

/* --- stats and concurrency ----------------------------------------------------- */

static void test_stats(void **state)
{
	struct http_stats before, after;
	size_t sent = 0;
	struct reply r;
	int i;

	(void)state;
	http_server__stats(srv, &before);
	for (i = 0; i < 3; i++) {
		request("GET", "/metrics", i == 2 ? "Accept-Encoding: gzip\r\n" : NULL, &r);
		assert_int_equal(r.status, 200);
		sent += r.body_len;
		reply_free(&r);
	}
	request("GET", "/healthz", NULL, &r);
	reply_free(&r);
	http_server__stats(srv, &after);
	assert_int_equal(after.scrapes - before.scrapes, 3);
	assert_int_equal(after.scrapes_gzip - before.scrapes_gzip, 1);
	assert_int_equal(after.requests - before.requests, 4);
	assert_int_equal(after.scrape_bytes - before.scrape_bytes, sent);
	assert_int_equal(after.scrape_bytes_uncompressed - before.scrape_bytes_uncompressed,
			 3 * expected_len[EXPO_FMT_TEXT_004]);
	assert_int_equal(after.last_scrape_bytes_uncompressed, expected_len[EXPO_FMT_TEXT_004]);
	assert_true(after.last_scrape_bytes < after.last_scrape_bytes_uncompressed);
	assert_true(after.last_scrape_seconds >= 0 && after.last_scrape_seconds < 60);
	assert_true(after.scrape_seconds_total >= before.scrape_seconds_total);
}

#define NR_THREADS	8
#define NR_PER_THREAD	15

/*
 * Thread-safe client for the scraper threads: cmocka assertions must stay on
 * the main thread, so this one only reports success.
 */
static bool scrape_once(int f, bool gz)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct expo_buf b = { 0 }, plain = { 0 };
	z_stream zs = { 0 };
	char req[1024], chunk[16384], *body;
	bool ok = false;
	ssize_t n;
	int fd;

	snprintf(req, sizeof(req),
		 "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s\r\n",
		 f ? "Accept: " PROM2_ACCEPT "\r\n" : "",
		 gz ? "Accept-Encoding: gzip\r\n" : "");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	send_all(fd, req, strlen(req));
	while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0) {
		if (expo_buf__append(&b, chunk, (size_t)n))
			goto out;
	}
	if (n < 0 || expo_buf__append(&b, "", 1))
		goto out;
	if (strncmp(b.data, "HTTP/1.1 200 ", 13) || !(body = strstr(b.data, "\r\n\r\n")))
		goto out;
	body += 4;
	n = (ssize_t)(b.data + b.len - 1 - body);
	if (!gz) {
		ok = (size_t)n == expected_len[f] && !memcmp(body, expected[f], (size_t)n);
		goto out;
	}
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		goto out;
	zs.next_in = (Bytef *)body;
	zs.avail_in = (uInt)n;
	do {
		zs.next_out = (Bytef *)chunk;
		zs.avail_out = sizeof(chunk);
		n = inflate(&zs, Z_NO_FLUSH);
		if ((n != Z_OK && n != Z_STREAM_END) ||
		    expo_buf__append(&plain, chunk, sizeof(chunk) - zs.avail_out))
			break;
	} while (n != Z_STREAM_END);
	inflateEnd(&zs);
	ok = n == Z_STREAM_END && plain.len == expected_len[f] &&
	     !memcmp(plain.data, expected[f], plain.len);
out:
	close(fd);
	expo_buf__free(&b);
	expo_buf__free(&plain);
	return ok;
}

static void *scraper(void *arg)
{
	long id = (long)arg, bad = 0;
	int i;

	for (i = 0; i < NR_PER_THREAD; i++)
		bad += !scrape_once((int)((id + i) % 2), (id + i) % 3 == 0);
	return (void *)bad;
}

static void test_concurrent_scrapes(void **state)
{
	pthread_t th[NR_THREADS];
	void *bad;
	long i;

	(void)state;
	for (i = 0; i < NR_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, scraper, (void *)i), 0);
	for (i = 0; i < NR_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_int_equal((long)bad, 0);
	}
}

/* --- shared renderings: one compression each, no copies ----------------------- */

/* Every body handed out is released exactly once, when its reply is done. */
static void assert_all_released(void)
{
	int i;

	for (i = 0; i < 200 && atomic_load(&fake.released) != atomic_load(&fake.bodies); i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&fake.released), atomic_load(&fake.bodies));
}

static void *gzip_scraper(void *arg)
{
	long bad = 0;
	int i;

	(void)arg;
	for (i = 0; i < 25; i++)
		bad += !scrape_once(EXPO_FMT_TEXT_004, true);
	return (void *)bad;
}

/*
 * 100 gzip scrapes of one rendering, 4 threads at once from its first
 * request: one compression. A new rendering is compressed again, once, on
 * its first gzip scrape; plain scrapes never compress.
 */
static void test_one_compression_per_rendering(void **state)
{
	uint64_t c0;
	pthread_t th[4];
	struct reply r;
	void *bad;
	int i;

	(void)state;
	assert_int_equal(view_pub__publish(fake.pub, fams, ARRAY_SIZE(fams)), 0);
	c0 = view_pub__compressions(fake.pub);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, gzip_scraper, NULL), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_int_equal((long)bad, 0);
	}
	assert_int_equal(view_pub__compressions(fake.pub) - c0, 1);

	for (i = 0; i < 10; i++) {
		request("GET", "/metrics", NULL, &r);
		assert_int_equal(r.status, 200);
		reply_free(&r);
	}
	assert_int_equal(view_pub__compressions(fake.pub) - c0, 1);

	assert_int_equal(view_pub__publish(fake.pub, fams, ARRAY_SIZE(fams)), 0);
	for (i = 0; i < 3; i++) {
		request("GET", "/metrics", "Accept-Encoding: gzip\r\n", &r);
		assert_int_equal(r.status, 200);
		assert_header(&r, "Content-Encoding", "gzip");
		reply_free(&r);
	}
	assert_int_equal(view_pub__compressions(fake.pub) - c0, 2);
	assert_all_released();
}

/* Scrapes are served from the published buffer itself, not a copy of it. */
static void test_served_from_shared_buffer(void **state)
{
	const void *data[2];
	struct view *v;
	struct reply r;
	size_t len;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		request("GET", "/metrics", NULL, &r);
		assert_int_equal(r.status, 200);
		data[i] = atomic_load(&fake.last_data);
		reply_free(&r);
	}
	v = view_pub__get(fake.pub);
	assert_ptr_equal(data[0], view__text(v, &len));
	assert_ptr_equal(data[1], data[0]);
	assert_int_equal(len, expected_len[EXPO_FMT_TEXT_004]);
	view__put(v);
	assert_all_released();
}

/*
 * A body stays with the server, unreleased, while its reply is still being
 * sent (the server sends from it, it made no copy), and is released once
 * the reply is done.
 */
static void test_body_held_until_sent(void **state)
{
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct expo_buf b = { 0 };
	char c;
	int fd, held;

	(void)state;
	atomic_store(&fake.big, true);
	fd = connect_to(AF_INET, port);
	send_all(fd, req, strlen(req));
	assert_int_equal(recv(fd, &c, 1, 0), 1);	/* the reply started ... */
	usleep(200 * 1000);
	held = atomic_load(&fake.bodies) - atomic_load(&fake.released);
	atomic_store(&fake.big, false);
	assert_int_equal(held, 1);			/* ... and is not done */
	read_all(fd, &b);
	close(fd);
	assert_true(b.len > BIG_BODY - 1);
	assert_int_equal(b.data[b.len - 1], 'b');
	expo_buf__free(&b);
	assert_all_released();
}

/* --- lifecycle and options ------------------------------------------------------ */

static void test_port_in_use(void **state)
{
	struct http_server *s2 = (struct http_server *)0x1;
	char listen[64];
	struct http_opts o;

	(void)state;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	o = default_opts(listen);
	assert_int_equal(http_server__start(&o, &s2), -EADDRINUSE);
	assert_null(s2);
	assert_healthy();
}

static void test_bad_options(void **state)
{
	static const char *const bad_listen[] = {
		"nonsense", "127.0.0.1", "127.0.0.1:", ":9477", "127.0.0.1:99999",
		"127.0.0.1:-1", "127.0.0.1:0x10", "127.0.0.1:9477 ", " 127.0.0.1:9477",
		"1.2.3.4.5:80", "256.0.0.1:80", "localhost:9477", "::1:9477", "[::1]",
		"[::1]9477", "[::1:9477", "[]:9477", "[127.0.0.1]:9477",
		"[fe80::1%lo]:9477", "127.0.0.1:123456",
		"[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:1",
	};
	struct http_server *s = NULL;
	struct http_opts o;
	size_t i;
	struct {
		struct http_opts o;
		uint64_t future;
	} big;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad_listen); i++) {
		o = default_opts(bad_listen[i]);
		if (http_server__start(&o, &s) != -EINVAL)
			fail_msg("listen \"%s\" accepted", bad_listen[i]);
		assert_null(s);
	}
	o = default_opts("127.0.0.1:0");
	assert_int_equal(http_server__start(NULL, &s), -EINVAL);
	assert_int_equal(http_server__start(&o, NULL), -EINVAL);
	o.render = NULL;
	assert_int_equal(http_server__start(&o, &s), -EINVAL);
	o = default_opts("127.0.0.1:0");
	o.sz = offsetof(struct http_opts, ready);
	assert_int_equal(http_server__start(&o, &s), -EINVAL);
	o = default_opts("127.0.0.1:0");
	o.max_request_bytes = 100;
	assert_int_equal(http_server__start(&o, &s), -EINVAL);

	/* a newer caller's larger struct: zero tail is fine, non-zero is not */
	memset(&big, 0, sizeof(big));
	big.o = default_opts("127.0.0.1:0");
	big.o.sz = sizeof(big);
	big.future = 1;
	assert_int_equal(http_server__start(&big.o, &s), -EINVAL);
	big.future = 0;
	assert_int_equal(http_server__start(&big.o, &s), 0);
	http_server__stop(s);
	http_server__stop(NULL);
}

static void test_defaults_without_callbacks(void **state)
{
	struct http_opts o = {
		.sz = sizeof(o), .listen = "127.0.0.1:0", .render = fake_render,
		.ctx = &fake,
	};
	struct http_server *s;
	struct reply r;
	int p;

	(void)state;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	assert_true(p > 0 && p != port);
	request_to(p, "GET", "/snapshot", NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	request_to(p, "GET", "/healthz", NULL, &r);	/* no ready callback: ready */
	assert_int_equal(r.status, 200);
	reply_free(&r);
	http_server__stop(s);
}

static void test_ipv6_loopback(void **state)
{
	struct http_opts o = default_opts("[::1]:0");
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n";
	struct http_server *s;
	struct reply r;
	int err;

	(void)state;
	/* this machine kind (and CI) has IPv6 loopback: no skip */
	err = http_server__start(&o, &s);
	assert_int_equal(err, 0);
	raw_request_family(AF_INET6, http_server__port(s), req, strlen(req), &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
	reply_free(&r);
	http_server__stop(s);
}

/*
 * At max_conns, a further connection waits in the listen backlog, without a
 * reply, and is served once a slot frees.
 */
static void test_connection_limit(void **state)
{
	const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct http_opts o = default_opts("127.0.0.1:0");
	struct expo_buf b = { 0 };
	struct http_server *s;
	int idle[2], fd, p;

	(void)state;
	o.max_conns = 2;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	idle[0] = connect_to(AF_INET, p);
	idle[1] = connect_to(AF_INET, p);
	usleep(200 * 1000);		/* let MHD accept both */
	fd = connect_to(AF_INET, p);
	send_all(fd, req, strlen(req));
	assert_true(still_open(fd, 300));	/* queued: no reply, no close */
	close(idle[0]);
	close(idle[1]);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = IO_TIMEOUT_S },
		   sizeof(struct timeval));
	read_all(fd, &b);
	close(fd);
	assert_true(b.len > 12);
	assert_memory_equal(b.data, "HTTP/1.1 200 ", 13);
	expo_buf__free(&b);
	http_server__stop(s);
}

/* True when the server closes @fd within @ms (EOF or reset). */
static bool closed_within(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	char buf[256];
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n > 0);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int connect_from(const char *src, int p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, src, &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	return fd;
}

/* One address holds at most max_conns_per_ip connections; others are served. */
static void test_per_ip_limit(void **state)
{
	const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct http_opts o = default_opts("127.0.0.1:0");
	struct http_server *s;
	struct expo_buf b = { 0 };
	int fd[4], other, p, i;

	(void)state;
	o.max_conns_per_ip = 3;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	for (i = 0; i < 4; i++) {
		fd[i] = connect_from("127.0.0.3", p);
		usleep(50 * 1000);
	}
	assert_true(closed_within(fd[3], 2000));	/* the 4th: closed at once */
	for (i = 0; i < 3; i++)
		assert_true(still_open(fd[i], 100));
	other = connect_from("127.0.0.4", p);
	send_all(other, req, strlen(req));
	setsockopt(other, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = IO_TIMEOUT_S },
		   sizeof(struct timeval));
	read_all(other, &b);
	assert_true(b.len > 12);
	assert_memory_equal(b.data, "HTTP/1.1 200 ", 13);
	close(other);
	for (i = 0; i < 4; i++)
		close(fd[i]);
	/* slots free again once closed */
	for (i = 0; i < 100; i++) {
		fd[0] = connect_from("127.0.0.3", p);
		if (!closed_within(fd[0], 50))
			break;
		close(fd[0]);
		fd[0] = -1;
	}
	assert_true(fd[0] >= 0);
	close(fd[0]);
	expo_buf__free(&b);
	http_server__stop(s);
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

struct trickle {
	int fd;
	atomic_bool stop;
};

/* Sends a header byte every 100 ms until told to stop or the socket fails. */
static void *trickler(void *arg)
{
	struct trickle *t = arg;

	while (!atomic_load(&t->stop)) {
		if (send(t->fd, "a", 1, MSG_NOSIGNAL) != 1)
			break;
		usleep(100 * 1000);
	}
	return NULL;
}

/*
 * The request deadline: a head trickled in a byte every 100 ms (never idle
 * for MHD's timeout) and an idle connection are shut down request_deadline_ms
 * after their accept; a kept-alive connection waits keepalive_idle_ms for
 * its next request, which then has the deadline from its request line; a
 * client slow to read its reply is not cut (the request was complete).
 */
static void test_request_deadline(void **state)
{
	const char head[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	const char close_req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct http_opts o = default_opts("127.0.0.1:0");
	struct trickle t = { 0 };
	struct http_stats st0, st1;
	struct expo_buf b = { 0 };
	struct timespec t0;
	struct http_server *s;
	struct reply r;
	pthread_t th;
	int idle, ka, p;
	double dt;
	char c;

	(void)state;
	o.request_deadline_ms = 1000;
	o.keepalive_idle_ms = 3000;
	o.timeout_s = 30;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	http_server__stats(s, &st0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	t.fd = connect_to(AF_INET, p);
	idle = connect_to(AF_INET, p);
	send_all(t.fd, head, strlen(head));
	assert_int_equal(pthread_create(&th, NULL, trickler, &t), 0);
	assert_true(closed_within(t.fd, 5000));
	dt = elapsed_s(&t0);
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	print_message("trickled head dropped after %.2f s (deadline 1 s)\n", dt);
	assert_true(dt >= 0.95 && dt < 1.6);
	assert_true(closed_within(idle, 1000));
	close(t.fd);
	close(idle);

	/*
	 * keep-alive: a kept-alive connection waiting for its next request is
	 * idle, not late: it outlives the deadline, and closes after
	 * keepalive_idle_ms; its next request has the whole deadline again
	 */
	ka = connect_to(AF_INET, p);
	usleep(700 * 1000);
	send_all(ka, req, strlen(req));
	read_response(ka, false, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	usleep(1500 * 1000);		/* 2.2 s after accept, 1.5 s idle */
	send_all(ka, head, strlen(head));	/* a head that never completes */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_true(closed_within(ka, 5000));
	dt = elapsed_s(&t0);
	assert_true(dt >= 0.95 && dt < 1.6);
	close(ka);

	ka = connect_to(AF_INET, p);
	send_all(ka, req, strlen(req));
	read_response(ka, false, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_true(closed_within(ka, 10000));
	dt = elapsed_s(&t0);
	print_message("idle kept-alive connection closed after %.2f s (keepalive_idle_ms 3000)\n",
		      dt);
	assert_true(dt >= 2.95 && dt < 3.6);
	close(ka);

	/* a slow reader of a big reply is not the deadline's business */
	atomic_store(&fake.big, true);
	ka = connect_to(AF_INET, p);
	send_all(ka, close_req, strlen(close_req));
	assert_int_equal(recv(ka, &c, 1, 0), 1);
	usleep(1500 * 1000);
	atomic_store(&fake.big, false);
	read_all(ka, &b);		/* the rest of it, complete */
	close(ka);
	assert_true(b.len > BIG_BODY);
	assert_int_equal(b.data[b.len - 1], 'b');

	http_server__stats(s, &st1);
	assert_int_equal(st1.deadline_drops - st0.deadline_drops, 3);
	assert_int_equal(st1.idle_timeouts - st0.idle_timeouts, 1);
	assert_int_equal(st1.idle_reaped - st0.idle_reaped, 0);
	expo_buf__free(&b);
	http_server__stop(s);
	assert_all_released();
}

/* An idle or slow (slowloris) client is dropped after timeout_s. */
static void test_idle_timeout(void **state)
{
	const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
	struct http_opts o = default_opts("127.0.0.1:0");
	struct http_server *s;
	struct timespec t0, t1;
	struct expo_buf b = { 0 };
	int fd[2], p, i;

	(void)state;
	o.timeout_s = 1;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	fd[0] = connect_to(AF_INET, p);
	fd[1] = connect_to(AF_INET, p);
	send_all(fd[1], partial, strlen(partial));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 2; i++) {
		read_all(fd[i], &b);		/* returns on the server's close */
		assert_int_equal(b.len, 0);
		close(fd[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < IO_TIMEOUT_S);
	expo_buf__free(&b);
	http_server__stop(s);
}


/* --- keep-alive across scrape intervals, the idle watermark --------------------- */

/*
 * A scraper's kept-alive connection outlives the request deadline between
 * two scrapes (Prometheus: 15 s apart, deadline 5 s): here 2.5 s apart with
 * a 1 s deadline, on one connection.
 */
static void test_keepalive_outlives_deadline(void **state)
{
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_opts o = default_opts("127.0.0.1:0");
	struct http_stats st;
	struct http_server *s;
	struct reply r;
	int fd, i;

	(void)state;
	o.request_deadline_ms = 1000;
	assert_int_equal(http_server__start(&o, &s), 0);
	fd = connect_to(AF_INET, http_server__port(s));
	for (i = 0; i < 3; i++) {
		if (i)
			usleep(2500 * 1000);
		send_all(fd, req, strlen(req));
		read_response(fd, false, &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
		reply_free(&r);
	}
	close(fd);
	http_server__stats(s, &st);
	assert_int_equal(st.deadline_drops, 0);
	assert_int_equal(st.idle_timeouts, 0);
	http_server__stop(s);
}

/* A GET /healthz on a new kept-alive connection from @src; the connection. */
static int idle_from(const char *src, int p)
{
	const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	struct reply r;
	int fd = connect_from(src, p);

	send_all(fd, req, strlen(req));
	read_response(fd, false, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	return fd;
}

/*
 * Filled with idle kept-alive connections from other addresses, to its
 * max_conns, the server closes the longest-idle ones down to the watermark,
 * and a new scraper gets its 200 at once (without the watermark it would
 * wait in the backlog for keepalive_idle_ms).
 */
static void test_idle_watermark(void **state)
{
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct http_opts o = default_opts("127.0.0.1:0");
	int fd[16], scraper, p, i, open_old = 0, open_new = 0;
	struct expo_buf b = { 0 };
	struct http_server *s;
	struct timespec t0;
	struct http_stats st;
	char src[32];
	double dt;

	(void)state;
	o.max_conns = 16;
	o.idle_watermark = 8;
	o.threads = 2;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	for (i = 0; i < 8; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 20 + i % 4);
		fd[i] = idle_from(src, p);
	}
	usleep(300 * 1000);
	for (i = 0; i < 8; i++)			/* at the watermark: all kept */
		assert_true(still_open(fd[i], 10));
	http_server__stats(s, &st);
	assert_int_equal(st.idle_reaped, 0);
	for (i = 8; i < 16; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 20 + i % 4);
		fd[i] = idle_from(src, p);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	scraper = connect_to(AF_INET, p);
	send_all(scraper, req, strlen(req));
	read_all(scraper, &b);
	dt = elapsed_s(&t0);
	close(scraper);
	assert_memory_equal(b.data, "HTTP/1.1 200 ", 13);
	print_message("16 idle connections, watermark 8: the scraper's 200 in %.1f ms\n", dt * 1e3);
	assert_true(dt < 1.0);
	usleep(300 * 1000);
	for (i = 0; i < 16; i++) {
		bool open = still_open(fd[i], 10);

		open_old += i < 8 && open;
		open_new += i >= 8 && open;
		close(fd[i]);
	}
	/* the oldest went first: none of the first 8 is left */
	assert_int_equal(open_old, 0);
	assert_true(open_new >= 7 && open_new <= 8);
	http_server__stats(s, &st);
	assert_true(st.idle_reaped >= 8 && st.idle_reaped <= 9);
	expo_buf__free(&b);
	http_server__stop(s);
}

/* --- /-/reload ------------------------------------------------------------------ */

static atomic_int reloads;
static atomic_int reload_ret;
static char reload_msg[128];

static int fake_reload(void *ctx, char *msg, size_t msg_len)
{
	(void)ctx;
	atomic_fetch_add(&reloads, 1);
	snprintf(msg, msg_len, "%s", reload_msg);
	return atomic_load(&reload_ret);
}

static char health_text[256];
static atomic_int health_status;

static int fake_health(void *ctx, char *buf, size_t len)
{
	(void)ctx;
	snprintf(buf, len, "%s", health_text);
	return atomic_load(&health_status);
}

/* A health callback gives /healthz its status and body once ready; "starting" before. */
static void test_healthz_callback(void **state)
{
	struct http_opts o = default_opts("127.0.0.1:0");
	struct http_server *s;
	struct reply r;
	int p;

	(void)state;
	o.health = fake_health;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);

	atomic_store(&fake.ready, false);
	request_to(p, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "starting\n");
	reply_free(&r);
	atomic_store(&fake.ready, true);

	atomic_store(&health_status, 200);
	snprintf(health_text, sizeof(health_text), "ok: 2 of 3 probes attached\nprobe x: not attached\n");
	request_to(p, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, health_text);
	assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
	reply_free(&r);

	atomic_store(&health_status, 503);
	snprintf(health_text, sizeof(health_text), "target demo (pid 1234) exited\n");
	request_to(p, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "target demo (pid 1234) exited\n");
	reply_free(&r);

	/* any status but 200 is 503 */
	atomic_store(&health_status, 0);
	request_to(p, "HEAD", "/healthz", NULL, &r);
	assert_int_equal(r.status, 503);
	reply_free(&r);
	http_server__stop(s);
}

static void test_reload(void **state)
{
	struct http_opts o = default_opts("127.0.0.1:0");
	char big[8192], req[9000];
	struct http_server *s;
	struct reply r;
	int p, fd, n;

	(void)state;
	o.reload = fake_reload;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);

	request_to(p, "POST", "/-/reload", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, strlen("reloaded\n"));
	assert_memory_equal(r.body, "reloaded\n", r.body_len);
	reply_free(&r);
	request_to(p, "PUT", "/-/reload", "Content-Length: 0\r\n", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	assert_int_equal(atomic_load(&reloads), 2);

	/* GET and others: 405, no reload */
	request_to(p, "GET", "/-/reload", NULL, &r);
	assert_int_equal(r.status, 405);
	assert_header(&r, "Allow", "POST, PUT");
	reply_free(&r);
	request_to(p, "DELETE", "/-/reload", NULL, &r);
	assert_int_equal(r.status, 405);
	reply_free(&r);
	request_to(p, "POST", "/-/reload/", NULL, &r);
	assert_int_equal(r.status, 405);	/* not the route: POST is not allowed there */
	reply_free(&r);
	assert_int_equal(atomic_load(&reloads), 2);

	/* a failed reload: 500 with its message, or strerror() without one */
	atomic_store(&reload_ret, -EINVAL);
	snprintf(reload_msg, sizeof(reload_msg), "spec.yml:3:7: error: bad");
	request_to(p, "POST", "/-/reload", NULL, &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, "reload failed: spec.yml:3:7: error: bad\n");
	reply_free(&r);
	atomic_store(&reload_ret, -ENOENT);
	reload_msg[0] = '\0';
	request_to(p, "POST", "/-/reload", NULL, &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, "reload failed: No such file or directory\n");
	reply_free(&r);
	atomic_store(&reload_ret, 0);

	/* a body is read and discarded; the connection stays open after */
	fd = connect_to(AF_INET, p);
	n = snprintf(req, sizeof(req), "POST /-/reload HTTP/1.1\r\nHost: x\r\n"
		     "Content-Type: application/x-www-form-urlencoded\r\n"
		     "Content-Length: 11\r\n\r\nhello=world");
	send_all(fd, req, (size_t)n);
	read_response(fd, false, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	n = snprintf(req, sizeof(req), "POST /-/reload HTTP/1.1\r\nHost: x\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
	send_all(fd, req, (size_t)n);
	read_response(fd, false, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	close(fd);
	assert_int_equal(atomic_load(&reloads), 6);

	/* too large: declared, 413; chunked, closed when it grows past; no reload */
	request_to(p, "POST", "/-/reload", "Content-Length: 5000\r\n", &r);
	assert_int_equal(r.status, 413);
	reply_free(&r);
	memset(big, 'x', sizeof(big));
	n = snprintf(req, sizeof(req), "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n%x\r\n%.*s\r\n0\r\n\r\n",
		     (unsigned int)sizeof(big), (int)sizeof(big), big);
	raw_request_family(AF_INET, p, req, (size_t)n, &r);
	assert_int_equal(r.status, 0);
	reply_free(&r);
	assert_int_equal(atomic_load(&reloads), 6);
	http_server__stop(s);

	/* without a reload callback: 404 for every method */
	request("POST", "/-/reload", NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	request("GET", "/-/reload", NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	assert_healthy();
}

/* --- the exposition's path ------------------------------------------------------- */

static void test_metrics_path(void **state)
{
	struct http_opts o = default_opts("127.0.0.1:0");
	static const char *const bad[] = {
		"metrics", "/healthz", "/snapshot", "/normalization", "/-/reload", "/a b",
		"/a?b", "/a#b", "/\x7f", "/caf\xc3\xa9",
	};
	struct http_server *s = NULL;
	struct reply r;
	size_t i;
	int p;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		o.metrics_path = bad[i];
		if (http_server__start(&o, &s) != -EINVAL)
			fail_msg("metrics_path \"%s\" accepted", bad[i]);
		assert_false(http__valid_metrics_path(bad[i]));
	}
	o.metrics_path = "/probe/metrics";
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	request_to(p, "GET", "/probe/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
	reply_free(&r);
	request_to(p, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	http_server__stop(s);
}

/* --- basic auth and headers ----------------------------------------------------- */

#define AUTH_GOOD	"Authorization: Basic cHJvbTpzM2NyM3Q=\r\n"	/* prom:s3cr3t */
#define AUTH_BAD	"Authorization: Basic cHJvbTpub3BlMQ==\r\n"	/* prom:nope1 */

static char prom_hash[128];

static struct webconfig *auth_config(void)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE], *yaml;
	struct crypt_data cd = { 0 };
	struct spec_diags d = { 0 };
	struct webconfig *w = NULL;

	assert_non_null(crypt_gensalt_rn("$2y$", 4, NULL, 0, salt, sizeof(salt)));
	snprintf(prom_hash, sizeof(prom_hash), "%s", crypt_r("s3cr3t", salt, &cd));
	assert_true(asprintf(&yaml, "basic_auth_users:\n  prom: %s\n"
			     "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
			     "    Content-Security-Policy: default-src 'none'\n", prom_hash) > 0);
	assert_int_equal(webconfig__load_buf("web.yml", yaml, strlen(yaml), &w, &d), 0);
	free(yaml);
	spec_diags__free(&d);
	return w;
}

/* Every path needs the password: /healthz and /-/reload too; 401 says how. */
static void test_basic_auth(void **state)
{
	static const char *const paths[] = { "/metrics", "/healthz", "/snapshot", "/nope" };
	struct http_opts o = default_opts("127.0.0.1:0");
	struct webconfig *w = auth_config();
	struct http_server *s;
	struct http_stats st;
	struct reply r;
	size_t i;
	int p;

	(void)state;
	o.web = w;
	o.reload = fake_reload;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	for (i = 0; i < ARRAY_SIZE(paths); i++) {
		const char *const creds[] = { NULL, AUTH_BAD, "Authorization: Bearer x\r\n",
					      "Authorization: Basic cHJvbTo=\r\n" };
		size_t j;

		for (j = 0; j < ARRAY_SIZE(creds); j++) {
			request_to(p, "GET", paths[i], creds[j], &r);
			assert_int_equal(r.status, 401);
			assert_header(&r, "WWW-Authenticate",
				      "Basic realm=\"emitd\", charset=\"UTF-8\"");
			assert_header(&r, "X-Frame-Options", "deny");
			assert_string_equal(r.body, "unauthorized\n");
			reply_free(&r);
		}
		request_to(p, "GET", paths[i], AUTH_GOOD, &r);
		assert_int_equal(r.status, !strcmp(paths[i], "/nope") ? 404 : 200);
		assert_header(&r, "X-Frame-Options", "deny");
		assert_header(&r, "Content-Security-Policy", "default-src 'none'");
		assert_no_header(&r, "WWW-Authenticate");
		reply_free(&r);
	}
	/* a reload is refused before its body is read, and not run */
	atomic_store(&reloads, 0);
	request_to(p, "POST", "/-/reload", "Content-Length: 3\r\n", &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	request_to(p, "POST", "/-/reload", AUTH_GOOD, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	assert_int_equal(atomic_load(&reloads), 1);
	/* the method is checked after the password */
	request_to(p, "DELETE", "/metrics", NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	request_to(p, "DELETE", "/metrics", AUTH_GOOD, &r);
	assert_int_equal(r.status, 405);
	reply_free(&r);
	http_server__stats(s, &st);
	assert_int_equal(st.unauthorized, ARRAY_SIZE(paths) * 4 + 2);
	http_server__stop(s);
	webconfig__free(w);
}

/* --- TLS ----------------------------------------------------------------------- */

#define TLS_DIR		"tests/fixtures/tls/"

static struct webconfig *tls_config(const char *extra)
{
	struct spec_diags d = { 0 };
	struct webconfig *w = NULL;
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), "tls_server_config:\n  cert_file: server.crt\n"
		 "  key_file: server.key\n%s", extra ? extra : "");
	if (webconfig__load_buf(TLS_DIR "web.yml", yaml, strlen(yaml), &w, &d))
		fail_msg("web config: %s", d.nr ? d.v[0].msg : "?");
	spec_diags__free(&d);
	return w;
}

struct tls_opts {
	const char *cert;		/* client certificate (TLS_DIR name); NULL: none */
	const char *priorities;		/* NULL: "NORMAL" */
};

/*
 * One request over TLS, the server's certificate verified against the test
 * CA for "localhost": the status, 0 when the handshake or the request
 * failed (*@hs_err the handshake's error, if that is where).
 */
static int tls_request(int p, const struct tls_opts *t, const char *req, int *hs_err)
{
	gnutls_certificate_credentials_t cred;
	char crt[256], key[256], buf[65536];
	struct expo_buf b = { 0 };
	gnutls_session_t session;
	struct reply r;
	ssize_t n;
	int fd, ret, status = 0;

	*hs_err = 0;
	assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
	assert_true(gnutls_certificate_set_x509_trust_file(cred, TLS_DIR "ca.crt",
							   GNUTLS_X509_FMT_PEM) > 0);
	if (t->cert) {
		snprintf(crt, sizeof(crt), TLS_DIR "%s.crt", t->cert);
		snprintf(key, sizeof(key), TLS_DIR "%s.key", t->cert);
		assert_int_equal(gnutls_certificate_set_x509_key_file(cred, crt, key,
								      GNUTLS_X509_FMT_PEM), 0);
	}
	/* sent even to a server that names other CAs, as curl and openssl do */
	assert_int_equal(gnutls_init(&session, GNUTLS_CLIENT | GNUTLS_FORCE_CLIENT_CERT), 0);
	assert_int_equal(gnutls_priority_set_direct(session, t->priorities ? t->priorities :
						    "NORMAL", NULL), 0);
	gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_server_name_set(session, GNUTLS_NAME_DNS, "localhost", strlen("localhost"));
	gnutls_session_set_verify_cert(session, "localhost", 0);
	fd = connect_to(AF_INET, p);
	gnutls_transport_set_int(session, fd);
	gnutls_handshake_set_timeout(session, IO_TIMEOUT_S * 1000);
	do
		ret = gnutls_handshake(session);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0) {
		*hs_err = ret;
		goto out;
	}
	do
		ret = (int)gnutls_record_send(session, req, strlen(req));
	while (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED);
	if (ret < 0)
		goto out;
	for (;;) {
		n = gnutls_record_recv(session, buf, sizeof(buf));
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			break;
		assert_int_equal(expo_buf__append(&b, buf, (size_t)n), 0);
	}
	if (b.len) {
		assert_int_equal(expo_buf__append(&b, "", 1), 0);
		b.len--;
		parse_reply(&r, &b);
		status = r.status;
		if (status == 200 && strstr(req, "/metrics"))
			assert_int_equal(r.body_len, expected_len[EXPO_FMT_TEXT_004]);
		b.data = NULL;
		reply_free(&r);
	}
out:
	expo_buf__free(&b);
	gnutls_deinit(session);
	gnutls_certificate_free_credentials(cred);
	close(fd);
	return status;
}

#define GET_METRICS	"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

/* HTTPS; plain HTTP to the TLS port is closed, and the server goes on. */
static void test_tls(void **state)
{
	const struct tls_opts plain = { 0 }, tls12 = { .priorities = "NORMAL:-VERS-ALL:+VERS-TLS1.2" };
	struct http_opts o = default_opts("127.0.0.1:0");
	struct webconfig *w = tls_config(NULL), *w13;
	struct http_server *s;
	struct expo_buf b = { 0 };
	struct reply r;
	int p, err, i, fd;

	(void)state;
	o.web = w;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	assert_int_equal(tls_request(p, &plain, GET_METRICS, &err), 200);
	assert_int_equal(tls_request(p, &tls12, GET_METRICS, &err), 200);
	for (i = 0; i < 3; i++) {
		fd = connect_to(AF_INET, p);
		send_all(fd, GET_METRICS, strlen(GET_METRICS));
		read_all(fd, &b);		/* returns: the server closed it */
		close(fd);
		parse_reply(&r, &b);
		assert_int_equal(r.status, 0);	/* no HTTP answer */
		assert_null(strstr(b.data, "# HELP"));
		b.data = NULL;
		reply_free(&r);
		expo_buf__free(&b);
		assert_int_equal(tls_request(p, &plain, GET_METRICS, &err), 200);
	}
	http_server__stop(s);

	/* min_version TLS13: a TLS 1.2 client fails its handshake */
	w13 = tls_config("  min_version: TLS13\n");
	o.web = w13;
	assert_int_equal(http_server__start(&o, &s), 0);
	p = http_server__port(s);
	assert_int_equal(tls_request(p, &tls12, GET_METRICS, &err), 0);
	assert_true(err < 0);
	assert_int_equal(tls_request(p, &plain, GET_METRICS, &err), 200);
	http_server__stop(s);
	webconfig__free(w);
	webconfig__free(w13);
}

/* Each client_auth_type against no certificate, the CA's, and a stranger's. */
static void test_tls_client_certs(void **state)
{
	static const struct {
		const char *yaml;
		int none, ours, theirs;		/* the statuses: 0 refused */
	} cases[] = {
		{ "  client_auth_type: NoClientCert\n", 200, 200, 200 },
		{ "  client_auth_type: RequestClientCert\n", 200, 200, 200 },
		{ "  client_auth_type: RequireAnyClientCert\n", 0, 200, 200 },
		{ "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n",
		  200, 200, 0 },
		{ "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
		  0, 200, 0 },
		/* the server's certificate is the CA's, but not a client's (key purpose) */
		{ "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
		  -1, -1, -1 },
	};
	const struct tls_opts none = { 0 }, ours = { .cert = "client" },
			      theirs = { .cert = "other-client" }, server = { .cert = "server" };
	struct http_opts o = default_opts("127.0.0.1:0");
	struct http_server *s;
	struct webconfig *w;
	size_t i;
	int p, err;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		w = tls_config(cases[i].yaml);
		o.web = w;
		assert_int_equal(http_server__start(&o, &s), 0);
		p = http_server__port(s);
		if (cases[i].none < 0) {
			assert_int_equal(tls_request(p, &server, GET_METRICS, &err), 0);
		} else {
			assert_int_equal(tls_request(p, &none, GET_METRICS, &err), cases[i].none);
			assert_int_equal(tls_request(p, &ours, GET_METRICS, &err), cases[i].ours);
			assert_int_equal(tls_request(p, &theirs, GET_METRICS, &err),
					 cases[i].theirs);
		}
		/* refused handshakes leave the server serving */
		assert_int_equal(tls_request(p, &ours, GET_METRICS, &err), 200);
		http_server__stop(s);
		webconfig__free(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_metrics_text),
		cmocka_unit_test(test_metrics_openmetrics),
		cmocka_unit_test(test_metrics_gzip),
		cmocka_unit_test(test_head_metrics),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_render_error),
		cmocka_unit_test(test_malformed_requests),
		cmocka_unit_test(test_oversized_request),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_host_required),
		cmocka_unit_test(test_nul_in_target),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_concurrent_scrapes),
		cmocka_unit_test(test_one_compression_per_rendering),
		cmocka_unit_test(test_served_from_shared_buffer),
		cmocka_unit_test(test_body_held_until_sent),
		cmocka_unit_test(test_port_in_use),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_defaults_without_callbacks),
		cmocka_unit_test(test_ipv6_loopback),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_per_ip_limit),
		cmocka_unit_test(test_request_deadline),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_keepalive_outlives_deadline),
		cmocka_unit_test(test_idle_watermark),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_healthz_callback),
		cmocka_unit_test(test_metrics_path),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_tls_client_certs),
	};

	/* the agent ignores SIGPIPE (loop.c): a peer closing mid-write is an error, not death */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
