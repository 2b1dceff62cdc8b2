// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The store's share of the agent's memory: the RSS that N series of the
 * first metric of SPEC add to a store (route label "/r/<i>", as the demo
 * target's --routes N makes them), sorted as for a publication. No BPF, no
 * rendering: the store alone, comparable across store layouts.
 *
 *   store_rss SPEC [N]		(N: 1000000)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/store.h"

static long rss_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

static int fill(struct store *st, size_t n)
{
	struct emitd_series_key k;
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&k, 0, sizeof(k));
		k.metric_id = st->metrics[0].id;
		snprintf(k.labels[0].str, EMITD_LABEL_LEN, "/r/%zu", i);
		if (!store__series(st, &k))
			return -ENOMEM;
	}
	store__sort(st);
	return 0;
}

int main(int argc, char **argv)
{
	struct spec_diags diags = { 0 };
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	struct spec *spec;
	struct store st;
	char err[256];
	long before, after;
	int ret = 1;

	if (argc < 2 || !n) {
		fprintf(stderr, "usage: store_rss SPEC [N]\n");
		return 2;
	}
	if (spec__load(argv[1], &spec, &diags)) {
		spec_diags__print(&diags, argv[1], stderr);
		spec_diags__free(&diags);
		return 1;
	}
	spec_diags__free(&diags);
	if (!spec->nr_metrics || !spec->metrics[0].nr_labels) {
		fprintf(stderr, "store_rss: %s: the first metric needs a label\n", argv[1]);
		goto out_free_spec;
	}
	if (store__init(&st, spec, err, sizeof(err))) {
		fprintf(stderr, "store_rss: %s\n", err);
		goto out_free_spec;
	}
	before = rss_kib();
	if (fill(&st, n)) {
		fprintf(stderr, "store_rss: %zu series: %s\n", n, strerror(ENOMEM));
		goto out_free_store;
	}
	after = rss_kib();
	printf("%zu series, sizeof(struct series) %zu: RSS +%.1f MiB, %.0f bytes a series\n",
	       n, sizeof(struct series), (after - before) / 1024.0,
	       (after - before) * 1024.0 / (double)n);
	ret = 0;
out_free_store:
	store__free(&st);
out_free_spec:
	spec__free(spec);
	return ret;
}
