// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The BPF lifecycle in the libbpf-bootstrap order: open -> configure (map
 * sizes from the spec, pin root, pins that no longer fit retired) -> load
 * -> apply the spec: probe links adopted, detached or attached, series of
 * removed or changed metrics gone, the new handler switched in, what
 * retired maps held carried -> drain. A reload applies a new spec the same
 * way, with a new load only when a map must grow. Close leaves the links
 * and maps pinned.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/cgroup.h"
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
 * Each hash series map holds max(the budgets of its metrics, their
 * __other__ series included, EMITD_MAP_FLOOR), rounded up to a power of
 * two: budget edits within that size keep the map.
 */
static void map_sizes(const struct spec *spec, uint32_t out[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX])
{
	uint64_t want[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX] = {}, w;
	enum collector_lane lane;
	size_t i;
	int m, l;

	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *sm = &spec->metrics[i];

		if (!sm->nr_labels)
			continue;	/* a fixed slot */
		lane = sm->hot ? COLLECTOR_LANE_HOT : COLLECTOR_LANE_NORMAL;
		want[lane][collector_map__of_kind(emitd_kind__from_spec(sm->type))] += sm->budget;
	}
	for (l = 0; l < COLLECTOR_LANE_MAX; l++) {
		for (m = 0; m < COLLECTOR_MAP_MAX; m++) {
			for (w = EMITD_MAP_FLOOR; w < want[l][m] && w < (1ULL << 31); w *= 2)
				;
			out[l][m] = w;
		}
	}
}

static bool maps_fit(const struct collector *c, const struct spec *spec)
{
	uint32_t want[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];
	int m, l;

	map_sizes(spec, want);
	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		for (m = 0; m < COLLECTOR_MAP_MAX; m++)
			if (want[l][m] > c->map_max[l][m])
				return false;
	return true;
}

static void record_sizes(struct collector *c)
{
	int m, l;

	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		for (m = 0; m < COLLECTOR_MAP_MAX; m++)
			c->map_max[l][m] = bpf_map__max_entries(collector__agg_map(c, m, l));
	c->ringbuf_bytes = bpf_map__max_entries(c->skel->maps.samples);
}

static int load_skel(struct emit_bpf *skel)
{
	int err = emit_bpf__load(skel);

	if (err == -EPERM)
		log_err("loading BPF programs was refused (%s): emitd run needs CAP_SYS_ADMIN (CAP_BPF and CAP_PERFMON load the programs, but attaching uprobes needs CAP_SYS_ADMIN)",
			strerror(-err));
	else if (err)
		log_err("cannot load the BPF programs: %s (run with --verbose for the verifier log)",
			strerror(-err));
	return err;
}

/*
 * Open, size and load one instance of the object, its maps pinned: what
 * fits is reused, series maps and the ring that do not are retired.
 */
static int load_instance(struct collector *c, const struct spec *spec, struct emit_bpf **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = c->pin_root);
	uint32_t sizes[COLLECTOR_LANE_MAX][COLLECTOR_MAP_MAX];
	struct emit_bpf *skel, *running = c->skel;
	size_t nr_found;
	int m, l, err;

	skel = emit_bpf__open_opts(&oo);
	if (!skel) {
		err = -errno;
		log_err("cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	map_sizes(spec, sizes);
	c->skel = skel;
	for (l = 0; l < COLLECTOR_LANE_MAX; l++)
		for (m = 0; m < COLLECTOR_MAP_MAX; m++)
			bpf_map__set_max_entries(collector__agg_map(c, m, l), sizes[l][m]);
	c->skel = running;
	if (c->ringbuf_req)
		bpf_map__set_max_entries(skel->maps.samples, c->ringbuf_req);
	err = migrate__find_retired(c, skel);
	nr_found = c->nr_retired;
	if (!err)
		err = migrate__check_pins(c, skel);
	if (!err)
		err = load_skel(skel);
	if (err) {
		/* the running handler still counts into the maps this load retired */
		migrate__unretire(c, nr_found);
		emit_bpf__destroy(skel);
		return err;
	}
	*out = skel;
	return 0;
}

/* The pinned ctl, with no shedding: a new agent starts from normal. */
static int read_ctl(struct collector *c)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.ctl), &zero, &c->ctl))
		return -errno;
	c->ctl.shed = 0;
	return 0;
}

static int mark_trials(const struct collector *c, struct store *st)
{
	size_t i, j;

	for (i = 0; i < c->nr_trial; i++) {
		struct store_metric *m = NULL;

		for (j = 0; j < st->nr_metrics; j++)
			if (!strcmp(st->metrics[j].spec->name, c->trial[i]) ||
			    !strcmp(st->metrics[j].full_name, c->trial[i]))
				m = &st->metrics[j];
		if (!m || m->kind != EMITD_KIND_HISTOGRAM) {
			log_err("--hist-trial %s: no histogram of that name in the spec", c->trial[i]);
			return -EINVAL;
		}
		store_metric__set_trial(m);
	}
	return 0;
}

/* What the spec wants, worked out with nothing changed: the store and the sites. */
struct apply {
	const struct spec *spec;
	struct store st;
	struct lifecycle_plan pl;	/* the sites, and the probes without one */
	bool live[EMITD_MAX_METRICS];	/* by store metric: an adopted link feeds it */
};

static int plan(struct collector *c, struct apply *ap)
{
	char msg[256];
	size_t i;
	int err;

	err = store__init(&ap->st, ap->spec, msg, sizeof(msg));
	if (err) {
		log_err("%s", msg);
		return err;
	}
	if (c->cgroups)
		store__set_cgroup_namer(&ap->st, cgroups__path_cb, c->cgroups);
	err = mark_trials(c, &ap->st);
	if (!err)
		err = pins__assign_slots(c, &ap->st);
	if (!err)
		err = pins__mark_changed(c, &ap->st);
	if (!err)
		err = lifecycle__plan(c, ap->spec, &ap->st, &ap->pl);
	if (!err)
		err = lifecycle__match(c, &ap->pl, ap->spec, &ap->st, false);
	for (i = 0; !err && i < ap->st.nr_metrics; i++)
		ap->live[i] = lifecycle__metric_live(ap->pl.want, ap->pl.nr_want, i);
	return err;
}

static void apply_free(struct apply *ap)
{
	lifecycle_plan__free(&ap->pl);
	store__free(&ap->st);
}

/* The kernel side, changed: the order keeps every event counted once. */
static int commit(struct collector *c, struct apply *ap)
{
	int err;

	err = lifecycle__detach(c);
	if (!err)
		err = pins__retire_metrics(c, &ap->st);
	if (!err)
		err = carry__purge(c, &ap->st);
	if (!err)
		err = migrate__prepare(c, &ap->st);
	if (!err)
		err = pins__init_budgets(c, &ap->st, ap->live);
	if (!err) {
		c->ctl.global_budget = ap->spec->global_budget;
		err = pins__write_ctl(c);
	}
	return err ? err : lifecycle__attach(c, &ap->pl, false);
}

/* The collector runs @ap now: its store, its probes (those with a link). */
static int take(struct collector *c, struct apply *ap)
{
	int err;

	lifecycle__take(c, &ap->pl);
	memset(c->drop, 0, EMITD_MAX_PROBES * sizeof(*c->drop));
	err = store__adopt_samples(&ap->st, &c->store);
	drain__reset_order(c);
	store__free(&c->store);
	c->store = ap->st;
	memset(&ap->st, 0, sizeof(ap->st));
	c->spec = ap->spec;
	if (!err)
		err = carry__apply(c);
	return err;
}

static void log_links(const struct collector *c, bool reload)
{
	size_t i;

	for (i = 0; i < c->nr_probes; i++)
		if (c->probes[i].adopted && !reload)
			attach__log(&c->probes[i], "adopted");
	log_info("probe links: %zu adopted, %zu attached, %zu detached%s", c->nr_adopted,
		 c->nr_attached, c->nr_detached,
		 c->nr_failed ? "; some probes have no link" : "");
}

/*
 * Apply @spec. *@committed says whether the kernel side changed; once it
 * did, the collector runs @spec even when a later step fails.
 */
static int apply(struct collector *c, const struct spec *spec, bool *committed)
{
	struct apply ap = { .spec = spec };
	int err, err2;

	*committed = false;
	err = plan(c, &ap);
	if (err) {
		apply_free(&ap);
		return err;
	}
	*committed = true;
	err = commit(c, &ap);
	err2 = take(c, &ap);
	err = err ? err : err2;
	apply_free(&ap);
	err2 = migrate__switch(c);
	err = err ? err : err2;
	log_links(c, c->drains > 0);
	err2 = collector__drain(c, 0);
	return err ? err : err2;
}

int collector__open(const struct collector_opts *opts, struct collector **out)
{
	const char *pin_root = opts->pin_root ? opts->pin_root : EMITD_PIN_ROOT;
	struct collector *c = calloc(1, sizeof(*c));
	bool committed;
	int err;

	if (!c)
		return -ENOMEM;
	c->per_key = opts->per_key;
	c->best_effort = opts->best_effort;
	c->trial = opts->trial;
	c->nr_trial = opts->nr_trial;
	c->follow_forks = opts->follow_forks;
	if (cgroups__open(NULL, &c->cgroups))
		log_debug("no cgroup v2 hierarchy mounted: cgroup labels are ids, cgroup filters refused");
	c->ringbuf_req = opts->ringbuf_bytes;
	c->ncpus = libbpf_num_possible_cpus();
	c->pin_root = strdup(pin_root);
	c->sites = calloc(EMITD_MAX_PROBES, sizeof(*c->sites));
	c->drop = calloc(EMITD_MAX_PROBES, sizeof(*c->drop));
	err = !c->pin_root || !c->sites || !c->drop ? -ENOMEM : 0;
	if (!err)
		err = collector__set_pids(c, opts->pids, opts->nr_pids);
	if (!err && c->ncpus <= 0)
		err = c->ncpus ? c->ncpus : -EINVAL;
	if (!err)
		err = check_privileges();
	if (!err)
		err = pins__mount(pin_root);
	if (!err)
		err = carry__load(c);
	if (!err)
		err = load_instance(c, opts->spec, &c->skel);
	if (!err) {
		record_sizes(c);
		pins__set_modes(c);
		err = read_ctl(c);
	}
	if (!err)
		err = drain__open(c);
	if (!err)
		err = apply(c, opts->spec, &committed);
	if (err) {
		collector__close(c);
		return err;
	}
	/* the pinned stats carry the submitted count of earlier runs: not this ring's */
	c->samples_base = c->stats[EMITD_STAT_SAMPLES_SUBMITTED];
	*out = c;
	return 0;
}

/* A map must grow: a new instance, bound to new maps, takes over at the switch. */
static int reload_instance(struct collector *c, const struct spec *spec)
{
	struct emit_bpf *skel, *old = c->skel;
	int err;

	err = load_instance(c, spec, &skel);
	if (err)
		return err;
	drain__close_rings(c);
	c->skel = skel;
	record_sizes(c);
	pins__set_modes(c);
	err = drain__open_rings(c);
	emit_bpf__destroy(old);	/* its handler stays in `progs` until the switch */
	return err;
}

int collector__reload(struct collector *c, const struct spec *spec, bool *committed)
{
	int err = 0;

	*committed = false;
	if (!maps_fit(c, spec))
		err = reload_instance(c, spec);
	if (!err)
		err = apply(c, spec, committed);
	/* a new instance took over, the spec did not: its switch all the same */
	if (!*committed && c->nr_retired && !migrate__switch(c))
		collector__drain(c, 0);
	return err;
}

void collector__close(struct collector *c)
{
	if (!c)
		return;
	if (c->skel) {
		c->ctl.shed = 0;	/* nothing is shed while no agent runs */
		pins__write_ctl(c);
		if (c->nr_retired)
			log_warn("%zu retired maps stay pinned: the next start carries them",
				 c->nr_retired);
	}
	lifecycle__release(c);
	collector_probes__free(c->probes, c->nr_probes);
	collector_failures__free(c->failed, c->nr_failed);
	free(c->pids_req);
	drain__close(c);
	migrate__free_retired(c);
	carry__free(c);
	emit_bpf__destroy(c->skel);
	store__free(&c->store);
	cgroups__free(c->cgroups);
	free(c->sites);
	free(c->drop);
	free(c->pin_root);
	free(c);
}
