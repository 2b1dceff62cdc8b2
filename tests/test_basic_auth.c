// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Tests for user/agent/basic_auth.c: decoding, bcrypt through libxcrypt,
 * and the cache of successes (bounded, least recently used out, failures
 * never cached). Hashes are made here at bcrypt's lowest cost (4), so the
 * suite stays fast.
 */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/basic_auth.h"

static char alice_hash[128], bob_hash[128], long_hash[128];
/* bcrypt reads 72 bytes of a password: every suffix of this one matches */
static const char long_pw[] =
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567";

static void make_hash(const char *password, char *out, size_t size)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd = { 0 };
	const char *h;

	assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	h = crypt_r(password, salt, &cd);
	assert_non_null(h);
	assert_true(h[0] == '$');
	snprintf(out, size, "%s", h);
}

static int group_setup(void **state)
{
	(void)state;
	make_hash("alice's secret", alice_hash, sizeof(alice_hash));
	make_hash("hunter2", bob_hash, sizeof(bob_hash));
	make_hash(long_pw, long_hash, sizeof(long_hash));
	return 0;
}

static struct basic_auth *new_auth(void)
{
	const struct webconfig_user users[] = {
		{ "alice", alice_hash }, { "bob", bob_hash }, { "long", long_hash },
	};
	struct basic_auth *a = NULL;

	assert_int_equal(basic_auth__new(users, 3, &a), 0);
	assert_non_null(a);
	return a;
}

/* "Basic " + base64("user:password") */
static char *header_for(const char *user_pass)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = (const unsigned char *)user_pass;
	size_t len = strlen(user_pass), i, o = 6;
	char *out = malloc(6 + 4 * (len / 3 + 1) + 1);

	assert_non_null(out);
	memcpy(out, "Basic ", 6);
	for (i = 0; i < len; i += 3) {
		unsigned int v = in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0) |
				 (i + 2 < len ? in[i + 2] : 0);

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static bool check(struct basic_auth *a, const char *user_pass)
{
	char *h = header_for(user_pass);
	bool ok = basic_auth__check(a, h);

	free(h);
	return ok;
}

static void test_decode(void **state)
{
	const char *user, *pw;
	char buf[256];

	(void)state;
	assert_true(basic_auth__decode("Basic YWxpY2U6czNjcjN0", buf, sizeof(buf), &user, &pw));
	assert_string_equal(user, "alice");
	assert_string_equal(pw, "s3cr3t");
	/* scheme case-insensitive, spaces before the token; ':' in the password */
	assert_true(basic_auth__decode("basic   dTpwOmE6c3M=", buf, sizeof(buf), &user, &pw));
	assert_string_equal(user, "u");
	assert_string_equal(pw, "p:a:ss");
	assert_true(basic_auth__decode("BASIC dTo=", buf, sizeof(buf), &user, &pw));
	assert_string_equal(user, "u");
	assert_string_equal(pw, "");
}

static void test_decode_refuses(void **state)
{
	static const char *const bad[] = {
		"", "Basic", "Basic ", "Bearer YWxpY2U6czNjcjN0", "BasicYWxpY2U6czNjcjN0",
		"Basic YWxpY2U6czNjcjN0 ", "Basic YWxp Y2U6", "Basic YWxpY2U6czNjcjN",
		"Basic YWxpY2U6czNjcjN0=", "Basic ====", "Basic YW=pY2U6", "Basic !!!!",
		"Basic dXNlcg==",		/* "user": no ':' */
		"Basic dQB4OnA=",		/* "u\0x:p": a NUL inside */
		"Digest username=\"alice\"",
	};
	const char *user, *pw;
	char buf[256], small[4];
	size_t i;

	(void)state;
	assert_false(basic_auth__decode(NULL, buf, sizeof(buf), &user, &pw));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (basic_auth__decode(bad[i], buf, sizeof(buf), &user, &pw))
			fail_msg("decoded \"%s\"", bad[i]);
	/* what does not fit is refused, not cut */
	assert_false(basic_auth__decode("Basic YWxpY2U6czNjcjN0", small, sizeof(small), &user, &pw));
}

/* Good, wrong, unknown, missing: only the first passes. */
static void test_check(void **state)
{
	struct basic_auth *a = new_auth();
	struct basic_auth_stats st;

	(void)state;
	assert_true(check(a, "alice:alice's secret"));
	assert_true(check(a, "bob:hunter2"));
	assert_false(check(a, "alice:hunter2"));	/* bob's password */
	assert_false(check(a, "alice:alice's secre"));
	assert_false(check(a, "alice:"));
	assert_false(check(a, "Alice:alice's secret"));	/* user names are exact */
	assert_false(check(a, "mallory:hunter2"));
	assert_false(basic_auth__check(a, NULL));
	assert_false(basic_auth__check(a, "Basic !!!!"));
	basic_auth__stats(a, &st);
	/* every well-formed attempt costs one bcrypt, an unknown user included */
	assert_int_equal(st.bcrypts, 7);
	assert_int_equal(st.cache_hits, 0);
	basic_auth__free(a);
}

/* A success is bcrypt once, then the cache; failures always pay bcrypt. */
static void test_cache(void **state)
{
	struct basic_auth *a = new_auth();
	struct basic_auth_stats st;
	int i;

	(void)state;
	for (i = 0; i < 10; i++)
		assert_true(check(a, "alice:alice's secret"));
	basic_auth__stats(a, &st);
	assert_int_equal(st.bcrypts, 1);
	assert_int_equal(st.cache_hits, 9);
	for (i = 0; i < 5; i++)
		assert_false(check(a, "alice:guess"));
	basic_auth__stats(a, &st);
	assert_int_equal(st.bcrypts, 6);
	/* the cache knows (user, password), not the user: bob's password still fails */
	assert_false(check(a, "bob:alice's secret"));
	assert_true(check(a, "alice:alice's secret"));
	basic_auth__stats(a, &st);
	assert_int_equal(st.bcrypts, 7);
	assert_int_equal(st.cache_hits, 10);
	basic_auth__free(a);
}

/* At most BASIC_AUTH_CACHE_SIZE successes are kept; the least recent goes. */
static void test_cache_is_bounded(void **state)
{
	struct basic_auth *a = new_auth();
	struct basic_auth_stats st0, st;
	char up[160];
	int i;

	(void)state;
	for (i = 0; i <= BASIC_AUTH_CACHE_SIZE; i++) {	/* one more than fits */
		snprintf(up, sizeof(up), "long:%s%d", long_pw, i);
		assert_true(check(a, up));
	}
	basic_auth__stats(a, &st0);
	assert_int_equal(st0.bcrypts, BASIC_AUTH_CACHE_SIZE + 1);
	snprintf(up, sizeof(up), "long:%s%d", long_pw, BASIC_AUTH_CACHE_SIZE);
	assert_true(check(a, up));		/* the newest: cached */
	snprintf(up, sizeof(up), "long:%s%d", long_pw, 1);
	assert_true(check(a, up));		/* an old one, still there */
	basic_auth__stats(a, &st);
	assert_int_equal(st.bcrypts, st0.bcrypts);
	snprintf(up, sizeof(up), "long:%s%d", long_pw, 0);
	assert_true(check(a, up));		/* the first: evicted */
	basic_auth__stats(a, &st);
	assert_int_equal(st.bcrypts, st0.bcrypts + 1);
	basic_auth__free(a);
}

static void test_new_refuses_no_users(void **state)
{
	struct basic_auth *a = (struct basic_auth *)1;

	(void)state;
	assert_int_equal(basic_auth__new(NULL, 0, &a), -EINVAL);
	assert_null(a);
	basic_auth__free(NULL);
}

static void *checker(void *arg)
{
	struct basic_auth *a = arg;
	long bad = 0;
	int i;

	for (i = 0; i < 50; i++) {
		bad += !check(a, "bob:hunter2");
		bad += check(a, i % 10 ? "bob:x" : "eve:hunter2");
	}
	return (void *)bad;
}

/* Several threads at once (the HTTP workers): same answers. */
static void test_threads(void **state)
{
	struct basic_auth *a = new_auth();
	pthread_t th[4];
	void *bad;
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, checker, a), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_int_equal((long)bad, 0);
	}
	basic_auth__free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_is_bounded),
		cmocka_unit_test(test_new_refuses_no_users),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
