// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * emitd: subcommands dispatched through a table, bpftool style.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "lib/expo.h"
#include "client/fetch.h"
#include "gen/gen.h"
#include "lib/norm.h"
#include "emitd.h"
#include "spec/promql_lint.h"
#include "lib/log.h"
#include "spec/spec.h"

#ifndef EMITD_VERSION
#define EMITD_VERSION "0.1.0"
#endif

#define MAX_PIDS 64

static const char *prog = "emitd";

/* The adaptive drain settings: a flag and an environment variable each. */
static void usage_cadence(FILE *f)
{
	const struct cadence_setting_info *si;
	unsigned int i;

	fprintf(f, "\nadaptive drain (flag, or environment variable; flags win):\n");
	for (i = 0; (si = cadence_config__setting(i)); i++)
		fprintf(f, "      --%-28s %s\n        %-28s   %s\n", si->flag, si->env, "", si->help);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  run --spec FILE [--listen ADDR:PORT] [--pid PID ...] [--interval-ms MS]\n"
		"                     attach the spec's probes, aggregate in the kernel, serve /metrics\n"
		"  lint FILE          validate a spec; errors are FILE:LINE:COL: error: FIELD: MESSAGE\n"
		"  gen --spec FILE --out DIR [--check]\n"
		"                     generate the metric-ID header, catalog, Grafana dashboards and\n"
		"                     Prometheus rules; --check exits 6/8/9/10 on drift\n"
		"  norm report [--url URL]\n"
		"                     print a running agent's normalization report\n"
		"  snapshot [--url URL]\n"
		"                     print a running agent's signal snapshot (MetricsSnapshot v1 JSON)\n"
		"  version            print the version\n"
		"  help               this text\n"
		"\n"
		"run options:\n"
		"  -s, --spec FILE        the metric spec (YAML)\n"
		"  -l, --listen ADDR:PORT HTTP listen address (default 127.0.0.1:9477)\n"
		"  -p, --pid PID          attach to this process only (repeatable); the binary is\n"
		"                         resolved through /proc/PID/exe and /proc/PID/root\n"
		"  -i, --interval-ms MS   drain at least every MS ms (sets --drain-max-interval-ms)\n"
		"      --pin-root DIR     where maps are pinned (default %s)\n"
		"      --ringbuf-bytes N  sample-lane ring buffer size, a power of two (default 262144)\n"
		"      --exit-after-ms MS exit cleanly after MS milliseconds (tests, benchmarks)\n"
		"      --drain-per-key    read maps key by key, never in batches (what emitd\n"
		"                         falls back to when the kernel refuses batch lookups)\n"
		"      --drain-budget-ms MS  time for one drain before the normal lane waits for\n"
		"                         the next one (at most one); the hot lane always drains\n"
		"                         (default 50, 0: no budget)\n"
		"      --drain-on-scrape  each /metrics request waits for a fresh drain\n"
		"      --hist-trial METRIC  histogram trial mode: also sample raw values and\n"
		"                         export emitd_hist_quantile_deviation (repeatable)\n"
		"\n"
		"signal metrics (channels: the series of `signal: true` metrics):\n"
		"      --signal-estimator gaussian|histogram   entropy estimator (default gaussian)\n"
		"      --signal-window W      60s (default), 1500ms, 5m, or a sample count\n"
		"      --signal-align A       sample-and-hold (default), nearest or linear\n"
		"      --signal-missing M     drop-incomplete (default), allow-partial:N, fill-last-known\n"
		"      --signal-every-drains N  compute every N drains (default 10) ...\n"
		"      --signal-every-ms MS     ... or every MS ms, whichever comes first (default 10000)\n"
		"\n"
		"normalization telemetry:\n"
		"      --norm-csv PATH        export each normalization window as CSV (atomic\n"
		"                             replace); a second metric writes PATH-stem-<metric>.csv\n"
		"      --norm-csv-interval S  seconds between exports (default 10)\n"
		"      --norm-history N       events in the rolling window (default 2048)\n"
		"  -v, --verbose          debug logs, including libbpf's\n",
		prog, EMITD_PIN_ROOT);
	usage_cadence(f);
	fprintf(f, "\nExit status: 0 success or clean signalled exit, 1 invalid spec or runtime error,\n"
		"2 usage error; gen --check: 6/8/9/10 on drift.\n");
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !log_enabled(LOG_LEVEL_DEBUG))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int parse_uint(const char *flag, const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || *out > max || s[0] == '-') {
		fprintf(stderr, "%s: %s: invalid value '%s' (expected 0..%lu)\n", prog, flag, s, max);
		return -EINVAL;
	}
	return 0;
}

static int parse_seconds(const char *flag, const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || !(*out >= 0.01 && *out <= 86400)) {
		fprintf(stderr, "%s: %s: invalid value '%s' (expected seconds, 0.01..86400)\n",
			prog, flag, s);
		return -EINVAL;
	}
	return 0;
}

static int parse_signal_opt(int c, const char *arg, struct agent_signal_opts *o)
{
	struct chan_config *ch = &o->chan;
	const char *flag, *expect;
	unsigned long v;

	switch (c) {
	case 'E':
		flag = "--signal-estimator";
		expect = "gaussian or histogram";
		if (!strcmp(arg, "gaussian"))
			o->math.estimator = SIGNAL_EST_GAUSSIAN;
		else if (!strcmp(arg, "histogram"))
			o->math.estimator = SIGNAL_EST_HISTOGRAM;
		else
			goto bad;
		return 0;
	case 'W':
		flag = "--signal-window";
		expect = "e.g. 60s, 1500ms, 5m or a sample count";
		if (chan_config__parse_window(arg, &ch->window_kind, &ch->window_value))
			goto bad;
		return 0;
	case 'A':
		flag = "--signal-align";
		expect = "sample-and-hold, nearest or linear";
		if (chan_config__parse_align(arg, &ch->align))
			goto bad;
		return 0;
	case 'M':
		flag = "--signal-missing";
		expect = "drop-incomplete, allow-partial:N or fill-last-known";
		if (chan_config__parse_missing(arg, &ch->missing, &ch->min_channels))
			goto bad;
		return 0;
	case 'D':
		if (parse_uint("--signal-every-drains", arg, 1000000, &v) || !v)
			return -EINVAL;
		o->every_drains = v;
		return 0;
	default:
		if (parse_uint("--signal-every-ms", arg, 86400000, &v) || !v)
			return -EINVAL;
		o->every_ms = v;
		return 0;
	}
bad:
	fprintf(stderr, "%s: %s: '%s': expected %s\n", prog, flag, arg, expect);
	return -EINVAL;
}

enum {
	OPT_PIN_ROOT = 256, OPT_RINGBUF, OPT_EXIT_AFTER, OPT_PER_KEY, OPT_NORM_CSV,
	OPT_NORM_INTERVAL, OPT_NORM_HISTORY, OPT_DRAIN_BUDGET, OPT_HIST_TRIAL,
	OPT_DRAIN_ON_SCRAPE, OPT_CADENCE = 512,	/* + the cadence setting's index */
};

static const struct option run_base_opts[] = {
	{ "spec", required_argument, NULL, 's' },
	{ "listen", required_argument, NULL, 'l' },
	{ "pid", required_argument, NULL, 'p' },
	{ "interval-ms", required_argument, NULL, 'i' },
	{ "pin-root", required_argument, NULL, OPT_PIN_ROOT },
	{ "ringbuf-bytes", required_argument, NULL, OPT_RINGBUF },
	{ "exit-after-ms", required_argument, NULL, OPT_EXIT_AFTER },
	{ "signal-estimator", required_argument, NULL, 'E' },
	{ "signal-window", required_argument, NULL, 'W' },
	{ "signal-align", required_argument, NULL, 'A' },
	{ "signal-missing", required_argument, NULL, 'M' },
	{ "signal-every-drains", required_argument, NULL, 'D' },
	{ "signal-every-ms", required_argument, NULL, 'T' },
	{ "drain-per-key", no_argument, NULL, OPT_PER_KEY },
	{ "drain-budget-ms", required_argument, NULL, OPT_DRAIN_BUDGET },
	{ "drain-on-scrape", no_argument, NULL, OPT_DRAIN_ON_SCRAPE },
	{ "hist-trial", required_argument, NULL, OPT_HIST_TRIAL },
	{ "norm-csv", required_argument, NULL, OPT_NORM_CSV },
	{ "norm-csv-interval", required_argument, NULL, OPT_NORM_INTERVAL },
	{ "norm-history", required_argument, NULL, OPT_NORM_HISTORY },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
};

#define NR_BASE_OPTS (sizeof(run_base_opts) / sizeof(run_base_opts[0]))
#define MAX_CADENCE_OPTS 32

/* The base options, then one --drain-* flag per cadence setting. */
static void build_run_opts(struct option *o)
{
	const struct cadence_setting_info *si;
	unsigned int i;

	memcpy(o, run_base_opts, sizeof(run_base_opts));
	for (i = 0; i < MAX_CADENCE_OPTS && (si = cadence_config__setting(i)); i++)
		o[NR_BASE_OPTS + i] = (struct option){ si->flag, required_argument, NULL,
						       OPT_CADENCE + i };
	memset(&o[NR_BASE_OPTS + i], 0, sizeof(*o));
}

static const char *getenv_lookup(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
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

static int parse_pid(struct agent_opts *ao, pid_t *pids, const char *arg)
{
	unsigned long v;

	if (ao->nr_pids == MAX_PIDS) {
		fprintf(stderr, "%s: --pid: at most %d PIDs\n", prog, MAX_PIDS);
		return -EINVAL;
	}
	if (parse_uint("--pid", arg, INT_MAX, &v) || !v)
		return -EINVAL;
	pids[ao->nr_pids++] = v;
	return 0;
}

static int parse_ringbuf(struct agent_opts *ao, const char *arg)
{
	unsigned long v;

	if (parse_uint("--ringbuf-bytes", arg, 1UL << 30, &v) || v < 4096 || (v & (v - 1))) {
		fprintf(stderr, "%s: --ringbuf-bytes must be a power of two >= 4096\n", prog);
		return -EINVAL;
	}
	ao->ringbuf_bytes = v;
	return 0;
}

static int parse_misc_opt(int c, const char *arg, struct agent_opts *ao)
{
	struct agent_batch_opts *b = &ao->batch;
	unsigned long v;

	switch (c) {
	case OPT_EXIT_AFTER:
		if (parse_uint("--exit-after-ms", arg, UINT_MAX, &v))
			return -EINVAL;
		ao->exit_after_ms = v;
		return 0;
	case OPT_DRAIN_BUDGET:
		if (parse_uint("--drain-budget-ms", arg, 60000, &v))
			return -EINVAL;
		b->drain_budget_s = v / 1e3;
		return 0;
	case OPT_HIST_TRIAL:
		if (b->nr_trial == AGENT_BATCH_MAX_TRIAL) {
			fprintf(stderr, "%s: --hist-trial: at most %d metrics\n", prog,
				AGENT_BATCH_MAX_TRIAL);
			return -EINVAL;
		}
		b->trial[b->nr_trial++] = arg;
		return 0;
	case OPT_NORM_CSV:
		ao->norm.csv_path = arg;
		return 0;
	case OPT_NORM_INTERVAL:
		return parse_seconds("--norm-csv-interval", arg, &ao->norm.csv_interval_s);
	default:	/* OPT_NORM_HISTORY */
		if (parse_uint("--norm-history", arg, 1U << 20, &v) || !v)
			return -EINVAL;
		ao->norm.history_limit = v;
		return 0;
	}
}

static int parse_cadence_opt(int idx, const char *arg, struct cadence_config *cfg)
{
	char err[CADENCE_ERR_LEN];

	if (!cadence_config__set(cfg, cadence_config__setting(idx)->flag, arg, err, sizeof(err)))
		return 0;
	fprintf(stderr, "%s: --%s\n", prog, err);
	return -EINVAL;
}

/* One run option; 1 for --help, 0 to go on, negative on a usage error. */
static int parse_run_opt(int c, const char *arg, struct agent_opts *ao, pid_t *pids)
{
	unsigned long v;

	switch (c) {
	case 's':
		ao->spec_path = arg;
		return 0;
	case 'l':
		ao->listen = arg;
		return 0;
	case 'p':
		return parse_pid(ao, pids, arg);
	case 'i':
		if (parse_uint("--interval-ms", arg, 3600000, &v) || v < 10)
			return -EINVAL;
		ao->interval_ms = v;	/* applied after every --drain-* flag */
		return 0;
	case OPT_PIN_ROOT:
		ao->pin_root = arg;
		return 0;
	case OPT_RINGBUF:
		return parse_ringbuf(ao, arg);
	case OPT_PER_KEY:
		ao->per_key = true;
		return 0;
	case OPT_DRAIN_ON_SCRAPE:
		ao->drain_on_scrape = true;
		return 0;
	case 'E': case 'W': case 'A': case 'M': case 'D': case 'T':
		return parse_signal_opt(c, arg, &ao->signal);
	case 'v':
		log_set_level(LOG_LEVEL_DEBUG);
		return 0;
	case 'h':
		usage(stdout);
		return 1;
	case '?':
		return -EINVAL;
	}
	if (c >= OPT_CADENCE)
		return parse_cadence_opt(c - OPT_CADENCE, arg, &ao->batch.cadence);
	return parse_misc_opt(c, arg, ao);
}

static void run_opts__init(struct agent_opts *ao)
{
	memset(ao, 0, sizeof(*ao));
	ao->listen = "127.0.0.1:9477";
	ao->pin_root = EMITD_PIN_ROOT;
	agent_signal_opts__init(&ao->signal);
	agent_batch_opts__init(&ao->batch);
	ao->norm.history_limit = 2048;
	ao->norm.csv_interval_s = 10;
	ao->norm.json_last = 256;
}

static int do_run(int argc, char **argv)
{
	struct option opts[NR_BASE_OPTS + MAX_CADENCE_OPTS + 1];
	char err[CADENCE_ERR_LEN];
	pid_t pids[MAX_PIDS];
	struct agent_opts ao;
	int c, ret;

	run_opts__init(&ao);
	build_run_opts(opts);
	/* the environment first, flags override it */
	if (cadence_config__from_env(&ao.batch.cadence, getenv_lookup, NULL, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 2;
	}
	while ((c = getopt_long(argc, argv, "s:l:p:i:vh", opts, NULL)) != -1) {
		ret = parse_run_opt(c, optarg, &ao, pids);
		if (ret > 0)
			return 0;
		if (ret) {
			usage(stderr);
			return 2;
		}
	}
	if (!ao.spec_path || optind != argc) {
		fprintf(stderr, "%s run: %s\n", prog,
			!ao.spec_path ? "--spec FILE is required" : "unexpected argument");
		usage(stderr);
		return 2;
	}
	if (ao.interval_ms)
		set_fixed_interval(&ao.batch.cadence, ao.interval_ms);
	if (cadence_config__validate(&ao.batch.cadence, err, sizeof(err))) {
		fprintf(stderr, "%s: drain settings: %s\n", prog, err);
		return 2;
	}
	ao.pids = pids;
	libbpf_set_print(libbpf_print);
	return agent__run(&ao) ? 1 : 0;
}

static int do_lint(int argc, char **argv)
{
	struct spec_diags diags = {};
	struct spec *spec = NULL;
	int err;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "Usage: %s lint FILE\n", prog);
		return 2;
	}
	err = spec__load(argv[1], &spec, &diags);
	if (!err)
		err = lint__promql(spec, &diags);
	spec_diags__print(&diags, argv[1], stderr);
	if (!err)
		printf("%s: ok (%zu metrics, %zu targets)\n", argv[1], spec->nr_metrics,
		       spec->nr_targets);
	spec_diags__free(&diags);
	spec__free(spec);
	return err ? 1 : 0;
}

/* Fetch @url into @body; prints the reason on failure. */
static int fetch_or_report(const char *cmd, const char *url, struct expo_buf *body)
{
	char err[256] = "";
	long status;

	if (!fetch__get(url, body, &status, err, sizeof(err)))
		return 0;
	fprintf(stderr, "%s %s: %s: %s\n", prog, cmd, url, err);
	return -EIO;
}

/* Fetch @path from a running agent and print the body. */
static int print_from_agent(int argc, char **argv, const char *cmd, const char *path)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char def[128];
	struct expo_buf body = {};
	const char *url = def;
	int c;

	snprintf(def, sizeof(def), "http://127.0.0.1:9477%s", path);
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'h':
			printf("Usage: %s %s [--url URL]   (default %s)\n", prog, cmd, def);
			return 0;
		default:
			fprintf(stderr, "Usage: %s %s [--url URL]\n", prog, cmd);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "Usage: %s %s [--url URL]\n", prog, cmd);
		return 2;
	}
	if (fetch_or_report(cmd, url, &body)) {
		expo_buf__free(&body);
		return 1;
	}
	fwrite(body.data, 1, body.len, stdout);
	if (body.len && body.data[body.len - 1] != '\n')
		putchar('\n');
	expo_buf__free(&body);
	return 0;
}

static int do_norm(int argc, char **argv)
{
	const char *url = "http://127.0.0.1:9477/normalization";
	struct expo_buf body = {};
	json_error_t jerr;
	json_t *root = NULL, *one;
	const char *name;
	int ret = 1;

	if (argc == 4 && !strcmp(argv[1], "report") && !strcmp(argv[2], "--url"))
		url = argv[3];
	else if (argc != 2 || strcmp(argv[1], "report")) {
		fprintf(stderr, "Usage: %s norm report [--url URL]   (default %s)\n", prog, url);
		return 2;
	}
	if (fetch_or_report("norm report", url, &body))
		goto out;
	root = json_loadb(body.data, body.len, 0, &jerr);
	if (!root || !json_is_object(json_object_get(root, "metrics"))) {
		fprintf(stderr, "%s norm report: %s: not a normalization document\n", prog, url);
		goto out;
	}
	ret = 0;
	json_object_foreach(json_object_get(root, "metrics"), name, one) {
		printf("== %s\n", name);
		if (norm__report_from_json(one, stdout)) {
			fprintf(stderr, "%s norm report: %s: malformed report for %s\n", prog, url, name);
			ret = 1;
		}
	}
	if (!json_object_size(json_object_get(root, "metrics")))
		printf("no normalization metrics in this agent's spec\n");
out:
	json_decref(root);
	expo_buf__free(&body);
	return ret;
}

static int do_snapshot(int argc, char **argv)
{
	return print_from_agent(argc, argv, "snapshot", "/snapshot");
}

static int do_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("emitd %s (libbpf %u.%u)\n", EMITD_VERSION, libbpf_major_version(),
	       libbpf_minor_version());
	return 0;
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
} cmds[] = {
	{ "run", do_run },
	{ "lint", do_lint },
	{ "gen", gen__main },
	{ "snapshot", do_snapshot },
	{ "norm", do_norm },
	{ "version", do_version },
	{ "help", do_help },
	{ "--help", do_help },
	{ "-h", do_help },
	{ "--version", do_version },
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
	usage(stderr);
	return 2;
}
