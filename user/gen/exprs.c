// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen_exprs: every PromQL expression `emitd gen` writes for a spec.
 *
 * The expressions are read back from the generated artifacts themselves
 * (dashboard targets, then recording rules, then alert rules), so that they
 * are exactly what gen writes. Each one is then traced to the metric it comes
 * from by generating the same artifacts for a spec of that metric alone:
 * synthesis depends only on the namespace and the metric. Expressions that a
 * spec without metrics already produces (emitd's own health alerts) belong to
 * no metric.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

#define RECORDING_PATH	"rules/recording_rules.yml"
#define ALERTS_PATH	"rules/alerts.yml"
#define UNTRACED	(-2L)	/* gen_expr.metric before tracing */

struct expr_list {
	struct gen_expr *v;
	size_t nr;
};

static void expr_list__free(struct expr_list *l)
{
	size_t i;

	for (i = 0; i < l->nr; i++) {
		free((char *)l->v[i].expr);
		free((char *)l->v[i].artifact);
		free((char *)l->v[i].name);
	}
	free(l->v);
	l->v = NULL;
	l->nr = 0;
}

static int expr_list__add(struct expr_list *l, const char *expr, const char *artifact,
			  const char *name)
{
	struct gen_expr *v, *e;

	v = realloc(l->v, (l->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	e = &v[l->nr];
	e->expr = strdup(expr);
	e->artifact = strdup(artifact);
	e->name = strdup(name);
	e->metric = UNTRACED;
	if (!e->expr || !e->artifact || !e->name) {
		free((char *)e->expr);
		free((char *)e->artifact);
		free((char *)e->name);
		return -ENOMEM;
	}
	l->nr++;
	return 0;
}

static bool expr_list__has(const struct expr_list *l, const char *expr)
{
	size_t i;

	for (i = 0; i < l->nr; i++) {
		if (!strcmp(l->v[i].expr, expr))
			return true;
	}
	return false;
}

static const char *str_or(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : def;
}

/* ---- reading the artifacts back ---- */

static int collect_dash(struct expr_list *l, const struct gen_dash *d)
{
	const json_t *panel, *target;
	char *artifact;
	size_t i, k;
	int err = 0;

	artifact = gen__fmt("dashboards/%s.json", d->slug);
	if (!artifact)
		return -ENOMEM;
	json_array_foreach(json_object_get(d->json, "panels"), i, panel) {
		json_array_foreach(json_object_get(panel, "targets"), k, target) {
			const char *expr = json_string_value(json_object_get(target, "expr"));

			if (!expr)
				continue;
			err = expr_list__add(l, expr, artifact, str_or(panel, "title", ""));
			if (err)
				goto out;
		}
	}
out:
	free(artifact);
	return err;
}

static int collect_rules(struct expr_list *l, const char *text, size_t len,
			 const char *artifact)
{
	const json_t *group, *rule;
	json_t *root;
	size_t i, k;
	int err = 0;

	root = gen__yaml_to_json(text, len);
	if (!root)
		return -EIO;	/* gen wrote YAML it cannot read back */
	json_array_foreach(json_object_get(root, "groups"), i, group) {
		json_array_foreach(json_object_get(group, "rules"), k, rule) {
			const char *expr = json_string_value(json_object_get(rule, "expr"));
			const char *name = str_or(rule, "record", str_or(rule, "alert", ""));

			if (!expr)
				continue;
			err = expr_list__add(l, expr, artifact, name);
			if (err)
				goto out;
		}
	}
out:
	json_decref(root);
	return err;
}

/* Every expression of @spec's dashboards, recording rules and alert rules. */
static int collect_all(struct expr_list *l, const struct spec *spec)
{
	struct gen_dashes dashes = {};
	char *text = NULL;
	size_t i, len;
	int err;

	err = gen_dash__build(spec, &dashes);
	for (i = 0; !err && i < dashes.nr; i++)
		err = collect_dash(l, &dashes.v[i]);
	gen_dashes__free(&dashes);
	if (!err)
		err = gen__recording_rules(spec, &text, &len);
	if (!err)
		err = collect_rules(l, text, len, RECORDING_PATH);
	free(text);
	text = NULL;
	if (!err)
		err = gen__alert_rules(spec, &text, &len);
	if (!err)
		err = collect_rules(l, text, len, ALERTS_PATH);
	free(text);
	return err;
}

/* ---- tracing expressions to metrics ---- */

/* The expressions gen writes for @spec restricted to @nr metrics from @m. */
static int collect_part(struct expr_list *l, const struct spec *spec,
			struct spec_metric *m, size_t nr)
{
	struct spec part = *spec;

	part.metrics = m;
	part.nr_metrics = nr;
	return collect_all(l, &part);
}

static void mark_owner(struct expr_list *all, const struct expr_list *part, long metric)
{
	size_t i;

	for (i = 0; i < all->nr; i++) {
		if (all->v[i].metric == UNTRACED && expr_list__has(part, all->v[i].expr))
			all->v[i].metric = metric;
	}
}

static int trace_metrics(struct expr_list *all, const struct spec *spec)
{
	struct expr_list part = {};
	size_t i;
	int err;

	/* What a spec without metrics gets belongs to no metric. */
	err = collect_part(&part, spec, NULL, 0);
	if (!err)
		mark_owner(all, &part, -1);
	expr_list__free(&part);
	for (i = 0; !err && i < spec->nr_metrics; i++) {
		err = collect_part(&part, spec, &spec->metrics[i], 1);
		if (!err)
			mark_owner(all, &part, (long)i);
		expr_list__free(&part);
	}
	for (i = 0; i < all->nr; i++) {
		if (all->v[i].metric == UNTRACED)
			all->v[i].metric = -1;
	}
	return err;
}

int gen__for_each_expr(const struct spec *spec, gen_expr_fn fn, void *arg)
{
	struct expr_list all = {};
	size_t i;
	int err;

	err = collect_all(&all, spec);
	if (!err)
		err = trace_metrics(&all, spec);
	for (i = 0; !err && i < all.nr; i++)
		err = fn(&all.v[i], arg);
	expr_list__free(&all);
	return err;
}
