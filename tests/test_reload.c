// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * reload: an HTTP worker's request waits for the loop that runs it, gets
 * its result and message once the loop answers; SIGHUP-style reloads (no
 * request) update the status; a closing loop cancels who waits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "agent/reload.h"

struct req {
	struct agent_reload *r;
	int ret;
	char msg[AGENT_RELOAD_MSG_LEN];
};

static void *requester(void *p)
{
	struct req *q = p;

	q->ret = agent_reload__request(q->r, q->msg, sizeof(q->msg));
	return NULL;
}

static bool readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

/* What the drain loop does: wait for the fd, take the request, run it. */
static void serve_one(struct agent_reload *r, int err, const char *msg, double now)
{
	assert_true(readable(agent_reload__fd(r), 5000));
	assert_true(agent_reload__take(r));
	agent_reload__record(r, err, msg, now);
	agent_reload__answer(r);
}

static void test_status_starts_successful(void **state)
{
	struct agent_reload *r;
	double ts;
	bool ok;

	(void)state;
	assert_int_equal(agent_reload__new(100, &r), 0);
	agent_reload__status(r, &ok, &ts);
	assert_true(ok);
	assert_float_equal(ts, 100, 0);
	assert_false(readable(agent_reload__fd(r), 0));	/* nothing asked */
	assert_false(agent_reload__take(r));
	agent_reload__free(r);
}

static void test_request_gets_the_loops_result(void **state)
{
	struct req q = {};
	pthread_t t;
	double ts;
	bool ok;

	(void)state;
	assert_int_equal(agent_reload__new(100, &q.r), 0);
	assert_int_equal(pthread_create(&t, NULL, requester, &q), 0);
	serve_one(q.r, -EINVAL, "spec.yml: the spec does not load", 200);
	pthread_join(t, NULL);
	assert_int_equal(q.ret, -EINVAL);
	assert_string_equal(q.msg, "spec.yml: the spec does not load");
	agent_reload__status(q.r, &ok, &ts);
	assert_false(ok);
	assert_float_equal(ts, 100, 0);		/* the last success stays */

	assert_int_equal(pthread_create(&t, NULL, requester, &q), 0);
	serve_one(q.r, 0, "", 300);
	pthread_join(t, NULL);
	assert_int_equal(q.ret, 0);
	assert_string_equal(q.msg, "");
	agent_reload__status(q.r, &ok, &ts);
	assert_true(ok);
	assert_float_equal(ts, 300, 0);
	agent_reload__free(q.r);
}

/* SIGHUP: the loop reloads with no request; the status follows. */
static void test_reload_without_request_sets_status(void **state)
{
	struct agent_reload *r;
	double ts;
	bool ok;

	(void)state;
	assert_int_equal(agent_reload__new(1, &r), 0);
	agent_reload__record(r, -ENOENT, "gone", 2);
	agent_reload__status(r, &ok, &ts);
	assert_false(ok);
	agent_reload__record(r, 0, NULL, 3);
	agent_reload__status(r, &ok, &ts);
	assert_true(ok);
	assert_float_equal(ts, 3, 0);
	agent_reload__free(r);
}

static void test_close_cancels_waiters(void **state)
{
	struct req q = {};
	pthread_t t;

	(void)state;
	assert_int_equal(agent_reload__new(1, &q.r), 0);
	assert_int_equal(pthread_create(&t, NULL, requester, &q), 0);
	assert_true(readable(agent_reload__fd(q.r), 5000));	/* it asked */
	agent_reload__close(q.r);
	pthread_join(t, NULL);
	assert_int_equal(q.ret, -ECANCELED);
	assert_string_equal(q.msg, "the agent is stopping");
	q.ret = 0;
	requester(&q);					/* and after: at once */
	assert_int_equal(q.ret, -ECANCELED);
	agent_reload__free(q.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_starts_successful),
		cmocka_unit_test(test_request_gets_the_loops_result),
		cmocka_unit_test(test_reload_without_request_sets_status),
		cmocka_unit_test(test_close_cancels_waiters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
