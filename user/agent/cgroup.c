// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cgroup: ids and paths of the cgroup v2 hierarchy (see cgroup.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "agent/cgroup.h"

#define FILEID_KERNFS		0xfe	/* include/linux/exportfs.h: u64 id */
#define NR_BUCKETS		(2 * CGROUP_CACHE_MAX)	/* open addressing, half full at most */

struct cgroup_entry {
	uint64_t id;			/* 0: free */
	char *path;			/* relative, "" for the root */
};

struct cgroups {
	char *root;
	size_t root_len;
	int root_fd;
	struct cgroup_entry *v;		/* NR_BUCKETS */
	size_t nr;
	double last_walk_s;		/* monotonic; < 0: never */
	bool by_handle;			/* open_by_handle_at works: no walks */
	struct cgroups_stats stats;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The mount point of the first cgroup2 filesystem in /proc/self/mountinfo. */
static char *find_root(void)
{
	char line[4096], mnt[PATH_MAX], *sep, *root = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return NULL;
	while (!root && fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source */
		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1)
			root = strdup(mnt);	/* mount points with spaces are octal-escaped */
	}
	fclose(f);
	return root;
}

int cgroups__open(const char *root, struct cgroups **out)
{
	struct cgroups *cg = calloc(1, sizeof(*cg));
	struct statfs sfs;
	int err;

	if (!cg)
		return -ENOMEM;
	cg->root_fd = -1;
	cg->last_walk_s = -1;
	cg->root = root ? strdup(root) : find_root();
	if (!cg->root) {
		err = root ? -ENOMEM : -ENOENT;
		goto out_free;
	}
	cg->root_len = strlen(cg->root);
	while (cg->root_len > 1 && cg->root[cg->root_len - 1] == '/')
		cg->root[--cg->root_len] = '\0';
	cg->v = calloc(NR_BUCKETS, sizeof(*cg->v));
	if (!cg->v) {
		err = -ENOMEM;
		goto out_free;
	}
	cg->root_fd = open(cg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->root_fd < 0) {
		err = -errno;
		goto out_free;
	}
	/* file handles are cgroup ids on cgroup2 only (tests walk a plain tree) */
	cg->by_handle = !fstatfs(cg->root_fd, &sfs) && sfs.f_type == CGROUP2_SUPER_MAGIC;
	*out = cg;
	return 0;

out_free:
	cgroups__free(cg);
	return err;
}

static void cache_clear(struct cgroups *cg)
{
	size_t i;

	for (i = 0; i < NR_BUCKETS; i++) {
		free(cg->v[i].path);
		cg->v[i].path = NULL;
		cg->v[i].id = 0;
	}
	cg->nr = 0;
}

void cgroups__free(struct cgroups *cg)
{
	if (!cg)
		return;
	if (cg->v)
		cache_clear(cg);
	free(cg->v);
	if (cg->root_fd >= 0)
		close(cg->root_fd);
	free(cg->root);
	free(cg);
}

const char *cgroups__root(const struct cgroups *cg)
{
	return cg->root;
}

void cgroups__stats(const struct cgroups *cg, struct cgroups_stats *out)
{
	*out = cg->stats;
}

static size_t bucket_of(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return id % NR_BUCKETS;
}

static struct cgroup_entry *cache_find(struct cgroups *cg, uint64_t id)
{
	size_t i = bucket_of(id);

	while (cg->v[i].id && cg->v[i].id != id)
		i = (i + 1) % NR_BUCKETS;
	return &cg->v[i];
}

/* Remember @id at @rel (relative, "" for the root); a full cache starts again. */
static int cache_put(struct cgroups *cg, uint64_t id, const char *rel)
{
	struct cgroup_entry *e;
	char *p;

	if (!id)
		return 0;
	e = cache_find(cg, id);
	if (e->id) {
		if (!strcmp(e->path, rel))
			return 0;
		p = strdup(rel);	/* the id's cgroup moved (a rename) */
		if (!p)
			return -ENOMEM;
		free(e->path);
		e->path = p;
		return 0;
	}
	if (cg->nr >= CGROUP_CACHE_MAX) {
		cache_clear(cg);
		e = cache_find(cg, id);
	}
	e->path = strdup(rel);
	if (!e->path)
		return -ENOMEM;
	e->id = id;
	cg->nr++;
	return 0;
}

int cgroups__lookup(const struct cgroups *cg, const char *path, uint64_t *id, uint32_t *level)
{
	const char *p = path;
	struct stat st;
	uint32_t n = 0;

	while (*p == '/')
		p++;
	if (fstatat(cg->root_fd, *p ? p : ".", &st, 0))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	for (; *p; p++) {
		if (*p != '/' && (p[1] == '/' || !p[1]))
			n++;	/* the last byte of a component */
	}
	*id = st.st_ino;
	*level = n;
	return 0;
}

/* @id opened by its file handle, its path read back: 0, or -errno. */
static int resolve_by_handle(struct cgroups *cg, uint64_t id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = FILEID_KERNFS } };
	char link[64], path[PATH_MAX];
	ssize_t n;
	int fd, err = 0;

	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(cg->root_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n < 0) {
		err = -errno;
		goto out_close;
	}
	path[n] = '\0';
	if (strncmp(path, cg->root, cg->root_len) ||
	    (path[cg->root_len] && path[cg->root_len] != '/')) {
		err = -ENOENT;	/* outside the mount: another namespace's view */
		goto out_close;
	}
	err = cache_put(cg, id, path[cg->root_len] ? path + cg->root_len + 1 : "");
out_close:
	close(fd);
	return err;
}

struct walk {
	struct cgroups *cg;
	size_t dirs;
	char rel[PATH_MAX];
};

/* The directories below @dfd (whose path is w->rel[0..len)), depth first. */
static int walk_dir(struct walk *w, int dfd, size_t len, int depth)
{
	struct dirent *de;
	struct stat st;
	size_t n;
	int fd, err = 0;
	DIR *d;

	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while (!err && (de = readdir(d)) && w->dirs < CGROUP_WALK_MAX) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = strlen(de->d_name);
		if (len + 1 + n >= sizeof(w->rel))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISDIR(st.st_mode))
			continue;
		w->dirs++;
		snprintf(w->rel + len, sizeof(w->rel) - len, "%s%s", len ? "/" : "", de->d_name);
		err = cache_put(w->cg, st.st_ino, w->rel);
		if (err || depth + 1 >= CGROUP_MAX_DEPTH)
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			err = walk_dir(w, fd, strlen(w->rel), depth + 1);
		w->rel[len] = '\0';
	}
	closedir(d);
	return err;
}

static int walk(struct cgroups *cg)
{
	struct walk *w = calloc(1, sizeof(*w));
	struct stat st;
	int fd, err;

	if (!w)
		return -ENOMEM;
	w->cg = cg;
	cg->last_walk_s = now_s();
	cg->stats.walks++;
	err = fstat(cg->root_fd, &st) ? -errno : cache_put(cg, st.st_ino, "");
	fd = err ? -1 : openat(cg->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		err = walk_dir(w, fd, 0, 0);
	cg->stats.walked_dirs += w->dirs;
	free(w);
	return err;
}

/* A miss: by handle while the kernel lets us, else a walk when one is due. */
static void resolve(struct cgroups *cg, uint64_t id)
{
	int err;

	if (cg->by_handle) {
		err = resolve_by_handle(cg, id);
		if (!err) {
			cg->stats.by_handle++;
			return;
		}
		if (err != -EPERM && err != -EOPNOTSUPP && err != -EINVAL && err != -ENOSYS)
			return;	/* ESTALE: the cgroup is gone; a walk would not find it */
		cg->by_handle = false;
	}
	if (cg->last_walk_s < 0 || now_s() - cg->last_walk_s >= CGROUP_WALK_EVERY_MS / 1000.0)
		walk(cg);
}

int cgroups__path(struct cgroups *cg, uint64_t id, char *buf, size_t size)
{
	struct cgroup_entry *e = cache_find(cg, id);
	int n;

	if (!id)
		return -ENOENT;
	if (e->id)
		cg->stats.hits++;
	else
		resolve(cg, id);
	e = cache_find(cg, id);
	if (!e->id) {
		cg->stats.unresolved++;
		return -ENOENT;
	}
	n = snprintf(buf, size, "/%s", e->path);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int cgroups__path_cb(void *cg, uint64_t id, char *buf, size_t size)
{
	return cgroups__path(cg, id, buf, size);
}
