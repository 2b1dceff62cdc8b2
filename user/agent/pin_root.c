// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The pin root's safety check and creation: see pin_root.h for the rule. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/pin_root.h"
#include "lib/log.h"

/* The walk: the pin root as given, and the path checked so far. */
struct walk {
	const char *pin_root;
	char path[PATH_MAX];
	size_t len;
};

static int refuse(const struct walk *w, const char *why)
{
	log_err("pin root %s: %s %s: refusing it (another user could delete the pins or redirect them)",
		w->pin_root, w->len ? w->path : "/", why);
	return -EPERM;
}

/* The rule for one component; @last: the pin root itself. */
static int check_component(const struct walk *w, const struct stat *st, bool last)
{
	uid_t euid = geteuid();
	char why[96];

	if (S_ISLNK(st->st_mode))
		return refuse(w, "is a symbolic link");
	if (!S_ISDIR(st->st_mode))
		return refuse(w, "is not a directory");
	if (st->st_uid != 0 && st->st_uid != euid) {
		snprintf(why, sizeof(why), "is owned by uid %u (neither root nor the agent's uid %u)",
			 (unsigned int)st->st_uid, (unsigned int)euid);
		return refuse(w, why);
	}
	if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if (!last && (st->st_mode & S_ISVTX))
		return 0;	/* sticky, trusted owner: others cannot take our names */
	snprintf(why, sizeof(why), "is writable by group or others (mode %04o)",
		 (unsigned int)(st->st_mode & 07777));
	return refuse(w, why);
}

/* Open @name below @dirfd without following a link; create it when missing. */
static int open_component(struct walk *w, int dirfd, const char *name, bool *created)
{
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	*created = false;
	if (fd >= 0 || errno != ENOENT)
		goto out;
	if (mkdirat(dirfd, name, 0700) && errno != EEXIST) {
		log_err("pin root %s: cannot create %s: %s", w->pin_root, w->path, strerror(errno));
		return -errno;
	}
	*created = true;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
out:
	if (fd < 0) {
		log_err("pin root %s: cannot open %s: %s", w->pin_root, w->path, strerror(errno));
		return -errno;
	}
	return fd;
}

/* Append @name (@n bytes) to the path checked so far. */
static int walk_push(struct walk *w, const char *name, size_t n)
{
	if (w->len + 1 + n >= sizeof(w->path)) {
		log_err("pin root %s: path too long", w->pin_root);
		return -ENAMETOOLONG;
	}
	w->path[w->len++] = '/';
	memcpy(w->path + w->len, name, n);
	w->len += n;
	w->path[w->len] = '\0';
	return 0;
}

/* One step down: @name below @*dirfd, checked; @*dirfd becomes its descriptor. */
static int walk_step(struct walk *w, int *dirfd, const char *name, size_t n, bool last)
{
	char comp[NAME_MAX + 1];
	struct stat st;
	bool created;
	int fd, err;

	if (n > NAME_MAX) {
		log_err("pin root %s: component too long", w->pin_root);
		return -ENAMETOOLONG;
	}
	if (n == 2 && !memcmp(name, "..", 2)) {
		log_err("pin root %s: \"..\" is not allowed in the pin root", w->pin_root);
		return -EINVAL;
	}
	memcpy(comp, name, n);
	comp[n] = '\0';
	err = walk_push(w, name, n);
	if (err)
		return err;
	fd = open_component(w, *dirfd, comp, &created);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		err = -errno;
		log_err("pin root %s: cannot stat %s: %s", w->pin_root, w->path, strerror(-err));
		close(fd);
		return err;
	}
	err = check_component(w, &st, last);
	if (!err && created)
		log_info("created %s (mode 0700)", w->path);
	close(*dirfd);
	*dirfd = fd;
	return err;
}

/* Nothing but separators and "." components left in @s. */
static bool rest_is_empty(const char *s)
{
	while (*s == '/' || (*s == '.' && (s[1] == '/' || !s[1])))
		s++;
	return !*s;
}

/* The absolute path to walk: @pin_root, or getcwd()/@pin_root. */
static int absolute(const char *pin_root, char *buf, size_t size)
{
	char cwd[PATH_MAX];
	int n;

	if (pin_root[0] == '/')
		n = snprintf(buf, size, "%s", pin_root);
	else if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	else
		n = snprintf(buf, size, "%s/%s", cwd, pin_root);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int pin_root__secure(const char *pin_root)
{
	struct walk w = { .pin_root = pin_root };
	char abs[PATH_MAX];
	const char *p, *end;
	struct stat st;
	int fd, err;

	err = absolute(pin_root, abs, sizeof(abs));
	if (err) {
		log_err("pin root %s: %s", pin_root, strerror(-err));
		return err;
	}
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_err("pin root %s: cannot open /: %s", pin_root, strerror(-err));
		return err;
	}
	err = fstat(fd, &st) ? -errno : check_component(&w, &st, false);
	for (p = abs; !err && *p; p = end) {
		while (*p == '/')
			p++;
		end = p + strcspn(p, "/");
		if (end == p || (end - p == 1 && *p == '.'))
			continue;
		err = walk_step(&w, &fd, p, end - p, rest_is_empty(end));
	}
	close(fd);
	return err;
}
