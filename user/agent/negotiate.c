// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * negotiate: Accept and Accept-Encoding of a scrape (RFC 9110 lists,
 * parameters, q-values) and the Content-Type of each format. See negotiate.h.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "agent/negotiate.h"

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

const char *negotiate__content_type(enum expo_format fmt)
{
	if (fmt == EXPO_FMT_OPENMETRICS_100)
		return "application/openmetrics-text; version=1.0.0; charset=utf-8";
	return "text/plain; version=0.0.4; charset=utf-8";
}

/* --- header parsing (RFC 9110 lists, parameters, q-values) ------------------ */

struct tok {
	const char *p;
	size_t len;
};

static bool is_tchar(char c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static const char *parse_token(const char *p, struct tok *t)
{
	t->p = p;
	while (is_tchar(*p))
		p++;
	t->len = (size_t)(p - t->p);
	return t->len ? p : NULL;
}

/* A quoted-string's content stays escaped in @t; callers compare plain values. */
static const char *parse_quoted(const char *p, struct tok *t)
{
	t->p = ++p;
	while (*p && *p != '"') {
		if (*p == '\\' && p[1])
			p++;
		p++;
	}
	if (*p != '"')
		return NULL;
	t->len = (size_t)(p - t->p);
	return p + 1;
}

static bool tok_ieq(const struct tok *t, const char *s)
{
	return strlen(s) == t->len && !strncasecmp(t->p, s, t->len);
}

static bool tok_eq(const struct tok *t, const char *s)
{
	return strlen(s) == t->len && !memcmp(t->p, s, t->len);
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in 1/1000. */
static int parse_qvalue(const struct tok *t)
{
	int q, scale = 100;
	size_t i;

	if (!t->len || (t->p[0] != '0' && t->p[0] != '1'))
		return -1;
	q = (t->p[0] - '0') * 1000;
	if (t->len == 1)
		return q;
	if (t->p[1] != '.' || t->len > 5)
		return -1;
	for (i = 2; i < t->len; i++, scale /= 10) {
		if (!is_digit(t->p[i]))
			return -1;
		q += (t->p[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

/* Skips to just past the next list comma outside a quoted-string. */
static const char *skip_element(const char *p)
{
	struct tok t;

	while (*p && *p != ',') {
		if (*p == '"') {
			p = parse_quoted(p, &t);
			if (!p)
				return NULL;
		} else {
			p++;
		}
	}
	return *p ? p + 1 : p;
}

/*
 * Parses `*( OWS ";" OWS name "=" value )` up to the element's end. Calls
 * @fn for every parameter before "q"; stores q (default 1000) in *q. Returns
 * the position after the element or NULL on a syntax error.
 */
typedef void (*param_fn)(void *ctx, const struct tok *name, const struct tok *value);

static const char *parse_params(const char *p, param_fn fn, void *ctx, int *q)
{
	struct tok name, value;
	bool after_q = false;

	*q = 1000;
	for (;;) {
		p = skip_ows(p);
		if (*p != ';')
			break;
		p = parse_token(skip_ows(p + 1), &name);
		if (!p || *p != '=')
			return NULL;
		p++;
		p = *p == '"' ? parse_quoted(p, &value) : parse_token(p, &value);
		if (!p)
			return NULL;
		if (after_q)
			continue;		/* accept-ext */
		if (tok_ieq(&name, "q")) {
			*q = parse_qvalue(&value);
			if (*q < 0)
				return NULL;
			after_q = true;
		} else if (fn) {
			fn(ctx, &name, &value);
		}
	}
	return (*p == ',' || !*p) ? p : NULL;
}

/* --- Accept ----------------------------------------------------------------- */

struct repr {
	const char *type;
	const char *subtype;
	const char *version;
	int spec;		/* specificity of the best match so far, -1 none */
	int q;			/* its q in 1/1000 */
};

struct range_params {
	struct tok version;
	bool has_version;
};

static void range_param(void *ctx, const struct tok *name, const struct tok *value)
{
	struct range_params *rp = ctx;

	if (tok_ieq(name, "version") && !rp->has_version) {
		rp->version = *value;
		rp->has_version = true;
	}
}

/* Specificity of the range for @r (3 best), or -1 when it does not match. */
static int range_match(const struct tok *type, const struct tok *sub,
		       const struct range_params *rp, const struct repr *r)
{
	if (tok_eq(type, "*"))
		return 0;
	if (!tok_ieq(type, r->type))
		return -1;
	if (tok_eq(sub, "*"))
		return 1;
	if (!tok_ieq(sub, r->subtype))
		return -1;
	if (!rp->has_version)
		return 2;
	return tok_eq(&rp->version, r->version) ? 3 : -1;
}

static void repr_update(struct repr *r, int spec, int q)
{
	if (spec < 0)
		return;
	if (spec > r->spec || (spec == r->spec && q > r->q)) {
		r->spec = spec;
		r->q = q;
	}
}

/* One media range; returns the position after it or NULL on a syntax error. */
static const char *parse_range(const char *p, struct repr *reprs, size_t nr)
{
	struct range_params rp = { 0 };
	struct tok type, sub;
	size_t i;
	int q;

	p = parse_token(p, &type);
	if (!p || *p != '/')
		return NULL;
	p = parse_token(p + 1, &sub);
	if (!p)
		return NULL;
	if (tok_eq(&type, "*") && !tok_eq(&sub, "*"))
		return NULL;
	p = parse_params(p, range_param, &rp, &q);
	if (!p)
		return NULL;
	for (i = 0; i < nr; i++)
		repr_update(&reprs[i], range_match(&type, &sub, &rp, &reprs[i]), q);
	return p;
}

/*
 * Walks a #element list, calling @parse on each non-empty element; a
 * malformed element is skipped.
 */
static void walk_list(const char *p, const char *(*parse)(const char *, void *),
		      void *ctx)
{
	const char *end;

	while (p && *p) {
		p = skip_ows(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (!*p)
			break;
		end = parse(p, ctx);
		if (end && *end == ',')
			end++;
		p = end ? end : skip_element(p);
	}
}

struct accept_ctx {
	struct repr reprs[2];
};

static const char *accept_elem(const char *p, void *ctx)
{
	struct accept_ctx *a = ctx;

	return parse_range(p, a->reprs, 2);
}

enum expo_format negotiate__format(const char *accept_header)
{
	struct accept_ctx a = {
		.reprs = {
			{ "text", "plain", "0.0.4", -1, 0 },
			{ "application", "openmetrics-text", "1.0.0", -1, 0 },
		},
	};
	const struct repr *text = &a.reprs[0], *om = &a.reprs[1];

	if (!accept_header)
		return EXPO_FMT_TEXT_004;
	walk_list(accept_header, accept_elem, &a);
	if (om->q > text->q)
		return EXPO_FMT_OPENMETRICS_100;
	if (om->q > 0 && om->q == text->q && om->spec >= 2)
		return EXPO_FMT_OPENMETRICS_100;
	return EXPO_FMT_TEXT_004;
}

/* --- Accept-Encoding -------------------------------------------------------- */

struct coding_ctx {
	int gzip, star, identity;	/* q in 1/1000, -1 when not listed */
};

static const char *coding_elem(const char *p, void *ctx)
{
	struct coding_ctx *c = ctx;
	struct tok name;
	int q;

	p = parse_token(p, &name);
	if (!p)
		return NULL;
	p = parse_params(p, NULL, NULL, &q);
	if (!p)
		return NULL;
	if (tok_ieq(&name, "gzip") || tok_ieq(&name, "x-gzip"))
		c->gzip = q > c->gzip ? q : c->gzip;
	else if (tok_eq(&name, "*"))
		c->star = q > c->star ? q : c->star;
	else if (tok_ieq(&name, "identity"))
		c->identity = q > c->identity ? q : c->identity;
	return p;
}

bool negotiate__accepts_gzip(const char *accept_encoding)
{
	struct coding_ctx c = { -1, -1, -1 };
	int q;

	if (!accept_encoding)
		return false;
	walk_list(accept_encoding, coding_elem, &c);
	q = c.gzip >= 0 ? c.gzip : c.star;
	if (q <= 0)
		return false;
	return c.identity < 0 || q >= c.identity;
}
