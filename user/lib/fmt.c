// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fmt: values as text. See fmt.h.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fmt.h"

#define MAX_DIGITS	17	/* enough for any double to read back */
#define GO_EXP_LIMIT	6	/* Go's 'g', -1: exponent form from 1e+06 on */

/* ---- doubles ---- */

/* The significant digits of a finite |v| that read back as |v|. */
struct digits {
	char d[MAX_DIGITS + 1];	/* no trailing zeros (but "0" for 0) */
	int nd;
	int exp;		/* decimal exponent of the first digit */
	int prec;		/* the precision that read back */
};

/*
 * The search: "%.*e" at @min_digits significant digits, then one more, until
 * strtod() gives @a back (17 always does). This is what printf's %g prints
 * at the same precision: %g rounds to as many significant digits.
 */
static void round_trip_digits(double a, int min_digits, struct digits *g)
{
	char tmp[FMT_DOUBLE_LEN];
	const char *p;

	g->prec = min_digits < 1 ? 1 : min_digits > MAX_DIGITS ? MAX_DIGITS : min_digits;
	for (;; g->prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", g->prec - 1, a);
		if (g->prec == MAX_DIGITS || strtod(tmp, NULL) == a)
			break;
	}
	/* tmp is "d[.ddd]e[+-]xx"; the point may be the locale's */
	g->nd = 0;
	for (p = tmp; *p != 'e'; p++) {
		if (*p >= '0' && *p <= '9')
			g->d[g->nd++] = *p;
	}
	g->exp = atoi(p + 1);
	while (g->nd > 1 && g->d[g->nd - 1] == '0')
		g->nd--;
	g->d[g->nd] = '\0';
}

/* d.ddde+xx, at least two exponent digits. */
static size_t put_exponent_form(char *out, const struct digits *g)
{
	size_t o = 0;

	out[o++] = g->d[0];
	if (g->nd > 1) {
		out[o++] = '.';
		memcpy(out + o, g->d + 1, (size_t)g->nd - 1);
		o += g->nd - 1;
	}
	return o + sprintf(out + o, "e%c%02d", g->exp < 0 ? '-' : '+', abs(g->exp));
}

/* ddd.ddd, 0.000ddd or ddd000. */
static size_t put_fixed_form(char *out, const struct digits *g)
{
	int dp = g->exp + 1, i;	/* digits before the decimal point */
	size_t o = 0;

	if (dp <= 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (i = dp; i < 0; i++)
			out[o++] = '0';
		memcpy(out + o, g->d, (size_t)g->nd);
		o += g->nd;
	} else if (dp >= g->nd) {
		memcpy(out + o, g->d, (size_t)g->nd);
		o += g->nd;
		for (i = g->nd; i < dp; i++)
			out[o++] = '0';
	} else {
		memcpy(out + o, g->d, (size_t)dp);
		o += dp;
		out[o++] = '.';
		memcpy(out + o, g->d + dp, (size_t)(g->nd - dp));
		o += g->nd - dp;
	}
	out[o] = '\0';
	return o;
}

static size_t put_special(char *buf, double v, unsigned int flags)
{
	bool prom = flags & FMT_PROM_SPECIAL;
	const char *s;

	if (isnan(v))
		s = prom ? "NaN" : "nan";
	else if (v > 0)
		s = prom ? "+Inf" : "inf";
	else
		s = prom ? "-Inf" : "-inf";
	strcpy(buf, s);
	return strlen(s);
}

size_t fmt__double(char *buf, double v, int min_digits, unsigned int flags)
{
	struct digits g;
	size_t o = 0;
	int limit;

	if (!isfinite(v))
		return put_special(buf, v, flags);
	if (signbit(v)) {
		buf[o++] = '-';
		v = -v;
	}
	round_trip_digits(v, min_digits, &g);
	limit = flags & FMT_GO ? GO_EXP_LIMIT : g.prec;
	if (g.exp < -4 || g.exp >= limit)
		o += put_exponent_form(buf + o, &g);
	else
		o += put_fixed_form(buf + o, &g);
	if ((flags & FMT_INT_DOT) && !strpbrk(buf, ".e")) {
		strcpy(buf + o, ".0");
		o += 2;
	}
	return o;
}

/* ---- YAML scalars ---- */

/* Bytes YAML will not take raw in a single-quoted scalar. */
static size_t special_len(const unsigned char *s)
{
	if (s[0] < 0x20 || s[0] == 0x7f)
		return 1;
	if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)	/* C1 controls, NEL */
		return 2;
	if (s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))	/* LS, PS */
		return 3;
	if (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)	/* BOM */
		return 3;
	return 0;
}

static void put_double_quoted(FILE *f, const unsigned char *s)
{
	size_t n;

	fputc('"', f);
	for (; *s; s += n ? n : 1) {
		n = special_len(s);
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\t')
			fputs("\\t", f);
		else if (n == 1)
			fprintf(f, "\\x%02x", *s);
		else if (n == 2)
			fprintf(f, "\\x%02x", s[1]);
		else if (n == 3 && s[0] == 0xe2)
			fputs(s[2] == 0xa8 ? "\\L" : "\\P", f);
		else if (n == 3)
			fputs("\\ufeff", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

void fmt__yaml_quote(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str, *p;

	for (p = s; *p; p++) {
		if (special_len(p)) {
			put_double_quoted(f, s);
			return;
		}
	}
	fputc('\'', f);
	for (p = s; *p; p++) {
		if (*p == '\'')
			fputc('\'', f);
		fputc(*p, f);
	}
	fputc('\'', f);
}

/* ---- strings ---- */

char *fmt__str(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}
