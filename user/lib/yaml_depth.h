/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * yaml_depth: the nesting-depth pass the spec loader and the web config
 * run before libyaml's loader.
 */
#ifndef EMITD_YAML_DEPTH_H
#define EMITD_YAML_DEPTH_H

#include <stddef.h>

/*
 * libyaml's scanner is quadratic in the flow nesting depth, so a cheap event
 * pass refuses deep documents before the loader sees them. It stops at the
 * first collection nested deeper than @max; syntax errors are left to the
 * loader, which reports them.
 *
 * 0: not deeper than @max; 1: deeper, with the 1-based line and column of
 * the collection that went past it in @line, @col; -ENOMEM.
 */
int yaml__check_depth(const char *buf, size_t len, int max, size_t *line, size_t *col);

#endif
