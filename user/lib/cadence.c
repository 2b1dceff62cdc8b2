// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cadence: adaptive drain cadence, watermarks and shedding (see cadence.h
 * and docs/BATCHING.md).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cadence.h"

#define MAX_MS		3600000ULL		/* one hour */
#define MAX_BATCH	100000000ULL
#define MAX_PENDING	1000000000000ULL
#define MAX_CYCLES	1000ULL
#define SHOWN_CHARS	40			/* of a bad value, in messages */

enum setting_kind {
	SET_U64,
	SET_UINT,
	SET_RATIO,
};

struct setting {
	struct cadence_setting_info info;
	enum setting_kind kind;
	size_t off;
	uint64_t min;		/* integers only; ratios are (0, 1] */
	uint64_t max;
	bool zero_auto;		/* 0 selects the derived default */
};

#define CFG_OFF(f)	offsetof(struct cadence_config, f)

#define XSTR(x)		STR(x)
#define STR(x)		#x

/* The defaults shown are the CADENCE_DEF_* constants cadence_config__init() sets. */
static const struct setting settings[] = {
	{ { .env = "EMITD_DRAIN_MAX_INTERVAL_MS", .flag = "drain-max-interval-ms",
	    .arg = "MS", .def = XSTR(CADENCE_DEF_MAX_INTERVAL_MS),
	    .help = "fallback drain interval, ms" },
	  SET_U64, CFG_OFF(max_interval_ms), 1, MAX_MS, false },
	{ { .env = "EMITD_DRAIN_TARGET_INTERVAL_MS", .flag = "drain-target-interval-ms",
	    .arg = "MS", .def = XSTR(CADENCE_DEF_TARGET_INTERVAL_MS),
	    .help = "drain period the adaptive batch aims at, ms" },
	  SET_U64, CFG_OFF(target_interval_ms), 1, MAX_MS, false },
	{ { .env = "EMITD_DRAIN_AGGRESSIVE_INTERVAL_MS", .flag = "drain-aggressive-interval-ms",
	    .arg = "MS", .def = "0",
	    .help = "fallback interval under backpressure, ms; 0: max/4, at least 10" },
	  SET_U64, CFG_OFF(aggressive_interval_ms), 1, MAX_MS, true },
	{ { .env = "EMITD_DRAIN_MIN_BATCH", .flag = "drain-min-batch",
	    .arg = "N", .def = XSTR(CADENCE_DEF_MIN_BATCH),
	    .help = "smallest adaptive target batch, events" },
	  SET_U64, CFG_OFF(min_batch), 1, MAX_BATCH, false },
	{ { .env = "EMITD_DRAIN_MAX_BATCH", .flag = "drain-max-batch",
	    .arg = "N", .def = XSTR(CADENCE_DEF_MAX_BATCH),
	    .help = "largest adaptive target batch, events" },
	  SET_U64, CFG_OFF(max_batch), 1, MAX_BATCH, false },
	{ { .env = "EMITD_DRAIN_EWMA_ALPHA", .flag = "drain-ewma-alpha",
	    .arg = "RATIO", .def = XSTR(CADENCE_DEF_EWMA_ALPHA),
	    .help = "weight of the newest rate sample, (0, 1]" },
	  SET_RATIO, CFG_OFF(ewma_alpha), 0, 0, false },
	{ { .env = "EMITD_DRAIN_HIGH_WATERMARK", .flag = "drain-high-watermark",
	    .arg = "N", .def = XSTR(CADENCE_DEF_HIGH_WATERMARK),
	    .help = "pending events that start backpressure" },
	  SET_U64, CFG_OFF(high_watermark), 1, MAX_PENDING, false },
	{ { .env = "EMITD_DRAIN_CRITICAL_WATERMARK", .flag = "drain-critical-watermark",
	    .arg = "N", .def = XSTR(CADENCE_DEF_CRITICAL_WATERMARK),
	    .help = "pending events that count toward shedding" },
	  SET_U64, CFG_OFF(critical_watermark), 1, MAX_PENDING, false },
	{ { .env = "EMITD_DRAIN_LOW_WATERMARK", .flag = "drain-low-watermark",
	    .arg = "N", .def = "0",
	    .help = "pending events below which backpressure ends; 0: high/2" },
	  SET_U64, CFG_OFF(low_watermark), 1, MAX_PENDING, true },
	{ { .env = "EMITD_DRAIN_HIGH_FILL", .flag = "drain-high-fill",
	    .arg = "RATIO", .def = XSTR(CADENCE_DEF_HIGH_FILL),
	    .help = "sample-ring fill ratio that starts backpressure" },
	  SET_RATIO, CFG_OFF(high_fill), 0, 0, false },
	{ { .env = "EMITD_DRAIN_CRITICAL_FILL", .flag = "drain-critical-fill",
	    .arg = "RATIO", .def = XSTR(CADENCE_DEF_CRITICAL_FILL),
	    .help = "sample-ring fill ratio that counts toward shedding" },
	  SET_RATIO, CFG_OFF(critical_fill), 0, 0, false },
	{ { .env = "EMITD_DRAIN_LOW_FILL", .flag = "drain-low-fill",
	    .arg = "RATIO", .def = "0",
	    .help = "sample-ring fill ratio below which backpressure ends; 0: high/2" },
	  SET_RATIO, CFG_OFF(low_fill), 0, 0, true },
	{ { .env = "EMITD_DRAIN_CRITICAL_CYCLES", .flag = "drain-critical-cycles",
	    .arg = "N", .def = XSTR(CADENCE_DEF_CRITICAL_CYCLES),
	    .help = "consecutive critical drain cycles before shedding" },
	  SET_UINT, CFG_OFF(critical_cycles), 1, MAX_CYCLES, false },
	{ { .env = "EMITD_DRAIN_CALM_CYCLES", .flag = "drain-calm-cycles",
	    .arg = "N", .def = XSTR(CADENCE_DEF_CALM_CYCLES),
	    .help = "consecutive calm drain cycles before stepping down" },
	  SET_UINT, CFG_OFF(calm_cycles), 1, MAX_CYCLES, false },
};

#define NR_SETTINGS	(sizeof(settings) / sizeof(settings[0]))

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_sz, const char *fmt, ...)
{
	va_list ap;

	if (err && err_sz) {
		va_start(ap, fmt);
		vsnprintf(err, err_sz, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void cadence_config__init(struct cadence_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_interval_ms = CADENCE_DEF_MAX_INTERVAL_MS;
	cfg->target_interval_ms = CADENCE_DEF_TARGET_INTERVAL_MS;
	cfg->min_batch = CADENCE_DEF_MIN_BATCH;
	cfg->max_batch = CADENCE_DEF_MAX_BATCH;
	cfg->ewma_alpha = CADENCE_DEF_EWMA_ALPHA;
	cfg->high_watermark = CADENCE_DEF_HIGH_WATERMARK;
	cfg->critical_watermark = CADENCE_DEF_CRITICAL_WATERMARK;
	cfg->high_fill = CADENCE_DEF_HIGH_FILL;
	cfg->critical_fill = CADENCE_DEF_CRITICAL_FILL;
	cfg->critical_cycles = CADENCE_DEF_CRITICAL_CYCLES;
	cfg->calm_cycles = CADENCE_DEF_CALM_CYCLES;
}

/* @out = @in with the automatic (0) settings replaced by their values. */
static void resolve(const struct cadence_config *in, struct cadence_config *out)
{
	*out = *in;
	if (!out->aggressive_interval_ms) {
		out->aggressive_interval_ms = out->max_interval_ms / CADENCE_AGGRESSIVE_DIVISOR;
		if (out->aggressive_interval_ms < CADENCE_AGGRESSIVE_MIN_MS)
			out->aggressive_interval_ms = CADENCE_AGGRESSIVE_MIN_MS;
		if (out->aggressive_interval_ms > out->max_interval_ms)
			out->aggressive_interval_ms = out->max_interval_ms;
	}
	if (!out->low_watermark) {
		out->low_watermark = out->high_watermark / CADENCE_LOW_DIVISOR;
		if (!out->low_watermark)
			out->low_watermark = 1;
	}
	if (out->low_fill == 0)
		out->low_fill = out->high_fill / CADENCE_LOW_DIVISOR;
}

static bool ratio_ok(double r)
{
	return r > 0 && r <= 1;		/* false for NaN */
}

/* "EMITD_DRAIN_<A>=<a> exceeds EMITD_DRAIN_<B>=<b>" */
static int exceeds(char *err, size_t sz, const char *a, uint64_t av, const char *b, uint64_t bv)
{
	return fail(err, sz, "EMITD_DRAIN_%s=%llu exceeds EMITD_DRAIN_%s=%llu",
		    a, (unsigned long long)av, b, (unsigned long long)bv);
}

static int exceeds_ratio(char *err, size_t sz, const char *a, double av, const char *b, double bv)
{
	return fail(err, sz, "EMITD_DRAIN_%s=%g exceeds EMITD_DRAIN_%s=%g", a, av, b, bv);
}

static int check_intervals(const struct cadence_config *c, char *err, size_t sz)
{
	if (!c->max_interval_ms)
		return fail(err, sz, "EMITD_DRAIN_MAX_INTERVAL_MS must be > 0");
	if (!c->target_interval_ms)
		return fail(err, sz, "EMITD_DRAIN_TARGET_INTERVAL_MS must be > 0");
	if (c->target_interval_ms > c->max_interval_ms)
		return exceeds(err, sz, "TARGET_INTERVAL_MS", c->target_interval_ms,
			       "MAX_INTERVAL_MS", c->max_interval_ms);
	if (c->aggressive_interval_ms > c->max_interval_ms)
		return exceeds(err, sz, "AGGRESSIVE_INTERVAL_MS", c->aggressive_interval_ms,
			       "MAX_INTERVAL_MS", c->max_interval_ms);
	return 0;
}

static int check_batches(const struct cadence_config *c, char *err, size_t sz)
{
	if (!c->min_batch)
		return fail(err, sz, "EMITD_DRAIN_MIN_BATCH must be > 0");
	if (c->min_batch > c->max_batch)
		return exceeds(err, sz, "MIN_BATCH", c->min_batch, "MAX_BATCH", c->max_batch);
	if (c->max_batch > c->high_watermark)
		return exceeds(err, sz, "MAX_BATCH", c->max_batch,
			       "HIGH_WATERMARK", c->high_watermark);
	if (!ratio_ok(c->ewma_alpha))
		return fail(err, sz, "EMITD_DRAIN_EWMA_ALPHA=%g is outside (0, 1]", c->ewma_alpha);
	return 0;
}

static int check_watermarks(const struct cadence_config *c, char *err, size_t sz)
{
	if (c->low_watermark > c->high_watermark)
		return exceeds(err, sz, "LOW_WATERMARK", c->low_watermark,
			       "HIGH_WATERMARK", c->high_watermark);
	if (c->high_watermark > c->critical_watermark)
		return exceeds(err, sz, "HIGH_WATERMARK", c->high_watermark,
			       "CRITICAL_WATERMARK", c->critical_watermark);
	if (!ratio_ok(c->low_fill) || !ratio_ok(c->high_fill) || !ratio_ok(c->critical_fill))
		return fail(err, sz, "EMITD_DRAIN_{LOW,HIGH,CRITICAL}_FILL must be in (0, 1], have %g, %g, %g",
			    c->low_fill, c->high_fill, c->critical_fill);
	if (c->low_fill > c->high_fill)
		return exceeds_ratio(err, sz, "LOW_FILL", c->low_fill, "HIGH_FILL", c->high_fill);
	if (c->high_fill > c->critical_fill)
		return exceeds_ratio(err, sz, "HIGH_FILL", c->high_fill,
				     "CRITICAL_FILL", c->critical_fill);
	if (!c->critical_cycles)
		return fail(err, sz, "EMITD_DRAIN_CRITICAL_CYCLES must be > 0");
	if (!c->calm_cycles)
		return fail(err, sz, "EMITD_DRAIN_CALM_CYCLES must be > 0");
	return 0;
}

int cadence_config__validate(const struct cadence_config *cfg, char *err, size_t err_sz)
{
	struct cadence_config r;
	int ret;

	if (!cfg)
		return fail(err, err_sz, "no drain configuration");
	resolve(cfg, &r);
	ret = check_intervals(&r, err, err_sz);
	if (!ret)
		ret = check_batches(&r, err, err_sz);
	if (!ret)
		ret = check_watermarks(&r, err, err_sz);
	return ret;
}

static const struct setting *setting_find(const char *name)
{
	size_t i;

	for (i = 0; i < NR_SETTINGS; i++)
		if (!strcmp(name, settings[i].info.env) || !strcmp(name, settings[i].info.flag))
			return &settings[i];
	return NULL;
}

static int parse_uint(const struct setting *s, const char *name, const char *v, uint64_t *out,
		      char *err, size_t sz)
{
	unsigned long long x;
	const char *p;

	for (p = v; *p; p++)
		if (*p < '0' || *p > '9')
			return fail(err, sz, "%s: '%.*s' is not a decimal integer",
				    name, SHOWN_CHARS, v);
	errno = 0;
	x = strtoull(v, NULL, 10);	/* all digits, not empty */
	if (errno == ERANGE)
		goto out_range;
	if (x == 0 && s->zero_auto) {
		*out = 0;
		return 0;
	}
	if (x < s->min || x > s->max)
		goto out_range;
	*out = x;
	return 0;
out_range:
	return fail(err, sz, "%s: %.*s is out of range [%llu, %llu]%s", name, SHOWN_CHARS, v,
		    (unsigned long long)s->min, (unsigned long long)s->max,
		    s->zero_auto ? " (or 0: automatic)" : "");
}

/* Plain decimal fraction: digits with at most one '.', at least one digit. */
static bool is_decimal(const char *v)
{
	bool dot = false, digit = false;
	const char *p;

	for (p = v; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = true;
		else if (*p == '.' && !dot)
			dot = true;
		else
			return false;
	}
	return digit;
}

static int parse_ratio(const struct setting *s, const char *name, const char *v, double *out,
		       char *err, size_t sz)
{
	double x;

	if (!is_decimal(v))
		return fail(err, sz, "%s: '%.*s' is not a decimal fraction", name, SHOWN_CHARS, v);
	x = strtod(v, NULL);
	if (!(x == 0 && s->zero_auto) && !ratio_ok(x))
		return fail(err, sz, "%s: %.*s is out of range (0, 1]%s", name, SHOWN_CHARS, v,
			    s->zero_auto ? " (or 0: automatic)" : "");
	*out = x;
	return 0;
}

static int setting_apply(const struct setting *s, struct cadence_config *cfg, const char *name,
			 const char *value, char *err, size_t sz)
{
	char *field = (char *)cfg + s->off;
	uint64_t u;
	int ret;

	if (!*value)
		return fail(err, sz, "%s: empty value", name);
	switch (s->kind) {
	case SET_RATIO:
		return parse_ratio(s, name, value, (double *)field, err, sz);
	case SET_UINT:
		ret = parse_uint(s, name, value, &u, err, sz);
		if (!ret)
			*(unsigned int *)field = (unsigned int)u;
		return ret;
	case SET_U64:
	default:
		return parse_uint(s, name, value, (uint64_t *)field, err, sz);
	}
}

int cadence_config__set(struct cadence_config *cfg, const char *name, const char *value,
			char *err, size_t err_sz)
{
	const struct setting *s;

	if (!cfg || !name || !value)
		return fail(err, err_sz, "no drain setting");
	s = setting_find(name);
	if (!s) {
		fail(err, err_sz, "%s: unknown drain setting", name);
		return -ENOENT;
	}
	return setting_apply(s, cfg, name, value, err, err_sz);
}

int cadence_config__from_env(struct cadence_config *cfg, cadence_lookup_fn lookup, void *ctx,
			     char *err, size_t err_sz)
{
	const char *v;
	size_t i;
	int ret;

	if (!cfg || !lookup)
		return fail(err, err_sz, "no drain configuration or lookup");
	for (i = 0; i < NR_SETTINGS; i++) {
		v = lookup(settings[i].info.env, ctx);
		if (!v)
			continue;
		ret = setting_apply(&settings[i], cfg, settings[i].info.env, v, err, err_sz);
		if (ret)
			return ret;
	}
	return cadence_config__validate(cfg, err, err_sz);
}

const struct cadence_setting_info *cadence_config__setting(unsigned int idx)
{
	return idx < NR_SETTINGS ? &settings[idx].info : NULL;
}

int cadence__init(struct cadence *c, const struct cadence_config *cfg, uint64_t now_ms)
{
	int ret;

	if (!c)
		return -EINVAL;
	ret = cadence_config__validate(cfg, NULL, 0);
	if (ret)
		return ret;
	memset(c, 0, sizeof(*c));
	resolve(cfg, &c->cfg);
	c->mode = CADENCE_NORMAL;
	c->last_drain_ms = now_ms;
	c->target = c->cfg.min_batch;
	return 0;
}

static bool is_high(const struct cadence_config *cfg, uint64_t pending, double fill)
{
	return pending > cfg->high_watermark || fill > cfg->high_fill;
}

static bool is_critical(const struct cadence_config *cfg, uint64_t pending, double fill)
{
	return pending > cfg->critical_watermark || fill > cfg->critical_fill;
}

static bool is_calm(const struct cadence_config *cfg, uint64_t pending, double fill)
{
	return pending < cfg->low_watermark && fill < cfg->low_fill;
}

static unsigned int streak_next(unsigned int streak, bool cond)
{
	if (!cond)
		return 0;
	return streak == ~0U ? streak : streak + 1;
}

static void update_rate(struct cadence *c, const struct cadence_obs *obs)
{
	uint64_t dt;
	double sample;

	if (!c->have_obs) {
		c->have_obs = true;
		c->obs_ms = obs->now_ms;
		c->obs_events = obs->events;
		return;
	}
	if (obs->events < c->obs_events) {
		/* reset: the counter restarted from zero since the anchor */
		c->counter_resets++;
		c->obs_events = 0;
	}
	dt = obs->now_ms - c->obs_ms;
	if (!dt)
		return;		/* keep the anchor: these events join the next sample */
	sample = (double)(obs->events - c->obs_events) * 1000.0 / (double)dt;
	if (c->have_rate)
		c->rate = c->cfg.ewma_alpha * sample + (1.0 - c->cfg.ewma_alpha) * c->rate;
	else
		c->rate = sample;
	c->have_rate = true;
	c->obs_ms = obs->now_ms;
	c->obs_events = obs->events;
}

static uint64_t target_for(const struct cadence *c)
{
	const struct cadence_config *cfg = &c->cfg;
	double x;

	if (!c->have_rate)
		return cfg->min_batch;
	x = c->rate * (double)cfg->target_interval_ms / 1000.0;
	if (!(x > (double)cfg->min_batch))
		return cfg->min_batch;
	if (x >= (double)cfg->max_batch)
		return cfg->max_batch;
	return (uint64_t)llround(x);
}

static void enter_aggressive(struct cadence *c)
{
	c->mode = CADENCE_AGGRESSIVE;
	c->backpressure_events++;
	c->calm_streak = 0;
}

int cadence__observe(struct cadence *c, const struct cadence_obs *obs)
{
	if (!c || !obs || !(obs->max_fill >= 0))
		return -EINVAL;
	if (c->have_obs && obs->now_ms < c->obs_ms)
		return -EINVAL;
	update_rate(c, obs);
	c->target = target_for(c);
	c->pending = obs->pending;
	c->max_fill = obs->max_fill;
	if (!c->cycle_observed || obs->pending > c->peak_pending)
		c->peak_pending = obs->pending;
	if (!c->cycle_observed || obs->max_fill > c->peak_fill)
		c->peak_fill = obs->max_fill;
	c->cycle_observed = true;
	if (c->mode == CADENCE_NORMAL && is_high(&c->cfg, obs->pending, obs->max_fill))
		enter_aggressive(c);
	return 0;
}

static uint64_t interval_of(const struct cadence *c)
{
	if (c->mode == CADENCE_AGGRESSIVE)
		return c->cfg.aggressive_interval_ms;
	return c->cfg.max_interval_ms;
}

int cadence__decide(const struct cadence *c, uint64_t now_ms, struct cadence_decision *d)
{
	uint64_t interval, elapsed;

	if (!c || !d)
		return -EINVAL;
	interval = interval_of(c);
	elapsed = now_ms > c->last_drain_ms ? now_ms - c->last_drain_ms : 0;
	memset(d, 0, sizeof(*d));
	if (c->pending >= c->target)
		d->reason |= CADENCE_DRAIN_TARGET;
	if (elapsed >= interval)
		d->reason |= CADENCE_DRAIN_INTERVAL;
	d->drain = d->reason != 0;
	d->deadline_ms = d->drain ? now_ms + interval : c->last_drain_ms + interval;
	d->timeout_ms = d->deadline_ms - now_ms;
	d->target = c->target;
	d->shedding = c->shedding;
	d->mode = c->mode;
	return 0;
}

/* Judge one drain cycle by the backlog it faced. */
static void judge_cycle(struct cadence *c, uint64_t pending, double fill)
{
	const struct cadence_config *cfg = &c->cfg;
	bool high = is_high(cfg, pending, fill);

	if (high && c->mode == CADENCE_NORMAL)
		enter_aggressive(c);
	c->critical_streak = streak_next(c->critical_streak, is_critical(cfg, pending, fill));
	if (c->shedding) {
		c->unshed_streak = streak_next(c->unshed_streak, !high);
		if (c->unshed_streak >= cfg->calm_cycles) {
			c->shedding = false;
			c->unshed_streak = 0;
		}
	} else if (c->critical_streak >= cfg->critical_cycles) {
		c->shedding = true;
		c->shedding_episodes++;
		c->unshed_streak = 0;
	}
	if (c->mode != CADENCE_AGGRESSIVE)
		return;
	c->calm_streak = streak_next(c->calm_streak, is_calm(cfg, pending, fill));
	if (!c->shedding && c->calm_streak >= cfg->calm_cycles) {
		c->mode = CADENCE_NORMAL;
		c->calm_streak = 0;
	}
}

int cadence__drained(struct cadence *c, uint64_t now_ms, uint64_t increments)
{
	if (!c || now_ms < c->last_drain_ms)
		return -EINVAL;
	c->last_drain_ms = now_ms;
	c->drain_cycles++;
	c->last_increments = increments;
	if (c->cycle_observed)
		judge_cycle(c, c->peak_pending, c->peak_fill);
	c->cycle_observed = false;
	c->peak_pending = 0;
	c->peak_fill = 0;
	c->pending = 0;		/* the drain took them; the next observation tells */
	return 0;
}

enum cadence_mode cadence__mode(const struct cadence *c)
{
	return c->mode;
}

bool cadence__shedding(const struct cadence *c)
{
	return c->shedding;
}

uint64_t cadence__target(const struct cadence *c)
{
	return c->target;
}

double cadence__rate(const struct cadence *c)
{
	return c->rate;
}

uint64_t cadence__backpressure_events(const struct cadence *c)
{
	return c->backpressure_events;
}

const struct cadence_config *cadence__config(const struct cadence *c)
{
	return &c->cfg;
}

void cadence__stats(const struct cadence *c, struct cadence_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->mode = c->mode;
	st->shedding = c->shedding;
	st->have_rate = c->have_rate;
	st->rate = c->rate;
	st->target = c->target;
	st->interval_ms = interval_of(c);
	st->pending = c->pending;
	st->max_fill = c->max_fill;
	st->backpressure_events = c->backpressure_events;
	st->shedding_episodes = c->shedding_episodes;
	st->drain_cycles = c->drain_cycles;
	st->last_increments = c->last_increments;
	st->critical_streak = c->critical_streak;
	st->calm_streak = c->calm_streak;
	st->unshed_streak = c->unshed_streak;
	st->counter_resets = c->counter_resets;
}

const char *cadence_mode__str(enum cadence_mode mode)
{
	return mode == CADENCE_AGGRESSIVE ? "aggressive" : "normal";
}
