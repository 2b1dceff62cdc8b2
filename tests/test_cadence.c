// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cadence: rate and target math (steps, clamps, first observation, zero
 * elapsed time, counter resets), the max-interval guard, aggressive mode
 * with hysteresis, shedding after N critical cycles, backpressure counted
 * once per episode, and the EMITD_DRAIN_* configuration. The environment is
 * a table behind the lookup callback; the real one is never touched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <string.h>

#include "lib/cadence.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---------------------------------------------------------- */

struct env_var {
	const char *name;
	const char *value;
};

struct env {
	const struct env_var *vars;
	size_t n;
};

static const char *env_lookup(const char *name, void *ctx)
{
	const struct env *env = ctx;
	size_t i;

	for (i = 0; i < env->n; i++)
		if (!strcmp(env->vars[i].name, name))
			return env->vars[i].value;
	return NULL;
}

static void init_default(struct cadence *c, uint64_t now_ms)
{
	struct cadence_config cfg;

	cadence_config__init(&cfg);
	assert_int_equal(cadence__init(c, &cfg, now_ms), 0);
}

static void observe(struct cadence *c, uint64_t now_ms, uint64_t events, uint64_t pending,
		    double fill)
{
	struct cadence_obs o = {
		.now_ms = now_ms, .events = events, .pending = pending, .max_fill = fill,
	};

	assert_int_equal(cadence__observe(c, &o), 0);
}

/* A steady rate: observations every @step_ms with @per_step new events. */
struct feed {
	uint64_t now_ms;
	uint64_t events;
};

static void feed_rate(struct cadence *c, struct feed *f, double rate, uint64_t step_ms)
{
	f->now_ms += step_ms;
	f->events += (uint64_t)(rate * (double)step_ms / 1000.0);
	observe(c, f->now_ms, f->events, 0, 0);
}

/* One drain cycle: an observation of the backlog, then the drain. */
static void cycle(struct cadence *c, uint64_t *now_ms, uint64_t pending, double fill)
{
	*now_ms += 10;
	observe(c, *now_ms, 0, pending, fill);
	*now_ms += 1;
	assert_int_equal(cadence__drained(c, *now_ms, pending), 0);
}

static struct cadence_stats stats(const struct cadence *c)
{
	struct cadence_stats st;

	cadence__stats(c, &st);
	return st;
}

static struct cadence_decision decide(const struct cadence *c, uint64_t now_ms)
{
	struct cadence_decision d;

	assert_int_equal(cadence__decide(c, now_ms, &d), 0);
	return d;
}

/* ---- configuration ---------------------------------------------------- */

static void test_config_defaults(void **state)
{
	const struct cadence_config *r;
	struct cadence_config cfg;
	struct cadence c;
	char err[CADENCE_ERR_LEN];

	(void)state;
	cadence_config__init(&cfg);
	assert_int_equal(cfg.max_interval_ms, 500);
	assert_int_equal(cfg.target_interval_ms, 200);
	assert_int_equal(cfg.min_batch, 50);
	assert_int_equal(cfg.max_batch, 5000);
	assert_float_equal(cfg.ewma_alpha, 0.3, 0);
	assert_int_equal(cfg.high_watermark, 20000);
	assert_int_equal(cfg.critical_watermark, 40000);
	assert_float_equal(cfg.high_fill, 0.80, 0);
	assert_float_equal(cfg.critical_fill, 0.95, 0);
	assert_int_equal(cfg.critical_cycles, 3);
	assert_int_equal(cfg.calm_cycles, 2);
	assert_int_equal(cadence_config__validate(&cfg, err, sizeof(err)), 0);

	/* derived settings, resolved by init */
	assert_int_equal(cadence__init(&c, &cfg, 0), 0);
	r = cadence__config(&c);
	assert_int_equal(r->aggressive_interval_ms, 125);
	assert_int_equal(r->low_watermark, 10000);
	assert_float_equal(r->low_fill, 0.40, 0);
	assert_int_equal(cadence__target(&c), 50);
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
	assert_false(cadence__shedding(&c));
	assert_string_equal(cadence_mode__str(CADENCE_NORMAL), "normal");
	assert_string_equal(cadence_mode__str(CADENCE_AGGRESSIVE), "aggressive");
}

static void test_env_valid(void **state)
{
	const struct env_var vars[] = {
		{ "EMITD_DRAIN_MAX_INTERVAL_MS", "1000" },
		{ "EMITD_DRAIN_TARGET_INTERVAL_MS", "250" },
		{ "EMITD_DRAIN_MIN_BATCH", "010" },	/* decimal, not octal */
		{ "EMITD_DRAIN_MAX_BATCH", "8000" },
		{ "EMITD_DRAIN_HIGH_WATERMARK", "30000" },
		{ "EMITD_DRAIN_CRITICAL_WATERMARK", "60000" },
		{ "EMITD_DRAIN_LOW_WATERMARK", "5000" },
		{ "EMITD_DRAIN_EWMA_ALPHA", "0.5" },
		{ "EMITD_DRAIN_HIGH_FILL", ".85" },
		{ "EMITD_DRAIN_CRITICAL_FILL", "1" },
		{ "EMITD_DRAIN_CRITICAL_CYCLES", "5" },
		{ "EMITD_DRAIN_CALM_CYCLES", "4" },
		{ "EMITD_DRAIN_AGGRESSIVE_INTERVAL_MS", "100" },
		{ "UNRELATED", "x" },
	};
	struct env env = { vars, ARRAY_SIZE(vars) };
	struct cadence_config cfg;
	char err[CADENCE_ERR_LEN] = "";

	(void)state;
	cadence_config__init(&cfg);
	assert_int_equal(cadence_config__from_env(&cfg, env_lookup, &env, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.max_interval_ms, 1000);
	assert_int_equal(cfg.target_interval_ms, 250);
	assert_int_equal(cfg.min_batch, 10);
	assert_int_equal(cfg.max_batch, 8000);
	assert_int_equal(cfg.high_watermark, 30000);
	assert_int_equal(cfg.critical_watermark, 60000);
	assert_int_equal(cfg.low_watermark, 5000);
	assert_float_equal(cfg.ewma_alpha, 0.5, 0);
	assert_float_equal(cfg.high_fill, 0.85, 0);
	assert_float_equal(cfg.critical_fill, 1.0, 0);
	assert_int_equal(cfg.critical_cycles, 5);
	assert_int_equal(cfg.calm_cycles, 4);
	assert_int_equal(cfg.aggressive_interval_ms, 100);
}

static void test_env_unset_keeps_defaults(void **state)
{
	struct env env = { NULL, 0 };
	struct cadence_config cfg, def;
	char err[CADENCE_ERR_LEN];

	(void)state;
	cadence_config__init(&cfg);
	cadence_config__init(&def);
	assert_int_equal(cadence_config__from_env(&cfg, env_lookup, &env, err, sizeof(err)), 0);
	assert_memory_equal(&cfg, &def, sizeof(cfg));
	assert_int_equal(cadence_config__from_env(&cfg, NULL, NULL, err, sizeof(err)), -EINVAL);
}

struct bad_case {
	const char *name;
	const char *value;
	const char *want;	/* substring of the message */
};

static void check_bad(const struct bad_case *bc)
{
	const struct env_var var = { bc->name, bc->value };
	struct env env = { &var, 1 };
	struct cadence_config cfg;
	char err[CADENCE_ERR_LEN] = "";

	cadence_config__init(&cfg);
	if (cadence_config__from_env(&cfg, env_lookup, &env, err, sizeof(err)) != -EINVAL)
		fail_msg("%s=%s accepted", bc->name, bc->value);
	if (!strstr(err, bc->name) || !strstr(err, bc->want))
		fail_msg("%s=%s: message \"%s\" lacks \"%s\"", bc->name, bc->value, err, bc->want);
}

static void test_env_invalid_syntax(void **state)
{
	const struct bad_case cases[] = {
		{ "EMITD_DRAIN_MIN_BATCH", "abc", "'abc' is not a decimal integer" },
		{ "EMITD_DRAIN_MIN_BATCH", "", "empty value" },
		{ "EMITD_DRAIN_MIN_BATCH", "-5", "'-5' is not a decimal integer" },
		{ "EMITD_DRAIN_MIN_BATCH", "+5", "'+5' is not" },
		{ "EMITD_DRAIN_MIN_BATCH", " 5", "' 5' is not" },
		{ "EMITD_DRAIN_MIN_BATCH", "5 ", "'5 ' is not" },
		{ "EMITD_DRAIN_MAX_INTERVAL_MS", "5ms", "'5ms' is not" },
		{ "EMITD_DRAIN_MAX_BATCH", "0x10", "'0x10' is not" },
		{ "EMITD_DRAIN_MAX_BATCH", "1e3", "'1e3' is not" },
		{ "EMITD_DRAIN_TARGET_INTERVAL_MS", "1.5", "'1.5' is not" },
		{ "EMITD_DRAIN_EWMA_ALPHA", "nan", "'nan' is not a decimal fraction" },
		{ "EMITD_DRAIN_HIGH_FILL", "0.9.1", "'0.9.1' is not" },
		{ "EMITD_DRAIN_HIGH_FILL", ".", "'.' is not" },
		{ "EMITD_DRAIN_HIGH_FILL", "-0.5", "'-0.5' is not" },
		{ "EMITD_DRAIN_HIGH_FILL", "1e-1", "'1e-1' is not" },
		{ "EMITD_DRAIN_CRITICAL_FILL", "", "empty value" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		check_bad(&cases[i]);
}

static void test_env_out_of_range(void **state)
{
	const struct bad_case cases[] = {
		{ "EMITD_DRAIN_MIN_BATCH", "0", "0 is out of range [1, 100000000]" },
		{ "EMITD_DRAIN_MAX_BATCH", "100000001", "out of range" },
		{ "EMITD_DRAIN_MAX_INTERVAL_MS", "3600001",
		  "3600001 is out of range [1, 3600000]" },
		{ "EMITD_DRAIN_MAX_INTERVAL_MS", "99999999999999999999999", "out of range" },
		{ "EMITD_DRAIN_TARGET_INTERVAL_MS", "0", "out of range" },
		{ "EMITD_DRAIN_HIGH_WATERMARK", "0", "out of range" },
		{ "EMITD_DRAIN_CRITICAL_CYCLES", "0", "out of range [1, 1000]" },
		{ "EMITD_DRAIN_CALM_CYCLES", "1001", "out of range [1, 1000]" },
		{ "EMITD_DRAIN_EWMA_ALPHA", "0", "0 is out of range (0, 1]" },
		{ "EMITD_DRAIN_EWMA_ALPHA", "1.01", "out of range (0, 1]" },
		{ "EMITD_DRAIN_HIGH_FILL", "1.5", "1.5 is out of range (0, 1]" },
		{ "EMITD_DRAIN_LOW_FILL", "2", "(or 0: automatic)" },
		{ "EMITD_DRAIN_AGGRESSIVE_INTERVAL_MS", "3600001", "(or 0: automatic)" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		check_bad(&cases[i]);
}

/* Each value is fine alone; together with the defaults they are not. */
static void test_env_cross_field(void **state)
{
	const struct bad_case cases[] = {
		{ "EMITD_DRAIN_MIN_BATCH", "6000",
		  "EMITD_DRAIN_MIN_BATCH=6000 exceeds EMITD_DRAIN_MAX_BATCH=5000" },
		{ "EMITD_DRAIN_TARGET_INTERVAL_MS", "600",
		  "EMITD_DRAIN_TARGET_INTERVAL_MS=600 exceeds EMITD_DRAIN_MAX_INTERVAL_MS=500" },
		{ "EMITD_DRAIN_MAX_INTERVAL_MS", "100",
		  "EMITD_DRAIN_TARGET_INTERVAL_MS=200 exceeds EMITD_DRAIN_MAX_INTERVAL_MS=100" },
		{ "EMITD_DRAIN_AGGRESSIVE_INTERVAL_MS", "501",
		  "EMITD_DRAIN_AGGRESSIVE_INTERVAL_MS=501 exceeds "
		  "EMITD_DRAIN_MAX_INTERVAL_MS=500" },
		{ "EMITD_DRAIN_HIGH_WATERMARK", "50000",
		  "EMITD_DRAIN_HIGH_WATERMARK=50000 exceeds EMITD_DRAIN_CRITICAL_WATERMARK=40000" },
		{ "EMITD_DRAIN_LOW_WATERMARK", "20001",
		  "EMITD_DRAIN_LOW_WATERMARK=20001 exceeds EMITD_DRAIN_HIGH_WATERMARK=20000" },
		{ "EMITD_DRAIN_MAX_BATCH", "30000",
		  "EMITD_DRAIN_MAX_BATCH=30000 exceeds EMITD_DRAIN_HIGH_WATERMARK=20000" },
		{ "EMITD_DRAIN_HIGH_FILL", "0.99",
		  "EMITD_DRAIN_HIGH_FILL=0.99 exceeds EMITD_DRAIN_CRITICAL_FILL=0.95" },
		{ "EMITD_DRAIN_LOW_FILL", "0.9",
		  "EMITD_DRAIN_LOW_FILL=0.9 exceeds EMITD_DRAIN_HIGH_FILL=0.8" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		check_bad(&cases[i]);
}

/* 0 selects the derived value; the aggressive interval stays in [10, max]. */
static void test_env_automatic_values(void **state)
{
	const struct env_var a[] = {
		{ "EMITD_DRAIN_AGGRESSIVE_INTERVAL_MS", "0" },
		{ "EMITD_DRAIN_LOW_FILL", "0" },
		{ "EMITD_DRAIN_LOW_WATERMARK", "0" },
		{ "EMITD_DRAIN_MAX_INTERVAL_MS", "20" },
		{ "EMITD_DRAIN_TARGET_INTERVAL_MS", "20" },
	};
	const struct env_var b[] = {
		{ "EMITD_DRAIN_MAX_INTERVAL_MS", "8" },
		{ "EMITD_DRAIN_TARGET_INTERVAL_MS", "5" },
	};
	struct env env_a = { a, ARRAY_SIZE(a) }, env_b = { b, ARRAY_SIZE(b) };
	struct cadence_config cfg;
	struct cadence c;
	char err[CADENCE_ERR_LEN];

	(void)state;
	cadence_config__init(&cfg);
	assert_int_equal(cadence_config__from_env(&cfg, env_lookup, &env_a, err, sizeof(err)), 0);
	assert_int_equal(cadence__init(&c, &cfg, 0), 0);
	assert_int_equal(cadence__config(&c)->aggressive_interval_ms, 10);	/* 20/4 -> 10 */
	assert_int_equal(cadence__config(&c)->low_watermark, 10000);
	assert_float_equal(cadence__config(&c)->low_fill, 0.4, 0);

	cadence_config__init(&cfg);
	assert_int_equal(cadence_config__from_env(&cfg, env_lookup, &env_b, err, sizeof(err)), 0);
	assert_int_equal(cadence__init(&c, &cfg, 0), 0);
	assert_int_equal(cadence__config(&c)->aggressive_interval_ms, 8);	/* capped at max */
}

static void test_config_set_by_flag_name(void **state)
{
	struct cadence_config cfg;
	char err[CADENCE_ERR_LEN];

	(void)state;
	cadence_config__init(&cfg);
	assert_int_equal(cadence_config__set(&cfg, "drain-max-batch", "7000", err, sizeof(err)), 0);
	assert_int_equal(cfg.max_batch, 7000);
	assert_int_equal(cadence_config__set(&cfg, "EMITD_DRAIN_MIN_BATCH", "60", err, sizeof(err)),
			 0);
	assert_int_equal(cfg.min_batch, 60);
	assert_int_equal(cadence_config__set(&cfg, "drain-high-fill", "0.7", err, sizeof(err)), 0);
	assert_float_equal(cfg.high_fill, 0.7, 0);
	assert_int_equal(cadence_config__set(&cfg, "drain-min-batch", "x", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "drain-min-batch: 'x' is not a decimal integer");
	assert_int_equal(cadence_config__set(&cfg, "drain-bogus", "1", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "drain-bogus: unknown drain setting");
	assert_int_equal(cfg.min_batch, 60);		/* failures change nothing */
	/* a NULL message buffer is allowed */
	assert_int_equal(cadence_config__set(&cfg, "drain-min-batch", "", NULL, 0), -EINVAL);
}

static void test_settings_table(void **state)
{
	const char *required[] = {
		"EMITD_DRAIN_MAX_INTERVAL_MS", "EMITD_DRAIN_TARGET_INTERVAL_MS",
		"EMITD_DRAIN_MIN_BATCH", "EMITD_DRAIN_MAX_BATCH",
	};
	const struct cadence_setting_info *s;
	unsigned int i, n, found = 0;
	size_t k;

	(void)state;
	for (n = 0; (s = cadence_config__setting(n)); n++) {
		assert_memory_equal(s->env, "EMITD_DRAIN_", 12);
		assert_memory_equal(s->flag, "drain-", 6);
		assert_non_null(s->help);
		for (k = 0; k < ARRAY_SIZE(required); k++)
			found += !strcmp(s->env, required[k]);
		for (i = 0; i < n; i++)
			assert_string_not_equal(cadence_config__setting(i)->env, s->env);
	}
	assert_int_equal(n, 14);
	assert_int_equal(found, ARRAY_SIZE(required));
}

static void test_validate_and_init_reject(void **state)
{
	struct cadence_config cfg;
	struct cadence c;
	char err[CADENCE_ERR_LEN];

	(void)state;
	cadence_config__init(&cfg);
	cfg.critical_cycles = 0;
	assert_int_equal(cadence_config__validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "EMITD_DRAIN_CRITICAL_CYCLES must be > 0");
	assert_int_equal(cadence__init(&c, &cfg, 0), -EINVAL);

	cadence_config__init(&cfg);
	cfg.ewma_alpha = NAN;
	assert_int_equal(cadence_config__validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "EMITD_DRAIN_EWMA_ALPHA"));

	cadence_config__init(&cfg);
	cfg.max_interval_ms = 0;
	assert_int_equal(cadence_config__validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "EMITD_DRAIN_MAX_INTERVAL_MS must be > 0");
	assert_int_equal(cadence_config__validate(NULL, NULL, 0), -EINVAL);
}

/* ---- rate and target -------------------------------------------------- */

static void test_first_observation_anchors(void **state)
{
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	observe(&c, 0, 123456, 0, 0);		/* only anchors: no rate yet */
	assert_false(stats(&c).have_rate);
	assert_int_equal(cadence__target(&c), 50);
	observe(&c, 1000, 123456 + 10000, 0, 0);	/* 10000 events in 1 s */
	assert_true(stats(&c).have_rate);
	assert_float_equal(cadence__rate(&c), 10000, 1e-9);	/* first sample, unsmoothed */
	assert_int_equal(cadence__target(&c), 2000);	/* 10000/s * 200 ms */
}

/* 5000/s -> 20000/s -> 1000/s: the target follows the EWMA monotonically. */
static void test_rate_steps(void **state)
{
	struct feed f = { 0, 0 };
	struct cadence c;
	uint64_t prev;
	int i;

	(void)state;
	init_default(&c, 0);
	observe(&c, 0, 0, 0, 0);
	for (i = 0; i < 20; i++)
		feed_rate(&c, &f, 5000, 100);
	assert_float_equal(cadence__rate(&c), 5000, 1e-6);
	assert_int_equal(cadence__target(&c), 1000);

	/* step up: 0.3 * 20000 + 0.7 * 5000 = 9500/s -> 1900 */
	feed_rate(&c, &f, 20000, 100);
	assert_float_equal(cadence__rate(&c), 9500, 1e-6);
	assert_int_equal(cadence__target(&c), 1900);
	prev = cadence__target(&c);
	for (i = 0; i < 40; i++) {
		feed_rate(&c, &f, 20000, 100);
		assert_true(cadence__target(&c) >= prev);
		prev = cadence__target(&c);
	}
	assert_float_equal(cadence__rate(&c), 20000, 0.1);
	assert_int_equal(cadence__target(&c), 4000);

	/* step down: 0.3 * 1000 + 0.7 * 20000 = 14300/s -> 2860 */
	feed_rate(&c, &f, 1000, 100);
	assert_int_equal(cadence__target(&c), 2860);
	prev = cadence__target(&c);
	for (i = 0; i < 40; i++) {
		feed_rate(&c, &f, 1000, 100);
		assert_true(cadence__target(&c) <= prev);
		prev = cadence__target(&c);
	}
	assert_int_equal(cadence__target(&c), 200);
}

/* Irregular observation spacing does not bias a constant rate. */
static void test_constant_rate_irregular_spacing(void **state)
{
	const uint64_t steps[] = { 7, 130, 45, 500, 1, 260, 90, 333 };
	struct feed f = { 1000, 0 };
	struct cadence c;
	int i;

	(void)state;
	init_default(&c, 1000);
	observe(&c, f.now_ms, 0, 0, 0);
	for (i = 0; i < 64; i++) {
		feed_rate(&c, &f, 12000, steps[i % ARRAY_SIZE(steps)]);
		assert_int_equal(cadence__target(&c), 2400);
	}
}

static void test_target_clamps(void **state)
{
	const struct {
		double rate;
		uint64_t target;
	} cases[] = {
		{ 0, 50 },		/* no events: min_batch */
		{ 100, 50 },		/* 20 -> min */
		{ 250, 50 },		/* exactly min */
		{ 255, 51 },
		{ 24995, 4999 },
		{ 25000, 5000 },	/* exactly max */
		{ 1000000, 5000 },	/* 200000 -> max */
		{ 1e12, 5000 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cadence c;
		struct feed f = { 0, 0 };

		init_default(&c, 0);
		observe(&c, 0, 0, 0, 0);
		feed_rate(&c, &f, cases[i].rate, 1000);
		if (cadence__target(&c) != cases[i].target)
			fail_msg("rate %g: target %llu, want %llu", cases[i].rate,
				 (unsigned long long)cadence__target(&c),
				 (unsigned long long)cases[i].target);
	}
}

/* Zero elapsed time: no rate sample, the events join the next one. */
static void test_zero_elapsed(void **state)
{
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	observe(&c, 0, 0, 0, 0);
	observe(&c, 100, 1000, 0, 0);		/* 10000/s */
	observe(&c, 100, 1500, 0, 0);		/* same ms: carried over */
	assert_float_equal(cadence__rate(&c), 10000, 1e-9);
	observe(&c, 200, 2000, 0, 0);		/* (2000 - 1000) / 100 ms */
	assert_float_equal(cadence__rate(&c), 10000, 1e-9);
	assert_int_equal(cadence__target(&c), 2000);
}

/* A counter that goes backwards restarted from zero (Prometheus rate()). */
static void test_counter_reset(void **state)
{
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	observe(&c, 0, 0, 0, 0);
	observe(&c, 1000, 5000, 0, 0);		/* 5000/s */
	observe(&c, 2000, 1000, 0, 0);		/* reset: 1000 since, not -4000 */
	assert_int_equal(stats(&c).counter_resets, 1);
	assert_float_equal(cadence__rate(&c), 0.3 * 1000 + 0.7 * 5000, 1e-9);
	observe(&c, 3000, 6000, 0, 0);		/* back to normal: 5000/s */
	assert_float_equal(cadence__rate(&c), 0.3 * 5000 + 0.7 * 3800, 1e-9);

	/* a reset at zero elapsed time is carried over like any event */
	observe(&c, 3000, 10, 0, 0);
	observe(&c, 4000, 3810, 0, 0);		/* 3810 since the reset in 1 s */
	assert_int_equal(stats(&c).counter_resets, 2);
	assert_float_equal(cadence__rate(&c), 0.3 * 3810 + 0.7 * 4160, 1e-9);
}

static void test_observe_rejects_bad_input(void **state)
{
	struct cadence_obs bad_fill = { .now_ms = 200, .max_fill = NAN };
	struct cadence_obs neg_fill = { .now_ms = 200, .max_fill = -0.1 };
	struct cadence_obs back = { .now_ms = 99 };
	struct cadence c, before;

	(void)state;
	init_default(&c, 0);
	observe(&c, 100, 0, 0, 0);
	before = c;
	assert_int_equal(cadence__observe(&c, &back), -EINVAL);	/* time went back */
	assert_int_equal(cadence__observe(&c, &bad_fill), -EINVAL);
	assert_int_equal(cadence__observe(&c, &neg_fill), -EINVAL);
	assert_int_equal(cadence__observe(&c, NULL), -EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_int_equal(cadence__drained(&c, 0, 0), 0);
	assert_int_equal(cadence__drained(&c, 0, 0), 0);
	assert_int_equal(cadence__decide(&c, 0, NULL), -EINVAL);
}

/* ---- the decision ----------------------------------------------------- */

static void test_max_interval_guard(void **state)
{
	struct cadence_decision d;
	struct cadence c;

	(void)state;
	init_default(&c, 1000);			/* start counts as a drain */
	observe(&c, 1000, 0, 10, 0);
	d = decide(&c, 1000);
	assert_false(d.drain);
	assert_int_equal(d.reason, 0);
	assert_int_equal(d.deadline_ms, 1500);
	assert_int_equal(d.timeout_ms, 500);
	assert_int_equal(d.target, 50);
	d = decide(&c, 1499);
	assert_false(d.drain);
	assert_int_equal(d.timeout_ms, 1);
	d = decide(&c, 1500);			/* elapsed == max_interval */
	assert_true(d.drain);
	assert_int_equal(d.reason, CADENCE_DRAIN_INTERVAL);
	assert_int_equal(d.deadline_ms, 2000);
	assert_int_equal(d.timeout_ms, 500);
	assert_int_equal(cadence__drained(&c, 1503, 10), 0);
	d = decide(&c, 1600);			/* restarts from the drain's end */
	assert_false(d.drain);
	assert_int_equal(d.deadline_ms, 2003);
	assert_int_equal(d.timeout_ms, 403);
	assert_int_equal(stats(&c).last_increments, 10);
	assert_int_equal(stats(&c).drain_cycles, 1);
	d = decide(&c, 5000);			/* late wake-up: drain at once */
	assert_true(d.drain);
	assert_int_equal(d.reason, CADENCE_DRAIN_INTERVAL);
	assert_int_equal(cadence__drained(&c, 1000, 0), -EINVAL);	/* before the last */
}

static void test_drain_on_target(void **state)
{
	struct cadence_decision d;
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	observe(&c, 0, 0, 0, 0);
	observe(&c, 100, 1000, 1999, 0);		/* 10000/s: target 2000 */
	assert_int_equal(cadence__target(&c), 2000);
	d = decide(&c, 100);
	assert_false(d.drain);
	assert_int_equal(d.target, 2000);
	assert_int_equal(d.deadline_ms, 500);
	observe(&c, 200, 2000, 2000, 0);
	d = decide(&c, 200);
	assert_true(d.drain);
	assert_int_equal(d.reason, CADENCE_DRAIN_TARGET);
	assert_int_equal(d.deadline_ms, 700);		/* now + interval */
	assert_int_equal(cadence__drained(&c, 210, 2000), 0);
	assert_false(decide(&c, 210).drain);		/* pending is 0 until observed */
	assert_int_equal(stats(&c).pending, 0);
	observe(&c, 710, 7000, 2500, 0);
	d = decide(&c, 710);				/* both reasons at once */
	assert_int_equal(d.reason, CADENCE_DRAIN_TARGET | CADENCE_DRAIN_INTERVAL);
}

/* ---- backpressure, shedding, hysteresis ------------------------------- */

static void test_aggressive_entry_and_exit(void **state)
{
	struct cadence_decision d;
	uint64_t t = 0;
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	observe(&c, 100, 0, 20000, 0);			/* at high: not past it */
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
	assert_int_equal(cadence__backpressure_events(&c), 0);
	observe(&c, 200, 0, 20001, 0);			/* past high: at once */
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	assert_int_equal(cadence__backpressure_events(&c), 1);
	assert_int_equal(cadence__drained(&c, 210, 20001), 0);
	d = decide(&c, 300);
	assert_int_equal(d.mode, CADENCE_AGGRESSIVE);
	assert_int_equal(d.deadline_ms, 335);		/* 125 ms interval */
	assert_int_equal(stats(&c).interval_ms, 125);
	assert_true(decide(&c, 335).drain);

	t = 400;
	cycle(&c, &t, 25000, 0);
	cycle(&c, &t, 15000, 0);			/* below high, not below low */
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	assert_int_equal(stats(&c).calm_streak, 0);
	cycle(&c, &t, 9999, 0);				/* calm 1 of 2 */
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	assert_int_equal(stats(&c).calm_streak, 1);
	cycle(&c, &t, 9999, 0);				/* calm 2 of 2: back to normal */
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
	assert_int_equal(stats(&c).interval_ms, 500);
	assert_int_equal(cadence__backpressure_events(&c), 1);

	observe(&c, t + 10, 0, 30000, 0);		/* a new episode */
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	assert_int_equal(cadence__backpressure_events(&c), 2);
}

static void test_hysteresis_needs_consecutive_calm(void **state)
{
	uint64_t t = 0;
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	cycle(&c, &t, 30000, 0);
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	cycle(&c, &t, 100, 0);
	cycle(&c, &t, 12000, 0);			/* breaks the streak */
	cycle(&c, &t, 100, 0);
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	cycle(&c, &t, 100, 0);
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
	assert_int_equal(cadence__backpressure_events(&c), 1);
}

/* The fill ratio has watermarks of its own: 0.80 in, 0.40 out. */
static void test_fill_watermarks(void **state)
{
	uint64_t t = 0;
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	cycle(&c, &t, 0, 0.80);
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
	cycle(&c, &t, 0, 0.81);
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	cycle(&c, &t, 0, 0.5);
	cycle(&c, &t, 0, 0.5);
	cycle(&c, &t, 0, 0.5);				/* pending calm, fill not */
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	cycle(&c, &t, 0, 0.39);
	cycle(&c, &t, 0, 0.39);
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
}

static void test_shedding_after_n_critical_cycles(void **state)
{
	uint64_t t = 0;
	struct cadence c;
	int i;

	(void)state;
	init_default(&c, 0);
	cycle(&c, &t, 40000, 0);			/* at critical: not past it */
	assert_int_equal(stats(&c).critical_streak, 0);
	cycle(&c, &t, 40001, 0);
	cycle(&c, &t, 40001, 0);
	assert_false(cadence__shedding(&c));
	assert_int_equal(stats(&c).critical_streak, 2);
	cycle(&c, &t, 40001, 0);			/* the third: shedding on */
	assert_true(cadence__shedding(&c));
	assert_true(decide(&c, t).shedding);
	assert_int_equal(stats(&c).shedding_episodes, 1);

	/* between high and critical: shedding holds */
	for (i = 0; i < 5; i++)
		cycle(&c, &t, 30000, 0);
	assert_true(cadence__shedding(&c));
	cycle(&c, &t, 15000, 0);			/* below high 1 of 2 */
	assert_true(cadence__shedding(&c));
	cycle(&c, &t, 15000, 0);			/* 2 of 2: shedding off */
	assert_false(cadence__shedding(&c));
	assert_false(decide(&c, t).shedding);
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);	/* 15000 >= low */
	cycle(&c, &t, 100, 0);
	cycle(&c, &t, 100, 0);
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
	assert_int_equal(cadence__backpressure_events(&c), 1);	/* one episode throughout */
	assert_int_equal(stats(&c).shedding_episodes, 1);
}

static void test_critical_streak_must_be_consecutive(void **state)
{
	uint64_t t = 0;
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	cycle(&c, &t, 45000, 0);
	cycle(&c, &t, 45000, 0);
	cycle(&c, &t, 30000, 0);			/* high, not critical: streak resets */
	assert_int_equal(stats(&c).critical_streak, 0);
	cycle(&c, &t, 45000, 0);
	cycle(&c, &t, 45000, 0);
	assert_false(cadence__shedding(&c));
	cycle(&c, &t, 0, 0.96);				/* critical by fill counts too */
	assert_true(cadence__shedding(&c));
}

/* A cycle is judged by its peak, and a cycle with no observation not at all. */
static void test_cycle_judgement(void **state)
{
	uint64_t t = 0;
	struct cadence c;

	(void)state;
	init_default(&c, 0);
	observe(&c, 10, 0, 45000, 0);
	observe(&c, 20, 0, 10, 0);			/* the backlog shrank before the drain */
	assert_int_equal(cadence__drained(&c, 30, 45000), 0);
	assert_int_equal(stats(&c).critical_streak, 1);

	t = 30;
	cycle(&c, &t, 100, 0);				/* calm 1 */
	assert_int_equal(cadence__drained(&c, t + 10, 0), 0);	/* unobserved */
	assert_int_equal(cadence__drained(&c, t + 20, 0), 0);
	assert_int_equal(cadence__mode(&c), CADENCE_AGGRESSIVE);
	assert_int_equal(stats(&c).calm_streak, 1);
	t += 20;
	cycle(&c, &t, 100, 0);				/* calm 2 */
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
	assert_int_equal(stats(&c).drain_cycles, 5);
}

/* Custom cycle counts: shed on the first critical cycle, step down after 3. */
static void test_custom_cycles(void **state)
{
	struct cadence_config cfg;
	uint64_t t = 0;
	struct cadence c;

	(void)state;
	cadence_config__init(&cfg);
	cfg.critical_cycles = 1;
	cfg.calm_cycles = 3;
	assert_int_equal(cadence__init(&c, &cfg, 0), 0);
	cycle(&c, &t, 50000, 0);
	assert_true(cadence__shedding(&c));
	cycle(&c, &t, 0, 0);
	cycle(&c, &t, 0, 0);
	assert_true(cadence__shedding(&c));
	cycle(&c, &t, 0, 0);
	assert_false(cadence__shedding(&c));
	assert_int_equal(cadence__mode(&c), CADENCE_NORMAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_env_valid),
		cmocka_unit_test(test_env_unset_keeps_defaults),
		cmocka_unit_test(test_env_invalid_syntax),
		cmocka_unit_test(test_env_out_of_range),
		cmocka_unit_test(test_env_cross_field),
		cmocka_unit_test(test_env_automatic_values),
		cmocka_unit_test(test_config_set_by_flag_name),
		cmocka_unit_test(test_settings_table),
		cmocka_unit_test(test_validate_and_init_reject),
		cmocka_unit_test(test_first_observation_anchors),
		cmocka_unit_test(test_rate_steps),
		cmocka_unit_test(test_constant_rate_irregular_spacing),
		cmocka_unit_test(test_target_clamps),
		cmocka_unit_test(test_zero_elapsed),
		cmocka_unit_test(test_counter_reset),
		cmocka_unit_test(test_observe_rejects_bad_input),
		cmocka_unit_test(test_max_interval_guard),
		cmocka_unit_test(test_drain_on_target),
		cmocka_unit_test(test_aggressive_entry_and_exit),
		cmocka_unit_test(test_hysteresis_needs_consecutive_calm),
		cmocka_unit_test(test_fill_watermarks),
		cmocka_unit_test(test_shedding_after_n_critical_cycles),
		cmocka_unit_test(test_critical_streak_must_be_consecutive),
		cmocka_unit_test(test_cycle_judgement),
		cmocka_unit_test(test_custom_cycles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
