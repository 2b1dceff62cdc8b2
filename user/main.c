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

#include "agent.h"
#include "expo.h"
#include "fetch.h"
#include "gen.h"
#include "norm.h"
#include "emitd.h"
#include "log.h"
#include "spec.h"

#ifndef EMITD_VERSION
#define EMITD_VERSION "0.1.0"
#endif

#define MAX_PIDS 64

static const char *prog = "emitd";

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
		"  -i, --interval-ms MS   fixed drain interval in milliseconds (default 1000)\n"
		"      --pin-root DIR     where maps are pinned (default %s)\n"
		"      --ringbuf-bytes N  sample-lane ring buffer size, a power of two (default 262144)\n"
		"      --exit-after-ms MS exit cleanly after MS milliseconds (tests, benchmarks)\n"
		"      --drain-per-key    read maps key by key, never in batches (what emitd\n"
		"                         falls back to when the kernel refuses batch lookups)\n"
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
		"  -v, --verbose          debug logs, including libbpf's\n"
		"\n"
		"Exit status: 0 success or clean signalled exit, 1 invalid spec or runtime error,\n"
		"2 usage error.\n",
		prog, EMITD_PIN_ROOT);
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

static int do_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "spec", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "pid", required_argument, NULL, 'p' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "pin-root", required_argument, NULL, 'R' },
		{ "ringbuf-bytes", required_argument, NULL, 'B' },
		{ "exit-after-ms", required_argument, NULL, 'X' },
		{ "signal-estimator", required_argument, NULL, 'E' },
		{ "signal-window", required_argument, NULL, 'W' },
		{ "signal-align", required_argument, NULL, 'A' },
		{ "signal-missing", required_argument, NULL, 'M' },
		{ "signal-every-drains", required_argument, NULL, 'D' },
		{ "signal-every-ms", required_argument, NULL, 'T' },
		{ "drain-per-key", no_argument, NULL, 'K' },
		{ "norm-csv", required_argument, NULL, 'C' },
		{ "norm-csv-interval", required_argument, NULL, 'I' },
		{ "norm-history", required_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct agent_opts ao = {
		.listen = "127.0.0.1:9477",
		.interval_ms = 1000,
		.pin_root = EMITD_PIN_ROOT,
	};
	pid_t pids[MAX_PIDS];
	unsigned long v;
	int c;

	agent_signal_opts__init(&ao.signal);
	ao.norm.history_limit = 2048;
	ao.norm.csv_interval_s = 10;
	ao.norm.json_last = 256;
	while ((c = getopt_long(argc, argv, "s:l:p:i:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ao.spec_path = optarg;
			break;
		case 'l':
			ao.listen = optarg;
			break;
		case 'p':
			if (ao.nr_pids == MAX_PIDS) {
				fprintf(stderr, "%s: --pid: at most %d PIDs\n", prog, MAX_PIDS);
				return 2;
			}
			if (parse_uint("--pid", optarg, INT_MAX, &v) || !v)
				return 2;
			pids[ao.nr_pids++] = v;
			break;
		case 'i':
			if (parse_uint("--interval-ms", optarg, 3600000, &v) || !v)
				return 2;
			ao.interval_ms = v;
			break;
		case 'R':
			ao.pin_root = optarg;
			break;
		case 'B':
			if (parse_uint("--ringbuf-bytes", optarg, 1UL << 30, &v) || v < 4096 ||
			    (v & (v - 1))) {
				fprintf(stderr, "%s: --ringbuf-bytes must be a power of two >= 4096\n", prog);
				return 2;
			}
			ao.ringbuf_bytes = v;
			break;
		case 'X':
			if (parse_uint("--exit-after-ms", optarg, UINT_MAX, &v))
				return 2;
			ao.exit_after_ms = v;
			break;
		case 'E':
		case 'W':
		case 'A':
		case 'M':
		case 'D':
		case 'T':
			if (parse_signal_opt(c, optarg, &ao.signal))
				return 2;
			break;
		case 'K':
			ao.per_key = true;
			break;
		case 'C':
			ao.norm.csv_path = optarg;
			break;
		case 'I':
			if (parse_seconds("--norm-csv-interval", optarg, &ao.norm.csv_interval_s))
				return 2;
			break;
		case 'H':
			if (parse_uint("--norm-history", optarg, 1U << 20, &v) || !v)
				return 2;
			ao.norm.history_limit = v;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
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
	spec_diags__print(&diags, argv[1], stderr);
	if (!err)
		printf("%s: ok (%zu metrics, %zu targets)\n", argv[1], spec->nr_metrics,
		       spec->nr_targets);
	spec_diags__free(&diags);
	spec__free(spec);
	return err ? 1 : 0;
}

/* Fetch @path from a running agent and print the body. */
static int print_from_agent(int argc, char **argv, const char *cmd, const char *path)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char def[128], err[256] = "";
	struct expo_buf body = {};
	const char *url = def;
	long status;
	int c, ret;

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
	ret = fetch__get(url, &body, &status, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s %s: %s: %s\n", prog, cmd, url, err);
		expo_buf__free(&body);
		return 1;
	}
	fwrite(body.data, 1, body.len, stdout);
	if (body.len && body.data[body.len - 1] != '\n')
		putchar('\n');
	expo_buf__free(&body);
	return 0;
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
