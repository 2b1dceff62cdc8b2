// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * client: `emitd snapshot` and `emitd norm report` (see client.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "client/client.h"
#include "client/fetch.h"
#include "lib/expo.h"
#include "lib/log.h"
#include "lib/norm.h"

static void usage(FILE *f, const char *cmd, const char *def)
{
	fprintf(f, "Usage: emitd %s [--url URL]   (default %s)\n", cmd, def);
}

/*
 * `CMD [--url URL]`: *@url is @def unless given. 0, 1 when --help printed
 * the usage, -EINVAL on a usage error (logged, usage on stderr).
 */
static int parse_url(int argc, char **argv, const char *cmd, const char *def, const char **url)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	*url = def;
	optind = 0;	/* glibc: a full reset */
	opterr = 0;	/* the errors are logged here */
	while ((c = getopt_long(argc, argv, ":u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			*url = optarg;
			break;
		case 'h':
			usage(stdout, cmd, def);
			return 1;
		case ':':
			log_err("%s: %s needs a value", cmd, argv[optind - 1]);
			goto out_usage;
		default:
			log_err("%s: unknown option '%s'", cmd, argv[optind - 1]);
			goto out_usage;
		}
	}
	if (optind == argc)
		return 0;
	log_err("%s: unexpected argument '%s'", cmd, argv[optind]);
out_usage:
	usage(stderr, cmd, def);
	return -EINVAL;
}

/* GET @url into @body; logs the reason on failure. */
static int fetch(const char *cmd, const char *url, struct expo_buf *body)
{
	char err[256] = "";
	long status;
	int ret;

	ret = fetch__get(url, body, &status, err, sizeof(err));
	if (ret)
		log_err("%s: %s: %s", cmd, url, err);
	return ret;
}

int client__snapshot(int argc, char **argv)
{
	const char *def = CLIENT_DEFAULT_BASE "/snapshot";
	struct expo_buf body = {};
	const char *url;
	int ret;

	ret = parse_url(argc, argv, "snapshot", def, &url);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (fetch("snapshot", url, &body)) {
		expo_buf__free(&body);
		return 1;
	}
	fwrite(body.data, 1, body.len, stdout);
	if (body.len && body.data[body.len - 1] != '\n')
		putchar('\n');
	expo_buf__free(&body);
	return 0;
}

/* Print each metric's report of the /normalization document @root. */
static int print_norm(json_t *root, const char *url)
{
	json_t *metrics = json_object_get(root, "metrics");
	const char *name;
	json_t *one;
	int ret = 0;

	if (!json_is_object(metrics)) {
		log_err("norm report: %s: not a normalization document", url);
		return -EINVAL;
	}
	json_object_foreach(metrics, name, one) {
		printf("== %s\n", name);
		if (norm__report_from_json(one, stdout)) {
			log_err("norm report: %s: malformed report for %s", url, name);
			ret = -EINVAL;
		}
	}
	if (!json_object_size(metrics))
		printf("no normalization metrics in this agent's spec\n");
	return ret;
}

int client__norm(int argc, char **argv)
{
	const char *def = CLIENT_DEFAULT_BASE "/normalization";
	struct expo_buf body = {};
	json_error_t jerr;
	json_t *root;
	const char *url;
	int ret;

	if (argc < 2 || strcmp(argv[1], "report")) {
		log_err("norm: expected 'report'");
		usage(stderr, "norm report", def);
		return 2;
	}
	ret = parse_url(argc - 1, argv + 1, "norm report", def, &url);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (fetch("norm report", url, &body)) {
		expo_buf__free(&body);
		return 1;
	}
	root = json_loadb(body.data, body.len, 0, &jerr);
	ret = print_norm(root, url);
	json_decref(root);
	expo_buf__free(&body);
	return ret ? 1 : 0;
}
