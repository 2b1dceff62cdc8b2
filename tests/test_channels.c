// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Channel windows: alignment modes, window kinds and missing-data policies,
 * each checked on a hand-made timeline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/channels.h"

static struct chan_set *make(enum chan_align align, enum chan_missing missing)
{
	struct chan_config cfg;

	chan_config__init(&cfg);
	cfg.align = align;
	cfg.missing = missing;
	return chan_set__new(&cfg);
}

/* Grid at 100, 200, 300; channel a observed at 50 (1) and 250 (3). */
static struct chan_set *timeline(enum chan_align align)
{
	struct chan_set *s = make(align, CHAN_MISSING_DROP_INCOMPLETE);

	assert_non_null(s);
	assert_int_equal(chan_set__observe(s, "a", 50, 1), 0);
	assert_int_equal(chan_set__tick(s, 100), 0);
	assert_int_equal(chan_set__tick(s, 200), 0);
	assert_int_equal(chan_set__observe(s, "a", 250, 3), 0);
	assert_int_equal(chan_set__tick(s, 300), 0);
	return s;
}

static void check_row(struct chan_set *s, const double *want, unsigned int n)
{
	struct chan_matrix m;
	unsigned int i;

	assert_int_equal(chan_set__build(s, &m), 0);
	assert_int_equal(m.nr_channels, 1);
	assert_int_equal(m.nr_samples, n);
	for (i = 0; i < n; i++)
		assert_float_equal(m.samples[i], want[i], 1e-12);
	chan_matrix__free(&m);
}

static void test_sample_and_hold(void **state)
{
	struct chan_set *s = timeline(CHAN_ALIGN_SAMPLE_AND_HOLD);
	const double want[] = { 1, 1, 3 };

	(void)state;
	check_row(s, want, 3);
	chan_set__free(s);
}

static void test_nearest(void **state)
{
	struct chan_set *s = timeline(CHAN_ALIGN_NEAREST);
	const double want[] = { 1, 3, 3 };	/* 200 is 50 from 250, 150 from 50 */

	(void)state;
	check_row(s, want, 3);
	chan_set__free(s);
}

static void test_linear(void **state)
{
	struct chan_set *s = timeline(CHAN_ALIGN_LINEAR);
	const double want[] = { 1.5, 2.5, 3 };	/* 1 + 2 * (t - 50) / 200, held after */

	(void)state;
	check_row(s, want, 3);
	chan_set__free(s);
}

static void test_window_by_samples_and_time(void **state)
{
	struct chan_config cfg;
	struct chan_set *s;
	struct chan_matrix m;
	uint64_t t;

	(void)state;
	chan_config__init(&cfg);
	cfg.window_kind = CHAN_WINDOW_SAMPLES;
	cfg.window_value = 4;
	s = chan_set__new(&cfg);
	for (t = 1; t <= 10; t++) {
		assert_int_equal(chan_set__observe(s, "x", t * 10, t), 0);
		assert_int_equal(chan_set__tick(s, t * 10), 0);
	}
	assert_int_equal(chan_set__build(s, &m), 0);
	assert_int_equal(m.nr_samples, 4);
	assert_float_equal(m.samples[0], 7, 0);
	assert_float_equal(m.samples[3], 10, 0);
	chan_matrix__free(&m);
	chan_set__free(s);

	cfg.window_kind = CHAN_WINDOW_TIME;
	cfg.window_value = 25;	/* grid times 80, 90, 100 are within 25 ms of 100 */
	s = chan_set__new(&cfg);
	for (t = 1; t <= 10; t++) {
		assert_int_equal(chan_set__observe(s, "x", t * 10, t), 0);
		assert_int_equal(chan_set__tick(s, t * 10), 0);
	}
	assert_int_equal(chan_set__build(s, &m), 0);
	assert_int_equal(m.nr_samples, 3);
	assert_float_equal(m.samples[0], 8, 0);
	chan_matrix__free(&m);
	chan_set__free(s);
}

/* Grid at 10..50; a observed from 10, b only from 30: b misses two points. */
static struct chan_set *gappy(enum chan_missing missing, unsigned int min_channels)
{
	struct chan_config cfg;
	struct chan_set *s;
	uint64_t t;

	chan_config__init(&cfg);
	cfg.missing = missing;
	cfg.min_channels = min_channels;
	s = chan_set__new(&cfg);
	assert_non_null(s);
	for (t = 1; t <= 5; t++) {
		assert_int_equal(chan_set__observe(s, "a", t * 10, t), 0);
		if (t >= 3)
			assert_int_equal(chan_set__observe(s, "b", t * 10, 10 * t), 0);
		assert_int_equal(chan_set__tick(s, t * 10), 0);
	}
	return s;
}

static void test_drop_incomplete(void **state)
{
	struct chan_set *s = gappy(CHAN_MISSING_DROP_INCOMPLETE, 2);
	struct chan_matrix m;

	(void)state;
	assert_int_equal(chan_set__build(s, &m), 0);
	assert_int_equal(m.nr_channels, 2);
	assert_int_equal(m.nr_samples, 3);		/* points 30, 40, 50 */
	assert_float_equal(m.samples[0], 3, 0);		/* a at 30 */
	assert_float_equal(m.samples[3], 30, 0);	/* b at 30 */
	assert_string_equal(m.ids[1], "b");
	chan_matrix__free(&m);
	chan_set__free(s);
}

static void test_allow_partial(void **state)
{
	struct chan_set *s = gappy(CHAN_MISSING_ALLOW_PARTIAL, 1);
	struct chan_matrix m;

	(void)state;
	assert_int_equal(chan_set__build(s, &m), 0);
	assert_int_equal(m.nr_channels, 1);		/* b is incomplete: left out */
	assert_int_equal(m.nr_dropped_channels, 1);
	assert_int_equal(m.nr_samples, 5);
	assert_string_equal(m.ids[0], "a");
	chan_matrix__free(&m);
	chan_set__free(s);

	s = gappy(CHAN_MISSING_ALLOW_PARTIAL, 2);	/* too few complete channels */
	assert_int_equal(chan_set__build(s, &m), 0);
	assert_int_equal(m.nr_channels, 0);
	chan_matrix__free(&m);
	chan_set__free(s);
}

static void test_fill_last_known(void **state)
{
	struct chan_config cfg;
	struct chan_set *s;
	struct chan_matrix m;

	(void)state;
	chan_config__init(&cfg);
	cfg.missing = CHAN_MISSING_FILL_LAST_KNOWN;
	cfg.align = CHAN_ALIGN_NEAREST;
	s = chan_set__new(&cfg);
	/* b is seen at 20 only; Nearest leaves nothing missing, so use a gap
	 * that only filling can close: a at 10 and 30 with grid 10, 20, 30. */
	assert_int_equal(chan_set__observe(s, "a", 10, 1), 0);
	assert_int_equal(chan_set__tick(s, 10), 0);
	assert_int_equal(chan_set__tick(s, 20), 0);
	assert_int_equal(chan_set__observe(s, "a", 30, 3), 0);
	assert_int_equal(chan_set__tick(s, 30), 0);
	assert_int_equal(chan_set__build(s, &m), 0);
	assert_int_equal(m.nr_samples, 3);
	chan_matrix__free(&m);
	chan_set__free(s);

	s = gappy(CHAN_MISSING_FILL_LAST_KNOWN, 2);
	assert_int_equal(chan_set__build(s, &m), 0);
	assert_int_equal(m.nr_channels, 2);
	assert_int_equal(m.nr_samples, 3);	/* b has no value to carry before 30 */
	chan_matrix__free(&m);
	chan_set__free(s);
}

static void test_rejects_and_limits(void **state)
{
	struct chan_config cfg;
	struct chan_set *s;
	enum chan_window_kind k;
	enum chan_missing mi;
	enum chan_align al;
	unsigned int minc = 0;
	uint64_t v;

	(void)state;
	chan_config__init(&cfg);
	cfg.max_channels = 2;
	s = chan_set__new(&cfg);
	assert_int_equal(chan_set__observe(s, "a", 10, 1), 0);
	assert_int_equal(chan_set__observe(s, "b", 10, 1), 0);
	assert_int_equal(chan_set__observe(s, "c", 10, 1), -ENOSPC);
	assert_int_equal(chan_set__observe(s, "a", 5, 1), -EINVAL);	/* back in time */
	assert_int_equal(chan_set__observe(s, "a", 20, 0.0 / 0.0), -EINVAL);
	assert_int_equal(chan_set__tick(s, 10), 0);
	assert_int_equal(chan_set__tick(s, 10), -EINVAL);
	chan_set__free(s);

	assert_int_equal(chan_config__parse_window("60s", &k, &v), 0);
	assert_int_equal(k, CHAN_WINDOW_TIME);
	assert_int_equal(v, 60000);
	assert_int_equal(chan_config__parse_window("600", &k, &v), 0);
	assert_int_equal(k, CHAN_WINDOW_SAMPLES);
	assert_int_equal(chan_config__parse_window("5h", &k, &v), -EINVAL);
	assert_int_equal(chan_config__parse_window("0", &k, &v), -EINVAL);
	assert_int_equal(chan_config__parse_missing("allow-partial:3", &mi, &minc), 0);
	assert_int_equal(mi, CHAN_MISSING_ALLOW_PARTIAL);
	assert_int_equal(minc, 3);
	assert_int_equal(chan_config__parse_missing("allow-partial:x", &mi, &minc), -EINVAL);
	assert_int_equal(chan_config__parse_align("LinearInterpolation", &al), 0);
	assert_int_equal(al, CHAN_ALIGN_LINEAR);
	assert_int_equal(chan_config__parse_align("cubic", &al), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_and_hold),
		cmocka_unit_test(test_nearest),
		cmocka_unit_test(test_linear),
		cmocka_unit_test(test_window_by_samples_and_time),
		cmocka_unit_test(test_drop_incomplete),
		cmocka_unit_test(test_allow_partial),
		cmocka_unit_test(test_fill_last_known),
		cmocka_unit_test(test_rejects_and_limits),
	};

	return cmocka_run_group_tests_name("channels", tests, NULL, NULL);
}
