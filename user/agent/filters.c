// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The targets' cgroup filters kept current, from the drain: a filter holds
 * the id of its cgroup, which a service restart or a container start
 * replaces (a new directory, a new id). Until the next check (at most a
 * second, plus the drain interval) the events of tasks in the new cgroup
 * are filtered out, and counted as such (EMITD_STAT_FILTERED_CGROUP).
 */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/cgroup.h"
#include "agent/collector_internal.h"
#include "emit.skel.h"
#include "lib/log.h"

void filters__check(struct collector *c, double now_s)
{
	int fd = bpf_map__fd(c->skel->maps.filters);
	uint32_t level;
	uint64_t id;
	size_t i;

	if (!c->cgroups || now_s - c->filters_checked_s < 1.0)
		return;
	c->filters_checked_s = now_s;
	for (i = 0; i < c->nr_probes; i++) {
		struct collector_probe *p = &c->probes[i];

		if (!(p->filter.flags & EMITD_FILTER_CGROUP) || !p->target || !p->target->cgroup)
			continue;
		if (cgroups__lookup(c->cgroups, p->target->cgroup, &id, &level))
			id = 0, level = p->filter.cgroup_level;
		if (id == p->filter.cgroup_id && level == p->filter.cgroup_level)
			continue;
		if (!i || c->probes[i - 1].target != p->target ||
		    c->probes[i - 1].filter.cgroup_id != id)
			log_info("target %s: cgroup %s %s: filter updated", p->target->name,
				 p->target->cgroup, id ? "(re)created" : "removed");
		p->filter.cgroup_id = id;
		p->filter.cgroup_level = level;
		if (bpf_map_update_elem(fd, &p->cfg_id, &p->filter, BPF_ANY))
			log_warn("cannot update the filter of %s: %s", p->name, strerror(errno));
	}
}
