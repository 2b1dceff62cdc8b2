// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probe-site lookup with libelf: symbols from .symtab/.dynsym, USDT probes
 * from .note.stapsdt (the systemtap SDT note layout).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "elf_site.h"

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
		out->nr_sites = 1;
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

/*
 * One stapsdt note: desc = pc, base, semaphore (3 addresses), then the
 * NUL-terminated provider, name and argument strings.
 */
static bool sdt_note_matches(const char *desc, size_t len, const char *provider,
			     const char *name, uint64_t *pc, uint64_t *base)
{
	const char *prov = desc + 24, *nm;
	size_t plen;

	if (len < 24 + 2)
		return false;
	memcpy(pc, desc, 8);
	memcpy(base, desc + 8, 8);
	plen = strnlen(prov, len - 24);
	if (plen == len - 24)
		return false;
	nm = prov + plen + 1;
	if ((size_t)(nm - desc) >= len || strnlen(nm, len - (nm - desc)) == len - (size_t)(nm - desc))
		return false;
	return !strcmp(prov, provider) && !strcmp(nm, name);
}

static int scan_sdt_notes(Elf *elf, const char *provider, const char *name,
			  uint64_t *first_pc, uint64_t *note_base, int *nr)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	*nr = 0;
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			uint64_t pc, base;

			if (nh.n_type != SDT_NOTE_TYPE || nh.n_namesz != sizeof(SDT_NOTE_NAME) ||
			    memcmp((char *)data->d_buf + name_off, SDT_NOTE_NAME, nh.n_namesz))
				continue;
			if (!sdt_note_matches((char *)data->d_buf + desc_off, nh.n_descsz,
					      provider, name, &pc, &base))
				continue;
			if (!(*nr)++) {
				*first_pc = pc;
				*note_base = base;
			}
		}
	}
	return *nr ? 0 : -ENOENT;
}

int elf_site__find_usdt(const char *path, const char *provider, const char *name,
			struct elf_site *out)
{
	uint64_t pc = 0, note_base = 0, base;
	struct elf_file ef;
	int err, nr;

	memset(out, 0, sizeof(*out));
	err = elf_file__open(path, &ef);
	if (err)
		return err;
	err = scan_sdt_notes(ef.elf, provider, name, &pc, &note_base, &nr);
	if (err)
		goto out;
	/* Prelink may have moved the binary: adjust by the .stapsdt.base delta. */
	if (note_base && !find_base_addr(ef.elf, &base))
		pc += base - note_base;
	err = fill_site(&ef, pc, out);
	out->nr_sites = nr;
out:
	elf_file__close(&ef);
	return err;
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
