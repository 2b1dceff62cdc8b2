// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The probe links' lifecycle. Each link is pinned at <pin root>/links/<id>,
 * its cookie and `cfg` entry are <id>, and `sites` says what it is (binary
 * device and inode, file offset, semaphore, pid, metric). A collector that
 * applies a spec adopts each pinned link whose identity a planned site has
 * and whose metric kept its meaning, detaches and unpins the links nothing
 * wants, and attaches and pins the sites left. cfg_ids stay with their
 * sites across restarts and reloads. A site's `filters` entry is written
 * with its config. follow_forks: the fork and exit programs' links, pinned
 * at <pin root>/links/fork and links/exit while a site follows a pid, and
 * the followed pids' processes entered in `followed`.
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
