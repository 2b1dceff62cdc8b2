// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fault_target: a probed process whose string labels sit on pages that are
 * not in its page tables when the probe reads them, for
 * tests/integration/test_fault_labels.py.
 *
 *	fault_target rodata N [--hold]
 *	fault_target evict N RATE FILE [--drop-cache] [--hold]
 *
 * Each event fires the USDT probe fault:hit(const char *label, long value)
 * with one of three labels in turn (event i: label i % 3, value i % 10):
 * "fault/alpha", "fault/beta" and GAMMA below, longer than 31 bytes.
 *
 * rodata   The labels are string literals 1 MiB apart in a 4 MiB constant
 *          in .rodata that nothing else reads: the case of a literal
 *          the probe reads first. The executable's page cache is dropped at
 *          start, and each label's page is checked to be neither in memory
 *          (mincore) nor mapped (/proc/self/pagemap) before the first event.
 * evict    The labels sit in the middle of three 1 MiB regions of FILE
 *          (written here), mapped shared. Before each event the label's
 *          region is unmapped (madvise(MADV_DONTNEED); with --drop-cache its
 *          page cache is dropped too, posix_fadvise(POSIX_FADV_DONTNEED))
 *          until pagemap (and mincore) show the label's page absent; RATE
 *          events per second. Whole regions, because the page cache holds a
 *          file in folios of several pages, and one folio still mapped or
 *          partly in the range is not dropped.
 *
 * At the end it prints "events N" and "cold C": the events fired while the
 * label's page was checked absent. With --hold it then waits for its stdin
 * to close, so the agent can still read its memory. Exit status 0, or 1
 * with the reason on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "emitd_probe.h"

#define NR_LABELS	3
#define MIB		(1UL << 20)
#define MAX_TRIES	1000

/* The third is longer than a label holds: it is cut to 31 bytes, and counted. */
#define GAMMA	"fault/gamma/longer-than-a-label-holds"

static const char *const names[NR_LABELS] = { "fault/alpha", "fault/beta", GAMMA };

/*
 * 1 MiB between the labels and around them: more than the kernel's
 * fault-around (64 KiB) and read-ahead (128 KiB by default) windows, so
 * reading one label's page maps or reads no other.
 */
struct cold_rodata {
	char pad0[MIB];
	char a[32];
	char pad1[MIB];
	char b[32];
	char pad2[MIB];
	char c[64];
	char pad3[MIB];
};

static const struct cold_rodata cold_rodata = {
	.a = "fault/alpha", .b = "fault/beta", .c = GAMMA,
};

static long page_size;
static int pagemap_fd = -1;

static void *page_of(const void *p)
{
	return (void *)((uintptr_t)p & ~(uintptr_t)(page_size - 1));
}

/* Whether the page of @p is in this process's page tables. */
static int mapped(const void *p, bool *out)
{
	uint64_t entry;
	off_t off = (off_t)((uintptr_t)p / page_size) * sizeof(entry);

	if (pread(pagemap_fd, &entry, sizeof(entry), off) != sizeof(entry))
		return -errno;
	*out = entry & (1ULL << 63);
	return 0;
}

/* Whether the page of @p is in memory at all (page cache included). */
static int resident(const void *p, bool *out)
{
	unsigned char vec = 0;

	if (mincore(page_of(p), page_size, &vec))
		return -errno;
	*out = vec & 1;
	return 0;
}

static int check_cold(const void *p, bool want_not_resident, bool *cold)
{
	bool m = true, r = false;
	int err = mapped(p, &m);

	if (!err && want_not_resident)
		err = resident(p, &r);
	*cold = !m && !r;
	return err;
}

static void fire(const char *label, long value)
{
	EMITD_PROBE2(fault, hit, label, value);
}

static int drop_own_page_cache(void)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	/* written back first: dirty pages are not dropped */
	if (fdatasync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		err = -errno;
	close(fd);
	return err;
}

static int run_rodata(uint64_t n, uint64_t *cold)
{
	const char *labels[NR_LABELS] = { cold_rodata.a, cold_rodata.b, cold_rodata.c };
	bool first_cold[NR_LABELS], is_cold;
	uint64_t i;
	int k, err;

	err = drop_own_page_cache();
	if (err) {
		fprintf(stderr, "dropping the page cache of the executable: %s\n", strerror(-err));
		return 1;
	}
	for (k = 0; k < NR_LABELS; k++) {
		err = check_cold(labels[k], true, &first_cold[k]);
		if (err) {
			fprintf(stderr, "mincore/pagemap: %s\n", strerror(-err));
			return 1;
		}
		if (!first_cold[k]) {
			fprintf(stderr, "the page of \"%s\" is in memory before the first event%s\n",
				labels[k], " (page cache not dropped?)");
			return 1;
		}
	}
	for (i = 0; i < n; i++) {
		k = i % NR_LABELS;
		if (check_cold(labels[k], false, &is_cold))
			return 1;
		*cold += is_cold;
		fire(labels[k], i % 10);
	}
	return 0;
}

/* Label @k of the file: the middle of its region. */
static off_t label_offset(int k)
{
	return k * MIB + MIB / 2;
}

static char *map_label_file(const char *path)
{
	size_t len = NR_LABELS * MIB;
	char *map;
	int fd, k;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto err;
	for (k = 0; k < NR_LABELS; k++)
		if (pwrite(fd, names[k], strlen(names[k]) + 1, label_offset(k)) < 0)
			goto err_close;
	if (ftruncate(fd, len) || fsync(fd))
		goto err_close;
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto err_close;
	close(fd);
	return map;

err_close:
	close(fd);
err:
	fprintf(stderr, "%s: %s\n", path, strerror(errno));
	return NULL;
}

/* Unmap label @k's region (and drop its page cache) until its page shows absent. */
static int make_cold(char *map, int fd, int k, bool drop_cache)
{
	bool cold = false;
	int tries;

	for (tries = 0; tries < MAX_TRIES && !cold; tries++) {
		if (madvise(map + k * MIB, MIB, MADV_DONTNEED))
			return -errno;
		if (drop_cache && posix_fadvise(fd, k * MIB, MIB, POSIX_FADV_DONTNEED))
			return -errno;
		if (check_cold(map + label_offset(k), drop_cache, &cold))
			return -errno;
	}
	return cold ? 0 : -EAGAIN;
}

static void pace(const struct timespec *t0, uint64_t i, uint64_t rate)
{
	uint64_t due = i * 1000000000ULL / rate;
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (ts.tv_sec - t0->tv_sec) * 1000000000ULL + ts.tv_nsec - t0->tv_nsec;
	if (now >= due)
		return;
	ts.tv_sec = (due - now) / 1000000000ULL;
	ts.tv_nsec = (due - now) % 1000000000ULL;
	nanosleep(&ts, NULL);
}

static int run_evict(uint64_t n, uint64_t rate, const char *path, bool drop_cache,
		     uint64_t *cold)
{
	char *map = map_label_file(path);
	struct timespec t0;
	uint64_t i;
	int fd, k, err;

	if (!map)
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		k = i % NR_LABELS;
		pace(&t0, i, rate);
		err = make_cold(map, fd, k, drop_cache);
		if (err && err != -EAGAIN) {
			fprintf(stderr, "evicting the page of \"%s\": %s\n", names[k],
				strerror(-err));
			close(fd);
			return 1;
		}
		*cold += !err;
		fire(map + label_offset(k), i % 10);
	}
	close(fd);
	return 0;
}

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s rodata N [--hold]\n"
		"       %s evict N RATE FILE [--drop-cache] [--hold]\n", argv0, argv0);
	return 1;
}

int main(int argc, char **argv)
{
	bool hold = false, drop_cache = false;
	uint64_t n, rate = 0, cold = 0;
	int nargs, ret;
	char c;

	for (nargs = argc; nargs > 1 && !strncmp(argv[nargs - 1], "--", 2); nargs--) {
		if (!strcmp(argv[nargs - 1], "--hold"))
			hold = true;
		else if (!strcmp(argv[nargs - 1], "--drop-cache"))
			drop_cache = true;
		else
			return usage(argv[0]);
	}
	if (nargs < 3)
		return usage(argv[0]);
	n = strtoull(argv[2], NULL, 10);
	page_size = sysconf(_SC_PAGESIZE);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap_fd < 0) {
		fprintf(stderr, "/proc/self/pagemap: %s\n", strerror(errno));
		return 1;
	}
	if (!strcmp(argv[1], "rodata") && nargs == 3) {
		ret = run_rodata(n, &cold);
	} else if (!strcmp(argv[1], "evict") && nargs == 5) {
		rate = strtoull(argv[3], NULL, 10);
		if (!rate)
			return usage(argv[0]);
		ret = run_evict(n, rate, argv[4], drop_cache, &cold);
	} else {
		return usage(argv[0]);
	}
	if (ret)
		return ret;
	printf("events %" PRIu64 "\ncold %" PRIu64 "\n", n, cold);
	fflush(stdout);
	if (hold)
		while (read(STDIN_FILENO, &c, 1) > 0)
			;
	return 0;
}
