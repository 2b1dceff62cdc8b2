// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * remote_write against a fake receiver on 127.0.0.1: the wire format
 * (headers, snappy, the protobuf WriteRequest with sorted labels, external
 * labels, timestamps), batching, retries on 5xx/429 with the same request,
 * no retry on other 4xx, the bounded queue, and the accounting
 * queued = sent + dropped + waiting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <snappy-c.h>

#include "agent/remote_write.h"
#include "remote_write.pb-c.h"

#define MAX_REQS	32

struct request {
	char headers[2048];
	char *body;
	size_t len;
};

struct receiver {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	const int *statuses;	/* answer i gets statuses[min(i, nr - 1)] */
	size_t nr_statuses;
	struct request reqs[MAX_REQS];
	size_t nr_reqs;
	volatile int stop;
};

static int read_request(int c, struct request *r)
{
	size_t n = 0, want;
	char *end, *cl;
	ssize_t k;

	while (!(end = strstr(r->headers, "\r\n\r\n"))) {
		if (n >= sizeof(r->headers) - 1)
			return -1;
		k = read(c, r->headers + n, 1);
		if (k <= 0)
			return -1;
		r->headers[++n] = '\0';
	}
	cl = strcasestr(r->headers, "Content-Length:");
	want = cl ? strtoul(cl + 15, NULL, 10) : 0;
	r->body = malloc(want + 1);
	for (r->len = 0; r->len < want; r->len += k) {
		k = read(c, r->body + r->len, want - r->len);
		if (k <= 0)
			return -1;
	}
	return 0;
}

static void *receiver_run(void *arg)
{
	struct receiver *rv = arg;
	char reply[128];
	int c, status;

	while (!rv->stop && (c = accept(rv->fd, NULL, NULL)) >= 0) {
		for (;;) {
			struct request r = {};

			if (read_request(c, &r)) {
				free(r.body);
				break;
			}
			pthread_mutex_lock(&rv->lock);
			status = rv->statuses[rv->nr_reqs < rv->nr_statuses ? rv->nr_reqs :
					      rv->nr_statuses - 1];
			if (rv->nr_reqs < MAX_REQS)
				rv->reqs[rv->nr_reqs++] = r;
			else
				free(r.body);
			pthread_mutex_unlock(&rv->lock);
			snprintf(reply, sizeof(reply), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n",
				 status);
			if (write(c, reply, strlen(reply)) < 0)
				break;
		}
		close(c);
	}
	return NULL;
}

static void receiver_start(struct receiver *rv, const int *statuses, size_t nr)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(rv, 0, sizeof(*rv));
	rv->statuses = statuses;
	rv->nr_statuses = nr;
	pthread_mutex_init(&rv->lock, NULL);
	rv->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(rv->fd >= 0);
	assert_int_equal(bind(rv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(rv->fd, 8), 0);
	getsockname(rv->fd, (struct sockaddr *)&a, &len);
	rv->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&rv->thread, NULL, receiver_run, rv), 0);
}

static void receiver_stop(struct receiver *rv)
{
	size_t i;

	rv->stop = 1;
	shutdown(rv->fd, SHUT_RDWR);
	close(rv->fd);
	pthread_join(rv->thread, NULL);
	for (i = 0; i < rv->nr_reqs; i++)
		free(rv->reqs[i].body);
}

static size_t receiver_count(struct receiver *rv)
{
	size_t n;

	pthread_mutex_lock(&rv->lock);
	n = rv->nr_reqs;
	pthread_mutex_unlock(&rv->lock);
	return n;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (at most 5 s) until @rw's first URL has nothing queued and nothing in flight. */
static void wait_settled(struct remote_write *rw, struct remote_write_url_stats *st,
			 uint64_t expect_total)
{
	int i;

	for (i = 0; i < 500; i++) {
		remote_write__stats(rw, 0, st);
		if (!st->queued && st->sent + st->dropped == expect_total)
			return;
		sleep_ms(10);
	}
	fail_msg("remote write did not settle: queued %lu sent %lu dropped %lu",
		 (unsigned long)st->queued, (unsigned long)st->sent, (unsigned long)st->dropped);
}

static struct remote_write *start(struct receiver *rv, struct remote_write_opts *o,
				  char *url, size_t url_len)
{
	struct remote_write *rw;

	snprintf(url, url_len, "http://user:secret@127.0.0.1:%d/api/v1/write", rv->port);
	o->urls[0] = url;
	o->nr_urls = 1;
	o->min_backoff_ms = 5;
	o->max_backoff_ms = 20;
	assert_int_equal(remote_write__new(o, &rw), 0);
	assert_non_null(rw);
	return rw;
}

static Prometheus__WriteRequest *decode(const struct request *r)
{
	size_t raw_len;
	char *raw;
	Prometheus__WriteRequest *wr;

	assert_int_equal(snappy_uncompressed_length(r->body, r->len, &raw_len), SNAPPY_OK);
	raw = malloc(raw_len);
	assert_int_equal(snappy_uncompress(r->body, r->len, raw, &raw_len), SNAPPY_OK);
	wr = prometheus__write_request__unpack(NULL, raw_len, (uint8_t *)raw);
	free(raw);
	assert_non_null(wr);
	return wr;
}

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(remote_write__classify(200), 1);
	assert_int_equal(remote_write__classify(204), 1);
	assert_int_equal(remote_write__classify(0), 0);
	assert_int_equal(remote_write__classify(429), 0);
	assert_int_equal(remote_write__classify(500), 0);
	assert_int_equal(remote_write__classify(503), 0);
	assert_int_equal(remote_write__classify(400), -1);
	assert_int_equal(remote_write__classify(401), -1);
	assert_int_equal(remote_write__classify(404), -1);
	assert_int_equal(remote_write__classify(413), -1);
}

static void test_wire_format(void **state)
{
	static const int ok[] = { 204 };
	static const char *const ext[] = { "instance=node1", "route=ignored" };
	const char *text = "# TYPE a_total counter\na_total{route=\"/x\",Code=\"2\"} 5\nb 0.5\n";
	struct remote_write_opts o;
	struct remote_write_url_stats st;
	Prometheus__WriteRequest *wr;
	Prometheus__TimeSeries *ts;
	struct remote_write *rw;
	struct receiver rv;
	char url[128];

	(void)state;
	receiver_start(&rv, ok, 1);
	remote_write_opts__init(&o);
	o.labels[0] = ext[0];
	o.labels[1] = ext[1];
	o.nr_labels = 2;
	o.headers[0] = "X-Scope-OrgID=tenant1";
	o.nr_headers = 1;
	rw = start(&rv, &o, url, sizeof(url));
	assert_true(remote_write__due(rw, 0));
	assert_int_equal(remote_write__offer(rw, text, strlen(text), 1700000000123, 1000), 0);
	assert_false(remote_write__due(rw, 1000 + o.interval_ms - 1));
	assert_true(remote_write__due(rw, 1000 + o.interval_ms));
	wait_settled(rw, &st, 2);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.retried, 0);
	/* the label and the logs show the URL without its user information */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/write", rv.port);
	assert_string_equal(st.url, url);
	assert_true(st.last_success_s > 1.6e9);
	assert_int_equal(receiver_count(&rv), 1);
	assert_non_null(strcasestr(rv.reqs[0].headers, "Content-Encoding: snappy"));
	assert_non_null(strcasestr(rv.reqs[0].headers, "Content-Type: application/x-protobuf"));
	assert_non_null(strcasestr(rv.reqs[0].headers, "X-Prometheus-Remote-Write-Version: 0.1.0"));
	assert_non_null(strcasestr(rv.reqs[0].headers, "Authorization: Basic"));
	assert_non_null(strcasestr(rv.reqs[0].headers, "X-Scope-OrgID: tenant1"));
	wr = decode(&rv.reqs[0]);
	assert_int_equal(wr->n_timeseries, 2);
	ts = wr->timeseries[0];
	/* sorted by name (byte order: upper case first); route kept, instance added */
	assert_int_equal(ts->n_labels, 4);
	assert_string_equal(ts->labels[0]->name, "Code");
	assert_string_equal(ts->labels[1]->name, "__name__");
	assert_string_equal(ts->labels[1]->value, "a_total");
	assert_string_equal(ts->labels[2]->name, "instance");
	assert_string_equal(ts->labels[2]->value, "node1");
	assert_string_equal(ts->labels[3]->name, "route");
	assert_string_equal(ts->labels[3]->value, "/x");
	assert_int_equal(ts->n_samples, 1);
	assert_true(ts->samples[0]->value == 5);
	assert_int_equal(ts->samples[0]->timestamp, 1700000000123);
	ts = wr->timeseries[1];
	assert_int_equal(ts->n_labels, 3);
	assert_string_equal(ts->labels[2]->name, "route");
	assert_string_equal(ts->labels[2]->value, "ignored");
	assert_true(ts->samples[0]->value == 0.5);
	prometheus__write_request__free_unpacked(wr, NULL);
	remote_write__free(rw);
	receiver_stop(&rv);
}

static void test_batches(void **state)
{
	static const int ok[] = { 200 };
	const char *text = "a 1\nb 2\nc 3\nd 4\ne 5\n";
	struct remote_write_opts o;
	struct remote_write_url_stats st;
	Prometheus__WriteRequest *wr;
	struct remote_write *rw;
	struct receiver rv;
	char url[128];
	size_t i, total = 0;

	(void)state;
	receiver_start(&rv, ok, 1);
	remote_write_opts__init(&o);
	o.batch_samples = 2;
	rw = start(&rv, &o, url, sizeof(url));
	assert_int_equal(remote_write__offer(rw, text, strlen(text), 1, 0), 0);
	wait_settled(rw, &st, 5);
	assert_int_equal(receiver_count(&rv), 3);
	for (i = 0; i < 3; i++) {
		wr = decode(&rv.reqs[i]);
		assert_true(wr->n_timeseries <= 2);
		total += wr->n_timeseries;
		prometheus__write_request__free_unpacked(wr, NULL);
	}
	assert_int_equal(total, 5);
	remote_write__free(rw);
	receiver_stop(&rv);
}

/* 503, 429, then 200: the same request three times, every sample sent once. */
static void test_retries_5xx_and_429(void **state)
{
	static const int answers[] = { 503, 429, 200 };
	const char *text = "a 1\nb 2\n";
	struct remote_write_opts o;
	struct remote_write_url_stats st;
	struct remote_write *rw;
	struct receiver rv;
	char url[128];

	(void)state;
	receiver_start(&rv, answers, 3);
	remote_write_opts__init(&o);
	rw = start(&rv, &o, url, sizeof(url));
	assert_int_equal(remote_write__offer(rw, text, strlen(text), 1, 0), 0);
	wait_settled(rw, &st, 2);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.retried, 4);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(receiver_count(&rv), 3);
	assert_int_equal(rv.reqs[0].len, rv.reqs[2].len);
	assert_memory_equal(rv.reqs[0].body, rv.reqs[2].body, rv.reqs[0].len);
	remote_write__free(rw);
	receiver_stop(&rv);
}

static void test_4xx_is_dropped_not_retried(void **state)
{
	static const int bad[] = { 400 };
	const char *text = "a 1\nb 2\n";
	struct remote_write_opts o;
	struct remote_write_url_stats st;
	struct remote_write *rw;
	struct receiver rv;
	char url[128];

	(void)state;
	receiver_start(&rv, bad, 1);
	remote_write_opts__init(&o);
	rw = start(&rv, &o, url, sizeof(url));
	assert_int_equal(remote_write__offer(rw, text, strlen(text), 1, 0), 0);
	wait_settled(rw, &st, 2);
	sleep_ms(50);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.retried, 0);
	assert_int_equal(receiver_count(&rv), 1);
	remote_write__free(rw);
	receiver_stop(&rv);
}

/* A receiver that is down: the queue keeps at most queue_samples, oldest dropped first. */
static void test_bounded_queue(void **state)
{
	static const int down[] = { 503 };
	const char *text = "a 1\nb 2\n";
	struct remote_write_opts o;
	struct remote_write_url_stats st;
	struct remote_write *rw;
	struct receiver rv;
	char url[128];
	int i;

	(void)state;
	receiver_start(&rv, down, 1);
	remote_write_opts__init(&o);
	o.queue_samples = 4;
	rw = start(&rv, &o, url, sizeof(url));
	for (i = 0; i < 10; i++)
		assert_int_equal(remote_write__offer(rw, text, strlen(text), i, i), 0);
	remote_write__stats(rw, 0, &st);
	/* at most the bound, plus the snapshot whose batch may be in flight */
	assert_true(st.queued <= 4 + 2);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.queued + st.sent + st.dropped, 20);
	assert_true(st.dropped >= 14);
	assert_true(st.retried > 0 || receiver_count(&rv) <= 1);
	remote_write__free(rw);
	receiver_stop(&rv);
}

static void test_bad_options(void **state)
{
	struct remote_write_opts o;
	struct remote_write *rw;

	(void)state;
	remote_write_opts__init(&o);
	assert_int_equal(remote_write__new(&o, &rw), 0);	/* no URL: nothing to do */
	assert_null(rw);
	assert_false(remote_write__due(rw, 0));
	o.urls[0] = "ftp://x/";
	o.nr_urls = 1;
	assert_int_equal(remote_write__new(&o, &rw), -EINVAL);
	o.urls[0] = "http://127.0.0.1:1/";
	o.labels[0] = "__reserved=x";
	o.nr_labels = 1;
	assert_int_equal(remote_write__new(&o, &rw), -EINVAL);
	o.labels[0] = "novalue";
	assert_int_equal(remote_write__new(&o, &rw), -EINVAL);
	o.labels[0] = "a=1";
	o.headers[0] = "Content-Type=text/plain";	/* emitd's own */
	o.nr_headers = 1;
	assert_int_equal(remote_write__new(&o, &rw), -EINVAL);
	o.headers[0] = "X-Scope-OrgID=a\r\nX-Evil: 1";	/* header injection */
	assert_int_equal(remote_write__new(&o, &rw), -EINVAL);
	o.headers[0] = "Bad Name=1";
	assert_int_equal(remote_write__new(&o, &rw), -EINVAL);
	o.headers[0] = "X-Scope-OrgID=tenant1";
	o.basic_auth_password_file = "/nonexistent/emitd-password";
	assert_int_equal(remote_write__new(&o, &rw), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_wire_format),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_retries_5xx_and_429),
		cmocka_unit_test(test_4xx_is_dropped_not_retried),
		cmocka_unit_test(test_bounded_queue),
		cmocka_unit_test(test_bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
