/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * basic_auth: HTTP basic authentication (RFC 7617) against bcrypt hashes,
 * as exporter-toolkit's basic_auth_users.
 *
 * A check decodes "Authorization: Basic base64(user:password)", then
 * verifies the password with libxcrypt's crypt_r() against the user's hash
 * and compares the result in constant time. An unknown user costs a bcrypt
 * too (against the first user's hash, whose cost the others share in
 * practice), so timing does not tell which users exist.
 *
 * bcrypt is slow on purpose (about 60 ms at cost 10), so a successful
 * verification is remembered: a salted SHA-256 of (user, password) in a
 * cache of BASIC_AUTH_CACHE_SIZE entries, least recently used evicted, so a
 * scraper pays bcrypt once, not on every scrape. Failures are not cached:
 * a client guessing passwords cannot evict a scraper's entry, it only pays
 * bcrypt for every guess. One bcrypt runs at a time (as exporter-toolkit
 * does), so guesses use one core at most.
 *
 * Thread-safe: checks may run on several threads at once.
 */
#ifndef EMITD_AGENT_BASIC_AUTH_H
#define EMITD_AGENT_BASIC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/webconfig.h"

#define BASIC_AUTH_CACHE_SIZE		64
#define BASIC_AUTH_MAX_HEADER		1024	/* longer Authorization values fail */

struct basic_auth;

struct basic_auth_stats {
	uint64_t bcrypts;		/* crypt_r() calls */
	uint64_t cache_hits;
};

/*
 * A checker for @users[0..nr) (nr >= 1); it copies what it needs. 0,
 * -EINVAL (no users), -ENOMEM or the errno of reading random bytes.
 */
int basic_auth__new(const struct webconfig_user *users, size_t nr, struct basic_auth **out);
void basic_auth__free(struct basic_auth *a);

/* True when @authorization (the header's value, may be NULL) names a user and its password. */
bool basic_auth__check(struct basic_auth *a, const char *authorization);

void basic_auth__stats(struct basic_auth *a, struct basic_auth_stats *out);

/*
 * Decode "Basic <base64>" (scheme case-insensitive, padding required) into
 * @buf of @size bytes as "user\0password\0"; the user and password point
 * into @buf. False when it is not basic auth, not base64, has no ':' or
 * does not fit.
 */
bool basic_auth__decode(const char *authorization, char *buf, size_t size,
			const char **user, const char **password);

#endif /* EMITD_AGENT_BASIC_AUTH_H */
