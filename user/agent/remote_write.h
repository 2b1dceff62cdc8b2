/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * remote_write: push the drained snapshot to Prometheus remote-write
 * receivers (remote write 1.0: protobuf WriteRequest through protobuf-c,
 * snappy block compression, POST with Content-Encoding: snappy,
 * Content-Type: application/x-protobuf, X-Prometheus-Remote-Write-Version:
 * 0.1.0).
 *
 * Every interval the agent offers its latest published text rendering; it is
 * read back into samples (lib/expo_parse.h), stamped with the publication
 * time, given the external labels and queued once per URL. Each URL has its
 * own sender thread, its own bounded queue and its own HTTP connection.
 *
 * Accounting, per URL, every sample exactly once at the end:
 *   queued = sent + dropped + still queued
 * - sent: in a request the receiver answered 2xx;
 * - retried: each time a request holding it failed with a network error, a
 *   5xx or a 429 and was sent again after an exponential backoff (so a
 *   sample retried twice counts twice here, and once in sent or dropped);
 * - dropped: in a request answered with another 4xx (never retried), or
 *   pushed out of a full queue (oldest snapshot first: counters are
 *   cumulative, so a later snapshot carries every count the dropped one had).
 *
 * Thread safety: offer() and stats() may be called from any one thread at a
 * time each; the senders are internal.
 */
#ifndef EMITD_REMOTE_WRITE_H
#define EMITD_REMOTE_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RW_MAX_URLS		8
#define RW_MAX_LABELS		16
#define RW_DEFAULT_INTERVAL_MS	15000
#define RW_DEFAULT_QUEUE	100000	/* samples per URL */
#define RW_DEFAULT_BATCH	2000	/* samples per request */
#define RW_DEFAULT_TIMEOUT_MS	10000
#define RW_MIN_BACKOFF_MS	100
#define RW_MAX_BACKOFF_MS	5000

struct remote_write_opts {
	const char *urls[RW_MAX_URLS];
	size_t nr_urls;
	const char *labels[RW_MAX_LABELS];	/* external labels, "name=value" */
	size_t nr_labels;
	const char *headers[RW_MAX_LABELS];	/* extra HTTP headers, "Name=value" */
	size_t nr_headers;
	unsigned int interval_ms;
	unsigned int queue_samples;
	unsigned int batch_samples;
	unsigned int timeout_ms;
	unsigned int min_backoff_ms;
	unsigned int max_backoff_ms;
	const char *basic_auth_user;
	const char *basic_auth_password_file;
	const char *bearer_token_file;
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	bool tls_insecure_skip_verify;
};

struct remote_write_url_stats {
	const char *url;		/* without user information */
	uint64_t sent, retried, dropped;
	uint64_t queued;		/* samples waiting now */
	double last_success_s;		/* Unix time of the last 2xx; 0: none yet */
};

struct remote_write;

void remote_write_opts__init(struct remote_write_opts *o);
/* Checks the options (URLs, labels, files); errors are logged. */
int remote_write__new(const struct remote_write_opts *o, struct remote_write **out);
/* Stops the senders (an in-flight request may take up to timeout_ms). */
void remote_write__free(struct remote_write *rw);

/* True when an offer is due at monotonic @now_ms. */
bool remote_write__due(const struct remote_write *rw, uint64_t now_ms);
/*
 * Queue the samples of the text exposition @text (@len bytes), stamped
 * @wall_ms, for every URL; @now_ms starts the next interval.
 */
int remote_write__offer(struct remote_write *rw, const char *text, size_t len,
			int64_t wall_ms, uint64_t now_ms);

/* A copy of the counters of URL @i (i < nr_urls); false past the last. */
bool remote_write__stats(struct remote_write *rw, size_t i, struct remote_write_url_stats *out);

/* What a receiver's answer means: 1 sent, 0 retry, -1 drop. Pure. */
int remote_write__classify(long http_status);

#endif /* EMITD_REMOTE_WRITE_H */
