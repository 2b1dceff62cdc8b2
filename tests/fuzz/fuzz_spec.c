// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The spec loader, from YAML bytes to struct spec with diagnostics.
 *
 * Invariants: a load succeeds exactly when it reports no error; a loaded
 * spec keeps the limits spec.h promises (counts, sorted finite bounds, every
 * target a metric names exists); every diagnostic is one line; everything is
 * freed (leaks are reports).
 */
#include <errno.h>
#include <math.h>

#include "fuzz.h"
#include "spec/spec.h"

static FILE *devnull;

static void check_metric(const struct spec *s, const struct spec_metric *m)
{
	char *full;
	size_t i;

	FUZZ_ASSERT(m->name && m->help);
	FUZZ_ASSERT(m->type >= SPEC_COUNTER && m->type <= SPEC_NORMALIZATION);
	FUZZ_ASSERT(m->nr_labels <= SPEC_MAX_LABELS);
	for (i = 0; i < m->nr_labels; i++)
		FUZZ_ASSERT(m->labels[i].name);
	FUZZ_ASSERT(m->buckets.nr_bounds <= SPEC_MAX_BOUNDS);
	for (i = 0; i < m->buckets.nr_bounds; i++) {
		FUZZ_ASSERT(isfinite(m->buckets.bounds[i]));
		FUZZ_ASSERT(!i || m->buckets.bounds[i] > m->buckets.bounds[i - 1]);
	}
	if (m->type == SPEC_HISTOGRAM)
		FUZZ_ASSERT(m->buckets.nr_bounds > 0);
	FUZZ_ASSERT(m->budget >= 1);
	FUZZ_ASSERT(m->probe.target && spec__find_target(s, m->probe.target));
	FUZZ_ASSERT(m->probe.kind == SPEC_PROBE_UPROBE || m->probe.kind == SPEC_PROBE_USDT);
	if (m->probe.kind == SPEC_PROBE_UPROBE)
		FUZZ_ASSERT(m->probe.symbol);
	else
		FUZZ_ASSERT(m->probe.provider && m->probe.name);
	FUZZ_ASSERT(m->panels || !m->nr_panels);
	FUZZ_ASSERT(m->alerts || !m->nr_alerts);
	full = spec_metric__full_name(s, m);
	FUZZ_ASSERT(full);
	free(full);
}

static void check_spec(const struct spec *s)
{
	size_t i;

	FUZZ_ASSERT(s->namespace_);
	FUZZ_ASSERT(s->nr_metrics <= SPEC_MAX_METRICS);
	FUZZ_ASSERT(s->nr_targets <= SPEC_MAX_TARGETS);
	FUZZ_ASSERT(s->global_budget >= 1 && s->global_budget <= SPEC_MAX_BUDGET);
	for (i = 0; i < s->nr_targets; i++)
		FUZZ_ASSERT(s->targets[i].name && (s->targets[i].binary || s->targets[i].pid));
	for (i = 0; i < s->nr_metrics; i++)
		check_metric(s, &s->metrics[i]);
}

static void check_diags(const struct spec_diags *d)
{
	size_t i;

	FUZZ_ASSERT(d->nr <= SPEC_MAX_DIAGS + 2);	/* + "N more", + "out of memory" */
	for (i = 0; i < d->nr; i++) {
		FUZZ_ASSERT(d->v[i].msg && d->v[i].field);
		FUZZ_ASSERT(!strchr(d->v[i].msg, '\n'));
		FUZZ_ASSERT(!strchr(d->v[i].field, '\n'));
	}
	spec_diags__print(d, "fuzz.yml", devnull);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec_diags diags = { 0 };
	struct spec *s = NULL;
	int err;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	FUZZ_ASSERT(devnull);
	err = spec__load_buf("fuzz.yml", (const char *)data, size, &s, &diags);
	FUZZ_ASSERT(err == 0 || err == -EINVAL || err == -ENOMEM || err == -EFBIG);
	if (!err) {
		FUZZ_ASSERT(s && diags.nr_errors == 0);
		check_spec(s);
	} else {
		FUZZ_ASSERT(!s && diags.nr_errors > 0);
	}
	check_diags(&diags);
	spec__free(s);
	spec_diags__free(&diags);
	return 0;
}
