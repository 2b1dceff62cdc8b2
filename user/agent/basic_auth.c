// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * basic_auth: basic authentication against bcrypt hashes (see basic_auth.h).
 */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "agent/basic_auth.h"

#define SALT_LEN	32
#define DIGEST_LEN	32	/* SHA-256 */

struct cache_entry {
	unsigned char digest[DIGEST_LEN];
	uint64_t used;		/* the clock at its last hit; 0: empty */
};

struct basic_auth {
	struct webconfig_user *users;	/* copies */
	size_t nr_users;
	unsigned char salt[SALT_LEN];	/* of the cache's digests, random per checker */
	pthread_mutex_t lock;		/* cache, clock, stats */
	struct cache_entry cache[BASIC_AUTH_CACHE_SIZE];
	uint64_t clock;
	struct basic_auth_stats stats;
	pthread_mutex_t bcrypt_lock;	/* one crypt_r() at a time, on cd */
	struct crypt_data *cd;
};

/* --- decoding ------------------------------------------------------------------ */

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard base64 with padding (RFC 4648 section 4); the decoded length or -1. */
static long b64_decode(const char *in, size_t len, char *out, size_t size)
{
	size_t i, o = 0, pad = 0;
	unsigned int acc = 0;
	int v, j;

	if (!len || len % 4)
		return -1;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	if ((len / 4) * 3 - pad > size)
		return -1;
	for (i = 0; i < len; i += 4) {
		for (acc = 0, j = 0; j < 4; j++) {
			bool last = i + 4 == len;

			if (last && j >= 4 - (int)pad) {
				acc <<= 6;
				continue;
			}
			v = b64_value(in[i + j]);
			if (v < 0)
				return -1;
			acc = acc << 6 | (unsigned int)v;
		}
		out[o++] = (char)(acc >> 16);
		if (i + 4 < len || pad < 2)
			out[o++] = (char)(acc >> 8 & 0xff);
		if (i + 4 < len || pad < 1)
			out[o++] = (char)(acc & 0xff);
	}
	return (long)o;
}

bool basic_auth__decode(const char *authorization, char *buf, size_t size,
			const char **user, const char **password)
{
	const char *p = authorization;
	size_t len;
	char *colon;
	long n;

	if (!p || strncasecmp(p, "Basic ", 6))
		return false;
	p += 6;
	p += strspn(p, " ");
	len = strcspn(p, " \t");
	if (p[len] || !size)
		return false;
	n = b64_decode(p, len, buf, size - 1);
	if (n < 0)
		return false;
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n)	/* a NUL inside */
		return false;
	colon = strchr(buf, ':');
	if (!colon)
		return false;
	*colon = '\0';
	*user = buf;
	*password = colon + 1;
	return true;
}

/* --- the checker ----------------------------------------------------------------- */

static bool equal_ct(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return !d;
}

static void free_users(struct webconfig_user *users, size_t nr)
{
	size_t i;

	for (i = 0; users && i < nr; i++) {
		free(users[i].name);
		free(users[i].hash);
	}
	free(users);
}

int basic_auth__new(const struct webconfig_user *users, size_t nr, struct basic_auth **out)
{
	struct basic_auth *a;
	size_t i;
	int err = -ENOMEM;

	*out = NULL;
	if (!nr)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->users = calloc(nr, sizeof(*a->users));
	a->cd = calloc(1, sizeof(*a->cd));
	if (!a->users || !a->cd)
		goto out_free;
	for (a->nr_users = 0; a->nr_users < nr; a->nr_users++) {
		i = a->nr_users;
		a->users[i].name = strdup(users[i].name);
		a->users[i].hash = strdup(users[i].hash);
		if (!a->users[i].name || !a->users[i].hash) {
			a->nr_users++;
			goto out_free;
		}
	}
	if (gnutls_rnd(GNUTLS_RND_RANDOM, a->salt, sizeof(a->salt)) < 0) {
		err = -EIO;
		goto out_free;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->bcrypt_lock, NULL);
	*out = a;
	return 0;

out_free:
	free_users(a->users, a->nr_users);
	free(a->cd);
	free(a);
	return err;
}

void basic_auth__free(struct basic_auth *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->bcrypt_lock);
	free_users(a->users, a->nr_users);
	explicit_bzero(a->cd, sizeof(*a->cd));
	free(a->cd);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

/* SHA-256(salt, user index, password): what the cache keeps of a success. */
static int cache_digest(const struct basic_auth *a, size_t user, const char *password,
			unsigned char digest[DIGEST_LEN])
{
	unsigned char buf[SALT_LEN + sizeof(uint32_t) + BASIC_AUTH_MAX_HEADER];
	uint32_t u = (uint32_t)user;
	size_t plen = strlen(password);
	int ret;

	if (plen > BASIC_AUTH_MAX_HEADER)
		return -E2BIG;
	memcpy(buf, a->salt, SALT_LEN);
	memcpy(buf + SALT_LEN, &u, sizeof(u));
	memcpy(buf + SALT_LEN + sizeof(u), password, plen);
	ret = gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, SALT_LEN + sizeof(u) + plen, digest);
	explicit_bzero(buf, sizeof(buf));
	return ret < 0 ? -EIO : 0;
}

/* Under a->lock. */
static bool cache_hit(struct basic_auth *a, const unsigned char *digest)
{
	size_t i;

	for (i = 0; i < BASIC_AUTH_CACHE_SIZE; i++) {
		if (a->cache[i].used && equal_ct(a->cache[i].digest, digest, DIGEST_LEN)) {
			a->cache[i].used = ++a->clock;
			a->stats.cache_hits++;
			return true;
		}
	}
	return false;
}

/* Under a->lock: the empty or least recently used entry takes @digest. */
static void cache_add(struct basic_auth *a, const unsigned char *digest)
{
	size_t i, victim = 0;

	for (i = 0; i < BASIC_AUTH_CACHE_SIZE; i++) {
		if (a->cache[i].used < a->cache[victim].used)
			victim = i;
	}
	memcpy(a->cache[victim].digest, digest, DIGEST_LEN);
	a->cache[victim].used = ++a->clock;
}

/* bcrypt @password against @hash; constant-time comparison of the results. */
static bool bcrypt_matches(struct basic_auth *a, const char *password, const char *hash)
{
	size_t hlen = strlen(hash);
	const char *res;
	bool ok;

	pthread_mutex_lock(&a->bcrypt_lock);
	res = crypt_r(password, hash, a->cd);
	ok = res && res[0] != '*' && strlen(res) == hlen && equal_ct(res, hash, hlen);
	pthread_mutex_unlock(&a->bcrypt_lock);
	pthread_mutex_lock(&a->lock);
	a->stats.bcrypts++;
	pthread_mutex_unlock(&a->lock);
	return ok;
}

static int find_user(const struct basic_auth *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nr_users; i++)
		if (!strcmp(a->users[i].name, name))
			return (int)i;
	return -1;
}

bool basic_auth__check(struct basic_auth *a, const char *authorization)
{
	unsigned char digest[DIGEST_LEN];
	char buf[BASIC_AUTH_MAX_HEADER];
	const char *user, *password;
	bool ok = false, hashed;
	int idx;

	if (!authorization || strlen(authorization) > BASIC_AUTH_MAX_HEADER ||
	    !basic_auth__decode(authorization, buf, sizeof(buf), &user, &password))
		goto out;
	idx = find_user(a, user);
	hashed = idx >= 0 && !cache_digest(a, (size_t)idx, password, digest);
	if (hashed) {
		pthread_mutex_lock(&a->lock);
		ok = cache_hit(a, digest);
		pthread_mutex_unlock(&a->lock);
		if (ok)
			goto out;
	}
	/* an unknown user pays a bcrypt too: no timing tells users apart */
	ok = bcrypt_matches(a, password, a->users[idx >= 0 ? idx : 0].hash) && idx >= 0;
	if (ok && hashed) {
		pthread_mutex_lock(&a->lock);
		cache_add(a, digest);
		pthread_mutex_unlock(&a->lock);
	}
out:
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(digest, sizeof(digest));
	return ok;
}

void basic_auth__stats(struct basic_auth *a, struct basic_auth_stats *out)
{
	pthread_mutex_lock(&a->lock);
	*out = a->stats;
	pthread_mutex_unlock(&a->lock);
}
