// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The benchmark's probe target: calls one probe site in a tight loop and
 * prints the mean wall time per iteration in ns.
 *
 *   probe_target nop5 ITERS    USDT bench:hit(i, v): a 5-byte nop site
 *   probe_target plain ITERS   bench_plain(i, v): a function whose first
 *                              instruction is ordinary (single-stepped)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emitd_probe.h"

__attribute__((noinline, used)) long bench_plain(long i, long v)
{
	/* An ordinary first instruction: uprobes single-step it. */
	__asm__ __volatile__("" ::: "memory");
	return i ^ v;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long iters, i, v, acc = 0;
	bool plain;
	double t0;

	if (argc != 3 || (strcmp(argv[1], "nop5") && strcmp(argv[1], "plain"))) {
		fprintf(stderr, "usage: %s nop5|plain ITERS\n", argv[0]);
		return 2;
	}
	plain = !strcmp(argv[1], "plain");
	iters = atol(argv[2]);
	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		v = (i * 2654435761UL) & 0xfffff;	/* spreads across exp2 buckets */
		if (plain)
			acc += bench_plain(i, v);
		else
			EMITD_PROBE2(bench, hit, i, v);
	}
	printf("%.1f\n", (now_ns() - t0) / iters);
	return acc == 42;	/* keep the loop */
}
