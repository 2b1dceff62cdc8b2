// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * labelenc: the encoding of hostile label bytes is injective. decode() below,
 * written from labelenc.h's rules alone, reads every result back to the bytes
 * it came from (over hand-picked collisions, every string of up to two bytes
 * and 100,000 random ones from a fixed seed); every result is valid UTF-8
 * without NUL, within LABELENC_SIZE, and never the overflow series' value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "emitd.h"
#include "lib/labelenc.h"
#include "lib/utf8.h"

#define MAX_IN		(EMITD_LABEL_LEN - 1)
#define OUT_SZ		LABELENC_SIZE(MAX_IN)
#define NR_RANDOM	100000

_Static_assert(OUT_SZ == 125, "31 input bytes need 124 bytes and the NUL");

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;		/* the encoding writes lower-case hex only */
}

/* The inverse of labelenc__encode(): -EINVAL for a string it never writes. */
static int decode(const char *in, char *out, size_t out_sz)
{
	size_t n = 0;
	int hi, lo;

	if (!strcmp(in, "\\" EMITD_OTHER_VALUE)) {
		snprintf(out, out_sz, "%s", EMITD_OTHER_VALUE);
		return 0;
	}
	while (*in) {
		if (n + 1 >= out_sz)
			return -ENOSPC;
		if (in[0] != '\\') {
			out[n++] = *in++;
		} else if (in[1] == '\\') {
			out[n++] = '\\';
			in += 2;
		} else if (in[1] == 'x' && (hi = hex_value(in[2])) >= 0 &&
			   (lo = hex_value(in[3])) >= 0) {
			out[n++] = (char)(hi << 4 | lo);
			in += 4;
		} else {
			return -EINVAL;
		}
	}
	out[n] = '\0';
	return 0;
}

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int n;

	while (*p) {
		n = utf8__seq(p);
		if (n < 0)
			return false;
		p += n;
	}
	return true;
}

/*
 * Everything the encoding promises for @in: the result is within bounds,
 * valid UTF-8 (NUL-free by construction: it is a C string of that length),
 * not the overflow value, and decodes back to @in exactly.
 */
static void check_round_trip(const char *in)
{
	char enc[OUT_SZ], dec[EMITD_LABEL_LEN];
	size_t len = strlen(in);

	assert_true(len <= MAX_IN);
	assert_int_equal(labelenc__encode(in, enc, sizeof(enc)), 0);
	assert_true(strlen(enc) + 1 <= LABELENC_SIZE(len));
	if (!valid_utf8(enc))
		fail_msg("encoding of %zu bytes is not valid UTF-8: \"%s\"", len, enc);
	assert_string_not_equal(enc, EMITD_OTHER_VALUE);
	assert_int_equal(decode(enc, dec, sizeof(dec)), 0);
	if (len != strlen(dec) || memcmp(in, dec, len))
		fail_msg("\"%s\" does not decode back to its %zu bytes", enc, len);
}

static void test_rules(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "/api/users", "/api/users" },
		{ "a\"b\nc\t", "a\"b\nc\t" },		/* expo escapes these, not labelenc */
		{ "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "\xef\xbf\xbd", "\xef\xbf\xbd" },	/* a literal U+FFFD is valid UTF-8 */
		{ "\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\xef\xbf\xbf\xf4\x8f\xbf\xbf" },	/* U+FFFF, U+10FFFF */
		{ "\\", "\\\\" },
		{ "a\\b", "a\\\\b" },
		{ "\\x80", "\\\\x80" },
		{ "\x80", "\\x80" },
		{ "\xff", "\\xff" },
		{ "\xc3", "\\xc3" },			/* truncated */
		{ "\xe2\x82", "\\xe2\\x82" },		/* truncated: one subpart, each byte escaped */
		{ "\xe2\x82" "A", "\\xe2\\x82A" },
		{ "\xc0\xaf", "\\xc0\\xaf" },		/* overlong */
		{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },	/* overlong */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },	/* surrogate */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },	/* above U+10FFFF */
		{ "\xf5\xfe", "\\xf5\\xfe" },
		{ "ok\xff" "ok", "ok\\xffok" },
		{ "__other__", "\\__other__" },		/* not the overflow series */
		{ "\\__other__", "\\\\__other__" },
		{ "__other__\x80", "__other__\\x80" },
		{ "__other_", "__other_" },
		{ "x__other__", "x__other__" },
	};
	char out[OUT_SZ];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(labelenc__encode(cases[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].out);
		check_round_trip(cases[i].in);
	}
}

/* Bytes a lossy rendering (one U+FFFD per subpart) would show alike stay apart. */
static void test_collisions_of_a_lossy_rendering(void **state)
{
	static const char *const alike[] = {
		"\x80", "\xff", "\xc0", "\xfe", "\xc3", "\xe2\x82", "\xf0\x9f\x98",
		"\xef\xbf\xbd", "\\x80", "\\xff", "\\xef\\xbf\\xbd", "\\\\x80",
		"__other__", "\\__other__", "\\_", "\\", "\\\\", "",
	};
	enum { NR = sizeof(alike) / sizeof(alike[0]) };
	char enc[NR][OUT_SZ];
	size_t i, j;

	(void)state;
	for (i = 0; i < NR; i++) {
		assert_int_equal(labelenc__encode(alike[i], enc[i], sizeof(enc[i])), 0);
		assert_string_not_equal(enc[i], EMITD_OTHER_VALUE);
		for (j = 0; j < i; j++)
			if (!strcmp(enc[i], enc[j]))
				fail_msg("inputs %zu and %zu both encode as \"%s\"", j, i, enc[i]);
	}
}

/* Every string of one or two bytes (no NUL), 65,280 of them. */
static void test_every_short_string(void **state)
{
	char in[3] = { 0 };
	int a, b;

	(void)state;
	for (a = 1; a < 256; a++) {
		in[0] = (char)a;
		in[1] = '\0';
		check_round_trip(in);
		for (b = 1; b < 256; b++) {
			in[1] = (char)b;
			check_round_trip(in);
		}
	}
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A random code point's UTF-8 (surrogates included: ill-formed) into @p. */
static size_t put_code_point(char *p, uint64_t r)
{
	uint32_t cp = (uint32_t)(r % 0x110000);

	if (cp < 0x80) {
		p[0] = (char)(cp ? cp : 'z');
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (char)(0xc0 | cp >> 6);
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | cp >> 12);
		p[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | cp >> 18);
	p[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	p[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A random label of up to MAX_IN bytes, built from pieces that meet the
 * encoding's edges: any byte, high bytes, backslashes, "\x" and hex digits,
 * underscores, whole code points, "__other__" (also as the whole value).
 */
static void random_label(uint64_t *rng, char *out)
{
	static const char *const pieces[] = {
		"\\", "\\x", "\\\\", "_", "__other__", "x", "8", "f", "\xef\xbf\xbd",
	};
	size_t want = splitmix64(rng) % (MAX_IN + 1), n = 0, k;
	const char *piece;
	char tmp[16];
	uint64_t r;

	if (splitmix64(rng) % 64 == 0) {
		strcpy(out, EMITD_OTHER_VALUE);
		return;
	}
	while (n < want) {
		r = splitmix64(rng);
		switch (r % 4) {
		case 0:
			tmp[0] = (char)(1 + (r >> 8) % 255);
			k = 1;
			break;
		case 1:
			tmp[0] = (char)(0x80 | (r >> 8));
			k = 1;
			break;
		case 2:
			k = put_code_point(tmp, r >> 8);
			break;
		default:
			piece = pieces[(r >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
			k = strlen(piece);
			memcpy(tmp, piece, k);
			break;
		}
		if (k > want - n)
			k = want - n;		/* cut mid-sequence, as the kernel does */
		memcpy(out + n, tmp, k);
		n += k;
	}
	out[n] = '\0';
}

static void test_random_strings_round_trip(void **state)
{
	uint64_t rng = 0x1abe1e7cULL;
	char in[EMITD_LABEL_LEN];
	unsigned int i, ill_formed = 0, other = 0;

	(void)state;
	for (i = 0; i < NR_RANDOM; i++) {
		random_label(&rng, in);
		check_round_trip(in);
		ill_formed += !valid_utf8(in);
		other += !strcmp(in, EMITD_OTHER_VALUE);
	}
	/* the generator reaches both sides of every rule */
	assert_true(ill_formed > NR_RANDOM / 4 && ill_formed < NR_RANDOM - NR_RANDOM / 10);
	assert_true(other > 0);
}

static void test_longest_result_fits(void **state)
{
	char in[MAX_IN + 1], out[OUT_SZ];

	(void)state;
	memset(in, 0x80, MAX_IN);
	in[MAX_IN] = '\0';
	assert_int_equal(labelenc__encode(in, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 4 * MAX_IN);
	assert_int_equal(labelenc__encode(in, out, sizeof(out) - 1), -ENOSPC);
	assert_string_equal(out, "");		/* no partial result */
	assert_int_equal(labelenc__encode("__other__", out, 10), -ENOSPC);
	assert_int_equal(labelenc__encode("__other__", out, 11), 0);
	assert_string_equal(out, "\\__other__");
	assert_int_equal(labelenc__encode("", out, 0), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_collisions_of_a_lossy_rendering),
		cmocka_unit_test(test_every_short_string),
		cmocka_unit_test(test_random_strings_round_trip),
		cmocka_unit_test(test_longest_result_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
