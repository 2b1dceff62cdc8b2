// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>

#include "lib/units.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct unit {
	const char *word;
	const char *base;
	double factor;		/* in base units; 0: none (affine, or ambiguous) */
};

/* promlint's units: the base units map to themselves. */
static const struct unit units[] = {
	{ "amperes", "amperes", 1 }, { "bytes", "bytes", 1 },
	{ "celsius", "celsius", 1 }, { "grams", "grams", 1 },
	{ "joules", "joules", 1 }, { "kelvin", "kelvin", 1 },
	{ "meters", "meters", 1 }, { "metres", "metres", 1 },
	{ "seconds", "seconds", 1 }, { "volts", "volts", 1 },
	{ "minutes", "seconds", 60 }, { "hours", "seconds", 3600 },
	{ "days", "seconds", 86400 }, { "weeks", "seconds", 604800 },
	{ "kelvins", "kelvin", 1 }, { "fahrenheit", "celsius", 0 },
	{ "rankine", "celsius", 0 },
	{ "inches", "meters", 0.0254 }, { "yards", "meters", 0.9144 },
	{ "miles", "meters", 1609.344 },
	{ "bits", "bytes", 0.125 },
	{ "calories", "joules", 4.184 },
	{ "pounds", "grams", 453.59237 }, { "ounces", "grams", 28.349523125 },
};

static const struct prefix {
	const char *word;
	double factor;
} prefixes[] = {
	{ "pico", 1e-12 }, { "nano", 1e-9 }, { "micro", 1e-6 }, { "milli", 1e-3 },
	{ "centi", 1e-2 }, { "deci", 1e-1 }, { "deca", 1e1 }, { "hecto", 1e2 },
	{ "kilo", 1e3 }, { "kibi", 1024.0 }, { "mega", 1e6 },
	{ "mibi", 1048576.0 }, { "giga", 1e9 }, { "gibi", 1073741824.0 },
	{ "tera", 1e12 }, { "tebi", 1099511627776.0 }, { "peta", 1e15 },
	{ "pebi", 1125899906842624.0 },
};

/* promlint's abbreviations, with what they abbreviate where that is clear. */
static const struct unit abbreviations[] = {
	{ "s", "seconds", 1 }, { "ms", "seconds", 1e-3 }, { "us", "seconds", 1e-6 },
	{ "ns", "seconds", 1e-9 }, { "sec", "seconds", 1 },
	{ "b", "bytes", 1 }, { "kb", "bytes", 1e3 }, { "mb", "bytes", 1e6 },
	{ "gb", "bytes", 1e9 }, { "tb", "bytes", 1e12 }, { "pb", "bytes", 1e15 },
	{ "m", "seconds or meters", 0 }, { "h", "seconds", 3600 },
	{ "d", "seconds", 86400 },
};

static const struct unit *find(const struct unit *t, size_t n, const char *w, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strlen(t[i].word) == len && !memcmp(t[i].word, w, len))
			return &t[i];
	}
	return NULL;
}

/* Word @w of @len bytes: a unit, or a prefix and a unit (factor in @f). */
static const struct unit *word_unit(const char *w, size_t len, double *f)
{
	const struct unit *u = find(units, ARRAY_SIZE(units), w, len);
	size_t i, pl;

	*f = u ? u->factor : 0;
	for (i = 0; !u && i < ARRAY_SIZE(prefixes); i++) {
		pl = strlen(prefixes[i].word);
		if (len < pl || memcmp(w, prefixes[i].word, pl))
			continue;
		u = find(units, ARRAY_SIZE(units), w + pl, len - pl);
		if (u)
			*f = prefixes[i].factor * u->factor;
	}
	return u;
}

/* MetricUnits: any word that is a unit other than a base unit. */
static bool non_base(const char *name, struct unit_finding *out)
{
	const struct unit *u;
	const char *w = name, *e;
	double f;

	for (;; w = e + 1) {
		e = strchr(w, '_');
		if (!e)
			e = w + strlen(w);
		u = word_unit(w, e - w, &f);
		if (u && (strlen(u->base) != (size_t)(e - w) || strncmp(w, u->base, e - w))) {
			*out = (struct unit_finding){ w, e - w, false, u->base, f };
			return true;
		}
		if (!*e)
			return false;
	}
}

/* UnitAbbreviations: "_ab_" inside the name or "_ab" at its end (any case). */
static bool abbreviated(const char *name, struct unit_finding *out)
{
	const struct unit *u;
	const char *w, *e;
	char lower[8];
	size_t len, i;

	for (w = strchr(name, '_'); w; w = e) {
		w++;
		e = strchr(w, '_');
		len = e ? (size_t)(e - w) : strlen(w);
		if (len >= sizeof(lower))
			continue;
		for (i = 0; i < len; i++)
			lower[i] = w[i] >= 'A' && w[i] <= 'Z' ? w[i] - 'A' + 'a' : w[i];
		u = find(abbreviations, ARRAY_SIZE(abbreviations), lower, len);
		if (u) {
			*out = (struct unit_finding){ w, len, true, u->base, u->factor };
			return true;
		}
	}
	return false;
}

bool units__check_name(const char *name, struct unit_finding *f)
{
	return non_base(name, f) || abbreviated(name, f);
}
