// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * run_cli: `emitd run`'s flag table. --help names every flag with its
 * environment variable and default, and those defaults are the agent's;
 * the environment comes first and flags override it; --interval-ms applies
 * after every --drain-* flag; each usage error is one log line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/run_cli.h"
#include "emitd.h"
#include "lib/cadence.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define ARGV(...)	((char *[]){ "run", __VA_ARGS__, NULL })

static char out[1 << 16];	/* what the last parse() wrote to @fd */

static int argc_of(char **argv)
{
	int n = 0;

	while (argv[n])
		n++;
	return n;
}

/* run_cli__parse() with @fd (1 or 2) captured into out[]. */
static int parse_fd(int fd, struct run_cli_opts *o, char **argv)
{
	FILE *tmp = tmpfile();
	int saved, ret;
	size_t n;

	assert_non_null(tmp);
	fflush(fd == 1 ? stdout : stderr);
	saved = dup(fd);
	dup2(fileno(tmp), fd);
	ret = run_cli__parse(o, argc_of(argv), argv);
	fflush(fd == 1 ? stdout : stderr);
	dup2(saved, fd);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof(out) - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return ret;
}

static int parse(struct run_cli_opts *o, char **argv)
{
	return parse_fd(2, o, argv);
}

static int clear_env(void **state)
{
	const struct cadence_setting_info *si;
	unsigned int i;

	(void)state;
	for (i = 0; (si = cadence_config__setting(i)); i++)
		unsetenv(si->env);
	return 0;
}

/* The line of --help whose entry is --@flag: "      --flag" or "  -f, --flag". */
static const char *entry_start(const char *help, const char *flag)
{
	size_t len = strlen(flag);
	const char *ls;

	for (ls = help; ls; ls = strchr(ls, '\n'), ls = ls ? ls + 1 : NULL) {
		if (strncmp(ls, "      --", 8) &&
		    !(!strncmp(ls, "  -", 3) && !strncmp(ls + 4, ", --", 4)))
			continue;
		if (!strncmp(ls + 8, flag, len) && (ls[8 + len] == ' ' || ls[8 + len] == '\n'))
			return ls;
	}
	return NULL;
}

/* The --help entry of --@flag: from its line to the next entry or heading. */
static char *help_entry(const char *help, const char *flag)
{
	const char *p = entry_start(help, flag), *end;

	if (!p)
		return NULL;
	for (end = strchr(p, '\n'); end && !strncmp(end, "\n        ", 9); end = strchr(end + 1, '\n'))
		;
	return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static void assert_entry(const char *help, const char *flag, const char *def, const char *env)
{
	char want[128];
	char *e = help_entry(help, flag);

	if (!e)
		fail_msg("--help does not name --%s", flag);
	if (def) {
		snprintf(want, sizeof(want), "(default %s)", def);
		if (!strstr(e, want))
			fail_msg("--%s: no \"%s\" in: %s", flag, want, e);
	} else if (strstr(e, "(default")) {
		fail_msg("--%s shows a default it does not have: %s", flag, e);
	}
	if (env) {
		snprintf(want, sizeof(want), "environment: %s", env);
		if (!strstr(e, want))
			fail_msg("--%s: no \"%s\" in: %s", flag, want, e);
	}
	free(e);
}

/* Every flag of `emitd run`, with a value it accepts and its default. */
static const struct {
	const char *flag;
	const char *value;	/* NULL: takes none */
	const char *def;
} run_flags[] = {
	{ "spec", "x.yml", NULL },
	{ "web.listen-address", "127.0.0.1:1", "127.0.0.1:9477" },
	{ "web.telemetry-path", "/probe", "/metrics" },
	{ "web.config.file", "/etc/emitd/web.yml", NULL },
	{ "pid", "1", NULL },
	{ "interval-ms", "100", NULL },
	{ "pin-root", "/tmp/x", EMITD_PIN_ROOT },
	{ "ringbuf-bytes", "8192", "262144" },
	{ "exit-after-ms", "5", "0" },
	{ "drain-per-key", NULL, NULL },
	{ "drain-budget-ms", "0", "50" },
	{ "drain-on-scrape", NULL, NULL },
	{ "hist-trial", "m", NULL },
	{ "verbose", NULL, NULL },
	{ "help", NULL, NULL },
	{ "signal-estimator", "histogram", "gaussian" },
	{ "signal-window", "600", "60s" },
	{ "signal-align", "linear", "sample-and-hold" },
	{ "signal-missing", "allow-partial:3", "drop-incomplete" },
	{ "signal-every-drains", "3", "10" },
	{ "signal-every-ms", "3", "10000" },
	{ "norm-csv", "/tmp/n.csv", NULL },
	{ "norm-csv-interval", "0.5", "10" },
	{ "norm-history", "16", "2048" },
};

static void test_help_names_every_flag_env_and_default(void **state)
{
	const struct cadence_setting_info *si;
	char *help = NULL;
	size_t len, i;
	FILE *f;

	(void)state;
	f = open_memstream(&help, &len);
	run_cli__usage(f);
	fclose(f);
	for (i = 0; i < ARRAY_SIZE(run_flags); i++)
		assert_entry(help, run_flags[i].flag, run_flags[i].def, NULL);
	for (i = 0; (si = cadence_config__setting(i)); i++)
		assert_entry(help, si->flag, si->def, si->env);
	assert_non_null(strstr(help, "\nrun options:\n"));
	assert_non_null(strstr(help, "\nadaptive drain"));
	assert_non_null(strstr(help, "\nsignal metrics"));
	assert_non_null(strstr(help, "\nnormalization telemetry:\n"));
	free(help);
}

static void test_every_flag_in_help_is_accepted(void **state)
{
	const struct cadence_setting_info *si;
	struct run_cli_opts o;
	char flag[80];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(run_flags); i++) {
		if (!strcmp(run_flags[i].flag, "help") || !strcmp(run_flags[i].flag, "verbose"))
			continue;	/* they print or change the log level */
		snprintf(flag, sizeof(flag), "--%s", run_flags[i].flag);
		if (run_flags[i].value ?
		    parse(&o, ARGV("--spec", "x.yml", flag, (char *)run_flags[i].value)) :
		    parse(&o, ARGV("--spec", "x.yml", flag)))
			fail_msg("%s %s refused: %s", flag, run_flags[i].value, out);
	}
	for (i = 0; (si = cadence_config__setting(i)); i++) {
		snprintf(flag, sizeof(flag), "--%s", si->flag);
		if (parse(&o, ARGV("--spec", "x.yml", flag, (char *)si->def)))
			fail_msg("%s %s refused: %s", flag, si->def, out);
	}
	assert_int_equal(parse_fd(1, &o, ARGV("--help")), 1);
	assert_memory_equal(out, "Usage: emitd run", 16);
}

/* The defaults --help shows are the ones the agent's own init functions set. */
static void test_defaults_are_the_agents(void **state)
{
	struct agent_signal_opts sig;
	struct agent_batch_opts b;
	struct run_cli_opts o;

	(void)state;
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml")), 0);
	assert_string_equal(out, "");
	agent_batch_opts__init(&b);
	agent_signal_opts__init(&sig);
	assert_memory_equal(&o.agent.batch.cadence, &b.cadence, sizeof(b.cadence));
	assert_true(o.agent.batch.drain_budget_s == b.drain_budget_s);
	assert_int_equal(o.agent.batch.trial_window, b.trial_window);
	assert_int_equal(o.agent.batch.nr_trial, 0);
	assert_memory_equal(&o.agent.signal, &sig, sizeof(sig));
	assert_string_equal(o.agent.spec_path, "x.yml");
	assert_string_equal(o.agent.listen, "127.0.0.1:9477");
	assert_string_equal(o.agent.telemetry_path, "/metrics");
	assert_null(o.agent.web_config_path);
	assert_string_equal(o.agent.pin_root, EMITD_PIN_ROOT);
	assert_int_equal(o.agent.ringbuf_bytes, 256 * 1024);	/* bpf/emit.bpf.c's samples */
	assert_int_equal(o.agent.exit_after_ms, 0);
	assert_int_equal(o.agent.interval_ms, 0);
	assert_false(o.agent.per_key);
	assert_false(o.agent.drain_on_scrape);
	assert_int_equal(o.agent.nr_pids, 0);
	assert_ptr_equal(o.agent.pids, o.pids);
	assert_int_equal(o.agent.norm.history_limit, 2048);
	assert_true(o.agent.norm.csv_interval_s == 10);
	assert_int_equal(o.agent.norm.json_last, 256);
	assert_null(o.agent.norm.csv_path);
}

static void test_flags_set_their_fields(void **state)
{
	struct run_cli_opts o;

	(void)state;
	assert_int_equal(parse(&o, ARGV("-s", "a.yml", "-l", "[::1]:1", "-p", "7", "--pid", "9",
					"--ringbuf-bytes", "8192", "--drain-budget-ms", "20",
					"--hist-trial", "h1", "--hist-trial", "h2",
					"--signal-window", "5m", "--signal-missing", "allow-partial:3",
					"--signal-every-ms", "250", "--norm-csv-interval", "0.5",
					"--drain-per-key", "--drain-on-scrape")), 0);
	assert_string_equal(o.agent.spec_path, "a.yml");
	assert_string_equal(o.agent.listen, "[::1]:1");
	assert_int_equal(o.agent.nr_pids, 2);
	assert_int_equal(o.pids[0], 7);
	assert_int_equal(o.pids[1], 9);
	assert_int_equal(o.agent.ringbuf_bytes, 8192);
	assert_true(o.agent.batch.drain_budget_s == 0.02);
	assert_int_equal(o.agent.batch.nr_trial, 2);
	assert_string_equal(o.agent.batch.trial[1], "h2");
	assert_int_equal(o.agent.signal.chan.window_kind, CHAN_WINDOW_TIME);
	assert_int_equal(o.agent.signal.chan.window_value, 300000);
	assert_int_equal(o.agent.signal.chan.missing, CHAN_MISSING_ALLOW_PARTIAL);
	assert_int_equal(o.agent.signal.chan.min_channels, 3);
	assert_int_equal(o.agent.signal.every_ms, 250);
	assert_true(o.agent.norm.csv_interval_s == 0.5);
	assert_true(o.agent.per_key);
	assert_true(o.agent.drain_on_scrape);
}

/* --listen is --web.listen-address: one row, two names; errors name what was typed. */
static void test_listen_alias(void **state)
{
	struct run_cli_opts o;
	char *help = NULL;
	size_t len;
	FILE *f;

	(void)state;
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml", "--listen", "127.0.0.1:2")), 0);
	assert_string_equal(o.agent.listen, "127.0.0.1:2");
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml", "--web.listen-address", "[::1]:3",
					"--web.telemetry-path", "/x/metrics",
					"--web.config.file", "w.yml")), 0);
	assert_string_equal(o.agent.listen, "[::1]:3");
	assert_string_equal(o.agent.telemetry_path, "/x/metrics");
	assert_string_equal(o.agent.web_config_path, "w.yml");
	/* the last one wins, whichever name it used */
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml", "--web.listen-address", "[::1]:3",
					"--listen", "127.0.0.1:4")), 0);
	assert_string_equal(o.agent.listen, "127.0.0.1:4");
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml", "--listen")), -EINVAL);
	assert_string_equal(out, "emitd: error: run: --listen needs a value\n");
	f = open_memstream(&help, &len);
	run_cli__usage(f);
	fclose(f);
	assert_non_null(strstr(help, "(alias --listen)"));
	assert_null(strstr(help, "      --listen"));	/* one entry, not two */
	free(help);
}

static void test_environment_first_flags_override(void **state)
{
	struct run_cli_opts o;

	(void)state;
	setenv("EMITD_DRAIN_MIN_BATCH", "60", 1);
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml")), 0);
	assert_int_equal(o.agent.batch.cadence.min_batch, 60);
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml", "--drain-min-batch", "70")), 0);
	assert_int_equal(o.agent.batch.cadence.min_batch, 70);
	/* the environment is validated on its own, before any flag */
	setenv("EMITD_DRAIN_MIN_BATCH", "6000", 1);
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml", "--drain-max-batch", "7000")), -EINVAL);
	assert_string_equal(out, "emitd: error: EMITD_DRAIN_MIN_BATCH=6000 exceeds "
				 "EMITD_DRAIN_MAX_BATCH=5000\n");
	setenv("EMITD_DRAIN_MIN_BATCH", "abc", 1);
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml")), -EINVAL);
	assert_string_equal(out, "emitd: error: EMITD_DRAIN_MIN_BATCH: 'abc' is not a decimal integer\n");
	unsetenv("EMITD_DRAIN_MIN_BATCH");
}

static void test_interval_ms_applies_after_every_drain_flag(void **state)
{
	struct cadence_config *c;
	struct run_cli_opts o;

	(void)state;
	c = &o.agent.batch.cadence;
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml", "--interval-ms", "100",
					"--drain-max-interval-ms", "1000",
					"--drain-target-interval-ms", "400",
					"--drain-aggressive-interval-ms", "150")), 0);
	assert_int_equal(c->max_interval_ms, 100);
	assert_int_equal(c->target_interval_ms, 100);
	assert_int_equal(c->aggressive_interval_ms, 0);	/* automatic again */
	assert_int_equal(parse(&o, ARGV("--spec", "x.yml", "--drain-max-interval-ms", "1000",
					"--drain-target-interval-ms", "400",
					"--drain-aggressive-interval-ms", "150")), 0);
	assert_int_equal(c->max_interval_ms, 1000);
	assert_int_equal(c->target_interval_ms, 400);
	assert_int_equal(c->aggressive_interval_ms, 150);
}

/* Each usage error: -EINVAL and exactly one log line. */
static void test_usage_errors_are_one_log_line(void **state)
{
	const struct {
		char **argv;
		const char *line;
	} cases[] = {
		{ ARGV("--spec", "x", "--pid", "x"),
		  "--pid: invalid value 'x' (expected 1..2147483647)" },
		{ ARGV("--spec", "x", "-p", "0"),
		  "--pid: invalid value '0' (expected 1..2147483647)" },
		{ ARGV("--spec", "x", "--interval-ms", "5"),
		  "--interval-ms: invalid value '5' (expected 10..3600000)" },
		{ ARGV("--spec", "x", "--ringbuf-bytes", "5000"),
		  "--ringbuf-bytes: invalid value '5000' (expected a power of two, 4096..1073741824)" },
		{ ARGV("--spec", "x", "--signal-estimator", "exact"),
		  "--signal-estimator: invalid value 'exact' (expected gaussian|histogram)" },
		{ ARGV("--spec", "x", "--signal-every-drains", "0"),
		  "--signal-every-drains: invalid value '0' (expected 1..1000000)" },
		{ ARGV("--spec", "x", "--norm-csv-interval", "0"),
		  "--norm-csv-interval: invalid value '0' (expected seconds, 0.01..86400)" },
		{ ARGV("--spec", "x", "--drain-max-batch", "lots"),
		  "--drain-max-batch: 'lots' is not a decimal integer" },
		{ ARGV("--spec", "x", "--drain-min-batch", "10", "--drain-max-batch", "5"),
		  "drain settings: EMITD_DRAIN_MIN_BATCH=10 exceeds EMITD_DRAIN_MAX_BATCH=5" },
		{ ARGV("--spec", "x", "--bogus"), "run: unknown option '--bogus'" },
		{ ARGV("--spec", "x", "-x"), "run: unknown option '-x'" },
		{ ARGV("--spec", "x", "--drain-per-key=1"), "run: --drain-per-key=1 takes no value" },
		{ ARGV("--spec"), "run: --spec needs a value" },
		{ ARGV("--spec", "x", "extra"), "run: unexpected argument 'extra'" },
		{ ARGV("--listen", "127.0.0.1:1"), "run: --spec FILE is required" },
		{ ARGV("--spec", "x", "--web.telemetry-path", "metrics"),
		  "--web.telemetry-path: invalid value 'metrics' (expected a path such as /metrics: "
		  "printable, no space, '?' or '#', and none of /healthz, /snapshot, "
		  "/normalization, /-/reload)" },
		{ ARGV("--spec", "x", "--web.telemetry-path", "/-/reload"),
		  "--web.telemetry-path: invalid value '/-/reload' (expected a path such as /metrics: "
		  "printable, no space, '?' or '#', and none of /healthz, /snapshot, "
		  "/normalization, /-/reload)" },
	};
	struct run_cli_opts o;
	char want[256];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(parse(&o, cases[i].argv), -EINVAL);
		snprintf(want, sizeof(want), "emitd: error: %s\n", cases[i].line);
		assert_string_equal(out, want);
	}
}

static void test_pids_are_bounded(void **state)
{
	char *argv[3 + 2 * (RUN_CLI_MAX_PIDS + 1) + 1] = { "run", "--spec", "x.yml" };
	struct run_cli_opts o;
	int i, n = 3;

	(void)state;
	for (i = 0; i < RUN_CLI_MAX_PIDS; i++) {
		argv[n++] = "--pid";
		argv[n++] = "42";
	}
	assert_int_equal(parse(&o, argv), 0);
	assert_int_equal(o.agent.nr_pids, RUN_CLI_MAX_PIDS);
	argv[n++] = "--pid";
	argv[n++] = "43";
	assert_int_equal(parse(&o, argv), -EINVAL);
	assert_string_equal(out, "emitd: error: --pid: at most 64 PIDs\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_help_names_every_flag_env_and_default, clear_env),
		cmocka_unit_test_setup(test_every_flag_in_help_is_accepted, clear_env),
		cmocka_unit_test_setup(test_defaults_are_the_agents, clear_env),
		cmocka_unit_test_setup(test_flags_set_their_fields, clear_env),
		cmocka_unit_test_setup(test_listen_alias, clear_env),
		cmocka_unit_test_setup(test_environment_first_flags_override, clear_env),
		cmocka_unit_test_setup(test_interval_ms_applies_after_every_drain_flag, clear_env),
		cmocka_unit_test_setup(test_usage_errors_are_one_log_line, clear_env),
		cmocka_unit_test_setup(test_pids_are_bounded, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
