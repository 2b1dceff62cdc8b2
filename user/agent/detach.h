/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * detach: `emitd detach`, the teardown of what a stopped agent leaves
 * attached under its pin root (see detach.c). Touches nothing but that pin
 * root.
 */
#ifndef EMITD_AGENT_DETACH_H
#define EMITD_AGENT_DETACH_H

/* `emitd detach`: returns the exit status (0, 1 runtime error, 2 usage error). */
int detach__main(int argc, char **argv);

#endif /* EMITD_AGENT_DETACH_H */
