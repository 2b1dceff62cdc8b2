// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>
#include <openssl/evp.h>

#include "lib/metric_id.h"

uint32_t emitd_metric_id(const char *full_name)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	uint32_t id;

	if (!EVP_Digest(full_name, strlen(full_name), md, &len, EVP_sha256(), NULL))
		return 1;
	id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	return id ? id : 1;
}

uint64_t emitd_metric_sig(const void *desc, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	uint64_t sig = 0;
	int i;

	if (!EVP_Digest(desc, len, md, &n, EVP_sha256(), NULL))
		return 0;
	for (i = 0; i < 8; i++)
		sig = sig << 8 | md[i];
	return sig;
}
