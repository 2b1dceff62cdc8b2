// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fileio: the atomic replace (content, mode, fsync of the file and of its
 * directory, nothing left on failure) and the whole-file reads (limits, the
 * head of an overlong pipe, what is not a regular file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/fileio.h"

/* fsync() counted: the executable's definition is the one libemitd.a links to. */
static unsigned int nr_fsync;

int fsync(int fd)
{
	nr_fsync++;
	return (int)syscall(SYS_fsync, fd);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	char *dir = strdup("/tmp/emitd-test-fileio-XXXXXX");

	if (!dir || !mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static size_t nr_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void assert_content(const char *path, const char *want)
{
	char *buf;
	size_t len;

	assert_int_equal(fileio__read_file(path, 1 << 20, &buf, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_string_equal(buf, want);
	free(buf);
}

static void test_replace_new_file(void **state)
{
	char *path = path_in(*state, "a.txt");
	struct stat st;
	mode_t old = umask(077);

	nr_fsync = 0;
	assert_int_equal(fileio__replace_buf(path, "hello\n", 6), 0);
	umask(old);
	assert_content(path, "hello\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* the data, then the directory that holds the rename */
	assert_int_equal(nr_fsync, 2);
	assert_int_equal(nr_entries(*state), 1);
	free(path);
}

static void test_replace_keeps_mode(void **state)
{
	char *path = path_in(*state, "b.txt");
	struct stat st;

	assert_int_equal(fileio__replace_buf(path, "one", 3), 0);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(fileio__replace_buf(path, "two", 3), 0);
	assert_content(path, "two");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	free(path);
}

static int write_then_fail(int fd, void *arg)
{
	(void)arg;
	assert_int_equal(fileio__write_all(fd, "partial", 7), 0);
	return -EIO;
}

/* A failed write leaves the old file and no temporary one. */
static void test_replace_failure_keeps_old(void **state)
{
	char *path = path_in(*state, "c.txt"), *missing = path_in(*state, "no/such/file");

	assert_int_equal(fileio__replace_buf(path, "old", 3), 0);
	assert_int_equal(fileio__replace(path, write_then_fail, NULL), -EIO);
	assert_content(path, "old");
	assert_int_equal(nr_entries(*state), 1);
	assert_int_equal(fileio__replace_buf(missing, "x", 1), -ENOENT);
	assert_int_equal(fileio__replace_buf("", "x", 1), -EINVAL);
	free(missing);
	free(path);
}

/* A pipe holding @n bytes of 'x', read with @max and @flags. */
static int read_pipe(size_t n, size_t max, unsigned int flags, char **out, size_t *len)
{
	char chunk[1024];
	int fds[2], err;
	size_t k;

	memset(chunk, 'x', sizeof(chunk));
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) >= (int)n, 1);
	for (k = 0; k < n; k += sizeof(chunk))
		assert_int_equal(fileio__write_all(fds[1], chunk,
						   n - k < sizeof(chunk) ? n - k : sizeof(chunk)), 0);
	close(fds[1]);
	err = fileio__read_fd(fds[0], max, flags, out, len);
	close(fds[0]);
	return err;
}

static void test_read_fd_limits(void **state)
{
	char *buf;
	size_t len;

	(void)state;
	assert_int_equal(read_pipe(10000, 10000, 0, &buf, &len), 0);
	assert_int_equal(len, 10000);
	assert_int_equal(buf[len], '\0');
	free(buf);
	assert_int_equal(read_pipe(10001, 10000, 0, &buf, &len), -EFBIG);
	assert_null(buf);
	/* the head is kept, the rest read away */
	assert_int_equal(read_pipe(50000, 10000, FILEIO_KEEP_HEAD, &buf, &len), 0);
	assert_int_equal(len, 10000);
	assert_int_equal(strlen(buf), 10000);
	free(buf);
	assert_int_equal(read_pipe(0, 0, 0, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
}

static void test_read_file(void **state)
{
	char *path = path_in(*state, "d.txt"), *missing = path_in(*state, "missing"), *buf;
	size_t len;

	assert_int_equal(fileio__replace_buf(path, "0123456789", 10), 0);
	assert_int_equal(fileio__read_file(path, 10, &buf, &len), 0);
	assert_string_equal(buf, "0123456789");
	free(buf);
	assert_int_equal(fileio__read_file(path, 9, &buf, &len), -EFBIG);
	assert_null(buf);
	assert_int_equal(fileio__read_file(missing, 10, &buf, &len), -ENOENT);
	assert_int_equal(fileio__read_file(*state, 10, &buf, &len), -EINVAL);
	free(missing);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replace_new_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_keeps_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_failure_keeps_old, setup, teardown),
		cmocka_unit_test(test_read_fd_limits),
		cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
	};

	return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
