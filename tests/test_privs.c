// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privs: a thread started by privs__run_unprivileged() holds no capability,
 * has NoNewPrivs and one seccomp filter, and so do the threads it creates;
 * the filter lets a server thread do its work (memory, futexes, threads,
 * time, getrandom, eventfd, listening sockets, read-only opens) and answers
 * EPERM, without killing anything, to what such a thread never needs (opens
 * for writing, connect, fork, execve, signal handlers, signals to other
 * processes, bpf, perf_event_open, capset). The calling thread is untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <zlib.h>

#include "agent/privs.h"

/* A field of /proc/thread-self/status, as text ("" when missing). */
static void status_field(const char *field, char *out, size_t n)
{
	char line[256];
	size_t len = strlen(field);
	FILE *f = fopen("/proc/thread-self/status", "r");

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, len) || line[len] != ':')
			continue;
		snprintf(out, n, "%s", line + len + 1 + strspn(line + len + 1, " \t"));
		out[strcspn(out, "\n")] = '\0';
		break;
	}
	fclose(f);
}

/* What a thread sees of itself, for the assertions on the test's thread. */
struct self {
	char cap_eff[32], cap_prm[32], cap_inh[32], cap_amb[32];
	char nnp[8], seccomp[8], filters[8];
};

static void read_self(struct self *s)
{
	status_field("CapEff", s->cap_eff, sizeof(s->cap_eff));
	status_field("CapPrm", s->cap_prm, sizeof(s->cap_prm));
	status_field("CapInh", s->cap_inh, sizeof(s->cap_inh));
	status_field("CapAmb", s->cap_amb, sizeof(s->cap_amb));
	status_field("NoNewPrivs", s->nnp, sizeof(s->nnp));
	status_field("Seccomp", s->seccomp, sizeof(s->seccomp));
	status_field("Seccomp_filters", s->filters, sizeof(s->filters));
}

static void assert_unprivileged(const struct self *s)
{
	assert_string_equal(s->cap_eff, "0000000000000000");
	assert_string_equal(s->cap_prm, "0000000000000000");
	assert_string_equal(s->cap_inh, "0000000000000000");
	assert_string_equal(s->cap_amb, "0000000000000000");
	assert_string_equal(s->nnp, "1");
	assert_string_equal(s->seccomp, "2");
	assert_string_equal(s->filters, "1");
}

static void *child_main(void *arg)
{
	read_self(arg);
	return NULL;
}

struct seen {
	struct self self, child;
	int child_err;
};

static int look(void *arg)
{
	struct seen *s = arg;
	pthread_t t;

	read_self(&s->self);
	s->child_err = pthread_create(&t, NULL, child_main, &s->child);
	if (!s->child_err)
		pthread_join(t, NULL);
	return 42;
}

static void test_thread_and_its_children_hold_nothing(void **state)
{
	struct seen s = {};
	struct self me;

	(void)state;
	assert_int_equal(privs__run_unprivileged("test-unpriv", look, &s), 42);
	assert_unprivileged(&s.self);
	assert_int_equal(s.child_err, 0);	/* clone3 -> ENOSYS, glibc falls back to clone */
	assert_unprivileged(&s.child);
	read_self(&me);
	assert_string_equal(me.seccomp, "0");	/* the caller is not filtered */
}

/* Errno of a syscall that returns -1 on failure; 0 when it succeeded. */
#define ERRNO_OF(call) ((call) < 0 ? errno : 0)

struct verdicts {
	int getrandom, clock, eventfd, listen_sock, rdonly_open, gzip, big_malloc;
	int wronly_open, creat_open, connect_, fork_, execve_, sigaction_, kill_init;
	int bpf_, perf, capset_, socket_netlink, mkdir_, unlink_, clone_process;
	int self_signal;
};

static volatile sig_atomic_t got_usr2;

static void on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

static int gzip_roundtrip(void)
{
	unsigned char in[4096], out[8192];
	uLongf n = sizeof(out);

	memset(in, 'x', sizeof(in));
	return compress2(out, &n, in, sizeof(in), 6) == Z_OK ? 0 : EIO;
}

static int tcp_listener(int *fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return errno;
	if (bind(*fd, (struct sockaddr *)&a, sizeof(a)) || listen(*fd, 4))
		return errno;
	return 0;
}

static int allowed(struct verdicts *v, int *lfd)
{
	unsigned char rnd[16];
	struct timespec ts;
	uint64_t one = 1;
	void *p;
	int fd;

	v->getrandom = ERRNO_OF(getrandom(rnd, sizeof(rnd), 0));
	v->clock = ERRNO_OF(clock_gettime(CLOCK_MONOTONIC, &ts));
	fd = eventfd(0, EFD_CLOEXEC);
	v->eventfd = fd < 0 ? errno : ERRNO_OF(write(fd, &one, sizeof(one)));
	if (fd >= 0)
		close(fd);
	v->listen_sock = tcp_listener(lfd);
	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	v->rdonly_open = ERRNO_OF(fd);
	if (fd >= 0)
		close(fd);
	v->gzip = gzip_roundtrip();
	p = malloc(8 << 20);	/* an mmap of its own */
	v->big_malloc = p ? 0 : ENOMEM;
	free(p);
	v->self_signal = ERRNO_OF(kill(getpid(), SIGUSR2));
	return 0;
}

static int forbidden(struct verdicts *v, int lfd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sigaction sa = { .sa_handler = SIG_IGN };
	char dir[64];
	char *argv[] = { "/bin/true", NULL };
	union bpf_attr attr = {};
	socklen_t len = sizeof(a);
	pid_t pid;
	int fd;

	v->wronly_open = ERRNO_OF(open("/dev/null", O_WRONLY | O_CLOEXEC));
	v->creat_open = ERRNO_OF(open("/tmp/emitd-test-privs-new", O_RDONLY | O_CREAT, 0600));
	getsockname(lfd, (struct sockaddr *)&a, &len);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	v->connect_ = ERRNO_OF(connect(fd, (struct sockaddr *)&a, sizeof(a)));
	close(fd);
	pid = fork();
	if (pid == 0)
		_exit(0);
	v->fork_ = ERRNO_OF(pid);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	v->execve_ = ERRNO_OF(execve(argv[0], argv, NULL));
	v->sigaction_ = ERRNO_OF(sigaction(SIGUSR1, &sa, NULL));
	v->kill_init = ERRNO_OF(kill(1, 0));
	v->bpf_ = ERRNO_OF(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
	v->perf = ERRNO_OF(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	v->capset_ = ERRNO_OF(syscall(SYS_capset, NULL, NULL));
	v->socket_netlink = ERRNO_OF(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0));
	snprintf(dir, sizeof(dir), "/tmp/emitd-test-privs-%d", (int)getpid());
	v->mkdir_ = ERRNO_OF(mkdir(dir, 0700));
	v->unlink_ = ERRNO_OF(unlink("/tmp/emitd-test-privs-nothing"));
	v->clone_process = ERRNO_OF(syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0));
	if (v->clone_process == 0)
		_exit(0);	/* must not happen: the test sees 0 != EPERM */
	return 0;
}

static int try_syscalls(void *arg)
{
	struct verdicts *v = arg;
	int lfd = -1;

	allowed(v, &lfd);
	forbidden(v, lfd);
	if (lfd >= 0)
		close(lfd);
	return 0;
}

static void test_allowlist(void **state)
{
	struct sigaction sa = { .sa_handler = on_usr2 };
	struct verdicts v;

	(void)state;
	memset(&v, 0xff, sizeof(v));
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	assert_int_equal(privs__run_unprivileged("test-allow", try_syscalls, &v), 0);
	/* what a server thread does */
	assert_int_equal(v.getrandom, 0);
	assert_int_equal(v.clock, 0);
	assert_int_equal(v.eventfd, 0);
	assert_int_equal(v.listen_sock, 0);
	assert_int_equal(v.rdonly_open, 0);
	assert_int_equal(v.gzip, 0);
	assert_int_equal(v.big_malloc, 0);
	assert_int_equal(v.self_signal, 0);
	assert_true(got_usr2);
	/* what it never needs: EPERM, and the process lives on */
	assert_int_equal(v.wronly_open, EPERM);
	assert_int_equal(v.creat_open, EPERM);
	assert_int_equal(v.connect_, EPERM);
	assert_int_equal(v.fork_, EPERM);
	assert_int_equal(v.execve_, EPERM);
	assert_int_equal(v.sigaction_, EPERM);
	assert_int_equal(v.kill_init, EPERM);
	assert_int_equal(v.bpf_, EPERM);
	assert_int_equal(v.perf, EPERM);
	assert_int_equal(v.capset_, EPERM);
	assert_int_equal(v.socket_netlink, EPERM);
	assert_int_equal(v.mkdir_, EPERM);
	assert_int_equal(v.unlink_, EPERM);
	assert_int_equal(v.clone_process, EPERM);
}

/* The calling thread can still do all of it afterwards. */
static void test_caller_keeps_its_syscalls(void **state)
{
	struct verdicts v;
	int fd;

	(void)state;
	memset(&v, 0, sizeof(v));
	assert_int_equal(privs__run_unprivileged("test-again", try_syscalls, &v), 0);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(kill(1, 0), 0 - (geteuid() != 0));
}

static int fails(void *arg)
{
	(void)arg;
	return -ENOENT;
}

static void test_result_is_fns(void **state)
{
	(void)state;
	assert_int_equal(privs__run_unprivileged("test-ret", fails, NULL), -ENOENT);
}

static void test_keep_set(void **state)
{
	(void)state;
	/* CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_SYS_ADMIN (21) */
	assert_int_equal(privs__keep(), 0x280004);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_and_its_children_hold_nothing),
		cmocka_unit_test(test_allowlist),
		cmocka_unit_test(test_caller_keeps_its_syscalls),
		cmocka_unit_test(test_result_is_fns),
		cmocka_unit_test(test_keep_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
