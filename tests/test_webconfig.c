// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Tests for user/agent/webconfig.c: the exporter-toolkit web configuration.
 * The bad-file corpus is tests/webconfig_bad/, each file with its exact
 * expected diagnostics ("# expect: LINE:COL: FIELD: MESSAGE", in file
 * order); the certificates are tests/fixtures/tls/ (gen.sh).
 */
#include <errno.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/webconfig.h"
#include "lib/fileio.h"

#define CORPUS_DIR	"tests/webconfig_bad"
#define EXPECT_TAG	"# expect: "
#define MAX_EXPECT	8
#define TLS_DIR		"tests/fixtures/tls/"
#define HASH		"$2y$10$rV8A.wJIv4eKD.SZPbQ4EekkaxCffd16CT/A2IC9PQUbYew9pOO3q"

static void format_diag(const struct spec_diag *dg, char *buf, size_t size)
{
	if (dg->field && *dg->field)
		snprintf(buf, size, "%u:%u: %s: %s", dg->mark.line, dg->mark.col,
			 dg->field, dg->msg);
	else
		snprintf(buf, size, "%u:%u: %s", dg->mark.line, dg->mark.col, dg->msg);
}

static size_t read_expects(const char *path, char expect[][512])
{
	char line[512];
	size_t nr = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && nr < MAX_EXPECT) {
		if (strncmp(line, EXPECT_TAG, strlen(EXPECT_TAG)))
			continue;
		line[strcspn(line, "\n")] = '\0';
		strcpy(expect[nr++], line + strlen(EXPECT_TAG));
	}
	fclose(f);
	return nr;
}

/* Whether @path produced exactly its expected diagnostics. */
static bool check_corpus_file(const char *path)
{
	char expect[MAX_EXPECT][512], got[1024];
	struct spec_diags d = { 0 };
	struct webconfig *c = NULL;
	size_t nr = read_expects(path, expect), i;
	bool ok = nr > 0;
	int err;

	err = webconfig__load(path, &c, &d);
	if (err != -EINVAL || c) {
		print_error("%s: webconfig__load returned %d, want -EINVAL\n", path, err);
		ok = false;
	}
	if (d.nr != nr) {
		print_error("%s: %zu diagnostics, want %zu\n", path, d.nr, nr);
		ok = false;
	}
	for (i = 0; i < d.nr || i < nr; i++) {
		if (i < d.nr)
			format_diag(&d.v[i], got, sizeof(got));
		if (i < d.nr && i < nr && !strcmp(got, expect[i]))
			continue;
		print_error("%s:\n  got:  %s\n  want: %s\n", path,
			    i < d.nr ? got : "(none)", i < nr ? expect[i] : "(none)");
		ok = false;
	}
	webconfig__free(c);
	spec_diags__free(&d);
	return ok;
}

static void test_bad_corpus(void **state)
{
	size_t files = 0, failed = 0, len;
	char path[512];
	struct dirent *e;
	DIR *dir;

	(void)state;
	dir = opendir(CORPUS_DIR);
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".yml"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, e->d_name);
		files++;
		failed += !check_corpus_file(path);
	}
	closedir(dir);
	print_message("%zu corpus files, %zu failed\n", files, failed);
	assert_true(files >= 25);
	assert_int_equal(failed, 0);
}

static struct webconfig *load_ok(const char *name, const char *yaml)
{
	struct spec_diags d = { 0 };
	struct webconfig *c = NULL;
	char got[1024];
	int err;

	err = webconfig__load_buf(name, yaml, strlen(yaml), &c, &d);
	if (err || d.nr) {
		if (d.nr)
			format_diag(&d.v[0], got, sizeof(got));
		fail_msg("load: %d, first diagnostic: %s", err, d.nr ? got : "(none)");
	}
	spec_diags__free(&d);
	assert_non_null(c);
	return c;
}

static char *slurp(const char *path)
{
	char *buf;
	size_t len;

	assert_int_equal(fileio__read_file(path, 1 << 20, &buf, &len), 0);
	return buf;
}

/* An empty file, or empty sections: plain HTTP, no auth, no headers. */
static void test_empty_is_plain_http(void **state)
{
	static const char *const empty[] = {
		"", "# nothing\n", "{}\n", "tls_server_config:\nhttp_server_config:\n",
		"basic_auth_users: {}\nhttp_server_config: { http2: false }\n",
		"tls_server_config: { min_version: TLS13 }\n",	/* no certificate: no TLS */
	};
	struct webconfig *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		c = load_ok("web.yml", empty[i]);
		assert_false(c->tls);
		assert_null(c->cert_pem);
		assert_int_equal(c->nr_users, 0);
		assert_int_equal(c->nr_headers, 0);
		webconfig__free(c);
	}
}

/* Every field; relative paths are resolved against the file's directory. */
static void test_full_config(void **state)
{
	static const char tls[] =
		"tls_server_config:\n"
		"  cert_file: server.crt\n"
		"  key_file: server.key\n"
		"  client_ca_file: ca.crt\n"
		"  client_auth_type: RequireAndVerifyClientCert\n"
		"  min_version: TLS13\n"
		"  prefer_server_cipher_suites: false\n";
	static const char rest[] =
		"http_server_config:\n"
		"  http2: true\n"
		"  headers:\n"
		"    X-Frame-Options: deny\n"
		"    X-Content-Type-Options: nosniff\n"
		"    Strict-Transport-Security: max-age=31536000\n"
		"    X-XSS-Protection: \"\"\n"		/* blank: unset */
		"basic_auth_users:\n"
		"  prometheus: " HASH "\n"
		"  'ops team': $2b$10$lgXhyPUU8gKyxfWFHET97e8lQe3kh/QONDisSOpJCtDVvEKkdmfN6\n";
	static const char cwd_relative[] = "tls_server_config:\n  cert_file: server.crt\n"
					   "  key_file: " TLS_DIR "server.key\n";
	char *crt = slurp(TLS_DIR "server.crt"), *ca = slurp(TLS_DIR "ca.crt");
	struct spec_diags d = { 0 };
	struct webconfig *c;
	char prio[256];

	(void)state;
	c = load_ok(TLS_DIR "web.yml", tls);
	assert_true(c->tls);
	assert_string_equal(c->cert_pem, crt);
	assert_string_equal(c->client_ca_pem, ca);
	assert_non_null(strstr(c->key_pem, "PRIVATE KEY"));
	assert_int_equal(c->client_auth, WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT);
	assert_int_equal(c->min_version, WEBCONFIG_TLS13);
	assert_int_equal(c->max_version, WEBCONFIG_TLS13);
	assert_int_equal(webconfig__priorities(c, prio, sizeof(prio)), 0);
	assert_string_equal(prio, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
	webconfig__free(c);

	/* a name relative to the cwd is joined with the file's directory too */
	assert_int_equal(webconfig__load_buf(TLS_DIR "web.yml", cwd_relative,
					     strlen(cwd_relative), &c, &d), -EINVAL);
	assert_int_equal(d.nr, 1);
	assert_non_null(strstr(d.v[0].msg, "cannot read " TLS_DIR TLS_DIR "server.key"));
	spec_diags__free(&d);

	c = load_ok("/nowhere/web.yml", rest);
	assert_false(c->tls);
	assert_int_equal(c->nr_headers, 3);
	assert_string_equal(c->headers[0].name, "X-Frame-Options");
	assert_string_equal(c->headers[0].value, "deny");
	assert_string_equal(c->headers[1].name, "X-Content-Type-Options");
	assert_string_equal(c->headers[2].name, "Strict-Transport-Security");
	assert_string_equal(c->headers[2].value, "max-age=31536000");
	assert_int_equal(c->nr_users, 2);
	assert_string_equal(c->users[0].name, "prometheus");
	assert_string_equal(c->users[0].hash, HASH);
	assert_string_equal(c->users[1].name, "ops team");
	webconfig__free(c);
	free(crt);
	free(ca);
}

/* The defaults: TLS 1.2 and 1.3, server precedence; and PEM given inline. */
static void test_tls_defaults_and_inline_pem(void **state)
{
	char *crt = slurp(TLS_DIR "server.crt"), *key = slurp(TLS_DIR "server.key");
	char block[8192] = "", *line, *save = NULL, *copy = strdup(crt);
	char *yaml, prio[256];
	struct webconfig *c;
	size_t o = 0;

	(void)state;
	/* the certificate as a YAML literal block */
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		o += (size_t)snprintf(block + o, sizeof(block) - o, "    %s\n", line);
	free(copy);
	assert_true(asprintf(&yaml, "tls_server_config:\n  cert: |\n%s  key_file: server.key\n"
			     "  client_ca_file: ca.crt\n  client_auth_type: RequireClientCert\n",
			     block) > 0);
	c = load_ok(TLS_DIR "w.yml", yaml);
	assert_true(c->tls);
	assert_string_equal(c->cert_pem, crt);
	assert_string_equal(c->key_pem, key);
	assert_int_equal(c->client_auth, WEBCONFIG_REQUIRE_ANY_CLIENT_CERT);	/* the old name */
	assert_int_equal(c->min_version, WEBCONFIG_TLS12);
	assert_int_equal(c->max_version, WEBCONFIG_TLS13);
	assert_true(c->prefer_server_ciphers);
	assert_int_equal(webconfig__priorities(c, prio, sizeof(prio)), 0);
	assert_string_equal(prio, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE");
	assert_int_equal(webconfig__priorities(c, prio, 10), -ENOSPC);
	assert_string_equal(webconfig_client_auth__name(c->client_auth), "RequireAnyClientCert");
	assert_string_equal(webconfig_tls_version__name(c->min_version), "TLS12");
	webconfig__free(c);
	free(yaml);
	free(crt);
	free(key);
}

/* Every client_auth_type, each with what it needs. */
static void test_client_auth_types(void **state)
{
	static const struct {
		const char *name;
		enum webconfig_client_auth want;
		bool ca;
	} types[] = {
		{ "NoClientCert", WEBCONFIG_NO_CLIENT_CERT, false },
		{ "RequestClientCert", WEBCONFIG_REQUEST_CLIENT_CERT, false },
		{ "RequireAnyClientCert", WEBCONFIG_REQUIRE_ANY_CLIENT_CERT, false },
		{ "VerifyClientCertIfGiven", WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN, true },
		{ "RequireAndVerifyClientCert", WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT, true },
		{ "RequestClientCert", WEBCONFIG_REQUEST_CLIENT_CERT, true },
	};
	struct webconfig *c;
	char yaml[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		snprintf(yaml, sizeof(yaml), "tls_server_config:\n  cert_file: server.crt\n"
			 "  key_file: server.key\n  client_auth_type: %s\n%s", types[i].name,
			 types[i].ca ? "  client_ca_file: ca.crt\n" : "");
		c = load_ok(TLS_DIR "w.yml", yaml);
		assert_int_equal(c->client_auth, types[i].want);
		assert_true(!c->client_ca_pem == !types[i].ca);
		assert_string_equal(webconfig_client_auth__name(c->client_auth),
				    types[i].want == WEBCONFIG_REQUEST_CLIENT_CERT ?
				    "RequestClientCert" : types[i].name);
		webconfig__free(c);
	}
}

static void test_io_errors(void **state)
{
	struct spec_diags d = { 0 };
	struct webconfig *c = (struct webconfig *)1;
	char *big;

	(void)state;
	assert_int_equal(webconfig__load(CORPUS_DIR "/no-such-file.yml", &c, &d), -ENOENT);
	assert_null(c);
	assert_int_equal(d.nr, 1);
	assert_string_equal(d.v[0].msg, "cannot read: No such file or directory");
	assert_int_equal(webconfig__load(CORPUS_DIR, &c, &d), -EINVAL);
	assert_string_equal(d.v[1].msg, "not a regular file");
	spec_diags__free(&d);

	big = calloc(1, WEBCONFIG_MAX_FILE_SIZE + 2);
	assert_non_null(big);
	memset(big, '#', WEBCONFIG_MAX_FILE_SIZE + 1);
	assert_int_equal(webconfig__load_buf("big.yml", big, strlen(big), &c, &d), -EFBIG);
	assert_int_equal(d.nr, 1);
	spec_diags__free(&d);
	free(big);
}

/* Deep nesting is refused before libyaml's loader (quadratic in the depth). */
static void test_deep_nesting(void **state)
{
	char buf[4096];
	struct spec_diags d = { 0 };
	struct webconfig *c;
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < 1000; i++)
		buf[n++] = '[';
	buf[n] = '\0';
	assert_int_equal(webconfig__load_buf("deep.yml", buf, n, &c, &d), -EINVAL);
	assert_int_equal(d.nr, 1);
	assert_string_equal(d.v[0].msg, "nested deeper than 8 levels");
	spec_diags__free(&d);
}

/* The printed form: FILE:LINE:COL: error: FIELD: MESSAGE. */
static void test_print_format(void **state)
{
	static const char y[] = "basic_auth_users:\n  alice: nope\n";
	struct spec_diags d = { 0 };
	struct webconfig *c;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(webconfig__load_buf("web.yml", y, strlen(y), &c, &d), -EINVAL);
	f = open_memstream(&out, &len);
	spec_diags__print(&d, "web.yml", f);
	fclose(f);
	assert_string_equal(out, "web.yml:2:10: error: basic_auth_users.alice: not a bcrypt hash "
			    "(expected $2y$, $2b$ or $2a$, a cost 04..31 and 53 characters, as "
			    "`htpasswd -nBC 10 \"\"` prints)\n");
	free(out);
	spec_diags__free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_corpus),
		cmocka_unit_test(test_empty_is_plain_http),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_tls_defaults_and_inline_pem),
		cmocka_unit_test(test_client_auth_types),
		cmocka_unit_test(test_io_errors),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_print_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
