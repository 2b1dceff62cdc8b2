// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * quantile: exact and bucket-estimated quantiles with PromQL semantics
 * (see quantile.h). The arithmetic follows Prometheus' promql/quantile.go
 * expression for expression, so the results agree with Prometheus.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/quantile.h"

/* Prometheus' correctPrecisionErrors() tolerance for bucket counts. */
#define PRECISION_TOLERANCE	1e-12

/* PromQL's answers for a q outside [0, 1]; false when q is in range. */
static bool q_special(double q, double *out)
{
	if (isnan(q)) {
		*out = NAN;
		return true;
	}
	if (q < 0) {
		*out = -INFINITY;
		return true;
	}
	if (q > 1) {
		*out = INFINITY;
		return true;
	}
	return false;
}

double quantile__sorted(const double *sorted, size_t n, double q)
{
	double rank, lower, upper, weight, special;

	if (!sorted || !n)
		return NAN;
	if (q_special(q, &special))
		return special;
	rank = q * (double)(n - 1);
	lower = fmax(0, floor(rank));
	upper = fmin((double)(n - 1), lower + 1);
	weight = rank - floor(rank);
	return sorted[(size_t)lower] * (1 - weight) + sorted[(size_t)upper] * weight;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int quantile__exact(const double *values, size_t n, const double *qs, size_t nq, double *out)
{
	double *sorted = NULL;
	size_t i, m = 0;

	if ((n && !values) || (nq && (!qs || !out)))
		return -EINVAL;
	if (n) {
		sorted = malloc(n * sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		if (!isnan(values[i]))
			sorted[m++] = values[i];
	if (m)
		qsort(sorted, m, sizeof(*sorted), cmp_double);
	for (i = 0; i < nq; i++)
		out[i] = quantile__sorted(sorted, m, qs[i]);
	free(sorted);
	return 0;
}

static int check_buckets(const double *bounds, const uint64_t *cum, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (isnan(bounds[i]))
			return -EINVAL;
		if (i && !(bounds[i] > bounds[i - 1]))
			return -EINVAL;
		if (cum && i && cum[i] < cum[i - 1])
			return -EINVAL;
	}
	return 0;
}

/*
 * Counts as Prometheus sees them: float64, with increases smaller than
 * 1e-12 relative taken for float noise (only reachable above 1e12 events).
 */
static double *float_counts(const uint64_t *cum, size_t n)
{
	double *c, prev, delta;
	size_t i;

	c = malloc(n * sizeof(*c));
	if (!c)
		return NULL;
	for (i = 0; i < n; i++)
		c[i] = (double)cum[i];
	prev = c[0];
	for (i = 1; i < n; i++) {
		delta = fabs(c[i] - prev);
		if (delta == 0)
			continue;
		if (delta / c[i] <= PRECISION_TOLERANCE)
			c[i] = prev;
		else
			prev = c[i];
	}
	return c;
}

/* The first bucket in [0, n-1) whose count reaches @rank, else n - 1. */
static size_t search_rank(const double *c, size_t n, double rank)
{
	size_t lo = 0, hi = n - 1, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (c[mid] >= rank)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static double bucket_quantile(double q, const double *bounds, const double *c, size_t n)
{
	double rank, start = 0, end, count;
	size_t b;

	if (c[n - 1] == 0)
		return NAN;
	rank = q * c[n - 1];
	b = search_rank(c, n, rank);
	if (b == n - 1)
		return bounds[n - 2];
	if (b == 0 && bounds[0] <= 0)
		return bounds[0];
	end = bounds[b];
	count = c[b];
	if (b > 0) {
		start = bounds[b - 1];
		count -= c[b - 1];
		rank -= c[b - 1];
	}
	return start + (end - start) * (rank / count);
}

int quantile__histogram(double q, const double *upper_bounds, const uint64_t *cumulative,
			size_t n, double *out)
{
	double *c;

	if (!out || (n && (!upper_bounds || !cumulative)))
		return -EINVAL;
	if (check_buckets(upper_bounds, cumulative, n))
		return -EINVAL;
	if (q_special(q, out))
		return 0;
	if (!n || !isinf(upper_bounds[n - 1]) || n < 2) {
		*out = NAN;
		return 0;
	}
	c = float_counts(cumulative, n);
	if (!c)
		return -ENOMEM;
	*out = bucket_quantile(q, upper_bounds, c, n);
	free(c);
	return 0;
}

/* The first bound >= @v (Prometheus `le`), nb when there is none. */
static size_t slot_of(const double *bounds, size_t nb, double v)
{
	size_t lo = 0, hi = nb, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v <= bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int quantile__bucketize(const double *values, size_t n, const double *upper_bounds,
			size_t nb, uint64_t *cumulative)
{
	size_t i, slot;

	if ((n && !values) || (nb && (!upper_bounds || !cumulative)))
		return -EINVAL;
	if (check_buckets(upper_bounds, NULL, nb))
		return -EINVAL;
	if (!nb)
		return 0;
	memset(cumulative, 0, nb * sizeof(*cumulative));
	for (i = 0; i < n; i++) {
		if (isnan(values[i]))
			continue;
		slot = slot_of(upper_bounds, nb, values[i]);
		if (slot < nb)
			cumulative[slot]++;
	}
	for (i = 1; i < nb; i++)
		cumulative[i] += cumulative[i - 1];
	return 0;
}

double quantile__deviation(double bucket, double raw)
{
	if (isnan(bucket) || isnan(raw))
		return NAN;
	if (bucket == raw)
		return 0;
	if (raw == 0 || isinf(raw) || isinf(bucket))
		return INFINITY;
	return fabs(bucket - raw) / fabs(raw);
}
