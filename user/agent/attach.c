// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Probe sites: one configuration entry and one uprobe link per probe site.
 * A USDT probe may have several sites (inlined callers), each with its own
 * operand locations; a function uprobe has one, with the ABI registers.
 * USDT sites are attached as plain uprobes (with their semaphore, if any) so
 * the kernel side reads operands from a register copy instead of libbpf's
 * per-argument helper calls.
 *
 * attach__plan_unit() resolves every site of one metric for one pid (binary,
 * ELF, operands) and builds its identity and configuration without touching
 * the kernel, so a spec whose sites cannot be found changes nothing;
 * lifecycle.c plans the whole spec with it, then adopts or attaches each
 * site through attach__link().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bucket.h"
#include "agent/cgroup.h"
#include "agent/collector_internal.h"
#include "emit.skel.h"
#include "lib/log.h"

static void src_to_bpf(const struct spec_src *s, struct emitd_src *d)
{
	static const __u8 kinds[] = {
		[SPEC_SRC_NONE] = EMITD_SRC_NONE, [SPEC_SRC_ARG] = EMITD_SRC_ARG,
		[SPEC_SRC_DEREF] = EMITD_SRC_DEREF, [SPEC_SRC_STRING] = EMITD_SRC_STRING,
		[SPEC_SRC_PID] = EMITD_SRC_PID, [SPEC_SRC_TID] = EMITD_SRC_TID,
		[SPEC_SRC_UID] = EMITD_SRC_UID, [SPEC_SRC_COMM] = EMITD_SRC_COMM,
		[SPEC_SRC_CGROUP] = EMITD_SRC_CGROUP,
	};

	d->kind = (size_t)s->kind < sizeof(kinds) ? kinds[s->kind] : EMITD_SRC_NONE;
	d->arg = spec_src_kind__reads_arg(s->kind) ? s->arg : 0;
	d->type = s->type == SPEC_VAL_F64 ? EMITD_VAL_F64 :
		  s->type == SPEC_VAL_U64 ? EMITD_VAL_U64 : EMITD_VAL_S64;
	d->offset = s->offset;
}

/* The per-metric part of a configuration; sites add their operands. */
int attach__metric_cfg(const struct store_metric *sm, struct emitd_probe_cfg *cfg)
{
	const struct spec_metric *m = sm->spec;
	size_t i;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	cfg->metric_id = sm->id;
	cfg->kind = sm->kind;
	cfg->nr_labels = m->nr_labels;
	cfg->metric_idx = sm->slot;
	cfg->budget = m->budget > 1 ? m->budget - 1 : 0;	/* one is __other__'s */
	if (m->hot)
		cfg->flags |= EMITD_CFG_HOT;
	if (sm->fixed) {
		cfg->flags |= EMITD_CFG_FIXED;
		cfg->slot = sm->slot;
	}
	if (m->type == SPEC_NORMALIZATION) {
		src_to_bpf(&m->probe.before, &cfg->value);
		src_to_bpf(&m->probe.after, &cfg->value2);
		cfg->flags |= EMITD_CFG_SAMPLE;
	} else {
		src_to_bpf(&m->probe.value, &cfg->value);
	}
	for (i = 0; i < m->nr_labels; i++)
		src_to_bpf(&m->labels[i].src, &cfg->labels[i]);
	if (m->type != SPEC_HISTOGRAM)
		return 0;
	cfg->nr_bounds = m->buckets.nr_bounds;
	err = bucket__scaled_images(m->buckets.bounds, m->buckets.nr_bounds,
				    spec_metric__scale(m), cfg->value.type, cfg->bounds);
	if (err)
		return err;
	if (cfg->value.type == EMITD_VAL_F64 || sm->trial)
		cfg->flags |= EMITD_CFG_SAMPLE;	/* f64 _sum in userspace; trial mode */
	return 0;
}

static void spec_where(const struct spec *spec, const struct spec_mark *mk, char *buf, size_t n)
{
	snprintf(buf, n, "%s:%u:%u", spec->path, mk->line, mk->col);
}

/* The file @pid maps, by device and inode or by its path there; 0 or -ENOENT. */
struct mapped_want {
	dev_t dev[2];
	ino_t ino[2];
	size_t nr;
	const char *path;	/* as the spec wrote it, absolute; NULL: none */
};

static bool mapping_matches(const struct mapped_want *w, dev_t dev, ino_t ino,
			    const char *path)
{
	size_t i;

	for (i = 0; i < w->nr; i++)
		if (w->dev[i] == dev && w->ino[i] == ino)
			return true;
	return w->path && !strcmp(w->path, path);
}

/* Fills @out (PATH_MAX) with the path, in @pid's mount namespace, of the mapping @w wants. */
static int find_mapping(pid_t pid, const struct mapped_want *w, char *out)
{
	char maps[64], line[PATH_MAX + 128];
	unsigned int major, minor;
	unsigned long ino;
	int at, err = -ENOENT;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "re");
	if (!f)
		return -errno;
	while (err == -ENOENT && fgets(line, sizeof(line), f)) {
		char *path, *nl;

		at = 0;
		if (sscanf(line, "%*s %*s %*s %x:%x %lu %n", &major, &minor, &ino, &at) != 3 ||
		    !at || line[at] != '/')
			continue;
		path = line + at;
		nl = strchr(path, '\n');
		if (nl)
			*nl = '\0';
		if (!mapping_matches(w, makedev(major, minor), ino, path))
			continue;
		snprintf(out, PATH_MAX, "%s", path);
		err = strstr(path, " (deleted)") ? -ESTALE : 0;
	}
	fclose(f);
	return err;
}

/* The device and inode of @path inside @pid's root (absolute symlinks resolved there too). */
static int stat_in_root(pid_t pid, const char *path, struct stat *st)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	char root[64];
	int dfd, fd, err = 0;

	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	if (fd < 0 || fstat(fd, st))
		err = -errno;
	if (fd >= 0)
		close(fd);
	close(dfd);
	return err;
}

/*
 * The target's binary as @pid maps it (a shared library, or its executable
 * named by path): the mapping whose device and inode are those of the path
 * inside the process's root or in ours, or whose path is the one written.
 */
static int mapped_binary(const struct spec_target *t, pid_t pid, char **out)
{
	struct mapped_want w = { .path = t->binary[0] == '/' ? t->binary : NULL };
	char found[PATH_MAX];
	struct stat st;
	int err;

	if (w.path && !stat_in_root(pid, t->binary, &st)) {
		w.dev[w.nr] = st.st_dev;
		w.ino[w.nr++] = st.st_ino;
	}
	if (!stat(t->binary, &st)) {
		w.dev[w.nr] = st.st_dev;
		w.ino[w.nr++] = st.st_ino;
	}
	err = find_mapping(pid, &w, found);
	if (err)
		return err;
	if (asprintf(out, "/proc/%d/root%s", pid, found) < 0)
		return -ENOMEM;
	return 0;
}

/* PID's executable, through its root. */
static int pid_exe(pid_t pid, char **out)
{
	char link[64], exe[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	if (asprintf(out, "/proc/%d/root%s", pid, exe) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * The file a probe of @t attaches to: without a pid the target's binary;
 * with one, the target's binary as that process maps it (a library found in
 * /proc/PID/maps), or without a binary its executable, each opened through
 * /proc/PID/root. Errors are logged, located at the target.
 */
static int probe_binary(const struct spec *spec, const struct spec_target *t, pid_t pid,
			char **out, struct stat *st)
{
	char where[PATH_MAX];
	int err;

	*out = NULL;
	if (pid > 0 && t->binary)
		err = mapped_binary(t, pid, out);
	else if (pid > 0)
		err = pid_exe(pid, out);
	else if (!t->binary)
		err = -ENOENT;
	else
		err = (*out = realpath(t->binary, NULL)) ? 0 : -errno;
	if (!err && stat(*out, st))
		err = -errno;
	if (!err)
		return 0;
	spec_where(spec, pid > 0 && !t->binary ? &t->mark : &t->binary_mark, where, sizeof(where));
	if (pid > 0 && t->binary && err == -ENOENT)
		log_err("%s: target %s: pid %d does not map %s (see /proc/%d/maps): is it the process that loads it?",
			where, t->name, pid, t->binary, pid);
	else if (pid > 0 && t->binary && err == -ESTALE)
		log_err("%s: target %s: pid %d maps %s deleted: the file was replaced since it was loaded",
			where, t->name, pid, t->binary);
	else if (pid > 0 && t->binary)
		log_err("%s: target %s: cannot find %s in pid %d: %s", where, t->name, t->binary,
			pid, strerror(-err));
	else if (pid > 0)
		log_err("%s: target %s: cannot resolve the binary of pid %d: %s", where, t->name,
			pid, strerror(-err));
	else
		log_err("%s: target %s: binary %s: %s", where, t->name,
			t->binary ? t->binary : "(none)", strerror(-err));
	free(*out);
	*out = NULL;
	return err;
}

char *attach__probe_name(const struct spec_probe *sp)
{
	char *s = NULL;

	if (sp->kind == SPEC_PROBE_UPROBE)
		return strdup(sp->symbol);
	if (asprintf(&s, "%s:%s", sp->provider, sp->name) < 0)
		return NULL;
	return s;
}

static const char *site_note(enum site_kind k)
{
	switch (k) {
	case SITE_NOP5:
		return "optimized 5-byte nop";
	case SITE_EMULATED:
		return "instruction emulated";
	default:
		return "single-stepped: slow, see include/emitd_probe.h";
	}
}

/*
 * Every argument the metric reads must exist at this site and be decodable;
 * operands it does not read may be anything.
 */
static int check_args(const struct spec_metric *m, const struct elf_site *site,
		      const char *where, const char *name)
{
	const struct spec_src *srcs[3 + SPEC_MAX_LABELS] = {
		&m->probe.value, &m->probe.before, &m->probe.after,
	};
	char why[160];
	size_t i;

	for (i = 0; i < m->nr_labels; i++)
		srcs[3 + i] = &m->labels[i].src;
	for (i = 0; i < 3 + m->nr_labels; i++) {
		const struct spec_src *src = srcs[i];

		if (!spec_src_kind__reads_arg(src->kind))
			continue;
		if ((int)src->arg >= site->nr_args) {
			log_err("%s:%u:%u: %s has %d argument%s at 0x%llx; arg %u does not exist",
				where, src->mark.line, src->mark.col, name, site->nr_args,
				site->nr_args == 1 ? "" : "s",
				(unsigned long long)site->file_offset, src->arg);
			return -EINVAL;
		}
		if (!site->ops[src->arg].err)
			continue;
		log_err("%s:%u:%u: %s arg %u \"%s\" at 0x%llx: %s", where, src->mark.line,
			src->mark.col, name, src->arg, site->ops[src->arg].text,
			(unsigned long long)site->file_offset,
			usdt_operand__why(site, src->arg, why, sizeof(why)));
		return site->ops[src->arg].err;
	}
	return 0;
}

static bool reads_task(const struct spec_metric *m)
{
	size_t i;

	for (i = 0; i < m->nr_labels; i++)
		if (m->labels[i].src.kind >= SPEC_SRC_PID)
			return true;
	return false;
}

/* One site of metric @sm: its identity and configuration, nothing attached. */
static int plan_site(const struct spec *spec, const struct store_metric *sm, const char *binary,
		     const struct stat *st, pid_t pid, const struct elf_site *site,
		     const struct emitd_filter *filter, struct collector_probe *p)
{
	const struct spec_probe *sp = &sm->spec->probe;
	char where[PATH_MAX];
	int err;

	memset(p, 0, sizeof(*p));
	p->metric = sm->spec;
	p->spec_path = spec->path;
	p->metric_idx = sm->idx;
	p->cfg_id = COLLECTOR_NO_ID;
	p->pid = pid > 0 && !(filter->flags & EMITD_FILTER_FOLLOW) ? pid : -1;
	p->filter = *filter;
	p->ctx = filter->flags || reads_task(sm->spec);
	p->site = *site;
	p->name = attach__probe_name(sp);
	p->binary = strdup(binary);
	if (!p->name || !p->binary)
		return -ENOMEM;
	err = check_args(sm->spec, site, spec->path, p->name);
	if (err)
		return err;
	err = attach__metric_cfg(sm, &p->cfg);
	if (err) {
		spec_where(spec, &sp->site_mark, where, sizeof(where));
		log_err("%s: metric %s: bucket bounds do not fit its value type: %s", where,
			sm->full_name, strerror(-err));
		return err;
	}
	memcpy(p->cfg.args, site->args, sizeof(p->cfg.args));
	p->ident.dev = st->st_dev;
	p->ident.ino = st->st_ino;
	p->ident.file_offset = site->file_offset;
	p->ident.ref_ctr_offset = site->sema_offset;
	p->ident.pid = filter->flags & EMITD_FILTER_FOLLOW ? filter->root : p->pid;
	p->ident.metric_id = sm->id;
	p->ident.flags = EMITD_SITE_USED | (p->ctx ? EMITD_SITE_CTX : 0) |
			 (filter->flags & EMITD_FILTER_FOLLOW ? EMITD_SITE_FOLLOW : 0);
	return 0;
}

struct bpf_link *attach__link(struct collector *c, const struct collector_probe *p)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	struct bpf_link *l;
	char where[PATH_MAX];
	int err;

	uo.bpf_cookie = p->cfg_id;
	uo.ref_ctr_offset = p->site.sema_offset;
	l = bpf_program__attach_uprobe_opts(p->ctx ? c->skel->progs.emitd_probe_ctx :
					    c->skel->progs.emitd_probe, p->pid, p->binary,
					    p->site.file_offset, &uo);
	if (!l) {
		err = -errno;
		snprintf(where, sizeof(where), "%s:%u:%u", p->spec_path,
			 p->metric->probe.site_mark.line, p->metric->probe.site_mark.col);
		log_err("%s: cannot attach %s in %s at 0x%llx: %s", where, p->name, p->binary,
			(unsigned long long)p->site.file_offset, strerror(-err));
		errno = -err;
	}
	return l;
}

void attach__log(const struct collector_probe *p, const char *verb)
{
	log_info("%s %s %s in %s (%s) at 0x%llx: site %s (%s)", verb,
		 p->metric->probe.kind == SPEC_PROBE_UPROBE ? "uprobe" : "usdt", p->name,
		 p->binary, p->pid > 0 ? "one pid" :
		 p->filter.flags & EMITD_FILTER_FOLLOW ? "a pid and its descendants" :
		 p->filter.flags ? "every process, filtered" : "every process",
		 (unsigned long long)p->site.file_offset, site_kind__name(p->site.kind),
		 site_note(p->site.kind));
}

void collector_probes__free(struct collector_probe *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].binary);
	}
	free(v);
}

/* The nearest of the names found in a binary, "did you mean". */
struct name_hint {
	struct spec_hint in_provider;	/* USDT: names of the provider typed */
	struct spec_hint any;		/* USDT: provider:name; uprobes: symbols */
	const char *provider;
	char typed_full[256];
	char best_in_provider[256];
	char best_any[256];
};

static int usdt_hint__offer(const char *provider, const char *name,
			    const struct elf_site *site, void *arg)
{
	struct name_hint *nh = arg;
	char full[256];

	(void)site;
	if (!strcmp(provider, nh->provider) && spec_hint__offer(&nh->in_provider, name))
		snprintf(nh->best_in_provider, sizeof(nh->best_in_provider), "%s:%s",
			 provider, name);
	snprintf(full, sizeof(full), "%s:%s", provider, name);
	if (spec_hint__offer(&nh->any, full))
		snprintf(nh->best_any, sizeof(nh->best_any), "%s", full);
	return 0;
}

static int func_hint__offer(const char *name, const struct elf_site *site, void *arg)
{
	struct name_hint *nh = arg;

	(void)site;
	if (spec_hint__offer(&nh->any, name))
		snprintf(nh->best_any, sizeof(nh->best_any), "%s", name);
	return 0;
}

/* " (did you mean \"x\"?)" for a probe not found in @binary, or "". */
static const char *probe_hint(const struct spec_probe *sp, const char *binary, char *buf,
			      size_t size)
{
	struct name_hint nh = { .provider = sp->provider };
	const char *best;

	buf[0] = '\0';
	if (sp->kind == SPEC_PROBE_UPROBE) {
		spec_hint__init(&nh.any, sp->symbol);
		elf_site__for_each_function(binary, func_hint__offer, &nh);
	} else {
		snprintf(nh.typed_full, sizeof(nh.typed_full), "%s:%s", sp->provider, sp->name);
		spec_hint__init(&nh.in_provider, sp->name);
		spec_hint__init(&nh.any, nh.typed_full);
		elf_site__for_each_usdt(binary, usdt_hint__offer, &nh);
	}
	best = nh.best_in_provider[0] ? nh.best_in_provider : nh.best_any;
	if (best[0])
		snprintf(buf, size, " (did you mean \"%s\"?)", best);
	return buf;
}

static int find_sites(const struct spec *spec, const struct spec_probe *sp, const char *binary,
		      struct elf_site **sites)
{
	char where[PATH_MAX], hint[300];
	int n;

	spec_where(spec, &sp->site_mark, where, sizeof(where));
	if (sp->kind == SPEC_PROBE_UPROBE) {
		*sites = calloc(1, sizeof(**sites));
		if (!*sites)
			return -ENOMEM;
		n = elf_site__find_symbol(binary, sp->symbol, *sites);
		n = n ? n : 1;
	} else {
		n = elf_site__find_usdt(binary, sp->provider, sp->name, sites);
	}
	if (n == -ENOENT)
		log_err("%s: %s %s%s%s not found in %s%s", where,
			sp->kind == SPEC_PROBE_UPROBE ? "symbol" : "USDT probe",
			sp->kind == SPEC_PROBE_UPROBE ? sp->symbol : sp->provider,
			sp->kind == SPEC_PROBE_UPROBE ? "" : ":",
			sp->kind == SPEC_PROBE_UPROBE ? "" : sp->name, binary,
			probe_hint(sp, binary, hint, sizeof(hint)));
	else if (n == -ENOEXEC)
		log_err("%s: %s is not an ELF binary", where, binary);
	else if (n < 0)
		log_err("%s: cannot read %s: %s", where, binary, strerror(-n));
	return n;
}

static int plan_add(struct attach_plan *pl, const struct spec *spec, const struct store_metric *sm,
		    const char *binary, const struct stat *st, pid_t pid,
		    const struct elf_site *site, const struct emitd_filter *filter)
{
	struct collector_probe *v;
	char where[PATH_MAX];

	if (pl->nr == EMITD_MAX_PROBES) {
		spec_where(spec, &sm->spec->probe.site_mark, where, sizeof(where));
		log_err("%s: more than %d probe sites in all; emitd cannot attach more",
			where, EMITD_MAX_PROBES);
		return -E2BIG;
	}
	v = realloc(pl->v, (pl->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	pl->v = v;
	return plan_site(spec, sm, binary, st, pid, site, filter, &pl->v[pl->nr++]);
}

/* The cgroup filter of @t: its cgroup's depth and id (0 while it does not exist). */
static int cgroup_filter(const struct collector *c, const struct spec *spec,
			 const struct spec_target *t, struct emitd_filter *f)
{
	char where[PATH_MAX];
	uint64_t id = 0;
	uint32_t level = 0;
	int err;

	spec_where(spec, &t->cgroup_mark, where, sizeof(where));
	if (!c->cgroups) {
		log_err("%s: target %s: cgroup filter, but no cgroup v2 hierarchy is mounted",
			where, t->name);
		return -ENOENT;
	}
	err = cgroups__lookup(c->cgroups, t->cgroup, &id, &level);
	if (err == -ENOENT)
		log_warn("%s: target %s: no cgroup %s/%s yet: its events are filtered out until it exists",
			 where, t->name, cgroups__root(c->cgroups), t->cgroup);
	else if (err) {
		log_err("%s: target %s: cgroup %s/%s: %s", where, t->name,
			cgroups__root(c->cgroups), t->cgroup, strerror(-err));
		return err;
	}
	f->flags |= EMITD_FILTER_CGROUP;
	f->cgroup_level = level;
	f->cgroup_id = err ? 0 : id;
	return 0;
}

/* What target @t lets through, for probes of pid @pid. */
static int target_filter(const struct collector *c, const struct spec *spec,
			 const struct spec_target *t, pid_t pid, struct emitd_filter *f)
{
	char where[PATH_MAX];
	size_t i;

	memset(f, 0, sizeof(*f));
	if (t->follow_forks || c->follow_forks) {
		if (pid <= 0) {
			spec_where(spec, t->follow_forks ? &t->follow_mark : &t->mark, where,
				   sizeof(where));
			log_err("%s: target %s: follow_forks follows the children of a pid: give it one (pid: or --pid)",
				where, t->name);
			return -EINVAL;
		}
		f->flags |= EMITD_FILTER_FOLLOW;
		f->root = pid;
	}
	for (i = 0; i < t->nr_comms && i < EMITD_MAX_COMMS; i++)
		strncpy(f->comms[i], t->comms[i], EMITD_COMM_LEN - 1);
	f->nr_comms = i;
	if (i)
		f->flags |= EMITD_FILTER_COMM;
	return t->cgroup ? cgroup_filter(c, spec, t, f) : 0;
}

static int plan_metric(struct attach_plan *pl, const struct collector *c, const struct spec *spec,
		       const struct store_metric *sm, pid_t pid)
{
	const struct spec_metric *m = sm->spec;
	const struct spec_target *t = spec__find_target(spec, m->probe.target);
	struct elf_site *sites = NULL;
	struct emitd_filter filter;
	char where[PATH_MAX];
	struct stat st;
	char *binary;
	int n, i, err = 0;

	if (!t) {
		spec_where(spec, &m->probe.mark, where, sizeof(where));
		log_err("%s: unknown target %s", where, m->probe.target);
		return -ENOENT;
	}
	if (pid <= 0 && t->pid > 0)
		pid = t->pid;
	err = target_filter(c, spec, t, pid, &filter);
	if (err)
		return err;
	err = probe_binary(spec, t, pid, &binary, &st);
	if (err)
		return err;
	n = find_sites(spec, &m->probe, binary, &sites);
	for (i = 0; i < n && !err; i++) {
		err = plan_add(pl, spec, sm, binary, &st, pid, &sites[i], &filter);
		if (!err)
			pl->v[pl->nr - 1].target = t;
	}
	free(sites);
	free(binary);
	return n < 0 ? n : err;
}

int attach__plan_unit(struct attach_plan *pl, const struct collector *c, const struct spec *spec,
		      const struct store_metric *sm, pid_t pid)
{
	size_t nr = pl->nr;
	int err = plan_metric(pl, c, spec, sm, pid);

	for (; err && pl->nr > nr; pl->nr--) {	/* the sites planned before the failing one */
		free(pl->v[pl->nr - 1].name);
		free(pl->v[pl->nr - 1].binary);
	}
	return err;
}
