// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec/diag: the diagnostics of a spec load.
 *
 * Every error is counted; the first SPEC_MAX_DIAGS of a load are kept, then
 * sorted by position and printed as "file:line:col: error: field: message".
 * A warning (a spec that loads, but whose exposition promtool would flag)
 * is kept and printed the same way with "warning:", and rejects nothing.
 * User text is quoted into messages escaped, on one line and shortened, and
 * a misspelt name gets the closest known one ("did you mean").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/internal.h"

/* ---- the list ---- */

static int diags_vadd(struct spec_diags *d, struct spec_mark mark, bool warning,
		      const char *field, const char *fmt, va_list ap)
{
	struct spec_diag *v;
	char *msg, *fld;

	v = realloc(d->v, (d->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->v = v;
	if (vasprintf(&msg, fmt, ap) < 0)
		return -ENOMEM;
	fld = strdup(field ? field : "");
	if (!fld) {
		free(msg);
		return -ENOMEM;
	}
	v[d->nr].mark = mark;
	v[d->nr].field = fld;
	v[d->nr].msg = msg;
	v[d->nr].warning = warning;
	d->nr++;
	d->nr_errors += !warning;
	return 0;
}

int spec_diags__add(struct spec_diags *diags, struct spec_mark mark,
		    const char *field, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = diags_vadd(diags, mark, false, field, fmt, ap);
	va_end(ap);
	return err;
}

void spec_diags__print(const struct spec_diags *diags, const char *path, FILE *f)
{
	const struct spec_diag *d;
	size_t i;

	if (!path)
		path = "<spec>";
	for (i = 0; i < diags->nr; i++) {
		const char *sev;

		d = &diags->v[i];
		sev = d->warning ? "warning" : "error";
		if (d->mark.line)
			fprintf(f, "%s:%u:%u: %s: ", path, d->mark.line, d->mark.col, sev);
		else
			fprintf(f, "%s: %s: ", path, sev);
		if (d->field && *d->field)
			fprintf(f, "%s: ", d->field);
		fprintf(f, "%s\n", d->msg);
	}
}

void spec_diags__free(struct spec_diags *diags)
{
	size_t i;

	if (!diags)
		return;
	for (i = 0; i < diags->nr; i++) {
		free(diags->v[i].field);
		free(diags->v[i].msg);
	}
	free(diags->v);
	memset(diags, 0, sizeof(*diags));
}

/* ---- one load's diagnostics ---- */

bool spec_diag_full(const struct spec_ctx *c)
{
	return c->diags->nr - c->first >= SPEC_MAX_DIAGS;
}

void spec_diag(struct spec_ctx *c, struct spec_mark mark, const char *field,
	       const char *fmt, ...)
{
	va_list ap;

	c->nr_errors++;
	if (spec_diag_full(c))
		return;
	va_start(ap, fmt);
	if (diags_vadd(c->diags, mark, false, field, fmt, ap))
		c->oom = true;
	va_end(ap);
	c->nr_shown++;
}

void spec_warn(struct spec_ctx *c, struct spec_mark mark, const char *field,
	       const char *fmt, ...)
{
	va_list ap;

	if (spec_diag_full(c))
		return;		/* the errors matter more */
	va_start(ap, fmt);
	if (diags_vadd(c->diags, mark, true, field, fmt, ap))
		c->oom = true;
	va_end(ap);
}

static bool mark_before(struct spec_mark a, struct spec_mark b)
{
	if (!a.line != !b.line)
		return a.line;		/* marks without a position go last */
	if (a.line != b.line)
		return a.line < b.line;
	return a.col < b.col;
}

/* Stable sort of this load's diagnostics by position (there are few). */
static void sort_diags(struct spec_ctx *c)
{
	struct spec_diag *v = c->diags->v, tmp;
	size_t i, j;

	for (i = c->first + 1; i < c->diags->nr; i++) {
		tmp = v[i];
		for (j = i; j > c->first && mark_before(tmp.mark, v[j - 1].mark); j--)
			v[j] = v[j - 1];
		v[j] = tmp;
	}
}

void spec_diag__finish(struct spec_ctx *c)
{
	sort_diags(c);
	if (c->nr_errors > c->nr_shown &&
	    spec_diags__add(c->diags, (struct spec_mark){ 0, 0 }, NULL,
			    "%zu more errors not shown", c->nr_errors - c->nr_shown))
		c->oom = true;
	if (c->oom)
		spec_diags__add(c->diags, (struct spec_mark){ 0, 0 }, NULL,
				"out of memory");
}

/* ---- text in messages ---- */

/* Drop a UTF-8 sequence that a truncation at @o may have cut. */
static size_t utf8_trim(const char *buf, size_t o)
{
	while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
		o--;
	if (o > 1 && (unsigned char)buf[o - 1] >= 0xc0)
		o--;
	return o;
}

const char *spec_quote_n(char buf[QUOTE_LEN], const char *s, size_t len)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char ch = s[i];

		if (o + 10 > QUOTE_LEN) {
			o = utf8_trim(buf, o);
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += snprintf(buf + o, QUOTE_LEN - o, "\\x%02x", ch);
		} else {
			buf[o++] = ch;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *spec_quote(char buf[QUOTE_LEN], const char *s)
{
	return spec_quote_n(buf, s, strlen(s));
}

const char *spec_join(char *buf, size_t size, const char *const *v, size_t n,
		      const char *last)
{
	size_t o = 0, i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *sep = o ? (i + 1 < n ? ", " : last) : "";

		o += snprintf(buf + o, size - o, "%s%s", sep, v[i]);
		if (o >= size)
			break;
	}
	return buf;
}

const char *spec_join_or(char buf[LIST_LEN], const char *const *set)
{
	size_t n = 0;

	while (set[n])
		n++;
	return spec_join(buf, LIST_LEN, set, n, " or ");
}

/* ---- did you mean ---- */

#define EDIT_MAX_LEN 128

unsigned int spec__edit_distance(const char *a, const char *b)
{
	unsigned int row[EDIT_MAX_LEN + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > EDIT_MAX_LEN || lb > EDIT_MAX_LEN)
		return UINT_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		unsigned int diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			unsigned int up = row[j];
			unsigned int best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

void spec_hint__init(struct spec_hint *h, const char *typed)
{
	h->typed = typed;
	h->best = NULL;
	h->dist = UINT_MAX;
}

/* Within a typo of @cand? */
static bool close_enough(unsigned int d, const char *cand)
{
	return d <= 3 && 3 * d <= strlen(cand) + 2;
}

bool spec_hint__offer(struct spec_hint *h, const char *cand)
{
	unsigned int d = spec__edit_distance(h->typed, cand);

	if (d >= h->dist || !close_enough(d, cand))
		return false;
	h->dist = d;
	h->best = cand;
	return true;
}
