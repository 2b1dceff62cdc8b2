// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The text 0.0.4 reader of remote write (user/lib/expo_parse.h), on any
 * bytes. The first byte says after how many samples the callback stops the
 * parse (0: never), the rest is the exposition.
 *
 * Invariants: 0, -EINVAL (with the number of a line that exists), -E2BIG,
 * -ENOMEM or the callback's own error; every sample has a name and at most
 * EXPO_PARSE_MAX_LABELS labels, each a name and a value (readable C strings:
 * ASan sees any read past them).
 */
#include <errno.h>

#include "fuzz.h"
#include "lib/expo_parse.h"

#define STOPPED	-1000

struct ctx {
	unsigned int samples, stop_after;
};

static int on_sample(void *ctx, const char *name, const struct expo_label *labels, size_t nr,
		     double value)
{
	struct ctx *c = ctx;
	size_t i;

	(void)value;
	FUZZ_ASSERT(name && *name);
	FUZZ_ASSERT(nr <= EXPO_PARSE_MAX_LABELS);
	for (i = 0; i < nr; i++) {
		FUZZ_ASSERT(labels[i].name && *labels[i].name && labels[i].value);
		(void)strlen(labels[i].value);
	}
	if (++c->samples == c->stop_after)
		return STOPPED;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c = { 0 };
	unsigned int bad = 0, lines = 1;
	char *text;
	size_t i;
	int err;

	if (!size)
		return 0;
	c.stop_after = data[0];
	text = malloc(size - 1 ? size - 1 : 1);	/* exactly the bytes: ASan sees reads past them */
	FUZZ_ASSERT(text);
	memcpy(text, data + 1, size - 1);
	for (i = 0; i < size - 1; i++)
		lines += text[i] == '\n';
	err = expo_parse__text(text, size - 1, on_sample, &c, &bad);
	FUZZ_ASSERT(err == 0 || err == -EINVAL || err == -E2BIG || err == -ENOMEM ||
		    err == STOPPED);
	if (err == STOPPED)
		FUZZ_ASSERT(c.stop_after && c.samples == c.stop_after);
	else if (c.stop_after)
		FUZZ_ASSERT(c.samples < c.stop_after);
	if (err)
		FUZZ_ASSERT(bad >= 1 && bad <= lines);
	free(text);
	return 0;
}
