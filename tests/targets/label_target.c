// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * label_target: a probed process that chooses its label bytes, for
 * tests/integration/test_hostile_labels.py.
 *
 *	label_target FILE
 *
 * FILE holds one label value a line, as "COUNT HEX": the value's bytes in
 * hex ("-" for the empty value), fired COUNT times at the USDT probe
 * label:hit(const char *value) before the next line. Any byte but NUL can be
 * sent: invalid UTF-8, backslashes, quotes, line feeds, "__other__".
 * tests/integration/specs/labels.yml counts the hits by value.
 *
 * At exit it prints "events N" and "values V": the hits fired and the lines
 * read. Exit status 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emitd_probe.h"

#define MAX_VALUE	255	/* bytes of one value; the probe reads 31 of them */

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* @hex into @out (NUL-terminated); -EINVAL for odd length, a bad digit or a NUL byte. */
static int decode_hex(const char *hex, char *out, size_t out_sz)
{
	size_t n = 0;
	int hi, lo;

	if (!strcmp(hex, "-")) {
		out[0] = '\0';
		return 0;
	}
	while (hex[0]) {
		hi = hex_digit(hex[0]);
		lo = hi < 0 ? -1 : hex_digit(hex[1]);
		if (lo < 0 || n + 1 >= out_sz || (hi == 0 && lo == 0))
			return -EINVAL;
		out[n++] = (char)(hi << 4 | lo);
		hex += 2;
	}
	out[n] = '\0';
	return 0;
}

static void fire(const char *value, uint64_t count)
{
	uint64_t i;

	for (i = 0; i < count; i++)
		EMITD_PROBE1(label, hit, value);
}

int main(int argc, char **argv)
{
	char hex[2 * MAX_VALUE + 2], value[MAX_VALUE + 1];
	uint64_t count, events = 0, values = 0;
	unsigned int line = 0;
	FILE *f;
	int ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE   (lines of \"COUNT HEX\")\n", argv[0]);
		return 1;
	}
	f = fopen(argv[1], "r");
	if (!f) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (;;) {
		int n = fscanf(f, "%" SCNu64 " %511s", &count, hex);

		if (n == EOF)
			break;
		line++;
		if (n != 2 || decode_hex(hex, value, sizeof(value))) {
			fprintf(stderr, "%s:%u: want \"COUNT HEX\" (no NUL byte)\n", argv[1], line);
			goto out_close;
		}
		fire(value, count);
		events += count;
		values++;
	}
	printf("events %" PRIu64 "\nvalues %" PRIu64 "\n", events, values);
	ret = 0;
out_close:
	fclose(f);
	return ret;
}
