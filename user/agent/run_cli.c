// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * run_cli: `emitd run`'s options, one table (see run_cli.h).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "agent/http.h"
#include "agent/run_cli.h"
#include "emitd.h"
#include "lib/cadence.h"
#include "lib/channels.h"
#include "lib/log.h"

struct run_flag;

/*
 * Parse @arg for the row @f into @o. @src names where @arg came from
 * ("--pid", or the environment variable) for the message of a bad value.
 * 0, 1 to stop (--help), or -EINVAL after logging the reason.
 */
typedef int (*run_parse_fn)(const struct run_flag *f, const char *src, const char *arg,
			    struct run_cli_opts *o);

enum run_row {
	ROW_FLAG = 0,
	ROW_HEADING,	/* a group heading in --help */
	ROW_CADENCE,	/* expands to one flag row per adaptive-drain setting */
};

struct run_flag {
	enum run_row row;
	const char *flag;	/* the long name, without dashes */
	const char *alias;	/* another long name for it; NULL: none */
	char short_name;	/* 0: none */
	const char *env;	/* the environment variable; NULL: none */
	const char *def;	/* applied first, shown in --help; NULL: none */
	const char *help;	/* wrapped at WRAP_COL in --help */
	const char *arg;	/* the value's name in --help; NULL: the flag takes none */
	run_parse_fn parse;
	size_t off;		/* the field in struct run_cli_opts (generic parsers) */
	unsigned long min;	/* integer values */
	unsigned long max;
};

#define OFF(field)	offsetof(struct run_cli_opts, agent.field)
#define HEADING(text)	{ .row = ROW_HEADING, .help = (text) }

#define RINGBUF_DEFAULT	"262144"	/* the sample lane's size in bpf/emit.bpf.c */
#define MAX_ROWS	128		/* the table, with the drain settings expanded */
#define OPT_ROW		256		/* getopt value of row i without a short name: + i */
#define HELP_COL	34		/* where the help text starts in --help */
#define WRAP_COL	96		/* and where it wraps */


static void *field(const struct run_flag *f, struct run_cli_opts *o)
{
	return (char *)o + f->off;
}

static int bad_value(const char *src, const char *arg, const char *expect)
{
	log_err("%s: invalid value '%s' (expected %s)", src, arg, expect);
	return -EINVAL;
}

static bool to_ulong(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && end != s && !*end && s[0] != '-';
}

/* An integer in [f->min, f->max]. */
static int parse_ulong(const struct run_flag *f, const char *src, const char *arg,
		       unsigned long *out)
{
	char expect[48];

	if (to_ulong(arg, out) && *out >= f->min && *out <= f->max)
		return 0;
	snprintf(expect, sizeof(expect), "%lu..%lu", f->min, f->max);
	return bad_value(src, arg, expect);
}

static int parse_str(const struct run_flag *f, const char *src, const char *arg,
		     struct run_cli_opts *o)
{
	(void)src;
	*(const char **)field(f, o) = arg;
	return 0;
}

static int parse_metrics_path(const struct run_flag *f, const char *src, const char *arg,
			      struct run_cli_opts *o)
{
	if (!http__valid_metrics_path(arg))
		return bad_value(src, arg, "a path such as /metrics: printable, no space, '?' "
				 "or '#', and none of /healthz, /snapshot, /normalization, /-/reload");
	return parse_str(f, src, arg, o);
}

static int parse_true(const struct run_flag *f, const char *src, const char *arg,
		      struct run_cli_opts *o)
{
	(void)src;
	(void)arg;
	*(bool *)field(f, o) = true;
	return 0;
}

static int parse_u32(const struct run_flag *f, const char *src, const char *arg,
		     struct run_cli_opts *o)
{
	unsigned long v;

	if (parse_ulong(f, src, arg, &v))
		return -EINVAL;
	*(unsigned int *)field(f, o) = v;
	return 0;
}

static int parse_pid(const struct run_flag *f, const char *src, const char *arg,
		     struct run_cli_opts *o)
{
	unsigned long v;

	if (o->agent.nr_pids == RUN_CLI_MAX_PIDS) {
		log_err("%s: at most %d PIDs", src, RUN_CLI_MAX_PIDS);
		return -EINVAL;
	}
	if (parse_ulong(f, src, arg, &v))
		return -EINVAL;
	o->pids[o->agent.nr_pids++] = v;
	return 0;
}

static int parse_pid_file(const struct run_flag *f, const char *src, const char *arg,
			  struct run_cli_opts *o)
{
	(void)f;
	if (o->agent.nr_pid_files == RUN_CLI_MAX_PID_FILES) {
		log_err("%s: at most %d pid files", src, RUN_CLI_MAX_PID_FILES);
		return -EINVAL;
	}
	if (!arg[0])
		return bad_value(src, arg, "a file");
	o->pid_files[o->agent.nr_pid_files++] = arg;
	return 0;
}

static int parse_policy(const struct run_flag *f, const char *src, const char *arg,
			struct run_cli_opts *o)
{
	if (!strcmp(arg, "strict"))
		o->agent.best_effort = false;
	else if (!strcmp(arg, "best-effort"))
		o->agent.best_effort = true;
	else
		return bad_value(src, arg, f->arg);
	return 0;
}

static int parse_ringbuf(const struct run_flag *f, const char *src, const char *arg,
			 struct run_cli_opts *o)
{
	char expect[64];
	unsigned long v;

	if (to_ulong(arg, &v) && v >= f->min && v <= f->max && !(v & (v - 1))) {
		o->agent.ringbuf_bytes = v;
		return 0;
	}
	snprintf(expect, sizeof(expect), "a power of two, %lu..%lu", f->min, f->max);
	return bad_value(src, arg, expect);
}

static int parse_budget(const struct run_flag *f, const char *src, const char *arg,
			struct run_cli_opts *o)
{
	unsigned long v;

	if (parse_ulong(f, src, arg, &v))
		return -EINVAL;
	o->agent.batch.drain_budget_s = v / 1e3;
	return 0;
}

static int parse_trial(const struct run_flag *f, const char *src, const char *arg,
		       struct run_cli_opts *o)
{
	struct agent_batch_opts *b = &o->agent.batch;

	(void)f;
	if (b->nr_trial == AGENT_BATCH_MAX_TRIAL) {
		log_err("%s: at most %d metrics", src, AGENT_BATCH_MAX_TRIAL);
		return -EINVAL;
	}
	b->trial[b->nr_trial++] = arg;
	return 0;
}

static int parse_verbose(const struct run_flag *f, const char *src, const char *arg,
			 struct run_cli_opts *o)
{
	(void)f;
	(void)src;
	(void)arg;
	(void)o;
	log_set_level(LOG_LEVEL_DEBUG);
	return 0;
}

static int parse_help(const struct run_flag *f, const char *src, const char *arg,
		      struct run_cli_opts *o)
{
	(void)f;
	(void)src;
	(void)arg;
	(void)o;
	run_cli__usage(stdout);
	return 1;
}

static int parse_estimator(const struct run_flag *f, const char *src, const char *arg,
			   struct run_cli_opts *o)
{
	if (!strcmp(arg, "gaussian"))
		o->agent.signal.math.estimator = SIGNAL_EST_GAUSSIAN;
	else if (!strcmp(arg, "histogram"))
		o->agent.signal.math.estimator = SIGNAL_EST_HISTOGRAM;
	else
		return bad_value(src, arg, f->arg);
	return 0;
}

static int parse_window(const struct run_flag *f, const char *src, const char *arg,
			struct run_cli_opts *o)
{
	struct chan_config *ch = &o->agent.signal.chan;

	if (chan_config__parse_window(arg, &ch->window_kind, &ch->window_value))
		return bad_value(src, arg, f->help);
	return 0;
}

static int parse_align(const struct run_flag *f, const char *src, const char *arg,
		       struct run_cli_opts *o)
{
	if (chan_config__parse_align(arg, &o->agent.signal.chan.align))
		return bad_value(src, arg, f->arg);
	return 0;
}

static int parse_missing(const struct run_flag *f, const char *src, const char *arg,
			 struct run_cli_opts *o)
{
	struct chan_config *ch = &o->agent.signal.chan;

	if (chan_config__parse_missing(arg, &ch->missing, &ch->min_channels))
		return bad_value(src, arg, f->arg);
	return 0;
}

static int parse_seconds(const struct run_flag *f, const char *src, const char *arg,
			 struct run_cli_opts *o)
{
	double *out = field(f, o);
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	if (errno || end == arg || *end || !(*out >= 0.01 && *out <= 86400))
		return bad_value(src, arg, "seconds, 0.01..86400");
	return 0;
}

/* A duration in milliseconds: "15s", "500ms", "2m", within [f->min, f->max] ms. */
static int parse_duration(const struct run_flag *f, const char *src, const char *arg,
			  struct run_cli_opts *o)
{
	char expect[64], *end;
	double v, mul = 0;

	errno = 0;
	v = strtod(arg, &end);
	if (!strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60000;
	if (!errno && end != arg && mul && v * mul >= f->min && v * mul <= f->max) {
		*(unsigned int *)field(f, o) = (unsigned int)(v * mul);
		return 0;
	}
	snprintf(expect, sizeof(expect), "a duration such as 15s or 500ms, %lums..%lums",
		 f->min, f->max);
	return bad_value(src, arg, expect);
}

static int parse_rw_url(const struct run_flag *f, const char *src, const char *arg,
			struct run_cli_opts *o)
{
	struct remote_write_opts *rw = &o->agent.remote_write;

	(void)f;
	if (rw->nr_urls == RW_MAX_URLS) {
		log_err("%s: at most %d URLs", src, RW_MAX_URLS);
		return -EINVAL;
	}
	rw->urls[rw->nr_urls++] = arg;
	return 0;
}

static int parse_rw_label(const struct run_flag *f, const char *src, const char *arg,
			  struct run_cli_opts *o)
{
	struct remote_write_opts *rw = &o->agent.remote_write;

	(void)f;
	if (rw->nr_labels == RW_MAX_LABELS) {
		log_err("%s: at most %d labels", src, RW_MAX_LABELS);
		return -EINVAL;
	}
	if (!strchr(arg, '='))
		return bad_value(src, arg, "NAME=VALUE");
	rw->labels[rw->nr_labels++] = arg;
	return 0;
}

static int parse_rw_header(const struct run_flag *f, const char *src, const char *arg,
			   struct run_cli_opts *o)
{
	struct remote_write_opts *rw = &o->agent.remote_write;

	(void)f;
	if (rw->nr_headers == RW_MAX_LABELS) {
		log_err("%s: at most %d headers", src, RW_MAX_LABELS);
		return -EINVAL;
	}
	rw->headers[rw->nr_headers++] = arg;
	return 0;
}

/* An adaptive-drain setting: lib/cadence parses it and words the error. */
static int parse_cadence(const struct run_flag *f, const char *src, const char *arg,
			 struct run_cli_opts *o)
{
	bool from_env = src == f->env;
	char err[CADENCE_ERR_LEN];

	if (!cadence_config__set(&o->agent.batch.cadence, from_env ? f->env : f->flag, arg,
				 err, sizeof(err)))
		return 0;
	log_err("%s%s", from_env ? "" : "--", err);
	return -EINVAL;
}

/*
 * Every flag of `emitd run`, one row each: flag, short name, environment
 * variable, default, help, the value's name and its parser. --help lists
 * them in this order under their headings.
 */
static const struct run_flag run_flags[] = {
	HEADING("run options"),
	{ .flag = "spec", .short_name = 's', .arg = "FILE", .help = "the metric spec (YAML), required",
	  .parse = parse_str, .off = OFF(spec_path) },
	{ .flag = "web.listen-address", .alias = "listen", .short_name = 'l',
	  .def = HTTP_DEFAULT_LISTEN, .arg = "ADDR:PORT", .help = "HTTP listen address",
	  .parse = parse_str, .off = OFF(listen) },
	{ .flag = "web.telemetry-path", .def = HTTP_DEFAULT_METRICS_PATH, .arg = "PATH",
	  .help = "the path of the exposition", .parse = parse_metrics_path,
	  .off = OFF(telemetry_path) },
	{ .flag = "web.config.file", .arg = "FILE",
	  .help = "TLS, basic auth and response headers, in the Prometheus exporter-toolkit "
		  "format (see README); read once at start, refused with FILE:LINE:COL errors",
	  .parse = parse_str, .off = OFF(web_config_path) },
	{ .flag = "pid", .short_name = 'p', .arg = "PID",
	  .help = "attach to this process only (repeatable): a target's binary as the "
		  "process maps it (a shared library too), without one its executable, "
		  "through /proc/PID/root",
	  .parse = parse_pid, .min = 1, .max = INT_MAX },
	{ .flag = "pid-file", .arg = "FILE",
	  .help = "like --pid, for the process whose pid FILE holds (a service's pid file); "
		  "read again when that process exits, until it names a running one, which "
		  "is attached (repeatable)",
	  .parse = parse_pid_file },
	{ .flag = "attach-policy", .def = "strict", .arg = "strict|best-effort",
	  .help = "strict: a probe that cannot be attached stops the agent (exit 1) and "
		  "refuses a reload; best-effort: the others run, and each one without a link "
		  "is logged, listed in /healthz, exported as emitd_probe_attached 0 and "
		  "attached once its binary or process appears",
	  .parse = parse_policy },
	{ .flag = "follow-forks",
	  .help = "pid targets count their descendants too, each from its fork (as "
		  "follow_forks: true on every target; see docs/SPEC.md)",
	  .parse = parse_true, .off = OFF(follow_forks) },
	{ .flag = "interval-ms", .short_name = 'i', .arg = "MS",
	  .help = "drain at least every MS ms: sets --drain-max-interval-ms (and caps the "
		  "target and aggressive intervals), after every --drain-* flag",
	  .parse = parse_u32, .off = OFF(interval_ms), .min = 10, .max = 3600000 },
	{ .flag = "pin-root", .def = EMITD_PIN_ROOT, .arg = "DIR",
	  .help = "where maps and probe links are pinned (emitd detach removes the links)",
	  .parse = parse_str, .off = OFF(pin_root) },
	{ .flag = "ringbuf-bytes", .def = RINGBUF_DEFAULT, .arg = "N",
	  .help = "sample-lane ring buffer size, a power of two",
	  .parse = parse_ringbuf, .min = 4096, .max = 1UL << 30 },
	{ .flag = "exit-after-ms", .def = "0", .arg = "MS",
	  .help = "exit cleanly after MS milliseconds (tests, benchmarks); 0: run until signalled",
	  .parse = parse_u32, .off = OFF(exit_after_ms), .min = 0, .max = UINT_MAX },
	{ .flag = "drain-per-key",
	  .help = "read maps key by key, never in batches (what emitd falls back to when "
		  "the kernel refuses batch lookups)",
	  .parse = parse_true, .off = OFF(per_key) },
	{ .flag = "drain-budget-ms", .def = "50", .arg = "MS",
	  .help = "time for one drain before the normal lane waits for the next one (at "
		  "most one); the hot lane always drains; 0: no budget",
	  .parse = parse_budget, .min = 0, .max = 60000 },
	{ .flag = "drain-on-scrape", .help = "each /metrics request waits for a fresh drain",
	  .parse = parse_true, .off = OFF(drain_on_scrape) },
	{ .flag = "hist-trial", .arg = "METRIC",
	  .help = "histogram trial mode: also sample raw values and export "
		  "emitd_hist_quantile_deviation (repeatable)",
	  .parse = parse_trial },
	{ .flag = "verbose", .short_name = 'v', .help = "debug logs, including libbpf's",
	  .parse = parse_verbose },
	{ .flag = "help", .short_name = 'h', .help = "this text", .parse = parse_help },

	HEADING("adaptive drain (see docs/BATCHING.md)"),
	{ .row = ROW_CADENCE },

	HEADING("signal metrics (channels: the series of `signal: true` metrics)"),
	{ .flag = "signal-estimator", .def = "gaussian", .arg = "gaussian|histogram",
	  .help = "entropy estimator", .parse = parse_estimator },
	{ .flag = "signal-window", .def = "60s", .arg = "W",
	  .help = "a duration (60s, 1500ms, 5m) or a sample count", .parse = parse_window },
	{ .flag = "signal-align", .def = "sample-and-hold", .arg = "sample-and-hold|nearest|linear",
	  .help = "how channels are aligned in time", .parse = parse_align },
	{ .flag = "signal-missing", .def = "drop-incomplete",
	  .arg = "drop-incomplete|allow-partial:N|fill-last-known",
	  .help = "grid points missing a channel", .parse = parse_missing },
	{ .flag = "signal-every-drains", .def = "10", .arg = "N", .help = "compute every N drains ...",
	  .parse = parse_u32, .off = OFF(signal.every_drains), .min = 1, .max = 1000000 },
	{ .flag = "signal-every-ms", .def = "10000", .arg = "MS",
	  .help = "... or every MS ms, whichever comes first",
	  .parse = parse_u32, .off = OFF(signal.every_ms), .min = 1, .max = 86400000 },

	HEADING("remote write (Prometheus remote write 1.0; see docs/FLEET.md)"),
	{ .flag = "remote-write.url", .arg = "URL",
	  .help = "push every interval's snapshot to this receiver, e.g. "
		  "http://prometheus:9090/api/v1/write (repeatable)",
	  .parse = parse_rw_url },
	{ .flag = "remote-write.interval", .def = "15s", .arg = "DURATION",
	  .help = "how often the drained snapshot is queued",
	  .parse = parse_duration, .off = OFF(remote_write.interval_ms), .min = 100,
	  .max = 3600000 },
	{ .flag = "remote-write.label", .arg = "NAME=VALUE",
	  .help = "an external label added to every series that lacks it, e.g. "
		  "instance=node1 (repeatable)",
	  .parse = parse_rw_label },
	{ .flag = "remote-write.header", .arg = "NAME=VALUE",
	  .help = "an HTTP header sent with every request, e.g. X-Scope-OrgID=tenant1 for "
		  "Mimir or Cortex (repeatable)",
	  .parse = parse_rw_header },
	{ .flag = "remote-write.queue-samples", .def = "100000", .arg = "N",
	  .help = "samples queued per URL while a receiver is down; past it the oldest "
		  "snapshot is dropped (counted)",
	  .parse = parse_u32, .off = OFF(remote_write.queue_samples), .min = 1, .max = 100000000 },
	{ .flag = "remote-write.batch-samples", .def = "2000", .arg = "N",
	  .help = "samples per request",
	  .parse = parse_u32, .off = OFF(remote_write.batch_samples), .min = 1, .max = 1000000 },
	{ .flag = "remote-write.timeout", .def = "10s", .arg = "DURATION",
	  .help = "time for one request", .parse = parse_duration,
	  .off = OFF(remote_write.timeout_ms), .min = 100, .max = 600000 },
	{ .flag = "remote-write.basic-auth-username", .arg = "USER",
	  .help = "basic auth toward the receivers", .parse = parse_str,
	  .off = OFF(remote_write.basic_auth_user) },
	{ .flag = "remote-write.basic-auth-password-file", .arg = "FILE",
	  .help = "the basic auth password, read once at start", .parse = parse_str,
	  .off = OFF(remote_write.basic_auth_password_file) },
	{ .flag = "remote-write.bearer-token-file", .arg = "FILE",
	  .help = "a bearer token (Authorization: Bearer), read once at start",
	  .parse = parse_str, .off = OFF(remote_write.bearer_token_file) },
	{ .flag = "remote-write.tls-ca-file", .arg = "FILE",
	  .help = "CA certificates to verify https receivers with", .parse = parse_str,
	  .off = OFF(remote_write.tls_ca_file) },
	{ .flag = "remote-write.tls-cert-file", .arg = "FILE",
	  .help = "client certificate for https receivers", .parse = parse_str,
	  .off = OFF(remote_write.tls_cert_file) },
	{ .flag = "remote-write.tls-key-file", .arg = "FILE",
	  .help = "its private key", .parse = parse_str, .off = OFF(remote_write.tls_key_file) },
	{ .flag = "remote-write.tls-insecure-skip-verify",
	  .help = "do not verify the receiver's certificate (tests only)", .parse = parse_true,
	  .off = OFF(remote_write.tls_insecure_skip_verify) },

	HEADING("normalization telemetry"),
	{ .flag = "norm-csv", .arg = "PATH",
	  .help = "export each normalization window as CSV (atomic replace); a second "
		  "metric writes PATH-stem-<metric>.csv",
	  .parse = parse_str, .off = OFF(norm.csv_path) },
	{ .flag = "norm-csv-interval", .def = "10", .arg = "S",
	  .help = "seconds between exports, 0.01..86400",
	  .parse = parse_seconds, .off = OFF(norm.csv_interval_s) },
	{ .flag = "norm-history", .def = "2048", .arg = "N", .help = "events in the rolling window",
	  .parse = parse_u32, .off = OFF(norm.history_limit), .min = 1, .max = 1U << 20 },
};

#define NR_RUN_FLAGS	(sizeof(run_flags) / sizeof(run_flags[0]))

/* The table with its ROW_CADENCE row expanded into @rows; returns their number. */
static size_t rows__expand(struct run_flag *rows)
{
	const struct cadence_setting_info *si;
	size_t i, n = 0;
	unsigned int j;

	for (i = 0; i < NR_RUN_FLAGS && n < MAX_ROWS; i++) {
		if (run_flags[i].row != ROW_CADENCE) {
			rows[n++] = run_flags[i];
			continue;
		}
		for (j = 0; (si = cadence_config__setting(j)) && n < MAX_ROWS; j++)
			rows[n++] = (struct run_flag){
				.flag = si->flag, .env = si->env, .def = si->def,
				.help = si->help, .arg = si->arg, .parse = parse_cadence,
			};
	}
	return n;
}

/*
 * Write @text word by word from column *@col, wrapping past WRAP_COL;
 * @whole: as one word.
 */
static void put_words(FILE *f, const char *text, bool whole, int *col)
{
	const char *p = text;
	int len;

	while (*p) {
		len = whole ? (int)strlen(p) : (int)strcspn(p, " ");
		if (*col > HELP_COL && *col + 1 + len > WRAP_COL)
			*col = fprintf(f, "\n%*s", HELP_COL, "") - 1;
		else if (*col > HELP_COL)
			*col += fprintf(f, " ");
		*col += fprintf(f, "%.*s", len, p);
		p += len;
		p += strspn(p, " ");
	}
}

static void usage_flag(FILE *f, const struct run_flag *r)
{
	char def[96];
	int col;

	if (r->short_name)
		col = fprintf(f, "  -%c, --%s", r->short_name, r->flag);
	else
		col = fprintf(f, "      --%s", r->flag);
	if (r->arg)
		col += fprintf(f, " %s", r->arg);
	if (col >= HELP_COL)
		col = fprintf(f, "\n") - 1;
	col += fprintf(f, "%*s", HELP_COL - col, "");
	put_words(f, r->help, false, &col);
	if (r->alias) {
		snprintf(def, sizeof(def), "(alias --%s)", r->alias);
		put_words(f, def, true, &col);
	}
	if (r->def) {
		snprintf(def, sizeof(def), "(default %s)", r->def);
		put_words(f, def, true, &col);
	}
	fputc('\n', f);
	if (r->env)
		fprintf(f, "%*senvironment: %s\n", HELP_COL, "", r->env);
}

void run_cli__usage(FILE *f)
{
	struct run_flag rows[MAX_ROWS];
	size_t i, n = rows__expand(rows);

	fprintf(f, "Usage: emitd run --spec FILE [OPTIONS]\n"
		"\n"
		"Attach the spec's probes, aggregate in the kernel, serve /metrics.\n"
		"An option with an environment variable reads it first; the flag wins.\n");
	for (i = 0; i < n; i++) {
		if (rows[i].row == ROW_HEADING)
			fprintf(f, "\n%s:\n", rows[i].help);
		else
			usage_flag(f, &rows[i]);
	}
	fprintf(f, "\nExit status: 0 success or clean signalled exit, 1 invalid spec or runtime error,\n"
		"2 usage error.\n");
}

/* getopt_long's long options and short option string, from the rows. */
static void rows__getopt(const struct run_flag *rows, size_t n, struct option *opts, char *shorts)
{
	size_t i, k = 0;

	*shorts++ = ':';	/* a missing value returns ':' */
	for (i = 0; i < n; i++) {
		if (rows[i].row != ROW_FLAG)
			continue;
		opts[k++] = (struct option){
			rows[i].flag, rows[i].arg ? required_argument : no_argument, NULL,
			rows[i].short_name ? rows[i].short_name : OPT_ROW + (int)i,
		};
		if (rows[i].alias) {
			opts[k] = opts[k - 1];
			opts[k++].name = rows[i].alias;
		}
		if (!rows[i].short_name)
			continue;
		*shorts++ = rows[i].short_name;
		if (rows[i].arg)
			*shorts++ = ':';
	}
	memset(&opts[k], 0, sizeof(opts[k]));
	*shorts = '\0';
}

static const struct run_flag *rows__find(const struct run_flag *rows, size_t n, int c)
{
	size_t i;

	if (c >= OPT_ROW && (size_t)(c - OPT_ROW) < n)
		return &rows[c - OPT_ROW];
	for (i = 0; i < n; i++)
		if (rows[i].row == ROW_FLAG && rows[i].short_name == c)
			return &rows[i];
	return NULL;
}

/* Apply a row's value given as --@name (or its default), naming it so on error. */
static int row__apply(const struct run_flag *r, const char *name, const char *arg,
		      struct run_cli_opts *o)
{
	char src[64];

	snprintf(src, sizeof(src), "--%s", name);
	return r->parse(r, src, arg, o);
}

/* The defaults of the table, then the environment variables. */
static int rows__apply_defaults_env(const struct run_flag *rows, size_t n, struct run_cli_opts *o)
{
	char err[CADENCE_ERR_LEN];
	const char *v;
	size_t i;

	for (i = 0; i < n; i++)
		if (rows[i].row == ROW_FLAG && rows[i].def &&
		    row__apply(&rows[i], rows[i].flag, rows[i].def, o))
			return -EINVAL;
	for (i = 0; i < n; i++) {
		if (rows[i].row != ROW_FLAG || !rows[i].env || !(v = getenv(rows[i].env)))
			continue;
		if (rows[i].parse(&rows[i], rows[i].env, v, o))
			return -EINVAL;
	}
	if (!cadence_config__validate(&o->agent.batch.cadence, err, sizeof(err)))
		return 0;
	log_err("%s", err);
	return -EINVAL;
}

static int log_getopt_error(int c, char **argv)
{
	const char *opt = argv[optind - 1];

	if (c == ':')
		log_err("run: %s needs a value", opt);
	else if (!strncmp(opt, "--", 2) && optopt)
		log_err("run: %s takes no value", opt);
	else if (optopt)
		log_err("run: unknown option '-%c'", optopt);
	else
		log_err("run: unknown option '%s'", opt);
	return -EINVAL;
}

static int parse_flags(const struct run_flag *rows, size_t n, int argc, char **argv,
		       struct run_cli_opts *o)
{
	struct option opts[2 * MAX_ROWS + 1];	/* a row and its alias */
	const struct run_flag *r;
	char shorts[2 * MAX_ROWS + 2];
	int c, ret, li;

	rows__getopt(rows, n, opts, shorts);
	optind = 0;	/* glibc: a full reset, for callers that parse twice */
	opterr = 0;	/* the errors are logged here */
	while ((li = -1, c = getopt_long(argc, argv, shorts, opts, &li)) != -1) {
		r = rows__find(rows, n, c);
		if (!r)
			return log_getopt_error(c, argv);
		/* named as typed: --listen or --web.listen-address */
		ret = row__apply(r, li >= 0 ? opts[li].name : r->flag, optarg, o);
		if (ret)
			return ret;
	}
	if (optind != argc) {
		log_err("run: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* --interval-ms N: drain at least every N ms (the cadence's max interval). */
static void set_fixed_interval(struct cadence_config *cfg, unsigned long ms)
{
	cfg->max_interval_ms = ms;
	if (cfg->target_interval_ms > ms)
		cfg->target_interval_ms = ms;
	if (cfg->aggressive_interval_ms > ms)
		cfg->aggressive_interval_ms = 0;
}

/* What no flag sets. */
static void run_cli_opts__init(struct run_cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->agent.pids = o->pids;
	o->agent.pid_files = o->pid_files;
	agent_signal_opts__init(&o->agent.signal);
	agent_batch_opts__init(&o->agent.batch);
	remote_write_opts__init(&o->agent.remote_write);
	o->agent.norm.json_last = 256;
}

int run_cli__parse(struct run_cli_opts *o, int argc, char **argv)
{
	struct run_flag rows[MAX_ROWS];
	size_t n = rows__expand(rows);
	char err[CADENCE_ERR_LEN];
	int ret;

	run_cli_opts__init(o);
	ret = rows__apply_defaults_env(rows, n, o);
	if (!ret)
		ret = parse_flags(rows, n, argc, argv, o);
	if (ret)
		return ret;
	if (!o->agent.spec_path) {
		log_err("run: --spec FILE is required");
		return -EINVAL;
	}
	if (o->agent.interval_ms)
		set_fixed_interval(&o->agent.batch.cadence, o->agent.interval_ms);
	if (!cadence_config__validate(&o->agent.batch.cadence, err, sizeof(err)))
		return 0;
	log_err("drain settings: %s", err);
	return -EINVAL;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	switch (level) {
	case LIBBPF_WARN:
		return log_vraw(LOG_LEVEL_WARN, fmt, ap);
	case LIBBPF_INFO:
		return log_vraw(LOG_LEVEL_INFO, fmt, ap);
	default:
		return log_vraw(LOG_LEVEL_DEBUG, fmt, ap);
	}
}

int run_cli__main(int argc, char **argv)
{
	struct run_cli_opts o;
	int ret;

	ret = run_cli__parse(&o, argc, argv);
	if (ret > 0)
		return 0;
	if (ret) {
		run_cli__usage(stderr);
		return 2;
	}
	libbpf_set_print(libbpf_print);
	return agent__run(&o.agent) ? 1 : 0;
}
