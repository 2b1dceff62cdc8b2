// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen/common: what every generator shares: text buffers, hashing, names,
 * markdown and comment text, the spec's canonical form and hash, the alert
 * suggestions for normalization metrics, and the record of every PromQL
 * expression the builders write. It calls no other file of gen/: the
 * header, catalog, dashboards, rules, check and cli files call it.
 *
 * Pure: a struct spec in, text out. Nothing here touches the file system.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "gen/gen.h"
#include "lib/fmt.h"
#include "lib/suffix.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- text and hashing ---- */

int gen_text__open(struct gen_text *t)
{
	t->data = NULL;
	t->len = 0;
	t->f = open_memstream(&t->data, &t->len);
	return t->f ? 0 : -ENOMEM;
}

int gen_text__close(struct gen_text *t, char **out, size_t *len)
{
	bool failed = ferror(t->f);

	if (fclose(t->f))
		failed = true;
	t->f = NULL;
	if (failed) {
		free(t->data);
		t->data = NULL;
		return -ENOMEM;
	}
	*out = t->data;
	*len = t->len;
	t->data = NULL;
	return 0;
}

void gen_text__discard(struct gen_text *t)
{
	char *s;
	size_t n;

	if (!gen_text__close(t, &s, &n))
		free(s);
}

int gen__sha256_hex(const void *buf, size_t len, char hex[GEN_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (!EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) || n != 32)
		return -EIO;
	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[2 * n] = '\0';
	return 0;
}

char *gen__json_text(const json_t *j, size_t *len)
{
	char *s, *t;
	size_t n;

	s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!s)
		return NULL;
	n = strlen(s);
	t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*len = n + 1;
	return t;
}

/* ---- names ---- */

const char *gen__family(const struct spec_metric *m)
{
	return m->family ? m->family : GEN_DEFAULT_FAMILY;
}

static bool str_listed(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(list[i], s))
			return true;
	}
	return false;
}

size_t gen__families(const struct spec *spec, const char **fams, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < spec->nr_metrics && n < max; i++) {
		const char *f = gen__family(&spec->metrics[i]);

		if (!str_listed(f, fams, n))
			fams[n++] = f;
	}
	return n;
}

char *gen__slug(const struct spec *spec, const char *family)
{
	return fmt__str("%s-%s", spec->namespace_, family);
}

char *gen__camel(const char *snake)
{
	char *out = malloc(strlen(snake) + 1), *o = out;
	bool up = true;

	if (!out)
		return NULL;
	for (; *snake; snake++) {
		if (*snake == '_') {
			up = true;
			continue;
		}
		*o++ = up ? (char)toupper((unsigned char)*snake) : *snake;
		up = false;
	}
	*o = '\0';
	return out;
}

char *gen__labels_joined(const struct spec_metric *m, size_t max)
{
	size_t i, n = m->nr_labels < max ? m->nr_labels : max, len = 1;
	char *s;

	for (i = 0; i < n; i++)
		len += strlen(m->labels[i].name) + 2;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, m->labels[i].name);
	}
	return s;
}

/* Markdown text: backslash-escape what could start markup; no line breaks. */
void gen__put_md(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (strchr("\\`*_[]<>|#", *s))
			fputc('\\', f);
		fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
	}
}

/* Text for a C comment: no comment terminator, no line breaks. */
void gen__put_comment_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '*' && s[1] == '/')
			fputs("* ", f);
		else if ((unsigned char)*s < 0x20)
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

/* ---- the canonical spec and its hash ---- */

static const char *const src_kinds[] = {
	[SPEC_SRC_NONE] = "none", [SPEC_SRC_ARG] = "arg",
	[SPEC_SRC_DEREF] = "deref", [SPEC_SRC_STRING] = "string",
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

const char *gen__val_type_name(enum spec_val_type t)
{
	return enum_name(val_types, ARRAY_SIZE(val_types), t);
}

const char *gen__bucket_kind_name(enum spec_bucket_kind k)
{
	return enum_name(bucket_kinds, ARRAY_SIZE(bucket_kinds), k);
}

static json_t *src_json(const struct spec_src *s)
{
	if (s->kind == SPEC_SRC_NONE)
		return json_null();
	return json_pack("{s:s, s:i, s:s, s:i}",
			 "kind", enum_name(src_kinds, ARRAY_SIZE(src_kinds), s->kind),
			 "arg", (int)s->arg,
			 "type", gen__val_type_name(s->type),
			 "offset", s->offset);
}

static json_t *labels_json(const struct spec_metric *m)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < m->nr_labels; i++) {
		if (json_array_append_new(a, json_pack("{s:s, s:o}", "name", m->labels[i].name,
						       "src", src_json(&m->labels[i].src)))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *probe_json(const struct spec_probe *p)
{
	return json_pack("{s:s?, s:s, s:s?, s:s?, s:s?, s:o, s:o, s:o}",
			 "target", p->target,
			 "kind", p->kind == SPEC_PROBE_USDT ? "usdt" : "uprobe",
			 "symbol", p->symbol, "provider", p->provider, "name", p->name,
			 "value", src_json(&p->value), "before", src_json(&p->before),
			 "after", src_json(&p->after));
}

static json_t *buckets_json(const struct spec_buckets *b)
{
	json_t *bounds = json_array();
	size_t i;

	for (i = 0; bounds && i < b->nr_bounds; i++) {
		if (json_array_append_new(bounds, json_real(b->bounds[i]))) {
			json_decref(bounds);
			return NULL;
		}
	}
	return json_pack("{s:s, s:o}",
			 "kind", gen__bucket_kind_name(b->kind),
			 "bounds", bounds);
}

static json_t *panels_json(const struct spec_metric *m)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < m->nr_panels; i++) {
		const struct spec_panel *p = &m->panels[i];

		if (json_array_append_new(a, json_pack("{s:s?, s:s?, s:s?, s:s?}",
						       "title", p->title, "promql", p->promql,
						       "unit", p->unit,
						       "panel_type", p->panel_type))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *alerts_json(const struct spec_metric *m)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < m->nr_alerts; i++) {
		const struct spec_alert *al = &m->alerts[i];

		if (json_array_append_new(a, json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?}",
						       "alert", al->alert, "expr", al->expr,
						       "for", al->for_, "severity", al->severity,
						       "summary", al->summary))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *metric_json(const struct spec_metric *m)
{
	json_t *buckets = m->type == SPEC_HISTOGRAM ? buckets_json(&m->buckets) : json_null();

	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:o, s:i, s:b, s:b, s:o, s:o, s:o, s:o}",
			 "name", m->name, "type", spec_metric_type__name(m->type),
			 "help", m->help, "unit", m->unit, "family", m->family,
			 "labels", labels_json(m), "budget", (int)m->budget,
			 "hot", m->hot, "signal", m->signal,
			 "probe", probe_json(&m->probe),
			 "buckets", buckets,
			 "panels", panels_json(m), "alerts", alerts_json(m));
}

static json_t *targets_json(const struct spec *spec)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < spec->nr_targets; i++) {
		const struct spec_target *t = &spec->targets[i];

		if (json_array_append_new(a, json_pack("{s:s, s:s?, s:i}", "name", t->name,
						       "binary", t->binary, "pid", t->pid))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *spec_json(const struct spec *spec)
{
	json_t *metrics = json_array();
	size_t i;

	for (i = 0; metrics && i < spec->nr_metrics; i++) {
		if (json_array_append_new(metrics, metric_json(&spec->metrics[i]))) {
			json_decref(metrics);
			return NULL;
		}
	}
	return json_pack("{s:i, s:s, s:i, s:o, s:o}",
			 "version", spec->version, "namespace", spec->namespace_,
			 "global_budget", (int)spec->global_budget,
			 "targets", targets_json(spec), "metrics", metrics);
}

char *gen__canonical_spec(const struct spec *spec)
{
	json_t *j = spec_json(spec);
	char *s;

	if (!j)
		return NULL;
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return s;
}

int gen__spec_hash(const struct spec *spec, char hex[GEN_SHA256_HEX])
{
	char *s = gen__canonical_spec(spec);
	int err;

	if (!s)
		return -ENOMEM;
	err = gen__sha256_hex(s, strlen(s), hex);
	free(s);
	return err;
}

/* ---- alert suggestions for normalization metrics ---- */

void gen_alert__clear(struct spec_alert *a)
{
	free(a->alert);
	free(a->expr);
	free(a->for_);
	free(a->severity);
	free(a->summary);
	memset(a, 0, sizeof(*a));
}

/* "sum by (a, b)" or "sum" for a metric without labels. */
static char *agg_op(const char *op, const char *labels)
{
	return *labels ? fmt__str("%s by (%s)", op, labels) : strdup(op);
}

static int zeroed_drop(const char *full, const char *camel, const char *sum,
		       struct spec_alert *a)
{
	a->alert = fmt__str("%sZeroedFractionDrop", camel);
	a->expr = fmt__str("(%s (rate(%s" SUFFIX_NORM_ZEROED "[5m])) / %s (rate(%s" SUFFIX_NORM_EVENTS "[5m])))"
			   " < 0.5 * (%s (rate(%s" SUFFIX_NORM_ZEROED "[1h])) / %s (rate(%s" SUFFIX_NORM_EVENTS "[1h])))",
			   sum, full, sum, full, sum, full, sum, full);
	a->summary = fmt__str("%s: the zeroed fraction fell below half of its 1h baseline",
			      full);
	a->for_ = strdup("15m");
	a->severity = strdup("warning");
	return a->alert && a->expr && a->summary && a->for_ && a->severity ? 0 : -ENOMEM;
}

static int after_drift(const char *full, const char *camel, const char *max,
		       struct spec_alert *a)
{
	a->alert = fmt__str("%sAfterMeanDrift", camel);
	a->expr = fmt__str("%s (%s" SUFFIX_NORM_AFTER ") > 0", max, full);
	a->summary = fmt__str("%s: the mean |after| stays above zero: the clean-up leaves residue",
			      full);
	a->for_ = strdup("30m");
	a->severity = strdup("info");
	return a->alert && a->expr && a->summary && a->for_ && a->severity ? 0 : -ENOMEM;
}

int gen__norm_suggestions(const struct spec *spec, const struct spec_metric *m,
			  struct spec_alert out[GEN_NORM_SUGGESTIONS])
{
	char *full = NULL, *camel = NULL, *labels = NULL, *sum = NULL, *max = NULL;
	int err = -ENOMEM;

	memset(out, 0, GEN_NORM_SUGGESTIONS * sizeof(*out));
	full = spec_metric__full_name(spec, m);
	if (!full)
		goto out;
	camel = gen__camel(full);
	labels = gen__labels_joined(m, SPEC_MAX_LABELS);
	if (!camel || !labels)
		goto out;
	sum = agg_op("sum", labels);
	max = agg_op("max", labels);
	if (!sum || !max)
		goto out;
	err = zeroed_drop(full, camel, sum, &out[0]);
	if (!err)
		err = after_drift(full, camel, max, &out[1]);
out:
	if (err) {
		gen_alert__clear(&out[0]);
		gen_alert__clear(&out[1]);
	}
	free(max);
	free(sum);
	free(labels);
	free(camel);
	free(full);
	return err;
}

/* ---- the PromQL expressions, as the builders write them ---- */

int gen_exprs__add(struct gen_exprs *l, const char *expr, const char *artifact,
		   const char *name, long metric)
{
	struct gen_expr *v, *e;

	if (!l)
		return 0;
	v = realloc(l->v, (l->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	e = &v[l->nr];
	e->expr = strdup(expr);
	e->artifact = strdup(artifact);
	e->name = strdup(name);
	e->metric = metric;
	if (!e->expr || !e->artifact || !e->name) {
		free(e->expr);
		free(e->artifact);
		free(e->name);
		return -ENOMEM;
	}
	l->nr++;
	return 0;
}

void gen_exprs__free(struct gen_exprs *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->nr; i++) {
		free(l->v[i].expr);
		free(l->v[i].artifact);
		free(l->v[i].name);
	}
	free(l->v);
	l->v = NULL;
	l->nr = 0;
}
