// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probe sites: instruction classification, USDT operand decoding (with the
 * %rip-relative forms through a fake symbol table), and the lookup of a
 * symbol and of USDT notes in this very test binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
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

/* gcc writes these operands "-4@test_rip_global(%rip) -4@8+test_rip_pair(%rip)". */
int test_rip_global = 7;
struct {
	long a;
	int b;
} test_rip_pair = { 1, 2 };

EMITD_PROBE_FUNC void test_site_rip(void)
{
	EMITD_PROBE2(emitd_test, rip, test_rip_global, test_rip_pair.b);
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
	/* no symbol table here: a numeric %rip displacement only */
	assert_int_equal(usdt_args__parse("4@-8(%rip)", l, EMITD_MAX_ARGS), 1);
	assert_int_equal(l[0].reg, EMITD_REG_IP);
	assert_int_equal(l[0].off, -8);
	assert_int_equal(usdt_args__parse("-4@NBuffers(%rip)", l, EMITD_MAX_ARGS), -EPROTO);
	assert_int_equal(usdt_args__parse("8@0x80000000(%rbp)", l, EMITD_MAX_ARGS), -ERANGE);
}

/* A symbol table for the decoder: NBuffers, CheckpointStats, Twice (ambiguous). */
static int fake_resolve(void *arg, const char *name, uint64_t *vaddr)
{
	int *calls = arg;

	(*calls)++;
	if (!strcmp(name, "NBuffers"))
		*vaddr = 0x5000;
	else if (!strcmp(name, "CheckpointStats"))
		*vaddr = 0x800;
	else if (!strcmp(name, "local.0"))
		*vaddr = 0x1010;
	else if (!strcmp(name, "Far"))
		*vaddr = 0x1000 + (1ULL << 32);
	else if (!strcmp(name, "Twice"))
		return -ENOTUNIQ;
	else
		return -ENOENT;
	return 0;
}

#define SITE_VADDR	0x1000

static void assert_ip_deref(const struct elf_site *site, int i, int size, int32_t off)
{
	assert_int_equal(site->ops[i].err, 0);
	assert_int_equal(site->args[i].kind, EMITD_LOC_REG_DEREF);
	assert_int_equal(site->args[i].reg, EMITD_REG_IP);
	assert_int_equal(site->args[i].size, size);
	assert_int_equal(site->args[i].off, off);
}

static void test_rip_relative_operands(void **state)
{
	int calls = 0;
	const struct usdt_syms syms = { fake_resolve, &calls };
	struct elf_site site;

	(void)state;
	/* postgresql:checkpoint__done and buffer__sync__done, as gcc writes them */
	assert_int_equal(usdt_args__decode("-4@40+CheckpointStats(%rip) -4@NBuffers(%rip) "
					   "-4@%eax -4@%r14d", SITE_VADDR, &syms, &site), 4);
	assert_int_equal(site.nr_args, 4);
	assert_ip_deref(&site, 0, -4, 0x800 + 40 - SITE_VADDR);
	assert_ip_deref(&site, 1, -4, 0x5000 - SITE_VADDR);
	assert_int_equal(site.args[2].kind, EMITD_LOC_REG);
	assert_int_equal(site.args[3].reg, EMITD_REG_R14);
	assert_string_equal(site.ops[0].text, "-4@40+CheckpointStats(%rip)");
	assert_string_equal(site.ops[3].text, "-4@%r14d");

	/* clang's SYM+OFF, SYM-OFF, hex, a local symbol, a bare SYM, a numeric N(%rip) */
	assert_int_equal(usdt_args__decode("8@CheckpointStats+0x10(%rip) 2@CheckpointStats-8(%rip) "
					   "1@local.0(%rip) 4@NBuffers 8@-24(%rip) 8@16+NBuffers+4(%rip)",
					   SITE_VADDR, &syms, &site), 6);
	assert_ip_deref(&site, 0, 8, 0x800 + 16 - SITE_VADDR);
	assert_ip_deref(&site, 1, 2, 0x800 - 8 - SITE_VADDR);
	assert_ip_deref(&site, 2, 1, 0x10);
	assert_ip_deref(&site, 3, 4, 0x5000 - SITE_VADDR);
	assert_ip_deref(&site, 4, 8, -24);
	assert_ip_deref(&site, 5, 8, 0x5000 + 20 - SITE_VADDR);
	assert_int_equal(calls, 7);	/* each symbol looked up once, numbers never */
}

static void test_undecodable_operands_are_marked_one_by_one(void **state)
{
	int calls = 0;
	const struct usdt_syms syms = { fake_resolve, &calls };
	struct elf_site site;
	char why[160];

	(void)state;
	assert_int_equal(usdt_args__decode("-4@Missing(%rip) 8@%rdi -4@Twice(%rip) 4@Far(%rip) "
					   "4@NBuffers(%rax) 4@-NBuffers(%rip) 8@x@GOTPCREL(%rip) "
					   "8@%xmm0 4@$3", SITE_VADDR, &syms, &site), 9);
	assert_int_equal(site.nr_args, 9);
	assert_int_equal(site.ops[0].err, -ENOENT);
	assert_int_equal(site.args[0].kind, EMITD_LOC_NONE);
	assert_string_equal(usdt_operand__why(&site, 0, why, sizeof(why)),
			    "symbol Missing not found in .symtab or .dynsym");
	assert_int_equal(site.ops[1].err, 0);			/* its neighbours still decode */
	assert_int_equal(site.args[1].reg, EMITD_REG_DI);
	assert_int_equal(site.ops[2].err, -ENOTUNIQ);
	assert_string_equal(usdt_operand__why(&site, 2, why, sizeof(why)),
			    "symbol Twice is defined more than once, at different addresses");
	assert_int_equal(site.ops[3].err, -ERANGE);		/* beyond an s32 displacement */
	assert_int_equal(site.ops[4].err, -EPROTO);		/* a symbol off another register */
	assert_int_equal(site.ops[5].err, -EPROTO);		/* a subtracted symbol */
	assert_int_equal(site.ops[6].err, -EPROTO);		/* a GOT slot, not the value */
	assert_int_equal(site.ops[7].err, -EPROTO);
	assert_non_null(strstr(usdt_operand__why(&site, 7, why, sizeof(why)),
			       "cannot decode this operand"));
	assert_int_equal(site.ops[8].err, 0);
	assert_int_equal(site.args[8].imm, 3);
	assert_string_equal(usdt_operand__why(&site, 9, why, sizeof(why)), "no such operand");

	/* no symbol table: a symbol is not found, registers still decode */
	assert_int_equal(usdt_args__decode("-4@NBuffers(%rip) 8@%rsi", SITE_VADDR, NULL, &site), 2);
	assert_int_equal(site.ops[0].err, -ENOENT);
	assert_int_equal(site.ops[1].err, 0);
}

static void test_operand_count_and_text_bounds(void **state)
{
	char many[256] = "", longsym[200], s[300];
	struct elf_site site;
	int i;

	(void)state;
	for (i = 0; i < EMITD_MAX_ARGS + 2; i++)
		strcat(many, "8@%rax ");
	assert_int_equal(usdt_args__decode(many, SITE_VADDR, NULL, &site), EMITD_MAX_ARGS + 2);
	assert_int_equal(site.nr_args, EMITD_MAX_ARGS);		/* the rest is not kept */

	memset(longsym, 'a', sizeof(longsym) - 1);
	longsym[sizeof(longsym) - 1] = '\0';
	snprintf(s, sizeof(s), "8@%s(%%rip) 4@%%edi", longsym);
	assert_int_equal(usdt_args__decode(s, SITE_VADDR, NULL, &site), 2);
	assert_int_not_equal(site.ops[0].err, 0);
	assert_int_equal(strlen(site.ops[0].text), USDT_OPERAND_TEXT - 1);
	assert_string_equal(site.ops[0].text + USDT_OPERAND_TEXT - 4, "...");
	assert_int_equal(site.ops[1].err, 0);
	assert_int_equal(site.args[1].reg, EMITD_REG_DI);

	/* a note is input: its text is shown printable */
	assert_int_equal(usdt_args__decode("8@%r\x1b[2Jax", SITE_VADDR, NULL, &site), 1);
	assert_int_equal(site.ops[0].err, -EPROTO);
	assert_string_equal(site.ops[0].text, "8@%r?[2Jax");

	/* displacements beyond 32 bits, with or without a symbol */
	assert_int_equal(usdt_args__decode("8@0x100000000(%rbp) 8@99999999999999999999(%rbp)",
					   SITE_VADDR, NULL, &site), 2);
	assert_int_equal(site.ops[0].err, -ERANGE);
	assert_int_equal(site.ops[1].err, -ERANGE);
}

/*
 * The displacement is a __s32 in struct emitd_arg_loc: its bounds are kept, a
 * wider one is refused, never truncated (fuzz_usdt_args found
 * "2@429496729612(%r12)" read at offset 12 before operands were decoded one
 * by one; tests/fuzz/corpus/fuzz_usdt_args/regress-s32-displacement*).
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

	assert_int_equal(usdt_args__parse("8@4294967312(%rbp)", l, EMITD_MAX_ARGS), -ERANGE);
	assert_int_equal(usdt_args__parse("2@429496729612(%r12)", l, EMITD_MAX_ARGS), -ERANGE);
	assert_int_equal(usdt_args__parse("8@2147483648(%rax)", l, EMITD_MAX_ARGS), -ERANGE);
	assert_int_equal(usdt_args__parse("8@-2147483649(%rax)", l, EMITD_MAX_ARGS), -ERANGE);
	assert_int_equal(usdt_args__parse("4@9223372036854775808(%rbx)", l, EMITD_MAX_ARGS),
			 -ERANGE);
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

/*
 * The %rip-relative operands of this binary's own probe: the decoded offset,
 * from the site's runtime address, lands on the variable in this process.
 */
static void test_rip_operands_in_self_reach_the_variables(void **state)
{
	struct elf_site *sites = NULL, fn;
	uintptr_t bias, site_addr;
	int n;

	(void)state;
	n = elf_site__find_usdt("/proc/self/exe", "emitd_test", "rip", &sites);
	assert_int_equal(n, 1);
	assert_int_equal(sites[0].nr_args, 2);
	assert_string_equal(sites[0].ops[0].text, "-4@test_rip_global(%rip)");
	assert_int_equal(sites[0].ops[0].err, 0);
	assert_int_equal(sites[0].ops[1].err, 0);
	assert_int_equal(sites[0].args[0].reg, EMITD_REG_IP);
	/* the load bias, from a function's runtime and link-time addresses */
	assert_int_equal(elf_site__find_symbol("/proc/self/exe", "test_site_func", &fn), 0);
	bias = (uintptr_t)&test_site_func - fn.vaddr;
	site_addr = bias + sites[0].vaddr;
	assert_ptr_equal(site_addr + sites[0].args[0].off, &test_rip_global);
	assert_ptr_equal(site_addr + sites[0].args[1].off, &test_rip_pair.b);
	assert_int_equal(*(int *)(site_addr + sites[0].args[1].off), 2);
	free(sites);
	test_site_rip();
}

struct walk_count {
	int usdt_sites, hit_sites, funcs, found_func;
};

static int count_usdt(const char *provider, const char *name, const struct elf_site *site,
		      void *arg)
{
	struct walk_count *wc = arg;

	wc->usdt_sites++;
	if (!strcmp(provider, "emitd_test") && !strcmp(name, "hit")) {
		wc->hit_sites++;
		assert_int_equal(site->nr_args, 2);
	}
	return 0;
}

static int count_funcs(const char *name, const struct elf_site *site, void *arg)
{
	struct walk_count *wc = arg;

	wc->funcs++;
	if (!strcmp(name, "test_site_usdt")) {
		wc->found_func++;
		assert_int_equal(site->nr_args, 6);
		assert_true(site->file_offset > 0);
	}
	return 0;
}

static int stop_at_first(const char *name, const struct elf_site *site, void *arg)
{
	(void)name;
	(void)site;
	(*(int *)arg)++;
	return -ECANCELED;
}

static void test_walk_every_usdt_site_and_function(void **state)
{
	struct walk_count wc = { 0 };
	int calls = 0;

	(void)state;
	assert_int_equal(elf_site__for_each_usdt("/proc/self/exe", count_usdt, &wc), 0);
	assert_int_equal(wc.hit_sites, 2);
	assert_int_equal(wc.usdt_sites, 3);		/* hit twice, rip once */
	assert_int_equal(elf_site__for_each_function("/proc/self/exe", count_funcs, &wc), 0);
	assert_int_equal(wc.found_func, 1);
	assert_true(wc.funcs > 10);
	assert_int_equal(elf_site__for_each_function("/proc/self/exe", stop_at_first, &calls),
			 -ECANCELED);
	assert_int_equal(calls, 1);
	assert_int_equal(elf_site__for_each_usdt("/proc/self/cmdline", count_usdt, &wc), -ENOEXEC);
	assert_int_equal(elf_site__for_each_function("/nonexistent", count_funcs, &wc), -ENOENT);
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
		cmocka_unit_test(test_rip_relative_operands),
		cmocka_unit_test(test_undecodable_operands_are_marked_one_by_one),
		cmocka_unit_test(test_operand_count_and_text_bounds),
		cmocka_unit_test(test_rip_operands_in_self_reach_the_variables),
		cmocka_unit_test(test_walk_every_usdt_site_and_function),
	};

	return cmocka_run_group_tests_name("elf_site", tests, NULL, NULL);
}
