/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * log: one line per event on stderr, "emitd: LEVEL: message". Errors are
 * reported once, where they are handled, with their context: the agent and
 * the CLI commands (usage errors included) report through log_err(). Spec
 * diagnostics (FILE:LINE:COL: error: ...) and usage text are output of their
 * own, not log lines.
 */
#ifndef EMITD_LOG_H
#define EMITD_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Another library's own lines (libbpf's print callback), written as they
 * come when @level is enabled; returns what vfprintf(3) returns, or 0.
 */
int log_vraw(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_err(...)	log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif /* EMITD_LOG_H */
