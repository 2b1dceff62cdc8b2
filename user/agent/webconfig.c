// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * webconfig: the exporter-toolkit web configuration (see webconfig.h).
 *
 * One load: the YAML document (libyaml's document API, after a cheap event
 * pass that refuses deep nesting), walked key by key through tables of the
 * keys each mapping may hold; then the files it names, read and checked with
 * GnuTLS; then the cross-field rules. Every error is reported at the node it
 * is about (a bad value at the value, an unknown or duplicate key at the key,
 * a missing field at the mapping that lacks it) and the load goes on, so one
 * run shows every mistake.
 */
#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include <gnutls/gnutls.h>

#include "agent/webconfig.h"
#include "lib/fileio.h"
#include "lib/yaml_depth.h"

#define MAX_DEPTH	8	/* the format needs 3 levels */
#define FIELD_LEN	160
#define QUOTE_LEN	72
#define MSG_LEN		512
#define BCRYPT_LEN	60	/* $2y$NN$ + 22 characters of salt + 31 of hash */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* One load of one file. */
struct wc_ctx {
	const char *name;
	char *dir;			/* of @name, with its '/'; "" for none */
	yaml_document_t *doc;
	struct webconfig *cfg;
	struct spec_diags *diags;
	size_t nr_errors;
	bool oom;
	/* tls_server_config, as given: the value nodes */
	const yaml_node_t *tls_map;
	const yaml_node_t *cert_file, *key_file, *ca_file;
	const yaml_node_t *cert, *key, *ca;
	const yaml_node_t *client_auth, *min_version, *max_version;
};

/* One key a mapping may hold: its name, and what the scan found for it. */
struct wc_slot {
	const char *key;
	const char *unsupported;	/* refused with this reason; NULL: known */
	const yaml_node_t *knode;
	const yaml_node_t *val;
};

#define KEY(k)		{ .key = (k) }
#define UNSUPPORTED(k, why)	{ .key = (k), .unsupported = (why) }

static const char *const client_auth_names[] = {
	[WEBCONFIG_NO_CLIENT_CERT] = "NoClientCert",
	[WEBCONFIG_REQUEST_CLIENT_CERT] = "RequestClientCert",
	[WEBCONFIG_REQUIRE_ANY_CLIENT_CERT] = "RequireAnyClientCert",
	[WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN] = "VerifyClientCertIfGiven",
	[WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT] = "RequireAndVerifyClientCert",
};

static const char *const version_names[] = {
	[WEBCONFIG_TLS10] = "TLS10",
	[WEBCONFIG_TLS11] = "TLS11",
	[WEBCONFIG_TLS12] = "TLS12",
	[WEBCONFIG_TLS13] = "TLS13",
};

/* GnuTLS's names of the versions above */
static const char *const version_prio[] = {
	[WEBCONFIG_TLS10] = "VERS-TLS1.0",
	[WEBCONFIG_TLS11] = "VERS-TLS1.1",
	[WEBCONFIG_TLS12] = "VERS-TLS1.2",
	[WEBCONFIG_TLS13] = "VERS-TLS1.3",
};

/* The headers exporter-toolkit lets a configuration set, with their values. */
static const struct {
	const char *name;
	const char *const values[3];	/* NULL-terminated; none: any value */
} header_rules[WEBCONFIG_MAX_HEADERS] = {
	{ "Strict-Transport-Security", { NULL } },
	{ "X-Content-Type-Options", { "nosniff", NULL } },
	{ "X-Frame-Options", { "deny", "sameorigin", NULL } },
	{ "X-XSS-Protection", { NULL } },
	{ "Content-Security-Policy", { NULL } },
};

const char *webconfig_client_auth__name(enum webconfig_client_auth a)
{
	return (unsigned int)a < ARRAY_SIZE(client_auth_names) ? client_auth_names[a] : "?";
}

const char *webconfig_tls_version__name(enum webconfig_tls_version v)
{
	return (unsigned int)v < ARRAY_SIZE(version_names) && version_names[v] ?
	       version_names[v] : "?";
}

/* ---- diagnostics ---- */

static struct spec_mark mark_of(const yaml_node_t *n)
{
	if (!n)
		return (struct spec_mark){ 0, 0 };
	return (struct spec_mark){ n->start_mark.line + 1, n->start_mark.column + 1 };
}

static void diag_at(struct wc_ctx *c, struct spec_mark m, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void diag_at(struct wc_ctx *c, struct spec_mark m, const char *field,
		    const char *fmt, ...)
{
	char msg[MSG_LEN];
	va_list ap;

	c->nr_errors++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (spec_diags__add(c->diags, m, field, "%s", msg))
		c->oom = true;
}

#define diag(c, n, field, ...)	diag_at((c), mark_of(n), (field), __VA_ARGS__)

/* @s (of @len bytes) quoted for a message: escaped, one line, shortened. */
static const char *quote_n(char buf[QUOTE_LEN], const char *s, size_t len)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; i < len && o < QUOTE_LEN - 8; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			o += snprintf(buf + o, QUOTE_LEN - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += snprintf(buf + o, QUOTE_LEN - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	if (i < len)
		o += snprintf(buf + o, QUOTE_LEN - o, "...");
	snprintf(buf + o, QUOTE_LEN - o, "\"");
	return buf;
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static const char *quote_node(char buf[QUOTE_LEN], const yaml_node_t *n)
{
	return quote_n(buf, sval(n), n->data.scalar.length);
}

static const char *fkey(char buf[FIELD_LEN], const char *parent, const char *key)
{
	bool plain = key[0] && strspn(key, "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(key);
	char q[QUOTE_LEN];

	if (plain)
		snprintf(buf, FIELD_LEN, "%s%s%s", parent, *parent ? "." : "", key);
	else
		snprintf(buf, FIELD_LEN, "%s[%s]", parent, quote_n(q, key, strlen(key)));
	return buf;
}

/* "did you mean": within a typo of the candidate (the spec's rule). */
static bool close_enough(unsigned int d, const char *cand)
{
	return d <= 3 && 3 * d <= strlen(cand) + 2;
}

/* The candidate of @set (NULL-terminated, or @nr long) closest to @typed, or NULL. */
static const char *closest(const char *typed, const char *const *set, size_t nr)
{
	unsigned int best_d = ~0U, d;
	const char *best = NULL;
	size_t i;

	for (i = 0; i < nr && set[i]; i++) {
		d = spec__edit_distance(typed, set[i]);
		if (d < best_d && close_enough(d, set[i])) {
			best_d = d;
			best = set[i];
		}
	}
	return best;
}

/* "a, b or c" */
static const char *join_or(char *buf, size_t size, const char *const *v, size_t n)
{
	size_t o = 0, i;

	buf[0] = '\0';
	for (i = 0; i < n && v[i] && o < size; i++)
		o += snprintf(buf + o, size - o, "%s%s",
			      !i ? "" : i + 1 < n && v[i + 1] ? ", " : " or ", v[i]);
	return buf;
}

/* ---- values ---- */

static yaml_node_t *node_at(const struct wc_ctx *c, int i)
{
	return yaml_document_get_node(c->doc, i);
}

static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (i = 0; i < ARRAY_SIZE(nulls); i++)
		if (!strcmp(sval(n), nulls[i]))
			return true;
	return false;
}

static const char *describe(char buf[QUOTE_LEN + 16], const yaml_node_t *n)
{
	char q[QUOTE_LEN];

	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	if (is_null(n))
		return "null";
	snprintf(buf, QUOTE_LEN + 16, "%s", quote_node(q, n));
	return buf;
}

/* A string scalar (not null, no NUL byte); NULL after reporting otherwise. */
static const char *get_str(struct wc_ctx *c, const yaml_node_t *n, const char *field,
			   bool may_be_empty)
{
	char d[QUOTE_LEN + 16];

	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		diag(c, n, field, "expected a string, got %s", describe(d, n));
		return NULL;
	}
	if (strlen(sval(n)) != n->data.scalar.length) {
		diag(c, n, field, "must not contain NUL bytes");
		return NULL;
	}
	if (!may_be_empty && !n->data.scalar.length) {
		diag(c, n, field, "must not be empty");
		return NULL;
	}
	return sval(n);
}

static bool get_bool(struct wc_ctx *c, const yaml_node_t *n, const char *field, bool *out)
{
	static const char *const t[] = { "true", "True", "TRUE" };
	static const char *const f[] = { "false", "False", "FALSE" };
	char d[QUOTE_LEN + 16];
	size_t i;

	for (i = 0; n->type == YAML_SCALAR_NODE && i < ARRAY_SIZE(t); i++) {
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			break;
		if (!strcmp(sval(n), t[i]) || !strcmp(sval(n), f[i])) {
			*out = !strcmp(sval(n), t[i]);
			return true;
		}
	}
	diag(c, n, field, "expected a boolean (true or false), got %s", describe(d, n));
	return false;
}

/* @n a mapping, or null (an empty section: every default) → false. */
static bool expect_map(struct wc_ctx *c, const yaml_node_t *n, const char *field)
{
	char d[QUOTE_LEN + 16];

	if (n->type == YAML_MAPPING_NODE)
		return true;
	if (!is_null(n))
		diag(c, n, field, "expected a mapping, got %s", describe(d, n));
	return false;
}

static void unknown_key(struct wc_ctx *c, const yaml_node_t *k, const char *field,
			const struct wc_slot *slots, size_t nr)
{
	const char *keys[16], *hint;
	char q[QUOTE_LEN], list[256];
	size_t i, n = 0;

	for (i = 0; i < nr && n < ARRAY_SIZE(keys); i++)
		if (!slots[i].unsupported)
			keys[n++] = slots[i].key;
	hint = closest(sval(k), keys, n);
	if (hint)
		diag(c, k, field, "unknown key %s (did you mean \"%s\"?)", quote_node(q, k), hint);
	else
		diag(c, k, field, "unknown key %s (expected %s)", quote_node(q, k),
		     join_or(list, sizeof(list), keys, n));
}

/*
 * Fill @slots from mapping @map: unknown, duplicate and unsupported keys
 * are reported, the others' nodes recorded.
 */
static void map_scan(struct wc_ctx *c, const yaml_node_t *map, const char *field,
		     struct wc_slot *slots, size_t nr)
{
	char f[FIELD_LEN], d[QUOTE_LEN + 16];
	yaml_node_pair_t *p;
	struct wc_slot *s;
	size_t i;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);

		if (k->type != YAML_SCALAR_NODE) {
			diag(c, k, field, "expected a string key, got %s", describe(d, k));
			continue;
		}
		for (s = NULL, i = 0; i < nr && !s; i++)
			if (!strcmp(sval(k), slots[i].key) &&
			    strlen(sval(k)) == k->data.scalar.length)
				s = &slots[i];
		if (!s)
			unknown_key(c, k, field, slots, nr);
		else if (s->knode)
			diag(c, k, fkey(f, field, s->key), "duplicate key (first at %u:%u)",
			     mark_of(s->knode).line, mark_of(s->knode).col);
		else if (s->unsupported)
			diag(c, k, fkey(f, field, s->key), "not supported by emitd (%s)",
			     s->unsupported);
		else {
			s->knode = k;
			s->val = node_at(c, p->value);
		}
	}
}

/* The index in @names[0..nr) of @n's value, or -1 after reporting it. */
static int get_enum(struct wc_ctx *c, const yaml_node_t *n, const char *field,
		    const char *const *names, size_t nr, size_t first)
{
	const char *s = get_str(c, n, field, false), *hint;
	char q[QUOTE_LEN], list[256];
	size_t i;

	if (!s)
		return -1;
	for (i = first; i < nr; i++)
		if (names[i] && !strcmp(s, names[i]))
			return (int)i;
	hint = closest(s, names + first, nr - first);
	if (hint)
		diag(c, n, field, "invalid value %s (did you mean \"%s\"?)", quote_node(q, n), hint);
	else
		diag(c, n, field, "invalid value %s (expected %s)", quote_node(q, n),
		     join_or(list, sizeof(list), names + first, nr - first));
	return -1;
}

/* ---- tls_server_config ---- */

enum { T_CERT_FILE, T_KEY_FILE, T_CA_FILE, T_CERT, T_KEY, T_CA, T_AUTH, T_MIN, T_MAX,
       T_PREFER, T_CIPHERS, T_CURVES, T_SANS, T_NR };

static void parse_tls(struct wc_ctx *c, const yaml_node_t *map)
{
	struct wc_slot s[T_NR] = {
		[T_CERT_FILE] = KEY("cert_file"), [T_KEY_FILE] = KEY("key_file"),
		[T_CA_FILE] = KEY("client_ca_file"), [T_CERT] = KEY("cert"),
		[T_KEY] = KEY("key"), [T_CA] = KEY("client_ca"),
		[T_AUTH] = KEY("client_auth_type"), [T_MIN] = KEY("min_version"),
		[T_MAX] = KEY("max_version"), [T_PREFER] = KEY("prefer_server_cipher_suites"),
		[T_CIPHERS] = UNSUPPORTED("cipher_suites",
					  "GnuTLS chooses the ciphers: use min_version"),
		[T_CURVES] = UNSUPPORTED("curve_preferences", "GnuTLS chooses the curves"),
		[T_SANS] = UNSUPPORTED("client_allowed_sans",
				       "restrict clients with client_ca_file and RequireAndVerifyClientCert"),
	};
	const char *field = "tls_server_config";
	char f[FIELD_LEN];

	if (!expect_map(c, map, field))
		return;
	c->tls_map = map;
	map_scan(c, map, field, s, T_NR);
	c->cert_file = s[T_CERT_FILE].val;
	c->key_file = s[T_KEY_FILE].val;
	c->ca_file = s[T_CA_FILE].val;
	c->cert = s[T_CERT].val;
	c->key = s[T_KEY].val;
	c->ca = s[T_CA].val;
	c->client_auth = s[T_AUTH].val;
	c->min_version = s[T_MIN].val;
	c->max_version = s[T_MAX].val;
	if (s[T_PREFER].val)
		get_bool(c, s[T_PREFER].val, fkey(f, field, s[T_PREFER].key),
			 &c->cfg->prefer_server_ciphers);
}

/* ---- http_server_config ---- */

static bool header_value_ok(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	return true;
}

static void parse_header(struct wc_ctx *c, const yaml_node_t *k, const yaml_node_t *v,
			 const char *parent)
{
	const char *names[WEBCONFIG_MAX_HEADERS], *val, *hint;
	char f[FIELD_LEN], q[QUOTE_LEN], list[256];
	struct webconfig *cfg = c->cfg;
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(header_rules); i++)
		names[i] = header_rules[i].name;
	for (i = 0; i < ARRAY_SIZE(header_rules); i++)
		if (!strcmp(sval(k), names[i]))
			break;
	if (i == ARRAY_SIZE(header_rules)) {
		hint = closest(sval(k), names, ARRAY_SIZE(names));
		if (hint)
			diag(c, k, parent, "HTTP header %s can not be configured (did you mean \"%s\"?)",
			     quote_node(q, k), hint);
		else
			diag(c, k, parent, "HTTP header %s can not be configured (expected %s)",
			     quote_node(q, k), join_or(list, sizeof(list), names, ARRAY_SIZE(names)));
		return;
	}
	fkey(f, parent, names[i]);
	val = get_str(c, v, f, true);
	if (!val)
		return;
	if (!header_value_ok(val)) {
		diag(c, v, f, "must not contain control characters");
		return;
	}
	for (j = 0; header_rules[i].values[j]; j++)
		if (!strcmp(val, header_rules[i].values[j]))
			break;
	if (header_rules[i].values[0] && !header_rules[i].values[j] && *val) {
		diag(c, v, f, "invalid value %s (expected %s)", quote_node(q, v),
		     join_or(list, sizeof(list), header_rules[i].values, 3));
		return;
	}
	if (!*val)		/* "Unset if blank" */
		return;
	cfg->headers[cfg->nr_headers].name = strdup(names[i]);
	cfg->headers[cfg->nr_headers].value = strdup(val);
	if (!cfg->headers[cfg->nr_headers].name || !cfg->headers[cfg->nr_headers].value)
		c->oom = true;
	cfg->nr_headers++;
}

static void parse_headers(struct wc_ctx *c, const yaml_node_t *map, const char *field)
{
	const yaml_node_pair_t *p, *q;
	char d[QUOTE_LEN + 16], f[FIELD_LEN];

	if (!expect_map(c, map, field))
		return;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = node_at(c, p->key);
		bool dup = false;

		if (k->type != YAML_SCALAR_NODE) {
			diag(c, k, field, "expected a header name, got %s", describe(d, k));
			continue;
		}
		for (q = map->data.mapping.pairs.start; q < p && !dup; q++) {
			const yaml_node_t *k0 = node_at(c, q->key);

			dup = k0->type == YAML_SCALAR_NODE && !strcmp(sval(k0), sval(k));
			if (dup)
				diag(c, k, fkey(f, field, sval(k)), "duplicate key (first at %u:%u)",
				     mark_of(k0).line, mark_of(k0).col);
		}
		if (!dup)
			parse_header(c, k, node_at(c, p->value), field);
	}
}

static void parse_http(struct wc_ctx *c, const yaml_node_t *map)
{
	struct wc_slot s[] = { KEY("http2"), KEY("headers") };
	const char *field = "http_server_config";
	char f[FIELD_LEN];
	bool http2;

	if (!expect_map(c, map, field))
		return;
	map_scan(c, map, field, s, ARRAY_SIZE(s));
	if (s[0].val)		/* accepted for compatibility: HTTP/1.1 is served */
		get_bool(c, s[0].val, fkey(f, field, "http2"), &http2);
	if (s[1].val)
		parse_headers(c, s[1].val, fkey(f, field, "headers"));
}

/* ---- basic_auth_users ---- */

static bool bcrypt_ok(const char *h)
{
	static const char alphabet[] =
		"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	int cost;

	if (strlen(h) != BCRYPT_LEN || h[0] != '$' || h[1] != '2' || h[3] != '$' ||
	    !strchr("aby", h[2]) || h[6] != '$')
		return false;
	if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9')
		return false;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	if (strspn(h + 7, alphabet) != BCRYPT_LEN - 7)
		return false;
	/* libxcrypt's own check: the cost (04..31) and the salt's encoding */
	return crypt_checksalt(h) == CRYPT_SALT_OK;
}

static void add_user(struct wc_ctx *c, const yaml_node_t *k, const yaml_node_t *v,
		     const char *field)
{
	struct webconfig *cfg = c->cfg;
	struct webconfig_user *u;
	char f[FIELD_LEN];
	const char *name, *hash;

	name = get_str(c, k, field, false);
	if (!name)
		return;
	fkey(f, field, name);
	if (strchr(name, ':')) {
		diag(c, k, f, "a user name cannot contain ':' (basic auth separates it from the password with one)");
		return;
	}
	hash = get_str(c, v, f, false);
	if (!hash)
		return;
	if (!bcrypt_ok(hash)) {
		diag(c, v, f, "not a bcrypt hash (expected $2y$, $2b$ or $2a$, a cost 04..31 and 53 characters, as `htpasswd -nBC 10 \"\"` prints)");
		return;
	}
	if (cfg->nr_users == WEBCONFIG_MAX_USERS) {
		diag(c, k, f, "too many users (at most %d)", WEBCONFIG_MAX_USERS);
		return;
	}
	u = &cfg->users[cfg->nr_users];
	u->name = strdup(name);
	u->hash = strdup(hash);
	if (!u->name || !u->hash)
		c->oom = true;
	cfg->nr_users++;
}

static void parse_users(struct wc_ctx *c, const yaml_node_t *map)
{
	const char *field = "basic_auth_users";
	const yaml_node_pair_t *p, *q;
	char f[FIELD_LEN];

	if (!expect_map(c, map, field))
		return;
	c->cfg->users = calloc(WEBCONFIG_MAX_USERS, sizeof(*c->cfg->users));
	if (!c->cfg->users) {
		c->oom = true;
		return;
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = node_at(c, p->key);
		bool dup = false;

		for (q = map->data.mapping.pairs.start; q < p && !dup; q++) {
			const yaml_node_t *k0 = node_at(c, q->key);

			dup = k->type == YAML_SCALAR_NODE && k0->type == YAML_SCALAR_NODE &&
			      !strcmp(sval(k0), sval(k));
			if (dup)
				diag(c, k, fkey(f, field, sval(k)), "duplicate user (first at %u:%u)",
				     mark_of(k0).line, mark_of(k0).col);
		}
		if (!dup)
			add_user(c, k, node_at(c, p->value), field);
	}
}

/* ---- the root ---- */

static void parse_root(struct wc_ctx *c, const yaml_node_t *root)
{
	struct wc_slot s[] = {
		KEY("tls_server_config"), KEY("http_server_config"), KEY("basic_auth_users"),
		UNSUPPORTED("rate_limit", "limit clients with the HTTP server's connection limits"),
	};

	if (!expect_map(c, root, ""))
		return;
	map_scan(c, root, "", s, ARRAY_SIZE(s));
	if (s[0].val)
		parse_tls(c, s[0].val);
	if (s[1].val)
		parse_http(c, s[1].val);
	if (s[2].val)
		parse_users(c, s[2].val);
}

/* ---- the files tls_server_config names ---- */

/* @dir joined with @file unless @file is absolute; NULL on ENOMEM. */
static char *resolve(const char *dir, const char *file)
{
	char *p;

	if (file[0] == '/' || !dir[0])
		return strdup(file);
	if (asprintf(&p, "%s%s", dir, file) < 0)
		return NULL;
	return p;
}

/*
 * The PEM text of one of cert/key/CA: from the file @file names, or inline
 * from @inline_pem; NULL when neither is given or after reporting an error.
 */
static char *load_pem(struct wc_ctx *c, const yaml_node_t *file, const yaml_node_t *inline_pem,
		      const char *file_key, const char *inline_key)
{
	char ffile[FIELD_LEN], finline[FIELD_LEN], *path, *out = NULL;
	const char *s;
	size_t len;
	int err;

	fkey(ffile, "tls_server_config", file_key);
	fkey(finline, "tls_server_config", inline_key);
	if (file && inline_pem) {
		diag(c, inline_pem, finline, "give %s or %s, not both", inline_key, file_key);
		return NULL;
	}
	if (inline_pem) {
		s = get_str(c, inline_pem, finline, false);
		if (s && !(out = strdup(s)))
			c->oom = true;
		return out;
	}
	if (!file || !(s = get_str(c, file, ffile, false)))
		return NULL;
	path = resolve(c->dir, s);
	if (!path) {
		c->oom = true;
		return NULL;
	}
	err = fileio__read_file(path, WEBCONFIG_MAX_PEM_SIZE, &out, &len);
	if (err == -EFBIG)
		diag(c, file, ffile, "%s: larger than %d bytes", path, WEBCONFIG_MAX_PEM_SIZE);
	else if (err == -EINVAL)
		diag(c, file, ffile, "%s: not a regular file", path);
	else if (err)
		diag(c, file, ffile, "cannot read %s: %s", path, strerror(-err));
	else if (strlen(out) != len)
		diag(c, file, ffile, "%s: holds a NUL byte (expected PEM)", path);
	if (err || strlen(out) != len) {
		free(out);
		out = NULL;
	}
	free(path);
	return out;
}

static const yaml_node_t *either(const yaml_node_t *a, const yaml_node_t *b)
{
	return a ? a : b;
}

/* The certificate and its key, checked as a pair; the client CAs, counted. */
static void check_pems(struct wc_ctx *c, gnutls_certificate_credentials_t cred)
{
	struct webconfig *cfg = c->cfg;
	gnutls_datum_t crt, key, ca;
	const yaml_node_t *n;
	const char *field;
	int ret;

	if (cfg->cert_pem && cfg->key_pem) {
		crt = (gnutls_datum_t){ (unsigned char *)cfg->cert_pem, strlen(cfg->cert_pem) };
		key = (gnutls_datum_t){ (unsigned char *)cfg->key_pem, strlen(cfg->key_pem) };
		ret = gnutls_certificate_set_x509_key_mem2(cred, &crt, &key, GNUTLS_X509_FMT_PEM,
							   NULL, 0);
		if (ret == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
			n = either(c->key_file, c->key);
			field = c->key_file ? "tls_server_config.key_file" : "tls_server_config.key";
		} else {
			n = either(c->cert_file, c->cert);
			field = c->cert_file ? "tls_server_config.cert_file" : "tls_server_config.cert";
		}
		if (ret < 0)
			diag(c, n, field, "cannot use the certificate and key: %s",
			     gnutls_strerror(ret));
	}
	if (cfg->client_ca_pem) {
		ca = (gnutls_datum_t){ (unsigned char *)cfg->client_ca_pem,
				       strlen(cfg->client_ca_pem) };
		ret = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
		n = either(c->ca_file, c->ca);
		if (ret < 0)
			diag(c, n, c->ca_file ? "tls_server_config.client_ca_file" :
			     "tls_server_config.client_ca",
			     "cannot read the CA certificates: %s", gnutls_strerror(ret));
		else if (!ret)
			diag(c, n, c->ca_file ? "tls_server_config.client_ca_file" :
			     "tls_server_config.client_ca", "holds no PEM certificate");
	}
}

static void check_priorities(struct wc_ctx *c)
{
	gnutls_priority_t prio;
	const char *where;
	char buf[256];
	int ret;

	if (c->cfg->min_version > c->cfg->max_version ||	/* reported */
	    webconfig__priorities(c->cfg, buf, sizeof(buf)))
		return;
	ret = gnutls_priority_init(&prio, buf, &where);
	if (ret < 0) {
		diag(c, either(c->min_version, c->tls_map), "tls_server_config.min_version",
		     "GnuTLS refuses the priorities \"%s\" at \"%s\": %s", buf, where ? where : "",
		     gnutls_strerror(ret));
		return;
	}
	gnutls_priority_deinit(prio);
}

static void read_versions(struct wc_ctx *c)
{
	struct webconfig *cfg = c->cfg;
	int v;

	if (c->min_version) {
		v = get_enum(c, c->min_version, "tls_server_config.min_version", version_names,
			     ARRAY_SIZE(version_names), WEBCONFIG_TLS10);
		if (v > 0)
			cfg->min_version = v;
	}
	if (c->max_version) {
		v = get_enum(c, c->max_version, "tls_server_config.max_version", version_names,
			     ARRAY_SIZE(version_names), WEBCONFIG_TLS10);
		if (v > 0)
			cfg->max_version = v;
	}
	if (cfg->min_version > cfg->max_version)
		diag(c, either(c->max_version, c->min_version), "tls_server_config",
		     "min_version %s is above max_version %s",
		     webconfig_tls_version__name(cfg->min_version),
		     webconfig_tls_version__name(cfg->max_version));
}

static bool read_client_auth(struct wc_ctx *c)
{
	static const char *const names[] = {
		"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
		"VerifyClientCertIfGiven", "RequireAndVerifyClientCert", "RequireClientCert",
	};
	const char *field = "tls_server_config.client_auth_type";
	int v;

	if (!c->client_auth)
		return true;
	v = get_enum(c, c->client_auth, field, names, ARRAY_SIZE(names), 0);
	if (v == (int)ARRAY_SIZE(names) - 1)	/* exporter-toolkit's old name */
		v = WEBCONFIG_REQUIRE_ANY_CLIENT_CERT;
	if (v >= 0)
		c->cfg->client_auth = v;
	return v >= 0;
}

/* The cross-field rules of tls_server_config, once its values are read. */
static void check_tls_rules(struct wc_ctx *c, bool auth_ok)
{
	struct webconfig *cfg = c->cfg;
	const yaml_node_t *ca = either(c->ca_file, c->ca);
	bool verify = cfg->client_auth == WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN ||
		      cfg->client_auth == WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT;

	if (!c->cert_file && !c->cert)
		diag(c, c->tls_map, "tls_server_config.cert_file",
		     "missing required field (TLS needs a certificate: cert_file or cert)");
	if (!c->key_file && !c->key)
		diag(c, c->tls_map, "tls_server_config.key_file",
		     "missing required field (TLS needs a key: key_file or key)");
	if (ca && auth_ok && cfg->client_auth == WEBCONFIG_NO_CLIENT_CERT)
		diag(c, ca, c->ca_file ? "tls_server_config.client_ca_file" :
		     "tls_server_config.client_ca",
		     "client CAs are configured without a client_auth_type that asks for certificates");
	if (verify && !ca)
		diag(c, c->client_auth, "tls_server_config.client_auth_type",
		     "%s verifies client certificates: it needs client_ca_file",
		     webconfig_client_auth__name(cfg->client_auth));
}

static void load_tls(struct wc_ctx *c)
{
	struct webconfig *cfg = c->cfg;
	gnutls_certificate_credentials_t cred;
	bool auth_ok;

	cfg->tls = c->cert_file || c->key_file || c->ca_file || c->cert || c->key || c->ca ||
		   c->client_auth;
	read_versions(c);
	auth_ok = read_client_auth(c);
	if (!cfg->tls)
		return;
	check_tls_rules(c, auth_ok);
	cfg->cert_pem = load_pem(c, c->cert_file, c->cert, "cert_file", "cert");
	cfg->key_pem = load_pem(c, c->key_file, c->key, "key_file", "key");
	cfg->client_ca_pem = load_pem(c, c->ca_file, c->ca, "client_ca_file", "client_ca");
	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		c->oom = true;
		return;
	}
	check_pems(c, cred);
	gnutls_certificate_free_credentials(cred);
	check_priorities(c);
}

/* ---- the document ---- */

static void yaml_error(struct wc_ctx *c, const yaml_parser_t *p)
{
	struct spec_mark m = { p->problem_mark.line + 1, p->problem_mark.column + 1 };
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_MEMORY_ERROR)
		c->oom = true;
	else if (p->error == YAML_READER_ERROR)
		diag_at(c, (struct spec_mark){ 0, 0 }, NULL, "invalid input at byte %zu: %s",
			p->problem_offset, problem);
	else if (p->context)
		diag_at(c, m, NULL, "YAML syntax error: %s (%s at %zu:%zu)", problem, p->context,
			p->context_mark.line + 1, p->context_mark.column + 1);
	else
		diag_at(c, m, NULL, "YAML syntax error: %s", problem);
}

/* Refuse deep nesting before the loader (lib/yaml_depth.h). */
static bool too_deep(struct wc_ctx *c, const char *buf, size_t len)
{
	size_t line = 0, col = 0;
	int r = yaml__check_depth(buf, len, MAX_DEPTH, &line, &col);

	if (r < 0)
		c->oom = true;
	else if (r)
		diag_at(c, (struct spec_mark){ (unsigned int)line, (unsigned int)col }, NULL,
			"nested deeper than %d levels", MAX_DEPTH);
	return r != 0;
}

static void load_document(struct wc_ctx *c, const char *buf, size_t len)
{
	yaml_document_t doc, next;
	yaml_parser_t parser;
	yaml_node_t *root;

	if (too_deep(c, buf, len))
		return;
	if (!yaml_parser_initialize(&parser)) {
		c->oom = true;
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_error(c, &parser);
		goto out_parser;
	}
	c->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root)
		parse_root(c, root);
	if (!yaml_parser_load(&parser, &next)) {
		yaml_error(c, &parser);
	} else {
		root = yaml_document_get_root_node(&next);
		if (root)
			diag(c, root, NULL, "a web configuration is one YAML document (found a second one)");
		yaml_document_delete(&next);
	}
	load_tls(c);
	c->doc = NULL;
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
}

static bool mark_before(struct spec_mark a, struct spec_mark b)
{
	if (!a.line != !b.line)
		return a.line;		/* marks without a position go last */
	return a.line != b.line ? a.line < b.line : a.col < b.col;
}

/* This load's diagnostics, from @first on, in file order (stable). */
static void sort_diags(struct spec_diags *d, size_t first)
{
	struct spec_diag t;
	size_t i, j;

	for (i = first + 1; i < d->nr; i++) {
		t = d->v[i];
		for (j = i; j > first && mark_before(t.mark, d->v[j - 1].mark); j--)
			d->v[j] = d->v[j - 1];
		d->v[j] = t;
	}
}

static char *dir_of(const char *name)
{
	const char *slash = strrchr(name, '/');

	return slash ? strndup(name, (size_t)(slash - name + 1)) : strdup("");
}

int webconfig__load_buf(const char *name, const char *buf, size_t len,
			struct webconfig **out, struct spec_diags *diags)
{
	struct wc_ctx c = { .name = name ? name : "<web config>", .diags = diags };
	size_t first = diags->nr;
	struct webconfig *cfg;

	*out = NULL;
	if (len > WEBCONFIG_MAX_FILE_SIZE) {
		spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL,
				"too large (%zu bytes, at most %d)", len, WEBCONFIG_MAX_FILE_SIZE);
		return -EFBIG;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	cfg->path = strdup(c.name);
	cfg->min_version = WEBCONFIG_TLS12;
	cfg->max_version = WEBCONFIG_TLS13;
	cfg->prefer_server_ciphers = true;
	c.cfg = cfg;
	c.dir = dir_of(c.name);
	if (!cfg->path || !c.dir)
		c.oom = true;
	else
		load_document(&c, buf, len);
	free(c.dir);
	sort_diags(diags, first);
	if (c.oom || c.nr_errors) {
		webconfig__free(cfg);
		return c.oom ? -ENOMEM : -EINVAL;
	}
	*out = cfg;
	return 0;
}

int webconfig__load(const char *path, struct webconfig **out, struct spec_diags *diags)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	err = fileio__read_file(path, WEBCONFIG_MAX_FILE_SIZE, &buf, &len);
	if (err == -EFBIG)
		spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL,
				"too large (more than %d bytes)", WEBCONFIG_MAX_FILE_SIZE);
	else if (err == -EINVAL)
		spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL, "not a regular file");
	else if (err)
		spec_diags__add(diags, (struct spec_mark){ 0, 0 }, NULL, "cannot read: %s",
				strerror(-err));
	if (err)
		return err;
	err = webconfig__load_buf(path, buf, len, out, diags);
	free(buf);
	return err;
}

void webconfig__free(struct webconfig *c)
{
	size_t i;

	if (!c)
		return;
	if (c->key_pem) {
		explicit_bzero(c->key_pem, strlen(c->key_pem));
		free(c->key_pem);
	}
	free(c->cert_pem);
	free(c->client_ca_pem);
	for (i = 0; i < c->nr_headers; i++) {
		free(c->headers[i].name);
		free(c->headers[i].value);
	}
	for (i = 0; c->users && i < c->nr_users; i++) {
		free(c->users[i].name);
		free(c->users[i].hash);
	}
	free(c->users);
	free(c->path);
	free(c);
}

int webconfig__priorities(const struct webconfig *c, char *buf, size_t size)
{
	size_t o;
	int v, n;

	n = snprintf(buf, size, "NORMAL:-VERS-ALL");
	for (v = c->max_version, o = (size_t)n; v >= (int)c->min_version && o < size; v--) {
		if (v < WEBCONFIG_TLS10 || v > WEBCONFIG_TLS13)
			continue;
		o += (size_t)snprintf(buf + o, size - o, ":+%s", version_prio[v]);
	}
	if (o < size && c->prefer_server_ciphers)
		o += (size_t)snprintf(buf + o, size - o, ":%%SERVER_PRECEDENCE");
	return o < size ? 0 : -ENOSPC;
}
