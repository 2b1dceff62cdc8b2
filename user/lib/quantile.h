/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * quantile: the math of histogram trial mode. The same quantile is computed
 * from raw observations and from histogram buckets; the relative deviation
 * between the two says whether the buckets fit the data.
 *
 * Pure functions. Values follow PromQL so that emitd's numbers match what a
 * user computes in Prometheus:
 *  - quantile__exact() is PromQL quantile() (and numpy's default "linear"
 *    method, Hyndman-Fan type 7): rank = q * (n - 1) over the sorted
 *    values, linear interpolation between the two closest ranks.
 *  - quantile__histogram() is PromQL histogram_quantile() over classic
 *    cumulative buckets: rank = q * total, linear interpolation inside the
 *    bucket holding the rank; the lowest bucket starts at 0 when its upper
 *    bound is > 0 and returns its upper bound when that is <= 0; a rank in
 *    the +Inf bucket returns the highest finite bound. Like Prometheus
 *    >= 2.49, an increase of at most 1e-12 (relative) from one bucket to the
 *    next is taken for float noise and flattened (only reachable above 10^12
 *    observations).
 *  - q < 0 gives -Inf, q > 1 gives +Inf, q NaN gives NaN; no observations
 *    give NaN.
 * NaN observations are ignored (PromQL would sort them first).
 */
#ifndef EMITD_QUANTILE_H
#define EMITD_QUANTILE_H

#include <stddef.h>
#include <stdint.h>

/* PromQL quantile() over @n values sorted ascending, no NaN among them. */
double quantile__sorted(const double *sorted, size_t n, double q);

/*
 * Quantiles @qs[0..nq) of the raw @values (any order; NaNs ignored) into
 * @out. The values are copied and sorted once. Returns 0, -EINVAL for NULL
 * arrays, -ENOMEM.
 */
int quantile__exact(const double *values, size_t n, const double *qs, size_t nq, double *out);

/*
 * PromQL histogram_quantile(q, ...) over @n classic buckets: @upper_bounds
 * strictly increasing (the `le` values), @cumulative[i] the observations
 * <= upper_bounds[i], non-decreasing. Like Prometheus, the result is NaN when
 * the last bound is not +Inf, when there are fewer than 2 buckets or no
 * observations. Returns 0 (the value in @out) or -EINVAL for NULL arrays,
 * NaN or unsorted bounds, or decreasing counts.
 */
int quantile__histogram(double q, const double *upper_bounds, const uint64_t *cumulative,
			size_t n, double *out);

/*
 * Bucket raw @values as a Prometheus client does (value <= bound): fills
 * @cumulative[i] with the number of values <= @upper_bounds[i] (strictly
 * increasing; +Inf last to count everything but NaN). -EINVAL on NULL or
 * unsorted bounds.
 */
int quantile__bucketize(const double *values, size_t n, const double *upper_bounds,
			size_t nb, uint64_t *cumulative);

/*
 * Relative deviation |bucket - raw| / |raw| of a bucket-estimated quantile
 * from the raw one: 0 when they are equal (equal infinities included), +Inf
 * when raw is 0 and bucket is not, or when exactly one of them is infinite;
 * NaN when either is NaN.
 */
double quantile__deviation(double bucket, double raw);

#endif /* EMITD_QUANTILE_H */
