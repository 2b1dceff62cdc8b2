// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * build_info: the version and revision the Makefile defines (see build_info.h).
 */
#include "lib/build_info.h"

#ifndef EMITD_VERSION
#define EMITD_VERSION	"0.1.0"
#endif
#ifndef EMITD_REVISION
#define EMITD_REVISION	"unknown"
#endif

const char *build_info__version(void)
{
	return EMITD_VERSION;
}

const char *build_info__revision(void)
{
	return EMITD_REVISION;
}
