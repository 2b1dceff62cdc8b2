/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * labelenc: the value of a string label, from the bytes a probed process sent.
 *
 * The probed process chooses every byte of a string label, so the encoding is
 * injective: distinct byte strings always give distinct label values, and no
 * byte string gives EMITD_OTHER_VALUE, the value of the cardinality guard's
 * overflow series (the store writes that one itself). Two samples of a page
 * can therefore never share a label set, and no series is merged or dropped.
 *
 * The rules, applied left to right:
 * - the whole value exactly EMITD_OTHER_VALUE ("__other__") becomes
 *   "\__other__" (a backslash, then the value);
 * - a backslash becomes two backslashes;
 * - each byte of an ill-formed UTF-8 sequence (utf8__seq()'s maximal
 *   subparts: stray continuation bytes, overlongs, surrogates, code points
 *   above U+10FFFF, truncated sequences) becomes the four characters "\xHH",
 *   HH its value in lower-case hex;
 * - well-formed UTF-8 is copied byte for byte.
 * A backslash in a result is thus always followed by a backslash, by an "x"
 * and two hex digits, or (only at the start of "\__other__") by "_": the bytes
 * can be read back, and the map is injective.
 *
 * The result is valid UTF-8 without NUL, at most LABELENC_SIZE(strlen(in))
 * bytes with its NUL (31 input bytes, EMITD_LABEL_LEN - 1: 124 + 1).
 * Exposition escaping (lib/expo.h) applies to the result as to any value, so
 * a backslash of the target's shows as four on a page.
 *
 * Pure: plain strings in and out.
 */
#ifndef EMITD_LABELENC_H
#define EMITD_LABELENC_H

#include <stddef.h>

/* Bytes @out needs for an input of @n bytes, NUL included. */
#define LABELENC_SIZE(n)	(4 * (n) + 1)

/*
 * Writes the label value of the C string @in to @out (NUL-terminated).
 * 0, or -ENOSPC when @out_sz is smaller than the result needs (then @out
 * holds ""); LABELENC_SIZE(strlen(@in)) is always enough.
 */
int labelenc__encode(const char *in, char *out, size_t out_sz);

#endif /* EMITD_LABELENC_H */
