// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for user/agent/negotiate.c: Accept, Accept-Encoding and the
 * Content-Type of each format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/negotiate.h"

#define TEXT	EXPO_FMT_TEXT_004
#define OM	EXPO_FMT_OPENMETRICS_100
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void test_content_type(void **state)
{
	(void)state;
	assert_string_equal(negotiate__content_type(TEXT),
			    "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(negotiate__content_type(OM),
			    "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

static void test_negotiate(void **state)
{
	static const struct {
		const char *accept;
		enum expo_format want;
	} cases[] = {
		{ NULL, TEXT },
		{ "", TEXT },
		{ "*/*", TEXT },			/* wildcard tie → the default */
		{ "text/plain", TEXT },
		{ "text/plain;version=0.0.4", TEXT },
		{ "application/openmetrics-text", OM },
		{ "application/openmetrics-text;version=1.0.0", OM },
		{ "application/openmetrics-text; version=1.0.0; charset=utf-8", OM },
		{ "Application/OpenMetrics-Text;Version=1.0.0", OM },
		{ "application/openmetrics-text;version=\"1.0.0\"", OM },
		/* Prometheus 2.x (>= 2.43) default */
		{ "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
		  "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", OM },
		/* Prometheus 2.x before 2.43 */
		{ "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;"
		  "q=0.5,*/*;q=0.1", TEXT },
		/* Prometheus 3 default: text 1.0.0 first, which we do not serve */
		{ "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;"
		  "version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;"
		  "escaping=allow-utf-8;q=0.4,*/*;q=0.3", TEXT },
		/* Prometheus 3 with OpenMetrics first */
		{ "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
		  "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;"
		  "version=0.0.4;q=0.4,*/*;q=0.3", OM },
		/* content_negotiation.md default example */
		{ "application/openmetrics-text;version=1.0.0;escaping=allow-utf8;q=0.5,"
		  "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;"
		  "version=1.0.0;escaping=allow-utf8;q=0.3,text/plain;version=0.0.4;"
		  "q=0.2,*/*;q=0.1", OM },
		/* protobuf first: not ours, next best */
		{ "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
		  "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1", TEXT },
		{ "application/openmetrics-text;q=0", TEXT },
		{ "application/openmetrics-text;q=0.0,*/*", TEXT },
		{ "application/openmetrics-text;q=0.000, text/plain;q=0.001", TEXT },
		{ "text/plain;q=0,*/*", OM },		/* text refused, OM via wildcard */
		{ "text/plain;q=0,application/*", OM },
		{ "text/*;q=0.2,application/*;q=0.3", OM },
		{ "text/*;q=0.3,application/*;q=0.3", TEXT },	/* wildcard tie */
		{ "*/*;q=0", TEXT },			/* nothing acceptable → last resort */
		{ "text/plain;version=0.0.4;q=0.5, application/openmetrics-text;q=0.5", OM },
		{ "application/openmetrics-text;q=0.5, text/plain;version=0.0.4;q=0.5", OM },
		{ "application/openmetrics-text;q=0.4,text/plain;q=0.5", TEXT },
		{ "application/openmetrics-text;q=0.5,text/plain;q=0.4", OM },
		{ "application/openmetrics-text;version=0.0.1", TEXT },
		{ "application/openmetrics-text;version=2.0.0", TEXT },
		/* the most specific range decides: version=1.0.0 beats the plain q=0 */
		{ "application/openmetrics-text;q=0,application/openmetrics-text;version=1.0.0", OM },
		{ "application/openmetrics-text;version=1.0.0;q=0,application/openmetrics-text", TEXT },
		{ "application/json", TEXT },
		{ "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", TEXT },
		/* garbage: bad ranges are ignored, good ones still count */
		{ "garbage", TEXT },
		{ ";;;,,,", TEXT },
		{ "application/openmetrics-text;q=2", TEXT },
		{ "application/openmetrics-text;q=1.5", TEXT },
		{ "application/openmetrics-text;q=-1", TEXT },
		{ "application/openmetrics-text;q=0.1234", TEXT },
		{ "application/openmetrics-text;q=", TEXT },
		{ "application/openmetrics-text;q", TEXT },
		{ "application/openmetrics-text;version=\"1.0.0", TEXT },
		{ "*/openmetrics-text", TEXT },
		{ "application/", TEXT },
		{ "/openmetrics-text", TEXT },
		{ "application/openmetrics-text;q=0.9 x", TEXT },
		{ "bogus/;;x, application/openmetrics-text", OM },
		{ "a/b;p=\"x,y\", application/openmetrics-text;q=0.9, text/plain;q=0.8", OM },
		{ "  ,  application/openmetrics-text ; q=1.000 , ", OM },
		{ "application/openmetrics-text;q=1.", OM },
		{ "application/openmetrics-text;q=0.9;ext=1,text/plain;q=0.95", TEXT },
		{ "application/openmetrics-text;charset=utf-8;q=0.9,text/plain;q=0.8", OM },
		{ "\xff\xfe,\x01", TEXT },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		enum expo_format got = negotiate__format(cases[i].accept);

		if (got != cases[i].want)
			fail_msg("Accept \"%s\": got %d, want %d", cases[i].accept,
				 got, cases[i].want);
	}
}

static void test_accepts_gzip(void **state)
{
	static const struct {
		const char *ae;
		bool want;
	} cases[] = {
		{ NULL, false },
		{ "", false },
		{ "gzip", true },
		{ "GZIP", true },
		{ "x-gzip", true },
		{ "gzip, deflate, br", true },
		{ "deflate, br", false },
		{ "gzip;q=0", false },
		{ "gzip; q=0.0, deflate", false },
		{ "gzip;q=0.001", true },
		{ "*", true },
		{ "*;q=0", false },
		{ "*;q=0, gzip", true },
		{ "gzip;q=0, *", false },		/* explicit gzip wins over * */
		{ "identity", false },
		{ "identity;q=0, gzip", true },
		{ "identity, gzip", true },		/* tie → gzip */
		{ "identity;q=1, gzip;q=0.5", false },	/* identity preferred */
		{ "gzip;q=0.5, identity;q=0.4", true },
		{ "*;q=0.5, identity", false },
		{ "gzip;q=2", false },			/* malformed element ignored */
		{ "gzip;q=abc, *", true },
		{ "gzipp", false },
		{ "gz", false },
		{ ",,gzip,,", true },
		{ "gzip;level=9", true },
		{ "\xff gzip", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (negotiate__accepts_gzip(cases[i].ae) != cases[i].want)
			fail_msg("Accept-Encoding \"%s\": want %d", cases[i].ae,
				 cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_accepts_gzip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
