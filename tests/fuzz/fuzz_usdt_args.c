// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * USDT operand strings (usdt_args__parse, usdt_args__decode), any bytes:
 * the invariants of usdt_check.h. The first 8 bytes are the site's address,
 * the rest up to a NUL the operands.
 */
#include "fuzz.h"
#include "usdt_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint64_t vaddr = fuzz_in__u64(&in, 8);
	char *s = fuzz_cstr(in.p, in.left);

	usdt_check_args(s);
	usdt_check_decode(s, vaddr);
	free(s);
	return 0;
}
