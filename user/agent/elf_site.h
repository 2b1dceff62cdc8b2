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
#define USDT_OPERAND_TEXT	96	/* bytes kept of an operand's text, NUL included */

/*
 * One USDT operand as its note writes it, and whether emitd can read it.
 * An operand is decoded when the site is found, but only an operand a metric
 * reads has to be decodable: the attach checks err for those alone.
 */
struct usdt_operand {
	int err;			/* 0: decoded into the site's args[]; see usdt_operand__why() */
	char text[USDT_OPERAND_TEXT];	/* "-4@NBuffers(%rip)", cut with "..." */
};

struct elf_site {
	uint64_t vaddr;			/* link-time virtual address */
	uint64_t file_offset;		/* what uprobes attach to */
	uint64_t sema_offset;		/* USDT semaphore's file offset, 0: none */
	uint8_t bytes[ELF_SITE_BYTES];	/* instruction bytes at the site */
	size_t nr_bytes;
	enum site_kind kind;
	int nr_args;			/* operands (at most EMITD_MAX_ARGS are kept) */
	struct emitd_arg_loc args[EMITD_MAX_ARGS];	/* where each argument lives */
	struct usdt_operand ops[EMITD_MAX_ARGS];	/* USDT only: text and status */
};

/*
 * Resolves a data symbol to its link-time address: 0, -ENOENT (no such
 * symbol) or -ENOTUNIQ (defined more than once, at different addresses).
 */
struct usdt_syms {
	int (*resolve)(void *arg, const char *name, uint64_t *vaddr);
	void *arg;
};

/*
 * Find function @sym; its arguments are the x86-64 ABI registers.
 * -ENOENT: no such symbol; -ENOEXEC: not an ELF file.
 */
int elf_site__find_symbol(const char *path, const char *sym, struct elf_site *out);

/*
 * Find every site of USDT @provider:@name, with its operands decoded. Returns
 * the number of sites and an array in *@out (free() it), or -ENOENT when there
 * is none. An operand emitd cannot read does not fail the lookup: it is marked
 * in the site's ops[] (err), so a metric that does not read it still attaches.
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

/*
 * Walk every USDT site of @path in note order, every site decoded as above;
 * a non-zero return of @fn stops the walk and is returned. 0 when done,
 * -ENOEXEC: not an ELF file, else -errno.
 */
typedef int (*elf_usdt_fn)(const char *provider, const char *name,
			   const struct elf_site *site, void *arg);
int elf_site__for_each_usdt(const char *path, elf_usdt_fn fn, void *arg);

/*
 * Walk every defined function symbol of @path (.symtab, else .dynsym), in
 * table order, with its site (the ABI argument registers); the same name may
 * come more than once (local symbols of several files). Returns as above.
 */
typedef int (*elf_func_fn)(const char *name, const struct elf_site *site, void *arg);
int elf_site__for_each_function(const char *path, elf_func_fn fn, void *arg);

/*
 * Pure: decode USDT operands such as "-4@%edi 8@16(%rbp) -8@$5", stopping at
 * the first that is not a register, an immediate or a register-relative
 * memory operand (numeric %rip displacements included; symbols are not
 * resolved): the number of operands, -EPROTO, -ERANGE (a displacement
 * beyond 32 bits) or -E2BIG beyond @max.
 */
int usdt_args__parse(const char *s, struct emitd_arg_loc *out, int max);

/*
 * Pure: decode the operand string of a site at link-time address @site_vaddr
 * into @site's args[], ops[] and nr_args, each operand on its own: one that
 * cannot be read is marked (ops[i].err) and the others still decoded.
 * Memory at a symbol (SYM(%rip), OFF+SYM(%rip), SYM+OFF(%rip), SYM-OFF(%rip)
 * or a bare SYM) is resolved through @syms (NULL: none resolves) and read
 * relative to the probed instruction, EMITD_REG_IP with off = SYM + OFF -
 * @site_vaddr, so it needs no per-process load base; a numeric N(%rip) is N
 * bytes from the site (as bcc and bpftrace read it). Operands beyond
 * EMITD_MAX_ARGS are not kept. Returns the number of operands.
 */
int usdt_args__decode(const char *s, uint64_t site_vaddr, const struct usdt_syms *syms,
		      struct elf_site *site);

/* Pure: why operand @i of @site cannot be read, into @buf ("symbol NBuffers not found"). */
const char *usdt_operand__why(const struct elf_site *site, int i, char *buf, size_t size);

/* Pure: classify the instruction that starts at @b (x86-64). */
enum site_kind site_kind__classify(const uint8_t *b, size_t n);
const char *site_kind__name(enum site_kind kind);

#endif /* EMITD_ELF_SITE_H */
