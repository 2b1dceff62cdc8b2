// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * remote_write: the drained snapshot to remote-write receivers (see
 * remote_write.h).
 *
 * A snapshot is parsed once into protobuf-c TimeSeries, one allocation per
 * series, and shared (reference-counted) by the queues of every URL. A
 * request is a slice of one snapshot: the WriteRequest points into it, so
 * encoding copies nothing but the wire bytes.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <snappy-c.h>

#include "agent/remote_write.h"
#include "lib/expo_parse.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "remote_write.pb-c.h"

#define USER_AGENT	"emitd-remote-write"
#define SECRET_MAX	4096
#define ERR_BODY_MAX	256

struct rw_snap {
	atomic_int refs;
	size_t nr, cap;
	Prometheus__TimeSeries **ts;	/* each the start of one allocation */
};

struct rw_entry {
	struct rw_snap *snap;
	size_t next;			/* the first sample not yet sent */
	struct rw_entry *next_entry;
};

struct rw_url {
	struct remote_write *rw;
	char *url;
	char *label;			/* the URL without user information */
	CURL *curl;
	struct curl_slist *headers;
	char err_body[ERR_BODY_MAX];
	size_t err_len;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;
	struct rw_entry *head, *tail;
	bool busy;			/* the head's first batch is being sent */
	bool failing;			/* the last request failed: log the recovery */
	uint64_t queued, sent, retried, dropped;
	double last_success_s;
};

struct ext_label {
	char *name, *value;
};

struct remote_write {
	struct remote_write_opts o;
	struct rw_url urls[RW_MAX_URLS];
	size_t nr_urls;
	struct ext_label ext[RW_MAX_LABELS];
	size_t nr_ext;
	char *password, *token;
	uint64_t next_due_ms;
	atomic_bool stopping;
};

void remote_write_opts__init(struct remote_write_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->interval_ms = RW_DEFAULT_INTERVAL_MS;
	o->queue_samples = RW_DEFAULT_QUEUE;
	o->batch_samples = RW_DEFAULT_BATCH;
	o->timeout_ms = RW_DEFAULT_TIMEOUT_MS;
	o->min_backoff_ms = RW_MIN_BACKOFF_MS;
	o->max_backoff_ms = RW_MAX_BACKOFF_MS;
}

int remote_write__classify(long status)
{
	if (status >= 200 && status < 300)
		return 1;
	if (status == 0 || status == 429 || status >= 500)
		return 0;	/* no answer, throttled or a server error: retry */
	return -1;		/* the receiver refuses this data: retrying cannot help */
}

/* ---- snapshots ---- */

static void snap__put(struct rw_snap *s)
{
	size_t i;

	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	for (i = 0; i < s->nr; i++)
		free(s->ts[i]);
	free(s->ts);
	free(s);
}

static int label_cmp(const void *a, const void *b)
{
	const Prometheus__Label *x = *(Prometheus__Label *const *)a;
	const Prometheus__Label *y = *(Prometheus__Label *const *)b;

	return strcmp(x->name, y->name);
}

struct build {
	struct remote_write *rw;
	struct rw_snap *snap;
	int64_t wall_ms;
};

static bool has_label(const struct expo_label *labels, size_t nr, const char *name)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (!strcmp(labels[i].name, name))
			return true;
	return false;
}

/*
 * One series in one allocation: the TimeSeries, its sample, the label
 * pointers, the labels, then their strings.
 */
static Prometheus__TimeSeries *series__new(const char **names, const char **values, size_t n,
					   double value, int64_t ts_ms)
{
	struct block {
		Prometheus__TimeSeries ts;
		Prometheus__Sample sample;
		Prometheus__Sample *sample_ptr;
	} *b;
	Prometheus__Label **lp, *l;
	size_t strs = 0, i;
	char *p;

	for (i = 0; i < n; i++)
		strs += strlen(names[i]) + strlen(values[i]) + 2;
	b = malloc(sizeof(*b) + n * (sizeof(*lp) + sizeof(*l)) + strs);
	if (!b)
		return NULL;
	lp = (Prometheus__Label **)(b + 1);
	l = (Prometheus__Label *)(lp + n);
	p = (char *)(l + n);
	prometheus__time_series__init(&b->ts);
	prometheus__sample__init(&b->sample);
	b->sample.value = value;
	b->sample.timestamp = ts_ms;
	b->sample_ptr = &b->sample;
	b->ts.n_samples = 1;
	b->ts.samples = &b->sample_ptr;
	for (i = 0; i < n; i++) {
		prometheus__label__init(&l[i]);
		l[i].name = p;
		p = stpcpy(p, names[i]) + 1;
		l[i].value = p;
		p = stpcpy(p, values[i]) + 1;
		lp[i] = &l[i];
	}
	qsort(lp, n, sizeof(*lp), label_cmp);
	b->ts.n_labels = n;
	b->ts.labels = lp;
	return &b->ts;
}

static int add_sample(void *ctx, const char *name, const struct expo_label *labels, size_t nr,
		      double value)
{
	const char *names[EXPO_PARSE_MAX_LABELS + RW_MAX_LABELS + 1];
	const char *values[EXPO_PARSE_MAX_LABELS + RW_MAX_LABELS + 1];
	struct build *b = ctx;
	struct rw_snap *s = b->snap;
	Prometheus__TimeSeries *ts;
	size_t n = 0, i;

	if (has_label(labels, nr, "__name__"))
		return -EINVAL;
	names[n] = "__name__";
	values[n++] = name;
	for (i = 0; i < nr; i++, n++) {
		names[n] = labels[i].name;
		values[n] = labels[i].value;
	}
	/* external labels never override the series' own (Prometheus' rule) */
	for (i = 0; i < b->rw->nr_ext; i++) {
		if (has_label(labels, nr, b->rw->ext[i].name))
			continue;
		names[n] = b->rw->ext[i].name;
		values[n++] = b->rw->ext[i].value;
	}
	if (s->nr == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		Prometheus__TimeSeries **v = realloc(s->ts, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->ts = v;
		s->cap = cap;
	}
	ts = series__new(names, values, n, value, b->wall_ms);
	if (!ts)
		return -ENOMEM;
	s->ts[s->nr++] = ts;
	return 0;
}

static int snap__from_text(struct remote_write *rw, const char *text, size_t len,
			   int64_t wall_ms, struct rw_snap **out)
{
	struct build b = { .rw = rw, .wall_ms = wall_ms };
	unsigned int line = 0;
	int err;

	b.snap = calloc(1, sizeof(*b.snap));
	if (!b.snap)
		return -ENOMEM;
	atomic_init(&b.snap->refs, 1);
	err = expo_parse__text(text, len, add_sample, &b, &line);
	if (err) {
		log_err("remote write: the rendering does not parse at line %u: %s", line,
			strerror(-err));
		snap__put(b.snap);
		return err;
	}
	*out = b.snap;
	return 0;
}

/* ---- queues ---- */

/* Drop the oldest snapshots the sender is not sending until @nr more fit. */
static void queue__make_room(struct rw_url *u, size_t nr)
{
	struct rw_entry *prev = NULL, *e = u->head, *next;
	uint64_t cap = u->rw->o.queue_samples;

	if (u->busy && e) {
		prev = e;
		e = e->next_entry;
	}
	for (; e && u->queued + nr > cap; e = next) {
		next = e->next_entry;
		if (prev)
			prev->next_entry = next;
		else
			u->head = next;
		if (u->tail == e)
			u->tail = prev;
		u->dropped += e->snap->nr - e->next;
		u->queued -= e->snap->nr - e->next;
		snap__put(e->snap);
		free(e);
	}
}

static int queue__push(struct rw_url *u, struct rw_snap *s)
{
	struct rw_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	atomic_fetch_add(&s->refs, 1);
	e->snap = s;
	pthread_mutex_lock(&u->lock);
	queue__make_room(u, s->nr);
	if (u->tail)
		u->tail->next_entry = e;
	else
		u->head = e;
	u->tail = e;
	u->queued += s->nr;
	pthread_cond_signal(&u->cond);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* After the head's first @n samples were sent (@result 1) or dropped (-1). */
static void queue__advance(struct rw_url *u, size_t n, int result)
{
	struct rw_entry *e = u->head;

	e->next += n;
	u->queued -= n;
	if (result > 0)
		u->sent += n;
	else
		u->dropped += n;
	if (e->next < e->snap->nr)
		return;
	u->head = e->next_entry;
	if (!u->head)
		u->tail = NULL;
	snap__put(e->snap);
	free(e);
}

/* ---- HTTP ---- */

static size_t keep_error_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct rw_url *u = ctx;
	size_t n = size * nmemb, room = sizeof(u->err_body) - 1 - u->err_len;

	memcpy(u->err_body + u->err_len, data, n < room ? n : room);
	u->err_len += n < room ? n : room;
	u->err_body[u->err_len] = '\0';
	return n;
}

static int url__setup_curl(struct rw_url *u)
{
	const struct remote_write_opts *o = &u->rw->o;
	char auth[SECRET_MAX + 32];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	size_t i;

	if (!c)
		return -ENOMEM;
	u->curl = c;
	h = curl_slist_append(h, "Content-Encoding: snappy");
	h = h ? curl_slist_append(h, "Content-Type: application/x-protobuf") : NULL;
	h = h ? curl_slist_append(h, "X-Prometheus-Remote-Write-Version: 0.1.0") : NULL;
	h = h ? curl_slist_append(h, "Expect:") : NULL;	/* no 100-continue round trip */
	for (i = 0; h && i < o->nr_headers; i++) {
		const char *eq = strchr(o->headers[i], '=');

		snprintf(auth, sizeof(auth), "%.*s: %s", (int)(eq - o->headers[i]), o->headers[i],
			 eq + 1);
		h = curl_slist_append(h, auth);
	}
	if (h && u->rw->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", u->rw->token);
		h = curl_slist_append(h, auth);
	}
	if (!h)
		return -ENOMEM;
	u->headers = h;
	curl_easy_setopt(c, CURLOPT_URL, u->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_error_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, u);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (o->basic_auth_user) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, o->basic_auth_user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, u->rw->password ? u->rw->password : "");
	}
	if (o->tls_ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->tls_ca_file);
	if (o->tls_cert_file)
		curl_easy_setopt(c, CURLOPT_SSLCERT, o->tls_cert_file);
	if (o->tls_key_file)
		curl_easy_setopt(c, CURLOPT_SSLKEY, o->tls_key_file);
	if (o->tls_insecure_skip_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return 0;
}

/* The wire bytes of samples [@start, @start + @n) of @s: protobuf, then snappy. */
static int encode(const struct rw_snap *s, size_t start, size_t n, char **out, size_t *len)
{
	Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
	size_t raw_len, z_len;
	uint8_t *raw;
	char *z;

	req.n_timeseries = n;
	req.timeseries = s->ts + start;
	raw_len = prometheus__write_request__get_packed_size(&req);
	raw = malloc(raw_len ? raw_len : 1);
	z_len = snappy_max_compressed_length(raw_len);
	z = malloc(z_len);
	if (!raw || !z)
		goto err;
	prometheus__write_request__pack(&req, raw);
	if (snappy_compress((const char *)raw, raw_len, z, &z_len) != SNAPPY_OK)
		goto err;
	free(raw);
	*out = z;
	*len = z_len;
	return 0;
err:
	free(raw);
	free(z);
	return -ENOMEM;
}

/* POST one request; the receiver's status, 0 when there was no answer. */
static long url__post(struct rw_url *u, const char *body, size_t len)
{
	long status = 0;
	CURLcode res;

	u->err_len = 0;
	u->err_body[0] = '\0';
	curl_easy_setopt(u->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(u->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	res = curl_easy_perform(u->curl);
	if (res != CURLE_OK) {
		snprintf(u->err_body, sizeof(u->err_body), "%s", curl_easy_strerror(res));
		return 0;
	}
	curl_easy_getinfo(u->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Log a failure when it starts and the recovery when it ends, not every retry. */
static void url__log_result(struct rw_url *u, long status, int result, size_t n)
{
	if (result > 0) {
		if (u->failing)
			log_info("remote write %s: receiving again", u->label);
		u->failing = false;
		return;
	}
	if (result < 0)
		log_warn("remote write %s: HTTP %ld, %zu samples dropped (not retried): %s",
			 u->label, status, n, u->err_body);
	else if (!u->failing)
		log_warn("remote write %s: %s%ld: %s; retrying with backoff", u->label,
			 status ? "HTTP " : "no answer ", status, u->err_body);
	u->failing = result == 0;
}

static void wait_backoff(struct rw_url *u, unsigned int ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!atomic_load(&u->rw->stopping) &&
	       pthread_cond_timedwait(&u->cond, &u->lock, &until) != ETIMEDOUT)
		;
}

/* One request from the head of the queue; called and returns with the lock held. */
static void url__send_one(struct rw_url *u, unsigned int *backoff)
{
	const struct remote_write_opts *o = &u->rw->o;
	struct rw_snap *s = u->head->snap;
	size_t start = u->head->next, n = s->nr - start, len;
	long status = 0;
	char *body;
	int result;

	if (n > o->batch_samples)
		n = o->batch_samples;
	atomic_fetch_add(&s->refs, 1);
	u->busy = true;
	pthread_mutex_unlock(&u->lock);
	result = encode(s, start, n, &body, &len) ? 0 : 2;
	if (result == 2) {
		status = url__post(u, body, len);
		result = remote_write__classify(status);
		free(body);
	}
	snap__put(s);
	pthread_mutex_lock(&u->lock);
	u->busy = false;
	url__log_result(u, status, result, n);
	if (result) {
		queue__advance(u, n, result);
		if (result > 0)
			u->last_success_s = wall_seconds();
		*backoff = o->min_backoff_ms;
		return;
	}
	u->retried += n;
	wait_backoff(u, *backoff);
	*backoff = *backoff * 2 > o->max_backoff_ms ? o->max_backoff_ms : *backoff * 2;
}

static void *url__run(void *arg)
{
	struct rw_url *u = arg;
	unsigned int backoff = u->rw->o.min_backoff_ms;

	pthread_mutex_lock(&u->lock);
	while (!atomic_load(&u->rw->stopping)) {
		if (!u->head) {
			pthread_cond_wait(&u->cond, &u->lock);
			continue;
		}
		url__send_one(u, &backoff);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

/* ---- setup ---- */

static bool valid_label_name(const char *s, size_t n)
{
	size_t i;

	if (!n || (s[0] >= '0' && s[0] <= '9') || (n >= 2 && s[0] == '_' && s[1] == '_'))
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static int parse_ext_labels(struct remote_write *rw)
{
	size_t i, j;

	for (i = 0; i < rw->o.nr_labels; i++) {
		const char *l = rw->o.labels[i], *eq = strchr(l, '=');

		if (!eq || !valid_label_name(l, eq - l)) {
			log_err("--remote-write.label %s: expected NAME=VALUE with a label name (not starting with __)",
				l);
			return -EINVAL;
		}
		rw->ext[i].name = strndup(l, eq - l);
		rw->ext[i].value = strdup(eq + 1);
		rw->nr_ext++;
		if (!rw->ext[i].name || !rw->ext[i].value)
			return -ENOMEM;
		for (j = 0; j < i; j++)
			if (!strcmp(rw->ext[j].name, rw->ext[i].name)) {
				log_err("--remote-write.label %s: label %s given twice", l,
					rw->ext[i].name);
				return -EINVAL;
			}
	}
	return 0;
}

/* "Name=value": a header name emitd does not set itself, a value without control characters. */
static bool header_ok(const char *h)
{
	static const char *const own[] = {
		"Content-Encoding", "Content-Type", "X-Prometheus-Remote-Write-Version",
		"Content-Length", "Authorization", "Host", "Expect",
	};
	const char *eq = strchr(h, '='), *p;
	size_t n = eq ? (size_t)(eq - h) : 0, i;

	if (!n)
		return false;
	for (p = h; p < eq; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return false;
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strlen(own[i]) == n && !strncasecmp(h, own[i], n))
			return false;
	for (p = eq + 1; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int check_headers(const struct remote_write_opts *o)
{
	size_t i;

	for (i = 0; i < o->nr_headers; i++) {
		if (header_ok(o->headers[i]))
			continue;
		log_err("--remote-write.header %s: expected Name=value, a header emitd does not set itself, without control characters",
			o->headers[i]);
		return -EINVAL;
	}
	return 0;
}

/* A secret from a file, without its trailing newline. */
static int read_secret(const char *flag, const char *path, char **out)
{
	size_t len;
	int err;

	if (!path)
		return 0;
	err = fileio__read_file(path, SECRET_MAX, out, &len);
	if (err) {
		log_err("%s %s: %s", flag, path, strerror(-err));
		return err;
	}
	while (len && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r'))
		(*out)[--len] = '\0';
	return 0;
}

/* "scheme://user:pass@host/..." -> "scheme://host/..." for labels and logs. */
static char *url_label(const char *url)
{
	const char *host = strstr(url, "://"), *at, *slash;
	char *s;

	if (!host)
		return strdup(url);
	host += 3;
	at = strchr(host, '@');
	slash = strchr(host, '/');
	if (!at || (slash && slash < at))
		return strdup(url);
	if (asprintf(&s, "%.*s%s", (int)(host - url), url, at + 1) < 0)
		return NULL;
	return s;
}

static int url__start(struct remote_write *rw, size_t i)
{
	struct rw_url *u = &rw->urls[i];
	const char *url = rw->o.urls[i];
	int err;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		log_err("--remote-write.url %s: expected an http:// or https:// URL", url);
		return -EINVAL;
	}
	u->rw = rw;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	rw->nr_urls++;
	u->url = strdup(url);
	u->label = url_label(url);
	if (!u->url || !u->label)
		return -ENOMEM;
	err = url__setup_curl(u);
	if (err)
		return err;
	err = -pthread_create(&u->thread, NULL, url__run, u);
	if (err) {
		log_err("remote write %s: cannot start its sender: %s", u->label, strerror(-err));
		return err;
	}
	u->started = true;
	log_info("remote write to %s every %u ms (batches of %u samples, queue of %u)",
		 u->label, rw->o.interval_ms, rw->o.batch_samples, rw->o.queue_samples);
	return 0;
}

int remote_write__new(const struct remote_write_opts *o, struct remote_write **out)
{
	struct remote_write *rw;
	size_t i;
	int err;

	*out = NULL;
	if (!o->nr_urls)
		return 0;
	rw = calloc(1, sizeof(*rw));
	if (!rw)
		return -ENOMEM;
	rw->o = *o;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		free(rw);
		return -ENOMEM;
	}
	err = parse_ext_labels(rw);
	if (!err)
		err = check_headers(o);
	if (!err)
		err = read_secret("--remote-write.basic-auth-password-file",
				  o->basic_auth_password_file, &rw->password);
	if (!err)
		err = read_secret("--remote-write.bearer-token-file", o->bearer_token_file,
				  &rw->token);
	for (i = 0; !err && i < o->nr_urls; i++)
		err = url__start(rw, i);
	if (err) {
		remote_write__free(rw);
		return err;
	}
	*out = rw;
	return 0;
}

static void url__stop(struct rw_url *u)
{
	struct rw_entry *e, *next;

	if (u->started) {
		pthread_mutex_lock(&u->lock);
		pthread_cond_broadcast(&u->cond);
		pthread_mutex_unlock(&u->lock);
		pthread_join(u->thread, NULL);
	}
	for (e = u->head; e; e = next) {
		next = e->next_entry;
		snap__put(e->snap);
		free(e);
	}
	curl_slist_free_all(u->headers);
	if (u->curl)
		curl_easy_cleanup(u->curl);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u->url);
	free(u->label);
}

void remote_write__free(struct remote_write *rw)
{
	size_t i;

	if (!rw)
		return;
	atomic_store(&rw->stopping, true);
	for (i = 0; i < rw->nr_urls; i++)
		url__stop(&rw->urls[i]);
	for (i = 0; i < rw->nr_ext; i++) {
		free(rw->ext[i].name);
		free(rw->ext[i].value);
	}
	free(rw->password);
	free(rw->token);
	curl_global_cleanup();
	free(rw);
}

bool remote_write__due(const struct remote_write *rw, uint64_t now_ms)
{
	return rw && now_ms >= rw->next_due_ms;
}

int remote_write__offer(struct remote_write *rw, const char *text, size_t len,
			int64_t wall_ms, uint64_t now_ms)
{
	struct rw_snap *s;
	size_t i;
	int err;

	rw->next_due_ms = now_ms + rw->o.interval_ms;
	err = snap__from_text(rw, text, len, wall_ms, &s);
	if (err)
		return err;
	for (i = 0; !err && i < rw->nr_urls; i++)
		err = queue__push(&rw->urls[i], s);
	snap__put(s);
	return err;
}

bool remote_write__stats(struct remote_write *rw, size_t i, struct remote_write_url_stats *out)
{
	struct rw_url *u;

	if (!rw || i >= rw->nr_urls)
		return false;
	u = &rw->urls[i];
	pthread_mutex_lock(&u->lock);
	out->url = u->label;
	out->sent = u->sent;
	out->retried = u->retried;
	out->dropped = u->dropped;
	out->queued = u->queued;
	out->last_success_s = u->last_success_s;
	pthread_mutex_unlock(&u->lock);
	return true;
}
