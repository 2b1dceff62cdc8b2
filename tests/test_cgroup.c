// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cgroup: a path's id and depth, an id's path, on a plain directory tree
 * standing in for cgroupfs (a cgroup's id is its directory's inode number,
 * as on cgroup v2; file handles are not ids there, so ids are found by the
 * bounded walk): hits, misses, the walk's rate and depth bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cgroup.h"

struct fixture {
	char root[64];
	struct cgroups *cg;
};

static void mkdir_at(const struct fixture *f, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static uint64_t ino_of(const struct fixture *f, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char file[PATH_MAX];
	FILE *fp;

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/emitd-test-cgroup-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	mkdir_at(f, "system.slice");
	mkdir_at(f, "system.slice/pg.service");
	mkdir_at(f, "user.slice");
	snprintf(file, sizeof(file), "%s/system.slice/cgroup.procs", f->root);
	fp = fopen(file, "w");
	if (!fp)
		return -1;
	fclose(fp);
	if (cgroups__open(f->root, &f->cg))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	cgroups__free(f->cg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

static void test_lookup(void **state)
{
	struct fixture *f = *state;
	uint32_t level = 99;
	uint64_t id = 0;

	assert_int_equal(cgroups__lookup(f->cg, "system.slice/pg.service", &id, &level), 0);
	assert_int_equal(id, ino_of(f, "system.slice/pg.service"));
	assert_int_equal(level, 2);
	assert_int_equal(cgroups__lookup(f->cg, "/user.slice", &id, &level), 0);
	assert_int_equal(level, 1);
	assert_int_equal(cgroups__lookup(f->cg, "", &id, &level), 0);	/* the root */
	assert_int_equal(level, 0);
	assert_int_equal(id, ino_of(f, "."));
	assert_int_equal(cgroups__lookup(f->cg, "nope", &id, &level), -ENOENT);
	assert_int_equal(cgroups__lookup(f->cg, "system.slice/cgroup.procs", &id, &level),
			 -ENOTDIR);
	assert_string_equal(cgroups__root(f->cg), f->root);
}

static void test_path_by_walk(void **state)
{
	struct fixture *f = *state;
	struct cgroups_stats st;
	char buf[256];

	assert_int_equal(cgroups__path(f->cg, ino_of(f, "system.slice/pg.service"), buf,
				       sizeof(buf)), 0);
	assert_string_equal(buf, "/system.slice/pg.service");
	assert_int_equal(cgroups__path(f->cg, ino_of(f, "."), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/");
	assert_int_equal(cgroups__path(f->cg, ino_of(f, "user.slice"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/user.slice");
	cgroups__stats(f->cg, &st);
	assert_int_equal(st.walks, 1);		/* one walk found them all */
	assert_int_equal(st.walked_dirs, 3);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.by_handle, 0);	/* not cgroupfs: no file handles */
	assert_int_equal(cgroups__path(f->cg, ino_of(f, "user.slice"), buf, 5), -ENAMETOOLONG);
	assert_int_equal(cgroups__path(f->cg, 0, buf, sizeof(buf)), -ENOENT);
}

/* A miss walks at most once every CGROUP_WALK_EVERY_MS: a cgroup made just after is unresolved. */
static void test_walks_are_rate_limited(void **state)
{
	struct fixture *f = *state;
	struct cgroups_stats st;
	char buf[256];

	assert_int_equal(cgroups__path(f->cg, ino_of(f, "user.slice"), buf, sizeof(buf)), 0);
	mkdir_at(f, "user.slice/late");
	assert_int_equal(cgroups__path(f->cg, ino_of(f, "user.slice/late"), buf, sizeof(buf)),
			 -ENOENT);
	cgroups__stats(f->cg, &st);
	assert_int_equal(st.walks, 1);
	assert_int_equal(st.unresolved, 1);
	usleep((CGROUP_WALK_EVERY_MS + 50) * 1000);
	assert_int_equal(cgroups__path(f->cg, ino_of(f, "user.slice/late"), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/user.slice/late");
	cgroups__stats(f->cg, &st);
	assert_int_equal(st.walks, 2);
}

/* Cgroups deeper than CGROUP_MAX_DEPTH are not walked to. */
static void test_walk_depth_bound(void **state)
{
	struct fixture *f = *state;
	char rel[PATH_MAX] = "d", buf[PATH_MAX];
	uint64_t at_bound = 0;
	int level;

	mkdir_at(f, rel);
	for (level = 2; level <= CGROUP_MAX_DEPTH + 1; level++) {
		strcat(rel, "/d");
		mkdir_at(f, rel);
		if (level == CGROUP_MAX_DEPTH)
			at_bound = ino_of(f, rel);
	}
	assert_int_equal(cgroups__path(f->cg, at_bound, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 2 * CGROUP_MAX_DEPTH);	/* "/d" per level */
	assert_int_equal(cgroups__path(f->cg, ino_of(f, rel), buf, sizeof(buf)), -ENOENT);
}

static void test_open_errors(void **state)
{
	struct cgroups *cg = NULL;

	(void)state;
	assert_int_equal(cgroups__open("/nonexistent/emitd-cgroup", &cg), -ENOENT);
	assert_null(cg);
}

#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_lookup),
		T(test_path_by_walk),
		T(test_walks_are_rate_limited),
		T(test_walk_depth_bound),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
