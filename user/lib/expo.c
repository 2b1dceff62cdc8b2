// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * expo: Prometheus text 0.0.4 / OpenMetrics 1.0.0 rendering and gzip. See
 * expo.h for the output rules.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lib/expo.h"
#include "lib/fmt.h"
#include "lib/suffix.h"
#include "lib/utf8.h"

#define EXPO_BUF_MIN		4096
#define EXPO_NUM_LEN		40	/* longest number we print, NUL included */
_Static_assert(EXPO_NUM_LEN >= FMT_DOUBLE_LEN, "fmt__double() needs FMT_DOUBLE_LEN bytes");
#define EXPO_GZIP_LEVEL		1	/* scrapes are frequent: favour CPU over ratio */
#define EXPO_GZIP_CHUNK		(64 * 1024)

/* --- growable buffer ---------------------------------------------------- */

static int buf_reserve(struct expo_buf *b, size_t extra)
{
	size_t need, cap;
	char *data;

	if (extra > SIZE_MAX - b->len)
		return -ENOMEM;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : EXPO_BUF_MIN;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	data = realloc(b->data, cap);
	if (!data)
		return -ENOMEM;
	b->data = data;
	b->cap = cap;
	return 0;
}

int expo_buf__append(struct expo_buf *b, const void *data, size_t len)
{
	int err;

	if (!len)
		return 0;
	err = buf_reserve(b, len);
	if (err)
		return err;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static int buf_puts(struct expo_buf *b, const char *s)
{
	return expo_buf__append(b, s, strlen(s));
}

static int buf_putc(struct expo_buf *b, char c)
{
	return expo_buf__append(b, &c, 1);
}

int expo_buf__printf(struct expo_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, err;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	err = buf_reserve(b, (size_t)n + 1);
	if (err)
		return err;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void expo_buf__free(struct expo_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* --- UTF-8 and escaping --------------------------------------------------- */


/*
 * Appends @s with backslash and line feed escaped, and double quote too when
 * @quote; ill-formed UTF-8 becomes U+FFFD.
 */
static int put_escaped(struct expo_buf *b, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *run = p;	/* start of bytes copied verbatim */
	const char *esc;
	int n, err;

	while (*p) {
		if (*p == '\\')
			esc = "\\\\";
		else if (*p == '\n')
			esc = "\\n";
		else if (*p == '"' && quote)
			esc = "\\\"";
		else
			esc = NULL;

		n = esc ? -1 : utf8__seq(p);
		if (n > 0) {
			p += n;
			continue;
		}
		err = expo_buf__append(b, run, (size_t)(p - run));
		if (!err)
			err = buf_puts(b, esc ? esc : "\xef\xbf\xbd");
		if (err)
			return err;
		p += -n;
		run = p;
	}
	return expo_buf__append(b, run, (size_t)(p - run));
}

/* --- numbers -------------------------------------------------------------- */

/* Go-style shortest float (what Prometheus writes); OpenMetrics adds ".0" to integral values. */
static void format_float(char *out, double v, bool om_dot)
{
	fmt__double(out, v, FMT_SHORTEST,
		    FMT_GO | FMT_PROM_SPECIAL | (om_dot ? FMT_INT_DOT : 0));
}

static int put_float(struct expo_buf *b, double v, enum expo_format fmt)
{
	char num[EXPO_NUM_LEN];

	format_float(num, v, fmt == EXPO_FMT_OPENMETRICS_100);
	return buf_puts(b, num);
}

static int put_u64(struct expo_buf *b, uint64_t v)
{
	char num[EXPO_NUM_LEN];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	return buf_puts(b, num);
}

static int put_s64(struct expo_buf *b, int64_t v)
{
	char num[EXPO_NUM_LEN];

	snprintf(num, sizeof(num), "%" PRId64, v);
	return buf_puts(b, num);
}

/* --- validation ----------------------------------------------------------- */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool valid_metric_name(const char *s)
{
	if (!s || !(is_alpha(*s) || *s == '_' || *s == ':'))
		return false;
	for (s++; *s; s++) {
		if (!(is_alpha(*s) || is_digit(*s) || *s == '_' || *s == ':'))
			return false;
	}
	return true;
}

static bool valid_label_name(const char *s)
{
	if (!s || !(is_alpha(*s) || *s == '_'))
		return false;
	for (s++; *s; s++) {
		if (!(is_alpha(*s) || is_digit(*s) || *s == '_'))
			return false;
	}
	return true;
}

static int validate_labels(const struct expo_family *f)
{
	size_t i, j;

	if (f->nr_labels && !f->label_names)
		return -EINVAL;
	for (i = 0; i < f->nr_labels; i++) {
		if (!valid_label_name(f->label_names[i]))
			return -EINVAL;
		if (f->type == EXPO_HISTOGRAM && !strcmp(f->label_names[i], "le"))
			return -EINVAL;
		for (j = 0; j < i; j++) {
			if (!strcmp(f->label_names[i], f->label_names[j]))
				return -EINVAL;
		}
	}
	return 0;
}

static int validate_series(const struct expo_family *f)
{
	const struct expo_series *s;
	size_t i, j;

	if (f->nr_series && !f->series)
		return -EINVAL;
	for (i = 0; i < f->nr_series; i++) {
		s = &f->series[i];
		if (f->nr_labels && !s->label_values)
			return -EINVAL;
		for (j = 0; j < f->nr_labels; j++) {
			if (!s->label_values[j])
				return -EINVAL;
		}
		if (f->type == EXPO_HISTOGRAM && !s->buckets)
			return -EINVAL;
	}
	return 0;
}

static int validate_family(const struct expo_family *f)
{
	size_t i;
	int err;

	if (!valid_metric_name(f->name))
		return -EINVAL;
	if (f->type > EXPO_UNTYPED)
		return -EINVAL;
	err = validate_labels(f);
	if (err)
		return err;
	if (f->type == EXPO_HISTOGRAM) {
		if (f->nr_bounds && !f->bounds)
			return -EINVAL;
		for (i = 0; i < f->nr_bounds; i++) {
			if (!isfinite(f->bounds[i]))
				return -EINVAL;
			if (i && !(f->bounds[i] > f->bounds[i - 1]))
				return -EINVAL;
		}
	}
	return validate_series(f);
}

/* --- rendering ------------------------------------------------------------ */

struct fam_ctx {
	const struct expo_family *f;
	enum expo_format fmt;
	const char *name;	/* metadata name: OpenMetrics counters drop _total */
	size_t name_len;
	const char *sample_suffix;	/* "_total" for OpenMetrics counters */
};

static void fam_ctx_init(struct fam_ctx *c, const struct expo_family *f,
			 enum expo_format fmt)
{
	c->f = f;
	c->fmt = fmt;
	c->name = f->name;
	c->name_len = strlen(f->name);
	c->sample_suffix = "";
	if (fmt != EXPO_FMT_OPENMETRICS_100 || f->type != EXPO_COUNTER)
		return;
	c->sample_suffix = SUFFIX_TOTAL;
	c->name_len = suffix__strip_total(c->name, c->name_len);
}

static const char *type_word(enum expo_type type, enum expo_format fmt)
{
	switch (type) {
	case EXPO_COUNTER:
		return "counter";
	case EXPO_GAUGE:
		return "gauge";
	case EXPO_HISTOGRAM:
		return "histogram";
	default:
		return fmt == EXPO_FMT_OPENMETRICS_100 ? "unknown" : "untyped";
	}
}

/* "# <word> <name> " */
static int put_meta_start(struct expo_buf *b, const struct fam_ctx *c, const char *word)
{
	int err;

	err = buf_puts(b, "# ");
	if (!err)
		err = buf_puts(b, word);
	if (!err)
		err = buf_putc(b, ' ');
	if (!err)
		err = expo_buf__append(b, c->name, c->name_len);
	if (!err)
		err = buf_putc(b, ' ');
	return err;
}

static int put_help(struct expo_buf *b, const struct fam_ctx *c)
{
	int err;

	if (!c->f->help || !c->f->help[0])
		return 0;
	err = put_meta_start(b, c, "HELP");
	if (!err)
		err = put_escaped(b, c->f->help, c->fmt == EXPO_FMT_OPENMETRICS_100);
	if (!err)
		err = buf_putc(b, '\n');
	return err;
}

static int put_type(struct expo_buf *b, const struct fam_ctx *c)
{
	int err;

	err = put_meta_start(b, c, "TYPE");
	if (!err)
		err = buf_puts(b, type_word(c->f->type, c->fmt));
	if (!err)
		err = buf_putc(b, '\n');
	return err;
}

/* OpenMetrics: a unit must be metric-name characters and "_<unit>" a suffix. */
static bool unit_valid(const struct fam_ctx *c)
{
	const char *u = c->f->unit;
	size_t n, i;

	if (!u || !u[0])
		return false;
	n = strlen(u);
	for (i = 0; i < n; i++) {
		if (!(is_alpha(u[i]) || is_digit(u[i]) || u[i] == '_' || u[i] == ':'))
			return false;
	}
	return c->name_len > n + 1 && c->name[c->name_len - n - 1] == '_' &&
	       !memcmp(c->name + c->name_len - n, u, n);
}

static int put_unit(struct expo_buf *b, const struct fam_ctx *c)
{
	int err;

	if (!unit_valid(c))
		return 0;
	err = put_meta_start(b, c, "UNIT");
	if (!err)
		err = buf_puts(b, c->f->unit);
	if (!err)
		err = buf_putc(b, '\n');
	return err;
}

static int put_metadata(struct expo_buf *b, const struct fam_ctx *c)
{
	int err;

	if (c->fmt != EXPO_FMT_OPENMETRICS_100) {
		err = put_help(b, c);
		return err ? err : put_type(b, c);
	}
	err = put_type(b, c);
	if (!err)
		err = put_unit(b, c);
	if (!err)
		err = put_help(b, c);
	return err;
}

static int put_label(struct expo_buf *b, const char *name, const char *value, bool first)
{
	int err = 0;

	if (!first)
		err = buf_putc(b, ',');
	if (!err)
		err = buf_puts(b, name);
	if (!err)
		err = buf_puts(b, "=\"");
	if (!err)
		err = put_escaped(b, value, true);
	if (!err)
		err = buf_putc(b, '"');
	return err;
}

/*
 * "<name><suffix>{labels[,le="..."]} ": everything up to the value. @le is
 * the extra `le` label value or NULL.
 */
static int put_sample_head(struct expo_buf *b, const struct fam_ctx *c,
			   const struct expo_series *s, const char *suffix,
			   const char *le)
{
	size_t i;
	int err;

	err = expo_buf__append(b, c->name, c->name_len);
	if (!err)
		err = buf_puts(b, suffix);
	if (err)
		return err;
	if (!c->f->nr_labels && !le)
		return buf_putc(b, ' ');
	err = buf_putc(b, '{');
	for (i = 0; !err && i < c->f->nr_labels; i++)
		err = put_label(b, c->f->label_names[i], s->label_values[i], i == 0);
	if (!err && le)
		err = put_label(b, "le", le, c->f->nr_labels == 0);
	if (!err)
		err = buf_puts(b, "} ");
	return err;
}

static int put_scalar(struct expo_buf *b, const struct fam_ctx *c,
		      const struct expo_series *s)
{
	int err;

	err = put_sample_head(b, c, s, c->sample_suffix, NULL);
	if (err)
		return err;
	if (c->f->type == EXPO_COUNTER && !s->value_is_float)
		err = put_u64(b, s->count);
	else
		err = put_float(b, s->value, c->fmt);
	return err ? err : buf_putc(b, '\n');
}

static int put_bucket(struct expo_buf *b, const struct fam_ctx *c,
		      const struct expo_series *s, const char *le, uint64_t cum)
{
	int err;

	err = put_sample_head(b, c, s, SUFFIX_BUCKET, le);
	if (!err)
		err = put_u64(b, cum);
	return err ? err : buf_putc(b, '\n');
}

/* OpenMetrics forbids a _sum with negative thresholds or a negative/NaN sum. */
static bool sum_exposable(const struct fam_ctx *c, const struct expo_series *s)
{
	if (c->fmt != EXPO_FMT_OPENMETRICS_100)
		return true;
	if (c->f->nr_bounds && c->f->bounds[0] < 0)
		return false;
	if (s->sum_is_int)
		return s->isum >= 0;
	return !isnan(s->sum) && !(s->sum < 0);
}

static int put_sum(struct expo_buf *b, const struct fam_ctx *c,
		   const struct expo_series *s)
{
	int err;

	if (!sum_exposable(c, s))
		return 0;
	err = put_sample_head(b, c, s, SUFFIX_SUM, NULL);
	if (err)
		return err;
	if (s->sum_is_int)
		err = put_s64(b, s->isum);
	else
		err = put_float(b, s->sum, c->fmt);
	return err ? err : buf_putc(b, '\n');
}

/* `le` strings of a family's bounds, formatted once for all its series. */
static char (*format_les(const struct expo_family *f))[EXPO_NUM_LEN]
{
	char (*les)[EXPO_NUM_LEN];
	size_t i;

	les = calloc(f->nr_bounds ? f->nr_bounds : 1, sizeof(*les));
	if (!les)
		return NULL;
	/* canonical OpenMetrics form in both formats; -0.0 + 0.0 is +0.0 */
	for (i = 0; i < f->nr_bounds; i++)
		format_float(les[i], f->bounds[i] + 0.0, true);
	return les;
}

static int put_histogram(struct expo_buf *b, const struct fam_ctx *c,
			 const struct expo_series *s, char (*les)[EXPO_NUM_LEN])
{
	uint64_t cum = 0;
	size_t i;
	int err;

	for (i = 0; i < c->f->nr_bounds; i++) {
		cum += s->buckets[i];
		err = put_bucket(b, c, s, les[i], cum);
		if (err)
			return err;
	}
	cum += s->buckets[c->f->nr_bounds];
	err = put_bucket(b, c, s, "+Inf", cum);
	if (!err)
		err = put_sum(b, c, s);
	if (!err)
		err = put_sample_head(b, c, s, SUFFIX_COUNT, NULL);
	if (!err)
		err = put_u64(b, cum);
	return err ? err : buf_putc(b, '\n');
}

static int put_histograms(struct expo_buf *b, const struct fam_ctx *c)
{
	char (*les)[EXPO_NUM_LEN];
	size_t i;
	int err = 0;

	if (!c->f->nr_series)
		return 0;
	les = format_les(c->f);
	if (!les)
		return -ENOMEM;
	for (i = 0; !err && i < c->f->nr_series; i++)
		err = put_histogram(b, c, &c->f->series[i], les);
	free(les);
	return err;
}

static int render_family(struct expo_buf *b, const struct expo_family *f,
			 enum expo_format fmt)
{
	struct fam_ctx c;
	size_t i;
	int err;

	err = validate_family(f);
	if (err)
		return err;
	fam_ctx_init(&c, f, fmt);
	err = put_metadata(b, &c);
	if (err)
		return err;
	if (f->type == EXPO_HISTOGRAM)
		return put_histograms(b, &c);
	for (i = 0; !err && i < f->nr_series; i++)
		err = put_scalar(b, &c, &f->series[i]);
	return err;
}

int expo__render(struct expo_buf *out, const struct expo_family *fams, size_t nr,
		 enum expo_format fmt)
{
	size_t start = out->len, i;
	int err = 0;

	if (nr && !fams)
		return -EINVAL;
	for (i = 0; !err && i < nr; i++)
		err = render_family(out, &fams[i], fmt);
	if (err)
		out->len = start;
	return err;
}

int expo__finish(struct expo_buf *out, enum expo_format fmt)
{
	if (fmt != EXPO_FMT_OPENMETRICS_100)
		return 0;
	return buf_puts(out, "# EOF\n");
}

/* --- gzip ------------------------------------------------------------------- */

static int deflate_step(z_stream *zs, struct expo_buf *out, int flush)
{
	size_t room;
	uInt avail;
	int ret, err;

	err = buf_reserve(out, EXPO_GZIP_CHUNK);
	if (err)
		return err;
	room = out->cap - out->len;
	avail = room > UINT_MAX ? UINT_MAX : (uInt)room;
	zs->next_out = (Bytef *)out->data + out->len;
	zs->avail_out = avail;
	ret = deflate(zs, flush);
	out->len += avail - zs->avail_out;
	if (ret == Z_STREAM_END)
		return 1;
	if (ret == Z_OK || ret == Z_BUF_ERROR)
		return 0;
	return -EIO;
}

int expo__gzip(const void *in, size_t len, struct expo_buf *out)
{
	const Bytef *p = in;
	size_t start = out->len, left = len, chunk;
	z_stream zs = { 0 };
	int ret = 0, flush;

	if (len && !in)
		return -EINVAL;
	if (deflateInit2(&zs, EXPO_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	while (ret == 0) {
		if (!zs.avail_in && left) {
			chunk = left > UINT_MAX ? UINT_MAX : left;
			zs.next_in = (Bytef *)p;
			zs.avail_in = (uInt)chunk;
			p += chunk;
			left -= chunk;
		}
		flush = left ? Z_NO_FLUSH : Z_FINISH;
		ret = deflate_step(&zs, out, flush);
	}
	deflateEnd(&zs);
	if (ret < 0) {
		out->len = start;
		return ret;
	}
	return 0;
}
