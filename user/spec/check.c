// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec/check: the checks that compare a field with the rest of the spec.
 *
 * parse.c reads each field and checks what the field alone can tell; what
 * needs another part of the spec is here: duplicate target, label and metric
 * names, names one metric exports that another reserves, probes naming a
 * target that is not listed, budgets above global_budget, warm values
 * that need more series than the budget has, and PromQL in
 * panels and alerts naming a <namespace>_* series no metric exports. Where a
 * name is unknown, the closest known one is offered.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/internal.h"

/* ---- targets ---- */

const struct spec_target *spec__find_target(const struct spec *spec, const char *name)
{
	size_t i;

	for (i = 0; i < spec->nr_targets; i++) {
		if (spec->targets[i].name && !strcmp(spec->targets[i].name, name))
			return &spec->targets[i];
	}
	return NULL;
}

void spec_check__target_dup(struct spec_ctx *c, const yaml_node_t *n, size_t j)
{
	const struct spec_target *t = c->spec->targets;
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t i;

	if (!t[j].name)
		return;
	for (i = 0; i < j; i++) {
		if (t[i].name && !strcmp(t[i].name, t[j].name)) {
			snprintf(f, sizeof(f), "targets[%zu].name", j);
			spec_diag(c, mark_of(spec_map_get(c, n, "name")), f,
				  "duplicate target name %s (first at targets[%zu])",
				  spec_quote(q, t[j].name), i);
			return;
		}
	}
}

void spec_check__target_ref(struct spec_ctx *c, const yaml_node_t *n,
			    const char *field, const char *name)
{
	const struct spec *spec = c->spec;
	struct spec_hint h;
	char q[QUOTE_LEN];
	size_t i;

	if (!c->targets_ok || spec__find_target(spec, name))
		return;
	spec_hint__init(&h, name);
	for (i = 0; i < spec->nr_targets; i++) {
		if (spec->targets[i].name)
			spec_hint__offer(&h, spec->targets[i].name);
	}
	spec_quote(q, name);
	if (h.best)
		spec_diag(c, mark_of(n), field, "unknown target %s (did you mean \"%s\"?)",
			  q, h.best);
	else
		spec_diag(c, mark_of(n), field, "unknown target %s (not listed in targets)",
			  q);
}

/* ---- within a metric ---- */

bool spec_check__label_dup(struct spec_ctx *c, const yaml_node_t *n,
			   const char *field, const struct spec_metric *m,
			   size_t idx)
{
	const char *name = m->labels[idx].name;
	char q[QUOTE_LEN];
	size_t i;

	for (i = 0; i < idx; i++) {
		if (!strcmp(m->labels[i].name, name)) {
			spec_diag(c, mark_of(n), field,
				  "duplicate label %s (first at labels[%zu])",
				  spec_quote(q, name), i);
			return false;
		}
	}
	return true;
}

bool spec_check__budget(struct spec_ctx *c, const yaml_node_t *n,
			const char *field, long long v, bool per_metric)
{
	if (v <= 0)
		spec_diag(c, mark_of(n), field, "must be > 0 (got %lld)", v);
	else if (per_metric && c->global_ok && v > c->spec->global_budget)
		spec_diag(c, mark_of(n), field, "%lld exceeds global_budget (%u)", v,
			  c->spec->global_budget);
	else if (v > SPEC_MAX_BUDGET)
		spec_diag(c, mark_of(n), field, "must be at most %u (got %lld)",
			  SPEC_MAX_BUDGET, v);
	else
		return true;
	return false;
}

/* ---- warm series ---- */

size_t spec_metric__nr_warm(const struct spec_metric *m)
{
	size_t i, n = 1;

	for (i = 0; i < m->nr_labels; i++) {
		if (!m->labels[i].nr_values)
			return 0;
		/* saturate: a product beyond every budget is all the linter needs */
		n = n > SPEC_MAX_BUDGET ? n : n * m->labels[i].nr_values;
	}
	return m->nr_labels ? n : 0;
}

double spec_metric__scale(const struct spec_metric *m)
{
	const struct spec_src *v = &m->probe.value;

	return v->kind != SPEC_SRC_NONE && v->scale > 0 ? v->scale : 1;
}

void spec_check__warm(struct spec_ctx *c, const char *mf, const struct spec_metric *m)
{
	char f[FIELD_LEN], q[QUOTE_LEN];
	const struct spec_label *with = NULL, *without = NULL;
	size_t i, n;

	for (i = 0; i < m->nr_labels; i++) {
		if (m->labels[i].nr_values)
			with = with ? with : &m->labels[i];
		else
			without = without ? without : &m->labels[i];
	}
	if (!with)
		return;
	snprintf(f, sizeof(f), "%s.probe.labels.%s.values", mf, with->name);
	if (without) {
		spec_diag(c, with->values_mark, f,
			  "a warm series needs a value for every label: list values for %s too, or for no label",
			  spec_quote(q, without->name));
		return;
	}
	n = spec_metric__nr_warm(m);
	if (n > SPEC_MAX_BUDGET)
		spec_diag(c, with->values_mark, f,
			  "more than %u warm series (every combination of the labels' values) exceed the budget minus the overflow series (%u - 1)",
			  SPEC_MAX_BUDGET, m->budget);
	else if (n > m->budget - 1)
		spec_diag(c, with->values_mark, f,
			  "%zu warm series (every combination of the labels' values) exceed the budget minus the overflow series (%u - 1)",
			  n, m->budget);
}

/* ---- metric names ---- */

static bool metric_named(const struct spec_metric *m)
{
	return m->name && m->type && spec__valid_metric_name(m->name);
}

/* Report the first name metric @j shares with an earlier metric. */
static void check_collision(struct spec_ctx *c, const yaml_node_t *n, size_t j)
{
	const struct spec_metric *mv = c->spec->metrics, *mj = &mv[j];
	struct spec_name_ref r;
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t i;

	for (i = 0; i < j; i++) {
		if (!metric_named(&mv[i]) || !strcmp(mv[i].name, mj->name))
			continue;
		if (!spec_names__shared(mj, &mv[i], &r))
			continue;
		snprintf(f, sizeof(f), "metrics[%zu].name", j);
		spec_diag(c, mark_of(n), f,
			  "name \"%s%s%.*s%s\" collides with a name reserved by metrics[%zu] (%s %s)",
			  c->ns_ok ? c->spec->namespace_ : "", c->ns_ok ? "_" : "",
			  (int)r.len, r.base, r.suffix, i,
			  spec_metric_type__name(mv[i].type), spec_quote(q, mv[i].name));
		return;
	}
}

static void check_names(struct spec_ctx *c)
{
	const struct spec_metric *mv = c->spec->metrics;
	char f[FIELD_LEN], q[QUOTE_LEN];
	size_t i, j;

	for (j = 0; j < c->spec->nr_metrics; j++) {
		const yaml_node_t *n = spec_map_get(c, seq_item(c, c->metrics, j), "name");
		bool dup = false;

		if (!mv[j].name)
			continue;
		for (i = 0; i < j && !dup; i++) {
			if (!mv[i].name || strcmp(mv[i].name, mv[j].name))
				continue;
			snprintf(f, sizeof(f), "metrics[%zu].name", j);
			spec_diag(c, mark_of(n), f,
				  "duplicate metric name %s (first at metrics[%zu])",
				  spec_quote(q, mv[j].name), i);
			dup = true;
		}
		if (!dup && metric_named(&mv[j]))
			check_collision(c, n, j);
	}
}

/* ---- names in expressions ---- */

/* Does a metric export the series <namespace>_<rest>? */
static bool series_defined(const struct spec *spec, const char *rest, size_t len)
{
	const char *const *sfx;
	size_t i, k, n, nlen;

	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (!m->name)
			continue;
		nlen = strlen(m->name);
		if (len < nlen || strncmp(rest, m->name, nlen))
			continue;
		if (!m->type && (len == nlen || rest[nlen] == '_'))
			return true;	/* type unknown: already reported */
		n = spec_metric_type__suffixes(m->type, &sfx);
		for (k = 0; k < n; k++) {
			if (len - nlen == strlen(sfx[k]) &&
			    !strncmp(rest + nlen, sfx[k], len - nlen))
				return true;
		}
	}
	return false;
}

struct ref_check {
	struct spec_ctx *c;
	const yaml_node_t *node;
	const char *field;
};

/* Name the series of a histogram/normalization referenced by its base name. */
static bool hint_series(const struct spec *spec, const char *rest, size_t len,
			char *buf, size_t size)
{
	const char *const *sfx;
	size_t i, k, n, o;

	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (!m->name || strlen(m->name) != len || strncmp(m->name, rest, len) ||
		    (m->type != SPEC_HISTOGRAM && m->type != SPEC_NORMALIZATION))
			continue;
		n = spec_metric_type__suffixes(m->type, &sfx);
		o = snprintf(buf, size, "metrics[%zu] is a %s exporting ", i,
			     spec_metric_type__name(m->type));
		for (k = 0; k < n && o < size; k++)
			o += snprintf(buf + o, size - o, "%s%s_%s%s",
				      k ? (k + 1 < n ? ", " : " and ") : "",
				      spec->namespace_, m->name, sfx[k]);
		return true;
	}
	return false;
}

/* Offer @h each series @m exports; the closest so far goes into @buf. */
static void hint_metric(const struct spec *spec, const struct spec_metric *m,
			struct spec_hint *h, char *buf, size_t size)
{
	const char *const *sfx;
	char cand[160];
	size_t k, n;

	n = spec_metric_type__suffixes(m->type, &sfx);
	for (k = 0; k < n; k++) {
		snprintf(cand, sizeof(cand), "%s_%s%s", spec->namespace_, m->name,
			 sfx[k]);
		if (spec_hint__offer(h, cand))
			snprintf(buf, size, "did you mean \"%s\"?", cand);
	}
	h->best = NULL;		/* it was @cand's */
}

/* The closest defined series to @id, into @buf; false when none is close. */
static bool hint_closest(const struct spec *spec, const char *id,
			 char *buf, size_t size)
{
	struct spec_hint h;
	size_t i;

	spec_hint__init(&h, id);
	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (m->name && strlen(m->name) <= 100)
			hint_metric(spec, m, &h, buf, size);
	}
	return h.dist != UINT_MAX;
}

static int check_ref(const char *id, size_t len, size_t off, void *arg)
{
	struct ref_check *r = arg;
	const struct spec *spec = r->c->spec;
	size_t nslen = strlen(spec->namespace_);
	char hint[512], q[QUOTE_LEN], *name;

	if (len < nslen + 1 || strncmp(id, spec->namespace_, nslen) || id[nslen] != '_')
		return 0;
	if (series_defined(spec, id + nslen + 1, len - nslen - 1))
		return 0;
	if (spec_diag_full(r->c)) {
		r->c->nr_errors++;	/* counted, not shown: skip the hints */
		return 0;
	}
	name = strndup(id, len);
	if (!name) {
		r->c->oom = true;
		return -ENOMEM;
	}
	if (!hint_series(spec, id + nslen + 1, len - nslen - 1, hint, sizeof(hint)) &&
	    !hint_closest(spec, name, hint, sizeof(hint)))
		snprintf(hint, sizeof(hint), "not defined by this spec");
	spec_diag(r->c, spec_mark_at(r->node, off), r->field,
		  "unknown metric %s (%s)", spec_quote(q, name), hint);
	free(name);
	return 0;
}

static void check_expr(struct spec_ctx *c, const yaml_node_t *item, const char *key,
		       const char *expr, const char *field)
{
	struct ref_check r = { c, spec_map_get(c, item, key), field };

	if (expr && r.node)
		spec__promql_for_each_ident(expr, check_ref, &r);
}

/* Every <namespace>_* name in panels and alerts must be a defined series. */
static void check_refs(struct spec_ctx *c)
{
	char f[FIELD_LEN];
	size_t i, k;

	for (i = 0; i < c->spec->nr_metrics; i++) {
		const struct spec_metric *m = &c->spec->metrics[i];
		const yaml_node_t *mn = seq_item(c, c->metrics, i);
		const yaml_node_t *panels = spec_map_get(c, mn, "panels");
		const yaml_node_t *alerts = spec_map_get(c, mn, "alerts");

		for (k = 0; k < m->nr_panels; k++) {
			snprintf(f, sizeof(f), "metrics[%zu].panels[%zu].promql", i, k);
			check_expr(c, seq_item(c, panels, k), "promql",
				   m->panels[k].promql, f);
		}
		for (k = 0; k < m->nr_alerts; k++) {
			snprintf(f, sizeof(f), "metrics[%zu].alerts[%zu].expr", i, k);
			check_expr(c, seq_item(c, alerts, k), "expr",
				   m->alerts[k].expr, f);
		}
	}
}

void spec_check__metrics(struct spec_ctx *c)
{
	check_names(c);
	if (c->ns_ok)
		check_refs(c);
}
