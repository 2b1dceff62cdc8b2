// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * spec/load: a spec from a file or a buffer, and its release.
 *
 * A load reads the file (at most SPEC_MAX_FILE_SIZE bytes), loads its one
 * YAML document (yaml.c), reads it into a struct spec (parse.c), checks the
 * metrics against each other (check.c), and returns the spec only when no
 * error was found; every error is left in the caller's diagnostics (diag.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "lib/fileio.h"
#include "spec/internal.h"

static int finish(struct spec_ctx *c, struct spec **out)
{
	spec_diag__finish(c);
	if (c->oom || c->nr_errors) {
		spec__free(c->spec);
		return c->oom ? -ENOMEM : -EINVAL;
	}
	*out = c->spec;
	return 0;
}

/* Parse and check the first document of @parser; there must be no second. */
static void load_document(struct spec_ctx *c, yaml_parser_t *parser,
			  const char *buf, size_t len)
{
	yaml_document_t doc;
	yaml_node_t *root;

	if (!spec_yaml__load(c, parser, buf, len, &doc))
		return;
	c->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		spec_diag(c, (struct spec_mark){ 1, 1 }, NULL,
			  "spec is empty (expected a mapping with version, namespace, targets and metrics)");
	} else {
		spec_parse__root(c, root);
		if (c->metrics)
			spec_check__metrics(c);
		spec_yaml__expect_end(c, parser, buf, len);
	}
	c->metrics = NULL;
	c->doc = NULL;
	yaml_document_delete(&doc);
}

int spec__load_buf(const char *name, const char *buf, size_t len,
		   struct spec **out, struct spec_diags *diags)
{
	struct spec_ctx c = { .diags = diags, .first = diags->nr };
	yaml_parser_t parser;

	*out = NULL;
	if (len > SPEC_MAX_FILE_SIZE) {
		spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL,
				"too large (%zu bytes, at most %d)", len,
				SPEC_MAX_FILE_SIZE);
		return -EFBIG;
	}
	c.spec = calloc(1, sizeof(*c.spec));
	if (!c.spec)
		return -ENOMEM;
	c.spec->path = strdup(name ? name : "<spec>");
	c.spec->global_budget = SPEC_DEFAULT_GLOBAL_BUDGET;
	if (!c.spec->path || !yaml_parser_initialize(&parser)) {
		c.oom = true;
		return finish(&c, out);
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	load_document(&c, &parser, buf, len);
	yaml_parser_delete(&parser);
	return finish(&c, out);
}

static int io_error(struct spec_diags *diags, const char *what, int err)
{
	spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL, "%s: %s", what,
			strerror(-err));
	return err;
}

/* Read all of @path, at most SPEC_MAX_FILE_SIZE bytes. */
static int read_file(const char *path, char **bufp, size_t *lenp,
		     struct spec_diags *diags)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return io_error(diags, "cannot open", -errno);
	if (!fstat(fd, &st) && S_ISDIR(st.st_mode))
		err = -EISDIR;
	else
		err = fileio__read_fd(fd, SPEC_MAX_FILE_SIZE, 0, bufp, lenp);
	close(fd);
	if (err == -EFBIG)
		spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL,
				"too large (more than %d bytes)", SPEC_MAX_FILE_SIZE);
	else if (err && err != -ENOMEM)
		err = io_error(diags, "cannot read", err);
	return err;
}

int spec__load(const char *path, struct spec **out, struct spec_diags *diags)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	err = read_file(path, &buf, &len, diags);
	if (err)
		return err;
	err = spec__load_buf(path, buf, len, out, diags);
	free(buf);
	return err;
}

static void free_metric(struct spec_metric *m)
{
	size_t i, j;

	free(m->name);
	free(m->help);
	free(m->unit);
	free(m->family);
	for (i = 0; i < m->nr_labels; i++) {
		free(m->labels[i].name);
		for (j = 0; j < m->labels[i].nr_values; j++)
			free(m->labels[i].values[j]);
		free(m->labels[i].values);
	}
	free(m->probe.target);
	free(m->probe.symbol);
	free(m->probe.provider);
	free(m->probe.name);
	free(m->buckets.bounds);
	for (i = 0; i < m->nr_panels; i++) {
		free(m->panels[i].title);
		free(m->panels[i].promql);
		free(m->panels[i].unit);
		free(m->panels[i].panel_type);
	}
	free(m->panels);
	for (i = 0; i < m->nr_alerts; i++) {
		free(m->alerts[i].alert);
		free(m->alerts[i].expr);
		free(m->alerts[i].for_);
		free(m->alerts[i].severity);
		free(m->alerts[i].summary);
	}
	free(m->alerts);
}

void spec__free(struct spec *spec)
{
	size_t i, j;

	if (!spec)
		return;
	for (i = 0; i < spec->nr_targets; i++) {
		free(spec->targets[i].name);
		free(spec->targets[i].binary);
		free(spec->targets[i].cgroup);
		for (j = 0; j < spec->targets[i].nr_comms; j++)
			free(spec->targets[i].comms[j]);
		free(spec->targets[i].comms);
	}
	free(spec->targets);
	for (i = 0; i < spec->nr_metrics; i++)
		free_metric(&spec->metrics[i]);
	free(spec->metrics);
	free(spec->namespace_);
	free(spec->path);
	free(spec);
}
