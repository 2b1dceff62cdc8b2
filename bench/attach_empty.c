// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The benchmark's floor: attach emitd's empty BPF program to a probe site and
 * hold it until SIGINT/SIGTERM.
 *
 *   attach_empty BINARY sym FUNCTION
 *   attach_empty BINARY usdt PROVIDER NAME
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "agent/elf_site.h"
#include "emit.skel.h"

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

int main(int argc, char **argv)
{
	struct bpf_link *link = NULL;
	struct emit_bpf *skel;
	struct elf_site site, *sites = NULL;
	struct bpf_map *map;
	int err;

	if (argc < 4 || (!strcmp(argv[2], "usdt") && argc != 5)) {
		fprintf(stderr, "usage: %s BINARY sym FUNC | BINARY usdt PROVIDER NAME\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[2], "usdt")) {
		err = elf_site__find_usdt(argv[1], argv[3], argv[4], &sites);
		if (err > 0) {
			site = sites[0];	/* the benchmark's probe has one site */
			err = 0;
		}
		free(sites);
	} else {
		err = elf_site__find_symbol(argv[1], argv[3], &site);
	}
	if (err) {
		fprintf(stderr, "attach_empty: %s: site not found: %s\n", argv[1], strerror(-err));
		return 1;
	}
	skel = emit_bpf__open();
	if (!skel)
		return 1;
	/* Nothing is pinned here: the floor must not touch emitd's pinned maps. */
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	err = emit_bpf__load(skel);
	if (!err) {
		link = bpf_program__attach_uprobe(skel->progs.emitd_empty, false, -1, argv[1],
						  site.file_offset);
		err = link ? 0 : -errno;
	}
	if (err) {
		fprintf(stderr, "attach_empty: %s\n", strerror(-err));
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached at 0x%llx (%s)\n", (unsigned long long)site.file_offset,
	       site_kind__name(site.kind));
	fflush(stdout);
	while (!exiting)
		pause();
out:
	bpf_link__destroy(link);
	emit_bpf__destroy(skel);
	return err ? 1 : 0;
}
