// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probe-site lookup with libelf: symbols from .symtab/.dynsym, USDT probes
 * from .note.stapsdt (the systemtap SDT note layout), operands decoded one by
 * one, memory at a data symbol read relative to the probed instruction.
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

/* One operand, split: "[-]SIZE@" then %reg, $imm, or DISP(%reg), DISP. */
struct usdt_operand_parts {
	long size;
	enum emitd_loc_kind kind;
	__u8 reg;		/* LOC_REG, or the base of a memory operand */
	bool has_base;		/* memory operand: (%reg) given */
	long long imm;		/* LOC_CONST */
	long long num;		/* memory operand: the sum of its numbers */
	char sym[USDT_OPERAND_TEXT];	/* memory operand: its symbol, "" for none */
};

static bool is_sym_start(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '.';
}

static bool is_sym_char(char ch)
{
	return is_sym_start(ch) || (ch >= '0' && ch <= '9') || ch == '$';
}

/*
 * A displacement: numbers and at most one symbol, joined by + and -
 * ("-16", "NBuffers", "40+CheckpointStats", "CheckpointStats+40"); stops at
 * '(' or the end. A symbol may not be subtracted.
 */
static int parse_disp(const char *s, const char **endp, struct usdt_operand_parts *p)
{
	bool neg = false, first = true;
	long long v;
	char *end;
	size_t n;

	while (*s && *s != '(') {
		if (*s == '+' || *s == '-') {
			neg = *s == '-';
			s++;
		} else if (!first) {
			return -EPROTO;
		}
		first = false;
		if (is_sym_start(*s)) {
			n = 1;
			while (is_sym_char(s[n]))
				n++;
			if (neg || p->sym[0] || n >= sizeof(p->sym))
				return -EPROTO;
			memcpy(p->sym, s, n);
			p->sym[n] = '\0';
			s += n;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -EPROTO;
		errno = 0;
		v = strtoll(s, &end, 0);
		if (errno || __builtin_add_overflow(p->num, neg ? -v : v, &p->num))
			return -ERANGE;
		s = end;
	}
	*endp = s;
	return 0;
}

static int parse_operand(const char *text, struct usdt_operand_parts *p)
{
	const char *at, *close;
	char *end;
	int err;

	memset(p, 0, sizeof(*p));
	errno = 0;
	p->size = strtol(text, &end, 10);
	if (errno || end == text || *end != '@' || p->size < -8 || p->size > 8 ||
	    !(labs(p->size) == 1 || labs(p->size) == 2 ||
						      labs(p->size) == 4 || labs(p->size) == 8))
		return -EPROTO;
	at = end + 1;
	if (*at == '%') {
		p->kind = EMITD_LOC_REG;
		return parse_reg(at + 1, strlen(at + 1), &p->reg);
	}
	if (*at == '$') {
		p->kind = EMITD_LOC_CONST;
		errno = 0;
		p->imm = strtoll(at + 1, &end, 0);
		return errno || end == at + 1 || *end ? -EPROTO : 0;
	}
	p->kind = EMITD_LOC_REG_DEREF;
	err = parse_disp(at, &at, p);
	if (err)
		return err;
	if (!*at)			/* a bare SYM: memory at the symbol */
		return p->sym[0] ? 0 : -EPROTO;
	close = strchr(at, ')');
	if (at[1] != '%' || !close || close[1] || memchr(at, ',', close - at))
		return -EPROTO;
	p->has_base = true;
	return parse_reg(at + 2, close - at - 2, &p->reg);
}

/* Decode one operand of a site at @site_vaddr into @l. */
static int usdt_arg__decode(const char *text, uint64_t site_vaddr, const struct usdt_syms *syms,
			    struct emitd_arg_loc *l)
{
	struct usdt_operand_parts p;
	uint64_t addr;
	long long off;
	int err;

	memset(l, 0, sizeof(*l));
	err = parse_operand(text, &p);
	if (err)
		return err;
	l->size = p.size;
	l->reg = p.reg;
	l->imm = p.imm;
	off = p.num;
	if (p.kind == EMITD_LOC_REG_DEREF && p.sym[0]) {
		/* Only the instruction pointer makes a symbol a fixed distance away. */
		if (p.has_base && p.reg != EMITD_REG_IP)
			return -EPROTO;
		if (!syms)
			return -ENOENT;
		err = syms->resolve(syms->arg, p.sym, &addr);
		if (err)
			return err;
		if (__builtin_add_overflow((long long)(addr - site_vaddr), p.num, &off))
			return -ERANGE;
		l->reg = EMITD_REG_IP;
	}
	if (off < INT32_MIN || off > INT32_MAX)
		return -ERANGE;
	l->off = off;
	l->kind = p.kind;
	return 0;
}

/*
 * The operand's text for messages, cut to fit with "...": a note is input,
 * so bytes outside printable ASCII become '?'.
 */
static void operand_text(struct usdt_operand *op, const char *s, size_t len)
{
	size_t n = len < sizeof(op->text) ? len : sizeof(op->text) - 4, i;

	for (i = 0; i < n; i++)
		op->text[i] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
	strcpy(op->text + n, len < sizeof(op->text) ? "" : "...");
}

int usdt_args__decode(const char *s, uint64_t site_vaddr, const struct usdt_syms *syms,
		      struct elf_site *site)
{
	char buf[2 * USDT_OPERAND_TEXT];
	struct usdt_operand *op;
	int n = 0;
	size_t len;

	memset(site->args, 0, sizeof(site->args));
	memset(site->ops, 0, sizeof(site->ops));
	for (;; s += len, n++) {
		s += strspn(s, " ");
		if (!*s)
			break;
		len = strcspn(s, " ");
		if (n >= EMITD_MAX_ARGS)
			continue;
		op = &site->ops[n];
		operand_text(op, s, len);
		if (len >= sizeof(buf)) {
			op->err = -EPROTO;
			continue;
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		op->err = usdt_arg__decode(buf, site_vaddr, syms, &site->args[n]);
		if (op->err)
			memset(&site->args[n], 0, sizeof(site->args[n]));
	}
	site->nr_args = n < EMITD_MAX_ARGS ? n : EMITD_MAX_ARGS;
	return n;
}

int usdt_args__parse(const char *s, struct emitd_arg_loc *out, int max)
{
	struct elf_site site;
	int n, i;

	n = usdt_args__decode(s, 0, NULL, &site);
	for (i = 0; i < n && i < max && i < EMITD_MAX_ARGS; i++) {
		if (site.ops[i].err)
			return site.ops[i].err == -ENOENT ? -EPROTO : site.ops[i].err;
		out[i] = site.args[i];
	}
	return n > max ? -E2BIG : n;
}

const char *usdt_operand__why(const struct elf_site *site, int i, char *buf, size_t size)
{
	struct usdt_operand_parts p;
	const char *text = i >= 0 && i < EMITD_MAX_ARGS ? site->ops[i].text : "";

	parse_operand(text, &p);
	switch (i >= 0 && i < site->nr_args ? site->ops[i].err : -EINVAL) {
	case 0:
		snprintf(buf, size, "decodable");
		break;
	case -ENOENT:
		snprintf(buf, size, "symbol %s not found in .symtab or .dynsym", p.sym);
		break;
	case -ENOTUNIQ:
		snprintf(buf, size, "symbol %s is defined more than once, at different addresses",
			 p.sym);
		break;
	case -ERANGE:
		snprintf(buf, size, "the address is more than 2 GiB away from the probe site");
		break;
	case -EPROTO:
		snprintf(buf, size, "emitd cannot decode this operand (it reads %%reg, $imm, "
			 "OFF(%%reg), SYM(%%rip) and OFF+SYM(%%rip))");
		break;
	default:
		snprintf(buf, size, "no such operand");
		break;
	}
	return buf;
}

/* ---- data symbols, for operands at a symbol ---- */

static bool is_data_sym(const GElf_Sym *s)
{
	int type = GELF_ST_TYPE(s->st_info);

	if (s->st_shndx == SHN_UNDEF || s->st_shndx == SHN_ABS)
		return false;
	return type == STT_OBJECT || type == STT_NOTYPE || type == STT_FUNC ||
	       type == STT_COMMON;
}

/* @name in one symbol table: 0, -ENOENT, or -ENOTUNIQ for two addresses. */
static int table_lookup(Elf *elf, Elf_Scn *scn, const char *name, uint64_t *vaddr)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	bool found = false;
	GElf_Shdr sh;
	GElf_Sym s;
	size_t i, nr;

	if (!data || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return -ENOENT;
	nr = sh.sh_size / sh.sh_entsize;
	for (i = 0; i < nr; i++) {
		const char *sname;

		if (!gelf_getsym(data, i, &s) || !is_data_sym(&s))
			continue;
		sname = elf_strptr(elf, sh.sh_link, s.st_name);
		if (!sname || strcmp(sname, name))
			continue;
		if (found && s.st_value != *vaddr)
			return -ENOTUNIQ;
		found = true;
		*vaddr = s.st_value;
	}
	return found ? 0 : -ENOENT;
}

/* The first table of @type in @elf, or NULL. */
static Elf_Scn *find_table(Elf *elf, Elf64_Word type)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == type)
			return scn;
	return NULL;
}

/* struct usdt_syms.resolve over an ELF file: .symtab, else .dynsym. */
static int resolve_data_sym(void *arg, const char *name, uint64_t *vaddr)
{
	struct elf_file *ef = arg;
	Elf_Scn *scn;
	int err = -ENOENT;

	scn = find_table(ef->elf, SHT_SYMTAB);
	if (scn)
		err = table_lookup(ef->elf, scn, name, vaddr);
	if (err != -ENOENT)
		return err;
	scn = find_table(ef->elf, SHT_DYNSYM);
	return scn ? table_lookup(ef->elf, scn, name, vaddr) : -ENOENT;
}

/* ---- USDT notes ---- */

static int usdt_site__fill(struct elf_file *ef, const struct stapsdt_note *n, uint64_t base_adj,
			   struct elf_site *site)
{
	const struct usdt_syms syms = { .resolve = resolve_data_sym, .arg = ef };
	int err;

	memset(site, 0, sizeof(*site));
	err = fill_site(ef, n->pc + base_adj, site);
	if (!err && n->sema)
		err = vaddr_to_offset(ef->elf, n->sema + base_adj, &site->sema_offset);
	if (err)
		return err;
	usdt_args__decode(n->args, site->vaddr, &syms, site);
	return 0;
}

/* Every note of @provider:@name (NULL: any) to @fn, its site filled. */
static int walk_sdt_notes(struct elf_file *ef, const char *provider, const char *name,
			  elf_usdt_fn fn, void *arg)
{
	uint64_t base_sec = 0;
	bool have_base = !find_base_addr(ef->elf, &base_sec);
	struct elf_site site;
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
			    (provider && strcmp(n.provider, provider)) ||
			    (name && strcmp(n.name, name)))
				continue;
			/* Prelink may have moved the binary: adjust by the base delta. */
			err = usdt_site__fill(ef, &n, have_base && n.base ? base_sec - n.base : 0,
					      &site);
			if (!err)
				err = fn(n.provider, n.name, &site, arg);
			if (err)
				return err;
		}
	}
	return 0;
}

struct site_vec {
	struct elf_site *v;
	int nr;
};

static int site_vec__add(const char *provider, const char *name, const struct elf_site *site,
			 void *arg)
{
	struct site_vec *sv = arg;
	struct elf_site *grown;

	(void)provider;
	(void)name;
	grown = realloc(sv->v, (sv->nr + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	sv->v = grown;
	grown[sv->nr++] = *site;
	return 0;
}

int elf_site__find_usdt(const char *path, const char *provider, const char *name,
			struct elf_site **out)
{
	struct site_vec sv = { NULL, 0 };
	struct elf_file ef;
	int err;

	*out = NULL;
	err = elf_file__open(path, &ef);
	if (err)
		return err;
	err = walk_sdt_notes(&ef, provider, name, site_vec__add, &sv);
	elf_file__close(&ef);
	if (!err && !sv.nr)
		err = -ENOENT;
	if (err) {
		free(sv.v);
		return err;
	}
	*out = sv.v;
	return sv.nr;
}

int elf_site__for_each_usdt(const char *path, elf_usdt_fn fn, void *arg)
{
	struct elf_file ef;
	int err;

	err = elf_file__open(path, &ef);
	if (err)
		return err;
	err = walk_sdt_notes(&ef, NULL, NULL, fn, arg);
	elf_file__close(&ef);
	return err;
}

/* ---- function symbols ---- */

static int walk_functions(struct elf_file *ef, Elf_Scn *scn, elf_func_fn fn, void *arg)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	struct elf_site site;
	GElf_Shdr sh;
	GElf_Sym s;
	size_t i, nr;
	int err;

	if (!data || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return 0;
	nr = sh.sh_size / sh.sh_entsize;
	for (i = 0; i < nr; i++) {
		const char *name;

		if (!gelf_getsym(data, i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
		    s.st_shndx == SHN_UNDEF)
			continue;
		name = elf_strptr(ef->elf, sh.sh_link, s.st_name);
		if (!name || !*name)
			continue;
		memset(&site, 0, sizeof(site));
		if (fill_site(ef, s.st_value, &site))
			continue;	/* not in a section with file bytes */
		abi_args(&site);
		err = fn(name, &site, arg);
		if (err)
			return err;
	}
	return 0;
}

int elf_site__for_each_function(const char *path, elf_func_fn fn, void *arg)
{
	struct elf_file ef;
	Elf_Scn *scn;
	int err;

	err = elf_file__open(path, &ef);
	if (err)
		return err;
	scn = find_table(ef.elf, SHT_SYMTAB);
	if (!scn)
		scn = find_table(ef.elf, SHT_DYNSYM);
	err = scn ? walk_functions(&ef, scn, fn, arg) : 0;
	elf_file__close(&ef);
	return err;
}

/* ---- site kinds ---- */

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
