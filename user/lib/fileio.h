/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fileio: whole files in and out, for the modules that write what users keep
 * (gen's artifacts, norm's CSV export) and read what users give (a spec, a
 * tool's output).
 *
 * fileio__replace() is the one atomic replace: a temporary file next to the
 * target (mkostemp(), so in the same file system), written, fsync'ed,
 * renamed over the target, then the directory fsync'ed so that the rename
 * survives a crash. A reader sees the old file or the new one, never a part;
 * a failure leaves the old one and no temporary file. A replaced file keeps
 * its mode; a new one is 0644.
 *
 * Functions return 0 or a negative errno and print nothing: the caller says
 * what failed, with its context.
 */
#ifndef EMITD_FILEIO_H
#define EMITD_FILEIO_H

#include <stddef.h>

/* Writes the whole content to @fd; 0 or a negative errno. */
typedef int (*fileio_write_fn)(int fd, void *arg);

/* Replace @path with what @fn puts in the temporary file. */
int fileio__replace(const char *path, fileio_write_fn fn, void *arg);
/* Replace @path with @len bytes of @data. */
int fileio__replace_buf(const char *path, const void *data, size_t len);

/* write() all of @buf, through short writes and EINTR. */
int fileio__write_all(int fd, const void *buf, size_t len);

enum fileio_read_flags {
	/* Past @max bytes, keep the first @max and read the rest away (a pipe). */
	FILEIO_KEEP_HEAD	= 1 << 0,
};

/*
 * Read @fd to its end into a new NUL-terminated buffer: *@out (caller
 * frees) and *@len. More than @max bytes: -EFBIG, unless FILEIO_KEEP_HEAD.
 * On failure *@out is NULL.
 */
int fileio__read_fd(int fd, size_t max, unsigned int flags, char **out, size_t *len);
/*
 * Read the regular file @path whole, as fileio__read_fd(): -ENOENT when it
 * does not exist, -EINVAL when it is not a regular file, -EFBIG when it is
 * larger than @max bytes.
 */
int fileio__read_file(const char *path, size_t max, char **out, size_t *len);

#endif /* EMITD_FILEIO_H */
