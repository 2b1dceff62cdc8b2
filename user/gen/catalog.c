// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen/catalog: docs/METRICS_CATALOG.md, a summary table and one section per
 * family, one entry per metric (help, type, unit, labels, budget, id, probe,
 * sources, buckets, exported series).
 *
 * Pure: a struct spec in, text out.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emitd.h"
#include "gen/gen.h"
#include "lib/bucket.h"
#include "lib/fmt.h"
#include "lib/metric_id.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define SRC_LEN		96

static const char *fmt_src(char buf[SRC_LEN], const struct spec_src *s)
{
	const char *type = spec_val_type__name(s->type);

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
	case SPEC_SRC_PID:
	case SPEC_SRC_TID:
	case SPEC_SRC_UID:
	case SPEC_SRC_COMM:
	case SPEC_SRC_CGROUP:
		snprintf(buf, SRC_LEN, "the task's %s", spec_src_kind__name(s->kind));
		break;
	default:
		snprintf(buf, SRC_LEN, "none");
		break;
	}
	return buf;
}

/* ", scale 1e-06 (...)" for a value with a scale, else "". */
static const char *fmt_scale(char buf[SRC_LEN], const struct spec_metric *m)
{
	char num[FMT_DOUBLE_LEN];
	double scale = spec_metric__scale(m);

	buf[0] = '\0';
	if (scale == 1)
		return buf;
	fmt__double(num, scale, FMT_SHORTEST, FMT_GO);
	snprintf(buf, SRC_LEN, ", scale %s (exported: the value read x scale)", num);
	return buf;
}

/* "; warm values: `a`, `b`" for a label that lists them. */
static void catalog_values(FILE *f, const struct spec_label *l)
{
	size_t i;

	if (l->nr_values)
		fputs("; warm values (exported as 0 from the start):", f);
	for (i = 0; i < l->nr_values; i++) {
		fputs(i ? ", " : " ", f);
		gen__put_md_code(f, l->values[i]);
	}
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
		gen__put_comment_text(f, t->binary);
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
		fprintf(f, "- Value%s: %s%s\n", m->type == SPEC_COUNTER ? " (increment)" : "",
			fmt_src(b1, &p->value), fmt_scale(b2, m));
	for (i = 0; i < m->nr_labels; i++) {
		fprintf(f, "- Label `%s`: %s", m->labels[i].name, fmt_src(b1, &m->labels[i].src));
		catalog_values(f, &m->labels[i]);
		fputc('\n', f);
	}
}

/* With a scale, also the bounds the kernel compares the value read with. */
static void catalog_buckets(FILE *f, const struct spec_metric *m)
{
	const struct spec_buckets *b = &m->buckets;
	double scale = spec_metric__scale(m), k;
	char num[FMT_DOUBLE_LEN];
	size_t i;

	fprintf(f, "- Buckets (%s, %zu bounds and +Inf): ",
		spec_bucket_kind__name(b->kind), b->nr_bounds);
	for (i = 0; i < b->nr_bounds; i++) {
		fmt__double(num, b->bounds[i], FMT_SHORTEST, 0);
		fprintf(f, "%s%s", i ? ", " : "", num);
	}
	fputc('\n', f);
	if (scale == 1)
		return;
	fputs("- Kernel bounds (bound / scale, in the unit the probe reads): ", f);
	for (i = 0; i < b->nr_bounds; i++) {
		if (bucket__unscale(b->bounds[i], scale, m->probe.value.type == SPEC_VAL_F64 ?
				    EMITD_VAL_F64 : EMITD_VAL_S64, &k))
			k = NAN;	/* lint refuses such a spec */
		fmt__double(num, k, FMT_SHORTEST, 0);
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
	gen__put_md(f, m->help);
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
		catalog_buckets(f, m);
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
