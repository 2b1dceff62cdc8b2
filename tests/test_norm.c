// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Normalization collector: summary math, window eviction, the contexts cap,
 * CSV round trip and atomic replacement, JSON round trip of the report.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/norm.h"

#define HOSTILE_CSV	"/tmp/emitd-norm-hostile.csv"
#define MAX_ROWS	64

static const char *const hostile[] = {
	"budget_buffer",
	"a,b",
	"say \"hi\"",
	"line\nbreak",
	"cr\rlf\r\n",
	"\"",
	",",
	"",
	" padded ",
	"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",	/* café € 😀 */
	"=HYPERLINK(\"x\")",
	"tab\there\\back",
};

/* ---- helpers ------------------------------------------------------------- */

static bool same_bits(double a, double b)
{
	if (isnan(a) && isnan(b))
		return true;
	return !memcmp(&a, &b, sizeof(a));
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

struct row {
	char *field[4];
};

/* One RFC 4180 field at *p; advances past it and its delimiter. */
static char *parse_field(const char **p, char *delim)
{
	char *out = malloc(strlen(*p) + 1), *o = out;
	const char *s = *p;

	if (*s == '"') {
		for (s++; *s; s++) {
			if (*s == '"' && s[1] == '"')
				*o++ = *s++;
			else if (*s == '"')
				break;
			else
				*o++ = *s;
		}
		assert_int_equal(*s, '"');
		s++;
	} else {
		while (*s && *s != ',' && *s != '\n')
			*o++ = *s++;
	}
	*o = '\0';
	*delim = *s;
	assert_true(*s == ',' || *s == '\n');
	*p = s + 1;
	return out;
}

/* Parses @text into @rows (header included); returns the row count. */
static int parse_csv(const char *text, struct row *rows, int max)
{
	const char *p = text;
	char delim;
	int n = 0, i;

	while (*p) {
		assert_true(n < max);
		for (i = 0; i < 4; i++) {
			rows[n].field[i] = parse_field(&p, &delim);
			assert_int_equal(delim, i < 3 ? ',' : '\n');
		}
		n++;
	}
	return n;
}

static void free_rows(struct row *rows, int n)
{
	int i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < 4; j++)
			free(rows[i].field[j]);
}

static char *report_text(const struct norm_collector *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(norm__report(c, f), 0);
	fclose(f);
	return buf;
}

static char *report_text_json(json_t *j)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(norm__report_from_json(j, f), 0);
	fclose(f);
	return buf;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static const struct norm_stats *find_ctx(const struct norm_summary *s, const char *name)
{
	unsigned int i;

	for (i = 0; i < s->nr_contexts; i++)
		if (!strcmp(s->contexts[i].context, name))
			return &s->contexts[i];
	return NULL;
}

/* ---- summary ------------------------------------------------------------- */

static void test_summary_math(void **state)
{
	struct norm_collector *c = norm__new(16);
	struct norm_summary s;
	const struct norm_stats *a, *b, *x;

	(void)state;
	assert_non_null(c);
	assert_int_equal(norm__record(c, 1, "b", 0.25, 0.25), 0);
	assert_int_equal(norm__record(c, 2, "a", 1.0, 0.0), 0);
	assert_int_equal(norm__record(c, 3, "a", -3.0, 0.5), 0);
	assert_int_equal(norm__record(c, 4, "a", 2.0, -0.0), 0);
	assert_int_equal(norm__set_counts(c, "a", 4, 2), 0);	/* one sample dropped */
	assert_int_equal(norm__set_counts(c, "b", 0, 0), 0);	/* samples ahead of counts */
	assert_int_equal(norm__set_counts(c, "c", 10, 10), 0);	/* no samples at all */
	assert_int_equal(norm__summary(c, &s), 0);

	assert_int_equal(s.nr_contexts, 3);
	assert_string_equal(s.contexts[0].context, "a");	/* sorted */
	assert_string_equal(s.contexts[1].context, "b");
	assert_string_equal(s.contexts[2].context, "c");
	a = &s.contexts[0];
	assert_int_equal(a->events, 4);
	assert_int_equal(a->zeroed, 2);
	assert_int_equal(a->samples, 3);
	assert_int_equal(a->zeroed_samples, 2);		/* 0.0 and -0.0 */
	assert_true(a->zeroed_fraction_valid && a->coverage_valid && a->means_valid);
	assert_true(a->zeroed_fraction == 0.5);
	assert_true(a->sample_coverage == 0.75);
	assert_true(a->mean_abs_before == 2.0);
	assert_true(a->mean_abs_after == 0.5 / 3);

	b = &s.contexts[1];
	assert_false(b->zeroed_fraction_valid);
	assert_false(b->coverage_valid);
	assert_true(b->zeroed_fraction == 0 && b->sample_coverage == 0);
	assert_true(b->means_valid && b->mean_abs_before == 0.25);

	x = &s.contexts[2];
	assert_true(x->zeroed_fraction == 1.0);
	assert_true(x->coverage_valid && x->sample_coverage == 0);
	assert_false(x->means_valid);
	assert_true(x->mean_abs_before == 0 && x->mean_abs_after == 0);

	assert_null(s.overall.context);
	assert_int_equal(s.overall.events, 14);
	assert_int_equal(s.overall.zeroed, 12);
	assert_int_equal(s.overall.samples, 4);
	assert_true(s.overall.mean_abs_before == 1.5625);
	assert_true(s.overall.mean_abs_after == 0.1875);
	assert_true(s.overall.sample_coverage == 4.0 / 14);
	assert_true(s.overall.zeroed_fraction == 12.0 / 14);
	assert_int_equal(s.recorded, 4);
	assert_int_equal(s.window_len, 4);
	assert_int_equal(s.history_limit, 16);
	norm_summary__free(&s);

	/* Cumulative counts replace, samples ahead of counts clamp coverage. */
	assert_int_equal(norm__set_counts(c, "a", 2, 3), 0);
	assert_int_equal(norm__summary(c, &s), 0);
	assert_true(s.contexts[0].zeroed_fraction == 1.0);
	assert_true(s.contexts[0].sample_coverage == 1.0);
	norm_summary__free(&s);
	norm__free(c);
}

static void test_nonfinite_samples(void **state)
{
	struct norm_collector *c = norm__new(0);
	struct norm_summary s;

	(void)state;
	assert_int_equal(norm__history_limit(c), NORM_DEFAULT_HISTORY);
	assert_int_equal(norm__record(c, 1, "n", INFINITY, 0), 0);
	assert_int_equal(norm__record(c, 2, "n", 1, NAN), 0);
	assert_int_equal(norm__record(c, 3, "n", -2, 4), 0);
	assert_int_equal(norm__summary(c, &s), 0);
	assert_int_equal(s.contexts[0].samples, 3);
	assert_int_equal(s.contexts[0].nonfinite_samples, 2);
	assert_int_equal(s.contexts[0].zeroed_samples, 1);
	assert_true(s.contexts[0].means_valid);
	assert_true(s.contexts[0].mean_abs_before == 2);
	assert_true(s.contexts[0].mean_abs_after == 4);
	norm_summary__free(&s);

	/* Magnitudes whose sum overflows: means flagged, never inf. */
	assert_int_equal(norm__record(c, 4, "big", 1.7976931348623157e308, 0), 0);
	assert_int_equal(norm__record(c, 5, "big", 1.7976931348623157e308, 0), 0);
	assert_int_equal(norm__summary(c, &s), 0);
	assert_false(s.contexts[0].means_valid);
	assert_true(s.contexts[0].mean_abs_before == 0);
	norm_summary__free(&s);
	norm__free(c);
}

/* A million 0.1s: a naive sum is off by ~1e-11 relative, the compensated one is not. */
static void test_mean_precision(void **state)
{
	struct norm_collector *c = norm__new(8);
	struct norm_summary s;
	int i;

	(void)state;
	for (i = 0; i < 1000000; i++)
		assert_int_equal(norm__record(c, (uint64_t)i, "p", 0.1, 1.0 / 3), 0);
	assert_int_equal(norm__summary(c, &s), 0);
	assert_true(fabs(s.overall.mean_abs_before - 0.1) <= 0.1 * 1e-15);
	assert_true(fabs(s.overall.mean_abs_after - 1.0 / 3) <= 1e-15 / 3);
	norm_summary__free(&s);
	norm__free(c);
}

static void test_empty_is_nan_free(void **state)
{
	struct norm_collector *c = norm__new(4);
	struct norm_summary s;
	char *text, *dump;
	json_t *j;

	(void)state;
	assert_int_equal(norm__summary(c, &s), 0);
	assert_int_equal(s.nr_contexts, 0);
	assert_false(s.overall.zeroed_fraction_valid || s.overall.coverage_valid ||
		     s.overall.means_valid);
	norm_summary__free(&s);

	text = report_text(c);
	assert_non_null(strstr(text, "n/a"));
	assert_null(strstr(text, "nan"));
	assert_int_equal(norm__to_json_last(c, 10, &j), 0);
	dump = json_dumps(j, JSON_COMPACT);
	assert_non_null(dump);
	assert_null(strstr(dump, "nan"));
	assert_null(strstr(dump, "NaN"));
	assert_non_null(strstr(dump, "\"zeroed_fraction_valid\":false"));
	assert_non_null(strstr(dump, "\"timeseries\":[]"));
	free(dump);
	json_decref(j);
	free(text);
	norm__free(c);
}

static void test_bad_args(void **state)
{
	struct norm_collector *c = norm__new(4);
	json_t *j;

	(void)state;
	errno = 0;
	assert_null(norm__new(NORM_MAX_HISTORY + 1));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(norm__record(NULL, 0, "a", 0, 0), -EINVAL);
	assert_int_equal(norm__record(c, 0, NULL, 0, 0), -EINVAL);
	assert_int_equal(norm__set_counts(c, NULL, 0, 0), -EINVAL);
	assert_int_equal(norm__to_timeseries(c, NULL, 1), -EINVAL);
	assert_int_equal(norm__to_json(c, NULL), -EINVAL);
	assert_int_equal(norm__export_csv(c, NULL), -EINVAL);
	assert_int_equal(norm__export_csv(c, ""), -EINVAL);
	assert_int_equal(norm__report(c, NULL), -EINVAL);

	j = json_pack("{s:i}", "version", 1);
	assert_int_equal(norm__report_from_json(j, stdout), -EPROTO);
	json_decref(j);
	norm__free(NULL);
	norm__free(c);
}

/* ---- window -------------------------------------------------------------- */

static void test_window_eviction(void **state)
{
	struct norm_collector *c = norm__new(4);
	struct norm_event ev[16];
	int i;

	(void)state;
	assert_int_equal(norm__to_timeseries(c, ev, 16), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(norm__record(c, 100 + (uint64_t)i, i % 2 ? "odd" : "even",
					      i, -i), 0);
	assert_int_equal(norm__window_len(c), 4);
	assert_int_equal(norm__to_timeseries(c, ev, 16), 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(ev[i].ts_ms, 106 + i);
		assert_string_equal(ev[i].context, i % 2 ? "odd" : "even");
		assert_true(ev[i].before == 6 + i);
		assert_true(ev[i].after == -(6 + i));
	}
	/* A smaller buffer gets the newest events, still oldest first. */
	assert_int_equal(norm__to_timeseries(c, ev, 2), 2);
	assert_int_equal(ev[0].ts_ms, 108);
	assert_int_equal(ev[1].ts_ms, 109);
	norm__free(c);
}

static void test_window_partial(void **state)
{
	struct norm_collector *c = norm__new(4);
	struct norm_event ev[4];

	(void)state;
	assert_int_equal(norm__record(c, 1, "x", 1, 1), 0);
	assert_int_equal(norm__record(c, 2, "x", 2, 2), 0);
	assert_int_equal(norm__to_timeseries(c, ev, 4), 2);
	assert_int_equal(ev[0].ts_ms, 1);
	assert_int_equal(ev[1].ts_ms, 2);
	norm__free(c);
}

/* ---- contexts ------------------------------------------------------------ */

static void test_context_cap(void **state)
{
	struct norm_collector *c = norm__new(8);
	struct norm_summary s;
	const struct norm_stats *other;
	struct norm_event ev[1];
	char name[16];
	int i;

	(void)state;
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "c%03d", i);
		assert_int_equal(norm__record(c, (uint64_t)i, name, 1, 0), 0);
		assert_int_equal(norm__set_counts(c, name, 2, 1), 0);
	}
	assert_int_equal(norm__to_timeseries(c, ev, 1), 1);
	assert_string_equal(ev[0].context, NORM_OTHER_CONTEXT);

	/* Folded counts are cumulative too: set again, not added. */
	assert_int_equal(norm__set_counts(c, "c299", 5, 1), 0);
	assert_int_equal(norm__set_counts(c, "c299", 3, 1), 0);
	/* The guard's own __other__ series adds to the folded ones. */
	assert_int_equal(norm__set_counts(c, NORM_OTHER_CONTEXT, 7, 0), 0);
	assert_int_equal(norm__summary(c, &s), 0);
	assert_int_equal(s.nr_contexts, NORM_MAX_CONTEXTS + 1);
	assert_int_equal(s.folded_samples, 44);
	assert_int_equal(s.folded_contexts, 44);
	other = find_ctx(&s, NORM_OTHER_CONTEXT);
	assert_non_null(other);
	assert_int_equal(other->samples, 44);
	assert_int_equal(other->events, 7 + 43 * 2 + 3);
	assert_int_equal(other->zeroed, 44);
	assert_int_equal(s.overall.events, 256 * 2 + 7 + 43 * 2 + 3);
	assert_int_equal(s.overall.samples, 300);
	assert_non_null(find_ctx(&s, "c255"));
	assert_null(find_ctx(&s, "c256"));
	norm_summary__free(&s);
	norm__free(c);
}

static void test_folded_limit(void **state)
{
	struct norm_collector *c = norm__new(1);
	struct norm_summary s;
	char name[16];
	int i;

	(void)state;
	for (i = 0; i < NORM_MAX_CONTEXTS + NORM_MAX_FOLDED; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(norm__set_counts(c, name, 1, 0), 0);
	}
	assert_int_equal(norm__set_counts(c, "one-too-many", 1, 0), -ENOSPC);
	assert_int_equal(norm__set_counts(c, "k9999", 2, 0), -ENOSPC);
	assert_int_equal(norm__summary(c, &s), 0);
	assert_int_equal(s.overall.events, NORM_MAX_CONTEXTS + NORM_MAX_FOLDED);
	assert_int_equal(s.dropped_count_updates, 2);
	assert_int_equal(s.folded_contexts, NORM_MAX_FOLDED);
	norm_summary__free(&s);
	norm__free(c);
}

static void test_context_sanitize(void **state)
{
	struct norm_collector *c = norm__new(4);
	struct norm_event ev[4];
	char long_name[400];

	(void)state;
	assert_int_equal(norm__record(c, 1, "bad\xff\xc3(", 0, 0), 0);
	memset(long_name, 'x', 300);
	long_name[300] = '\0';
	assert_int_equal(norm__record(c, 2, long_name, 0, 0), 0);
	memset(long_name, 'y', 254);
	strcpy(long_name + 254, "\xc3\xa9z");		/* é would end at byte 256 */
	assert_int_equal(norm__record(c, 3, long_name, 0, 0), 0);
	assert_int_equal(norm__to_timeseries(c, ev, 4), 3);
	assert_string_equal(ev[0].context, "bad\xef\xbf\xbd\xef\xbf\xbd(");
	assert_int_equal(strlen(ev[1].context), NORM_CONTEXT_MAX);
	assert_int_equal(strlen(ev[2].context), 254);
	assert_int_equal(ev[2].context[253], 'y');
	norm__free(c);
}

/* ---- CSV ----------------------------------------------------------------- */

static const double tricky[] = {
	0.1, 1.0 / 3, 1e-300, -0.0, 2.2250738585072014e-308, 1.7976931348623157e308,
	4.9406564584124654e-324, -2.5, 123456789012345678.0, 0.30000000000000004,
	INFINITY, -INFINITY, NAN, 0.0,
};

#define NR_TRICKY (sizeof(tricky) / sizeof(tricky[0]))

static struct norm_collector *hostile_collector(void)
{
	struct norm_collector *c = norm__new(MAX_ROWS);
	size_t i;

	assert_non_null(c);
	for (i = 0; i < NR_TRICKY; i++)
		assert_int_equal(norm__record(c, 1700000000000ULL + i,
					      hostile[i % (sizeof(hostile) / sizeof(hostile[0]))],
					      tricky[i], tricky[NR_TRICKY - 1 - i]), 0);
	return c;
}

static void check_csv(const char *path, const struct norm_collector *c)
{
	struct norm_event ev[MAX_ROWS];
	struct row rows[MAX_ROWS + 1];
	char *text = slurp(path), *end;
	int n, nr, i;

	assert_non_null(text);
	n = norm__to_timeseries(c, ev, MAX_ROWS);
	nr = parse_csv(text, rows, MAX_ROWS + 1);
	assert_int_equal(nr, n + 1);
	assert_string_equal(rows[0].field[0], "timestamp_ms");
	assert_string_equal(rows[0].field[1], "context");
	assert_string_equal(rows[0].field[2], "before");
	assert_string_equal(rows[0].field[3], "after");
	for (i = 0; i < n; i++) {
		assert_int_equal(strtoull(rows[i + 1].field[0], &end, 10), ev[i].ts_ms);
		assert_string_equal(rows[i + 1].field[1], ev[i].context);
		assert_true(same_bits(strtod(rows[i + 1].field[2], &end), ev[i].before));
		assert_int_equal(*end, '\0');
		assert_true(same_bits(strtod(rows[i + 1].field[3], &end), ev[i].after));
		assert_int_equal(*end, '\0');
	}
	/* Shortest form: 0.1 is "0.1", not 0.10000000000000001. */
	assert_string_equal(rows[1].field[2], "0.1");
	assert_string_equal(rows[4].field[2], "-0");
	free_rows(rows, nr);
	free(text);
}

static void test_csv_round_trip(void **state)
{
	struct norm_collector *c = hostile_collector();
	char dir[] = "/tmp/emitd-norm-XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/norm.csv", dir);
	assert_int_equal(norm__export_csv(c, path), 0);
	check_csv(path, c);

	/* Kept for a check with a standard CSV reader (see docs/NORMALIZATION.md). */
	assert_int_equal(norm__export_csv(c, HOSTILE_CSV), 0);
	check_csv(HOSTILE_CSV, c);

	unlink(path);
	rmdir(dir);
	norm__free(c);
}

static void test_csv_empty(void **state)
{
	struct norm_collector *c = norm__new(4);
	char dir[] = "/tmp/emitd-norm-XXXXXX", path[64], *text;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/empty.csv", dir);
	assert_int_equal(norm__export_csv(c, path), 0);
	text = slurp(path);
	assert_string_equal(text, "timestamp_ms,context,before,after\n");
	free(text);
	unlink(path);
	rmdir(dir);
	norm__free(c);
}

static void test_csv_atomic_replace(void **state)
{
	struct norm_collector *c = norm__new(4);
	char dir[] = "/tmp/emitd-norm-XXXXXX", path[64], *text;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/norm.csv", dir);
	assert_int_equal(norm__record(c, 1, "a", 1, 0), 0);
	assert_int_equal(norm__export_csv(c, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(norm__record(c, 2, "b", 2, 0), 0);
	assert_int_equal(norm__export_csv(c, path), 0);
	text = slurp(path);
	assert_string_equal(text, "timestamp_ms,context,before,after\n1,a,1,0\n2,b,2,0\n");
	free(text);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);	/* the operator's mode stays */
	assert_int_equal(count_entries(dir), 1);	/* no temp file left */

	unlink(path);
	rmdir(dir);
	norm__free(c);
}

static void test_csv_errors(void **state)
{
	struct norm_collector *c = norm__new(4);
	char dir[] = "/tmp/emitd-norm-XXXXXX", path[96];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(norm__record(c, 1, "a", 1, 0), 0);

	snprintf(path, sizeof(path), "%s/missing/norm.csv", dir);
	assert_int_equal(norm__export_csv(c, path), -ENOENT);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(count_entries(dir), 0);

	/* rename() over a directory fails after the temp file was written. */
	snprintf(path, sizeof(path), "%s/isdir", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(norm__export_csv(c, path), -EISDIR);
	assert_int_equal(count_entries(dir), 1);	/* only the directory */

	rmdir(path);
	rmdir(dir);
	norm__free(c);
}

/* A reader racing the writer sees one complete version or the other. */
static void test_csv_concurrent_reader(void **state)
{
	struct norm_collector *small = norm__new(4), *big = norm__new(4096);
	char dir[] = "/tmp/emitd-norm-XXXXXX", path[64], *want[2], *text;
	int i, status, reads = 0;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/norm.csv", dir);
	assert_int_equal(norm__record(small, 1, "s", 1, 0), 0);
	for (i = 0; i < 4096; i++)
		assert_int_equal(norm__record(big, (uint64_t)i, "big,ctx", i / 7.0, 0), 0);
	assert_int_equal(norm__export_csv(big, path), 0);
	want[1] = slurp(path);
	assert_int_equal(norm__export_csv(small, path), 0);
	want[0] = slurp(path);

	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		for (i = 0, status = 0; i < 200 && !status; i++)
			status = norm__export_csv(i % 2 ? big : small, path);
		free(want[0]);
		free(want[1]);
		norm__free(small);
		norm__free(big);
		_exit(status ? 1 : 0);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		text = slurp(path);
		assert_non_null(text);
		assert_true(!strcmp(text, want[0]) || !strcmp(text, want[1]));
		free(text);
		reads++;
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(reads > 0);
	assert_int_equal(count_entries(dir), 1);

	free(want[0]);
	free(want[1]);
	unlink(path);
	rmdir(dir);
	norm__free(small);
	norm__free(big);
}

/* ---- report and JSON ----------------------------------------------------- */

static struct norm_collector *report_collector(void)
{
	struct norm_collector *c = hostile_collector();

	assert_int_equal(norm__record(c, 9, "esc\x1b[31mred\x7f\xc2\x85", 0.5, 0), 0);
	assert_int_equal(norm__set_counts(c, "budget_buffer", 10, 4), 0);
	assert_int_equal(norm__set_counts(c, "a,b", 3, 0), 0);
	assert_int_equal(norm__set_counts(c, "never sampled", 5, 5), 0);
	return c;
}

static void test_report_text(void **state)
{
	struct norm_collector *c = report_collector();
	char *text = report_text(c);

	(void)state;
	assert_non_null(strstr(text, "normalization: 14 contexts, window 15 of 64 events"));
	assert_non_null(strstr(text, "mean|before|"));
	assert_non_null(strstr(text, "overall"));
	assert_non_null(strstr(text, "n/a"));
	/* Control characters never reach the terminal raw. */
	assert_null(strchr(text, '\x1b'));
	assert_null(strchr(text, '\r'));
	assert_non_null(strstr(text, "esc\\x1b[31mred\\x7f\\u0085"));
	assert_non_null(strstr(text, "line\\x0abreak"));
	assert_non_null(strstr(text, "tab\\x09here\\\\back"));
	assert_non_null(strstr(text, "non-finite samples (left out of the means): 6"));
	free(text);
	norm__free(c);
}

static void test_json_round_trip(void **state)
{
	struct norm_collector *c = report_collector();
	char *direct = report_text(c), *via, *dump;
	json_t *j, *back, *ts;

	(void)state;
	assert_int_equal(norm__to_json_last(c, 3, &j), 0);
	dump = json_dumps(j, JSON_COMPACT);
	assert_non_null(dump);
	assert_null(strstr(dump, "nan"));
	assert_null(strstr(dump, "inf"));
	back = json_loads(dump, 0, NULL);
	assert_non_null(back);
	via = report_text_json(back);
	assert_string_equal(via, direct);

	ts = json_object_get(back, "timeseries");
	assert_int_equal(json_array_size(ts), 3);
	assert_true(json_is_null(json_object_get(json_array_get(ts, 0), "before")));	/* nan */
	assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 2), "context")),
			    "esc\x1b[31mred\x7f\xc2\x85");
	assert_int_equal(json_integer_value(json_object_get(back, "version")), NORM_JSON_VERSION);

	free(dump);
	free(via);
	free(direct);
	json_decref(back);
	json_decref(j);
	assert_int_equal(norm__to_json(c, &j), 0);
	assert_null(json_object_get(j, "timeseries"));
	json_decref(j);
	norm__free(c);
}

static void test_json_means_exact(void **state)
{
	struct norm_collector *c = norm__new(4);
	struct norm_summary a, b;
	json_t *j, *back;
	char *dump;

	(void)state;
	assert_int_equal(norm__record(c, 1, "x", 1.0 / 3, 0.1), 0);
	assert_int_equal(norm__record(c, 2, "x", 2.0 / 7, 1e-300), 0);
	assert_int_equal(norm__set_counts(c, "x", 3, 0), 0);
	assert_int_equal(norm__summary(c, &a), 0);
	assert_int_equal(norm__to_json(c, &j), 0);
	dump = json_dumps(j, 0);
	back = json_loads(dump, 0, NULL);
	assert_int_equal(norm__summary_from_json(back, &b), 0);
	assert_true(same_bits(a.contexts[0].mean_abs_before, b.contexts[0].mean_abs_before));
	assert_true(same_bits(a.contexts[0].mean_abs_after, b.contexts[0].mean_abs_after));
	assert_true(same_bits(a.overall.sample_coverage, b.overall.sample_coverage));
	norm_summary__free(&a);
	norm_summary__free(&b);
	json_decref(back);
	json_decref(j);
	free(dump);
	norm__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_math),
		cmocka_unit_test(test_nonfinite_samples),
		cmocka_unit_test(test_mean_precision),
		cmocka_unit_test(test_empty_is_nan_free),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_window_eviction),
		cmocka_unit_test(test_window_partial),
		cmocka_unit_test(test_context_cap),
		cmocka_unit_test(test_folded_limit),
		cmocka_unit_test(test_context_sanitize),
		cmocka_unit_test(test_csv_round_trip),
		cmocka_unit_test(test_csv_empty),
		cmocka_unit_test(test_csv_atomic_replace),
		cmocka_unit_test(test_csv_errors),
		cmocka_unit_test(test_csv_concurrent_reader),
		cmocka_unit_test(test_report_text),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_means_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
