// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * USDT operand strings (usdt_args__parse), any bytes up to the first NUL:
 * the invariants of usdt_check.h.
 */
#include "fuzz.h"
#include "usdt_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);

	usdt_check_args(s);
	free(s);
	return 0;
}
