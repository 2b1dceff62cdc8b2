/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * run_cli: the options of `emitd run`, from one table.
 *
 * Each flag is one row: its long and short name, its environment variable
 * (where it has one), its default, its help and the function that parses
 * it. getopt_long's option array, --help and parsing are built from that
 * table; the adaptive-drain rows come from lib/cadence's settings table.
 *
 * Order: the defaults, then the environment (validated), then the flags;
 * --interval-ms is applied after every --drain-* flag, then the drain
 * settings are validated. Every usage error is logged once (log_err).
 */
#ifndef EMITD_RUN_CLI_H
#define EMITD_RUN_CLI_H

#include <stdio.h>
#include <sys/types.h>

#include "agent/agent.h"

#define RUN_CLI_MAX_PIDS	64
#define RUN_CLI_MAX_PID_FILES	16

struct run_cli_opts {
	struct agent_opts agent;	/* agent.pids, agent.pid_files point into pids[], pid_files[] */
	pid_t pids[RUN_CLI_MAX_PIDS];
	const char *pid_files[RUN_CLI_MAX_PID_FILES];
};

/*
 * Fill @o from the defaults, the environment and @argv (argv[0] is "run").
 * Returns 0 to run, 1 when --help printed the usage on stdout, -EINVAL on a
 * usage error (logged). @o must not be copied (agent.pids points into it).
 */
int run_cli__parse(struct run_cli_opts *o, int argc, char **argv);

/* The usage text: every flag, its environment variable, its default. */
void run_cli__usage(FILE *f);

/* `emitd run`: returns the exit status (0, 1 runtime error, 2 usage error). */
int run_cli__main(int argc, char **argv);

#endif /* EMITD_RUN_CLI_H */
