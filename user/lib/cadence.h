/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cadence: when the agent drains the kernel's aggregate maps.
 *
 * Pure: no BPF, no clocks, no global state. The caller passes every
 * timestamp (milliseconds on one monotonic clock) and the kernel's counters.
 *
 * One agent loop iteration:
 *
 *	cadence__observe(c, &obs);		// events, pending, fill, now
 *	cadence__decide(c, now, &d);		// drain now? next deadline, target
 *	publish d.target and d.shedding to the kernel's config map
 *	if (d.drain) { drain(); cadence__drained(c, now_after, n); }
 *	poll(ringbuf, d.timeout_ms)		// the kernel wakes us at d.target
 *
 * Rate:  an EWMA (weight ewma_alpha per observation) of the events/second
 *        between successive observations of the kernel's cumulative counter.
 * Target batch: clamp(round(rate * target_interval), min_batch, max_batch).
 * Drain: when pending >= target, or when max_interval (aggressive_interval
 *        in aggressive mode) has elapsed since the last drain.
 * Backpressure: pending > high_watermark or fill > high_fill enters the
 *        aggressive mode at once and counts one backpressure event per
 *        episode. critical_cycles consecutive drain cycles at critical
 *        (pending > critical_watermark or fill > critical_fill) turn
 *        shedding on. Shedding stops after calm_cycles consecutive cycles
 *        below the high watermark; the aggressive mode ends after calm_cycles
 *        consecutive cycles below the low watermark (pending < low_watermark
 *        and fill < low_fill) once shedding is off.
 * A drain cycle is judged by the highest pending count and fill observed
 * since the previous drain (the backlog that drain faced). See
 * docs/BATCHING.md.
 */
#ifndef EMITD_CADENCE_H
#define EMITD_CADENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CADENCE_DEF_MAX_INTERVAL_MS	500
#define CADENCE_DEF_TARGET_INTERVAL_MS	200
#define CADENCE_DEF_MIN_BATCH		50
#define CADENCE_DEF_MAX_BATCH		5000
#define CADENCE_DEF_EWMA_ALPHA		0.3
#define CADENCE_DEF_HIGH_WATERMARK	20000
#define CADENCE_DEF_CRITICAL_WATERMARK	40000
#define CADENCE_DEF_HIGH_FILL		0.80
#define CADENCE_DEF_CRITICAL_FILL	0.95
#define CADENCE_DEF_CRITICAL_CYCLES	3
#define CADENCE_DEF_CALM_CYCLES		2
/* Derived defaults (a config value of 0 selects them). */
#define CADENCE_AGGRESSIVE_DIVISOR	4	/* max_interval / 4 ... */
#define CADENCE_AGGRESSIVE_MIN_MS	10	/* ... at least 10 ms, at most max_interval */
#define CADENCE_LOW_DIVISOR		2	/* low watermark and low fill: half of high */

/* An error message written by the config functions fits in this many bytes. */
#define CADENCE_ERR_LEN			160

struct cadence_config {
	uint64_t max_interval_ms;	/* fallback drain interval */
	uint64_t target_interval_ms;	/* the drain period the target batch aims at */
	uint64_t aggressive_interval_ms; /* 0: max_interval / 4, at least 10 ms */
	uint64_t min_batch;
	uint64_t max_batch;
	double ewma_alpha;		/* weight of the newest rate sample, (0, 1] */
	uint64_t high_watermark;	/* pending events */
	uint64_t critical_watermark;
	uint64_t low_watermark;		/* 0: high_watermark / 2 */
	double high_fill;		/* map fill ratios, (0, 1] */
	double critical_fill;
	double low_fill;		/* 0: high_fill / 2 */
	unsigned int critical_cycles;	/* drain cycles at critical before shedding */
	unsigned int calm_cycles;	/* drain cycles of calm before stepping down */
};

/*
 * Looks a setting up by name (an environment variable name); returns its
 * value or NULL when it is not set. The agent passes a wrapper around
 * getenv(3); tests pass a table.
 */
typedef const char *(*cadence_lookup_fn)(const char *name, void *ctx);

/* The defaults above; derived settings are left 0 (automatic). */
void cadence_config__init(struct cadence_config *cfg);

/*
 * Cross-field checks on @cfg with its derived settings resolved: intervals
 * > 0, target_interval <= max_interval, aggressive_interval <= max_interval,
 * 1 <= min_batch <= max_batch <= high_watermark, low <= high <= critical
 * for watermarks and for fill ratios, ratios in (0, 1], cycles >= 1.
 * Returns 0 or -EINVAL with a message naming the settings in @err (may be
 * NULL).
 */
int cadence_config__validate(const struct cadence_config *cfg, char *err, size_t err_sz);

/*
 * Set one setting from its text: @name is the environment variable
 * (EMITD_DRAIN_MIN_BATCH) or the flag without dashes (drain-min-batch).
 * Integers are plain decimal (no sign, no spaces, no suffix); ratios are
 * decimal fractions. Returns 0, -ENOENT for an unknown name, or -EINVAL with
 * "NAME: 'value' ..." in @err. No cross-field check: validate afterwards.
 */
int cadence_config__set(struct cadence_config *cfg, const char *name, const char *value,
			char *err, size_t err_sz);

/*
 * Apply every EMITD_DRAIN_* variable that @lookup knows, then validate.
 * Returns 0 or -EINVAL naming the variable and its bad value in @err; @cfg
 * may be partly updated on error.
 */
int cadence_config__from_env(struct cadence_config *cfg, cadence_lookup_fn lookup, void *ctx,
			     char *err, size_t err_sz);

/*
 * The settings, for the agent's flag table and --help: NULL past the last
 * one. @def is the text of what cadence_config__init() sets.
 */
struct cadence_setting_info {
	const char *env;		/* EMITD_DRAIN_MAX_INTERVAL_MS */
	const char *flag;		/* drain-max-interval-ms */
	const char *arg;		/* the value's name in --help: MS, N, RATIO */
	const char *def;		/* "500" */
	const char *help;
};
const struct cadence_setting_info *cadence_config__setting(unsigned int idx);

enum cadence_mode {
	CADENCE_NORMAL = 0,
	CADENCE_AGGRESSIVE,
};

/* Why cadence__decide() says drain (bits). */
#define CADENCE_DRAIN_TARGET	(1U << 0)	/* pending >= target */
#define CADENCE_DRAIN_INTERVAL	(1U << 1)	/* the interval has elapsed */

/* One look at the kernel's counters. */
struct cadence_obs {
	uint64_t now_ms;
	uint64_t events;	/* cumulative events counted by the kernel, all CPUs */
	uint64_t pending;	/* events not drained yet, all CPUs */
	double max_fill;	/* highest fill ratio of the drained maps, >= 0 */
};

struct cadence_decision {
	bool drain;
	unsigned int reason;	/* CADENCE_DRAIN_* bits, 0 when !drain */
	uint64_t deadline_ms;	/* wake up by then (the fallback timer) */
	uint64_t timeout_ms;	/* deadline_ms - now: the poll timeout */
	uint64_t target;	/* publish: the kernel wakes the agent at this pending count */
	bool shedding;		/* publish: the kernel sheds the lowest-priority work */
	enum cadence_mode mode;
};

/* Everything the self-metrics show. */
struct cadence_stats {
	enum cadence_mode mode;
	bool shedding;
	bool have_rate;			/* two observations, time apart, seen */
	double rate;			/* EWMA of events per second */
	uint64_t target;		/* emitd_drain_adaptive_target */
	uint64_t interval_ms;		/* the fallback interval in force */
	uint64_t pending;		/* emitd_drain_pending (last observation) */
	double max_fill;		/* last observation */
	uint64_t backpressure_events;	/* emitd_drain_backpressure_events_total */
	uint64_t shedding_episodes;	/* times shedding was switched on */
	uint64_t drain_cycles;
	uint64_t last_increments;	/* emitd_drain_increments */
	unsigned int critical_streak;	/* consecutive cycles at critical */
	unsigned int calm_streak;	/* consecutive cycles below the low watermark */
	unsigned int unshed_streak;	/* consecutive cycles below high while shedding */
	uint64_t counter_resets;	/* the events counter went backwards */
};

/*
 * The state. Embed it; its fields are private to cadence.c, read them
 * through the getters or cadence__stats().
 */
struct cadence {
	struct cadence_config cfg;	/* resolved: no automatic (0) settings left */
	bool have_obs;
	bool have_rate;
	bool cycle_observed;
	enum cadence_mode mode;
	bool shedding;
	uint64_t obs_ms;		/* rate anchor: time and counter */
	uint64_t obs_events;
	uint64_t last_drain_ms;
	double rate;
	uint64_t target;
	uint64_t pending;
	double max_fill;
	uint64_t peak_pending;		/* highest since the last drain */
	double peak_fill;
	uint64_t backpressure_events;
	uint64_t shedding_episodes;
	uint64_t drain_cycles;
	uint64_t last_increments;
	unsigned int critical_streak;
	unsigned int calm_streak;
	unsigned int unshed_streak;
	uint64_t counter_resets;
};

/*
 * Validate @cfg and start at @now_ms, which counts as the last drain (the
 * first fallback drain comes max_interval later). The target starts at
 * min_batch. Returns 0 or -EINVAL (see cadence_config__validate()).
 */
int cadence__init(struct cadence *c, const struct cadence_config *cfg, uint64_t now_ms);

/*
 * Feed one observation: updates the rate and target, and enters the
 * aggressive mode when the high watermark is crossed. The first observation
 * only anchors the rate; one at the same time as the previous anchor carries
 * its events over to the next; a counter that went backwards was reset and
 * counts from zero (as Prometheus rate() does). -EINVAL when time goes
 * backwards or max_fill is negative or NaN (state unchanged).
 */
int cadence__observe(struct cadence *c, const struct cadence_obs *obs);

/* Decide for @now_ms from the last observation. -EINVAL on NULL. */
int cadence__decide(const struct cadence *c, uint64_t now_ms, struct cadence_decision *d);

/*
 * A drain cycle ended at @now_ms having moved @increments events: restarts
 * the interval and judges the cycle, by the highest pending count and fill
 * observed since the previous drain, for the critical streak, shedding and
 * hysteresis. A cycle with no observation is not judged (streaks unchanged).
 * The pending count reads 0 until the next observation. -EINVAL when
 * @now_ms is before the previous drain.
 */
int cadence__drained(struct cadence *c, uint64_t now_ms, uint64_t increments);

enum cadence_mode cadence__mode(const struct cadence *c);
bool cadence__shedding(const struct cadence *c);
uint64_t cadence__target(const struct cadence *c);
double cadence__rate(const struct cadence *c);
uint64_t cadence__backpressure_events(const struct cadence *c);
const struct cadence_config *cadence__config(const struct cadence *c);
void cadence__stats(const struct cadence *c, struct cadence_stats *st);
const char *cadence_mode__str(enum cadence_mode mode);

#endif /* EMITD_CADENCE_H */
