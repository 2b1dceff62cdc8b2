/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * client: the commands that read a running agent over HTTP (fetch.h):
 * `emitd snapshot` and `emitd norm report`. Each takes the command's argv
 * (argv[0] is the command) and returns its exit status: 0, 1 when the agent
 * cannot be read or its answer is malformed, 2 on a usage error. Errors go
 * through log_err(); the body goes to stdout.
 */
#ifndef EMITD_CLIENT_H
#define EMITD_CLIENT_H

/* Where `emitd run` listens by default (agent/http.h HTTP_DEFAULT_LISTEN). */
#define CLIENT_DEFAULT_BASE	"http://127.0.0.1:9477"

/* `emitd snapshot [--url URL]`: print /snapshot (MetricsSnapshot v1 JSON). */
int client__snapshot(int argc, char **argv);

/* `emitd norm report [--url URL]`: print each normalization metric's report. */
int client__norm(int argc, char **argv);

#endif /* EMITD_CLIENT_H */
