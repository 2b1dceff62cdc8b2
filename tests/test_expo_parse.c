// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * expo_parse: text 0.0.4 read back into samples: what lib/expo renders comes
 * back exactly (names, label escapes, integers and shortest floats, +Inf,
 * NaN), comments are skipped, malformed lines are refused with their number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/expo.h"
#include "lib/expo_parse.h"

struct seen {
	char text[64][160];	/* "name|l=v|l=v|value" per sample */
	size_t nr;
};

static int record(void *ctx, const char *name, const struct expo_label *labels, size_t nr,
		  double value)
{
	struct seen *s = ctx;
	char *p = s->text[s->nr];
	size_t i;

	p += sprintf(p, "%s", name);
	for (i = 0; i < nr; i++)
		p += sprintf(p, "|%s=%s", labels[i].name, labels[i].value);
	sprintf(p, "|%.17g", value);
	s->nr++;
	return 0;
}

static void test_samples_and_comments(void **state)
{
	const char *text =
		"# HELP a_total A counter.\n"
		"# TYPE a_total counter\n"
		"a_total{route=\"/x\",code=\"200\"} 42\n"
		"\n"
		"b 0.25\n"
		"c{le=\"+Inf\"} 7 1700000000000\n"
		"d NaN\n"
		"e{} -Inf\n"
		"f +Inf";
	struct seen s = {};
	unsigned int line = 0;

	(void)state;
	assert_int_equal(expo_parse__text(text, strlen(text), record, &s, &line), 0);
	assert_int_equal(s.nr, 6);
	assert_string_equal(s.text[0], "a_total|route=/x|code=200|42");
	assert_string_equal(s.text[1], "b|0.25");
	assert_string_equal(s.text[2], "c|le=+Inf|7");
	assert_string_equal(s.text[3], "d|nan");
	assert_string_equal(s.text[4], "e|-inf");
	assert_string_equal(s.text[5], "f|inf");
}

static void test_label_escapes_come_back(void **state)
{
	const char *text = "m{v=\"a\\\\b\\\"c\\nd\",w=\"\"} 1\n";
	struct seen s = {};

	(void)state;
	assert_int_equal(expo_parse__text(text, strlen(text), record, &s, NULL), 0);
	assert_int_equal(s.nr, 1);
	assert_string_equal(s.text[0], "m|v=a\\b\"c\nd|w=|1");
}

/* What expo renders, expo_parse reads back: the remote-write path's premise. */
static void test_round_trip_through_expo(void **state)
{
	static const char *const names[] = { "route" };
	static const char *const v0[] = { "we\"ird\\\nvalue" };
	static const char *const v1[] = { "ok" };
	struct expo_series series[] = {
		{ .label_values = v0, .value = 1e-7 },
		{ .label_values = v1, .value = 123456789012345.0 },
	};
	struct expo_family fam = {
		.name = "x_seconds", .help = "help", .type = EXPO_GAUGE,
		.label_names = names, .nr_labels = 1, .series = series, .nr_series = 2,
	};
	struct expo_buf buf = {};
	struct seen s = {};

	(void)state;
	assert_int_equal(expo__render(&buf, &fam, 1, EXPO_FMT_TEXT_004), 0);
	assert_int_equal(expo_parse__text(buf.data, buf.len, record, &s, NULL), 0);
	assert_int_equal(s.nr, 2);
	assert_string_equal(s.text[0], "x_seconds|route=we\"ird\\\nvalue|9.9999999999999995e-08");
	assert_string_equal(s.text[1], "x_seconds|route=ok|123456789012345");
	expo_buf__free(&buf);
}

static void test_malformed_lines_are_refused(void **state)
{
	static const char *const bad[] = {
		"1abc 1\n",			/* name starts with a digit */
		"a{x=\"1\" 1\n",		/* no closing brace */
		"a{x=1} 1\n",			/* unquoted value */
		"a{x=\"\\t\"} 1\n",		/* unknown escape */
		"a 1 2 3\n",			/* garbage after the timestamp */
		"a one\n",			/* not a number */
		"a\n",				/* no value */
		"a{x=\"1\"}1\n",		/* no blank before the value */
		"a inf\n",			/* Go spells it Inf */
	};
	unsigned int line;
	struct seen s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];

		snprintf(text, sizeof(text), "ok 1\n%s", bad[i]);
		memset(&s, 0, sizeof(s));
		line = 0;
		assert_int_equal(expo_parse__text(text, strlen(text), record, &s, &line), -EINVAL);
		assert_int_equal(line, 2);
	}
}

static int stop_at_two(void *ctx, const char *name, const struct expo_label *labels,
		       size_t nr, double value)
{
	(void)name;
	(void)labels;
	(void)nr;
	(void)value;
	return ++*(int *)ctx == 2 ? -ECANCELED : 0;
}

static void test_callback_error_stops(void **state)
{
	const char *text = "a 1\nb 2\nc 3\n";
	int n = 0;

	(void)state;
	assert_int_equal(expo_parse__text(text, strlen(text), stop_at_two, &n, NULL), -ECANCELED);
	assert_int_equal(n, 2);
}

static void test_too_many_labels(void **state)
{
	char text[4096], *p = text;
	int i;

	(void)state;
	p += sprintf(p, "a{");
	for (i = 0; i <= EXPO_PARSE_MAX_LABELS; i++)
		p += sprintf(p, "l%d=\"v\",", i);
	sprintf(p, "} 1\n");
	assert_int_equal(expo_parse__text(text, strlen(text), stop_at_two, &i, NULL), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples_and_comments),
		cmocka_unit_test(test_label_escapes_come_back),
		cmocka_unit_test(test_round_trip_through_expo),
		cmocka_unit_test(test_malformed_lines_are_refused),
		cmocka_unit_test(test_callback_error_stops),
		cmocka_unit_test(test_too_many_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
