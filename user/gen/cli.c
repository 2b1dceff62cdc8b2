// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen_cli: `emitd gen --spec FILE --out DIR [--check]`, the thin file layer
 * around the pure generators.
 *
 * Writing replaces a file only when its bytes change (through a temporary
 * file and rename()), and deletes dashboards that the previous manifest
 * listed and the spec no longer produces. --check writes nothing: it prints
 * every difference and exits with the code of the most consequential drift.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen/gen.h"
#include "lib/log.h"

#define MAX_FILE_SIZE	(64 << 20)

static char *join(const char *dir, const char *rel)
{
	return gen__fmt("%s/%s", dir, rel);
}

/* Read @path whole; -ENOENT when it does not exist. */
static int read_all(const char *path, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_FILE_SIZE) {
		err = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out_close;
	}
	buf = malloc(st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	if (got != (size_t)st.st_size) {
		free(buf);
		err = -EIO;
		goto out_close;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
out_close:
	close(fd);
	return err;
}

/* mkdir -p for the directories above @path. */
static int make_parents(const char *path)
{
	char *p = strdup(path), *s;
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (s = strchr(p + 1, '/'); s && !err; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			err = -errno;
		*s = '/';
	}
	free(p);
	return err;
}

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= n;
	}
	return 0;
}

static int replace_file(const char *path, const char *data, size_t len)
{
	char *tmp = gen__fmt("%s.tmp.%d", path, (int)getpid());
	int fd, err;

	if (!tmp)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		goto out_free;
	}
	err = write_all(fd, data, len);
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
out_free:
	free(tmp);
	return err;
}

/* 1 when written, 0 when already current, negative errno on failure. */
static int update_file(const char *dir, const struct gen_file *f)
{
	char *path = join(dir, f->path), *old = NULL;
	size_t old_len = 0;
	int err;

	if (!path)
		return -ENOMEM;
	err = read_all(path, &old, &old_len);
	if (!err && old_len == f->len && !memcmp(old, f->data, f->len)) {
		err = 0;
		goto out;
	}
	err = make_parents(path);
	if (!err)
		err = replace_file(path, f->data, f->len);
	if (err)
		log_err("gen: cannot write %s: %s", path, strerror(-err));
	else
		err = 1;
out:
	free(old);
	free(path);
	return err;
}

/* ---- dashboards the previous manifest listed ---- */

static bool plain_json_name(const char *s)
{
	size_t n = strlen(s);

	return n > 5 && !strchr(s, '/') && s[0] != '.' && !strcmp(s + n - 5, ".json") &&
	       strcmp(s, "manifest.json");
}

static bool generated(const struct gen_set *set, const char *file)
{
	size_t i;

	for (i = 0; i < set->nr; i++) {
		const char *p = set->files[i].path;

		if (set->files[i].kind == GEN_DASHBOARD &&
		    !strncmp(p, "dashboards/", 11) && !strcmp(p + 11, file))
			return true;
	}
	return false;
}

/* Delete the dashboards of @old_manifest that @set no longer has. */
static int remove_stale(const struct gen_set *set, const char *dir, const char *old,
			size_t len, FILE *log)
{
	json_t *m = json_loadb(old, len, 0, NULL), *d;
	char *rel, *path;
	size_t i;
	int err = 0;

	json_array_foreach(json_object_get(m, "dashboards"), i, d) {
		const char *file = json_string_value(json_object_get(d, "file"));

		if (!file || !plain_json_name(file) || generated(set, file))
			continue;
		rel = join("dashboards", file);
		path = rel ? join(dir, rel) : NULL;
		if (!path) {
			err = -ENOMEM;
		} else if (unlink(path) && errno != ENOENT) {
			err = -errno;
			log_err("gen: cannot remove stale %s: %s", path, strerror(errno));
		} else {
			fprintf(log, "removed %s\n", path);
		}
		free(path);
		free(rel);
		if (err)
			break;
	}
	json_decref(m);
	return err;
}

int gen__write(const struct gen_set *set, const char *dir, FILE *log)
{
	char *manifest = join(dir, "dashboards/manifest.json"), *old = NULL;
	size_t i, old_len = 0, changed = 0;
	int err = 0, ret;

	if (!manifest)
		return -ENOMEM;
	ret = read_all(manifest, &old, &old_len);
	if (ret && ret != -ENOENT)
		log_warn("gen: cannot read the previous %s: %s", manifest, strerror(-ret));
	for (i = 0; i < set->nr && !err; i++) {
		ret = update_file(dir, &set->files[i]);
		if (ret < 0)
			err = ret;
		if (ret <= 0)
			continue;
		fprintf(log, "wrote %s/%s\n", dir, set->files[i].path);
		changed++;
	}
	if (!err && old)
		err = remove_stale(set, dir, old, old_len, log);
	if (!err)
		fprintf(log, "gen: %zu files, %zu updated, in %s\n", set->nr, changed, dir);
	free(old);
	free(manifest);
	return err;
}

/* ---- --check ---- */

static void summary(FILE *report, const bool drift[GEN_KIND_NR], int code, size_t nr)
{
	const char *sep = "";
	size_t k;

	if (code == GEN_EXIT_OK) {
		fprintf(report, "gen: --check: all %zu generated files are current\n", nr);
		return;
	}
	fputs("gen: --check: drift in", report);
	for (k = 0; k < GEN_KIND_NR; k++) {
		if (!drift[k])
			continue;
		fprintf(report, "%s %s (%d)", sep, gen_kind__name(k), gen_kind__exit(k));
		sep = ",";
	}
	fprintf(report, "; exit %d (precedence: alerts 9, recording rules 8, dashboards 6, header/catalog 10). Regenerate with `emitd gen --out DIR` and commit.\n",
		code);
}

static int check_one(const struct gen_file *f, const char *dir, FILE *report, bool *drift,
		     bool *hash_only)
{
	char *path = join(dir, f->path), *disk = NULL;
	size_t len = 0;
	int err;

	if (!path)
		return -ENOMEM;
	err = read_all(path, &disk, &len);
	if (err && err != -ENOENT) {
		log_err("gen: cannot read %s: %s", path, strerror(-err));
		goto out;
	}
	err = gen_check__file(f, err ? NULL : disk, len, report, hash_only);
	if (err < 0) {
		log_err("gen: cannot compare %s: %s", path, strerror(-err));
		goto out;
	}
	*drift |= err > 0;
	err = 0;
out:
	free(disk);
	free(path);
	return err;
}

int gen__check(const struct gen_set *set, const char *dir, FILE *report)
{
	bool drift[GEN_KIND_NR] = {}, hash_only = false, h;
	size_t i;
	int err, code;

	for (i = 0; i < set->nr; i++) {
		const struct gen_file *f = &set->files[i];

		h = false;
		err = check_one(f, dir, report, &drift[f->kind], &h);
		if (err)
			return GEN_EXIT_ERROR;
		if (f->kind == GEN_MANIFEST)
			hash_only = h;
	}
	code = gen__drift_exit(drift, hash_only);
	/* A stale spec hash alone is drift; next to other drift it is a note. */
	if (hash_only && code != GEN_EXIT_DASHBOARDS)
		drift[GEN_MANIFEST] = false;
	summary(report, drift, code, set->nr);
	return code;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fputs("Usage: emitd gen --spec FILE --out DIR [--check]\n"
	      "\n"
	      "Generate from the spec, under DIR:\n"
	      "  include/<namespace>_metrics.h   metric IDs and names\n"
	      "  docs/METRICS_CATALOG.md         the catalog, by family\n"
	      "  dashboards/<slug>.json          Grafana dashboards, one per family\n"
	      "  dashboards/manifest.json        the dashboards and the spec's hash\n"
	      "  rules/recording_rules.yml       Prometheus recording rules\n"
	      "  rules/alerts.yml                the spec's alerts and suggestions\n"
	      "\n"
	      "  -s, --spec FILE   the metric spec (YAML)\n"
	      "  -o, --out DIR     the output root (e.g. . for the repository)\n"
	      "  -c, --check       write nothing; compare DIR with the spec\n"
	      "\n"
	      "Exit status: 0 written / current, 1 invalid spec or I/O error, 2 usage,\n"
	      "--check drift: 9 alert rules, 8 recording rules, 6 dashboards,\n"
	      "10 header or catalog (when several drift, the first in this order).\n", f);
}

static int run(const char *spec_path, const char *out_dir, bool check)
{
	struct spec_diags diags = {};
	struct spec *spec = NULL;
	struct gen_set set = {};
	int err, code = GEN_EXIT_ERROR;

	err = spec__load(spec_path, &spec, &diags);
	spec_diags__print(&diags, spec_path, stderr);
	spec_diags__free(&diags);
	if (err)
		return GEN_EXIT_ERROR;
	err = gen__render(spec, &set);
	if (err == -EINVAL)
		goto out;	/* gen said what is invalid */
	if (err) {
		log_err("gen: %s: cannot generate: %s", spec_path, strerror(-err));
		goto out;
	}
	if (check)
		code = gen__check(&set, out_dir, stdout);
	else
		code = gen__write(&set, out_dir, stdout) ? GEN_EXIT_ERROR : GEN_EXIT_OK;
out:
	gen_set__free(&set);
	spec__free(spec);
	return code;
}

int gen__main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "spec", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *spec_path = NULL, *out_dir = NULL;
	bool check = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "s:o:ch", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			spec_path = optarg;
			break;
		case 'o':
			out_dir = optarg;
			break;
		case 'c':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return GEN_EXIT_OK;
		default:
			usage(stderr);
			return GEN_EXIT_USAGE;
		}
	}
	if (!spec_path || !out_dir || optind != argc) {
		usage(stderr);
		return GEN_EXIT_USAGE;
	}
	return run(spec_path, out_dir, check);
}
