// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen/common: what every generator shares: text buffers, names, markdown
 * and comment text, the alert suggestions for normalization metrics, and
 * the record of every PromQL expression the builders write (the spec's
 * canonical form and hash are spec/hash.c's). It calls no other file of gen/: the
 * header, catalog, dashboards, rules, check and cli files call it.
 *
 * Pure: a struct spec in, text out. Nothing here touches the file system.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emitd.h"
#include "gen/gen.h"
#include "lib/fmt.h"
#include "lib/self_metrics.h"
#include "lib/suffix.h"

/* ---- text ---- */

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

/* ---- emitd's own alerts ---- */

/* emitd's own health: the names are the agent's self-metrics (lib/self_metrics.h). */
static const struct {
	enum self_metric_id metric;
	const char *alert;
	const char *expr;	/* a format: %s is the metric's name */
	const char *for_;
	const char *severity;
	const char *summary;
} health[GEN_NR_HEALTH] = {
	{ SELF_MAP_FULL_DROPS_TOTAL, "EmitdMapFullDrops", "increase(%s[5m]) > 0", NULL,
	  "warning", "emitd dropped events because a BPF map was full" },
	{ SELF_RINGBUF_DROPPED_TOTAL, "EmitdRingbufDrops", "increase(%s[5m]) > 0", NULL,
	  "warning", "emitd lost sample-lane records: the ring buffer was full" },
	{ SELF_DRAIN_SHED_TOTAL, "EmitdShedding", "increase(%s[5m]) > 0", NULL,
	  "warning", "emitd is shedding events under backpressure" },
	{ SELF_SCRAPE_DURATION_SECONDS, "EmitdScrapeSlow", "%s > 0.5", "5m",
	  "warning", "emitd takes more than 0.5s to render /metrics" },
	{ SELF_CARDINALITY_FOLDED_SERIES, "EmitdCardinalityFolding", "%s > 0", NULL,
	  "info", "emitd folds over-budget series into " EMITD_OTHER_VALUE ": a series budget is exhausted" },
};

static bool alert_complete(const struct spec_alert *a, bool has_for)
{
	return a->alert && a->expr && a->severity && a->summary && (a->for_ || !has_for);
}

int gen__health_alerts(struct spec_alert out[GEN_NR_HEALTH], const char *metric[GEN_NR_HEALTH])
{
	size_t i;

	memset(out, 0, GEN_NR_HEALTH * sizeof(*out));
	for (i = 0; i < GEN_NR_HEALTH; i++) {
		struct spec_alert *a = &out[i];

		metric[i] = self_metrics__name(health[i].metric);
		a->alert = strdup(health[i].alert);
		a->expr = fmt__str(health[i].expr, metric[i]);
		a->for_ = health[i].for_ ? strdup(health[i].for_) : NULL;
		a->severity = strdup(health[i].severity);
		a->summary = strdup(health[i].summary);
		if (!alert_complete(a, health[i].for_))
			goto err_nomem;
	}
	return 0;
err_nomem:
	for (i = 0; i < GEN_NR_HEALTH; i++)
		gen_alert__clear(&out[i]);
	return -ENOMEM;
}

int gen__provenance_alert(const struct spec *spec, const char *hash, struct spec_alert *out)
{
	const struct self_metric *info = self_metrics__get(SELF_SPEC_INFO);

	memset(out, 0, sizeof(*out));
	out->alert = strdup("EmitdSpecDrift");
	out->expr = fmt__str("%s{%s=\"%s\",%s!=\"%s\"} == 1", info->name, info->labels[0],
			     spec->namespace_, info->labels[1], hash);
	out->severity = strdup("warning");
	out->summary = fmt__str("emitd runs a %s spec (sha256 {{ $labels.%s }}) other than the one the dashboards and rules were generated from: they are out of date with what runs",
				spec->namespace_, info->labels[1]);
	if (alert_complete(out, false))
		return 0;
	gen_alert__clear(out);
	return -ENOMEM;
}

char *gen__hide_hash(const char *s, const char *hash)
{
	size_t n = strlen(hash), len = strlen(s);
	const char *p;
	char *out, *o;

	if (!n)
		return strdup(s);
	out = malloc(len + len / n * sizeof(GEN_HASH_PLACEHOLDER) + 1);
	if (!out)
		return NULL;
	for (o = out; (p = strstr(s, hash)); s = p + n) {
		memcpy(o, s, p - s);
		o += p - s;
		memcpy(o, GEN_HASH_PLACEHOLDER, sizeof(GEN_HASH_PLACEHOLDER) - 1);
		o += sizeof(GEN_HASH_PLACEHOLDER) - 1;
	}
	strcpy(o, s);
	return out;
}

/* A code span longer than any backtick run inside; `|` escaped for the table. */
void gen__put_md_code(FILE *f, const char *s)
{
	size_t run = 0, longest = 0, i;
	const char *p;

	for (p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		longest = run > longest ? run : longest;
	}
	for (i = 0; i <= longest; i++)
		fputc('`', f);
	fputc(' ', f);
	for (p = s; *p; p++) {
		if (*p == '|')
			fputc('\\', f);
		fputc((unsigned char)*p < 0x20 ? ' ' : *p, f);
	}
	fputc(' ', f);
	for (i = 0; i <= longest; i++)
		fputc('`', f);
}

/* ---- the PromQL expressions, as the builders write them ---- */

static void gen_expr__clear(struct gen_expr *e)
{
	free(e->expr);
	free(e->artifact);
	free(e->name);
	free(e->metric_name);
	free(e->group);
}

static char *strdup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	*oom |= s && !d;
	return d;
}

int gen_exprs__add(struct gen_exprs *l, const struct gen_expr *e)
{
	struct gen_expr *v, *c;
	bool oom = false;

	if (!l)
		return 0;
	v = realloc(l->v, (l->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	c = &v[l->nr];
	c->expr = strdup_or_null(e->expr, &oom);
	c->artifact = strdup_or_null(e->artifact, &oom);
	c->name = strdup_or_null(e->name, &oom);
	c->metric_name = strdup_or_null(e->metric_name, &oom);
	c->group = strdup_or_null(e->group, &oom);
	c->metric = e->metric;
	c->source = e->source ? e->source : GEN_SOURCE_GENERATED;
	if (oom || !c->expr || !c->artifact || !c->name) {
		gen_expr__clear(c);
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
	for (i = 0; i < l->nr; i++)
		gen_expr__clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->nr = 0;
}
