/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * spec/hash: the spec's canonical form and its hash, the provenance of
 * everything built from a spec.
 *
 * `emitd gen` writes the hash into dashboards/manifest.json and the alert
 * that compares it with a running agent's; the agent exports the hash of
 * the spec it runs as emitd_spec_info{sha256}. Both take it from here, so
 * the two cannot disagree on what "the same spec" means.
 *
 * Pure: a struct spec in, bytes out (OpenSSL EVP for the digest).
 */
#ifndef EMITD_SPEC_HASH_H
#define EMITD_SPEC_HASH_H

#include <stddef.h>

#include "spec/spec.h"

#define SPEC_SHA256_HEX		65	/* 64 lowercase hex digits and a NUL */

/* Lowercase hex SHA-256 of @buf; 0 or -EIO. */
int spec__sha256_hex(const void *buf, size_t len, char hex[SPEC_SHA256_HEX]);
/*
 * The canonical form: compact JSON of the parsed model with keys in a fixed
 * order (caller frees; NULL when out of memory). Key order, comments,
 * quoting and layout of the YAML do not change it; any change to a value or
 * to list order does. A field added to struct spec is added here too.
 */
char *spec__canonical(const struct spec *spec);
/* SHA-256 of spec__canonical(); 0, -ENOMEM or -EIO. */
int spec__hash(const struct spec *spec, char hex[SPEC_SHA256_HEX]);

#endif /* EMITD_SPEC_HASH_H */
