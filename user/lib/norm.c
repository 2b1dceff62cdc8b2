// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * norm: normalization telemetry collector (see norm.h).
 *
 * Contexts live in an array of pointers sorted by name (binary search, at
 * most NORM_MAX_CONTEXTS + 1 of them, never removed), so the window's ring
 * entries can point at them and the summary comes out sorted. Magnitude sums
 * are Neumaier-compensated: a mean stays within a few ulps of the exact one
 * however many samples it covers.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/fmt.h"
#include "lib/norm.h"
#include "lib/utf8.h"

#define FOLDED_SLOTS	(2 * NORM_MAX_FOLDED)	/* power of two: load <= 1/2 */
#define CSV_BUF_SIZE	65536
#define NUM_LEN		FMT_DOUBLE_LEN
#define CTX_COL_MIN	7			/* "context", "overall" */
#define CTX_COL_MAX	40

struct ksum {
	double sum;
	double comp;
};

struct norm_ctx {
	char *name;
	uint64_t events;
	uint64_t zeroed;
	uint64_t samples;
	uint64_t zeroed_samples;
	uint64_t nonfinite;
	struct ksum abs_before;
	struct ksum abs_after;
};

struct ring_entry {
	uint64_t ts_ms;
	const struct norm_ctx *ctx;
	double before;
	double after;
};

/* Cumulative counts of a context folded into __other__. */
struct folded {
	char *name;			/* NULL: empty slot */
	uint64_t hash;
	uint64_t events;
	uint64_t zeroed;
};

struct norm_collector {
	struct norm_ctx **ctxs;		/* sorted by name */
	unsigned int nr_ctxs;
	struct norm_ctx *other;		/* NORM_OTHER_CONTEXT once created */
	struct ring_entry *ring;
	unsigned int limit;
	unsigned int head;		/* next slot written */
	unsigned int len;
	uint64_t recorded;
	uint64_t folded_samples;
	struct folded *folded;		/* FOLDED_SLOTS, allocated on first use */
	unsigned int nr_folded;
	uint64_t folded_events;		/* sums over folded[], added to __other__ */
	uint64_t folded_zeroed;
	uint64_t dropped_updates;
};

/* ---- compensated sums ---------------------------------------------------- */

static void ksum_add(struct ksum *k, double x)
{
	double t = k->sum + x;

	if (fabs(k->sum) >= fabs(x))
		k->comp += (k->sum - t) + x;
	else
		k->comp += (x - t) + k->sum;
	k->sum = t;
}

static void ksum_merge(struct ksum *k, const struct ksum *from)
{
	ksum_add(k, from->sum);
	ksum_add(k, from->comp);
}

static double ksum_value(const struct ksum *k)
{
	return k->sum + k->comp;
}

/* ---- context names ------------------------------------------------------- */


/* @in as a context key: ill-formed UTF-8 as U+FFFD, cut to NORM_CONTEXT_MAX. */
static void context_key(const char *in, char out[NORM_CONTEXT_MAX + 1])
{
	const unsigned char *p = (const unsigned char *)in;
	const char *src;
	size_t len = 0, n;
	int seq;

	while (*p) {
		seq = utf8__seq(p);
		src = seq > 0 ? (const char *)p : "\xef\xbf\xbd";
		n = seq > 0 ? (size_t)seq : 3;
		if (len + n > NORM_CONTEXT_MAX)
			break;
		memcpy(out + len, src, n);
		len += n;
		p += seq > 0 ? seq : -seq;
	}
	out[len] = '\0';
}

/* ---- contexts ------------------------------------------------------------ */

/* Index of @name in c->ctxs, or where it would go; *found tells which. */
static unsigned int ctx_search(const struct norm_collector *c, const char *name, bool *found)
{
	unsigned int lo = 0, hi = c->nr_ctxs, mid;
	int cmp;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		cmp = strcmp(c->ctxs[mid]->name, name);
		if (!cmp) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct norm_ctx *ctx_insert(struct norm_collector *c, unsigned int pos, const char *name)
{
	struct norm_ctx *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->name = strdup(name);
	if (!x->name) {
		free(x);
		return NULL;
	}
	memmove(&c->ctxs[pos + 1], &c->ctxs[pos], (c->nr_ctxs - pos) * sizeof(*c->ctxs));
	c->ctxs[pos] = x;
	c->nr_ctxs++;
	if (!strcmp(name, NORM_OTHER_CONTEXT))
		c->other = x;
	return x;
}

static bool ctx_room(const struct norm_collector *c)
{
	return c->nr_ctxs - (c->other ? 1 : 0) < NORM_MAX_CONTEXTS;
}

/*
 * The context @key, created if there is room (NULL on ENOMEM). With no room,
 * NULL and *folded: the caller folds @key into __other__, which always fits.
 */
static struct norm_ctx *ctx_lookup(struct norm_collector *c, const char *key, bool *folded)
{
	unsigned int pos;
	bool found;

	*folded = false;
	pos = ctx_search(c, key, &found);
	if (found)
		return c->ctxs[pos];
	if (ctx_room(c) || !strcmp(key, NORM_OTHER_CONTEXT))
		return ctx_insert(c, pos, key);
	*folded = true;
	return NULL;
}

static struct norm_ctx *ctx_other(struct norm_collector *c)
{
	bool folded;

	return c->other ? c->other : ctx_lookup(c, NORM_OTHER_CONTEXT, &folded);
}

/* ---- folded counts --------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The slot of @key in c->folded: its own, or the empty one it would take. */
static struct folded *folded_slot(struct norm_collector *c, const char *key)
{
	uint64_t h = fnv1a(key);
	unsigned int i = h & (FOLDED_SLOTS - 1);
	struct folded *f;

	for (;; i = (i + 1) & (FOLDED_SLOTS - 1)) {
		f = &c->folded[i];
		if (!f->name || (f->hash == h && !strcmp(f->name, key)))
			break;
	}
	f->hash = h;
	return f;
}

static int folded_set(struct norm_collector *c, const char *key, uint64_t events,
		      uint64_t zeroed)
{
	struct folded *f;

	if (!c->folded) {
		c->folded = calloc(FOLDED_SLOTS, sizeof(*c->folded));
		if (!c->folded)
			return -ENOMEM;
	}
	f = folded_slot(c, key);
	if (!f->name) {
		if (c->nr_folded == NORM_MAX_FOLDED) {
			c->dropped_updates++;
			return -ENOSPC;
		}
		f->name = strdup(key);
		if (!f->name)
			return -ENOMEM;
		c->nr_folded++;
	}
	/* Modular arithmetic: the sums stay right when a count goes down. */
	c->folded_events += events - f->events;
	c->folded_zeroed += zeroed - f->zeroed;
	f->events = events;
	f->zeroed = zeroed;
	return 0;
}

/* ---- lifetime ------------------------------------------------------------ */

struct norm_collector *norm__new(unsigned int history_limit)
{
	struct norm_collector *c;

	if (!history_limit)
		history_limit = NORM_DEFAULT_HISTORY;
	if (history_limit > NORM_MAX_HISTORY) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out_nomem;
	c->limit = history_limit;
	c->ctxs = calloc(NORM_MAX_CONTEXTS + 1, sizeof(*c->ctxs));
	c->ring = calloc(history_limit, sizeof(*c->ring));
	if (!c->ctxs || !c->ring)
		goto out_free;
	return c;

out_free:
	norm__free(c);
out_nomem:
	errno = ENOMEM;
	return NULL;
}

void norm__free(struct norm_collector *c)
{
	unsigned int i;

	if (!c)
		return;
	for (i = 0; i < c->nr_ctxs; i++) {
		free(c->ctxs[i]->name);
		free(c->ctxs[i]);
	}
	for (i = 0; c->folded && i < FOLDED_SLOTS; i++)
		free(c->folded[i].name);
	free(c->folded);
	free(c->ctxs);
	free(c->ring);
	free(c);
}

unsigned int norm__history_limit(const struct norm_collector *c)
{
	return c ? c->limit : 0;
}

unsigned int norm__window_len(const struct norm_collector *c)
{
	return c ? c->len : 0;
}

/* ---- inputs -------------------------------------------------------------- */

static void add_sample(struct norm_ctx *x, double before, double after)
{
	x->samples++;
	if (after == 0)
		x->zeroed_samples++;
	if (!isfinite(before) || !isfinite(after)) {
		x->nonfinite++;
		return;
	}
	ksum_add(&x->abs_before, fabs(before));
	ksum_add(&x->abs_after, fabs(after));
}

static void ring_push(struct norm_collector *c, uint64_t ts_ms, const struct norm_ctx *x,
		      double before, double after)
{
	struct ring_entry *e = &c->ring[c->head];

	e->ts_ms = ts_ms;
	e->ctx = x;
	e->before = before;
	e->after = after;
	c->head = c->head + 1 == c->limit ? 0 : c->head + 1;
	if (c->len < c->limit)
		c->len++;
}

int norm__record(struct norm_collector *c, uint64_t ts_ms, const char *context,
		 double before, double after)
{
	char key[NORM_CONTEXT_MAX + 1];
	struct norm_ctx *x;
	bool folded;

	if (!c || !context)
		return -EINVAL;
	context_key(context, key);
	x = ctx_lookup(c, key, &folded);
	if (folded)
		x = ctx_other(c);
	if (!x)
		return -ENOMEM;
	add_sample(x, before, after);
	c->folded_samples += folded;
	c->recorded++;
	ring_push(c, ts_ms, x, before, after);
	return 0;
}

int norm__set_counts(struct norm_collector *c, const char *context, uint64_t events,
		     uint64_t zeroed)
{
	char key[NORM_CONTEXT_MAX + 1];
	struct norm_ctx *x;
	bool folded;

	if (!c || !context)
		return -EINVAL;
	context_key(context, key);
	x = ctx_lookup(c, key, &folded);
	if (folded)
		return ctx_other(c) ? folded_set(c, key, events, zeroed) : -ENOMEM;
	if (!x)
		return -ENOMEM;
	x->events = events;
	x->zeroed = zeroed;
	return 0;
}

/* ---- window -------------------------------------------------------------- */

int norm__to_timeseries(const struct norm_collector *c, struct norm_event *out, size_t cap)
{
	unsigned int n, i, j;

	if (!c || (cap && !out))
		return -EINVAL;
	n = cap < c->len ? (unsigned int)cap : c->len;
	j = (c->head + c->limit - n) % c->limit;
	for (i = 0; i < n; i++) {
		out[i].ts_ms = c->ring[j].ts_ms;
		out[i].context = c->ring[j].ctx->name;
		out[i].before = c->ring[j].before;
		out[i].after = c->ring[j].after;
		j = j + 1 == c->limit ? 0 : j + 1;
	}
	return (int)n;
}

/* ---- summary ------------------------------------------------------------- */

/* The ratios and means of @s from its counts and magnitude sums. */
static void stats_finish(struct norm_stats *s, const struct ksum *before,
			 const struct ksum *after)
{
	uint64_t finite = s->samples - s->nonfinite_samples;

	s->zeroed_fraction_valid = s->events > 0;
	s->coverage_valid = s->events > 0;
	if (s->events) {
		s->zeroed_fraction = fmin(1.0, (double)s->zeroed / (double)s->events);
		s->sample_coverage = fmin(1.0, (double)s->samples / (double)s->events);
	}
	if (finite) {
		s->mean_abs_before = ksum_value(before) / (double)finite;
		s->mean_abs_after = ksum_value(after) / (double)finite;
		s->means_valid = isfinite(s->mean_abs_before) && isfinite(s->mean_abs_after);
	}
	if (!s->means_valid) {
		s->mean_abs_before = 0;
		s->mean_abs_after = 0;
	}
}

static void ctx_stats(const struct norm_collector *c, const struct norm_ctx *x,
		      struct norm_stats *s)
{
	s->events = x->events;
	s->zeroed = x->zeroed;
	if (x == c->other) {
		s->events += c->folded_events;
		s->zeroed += c->folded_zeroed;
	}
	s->samples = x->samples;
	s->zeroed_samples = x->zeroed_samples;
	s->nonfinite_samples = x->nonfinite;
	stats_finish(s, &x->abs_before, &x->abs_after);
}

static void overall_add(struct norm_stats *all, const struct norm_stats *s)
{
	all->events += s->events;
	all->zeroed += s->zeroed;
	all->samples += s->samples;
	all->zeroed_samples += s->zeroed_samples;
	all->nonfinite_samples += s->nonfinite_samples;
}

int norm__summary(const struct norm_collector *c, struct norm_summary *out)
{
	struct ksum before = { 0 }, after = { 0 };
	struct norm_stats *s;
	unsigned int i;

	if (!c || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->contexts = calloc(c->nr_ctxs ? c->nr_ctxs : 1, sizeof(*out->contexts));
	if (!out->contexts)
		return -ENOMEM;
	for (i = 0; i < c->nr_ctxs; i++) {
		s = &out->contexts[i];
		s->context = strdup(c->ctxs[i]->name);
		if (!s->context) {
			norm_summary__free(out);
			return -ENOMEM;
		}
		out->nr_contexts++;
		ctx_stats(c, c->ctxs[i], s);
		overall_add(&out->overall, s);
		ksum_merge(&before, &c->ctxs[i]->abs_before);
		ksum_merge(&after, &c->ctxs[i]->abs_after);
	}
	stats_finish(&out->overall, &before, &after);
	out->history_limit = c->limit;
	out->window_len = c->len;
	out->recorded = c->recorded;
	out->folded_samples = c->folded_samples;
	out->folded_contexts = c->nr_folded;
	out->dropped_count_updates = c->dropped_updates;
	return 0;
}

void norm_summary__free(struct norm_summary *s)
{
	unsigned int i;

	if (!s)
		return;
	for (i = 0; i < s->nr_contexts; i++)
		free((char *)s->contexts[i].context);
	free(s->contexts);
	memset(s, 0, sizeof(*s));
}

/* ---- text report --------------------------------------------------------- */

/*
 * Writes @s for a terminal (@f may be NULL to measure only) and returns its
 * width in characters: control characters (C0, DEL, C1) as \xNN or \uNNNN,
 * a backslash doubled, ill-formed UTF-8 bytes as \xNN.
 */
static size_t put_display(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];
	size_t w = 0;
	int n;

	while (*p) {
		n = utf8__seq(p);
		if (n == 2 && p[0] == 0xc2 && p[1] <= 0x9f)
			snprintf(esc, sizeof(esc), "\\u%04x", p[1]);
		else if (n < 0 || *p < 0x20 || *p == 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
		else if (*p == '\\')
			snprintf(esc, sizeof(esc), "\\\\");
		else
			esc[0] = '\0';
		if (esc[0]) {
			n = n > 1 ? n : 1;
			w += strlen(esc);
			if (f)
				fputs(esc, f);
		} else {
			w++;
			if (f)
				fwrite(p, 1, (size_t)n, f);
		}
		p += n;
	}
	return w;
}

static void put_padded(FILE *f, const char *s, size_t width)
{
	size_t w = put_display(f, s);

	for (; w < width; w++)
		fputc(' ', f);
}

static const char *fmt_ratio(char buf[NUM_LEN], bool valid, double v)
{
	if (!valid)
		return "n/a";
	snprintf(buf, NUM_LEN, "%.2f%%", 100.0 * v);
	return buf;
}

static const char *fmt_mean(char buf[NUM_LEN], bool valid, double v)
{
	if (!valid)
		return "n/a";
	snprintf(buf, NUM_LEN, "%.6g", v);
	return buf;
}

static void put_row(FILE *f, const char *label, const struct norm_stats *s, size_t width)
{
	char frac[NUM_LEN], cov[NUM_LEN], mb[NUM_LEN], ma[NUM_LEN];

	put_padded(f, label, width);
	fprintf(f, " %12" PRIu64 " %12" PRIu64 " %8s %12" PRIu64 " %9s %13s %13s\n",
		s->events, s->zeroed, fmt_ratio(frac, s->zeroed_fraction_valid, s->zeroed_fraction),
		s->samples, fmt_ratio(cov, s->coverage_valid, s->sample_coverage),
		fmt_mean(mb, s->means_valid, s->mean_abs_before),
		fmt_mean(ma, s->means_valid, s->mean_abs_after));
}

static size_t context_width(const struct norm_summary *s)
{
	size_t width = CTX_COL_MIN, w;
	unsigned int i;

	for (i = 0; i < s->nr_contexts; i++) {
		w = put_display(NULL, s->contexts[i].context);
		if (w > width)
			width = w;
	}
	return width < CTX_COL_MAX ? width : CTX_COL_MAX;
}

static void put_notes(FILE *f, const struct norm_summary *s)
{
	if (s->folded_samples || s->folded_contexts || s->dropped_count_updates)
		fprintf(f, "folded into " NORM_OTHER_CONTEXT ": %" PRIu64 " samples, %" PRIu64
			" contexts' counts, %" PRIu64 " count updates dropped\n",
			s->folded_samples, s->folded_contexts, s->dropped_count_updates);
	if (s->overall.nonfinite_samples)
		fprintf(f, "non-finite samples (left out of the means): %" PRIu64 "\n",
			s->overall.nonfinite_samples);
}

static int render(const struct norm_summary *s, FILE *f)
{
	size_t width = context_width(s);
	unsigned int i;

	fprintf(f, "normalization: %u contexts, window %u of %u events, %" PRIu64
		" samples recorded\n", s->nr_contexts, s->window_len, s->history_limit,
		s->recorded);
	put_padded(f, "context", width);
	fprintf(f, " %12s %12s %8s %12s %9s %13s %13s\n", "events", "zeroed", "zeroed%",
		"samples", "coverage", "mean|before|", "mean|after|");
	for (i = 0; i < s->nr_contexts; i++)
		put_row(f, s->contexts[i].context, &s->contexts[i], width);
	put_row(f, "overall", &s->overall, width);
	put_notes(f, s);
	return fflush(f) || ferror(f) ? -EIO : 0;
}

/* Print a summary just built (@err from building it), then free it. */
static int render_built(struct norm_summary *s, int err, FILE *f)
{
	if (err)
		return err;
	err = render(s, f);
	norm_summary__free(s);
	return err;
}

int norm__report(const struct norm_collector *c, FILE *f)
{
	struct norm_summary s;

	if (!c || !f)
		return -EINVAL;
	return render_built(&s, norm__summary(c, &s), f);
}

/* ---- JSON out ------------------------------------------------------------ */

/* Steals @val; fails when it is NULL (a failed constructor) or on OOM. */
static int set(json_t *obj, const char *key, json_t *val)
{
	return json_object_set_new(obj, key, val) ? -ENOMEM : 0;
}

static json_t *json_u64(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* Finite doubles only: JSON has no inf or nan. */
static json_t *json_finite(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *stats_json(const struct norm_stats *s)
{
	json_t *o = json_object();

	if (!o || (s->context && set(o, "context", json_string(s->context))) ||
	    set(o, "events", json_u64(s->events)) || set(o, "zeroed", json_u64(s->zeroed)) ||
	    set(o, "zeroed_fraction", json_finite(s->zeroed_fraction)) ||
	    set(o, "zeroed_fraction_valid", json_boolean(s->zeroed_fraction_valid)) ||
	    set(o, "samples", json_u64(s->samples)) ||
	    set(o, "zeroed_samples", json_u64(s->zeroed_samples)) ||
	    set(o, "nonfinite_samples", json_u64(s->nonfinite_samples)) ||
	    set(o, "mean_abs_before", json_finite(s->mean_abs_before)) ||
	    set(o, "mean_abs_after", json_finite(s->mean_abs_after)) ||
	    set(o, "means_valid", json_boolean(s->means_valid)) ||
	    set(o, "sample_coverage", json_finite(s->sample_coverage)) ||
	    set(o, "sample_coverage_valid", json_boolean(s->coverage_valid))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *contexts_json(const struct norm_summary *s)
{
	json_t *a = json_array();
	unsigned int i;

	for (i = 0; a && i < s->nr_contexts; i++) {
		if (json_array_append_new(a, stats_json(&s->contexts[i]))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *summary_json(const struct norm_summary *s)
{
	json_t *o = json_object();

	if (!o || set(o, "version", json_integer(NORM_JSON_VERSION)) ||
	    set(o, "history_limit", json_integer(s->history_limit)) ||
	    set(o, "window_len", json_integer(s->window_len)) ||
	    set(o, "recorded", json_u64(s->recorded)) ||
	    set(o, "folded_samples", json_u64(s->folded_samples)) ||
	    set(o, "folded_contexts", json_u64(s->folded_contexts)) ||
	    set(o, "dropped_count_updates", json_u64(s->dropped_count_updates)) ||
	    set(o, "contexts", contexts_json(s)) || set(o, "overall", stats_json(&s->overall))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *event_json(const struct norm_event *e)
{
	json_t *o = json_object();

	if (!o || set(o, "ts_ms", json_u64(e->ts_ms)) ||
	    set(o, "context", json_string(e->context)) ||
	    set(o, "before", json_finite(e->before)) || set(o, "after", json_finite(e->after))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *timeseries_json(const struct norm_collector *c, size_t last_n)
{
	struct norm_event *ev;
	json_t *a = NULL;
	int n, i;

	last_n = last_n < c->len ? last_n : c->len;
	ev = calloc(last_n ? last_n : 1, sizeof(*ev));
	if (!ev)
		return NULL;
	n = norm__to_timeseries(c, ev, last_n);
	a = json_array();
	for (i = 0; a && i < n; i++) {
		if (json_array_append_new(a, event_json(&ev[i]))) {
			json_decref(a);
			a = NULL;
		}
	}
	free(ev);
	return a;
}

static int to_json(const struct norm_collector *c, bool window, size_t last_n, json_t **out)
{
	struct norm_summary s;
	json_t *o;
	int err;

	if (!c || !out)
		return -EINVAL;
	err = norm__summary(c, &s);
	if (err)
		return err;
	o = summary_json(&s);
	norm_summary__free(&s);
	if (o && window && set(o, "timeseries", timeseries_json(c, last_n))) {
		json_decref(o);
		o = NULL;
	}
	*out = o;
	return o ? 0 : -ENOMEM;
}

int norm__to_json(const struct norm_collector *c, json_t **out)
{
	return to_json(c, false, 0, out);
}

int norm__to_json_last(const struct norm_collector *c, size_t last_n, json_t **out)
{
	return to_json(c, true, last_n, out);
}

/* ---- JSON in ------------------------------------------------------------- */

static int get_u64(const json_t *o, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EPROTO;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_uint(const json_t *o, const char *key, unsigned int *out)
{
	uint64_t v;
	int err = get_u64(o, key, &v);

	if (err || v > UINT32_MAX)
		return -EPROTO;
	*out = (unsigned int)v;
	return 0;
}

static int get_double(const json_t *o, const char *key, double *out)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_null(v)) {
		*out = 0;
		return 0;
	}
	if (!json_is_number(v))
		return -EPROTO;
	*out = json_number_value(v);
	return 0;
}

static int get_bool(const json_t *o, const char *key, bool *out)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return -EPROTO;
	*out = json_is_true(v);
	return 0;
}

static int stats_from_json(const json_t *o, struct norm_stats *s)
{
	if (!json_is_object(o))
		return -EPROTO;
	if (get_u64(o, "events", &s->events) || get_u64(o, "zeroed", &s->zeroed) ||
	    get_double(o, "zeroed_fraction", &s->zeroed_fraction) ||
	    get_bool(o, "zeroed_fraction_valid", &s->zeroed_fraction_valid) ||
	    get_u64(o, "samples", &s->samples) ||
	    get_u64(o, "zeroed_samples", &s->zeroed_samples) ||
	    get_u64(o, "nonfinite_samples", &s->nonfinite_samples) ||
	    get_double(o, "mean_abs_before", &s->mean_abs_before) ||
	    get_double(o, "mean_abs_after", &s->mean_abs_after) ||
	    get_bool(o, "means_valid", &s->means_valid) ||
	    get_double(o, "sample_coverage", &s->sample_coverage) ||
	    get_bool(o, "sample_coverage_valid", &s->coverage_valid))
		return -EPROTO;
	return 0;
}

static int context_from_json(const json_t *o, struct norm_stats *s)
{
	const char *name = json_string_value(json_object_get(o, "context"));
	int err = stats_from_json(o, s);

	if (err)
		return err;
	if (!name)
		return -EPROTO;
	s->context = strdup(name);
	return s->context ? 0 : -ENOMEM;
}

static int contexts_from_json(const json_t *a, struct norm_summary *out)
{
	size_t i, n = json_array_size(a);
	int err;

	if (!json_is_array(a) || n > UINT32_MAX)
		return -EPROTO;
	out->contexts = calloc(n ? n : 1, sizeof(*out->contexts));
	if (!out->contexts)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		err = context_from_json(json_array_get(a, i), &out->contexts[i]);
		if (err)
			return err;
		out->nr_contexts++;
	}
	return 0;
}

int norm__summary_from_json(const json_t *j, struct norm_summary *out)
{
	int err;

	if (!j || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(j) || get_uint(j, "history_limit", &out->history_limit) ||
	    get_uint(j, "window_len", &out->window_len) ||
	    get_u64(j, "recorded", &out->recorded) ||
	    get_u64(j, "folded_samples", &out->folded_samples) ||
	    get_u64(j, "folded_contexts", &out->folded_contexts) ||
	    get_u64(j, "dropped_count_updates", &out->dropped_count_updates))
		return -EPROTO;
	err = contexts_from_json(json_object_get(j, "contexts"), out);
	if (!err)
		err = stats_from_json(json_object_get(j, "overall"), &out->overall);
	if (err)
		norm_summary__free(out);
	return err;
}

int norm__report_from_json(json_t *j, FILE *f)
{
	struct norm_summary s;

	if (!j || !f)
		return -EINVAL;
	return render_built(&s, norm__summary_from_json(j, &s), f);
}

/* ---- CSV ----------------------------------------------------------------- */

/* Buffered writes to a file descriptor; the first error sticks. */
struct csv_out {
	int fd;
	int err;
	size_t len;
	char buf[CSV_BUF_SIZE];
};

static void out_flush(struct csv_out *o)
{
	if (!o->err)
		o->err = fileio__write_all(o->fd, o->buf, o->len);
	o->len = 0;
}

static void out_put(struct csv_out *o, const char *s, size_t n)
{
	if (o->len + n > sizeof(o->buf))
		out_flush(o);
	if (o->err)
		return;
	if (n > sizeof(o->buf)) {
		o->err = fileio__write_all(o->fd, s, n);
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void out_str(struct csv_out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* At least DBL_DIG (15) significant digits, more only when needed to read back bit-exactly. */
static void fmt_double(char buf[NUM_LEN], double v)
{
	fmt__double(buf, v, DBL_DIG, 0);
}

/* RFC 4180: quoted, with quotes doubled, when it holds , " CR or LF. */
static void put_field(struct csv_out *o, const char *s)
{
	const char *q;

	if (!strpbrk(s, ",\"\r\n")) {
		out_str(o, s);
		return;
	}
	out_put(o, "\"", 1);
	for (; (q = strchr(s, '"')); s = q + 1) {
		out_put(o, s, (size_t)(q - s) + 1);
		out_put(o, "\"", 1);
	}
	out_str(o, s);
	out_put(o, "\"", 1);
}

static void put_event(struct csv_out *o, const struct norm_event *e)
{
	char num[NUM_LEN];

	snprintf(num, sizeof(num), "%" PRIu64 ",", e->ts_ms);
	out_str(o, num);
	put_field(o, e->context ? e->context : "");
	fmt_double(num, e->before);
	out_put(o, ",", 1);
	out_str(o, num);
	fmt_double(num, e->after);
	out_put(o, ",", 1);
	out_str(o, num);
	out_put(o, "\n", 1);
}

/* The CSV text into @o, numbers formatted in the C locale whatever the process's. */
static int put_csv(struct csv_out *o, const struct norm_event *ev, size_t n)
{
	locale_t c_loc, old;
	size_t i;

	c_loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c_loc)
		return -ENOMEM;
	old = uselocale(c_loc);
	out_str(o, "timestamp_ms,context,before,after\n");
	for (i = 0; i < n && !o->err; i++)
		put_event(o, &ev[i]);
	out_flush(o);
	uselocale(old);
	freelocale(c_loc);
	return o->err;
}

struct csv_file {
	const struct norm_event *ev;
	size_t n;
};

static int write_csv(int fd, void *arg)
{
	const struct csv_file *cf = arg;
	struct csv_out *o = malloc(sizeof(*o));
	int err;

	if (!o)
		return -ENOMEM;
	o->fd = fd;
	o->err = 0;
	o->len = 0;
	err = put_csv(o, cf->ev, cf->n);
	free(o);
	return err;
}

int norm__write_csv(const struct norm_event *ev, size_t n, const char *path)
{
	struct csv_file cf = { ev, n };

	if (!path || !*path || (n && !ev))
		return -EINVAL;
	return fileio__replace(path, write_csv, &cf);
}

int norm__export_csv(const struct norm_collector *c, const char *path)
{
	struct norm_event *ev;
	int n, err;

	if (!c || !path)
		return -EINVAL;
	ev = calloc(c->len ? c->len : 1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	n = norm__to_timeseries(c, ev, c->len);
	err = n < 0 ? n : norm__write_csv(ev, (size_t)n, path);
	free(ev);
	return err;
}
