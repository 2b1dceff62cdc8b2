/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * elf_site: find a probe site in an ELF file (a function symbol or a USDT
 * note), and tell what kind of instruction the uprobe will land on.
 *
 * On x86-64 the kind decides the cost of every hit: Linux 6.18 optimizes a
 * uprobe on the exact 5-byte nop `0f 1f 44 00 00` into a call (~340 ns), it
 * emulates nops, pushes, calls and jumps (~460 ns), and single-steps any other
 * instruction out of line (~9 µs in a VM that traps single-steps).
 */
#ifndef EMITD_ELF_SITE_H
#define EMITD_ELF_SITE_H

#include <stddef.h>
#include <stdint.h>

#include "emitd.h"

enum site_kind {
	SITE_UNKNOWN = 0,
	SITE_NOP5,		/* optimized: the uprobe becomes a call */
	SITE_EMULATED,		/* the kernel emulates the instruction */
	SITE_SINGLE_STEP,	/* executed out of line with a single-step trap */
};

#define ELF_SITE_BYTES	8

struct elf_site {
	uint64_t vaddr;			/* link-time virtual address */
	uint64_t file_offset;		/* what uprobes attach to */
	uint64_t sema_offset;		/* USDT semaphore's file offset, 0: none */
	uint8_t bytes[ELF_SITE_BYTES];	/* instruction bytes at the site */
	size_t nr_bytes;
	enum site_kind kind;
	int nr_args;
	struct emitd_arg_loc args[EMITD_MAX_ARGS];	/* where each argument lives */
};

/*
 * Find function @sym; its arguments are the x86-64 ABI registers.
 * -ENOENT: no such symbol; -ENOEXEC: not an ELF file.
 */
int elf_site__find_symbol(const char *path, const char *sym, struct elf_site *out);

/*
 * Find every site of USDT @provider:@name, with its operands decoded. Returns
 * the number of sites and an array in *@out (free() it), or -ENOENT when there
 * is none, -EPROTO when an operand is of a form emitd cannot read.
 */
int elf_site__find_usdt(const char *path, const char *provider, const char *name,
			struct elf_site **out);

/*
 * One .note.stapsdt descriptor (the systemtap SDT layout of a 64-bit ELF):
 * pc, base and semaphore addresses (8 bytes each, the file's byte order as
 * libelf hands it over), then the NUL-terminated provider, name and argument
 * strings. The strings point into the descriptor.
 */
#define STAPSDT_ADDRS_LEN	24

struct stapsdt_note {
	uint64_t pc, base, sema;
	const char *provider, *name, *args;
};

/*
 * Pure: decode the @len bytes of a note descriptor at @desc (any bytes: a
 * probed binary is hostile input). 0, or -EPROTO when it is shorter than the
 * three addresses or a string is not terminated within @len (then *@n is
 * all zero); nothing past @desc + @len is read. elf_site__find_usdt()
 * decodes every note through it.
 */
int elf_site__parse_stapsdt_note(const void *desc, size_t len, struct stapsdt_note *n);

/* Pure: decode USDT operands such as "-4@%edi 8@16(%rbp) -8@$5". */
int usdt_args__parse(const char *s, struct emitd_arg_loc *out, int max);

/* Pure: classify the instruction that starts at @b (x86-64). */
enum site_kind site_kind__classify(const uint8_t *b, size_t n);
const char *site_kind__name(enum site_kind kind);

#endif /* EMITD_ELF_SITE_H */
