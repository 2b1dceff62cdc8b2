// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * lib/units: promtool's MetricUnits and UnitAbbreviations rules, word by
 * word (tests/integration/test_promtool_metrics.py compares them with the
 * real promtool).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "lib/self_metrics.h"
#include "lib/units.h"

static void expect(const char *name, const char *word, bool abbrev, const char *base,
		   double factor)
{
	struct unit_finding f;

	if (!word) {
		if (units__check_name(name, &f))
			fail_msg("%s: flagged \"%.*s\", want nothing", name, (int)f.len, f.word);
		return;
	}
	if (!units__check_name(name, &f))
		fail_msg("%s: nothing flagged, want \"%s\"", name, word);
	assert_int_equal(f.len, strlen(word));
	assert_memory_equal(f.word, word, f.len);
	assert_true(f.word >= name && f.word < name + strlen(name));
	assert_int_equal(f.abbreviation, abbrev);
	assert_string_equal(f.base, base);
	assert_true(f.factor == factor);
}

static void test_base_units_pass(void **state)
{
	(void)state;
	expect("demo_request_latency_seconds", NULL, 0, NULL, 0);
	expect("demo_sent_bytes_total", NULL, 0, NULL, 0);
	expect("demo_payload_ratio", NULL, 0, NULL, 0);
	expect("emitd_channel_unique_information", NULL, 0, NULL, 0);
	expect("demo_usage", NULL, 0, NULL, 0);		/* a word, not "us" */
	expect("us_latency", NULL, 0, NULL, 0);		/* first word: no "_us" */
	expect("demo_x_secs", NULL, 0, NULL, 0);
	expect("demo_bytes_seconds", NULL, 0, NULL, 0);
}

static void test_non_base_units(void **state)
{
	(void)state;
	expect("demo_wait_milliseconds", "milliseconds", false, "seconds", 1e-3);
	expect("demo_wait_microseconds", "microseconds", false, "seconds", 1e-6);
	expect("demo_uptime_minutes", "minutes", false, "seconds", 60);
	expect("demo_age_days", "days", false, "seconds", 86400);
	expect("demo_received_bits_total", "bits", false, "bytes", 0.125);
	expect("demo_cache_kilobytes", "kilobytes", false, "bytes", 1e3);
	expect("demo_cache_kibibytes", "kibibytes", false, "bytes", 1024);
	expect("demo_link_megabits", "megabits", false, "bytes", 1e6 * 0.125);
	expect("demo_temp_fahrenheit", "fahrenheit", false, "celsius", 0);
	expect("demo_minutes_seconds", "minutes", false, "seconds", 60);
	/* promtool 2.42 flags either unit of a name, as a map iteration meets them */
	expect("demo_seconds_minutes", "minutes", false, "seconds", 60);
	expect("demo_bits_minutes", "bits", false, "bytes", 0.125);
	/* a non-base unit is found before an abbreviation, as promtool lists them */
	expect("demo_ms_minutes", "minutes", false, "seconds", 60);
}

static void test_abbreviations(void **state)
{
	(void)state;
	expect("demo_request_latency_us", "us", true, "seconds", 1e-6);
	expect("demo_flush_ms_total", "ms", true, "seconds", 1e-3);
	expect("demo_flush_MS", "MS", true, "seconds", 1e-3);	/* any case */
	expect("demo_sent_kb_total", "kb", true, "bytes", 1e3);
	expect("demo_x_s", "s", true, "seconds", 1);
	expect("demo_x_sec", "sec", true, "seconds", 1);
	expect("demo_x_m", "m", true, "seconds or meters", 0);
	expect("demo__d", "d", true, "seconds", 86400);
}

/* emitd's own names are promtool-clean: none carries a unit promtool flags. */
static void test_self_metrics_clean(void **state)
{
	int id;

	(void)state;
	for (id = 0; id < SELF_METRICS_NR; id++)
		expect(self_metrics__name(id), NULL, 0, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_units_pass),
		cmocka_unit_test(test_non_base_units),
		cmocka_unit_test(test_abbreviations),
		cmocka_unit_test(test_self_metrics_clean),
	};

	return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
