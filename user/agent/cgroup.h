/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cgroup: the cgroup v2 hierarchy as the agent sees it, for the `cgroup`
 * label source and the targets' `cgroup:` filter.
 *
 * On cgroup v2 a cgroup's id (what bpf_get_current_cgroup_id() returns) is
 * the inode number of its directory, and also the 8-byte file handle of
 * that directory (name_to_handle_at, FILEID_KERNFS). So:
 *
 * - a path is resolved to its id and depth by stat() (cgroups__lookup());
 * - an id is resolved to its path (cgroups__path()) through a cache; on a
 *   miss, open_by_handle_at() of the id opens the directory, whose path
 *   /proc/self/fd gives (this needs CAP_DAC_READ_SEARCH); where that is
 *   refused, a walk of the hierarchy fills the cache, bounded by
 *   CGROUP_WALK_MAX directories and CGROUP_MAX_DEPTH levels, and at most
 *   one walk every CGROUP_WALK_EVERY_MS. An id found neither way (a cgroup
 *   removed before its first event was drained, one outside the agent's
 *   cgroup namespace) is unresolved: the store renders its number.
 *
 * The cache holds at most CGROUP_CACHE_MAX ids and starts again empty when
 * full. Not thread-safe: the drain thread alone uses it.
 */
#ifndef EMITD_AGENT_CGROUP_H
#define EMITD_AGENT_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CGROUP_CACHE_MAX	16384
#define CGROUP_WALK_MAX		16384
#define CGROUP_MAX_DEPTH	32
#define CGROUP_WALK_EVERY_MS	1000

struct cgroups;

/*
 * The hierarchy mounted at @root, or (NULL) the first cgroup2 mount of
 * /proc/self/mountinfo. -ENOENT when there is none (cgroup v1 only).
 */
int cgroups__open(const char *root, struct cgroups **out);
void cgroups__free(struct cgroups *cg);
const char *cgroups__root(const struct cgroups *cg);

/*
 * The id and depth (the root's is 0) of the cgroup at @path, relative to
 * the root. 0, or -ENOENT (no such cgroup), -ENOTDIR, another -errno.
 */
int cgroups__lookup(const struct cgroups *cg, const char *path, uint64_t *id, uint32_t *level);

/*
 * The path of cgroup @id, relative to the root and with a leading '/' as
 * /proc/PID/cgroup shows it ("/" for the root), into @buf of @size bytes:
 * 0, or -ENOENT when unresolved, -ENAMETOOLONG.
 */
int cgroups__path(struct cgroups *cg, uint64_t id, char *buf, size_t size);

/* cgroups__path() for a callback that takes the resolver as void * (the store's). */
int cgroups__path_cb(void *cg, uint64_t id, char *buf, size_t size);

/* What the resolver did, for tests and the log. */
struct cgroups_stats {
	uint64_t hits, by_handle, walks, walked_dirs, unresolved;
};

void cgroups__stats(const struct cgroups *cg, struct cgroups_stats *out);

#endif /* EMITD_AGENT_CGROUP_H */
