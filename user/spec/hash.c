// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec/hash: the spec's canonical form (compact JSON of the parsed model,
 * keys in a fixed order) and its SHA-256, moved here from gen/ so that gen
 * (dashboards/manifest.json, the drift alert) and the agent
 * (emitd_spec_info) compute the one same hash.
 *
 * Pure: a struct spec in, bytes out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "spec/hash.h"

int spec__sha256_hex(const void *buf, size_t len, char hex[SPEC_SHA256_HEX])
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

/* ---- the canonical form ---- */

/* {kind, arg, type, offset}, and scale when it is not 1 (older specs hash as before). */
static json_t *src_json(const struct spec_src *s)
{
	json_t *o;

	if (s->kind == SPEC_SRC_NONE)
		return json_null();
	o = json_pack("{s:s, s:i, s:s, s:i}",
		      "kind", spec_src_kind__name(s->kind),
		      "arg", (int)s->arg,
		      "type", spec_val_type__name(s->type),
		      "offset", s->offset);
	if (o && s->scale > 0 && s->scale != 1 &&
	    json_object_set_new(o, "scale", json_real(s->scale))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* {name, src}, and values when the label lists any (older specs hash as before). */
static json_t *label_json(const struct spec_label *l)
{
	json_t *o = json_pack("{s:s, s:o}", "name", l->name, "src", src_json(&l->src)), *v;
	size_t i;

	if (!o || !l->nr_values)
		return o;
	v = json_array();
	for (i = 0; v && i < l->nr_values; i++) {
		if (json_array_append_new(v, json_string(l->values[i]))) {
			json_decref(v);
			v = NULL;
		}
	}
	if (!v || json_object_set_new(o, "values", v)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *labels_json(const struct spec_metric *m)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < m->nr_labels; i++) {
		if (json_array_append_new(a, label_json(&m->labels[i]))) {
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
			 "kind", spec_bucket_kind__name(b->kind),
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

/* The filters of @t into @o, when it has any (older specs hash as before). */
static int target_filters_json(const struct spec_target *t, json_t *o)
{
	json_t *comms;
	size_t i;

	if (t->cgroup && json_object_set_new(o, "cgroup", json_string(t->cgroup)))
		return -ENOMEM;
	if (t->follow_forks && json_object_set_new(o, "follow_forks", json_true()))
		return -ENOMEM;
	if (!t->nr_comms)
		return 0;
	comms = json_array();
	for (i = 0; comms && i < t->nr_comms; i++) {
		if (json_array_append_new(comms, json_string(t->comms[i]))) {
			json_decref(comms);
			comms = NULL;
		}
	}
	return !comms || json_object_set_new(o, "comm", comms) ? -ENOMEM : 0;
}

static json_t *targets_json(const struct spec *spec)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; a && i < spec->nr_targets; i++) {
		const struct spec_target *t = &spec->targets[i];

		o = json_pack("{s:s, s:s?, s:i}", "name", t->name, "binary", t->binary,
			      "pid", t->pid);
		if (o && target_filters_json(t, o)) {
			json_decref(o);
			o = NULL;
		}
		if (json_array_append_new(a, o)) {
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

char *spec__canonical(const struct spec *spec)
{
	json_t *j = spec_json(spec);
	char *s;

	if (!j)
		return NULL;
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return s;
}

int spec__hash(const struct spec *spec, char hex[SPEC_SHA256_HEX])
{
	char *s = spec__canonical(spec);
	int err;

	if (!s)
		return -ENOMEM;
	err = spec__sha256_hex(s, strlen(s), hex);
	free(s);
	return err;
}
