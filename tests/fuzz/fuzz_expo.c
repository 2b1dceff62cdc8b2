// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Label escaping and rendering (user/lib/expo.h): families built from the
 * input (names mostly valid, sometimes any bytes; help, units, label values
 * any bytes; any numbers) rendered in text 0.0.4 and OpenMetrics 1.0.0.
 *
 * Invariants, checked by parsing the output back (independently of expo.c):
 *  - a failed render leaves the buffer exactly as it was;
 *  - the output is valid UTF-8, made of complete lines;
 *  - each family is one TYPE line (OpenMetrics: then UNIT, HELP; text: HELP
 *    first), its samples follow it, named after it with the suffixes of its
 *    type, and there are as many as its series call for;
 *  - every label value is quoted and escaped (\\, \", \n only), the label
 *    names are the family's, in order (then `le` on buckets), and it reads
 *    back as the value given when that was valid UTF-8; HELP likewise
 *    (text 0.0.4 escapes \\ and \n only);
 *  - counters print their exact count; OpenMetrics ends with one "# EOF";
 *  - the gzip of the output inflates back to it;
 *  - expo_parse__text() (what remote write reads the page with) reads text
 *    0.0.4 back to the same samples, labels and values.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <zlib.h>

#include "fuzz.h"
#include "lib/expo.h"
#include "lib/expo_parse.h"

#define MAX_FAMS	3
#define MAX_LABELS	4
#define MAX_SERIES	4
#define MAX_BOUNDS	5
#define PREFIX		"# prefix\n"

struct fam_in {
	struct expo_family f;
	char *name, *help, *unit;
	char *label_names[MAX_LABELS];
	double bounds[MAX_BOUNDS];
	struct expo_series series[MAX_SERIES];
	char *values[MAX_SERIES][MAX_LABELS];
	uint64_t buckets[MAX_SERIES][MAX_BOUNDS + 1];
};

static const char *const names[] = {
	"demo_requests_total", "demo_latency_seconds", "demo_queue", "x",
	"demo:rule_bytes", "demo_requests", "_total", "emitd_scrape_bytes",
};
static const char *const units[] = { "", "seconds", "bytes", "total", "_" };
static const char *const label_names[] = { "route", "le", "code", "a", "_x", "sensor" };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Mostly one of @table (the renders that get past validation), else any bytes. */
static char *pick(struct fuzz_in *in, const char *const *table, size_t n)
{
	uint8_t c = fuzz_in__u8(in);
	char *s;

	if (c >= 224)
		return fuzz_in__str(in, 32);
	s = strdup(table[c % n]);
	FUZZ_ASSERT(s);
	return s;
}

static void build_bounds(struct fuzz_in *in, struct fam_in *fi)
{
	double b = (double)(int8_t)fuzz_in__u8(in) / 4;
	size_t i;

	fi->f.nr_bounds = fuzz_in__u8(in) % (MAX_BOUNDS + 1);
	for (i = 0; i < fi->f.nr_bounds; i++) {
		if (fuzz_in__u8(in) == 0xff)
			fi->bounds[i] = fuzz_in__double(in);	/* any double: NaN, unsorted */
		else
			fi->bounds[i] = b += 1 + fuzz_in__u8(in);
	}
	fi->f.bounds = fi->bounds;
}

static void build_series(struct fuzz_in *in, struct fam_in *fi, size_t k)
{
	struct expo_series *s = &fi->series[k];
	size_t j;

	for (j = 0; j < fi->f.nr_labels; j++)
		fi->values[k][j] = fuzz_in__str(in, 64);
	s->label_values = (const char *const *)fi->values[k];
	s->count = fuzz_in__u64(in, fuzz_in__u8(in) % 9);
	s->value = fuzz_in__double(in);
	for (j = 0; j <= fi->f.nr_bounds; j++)
		fi->buckets[k][j] = fuzz_in__u64(in, 2);
	s->buckets = fi->buckets[k];
	s->sum_is_int = fuzz_in__bool(in);
	if (s->sum_is_int)
		s->isum = (int64_t)fuzz_in__u64(in, 8);
	else
		s->sum = fuzz_in__double(in);
}

static void build_family(struct fuzz_in *in, struct fam_in *fi)
{
	struct expo_family *f = &fi->f;
	size_t j;

	f->type = fuzz_in__u8(in) % 4;
	f->name = fi->name = pick(in, names, ARRAY_SIZE(names));
	f->help = fi->help = fuzz_in__bool(in) ? fuzz_in__str(in, 96) : NULL;
	f->unit = fi->unit = fuzz_in__bool(in) ? pick(in, units, ARRAY_SIZE(units)) : NULL;
	f->nr_labels = fuzz_in__u8(in) % (MAX_LABELS + 1);
	for (j = 0; j < f->nr_labels; j++)
		fi->label_names[j] = pick(in, label_names, ARRAY_SIZE(label_names));
	f->label_names = (const char *const *)fi->label_names;
	if (f->type == EXPO_HISTOGRAM)
		build_bounds(in, fi);
	f->nr_series = fuzz_in__u8(in) % (MAX_SERIES + 1);
	for (j = 0; j < f->nr_series; j++)
		build_series(in, fi, j);
	f->series = fi->series;
}

static void free_family(struct fam_in *fi)
{
	size_t j, k;

	free(fi->name);
	free(fi->help);
	free(fi->unit);
	for (j = 0; j < fi->f.nr_labels; j++)
		free(fi->label_names[j]);
	for (k = 0; k < fi->f.nr_series; k++) {
		for (j = 0; j < fi->f.nr_labels; j++)
			free(fi->values[k][j]);
	}
}

/* --- reading the output back ---------------------------------------------- */

/* A sample line as read: its family, series, whether it is a bucket, its value. */
struct sample_seen {
	long fam;
	size_t series;
	bool bucket;
	char value[40];
};

struct reader {
	const struct fam_in *fams;
	size_t nr_fams;
	enum expo_format fmt;
	long cur;		/* family of the last TYPE line, -1 before the first */
	char meta[128];		/* its name in TYPE/HELP/UNIT */
	size_t series;		/* series of the current family read so far */
	bool eof;
	struct sample_seen *seen;	/* every sample line, in order */
	size_t nr_seen;
};

/*
 * Decodes the escaped text at @s (up to @end, or a closing quote when
 * @quoted) into @out; the escapes allowed are \\, \n and, when @dq, \".
 * Returns the end of what was read (the closing quote), NULL when malformed.
 */
static const char *unescape(const char *s, const char *end, bool quoted, bool dq,
			    char *out, size_t cap, size_t *len)
{
	size_t n = 0;

	while (s < end && !(quoted && *s == '"')) {
		char c = *s++;

		FUZZ_ASSERT(c != '\n');
		if (c == '"')
			FUZZ_ASSERT(!dq);	/* OpenMetrics HELP: a raw quote is not allowed */
		if (c == '\\') {
			FUZZ_ASSERT(s < end);
			c = *s++;
			if (c == 'n')
				c = '\n';
			else
				FUZZ_ASSERT(c == '\\' || (dq && c == '"'));
		}
		FUZZ_ASSERT(n < cap);
		out[n++] = c;
	}
	if (quoted)
		FUZZ_ASSERT(s < end && *s == '"');
	*len = n;
	return s;
}

/* The value given reads back exactly when it was valid UTF-8. */
static void check_text(const char *given, const char *got, size_t got_len)
{
	if (fuzz_utf8_valid(given, strlen(given)))
		FUZZ_ASSERT(strlen(given) == got_len && !memcmp(given, got, got_len));
}

static bool metric_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

static const char *type_word(const struct reader *r, enum expo_type t)
{
	static const char *const words[] = { "counter", "gauge", "histogram", "untyped" };

	if (t == EXPO_UNTYPED && r->fmt == EXPO_FMT_OPENMETRICS_100)
		return "unknown";
	return words[t];
}

static void end_family(struct reader *r)
{
	if (r->cur >= 0)
		FUZZ_ASSERT(r->series == r->fams[r->cur].f.nr_series);
}

/* "# TYPE name word": the next family starts. */
static void read_type(struct reader *r, const char *s, const char *end)
{
	const struct expo_family *f;
	const char *sp = memchr(s, ' ', end - s);
	size_t n;

	end_family(r);
	r->cur++;
	r->series = 0;
	FUZZ_ASSERT(r->cur < (long)r->nr_fams);
	f = &r->fams[r->cur].f;
	FUZZ_ASSERT(sp);
	n = sp - s;
	FUZZ_ASSERT(n < sizeof(r->meta) && !strncmp(f->name, s, n));
	memcpy(r->meta, s, n);
	r->meta[n] = '\0';
	if (r->fmt == EXPO_FMT_TEXT_004 || f->type != EXPO_COUNTER)
		FUZZ_ASSERT(!strcmp(r->meta, f->name));
	FUZZ_ASSERT((size_t)(end - sp - 1) == strlen(type_word(r, f->type)) &&
		    !memcmp(sp + 1, type_word(r, f->type), end - sp - 1));
}

/* "# HELP name text": text 0.0.4 before the TYPE line, OpenMetrics after. */
static void read_help(struct reader *r, const char *s, const char *end)
{
	bool om = r->fmt == EXPO_FMT_OPENMETRICS_100;
	long i = om ? r->cur : r->cur + 1;
	const struct expo_family *f;
	char *buf = malloc(end - s + 1);
	size_t name_len, len;
	const char *sp;

	FUZZ_ASSERT(buf && i >= 0 && i < (long)r->nr_fams);
	f = &r->fams[i].f;
	FUZZ_ASSERT(f->help && *f->help);
	sp = memchr(s, ' ', end - s);
	FUZZ_ASSERT(sp);
	name_len = sp - s;
	FUZZ_ASSERT(!strncmp(s, f->name, name_len));
	if (om)
		FUZZ_ASSERT(name_len == strlen(r->meta));
	else
		FUZZ_ASSERT(name_len == strlen(f->name));
	unescape(sp + 1, end, false, om, buf, end - s, &len);
	check_text(f->help, buf, len);
	free(buf);
}

/* "{a="x",b="y"}": the family's labels in order, then `le` when @le. */
static const char *read_labels(const struct reader *r, const char *s, const char *end,
			       bool le)
{
	const struct fam_in *fi = &r->fams[r->cur];
	size_t i, want = fi->f.nr_labels + le, len, n;
	char *buf = malloc(end - s + 1);

	FUZZ_ASSERT(buf && *s == '{');
	s++;
	for (i = 0; i < want; i++) {
		const char *name = i < fi->f.nr_labels ? fi->f.label_names[i] : "le";

		if (i)
			FUZZ_ASSERT(*s++ == ',');
		n = strlen(name);
		FUZZ_ASSERT(end - s > (long)n + 1 && !memcmp(s, name, n) && s[n] == '=' &&
			    s[n + 1] == '"');
		s = unescape(s + n + 2, end, true, true, buf, end - s, &len) + 1;
		FUZZ_ASSERT(fuzz_utf8_valid(buf, len));
		if (i < fi->f.nr_labels)
			check_text(fi->series[r->series].label_values[i], buf, len);
	}
	FUZZ_ASSERT(s < end && *s == '}');
	free(buf);
	return s + 1;
}

static void record(struct reader *r, bool bucket, const char *value, const char *end)
{
	struct sample_seen *v = realloc(r->seen, (r->nr_seen + 1) * sizeof(*v));

	FUZZ_ASSERT(v && (size_t)(end - value) < sizeof(v->value));
	r->seen = v;
	v += r->nr_seen++;
	v->fam = r->cur;
	v->series = r->series;
	v->bucket = bucket;
	memcpy(v->value, value, end - value);
	v->value[end - value] = '\0';
}

static void read_sample(struct reader *r, const char *s, const char *end)
{
	const struct fam_in *fi;
	size_t meta_len = strlen(r->meta), n;
	const char *p = s, *suffix;
	char want[32];

	FUZZ_ASSERT(r->cur >= 0 && !r->eof);
	fi = &r->fams[r->cur];
	FUZZ_ASSERT(r->series < fi->f.nr_series);
	FUZZ_ASSERT(metric_char(*p, true));
	while (p < end && metric_char(*p, false))
		p++;
	FUZZ_ASSERT((size_t)(p - s) >= meta_len && !memcmp(s, r->meta, meta_len));
	suffix = s + meta_len;
	n = p - suffix;
#define IS(sfx) (n == strlen(sfx) && !memcmp(suffix, sfx, n))
	if (fi->f.type == EXPO_HISTOGRAM) {
		FUZZ_ASSERT(IS("_bucket") || IS("_sum") || IS("_count"));
	} else if (fi->f.type == EXPO_COUNTER && r->fmt == EXPO_FMT_OPENMETRICS_100) {
		FUZZ_ASSERT(IS("_total"));
	} else {
		FUZZ_ASSERT(n == 0);
	}
	if (fi->f.nr_labels || IS("_bucket"))
		p = read_labels(r, p, end, IS("_bucket"));
	FUZZ_ASSERT(p < end && *p == ' ');
	p++;
	FUZZ_ASSERT(p < end && !memchr(p, ' ', end - p));
	if (fi->f.type == EXPO_COUNTER) {
		snprintf(want, sizeof(want), "%" PRIu64, fi->series[r->series].count);
		FUZZ_ASSERT((size_t)(end - p) == strlen(want) && !memcmp(p, want, end - p));
	}
	record(r, IS("_bucket"), p, end);
	if (fi->f.type != EXPO_HISTOGRAM || IS("_count"))
		r->series++;
#undef IS
}

static void read_line(struct reader *r, const char *s, const char *end)
{
	bool om = r->fmt == EXPO_FMT_OPENMETRICS_100;

	if (end - s == 5 && !memcmp(s, "# EOF", 5)) {
		FUZZ_ASSERT(om && !r->eof);
		r->eof = true;
	} else if (!strncmp(s, "# TYPE ", 7)) {
		read_type(r, s + 7, end);
	} else if (!strncmp(s, "# HELP ", 7)) {
		read_help(r, s + 7, end);
	} else if (!strncmp(s, "# UNIT ", 7)) {
		FUZZ_ASSERT(om && r->cur >= 0 && r->fams[r->cur].f.unit);
		FUZZ_ASSERT(!strncmp(s + 7, r->meta, strlen(r->meta)));
	} else {
		FUZZ_ASSERT(*s != '#');
		read_sample(r, s, end);
	}
}

struct parsed {
	const struct reader *r;
	size_t i;	/* samples read back so far */
};

/* expo_parse__text()'s samples against the lines the reader saw. */
static int on_parsed(void *ctx, const char *name, const struct expo_label *labels, size_t nr,
		     double value)
{
	struct parsed *pc = ctx;
	const struct sample_seen *want;
	const struct fam_in *fi;
	char *end;
	double v;
	size_t i;

	FUZZ_ASSERT(pc->i < pc->r->nr_seen);
	want = &pc->r->seen[pc->i++];
	fi = &pc->r->fams[want->fam];
	FUZZ_ASSERT(!strncmp(name, fi->f.name, strlen(fi->f.name)));
	FUZZ_ASSERT(nr == fi->f.nr_labels + want->bucket);
	for (i = 0; i < fi->f.nr_labels; i++) {
		const char *given = fi->series[want->series].label_values[i];

		FUZZ_ASSERT(!strcmp(labels[i].name, fi->f.label_names[i]));
		if (fuzz_utf8_valid(given, strlen(given)))
			FUZZ_ASSERT(!strcmp(labels[i].value, given));
	}
	if (want->bucket)
		FUZZ_ASSERT(!strcmp(labels[nr - 1].name, "le"));
	v = strtod(want->value, &end);
	if (*end)	/* +Inf, -Inf, NaN */
		v = want->value[0] == 'N' ? NAN : want->value[0] == '-' ? -INFINITY : INFINITY;
	FUZZ_ASSERT((isnan(v) && isnan(value)) || v == value);
	return 0;
}

static void check_parse_back(const struct reader *r, const char *out, size_t len)
{
	struct parsed pc = { r, 0 };
	unsigned int bad = 0;

	FUZZ_ASSERT(expo_parse__text(out, len, on_parsed, &pc, &bad) == 0);
	FUZZ_ASSERT(pc.i == r->nr_seen);
}

static void check_output(const struct fam_in *fams, size_t nr, enum expo_format fmt,
			 const char *out, size_t len)
{
	struct reader r = { .fams = fams, .nr_fams = nr, .fmt = fmt, .cur = -1 };
	const char *s = out, *end = out + len, *nl;

	FUZZ_ASSERT(fuzz_utf8_valid(out, len));
	FUZZ_ASSERT(!memchr(out, '\0', len));
	while (s < end) {
		nl = memchr(s, '\n', end - s);
		FUZZ_ASSERT(nl);
		read_line(&r, s, nl);
		s = nl + 1;
	}
	end_family(&r);
	FUZZ_ASSERT(r.cur == (long)nr - 1);
	FUZZ_ASSERT(r.eof == (fmt == EXPO_FMT_OPENMETRICS_100));
	if (fmt == EXPO_FMT_TEXT_004)
		check_parse_back(&r, out, len);
	free(r.seen);
}

static void check_gzip(const char *data, size_t len)
{
	struct expo_buf gz = { 0 };
	z_stream zs = { 0 };
	char *back = malloc(len + 1);

	FUZZ_ASSERT(back);
	FUZZ_ASSERT(expo__gzip(data, len, &gz) == 0);
	FUZZ_ASSERT(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK);
	zs.next_in = (Bytef *)gz.data;
	zs.avail_in = gz.len;
	zs.next_out = (Bytef *)back;
	zs.avail_out = len + 1;
	FUZZ_ASSERT(inflate(&zs, Z_FINISH) == Z_STREAM_END);
	FUZZ_ASSERT(zs.total_out == len && !memcmp(back, data, len));
	inflateEnd(&zs);
	expo_buf__free(&gz);
	free(back);
}

static void render(const struct fam_in *fams, const struct expo_family *f, size_t nr,
		   enum expo_format fmt, bool gzip)
{
	struct expo_buf b = { 0 };
	size_t plen = strlen(PREFIX);
	int err;

	FUZZ_ASSERT(expo_buf__append(&b, PREFIX, plen) == 0);
	err = expo__render(&b, f, nr, fmt);
	FUZZ_ASSERT(err == 0 || err == -EINVAL);
	if (err) {
		FUZZ_ASSERT(b.len == plen && !memcmp(b.data, PREFIX, plen));
		goto out_free;
	}
	FUZZ_ASSERT(expo__finish(&b, fmt) == 0);
	check_output(fams, nr, fmt, b.data + plen, b.len - plen);
	if (gzip)
		check_gzip(b.data, b.len);
out_free:
	expo_buf__free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fam_in fams[MAX_FAMS];
	struct expo_family f[MAX_FAMS];
	size_t nr, i;
	bool gzip;

	memset(fams, 0, sizeof(fams));
	nr = 1 + fuzz_in__u8(&in) % MAX_FAMS;
	gzip = fuzz_in__bool(&in);
	for (i = 0; i < nr; i++) {
		build_family(&in, &fams[i]);
		f[i] = fams[i].f;
	}
	render(fams, f, nr, EXPO_FMT_TEXT_004, gzip);
	render(fams, f, nr, EXPO_FMT_OPENMETRICS_100, gzip);
	for (i = 0; i < nr; i++)
		free_family(&fams[i]);
	return 0;
}
