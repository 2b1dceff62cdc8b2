// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen_rules: Prometheus rule files from the spec.
 *
 * rules/recording_rules.yml, one group per family, names level:metric:operations
 * (level is the namespace, plus the label kept by a `sum by`):
 *   counter x_total      <ns>:x:rate5m           sum(rate(x_total[5m]))
 *                        <ns>_<l>:x:rate5m       sum by (l) (rate(x_total[5m])), first 2 labels
 *                        <ns>:x_total:sum        sum(x_total)
 *   histogram x          <ns>:x:p95_rate5m       histogram_quantile(0.95, sum by (le)
 *                                                (rate(x_bucket[5m]))), and p99
 *   normalization x      <ns>:x_events:rate5m            sum(rate(x_events_total[5m]))
 *                        <ns>:x_zeroed:ratio_rate5m      zeroed rate / events rate
 * rules/alerts.yml: the spec's alerts by family, the normalization
 * suggestions, and emitd's own health suggestions.
 *
 * YAML is written as text: every value is a quoted scalar.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"
#include "lib/self_metrics.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

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

void gen__yaml_quote(FILE *f, const char *str)
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

static void put_kv(FILE *f, const char *indent, const char *key, const char *val)
{
	fprintf(f, "%s%s: ", indent, key);
	gen__yaml_quote(f, val);
	fputc('\n', f);
}

static void put_group(FILE *f, const char *name)
{
	fputs("  - name: ", f);
	gen__yaml_quote(f, name);
	fputs("\n    rules:\n", f);
}

/* ---- recording rules ---- */

static int record(FILE *f, const char *name, const char *expr)
{
	if (!name || !expr)
		return -ENOMEM;
	put_kv(f, "      - ", "record", name);
	put_kv(f, "        ", "expr", expr);
	return 0;
}

/* Takes @name and @expr over. */
static int record_new(FILE *f, char *name, char *expr)
{
	int err = record(f, name, expr);

	free(name);
	free(expr);
	return err;
}

static int rec_counter(FILE *f, const char *ns, const char *x, const struct spec_metric *m)
{
	size_t base_len = strlen(m->name);
	size_t i;
	int err;

	if (base_len > 6 && !strcmp(m->name + base_len - 6, "_total"))
		base_len -= 6;
	err = record_new(f, gen__fmt("%s:%.*s:rate5m", ns, (int)base_len, m->name),
			 gen__fmt("sum(rate(%s[5m]))", x));
	for (i = 0; !err && i < m->nr_labels && i < GEN_MAX_SPLIT_LABELS; i++) {
		const char *l = m->labels[i].name;

		err = record_new(f, gen__fmt("%s_%s:%.*s:rate5m", ns, l, (int)base_len, m->name),
				 gen__fmt("sum by (%s) (rate(%s[5m]))", l, x));
	}
	if (!err)
		err = record_new(f, gen__fmt("%s:%s:sum", ns, m->name), gen__fmt("sum(%s)", x));
	return err;
}

static int rec_histogram(FILE *f, const char *ns, const char *x, const struct spec_metric *m)
{
	static const char *const q[] = { "95", "99" };
	size_t i;
	int err = 0;

	for (i = 0; !err && i < ARRAY_SIZE(q); i++)
		err = record_new(f, gen__fmt("%s:%s:p%s_rate5m", ns, m->name, q[i]),
				 gen__fmt("histogram_quantile(0.%s, sum by (le) (rate(%s_bucket[5m])))",
				     q[i], x));
	return err;
}

static int rec_norm(FILE *f, const char *ns, const char *x, const struct spec_metric *m)
{
	int err;

	err = record_new(f, gen__fmt("%s:%s_events:rate5m", ns, m->name),
			 gen__fmt("sum(rate(%s_events_total[5m]))", x));
	if (!err)
		err = record_new(f, gen__fmt("%s:%s_zeroed:ratio_rate5m", ns, m->name),
				 gen__fmt("sum(rate(%s_zeroed_total[5m])) / sum(rate(%s_events_total[5m]))",
				     x, x));
	return err;
}

static bool has_recording(const struct spec_metric *m)
{
	return m->type != SPEC_GAUGE;
}

static int rec_metric(FILE *f, const struct spec *spec, const struct spec_metric *m)
{
	char *x = spec_metric__full_name(spec, m);
	int err;

	if (!x)
		return -ENOMEM;
	if (m->type == SPEC_COUNTER)
		err = rec_counter(f, spec->namespace_, x, m);
	else if (m->type == SPEC_HISTOGRAM)
		err = rec_histogram(f, spec->namespace_, x, m);
	else
		err = rec_norm(f, spec->namespace_, x, m);
	free(x);
	return err;
}

static int rec_family(FILE *f, const struct spec *spec, const char *family)
{
	bool opened = false;
	size_t i;
	int err = 0;

	for (i = 0; i < spec->nr_metrics && !err; i++) {
		const struct spec_metric *m = &spec->metrics[i];
		char *slug;

		if (strcmp(gen__family(m), family) || !has_recording(m))
			continue;
		if (!opened) {
			slug = gen__slug(spec, family);
			if (!slug)
				return -ENOMEM;
			put_group(f, slug);
			free(slug);
			opened = true;
		}
		err = rec_metric(f, spec, m);
	}
	return err;
}

static void put_preamble(FILE *f, const struct spec *spec, const char *what)
{
	fprintf(f, "# %s for the \"%s\" spec.\n", what, spec->namespace_);
	fputs("# Generated by `emitd gen`: do not edit; change the spec and regenerate.\n", f);
}

static int finish(struct gen_text *t, int err, char **out, size_t *len)
{
	if (!err)
		return gen_text__close(t, out, len);
	gen_text__discard(t);
	return err;
}

static bool spec_has_recording(const struct spec *spec)
{
	size_t i;

	for (i = 0; i < spec->nr_metrics; i++) {
		if (has_recording(&spec->metrics[i]))
			return true;
	}
	return false;
}

int gen__recording_rules(const struct spec *spec, char **out, size_t *len)
{
	const char *fams[SPEC_MAX_METRICS];
	size_t nr = gen__families(spec, fams, ARRAY_SIZE(fams)), i;
	struct gen_text t;
	int err;

	err = gen_text__open(&t);
	if (err)
		return err;
	put_preamble(t.f, spec, "Recording rules");
	if (!spec_has_recording(spec)) {
		fputs("groups: []\n", t.f);
		return finish(&t, 0, out, len);
	}
	fputs("groups:\n", t.f);
	for (i = 0; i < nr && !err; i++)
		err = rec_family(t.f, spec, fams[i]);
	return finish(&t, err, out, len);
}

/* ---- alerting rules ---- */

static void put_alert(FILE *f, const struct spec_alert *a)
{
	put_kv(f, "      - ", "alert", a->alert);
	put_kv(f, "        ", "expr", a->expr);
	if (a->for_)
		put_kv(f, "        ", "for", a->for_);
	fputs("        labels:\n", f);
	put_kv(f, "          ", "severity", a->severity);
	fputs("        annotations:\n", f);
	put_kv(f, "          ", "summary", a->summary);
}

static bool family_has(const struct spec *spec, const char *family, bool suggested)
{
	size_t i;

	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family))
			continue;
		if (suggested ? m->type == SPEC_NORMALIZATION : m->nr_alerts > 0)
			return true;
	}
	return false;
}

static int spec_alerts(FILE *f, const struct spec *spec, const char *family)
{
	char *slug;
	size_t i, j;

	if (!family_has(spec, family, false))
		return 0;
	slug = gen__slug(spec, family);
	if (!slug)
		return -ENOMEM;
	put_group(f, slug);
	free(slug);
	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family))
			continue;
		for (j = 0; j < m->nr_alerts; j++)
			put_alert(f, &m->alerts[j]);
	}
	return 0;
}

static int suggested_alerts(FILE *f, const struct spec *spec, const char *family)
{
	struct spec_alert sug[GEN_NORM_SUGGESTIONS];
	char *slug, *name;
	size_t i, j;
	int err;

	if (!family_has(spec, family, true))
		return 0;
	slug = gen__slug(spec, family);
	name = slug ? gen__fmt("%s-suggested", slug) : NULL;
	free(slug);
	if (!name)
		return -ENOMEM;
	put_group(f, name);
	free(name);
	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family) || m->type != SPEC_NORMALIZATION)
			continue;
		err = gen__norm_suggestions(spec, m, sug);
		if (err)
			return err;
		for (j = 0; j < GEN_NORM_SUGGESTIONS; j++) {
			put_alert(f, &sug[j]);
			gen_alert__clear(&sug[j]);
		}
	}
	return 0;
}

/* emitd's own health: the names are the agent's self-metrics (lib/self_metrics.h). */
static const struct {
	enum self_metric_id metric;
	struct spec_alert a;	/* a.expr: a format, %s is the metric's name */
} health[] = {
	{ SELF_MAP_FULL_DROPS_TOTAL, { .alert = "EmitdMapFullDrops",
	  .expr = "increase(%s[5m]) > 0",
	  .severity = "warning",
	  .summary = "emitd dropped events because a BPF map was full" } },
	{ SELF_RINGBUF_DROPPED_TOTAL, { .alert = "EmitdRingbufDrops",
	  .expr = "increase(%s[5m]) > 0",
	  .severity = "warning",
	  .summary = "emitd lost sample-lane records: the ring buffer was full" } },
	{ SELF_DRAIN_SHED_TOTAL, { .alert = "EmitdShedding",
	  .expr = "increase(%s[5m]) > 0",
	  .severity = "warning",
	  .summary = "emitd is shedding events under backpressure" } },
	{ SELF_SCRAPE_DURATION_SECONDS, { .alert = "EmitdScrapeSlow",
	  .expr = "%s > 0.5",
	  .for_ = "5m",
	  .severity = "warning",
	  .summary = "emitd takes more than 0.5s to render /metrics" } },
	{ SELF_CARDINALITY_FOLDED_SERIES, { .alert = "EmitdCardinalityFolding",
	  .expr = "%s > 0",
	  .severity = "info",
	  .summary = "emitd folds over-budget series into __other__: a series budget is exhausted" } },
};

static void health_alerts(FILE *f)
{
	struct spec_alert a;
	char expr[128];
	size_t i;

	put_group(f, "emitd-health-suggested");
	for (i = 0; i < ARRAY_SIZE(health); i++) {
		a = health[i].a;
		snprintf(expr, sizeof(expr), health[i].a.expr, self_metrics__name(health[i].metric));
		a.expr = expr;
		put_alert(f, &a);
	}
}

int gen__alert_rules(const struct spec *spec, char **out, size_t *len)
{
	const char *fams[SPEC_MAX_METRICS];
	size_t nr = gen__families(spec, fams, ARRAY_SIZE(fams)), i;
	struct gen_text t;
	int err;

	err = gen_text__open(&t);
	if (err)
		return err;
	put_preamble(t.f, spec, "Alerting rules");
	fputs("# Groups named *-suggested are emitd's suggestions; tune their thresholds.\n"
	      "groups:\n", t.f);
	for (i = 0; i < nr && !err; i++) {
		err = spec_alerts(t.f, spec, fams[i]);
		if (!err)
			err = suggested_alerts(t.f, spec, fams[i]);
	}
	if (!err)
		health_alerts(t.f);
	return finish(&t, err, out, len);
}
