// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `emitd detach [--pin-root DIR] [--purge]`: the explicit teardown. An
 * agent that exits leaves its probe links pinned and counting; this removes
 * every link under DIR/links (the kernel detaches a link when its last pin
 * and descriptor go) and clears what they were (`sites`), so the next agent
 * attaches afresh. The maps stay, with their counts, unless --purge removes
 * the pin root whole. Run it with no agent on that pin root: a running
 * agent holds its links open and attaches what is missing at its reload.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/detach.h"
#include "emitd.h"
#include "lib/log.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: emitd detach [--pin-root DIR] [--purge]   (default %s)\n"
		"  --pin-root DIR  the agent's pin root\n"
		"  --purge         remove the maps and the pin root too\n", EMITD_PIN_ROOT);
}

/* 0 to go on, 1 when --help printed the usage, -EINVAL on a usage error. */
static int parse(int argc, char **argv, const char **root, bool *purge)
{
	static const struct option opts[] = {
		{ "pin-root", required_argument, NULL, 'p' },
		{ "purge", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			*root = optarg;
			break;
		case 'P':
			*purge = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
			log_err("detach: %s needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			log_err("detach: unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind == argc)
		return 0;
	log_err("detach: unexpected argument '%s'", argv[optind]);
	return -EINVAL;
}

/* Unpin and close one link: the last reference, unless an agent holds it. */
static int detach_link(const char *path)
{
	struct bpf_link *l = bpf_link__open(path);
	int err;

	if (!l) {
		err = -errno;
		log_err("%s: not a BPF link: %s", path, strerror(-err));
		return err;
	}
	err = bpf_link__unpin(l);
	bpf_link__destroy(l);
	if (err)
		log_err("%s: cannot unpin: %s", path, strerror(-err));
	return err;
}

static int detach_links(const char *root, int *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	int err = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/" EMITD_LINKS_DIR, root);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (detach_link(path))
			err = -EIO;
		else
			(*n)++;
	}
	closedir(d);
	return err;
}

/* What the links were: a next agent attaches every site anew. */
static void clear_sites(const char *root)
{
	struct emitd_site none = {};
	char path[PATH_MAX];
	__u32 id;
	int fd;

	snprintf(path, sizeof(path), "%s/sites", root);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	for (id = 0; id < EMITD_MAX_PROBES; id++)
		bpf_map_update_elem(fd, &id, &none, BPF_ANY);
	close(fd);
}

/* Every pin under @dir, then @dir. */
static int remove_tree(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	struct stat st;
	int err = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!lstat(path, &st) && S_ISDIR(st.st_mode))
			err = remove_tree(path) ?: err;
		else if (unlink(path))
			err = -errno;
	}
	closedir(d);
	if (rmdir(dir))
		err = -errno;
	return err;
}

int detach__main(int argc, char **argv)
{
	const char *root = EMITD_PIN_ROOT;
	bool purge = false;
	struct stat st;
	int n = 0, err;

	err = parse(argc, argv, &root, &purge);
	if (err) {
		if (err < 0)
			usage(stderr);
		return err < 0 ? 2 : 0;
	}
	if (stat(root, &st)) {
		log_err("detach: %s: %s", root, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("detach: %s: not a pin root (not a directory)", root);
		return 1;
	}
	err = detach_links(root, &n);
	clear_sites(root);
	log_info("detached %d probe link%s from %s", n, n == 1 ? "" : "s", root);
	if (err)
		return 1;
	if (!purge)
		return 0;
	err = remove_tree(root);
	if (err) {
		log_err("detach: cannot remove %s: %s", root, strerror(-err));
		return 1;
	}
	log_info("removed %s and the maps pinned there", root);
	return 0;
}
