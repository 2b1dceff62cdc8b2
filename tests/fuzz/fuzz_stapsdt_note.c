// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A .note.stapsdt descriptor as a probed binary may hold it (any bytes), fed
 * to elf_site__parse_stapsdt_note() and its operands to usdt_args__parse():
 * what elf_site__find_usdt() does with every note of a binary.
 *
 * The descriptor is copied into a buffer of exactly its size, so ASan sees
 * any read past it. Invariants: a decoded note's strings lie inside the
 * descriptor, in order, each terminated within it; a refused one is all
 * zero; the operands keep the invariants of usdt_check.h.
 */
#include <errno.h>

#include "agent/elf_site.h"
#include "fuzz.h"
#include "usdt_check.h"

static void check_str(const char *s, const uint8_t *desc, size_t len, const char *after)
{
	FUZZ_ASSERT(s >= (const char *)desc + STAPSDT_ADDRS_LEN && s >= after);
	FUZZ_ASSERT(s + strlen(s) < (const char *)desc + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *desc = malloc(size ? size : 1);
	struct stapsdt_note n;
	int err;

	FUZZ_ASSERT(desc);
	memcpy(desc, data, size);
	err = elf_site__parse_stapsdt_note(desc, size, &n);
	FUZZ_ASSERT(err == 0 || err == -EPROTO);
	if (err) {
		FUZZ_ASSERT(!n.provider && !n.name && !n.args && !n.pc && !n.base && !n.sema);
		goto out_free;
	}
	check_str(n.provider, desc, size, (const char *)desc);
	check_str(n.name, desc, size, n.provider + strlen(n.provider) + 1);
	check_str(n.args, desc, size, n.name + strlen(n.name) + 1);
	usdt_check_args(n.args);
	usdt_check_decode(n.args, n.pc);
out_free:
	free(desc);
	return 0;
}
