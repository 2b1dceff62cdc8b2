// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec/names: what a name in a spec may be, and what it is called in
 * Prometheus.
 *
 * The rules for identifiers, durations, metric, label, unit and namespace
 * names, the one table of metric types with the suffixes their names take
 * and the series they export, the names a metric reserves, and a scanner for
 * the metric names a PromQL expression mentions. Nothing here knows about
 * YAML: the rules return false and say why in @msg, for the caller to
 * report where it read the name.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/suffix.h"
#include "spec/internal.h"

/* ---- the metric types ---- */

/*
 * What each type is called, the suffix its names end in (and no other
 * type's may), and the series it exports (lib/suffix.h): its full name
 * followed by each of them. A histogram's name must not end in one of them.
 */
static const struct type_names {
	const char *name;
	const char *suffix;
	enum suffix_type series;
	bool series_reserved;
} types[] = {
	[SPEC_COUNTER] = { "counter", SUFFIX_TOTAL, SUFFIX_COUNTER },
	[SPEC_GAUGE] = { "gauge", "", SUFFIX_GAUGE },
	[SPEC_HISTOGRAM] = { "histogram", "", SUFFIX_HISTOGRAM, true },
	[SPEC_NORMALIZATION] = { "normalization", "", SUFFIX_NORMALIZATION },
};

static const struct type_names *type_of(enum spec_metric_type t)
{
	if (t >= SPEC_COUNTER && t <= SPEC_NORMALIZATION)
		return &types[t];
	return NULL;
}

const char *spec_metric_type__name(enum spec_metric_type t)
{
	return type_of(t) ? types[t].name : "unknown";
}

enum spec_metric_type spec_metric_type__parse(const char *s)
{
	int t;

	for (t = SPEC_COUNTER; t <= SPEC_NORMALIZATION; t++) {
		if (!strcmp(s, types[t].name))
			return t;
	}
	return 0;
}

size_t spec_metric_type__suffixes(enum spec_metric_type t,
				  const char *const **suffixes)
{
	const struct type_names *tn = type_of(t);

	*suffixes = NULL;
	return tn ? suffix__series(tn->series, suffixes) : 0;
}

/* ---- the names of the other enums (catalog, canonical form) ---- */

static const char *const src_kinds[] = {
	[SPEC_SRC_NONE] = "none", [SPEC_SRC_ARG] = "arg",
	[SPEC_SRC_DEREF] = "deref", [SPEC_SRC_STRING] = "string",
	[SPEC_SRC_PID] = "pid", [SPEC_SRC_TID] = "tid", [SPEC_SRC_UID] = "uid",
	[SPEC_SRC_COMM] = "comm", [SPEC_SRC_CGROUP] = "cgroup",
};

static const char *const val_types[] = {
	[SPEC_VAL_S64] = "s64", [SPEC_VAL_U64] = "u64", [SPEC_VAL_F64] = "f64",
};

static const char *const bucket_kinds[] = {
	[SPEC_BUCKETS_NONE] = "none", [SPEC_BUCKETS_EXP2] = "exp2",
	[SPEC_BUCKETS_LINEAR] = "linear", [SPEC_BUCKETS_EXPLICIT] = "explicit",
};

static const char *enum_name(const char *const *names, size_t nr, unsigned int v)
{
	return v < nr && names[v] ? names[v] : "?";
}

const char *spec_src_kind__name(enum spec_src_kind k)
{
	return enum_name(src_kinds, ARRAY_SIZE(src_kinds), k);
}

const char *spec_val_type__name(enum spec_val_type t)
{
	return enum_name(val_types, ARRAY_SIZE(val_types), t);
}

const char *spec_bucket_kind__name(enum spec_bucket_kind k)
{
	return enum_name(bucket_kinds, ARRAY_SIZE(bucket_kinds), k);
}

char *spec_metric__full_name(const struct spec *spec, const struct spec_metric *m)
{
	char *s;

	if (asprintf(&s, "%s_%s", spec->namespace_, m->name) < 0)
		return NULL;
	return s;
}

/* ---- characters ---- */

static bool is_ident_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_ident_char(char ch)
{
	return is_ident_start(ch) || (ch >= '0' && ch <= '9');
}

bool spec__valid_ident(const char *s)
{
	if (!s || !is_ident_start(*s))
		return false;
	for (s++; *s; s++) {
		if (!is_ident_char(*s))
			return false;
	}
	return true;
}

char *spec_usdt__note_name(const char *s)
{
	size_t n = 0, i;
	char *out, *o;

	for (i = 0; s[i]; i++)
		n += s[i] == '-' ? 2 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	for (o = out; *s; s++) {
		if (*s == '-') {
			*o++ = '_';
			*o++ = '_';
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

/* Non-empty, of [a-z0-9] (and [A-Z] unless @lower_only) and @extra. */
static bool all_chars(const char *s, const char *extra, bool lower_only)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char ch = *s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			continue;
		if (!lower_only && ch >= 'A' && ch <= 'Z')
			continue;
		if (!strchr(extra, ch))
			return false;
	}
	return true;
}

bool spec__valid_metric_name(const char *s)
{
	return all_chars(s, "_", false);
}

bool spec__valid_unit(const char *s)
{
	return islower((unsigned char)s[0]) && all_chars(s, "_", true);
}

bool spec__valid_family(const char *s)
{
	return all_chars(s, "_-", true);
}

bool spec__valid_target_name(const char *s)
{
	return all_chars(s, "_.-", false);
}

bool spec__valid_alert_name(const char *s)
{
	return isalpha((unsigned char)*s) && all_chars(s, "_", false);
}

/* Units from the largest down; a duration lists them in this order. */
static int duration_unit(const char **s)
{
	static const char *const units[] = { "ms", "s", "m", "h", "d", "w", "y" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(units); i++) {
		size_t n = strlen(units[i]);

		if (!strncmp(*s, units[i], n)) {
			*s += n;
			return (int)i;
		}
	}
	return -1;
}

bool spec__valid_duration(const char *s)
{
	int prev = INT_MAX;

	if (!s || !*s)
		return false;
	while (*s) {
		int unit;

		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
		unit = duration_unit(&s);
		if (unit < 0 || unit >= prev)
			return false;
		prev = unit;
	}
	return true;
}

/* ---- the rules ---- */

__attribute__((format(printf, 3, 4)))
static bool broken(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Does <namespace>_<name> end in @suffix ("_..."), whatever the namespace? */
static bool full_ends_with(const char *name, const char *suffix)
{
	return ends_with(name, suffix) || !strcmp(name, suffix + 1);
}

/* The suffix rules of type @t for @name (quoted: @q). */
static bool type_suffix_ok(const char *name, const struct type_names *t,
			   const char *q, char *msg, size_t size)
{
	const char *const *series;
	char list[LIST_LEN];
	size_t i, nr;

	if (*t->suffix && !full_ends_with(name, t->suffix))
		return broken(msg, size, "%s name %s must end in \"%s\"",
			      t->name, q, t->suffix);
	for (i = SPEC_COUNTER; !*t->suffix && i < ARRAY_SIZE(types); i++) {
		if (*types[i].suffix && full_ends_with(name, types[i].suffix))
			return broken(msg, size,
				      "%s name %s must not end in \"%s\" (only %ss do)",
				      t->name, q, types[i].suffix, types[i].name);
	}
	nr = suffix__series(t->series, &series);
	for (i = 0; t->series_reserved && i < nr; i++) {
		if (*series[i] && full_ends_with(name, series[i]))
			return broken(msg, size,
				      "%s name %s must not end in \"%s\" (%ss export %s series)",
				      t->name, q, series[i], t->name,
				      spec_join(list, sizeof(list), series, nr, " and "));
	}
	return true;
}

bool spec_name__check_metric(const char *name, enum spec_metric_type type,
			     const char *unit, char *msg, size_t size)
{
	const struct type_names *t = type_of(type);
	char q[QUOTE_LEN], suffix[QUOTE_LEN + 8];

	spec_quote(q, name);
	if (strchr(name, ':'))
		return broken(msg, size,
			      "invalid metric name %s (':' is reserved for recording rules)",
			      q);
	if (!spec__valid_metric_name(name))
		return broken(msg, size,
			      "invalid metric name %s (the full name <namespace>_<name> must match [a-zA-Z_][a-zA-Z0-9_]*)",
			      q);
	if (!t)
		return true;	/* an unknown type is reported where it is read */
	if (!type_suffix_ok(name, t, q, msg, size))
		return false;
	if (!unit)
		return true;
	snprintf(suffix, sizeof(suffix), "_%s%s", unit, t->suffix);
	if (!full_ends_with(name, suffix))
		return broken(msg, size, "name %s must end in \"%s\" to match its unit",
			      q, suffix);
	return true;
}

/* Label names Prometheus gives a meaning, for metrics of .type (0: all). */
static const struct {
	const char *name;
	enum spec_metric_type type;
	const char *what;
} reserved_labels[] = {
	{ "le", SPEC_HISTOGRAM, "histogram bucket bounds" },
	{ "quantile", 0, "summary quantiles" },
};

bool spec_name__check_label(const char *name, enum spec_metric_type type,
			    char *msg, size_t size)
{
	char q[QUOTE_LEN];
	size_t i;

	spec_quote(q, name);
	if (!spec__valid_ident(name))
		return broken(msg, size,
			      "invalid label name %s (must match [a-zA-Z_][a-zA-Z0-9_]*)", q);
	if (!strncmp(name, "__", 2))
		return broken(msg, size,
			      "invalid label name %s (names starting with \"__\" are reserved)",
			      q);
	for (i = 0; i < ARRAY_SIZE(reserved_labels); i++) {
		if (!strcmp(name, reserved_labels[i].name) &&
		    (!reserved_labels[i].type || reserved_labels[i].type == type))
			return broken(msg, size, "label name \"%s\" is reserved for %s",
				      reserved_labels[i].name, reserved_labels[i].what);
	}
	return true;
}

#define SELF_NAMESPACE	"emitd"	/* emitd's own metrics: emitd_* */

bool spec_name__check_namespace(const char *ns, char *msg, size_t size)
{
	char q[QUOTE_LEN];

	spec_quote(q, ns);
	if (!spec__valid_ident(ns))
		return broken(msg, size,
			      "invalid namespace %s (must match [a-zA-Z_][a-zA-Z0-9_]*)", q);
	if (!strcmp(ns, SELF_NAMESPACE))
		return broken(msg, size,
			      "namespace \"%s\" is reserved for emitd's own metrics",
			      SELF_NAMESPACE);
	return true;
}

/* ---- the names a metric reserves ---- */

static size_t reserved_names(const struct spec_metric *m,
			     struct spec_name_ref *out)
{
	const struct type_names *t = type_of(m->type);
	size_t len = strlen(m->name), nr = 0, i, sl, ns;
	const char *const *series;

	out[nr++] = (struct spec_name_ref){ m->name, len, "" };
	if (!t)
		return nr;
	/* an OpenMetrics counter family is named without _total */
	sl = strlen(t->suffix);
	if (sl && len > sl && ends_with(m->name, t->suffix))
		out[nr++] = (struct spec_name_ref){ m->name, len - sl, "" };
	ns = suffix__series(t->series, &series);
	for (i = 0; i < ns; i++) {
		if (*series[i])
			out[nr++] = (struct spec_name_ref){ m->name, len, series[i] };
	}
	return nr;
}

static char ref_char(const struct spec_name_ref *r, size_t i)
{
	return i < r->len ? r->base[i] : r->suffix[i - r->len];
}

static bool ref_eq(const struct spec_name_ref *a, const struct spec_name_ref *b)
{
	size_t n = a->len + strlen(a->suffix), i;

	if (n != b->len + strlen(b->suffix))
		return false;
	for (i = 0; i < n; i++) {
		if (ref_char(a, i) != ref_char(b, i))
			return false;
	}
	return true;
}

static bool ref_in(const struct spec_name_ref *r, const struct spec_name_ref *v,
		   size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ref_eq(r, &v[i]))
			return true;
	}
	return false;
}

bool spec_names__shared(const struct spec_metric *a, const struct spec_metric *b,
			struct spec_name_ref *out)
{
	struct spec_name_ref ra[8], rb[8];
	size_t na = reserved_names(a, ra), nb = reserved_names(b, rb), i;

	for (i = 0; i < na; i++) {
		if (ref_in(&ra[i], rb, nb)) {
			*out = ra[i];
			return true;
		}
	}
	return false;
}

/* ---- names in PromQL ---- */

/* Skip a quoted PromQL string starting at s[i]; returns the index after it. */
static size_t skip_string(const char *s, size_t i)
{
	char quote = s[i++];

	while (s[i] && s[i] != quote) {
		if (quote != '`' && s[i] == '\\' && s[i + 1])
			i++;
		i++;
	}
	return s[i] ? i + 1 : i;
}

static bool is_metric_start(char ch)
{
	return is_ident_start(ch) || ch == ':';
}

static bool is_metric_char(char ch)
{
	return is_ident_char(ch) || ch == ':';
}

/* Past a number or duration at expr[i] (5m, 1h30m, 0x1f, 1e3, .5, ":30s"). */
static bool skip_number(const char *expr, size_t *i)
{
	char ch = expr[*i];

	if (!isdigit((unsigned char)ch) &&
	    !((ch == '.' || ch == ':') && isdigit((unsigned char)expr[*i + 1])))
		return false;
	/* ":30s" is a subquery step, not a rule name */
	*i += !isdigit((unsigned char)ch);
	while (is_ident_char(expr[*i]) || expr[*i] == '.')
		(*i)++;
	return true;
}

int spec__promql_for_each_ident(const char *expr,
				int (*fn)(const char *id, size_t len,
					  size_t off, void *arg),
				void *arg)
{
	size_t i = 0, start;
	int err;

	while (expr[i]) {
		char ch = expr[i];

		if (ch == '"' || ch == '\'' || ch == '`') {
			i = skip_string(expr, i);
		} else if (ch == '#') {
			while (expr[i] && expr[i] != '\n')
				i++;
		} else if (skip_number(expr, &i)) {
			continue;
		} else if (is_metric_start(ch)) {
			start = i;
			while (is_metric_char(expr[i]))
				i++;
			err = fn(expr + start, i - start, start, arg);
			if (err)
				return err;
		} else {
			i++;
		}
	}
	return 0;
}
