// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The probe links' lifecycle. Each link is pinned at <pin root>/links/<id>,
 * its cookie and `cfg` entry are <id>, and `sites` says what it is (binary
 * device and inode, file offset, semaphore, pid, metric). A collector that
 * applies a spec adopts each pinned link whose identity a planned site has
 * and whose metric kept its meaning, detaches and unpins the links nothing
 * wants, and attaches and pins the sites left. cfg_ids stay with their
 * sites across restarts and reloads.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/collector_internal.h"
#include "emit.skel.h"
#include "lib/log.h"

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
	return (a->flags & EMITD_SITE_USED) && a->dev == b->dev && a->ino == b->ino &&
	       a->file_offset == b->file_offset && a->ref_ctr_offset == b->ref_ctr_offset &&
	       a->pid == b->pid && a->metric_id == b->metric_id;
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

/* Whether @l runs this object's dispatcher (same instructions, same tag). */
static bool runs_our_dispatcher(const struct collector *c, struct bpf_link *l)
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
	same = !prog_tag(fd, theirs) &&
	       !prog_tag(bpf_program__fd(c->skel->progs.emitd_probe), ours) &&
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
	if (!runs_our_dispatcher(c, l)) {
		log_warn("the pinned link of %s in %s at 0x%llx runs another build's dispatcher: attaching it again",
			 p->name, p->binary, (unsigned long long)p->site.file_offset);
		return false;
	}
	p->cfg_id = id;
	p->adopted = true;
	return true;
}

int lifecycle__match(struct collector *c, struct collector_probe *want, size_t nr,
		     const struct store *st)
{
	bool pinned[EMITD_MAX_PROBES] = {}, taken[EMITD_MAX_PROBES] = {};
	uint32_t id;
	size_t i;
	int err;

	err = read_sites(c);
	if (!err)
		err = read_pinned(c, pinned);
	if (err) {
		log_err("%s: cannot read the pinned probe links: %s", c->pin_root, strerror(-err));
		return err;
	}
	for (i = 0; i < nr; i++) {
		struct collector_probe *p = &want[i];

		p->cfg_id = COLLECTOR_NO_ID;
		p->adopted = false;
		if (st->metrics[p->metric_idx].fresh)
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
	for (id = 0; id < EMITD_MAX_PROBES; id++)
		c->drop[id] = !taken[id] && (pinned[id] || c->links[id] ||
					     (c->sites[id].flags & EMITD_SITE_USED));
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
		log_info("detached %s in %s at 0x%llx: no longer in the spec", p->name, p->binary,
			 (unsigned long long)p->site.file_offset);
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

/* An adopted link keeps running; its config is rewritten only when it changed. */
static int refresh_cfg(struct collector *c, struct collector_probe *p)
{
	int fd = bpf_map__fd(c->skel->maps.cfg);
	struct emitd_probe_cfg cur;

	p->attached = true;
	if (!bpf_map_lookup_elem(fd, &p->cfg_id, &cur) && !memcmp(&cur, &p->cfg, sizeof(cur)))
		return 0;
	if (bpf_map_update_elem(fd, &p->cfg_id, &p->cfg, BPF_ANY))
		return -errno;
	return 0;
}

int lifecycle__attach(struct collector *c, struct collector_probe *want, size_t nr)
{
	char dir[PATH_MAX];
	size_t i;
	int err;

	snprintf(dir, sizeof(dir), "%s/" EMITD_LINKS_DIR, c->pin_root);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		log_err("cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	c->nr_adopted = c->nr_attached = 0;
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
		if (err)
			return err;
		c->nr_attached++;
	}
	return 0;
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
}
