// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Least privilege: the process keeps what attaching needs, the threads that
 * parse network input keep nothing and run under seccomp. See privs.h.
 *
 * libcap is used without libpsx: cap_set_proc() and cap_drop_bound() change
 * the calling thread only, which is what both halves want.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

#include "agent/privs.h"
#include "lib/log.h"

/* What attaching needs, as measured (privs.h, README). */
static const cap_value_t keep_caps[] = {
	CAP_SYS_ADMIN,		/* uprobes (perf uprobe PMU), BPF load, bpffs mount */
	CAP_DAC_READ_SEARCH,	/* pin root below a root-only bpffs; unreadable binaries */
	CAP_SYS_PTRACE,		/* --pid targets of other users; deferred labels (deferred.h) */
};

#define NR_KEEP (sizeof(keep_caps) / sizeof(keep_caps[0]))

uint64_t privs__keep(void)
{
	uint64_t mask = 0;
	size_t i;

	for (i = 0; i < NR_KEEP; i++)
		mask |= 1ULL << keep_caps[i];
	return mask;
}

static bool kept(cap_value_t c, uint64_t keep)
{
	return c < 64 && (keep & (1ULL << c));
}

static bool has_effective(cap_t caps, cap_value_t c)
{
	cap_flag_value_t v = CAP_CLEAR;

	return !cap_get_flag(caps, c, CAP_EFFECTIVE, &v) && v == CAP_SET;
}

/*
 * Drop what is outside @keep from this thread's bounding set; needs
 * CAP_SETPCAP. *@bounded: whether the bounding set is now within @keep.
 */
static int drop_bounding(cap_t cur, uint64_t keep, bool *bounded)
{
	cap_value_t c, max = cap_max_bits();
	bool extra = false;

	for (c = 0; c < max; c++)
		if (!kept(c, keep) && cap_get_bound(c) == 1)
			extra = true;
	*bounded = !extra;
	if (!extra)
		return 0;
	if (!has_effective(cur, CAP_SETPCAP))
		return 0;	/* the starter chose it; NoNewPrivs keeps it unused */
	for (c = 0; c < max; c++) {
		if (kept(c, keep) || cap_get_bound(c) != 1)
			continue;
		if (cap_drop_bound(c))
			return -errno;
	}
	*bounded = true;
	return 0;
}

static bool has_permitted(cap_t caps, cap_value_t c)
{
	cap_flag_value_t v = CAP_CLEAR;

	return !cap_get_flag(caps, c, CAP_PERMITTED, &v) && v == CAP_SET;
}

/* Permitted and effective: @keep and what @cur holds; inheritable: none. */
static int set_caps(cap_t cur, uint64_t keep)
{
	cap_t want = cap_init();
	cap_value_t c;
	int err = 0;

	if (!want)
		return -errno;
	for (c = 0; c < 64; c++) {
		if (!kept(c, keep) || !has_permitted(cur, c))
			continue;
		if (cap_set_flag(want, CAP_PERMITTED, 1, &c, CAP_SET) ||
		    cap_set_flag(want, CAP_EFFECTIVE, 1, &c, CAP_SET)) {
			err = -errno;
			goto out_want;
		}
	}
	if (cap_set_proc(want))
		err = -errno;
out_want:
	cap_free(want);
	return err;
}

/*
 * This thread's capabilities reduced to @keep (0: none), bounding set too
 * when allowed. Without CAP_SYS_ADMIN, CAP_BPF and CAP_PERFMON are what is
 * left to load with (and, before Linux 6.16, to attach uprobes with): kept.
 */
static int reduce_caps(uint64_t keep, bool *bounded)
{
	cap_t cur = cap_get_proc();
	int err;

	if (!cur)
		return -errno;
	if (keep && !has_permitted(cur, CAP_SYS_ADMIN))
		keep |= 1ULL << CAP_BPF | 1ULL << CAP_PERFMON;
	err = drop_bounding(cur, keep, bounded);
	if (!err)
		err = set_caps(cur, keep);
	cap_free(cur);
	return err;
}

int privs__restrict(void)
{
	bool bounded;
	cap_t now;
	char *text;
	int err;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		err = -errno;
		log_err("cannot set NoNewPrivs: %s", strerror(-err));
		return err;
	}
	err = reduce_caps(privs__keep(), &bounded);
	if (err) {
		log_err("cannot reduce the capabilities to what attaching needs: %s",
			strerror(-err));
		return err;
	}
	now = cap_get_proc();
	text = now ? cap_to_text(now, NULL) : NULL;
	log_info("privileges: NoNewPrivs set; capabilities %s%s", text ? text : "?",
		 bounded ? ", the bounding set likewise" :
		 "; the bounding set holds more (no CAP_SETPCAP to drop it), unusable under NoNewPrivs");
	cap_free(text);
	cap_free(now);
	return 0;
}

/* --- the seccomp allowlist of unprivileged threads ------------------------- */

static const char *const allowed_syscalls[] = {
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	/* threads and their synchronisation (clone: see add_conditional) */
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq",
	"sched_yield", "sched_getaffinity", "exit", "exit_group",
	/* identity (libraries ask) */
	"getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
	"getresgid", "uname", "getrlimit", "sysinfo",
	/* signals: masks and returns, never dispositions */
	"rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
	/* time and randomness (GnuTLS: getrandom) */
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
	"time", "getrandom",
	/* descriptors: I/O, polling, eventfd wake-ups */
	"read", "readv", "pread64", "write", "writev", "close", "fcntl", "lseek",
	"fstat", "newfstatat", "statx", "access", "faccessat", "faccessat2",
	"eventfd2", "pipe2", "poll", "ppoll", "select", "pselect6", "epoll_create1",
	"epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	/* a server's sockets: listen and accept, never connect */
	"bind", "listen", "accept", "accept4", "recvfrom", "recvmsg", "sendto", "sendmsg",
	"shutdown", "setsockopt", "getsockopt", "getsockname", "getpeername",
};

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
		    unsigned int nr_args, const struct scmp_arg_cmp *args)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;	/* unknown to this libseccomp: default action */
	return seccomp_rule_add_array(ctx, action, nr, nr_args, args);
}

#define OPEN_WRITE_BITS	(O_ACCMODE | O_CREAT | O_TRUNC)

/* Syscalls allowed with some arguments only, or answered otherwise. */
static int add_conditional(scmp_filter_ctx ctx)
{
	const struct scmp_arg_cmp thread[] = { SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD) };
	const struct scmp_arg_cmp self[] = { SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()) };
	const struct scmp_arg_cmp rdonly_at[] = { SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_WRITE_BITS, O_RDONLY) };
	const struct scmp_arg_cmp rdonly[] = { SCMP_A1(SCMP_CMP_MASKED_EQ, OPEN_WRITE_BITS, O_RDONLY) };
	const struct scmp_arg_cmp get_only[] = { SCMP_A2(SCMP_CMP_EQ, 0) };
	const struct scmp_arg_cmp inet[] = { SCMP_A0(SCMP_CMP_EQ, AF_INET) };
	const struct scmp_arg_cmp inet6[] = { SCMP_A0(SCMP_CMP_EQ, AF_INET6) };
	const struct scmp_arg_cmp unix_[] = { SCMP_A0(SCMP_CMP_EQ, AF_UNIX) };
	const struct scmp_arg_cmp set_name[] = { SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME) };
	const struct scmp_arg_cmp get_name[] = { SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME) };
	int err = 0;

	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, thread);
	/* glibc falls back to clone, whose flags a filter can read */
	err = err ?: add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "kill", 1, self);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, self);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "openat", 1, rdonly_at);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "open", 1, rdonly);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 1, get_only);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, inet);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, inet6);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, unix_);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, set_name);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, get_name);
	return err;
}

/* A client's extra rights: connect out, and route netlink for getaddrinfo(). */
static int add_client(scmp_filter_ctx ctx)
{
	const struct scmp_arg_cmp netlink[] = {
		SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE),
	};
	int err = 0;

	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "connect", 0, NULL);
	err = err ?: add_rule(ctx, SCMP_ACT_ALLOW, "socket", 2, netlink);
	return err;
}

/* Load the allowlist on this thread (no TSYNC: the other threads keep theirs). */
static int install_filter(bool client)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	size_t i;
	int err;

	if (!ctx)
		return -ENOMEM;
	err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	for (i = 0; !err && i < sizeof(allowed_syscalls) / sizeof(allowed_syscalls[0]); i++)
		err = add_rule(ctx, SCMP_ACT_ALLOW, allowed_syscalls[i], 0, NULL);
	if (!err)
		err = add_conditional(ctx);
	if (!err && client)
		err = add_client(ctx);
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err;
}

struct unpriv_run {
	const char *name;
	bool client;
	int (*fn)(void *arg);
	void *arg;
	int ret;
};

static void *unpriv_main(void *p)
{
	struct unpriv_run *r = p;
	bool bounded;
	int err;

	prctl(PR_SET_NAME, r->name, 0, 0, 0);
	err = reduce_caps(0, &bounded);
	if (err) {
		log_err("%s: cannot drop the thread's capabilities: %s", r->name, strerror(-err));
		r->ret = err;
		return NULL;
	}
	err = install_filter(r->client);
	if (err) {
		log_err("%s: cannot install the seccomp filter: %s", r->name, strerror(-err));
		r->ret = err;
		return NULL;
	}
	r->ret = r->fn(r->arg);
	return NULL;
}

static int run_unprivileged(struct unpriv_run *r)
{
	pthread_t t;
	int err;

	err = pthread_create(&t, NULL, unpriv_main, r);
	if (err) {
		log_err("%s: cannot start the unprivileged thread: %s", r->name, strerror(err));
		return -err;
	}
	pthread_join(t, NULL);
	return r->ret;
}

int privs__run_unprivileged_client(const char *name, int (*fn)(void *arg), void *arg)
{
	struct unpriv_run r = { .name = name, .client = true, .fn = fn, .arg = arg };

	return run_unprivileged(&r);
}

int privs__run_unprivileged(const char *name, int (*fn)(void *arg), void *arg)
{
	struct unpriv_run r = { .name = name, .fn = fn, .arg = arg };

	return run_unprivileged(&r);
}
