/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * build_info: what this build is, written once: the version, and the
 * revision (`git describe --always --dirty` when it was built, "unknown"
 * outside git), both given by the Makefile to build_info.o alone.
 * Constants only.
 */
#ifndef EMITD_LIB_BUILD_INFO_H
#define EMITD_LIB_BUILD_INFO_H

const char *build_info__version(void);
const char *build_info__revision(void);

#endif /* EMITD_LIB_BUILD_INFO_H */
