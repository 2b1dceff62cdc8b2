// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "emitd.h"
#include "lib/labelenc.h"
#include "lib/utf8.h"

struct out {
	char *buf;
	size_t sz;
	size_t len;
};

/* Appends @n bytes, keeping room for the NUL; false when they do not fit. */
static bool out_put(struct out *o, const void *s, size_t n)
{
	if (n >= o->sz - o->len)
		return false;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	return true;
}

static bool out_put_hex(struct out *o, unsigned char c)
{
	static const char digits[] = "0123456789abcdef";
	char esc[4] = { '\\', 'x', digits[c >> 4], digits[c & 0xf] };

	return out_put(o, esc, sizeof(esc));
}

/* One step at @p: a backslash, a well-formed sequence or an ill-formed subpart. */
static int encode_step(struct out *o, const unsigned char *p)
{
	int n, i;

	if (*p == '\\')
		return out_put(o, "\\\\", 2) ? 1 : -ENOSPC;
	n = utf8__seq(p);
	if (n > 0)
		return out_put(o, p, (size_t)n) ? n : -ENOSPC;
	for (i = 0; i < -n; i++)
		if (!out_put_hex(o, p[i]))
			return -ENOSPC;
	return -n;
}

int labelenc__encode(const char *in, char *out, size_t out_sz)
{
	const unsigned char *p = (const unsigned char *)in;
	struct out o = { out, out_sz, 0 };
	int n;

	if (!out_sz)
		return -ENOSPC;
	if (!strcmp(in, EMITD_OTHER_VALUE)) {
		if (!out_put(&o, "\\" EMITD_OTHER_VALUE, strlen("\\" EMITD_OTHER_VALUE)))
			goto err_nospc;
		p += strlen(in);
	}
	while (*p) {
		n = encode_step(&o, p);
		if (n < 0)
			goto err_nospc;
		p += n;
	}
	out[o.len] = '\0';
	return 0;

err_nospc:
	out[0] = '\0';
	return -ENOSPC;
}
