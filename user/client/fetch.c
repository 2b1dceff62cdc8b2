// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "client/fetch.h"

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct expo_buf *out = ctx;
	size_t n = size * nmemb;

	if (out->len + n > FETCH_MAX_BYTES || expo_buf__append(out, data, n))
		return 0;	/* makes curl fail with CURLE_WRITE_ERROR */
	return n;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_WRITE_ERROR:
		return -EFBIG;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int fetch__get(const char *url, struct expo_buf *out, long *status, char *err, size_t errlen)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	CURL *curl;
	int ret = 0;

	*status = 0;
	curl = curl_easy_init();
	if (!curl)
		return -ENOMEM;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		ret = curl_errno(rc);
		if (err)
			snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	if (*status != 200) {
		ret = -EPROTO;
		if (err)
			snprintf(err, errlen, "HTTP status %ld", *status);
	}
out:
	curl_easy_cleanup(curl);
	return ret;
}
