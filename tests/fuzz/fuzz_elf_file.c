// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A probed binary, any bytes: elf_site__find_usdt() and
 * elf_site__find_symbol() on a file holding them, as the agent (root) runs
 * them on whatever binary a spec or a --pid names.
 *
 * Input: "provider\0name\0symbol\0" then the file's bytes (the seeds are
 * small ELF executables with USDT notes, tests/fuzz/make_corpus.py). The file
 * is a memfd, reached by its /proc/self/fd path.
 *
 * Invariants: no crash, no out-of-bounds read or leak (libelf's or ours);
 * the result is a site count with that many sites, or a negative errno and
 * no array; every site's instruction bytes are at most ELF_SITE_BYTES, its
 * operands at most EMITD_MAX_ARGS, a symbol has the six ABI registers.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/elf_site.h"
#include "fuzz.h"

static int fd = -1;

static void write_file(const uint8_t *data, size_t size)
{
	if (fd < 0)
		fd = memfd_create("fuzz_elf_file", MFD_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(ftruncate(fd, 0) == 0);
	FUZZ_ASSERT(pwrite(fd, data, size, 0) == (ssize_t)size);
}

static void check_site(const struct elf_site *s)
{
	FUZZ_ASSERT(s->nr_bytes <= ELF_SITE_BYTES);
	FUZZ_ASSERT(s->nr_args >= 0 && s->nr_args <= EMITD_MAX_ARGS);
	FUZZ_ASSERT(s->kind == site_kind__classify(s->bytes, s->nr_bytes));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	char *provider = fuzz_in__str(&in, 64);
	char *name = fuzz_in__str(&in, 64);
	char *symbol = fuzz_in__str(&in, 64);
	struct elf_site *sites = NULL, site;
	char path[64];
	int n, i;

	write_file(in.p, in.left);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	n = elf_site__find_usdt(path, provider, name, &sites);
	if (n < 0) {
		FUZZ_ASSERT(!sites);
		FUZZ_ASSERT(n == -ENOENT || n == -ENOEXEC || n == -EPROTO || n == -E2BIG ||
			    n == -ENOMEM || n == -EINVAL);
	} else {
		FUZZ_ASSERT(n > 0 && sites);
		for (i = 0; i < n; i++)
			check_site(&sites[i]);
	}
	free(sites);

	n = elf_site__find_symbol(path, symbol, &site);
	FUZZ_ASSERT(n == 0 || n == -ENOENT || n == -ENOEXEC || n == -EINVAL);
	if (!n) {
		check_site(&site);
		FUZZ_ASSERT(site.nr_args == 6);
	}
	free(provider);
	free(name);
	free(symbol);
	return 0;
}
