// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * reload: requests handed to the drain loop, results handed back (see
 * reload.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/reload.h"

#define REQUEST_TIMEOUT_S	60

struct agent_reload {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int efd;
	uint64_t asked;		/* requests made */
	uint64_t taken;		/* requests the loop took */
	uint64_t done;		/* reloads the loop finished */
	bool closed;
	int result;		/* of the last reload */
	char msg[AGENT_RELOAD_MSG_LEN];
	bool ok;
	double success_s;
};

int agent_reload__new(double now_s, struct agent_reload **out)
{
	struct agent_reload *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		free(r);
		return -errno;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->ok = true;
	r->success_s = now_s;
	*out = r;
	return 0;
}

void agent_reload__free(struct agent_reload *r)
{
	if (!r)
		return;
	close(r->efd);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int agent_reload__fd(const struct agent_reload *r)
{
	return r->efd;
}

bool agent_reload__take(struct agent_reload *r)
{
	uint64_t v;
	bool waiting;

	if (read(r->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return false;
	pthread_mutex_lock(&r->lock);
	waiting = r->taken < r->asked;
	r->taken = r->asked;
	pthread_mutex_unlock(&r->lock);
	return waiting;
}

void agent_reload__record(struct agent_reload *r, int err, const char *msg, double now_s)
{
	pthread_mutex_lock(&r->lock);
	r->result = err;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
	r->ok = !err;
	if (!err)
		r->success_s = now_s;
	pthread_mutex_unlock(&r->lock);
}

void agent_reload__answer(struct agent_reload *r)
{
	pthread_mutex_lock(&r->lock);
	r->done = r->taken;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void agent_reload__close(struct agent_reload *r)
{
	pthread_mutex_lock(&r->lock);
	r->closed = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

int agent_reload__request(struct agent_reload *r, char *msg, size_t msg_len)
{
	struct timespec until;
	uint64_t mine, one = 1;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += REQUEST_TIMEOUT_S;
	pthread_mutex_lock(&r->lock);
	mine = ++r->asked;
	if (!r->closed && write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		err = -errno;
	while (!err && !r->closed && r->done < mine)
		err = -pthread_cond_timedwait(&r->cond, &r->lock, &until);
	if (!err && r->done < mine)
		err = -ECANCELED;
	if (!err)
		err = r->result;
	if (msg_len)
		snprintf(msg, msg_len, "%s", err == -ETIMEDOUT ? "the reload did not finish in 60 s" :
			 err == -ECANCELED ? "the agent is stopping" : r->msg);
	pthread_mutex_unlock(&r->lock);
	return err;
}

void agent_reload__status(struct agent_reload *r, bool *ok, double *success_s)
{
	pthread_mutex_lock(&r->lock);
	*ok = r->ok;
	*success_s = r->success_s;
	pthread_mutex_unlock(&r->lock);
}
