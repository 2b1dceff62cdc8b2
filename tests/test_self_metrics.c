// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * self_metrics: the table of emitd's own families. Every id has an entry,
 * every name is a distinct, valid emitd_* metric name (counters end in
 * _total), every entry has help, and its label names are valid.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "lib/self_metrics.h"

static bool valid_name(const char *s, bool metric)
{
	size_t i;

	if (!s || !*s || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || (metric && c == ':')))
			return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

static void test_every_id_has_an_entry(void **state)
{
	int id;

	(void)state;
	for (id = 0; id < SELF_METRICS_NR; id++) {
		const struct self_metric *m = self_metrics__get(id);

		assert_non_null(m);
		assert_non_null(m->name);
		assert_ptr_equal(self_metrics__name(id), m->name);
		assert_non_null(m->help);
		assert_true(strlen(m->help) > 0);
	}
}

static void test_names_are_valid_and_distinct(void **state)
{
	int id, other;

	(void)state;
	for (id = 0; id < SELF_METRICS_NR; id++) {
		const struct self_metric *m = self_metrics__get(id);

		assert_true(valid_name(m->name, true));
		assert_int_equal(strncmp(m->name, "emitd_", 6), 0);
		if (m->type == EXPO_COUNTER)
			assert_true(ends_with(m->name, "_total"));
		else
			assert_false(ends_with(m->name, "_total"));
		for (other = id + 1; other < SELF_METRICS_NR; other++)
			assert_string_not_equal(m->name, self_metrics__name(other));
	}
}

static void test_label_names(void **state)
{
	int id;
	size_t i, j, n;

	(void)state;
	for (id = 0; id < SELF_METRICS_NR; id++) {
		const struct self_metric *m = self_metrics__get(id);

		n = self_metric__nr_labels(m);
		assert_true(n <= SELF_METRIC_MAX_LABELS);
		assert_null(m->labels[n]);
		if (m->type == EXPO_HISTOGRAM)
			assert_int_equal(n, 0);
		for (i = 0; i < n; i++) {
			assert_true(valid_name(m->labels[i], false));
			assert_string_not_equal(m->labels[i], "le");
			for (j = i + 1; j < n; j++)
				assert_string_not_equal(m->labels[i], m->labels[j]);
		}
	}
}

static void test_known_entries(void **state)
{
	const struct self_metric *m;

	(void)state;
	assert_string_equal(self_metrics__name(SELF_MAP_FULL_DROPS_TOTAL),
			    "emitd_map_full_drops_total");
	m = self_metrics__get(SELF_HIST_QUANTILE_DEVIATION);
	assert_int_equal(m->type, EXPO_GAUGE);
	assert_int_equal(self_metric__nr_labels(m), 2);
	assert_string_equal(m->labels[0], "metric");
	assert_string_equal(m->labels[1], "quantile");
	m = self_metrics__get(SELF_PROBE_SITE_INFO);
	assert_int_equal(self_metric__nr_labels(m), 5);
	assert_int_equal(self_metrics__get(SELF_DRAIN_DURATION_SECONDS)->type, EXPO_HISTOGRAM);
	/* the help says __other__ as emitd.h spells it (EMITD_OTHER_VALUE) */
	assert_non_null(strstr(self_metrics__get(SELF_CARDINALITY_SERIES)->help,
			       "Series of each metric, __other__ included."));
}

/* The provenance gauge, the unique information, and the panel hints' shape. */
static void test_new_entries_and_panel_hints(void **state)
{
	const struct self_metric *m;
	const char *pct;
	int id;

	(void)state;
	m = self_metrics__get(SELF_SPEC_INFO);
	assert_string_equal(m->name, "emitd_spec_info");
	assert_int_equal(m->type, EXPO_GAUGE);
	assert_string_equal(m->labels[0], "namespace");
	assert_string_equal(m->labels[1], "sha256");
	m = self_metrics__get(SELF_CHANNEL_UNIQUE_INFORMATION);
	assert_string_equal(m->name, "emitd_channel_unique_information");
	assert_false(ends_with(m->name, "_bits"));	/* promtool: bits are not a base unit */
	assert_string_equal(m->labels[0], "channel");
	for (id = 0; id < SELF_METRICS_NR; id++) {
		m = self_metrics__get(id);
		if (!m->panel.title) {
			assert_null(m->panel.expr);
			continue;
		}
		assert_non_null(m->panel.expr);
		assert_non_null(m->panel.unit);
		pct = strchr(m->panel.expr, '%');
		assert_non_null(pct);
		assert_int_equal(pct[1], 's');
		assert_null(strchr(pct + 1, '%'));
	}
}

static void test_out_of_range(void **state)
{
	(void)state;
	assert_null(self_metrics__get(SELF_METRICS_NR));
	assert_null(self_metrics__get((enum self_metric_id)-1));
	assert_null(self_metrics__name(SELF_METRICS_NR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_id_has_an_entry),
		cmocka_unit_test(test_names_are_valid_and_distinct),
		cmocka_unit_test(test_label_names),
		cmocka_unit_test(test_known_entries),
		cmocka_unit_test(test_new_entries_and_panel_hints),
		cmocka_unit_test(test_out_of_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
