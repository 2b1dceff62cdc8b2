// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * probes_cli: `emitd probes` and `emitd init` (see probes_cli.h).
 *
 * A binary's notes and symbols are input: every name printed or written is
 * shown in printable ASCII, and `init` writes only probes whose provider
 * and name are C identifiers.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/elf_site.h"
#include "agent/probes_cli.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "spec/spec.h"

#define EXIT_USAGE	2
#define NAME_MAX_SHOWN	256	/* bytes of a provider, probe or symbol name shown */

/* ---- objects: a binary, or a process's executable and libraries ---- */

struct object {
	char *shown;		/* the path as the process sees it */
	char *path;		/* the path this process opens */
};

struct objects {
	struct object *v;
	size_t nr;
};

static void objects__free(struct objects *o)
{
	size_t i;

	for (i = 0; i < o->nr; i++) {
		free(o->v[i].shown);
		free(o->v[i].path);
	}
	free(o->v);
	o->v = NULL;
	o->nr = 0;
}

static bool objects__has(const struct objects *o, const char *shown)
{
	size_t i;

	for (i = 0; i < o->nr; i++)
		if (!strcmp(o->v[i].shown, shown))
			return true;
	return false;
}

/* Add @shown, opened as @root@shown ("" for no root). */
static int objects__add(struct objects *o, const char *root, const char *shown)
{
	struct object *v;
	char *path = NULL;

	if (objects__has(o, shown))
		return 0;
	v = realloc(o->v, (o->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	o->v = v;
	if (asprintf(&path, "%s%s", root, shown) < 0)
		return -ENOMEM;
	v[o->nr].path = path;
	v[o->nr].shown = strdup(shown);
	if (!v[o->nr].shown) {
		free(path);
		return -ENOMEM;
	}
	o->nr++;
	return 0;
}

/*
 * The executable of @pid, then every file it maps executable
 * (/proc/PID/maps: "addr perms offset dev inode path"), each opened through
 * /proc/PID/root so that a process in another mount namespace is read right.
 */
static int objects__from_pid(struct objects *o, pid_t pid)
{
	char link[64], root[64], exe[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int err;

	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n < 0) {
		err = -errno;
		log_err("probes: pid %d: cannot read %s: %s", pid, link, strerror(-err));
		return err;
	}
	exe[n] = '\0';
	err = objects__add(o, root, exe);
	if (err)
		return err;
	snprintf(link, sizeof(link), "/proc/%d/maps", pid);
	f = fopen(link, "re");
	if (!f) {
		err = -errno;
		log_err("probes: pid %d: cannot read %s: %s", pid, link, strerror(-err));
		return err;
	}
	while (!err && getline(&line, &cap, f) > 0) {
		char perms[8], *path;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%*s %7s", perms) != 1 || !strchr(perms, 'x'))
			continue;
		path = strchr(line, '/');
		if (!path || strstr(path, " (deleted)"))
			continue;
		err = objects__add(o, root, path);
	}
	free(line);
	fclose(f);
	return err;
}

/* ---- shown names ---- */

/* @s in printable ASCII, cut to NAME_MAX_SHOWN. */
static const char *printable(char *buf, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < NAME_MAX_SHOWN - 1; i++)
		buf[i] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* ---- USDT probes: one row per site, grouped by provider:name ---- */

struct usdt_row {
	char *provider, *name;
	size_t order;			/* in the notes, to keep sites in note order */
	uint64_t file_offset;
	bool sema;
	enum site_kind kind;
	int nr_args;
	unsigned int unreadable;	/* bit i: operand i cannot be decoded */
	char *ops;			/* the operands, as the note writes them */
	char *why;			/* -v: one line per unreadable operand */
};

struct usdt_rows {
	struct usdt_row *v;
	size_t nr;
};

static void usdt_rows__free(struct usdt_rows *r)
{
	size_t i;

	for (i = 0; i < r->nr; i++) {
		free(r->v[i].provider);
		free(r->v[i].name);
		free(r->v[i].ops);
		free(r->v[i].why);
	}
	free(r->v);
	r->v = NULL;
	r->nr = 0;
}

/* The operand texts of @site, and a line per operand it cannot read. */
static int site_texts(const struct elf_site *site, char **ops, char **why,
		      unsigned int *unreadable)
{
	size_t ops_len = 0, why_len = 0;
	FILE *fo, *fw;
	char buf[160];
	int i;

	*unreadable = 0;
	fo = open_memstream(ops, &ops_len);
	fw = open_memstream(why, &why_len);
	if (!fo || !fw) {
		if (fo)
			fclose(fo);
		if (fw)
			fclose(fw);
		return -ENOMEM;
	}
	for (i = 0; i < site->nr_args; i++) {
		fprintf(fo, "%s%s", i ? " " : "", site->ops[i].text);
		if (!site->ops[i].err)
			continue;
		*unreadable |= 1U << i;
		fprintf(fw, "      arg %d \"%s\": %s\n", i, site->ops[i].text,
			usdt_operand__why(site, i, buf, sizeof(buf)));
	}
	fclose(fo);
	fclose(fw);
	return 0;
}

static int usdt_rows__add(const char *provider, const char *name, const struct elf_site *site,
			  void *arg)
{
	struct usdt_rows *r = arg;
	struct usdt_row *v, *row;
	char p[NAME_MAX_SHOWN], n[NAME_MAX_SHOWN];

	v = realloc(r->v, (r->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->v = v;
	row = &v[r->nr];
	memset(row, 0, sizeof(*row));
	row->order = r->nr;
	row->file_offset = site->file_offset;
	row->sema = site->sema_offset != 0;
	row->kind = site->kind;
	row->nr_args = site->nr_args;
	row->provider = strdup(printable(p, provider));
	row->name = strdup(printable(n, name));
	r->nr++;
	if (!row->provider || !row->name)
		return -ENOMEM;
	return site_texts(site, &row->ops, &row->why, &row->unreadable);
}

static int usdt_row__cmp(const void *a, const void *b)
{
	const struct usdt_row *x = a, *y = b;
	int c = strcmp(x->provider, y->provider);

	if (!c)
		c = strcmp(x->name, y->name);
	if (!c)
		c = x->order < y->order ? -1 : x->order > y->order;
	return c;
}

static bool same_probe(const struct usdt_row *a, const struct usdt_row *b)
{
	return !strcmp(a->provider, b->provider) && !strcmp(a->name, b->name);
}

/* Every USDT site of @path, sorted by provider:name, sites in note order. */
static int usdt_rows__read(struct usdt_rows *r, const char *path)
{
	int err = elf_site__for_each_usdt(path, usdt_rows__add, r);

	if (!err && r->nr)
		qsort(r->v, r->nr, sizeof(*r->v), usdt_row__cmp);
	return err;
}

/* ---- function symbols ---- */

struct func_row {
	char *name;
	enum site_kind kind;
};

struct func_rows {
	struct func_row *v;
	size_t nr;
};

static void func_rows__free(struct func_rows *r)
{
	size_t i;

	for (i = 0; i < r->nr; i++)
		free(r->v[i].name);
	free(r->v);
	r->v = NULL;
	r->nr = 0;
}

static int func_rows__add(const char *name, const struct elf_site *site, void *arg)
{
	struct func_rows *r = arg;
	struct func_row *v;
	char n[NAME_MAX_SHOWN];

	v = realloc(r->v, (r->nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->v = v;
	v[r->nr].kind = site->kind;
	v[r->nr].name = strdup(printable(n, name));
	if (!v[r->nr++].name)
		return -ENOMEM;
	return 0;
}

static int func_row__cmp(const void *a, const void *b)
{
	const struct func_row *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* ---- emitd probes ---- */

struct probes_opts {
	bool usdt, functions, verbose;
	const char *pattern;
	char *dash_pattern;	/* the pattern with '-' as "__", outside [...] */
};

/* "transaction-*" matches "transaction__commit": a dash is dtrace's "__". */
static char *dash_pattern(const char *p)
{
	char *out = malloc(2 * strlen(p) + 1), *o = out;
	bool in_bracket = false;

	if (!out)
		return NULL;
	for (; *p; p++) {
		if (*p == '[')
			in_bracket = true;
		else if (*p == ']')
			in_bracket = false;
		if (*p == '-' && !in_bracket) {
			*o++ = '_';
			*o++ = '_';
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

static bool matches(const struct probes_opts *o, const char *s, bool usdt)
{
	if (!o->pattern || !fnmatch(o->pattern, s, 0))
		return true;
	return usdt && o->dash_pattern && !fnmatch(o->dash_pattern, s, 0);
}

static void print_kinds(FILE *f, const struct usdt_row *v, size_t nr)
{
	unsigned int seen = 0;
	size_t i;

	for (i = 0; i < nr; i++) {
		if (seen & (1U << v[i].kind))
			continue;
		fprintf(f, "%s%s", seen ? "," : "", site_kind__name(v[i].kind));
		seen |= 1U << v[i].kind;
	}
}

/* One line per probe (its first site's operands); -v: one more per site. */
static void print_usdt_probe(FILE *f, const char *shown, const struct usdt_row *v, size_t nr,
			     bool verbose)
{
	const char *sep = " unreadable=";
	unsigned int unreadable = 0;
	bool sema = false;
	size_t i;
	int a;

	for (i = 0; i < nr; i++) {
		unreadable |= v[i].unreadable;
		sema |= v[i].sema;
	}
	fprintf(f, "usdt:%s:%s:%s sites=%zu semaphore=%s kind=", shown, v[0].provider, v[0].name,
		nr, sema ? "yes" : "no");
	print_kinds(f, v, nr);
	fprintf(f, " args=%d", v[0].nr_args);
	for (a = 0; a < EMITD_MAX_ARGS; a++) {
		if (unreadable & (1U << a)) {
			fprintf(f, "%s%d", sep, a);
			sep = ",";
		}
	}
	fprintf(f, " \"%s\"\n", v[0].ops);
	if (!verbose)
		return;
	for (i = 0; i < nr; i++)
		fprintf(f, "    site 0x%llx %s: \"%s\"\n%s", (unsigned long long)v[i].file_offset,
			site_kind__name(v[i].kind), v[i].ops, v[i].why);
}

static int list_usdt(const struct probes_opts *o, const struct object *obj)
{
	struct usdt_rows r = { NULL, 0 };
	char key[2 * NAME_MAX_SHOWN + 2];
	size_t i, j;
	int err;

	err = usdt_rows__read(&r, obj->path);
	for (i = 0; !err && i < r.nr; i = j) {
		for (j = i + 1; j < r.nr && same_probe(&r.v[i], &r.v[j]); j++)
			;
		snprintf(key, sizeof(key), "%s:%s", r.v[i].provider, r.v[i].name);
		if (matches(o, key, true))
			print_usdt_probe(stdout, obj->shown, &r.v[i], j - i, o->verbose);
	}
	usdt_rows__free(&r);
	return err;
}

static int list_functions(const struct probes_opts *o, const struct object *obj)
{
	struct func_rows r = { NULL, 0 };
	size_t i;
	int err;

	err = elf_site__for_each_function(obj->path, func_rows__add, &r);
	if (!err && r.nr)
		qsort(r.v, r.nr, sizeof(*r.v), func_row__cmp);
	for (i = 0; !err && i < r.nr; i++) {
		if ((i && !strcmp(r.v[i].name, r.v[i - 1].name)) || !matches(o, r.v[i].name, false))
			continue;
		printf("uprobe:%s:%s kind=%s\n", obj->shown, r.v[i].name,
		       site_kind__name(r.v[i].kind));
	}
	func_rows__free(&r);
	return err;
}

static int list_object(const struct probes_opts *o, const struct object *obj)
{
	int err = 0;

	if (o->usdt)
		err = list_usdt(o, obj);
	if (!err && o->functions)
		err = list_functions(o, obj);
	if (err == -ENOEXEC)
		log_err("probes: %s is not an ELF file", obj->shown);
	else if (err)
		log_err("probes: %s: %s", obj->shown, strerror(-err));
	return err;
}

static void probes_usage(FILE *f)
{
	fputs("Usage: emitd probes [--usdt | --functions] [-v] BINARY [PATTERN]\n"
	      "       emitd probes [--usdt | --functions] [-v] --pid PID [PATTERN]\n"
	      "\n"
	      "List the USDT probes and function symbols of BINARY, or of the executable\n"
	      "and every shared library process PID maps (read through /proc/PID/root):\n"
	      "  usdt:PATH:PROVIDER:NAME sites=N semaphore=yes|no kind=KIND args=N\n"
	      "      [unreadable=I,J] \"OPERANDS\"   (the first site's operands)\n"
	      "  uprobe:PATH:SYMBOL kind=KIND\n"
	      "KIND is the site's instruction: nop5 (optimized), emulated or single-step.\n"
	      "PATTERN is a glob on PROVIDER:NAME or SYMBOL; a '-' in it also matches \"__\".\n"
	      "\n"
	      "  -u, --usdt        USDT probes only\n"
	      "  -f, --functions   function symbols only\n"
	      "  -p, --pid PID     a running process instead of BINARY\n"
	      "  -v, --verbose     every site of a probe, and why an operand is unreadable\n"
	      "\n"
	      "Exit status: 0 listed, 1 a file could not be read, 2 usage.\n", f);
}

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*pid = v;
	return 0;
}

int probes_cli__main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "usdt", no_argument, NULL, 'u' },
		{ "functions", no_argument, NULL, 'f' },
		{ "pid", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct probes_opts o = { .usdt = false };
	struct objects objs = { NULL, 0 };
	int c, err = 0, nr_pos;
	size_t i;
	pid_t pid = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "ufp:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.usdt = true;
			break;
		case 'f':
			o.functions = true;
			break;
		case 'p':
			if (parse_pid(optarg, &pid)) {
				log_err("probes: --pid: %s is not a process id", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			probes_usage(stdout);
			return 0;
		default:
			probes_usage(stderr);
			return EXIT_USAGE;
		}
	}
	nr_pos = argc - optind;
	if (pid ? nr_pos > 1 : nr_pos < 1 || nr_pos > 2) {
		log_err("probes: %s", pid ? "--pid takes at most a PATTERN after it" :
			"needs a BINARY (or --pid PID) and at most a PATTERN");
		probes_usage(stderr);
		return EXIT_USAGE;
	}
	if (!o.usdt && !o.functions)
		o.usdt = o.functions = true;
	o.pattern = nr_pos == (pid ? 1 : 2) ? argv[argc - 1] : NULL;
	if (o.pattern && !(o.dash_pattern = dash_pattern(o.pattern)))
		err = -ENOMEM;
	if (!err)
		err = pid ? objects__from_pid(&objs, pid) : objects__add(&objs, "", argv[optind]);
	for (i = 0; !err && i < objs.nr; i++)
		err = list_object(&o, &objs.v[i]);
	if (err == -ENOMEM)
		log_err("probes: out of memory");
	objects__free(&objs);
	free(o.dash_pattern);
	return err ? 1 : 0;
}

/* ---- emitd init ---- */

struct init_opts {
	const char *binary, *out, *namespace_, *target;
	bool force;
};

/* @s with every character outside [A-Za-z0-9_] as '_', runs of '_' as one. */
static void ident_of(char *buf, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s && o + 1 < size; s++) {
		char ch = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			  (*s >= '0' && *s <= '9') ? *s : '_';

		if (ch == '_' && o && buf[o - 1] == '_')
			continue;
		buf[o++] = ch;
	}
	buf[o] = '\0';
}

/* A namespace from the binary's name: "python3.11" is "python3_11". */
static int default_namespace(char *buf, size_t size, const char *binary)
{
	const char *base = strrchr(binary, '/') ? strrchr(binary, '/') + 1 : binary;
	char tmp[100];

	ident_of(tmp, sizeof(tmp), base);
	snprintf(buf, size, "%s%s", tmp[0] >= '0' && tmp[0] <= '9' ? "_" : "", tmp);
	return buf[0] ? 0 : -EINVAL;
}

static void default_target(char *buf, size_t size, const char *binary)
{
	const char *base = strrchr(binary, '/') ? strrchr(binary, '/') + 1 : binary;
	size_t o = 0;

	for (; *base && o + 1 < size; base++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
			   *base))
			buf[o++] = *base;
	buf[o] = '\0';
	if (!o)
		snprintf(buf, size, "target");
}

/* YAML single-quoted scalar: '' for each quote; the caller checked for control bytes. */
static void yaml_squote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

struct init_metric {
	char name[NAME_MAX_SHOWN * 2 + 16];
	const struct usdt_row *first;
	size_t nr_sites;
};

/* provider_name_total, made unique against the @nr before it. */
static void metric_name(struct init_metric *m, const struct init_metric *prev, size_t nr)
{
	char base[sizeof(m->name) - 16], joined[sizeof(base)];
	unsigned int k = 1;
	size_t i;

	snprintf(joined, sizeof(joined), "%s_%s", m->first->provider, m->first->name);
	ident_of(base, sizeof(base), joined);
	snprintf(m->name, sizeof(m->name), "%s_total", base);
	for (;;) {
		for (i = 0; i < nr && strcmp(prev[i].name, m->name); i++)
			;
		if (i == nr)
			return;
		snprintf(m->name, sizeof(m->name), "%s_%u_total", base, ++k);
	}
}

/* The probes init writes: C identifiers, at most SPEC_MAX_METRICS. */
static size_t init_metrics(const struct usdt_rows *r, struct init_metric *out, size_t *dropped)
{
	size_t i, j, nr = 0;

	*dropped = 0;
	for (i = 0; i < r->nr; i = j) {
		for (j = i + 1; j < r->nr && same_probe(&r->v[i], &r->v[j]); j++)
			;
		if (!spec__valid_ident(r->v[i].provider) || !spec__valid_ident(r->v[i].name)) {
			log_warn("init: USDT probe %s:%s: not C identifiers, left out",
				 r->v[i].provider, r->v[i].name);
			continue;
		}
		if (nr == SPEC_MAX_METRICS) {
			(*dropped)++;
			continue;
		}
		out[nr].first = &r->v[i];
		out[nr].nr_sites = j - i;
		metric_name(&out[nr], out, nr);
		nr++;
	}
	return nr;
}

static void write_spec(FILE *f, const struct init_opts *o, const char *ns, const char *target,
		       const struct init_metric *m, size_t nr)
{
	size_t i, nr_sites = 0;

	for (i = 0; i < nr; i++)
		nr_sites += m[i].nr_sites;

	fprintf(f, "# A starter spec, written by `emitd init`, for\n#   %s\n"
		"# one counter per USDT probe (%zu probe%s, %zu site%s). Above each metric\n"
		"# are its operands (the first site's): read one with `value: { arg: N }`\n"
		"# or a label source, see docs/SPEC.md. Check it with `emitd lint`.\n",
		o->binary, nr, nr == 1 ? "" : "s", nr_sites, nr_sites == 1 ? "" : "s");
	fprintf(f, "version: 1\nnamespace: %s\ntargets:\n  - name: %s\n    binary: ", ns, target);
	yaml_squote(f, o->binary);
	fputs("\nmetrics:\n", f);
	for (i = 0; i < nr; i++) {
		const struct usdt_row *r = m[i].first;

		fprintf(f, "  # %s:%s: %zu site%s%s; operands: %s\n", r->provider, r->name,
			m[i].nr_sites, m[i].nr_sites == 1 ? "" : "s",
			r->sema ? ", a semaphore" : "", r->nr_args ? r->ops : "none");
		fprintf(f, "  - name: %s\n    type: counter\n"
			"    help: Hits of the USDT probe %s:%s.\n"
			"    probe: { target: %s, usdt: '%s:%s' }\n",
			m[i].name, r->provider, r->name, target, r->provider, r->name);
	}
}

/* Refuse to overwrite a file without --force: it may be a spec someone wrote. */
static int init_write(const struct init_opts *o, const char *text, size_t len)
{
	struct stat st;
	int err;

	if (!o->out) {
		fwrite(text, 1, len, stdout);
		return fflush(stdout) ? -errno : 0;
	}
	if (!o->force && !stat(o->out, &st)) {
		log_err("init: %s exists; --force replaces it", o->out);
		return -EEXIST;
	}
	err = fileio__replace_buf(o->out, text, len);
	if (err)
		log_err("init: cannot write %s: %s", o->out, strerror(-err));
	return err;
}

static int init_run(const struct init_opts *o)
{
	struct usdt_rows r = { NULL, 0 };
	struct init_metric *m = NULL;
	char ns[128], target[128], msg[256], *text = NULL;
	size_t nr, nr_probes = 0, dropped, len = 0, i;
	FILE *f;
	int err;

	if (o->namespace_)
		snprintf(ns, sizeof(ns), "%s", o->namespace_);
	else if (default_namespace(ns, sizeof(ns), o->binary))
		ns[0] = '\0';
	if (!spec_name__check_namespace(ns, msg, sizeof(msg))) {
		log_err("init: namespace: %s; name one with --namespace", msg);
		return -EINVAL;
	}
	if (o->target)
		snprintf(target, sizeof(target), "%s", o->target);
	else
		default_target(target, sizeof(target), o->binary);
	if (!spec__valid_target_name(target)) {
		log_err("init: --target %s: expected [a-zA-Z0-9_.-]+", target);
		return -EINVAL;
	}
	for (i = 0; o->binary[i]; i++) {
		if ((unsigned char)o->binary[i] < 0x20 || o->binary[i] == 0x7f) {
			log_err("init: --binary: a path with control characters cannot go in a spec");
			return -EINVAL;
		}
	}

	err = usdt_rows__read(&r, o->binary);
	if (err) {
		log_err("init: %s: %s", o->binary,
			err == -ENOEXEC ? "not an ELF file" : strerror(-err));
		goto out;
	}
	m = calloc(r.nr ? r.nr : 1, sizeof(*m));
	if (!m) {
		err = -ENOMEM;
		goto out;
	}
	nr = init_metrics(&r, m, &dropped);
	for (i = 0; i < r.nr; i++)
		nr_probes += !i || !same_probe(&r.v[i - 1], &r.v[i]);
	if (!nr) {
		log_err("init: %s has no USDT probe emitd can name; `emitd probes --functions %s` "
			"lists the functions a uprobe metric can use", o->binary, o->binary);
		err = -ENOENT;
		goto out;
	}
	if (dropped)
		log_warn("init: %s has %zu USDT probes; a spec holds %d metrics, the last %zu "
			 "are left out", o->binary, nr_probes, SPEC_MAX_METRICS, dropped);
	f = open_memstream(&text, &len);
	if (!f) {
		err = -ENOMEM;
		goto out;
	}
	write_spec(f, o, ns, target, m, nr);
	fclose(f);
	err = init_write(o, text, len);
	if (!err && o->out)
		log_info("init: wrote %s: %zu counters", o->out, nr);
out:
	if (err == -ENOMEM)
		log_err("init: out of memory");
	free(text);
	free(m);
	usdt_rows__free(&r);
	return err;
}

static void init_usage(FILE *f)
{
	fputs("Usage: emitd init --binary PATH [--out FILE] [--namespace NS] [--target NAME]\n"
	      "                  [--force]\n"
	      "\n"
	      "Write a starter spec: one counter per USDT probe of PATH, named\n"
	      "PROVIDER_NAME_total, each with the probe's operands in a comment.\n"
	      "The spec names PATH as written here (a relative path is relative to\n"
	      "where `emitd run` starts).\n"
	      "\n"
	      "  -b, --binary PATH     the executable or library\n"
	      "  -o, --out FILE        write FILE instead of standard output\n"
	      "  -n, --namespace NS    the metrics' prefix (default: PATH's file name)\n"
	      "  -t, --target NAME     the target's name (default: PATH's file name)\n"
	      "  -f, --force           replace FILE if it exists\n"
	      "\n"
	      "Exit status: 0 written, 1 error, 2 usage.\n", f);
}

int probes_cli__init_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "binary", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "target", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct init_opts o = { NULL };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "b:o:n:t:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.binary = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'n':
			o.namespace_ = optarg;
			break;
		case 't':
			o.target = optarg;
			break;
		case 'f':
			o.force = true;
			break;
		case 'h':
			init_usage(stdout);
			return 0;
		default:
			init_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!o.binary || optind != argc) {
		log_err("init: %s", o.binary ? "unexpected arguments" : "needs --binary PATH");
		init_usage(stderr);
		return EXIT_USAGE;
	}
	return init_run(&o) ? 1 : 0;
}
