// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen: the helpers every generator shares, the C header of metric IDs, the
 * metrics catalog, and the whole artifact set in a fixed order.
 *
 * Pure: a struct spec in, text out. Nothing here touches the file system.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "gen/gen.h"
#include "lib/metric_id.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define SRC_LEN		96
#define NUM_LEN		32
#define MAX_PROBE_ARGS	6	/* EMITD_PROBE6 is the widest site macro */

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

char *gen__fmt(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
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
	return gen__fmt("%s-%s", spec->namespace_, family);
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

void gen__fmt_double(char *buf, size_t size, double v)
{
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
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

static json_t *src_json(const struct spec_src *s)
{
	if (s->kind == SPEC_SRC_NONE)
		return json_null();
	return json_pack("{s:s, s:i, s:s, s:i}",
			 "kind", enum_name(src_kinds, ARRAY_SIZE(src_kinds), s->kind),
			 "arg", (int)s->arg,
			 "type", enum_name(val_types, ARRAY_SIZE(val_types), s->type),
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
			 "kind", enum_name(bucket_kinds, ARRAY_SIZE(bucket_kinds), b->kind),
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
	return *labels ? gen__fmt("%s by (%s)", op, labels) : strdup(op);
}

static int zeroed_drop(const char *full, const char *camel, const char *sum,
		       struct spec_alert *a)
{
	a->alert = gen__fmt("%sZeroedFractionDrop", camel);
	a->expr = gen__fmt("(%s (rate(%s_zeroed_total[5m])) / %s (rate(%s_events_total[5m])))"
			   " < 0.5 * (%s (rate(%s_zeroed_total[1h])) / %s (rate(%s_events_total[1h])))",
			   sum, full, sum, full, sum, full, sum, full);
	a->summary = gen__fmt("%s: the zeroed fraction fell below half of its 1h baseline",
			      full);
	a->for_ = strdup("15m");
	a->severity = strdup("warning");
	return a->alert && a->expr && a->summary && a->for_ && a->severity ? 0 : -ENOMEM;
}

static int after_drift(const char *full, const char *camel, const char *max,
		       struct spec_alert *a)
{
	a->alert = gen__fmt("%sAfterMeanDrift", camel);
	a->expr = gen__fmt("%s (%s_after_abs_mean) > 0", max, full);
	a->summary = gen__fmt("%s: the mean |after| stays above zero: the clean-up leaves residue",
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

/* ---- the C header ---- */

static void put_upper(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(toupper((unsigned char)*s), f);
}

/* Text for a C comment: no comment terminator, no line breaks. */
static void put_comment_text(FILE *f, const char *s)
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

static unsigned int src_args(const struct spec_src *s)
{
	return s->kind == SPEC_SRC_NONE ? 0 : s->arg + 1;
}

/* The number of site arguments the spec reads: the highest index + 1. */
static unsigned int probe_nargs(const struct spec_metric *m)
{
	unsigned int n = 0, k;
	size_t i;

	n = src_args(&m->probe.value);
	k = src_args(&m->probe.before);
	n = k > n ? k : n;
	k = src_args(&m->probe.after);
	n = k > n ? k : n;
	for (i = 0; i < m->nr_labels; i++) {
		k = src_args(&m->labels[i].src);
		n = k > n ? k : n;
	}
	return n;
}

static bool src_reads(const struct spec_src *s, unsigned int arg)
{
	return s->kind != SPEC_SRC_NONE && s->arg == arg;
}

/* What the spec reads from site argument @arg. */
static const char *arg_role(const struct spec_metric *m, unsigned int arg)
{
	size_t i;

	if (src_reads(&m->probe.value, arg))
		return "value";
	if (src_reads(&m->probe.before, arg))
		return "before";
	if (src_reads(&m->probe.after, arg))
		return "after";
	for (i = 0; i < m->nr_labels; i++) {
		if (src_reads(&m->labels[i].src, arg))
			return m->labels[i].name;
	}
	return "unused";
}

static void header_site(FILE *f, const char *macro, const struct spec_metric *m)
{
	const struct spec_probe *p = &m->probe;
	unsigned int n = probe_nargs(m), i;

	if (n > MAX_PROBE_ARGS) {
		fprintf(f, "/* The site reads %u arguments: wider than EMITD_PROBE6. */\n", n);
		return;
	}
	fputs("/* The probe site, with <emitd_probe.h>", f);
	for (i = 0; i < n; i++)
		fprintf(f, "%sa%u %s", i ? ", " : "; ", i, arg_role(m, i));
	fputs(". */\n", f);
	fprintf(f, "#define %s_PROBE(", macro);
	for (i = 0; i < n; i++)
		fprintf(f, "%sa%u", i ? ", " : "", i);
	if (n)
		fprintf(f, ") \\\n\tEMITD_PROBE%u(%s, %s", n, p->provider, p->name);
	else
		fprintf(f, ") \\\n\tEMITD_PROBE(%s, %s", p->provider, p->name);
	for (i = 0; i < n; i++)
		fprintf(f, ", a%u", i);
	fputs(")\n", f);
}

static void header_probe(FILE *f, const char *macro, const struct spec_metric *m)
{
	const struct spec_probe *p = &m->probe;

	if (p->kind != SPEC_PROBE_USDT) {
		fprintf(f, "#define %s_UPROBE\t\"%s\"\n", macro, p->symbol);
		return;
	}
	fprintf(f, "#define %s_USDT\t\"%s:%s\"\n", macro, p->provider, p->name);
	fprintf(f, "#define %s_USDT_PROVIDER\t\"%s\"\n", macro, p->provider);
	fprintf(f, "#define %s_USDT_NAME\t\"%s\"\n", macro, p->name);
	header_site(f, macro, m);
}

static int header_metric(FILE *f, const struct spec *spec, const struct spec_metric *m,
			 char **macro)
{
	char *full = spec_metric__full_name(spec, m), *c;

	*macro = NULL;
	if (!full)
		return -ENOMEM;
	*macro = strdup(full);
	if (!*macro) {
		free(full);
		return -ENOMEM;
	}
	for (c = *macro; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	fprintf(f, "\n/* %s: %s, family %s. ", full, spec_metric_type__name(m->type),
		gen__family(m));
	put_comment_text(f, m->help);
	fputs(" */\n", f);
	fprintf(f, "#define %s_ID\t0x%08xu\n", *macro, emitd_metric_id(full));
	fprintf(f, "#define %s_NAME\t\"%s\"\n", *macro, full);
	header_probe(f, *macro, m);
	free(full);
	return 0;
}

static int header_body(FILE *f, const struct spec *spec)
{
	char *macros[SPEC_MAX_METRICS] = {};
	size_t i, n = spec->nr_metrics < SPEC_MAX_METRICS ? spec->nr_metrics : SPEC_MAX_METRICS;
	int err = 0;

	fprintf(f, "\n#define ");
	put_upper(f, spec->namespace_);
	fprintf(f, "_NAMESPACE\t\"%s\"\n#define ", spec->namespace_);
	put_upper(f, spec->namespace_);
	fprintf(f, "_METRICS_COUNT\t%zu\n", n);
	for (i = 0; i < n && !err; i++)
		err = header_metric(f, spec, &spec->metrics[i], &macros[i]);
	if (!err) {
		fputs("\n/* X(ID, NAME) for every metric, in spec order. */\n#define ", f);
		put_upper(f, spec->namespace_);
		fputs("_METRICS(X)", f);
		for (i = 0; i < n; i++)
			fprintf(f, " \\\n\tX(%s_ID, %s_NAME)", macros[i], macros[i]);
		fputc('\n', f);
	}
	for (i = 0; i < n; i++)
		free(macros[i]);
	return err;
}

int gen__header(const struct spec *spec, char **out, size_t *len)
{
	struct gen_text t;
	int err;

	err = gen_text__open(&t);
	if (err)
		return err;
	fputs("/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */\n", t.f);
	fprintf(t.f,
		"/*\n"
		" * %s_metrics.h: metric IDs and names of the \"%s\" spec.\n"
		" *\n"
		" * Generated by `emitd gen`: do not edit; change the spec and regenerate.\n"
		" * A metric ID is emitd_metric_id(\"<namespace>_<name>\"), the first 32 bits\n"
		" * of SHA-256 of the full metric name (never 0), as the agent computes it.\n"
		" */\n", spec->namespace_, spec->namespace_);
	fputs("#ifndef ", t.f);
	put_upper(t.f, spec->namespace_);
	fputs("_METRICS_H\n#define ", t.f);
	put_upper(t.f, spec->namespace_);
	fputs("_METRICS_H\n", t.f);
	err = header_body(t.f, spec);
	fputs("\n#endif /* ", t.f);
	put_upper(t.f, spec->namespace_);
	fputs("_METRICS_H */\n", t.f);
	if (err) {
		gen_text__discard(&t);
		return err;
	}
	return gen_text__close(&t, out, len);
}

/* ---- the catalog ---- */

/* Markdown text: backslash-escape what could start markup. */
static void put_md(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (strchr("\\`*_[]<>|#", *s))
			fputc('\\', f);
		fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
	}
}

static const char *fmt_src(char buf[SRC_LEN], const struct spec_src *s)
{
	const char *type = enum_name(val_types, ARRAY_SIZE(val_types), s->type);

	switch (s->kind) {
	case SPEC_SRC_ARG:
		snprintf(buf, SRC_LEN, "arg %u (%s)", s->arg, type);
		break;
	case SPEC_SRC_DEREF:
		if (s->offset)
			snprintf(buf, SRC_LEN, "%s at arg %u + %d (deref)", type, s->arg,
				 s->offset);
		else
			snprintf(buf, SRC_LEN, "%s at arg %u (deref)", type, s->arg);
		break;
	case SPEC_SRC_STRING:
		snprintf(buf, SRC_LEN, "string at arg %u", s->arg);
		break;
	default:
		snprintf(buf, SRC_LEN, "none");
		break;
	}
	return buf;
}

static void catalog_probe(FILE *f, const struct spec *spec, const struct spec_metric *m)
{
	const struct spec_probe *p = &m->probe;
	const struct spec_target *t = spec__find_target(spec, p->target);
	char b1[SRC_LEN], b2[SRC_LEN];
	size_t i;

	if (p->kind == SPEC_PROBE_USDT)
		fprintf(f, "- Probe: USDT `%s:%s`", p->provider, p->name);
	else
		fprintf(f, "- Probe: uprobe `%s`", p->symbol);
	fprintf(f, " in target `%s`", p->target);
	if (t && t->binary) {
		fputs(" (binary `", f);
		put_comment_text(f, t->binary);
		fputs("`)", f);
	} else if (t && t->pid) {
		fprintf(f, " (pid %d)", t->pid);
	}
	fputc('\n', f);
	if (m->type == SPEC_NORMALIZATION)
		fprintf(f, "- Before: %s; after: %s\n", fmt_src(b1, &p->before),
			fmt_src(b2, &p->after));
	else if (m->type == SPEC_COUNTER && p->value.kind == SPEC_SRC_NONE)
		fputs("- Value: +1 per hit\n", f);
	else
		fprintf(f, "- Value%s: %s\n", m->type == SPEC_COUNTER ? " (increment)" : "",
			fmt_src(b1, &p->value));
	for (i = 0; i < m->nr_labels; i++)
		fprintf(f, "- Label `%s`: %s\n", m->labels[i].name,
			fmt_src(b1, &m->labels[i].src));
}

static void catalog_buckets(FILE *f, const struct spec_buckets *b)
{
	char num[NUM_LEN];
	size_t i;

	fprintf(f, "- Buckets (%s, %zu bounds and +Inf): ",
		enum_name(bucket_kinds, ARRAY_SIZE(bucket_kinds), b->kind), b->nr_bounds);
	for (i = 0; i < b->nr_bounds; i++) {
		gen__fmt_double(num, sizeof(num), b->bounds[i]);
		fprintf(f, "%s%s", i ? ", " : "", num);
	}
	fputc('\n', f);
}

static void catalog_series(FILE *f, const char *full, enum spec_metric_type type)
{
	const char *const *sfx;
	size_t i, n = spec_metric_type__suffixes(type, &sfx);

	fputs("- Series:", f);
	for (i = 0; i < n; i++)
		fprintf(f, "%s `%s%s`", i ? "," : "", full, sfx[i]);
	fputc('\n', f);
}

static void catalog_labels(FILE *f, const struct spec_metric *m)
{
	size_t i;

	if (!m->nr_labels)
		fputs("none", f);
	for (i = 0; i < m->nr_labels; i++)
		fprintf(f, "%s`%s`", i ? ", " : "", m->labels[i].name);
}

static int catalog_metric(FILE *f, const struct spec *spec, const struct spec_metric *m)
{
	char *full = spec_metric__full_name(spec, m);

	if (!full)
		return -ENOMEM;
	fprintf(f, "\n### `%s`\n\n", full);
	put_md(f, m->help);
	fprintf(f, "\n\n- Type: %s\n- Unit: %s\n- Labels: ", spec_metric_type__name(m->type),
		m->unit ? m->unit : "none");
	catalog_labels(f, m);
	fprintf(f, "\n- Budget: %u series\n", m->budget);
	fprintf(f, "- Metric ID: `0x%08x`\n", emitd_metric_id(full));
	if (m->hot || m->signal)
		fprintf(f, "- Flags:%s%s\n", m->hot ? " hot" : "",
			m->signal ? " signal" : "");
	catalog_probe(f, spec, m);
	if (m->type == SPEC_HISTOGRAM)
		catalog_buckets(f, &m->buckets);
	catalog_series(f, full, m->type);
	free(full);
	return 0;
}

static int catalog_index(FILE *f, const struct spec *spec, const char **fams, size_t nr)
{
	size_t i, j;

	fputs("\n| Family | Metric | Type | Unit | Labels | Budget |\n"
	      "| --- | --- | --- | --- | --- | --- |\n", f);
	for (i = 0; i < nr; i++) {
		for (j = 0; j < spec->nr_metrics; j++) {
			const struct spec_metric *m = &spec->metrics[j];

			if (strcmp(gen__family(m), fams[i]))
				continue;
			fprintf(f, "| `%s` | `%s_%s` | %s | %s | ", fams[i], spec->namespace_,
				m->name, spec_metric_type__name(m->type), m->unit ? m->unit : "-");
			catalog_labels(f, m);
			fprintf(f, " | %u |\n", m->budget);
		}
	}
	return 0;
}

static int catalog_body(FILE *f, const struct spec *spec)
{
	const char *fams[SPEC_MAX_METRICS];
	size_t nr = gen__families(spec, fams, ARRAY_SIZE(fams)), i, j;
	int err = 0;

	fprintf(f, "# Metrics catalog: `%s`\n\n", spec->namespace_);
	fprintf(f, "Generated by `emitd gen` from the spec: do not edit; change the spec and\n"
		"regenerate. Namespace `%s`: %zu metrics in %zu families, global series\n"
		"budget %u.\n", spec->namespace_, spec->nr_metrics, nr, spec->global_budget);
	catalog_index(f, spec, fams, nr);
	for (i = 0; i < nr && !err; i++) {
		fprintf(f, "\n## Family `%s`\n", fams[i]);
		for (j = 0; j < spec->nr_metrics && !err; j++) {
			if (!strcmp(gen__family(&spec->metrics[j]), fams[i]))
				err = catalog_metric(f, spec, &spec->metrics[j]);
		}
	}
	return err;
}

int gen__catalog(const struct spec *spec, char **out, size_t *len)
{
	struct gen_text t;
	int err;

	err = gen_text__open(&t);
	if (err)
		return err;
	err = catalog_body(t.f, spec);
	if (!err)
		return gen_text__close(&t, out, len);
	gen_text__discard(&t);
	return err;
}

/* ---- the whole set ---- */

void gen_set__free(struct gen_set *set)
{
	size_t i;

	if (!set)
		return;
	for (i = 0; i < set->nr; i++) {
		free(set->files[i].path);
		free(set->files[i].data);
	}
	free(set->files);
	set->files = NULL;
	set->nr = 0;
}

/* Append a file; takes @path and @data over, also on failure. */
static int set_add(struct gen_set *set, enum gen_kind kind, char *path, char *data,
		   size_t len)
{
	struct gen_file *files, *f;

	if (!path || !data)
		goto err_nomem;
	files = realloc(set->files, (set->nr + 1) * sizeof(*files));
	if (!files)
		goto err_nomem;
	set->files = files;
	f = &set->files[set->nr++];
	f->kind = kind;
	f->path = path;
	f->data = data;
	f->len = len;
	return 0;
err_nomem:
	free(path);
	free(data);
	return -ENOMEM;
}

static int add_text(struct gen_set *set, const struct spec *spec, enum gen_kind kind,
		    char *path,
		    int (*fn)(const struct spec *spec, char **out, size_t *len))
{
	char *data = NULL;
	size_t len = 0;
	int err;

	err = fn(spec, &data, &len);
	if (err) {
		free(path);
		return err;
	}
	return set_add(set, kind, path, data, len);
}

static int add_json(struct gen_set *set, enum gen_kind kind, char *path, const json_t *j)
{
	size_t len = 0;
	char *data = j ? gen__json_text(j, &len) : NULL;

	return set_add(set, kind, path, data, len);
}

static int add_dashboards(struct gen_set *set, const struct spec *spec)
{
	struct gen_dashes d = {};
	char hash[GEN_SHA256_HEX];
	json_t *manifest;
	size_t i;
	int err;

	err = gen__spec_hash(spec, hash);
	if (!err)
		err = gen_dash__build(spec, &d);
	for (i = 0; !err && i < d.nr; i++)
		err = add_json(set, GEN_DASHBOARD, gen__fmt("dashboards/%s.json", d.v[i].slug),
			       d.v[i].json);
	if (!err) {
		manifest = gen_dash__manifest(spec, &d, hash);
		err = add_json(set, GEN_MANIFEST, strdup("dashboards/manifest.json"), manifest);
		json_decref(manifest);
	}
	gen_dashes__free(&d);
	return err;
}

int gen__render(const struct spec *spec, struct gen_set *out)
{
	int err;

	out->files = NULL;
	out->nr = 0;
	err = add_text(out, spec, GEN_HEADER, gen__fmt("include/%s_metrics.h", spec->namespace_),
		       gen__header);
	if (!err)
		err = add_text(out, spec, GEN_CATALOG, strdup("docs/METRICS_CATALOG.md"),
			       gen__catalog);
	if (!err)
		err = add_dashboards(out, spec);
	if (!err)
		err = add_text(out, spec, GEN_RECORDING, strdup("rules/recording_rules.yml"),
			       gen__recording_rules);
	if (!err)
		err = add_text(out, spec, GEN_ALERTS, strdup("rules/alerts.yml"),
			       gen__alert_rules);
	if (err)
		gen_set__free(out);
	return err;
}
