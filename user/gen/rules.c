// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen/rules: Prometheus rule files from the spec.
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
 * YAML is written as text: every value is a quoted scalar. Each rule's
 * expression is recorded with the metric it comes from.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emitd.h"
#include "gen/gen.h"
#include "lib/fmt.h"
#include "lib/self_metrics.h"
#include "lib/suffix.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* A rule file being written, and where its expressions are recorded. */
struct rules_out {
	FILE *f;
	struct gen_exprs *exprs;	/* NULL: not recorded */
	const char *artifact;
	long metric;			/* of the rules being written, -1 for none */
};

/* ---- YAML ---- */

static void put_kv(FILE *f, const char *indent, const char *key, const char *val)
{
	fprintf(f, "%s%s: ", indent, key);
	fmt__yaml_quote(f, val);
	fputc('\n', f);
}

static void put_group(FILE *f, const char *name)
{
	fputs("  - name: ", f);
	fmt__yaml_quote(f, name);
	fputs("\n    rules:\n", f);
}

/* ---- recording rules ---- */

static int record(struct rules_out *ro, const char *name, const char *expr)
{
	if (!name || !expr)
		return -ENOMEM;
	put_kv(ro->f, "      - ", "record", name);
	put_kv(ro->f, "        ", "expr", expr);
	return gen_exprs__add(ro->exprs, expr, ro->artifact, name, ro->metric);
}

/* Takes @name and @expr over. */
static int record_new(struct rules_out *ro, char *name, char *expr)
{
	int err = record(ro, name, expr);

	free(name);
	free(expr);
	return err;
}

static int rec_counter(struct rules_out *ro, const char *ns, const char *x,
		       const struct spec_metric *m)
{
	size_t base_len = suffix__strip_total(m->name, strlen(m->name));
	size_t i;
	int err;

	err = record_new(ro, fmt__str("%s:%.*s:rate5m", ns, (int)base_len, m->name),
			 fmt__str("sum(rate(%s[5m]))", x));
	for (i = 0; !err && i < m->nr_labels && i < GEN_MAX_SPLIT_LABELS; i++) {
		const char *l = m->labels[i].name;

		err = record_new(ro, fmt__str("%s_%s:%.*s:rate5m", ns, l, (int)base_len, m->name),
				 fmt__str("sum by (%s) (rate(%s[5m]))", l, x));
	}
	if (!err)
		err = record_new(ro, fmt__str("%s:%s:sum", ns, m->name), fmt__str("sum(%s)", x));
	return err;
}

static int rec_histogram(struct rules_out *ro, const char *ns, const char *x,
			 const struct spec_metric *m)
{
	static const char *const q[] = { "95", "99" };
	size_t i;
	int err = 0;

	for (i = 0; !err && i < ARRAY_SIZE(q); i++)
		err = record_new(ro, fmt__str("%s:%s:p%s_rate5m", ns, m->name, q[i]),
				 fmt__str("histogram_quantile(0.%s, sum by (le) (rate(%s" SUFFIX_BUCKET "[5m])))",
				     q[i], x));
	return err;
}

static int rec_norm(struct rules_out *ro, const char *ns, const char *x,
		    const struct spec_metric *m)
{
	int err;

	err = record_new(ro, fmt__str("%s:%s_events:rate5m", ns, m->name),
			 fmt__str("sum(rate(%s" SUFFIX_NORM_EVENTS "[5m]))", x));
	if (!err)
		err = record_new(ro, fmt__str("%s:%s_zeroed:ratio_rate5m", ns, m->name),
				 fmt__str("sum(rate(%s" SUFFIX_NORM_ZEROED "[5m])) / sum(rate(%s" SUFFIX_NORM_EVENTS "[5m]))",
				     x, x));
	return err;
}

static bool has_recording(const struct spec_metric *m)
{
	return m->type != SPEC_GAUGE;
}

static int rec_metric(struct rules_out *ro, const struct spec *spec,
		      const struct spec_metric *m)
{
	char *x = spec_metric__full_name(spec, m);
	int err;

	if (!x)
		return -ENOMEM;
	if (m->type == SPEC_COUNTER)
		err = rec_counter(ro, spec->namespace_, x, m);
	else if (m->type == SPEC_HISTOGRAM)
		err = rec_histogram(ro, spec->namespace_, x, m);
	else
		err = rec_norm(ro, spec->namespace_, x, m);
	free(x);
	return err;
}

static int rec_family(struct rules_out *ro, const struct spec *spec, const char *family)
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
			put_group(ro->f, slug);
			free(slug);
			opened = true;
		}
		ro->metric = (long)i;
		err = rec_metric(ro, spec, m);
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

int gen__recording_rules(const struct spec *spec, struct gen_exprs *exprs, char **out,
			 size_t *len)
{
	const char *fams[SPEC_MAX_METRICS];
	size_t nr = gen__families(spec, fams, ARRAY_SIZE(fams)), i;
	struct rules_out ro = { .exprs = exprs, .artifact = GEN_RECORDING_PATH, .metric = -1 };
	struct gen_text t;
	int err;

	err = gen_text__open(&t);
	if (err)
		return err;
	ro.f = t.f;
	put_preamble(t.f, spec, "Recording rules");
	if (!spec_has_recording(spec)) {
		fputs("groups: []\n", t.f);
		return finish(&t, 0, out, len);
	}
	fputs("groups:\n", t.f);
	for (i = 0; i < nr && !err; i++)
		err = rec_family(&ro, spec, fams[i]);
	return finish(&t, err, out, len);
}

/* ---- alerting rules ---- */

static int put_alert(struct rules_out *ro, const struct spec_alert *a)
{
	FILE *f = ro->f;

	put_kv(f, "      - ", "alert", a->alert);
	put_kv(f, "        ", "expr", a->expr);
	if (a->for_)
		put_kv(f, "        ", "for", a->for_);
	fputs("        labels:\n", f);
	put_kv(f, "          ", "severity", a->severity);
	fputs("        annotations:\n", f);
	put_kv(f, "          ", "summary", a->summary);
	return gen_exprs__add(ro->exprs, a->expr, ro->artifact, a->alert, ro->metric);
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

static int spec_alerts(struct rules_out *ro, const struct spec *spec, const char *family)
{
	char *slug;
	size_t i, j;
	int err = 0;

	if (!family_has(spec, family, false))
		return 0;
	slug = gen__slug(spec, family);
	if (!slug)
		return -ENOMEM;
	put_group(ro->f, slug);
	free(slug);
	for (i = 0; i < spec->nr_metrics && !err; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family))
			continue;
		ro->metric = (long)i;
		for (j = 0; j < m->nr_alerts && !err; j++)
			err = put_alert(ro, &m->alerts[j]);
	}
	return err;
}

static int suggested_alerts(struct rules_out *ro, const struct spec *spec, const char *family)
{
	struct spec_alert sug[GEN_NORM_SUGGESTIONS];
	char *slug, *name;
	size_t i, j;
	int err;

	if (!family_has(spec, family, true))
		return 0;
	slug = gen__slug(spec, family);
	name = slug ? fmt__str("%s-suggested", slug) : NULL;
	free(slug);
	if (!name)
		return -ENOMEM;
	put_group(ro->f, name);
	free(name);
	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family) || m->type != SPEC_NORMALIZATION)
			continue;
		err = gen__norm_suggestions(spec, m, sug);
		if (err)
			return err;
		ro->metric = (long)i;
		for (j = 0; j < GEN_NORM_SUGGESTIONS; j++) {
			if (!err)
				err = put_alert(ro, &sug[j]);
			gen_alert__clear(&sug[j]);
		}
		if (err)
			return err;
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
	  .summary = "emitd folds over-budget series into " EMITD_OTHER_VALUE ": a series budget is exhausted" } },
};

static int health_alerts(struct rules_out *ro)
{
	struct spec_alert a;
	char expr[128];
	size_t i;
	int err = 0;

	put_group(ro->f, "emitd-health-suggested");
	ro->metric = -1;
	for (i = 0; i < ARRAY_SIZE(health) && !err; i++) {
		a = health[i].a;
		snprintf(expr, sizeof(expr), health[i].a.expr, self_metrics__name(health[i].metric));
		a.expr = expr;
		err = put_alert(ro, &a);
	}
	return err;
}

int gen__alert_rules(const struct spec *spec, struct gen_exprs *exprs, char **out,
		     size_t *len)
{
	const char *fams[SPEC_MAX_METRICS];
	size_t nr = gen__families(spec, fams, ARRAY_SIZE(fams)), i;
	struct rules_out ro = { .exprs = exprs, .artifact = GEN_ALERTS_PATH, .metric = -1 };
	struct gen_text t;
	int err;

	err = gen_text__open(&t);
	if (err)
		return err;
	ro.f = t.f;
	put_preamble(t.f, spec, "Alerting rules");
	fputs("# Groups named *-suggested are emitd's suggestions; tune their thresholds.\n"
	      "groups:\n", t.f);
	for (i = 0; i < nr && !err; i++) {
		err = spec_alerts(&ro, spec, fams[i]);
		if (!err)
			err = suggested_alerts(&ro, spec, fams[i]);
	}
	if (!err)
		err = health_alerts(&ro);
	return finish(&t, err, out, len);
}
