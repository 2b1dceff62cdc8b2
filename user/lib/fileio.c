// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fileio: whole files in and out. See fileio.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/fmt.h"

#define NEW_FILE_MODE	0644
#define READ_CHUNK	4096	/* first buffer of a read of unknown size */

/* ---- writing ---- */

int fileio__write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A replaced file keeps its mode; a new one is 0644 (mkostemp gives 0600). */
static int copy_mode(int fd, const char *path)
{
	struct stat st;
	mode_t mode = NEW_FILE_MODE;

	if (!stat(path, &st) && S_ISREG(st.st_mode))
		mode = st.st_mode & 07777;
	return fchmod(fd, mode) ? -errno : 0;
}

/* Best effort: makes the rename durable; the data is already fsync'ed. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash)
		dir = strdup(".");
	else
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

static int fill(int fd, const char *path, fileio_write_fn fn, void *arg)
{
	int err;

	err = fn(fd, arg);
	if (!err)
		err = copy_mode(fd, path);
	if (!err && fsync(fd))
		err = -errno;
	return err;
}

int fileio__replace(const char *path, fileio_write_fn fn, void *arg)
{
	char *tmp;
	int fd, err;

	if (!path || !*path || !fn)
		return -EINVAL;
	tmp = fmt__str("%s.tmp.XXXXXX", path);
	if (!tmp)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out_free;
	}
	err = fill(fd, path, fn, arg);
	/* Linux releases the descriptor even on EINTR; the data is fsync'ed. */
	if (close(fd) && errno != EINTR && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	else
		sync_dir(path);
out_free:
	free(tmp);
	return err;
}

struct buf_arg {
	const void *data;
	size_t len;
};

static int write_buf(int fd, void *arg)
{
	const struct buf_arg *b = arg;

	return fileio__write_all(fd, b->data, b->len);
}

int fileio__replace_buf(const char *path, const void *data, size_t len)
{
	struct buf_arg b = { data, len };

	return fileio__replace(path, write_buf, &b);
}

/* ---- reading ---- */

/* Double *@cap (up to @max), room for a NUL kept. */
static int grow(char **buf, size_t *cap, size_t max)
{
	size_t c = *cap > max / 2 ? max : 2 * *cap;
	char *b = realloc(*buf, c + 1);

	if (!b)
		return -ENOMEM;
	*buf = b;
	*cap = c;
	return 0;
}

/* fileio__read_fd() with a first buffer of @cap bytes (at most @max). */
static int read_to_end(int fd, size_t max, unsigned int flags, size_t cap, char **out,
		       size_t *len)
{
	char *buf, drop[READ_CHUNK];
	size_t n = 0;
	ssize_t r;
	int err;

	*out = NULL;
	*len = 0;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap && cap < max) {
			err = grow(&buf, &cap, max);
			if (err)
				goto out_free;
		}
		if (n < cap)
			r = read(fd, buf + n, cap - n);
		else
			r = read(fd, drop, sizeof(drop));	/* past @max */
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out_free;
		}
		if (!r)
			break;
		if (n < cap) {
			n += (size_t)r;
		} else if (!(flags & FILEIO_KEEP_HEAD)) {
			err = -EFBIG;
			goto out_free;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
out_free:
	free(buf);
	return err;
}

int fileio__read_fd(int fd, size_t max, unsigned int flags, char **out, size_t *len)
{
	return read_to_end(fd, max, flags, max < READ_CHUNK ? max : READ_CHUNK, out, len);
}

int fileio__read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	size_t cap;
	int fd, err;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		err = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out_close;
	}
	/* One byte more than the file, so that the read of its end needs no growth. */
	cap = (size_t)st.st_size < max ? (size_t)st.st_size + 1 : max;
	err = read_to_end(fd, max, 0, cap, out, len);
out_close:
	close(fd);
	return err;
}
