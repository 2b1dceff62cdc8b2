// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probe sites: instruction classification, USDT operand decoding, and the
 * lookup of a symbol and of USDT notes in this very test binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/elf_site.h"
#include "emitd_probe.h"

EMITD_PROBE_FUNC long test_site_func(long a, long b)
{
	return a * 31 + b;
}

/* Two sites of one probe: the loop body is emitted twice by the branches. */
EMITD_PROBE_FUNC void test_site_usdt(long v, int which)
{
	if (which)
		EMITD_PROBE2(emitd_test, hit, v, which);
	else
		EMITD_PROBE2(emitd_test, hit, v + 1, which);
}

static void test_classify_site_kinds(void **state)
{
	static const uint8_t nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t nop5_other_disp[] = { 0x0f, 0x1f, 0x44, 0x00, 0x08 };
	static const uint8_t nop1[] = { 0x90 };
	static const uint8_t push_rbp[] = { 0x55 };
	static const uint8_t push_r12[] = { 0x41, 0x54 };
	static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	static const uint8_t mov[] = { 0x48, 0x89, 0xf8 };
	static const uint8_t movsd[] = { 0xf2, 0x0f, 0x10, 0x15 };

	(void)state;
	assert_int_equal(site_kind__classify(nop5, sizeof(nop5)), SITE_NOP5);
	assert_int_equal(site_kind__classify(nop5_other_disp, 5), SITE_EMULATED);
	assert_int_equal(site_kind__classify(nop1, 1), SITE_EMULATED);
	assert_int_equal(site_kind__classify(push_rbp, 1), SITE_EMULATED);
	assert_int_equal(site_kind__classify(push_r12, 2), SITE_EMULATED);
	assert_int_equal(site_kind__classify(endbr64, 4), SITE_SINGLE_STEP);
	assert_int_equal(site_kind__classify(mov, 3), SITE_SINGLE_STEP);
	assert_int_equal(site_kind__classify(movsd, 4), SITE_SINGLE_STEP);
	assert_int_equal(site_kind__classify(nop5, 0), SITE_UNKNOWN);
	assert_string_equal(site_kind__name(SITE_NOP5), "nop5");
	assert_string_equal(site_kind__name(SITE_SINGLE_STEP), "single-step");
}

static void test_usdt_operands(void **state)
{
	struct emitd_arg_loc l[EMITD_MAX_ARGS];

	(void)state;
	assert_int_equal(usdt_args__parse("-4@%edi 8@%rsi", l, EMITD_MAX_ARGS), 2);
	assert_int_equal(l[0].kind, EMITD_LOC_REG);
	assert_int_equal(l[0].reg, EMITD_REG_DI);
	assert_int_equal(l[0].size, -4);
	assert_int_equal(l[1].reg, EMITD_REG_SI);
	assert_int_equal(l[1].size, 8);

	assert_int_equal(usdt_args__parse("8@-16(%rbp) -2@(%r12) 1@$-7 8@%r15d", l,
					  EMITD_MAX_ARGS), 4);
	assert_int_equal(l[0].kind, EMITD_LOC_REG_DEREF);
	assert_int_equal(l[0].reg, EMITD_REG_BP);
	assert_int_equal(l[0].off, -16);
	assert_int_equal(l[1].kind, EMITD_LOC_REG_DEREF);
	assert_int_equal(l[1].reg, EMITD_REG_R12);
	assert_int_equal(l[1].off, 0);
	assert_int_equal(l[2].kind, EMITD_LOC_CONST);
	assert_int_equal(l[2].imm, -7);
	assert_int_equal(l[3].reg, EMITD_REG_R15);

	assert_int_equal(usdt_args__parse("", l, EMITD_MAX_ARGS), 0);
	assert_int_equal(usdt_args__parse("8@%xmm0", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("8@(%rax,%rbx,2)", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("3@%rax", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("8%rax", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("8@$", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("8@%ah", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("8@%rax 8@%rax", l, 1), -E2BIG);
}

/*
 * The displacement is a __s32 in struct emitd_arg_loc: a wider one is refused,
 * never truncated (fuzz_usdt_args: "2@429496729612(%r12)" read at offset 12).
 */
static void test_usdt_operand_ranges(void **state)
{
	struct emitd_arg_loc l[EMITD_MAX_ARGS];

	(void)state;
	assert_int_equal(usdt_args__parse("8@2147483647(%rax) 8@-2147483648(%rbx)", l,
					  EMITD_MAX_ARGS), 2);
	assert_int_equal(l[0].off, INT32_MAX);
	assert_int_equal(l[1].off, INT32_MIN);
	assert_int_equal(usdt_args__parse("8@0x7fffffff(%rsp)", l, EMITD_MAX_ARGS), 1);
	assert_int_equal(l[0].off, INT32_MAX);

	assert_int_equal(usdt_args__parse("8@4294967312(%rbp)", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("2@429496729612(%r12)", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("8@2147483648(%rax)", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("8@-2147483649(%rax)", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("4@9223372036854775808(%rbx)", l, EMITD_MAX_ARGS),
			 -EPROTO);
	/* A size strtol cannot hold is refused before anything takes its absolute value. */
	assert_int_equal(usdt_args__parse("-99999999999999999999@%rax", l, EMITD_MAX_ARGS),
			 -EPROTO);
	assert_int_equal(usdt_args__parse("-9223372036854775808@%rax", l, EMITD_MAX_ARGS),
			 -EPROTO);
}

/* A descriptor: the three addresses, then @strs (with their NULs) as given. */
static size_t make_note(uint8_t *buf, uint64_t pc, uint64_t base, uint64_t sema,
			const char *strs, size_t strs_len)
{
	memcpy(buf, &pc, 8);
	memcpy(buf + 8, &base, 8);
	memcpy(buf + 16, &sema, 8);
	memcpy(buf + STAPSDT_ADDRS_LEN, strs, strs_len);
	return STAPSDT_ADDRS_LEN + strs_len;
}

static void test_parse_stapsdt_note(void **state)
{
	static const char strs[] = "demo\0request_done\0-8@%rdi 8@%rsi";	/* 3 NULs */
	struct stapsdt_note n;
	uint8_t buf[128];
	size_t len, cut;

	(void)state;
	len = make_note(buf, 0x1234, 0x4000, 0x5008, strs, sizeof(strs));
	assert_int_equal(elf_site__parse_stapsdt_note(buf, len, &n), 0);
	assert_int_equal(n.pc, 0x1234);
	assert_int_equal(n.base, 0x4000);
	assert_int_equal(n.sema, 0x5008);
	assert_string_equal(n.provider, "demo");
	assert_string_equal(n.name, "request_done");
	assert_string_equal(n.args, "-8@%rdi 8@%rsi");
	/* Empty strings are strings: a probe without operands has args "". */
	len = make_note(buf, 1, 0, 0, "p\0n\0", 5);
	assert_int_equal(elf_site__parse_stapsdt_note(buf, len, &n), 0);
	assert_string_equal(n.args, "");

	/* Every cut short of the last NUL is refused, the bytes after it never read. */
	len = make_note(buf, 0x1234, 0x4000, 0, strs, sizeof(strs));
	for (cut = 0; cut < len; cut++)
		assert_int_equal(elf_site__parse_stapsdt_note(buf, cut, &n), -EPROTO);
	/* A missing terminator with more bytes in memory after the descriptor. */
	buf[len - 1] = 'x';
	assert_int_equal(elf_site__parse_stapsdt_note(buf, len, &n), -EPROTO);
	assert_null(n.provider);
}

static void test_find_symbol_in_self(void **state)
{
	struct elf_site site;

	(void)state;
	assert_int_equal(elf_site__find_symbol("/proc/self/exe", "test_site_func", &site), 0);
	assert_true(site.file_offset > 0);
	assert_int_equal(site.nr_args, 6);
	assert_int_equal(site.args[0].reg, EMITD_REG_DI);
	assert_int_equal(site.args[5].reg, EMITD_REG_R9);
	assert_int_equal(elf_site__find_symbol("/proc/self/exe", "no_such_symbol_xyz", &site),
			 -ENOENT);
	assert_int_equal(elf_site__find_symbol("/proc/self/cmdline", "main", &site), -ENOEXEC);
	assert_int_equal(elf_site__find_symbol("/nonexistent/binary", "main", &site), -ENOENT);
}

static void test_find_usdt_sites_in_self(void **state)
{
	struct elf_site *sites = NULL;
	int n, i;

	(void)state;
	n = elf_site__find_usdt("/proc/self/exe", "emitd_test", "hit", &sites);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_int_equal(sites[i].kind, SITE_NOP5);
		assert_int_equal(sites[i].nr_args, 2);
		assert_int_equal(sites[i].sema_offset, 0);
	}
	assert_true(sites[0].file_offset != sites[1].file_offset);
	free(sites);
	assert_int_equal(elf_site__find_usdt("/proc/self/exe", "emitd_test", "miss", &sites),
			 -ENOENT);
	assert_null(sites);
	test_site_usdt(test_site_func(1, 2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_site_kinds),
		cmocka_unit_test(test_usdt_operands),
		cmocka_unit_test(test_usdt_operand_ranges),
		cmocka_unit_test(test_parse_stapsdt_note),
		cmocka_unit_test(test_find_symbol_in_self),
		cmocka_unit_test(test_find_usdt_sites_in_self),
	};

	return cmocka_run_group_tests_name("elf_site", tests, NULL, NULL);
}
