// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen_check: compare freshly generated artifacts with what is on disk.
 *
 * Pure: both sides arrive as buffers. Dashboards compare semantically (panel
 * ids and gridPos ignored, panel order ignored), rule and provisioning files
 * as parsed YAML (quoting, comments and order of keys ignored), the header
 * and the catalogs as text. Every difference is printed, prefixed with the file's path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "gen/gen.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_DEPTH	64
#define SHOW_LEN	160	/* bytes of a differing line shown */

/* ---- YAML into jansson ---- */

static json_t *node_json(yaml_document_t *doc, yaml_node_t *n, int depth);

static json_t *seq_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	json_t *a = json_array();
	yaml_node_item_t *it;

	for (it = n->data.sequence.items.start; a && it < n->data.sequence.items.top; it++) {
		if (json_array_append_new(a, node_json(doc, yaml_document_get_node(doc, *it),
						       depth + 1))) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

static json_t *map_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	json_t *o = json_object();
	yaml_node_pair_t *p;

	for (p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (!k || k->type != YAML_SCALAR_NODE ||
		    json_object_set_new(o, (const char *)k->data.scalar.value,
					node_json(doc, yaml_document_get_node(doc, p->value),
						  depth + 1))) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

static json_t *node_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	if (!n || depth > MAX_DEPTH)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		return seq_json(doc, n, depth);
	case YAML_MAPPING_NODE:
		return map_json(doc, n, depth);
	default:
		return NULL;
	}
}

json_t *gen__yaml_to_json(const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	json_t *j = NULL;

	if (!yaml_parser_initialize(&parser))
		return NULL;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (yaml_parser_load(&parser, &doc)) {
		root = yaml_document_get_root_node(&doc);
		j = root ? node_json(&doc, root, 0) : json_null();
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return j;
}

/* ---- helpers ---- */

static const char *sval(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* A copy of object @o without @drop keys (NULL-terminated). */
static json_t *without(const json_t *o, const char *const *drop)
{
	json_t *c = json_deep_copy(o);

	for (; c && *drop; drop++)
		json_object_del(c, *drop);
	return c;
}

/* Keys whose values differ between two objects, except @skip. */
static size_t report_keys(FILE *r, const char *path, const char *what, const json_t *fresh,
			  const json_t *disk, const char *skip)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)fresh, k, v) {
		if ((!skip || strcmp(k, skip)) && !json_equal(v, json_object_get(disk, k))) {
			fprintf(r, "%s: %s \"%s\" changed\n", path, what, k);
			n++;
		}
	}
	json_object_foreach((json_t *)disk, k, v) {
		if ((!skip || strcmp(k, skip)) && !json_object_get(fresh, k)) {
			fprintf(r, "%s: %s \"%s\" is not generated\n", path, what, k);
			n++;
		}
	}
	return n;
}

/* ---- dashboards ---- */

struct pinfo {
	json_t *norm;		/* the panel without id and gridPos */
	char *sig;
	bool matched;
};

struct pset {
	struct pinfo *v;
	size_t nr;
};

static void pset__free(struct pset *s)
{
	size_t i;

	for (i = 0; i < s->nr; i++) {
		json_decref(s->v[i].norm);
		free(s->v[i].sig);
	}
	free(s->v);
}

static int pset__load(struct pset *s, const json_t *dash)
{
	static const char *const layout[] = { "id", "gridPos", NULL };
	const json_t *panels = json_object_get(dash, "panels"), *p;
	size_t i;

	s->nr = 0;
	s->v = calloc(json_array_size(panels) + 1, sizeof(*s->v));
	if (!s->v)
		return -ENOMEM;
	json_array_foreach(panels, i, p) {
		struct pinfo *pi = &s->v[s->nr++];

		pi->norm = json_is_object(p) ? without(p, layout) : json_object();
		pi->sig = pi->norm ? gen_panel__signature(pi->norm) : NULL;
		if (!pi->sig)
			return -ENOMEM;
	}
	return 0;
}

enum pmatch { MATCH_SAME, MATCH_SIG, MATCH_TITLE };

static bool pmatch(const struct pinfo *a, const struct pinfo *b, enum pmatch how)
{
	switch (how) {
	case MATCH_SAME:
		return json_equal(a->norm, b->norm);
	case MATCH_SIG:
		return !strcmp(a->sig, b->sig);
	default:
		return !strcmp(sval(a->norm, "title"), sval(b->norm, "title"));
	}
}

/* Pair unmatched panels of @a and @b that match by @how; report the pairs. */
static size_t pair_panels(FILE *r, const char *path, struct pset *a, struct pset *b,
			  enum pmatch how)
{
	static const char *const why[] = {
		[MATCH_SIG] = "content changed, same signature",
		[MATCH_TITLE] = "signature changed",
	};
	size_t i, j, n = 0;

	for (i = 0; i < a->nr; i++) {
		for (j = 0; !a->v[i].matched && j < b->nr; j++) {
			if (b->v[j].matched || !pmatch(&a->v[i], &b->v[j], how))
				continue;
			a->v[i].matched = b->v[j].matched = true;
			if (how == MATCH_SAME)
				continue;
			fprintf(r, "%s: changed panel \"%s\" (%s)\n", path,
				sval(a->v[i].norm, "title"), why[how]);
			n++;
		}
	}
	return n;
}

static size_t report_unmatched(FILE *r, const char *path, const struct pset *s,
			       const char *what)
{
	size_t i, n = 0;

	for (i = 0; i < s->nr; i++) {
		if (s->v[i].matched)
			continue;
		fprintf(r, "%s: %s panel \"%s\"\n", path, what, sval(s->v[i].norm, "title"));
		n++;
	}
	return n;
}

static int diff_panels(FILE *r, const char *path, const json_t *fresh, const json_t *disk,
		       size_t *nr)
{
	struct pset a = {}, b = {};
	int err;

	err = pset__load(&a, fresh);
	if (!err)
		err = pset__load(&b, disk);
	if (!err) {
		pair_panels(r, path, &a, &b, MATCH_SAME);
		*nr += pair_panels(r, path, &a, &b, MATCH_SIG);
		*nr += pair_panels(r, path, &a, &b, MATCH_TITLE);
		*nr += report_unmatched(r, path, &a, "added");
		*nr += report_unmatched(r, path, &b, "removed");
	}
	pset__free(&a);
	pset__free(&b);
	return err;
}

static int check_dashboard(FILE *r, const char *path, const char *fresh_text,
			   const json_t *disk)
{
	json_t *fresh = json_loads(fresh_text, 0, NULL);
	size_t n = 0;
	int err;

	if (!fresh)
		return -ENOMEM;
	n = report_keys(r, path, "dashboard field", fresh, disk, "panels");
	err = diff_panels(r, path, fresh, disk, &n);
	json_decref(fresh);
	return err ? err : n > 0;
}

/* ---- the manifest ---- */

static const json_t *find_dash(const json_t *list, const char *slug)
{
	const json_t *d;
	size_t i;

	json_array_foreach(list, i, d) {
		if (!strcmp(sval(d, "slug"), slug))
			return d;
	}
	return NULL;
}

static size_t diff_dash_list(FILE *r, const char *path, const json_t *fresh,
			     const json_t *disk)
{
	const json_t *d, *o;
	size_t i, n = 0;

	json_array_foreach(fresh, i, d) {
		o = find_dash(disk, sval(d, "slug"));
		if (!o || !json_equal(d, o)) {
			fprintf(r, "%s: %s dashboard \"%s\"\n", path, o ? "changed" : "added",
				sval(d, "slug"));
			n++;
		}
	}
	json_array_foreach(disk, i, d) {
		if (!find_dash(fresh, sval(d, "slug"))) {
			fprintf(r, "%s: removed dashboard \"%s\" (delete %s, or regenerate)\n",
				path, sval(d, "slug"), sval(d, "file"));
			n++;
		}
	}
	return n;
}

static int check_manifest(FILE *r, const char *path, const char *fresh_text,
			  const json_t *disk, bool *hash_only)
{
	static const char *const skip[] = { "dashboards", "spec_sha256", NULL };
	json_t *fresh = json_loads(fresh_text, 0, NULL), *a = NULL, *b = NULL;
	bool hash;
	size_t n;

	if (!fresh)
		return -ENOMEM;
	a = without(fresh, skip);
	b = json_is_object(disk) ? without(disk, skip) : json_object();
	if (!a || !b) {
		n = 0;
		hash = false;
		goto out_nomem;
	}
	n = report_keys(r, path, "manifest field", a, b, NULL);
	n += diff_dash_list(r, path, json_object_get(fresh, "dashboards"),
			    json_object_get(disk, "dashboards"));
	hash = strcmp(sval(fresh, "spec_sha256"), sval(disk, "spec_sha256"));
	if (hash)
		fprintf(r, "%s: spec hash %.12s... differs from the spec's %.12s...\n", path,
			sval(disk, "spec_sha256"), sval(fresh, "spec_sha256"));
	*hash_only = hash && !n;
	json_decref(a);
	json_decref(b);
	json_decref(fresh);
	return n || hash;
out_nomem:
	json_decref(a);
	json_decref(b);
	json_decref(fresh);
	return -ENOMEM;
}

/* ---- rule files ---- */

/* Rule @i of group @g: "record NAME" or "alert NAME". */
static void rule_key(char *buf, size_t size, const json_t *rule)
{
	if (json_object_get(rule, "record"))
		snprintf(buf, size, "record %s", sval(rule, "record"));
	else
		snprintf(buf, size, "alert %s", sval(rule, "alert"));
}

/* The @nth rule keyed @key in @rules, or NULL. */
static const json_t *find_rule(const json_t *rules, const char *key, size_t nth)
{
	const json_t *rule;
	char k[512];
	size_t i;

	json_array_foreach(rules, i, rule) {
		rule_key(k, sizeof(k), rule);
		if (!strcmp(k, key) && !nth--)
			return rule;
	}
	return NULL;
}

static size_t nth_of(const json_t *rules, size_t upto)
{
	char k[512], key[512];
	size_t i, n = 0;

	rule_key(key, sizeof(key), json_array_get(rules, upto));
	for (i = 0; i < upto; i++) {
		rule_key(k, sizeof(k), json_array_get(rules, i));
		n += !strcmp(k, key);
	}
	return n;
}

/* Rules of @a that @b lacks (@what "added"/"removed"), or that differ. */
static size_t diff_rules(FILE *r, const char *path, const char *group, const json_t *a,
			 const json_t *b, const char *what, bool changes)
{
	const json_t *rule, *other;
	char key[512];
	size_t i, n = 0;

	json_array_foreach(a, i, rule) {
		rule_key(key, sizeof(key), rule);
		other = find_rule(b, key, nth_of(a, i));
		if (!other)
			fprintf(r, "%s: %s %s (group %s)\n", path, what, key, group);
		else if (changes && !json_equal(rule, other))
			fprintf(r, "%s: changed %s (group %s)\n", path, key, group);
		else
			continue;
		n++;
	}
	return n;
}

static const json_t *find_group(const json_t *groups, const char *name)
{
	const json_t *g;
	size_t i;

	json_array_foreach(groups, i, g) {
		if (!strcmp(sval(g, "name"), name))
			return g;
	}
	return NULL;
}

static size_t diff_group(FILE *r, const char *path, const json_t *g, const json_t *o)
{
	static const char *const rules[] = { "rules", NULL };
	const char *name = sval(g, "name");
	json_t *a, *b;
	size_t n;

	n = diff_rules(r, path, name, json_object_get(g, "rules"),
		       json_object_get(o, "rules"), "added", true);
	n += diff_rules(r, path, name, json_object_get(o, "rules"),
			json_object_get(g, "rules"), "removed", false);
	a = without(g, rules);
	b = without(o, rules);
	if (a && b)
		n += report_keys(r, path, "group field", a, b, NULL);
	json_decref(a);
	json_decref(b);
	return n;
}

/* The differences in group @name count in *@prov when it is the provenance group. */
static size_t *count_of(const char *name, bool alerts, size_t *n, size_t *prov)
{
	return alerts && !strcmp(name, GEN_PROVENANCE_GROUP) ? prov : n;
}

static int check_rules(FILE *r, const struct gen_file *f, const json_t *disk, bool *hash_only)
{
	json_t *fresh = gen__yaml_to_json(f->data, f->len);
	bool alerts = f->kind == GEN_ALERTS;
	const json_t *fg, *dg, *g, *o;
	size_t i, n = 0, prov = 0;

	if (!fresh)
		return -ENOMEM;
	fg = json_object_get(fresh, "groups");
	dg = json_object_get(disk, "groups");
	if (!json_is_array(dg)) {
		fprintf(r, "%s: not a rules file (no groups list)\n", f->path);
		json_decref(fresh);
		return 1;
	}
	json_array_foreach(fg, i, g) {
		o = find_group(dg, sval(g, "name"));
		if (o) {
			size_t d = diff_group(r, f->path, g, o);

			*count_of(sval(g, "name"), alerts, &n, &prov) += d;
			continue;
		}
		fprintf(r, "%s: added group %s (%zu rules)\n", f->path, sval(g, "name"),
			json_array_size(json_object_get(g, "rules")));
		(*count_of(sval(g, "name"), alerts, &n, &prov))++;
	}
	json_array_foreach(dg, i, g) {
		if (!find_group(fg, sval(g, "name"))) {
			fprintf(r, "%s: removed group %s\n", f->path, sval(g, "name"));
			(*count_of(sval(g, "name"), alerts, &n, &prov))++;
		}
	}
	n += report_keys(r, f->path, "top-level field", fresh, disk, "groups");
	json_decref(fresh);
	*hash_only = prov && !n;
	return n + prov > 0;
}

/* ---- other YAML: the Grafana provisioning files ---- */

static int check_yaml(FILE *r, const struct gen_file *f, const json_t *disk)
{
	json_t *fresh = gen__yaml_to_json(f->data, f->len);
	size_t n;

	if (!fresh)
		return -ENOMEM;
	if (json_is_object(disk))
		n = report_keys(r, f->path, "field", fresh, disk, NULL);
	else
		n = !json_equal(fresh, disk);
	if (n && !json_is_object(disk))
		fprintf(r, "%s: not the generated document\n", f->path);
	json_decref(fresh);
	return n > 0;
}

/* ---- text ---- */

static void show_line(FILE *r, const char *label, const char *s, const char *end)
{
	const char *nl;
	size_t n;

	if (s >= end) {
		fprintf(r, "    %s (end of file)\n", label);
		return;
	}
	nl = memchr(s, '\n', end - s);
	n = nl ? (size_t)(nl - s) : (size_t)(end - s);
	fprintf(r, "    %s %.*s%s\n", label, (int)(n < SHOW_LEN ? n : SHOW_LEN), s,
		n > SHOW_LEN ? "..." : "");
}

static int check_text(FILE *r, const char *path, const char *fresh, size_t fresh_len,
		      const char *disk, size_t disk_len)
{
	const char *a = fresh, *b = disk, *la = fresh, *lb = disk;
	const char *ea = fresh + fresh_len, *eb = disk + disk_len;
	size_t line = 1;

	if (fresh_len == disk_len && !memcmp(fresh, disk, fresh_len))
		return 0;
	for (; a < ea && b < eb && *a == *b; a++, b++) {
		if (*a == '\n') {
			line++;
			la = a + 1;
			lb = b + 1;
		}
	}
	fprintf(r, "%s: differs from line %zu:\n", path, line);
	show_line(r, "expected:", la, ea);
	show_line(r, "found:   ", lb, eb);
	return 1;
}

/* ---- dispatch ---- */

static int check_json_file(FILE *r, const struct gen_file *fresh, const char *disk,
			   size_t disk_len, bool *hash_only)
{
	json_error_t jerr;
	json_t *j;
	int ret;

	j = json_loadb(disk, disk_len, 0, &jerr);
	if (!j) {
		fprintf(r, "%s: not valid JSON (line %d: %s)\n", fresh->path, jerr.line, jerr.text);
		return 1;
	}
	if (fresh->kind == GEN_MANIFEST)
		ret = check_manifest(r, fresh->path, fresh->data, j, hash_only);
	else
		ret = check_dashboard(r, fresh->path, fresh->data, j);
	json_decref(j);
	return ret;
}

int gen_check__file(const struct gen_file *fresh, const char *disk, size_t disk_len,
		    FILE *report, bool *hash_only)
{
	json_t *j;
	int ret;

	*hash_only = false;
	if (!disk) {
		fprintf(report, "%s: missing\n", fresh->path);
		return 1;
	}
	switch (fresh->kind) {
	case GEN_DASHBOARD:
	case GEN_MANIFEST:
		return check_json_file(report, fresh, disk, disk_len, hash_only);
	case GEN_RECORDING:
	case GEN_ALERTS:
	case GEN_PROVISIONING:
		j = gen__yaml_to_json(disk, disk_len);
		if (!j) {
			fprintf(report, "%s: not valid YAML\n", fresh->path);
			return 1;
		}
		if (fresh->kind == GEN_PROVISIONING)
			ret = check_yaml(report, fresh, j);
		else
			ret = check_rules(report, fresh, j, hash_only);
		json_decref(j);
		return ret;
	default:
		return check_text(report, fresh->path, fresh->data, fresh->len, disk, disk_len);
	}
}

/* ---- exit codes ---- */

static const struct {
	const char *name;
	int exit;
} kinds[GEN_KIND_NR] = {
	[GEN_HEADER] = { "header", GEN_EXIT_DOCS },
	[GEN_CATALOG] = { "catalog", GEN_EXIT_DOCS },
	[GEN_DASHBOARD] = { "dashboards", GEN_EXIT_DASHBOARDS },
	[GEN_MANIFEST] = { "dashboard manifest", GEN_EXIT_DASHBOARDS },
	[GEN_RECORDING] = { "recording rules", GEN_EXIT_RECORDING },
	[GEN_ALERTS] = { "alert rules", GEN_EXIT_ALERTS },
	[GEN_RULES_CATALOG] = { "rules catalog", GEN_EXIT_RULES_CATALOG },
	[GEN_PROVISIONING] = { "Grafana provisioning", GEN_EXIT_DASHBOARDS },
};

const char *gen_kind__name(enum gen_kind kind)
{
	return kind < GEN_KIND_NR ? kinds[kind].name : "?";
}

int gen_kind__exit(enum gen_kind kind)
{
	return kind < GEN_KIND_NR ? kinds[kind].exit : GEN_EXIT_ERROR;
}

/* The first of @precedence that a kind in @hit exits with; 0 for none. */
static int first_exit(const bool hit[GEN_KIND_NR])
{
	static const int precedence[] = {
		GEN_EXIT_ALERTS, GEN_EXIT_RECORDING, GEN_EXIT_DASHBOARDS, GEN_EXIT_DOCS,
		GEN_EXIT_RULES_CATALOG,
	};
	size_t i, k;

	for (i = 0; i < ARRAY_SIZE(precedence); i++) {
		for (k = 0; k < GEN_KIND_NR; k++) {
			if (hit[k] && kinds[k].exit == precedence[i])
				return precedence[i];
		}
	}
	return GEN_EXIT_OK;
}

int gen__drift_exit(const bool drift[GEN_KIND_NR], const bool hash_only[GEN_KIND_NR])
{
	bool hit[GEN_KIND_NR] = {};
	size_t k;
	int code;

	for (k = 0; k < GEN_KIND_NR; k++)
		hit[k] = drift[k] && !hash_only[k];
	code = first_exit(hit);
	return code != GEN_EXIT_OK ? code : first_exit(drift);
}
