// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for user/expo.c: Prometheus text 0.0.4 and OpenMetrics 1.0.0
 * rendering, escaping, numbers, histograms and gzip.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "lib/expo.h"

#define TEXT	EXPO_FMT_TEXT_004
#define OM	EXPO_FMT_OPENMETRICS_100
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Renders (and finishes) into a NUL-terminated string the caller frees. */
static char *render(const struct expo_family *fams, size_t nr, enum expo_format fmt)
{
	struct expo_buf b = { 0 };
	char *s;

	assert_int_equal(expo__render(&b, fams, nr, fmt), 0);
	assert_int_equal(expo__finish(&b, fmt), 0);
	assert_int_equal(expo_buf__append(&b, "", 1), 0);
	s = b.data;
	return s;
}

static void assert_render(const struct expo_family *fams, size_t nr,
			  enum expo_format fmt, const char *want)
{
	char *got = render(fams, nr, fmt);

	assert_string_equal(got, want);
	free(got);
}

/* One gauge sample with one label, rendered to text; returns the line. */
static char *gauge_line(const char *label_value, double v, enum expo_format fmt)
{
	static const char *const names[] = { "l" };
	const char *values[] = { label_value };
	struct expo_series s = { .label_values = values, .value = v };
	struct expo_family f = {
		.name = "g", .type = EXPO_GAUGE, .label_names = names, .nr_labels = 1,
		.series = &s, .nr_series = 1,
	};
	char *out = render(&f, 1, fmt);
	char *line = strdup(strstr(out, "\ng{") + 1);

	line[strcspn(line, "\n") + 1] = '\0';	/* drop a trailing "# EOF" */
	free(out);
	return line;
}

/* Independent UTF-8 validator: decodes code points and checks their ranges. */
static bool valid_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			n = 2, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			n = 3, cp = s[i] & 0x0f;
		else if ((s[i] & 0xf8) == 0xf0)
			n = 4, cp = s[i] & 0x07;
		else
			return false;
		if (i + n > len)
			return false;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* --- golden outputs ------------------------------------------------------- */

static const char *const route_label[] = { "route" };
static const char *const route_api[] = { "/api" };
static const char *const route_nasty[] = { "/a\"b\\c\nd" };
static const double latency_bounds[] = { 1, 10, 100 };
static const uint64_t latency_buckets[] = { 2, 3, 0, 1 };
static const double wait_bounds[] = { 0.005, 0.25, 1e6 };
static const uint64_t wait_buckets[] = { 1, 0, 2, 0 };

static const struct expo_series req_series[] = {
	{ .label_values = route_api, .count = 42 },
	{ .label_values = route_nasty, .count = 7 },
};
static const struct expo_series depth_series[] = { { .value = 12 } };
static const struct expo_series latency_series[] = {
	{ .label_values = route_api, .buckets = latency_buckets, .isum = 150,
	  .sum_is_int = true, .count = 6 },
};
static const struct expo_series wait_series[] = {
	{ .buckets = wait_buckets, .sum = 0.75, .count = 3 },
};

static const struct expo_family golden_fams[] = {
	{ .name = "demo_requests_total", .help = "Requests handled, by route.",
	  .type = EXPO_COUNTER, .label_names = route_label, .nr_labels = 1,
	  .series = req_series, .nr_series = 2 },
	{ .name = "demo_queue_depth",
	  .help = "Queue depth.\nSecond line \\ backslash \"quoted\"",
	  .type = EXPO_GAUGE, .series = depth_series, .nr_series = 1 },
	{ .name = "demo_request_latency_us", .unit = "us",
	  .help = "Request latency in microseconds.", .type = EXPO_HISTOGRAM,
	  .label_names = route_label, .nr_labels = 1,
	  .bounds = latency_bounds, .nr_bounds = 3,
	  .series = latency_series, .nr_series = 1 },
	{ .name = "demo_wait_seconds", .unit = "seconds", .help = "Time waited.",
	  .type = EXPO_HISTOGRAM, .bounds = wait_bounds, .nr_bounds = 3,
	  .series = wait_series, .nr_series = 1 },
};

static void test_golden_text(void **state)
{
	(void)state;
	assert_render(golden_fams, ARRAY_SIZE(golden_fams), TEXT,
		"# HELP demo_requests_total Requests handled, by route.\n"
		"# TYPE demo_requests_total counter\n"
		"demo_requests_total{route=\"/api\"} 42\n"
		"demo_requests_total{route=\"/a\\\"b\\\\c\\nd\"} 7\n"
		"# HELP demo_queue_depth Queue depth.\\nSecond line \\\\ backslash \"quoted\"\n"
		"# TYPE demo_queue_depth gauge\n"
		"demo_queue_depth 12\n"
		"# HELP demo_request_latency_us Request latency in microseconds.\n"
		"# TYPE demo_request_latency_us histogram\n"
		"demo_request_latency_us_bucket{route=\"/api\",le=\"1.0\"} 2\n"
		"demo_request_latency_us_bucket{route=\"/api\",le=\"10.0\"} 5\n"
		"demo_request_latency_us_bucket{route=\"/api\",le=\"100.0\"} 5\n"
		"demo_request_latency_us_bucket{route=\"/api\",le=\"+Inf\"} 6\n"
		"demo_request_latency_us_sum{route=\"/api\"} 150\n"
		"demo_request_latency_us_count{route=\"/api\"} 6\n"
		"# HELP demo_wait_seconds Time waited.\n"
		"# TYPE demo_wait_seconds histogram\n"
		"demo_wait_seconds_bucket{le=\"0.005\"} 1\n"
		"demo_wait_seconds_bucket{le=\"0.25\"} 1\n"
		"demo_wait_seconds_bucket{le=\"1e+06\"} 3\n"
		"demo_wait_seconds_bucket{le=\"+Inf\"} 3\n"
		"demo_wait_seconds_sum 0.75\n"
		"demo_wait_seconds_count 3\n");
}

static void test_golden_openmetrics(void **state)
{
	(void)state;
	assert_render(golden_fams, ARRAY_SIZE(golden_fams), OM,
		"# TYPE demo_requests counter\n"
		"# HELP demo_requests Requests handled, by route.\n"
		"demo_requests_total{route=\"/api\"} 42\n"
		"demo_requests_total{route=\"/a\\\"b\\\\c\\nd\"} 7\n"
		"# TYPE demo_queue_depth gauge\n"
		"# HELP demo_queue_depth Queue depth.\\nSecond line \\\\ backslash \\\"quoted\\\"\n"
		"demo_queue_depth 12.0\n"
		"# TYPE demo_request_latency_us histogram\n"
		"# UNIT demo_request_latency_us us\n"
		"# HELP demo_request_latency_us Request latency in microseconds.\n"
		"demo_request_latency_us_bucket{route=\"/api\",le=\"1.0\"} 2\n"
		"demo_request_latency_us_bucket{route=\"/api\",le=\"10.0\"} 5\n"
		"demo_request_latency_us_bucket{route=\"/api\",le=\"100.0\"} 5\n"
		"demo_request_latency_us_bucket{route=\"/api\",le=\"+Inf\"} 6\n"
		"demo_request_latency_us_sum{route=\"/api\"} 150\n"
		"demo_request_latency_us_count{route=\"/api\"} 6\n"
		"# TYPE demo_wait_seconds histogram\n"
		"# UNIT demo_wait_seconds seconds\n"
		"# HELP demo_wait_seconds Time waited.\n"
		"demo_wait_seconds_bucket{le=\"0.005\"} 1\n"
		"demo_wait_seconds_bucket{le=\"0.25\"} 1\n"
		"demo_wait_seconds_bucket{le=\"1e+06\"} 3\n"
		"demo_wait_seconds_bucket{le=\"+Inf\"} 3\n"
		"demo_wait_seconds_sum 0.75\n"
		"demo_wait_seconds_count 3\n"
		"# EOF\n");
}

/* Families rendered in two calls (agent families, then self-metrics) concatenate. */
static void test_render_appends(void **state)
{
	struct expo_buf b = { 0 };
	char *whole = render(golden_fams, ARRAY_SIZE(golden_fams), OM);

	(void)state;
	assert_int_equal(expo__render(&b, golden_fams, 2, OM), 0);
	assert_int_equal(expo__render(&b, golden_fams + 2, 2, OM), 0);
	assert_int_equal(expo__finish(&b, OM), 0);
	assert_int_equal(b.len, strlen(whole));
	assert_memory_equal(b.data, whole, b.len);
	free(whole);
	expo_buf__free(&b);
}

/* --- escaping and UTF-8 ---------------------------------------------------- */

static void test_label_escaping(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain", "g{l=\"plain\"} 1\n" },
		{ "", "g{l=\"\"} 1\n" },
		{ "say \"hi\"", "g{l=\"say \\\"hi\\\"\"} 1\n" },
		{ "C:\\DIR\\FILE.TXT", "g{l=\"C:\\\\DIR\\\\FILE.TXT\"} 1\n" },
		{ "a\nb", "g{l=\"a\\nb\"} 1\n" },
		{ "\\n", "g{l=\"\\\\n\"} 1\n" },		/* literal backslash-n */
		{ "\\\"", "g{l=\"\\\\\\\"\"} 1\n" },
		{ "tab\there\rcr", "g{l=\"tab\there\rcr\"} 1\n" },	/* passed through */
		{ "{}=,#", "g{l=\"{}=,#\"} 1\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *line = gauge_line(cases[i].in, 1, TEXT);

		assert_string_equal(line, cases[i].want);
		free(line);
		line = gauge_line(cases[i].in, 1, OM);
		/* same escaping in OpenMetrics, the value gets ".0" */
		assert_int_equal(strlen(line), strlen(cases[i].want) + 2);
		assert_memory_equal(line, cases[i].want, strlen(cases[i].want) - 2);
		assert_string_equal(line + strlen(line) - 4, "1.0\n");
		free(line);
	}
}

static void test_help_escaping(void **state)
{
	struct expo_family f = {
		.name = "h", .type = EXPO_GAUGE,
		.help = "back\\slash \"quote\" new\nline \xc3\xa9",
	};

	(void)state;
	/* text 0.0.4: only backslash and line feed */
	assert_render(&f, 1, TEXT,
		"# HELP h back\\\\slash \"quote\" new\\nline \xc3\xa9\n"
		"# TYPE h gauge\n");
	/* OpenMetrics escaped-string: double quote too */
	assert_render(&f, 1, OM,
		"# TYPE h gauge\n"
		"# HELP h back\\\\slash \\\"quote\\\" new\\nline \xc3\xa9\n"
		"# EOF\n");
	f.help = "";
	assert_render(&f, 1, TEXT, "# TYPE h gauge\n");
	f.help = NULL;
	assert_render(&f, 1, OM, "# TYPE h gauge\n# EOF\n");
	f.help = "bad \xff help";
	assert_render(&f, 1, TEXT, "# HELP h bad \xef\xbf\xbd help\n# TYPE h gauge\n");
}

static void test_utf8_passthrough(void **state)
{
	/* 1-, 2-, 3- and 4-byte sequences and the extremes of each range */
	static const char *const ok[] = {
		"h\xc3\xa9llo",				/* é */
		"\xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac",	/* ✓ 日本 */
		"\xf0\x9f\x98\x80 \xf0\x9d\x84\x9e",		/* 😀 𝄞 */
		"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf",
		"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",		/* U+10000, U+10FFFF */
		"\xef\xbf\xbd",					/* U+FFFD itself */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		char *line = gauge_line(ok[i], 1, TEXT);
		char want[128];

		snprintf(want, sizeof(want), "g{l=\"%s\"} 1\n", ok[i]);
		assert_string_equal(line, want);
		free(line);
	}
}

#define FFFD "\xef\xbf\xbd"

static void test_invalid_utf8(void **state)
{
	/* U+FFFD per maximal subpart (Unicode 3.9, table 3-8 practice) */
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "\xff", FFFD },
		{ "a\x80z", "a" FFFD "z" },			/* lone continuation */
		{ "\xc0\xaf", FFFD FFFD },			/* overlong '/' */
		{ "\xc1\xbf", FFFD FFFD },
		{ "\xe0\x80\xaf", FFFD FFFD FFFD },		/* overlong 3-byte */
		{ "\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD },	/* overlong 4-byte */
		{ "\xed\xa0\x80", FFFD FFFD FFFD },		/* surrogate D800 */
		{ "\xed\xbf\xbf", FFFD FFFD FFFD },		/* surrogate DFFF */
		{ "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD },	/* U+110000 */
		{ "\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD },
		{ "\xe2\x82x", FFFD "x" },			/* truncated: one subpart */
		{ "\xf0\x9f\x98", FFFD },			/* truncated at the end */
		{ "\xf0\x9f\x98\"", FFFD "\\\"" },		/* truncated before a quote */
		{ "\xe2\x82\n", FFFD "\\n" },
		{ "\xc3", FFFD },
		{ "ok\xc3\xa9\xa9ok", "ok\xc3\xa9" FFFD "ok" },
		{ "\xfe\xfe\xff\xff", FFFD FFFD FFFD FFFD },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *line = gauge_line(cases[i].in, 1, TEXT);
		char want[128];

		snprintf(want, sizeof(want), "g{l=\"%s\"} 1\n", cases[i].want);
		assert_string_equal(line, want);
		assert_true(valid_utf8((unsigned char *)line, strlen(line)));
		free(line);
	}
}

/* Finds the label value of `l` in a sample line and unescapes it in place. */
static char *unescape_label(char *line)
{
	char *p = strstr(line, "{l=\"") + 4, *o = p, *start = p;

	for (; *p != '"'; p++) {
		assert_int_not_equal(*p, '\0');
		assert_int_not_equal(*p, '\n');
		if (*p == '\\') {
			p++;
			assert_true(*p == '\\' || *p == '"' || *p == 'n');
			*o++ = *p == 'n' ? '\n' : *p;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return start;
}

/* Hostile random bytes: output is valid UTF-8, one line, and parses back. */
static void test_random_label_bytes(void **state)
{
	unsigned int seed = 12345;
	char in[64];
	size_t i, j, n;

	(void)state;
	for (i = 0; i < 5000; i++) {
		n = (size_t)(rand_r(&seed) % (sizeof(in) - 1));
		for (j = 0; j < n; j++) {
			in[j] = (char)(rand_r(&seed) % 255 + 1);	/* no NUL */
			if (i % 2)
				in[j] = (char)(0x80 | in[j]);	/* mostly high bytes */
		}
		in[n] = '\0';

		char *line = gauge_line(in, 1, TEXT);
		size_t len = strlen(line);

		assert_true(valid_utf8((unsigned char *)line, len));
		assert_ptr_equal(strchr(line, '\n'), line + len - 1);
		char *value = unescape_label(line);

		if (valid_utf8((unsigned char *)in, n))
			assert_string_equal(value, in);
		free(line);
	}
}

/* --- numbers -------------------------------------------------------------- */

static void test_gauge_values(void **state)
{
	static const struct {
		double v;
		const char *text, *om;
	} cases[] = {
		{ 0, "0", "0.0" },
		{ -0.0, "-0", "-0.0" },
		{ 1, "1", "1.0" },
		{ -1, "-1", "-1.0" },
		{ 0.5, "0.5", "0.5" },
		{ -2.25, "-2.25", "-2.25" },
		{ 0.1, "0.1", "0.1" },
		{ 0.1 + 0.2, "0.30000000000000004", "0.30000000000000004" },
		{ 1.0 / 3, "0.3333333333333333", "0.3333333333333333" },
		{ 0.0001, "0.0001", "0.0001" },
		{ 0.00001, "1e-05", "1e-05" },
		{ 1.5e-7, "1.5e-07", "1.5e-07" },
		{ 123456, "123456", "123456.0" },
		{ 999999, "999999", "999999.0" },
		{ 1e6, "1e+06", "1e+06" },
		{ 1234567, "1.234567e+06", "1.234567e+06" },
		{ 4.20072246e+06, "4.20072246e+06", "4.20072246e+06" },
		{ 1e21, "1e+21", "1e+21" },
		{ 9007199254740993.0, "9.007199254740992e+15", "9.007199254740992e+15" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308", "1.7976931348623157e+308" },
		{ 5e-324, "5e-324", "5e-324" },
		{ 2.2250738585072014e-308, "2.2250738585072014e-308", "2.2250738585072014e-308" },
		{ INFINITY, "+Inf", "+Inf" },
		{ -INFINITY, "-Inf", "-Inf" },
		{ NAN, "NaN", "NaN" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char want[96], *line;

		snprintf(want, sizeof(want), "g{l=\"x\"} %s\n", cases[i].text);
		line = gauge_line("x", cases[i].v, TEXT);
		assert_string_equal(line, want);
		free(line);
		snprintf(want, sizeof(want), "g{l=\"x\"} %s\n", cases[i].om);
		line = gauge_line("x", cases[i].v, OM);
		assert_string_equal(line, want);
		free(line);
	}
}

/* Every finite double prints as the shortest string that reads back exactly. */
static void test_float_round_trip(void **state)
{
	unsigned int seed = 99;
	uint64_t bits;
	double v, back;
	size_t i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		char *line, *num;

		bits = ((uint64_t)rand_r(&seed) << 42) ^ ((uint64_t)rand_r(&seed) << 21) ^
		       (uint64_t)rand_r(&seed);
		memcpy(&v, &bits, sizeof(v));
		if (!isfinite(v))
			continue;
		line = gauge_line("x", v, TEXT);
		num = strchr(line, ' ') + 1;
		back = strtod(num, NULL);
		assert_memory_equal(&back, &v, sizeof(v));
		free(line);
	}
}

static void test_counter_exact(void **state)
{
	const struct expo_series s[] = {
		{ .count = 0 }, { .count = 9007199254740993ULL }, { .count = UINT64_MAX },
	};
	const struct expo_family f = {
		.name = "c_total", .type = EXPO_COUNTER, .series = s, .nr_series = 3,
	};

	(void)state;
	assert_render(&f, 1, TEXT,
		"# TYPE c_total counter\n"
		"c_total 0\n"
		"c_total 9007199254740993\n"
		"c_total 18446744073709551615\n");
	assert_render(&f, 1, OM,
		"# TYPE c counter\n"
		"c_total 0\n"
		"c_total 9007199254740993\n"
		"c_total 18446744073709551615\n"
		"# EOF\n");
}

/* A scaled count (value_is_float) is a float; the others stay exact. */
static void test_counter_float(void **state)
{
	const struct expo_series s[] = {
		{ .count = 1500, .value = 0.0015, .value_is_float = true },
		{ .count = 3000000, .value = 3, .value_is_float = true },
		{ .count = 7 },
	};
	const struct expo_family f = {
		.name = "busy_seconds_total", .type = EXPO_COUNTER, .series = s, .nr_series = 3,
	};

	(void)state;
	assert_render(&f, 1, TEXT,
		"# TYPE busy_seconds_total counter\n"
		"busy_seconds_total 0.0015\n"
		"busy_seconds_total 3\n"
		"busy_seconds_total 7\n");
	assert_render(&f, 1, OM,
		"# TYPE busy_seconds counter\n"
		"busy_seconds_total 0.0015\n"
		"busy_seconds_total 3.0\n"
		"busy_seconds_total 7\n"
		"# EOF\n");
}

/* --- histograms ------------------------------------------------------------ */

static void test_histogram_cumulative(void **state)
{
	static const double bounds[] = { 0.5, 1, 2.5 };
	static const uint64_t buckets[] = { 1, 2, 0, 3 };
	static const uint64_t empty[] = { 0, 0, 0, 0 };
	static const char *const lv_a[] = { "a" }, *const lv_b[] = { "b" };
	static const char *const names[] = { "k" };
	/* count deliberately wrong: _count and +Inf come from the buckets */
	const struct expo_series s[] = {
		{ .label_values = lv_a, .buckets = buckets, .sum = 9.5, .count = 999 },
		{ .label_values = lv_b, .buckets = empty, .sum = 0 },
	};
	const struct expo_family f = {
		.name = "h", .type = EXPO_HISTOGRAM, .label_names = names, .nr_labels = 1,
		.bounds = bounds, .nr_bounds = 3, .series = s, .nr_series = 2,
	};

	(void)state;
	assert_render(&f, 1, TEXT,
		"# TYPE h histogram\n"
		"h_bucket{k=\"a\",le=\"0.5\"} 1\n"
		"h_bucket{k=\"a\",le=\"1.0\"} 3\n"
		"h_bucket{k=\"a\",le=\"2.5\"} 3\n"
		"h_bucket{k=\"a\",le=\"+Inf\"} 6\n"
		"h_sum{k=\"a\"} 9.5\n"
		"h_count{k=\"a\"} 6\n"
		"h_bucket{k=\"b\",le=\"0.5\"} 0\n"
		"h_bucket{k=\"b\",le=\"1.0\"} 0\n"
		"h_bucket{k=\"b\",le=\"2.5\"} 0\n"
		"h_bucket{k=\"b\",le=\"+Inf\"} 0\n"
		"h_sum{k=\"b\"} 0\n"
		"h_count{k=\"b\"} 0\n");
	assert_render(&f, 1, OM,
		"# TYPE h histogram\n"
		"h_bucket{k=\"a\",le=\"0.5\"} 1\n"
		"h_bucket{k=\"a\",le=\"1.0\"} 3\n"
		"h_bucket{k=\"a\",le=\"2.5\"} 3\n"
		"h_bucket{k=\"a\",le=\"+Inf\"} 6\n"
		"h_sum{k=\"a\"} 9.5\n"
		"h_count{k=\"a\"} 6\n"
		"h_bucket{k=\"b\",le=\"0.5\"} 0\n"
		"h_bucket{k=\"b\",le=\"1.0\"} 0\n"
		"h_bucket{k=\"b\",le=\"2.5\"} 0\n"
		"h_bucket{k=\"b\",le=\"+Inf\"} 0\n"
		"h_sum{k=\"b\"} 0.0\n"
		"h_count{k=\"b\"} 0\n"
		"# EOF\n");
}

/* Only the overflow bucket, no finite bound: +Inf alone; int vs float sums. */
static void test_histogram_sums(void **state)
{
	static const uint64_t one[] = { 5 };
	const struct expo_series s[] = {
		{ .buckets = one, .isum = 9007199254740993LL, .sum_is_int = true },
		{ .buckets = one, .isum = -3, .sum_is_int = true },
		{ .buckets = one, .sum = 3 },
		{ .buckets = one, .sum = -1.5 },
		{ .buckets = one, .sum = NAN },
	};
	const struct expo_family f = {
		.name = "h", .type = EXPO_HISTOGRAM, .series = s, .nr_series = 5,
	};

	(void)state;
	assert_render(&f, 1, TEXT,
		"# TYPE h histogram\n"
		"h_bucket{le=\"+Inf\"} 5\nh_sum 9007199254740993\nh_count 5\n"
		"h_bucket{le=\"+Inf\"} 5\nh_sum -3\nh_count 5\n"
		"h_bucket{le=\"+Inf\"} 5\nh_sum 3\nh_count 5\n"
		"h_bucket{le=\"+Inf\"} 5\nh_sum -1.5\nh_count 5\n"
		"h_bucket{le=\"+Inf\"} 5\nh_sum NaN\nh_count 5\n");
	/* OpenMetrics: Sum is a counter, negative or NaN sums are left out */
	assert_render(&f, 1, OM,
		"# TYPE h histogram\n"
		"h_bucket{le=\"+Inf\"} 5\nh_sum 9007199254740993\nh_count 5\n"
		"h_bucket{le=\"+Inf\"} 5\nh_count 5\n"
		"h_bucket{le=\"+Inf\"} 5\nh_sum 3.0\nh_count 5\n"
		"h_bucket{le=\"+Inf\"} 5\nh_count 5\n"
		"h_bucket{le=\"+Inf\"} 5\nh_count 5\n"
		"# EOF\n");
}

static void test_histogram_le_canonical(void **state)
{
	/* the OpenMetrics "Canonical Numbers" examples, plus negatives and -0 */
	static const double bounds[] = {
		-1e6, -2.5, -0.0, 1e-10, 1e-09, 1e-05, 0.0001, 0.001, 0.002, 0.01,
		0.1, 0.9, 0.95, 0.99, 0.999, 1, 1.7, 10, 100000, 1e6, 1e10,
	};
	static const char *const want[] = {
		"-1e+06", "-2.5", "0.0", "1e-10", "1e-09", "1e-05", "0.0001", "0.001",
		"0.002", "0.01", "0.1", "0.9", "0.95", "0.99", "0.999", "1.0", "1.7",
		"10.0", "100000.0", "1e+06", "1e+10",
	};
	uint64_t buckets[ARRAY_SIZE(bounds) + 1] = { 0 };
	const struct expo_series s = { .buckets = buckets, .sum = 0 };
	const struct expo_family f = {
		.name = "h", .type = EXPO_HISTOGRAM, .bounds = bounds,
		.nr_bounds = ARRAY_SIZE(bounds), .series = &s, .nr_series = 1,
	};
	enum expo_format fmts[] = { TEXT, OM };
	size_t i, k;

	(void)state;
	for (k = 0; k < 2; k++) {
		char *out = render(&f, 1, fmts[k]), *p = out;

		for (i = 0; i < ARRAY_SIZE(want); i++) {
			char needle[64];

			snprintf(needle, sizeof(needle), "h_bucket{le=\"%s\"} 0\n", want[i]);
			p = strstr(p, needle);
			assert_non_null(p);	/* present and in ascending order */
		}
		assert_non_null(strstr(p, "h_bucket{le=\"+Inf\"} 0\n"));
		/* negative thresholds: OpenMetrics forbids the _sum */
		assert_true((strstr(out, "h_sum") != NULL) == (fmts[k] == TEXT));
		free(out);
	}
}

/* --- OpenMetrics specifics -------------------------------------------------- */

static void test_openmetrics_counter_names(void **state)
{
	const struct expo_series s = { .count = 3 };
	struct expo_family f = {
		.name = "jobs_total", .help = "Jobs.", .type = EXPO_COUNTER,
		.series = &s, .nr_series = 1,
	};

	(void)state;
	assert_render(&f, 1, OM,
		"# TYPE jobs counter\n# HELP jobs Jobs.\njobs_total 3\n# EOF\n");
	/* a counter without _total: family keeps the name, samples get _total */
	f.name = "jobs_done";
	assert_render(&f, 1, OM,
		"# TYPE jobs_done counter\n# HELP jobs_done Jobs.\njobs_done_total 3\n# EOF\n");
	assert_render(&f, 1, TEXT,
		"# HELP jobs_done Jobs.\n# TYPE jobs_done counter\njobs_done 3\n");
}

static void test_openmetrics_unit(void **state)
{
	static const struct {
		const char *name, *unit;
		enum expo_type type;
		bool printed;
	} cases[] = {
		{ "io_bytes_total", "bytes", EXPO_COUNTER, true },	/* family io_bytes */
		{ "req_seconds", "seconds", EXPO_GAUGE, true },
		{ "req_seconds", "", EXPO_GAUGE, false },
		{ "req_seconds", NULL, EXPO_GAUGE, false },
		{ "req_latency", "seconds", EXPO_GAUGE, false },	/* not a suffix */
		{ "seconds", "seconds", EXPO_GAUGE, false },		/* no "_" */
		{ "req_xseconds", "seconds", EXPO_GAUGE, false },	/* not "_<unit>" */
		{ "req_seconds", "sec onds", EXPO_GAUGE, false },	/* bad chars */
		{ "io_bytes_total", "total", EXPO_COUNTER, false },	/* family io_bytes */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct expo_family f = {
			.name = cases[i].name, .unit = cases[i].unit, .type = cases[i].type,
		};
		char *om = render(&f, 1, OM), *text = render(&f, 1, TEXT);

		assert_int_equal(strstr(om, "# UNIT ") != NULL, cases[i].printed);
		assert_null(strstr(text, "UNIT"));
		free(om);
		free(text);
	}
	{
		const struct expo_family f = {
			.name = "io_bytes_total", .unit = "bytes", .type = EXPO_COUNTER,
		};
		assert_render(&f, 1, OM,
			"# TYPE io_bytes counter\n# UNIT io_bytes bytes\n# EOF\n");
	}
}

static void test_untyped(void **state)
{
	const struct expo_series s = { .value = 2.5 };
	const struct expo_family f = {
		.name = "u", .type = EXPO_UNTYPED, .series = &s, .nr_series = 1,
	};

	(void)state;
	assert_render(&f, 1, TEXT, "# TYPE u untyped\nu 2.5\n");
	assert_render(&f, 1, OM, "# TYPE u unknown\nu 2.5\n# EOF\n");
}

static void test_empty_family(void **state)
{
	static const double bounds[] = { 1 };
	const struct expo_family fams[] = {
		{ .name = "e_total", .help = "Nothing yet.", .type = EXPO_COUNTER },
		{ .name = "eh_seconds", .help = "H.", .unit = "seconds",
		  .type = EXPO_HISTOGRAM, .bounds = bounds, .nr_bounds = 1 },
	};

	(void)state;
	assert_render(fams, 2, TEXT,
		"# HELP e_total Nothing yet.\n# TYPE e_total counter\n"
		"# HELP eh_seconds H.\n# TYPE eh_seconds histogram\n");
	assert_render(fams, 2, OM,
		"# TYPE e counter\n# HELP e Nothing yet.\n"
		"# TYPE eh_seconds histogram\n# UNIT eh_seconds seconds\n# HELP eh_seconds H.\n"
		"# EOF\n");
	assert_render(NULL, 0, OM, "# EOF\n");
	assert_render(NULL, 0, TEXT, "");
}

static void test_multiple_labels(void **state)
{
	static const char *const names[] = { "a", "b_2", "_c" };
	static const char *const v1[] = { "x", "", "z" };
	const struct expo_series s = { .label_values = v1, .value = 1 };
	const struct expo_family f = {
		.name = "ns:g", .type = EXPO_GAUGE, .label_names = names, .nr_labels = 3,
		.series = &s, .nr_series = 1,
	};

	(void)state;
	assert_render(&f, 1, TEXT, "# TYPE ns:g gauge\nns:g{a=\"x\",b_2=\"\",_c=\"z\"} 1\n");
}

/* --- validation ------------------------------------------------------------- */

static void test_validation(void **state)
{
	static const char *const le_name[] = { "le" };
	static const char *const dup[] = { "a", "a" };
	static const char *const bad_label[] = { "0a" };
	static const char *const ok_label[] = { "a" };
	static const char *const null_value[] = { NULL };
	static const double unsorted[] = { 1, 1 };
	static const double inf_bound[] = { 1, INFINITY };
	static const double nan_bound[] = { NAN };
	static const uint64_t buckets[] = { 0, 0, 0 };
	const struct expo_series hs = { .buckets = buckets };
	const struct expo_series hs_nobuckets = { .buckets = NULL };
	const struct expo_series ls = { .label_values = null_value };
	const struct expo_series ls_null = { .label_values = NULL };
	const struct expo_family bad[] = {
		{ .name = NULL, .type = EXPO_GAUGE },
		{ .name = "", .type = EXPO_GAUGE },
		{ .name = "1abc", .type = EXPO_GAUGE },
		{ .name = "a-b", .type = EXPO_GAUGE },
		{ .name = "a b", .type = EXPO_GAUGE },
		{ .name = "\xc3\xa9", .type = EXPO_GAUGE },
		{ .name = "g", .type = (enum expo_type)42 },
		{ .name = "g", .type = EXPO_GAUGE, .label_names = bad_label, .nr_labels = 1 },
		{ .name = "g", .type = EXPO_GAUGE, .label_names = dup, .nr_labels = 2 },
		{ .name = "g", .type = EXPO_GAUGE, .nr_labels = 1 },
		{ .name = "g", .type = EXPO_GAUGE, .label_names = ok_label, .nr_labels = 1,
		  .series = &ls, .nr_series = 1 },
		{ .name = "g", .type = EXPO_GAUGE, .label_names = ok_label, .nr_labels = 1,
		  .series = &ls_null, .nr_series = 1 },
		{ .name = "g", .type = EXPO_GAUGE, .nr_series = 1 },
		{ .name = "h", .type = EXPO_HISTOGRAM, .label_names = le_name, .nr_labels = 1 },
		{ .name = "h", .type = EXPO_HISTOGRAM, .bounds = unsorted, .nr_bounds = 2 },
		{ .name = "h", .type = EXPO_HISTOGRAM, .bounds = inf_bound, .nr_bounds = 2 },
		{ .name = "h", .type = EXPO_HISTOGRAM, .bounds = nan_bound, .nr_bounds = 1 },
		{ .name = "h", .type = EXPO_HISTOGRAM, .nr_bounds = 1 },
		{ .name = "h", .type = EXPO_HISTOGRAM, .series = &hs_nobuckets, .nr_series = 1 },
	};
	const struct expo_family good = {
		.name = "ok", .type = EXPO_HISTOGRAM, .series = &hs, .nr_series = 1,
	};
	struct expo_buf b = { 0 };
	size_t i, len;

	(void)state;
	assert_int_equal(expo_buf__append(&b, "prefix\n", 7), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct expo_family two[2] = { good, bad[i] };
		enum expo_format fmt = i % 2 ? OM : TEXT;

		/* the good family rendered first is truncated away again */
		assert_int_equal(expo__render(&b, two, 2, fmt), -EINVAL);
		assert_int_equal(b.len, 7);
		assert_memory_equal(b.data, "prefix\n", 7);
	}
	assert_int_equal(expo__render(&b, NULL, 1, TEXT), -EINVAL);
	/* le is fine as a label on non-histograms */
	{
		const char *const v[] = { "x" };
		const struct expo_series s = { .label_values = v };
		const struct expo_family f = {
			.name = "g", .type = EXPO_GAUGE, .label_names = le_name,
			.nr_labels = 1, .series = &s, .nr_series = 1,
		};

		assert_int_equal(expo__render(&b, &f, 1, TEXT), 0);
	}
	len = b.len;
	assert_true(len > 7);
	expo_buf__free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	expo_buf__free(NULL);
}

/* --- formats ----------------------------------------------------------------- */

static void test_finish(void **state)
{
	struct expo_buf b = { 0 };

	(void)state;
	assert_int_equal(expo__finish(&b, TEXT), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(expo__finish(&b, OM), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "# EOF\n", 6);
	expo_buf__free(&b);
}

/* --- gzip ------------------------------------------------------------------- */

static void inflate_all(const struct expo_buf *z, struct expo_buf *out)
{
	z_stream zs = { 0 };
	int ret;

	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);	/* gzip only */
	zs.next_in = (Bytef *)z->data;
	zs.avail_in = (uInt)z->len;
	do {
		char chunk[16384];

		zs.next_out = (Bytef *)chunk;
		zs.avail_out = sizeof(chunk);
		ret = inflate(&zs, Z_NO_FLUSH);
		assert_true(ret == Z_OK || ret == Z_STREAM_END);
		assert_int_equal(expo_buf__append(out, chunk, sizeof(chunk) - zs.avail_out), 0);
	} while (ret != Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0);	/* nothing after the gzip member */
	inflateEnd(&zs);
}

static void gzip_round_trip(const void *in, size_t len)
{
	struct expo_buf z = { 0 }, back = { 0 };

	assert_int_equal(expo_buf__append(&z, "keep", 4), 0);
	assert_int_equal(expo__gzip(in, len, &z), 0);
	assert_memory_equal(z.data, "keep", 4);		/* appends */
	assert_true(z.len >= 4 + 18);
	assert_int_equal((unsigned char)z.data[4], 0x1f);	/* gzip magic */
	assert_int_equal((unsigned char)z.data[5], 0x8b);
	{
		struct expo_buf gz = { .data = z.data + 4, .len = z.len - 4 };

		inflate_all(&gz, &back);
	}
	assert_int_equal(back.len, len);
	if (len)
		assert_memory_equal(back.data, in, len);
	expo_buf__free(&z);
	expo_buf__free(&back);
}

static void test_gzip_round_trip(void **state)
{
	char *text = render(golden_fams, ARRAY_SIZE(golden_fams), OM);
	unsigned int seed = 7;
	size_t n = 3 * 1024 * 1024 + 17, i;
	char *big = malloc(n);

	(void)state;
	gzip_round_trip(text, strlen(text));
	gzip_round_trip("", 0);
	gzip_round_trip("x", 1);
	assert_non_null(big);
	for (i = 0; i < n; i++)		/* half compressible, half noise */
		big[i] = i % 2 ? (char)rand_r(&seed) : (char)('a' + i % 26);
	gzip_round_trip(big, n);
	free(big);
	free(text);
}

static void test_gzip_compresses(void **state)
{
	struct expo_buf text = { 0 }, z = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < 2000; i++)
		assert_int_equal(expo_buf__printf(&text,
			"demo_requests_total{route=\"/r%zu\"} %zu\n", i % 50, i), 0);
	assert_int_equal(expo__gzip(text.data, text.len, &z), 0);
	assert_true(z.len * 4 < text.len);
	expo_buf__free(&text);
	expo_buf__free(&z);
}

static void test_buf_printf(void **state)
{
	struct expo_buf b = { 0 };
	char big[10000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(expo_buf__printf(&b, "%d-%s", 42, "a"), 0);
	assert_int_equal(expo_buf__printf(&b, "%s", big), 0);
	assert_int_equal(b.len, 4 + sizeof(big) - 1);
	assert_memory_equal(b.data, "42-a", 4);
	assert_int_equal(expo_buf__append(&b, NULL, 0), 0);
	expo_buf__free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_text),
		cmocka_unit_test(test_golden_openmetrics),
		cmocka_unit_test(test_render_appends),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_help_escaping),
		cmocka_unit_test(test_utf8_passthrough),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_random_label_bytes),
		cmocka_unit_test(test_gauge_values),
		cmocka_unit_test(test_float_round_trip),
		cmocka_unit_test(test_counter_exact),
		cmocka_unit_test(test_counter_float),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_histogram_sums),
		cmocka_unit_test(test_histogram_le_canonical),
		cmocka_unit_test(test_openmetrics_counter_names),
		cmocka_unit_test(test_openmetrics_unit),
		cmocka_unit_test(test_untyped),
		cmocka_unit_test(test_empty_family),
		cmocka_unit_test(test_multiple_labels),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_gzip_round_trip),
		cmocka_unit_test(test_gzip_compresses),
		cmocka_unit_test(test_buf_printf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
