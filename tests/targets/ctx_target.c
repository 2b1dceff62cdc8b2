// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ctx_target: a probed process for tests/integration/test_context.py, which
 * knows how many times it calls what, in how many processes.
 *
 *	ctx_target [--comm NAME] [--fork K] [--depth D] [--mallocs] N
 *
 * It prints "pid P" and waits for a byte on stdin (the test attaches, or
 * moves it into a cgroup, meanwhile). Then it calls ctx_hit() N times
 * (with --mallocs: malloc() N times instead, and nothing else allocates
 * until it exits); with --fork K it first forks K children, each of which
 * does the same and forks K of its own down to depth D (default 1), so
 * N * (K + K^2 + ... + K^D + 1) calls in all. --comm sets the thread's
 * name (prctl PR_SET_NAME), which children inherit. It prints "done C",
 * C the calls of the whole tree, and waits for a second byte (or EOF) before
 * it exits, so a test can read maps of a live process. Exit status 0, or 1
 * with the reason on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* A call the compiler keeps: a uprobe site (`uprobe: ctx_hit`). */
__attribute__((noipa)) void ctx_hit(int i)
{
	__asm__ volatile("" : : "r"(i) : "memory");
}

/* malloc through a volatile pointer: no call elided, none merged. */
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

struct opts {
	const char *comm;
	int fork, depth, n;
	int mallocs;
};

static void calls(const struct opts *o)
{
	void *p;
	int i;

	for (i = 0; i < o->n; i++) {
		if (!o->mallocs) {
			ctx_hit(i);
			continue;
		}
		p = do_malloc(64);
		if (!p)
			_exit(1);
		do_free(p);
	}
}

/* This process's calls and its subtree's below @depth; 0 or -1. */
static int tree(const struct opts *o, int depth)
{
	pid_t kids[64];
	int i, st, err = 0;

	for (i = 0; depth < o->depth && i < o->fork; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			return -1;
		if (!kids[i])
			_exit(tree(o, depth + 1) ? 1 : 0);
	}
	calls(o);
	for (i = 0; depth < o->depth && i < o->fork; i++)
		if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			err = -1;
	return err;
}

static long total(const struct opts *o)
{
	long t = 1, level = 1;
	int d;

	for (d = 0; d < o->depth; d++) {
		level *= o->fork;
		t += level;
	}
	return t * o->n;
}

static int parse(int argc, char **argv, struct opts *o)
{
	int i;

	o->depth = 1;
	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--comm") && i + 1 < argc - 1)
			o->comm = argv[++i];
		else if (!strcmp(argv[i], "--fork") && i + 1 < argc - 1)
			o->fork = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--depth") && i + 1 < argc - 1)
			o->depth = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mallocs"))
			o->mallocs = 1;
		else
			return -1;
	}
	o->n = i < argc ? atoi(argv[i]) : -1;
	if (o->n < 0 || o->fork < 0 || o->fork > 64 || o->depth < 0 || o->depth > 4)
		return -1;
	if (!o->fork)
		o->depth = 0;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {};
	char go, line[64];
	int n;

	if (parse(argc, argv, &o)) {
		fprintf(stderr, "usage: ctx_target [--comm NAME] [--fork K] [--depth D] [--mallocs] N\n");
		return 1;
	}
	if (o.comm && prctl(PR_SET_NAME, o.comm)) {
		fprintf(stderr, "prctl: %s\n", strerror(errno));
		return 1;
	}
	printf("pid %d\n", (int)getpid());
	fflush(stdout);		/* stdout's buffer is allocated before the test attaches */
	if (read(0, &go, 1) != 1)
		return 1;
	if (tree(&o, 0)) {
		fprintf(stderr, "a child failed\n");
		return 1;
	}
	/* write(2), not stdio: nothing allocates after the calls */
	n = snprintf(line, sizeof(line), "done %ld\n", total(&o));
	if (write(1, line, n) != n)
		_exit(1);
	if (read(0, &go, 1) < 0)
		_exit(1);
	_exit(0);
}
