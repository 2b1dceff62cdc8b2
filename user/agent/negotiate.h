/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * negotiate: which representation a scrape gets, from its Accept and
 * Accept-Encoding headers, and the Content-Type naming it. Pure: parses the
 * header strings it is given (any bytes, NULL for an absent header), never
 * fails, allocates nothing.
 */
#ifndef EMITD_NEGOTIATE_H
#define EMITD_NEGOTIATE_H

#include <stdbool.h>

#include "lib/expo.h"

/*
 * "text/plain; version=0.0.4; charset=utf-8" or
 * "application/openmetrics-text; version=1.0.0; charset=utf-8".
 */
const char *negotiate__content_type(enum expo_format fmt);

/*
 * Picks the format for an Accept header (RFC 9110 section 12.5.1).
 *
 * Media ranges are parsed with their parameters and q-values; a malformed
 * range (bad syntax, a q-value that is not 0..1 with at most 3 decimals) is
 * ignored, the others still count. Each of our two representations,
 *   text/plain; version=0.0.4
 *   application/openmetrics-text; version=1.0.0
 * takes its q from the most specific range matching it: type/subtype with a
 * matching `version` > type/subtype without `version` > type/ * > * / *.
 * A range naming another version (text/plain;version=1.0.0,
 * application/openmetrics-text;version=0.0.1) does not match: we would
 * otherwise answer with a Content-Type the client did not accept, and the
 * OpenMetrics spec defines only 1.0.0 (0.0.1 was a pre-standard draft).
 * Parameters other than `version` (charset, escaping, ...) are ignored: our
 * metric and label names are always legacy-charset, so every escaping scheme
 * yields the same bytes.
 *
 * OpenMetrics is chosen when its q is > 0 and higher than the text q, or
 * equal to it and OpenMetrics was named explicitly (not only through a
 * wildcard). Anything else, a NULL, empty or unparseable header, or nothing
 * acceptable at all, gives text 0.0.4, the Prometheus last resort.
 */
enum expo_format negotiate__format(const char *accept_header);

/*
 * True when an Accept-Encoding header accepts gzip: "gzip" (or its alias
 * "x-gzip") with q > 0, else "*" with q > 0; and, if "identity" is listed
 * explicitly, gzip's q is not lower than identity's. NULL → false.
 */
bool negotiate__accepts_gzip(const char *accept_encoding);

#endif /* EMITD_NEGOTIATE_H */
