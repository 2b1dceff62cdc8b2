/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * usdt_check: the invariants of USDT operand decoding on any operand string,
 * shared by fuzz_usdt_args and fuzz_stapsdt_note. The grammar is
 * "[-]SIZE@OPERAND" separated by spaces, OPERAND one of %reg, $imm,
 * DISP(%reg), (%reg), DISP(%rip), SYM (DISP numbers and at most one symbol
 * joined by + and -).
 *
 * usdt_args__parse() (no symbols): a decoded location has a size of 1, 2, 4
 * or 8 bytes, a kind and a register the BPF side knows, and says what the
 * text says: the size, the immediate and the displacement (the sum of its
 * numbers), read independently from the operand's own text, are the
 * decoded ones: nothing silently truncated to the ABI's narrower fields.
 *
 * usdt_args__decode() (symbols resolved by a resolver the input steers: found,
 * missing, defined twice, near the site or 4 GiB away): every operand is
 * decoded or marked with one of the documented errors (then its location is
 * all zero), its text is printable ASCII and terminated, at most
 * EMITD_MAX_ARGS are kept, usdt_operand__why() explains each; and where
 * usdt_args__parse() decodes the string, usdt_args__decode() agrees.
 */
#ifndef EMITD_FUZZ_USDT_CHECK_H
#define EMITD_FUZZ_USDT_CHECK_H

#include <errno.h>

#include "agent/elf_site.h"
#include "fuzz.h"

/* The sum of the numbers of a displacement "N+N-N" up to '(' or the end. */
static inline bool usdt_check_disp(const char *s, long long *sum)
{
	long long v;
	char *end;
	bool neg;

	*sum = 0;
	while (*s && *s != '(') {
		neg = *s == '-';
		if (*s == '+' || *s == '-')
			s++;
		errno = 0;
		v = strtoll(s, &end, 0);
		if (end == s || errno || __builtin_add_overflow(*sum, neg ? -v : v, sum))
			return false;
		s = end;
	}
	return true;
}

/* What the operand text at @s (one operand, @len bytes) says, read independently. */
static inline void usdt_check_operand(const char *s, size_t len, const struct emitd_arg_loc *l)
{
	char buf[256], *at, *end;
	long long v;

	FUZZ_ASSERT(len < sizeof(buf));
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
	} else if (l->kind == EMITD_LOC_REG_DEREF) {
		FUZZ_ASSERT(usdt_check_disp(at, &v) && v == l->off);
	}
}

static inline void usdt_check_loc(const struct emitd_arg_loc *l)
{
	int size = l->size < 0 ? -l->size : l->size;

	FUZZ_ASSERT(size == 1 || size == 2 || size == 4 || size == 8);
	FUZZ_ASSERT(l->kind == EMITD_LOC_REG || l->kind == EMITD_LOC_REG_DEREF ||
		    l->kind == EMITD_LOC_CONST);
	if (l->kind != EMITD_LOC_CONST)
		FUZZ_ASSERT(l->reg <= EMITD_REG_IP);
}

static inline int usdt_check_args(const char *args)
{
	struct emitd_arg_loc l[EMITD_MAX_ARGS];
	const char *s = args;
	int n, i;
	size_t len;

	n = usdt_args__parse(args, l, EMITD_MAX_ARGS);
	FUZZ_ASSERT(n == -EPROTO || n == -ERANGE || n == -E2BIG ||
		    (n >= 0 && n <= EMITD_MAX_ARGS));
	for (i = 0; i < n; i++) {
		usdt_check_loc(&l[i]);
		s += strspn(s, " ");
		len = strcspn(s, " ");
		usdt_check_operand(s, len, &l[i]);
		s += len;
	}
	if (n >= 0)
		FUZZ_ASSERT(!s[strspn(s, " ")]);
	return n;
}

/* Symbols resolve by their first letter: a-h near the site, i-p far, q-t twice, else none. */
static inline int usdt_check_resolve(void *arg, const char *name, uint64_t *vaddr)
{
	uint64_t site = *(const uint64_t *)arg;
	unsigned char c = name[0] | 0x20;

	if (c >= 'a' && c <= 'h') {
		*vaddr = site + 0x1000 * (c - 'a') - 0x4000;
		return 0;
	}
	if (c >= 'i' && c <= 'p') {
		*vaddr = site + (1ULL << 32) * (c - 'h');
		return 0;
	}
	return c >= 'q' && c <= 't' ? -ENOTUNIQ : -ENOENT;
}

static inline void usdt_check_decode(const char *args, uint64_t site_vaddr)
{
	struct usdt_syms syms = { usdt_check_resolve, &site_vaddr };
	struct emitd_arg_loc l[EMITD_MAX_ARGS], zero = { 0 };
	struct elf_site site;
	char why[160];
	int n, i, parsed;

	memset(&site, 0xa5, sizeof(site));
	n = usdt_args__decode(args, site_vaddr, &syms, &site);
	FUZZ_ASSERT(n >= 0);
	FUZZ_ASSERT(site.nr_args == (n < EMITD_MAX_ARGS ? n : EMITD_MAX_ARGS));
	for (i = 0; i < site.nr_args; i++) {
		const struct usdt_operand *op = &site.ops[i];
		size_t tl = strnlen(op->text, sizeof(op->text));

		FUZZ_ASSERT(tl < sizeof(op->text));
		for (size_t k = 0; k < tl; k++)
			FUZZ_ASSERT(op->text[k] > 0x20 && op->text[k] < 0x7f);
		FUZZ_ASSERT(op->err == 0 || op->err == -EPROTO || op->err == -ERANGE ||
			    op->err == -ENOENT || op->err == -ENOTUNIQ);
		if (op->err)
			FUZZ_ASSERT(!memcmp(&site.args[i], &zero, sizeof(zero)));
		else
			usdt_check_loc(&site.args[i]);
		usdt_operand__why(&site, i, why, sizeof(why));
		FUZZ_ASSERT(*why && strnlen(why, sizeof(why)) < sizeof(why));
	}
	usdt_operand__why(&site, -1, why, sizeof(why));
	usdt_operand__why(&site, site.nr_args, why, sizeof(why));

	/* Without symbols the two decoders agree wherever the plain one succeeds. */
	parsed = usdt_args__parse(args, l, EMITD_MAX_ARGS);
	for (i = 0; i < parsed; i++) {
		FUZZ_ASSERT(l[i].kind == site.args[i].kind && l[i].size == site.args[i].size);
		if (l[i].kind != EMITD_LOC_CONST)
			FUZZ_ASSERT(l[i].reg == site.args[i].reg);
		if (l[i].kind == EMITD_LOC_REG_DEREF)
			FUZZ_ASSERT(l[i].off == site.args[i].off);
		else if (l[i].kind == EMITD_LOC_CONST)
			FUZZ_ASSERT(l[i].imm == site.args[i].imm);
	}
}

#endif /* EMITD_FUZZ_USDT_CHECK_H */
