// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * deferred: the events whose string label the probe could not read (see
 * deferred.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "agent/deferred.h"

#define PAGE_BYTES	4096UL	/* a split point of the remote read, not a page size claim */
#define NSEC_PER_SEC	1000000000ULL

int deferred__read_label(pid_t pid, __u64 addr, char out[EMITD_LABEL_LEN], bool *truncated)
{
	char buf[EMITD_LABEL_LEN];
	struct iovec local = { .iov_base = buf, .iov_len = sizeof(buf) };
	/* two pieces at a page boundary: the first is read even if the second cannot be */
	size_t first = PAGE_BYTES - (addr & (PAGE_BYTES - 1));
	struct iovec remote[2] = {
		{ .iov_base = (void *)(uintptr_t)addr, .iov_len = sizeof(buf) },
	};
	unsigned long nr = 1;
	ssize_t n;
	char *nul;

	if (first < sizeof(buf)) {
		remote[0].iov_len = first;
		remote[1].iov_base = (void *)(uintptr_t)(addr + first);
		remote[1].iov_len = sizeof(buf) - first;
		nr = 2;
	}
	n = process_vm_readv(pid, &local, 1, remote, nr, 0);
	if (n < 0)
		return -errno;
	memset(out, 0, EMITD_LABEL_LEN);
	nul = memchr(buf, '\0', n);
	if (nul) {
		memcpy(out, buf, nul - buf);
		*truncated = false;
		return 0;
	}
	if ((size_t)n < sizeof(buf))
		return -EFAULT;		/* the kernel's read fails there too */
	memcpy(out, buf, EMITD_LABEL_LEN - 1);
	*truncated = true;
	return 0;
}

int deferred__parse_start(const char *stat, unsigned long long *ticks)
{
	const char *p = strrchr(stat, ')');	/* the name may hold anything */
	int field;

	if (!p)
		return -EINVAL;
	p++;
	/* after the name: field 3 (state) ... field 22 (starttime) */
	for (field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
		if (field == 22)
			break;
		while (*p && *p != ' ')
			p++;
	}
	return sscanf(p, "%llu", ticks) == 1 ? 0 : -EINVAL;
}

/* Whether @pid is the process that started at @start_ns (boot time, ns). */
static int same_process(pid_t pid, __u64 start_ns)
{
	unsigned long long ticks;
	char path[32], buf[1024];
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || hz <= 0)
		return -ESRCH;
	buf[n] = '\0';
	if (deferred__parse_start(buf, &ticks))
		return -ESRCH;
	/* the kernel's nsec_to_clock_t(): whole ticks */
	return ticks == start_ns / (NSEC_PER_SEC / (unsigned long long)hz) ? 0 : -ESRCH;
}

static int read_labels(struct emitd_deferred *d)
{
	bool cut, any = false;
	int i, err;

	for (i = 0; i < EMITD_MAX_LABELS; i++) {
		if (!d->addr[i])
			continue;
		err = deferred__read_label(d->tgid, d->addr[i], d->key.labels[i].str, &cut);
		if (err)
			return err;
		if (cut)
			d->truncated |= 1U << i;
		any = true;
	}
	/*
	 * Read first, then check the pid: the process that held it from the
	 * event until after the read is the one the bytes came from.
	 */
	return any ? same_process(d->tgid, d->start_ns) : 0;
}

int deferred__read(struct emitd_deferred *d)
{
	int err;

	d->truncated = 0;
	err = read_labels(d);
	d->result = err ? EMITD_REPLAY_READ_FAILED : EMITD_REPLAY_READ;
	return err;
}

int deferred__replay(int prog_fd, const struct emitd_deferred *d)
{
	struct emitd_deferred ctx = *d;
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));

	return bpf_prog_test_run_opts(prog_fd, &o) ? -errno : 0;
}
