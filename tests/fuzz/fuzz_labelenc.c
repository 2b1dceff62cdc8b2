// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * String label values (user/lib/labelenc.h), any bytes, then through the
 * exposition and back. The input is two values split at their NULs, and an
 * output size.
 *
 * Invariants:
 *  - the encoding is valid UTF-8, never EMITD_OTHER_VALUE, at most
 *    LABELENC_SIZE(n) bytes, and an independent decoder (the rules of
 *    labelenc.h) gives the input back: the map is injective;
 *  - a buffer too small gives -ENOSPC and "", a large enough one the same
 *    encoding;
 *  - both values encoded, rendered as two series of one family (text 0.0.4)
 *    and read back by expo_parse__text(), decode to the two inputs: distinct
 *    bytes are distinct series on the page, whatever they are.
 */
#include <errno.h>

#include "emitd.h"
#include "fuzz.h"
#include "lib/expo.h"
#include "lib/expo_parse.h"
#include "lib/labelenc.h"

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	FUZZ_ASSERT(c >= 'a' && c <= 'f');	/* lower-case only: one spelling per byte */
	return c - 'a' + 10;
}

/* The rules of labelenc.h, read backwards; @out has strlen(@s) + 1 bytes. */
static void decode(const char *s, char *out)
{
	size_t n = 0;

	if (!strcmp(s, "\\" EMITD_OTHER_VALUE)) {
		strcpy(out, EMITD_OTHER_VALUE);
		return;
	}
	while (*s) {
		if (*s != '\\') {
			out[n++] = *s++;
			continue;
		}
		if (s[1] == '\\') {
			out[n++] = '\\';
			s += 2;
			continue;
		}
		FUZZ_ASSERT(s[1] == 'x' && s[2] && s[3]);
		out[n++] = (char)(hex(s[2]) << 4 | hex(s[3]));
		FUZZ_ASSERT(out[n - 1]);
		s += 4;
	}
	out[n] = '\0';
}

static char *encode(const char *in, size_t small)
{
	size_t need = LABELENC_SIZE(strlen(in));
	char *enc = malloc(need), *dec, *tiny;
	size_t len;

	FUZZ_ASSERT(enc);
	FUZZ_ASSERT(labelenc__encode(in, enc, need) == 0);
	len = strlen(enc);
	FUZZ_ASSERT(len + 1 <= need);
	FUZZ_ASSERT(fuzz_utf8_valid(enc, len));
	FUZZ_ASSERT(strcmp(enc, EMITD_OTHER_VALUE));
	dec = malloc(len + 1);
	FUZZ_ASSERT(dec);
	decode(enc, dec);
	FUZZ_ASSERT(!strcmp(dec, in));
	free(dec);

	/* A buffer of @small bytes, exactly: ASan sees a write past it. */
	tiny = malloc(small ? small : 1);
	FUZZ_ASSERT(tiny);
	if (small > len) {
		FUZZ_ASSERT(labelenc__encode(in, tiny, small) == 0 && !strcmp(tiny, enc));
	} else {
		FUZZ_ASSERT(labelenc__encode(in, tiny, small) == -ENOSPC);
		FUZZ_ASSERT(!small || !*tiny);
	}
	free(tiny);
	return enc;
}

struct back {
	const char *const *given;	/* the two inputs */
	unsigned int nr;
};

static int on_sample(void *ctx, const char *name, const struct expo_label *labels, size_t nr,
		     double value)
{
	struct back *b = ctx;
	char *dec;

	(void)value;
	FUZZ_ASSERT(!strcmp(name, "demo_label_value") && b->nr < 2);
	FUZZ_ASSERT(nr == 1 && !strcmp(labels[0].name, "v"));
	dec = malloc(strlen(labels[0].value) + 1);
	FUZZ_ASSERT(dec);
	decode(labels[0].value, dec);
	FUZZ_ASSERT(!strcmp(dec, b->given[b->nr]));
	free(dec);
	b->nr++;
	return 0;
}

/* The two encodings as two series of a gauge, rendered and read back. */
static void round_trip(const char *const given[2], char *enc[2])
{
	const char *const v0[] = { enc[0] }, *const v1[] = { enc[1] };
	const char *const names[] = { "v" };
	struct expo_series series[2] = {
		{ .label_values = v0, .value = 1 }, { .label_values = v1, .value = 2 },
	};
	struct expo_family f = {
		.name = "demo_label_value", .help = "h", .type = EXPO_GAUGE,
		.label_names = names, .nr_labels = 1, .series = series, .nr_series = 2,
	};
	struct back b = { given, 0 };
	struct expo_buf out = { 0 };
	unsigned int bad = 0;

	FUZZ_ASSERT(expo__render(&out, &f, 1, EXPO_FMT_TEXT_004) == 0);
	FUZZ_ASSERT(expo_parse__text(out.data, out.len, on_sample, &b, &bad) == 0);
	FUZZ_ASSERT(b.nr == 2);
	expo_buf__free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t small = fuzz_in__u8(&in);
	char *given[2], *enc[2];
	int i;

	given[0] = fuzz_in__str(&in, 256);
	given[1] = fuzz_in__str(&in, 256);
	for (i = 0; i < 2; i++)
		enc[i] = encode(given[i], small);
	if (strcmp(given[0], given[1]))
		FUZZ_ASSERT(strcmp(enc[0], enc[1]));
	round_trip((const char *const *)given, enc);
	for (i = 0; i < 2; i++) {
		free(given[i]);
		free(enc[i]);
	}
	return 0;
}
