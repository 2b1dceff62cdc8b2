// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/self_metrics.h"
#include "agent/signal.h"
#include "lib/log.h"
#include "lib/scale.h"

struct agent_signal {
	struct agent_signal_opts o;
	struct chan_set *chans;
	unsigned int drains_since;
	uint64_t last_compute_ms;
	/* per-series previous values for rates and means, by series pointer */
	struct prev {
		const struct series *s;
		uint64_t count;
		double sum;
		uint64_t ts_ms;
	} *prev;
	size_t nr_prev, cap_prev;
	/* the last result, for the gauges (drain thread only) */
	struct signal_result res;
	char **res_ids;
	size_t nr_res_ids;
	uint64_t frame_bytes;
	double h_bytes;
	bool computed;
	/* the last snapshot JSON, read by HTTP threads */
	pthread_mutex_t lock;
	char *json;
};

void agent_signal_opts__init(struct agent_signal_opts *o)
{
	memset(o, 0, sizeof(*o));
	chan_config__init(&o->chan);
	signal_config__init(&o->math);
	o->every_drains = 10;
	o->every_ms = 10000;
}

int agent_signal__new(const struct agent_signal_opts *o, struct agent_signal **out)
{
	struct agent_signal *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->o = *o;
	err = signal_config__validate(&o->math);
	if (err) {
		free(s);
		return err;
	}
	s->chans = chan_set__new(&o->chan);
	if (!s->chans) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

static void free_res_ids(struct agent_signal *s)
{
	size_t i;

	for (i = 0; i < s->nr_res_ids; i++)
		free(s->res_ids[i]);
	free(s->res_ids);
	s->res_ids = NULL;
	s->nr_res_ids = 0;
}

void agent_signal__free(struct agent_signal *s)
{
	if (!s)
		return;
	chan_set__free(s->chans);
	free(s->prev);
	free_res_ids(s);
	free(s->json);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void agent_signal__respec(struct agent_signal *s)
{
	s->nr_prev = 0;		/* the store's series are new objects */
}

static struct prev *prev_of(struct agent_signal *s, const struct series *se)
{
	struct prev *v;
	size_t i;

	for (i = 0; i < s->nr_prev; i++)
		if (s->prev[i].s == se)
			return &s->prev[i];
	if (s->nr_prev == s->cap_prev) {
		size_t cap = s->cap_prev ? s->cap_prev * 2 : 16;

		v = realloc(s->prev, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->prev = v;
		s->cap_prev = cap;
	}
	v = &s->prev[s->nr_prev++];
	memset(v, 0, sizeof(*v));
	v->s = se;
	return v;
}

static void channel_id(const struct store_metric *m, const struct series *se, char *buf,
		       size_t n)
{
	size_t i, off;

	off = snprintf(buf, n, "%s", m->full_name);
	for (i = 0; i < m->spec->nr_labels && off < n; i++)
		off += snprintf(buf + off, n - off, "%s%s=\"%s\"", i ? "," : "{",
				m->spec->labels[i].name, se->labels[i]);
	if (m->spec->nr_labels && off < n)
		snprintf(buf + off, n - off, "}");
}

/*
 * A channel's value for this drain, in the unit the metric exports (its
 * `scale:` applied, as on /metrics); false when it has none.
 */
static bool channel_value(struct agent_signal *s, const struct store_metric *m,
			  const struct series *se, uint64_t now_ms, uint64_t *ts, double *v)
{
	struct prev *p;
	double sum = m->value_type == SPEC_VAL_F64 ? se->fsum : (double)se->isum;
	double scale = spec_metric__scale(m->spec);
	bool ok = false;

	if (m->kind == EMITD_KIND_GAUGE) {
		*ts = se->gauge_ktime / 1000000;
		*v = scale__export(se->gauge, scale);
		return se->gauge_ktime != 0;
	}
	p = prev_of(s, se);
	if (!p)
		return false;
	*ts = now_ms;
	if (p->ts_ms && now_ms > p->ts_ms && m->kind == EMITD_KIND_COUNTER) {
		*v = (double)(se->count - p->count) * 1000.0 / (double)(now_ms - p->ts_ms);
		ok = true;
	} else if (p->ts_ms && m->kind == EMITD_KIND_HISTOGRAM && se->count > p->count) {
		*v = (sum - p->sum) / (double)(se->count - p->count);
		ok = true;
	}
	p->count = se->count;
	p->sum = sum;
	p->ts_ms = now_ms;
	if (ok)
		*v = scale__export(*v, scale);
	return ok && isfinite(*v);
}

void agent_signal__sample(struct agent_signal *s, const struct store *st, uint64_t now_ms)
{
	char id[512];
	uint64_t ts;
	size_t i, j;
	double v;
	int err;

	if (chan_set__tick(s->chans, now_ms))
		return;
	s->drains_since++;
	for (i = 0; i < st->nr_metrics; i++) {
		const struct store_metric *m = &st->metrics[i];

		if (!m->spec->signal || m->kind == EMITD_KIND_NORMALIZATION)
			continue;
		for (j = 0; j < m->nr_series; j++) {
			if (!channel_value(s, m, m->series[j], now_ms, &ts, &v))
				continue;
			channel_id(m, m->series[j], id, sizeof(id));
			err = chan_set__observe(s->chans, id, ts, v);
			if (err == -ENOSPC)
				log_debug("signal: channel limit reached, %s not sampled", id);
		}
	}
}

bool agent_signal__due(const struct agent_signal *s, uint64_t now_ms)
{
	return s->drains_since >= s->o.every_drains ||
	       now_ms - s->last_compute_ms >= s->o.every_ms;
}

static int keep_ids(struct agent_signal *s, const struct chan_matrix *mx)
{
	unsigned int i;

	free_res_ids(s);
	s->res_ids = calloc(mx->nr_channels + 1, sizeof(*s->res_ids));
	if (!s->res_ids)
		return -ENOMEM;
	for (i = 0; i < mx->nr_channels; i++) {
		s->res_ids[i] = strdup(mx->ids[i]);
		if (!s->res_ids[i])
			return -ENOMEM;
		s->nr_res_ids++;
	}
	return 0;
}

static int payload_entropy(struct agent_signal *s, const void *frame, size_t len)
{
	struct expo_buf gz = {};
	int err = expo__gzip(frame, len, &gz);

	if (err)
		return err;
	s->frame_bytes = gz.len;
	s->h_bytes = signal__byte_entropy(gz.data, gz.len);
	expo_buf__free(&gz);
	return 0;
}

static int publish_json(struct agent_signal *s, const struct signal_input *in, uint64_t wall_ms)
{
	struct signal_snapshot_info info = {
		.timestamp_ms = wall_ms,
		.window_kind = s->o.chan.window_kind == CHAN_WINDOW_TIME ?
			       SIGNAL_WINDOW_TIME_MS : SIGNAL_WINDOW_SAMPLES,
		.window_value = s->o.chan.window_value,
		.frame_size_bytes = s->frame_bytes,
		.h_bytes = s->h_bytes,
	};
	json_t *root = NULL;
	char *text, *old;
	int err;

	err = signal_result__to_json(&s->res, in, &info, &root);
	if (err)
		return err;
	text = json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	old = s->json;
	s->json = text;
	pthread_mutex_unlock(&s->lock);
	free(old);
	return 0;
}

int agent_signal__compute(struct agent_signal *s, uint64_t now_ms, uint64_t wall_ms,
			  const void *frame, size_t len)
{
	struct chan_matrix mx;
	struct signal_input in;
	int err;

	s->drains_since = 0;
	s->last_compute_ms = now_ms;
	err = chan_set__build(s->chans, &mx);
	if (err)
		return err;
	in = (struct signal_input){
		.nr_channels = mx.nr_channels,
		.nr_samples = mx.nr_samples,
		.channel_ids = mx.ids,
		.samples = mx.samples,
	};
	err = signal__compute(&s->o.math, &in, &s->res);
	if (!err)
		err = keep_ids(s, &mx);
	if (!err)
		err = payload_entropy(s, frame, len);
	if (!err)
		err = publish_json(s, &in, wall_ms);
	chan_matrix__free(&mx);
	if (!err)
		s->computed = true;
	return err;
}

static void add_channel_gauges(struct agent_signal *s, struct fam_builder *fb)
{
	const struct signal_result *r = &s->res;
	unsigned int n = r->valid ? r->channels_included : 0, i;
	const char **ids = calloc(n + r->nr_ranked + 1, sizeof(*ids));
	double *v = calloc(n + r->nr_ranked + 1, sizeof(*v));

	if (!ids || !v) {
		fb->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && i < s->nr_res_ids; i++) {
		ids[i] = s->res_ids[i];
		v[i] = r->h[i];
	}
	self_metrics__add(fb, SELF_SIGNAL_ENTROPY, ids, v, i);
	n = r->r_valid ? r->nr_ranked : 0;
	for (i = 0; i < n && r->ranking[i].channel < s->nr_res_ids; i++) {
		ids[i] = s->res_ids[r->ranking[i].channel];
		v[i] = r->ranking[i].delta_r;
	}
	self_metrics__add(fb, SELF_CHANNEL_CRITICALITY, ids, v, i);
	for (i = 0; i < n && r->ranking[i].channel < s->nr_res_ids; i++)
		v[i] = r->ranking[i].unique_bits;
	self_metrics__add(fb, SELF_CHANNEL_UNIQUE_INFORMATION, ids, v, i);
out:
	free(ids);
	free(v);
}

void agent_signal__add_metrics(struct agent_signal *s, struct fam_builder *fb)
{
	static const char *const zones[] = { "healthy", "attention", "critical" };
	const struct signal_result *r = &s->res;
	double zv[3];
	int i;

	if (!s->computed)
		return;
	add_channel_gauges(s, fb);
	if (r->valid) {
		self_metrics__add_value(fb, SELF_SIGNAL_JOINT_ENTROPY, r->h_joint);
		self_metrics__add_value(fb, SELF_SIGNAL_TOTAL_CORRELATION, r->total_corr);
	}
	if (r->r_valid) {
		self_metrics__add_value(fb, SELF_RESILIENCE_INDEX, r->r);
		for (i = 0; i < 3; i++)
			zv[i] = !strcmp(signal_zone__name(r->zone), zones[i]);
		self_metrics__add(fb, SELF_RESILIENCE_ZONE, zones, zv, 3);
	}
	self_metrics__add_value(fb, SELF_PAYLOAD_ENTROPY, s->h_bytes);
	self_metrics__add_value(fb, SELF_PAYLOAD_FRAME_BYTES, s->frame_bytes);
}

int agent_signal__snapshot(struct agent_signal *s, struct expo_buf *out)
{
	int err = -EAGAIN;

	pthread_mutex_lock(&s->lock);
	if (s->json)
		err = expo_buf__append(out, s->json, strlen(s->json));
	pthread_mutex_unlock(&s->lock);
	return err;
}
