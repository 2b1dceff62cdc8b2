// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Accept and Accept-Encoding negotiation (user/agent/negotiate.h), on any
 * header bytes. The input is split at its first NUL: Accept before it,
 * Accept-Encoding after it (the whole input is Accept when there is none).
 *
 * Invariants: the answer is one of the two formats and the same on a second
 * call; OpenMetrics needs a range that can match it, an application/ type or
 * the any-type wildcard ("text/plain;q=0.5" plus that wildcard is
 * OpenMetrics: the wildcard gives it q=1, text has its own q=0.5);
 * gzip needs "gzip" or "*" in Accept-Encoding; an absent header gives text
 * 0.0.4 and no gzip.
 */
#include <strings.h>

#include "agent/negotiate.h"
#include "fuzz.h"

static bool has_token(const char *h, const char *tok)
{
	size_t n = strlen(tok);

	for (; *h; h++) {
		if (!strncasecmp(h, tok, n))
			return true;
	}
	return false;
}

static void check_format(const char *accept)
{
	enum expo_format fmt = negotiate__format(accept);

	FUZZ_ASSERT(fmt == EXPO_FMT_TEXT_004 || fmt == EXPO_FMT_OPENMETRICS_100);
	FUZZ_ASSERT(negotiate__format(accept) == fmt);
	if (fmt == EXPO_FMT_OPENMETRICS_100)
		FUZZ_ASSERT(has_token(accept, "application/") || strstr(accept, "*/*"));
	FUZZ_ASSERT(negotiate__content_type(fmt));
}

static void check_gzip(const char *encoding)
{
	bool gz = negotiate__accepts_gzip(encoding);

	FUZZ_ASSERT(negotiate__accepts_gzip(encoding) == gz);
	if (gz)
		FUZZ_ASSERT(has_token(encoding, "gzip") || strchr(encoding, '*'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	size_t n = strlen(s);

	check_format(s);
	check_gzip(s);
	if (n < size) {
		check_format(s + n + 1);
		check_gzip(s + n + 1);
	}
	FUZZ_ASSERT(negotiate__format(NULL) == EXPO_FMT_TEXT_004);
	FUZZ_ASSERT(!negotiate__accepts_gzip(NULL));
	free(s);
	return 0;
}
