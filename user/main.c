// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * emitd: the command table and its dispatch, bpftool style. Each command
 * parses its own arguments and returns the exit status: 0 success, 1 error,
 * 2 usage error (gen --check: 6/8/9/10 on drift).
 */
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "agent/detach.h"
#include "agent/probes_cli.h"
#include "agent/run_cli.h"
#include "client/client.h"
#include "gen/gen.h"
#include "lib/build_info.h"
#include "lib/log.h"
#include "spec/promql_lint.h"
#include "spec/spec.h"

static const char *prog = "emitd";

static int do_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("emitd %s (libbpf %u.%u)\n", build_info__version(), libbpf_major_version(),
	       libbpf_minor_version());
	return 0;
}

static int do_help(int argc, char **argv);

/* { name, handler, arguments, one-line help }; no help: an alias, not listed. */
static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
	const char *help;
} cmds[] = {
	{ "run", run_cli__main, "--spec FILE [OPTIONS]",
	  "attach the spec's probes, aggregate in the kernel, serve /metrics" },
	{ "detach", detach__main, "[--pin-root DIR] [--purge]",
	  "remove the probe links an agent leaves attached when it exits;\n"
	  "--purge removes its pinned maps too" },
	{ "lint", gen__lint_main, "FILE",
	  "validate a spec; errors are FILE:LINE:COL: error: FIELD: MESSAGE" },
	{ "gen", gen__main, "--spec FILE --out DIR [--check]",
	  "generate the metric-ID header, catalog, Grafana dashboards and\n"
	  "Prometheus rules; --check exits 6/8/9/10 on drift" },
	{ "probes", probes_cli__main, "[--usdt|--functions] [-v] BINARY|--pid PID [PATTERN]",
	  "list a binary's or a process's USDT probes and function symbols,\n"
	  "with their sites' kinds and operands" },
	{ "init", probes_cli__init_main, "--binary PATH [--out FILE]",
	  "write a starter spec: one counter per USDT probe of PATH" },
	{ "norm", client__norm, "report [--url URL]",
	  "print a running agent's normalization report" },
	{ "snapshot", client__snapshot, "[--url URL]",
	  "print a running agent's signal snapshot (MetricsSnapshot v1 JSON)" },
	{ "version", do_version, "", "print the version" },
	{ "help", do_help, "", "this text" },
	{ "--help", do_help, NULL, NULL },
	{ "-h", do_help, NULL, NULL },
	{ "--version", do_version, NULL, NULL },
};

#define NR_CMDS		(sizeof(cmds) / sizeof(cmds[0]))
#define CMD_COL		21	/* where a command's help starts */

static void usage_cmd(FILE *f, const struct cmd *c)
{
	const char *p, *nl;
	int n;

	n = fprintf(f, "  %s%s%s", c->name, c->args[0] ? " " : "", c->args);
	if (n >= CMD_COL) {
		fputc('\n', f);
		n = 0;
	}
	fprintf(f, "%*s", CMD_COL - n, "");
	for (p = c->help; (nl = strchr(p, '\n')); p = nl + 1)
		fprintf(f, "%.*s\n%*s", (int)(nl - p), p, CMD_COL, "");
	fprintf(f, "%s\n", p);
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: %s COMMAND [OPTIONS]\n\nCommands:\n", prog);
	for (i = 0; i < NR_CMDS; i++)
		if (cmds[i].help)
			usage_cmd(f, &cmds[i]);
	fprintf(f, "\n'%s run --help' lists every run option, its environment variable and default.\n"
		"\nExit status: 0 success or clean signalled exit, 1 invalid spec or runtime error,\n"
		"2 usage error; gen --check: 6/8/9/10 on drift.\n", prog);
}

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		log_err("no command given");
		usage(stderr);
		return 2;
	}
	for (i = 0; i < NR_CMDS; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	log_err("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
