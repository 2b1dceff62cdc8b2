// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The benchmark's probe target: calls one probe site in a tight loop and
 * prints the mean wall time per iteration in ns.
 *
 *   probe_target nop5 ITERS    USDT bench:hit(i, v): a 5-byte nop site
 *                              (the uprobe is optimized into a call)
 *   probe_target nop ITERS     bench_nop(i, v): a function whose first
 *                              instruction is a 1-byte nop (emulated)
 *   probe_target push ITERS    bench_push(i, v): a function whose first
 *                              instruction is `push %rbp` (emulated), as
 *                              in functions built with frame pointers,
 *                              e.g. PostgreSQL's
 *   probe_target plain ITERS   bench_plain(i, v): a function whose first
 *                              instruction is ordinary (single-stepped)
 *
 * bench/run.sh checks each function's first instruction with objdump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emitd_probe.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

__attribute__((noinline, used)) long bench_plain(long i, long v)
{
	/* An ordinary first instruction: uprobes single-step it. */
	__asm__ __volatile__("" ::: "memory");
	return i ^ v;
}

/* A 1-byte nop at the entry (gcc, clang): uprobes emulate it. */
__attribute__((noinline, used, patchable_function_entry(1, 0))) long bench_nop(long i, long v)
{
	__asm__ __volatile__("" ::: "memory");
	return i ^ v;
}

/*
 * `push %rbp; mov %rsp,%rbp` at the entry, the frame-pointer prologue, in
 * assembly so that no compiler or flag can schedule another instruction
 * first: uprobes emulate the push.
 */
long bench_push(long i, long v);
__asm__(".pushsection .text\n"
	".globl bench_push\n"
	".type bench_push, @function\n"
	"bench_push:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	mov %rdi, %rax\n"
	"	xor %rsi, %rax\n"
	"	pop %rbp\n"
	"	ret\n"
	".size bench_push, .-bench_push\n"
	".popsection\n");

enum site { SITE_NOP5, SITE_NOP, SITE_PUSH, SITE_PLAIN };

static const char *const site_names[] = { "nop5", "nop", "push", "plain" };

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long iters, i, v, acc = 0;
	unsigned int site;
	double t0;

	for (site = 0; argc == 3 && site < ARRAY_SIZE(site_names); site++)
		if (!strcmp(argv[1], site_names[site]))
			break;
	if (argc != 3 || site == ARRAY_SIZE(site_names)) {
		fprintf(stderr, "usage: %s nop5|nop|push|plain ITERS\n", argv[0]);
		return 2;
	}
	iters = atol(argv[2]);
	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		v = (i * 2654435761UL) & 0xfffff;	/* spreads across exp2 buckets */
		switch (site) {
		case SITE_NOP5:
			EMITD_PROBE2(bench, hit, i, v);
			break;
		case SITE_NOP:
			acc += bench_nop(i, v);
			break;
		case SITE_PUSH:
			acc += bench_push(i, v);
			break;
		default:
			acc += bench_plain(i, v);
		}
	}
	printf("%.1f\n", (now_ns() - t0) / iters);
	return acc == 42;	/* keep the loop */
}
