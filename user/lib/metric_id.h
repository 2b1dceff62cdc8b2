/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Metric IDs are the first 32 bits of SHA-256 of the full metric name, so they
 * stay the same when a spec is reordered and pinned maps keep their meaning
 * across agent restarts. The agent refuses a spec in which two names collide.
 */
#ifndef EMITD_METRIC_ID_H
#define EMITD_METRIC_ID_H

#include <stddef.h>
#include <stdint.h>

/* Never 0: 0 marks an empty configuration slot. */
uint32_t emitd_metric_id(const char *full_name);

/*
 * What a metric's stored series mean: SHA-256 of @len bytes that describe
 * it (kind, value type, bucket bounds, label kinds), first 64 bits.
 */
uint64_t emitd_metric_sig(const void *desc, size_t len);

#endif /* EMITD_METRIC_ID_H */
