/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz: what the libFuzzer targets of tests/fuzz/ share. A target defines
 * LLVMFuzzerTestOneInput(); a broken invariant is a crash (FUZZ_ASSERT
 * prints the condition and aborts), as is any ASan, UBSan or leak report.
 *
 * struct fuzz_in hands out a fuzzer's bytes as typed values, the way LLVM's
 * FuzzedDataProvider does: numbers from the front, never failing (zeros once
 * the input is used up), strings NUL-terminated copies that the caller frees.
 */
#ifndef EMITD_FUZZ_H
#define EMITD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: invariant broken: %s\n",	\
				__FILE__, __LINE__, #cond);			\
			abort();						\
		}								\
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint64_t fuzz_in__u64(struct fuzz_in *in, size_t bytes)
{
	uint64_t v = 0;

	while (bytes-- && in->left) {
		v = v << 8 | *in->p++;
		in->left--;
	}
	return v;
}

static inline uint8_t fuzz_in__u8(struct fuzz_in *in)
{
	return fuzz_in__u64(in, 1);
}

static inline bool fuzz_in__bool(struct fuzz_in *in)
{
	return fuzz_in__u8(in) & 1;
}

static inline double fuzz_in__double(struct fuzz_in *in)
{
	uint64_t bits = fuzz_in__u64(in, 8);
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

/*
 * A string of at most @max bytes: up to the next NUL of the input (which is
 * consumed) or its end. Never NULL (aborts when out of memory).
 */
static inline char *fuzz_in__str(struct fuzz_in *in, size_t max)
{
	const uint8_t *nul = memchr(in->p, 0, in->left);
	size_t n = nul ? (size_t)(nul - in->p) : in->left;
	char *s;

	if (n > max)
		n = max;
	s = malloc(n + 1);
	FUZZ_ASSERT(s);
	memcpy(s, in->p, n);
	s[n] = '\0';
	in->p += n;
	in->left -= n;
	if (in->left && !*in->p && n < max) {
		in->p++;
		in->left--;
	}
	return s;
}

/* A NUL-terminated copy of the whole input (a header, an operand string). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_ASSERT(s);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Independent of user/lib/utf8.c: true when @s[0..@n) is well-formed UTF-8
 * (Unicode table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
 */
static inline bool fuzz_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		unsigned char c = *p;
		unsigned char lo = 0x80, hi = 0xbf;
		int more;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (end - p <= more)
			return false;
		if (p[1] < lo || p[1] > hi)
			return false;
		for (int i = 2; i <= more; i++) {
			if (p[i] < 0x80 || p[i] > 0xbf)
				return false;
		}
		p += more + 1;
	}
	return true;
}

#endif /* EMITD_FUZZ_H */
