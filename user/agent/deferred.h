/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * deferred: the events whose string label the probe could not read,
 * finished by the agent.
 *
 * A probe cannot fault a page in, so a string on a page that is not
 * resident (a literal the target never touched, a page reclaimed or swapped
 * out) fails to read in the kernel. The handler then sends the event down
 * the sample lane as a struct emitd_deferred with the string's address
 * (bpf/emit.bpf.c, defer_event()). deferred__read() reads those strings
 * with process_vm_readv(), which faults the pages in (in the target's page
 * tables too: its next events read them in the kernel again), exactly as
 * bpf_probe_read_user_str() would have cut them, and checks that the pid
 * is still the process of the event. deferred__replay() hands the record
 * to the kernel's emitd_replay, which counts the event as the handler would
 * have (budgets, __other__, shedding, samples) or, when the read failed, a
 * label read error: each deferred event is counted once, in the kernel.
 *
 * Touches the probed process's memory (read only), /proc/PID/stat and the
 * BPF program it is given; keeps no state.
 */
#ifndef EMITD_DEFERRED_H
#define EMITD_DEFERRED_H

#include <stdbool.h>
#include <sys/types.h>

#include "emitd.h"

/*
 * Read the labels @d lacks into d->key and set d->result and d->truncated.
 * 0 when they were read, else the -errno of the failure (d->result is then
 * EMITD_REPLAY_READ_FAILED): -ESRCH for a process that is gone or whose pid
 * another process now has, -EFAULT for an address it cannot read.
 */
int deferred__read(struct emitd_deferred *d);

/* Count @d in the kernel through the emitd_replay program @prog_fd. 0 or -errno. */
int deferred__replay(int prog_fd, const struct emitd_deferred *d);

/*
 * The string at @addr in process @pid into @out as the kernel reads a
 * label: at most EMITD_LABEL_LEN - 1 bytes and a NUL, the rest zero;
 * *@truncated when the string is longer. 0, -EFAULT (no NUL before the
 * first byte that cannot be read), or the -errno of process_vm_readv().
 */
int deferred__read_label(pid_t pid, __u64 addr, char out[EMITD_LABEL_LEN], bool *truncated);

/* The start time (field 22, clock ticks) in the text of a /proc/PID/stat. 0 or -EINVAL. */
int deferred__parse_start(const char *stat, unsigned long long *ticks);

#endif /* EMITD_DEFERRED_H */
