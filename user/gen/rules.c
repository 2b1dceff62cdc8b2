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
 * suggestions, the provenance alert (the running spec is not the one the
 * artifacts were generated from) and emitd's own health suggestions.
 *
 * YAML is written as text: every value is a quoted scalar. Each rule's
 * expression is recorded with its group, its source and the metric it
 * comes from.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	const struct spec *spec;
	const char *group;		/* the group being written */
	const char *source;		/* GEN_SOURCE_* of its rules */
	long metric;			/* of the rules being written, -1 for none */
	const char *metric_name;	/* emitd's own metric when metric is -1 */
};

/* Record @expr of rule @name with the metric it comes from. */
static int record_expr(struct rules_out *ro, const char *expr, const char *name)
{
	struct gen_expr e = {
		.expr = (char *)expr, .artifact = (char *)ro->artifact, .name = (char *)name,
		.metric = ro->metric, .group = (char *)ro->group, .source = ro->source,
		.metric_name = (char *)ro->metric_name,
	};
	char *full = NULL;
	int err;

	if (!ro->exprs)
		return 0;
	if (ro->metric >= 0) {
		full = spec_metric__full_name(ro->spec, &ro->spec->metrics[ro->metric]);
		if (!full)
			return -ENOMEM;
		e.metric_name = full;
	}
	err = gen_exprs__add(ro->exprs, &e);
	free(full);
	return err;
}

/* ---- YAML ---- */

static void put_kv(FILE *f, const char *indent, const char *key, const char *val)
{
	fprintf(f, "%s%s: ", indent, key);
	fmt__yaml_quote(f, val);
	fputc('\n', f);
}

static void put_group(struct rules_out *ro, const char *name, const char *source)
{
	fputs("  - name: ", ro->f);
	fmt__yaml_quote(ro->f, name);
	fputs("\n    rules:\n", ro->f);
	ro->group = name;
	ro->source = source;
}

/* ---- recording rules ---- */

static int record(struct rules_out *ro, const char *name, const char *expr)
{
	if (!name || !expr)
		return -ENOMEM;
	put_kv(ro->f, "      - ", "record", name);
	put_kv(ro->f, "        ", "expr", expr);
	return record_expr(ro, expr, name);
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
	char *slug = NULL;
	size_t i;
	int err = 0;

	for (i = 0; i < spec->nr_metrics && !err; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family) || !has_recording(m))
			continue;
		if (!opened) {
			slug = gen__slug(spec, family);
			if (!slug)
				return -ENOMEM;
			put_group(ro, slug, GEN_SOURCE_GENERATED);
			opened = true;
		}
		ro->metric = (long)i;
		err = rec_metric(ro, spec, m);
	}
	free(slug);
	ro->group = NULL;
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
	struct rules_out ro = { .exprs = exprs, .artifact = GEN_RECORDING_PATH, .spec = spec,
				.metric = -1 };
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
	return record_expr(ro, a->expr, a->alert);
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
	put_group(ro, slug, GEN_SOURCE_SPEC);
	for (i = 0; i < spec->nr_metrics && !err; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family))
			continue;
		ro->metric = (long)i;
		for (j = 0; j < m->nr_alerts && !err; j++)
			err = put_alert(ro, &m->alerts[j]);
	}
	free(slug);
	ro->group = NULL;
	return err;
}

static int suggested_alerts(struct rules_out *ro, const struct spec *spec, const char *family)
{
	struct spec_alert sug[GEN_NORM_SUGGESTIONS];
	char *slug, *name;
	size_t i, j;
	int err = 0;

	if (!family_has(spec, family, true))
		return 0;
	slug = gen__slug(spec, family);
	name = slug ? fmt__str("%s-suggested", slug) : NULL;
	free(slug);
	if (!name)
		return -ENOMEM;
	put_group(ro, name, GEN_SOURCE_SUGGESTED);
	for (i = 0; i < spec->nr_metrics && !err; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family) || m->type != SPEC_NORMALIZATION)
			continue;
		err = gen__norm_suggestions(spec, m, sug);
		if (err)
			break;
		ro->metric = (long)i;
		for (j = 0; j < GEN_NORM_SUGGESTIONS; j++) {
			if (!err)
				err = put_alert(ro, &sug[j]);
			gen_alert__clear(&sug[j]);
		}
	}
	free(name);
	ro->group = NULL;
	return err;
}

/* emitd's own rules: whether the running spec is the one generated from, health. */
static int own_alerts(struct rules_out *ro, const struct spec *spec)
{
	struct spec_alert prov, sug[GEN_NR_HEALTH];
	const char *metric[GEN_NR_HEALTH];
	char hash[SPEC_SHA256_HEX];
	size_t i;
	int err;

	err = spec__hash(spec, hash);
	if (!err)
		err = gen__provenance_alert(spec, hash, &prov);
	if (err)
		return err;
	put_group(ro, GEN_PROVENANCE_GROUP, GEN_SOURCE_GENERATED);
	ro->metric = -1;
	ro->metric_name = self_metrics__name(SELF_SPEC_INFO);
	err = put_alert(ro, &prov);
	gen_alert__clear(&prov);
	if (!err)
		err = gen__health_alerts(sug, metric);
	if (err)
		return err;
	put_group(ro, GEN_HEALTH_GROUP, GEN_SOURCE_SUGGESTED);
	for (i = 0; i < GEN_NR_HEALTH; i++) {
		ro->metric_name = metric[i];
		if (!err)
			err = put_alert(ro, &sug[i]);
		gen_alert__clear(&sug[i]);
	}
	ro->metric_name = NULL;
	ro->group = NULL;
	return err;
}

int gen__alert_rules(const struct spec *spec, struct gen_exprs *exprs, char **out,
		     size_t *len)
{
	const char *fams[SPEC_MAX_METRICS];
	size_t nr = gen__families(spec, fams, ARRAY_SIZE(fams)), i;
	struct rules_out ro = { .exprs = exprs, .artifact = GEN_ALERTS_PATH, .spec = spec,
				.metric = -1 };
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
		err = own_alerts(&ro, spec);
	return finish(&t, err, out, len);
}
