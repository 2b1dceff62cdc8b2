// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <string.h>

#include "lib/bucket.h"
#include "emitd_bucket.h"

int bucket__bound_image(double b, __u8 type, __u64 *img)
{
	__u64 bits;
	double f;

	if (isnan(b))
		return -EINVAL;
	if (type == EMITD_VAL_F64) {
		memcpy(&bits, &b, sizeof(bits));
		*img = emitd_image_f64(bits);
		return 0;
	}
	f = floor(b);
	if (type == EMITD_VAL_U64) {
		if (f < 0)
			return -ERANGE;
		*img = f >= 18446744073709551615.0 ? ~0ULL : (__u64)f;
		return 0;
	}
	if (f >= 9223372036854775807.0)
		*img = ~0ULL;
	else if (f <= -9223372036854775808.0)
		*img = 0;
	else
		*img = (__u64)(__s64)f ^ EMITD_SIGN_BIT;
	return 0;
}

int bucket__images(const double *bounds, size_t n, __u8 type, __u64 *out)
{
	size_t i;
	int err;

	if (n > EMITD_MAX_BOUNDS)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		if (i && !(bounds[i] > bounds[i - 1]))
			return -EINVAL;
		err = bucket__bound_image(bounds[i], type, &out[i]);
		if (err)
			return err;
	}
	return 0;
}
