// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * promql_lint: a list of PromQL expressions, parsed by promtool.
 *
 * The expressions become recording rules LINT_RECORD_PREFIX<i> in a
 * temporary rules file, and `promtool check rules` reads it. promtool reports each rule it rejects on one line:
 *
 *   /tmp/emitd-lint-Ab12Cd: 7:15: group "emitd-lint", rule 2,
 *     "emitd:lint:expr_1": could not parse expression: 1:34: parse error:
 *     unclosed left parenthesis
 *
 * (one line, wrapped here). The record name gives the expression back; the
 * text after "could not parse expression: " is the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/fmt.h"
#include "spec/promql_lint.h"

#define GROUP_NAME	"emitd-lint"
#define PARSE_PREFIX	"could not parse expression: "
#define MAX_OUTPUT	(1 << 20)	/* promtool output kept, bytes */

/* The expressions and promtool's message for each (NULL when it parses). */
struct lint_exprs {
	const struct promql_expr *v;
	char **error;
	size_t nr;
};

/* ---- the rules file ---- */

static const char *tmp_dir(void)
{
	const char *dir = getenv("TMPDIR");

	return dir && *dir ? dir : "/tmp";
}

/* Write @l as recording rules to a new temporary file; its path in *@path. */
static int write_rules(const struct lint_exprs *l, char **path)
{
	char name[64];
	size_t i;
	FILE *f;
	int fd, err = 0;

	*path = fmt__str("%s/emitd-lint-XXXXXX", tmp_dir());
	if (!*path)
		return -ENOMEM;
	fd = mkstemp(*path);
	if (fd < 0) {
		err = -errno;
		goto err_free;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto err_unlink;
	}
	fputs("groups:\n  - name: " GROUP_NAME "\n    rules:\n", f);
	for (i = 0; i < l->nr; i++) {
		snprintf(name, sizeof(name), LINT_RECORD_PREFIX "%zu", i);
		fputs("      - record: ", f);
		fmt__yaml_quote(f, name);
		fputs("\n        expr: ", f);
		fmt__yaml_quote(f, l->v[i].expr);
		fputc('\n', f);
	}
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err)
		return 0;
err_unlink:
	unlink(*path);
err_free:
	free(*path);
	*path = NULL;
	return err;
}

/* ---- running promtool ---- */

struct output {
	char *buf;
	size_t len;
};

static int wait_child(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* `@promtool check rules @file`, stdout and stderr into @out; *@status is the wait status. */
static int run_promtool(const char *promtool, const char *file, struct output *out,
			int *status)
{
	char *argv[] = { (char *)promtool, "check", "rules", (char *)file, NULL };
	posix_spawn_file_actions_t fa;
	int fds[2], err, rerr;
	pid_t pid;

	out->buf = NULL;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	err = -posix_spawn_file_actions_init(&fa);
	if (err)
		goto out_close;
	err = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!err)
		err = -posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	if (!err)
		err = -posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	if (!err)
		err = -posix_spawn(&pid, promtool, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		goto out_close;
	close(fds[1]);
	rerr = fileio__read_fd(fds[0], MAX_OUTPUT, FILEIO_KEEP_HEAD, &out->buf, &out->len);
	close(fds[0]);		/* a child still writing gets EPIPE, not a hang */
	err = wait_child(pid, status);
	return err ? err : rerr;
out_close:
	close(fds[0]);
	close(fds[1]);
	return err;
}

/* ---- reading promtool's report ---- */

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* The error slot of the expression a line of @file's errors names; its message in *@msg. */
static char **error_line(struct lint_exprs *l, char *line, const char *file, char **msg)
{
	const char *tag = "\"" LINT_RECORD_PREFIX;
	char *p, *end;
	unsigned long i;

	if (!starts_with(line, file) || line[strlen(file)] != ':')
		return NULL;
	p = strstr(line, tag);
	if (!p)
		return NULL;
	p += strlen(tag);
	errno = 0;
	i = strtoul(p, &end, 10);
	if (errno || end == p || !starts_with(end, "\": ") || i >= l->nr)
		return NULL;
	*msg = end + 3;
	if (starts_with(*msg, PARSE_PREFIX))
		*msg += strlen(PARSE_PREFIX);
	return &l->error[i];
}

/* Append @s to *@dst, "; "-separated. */
static int append(char **dst, const char *s)
{
	char *n = *dst ? fmt__str("%s; %s", *dst, s) : strdup(s);

	if (!n)
		return -ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

/*
 * Attach promtool's messages to the expressions they name; *@nr counts them.
 * A message that spans lines (several parse errors) is joined with "; ".
 */
static int parse_report(struct lint_exprs *l, const char *out, const char *file,
			size_t *nr)
{
	char **cur = NULL, **e, *text, *line, *next, *msg;
	int err = 0;

	*nr = 0;
	text = strdup(out);
	if (!text)
		return -ENOMEM;
	for (line = text; line && !err; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		e = error_line(l, line, file, &msg);
		if (e) {
			*nr += !*e;
			cur = e;
			err = append(e, trim(msg));
			continue;
		}
		line = trim(line);
		if (!*line || starts_with(line, file) || starts_with(line, "Checking ") ||
		    starts_with(line, "FAILED") || starts_with(line, "SUCCESS"))
			cur = NULL;
		else if (cur)
			err = append(cur, line);
	}
	free(text);
	return err;
}

static int add_diags(const struct lint_exprs *l, struct spec_diags *diags)
{
	const struct promql_expr *e;
	size_t i;
	int err = 0;

	for (i = 0; !err && i < l->nr; i++) {
		e = &l->v[i];
		if (!l->error[i])
			continue;
		if (e->origin)
			err = spec_diags__add(diags, e->mark, e->field,
					      "PromQL does not parse: %s (generated expression `%s` in %s)",
					      l->error[i], e->expr, e->origin);
		else
			err = spec_diags__add(diags, e->mark, e->field,
					      "PromQL does not parse: %s", l->error[i]);
	}
	return err;
}

/* ---- the check ---- */

static bool executable(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK);
}

/*
 * The promtool to run: $EMITD_PROMTOOL or "promtool", searched in $PATH when
 * it has no '/' (posix_spawnp() cannot tell a missing program from one that
 * exits 127 under every libc or emulator). -ENOENT when there is none.
 */
static int find_promtool(char **out)
{
	const char *name = getenv(LINT_PROMTOOL_ENV), *path, *dir, *end;
	char *cand;

	if (!name || !*name)
		name = LINT_PROMTOOL;
	if (strchr(name, '/')) {
		*out = strdup(name);
		return !*out ? -ENOMEM : executable(name) ? 0 : -ENOENT;
	}
	path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	for (dir = path; ; dir = end + 1) {
		end = strchrnul(dir, ':');
		cand = fmt__str("%.*s/%s", (int)(end - dir), end == dir ? "." : dir, name);
		if (!cand)
			return -ENOMEM;
		if (executable(cand)) {
			*out = cand;
			return 0;
		}
		free(cand);
		if (!*end)
			break;
	}
	*out = NULL;
	return -ENOENT;
}

/* Run promtool on @file and turn its report into diagnostics. */
static int check_file(struct lint_exprs *l, const char *file, struct spec_diags *diags)
{
	struct output out = {};
	char *promtool = NULL;
	size_t nr_failed = 0;
	int err, status = 0;

	err = find_promtool(&promtool);
	if (err == -ENOENT) {
		fprintf(stderr, "emitd lint: promtool not found: PromQL expressions not parsed (install the prometheus package)\n");
		err = 0;
		goto out;
	}
	if (!err)
		err = run_promtool(promtool, file, &out, &status);
	if (err) {
		fprintf(stderr, "emitd lint: cannot run %s: %s\n",
			promtool ? promtool : LINT_PROMTOOL, strerror(-err));
		goto out;
	}
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		goto out;
	err = parse_report(l, out.buf, file, &nr_failed);
	if (!err && nr_failed)
		err = add_diags(l, diags);
	if (!err && nr_failed)
		err = -EINVAL;
	if (!err) {
		/* It failed without naming an expression: show what it said. */
		fprintf(stderr, "emitd lint: %s check rules failed (%s %d)%s\n%s", promtool,
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			out.len ? ":" : " without output", out.buf);
		err = -EIO;
	}
out:
	free(out.buf);
	free(promtool);
	return err;
}

int promql__lint(const struct promql_expr *v, size_t nr, struct spec_diags *diags)
{
	struct lint_exprs l = { v, NULL, nr };
	char *file = NULL;
	size_t i;
	int err;

	l.error = calloc(nr ? nr : 1, sizeof(*l.error));
	if (!l.error) {
		fprintf(stderr, "emitd lint: cannot check PromQL expressions: %s\n",
			strerror(ENOMEM));
		return -ENOMEM;
	}
	err = write_rules(&l, &file);
	if (err) {
		fprintf(stderr, "emitd lint: cannot write a temporary rules file in %s: %s\n",
			tmp_dir(), strerror(-err));
		goto out;
	}
	err = check_file(&l, file, diags);
	unlink(file);
	free(file);
out:
	for (i = 0; i < nr; i++)
		free(l.error[i]);
	free(l.error);
	return err;
}
