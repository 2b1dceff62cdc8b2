/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * webconfig: `--web.config.file`, the Prometheus exporter-toolkit web
 * configuration (TLS, basic auth, response headers), YAML -> struct.
 *
 *   tls_server_config:
 *     cert_file, key_file      PEM files (or cert, key: the PEM inline)
 *     client_ca_file           PEM CAs for client certificates (or client_ca)
 *     client_auth_type         NoClientCert (default), RequestClientCert,
 *                              RequireAnyClientCert (alias RequireClientCert),
 *                              VerifyClientCertIfGiven, RequireAndVerifyClientCert
 *     min_version, max_version TLS10, TLS11, TLS12 (default min), TLS13 (default max)
 *     prefer_server_cipher_suites  boolean, default true
 *   http_server_config:
 *     http2                    boolean, accepted and ignored (HTTP/1.1 only)
 *     headers                  Content-Security-Policy, X-Frame-Options (deny,
 *                              sameorigin), X-Content-Type-Options (nosniff),
 *                              X-XSS-Protection, Strict-Transport-Security
 *   basic_auth_users:          USER: BCRYPT-HASH ($2a$, $2b$ or $2y$)
 *
 * As in exporter-toolkit: TLS is on when any tls_server_config field that
 * names a certificate, key, CA or client_auth_type is set, and then a
 * certificate and a key are required; relative file names are resolved
 * against the configuration file's directory; client CAs without a
 * client_auth_type that asks for certificates are refused. Unlike it:
 * the verify modes need client_ca_file (no fallback to the system's CAs);
 * the file is read once, at start; and the Go-specific cipher_suites,
 * curve_preferences, client_allowed_sans and rate_limit are refused as not
 * supported rather than ignored.
 *
 * A load reads the file and the certificate, key and CA files it names and
 * checks them with GnuTLS (the key must match the certificate). It returns
 * the configuration only when no error was found, each error in @diags as
 * FILE:LINE:COL: error: FIELD: MESSAGE (spec_diags__print()); an unknown key
 * gets the closest known one ("did you mean"). It holds no other state, and
 * starts no thread.
 */
#ifndef EMITD_AGENT_WEBCONFIG_H
#define EMITD_AGENT_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "spec/spec.h"

#define WEBCONFIG_MAX_FILE_SIZE		(64 * 1024)	/* the YAML file */
#define WEBCONFIG_MAX_PEM_SIZE		(1024 * 1024)	/* a certificate, key or CA file */
#define WEBCONFIG_MAX_USERS		64
#define WEBCONFIG_MAX_HEADERS		5	/* the headers exporter-toolkit allows */

enum webconfig_client_auth {
	WEBCONFIG_NO_CLIENT_CERT = 0,
	WEBCONFIG_REQUEST_CLIENT_CERT,		/* asked for, not required, not verified */
	WEBCONFIG_REQUIRE_ANY_CLIENT_CERT,	/* required, not verified */
	WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN,	/* verified when sent */
	WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

enum webconfig_tls_version {
	WEBCONFIG_TLS10 = 1,
	WEBCONFIG_TLS11,
	WEBCONFIG_TLS12,
	WEBCONFIG_TLS13,
};

struct webconfig_user {
	char *name;
	char *hash;			/* bcrypt, as crypt(3) reads it */
};

struct webconfig_header {
	char *name;
	char *value;
};

struct webconfig {
	char *path;
	/* tls_server_config */
	bool tls;			/* serve HTTPS */
	char *cert_pem;			/* the certificate chain, NUL-terminated */
	char *key_pem;			/* its private key (wiped on free) */
	char *client_ca_pem;		/* NULL: no client CAs */
	enum webconfig_client_auth client_auth;
	enum webconfig_tls_version min_version;
	enum webconfig_tls_version max_version;
	bool prefer_server_ciphers;
	/* http_server_config */
	struct webconfig_header headers[WEBCONFIG_MAX_HEADERS];
	size_t nr_headers;
	/* basic_auth_users, in file order */
	struct webconfig_user *users;
	size_t nr_users;
};

/* Load @path: 0 with *@out set, or a negative errno with the errors in @diags. */
int webconfig__load(const char *path, struct webconfig **out, struct spec_diags *diags);
/*
 * The same from @len bytes at @buf; @name names it in diagnostics and its
 * directory is where relative file names are resolved.
 */
int webconfig__load_buf(const char *name, const char *buf, size_t len,
			struct webconfig **out, struct spec_diags *diags);
/* Frees @c, wiping the key; NULL is a no-op. */
void webconfig__free(struct webconfig *c);

/*
 * The GnuTLS priority string for @c's versions and preference, into @buf of
 * @size bytes; 0 or -ENOSPC.
 */
int webconfig__priorities(const struct webconfig *c, char *buf, size_t size);

/* "NoClientCert", ...; "TLS12", ... */
const char *webconfig_client_auth__name(enum webconfig_client_auth a);
const char *webconfig_tls_version__name(enum webconfig_tls_version v);

#endif /* EMITD_AGENT_WEBCONFIG_H */
