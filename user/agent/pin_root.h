/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pin_root: make sure no other user can take the pin root over.
 *
 * The pins (maps, and links that outlive the agent) are reached by path: whoever
 * can replace, rename or write into any directory on that path can delete the
 * counts or point the agent at pins of their own. pin_root__secure() walks the
 * path from / down, one component at a time (openat(O_PATH | O_NOFOLLOW) from
 * the parent's descriptor, then fstat: lstat semantics, no race between the
 * check and the next step), and accepts it only when every component is
 *
 *   - a directory, not a symbolic link;
 *   - owned by root or by the agent's effective uid;
 *   - not writable by group or others, except a directory *above* the pin root
 *     that is sticky (S_ISVTX) and owned by root or the euid: others may create
 *     names there but not remove or rename ours (/tmp's rule; also bpffs'
 *     root, 1777 when mounted without mode=, 1700 with mode=0700). The pin
 *     root itself must not be group- or world-writable, sticky or not.
 *
 * Missing components are created with mkdirat(parent, name, 0700) and then
 * opened and checked like the others (someone else's directory that appeared
 * in between is refused). "." is skipped; ".." is refused. A relative path is
 * taken from getcwd(), whose components are checked too.
 *
 * Errors are logged once, naming the pin root, the component and the reason;
 * returns 0, -EPERM (refused) or the errno of a failed call.
 */
#ifndef EMITD_AGENT_PIN_ROOT_H
#define EMITD_AGENT_PIN_ROOT_H

int pin_root__secure(const char *pin_root);

#endif /* EMITD_AGENT_PIN_ROOT_H */
