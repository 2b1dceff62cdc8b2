// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fmt: the one double formatter in the three layouts its callers need
 * (printf's %g at the shortest precision for gen, at least 15 digits for
 * norm's CSV, Go's layout for the exposition), each reading back bit for bit;
 * YAML scalars; fmt__str().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fmt.h"

#define GO_PROM		(FMT_GO | FMT_PROM_SPECIAL)
#define OPENMETRICS	(FMT_GO | FMT_PROM_SPECIAL | FMT_INT_DOT)

static const char *fmt(double v, int min_digits, unsigned int flags)
{
	static char buf[FMT_DOUBLE_LEN];
	size_t n = fmt__double(buf, v, min_digits, flags);

	assert_int_equal(n, strlen(buf));
	return buf;
}

/* What printf's "%.*g" gives at the shortest precision that reads back. */
static void test_shortest_like_printf_g(void **state)
{
	(void)state;
	assert_string_equal(fmt(0.1, FMT_SHORTEST, 0), "0.1");
	assert_string_equal(fmt(1, FMT_SHORTEST, 0), "1");
	assert_string_equal(fmt(16, FMT_SHORTEST, 0), "16");
	assert_string_equal(fmt(100, FMT_SHORTEST, 0), "1e+02");
	assert_string_equal(fmt(1048576, FMT_SHORTEST, 0), "1048576");
	assert_string_equal(fmt(0.0001, FMT_SHORTEST, 0), "0.0001");
	assert_string_equal(fmt(0.00001, FMT_SHORTEST, 0), "1e-05");
	assert_string_equal(fmt(0.30000000000000004, FMT_SHORTEST, 0), "0.30000000000000004");
	assert_string_equal(fmt(-2.5, FMT_SHORTEST, 0), "-2.5");
	assert_string_equal(fmt(-0.0, FMT_SHORTEST, 0), "-0");
	assert_string_equal(fmt(0.0, FMT_SHORTEST, 0), "0");
	assert_string_equal(fmt(1e300, FMT_SHORTEST, 0), "1e+300");
	assert_string_equal(fmt(INFINITY, FMT_SHORTEST, 0), "inf");
	assert_string_equal(fmt(-INFINITY, FMT_SHORTEST, 0), "-inf");
	assert_string_equal(fmt(NAN, FMT_SHORTEST, 0), "nan");
}

/* At least 15 digits: fixed form up to 1e15, subnormals as %.15g has them. */
static void test_min_digits(void **state)
{
	(void)state;
	assert_string_equal(fmt(1e6, 15, 0), "1000000");
	assert_string_equal(fmt(100, 15, 0), "100");
	assert_string_equal(fmt(0.1, 15, 0), "0.1");
	assert_string_equal(fmt(1e15, 15, 0), "1e+15");
	assert_string_equal(fmt(123456789012345.0, 15, 0), "123456789012345");
	assert_string_equal(fmt(5e-324, 15, 0), "4.94065645841247e-324");
	assert_string_equal(fmt(5e-324, FMT_SHORTEST, 0), "5e-324");
	assert_string_equal(fmt(0.1 + 0.2, 15, 0), "0.30000000000000004");
	assert_string_equal(fmt(DBL_MAX, 15, 0), "1.7976931348623157e+308");
}

/* Go's strconv.FormatFloat(v, 'g', -1, 64), as Prometheus writes samples. */
static void test_go_layout(void **state)
{
	(void)state;
	assert_string_equal(fmt(100, FMT_SHORTEST, GO_PROM), "100");
	assert_string_equal(fmt(123456, FMT_SHORTEST, GO_PROM), "123456");
	assert_string_equal(fmt(1e6, FMT_SHORTEST, GO_PROM), "1e+06");
	assert_string_equal(fmt(1234567, FMT_SHORTEST, GO_PROM), "1.234567e+06");
	assert_string_equal(fmt(0.0001, FMT_SHORTEST, GO_PROM), "0.0001");
	assert_string_equal(fmt(0.00001, FMT_SHORTEST, GO_PROM), "1e-05");
	assert_string_equal(fmt(-0.25, FMT_SHORTEST, GO_PROM), "-0.25");
	assert_string_equal(fmt(NAN, FMT_SHORTEST, GO_PROM), "NaN");
	assert_string_equal(fmt(INFINITY, FMT_SHORTEST, GO_PROM), "+Inf");
	assert_string_equal(fmt(-INFINITY, FMT_SHORTEST, GO_PROM), "-Inf");
	/* OpenMetrics: integral values carry ".0", exponents and specials do not */
	assert_string_equal(fmt(1, FMT_SHORTEST, OPENMETRICS), "1.0");
	assert_string_equal(fmt(0, FMT_SHORTEST, OPENMETRICS), "0.0");
	assert_string_equal(fmt(2.5, FMT_SHORTEST, OPENMETRICS), "2.5");
	assert_string_equal(fmt(1e6, FMT_SHORTEST, OPENMETRICS), "1e+06");
	assert_string_equal(fmt(INFINITY, FMT_SHORTEST, OPENMETRICS), "+Inf");
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Every layout reads back bit for bit, within FMT_DOUBLE_LEN. */
static void test_round_trip(void **state)
{
	static const unsigned int flags[] = { 0, GO_PROM, OPENMETRICS };
	static const int digits[] = { FMT_SHORTEST, 15 };
	uint64_t seed = 0x9e3779b97f4a7c15ull, bits;
	char buf[FMT_DOUBLE_LEN];
	double v, back;
	size_t i, f, d;

	(void)state;
	for (i = 0; i < 20000; i++) {
		bits = xorshift(&seed);
		memcpy(&v, &bits, sizeof(v));
		if (!isfinite(v))
			continue;
		for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
			for (d = 0; d < sizeof(digits) / sizeof(digits[0]); d++) {
				assert_true(fmt__double(buf, v, digits[d], flags[f]) < FMT_DOUBLE_LEN);
				back = strtod(buf, NULL);
				assert_memory_equal(&back, &v, sizeof(v));
			}
		}
	}
}

static void test_yaml_quote(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "'plain'" },
		{ "it's", "'it''s'" },
		{ "", "''" },
		{ "a\nb", "\"a\\nb\"" },
		{ "tab\there \"q\" \\", "\"tab\\there \\\"q\\\" \\\\\"" },
		{ "\x01", "\"\\x01\"" },
		{ "nel\xc2\x85", "\"nel\\x85\"" },
		{ "ls\xe2\x80\xa8", "\"ls\\L\"" },
		{ "\xef\xbb\xbf" "bom", "\"\\ufeffbom\"" },
		{ "caf\xc3\xa9", "'caf\xc3\xa9'" },
	};
	char *text;
	size_t i, len;
	FILE *f;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = open_memstream(&text, &len);
		assert_non_null(f);
		fmt__yaml_quote(f, cases[i].in);
		fclose(f);
		assert_string_equal(text, cases[i].out);
		free(text);
	}
}

static void test_str(void **state)
{
	char *s = fmt__str("%s-%d", "a", 7);

	(void)state;
	assert_string_equal(s, "a-7");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shortest_like_printf_g),
		cmocka_unit_test(test_min_digits),
		cmocka_unit_test(test_go_layout),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_yaml_quote),
		cmocka_unit_test(test_str),
	};

	return cmocka_run_group_tests_name("fmt", tests, NULL, NULL);
}
