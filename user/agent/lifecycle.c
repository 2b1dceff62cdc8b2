// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The probe links' lifecycle. Each link is pinned at <pin root>/links/<id>,
 * its cookie and `cfg` entry are <id>, and `sites` says what it is (binary
 * device and inode, file offset, semaphore, pid, metric). A collector that
 * applies a spec adopts each pinned link whose identity a planned site has
 * and whose metric kept its meaning, detaches and unpins the links nothing
 * wants, and attaches and pins the sites left. cfg_ids stay with their
 * sites across restarts and reloads.
 *
 * Targets change under a running spec: collector__refresh() plans the
 * probes of one binary or of some pids again and reconciles the same way,
 * without touching the store. A binary replaced on disk (a new inode at the
 * path) gets new links; the links on the old inode are retained while a
 * process still maps it executable (/proc/PID/maps), and detached by
 * collector__prune() once none does. A probe that cannot be planned or
 * attached is recorded as a failure with what it waits for, and fails the
 * apply only under the strict policy (and never for a process that is not
 * there: that is the target's state).
 * sites across restarts and reloads. A site's `filters` entry is written
 * with its config. follow_forks: the fork and exit programs' links, pinned
 * at <pin root>/links/fork and links/exit while a site follows a pid, and
 * the followed pids' processes entered in `followed`.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/collector_internal.h"
#include "emit.skel.h"
#include "lib/log.h"

/* ---- planning ---- */

static bool pid_gone(const struct collector *c, pid_t pid)
{
	size_t i;

	for (i = 0; i < c->nr_gone; i++)
		if (c->gone[i] == pid)
			return true;
	return false;
}

static bool proc_exists(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return !access(path, F_OK);
}

/* The binary of @t as an absolute path, resolved when it exists; NULL: none. */
static char *target_path(const struct spec_target *t)
{
	char cwd[PATH_MAX], *s = NULL;

	if (!t || !t->binary)
		return NULL;
	s = realpath(t->binary, NULL);
	if (s || t->binary[0] == '/')
		return s ? s : strdup(t->binary);
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&s, "%s/%s", cwd, t->binary) < 0)
		return NULL;
	return s;
}

void collector_failures__free(struct collector_failure *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].path);
	}
	free(v);
}

void lifecycle_plan__free(struct lifecycle_plan *pl)
{
	collector_probes__free(pl->want, pl->nr_want);
	collector_failures__free(pl->failed, pl->nr_failed);
	memset(pl, 0, sizeof(*pl));
}

static struct collector_failure *failure_add(struct lifecycle_plan *pl)
{
	struct collector_failure *v = realloc(pl->failed, (pl->nr_failed + 1) * sizeof(*v));

	if (!v)
		return NULL;
	pl->failed = v;
	v += pl->nr_failed++;
	memset(v, 0, sizeof(*v));
	return v;
}

/* The probe of metric @sm for @pid (-1: every process) has no link: why, and what it waits for. */
static int record_failure(struct lifecycle_plan *pl, const struct spec *spec,
			  const struct store_metric *sm, pid_t pid, int err, const char *binary)
{
	const struct spec_target *t = spec__find_target(spec, sm->spec->probe.target);
	struct collector_failure *f;
	struct stat st;
	size_t i;

	for (i = 0; i < pl->nr_failed; i++)
		if (pl->failed[i].metric_idx == sm->idx && pl->failed[i].pid == pid)
			return 0;	/* one site failed already */
	f = failure_add(pl);
	if (!f)
		return -ENOMEM;
	f->metric = sm->spec;
	f->metric_idx = sm->idx;
	f->name = attach__probe_name(&sm->spec->probe);
	f->target = t ? t->name : sm->spec->probe.target;
	f->pid = pid;
	f->err = err;
	if (!f->name)
		return -ENOMEM;
	if (pid == 0 || err == -ESRCH) {
		f->no_process = true;
	} else if (pid > 0) {
		f->wait = proc_exists(pid) ? COLLECTOR_WAIT_NONE : COLLECTOR_WAIT_PID;
	} else if (t) {
		f->path = binary ? strdup(binary) : target_path(t);
		if (f->path)
			f->wait = stat(f->path, &st) ? COLLECTOR_WAIT_PATH : COLLECTOR_WAIT_CHANGE;
	}
	return 0;
}

/* The pid a probe of @sm is planned for: the pid set's @entry, else its target's, else -1. */
static pid_t unit_pid(const struct spec *spec, const struct store_metric *sm, pid_t entry)
{
	const struct spec_target *t = spec__find_target(spec, sm->spec->probe.target);

	if (entry >= 0)
		return entry;
	return t && t->pid > 0 ? t->pid : -1;
}

/* Whether the probe of @sm for @pid is one @sc plans again. */
static bool in_scope(const struct collector *c, const struct collector_scope *sc,
		     const struct spec *spec, const struct store_metric *sm, pid_t pid)
{
	char *tp;
	bool hit;
	size_t i;

	if (!sc || (!sc->path && !sc->nr_pids) || pid == 0)
		return true;
	if (pid > 0) {
		for (i = 0; i < sc->nr_pids; i++)
			if (sc->pids[i] == pid)
				return true;
		return false;
	}
	if (!sc->path)
		return false;
	tp = target_path(spec__find_target(spec, sm->spec->probe.target));
	hit = tp && !strcmp(tp, sc->path);
	free(tp);
	for (i = 0; !hit && i < c->nr_probes; i++)
		hit = c->probes[i].metric_idx == sm->idx && c->probes[i].pid == -1 &&
		      !strcmp(c->probes[i].binary, sc->path);
	for (i = 0; !hit && i < c->nr_failed; i++)
		hit = c->failed[i].metric_idx == sm->idx && c->failed[i].pid == -1 &&
		      c->failed[i].path && !strcmp(c->failed[i].path, sc->path);
	return hit;
}

/* Out of scope: what runs for the probe of @sm and @pid goes on as it is. */
static int carry_unit(const struct collector *c, const struct store_metric *sm, pid_t pid,
		      struct lifecycle_plan *pl)
{
	struct collector_probe *v;
	struct collector_failure *f;
	size_t i;

	for (i = 0; i < c->nr_probes; i++) {
		const struct collector_probe *p = &c->probes[i];

		if (p->metric_idx != sm->idx || p->pid != pid)
			continue;
		v = realloc(pl->want, (pl->nr_want + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		pl->want = v;
		v += pl->nr_want++;
		*v = *p;
		v->adopted = v->attached = false;
		v->name = strdup(p->name);
		v->binary = strdup(p->binary);
		if (!v->name || !v->binary)
			return -ENOMEM;
	}
	for (i = 0; i < c->nr_failed; i++) {
		const struct collector_failure *p = &c->failed[i];

		if (p->metric_idx != sm->idx || p->pid != pid)
			continue;
		f = failure_add(pl);
		if (!f)
			return -ENOMEM;
		*f = *p;
		f->name = strdup(p->name);
		f->path = p->path ? strdup(p->path) : NULL;
		if (!f->name || (p->path && !f->path))
			return -ENOMEM;
	}
	return 0;
}

/* The probe of @sm for the pid set's @entry (-1: no pid set). */
static int plan_unit(struct collector *c, const struct spec *spec, const struct store_metric *sm,
		     pid_t entry, const struct collector_scope *sc, bool tolerant,
		     struct lifecycle_plan *pl)
{
	pid_t pid = unit_pid(spec, sm, entry);
	struct attach_plan ap;
	int err;

	if (pid > 0 && pid_gone(c, pid))
		pid = 0;
	if (!in_scope(c, sc, spec, sm, pid))
		return carry_unit(c, sm, pid, pl);
	if (pid == 0)	/* no process to attach to: the target's state, not an error */
		return record_failure(pl, spec, sm, 0, -ESRCH, NULL);
	ap.v = pl->want;
	ap.nr = pl->nr_want;
	err = attach__plan_unit(&ap, c, spec, sm, pid > 0 ? pid : 0);
	pl->want = ap.v;
	pl->nr_want = ap.nr;
	if (!err || err == -ENOMEM || !(tolerant || c->best_effort))
		return err;
	return record_failure(pl, spec, sm, pid, err, NULL);
}

static int plan_scoped(struct collector *c, const struct spec *spec, const struct store *st,
		       const struct collector_scope *sc, bool tolerant, struct lifecycle_plan *pl)
{
	size_t i, j;
	int err = 0;

	pl->spec = spec;
	for (i = 0; i < st->nr_metrics && !err; i++) {
		if (!c->nr_pids_req) {
			err = plan_unit(c, spec, &st->metrics[i], -1, sc, tolerant, pl);
			continue;
		}
		for (j = 0; j < c->nr_pids_req && !err; j++)
			err = plan_unit(c, spec, &st->metrics[i], c->pids_req[j], sc, tolerant, pl);
	}
	if (err)
		lifecycle_plan__free(pl);
	return err;
}

int lifecycle__plan(struct collector *c, const struct spec *spec, const struct store *st,
		    struct lifecycle_plan *pl)
{
	memset(pl, 0, sizeof(*pl));
	return plan_scoped(c, spec, st, NULL, false, pl);
}

/* ---- links ---- */

static void link_path(const struct collector *c, uint32_t id, char *buf, size_t n)
{
	snprintf(buf, n, "%s/" EMITD_LINKS_DIR "/%u", c->pin_root, id);
}

/* The cfg_ids with a pinned link. */
static int read_pinned(const struct collector *c, bool *pinned)
{
	char dir[PATH_MAX];
	struct dirent *de;
	unsigned long id;
	char *end;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/" EMITD_LINKS_DIR, c->pin_root);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!strcmp(de->d_name, EMITD_FORK_LINK) || !strcmp(de->d_name, EMITD_EXIT_LINK))
			continue;	/* follow_forks' programs (lifecycle__follow()) */
		id = strtoul(de->d_name, &end, 10);
		if (*end || id >= EMITD_MAX_PROBES)
			log_warn("%s/%s: not a probe link of emitd's: left alone", dir, de->d_name);
		else
			pinned[id] = true;
	}
	closedir(d);
	return 0;
}

static int read_sites(struct collector *c)
{
	int fd = bpf_map__fd(c->skel->maps.sites);
	__u32 id;

	for (id = 0; id < EMITD_MAX_PROBES; id++)
		if (bpf_map_lookup_elem(fd, &id, &c->sites[id]))
			return -errno;
	return 0;
}

static bool same_site(const struct emitd_site *a, const struct emitd_site *b)
{
	const __u32 kind = EMITD_SITE_CTX | EMITD_SITE_FOLLOW;

	return (a->flags & EMITD_SITE_USED) && a->dev == b->dev && a->ino == b->ino &&
	       a->file_offset == b->file_offset && a->ref_ctr_offset == b->ref_ctr_offset &&
	       a->pid == b->pid && a->metric_id == b->metric_id &&
	       (a->flags & kind) == (b->flags & kind);
}

static int prog_tag(int prog_fd, __u8 tag[BPF_TAG_SIZE])
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	memcpy(tag, info.tag, BPF_TAG_SIZE);
	return 0;
}

/* Whether @l runs @prog of this object (same instructions, same tag). */
static bool runs_our_prog(struct bpf_link *l, const struct bpf_program *prog)
{
	__u8 ours[BPF_TAG_SIZE], theirs[BPF_TAG_SIZE];
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd;
	bool same;

	if (bpf_obj_get_info_by_fd(bpf_link__fd(l), &info, &len))
		return false;
	fd = bpf_prog_get_fd_by_id(info.prog_id);
	if (fd < 0)
		return false;
	same = !prog_tag(fd, theirs) && !prog_tag(bpf_program__fd(prog), ours) &&
	       !memcmp(ours, theirs, BPF_TAG_SIZE);
	close(fd);
	return same;
}

/* The link of cfg_id @id, opened from its pin when this agent does not hold it. */
static struct bpf_link *open_link(struct collector *c, uint32_t id)
{
	char path[PATH_MAX];

	if (!c->links[id]) {
		link_path(c, id, path, sizeof(path));
		c->links[id] = bpf_link__open(path);
		if (!c->links[id] && errno != ENOENT)
			log_warn("%s: cannot open the pinned link: %s", path, strerror(errno));
	}
	return c->links[id];
}

static bool adopt(struct collector *c, struct collector_probe *p, uint32_t id)
{
	struct bpf_link *l = open_link(c, id);

	if (!l)
		return false;
	if (!runs_our_prog(l, p->ctx ? c->skel->progs.emitd_probe_ctx :
				       c->skel->progs.emitd_probe)) {
		log_warn("the pinned link of %s in %s at 0x%llx runs another build's dispatcher: attaching it again",
			 p->name, p->binary, (unsigned long long)p->site.file_offset);
		return false;
	}
	p->cfg_id = id;
	p->adopted = true;
	return true;
}

/* ---- links on replaced binaries ---- */

/* What the scans of one call found, by inode. */
struct map_scan {
	struct {
		__u64 dev, ino;
		bool mapped;
		char path[256];
	} v[16];
	size_t nr;
};

/* Whether the maps file @file maps @dev:@ino executable; @path: its file name. */
static bool maps_have(const char *file, __u64 dev, __u64 ino, char *path, size_t n)
{
	unsigned long long inode;
	unsigned int maj, min;
	char line[PATH_MAX + 128], perms[5];
	bool found = false;
	int off;
	FILE *f;

	f = fopen(file, "re");
	if (!f)
		return false;	/* gone, or not ours to read */
	while (!found && fgets(line, sizeof(line), f)) {
		off = 0;
		if (sscanf(line, "%*x-%*x %4s %*x %x:%x %llu %n", perms, &maj, &min,
			   &inode, &off) < 4 || perms[2] != 'x' || inode != ino ||
		    makedev(maj, min) != dev)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, n, "%s", off ? line + off : "");
		found = true;
	}
	fclose(f);
	return found;
}

/*
 * Whether a process maps the inode of @s executable: one pass over
 * /proc/PID/maps, stopped at the first process that does; remembered for
 * the rest of the call.
 */
static bool inode_mapped(struct map_scan *ms, const struct emitd_site *s, const char **path)
{
	char file[300];
	struct dirent *de;
	size_t i;
	DIR *d;

	for (i = 0; i < ms->nr; i++)
		if (ms->v[i].dev == s->dev && ms->v[i].ino == s->ino)
			goto out;
	if (ms->nr == sizeof(ms->v) / sizeof(ms->v[0]))
		ms->nr = 0;	/* forget: only the cost grows */
	i = ms->nr++;
	ms->v[i].dev = s->dev;
	ms->v[i].ino = s->ino;
	ms->v[i].mapped = false;
	ms->v[i].path[0] = '\0';
	d = opendir("/proc");
	while (d && !ms->v[i].mapped && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(file, sizeof(file), "/proc/%s/maps", de->d_name);
		ms->v[i].mapped = maps_have(file, s->dev, s->ino, ms->v[i].path,
					    sizeof(ms->v[i].path));
	}
	if (d)
		closedir(d);
out:
	if (path)
		*path = ms->v[i].path;
	return ms->v[i].mapped;
}

static const struct store_metric *metric_of(const struct store *st, uint32_t metric_id)
{
	size_t i;

	for (i = 0; i < st->nr_metrics; i++)
		if (st->metrics[i].id == metric_id)
			return &st->metrics[i];
	return NULL;
}

/* The probe of the running spec with @id, to name what goes. */
static const struct collector_probe *running_probe(const struct collector *c, uint32_t id);

/* Whether the link @id still runs the config its metric @sm would give it. */
static bool same_config(struct collector *c, uint32_t id, const struct store_metric *sm,
			struct emitd_probe_cfg *cur)
{
	struct emitd_probe_cfg want;

	if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.cfg), &id, cur) ||
	    attach__metric_cfg(sm, &want))
		return false;
	memcpy(want.args, cur->args, sizeof(want.args));	/* the old binary's operands */
	return !memcmp(&want, cur, sizeof(want));
}

/* The link @id, retained for a replaced binary, as a probe of @sm. */
static int retain(struct collector *c, struct lifecycle_plan *pl, uint32_t id,
		  const struct store_metric *sm, const struct emitd_probe_cfg *cfg,
		  const char *mapped)
{
	const char *spec_path = pl->spec ? pl->spec->path : NULL;
	const struct collector_probe *r = running_probe(c, id);
	struct collector_probe *v;

	v = realloc(pl->want, (pl->nr_want + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	pl->want = v;
	v += pl->nr_want++;
	memset(v, 0, sizeof(*v));
	v->metric = sm->spec;
	v->spec_path = spec_path;
	v->metric_idx = sm->idx;
	v->cfg_id = id;
	v->pid = -1;
	if (r) {
		v->site = r->site;
	} else {
		v->site.file_offset = c->sites[id].file_offset;
		v->site.sema_offset = c->sites[id].ref_ctr_offset;
	}
	v->ident = c->sites[id];
	v->cfg = *cfg;
	v->adopted = v->retained = true;
	v->name = attach__probe_name(&sm->spec->probe);
	v->binary = strdup(r ? r->binary : mapped[0] ? mapped : "(replaced)");
	if (!v->name || !v->binary)
		return -ENOMEM;
	if (!r || !r->retained)
		log_info("kept %s in %s at 0x%llx: a process still runs the binary it was attached to (inode %llu, replaced on disk)",
			 v->name, v->binary, (unsigned long long)v->site.file_offset,
			 (unsigned long long)v->ident.ino);
	return 0;
}

/*
 * A pinned link no planned site has: retained (0) when its metric runs on
 * with the same config, its binary was replaced on disk (the inode at the
 * target's path is another one, or none) and a process still maps the old
 * inode; else why it goes.
 */
static int judge(struct collector *c, struct lifecycle_plan *pl, size_t nr_planned,
		 const struct spec *spec, const struct store *st, uint32_t id, bool refresh,
		 struct map_scan *ms)
{
	const struct emitd_site *s = &c->sites[id];
	const struct store_metric *sm = metric_of(st, s->metric_id);
	struct emitd_probe_cfg cfg;
	const char *mapped;
	struct stat now;
	char *tp;
	bool current;
	size_t i;
	int err;

	if (!(s->flags & EMITD_SITE_USED) || !sm || (!refresh && sm->fresh))
		return LIFECYCLE_DROP_SPEC;
	if (s->pid > 0)
		return pid_gone(c, s->pid) || !proc_exists(s->pid) ? LIFECYCLE_DROP_EXITED :
								      LIFECYCLE_DROP_SPEC;
	for (i = 0; i < nr_planned; i++)
		if (pl->want[i].ident.dev == s->dev && pl->want[i].ident.ino == s->ino)
			return pl->want[i].ident.metric_id == s->metric_id ?
			       LIFECYCLE_DROP_CHANGED : LIFECYCLE_DROP_SPEC;
	tp = target_path(spec__find_target(spec, sm->spec->probe.target));
	current = tp && !stat(tp, &now) && now.st_dev == s->dev && now.st_ino == s->ino;
	free(tp);
	if (current || !same_config(c, id, sm, &cfg))
		return LIFECYCLE_DROP_SPEC;
	if (!inode_mapped(ms, s, &mapped))
		return LIFECYCLE_DROP_UNUSED;
	if (!open_link(c, id) ||
	    !(runs_our_prog(c->links[id], c->skel->progs.emitd_probe) ||
	      runs_our_prog(c->links[id], c->skel->progs.emitd_probe_ctx)))
		return LIFECYCLE_DROP_SPEC;
	err = retain(c, pl, id, sm, &cfg, mapped);
	return err ? err : LIFECYCLE_KEEP;
}

int lifecycle__match(struct collector *c, struct lifecycle_plan *pl, const struct spec *spec,
		     const struct store *st, bool refresh)
{
	bool pinned[EMITD_MAX_PROBES] = {}, taken[EMITD_MAX_PROBES] = {};
	struct map_scan ms = { .nr = 0 };
	size_t i, nr = pl->nr_want;
	uint32_t id;
	int err;

	err = read_sites(c);
	if (!err)
		err = read_pinned(c, pinned);
	if (err) {
		log_err("%s: cannot read the pinned probe links: %s", c->pin_root, strerror(-err));
		return err;
	}
	for (i = 0; i < nr; i++) {
		struct collector_probe *p = &pl->want[i];

		p->cfg_id = COLLECTOR_NO_ID;
		p->adopted = false;
		if (!refresh && st->metrics[p->metric_idx].fresh)
			continue;	/* its links go with its series */
		for (id = 0; id < EMITD_MAX_PROBES; id++) {
			if (taken[id] || !(pinned[id] || c->links[id]) ||
			    !same_site(&c->sites[id], &p->ident))
				continue;
			if (adopt(c, p, id))
				taken[id] = true;
			break;
		}
	}
	for (id = 0; id < EMITD_MAX_PROBES; id++) {
		c->drop[id] = LIFECYCLE_KEEP;
		if (taken[id] || !(pinned[id] || c->links[id] ||
				   (c->sites[id].flags & EMITD_SITE_USED)))
			continue;
		err = judge(c, pl, nr, spec, st, id, refresh, &ms);
		if (err < 0)
			return err;
		c->drop[id] = err;
	}
	return 0;
}

/* The probe of the running spec with @id, to name what goes. */
static const struct collector_probe *running_probe(const struct collector *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < c->nr_probes; i++)
		if (c->probes[i].attached && c->probes[i].cfg_id == id)
			return &c->probes[i];
	return NULL;
}

static const char *drop_why(int why)
{
	switch (why) {
	case LIFECYCLE_DROP_UNUSED:
		return "its binary was replaced on disk and no process runs it any more";
	case LIFECYCLE_DROP_EXITED:
		return "its process exited";
	case LIFECYCLE_DROP_CHANGED:
		return "its binary changed: the site is not there any more";
	default:
		return "no longer in the spec";
	}
}

static void destroy_link(struct collector *c, uint32_t id)
{
	const struct collector_probe *p = running_probe(c, id);
	struct bpf_link *l = open_link(c, id);
	char path[PATH_MAX];

	if (l) {
		bpf_link__unpin(l);
		bpf_link__destroy(l);
	} else {
		link_path(c, id, path, sizeof(path));
		unlink(path);
	}
	c->links[id] = NULL;
	if (p)
		log_info("detached %s in %s at 0x%llx: %s", p->name, p->binary,
			 (unsigned long long)p->site.file_offset, drop_why(c->drop[id]));
	else if (c->drop[id] != LIFECYCLE_DROP_SPEC)
		log_info("detached the probe link %u (inode %llu at 0x%llx): %s", id,
			 (unsigned long long)c->sites[id].ino,
			 (unsigned long long)c->sites[id].file_offset, drop_why(c->drop[id]));
}

/* The `filters` entry of cfg_id @id: @p's, or none (NULL, or a site without filters). */
static int write_filter(struct collector *c, uint32_t id, const struct collector_probe *p)
{
	int fd = bpf_map__fd(c->skel->maps.filters);
	struct emitd_filter none = {}, cur;
	const struct emitd_filter *f = p && p->ctx ? &p->filter : &none;

	if (!bpf_map_lookup_elem(fd, &id, &cur) && !memcmp(&cur, f, sizeof(cur)))
		return 0;
	return bpf_map_update_elem(fd, &id, f, BPF_ANY) ? -errno : 0;
}

/* A free cfg_id: nothing pinned, held, recorded or wanted there. */
static int clear_id(struct collector *c, uint32_t id, void *zero_hits)
{
	struct emitd_probe_cfg cfg = {};
	int err;

	memset(&c->sites[id], 0, sizeof(c->sites[id]));
	err = bpf_map_update_elem(bpf_map__fd(c->skel->maps.sites), &id, &c->sites[id], BPF_ANY);
	if (!err)
		err = bpf_map_update_elem(bpf_map__fd(c->skel->maps.cfg), &id, &cfg, BPF_ANY);
	if (!err)
		err = write_filter(c, id, NULL);
	if (!err)
		err = bpf_map_update_elem(bpf_map__fd(c->skel->maps.probe_hits), &id, zero_hits,
					  BPF_ANY);
	return err ? -errno : 0;
}

int lifecycle__detach(struct collector *c)
{
	void *zero = calloc(c->ncpus, sizeof(__u64));
	size_t n = 0;
	uint32_t id;
	int err = 0;

	if (!zero)
		return -ENOMEM;
	for (id = 0; id < EMITD_MAX_PROBES; id++) {
		if (!c->drop[id])
			continue;
		destroy_link(c, id);
		n++;
	}
	/* a handler already running for a link that went still reads its cfg */
	if (n)
		collector__grace();
	for (id = 0; id < EMITD_MAX_PROBES && !err; id++)
		if (c->drop[id])
			err = clear_id(c, id, zero);
	free(zero);
	c->nr_detached = n;
	if (err)
		log_err("cannot clear the config of a detached probe: %s", strerror(-err));
	return err;
}

static int free_id(const struct collector *c, const struct collector_probe *want, size_t nr,
		   uint32_t *out)
{
	char path[PATH_MAX];
	uint32_t id;
	size_t i;

	for (id = 0; id < EMITD_MAX_PROBES; id++) {
		if ((c->sites[id].flags & EMITD_SITE_USED) || c->links[id])
			continue;
		for (i = 0; i < nr && want[i].cfg_id != id; i++)
			;
		if (i < nr)
			continue;
		link_path(c, id, path, sizeof(path));
		if (!access(path, F_OK))
			continue;
		*out = id;
		return 0;
	}
	return -E2BIG;
}

static int write_site(struct collector *c, uint32_t id, const struct emitd_site *s)
{
	c->sites[id] = *s;
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.sites), &id, s, BPF_ANY))
		return -errno;
	return 0;
}

/*
 * Record the site first, then attach and pin: an agent stopped in between
 * leaves a site without a link, which the next one attaches again.
 */
static int attach_new(struct collector *c, struct collector_probe *p,
		      const struct collector_probe *want, size_t nr)
{
	struct emitd_site none = {};
	char path[PATH_MAX];
	struct bpf_link *l;
	uint32_t id;
	int err;

	err = free_id(c, want, nr, &id);
	if (err) {
		log_err("no free probe slot for %s in %s: more than %d sites", p->name, p->binary,
			EMITD_MAX_PROBES);
		return err;
	}
	p->cfg_id = id;
	err = write_site(c, id, &p->ident);
	if (!err && bpf_map_update_elem(bpf_map__fd(c->skel->maps.cfg), &id, &p->cfg, BPF_ANY))
		err = -errno;
	if (!err)
		err = write_filter(c, id, p);
	if (err) {
		log_err("cannot write the config of %s: %s", p->name, strerror(-err));
		return err;
	}
	l = attach__link(c, p);
	if (!l) {
		err = -errno;
		write_site(c, id, &none);
		return err;
	}
	link_path(c, id, path, sizeof(path));
	err = bpf_link__pin(l, path);
	if (err) {
		log_err("cannot pin the link of %s at %s: %s", p->name, path, strerror(-err));
		bpf_link__destroy(l);
		write_site(c, id, &none);
		return err;
	}
	pins__chmod(path);
	c->links[id] = l;
	p->attached = true;
	attach__log(p, "attached");
	return 0;
}

/* A site that did not attach, under best-effort or at a refresh: recorded, the others go on. */
static int attach_failed(struct collector *c, struct lifecycle_plan *pl,
			 const struct collector_probe *p, int err)
{
	struct store_metric one = { .spec = p->metric, .idx = p->metric_idx };

	(void)c;
	return record_failure(pl, pl->spec, &one, p->pid, err, p->pid > 0 ? NULL : p->binary);
}

/* An adopted link keeps running; its config is rewritten only when it changed. */
static int refresh_cfg(struct collector *c, struct collector_probe *p)
{
	int fd = bpf_map__fd(c->skel->maps.cfg);
	struct emitd_probe_cfg cur;

	p->attached = true;
	if (bpf_map_lookup_elem(fd, &p->cfg_id, &cur) || memcmp(&cur, &p->cfg, sizeof(cur))) {
		if (bpf_map_update_elem(fd, &p->cfg_id, &p->cfg, BPF_ANY))
			return -errno;
	}
	return write_filter(c, p->cfg_id, p);
}

int lifecycle__attach(struct collector *c, struct lifecycle_plan *pl, bool tolerant)
{
	struct collector_probe *want = pl->want;
	size_t i, nr = pl->nr_want;
	char dir[PATH_MAX];
	int err;

	snprintf(dir, sizeof(dir), "%s/" EMITD_LINKS_DIR, c->pin_root);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		log_err("cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	c->nr_adopted = c->nr_attached = 0;
	err = lifecycle__follow(c, want, nr);
	if (err)
		return err;
	for (i = 0; i < nr; i++) {
		if (!want[i].adopted)
			continue;
		err = refresh_cfg(c, &want[i]);
		if (err) {
			log_err("cannot rewrite the config of %s: %s", want[i].name, strerror(-err));
			return err;
		}
		c->nr_adopted++;
	}
	for (i = 0; i < nr; i++) {
		if (want[i].adopted)
			continue;
		err = attach_new(c, &want[i], want, nr);
		if (err && (tolerant || c->best_effort))
			err = attach_failed(c, pl, &want[i], err);
		else if (!err)
			c->nr_attached++;
		if (err)
			return err;
	}
	return 0;
}

void lifecycle__take(struct collector *c, struct lifecycle_plan *pl)
{
	size_t i, n = 0;

	for (i = 0; i < pl->nr_want; i++) {
		if (pl->want[i].attached) {
			pl->want[n++] = pl->want[i];
			continue;
		}
		free(pl->want[i].name);
		free(pl->want[i].binary);
	}
	collector_probes__free(c->probes, c->nr_probes);
	collector_failures__free(c->failed, c->nr_failed);
	c->probes = pl->want;
	c->nr_probes = n;
	c->failed = pl->failed;
	c->nr_failed = pl->nr_failed;
	memset(pl, 0, sizeof(*pl));
}

bool lifecycle__metric_live(const struct collector_probe *want, size_t nr, uint32_t idx)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (want[i].metric_idx == idx && want[i].adopted)
			return true;
	return false;
}

/*
 * The links stay pinned. libbpf's detach of a link this process attached
 * would also disable its perf event, so disconnect first: the descriptors
 * close with the process.
 */
void lifecycle__release(struct collector *c)
{
	uint32_t id;

	for (id = 0; id < EMITD_MAX_PROBES; id++) {
		if (!c->links[id])
			continue;
		bpf_link__disconnect(c->links[id]);
		bpf_link__destroy(c->links[id]);
		c->links[id] = NULL;
	}
	for (id = 0; id < 2; id++) {
		if (!c->follow[id])
			continue;
		bpf_link__disconnect(c->follow[id]);
		bpf_link__destroy(c->follow[id]);
		c->follow[id] = NULL;
	}
}

/* ---- follow_forks ---- */

static struct bpf_program *follow_prog(const struct collector *c, int i)
{
	return i ? c->skel->progs.emitd_exit : c->skel->progs.emitd_fork;
}

static void follow_path(const struct collector *c, int i, char *buf, size_t n)
{
	snprintf(buf, n, "%s/" EMITD_LINKS_DIR "/%s", c->pin_root,
		 i ? EMITD_EXIT_LINK : EMITD_FORK_LINK);
}

/*
 * The fork (@i 0) or exit (1) program's link, pinned: the pinned one when
 * it runs this build's program, else a new one in its place.
 */
static int follow_link(struct collector *c, int i)
{
	struct bpf_link *l;
	char path[PATH_MAX];
	int err;

	follow_path(c, i, path, sizeof(path));
	if (!c->follow[i] && !access(path, F_OK))
		c->follow[i] = bpf_link__open(path);
	if (c->follow[i] && runs_our_prog(c->follow[i], follow_prog(c, i)))
		return 0;
	l = bpf_program__attach_trace(follow_prog(c, i));
	if (!l) {
		err = -errno;
		log_err("follow_forks: cannot attach the %s program: %s", i ? "exit" : "fork",
			strerror(-err));
		return err;
	}
	if (c->follow[i]) {	/* another build's: the new one counts from now */
		bpf_link__unpin(c->follow[i]);
		bpf_link__destroy(c->follow[i]);
	}
	c->follow[i] = l;
	err = bpf_link__pin(l, path);
	if (err) {
		log_err("follow_forks: cannot pin %s: %s", path, strerror(-err));
		return err;
	}
	pins__chmod(path);
	return 0;
}

static void unfollow_links(struct collector *c)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < 2; i++) {
		follow_path(c, i, path, sizeof(path));
		if (!c->follow[i] && !access(path, F_OK))
			c->follow[i] = bpf_link__open(path);
		if (!c->follow[i])
			continue;
		bpf_link__unpin(c->follow[i]);
		bpf_link__destroy(c->follow[i]);
		c->follow[i] = NULL;
		log_info("follow_forks: no target follows forks: the %s program detached",
			 i ? "exit" : "fork");
	}
}

static bool root_wanted(const pid_t *roots, size_t nr, __s32 root)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (roots[i] == root)
			return true;
	return false;
}

/* Roots no target follows any more leave every entry; entries left with none go. */
static void drop_roots(struct collector *c, const pid_t *roots, size_t nr)
{
	int fd = bpf_map__fd(c->skel->maps.followed);
	struct emitd_followed v;
	__u32 key, next, *prev = NULL;
	bool changed, any;
	int i;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		changed = any = false;
		for (i = 0; i < EMITD_FOLLOW_ROOTS; i++) {
			if (v.roots[i] && !root_wanted(roots, nr, v.roots[i])) {
				v.roots[i] = 0;
				changed = true;
			}
			any |= v.roots[i] != 0;
		}
		if (!any)
			bpf_map_delete_elem(fd, &key);
		else if (changed)
			bpf_map_update_elem(fd, &key, &v, BPF_ANY);
	}
}

/* Enter process @pid as a descendant of @root: 0, 1 when it was already, or -errno. */
static int follow_pid(struct collector *c, __u32 pid, pid_t root)
{
	int fd = bpf_map__fd(c->skel->maps.followed);
	struct emitd_followed v = {};
	int i, slot = -1;

	bpf_map_lookup_elem(fd, &pid, &v);
	for (i = EMITD_FOLLOW_ROOTS - 1; i >= 0; i--) {
		if (v.roots[i] == root)
			return 1;
		if (!v.roots[i])
			slot = i;
	}
	if (slot < 0)
		return -E2BIG;
	v.roots[slot] = root;
	return bpf_map_update_elem(fd, &pid, &v, BPF_ANY) ? -errno : 0;
}

/* The parent of every process now, by pid (0: none read): at most EMITD_MAX_FOLLOWED. */
struct proc_parent {
	__u32 pid, ppid;
};

static size_t read_parents(struct proc_parent *v, size_t max)
{
	char path[300], buf[512], *rp;
	struct dirent *de;
	size_t n = 0;
	unsigned int ppid;
	DIR *d = opendir("/proc");
	FILE *f;

	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		/* pid (comm) state ppid ...: comm may hold spaces and parentheses */
		if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
		    sscanf(rp + 1, " %*c %u", &ppid) == 1) {
			v[n].pid = strtoul(de->d_name, NULL, 10);
			v[n++].ppid = ppid;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * @root and the processes that descend from it now. The fork program adds
 * those forked from now on; passes repeat until one adds nobody, so a
 * process forked while a pass ran is not missed.
 */
static int follow_tree(struct collector *c, pid_t root)
{
	int fd = bpf_map__fd(c->skel->maps.followed);
	struct proc_parent *v = calloc(EMITD_MAX_FOLLOWED, sizeof(*v));
	struct emitd_followed f;
	size_t n, i, added = 1;
	int pass, err;

	if (!v)
		return -ENOMEM;
	err = follow_pid(c, root, root);
	for (pass = 0; err >= 0 && added && pass < 8; pass++) {
		n = read_parents(v, EMITD_MAX_FOLLOWED);
		for (added = 0, i = 0; err >= 0 && i < n; i++) {
			if (bpf_map_lookup_elem(fd, &v[i].ppid, &f) ||
			    !root_wanted((const pid_t *)f.roots, EMITD_FOLLOW_ROOTS, root))
				continue;
			err = follow_pid(c, v[i].pid, root);
			added += err == 0;
		}
	}
	free(v);
	if (err == -E2BIG)
		log_err("follow_forks: a process descends from more than %d followed pids",
			EMITD_FOLLOW_ROOTS);
	else if (err < 0)
		log_err("follow_forks: cannot enter the processes of pid %d: %s", root,
			strerror(-err));
	return err < 0 ? err : 0;
}

int lifecycle__follow(struct collector *c, const struct collector_probe *want, size_t nr)
{
	pid_t roots[EMITD_MAX_PROBES];
	size_t i, n = 0;
	int err = 0;

	for (i = 0; i < nr; i++) {
		if (!(want[i].filter.flags & EMITD_FILTER_FOLLOW) ||
		    root_wanted(roots, n, want[i].filter.root))
			continue;
		roots[n++] = want[i].filter.root;
	}
	drop_roots(c, roots, n);
	if (!n) {
		unfollow_links(c);
		return 0;
	}
	/* the programs first: a fork after its parent was entered is seen */
	err = follow_link(c, 0);
	if (!err)
		err = follow_link(c, 1);
	for (i = 0; !err && i < n; i++)
		err = follow_tree(c, roots[i]);
	return err;
}

/* ---- targets that change under the running spec ---- */

static void log_refresh(const struct collector *c, const struct collector_scope *sc,
			size_t nr_failed_before)
{
	size_t i, retained = 0;

	for (i = 0; i < c->nr_probes; i++)
		retained += c->probes[i].retained;
	if (!c->nr_attached && !c->nr_detached && c->nr_failed == nr_failed_before)
		return;
	log_info("targets: %s%s: %zu sites attached, %zu detached, %zu kept on replaced binaries, %zu probes without a link",
		 sc && sc->path ? "binary " : sc && sc->nr_pids ? "pid" : "all",
		 sc && sc->path ? sc->path : sc && sc->nr_pids ? (sc->nr_pids > 1 ? "s" : "") : "",
		 c->nr_attached, c->nr_detached, retained, c->nr_failed);
}

int collector__refresh(struct collector *c, const struct collector_scope *scope)
{
	struct lifecycle_plan pl = {};
	size_t before = c->nr_failed;
	int err;

	err = plan_scoped(c, c->spec, &c->store, scope, true, &pl);
	if (err)
		return err;
	err = lifecycle__match(c, &pl, c->spec, &c->store, true);
	if (err) {
		lifecycle_plan__free(&pl);
		return err;
	}
	err = lifecycle__detach(c);
	if (!err)
		err = lifecycle__attach(c, &pl, true);
	lifecycle__take(c, &pl);
	memset(c->drop, 0, EMITD_MAX_PROBES * sizeof(*c->drop));
	log_refresh(c, scope, before);
	return err;
}

bool collector__has_retained(const struct collector *c)
{
	size_t i;

	for (i = 0; i < c->nr_probes; i++)
		if (c->probes[i].retained)
			return true;
	return false;
}

int collector__prune(struct collector *c)
{
	struct map_scan ms = { .nr = 0 };
	size_t i, n = 0, k = 0;
	int err;

	memset(c->drop, 0, EMITD_MAX_PROBES * sizeof(*c->drop));
	for (i = 0; i < c->nr_probes; i++) {
		struct collector_probe *p = &c->probes[i];

		if (!p->retained || inode_mapped(&ms, &p->ident, NULL))
			continue;
		c->drop[p->cfg_id] = LIFECYCLE_DROP_UNUSED;
		n++;
	}
	if (!n)
		return 0;
	err = lifecycle__detach(c);
	for (i = 0; i < c->nr_probes; i++) {
		if (c->probes[i].retained && c->drop[c->probes[i].cfg_id]) {
			free(c->probes[i].name);
			free(c->probes[i].binary);
			continue;
		}
		c->probes[k++] = c->probes[i];
	}
	c->nr_probes = k;
	memset(c->drop, 0, EMITD_MAX_PROBES * sizeof(*c->drop));
	return err ? err : (int)n;
}

int collector__set_pids(struct collector *c, const pid_t *pids, size_t nr)
{
	pid_t *v = nr ? malloc(nr * sizeof(*v)) : NULL;
	size_t i, j, k = 0;

	if (nr && !v)
		return -ENOMEM;
	if (nr)
		memcpy(v, pids, nr * sizeof(*v));
	free(c->pids_req);
	c->pids_req = v;
	c->nr_pids_req = nr;
	/* an exited pid is remembered while it could be planned again */
	for (i = 0; i < c->nr_gone; i++) {
		bool keep = false;

		for (j = 0; j < nr && !keep; j++)
			keep = pids[j] == c->gone[i];
		for (j = 0; c->spec && j < c->spec->nr_targets && !keep; j++)
			keep = c->spec->targets[j].pid == c->gone[i];
		if (keep)
			c->gone[k++] = c->gone[i];
	}
	c->nr_gone = k;
	return 0;
}

void collector__pid_exited(struct collector *c, pid_t pid)
{
	if (pid <= 0 || pid_gone(c, pid))
		return;
	if (c->nr_gone == COLLECTOR_MAX_GONE) {
		memmove(c->gone, c->gone + 1, (COLLECTOR_MAX_GONE - 1) * sizeof(c->gone[0]));
		c->nr_gone--;
	}
	c->gone[c->nr_gone++] = pid;
}
