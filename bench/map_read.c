// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The kernel's share of a drain: read every entry of a pinned map with
 * batch lookups, as the agent's drain does (same chunk), and nothing else.
 * Prints the entries and the median wall time of RUNS full reads in ms.
 *
 *   map_read PINNED_MAP [RUNS [CHUNK]]
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One full read: the number of entries, or -errno. */
static long read_all(int fd, __u32 chunk, void *keys, void *vals)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	__u64 in = 0, out = 0;
	bool first = true;
	long n = 0;
	__u32 count;
	int err;

	for (;;) {
		count = chunk;
		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, &bo);
		if (err && errno != ENOENT)
			return -errno;
		n += count;
		if (err)
			return n;
		in = out;
		first = false;
	}
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 7, fd, ncpus, i;
	__u32 chunk = argc > 3 ? (__u32)atoi(argv[3]) : 512;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	void *keys = NULL, *vals = NULL;
	double *ms;
	long n = 0;

	if (argc < 2 || runs < 1 || !chunk) {
		fprintf(stderr, "usage: %s PINNED_MAP [RUNS [CHUNK]]\n", argv[0]);
		return 2;
	}
	fd = bpf_obj_get(argv[1]);
	ncpus = libbpf_num_possible_cpus();
	if (fd < 0 || ncpus <= 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "map_read: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	keys = calloc(chunk, info.key_size);
	vals = calloc((size_t)chunk * ncpus, (info.value_size + 7) & ~7U);
	ms = calloc(runs, sizeof(*ms));
	if (!keys || !vals || !ms)
		return 1;
	for (i = 0; i < runs; i++) {
		double t0 = now_ms();

		n = read_all(fd, chunk, keys, vals);
		if (n < 0) {
			fprintf(stderr, "map_read: batch lookup: %s\n", strerror(-n));
			return 1;
		}
		ms[i] = now_ms() - t0;
	}
	qsort(ms, runs, sizeof(*ms), cmp_double);
	printf("%ld %.2f\n", n, ms[runs / 2]);
	free(keys);
	free(vals);
	free(ms);
	return 0;
}
