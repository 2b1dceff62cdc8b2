// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_signal: wall time of signal__compute() for n = 8, 16, 32 channels x
 * 600 aligned samples with full leave-one-out criticality, both estimators.
 * Prints one markdown table row per (estimator, n): median and p99 (nearest
 * rank) of RUNS timed runs after WARMUP untimed ones, CLOCK_MONOTONIC, in ms.
 * Exits 1 when the Gaussian n = 32 median misses TARGET_MS.
 *
 *   bench_signal [runs]
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lib/signal_metrics.h"

#define NR_SAMPLES	600
#define DEFAULT_RUNS	50
#define WARMUP		3
#define TARGET_MS	10.0

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double gauss(uint64_t *s)
{
	double u1 = ((splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
	double u2 = ((splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Four latent factors mixed into n channels plus noise: realistic, full rank. */
static void fill(double *x, unsigned int n, unsigned int m)
{
	double f[4][NR_SAMPLES];
	uint64_t s = 42;
	unsigned int c, t, k;

	for (k = 0; k < 4; k++) {
		for (t = 0; t < m; t++)
			f[k][t] = gauss(&s);
	}
	for (c = 0; c < n; c++) {
		for (t = 0; t < m; t++)
			x[c * m + t] = 10.0 * c + f[c % 4][t] + 0.5 * f[(c + 1) % 4][t] +
				       0.3 * gauss(&s);
	}
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Times @runs computes into @ms (sorted ascending). */
static int time_runs(const struct signal_config *cfg, const struct signal_input *in,
		     unsigned int runs, double *ms)
{
	struct signal_result res;
	double t0;
	unsigned int i;
	int err;

	for (i = 0; i < WARMUP + runs; i++) {
		t0 = now_ms();
		err = signal__compute(cfg, in, &res);
		if (i >= WARMUP)
			ms[i - WARMUP] = now_ms() - t0;
		if (err)
			return err;
		if (!res.valid || !res.r_valid || res.nr_ranked != in->nr_channels)
			return -EDOM;
	}
	qsort(ms, runs, sizeof(ms[0]), cmp_double);
	return 0;
}

static int bench_one(enum signal_estimator est, unsigned int n, unsigned int runs,
		     double *median)
{
	struct signal_config cfg;
	struct signal_input in = { .nr_channels = n, .nr_samples = NR_SAMPLES };
	double *x, *ms;
	int err = -ENOMEM;

	x = malloc(sizeof(double) * n * NR_SAMPLES);
	ms = malloc(sizeof(double) * runs);
	if (!x || !ms)
		goto out_free;
	fill(x, n, NR_SAMPLES);
	in.samples = x;
	signal_config__init(&cfg);
	cfg.estimator = est;
	cfg.crit_max_channels = n;	/* full leave-one-out ranking */
	err = time_runs(&cfg, &in, runs, ms);
	if (err)
		goto out_free;
	*median = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
	printf("| %-9s | %2u | %u | %u | %.3f | %.3f |\n",
	       est == SIGNAL_EST_GAUSSIAN ? "gaussian" : "histogram", n, NR_SAMPLES, runs,
	       *median, ms[(size_t)ceil(0.99 * runs) - 1]);
out_free:
	free(ms);
	free(x);
	return err;
}

int main(int argc, char **argv)
{
	static const unsigned int sizes[] = { 8, 16, 32 };
	unsigned int runs = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 10) : DEFAULT_RUNS;
	double median, gauss32 = 0;
	unsigned int e, i;
	int err;

	if (!runs) {
		fprintf(stderr, "usage: %s [runs > 0]\n", argv[0]);
		return 2;
	}
	printf("| estimator | n | samples | runs | median ms | p99 ms |\n");
	printf("|-----------|---|---------|------|-----------|--------|\n");
	for (e = SIGNAL_EST_GAUSSIAN; e <= SIGNAL_EST_HISTOGRAM; e++) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			err = bench_one(e, sizes[i], runs, &median);
			if (err) {
				fprintf(stderr, "signal__compute n=%u: %d\n", sizes[i], err);
				return 1;
			}
			if (e == SIGNAL_EST_GAUSSIAN && sizes[i] == 32)
				gauss32 = median;
		}
	}
	if (gauss32 >= TARGET_MS) {
		fprintf(stderr, "gaussian n=32 median %.3f ms >= target %.1f ms\n",
			gauss32, TARGET_MS);
		return 1;
	}
	return 0;
}
