/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Types shared by the BPF programs (bpf/emit.bpf.c) and the agent (user/).
 *
 * Everything here is plain __u*-typed data so that the same layout is seen by
 * both sides and, through BTF, by `bpftool map dump`.
 */
#ifndef EMITD_H
#define EMITD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define EMITD_MAX_LABELS	4
#define EMITD_LABEL_LEN		32	/* bytes of a string label, NUL included */
#define EMITD_MAX_BOUNDS	63	/* finite histogram bounds */
#define EMITD_NR_SLOTS		64	/* bounds + the +Inf slot, a power of two */
#define EMITD_MAX_PROBES	1024	/* probe sites, each with its config, link and identity */
#define EMITD_MAX_METRICS	64	/* metrics of one spec, each with a stable slot */
#define EMITD_MAP_FLOOR		65536	/* series a hash series map holds at least (no prealloc) */
#define EMITD_STAT_SLOTS	64	/* entries of `stats`: room for statistics to come */
#define EMITD_FOLDED_KEYS	16384	/* folded series remembered, to count each once */
#define EMITD_MAX_ARGS		12	/* probe arguments a config can locate */
#define EMITD_NR_REGS		17	/* x86-64 registers an argument can live in */
#define EMITD_PIN_ROOT		"/sys/fs/bpf/emitd"
#define EMITD_LINKS_DIR		"links"	/* <pin root>/links/<cfg_id>: the probe links */
#define EMITD_FORK_LINK		"fork"	/* <pin root>/links/fork, exit: follow_forks' programs */
#define EMITD_EXIT_LINK		"exit"
#define EMITD_COMM_LEN		16	/* a task's name, NUL included (TASK_COMM_LEN) */
#define EMITD_MAX_COMMS		4	/* names a target's comm filter accepts */
#define EMITD_FOLLOW_ROOTS	4	/* followed pids a process can descend from */
#define EMITD_MAX_FOLLOWED	32768	/* processes `followed` holds */

enum emitd_kind {
	EMITD_KIND_COUNTER = 1,
	EMITD_KIND_GAUGE,
	EMITD_KIND_HISTOGRAM,
	EMITD_KIND_NORMALIZATION,
};

enum emitd_src_kind {
	EMITD_SRC_NONE = 0,
	EMITD_SRC_ARG,		/* integer argument */
	EMITD_SRC_DEREF,	/* *(type *)(arg + offset) */
	EMITD_SRC_STRING,	/* bounded user string at arg */
	/* the current task's context: read by the context handler only */
	EMITD_SRC_PID,		/* process id (the kernel's tgid), integer */
	EMITD_SRC_TID,		/* thread id (the kernel's pid), integer */
	EMITD_SRC_UID,		/* real uid, integer */
	EMITD_SRC_COMM,		/* the thread's name, EMITD_COMM_LEN bytes of the string label */
	EMITD_SRC_CGROUP,	/* cgroup v2 id, integer; the agent renders its path */
};

enum emitd_val_type {
	EMITD_VAL_S64 = 0,
	EMITD_VAL_U64,
	EMITD_VAL_F64,
};

/* struct emitd_probe_cfg.flags */
#define EMITD_CFG_SAMPLE	(1U << 0)	/* also send raw values down the sample lane */
#define EMITD_CFG_FIXED		(1U << 1)	/* no labels: per-CPU array slot, no hashing */
#define EMITD_CFG_HOT		(1U << 2)	/* hot lane: own maps, never shed */

/* struct emitd_series_key.flags */
#define EMITD_KEY_OTHER		(1U << 0)	/* the metric's overflow series, labels EMITD_OTHER_VALUE */
#define EMITD_KEY_CARRY_MARK	(1U << 1)	/* carry maps only: labels[0].num is a retired map's id */

/* The label value of every label of a metric's overflow series. */
#define EMITD_OTHER_VALUE	"__other__"

/* struct emitd_ctl.shed: what the kernel sheds for non-hot metrics */
#define EMITD_SHED_SAMPLES	(1U << 0)	/* sample-lane records */
#define EMITD_SHED_NEW_SERIES	(1U << 1)	/* creation of new series (the event is shed) */

/*
 * Where a probe argument lives at the probe site. uprobes on a function use
 * the ABI argument registers; USDT probes use the operands of their
 * .note.stapsdt entry ("-4@%edi", "8@16(%rbp)", "$5"), decoded by the agent.
 */
enum emitd_loc_kind {
	EMITD_LOC_NONE = 0,
	EMITD_LOC_REG,		/* the register */
	EMITD_LOC_REG_DEREF,	/* memory at register + off */
	EMITD_LOC_CONST,	/* an immediate */
};

/* Register numbering of struct emitd_regs, not of pt_regs. */
enum emitd_reg {
	EMITD_REG_AX, EMITD_REG_BX, EMITD_REG_CX, EMITD_REG_DX,
	EMITD_REG_SI, EMITD_REG_DI, EMITD_REG_BP, EMITD_REG_SP,
	EMITD_REG_R8, EMITD_REG_R9, EMITD_REG_R10, EMITD_REG_R11,
	EMITD_REG_R12, EMITD_REG_R13, EMITD_REG_R14, EMITD_REG_R15,
	EMITD_REG_IP,
};

struct emitd_arg_loc {
	__u8 kind;		/* enum emitd_loc_kind */
	__u8 reg;		/* enum emitd_reg */
	__s8 size;		/* bytes; negative: signed, as in USDT operands */
	__u8 pad;
	__s32 off;		/* REG_DEREF displacement */
	__s64 imm;		/* CONST value */
};

/* Per-CPU statistics slots (map `stats`), all exported by the agent. */
enum emitd_stat {
	EMITD_STAT_NO_CONFIG = 0,		/* hit on a probe id with no config */
	EMITD_STAT_READ_ERROR,		/* a user-memory read of a value failed */
	EMITD_STAT_LABEL_ERROR,		/* a user-memory read of a label failed */
	EMITD_STAT_LABEL_TRUNCATED,	/* string label longer than EMITD_LABEL_LEN - 1 */
	EMITD_STAT_FULL_COUNTERS,	/* insert refused: counters map full */
	EMITD_STAT_FULL_GAUGES,
	EMITD_STAT_FULL_HISTS,
	EMITD_STAT_FULL_NORMS,
	EMITD_STAT_RINGBUF_DROPPED,	/* sample-lane reserve failed */
	EMITD_STAT_SHED_SAMPLES,	/* sample-lane records shed under backpressure */
	EMITD_STAT_SHED_NEW_SERIES,	/* events of new series shed under backpressure */
	EMITD_STAT_WAKE_DROPPED,	/* wake-up notifications the ring had no room for */
	EMITD_STAT_SAMPLES_SUBMITTED,	/* sample-lane records submitted (ring fill) */
	EMITD_STAT_NO_PROGRAM,		/* a probe link found no handler to run (tail call) */
	EMITD_STAT_LABEL_DEFERRED,	/* events sent to the agent: a string label not resident */
	EMITD_STAT_LABEL_DEFERRED_LOST,	/* deferred events lost: ring full, config changed */
	EMITD_STAT_LABEL_REPLAYED,	/* deferred events read by the agent and replayed */
	EMITD_STAT_FILTERED_PROCESS,	/* events of a process not followed (follow_forks) */
	EMITD_STAT_FILTERED_CGROUP,	/* events of a task outside the target's cgroup */
	EMITD_STAT_FILTERED_COMM,	/* events of a task whose comm the target does not list */
	EMITD_STAT_FOLLOW_FULL,		/* forks of followed processes `followed` had no room for */
	EMITD_STAT_MAX,			/* at most EMITD_STAT_SLOTS */
};

struct emitd_src {
	__u8 kind;		/* enum emitd_src_kind */
	__u8 arg;		/* 0-based argument index */
	__u8 type;		/* enum emitd_val_type */
	__u8 pad;
	__s32 offset;		/* DEREF: byte offset from the pointer */
};

/*
 * One attached probe's configuration, filled by the agent before attach and
 * found by the probe's BPF cookie.
 *
 * Histogram bounds are stored as order-preserving images of the value type
 * (see emitd_bucket.h) so the kernel compares them as plain u64s.
 */
struct emitd_probe_cfg {
	__u32 metric_id;
	__u8 kind;		/* enum emitd_kind */
	__u8 nr_labels;
	__u8 nr_bounds;
	__u8 flags;		/* EMITD_CFG_* */
	__u32 slot;		/* EMITD_CFG_FIXED: index in the kind's *_fixed map */
	__u32 metric_idx;	/* index in `series_count`: the metric's slot, as `slot` */
	__u64 budget;		/* series admitted before folding into __other__ */
	struct emitd_src value;	/* NORMALIZATION: before */
	struct emitd_src value2;	/* NORMALIZATION: after */
	struct emitd_src labels[EMITD_MAX_LABELS];
	struct emitd_arg_loc args[EMITD_MAX_ARGS];
	__u64 bounds[EMITD_NR_SLOTS];
};

/* A label value: a string, or an integer when the label source is an arg. */
union emitd_label {
	char str[EMITD_LABEL_LEN];
	__s64 num;
};

/* Key of every aggregation map. Unused label slots are all-zero. */
struct emitd_series_key {
	__u32 metric_id;
	__u32 flags;		/* EMITD_KEY_* */
	union emitd_label labels[EMITD_MAX_LABELS];
};

struct emitd_counter {
	__u64 value;
};

struct emitd_gauge {
	__u64 raw;		/* s64, u64 or f64 bits, by the metric's value type */
	__u64 ktime_ns;		/* newest CPU wins */
	__u64 updates;
};

struct emitd_hist {
	__u64 count;
	__s64 sum;		/* integer values only; f64 sums use the sample lane */
	__u64 slots[EMITD_NR_SLOTS];	/* non-cumulative; slot nr_bounds is +Inf */
};

struct emitd_norm {
	__u64 events;
	__u64 zeroed;		/* after == 0 exactly */
};

/*
 * Cardinality guard state per metric (index metric_idx, the metric's slot),
 * and the global one at index EMITD_MAX_METRICS.
 */
struct emitd_series_count {
	__u64 admitted;		/* distinct series in the maps, __other__ excluded */
	__u64 folded_series;	/* distinct series folded into __other__ (see README) */
	__u64 folded_events;	/* events that went to __other__ */
};

/* Written by the agent, read by every event. */
struct emitd_ctl {
	__u32 shed;		/* EMITD_SHED_* */
	__u32 pad;
	__u64 global_budget;	/* the spec's global series budget */
	__u64 global_released;	/* series the agent removed since the global count was set */
};

/* struct emitd_site.flags */
#define EMITD_SITE_USED		(1U << 0)
#define EMITD_SITE_CTX		(1U << 1)	/* runs the context dispatcher (task labels, filters) */
#define EMITD_SITE_FOLLOW	(1U << 2)	/* every process, filtered to pid's descendants */

/*
 * What the probe link of a cfg_id is (map `sites`), written by the agent
 * before it attaches: a starting or reloading agent adopts a pinned link
 * whose identity a site of its spec has, and removes the others.
 */
struct emitd_site {
	__u64 dev;		/* the binary's device and inode */
	__u64 ino;
	__u64 file_offset;	/* where the uprobe is */
	__u64 ref_ctr_offset;	/* the USDT semaphore, 0: none */
	__s32 pid;		/* -1: every process; EMITD_SITE_FOLLOW: the followed pid */
	__u32 metric_id;	/* the metric the site's config feeds */
	__u32 flags;		/* EMITD_SITE_* */
	__u32 pad;
};

/* struct emitd_filter.flags */
#define EMITD_FILTER_FOLLOW	(1U << 0)	/* the process descends from `root` */
#define EMITD_FILTER_CGROUP	(1U << 1)	/* the task is in cgroup_id or below it */
#define EMITD_FILTER_COMM	(1U << 2)	/* the task's comm is one of comms[] */

/*
 * What a target lets through (map `filters`, by cfg_id), tested before an
 * event is counted by the context handler, the handler of the links whose
 * site has EMITD_SITE_CTX; the links of the other sites never read it. Every
 * event a filter stops is counted (EMITD_STAT_FILTERED_*).
 */
struct emitd_filter {
	__u32 flags;		/* EMITD_FILTER_* */
	__u32 nr_comms;
	__s32 root;		/* FOLLOW: the followed pid */
	__u32 cgroup_level;	/* CGROUP: depth of the target's cgroup (the root's is 0) */
	__u64 cgroup_id;	/* CGROUP: its id; 0 while it does not exist: nothing passes */
	char comms[EMITD_MAX_COMMS][EMITD_COMM_LEN];	/* zero-padded */
};

/*
 * A followed process (map `followed`, by tgid): the followed pids it
 * descends from, 0 for a free place. The agent enters a followed pid and its
 * descendants; the fork program copies a parent's entry to its child, the
 * exit program removes a process's entry when its last thread exits.
 */
struct emitd_followed {
	__s32 roots[EMITD_FOLLOW_ROOTS];
};

/* Sample-lane record (ring buffer `samples`). */
struct emitd_sample {
	__u32 probe_id;
	__u32 metric_id;
	__u64 v1;		/* value, or normalization before (raw bits) */
	__u64 v2;		/* normalization after (raw bits) */
	__u64 ktime_ns;
	struct emitd_series_key key;
};

/*
 * A string label the probe could not read, usually because its page is not
 * resident (never touched by the target, or reclaimed): a probe cannot
 * fault it in. The handler sends the event down the sample lane as this
 * record (told from struct emitd_sample by its size) with the address of
 * each such label; the agent reads the bytes (process_vm_readv), fills the
 * key and hands the record back to the program emitd_replay, which counts
 * the event as the handler would have.
 */
struct emitd_deferred {
	__u32 probe_id;
	__u32 metric_id;
	__u32 tgid;		/* the process, as the initial pid namespace sees it */
	__u8 result;		/* set by the agent: enum emitd_replay_result */
	__u8 truncated;		/* set by the agent: bit i, label i was cut */
	__u16 pad;
	__u64 start_ns;		/* the process's start (start_boottime): tells a reused pid */
	__u64 v1;		/* as struct emitd_sample */
	__u64 v2;
	__u64 ktime_ns;
	__u64 addr[EMITD_MAX_LABELS];	/* a string label still to read, 0: read */
	struct emitd_series_key key;	/* labels at addr[i] != 0 are zero */
};

enum emitd_replay_result {
	EMITD_REPLAY_READ = 0,		/* the agent read every label: count the event */
	EMITD_REPLAY_READ_FAILED,	/* it could not: count a label read error */
};

#endif /* EMITD_H */
