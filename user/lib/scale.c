// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <float.h>
#include <math.h>

#include "lib/scale.h"

/* Units in the last place that two decimal literals and one division cost. */
#define SCALE_ULPS	4

bool scale__integral(double v, double *out)
{
	double r = nearbyint(v);

	if (!isfinite(v) || fabs(v - r) > SCALE_ULPS * DBL_EPSILON * fabs(v))
		return false;
	*out = r;
	return true;
}

/* N when 1 / @scale is the integer N >= 2, else 0. */
static double inverse(double scale)
{
	double n;

	if (!(scale > 0 && scale < 1) || !scale__integral(1 / scale, &n))
		return 0;
	return n;
}

double scale__export(double v, double scale)
{
	double n;

	if (scale == 1 || !(scale > 0))
		return v;
	n = inverse(scale);
	return n ? v / n : v * scale;
}

double scale__unexport(double v, double scale)
{
	double n;

	if (scale == 1 || !(scale > 0))
		return v;
	n = inverse(scale);
	return n ? v * n : v / scale;
}
