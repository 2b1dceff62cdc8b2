/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * utf8: one rule for the strings that come from probed processes, so a label
 * value reads the same at /metrics, in JSON and in CSV.
 */
#ifndef EMITD_UTF8_H
#define EMITD_UTF8_H

/*
 * Length of the well-formed UTF-8 sequence at @s (Unicode table 3-7), or the
 * negated length of its maximal ill-formed subpart (at least 1 byte): callers
 * replace that subpart with one U+FFFD. @s is NUL-terminated and *s != 0; a
 * NUL never passes a continuation check, so a scan stops at the terminator.
 */
int utf8__seq(const unsigned char *s);

#endif /* EMITD_UTF8_H */
