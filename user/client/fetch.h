/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fetch: a bounded HTTP GET with libcurl, for the CLI commands that read a
 * running agent (`emitd snapshot`, `emitd norm report`).
 */
#ifndef EMITD_FETCH_H
#define EMITD_FETCH_H

#include "lib/expo.h"

#define FETCH_MAX_BYTES		(64UL << 20)
#define FETCH_TIMEOUT_S		10

/*
 * GET @url into @out. Returns 0 on a 200 response, -EPROTO with *status set
 * on any other status, -ECONNREFUSED/-ETIMEDOUT/-EFBIG/-EIO otherwise; @err
 * (may be NULL) receives a one-line reason.
 */
int fetch__get(const char *url, struct expo_buf *out, long *status, char *err, size_t errlen);

#endif /* EMITD_FETCH_H */
