// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <string.h>

#include "lib/bucket.h"
#include "lib/scale.h"
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

int bucket__unscale(double b, double scale, __u8 type, double *out)
{
	double k = scale__unexport(b, scale);

	if (isnan(k))
		return -EINVAL;
	if (type == EMITD_VAL_F64 || scale == 1) {
		*out = k;
		return 0;
	}
	return scale__integral(k, out) ? 0 : -EDOM;
}

int bucket__scaled_images(const double *bounds, size_t n, double scale, __u8 type,
			  __u64 *out)
{
	double k, prev = 0;
	size_t i;
	int err;

	if (n > EMITD_MAX_BOUNDS)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		err = bucket__unscale(bounds[i], scale, type, &k);
		if (err)
			return err;
		if (i && !(k > prev))
			return -EINVAL;
		err = bucket__bound_image(k, type, &out[i]);
		if (err)
			return err;
		prev = k;
	}
	return 0;
}

int bucket__images(const double *bounds, size_t n, __u8 type, __u64 *out)
{
	return bucket__scaled_images(bounds, n, 1, type, out);
}
