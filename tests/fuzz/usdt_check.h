/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * usdt_check: the invariants of usdt_args__parse() on any operand string,
 * shared by fuzz_usdt_args and fuzz_stapsdt_note. The operand grammar is
 * "[-]SIZE@OPERAND" separated by spaces, OPERAND one of %reg, $imm,
 * off(%reg), (%reg).
 *
 * A decoded location has a size of 1, 2, 4 or 8 bytes, a kind and a register
 * the BPF side knows; and it says what the text says: the size, immediate
 * and displacement read by strtoll from the operand's own text are the
 * decoded ones (nothing silently truncated to the ABI's narrower fields).
 */
#ifndef EMITD_FUZZ_USDT_CHECK_H
#define EMITD_FUZZ_USDT_CHECK_H

#include <errno.h>

#include "agent/elf_site.h"
#include "fuzz.h"

/* What the operand text at @s (one operand, @len bytes) says, read independently. */
static inline void usdt_check_operand(const char *s, size_t len, const struct emitd_arg_loc *l)
{
	char buf[128], *at, *end;
	long long v;

	FUZZ_ASSERT(len < sizeof(buf));	/* longer operands are refused */
	memcpy(buf, s, len);
	buf[len] = '\0';
	v = strtoll(buf, &at, 10);
	FUZZ_ASSERT(*at == '@' && v == l->size);
	at++;
	errno = 0;
	if (l->kind == EMITD_LOC_CONST) {
		FUZZ_ASSERT(*at == '$');
		v = strtoll(at + 1, &end, 0);
		FUZZ_ASSERT(!errno && v == l->imm);
	} else if (l->kind == EMITD_LOC_REG_DEREF && *at != '(') {
		v = strtoll(at, &end, 0);
		FUZZ_ASSERT(!errno && v == l->off);
	}
}

static inline int usdt_check_args(const char *args)
{
	struct emitd_arg_loc l[EMITD_MAX_ARGS];
	const char *s = args;
	int n, i;
	size_t len;

	n = usdt_args__parse(args, l, EMITD_MAX_ARGS);
	FUZZ_ASSERT(n == -EPROTO || n == -E2BIG || (n >= 0 && n <= EMITD_MAX_ARGS));
	for (i = 0; i < n; i++) {
		int size = l[i].size < 0 ? -l[i].size : l[i].size;

		FUZZ_ASSERT(size == 1 || size == 2 || size == 4 || size == 8);
		FUZZ_ASSERT(l[i].kind == EMITD_LOC_REG || l[i].kind == EMITD_LOC_REG_DEREF ||
			    l[i].kind == EMITD_LOC_CONST);
		if (l[i].kind != EMITD_LOC_CONST)
			FUZZ_ASSERT(l[i].reg <= EMITD_REG_IP);
		s += strspn(s, " ");
		len = strcspn(s, " ");
		usdt_check_operand(s, len, &l[i]);
		s += len;
	}
	if (n >= 0)
		FUZZ_ASSERT(!s[strspn(s, " ")]);
	return n;
}

#endif /* EMITD_FUZZ_USDT_CHECK_H */
