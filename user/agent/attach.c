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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bucket.h"
#include "agent/collector_internal.h"
#include "emit.skel.h"
#include "lib/log.h"

static void src_to_bpf(const struct spec_src *s, struct emitd_src *d)
{
	d->kind = s->kind == SPEC_SRC_ARG ? EMITD_SRC_ARG :
		  s->kind == SPEC_SRC_DEREF ? EMITD_SRC_DEREF :
		  s->kind == SPEC_SRC_STRING ? EMITD_SRC_STRING : EMITD_SRC_NONE;
	d->arg = s->arg;
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

/* The binary a probe attaches to: the target's, or PID's exe. */
static char *probe_binary(const struct spec_target *t, pid_t pid)
{
	char link[64], exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n;

	if (pid > 0) {
		snprintf(link, sizeof(link), "/proc/%d/exe", pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n < 0)
			return NULL;
		exe[n] = '\0';
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, exe);
		return strdup(path);
	}
	if (!t->binary)
		return NULL;
	return realpath(t->binary, NULL);
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

		if (src->kind == SPEC_SRC_NONE)
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

/* One site of metric @sm: its identity and configuration, nothing attached. */
static int plan_site(const struct spec *spec, const struct store_metric *sm, const char *binary,
		     const struct stat *st, pid_t pid, const struct elf_site *site,
		     struct collector_probe *p)
{
	const struct spec_probe *sp = &sm->spec->probe;
	char where[PATH_MAX];
	int err;

	memset(p, 0, sizeof(*p));
	p->metric = sm->spec;
	p->spec_path = spec->path;
	p->metric_idx = sm->idx;
	p->cfg_id = COLLECTOR_NO_ID;
	p->pid = pid > 0 ? pid : -1;
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
	p->ident.pid = p->pid;
	p->ident.metric_id = sm->id;
	p->ident.flags = EMITD_SITE_USED;
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
	l = bpf_program__attach_uprobe_opts(c->skel->progs.emitd_probe, p->pid, p->binary,
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
		 p->binary, p->pid > 0 ? "one pid" : "every process",
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
		    const struct elf_site *site)
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
	return plan_site(spec, sm, binary, st, pid, site, &pl->v[pl->nr++]);
}

static int plan_metric(struct attach_plan *pl, const struct spec *spec, const struct store_metric *sm,
		       pid_t pid)
{
	const struct spec_metric *m = sm->spec;
	const struct spec_target *t = spec__find_target(spec, m->probe.target);
	struct elf_site *sites = NULL;
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
	binary = probe_binary(t, pid);
	if (!binary || stat(binary, &st)) {
		spec_where(spec, pid > 0 ? &t->mark : &t->binary_mark, where, sizeof(where));
		if (pid > 0)
			log_err("%s: target %s: cannot resolve the binary of pid %d: %s", where,
				t->name, pid, strerror(errno));
		else
			log_err("%s: target %s: binary %s: %s", where, t->name,
				t->binary ? t->binary : "(none)", strerror(errno));
		free(binary);
		return -ENOENT;
	}
	n = find_sites(spec, &m->probe, binary, &sites);
	for (i = 0; i < n && !err; i++)
		err = plan_add(pl, spec, sm, binary, &st, pid, &sites[i]);
	free(sites);
	free(binary);
	return n < 0 ? n : err;
}

int attach__plan_unit(struct attach_plan *pl, const struct spec *spec,
		      const struct store_metric *sm, pid_t pid)
{
	size_t nr = pl->nr;
	int err = plan_metric(pl, spec, sm, pid);

	for (; err && pl->nr > nr; pl->nr--) {	/* the sites planned before the failing one */
		free(pl->v[pl->nr - 1].name);
		free(pl->v[pl->nr - 1].binary);
	}
	return err;
}
