// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probe-site lookup with libelf: symbols from .symtab/.dynsym, USDT probes
 * from .note.stapsdt (the systemtap SDT note layout).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "agent/elf_site.h"

#define SDT_NOTE_TYPE	3
#define SDT_NOTE_NAME	"stapsdt"

struct elf_file {
	int fd;
	Elf *elf;
};

static int elf_file__open(const char *path, struct elf_file *ef)
{
	int err;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	ef->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ef->fd < 0)
		return -errno;
	ef->elf = elf_begin(ef->fd, ELF_C_READ, NULL);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto out_close;
	}
	return 0;

out_close:
	if (ef->elf)
		elf_end(ef->elf);
	close(ef->fd);
	return err;
}

static void elf_file__close(struct elf_file *ef)
{
	elf_end(ef->elf);
	close(ef->fd);
}

/* Translate a virtual address into a file offset through the section table. */
static int vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		if (!(sh.sh_flags & SHF_ALLOC))
			continue;
		if (vaddr >= sh.sh_addr && vaddr < sh.sh_addr + sh.sh_size) {
			*off = vaddr - sh.sh_addr + sh.sh_offset;
			return 0;
		}
	}
	return -ENOENT;
}

static int fill_site(struct elf_file *ef, uint64_t vaddr, struct elf_site *out)
{
	ssize_t n;
	int err;

	out->vaddr = vaddr;
	err = vaddr_to_offset(ef->elf, vaddr, &out->file_offset);
	if (err)
		return err;
	n = pread(ef->fd, out->bytes, sizeof(out->bytes), out->file_offset);
	if (n < 0)
		return -errno;
	out->nr_bytes = n;
	out->kind = site_kind__classify(out->bytes, out->nr_bytes);
	return 0;
}

/* The ABI argument registers of a function entry. */
static void abi_args(struct elf_site *site)
{
	static const enum emitd_reg regs[] = {
		EMITD_REG_DI, EMITD_REG_SI, EMITD_REG_DX, EMITD_REG_CX, EMITD_REG_R8, EMITD_REG_R9,
	};
	size_t i;

	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		site->args[i].kind = EMITD_LOC_REG;
		site->args[i].reg = regs[i];
		site->args[i].size = -8;
	}
	site->nr_args = i;
}

static bool find_in_symtab(Elf *elf, Elf_Scn *scn, const char *sym, uint64_t *addr)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	GElf_Shdr sh;
	GElf_Sym s;
	size_t i, nr;

	if (!data || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return false;
	nr = sh.sh_size / sh.sh_entsize;
	for (i = 0; i < nr; i++) {
		const char *name;

		if (!gelf_getsym(data, i, &s))
			continue;
		if (GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF)
			continue;
		name = elf_strptr(elf, sh.sh_link, s.st_name);
		if (name && !strcmp(name, sym)) {
			*addr = s.st_value;
			return true;
		}
	}
	return false;
}

int elf_site__find_symbol(const char *path, const char *sym, struct elf_site *out)
{
	struct elf_file ef;
	Elf_Scn *scn = NULL;
	uint64_t addr = 0;
	bool found = false;
	GElf_Shdr sh;
	int err;

	memset(out, 0, sizeof(*out));
	err = elf_file__open(path, &ef);
	if (err)
		return err;
	while (!found && (scn = elf_nextscn(ef.elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM)
			found = find_in_symtab(ef.elf, scn, sym, &addr);
	}
	err = found ? fill_site(&ef, addr, out) : -ENOENT;
	if (!err)
		abi_args(out);
	elf_file__close(&ef);
	return err;
}

static int find_base_addr(Elf *elf, uint64_t *base)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return -ENOEXEC;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (name && !strcmp(name, ".stapsdt.base")) {
			*base = sh.sh_addr;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_site__parse_stapsdt_note(const void *desc, size_t len, struct stapsdt_note *n)
{
	const char *p = desc, *end = p + len, *strs[3];
	size_t l;
	int i;

	memset(n, 0, sizeof(*n));
	if (len < STAPSDT_ADDRS_LEN)
		return -EPROTO;
	for (p += STAPSDT_ADDRS_LEN, i = 0; i < 3; i++) {
		l = strnlen(p, end - p);
		if (l == (size_t)(end - p))
			return -EPROTO;
		strs[i] = p;
		p += l + 1;
	}
	memcpy(&n->pc, desc, 8);
	memcpy(&n->base, (const char *)desc + 8, 8);
	memcpy(&n->sema, (const char *)desc + 16, 8);
	n->provider = strs[0];
	n->name = strs[1];
	n->args = strs[2];
	return 0;
}

static const struct {
	const char *name;
	enum emitd_reg reg;
} x86_regs[] = {
	{ "rax", EMITD_REG_AX }, { "eax", EMITD_REG_AX }, { "ax", EMITD_REG_AX }, { "al", EMITD_REG_AX },
	{ "rbx", EMITD_REG_BX }, { "ebx", EMITD_REG_BX }, { "bx", EMITD_REG_BX }, { "bl", EMITD_REG_BX },
	{ "rcx", EMITD_REG_CX }, { "ecx", EMITD_REG_CX }, { "cx", EMITD_REG_CX }, { "cl", EMITD_REG_CX },
	{ "rdx", EMITD_REG_DX }, { "edx", EMITD_REG_DX }, { "dx", EMITD_REG_DX }, { "dl", EMITD_REG_DX },
	{ "rsi", EMITD_REG_SI }, { "esi", EMITD_REG_SI }, { "si", EMITD_REG_SI }, { "sil", EMITD_REG_SI },
	{ "rdi", EMITD_REG_DI }, { "edi", EMITD_REG_DI }, { "di", EMITD_REG_DI }, { "dil", EMITD_REG_DI },
	{ "rbp", EMITD_REG_BP }, { "ebp", EMITD_REG_BP }, { "bp", EMITD_REG_BP }, { "bpl", EMITD_REG_BP },
	{ "rsp", EMITD_REG_SP }, { "esp", EMITD_REG_SP }, { "sp", EMITD_REG_SP }, { "spl", EMITD_REG_SP },
	{ "rip", EMITD_REG_IP },
};

static int parse_reg(const char *s, size_t len, __u8 *reg)
{
	char name[8];
	size_t i;
	int n;

	if (len == 0 || len >= sizeof(name))
		return -EPROTO;
	memcpy(name, s, len);
	name[len] = '\0';
	for (i = 0; i < sizeof(x86_regs) / sizeof(x86_regs[0]); i++) {
		if (!strcmp(name, x86_regs[i].name)) {
			*reg = x86_regs[i].reg;
			return 0;
		}
	}
	/* r8..r15 and their d/w/b forms */
	if (name[0] == 'r' && sscanf(name + 1, "%d", &n) == 1 && n >= 8 && n <= 15) {
		const char *suffix = name + (n >= 10 ? 3 : 2);

		if (!*suffix || !strcmp(suffix, "d") || !strcmp(suffix, "w") || !strcmp(suffix, "b")) {
			*reg = EMITD_REG_R8 + (n - 8);
			return 0;
		}
	}
	return -EPROTO;
}

/* One operand: "[-]SIZE@OPERAND", OPERAND is %reg, $imm, off(%reg) or (%reg). */
static int usdt_arg__parse(const char *s, size_t len, struct emitd_arg_loc *l)
{
	char buf[64], *at, *end;
	long size, off;

	if (len >= sizeof(buf))
		return -EPROTO;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(l, 0, sizeof(*l));
	size = strtol(buf, &at, 10);
	if (at == buf || *at != '@' || size < -8 || size > 8 ||
	    !(labs(size) == 1 || labs(size) == 2 || labs(size) == 4 || labs(size) == 8))
		return -EPROTO;
	l->size = size;
	at++;
	if (*at == '%') {
		l->kind = EMITD_LOC_REG;
		return parse_reg(at + 1, strlen(at + 1), &l->reg);
	}
	if (*at == '$') {
		l->kind = EMITD_LOC_CONST;
		errno = 0;
		l->imm = strtoll(at + 1, &end, 0);
		return errno || end == at + 1 || *end ? -EPROTO : 0;
	}
	l->kind = EMITD_LOC_REG_DEREF;
	if (*at != '(') {
		/* l->off is a __s32: refuse a displacement it cannot hold */
		errno = 0;
		off = strtol(at, &end, 0);
		if (errno || end == at || *end != '(' || off < INT32_MIN || off > INT32_MAX)
			return -EPROTO;
		l->off = off;
		at = end;
	}
	end = strchr(at, ')');
	if (at[1] != '%' || !end || end[1] || memchr(at, ',', end - at))
		return -EPROTO;
	return parse_reg(at + 2, end - at - 2, &l->reg);
}

int usdt_args__parse(const char *s, struct emitd_arg_loc *out, int max)
{
	int n = 0, err;
	size_t len;

	for (;;) {
		s += strspn(s, " ");
		if (!*s)
			return n;
		if (n == max)
			return -E2BIG;
		len = strcspn(s, " ");
		err = usdt_arg__parse(s, len, &out[n++]);
		if (err)
			return err;
		s += len;
	}
}

static int add_usdt_site(struct elf_file *ef, const struct stapsdt_note *n, uint64_t base_adj,
			 struct elf_site **v, int *nr)
{
	struct elf_site *site, *grown;
	int err;

	grown = realloc(*v, (*nr + 1) * sizeof(**v));
	if (!grown)
		return -ENOMEM;
	*v = grown;
	site = &grown[*nr];
	memset(site, 0, sizeof(*site));
	err = fill_site(ef, n->pc + base_adj, site);
	if (!err && n->sema)
		err = vaddr_to_offset(ef->elf, n->sema + base_adj, &site->sema_offset);
	if (err)
		return err;
	err = usdt_args__parse(n->args, site->args, EMITD_MAX_ARGS);
	if (err < 0)
		return err;
	site->nr_args = err;
	(*nr)++;
	return 0;
}

static int scan_sdt_notes(struct elf_file *ef, const char *provider, const char *name,
			  struct elf_site **v, int *nr)
{
	uint64_t base_sec = 0;
	bool have_base = !find_base_addr(ef->elf, &base_sec);
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int err;

	while ((scn = elf_nextscn(ef->elf, scn))) {
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			struct stapsdt_note n;

			if (nh.n_type != SDT_NOTE_TYPE || nh.n_namesz != sizeof(SDT_NOTE_NAME) ||
			    memcmp((char *)data->d_buf + name_off, SDT_NOTE_NAME, nh.n_namesz))
				continue;
			if (elf_site__parse_stapsdt_note((char *)data->d_buf + desc_off,
							 nh.n_descsz, &n) ||
			    strcmp(n.provider, provider) || strcmp(n.name, name))
				continue;
			/* Prelink may have moved the binary: adjust by the base delta. */
			err = add_usdt_site(ef, &n, have_base && n.base ? base_sec - n.base : 0, v, nr);
			if (err)
				return err;
		}
	}
	return *nr ? 0 : -ENOENT;
}

int elf_site__find_usdt(const char *path, const char *provider, const char *name,
			struct elf_site **out)
{
	struct elf_site *v = NULL;
	struct elf_file ef;
	int err, nr = 0;

	*out = NULL;
	err = elf_file__open(path, &ef);
	if (err)
		return err;
	err = scan_sdt_notes(&ef, provider, name, &v, &nr);
	elf_file__close(&ef);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	return nr;
}

static bool is_push(const uint8_t *b, size_t n)
{
	if (n >= 1 && b[0] >= 0x50 && b[0] <= 0x57)
		return true;
	return n >= 2 && (b[0] == 0x41) && b[1] >= 0x50 && b[1] <= 0x57;
}

static bool is_nop(const uint8_t *b, size_t n)
{
	if (n >= 1 && b[0] == 0x90)
		return true;
	if (n >= 2 && b[0] == 0x66 && b[1] == 0x90)
		return true;
	/* 0f 1f /0: the multi-byte nop family, optionally 66-prefixed */
	if (n >= 3 && b[0] == 0x66 && b[1] == 0x0f && b[2] == 0x1f)
		return true;
	return n >= 2 && b[0] == 0x0f && b[1] == 0x1f;
}

static bool is_branch(const uint8_t *b, size_t n)
{
	if (n < 1)
		return false;
	if (b[0] == 0xe8 || b[0] == 0xe9 || b[0] == 0xeb)
		return true;
	if (b[0] >= 0x70 && b[0] <= 0x7f)
		return true;
	return n >= 2 && b[0] == 0x0f && b[1] >= 0x80 && b[1] <= 0x8f;
}

enum site_kind site_kind__classify(const uint8_t *b, size_t n)
{
	static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

	if (!n)
		return SITE_UNKNOWN;
	if (n >= sizeof(nop5) && !memcmp(b, nop5, sizeof(nop5)))
		return SITE_NOP5;
	if (is_nop(b, n) || is_push(b, n) || is_branch(b, n))
		return SITE_EMULATED;
	return SITE_SINGLE_STEP;
}

const char *site_kind__name(enum site_kind kind)
{
	switch (kind) {
	case SITE_NOP5:
		return "nop5";
	case SITE_EMULATED:
		return "emulated";
	case SITE_SINGLE_STEP:
		return "single-step";
	default:
		return "unknown";
	}
}
