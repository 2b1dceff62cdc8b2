// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The seed of fuzz_elf_file (make_corpus.py builds it): the smallest static
 * executable with what elf_site reads: a function symbol, USDT notes with
 * register, memory and constant operands, their semaphores, and
 * .stapsdt.base. Never run.
 */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#include "emitd_probe.h"

unsigned short tiny_request_semaphore __attribute__((section(".probes"), used));
unsigned short tiny_hot_semaphore __attribute__((section(".probes"), used));

EMITD_PROBE_FUNC long tiny_work(long a, long *p)
{
	EMITD_PROBE2(tiny, request, a, p);
	if (tiny_hot_semaphore)
		STAP_PROBE3(tiny, hot, a, *p, 7);
	return a + *p;
}

void _start(void)
{
	long v = 3;

	tiny_work(1, &v);
	for (;;)
		;
}
