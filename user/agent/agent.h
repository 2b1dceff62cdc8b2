/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * agent: `emitd run`. Loads the spec, starts the HTTP server, loads and
 * attaches the BPF side, then drains on a fixed interval and publishes an
 * immutable rendering for scrapes until SIGINT/SIGTERM.
 */
#ifndef EMITD_AGENT_H
#define EMITD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/drain.h"
#include "agent/norm.h"
#include "agent/remote_write.h"
#include "agent/signal.h"

struct agent_opts {
	const char *spec_path;
	const char *listen;		/* ADDR:PORT */
	const char *telemetry_path;	/* the exposition's path; NULL: /metrics */
	const char *web_config_path;	/* exporter-toolkit web config; NULL: none */
	const pid_t *pids;
	size_t nr_pids;
	const char *const *pid_files;	/* --pid-file: read again when its process exits */
	size_t nr_pid_files;
	bool best_effort;		/* --attach-policy best-effort (default strict) */
	bool follow_forks;		/* --follow-forks: pid targets follow their children */
	struct agent_batch_opts batch;	/* adaptive cadence, budgets, trial mode */
	bool drain_on_scrape;		/* each /metrics waits for a fresh drain */
	unsigned int interval_ms;	/* --interval-ms: the cadence's max interval */
	const char *pin_root;
	size_t ringbuf_bytes;
	bool per_key;			/* --drain-per-key */
	unsigned int exit_after_ms;	/* 0: run until signalled */
	struct agent_signal_opts signal;
	struct agent_norm_opts norm;
	struct remote_write_opts remote_write;
};

/* Returns 0 on a clean, signalled exit; a negative errno otherwise. */
int agent__run(const struct agent_opts *opts);

#endif /* EMITD_AGENT_H */
