// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * expo_parse: Prometheus text 0.0.4 back into samples (see expo_parse.h).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/expo_parse.h"

struct line {
	const char *p, *end;	/* what is left of the line */
	char *out;		/* the scratch buffer: names and unescaped values */
};

static bool name_start(char c, bool metric)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (metric && c == ':');
}

static bool name_char(char c, bool metric)
{
	return name_start(c, metric) || (c >= '0' && c <= '9');
}

static void skip_blanks(struct line *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t'))
		l->p++;
}

/* A metric (@metric) or label name, copied to the scratch buffer. */
static const char *take_name(struct line *l, bool metric)
{
	const char *start = l->p;
	char *name = l->out;

	if (l->p >= l->end || !name_start(*l->p, metric))
		return NULL;
	while (l->p < l->end && name_char(*l->p, metric))
		l->p++;
	memcpy(l->out, start, l->p - start);
	l->out += l->p - start;
	*l->out++ = '\0';
	return name;
}

/* A quoted label value, unescaped into the scratch buffer. */
static const char *take_value(struct line *l)
{
	char *v = l->out;

	if (l->p >= l->end || *l->p++ != '"')
		return NULL;
	while (l->p < l->end && *l->p != '"') {
		char c = *l->p++;

		if (c == '\\') {
			if (l->p >= l->end)
				return NULL;
			c = *l->p++;
			if (c == 'n')
				c = '\n';
			else if (c != '\\' && c != '"')
				return NULL;
		}
		*l->out++ = c;
	}
	if (l->p >= l->end)
		return NULL;
	l->p++;		/* the closing quote */
	*l->out++ = '\0';
	return v;
}

static int take_labels(struct line *l, struct expo_label *labels, size_t *nr)
{
	l->p++;		/* '{' */
	for (;;) {
		skip_blanks(l);
		if (l->p < l->end && *l->p == '}') {
			l->p++;
			return 0;
		}
		if (*nr == EXPO_PARSE_MAX_LABELS)
			return -E2BIG;
		labels[*nr].name = take_name(l, false);
		skip_blanks(l);
		if (!labels[*nr].name || l->p >= l->end || *l->p++ != '=')
			return -EINVAL;
		skip_blanks(l);
		labels[*nr].value = take_value(l);
		if (!labels[*nr].value)
			return -EINVAL;
		(*nr)++;
		skip_blanks(l);
		if (l->p < l->end && *l->p == ',')
			l->p++;
		else if (l->p >= l->end || *l->p != '}')
			return -EINVAL;
	}
}

/* The value field: a float as Go reads it, then an optional timestamp. */
static int take_number(struct line *l, double *value)
{
	char num[64], *end;
	size_t n = 0;

	skip_blanks(l);
	while (l->p + n < l->end && l->p[n] != ' ' && l->p[n] != '\t')
		n++;
	if (!n || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, l->p, n);
	num[n] = '\0';
	l->p += n;
	if (!strcmp(num, "+Inf") || !strcmp(num, "Inf"))
		*value = INFINITY;
	else if (!strcmp(num, "-Inf"))
		*value = -INFINITY;
	else if (!strcmp(num, "NaN"))
		*value = NAN;
	else if (!strpbrk(num, "iInN") && (*value = strtod(num, &end), end == num + n))
		;
	else
		return -EINVAL;
	skip_blanks(l);
	if (l->p < l->end) {		/* a timestamp: integer milliseconds */
		const char *t = l->p;

		if (*t == '-')
			t++;
		while (t < l->end && *t >= '0' && *t <= '9')
			t++;
		if (t == l->p || (*l->p == '-' && t == l->p + 1))
			return -EINVAL;
		l->p = t;
		skip_blanks(l);
		if (l->p < l->end)
			return -EINVAL;
	}
	return 0;
}

static int parse_line(const char *p, const char *end, char *scratch, expo_sample_fn fn,
		      void *ctx)
{
	struct expo_label labels[EXPO_PARSE_MAX_LABELS];
	struct line l = { .p = p, .end = end, .out = scratch };
	const char *name;
	size_t nr = 0;
	double value;
	int err;

	skip_blanks(&l);
	if (l.p == l.end || *l.p == '#')
		return 0;
	name = take_name(&l, true);
	if (!name)
		return -EINVAL;
	if (l.p < l.end && *l.p == '{') {
		err = take_labels(&l, labels, &nr);
		if (err)
			return err;
	}
	if (l.p < l.end && *l.p != ' ' && *l.p != '\t')
		return -EINVAL;
	err = take_number(&l, &value);
	return err ? err : fn(ctx, name, labels, nr, value);
}

int expo_parse__text(const char *buf, size_t len, expo_sample_fn fn, void *ctx,
		     unsigned int *bad_line)
{
	const char *p = buf, *end = buf + len, *eol;
	size_t longest = 0;
	unsigned int nr = 0;
	char *scratch;
	int err = 0;

	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', end - p);
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > longest)
			longest = eol - p;
	}
	scratch = malloc(longest + 2 * EXPO_PARSE_MAX_LABELS + 2);
	if (!scratch)
		return -ENOMEM;
	for (p = buf; p < end && !err; p = eol + 1) {
		eol = memchr(p, '\n', end - p);
		if (!eol)
			eol = end;
		nr++;
		err = parse_line(p, eol, scratch, fn, ctx);
	}
	if (err && bad_line)
		*bad_line = nr;
	free(scratch);
	return err;
}
