// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The BPF lifecycle in the libbpf-bootstrap order: open -> configure (map
 * sizes from the spec, pin root, stale pins dropped) -> load -> pins and
 * budgets reconciled -> (attach.c) attach. Close undoes all of it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "agent/collector_internal.h"
#include "emit.skel.h"
#include "lib/log.h"

static bool has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

#ifndef CAP_BPF
#define CAP_BPF		39
#define CAP_PERFMON	38
#endif

/*
 * Say plainly what is missing instead of failing later on EPERM. Measured on
 * Linux 6.18 (README, "Running as a node agent"): CAP_BPF and CAP_PERFMON
 * load the programs, but perf_event_open of a uprobe needs CAP_SYS_ADMIN
 * (Linux 6.16, "perf: Revert to requiring CAP_SYS_ADMIN for uprobes", also
 * in stable kernels); CAP_SYS_ADMIN alone stands for all three. Older
 * kernels took CAP_PERFMON for uprobes: with CAP_BPF and CAP_PERFMON only,
 * warn and let the kernel decide.
 */
static int check_privileges(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;	/* cannot tell: let the kernel decide */
	if (has_cap(data, CAP_SYS_ADMIN))
		return 0;
	if (has_cap(data, CAP_BPF) && has_cap(data, CAP_PERFMON)) {
		log_warn("running with CAP_BPF and CAP_PERFMON but without CAP_SYS_ADMIN: the programs will load, but since Linux 6.16 attaching uprobes needs CAP_SYS_ADMIN (the kernel answers Permission denied)");
		return 0;
	}
	log_err("emitd run needs root or CAP_SYS_ADMIN, which stands for CAP_BPF and CAP_PERFMON when loading, and attaching uprobes needs CAP_SYS_ADMIN itself (since Linux 6.16); add CAP_DAC_READ_SEARCH for a pin root below a root-only /sys/fs/bpf and CAP_SYS_PTRACE for --pid targets of other users. Running as uid %d without it",
		(int)geteuid());
	return -EPERM;
}

/*
 * Each hash map holds the budgets of its metrics (their __other__ series
 * included): the hard ceiling the kernel enforces.
 */
static void size_maps(struct collector *c)
{
	uint64_t want[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX] = {};
	size_t i;
	int m, l;

	for (i = 0; i < c->spec->nr_metrics; i++) {
		const struct store_metric *sm = &c->store.metrics[i];

		if (!sm->fixed)
			want[collector__lane_of(sm)][collector_map__of_kind(sm->kind)] +=
				sm->spec->budget;
	}
	for (l = 0; l < COLLECTOR_LANE_MAX; l++) {
		for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
			uint64_t w = want[l][m] ? want[l][m] : 1;

			if (w > UINT32_MAX / 2)
				w = UINT32_MAX / 2;
			c->map_max[l][m] = w;
			bpf_map__set_max_entries(collector__agg_map(c, m, l), w);
		}
	}
	for (m = 0; m < COLLECTOR_MAP_MAX; m++)
		bpf_map__set_max_entries(collector__fixed_map(c, m),
					 c->store.nr_fixed[collector_map__kind(m)] ?: 1);
	c->skel->rodata->global_budget = c->spec->global_budget;
}

/* Open and configure: map sizes, the sample ring, stale pins dropped. */
static int open_skel(struct collector *c, const char *pin_root, size_t ringbuf_bytes)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_root);
	int err;

	c->skel = emit_bpf__open_opts(&oo);
	if (!c->skel) {
		err = -errno;
		log_err("cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	size_maps(c);
	if (ringbuf_bytes)
		bpf_map__set_max_entries(c->skel->maps.samples, ringbuf_bytes);
	c->ringbuf_bytes = bpf_map__max_entries(c->skel->maps.samples);
	pins__drop_stale(c, pin_root);
	return 0;
}

static int load_skel(struct collector *c)
{
	int err = emit_bpf__load(c->skel);

	if (err == -EPERM)
		log_err("loading BPF programs was refused (%s): emitd run needs CAP_SYS_ADMIN (CAP_BPF and CAP_PERFMON load the programs, but attaching uprobes needs CAP_SYS_ADMIN)",
			strerror(-err));
	else if (err)
		log_err("cannot load the BPF programs: %s (run with --verbose for the verifier log)",
			strerror(-err));
	return err;
}

/* After the load: pins, the lanes, and what earlier runs left in the maps. */
static int settle(struct collector *c)
{
	int err;

	pins__set_modes(c);
	err = pins__write_fixed_ids(c);
	if (err) {
		log_err("cannot write fixed_ids: %s", strerror(-err));
		return err;
	}
	err = drain__open(c);
	if (!err)
		err = pins__check_metric_sigs(c);
	if (!err)
		err = pins__reconcile_budgets(c);
	if (err)
		return err;
	/* the pinned stats carry the submitted count of earlier runs: not this ring's */
	c->samples_base = c->stats[EMITD_STAT_SAMPLES_SUBMITTED];
	return 0;
}

int collector__open(const struct collector_opts *opts, struct collector **out)
{
	const char *pin_root = opts->pin_root ? opts->pin_root : EMITD_PIN_ROOT;
	struct collector *c = calloc(1, sizeof(*c));
	char msg[256];
	int err;

	if (!c)
		return -ENOMEM;
	c->spec = opts->spec;
	c->pids_req = opts->pids;
	c->per_key = opts->per_key;
	c->nr_pids_req = opts->nr_pids;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		err = c->ncpus ? c->ncpus : -EINVAL;
		free(c);
		return err;
	}
	err = store__init(&c->store, opts->spec, msg, sizeof(msg));
	if (err) {
		log_err("%s", msg);
		free(c);
		return err;
	}
	err = check_privileges();
	if (!err)
		err = pins__mount(pin_root);
	if (!err)
		err = open_skel(c, pin_root, opts->ringbuf_bytes);
	if (!err)
		err = load_skel(c);
	if (!err)
		err = settle(c);
	if (err) {
		collector__close(c);
		return err;
	}
	*out = c;
	return 0;
}

void collector__close(struct collector *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nr_probes; i++) {
		bpf_link__destroy(c->links[i]);
		free(c->probes[i].name);
		free(c->probes[i].binary);
	}
	free(c->probes);
	drain__close(c);
	emit_bpf__destroy(c->skel);
	store__free(&c->store);
	free(c);
}
