/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * privs: least privilege for `emitd run` (issue 10, item 4).
 *
 * What attaching needs, measured on Linux 6.18 (README, "Running as a node
 * agent"): CAP_SYS_ADMIN (uprobes: perf_event_open of the uprobe PMU needs it
 * since Linux 6.16; it also stands for CAP_BPF and CAP_PERFMON when loading,
 * and mounts bpffs), CAP_DAC_READ_SEARCH (a pin root below a root-only
 * /sys/fs/bpf; target binaries the agent's user cannot read) and
 * CAP_SYS_PTRACE (--pid targets of other users: /proc/PID/exe, /proc/PID/root,
 * perf events on their tasks; process_vm_readv() of the string labels a probe
 * could not read, agent/deferred.h). privs__keep() is that set. A process without
 * CAP_SYS_ADMIN keeps CAP_BPF and CAP_PERFMON instead, when it holds them
 * (enough before Linux 6.16; the loader warns).
 *
 * privs__restrict(): called first, before the process has other threads.
 * Sets NoNewPrivs; drops every capability outside privs__keep() from the
 * bounding set when the process holds CAP_SETPCAP (without it, whoever
 * started the agent chose the bounding set, and NoNewPrivs keeps it from
 * ever being gained); reduces the permitted, effective and inheritable sets
 * to privs__keep() and what the process holds (the ambient set follows).
 * Threads created later inherit all of it. Returns 0 or -errno, logged.
 *
 * privs__run_unprivileged(): runs fn(arg) on a new thread named @name that
 * first drops all its capabilities (permitted, effective, inheritable,
 * ambient) and installs the seccomp allowlist of privs.c, then returns what
 * fn returned once that thread has ended; -errno, logged, when the thread
 * could not be made unprivileged (fn does not run then). Threads fn creates
 * inherit the empty sets, NoNewPrivs and the filter: capabilities and seccomp
 * filters are per thread (libcap without libpsx changes the calling thread
 * only; the filter is loaded without TSYNC), so the rest of the process keeps
 * what privs__restrict() left it.
 *
 * The filter's default is EPERM, never a kill: a syscall the allowlist
 * forgot degrades (a failed request, a log line) instead of killing the
 * agent. Allowed: memory, futexes and thread creation (clone with
 * CLONE_THREAD only; clone3 gets ENOSYS so glibc falls back to clone), time,
 * getrandom, poll/epoll/eventfd, socket I/O and AF_INET/AF_INET6/AF_UNIX
 * sockets that are bound and listened on (not connected), read-only opens,
 * signals to the agent itself. Forbidden, among others: opens for writing,
 * connect, fork, execve, bpf, perf_event_open, ptrace, mount, capset,
 * sigaction, kill of another process.
 */
#ifndef EMITD_AGENT_PRIVS_H
#define EMITD_AGENT_PRIVS_H

#include <stdint.h>

/* The capabilities the agent keeps, as a mask of 1ULL << CAP_*. */
uint64_t privs__keep(void);

int privs__restrict(void);

int privs__run_unprivileged(const char *name, int (*fn)(void *arg), void *arg);

/*
 * The same for threads that talk to servers (remote write): the allowlist
 * also has connect() and route netlink sockets (getaddrinfo()).
 */
int privs__run_unprivileged_client(const char *name, int (*fn)(void *arg), void *arg);

#endif /* EMITD_AGENT_PRIVS_H */
