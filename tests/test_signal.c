// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for user/signal.c against closed forms and numpy fixtures
 * (tests/fixtures/signal/fixtures.h, see tests/fixtures/gen_signal_fixtures.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/signal_metrics.h"
#include "fixtures/signal/fixtures.h"

#define LN2		0.69314718055994530942
#define H1_ZSCORE(eps)	(0.5 * log2(2.0 * M_PI * M_E * (1.0 + (eps))))

#define assert_near(a, b, tol)							\
	do {									\
		double a_ = (a), b_ = (b), t_ = (tol);				\
		if (!(fabs(a_ - b_) <= t_))					\
			fail_msg("%s = %.17g, expected %s = %.17g (tol %g)",	\
				 #a, a_, #b, b_, t_);				\
	} while (0)

/* ---- helpers ------------------------------------------------------------ */

struct rng {
	uint64_t state;
};

static uint64_t splitmix64(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double rng_uniform(struct rng *r)
{
	return ((splitmix64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box-Muller (the cosine half only: simple, still exact). */
static double rng_gauss(struct rng *r)
{
	double u1 = rng_uniform(r), u2 = rng_uniform(r);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static void fill_gauss(struct rng *r, double *x, unsigned int m, double scale)
{
	unsigned int t;

	for (t = 0; t < m; t++)
		x[t] = scale * rng_gauss(r);
}

static double mean_of(const double *x, unsigned int m)
{
	double s = 0;
	unsigned int t;

	for (t = 0; t < m; t++)
		s += x[t];
	return s / m;
}

static double dot_of(const double *a, const double *b, unsigned int m)
{
	double s = 0;
	unsigned int t;

	for (t = 0; t < m; t++)
		s += a[t] * b[t];
	return s;
}

/* Center @x and scale it to population variance 1. */
static void standardize(double *x, unsigned int m)
{
	double mu = mean_of(x, m), sd;
	unsigned int t;

	for (t = 0; t < m; t++)
		x[t] -= mu;
	sd = sqrt(dot_of(x, x, m) / m);
	for (t = 0; t < m; t++)
		x[t] /= sd;
}

/* Make centered @y orthogonal to centered @x (zero sample correlation). */
static void orthogonalize(double *y, const double *x, unsigned int m)
{
	double c = dot_of(x, y, m) / dot_of(x, x, m);
	unsigned int t;

	for (t = 0; t < m; t++)
		y[t] -= c * x[t];
}

/*
 * x (row 0) and y (row 1) with sample correlation exactly rho (up to rounding)
 * and an optional row 2 with zero sample correlation to both.
 */
static void make_rho_rows(struct rng *r, double *rows, unsigned int m, double rho, bool third)
{
	double *x = rows, *y = rows + m, *z = rows + 2 * m, *y0 = malloc(sizeof(double) * m);
	unsigned int t;

	assert_non_null(y0);
	fill_gauss(r, x, m, 1.0);
	fill_gauss(r, y0, m, 1.0);
	standardize(x, m);
	standardize(y0, m);
	orthogonalize(y0, x, m);
	standardize(y0, m);
	for (t = 0; t < m; t++)
		y[t] = rho * x[t] + sqrt(1.0 - rho * rho) * y0[t];
	if (third) {
		fill_gauss(r, z, m, 3.0);
		standardize(z, m);
		orthogonalize(z, x, m);
		orthogonalize(z, y0, m);
		standardize(z, m);
	}
	free(y0);
}

/* TC of two z-scored channels with sample correlation rho, eps included. */
static double tc_rho_eps(double rho, double eps)
{
	return log2(1.0 + eps) - 0.5 * log2((1.0 + eps) * (1.0 + eps) - rho * rho);
}

static struct signal_input input_of(const double *x, unsigned int n, unsigned int m)
{
	struct signal_input in = {
		.nr_channels = n,
		.nr_samples = m,
		.channel_ids = NULL,
		.samples = x,
	};

	return in;
}

static void compute_ok(const struct signal_config *cfg, const double *x, unsigned int n,
		       unsigned int m, struct signal_result *res)
{
	struct signal_input in = input_of(x, n, m);

	assert_int_equal(signal__compute(cfg, &in, res), 0);
}

static double rank_delta(const struct signal_result *res, unsigned int channel)
{
	unsigned int i;

	for (i = 0; i < res->nr_ranked; i++) {
		if (res->ranking[i].channel == channel)
			return res->ranking[i].delta_r;
	}
	fail_msg("channel %u not ranked", channel);
	return NAN;
}

static double rank_unique(const struct signal_result *res, unsigned int channel)
{
	unsigned int i;

	for (i = 0; i < res->nr_ranked; i++) {
		if (res->ranking[i].channel == channel)
			return res->ranking[i].unique_bits;
	}
	fail_msg("channel %u not ranked", channel);
	return NAN;
}

static void assert_result_finite(const struct signal_result *res)
{
	unsigned int i;

	for (i = 0; i < SIGNAL_MAX_CHANNELS; i++) {
		assert_true(isfinite(res->h[i]));
		assert_true(isfinite(res->ranking[i].delta_r));
		assert_true(isfinite(res->ranking[i].unique_bits));
	}
	assert_true(isfinite(res->sum_h));
	assert_true(isfinite(res->h_joint));
	assert_true(isfinite(res->total_corr));
	assert_true(isfinite(res->r));
}

static void assert_ranking_sorted(const struct signal_result *res)
{
	unsigned int i;

	for (i = 1; i < res->nr_ranked; i++)
		assert_true(res->ranking[i - 1].delta_r >= res->ranking[i].delta_r);
}

/* ---- config ------------------------------------------------------------- */

static void test_config_defaults_match_reference(void **state)
{
	struct signal_config cfg;

	(void)state;
	memset(&cfg, 0xa5, sizeof(cfg));
	signal_config__init(&cfg);
	assert_int_equal(cfg.estimator, SIGNAL_EST_GAUSSIAN);
	assert_int_equal(cfg.normalization, SIGNAL_NORM_ZSCORE);
	assert_true(cfg.covariance_epsilon == 1e-8);
	assert_int_equal(cfg.max_channels_for_joint, 32);
	assert_true(cfg.min_sum_h == 0.1);
	assert_int_equal(cfg.min_aligned_samples, 32);
	assert_true(cfg.healthy_min == 0.5);
	assert_true(cfg.attention_min == 0.2);
	assert_true(cfg.resilience_enabled);
	assert_true(cfg.criticality_enabled);
	assert_int_equal(cfg.crit_max_channels, 16);
	assert_int_equal(cfg.histogram_bins, 16);
	assert_int_equal(signal_config__validate(&cfg), 0);
}

static void test_config_validate_rejects_bad_values(void **state)
{
	struct signal_config base, cfg;

	(void)state;
	signal_config__init(&base);
#define REJECT(stmt)								\
	do {									\
		cfg = base;							\
		stmt;								\
		assert_int_equal(signal_config__validate(&cfg), -EINVAL);	\
	} while (0)
	REJECT(cfg.estimator = (enum signal_estimator)7);
	REJECT(cfg.normalization = (enum signal_normalization)7);
	REJECT(cfg.covariance_epsilon = -1e-9);
	REJECT(cfg.covariance_epsilon = NAN);
	REJECT(cfg.max_channels_for_joint = 0);
	REJECT(cfg.max_channels_for_joint = SIGNAL_MAX_CHANNELS + 1);
	REJECT(cfg.min_sum_h = 0);
	REJECT(cfg.min_sum_h = INFINITY);
	REJECT(cfg.min_aligned_samples = 1);
	REJECT(cfg.attention_min = 0.6);
	REJECT(cfg.healthy_min = NAN);
	REJECT(cfg.histogram_bins = 0);
	REJECT(cfg.histogram_bins = SIGNAL_MAX_BINS + 1);
#undef REJECT
	assert_int_equal(signal_config__validate(NULL), -EINVAL);
	cfg = base;
	cfg.covariance_epsilon = 0;
	cfg.histogram_bins = SIGNAL_MAX_BINS;
	cfg.max_channels_for_joint = SIGNAL_MAX_CHANNELS;
	assert_int_equal(signal_config__validate(&cfg), 0);
}

static void test_compute_bad_arguments_return_einval_and_invalid_result(void **state)
{
	struct signal_config cfg;
	struct signal_input in = input_of(NULL, 2, 40);
	struct signal_result res;

	(void)state;
	signal_config__init(&cfg);
	res.valid = true;
	assert_int_equal(signal__compute(&cfg, &in, &res), -EINVAL);	/* samples NULL */
	assert_false(res.valid);
	assert_non_null(res.invalid_reason);
	in = input_of(signal_fix_samples, 2, 40);
	assert_int_equal(signal__compute(NULL, &in, &res), -EINVAL);
	assert_int_equal(signal__compute(&cfg, NULL, &res), -EINVAL);
	assert_int_equal(signal__compute(&cfg, &in, NULL), -EINVAL);
	cfg.histogram_bins = 0;
	res.valid = true;
	assert_int_equal(signal__compute(&cfg, &in, &res), -EINVAL);
	assert_false(res.valid);
}

/* ---- Gaussian estimator -------------------------------------------------- */

/*
 * Independent channels: TC = -0.5 * log2 |Rhat + eps I| + n * 0.5 * log2(1 + eps),
 * Rhat the sample correlation matrix (the n variance terms of the log-det of
 * the covariance cancel against sum H_i, which is why this is n(n-1)/2 and not
 * the n(n+1)/2 of a covariance log-det). Bartlett: -(m - 1 - (2n + 5) / 6) *
 * ln |Rhat| ~ chi2 with d = n(n-1)/2 degrees of freedom, so TC in bits has mean
 * d / (2 m' ln 2) and sd sqrt(2d) / (2 m' ln 2), m' = m - 1 - (2n + 5) / 6.
 * Tolerance: mean + 8 sd. TC must also be strictly positive: sample
 * correlations of random data are never exactly 0.
 */
static double independence_tolerance(unsigned int n, unsigned int m)
{
	double d = n * (n - 1) / 2.0, mp = m - 1 - (2.0 * n + 5) / 6.0;

	return (d + 8 * sqrt(2 * d)) / (2 * mp * LN2);
}

static void check_independent(unsigned int n, unsigned int m, uint64_t seed)
{
	struct rng r = { seed };
	struct signal_config cfg;
	struct signal_result res;
	double *x = malloc(sizeof(double) * n * m), tol = independence_tolerance(n, m);
	unsigned int c;

	assert_non_null(x);
	for (c = 0; c < n; c++)
		fill_gauss(&r, x + c * m, m, 1.0 + c);
	signal_config__init(&cfg);
	compute_ok(&cfg, x, n, m, &res);
	assert_true(res.valid && res.r_valid);
	if (!(res.total_corr > 0 && res.total_corr < tol))
		fail_msg("n=%u m=%u: TC %.6g not in (0, %.6g)", n, m, res.total_corr, tol);
	assert_int_equal(res.zone, SIGNAL_ZONE_CRITICAL);
	free(x);
}

static void test_gaussian_independent_channels_tc_near_zero(void **state)
{
	(void)state;
	check_independent(2, 600, 1);
	check_independent(8, 600, 2);
	check_independent(16, 2000, 3);
	check_independent(32, 4000, 4);
}

static void test_gaussian_tc_same_for_zscore_and_raw_covariance(void **state)
{
	struct rng r = { 11 };
	struct signal_config cfg;
	struct signal_result z, raw;
	double x[3 * 200];
	unsigned int t;

	(void)state;
	fill_gauss(&r, x, 200, 1.0);
	for (t = 0; t < 200; t++) {
		x[200 + t] = 3 * x[t] + 0.5 * rng_gauss(&r);
		x[400 + t] = 100 - 0.01 * x[t] + 0.02 * rng_gauss(&r);
	}
	signal_config__init(&cfg);
	cfg.covariance_epsilon = 0;	/* eps is not scale-free: compare without it */
	compute_ok(&cfg, x, 3, 200, &z);
	cfg.normalization = SIGNAL_NORM_NONE;
	compute_ok(&cfg, x, 3, 200, &raw);
	assert_true(z.valid && raw.valid);
	assert_true(z.total_corr > 0.5);
	assert_near(raw.total_corr, z.total_corr, 1e-9);
}

static void test_gaussian_raw_h_matches_sample_variance(void **state)
{
	struct rng r = { 12 };
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 100], var, mu;
	unsigned int c, t;

	(void)state;
	fill_gauss(&r, x, 100, 0.05);		/* H < 0 bits: variance below 1/(2 pi e) */
	fill_gauss(&r, x + 100, 100, 40.0);
	signal_config__init(&cfg);
	cfg.normalization = SIGNAL_NORM_NONE;
	compute_ok(&cfg, x, 2, 100, &res);
	assert_true(res.valid);
	for (c = 0; c < 2; c++) {
		mu = mean_of(x + c * 100, 100);
		var = 0;
		for (t = 0; t < 100; t++)
			var += (x[c * 100 + t] - mu) * (x[c * 100 + t] - mu) / 100;
		assert_near(res.h[c], 0.5 * log2(2 * M_PI * M_E * (var + 1e-8)), 1e-12);
	}
	assert_true(res.h[0] < 0);
}

static void test_gaussian_zscore_h_is_half_log2_2pie(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	unsigned int c;

	(void)state;
	signal_config__init(&cfg);
	compute_ok(&cfg, signal_fix_samples, SIGNAL_FIX_N, SIGNAL_FIX_M, &res);
	for (c = 0; c < SIGNAL_FIX_N; c++)
		assert_near(res.h[c], H1_ZSCORE(1e-8), 1e-12);
	assert_near(res.h[0], 2.0470956, 1e-7);
	assert_near(res.sum_h, SIGNAL_FIX_N * H1_ZSCORE(1e-8), 1e-11);
}

static void test_gaussian_two_channels_tc_matches_rho(void **state)
{
	static const double rhos[] = { 0.0, 0.1, 0.5, -0.7, 0.9, 0.99, -0.999 };
	struct rng r = { 21 };
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 500], tc;
	unsigned int i;

	(void)state;
	signal_config__init(&cfg);
	for (i = 0; i < sizeof(rhos) / sizeof(rhos[0]); i++) {
		make_rho_rows(&r, x, 500, rhos[i], false);
		compute_ok(&cfg, x, 2, 500, &res);
		assert_true(res.valid && res.r_valid);
		tc = -0.5 * log2(1 - rhos[i] * rhos[i]);
		assert_near(res.total_corr, tc_rho_eps(rhos[i], 1e-8), 1e-9);
		assert_near(res.total_corr, tc, 1e-5);	/* eps moves it by ~eps/(1-rho^2) */
		assert_near(res.r, res.total_corr / (2 * H1_ZSCORE(1e-8)), 1e-12);
	}
}

/*
 * x, y with correlation rho and z uncorrelated with both: TC_all = TC_xy,
 * R_all = TC_xy / 3h, removing x or y leaves TC = 0, removing z leaves
 * R = TC_xy / 2h. So delta_r = TC/3h for x and y and TC/3h - TC/2h for z.
 */
static void test_gaussian_criticality_closed_form_pair_plus_independent(void **state)
{
	struct rng r = { 31 };
	struct signal_config cfg;
	struct signal_result res;
	double x[3 * 400], tc = tc_rho_eps(0.8, 1e-8), h = H1_ZSCORE(1e-8);

	(void)state;
	make_rho_rows(&r, x, 400, 0.8, true);
	signal_config__init(&cfg);
	compute_ok(&cfg, x, 3, 400, &res);
	assert_true(res.r_valid);
	assert_int_equal(res.nr_ranked, 3);
	assert_near(res.total_corr, tc, 1e-9);
	assert_near(res.r, tc / (3 * h), 1e-9);
	assert_near(rank_delta(&res, 0), tc / (3 * h), 1e-9);
	assert_near(rank_delta(&res, 1), tc / (3 * h), 1e-9);
	assert_near(rank_delta(&res, 2), tc / (3 * h) - tc / (2 * h), 1e-9);
	assert_int_equal(res.ranking[2].channel, 2);
	assert_ranking_sorted(&res);
}

/*
 * delta_r = R_all - R_without_k measures how much redundancy k contributes:
 * removing one of two copies removes the largest share of TC, so copies rank
 * first (with equal delta_r) and above a channel that is merely correlated.
 */
static void test_criticality_gaussian_duplicate_copies_tie_and_outrank_unique(void **state)
{
	struct rng r = { 41 };
	struct signal_config cfg;
	struct signal_result res;
	double x[4 * 300];
	unsigned int t;

	(void)state;
	fill_gauss(&r, x, 300, 1.0);
	memcpy(x + 300, x, sizeof(double) * 300);
	for (t = 0; t < 300; t++)
		x[600 + t] = 0.6 * x[t] + 0.8 * rng_gauss(&r);
	fill_gauss(&r, x + 900, 300, 1.0);
	signal_config__init(&cfg);
	compute_ok(&cfg, x, 4, 300, &res);
	assert_true(res.r_valid);
	assert_result_finite(&res);
	assert_true(res.ranking[0].channel <= 1 && res.ranking[1].channel <= 1);
	assert_near(rank_delta(&res, 0), rank_delta(&res, 1), 1e-9);
	assert_true(rank_delta(&res, 0) > rank_delta(&res, 2));
	assert_true(rank_delta(&res, 2) > rank_delta(&res, 3));
}

/* Exact copies: |Sigma + eps I| = (1 + eps)^2 - 1, finite thanks to eps. */
static void test_gaussian_duplicate_channels_stay_finite(void **state)
{
	struct rng r = { 51 };
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 100], e = 1e-8, tc;

	(void)state;
	fill_gauss(&r, x, 100, 5.0);
	memcpy(x + 100, x, sizeof(double) * 100);
	signal_config__init(&cfg);
	compute_ok(&cfg, x, 2, 100, &res);
	assert_true(res.valid && res.r_valid);
	assert_result_finite(&res);
	tc = log2(1 + e) - 0.5 * log2(2 * e + e * e);
	assert_near(res.total_corr, tc, 1e-6);
	assert_true(res.total_corr > 12.7);	/* ~ -0.5 log2(2e-8) */
	assert_true(res.r > 1);			/* differential TC is not bounded by sum_h */
	assert_int_equal(res.zone, SIGNAL_ZONE_HEALTHY);
}

static void test_gaussian_zero_epsilon_duplicate_is_singular_not_nan(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 64];
	unsigned int t;

	(void)state;
	for (t = 0; t < 64; t++)
		x[t] = x[64 + t] = t % 8;	/* exact arithmetic: exactly singular */
	signal_config__init(&cfg);
	cfg.covariance_epsilon = 0;
	compute_ok(&cfg, x, 2, 64, &res);
	assert_false(res.valid);
	assert_false(res.r_valid);
	assert_string_equal(res.invalid_reason, "singular_covariance");
	assert_result_finite(&res);
}

/* A constant channel is a point mass: H = 0, out of the joint, delta_r = 0. */
static void check_constant_channel(enum signal_estimator est)
{
	enum { N = SIGNAL_FIX_N + 1, M = SIGNAL_FIX_M };
	double *x = malloc(sizeof(double) * N * M);
	struct signal_config cfg;
	struct signal_result base, res;
	unsigned int t;

	assert_non_null(x);
	memcpy(x, signal_fix_samples, sizeof(signal_fix_samples));
	for (t = 0; t < M; t++)
		x[SIGNAL_FIX_N * M + t] = 0.1;	/* mean of 0.1s is not exactly 0.1 */
	signal_config__init(&cfg);
	cfg.estimator = est;
	compute_ok(&cfg, x, SIGNAL_FIX_N, M, &base);
	compute_ok(&cfg, x, N, M, &res);
	assert_true(res.valid && res.r_valid);
	assert_true(res.flags & SIGNAL_F_CONSTANT_CHANNEL);
	assert_false(base.flags & SIGNAL_F_CONSTANT_CHANNEL);
	assert_true(res.h[SIGNAL_FIX_N] == 0);
	assert_near(res.sum_h, base.sum_h, 1e-12);
	assert_near(res.h_joint, base.h_joint, 1e-12);
	assert_near(res.total_corr, base.total_corr, 1e-12);
	assert_near(res.r, base.r, 1e-12);
	assert_true(rank_delta(&res, SIGNAL_FIX_N) == 0);
	free(x);
}

static void test_constant_channel_zero_h_and_leaves_tc_and_r_unchanged(void **state)
{
	(void)state;
	check_constant_channel(SIGNAL_EST_GAUSSIAN);
	check_constant_channel(SIGNAL_EST_HISTOGRAM);
}

static void test_all_constant_channels_signal_valid_r_invalid(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[3 * 40];
	unsigned int t, e;

	(void)state;
	for (t = 0; t < 3 * 40; t++)
		x[t] = t < 40 ? 7.25 : t < 80 ? -3 : 1e300;
	signal_config__init(&cfg);
	for (e = SIGNAL_EST_GAUSSIAN; e <= SIGNAL_EST_HISTOGRAM; e++) {
		cfg.estimator = e;
		compute_ok(&cfg, x, 3, 40, &res);
		assert_true(res.valid);
		assert_false(res.r_valid);
		assert_string_equal(res.invalid_reason, "sum_h_below_min");
		assert_true(res.sum_h == 0 && res.h_joint == 0 && res.total_corr == 0);
		assert_int_equal(res.zone, SIGNAL_ZONE_NONE);
		assert_int_equal(res.nr_ranked, 0);
		assert_result_finite(&res);
	}
}

static void test_gaussian_raw_tiny_variance_sum_h_below_min(void **state)
{
	struct rng r = { 61 };
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 64];

	(void)state;
	fill_gauss(&r, x, 128, 1e-3);	/* H_i ~ 0.5 log2(2 pi e 1e-6) ~ -7.9 bits */
	signal_config__init(&cfg);
	cfg.normalization = SIGNAL_NORM_NONE;
	compute_ok(&cfg, x, 2, 64, &res);
	assert_true(res.valid);
	assert_true(res.sum_h < 0);
	assert_false(res.r_valid);
	assert_string_equal(res.invalid_reason, "sum_h_below_min");
	assert_true(res.r == 0);
}

static void test_gaussian_huge_values_zscore_ok_raw_overflow(void **state)
{
	struct rng r = { 62 };
	struct signal_config cfg;
	struct signal_result small, big;
	double x[2 * 300], y[2 * 300];
	unsigned int t;

	(void)state;
	make_rho_rows(&r, x, 300, 0.7, false);
	for (t = 0; t < 600; t++)
		y[t] = x[t] * 0x1p1000;		/* exact scaling, variance 2^2000 */
	signal_config__init(&cfg);
	compute_ok(&cfg, x, 2, 300, &small);
	compute_ok(&cfg, y, 2, 300, &big);
	assert_true(big.valid && big.r_valid);
	assert_near(big.total_corr, small.total_corr, 1e-12);
	cfg.normalization = SIGNAL_NORM_NONE;
	compute_ok(&cfg, y, 2, 300, &big);
	assert_false(big.valid);
	assert_string_equal(big.invalid_reason, "numeric_overflow");
	assert_result_finite(&big);
}

static void test_gaussian_32_correlated_channels_finite(void **state)
{
	enum { N = 32, M = 600 };
	struct rng r = { 71 };
	struct signal_config cfg;
	struct signal_result res;
	double *x = malloc(sizeof(double) * N * M), common[M];
	unsigned int c, t;

	(void)state;
	assert_non_null(x);
	fill_gauss(&r, common, M, 1.0);
	for (c = 0; c < N; c++) {
		for (t = 0; t < M; t++)	/* rho ~ 0.995 between channels */
			x[c * M + t] = 1e4 * c + common[t] + 0.1 * rng_gauss(&r);
	}
	signal_config__init(&cfg);
	cfg.crit_max_channels = N;
	compute_ok(&cfg, x, N, M, &res);
	assert_true(res.valid && res.r_valid);
	assert_result_finite(&res);
	assert_int_equal(res.nr_ranked, N);
	assert_false(res.flags & (SIGNAL_F_JOINT_TRUNCATED | SIGNAL_F_CRITICALITY_TRUNCATED));
	assert_true(res.h_joint < 0);	/* strongly dependent: joint far below sum_h */
	assert_true(res.r > 0.5);
	assert_ranking_sorted(&res);
	free(x);
}

/* ---- validity ------------------------------------------------------------ */

static void test_insufficient_samples_invalid(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	unsigned int e;

	(void)state;
	signal_config__init(&cfg);
	for (e = SIGNAL_EST_GAUSSIAN; e <= SIGNAL_EST_HISTOGRAM; e++) {
		cfg.estimator = e;
		compute_ok(&cfg, signal_fix_samples, 3, 31, &res);
		assert_false(res.valid);
		assert_false(res.r_valid);
		assert_string_equal(res.invalid_reason, "insufficient_samples");
		assert_int_equal(res.aligned_samples, 31);
		assert_int_equal(res.channels_included, 3);
		assert_result_finite(&res);
		compute_ok(&cfg, signal_fix_samples, 3, 32, &res);
		assert_true(res.valid);
		assert_null(res.invalid_reason);
		compute_ok(&cfg, NULL, 3, 0, &res);
		assert_string_equal(res.invalid_reason, "insufficient_samples");
	}
	cfg.min_aligned_samples = 100;
	compute_ok(&cfg, signal_fix_samples, 3, 99, &res);
	assert_string_equal(res.invalid_reason, "insufficient_samples");
}

static void test_no_channels_invalid(void **state)
{
	struct signal_config cfg;
	struct signal_result res;

	(void)state;
	signal_config__init(&cfg);
	compute_ok(&cfg, NULL, 0, 100, &res);
	assert_false(res.valid);
	assert_string_equal(res.invalid_reason, "no_channels");
	assert_int_equal(res.channels_included, 0);
}

static void test_non_finite_input_invalid(void **state)
{
	static const double bad[] = { NAN, INFINITY, -INFINITY };
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 40];
	unsigned int i, e;

	(void)state;
	signal_config__init(&cfg);
	for (i = 0; i < 3; i++) {
		for (e = SIGNAL_EST_GAUSSIAN; e <= SIGNAL_EST_HISTOGRAM; e++) {
			memcpy(x, signal_fix_samples, sizeof(x));
			x[40 + 17] = bad[i];
			cfg.estimator = e;
			compute_ok(&cfg, x, 2, 40, &res);
			assert_false(res.valid);
			assert_string_equal(res.invalid_reason, "non_finite_input");
			assert_result_finite(&res);
		}
	}
}

static void test_joint_truncated_uses_first_channels_only(void **state)
{
	enum { N = 40, M = 64 };
	struct rng r = { 81 };
	struct signal_config cfg;
	struct signal_result res;
	double *x = malloc(sizeof(double) * N * M);

	(void)state;
	assert_non_null(x);
	fill_gauss(&r, x, N * M, 1.0);
	x[35 * M + 3] = NAN;		/* beyond max_channels_for_joint: never read */
	signal_config__init(&cfg);
	compute_ok(&cfg, x, N, M, &res);
	assert_true(res.valid);
	assert_int_equal(res.channels_included, 32);
	assert_true(res.flags & SIGNAL_F_JOINT_TRUNCATED);
	assert_near(res.sum_h, 32 * H1_ZSCORE(1e-8), 1e-10);
	cfg.max_channels_for_joint = 36;
	compute_ok(&cfg, x, N, M, &res);
	assert_string_equal(res.invalid_reason, "non_finite_input");
	free(x);
}

static void test_criticality_truncated_to_max_channels_sorted(void **state)
{
	enum { N = 20, M = 100 };
	struct rng r = { 82 };
	struct signal_config cfg;
	struct signal_result res;
	double x[N * M];
	unsigned int c, t;

	(void)state;
	fill_gauss(&r, x, M, 1.0);
	for (c = 1; c < N - 1; c++) {
		for (t = 0; t < M; t++)
			x[c * M + t] = x[t] + 0.05 * c * rng_gauss(&r);
	}
	fill_gauss(&r, x + (N - 1) * M, M, 1.0);	/* independent of the rest */
	signal_config__init(&cfg);
	compute_ok(&cfg, x, N, M, &res);
	assert_true(res.r_valid);
	assert_int_equal(res.nr_ranked, 16);
	assert_true(res.flags & SIGNAL_F_CRITICALITY_TRUNCATED);
	assert_ranking_sorted(&res);
	cfg.crit_max_channels = N;
	compute_ok(&cfg, x, N, M, &res);
	assert_int_equal(res.nr_ranked, N);
	assert_false(res.flags & SIGNAL_F_CRITICALITY_TRUNCATED);
	/* the independent channel shares nothing: removing it raises R most */
	assert_int_equal(res.ranking[N - 1].channel, N - 1);
	assert_true(res.ranking[N - 1].delta_r < 0);
}

static void test_resilience_and_criticality_switches(void **state)
{
	struct signal_config cfg;
	struct signal_result res;

	(void)state;
	signal_config__init(&cfg);
	cfg.criticality_enabled = false;
	compute_ok(&cfg, signal_fix_samples, SIGNAL_FIX_N, SIGNAL_FIX_M, &res);
	assert_true(res.r_valid);
	assert_false(res.criticality_enabled);
	assert_int_equal(res.nr_ranked, 0);
	cfg.criticality_enabled = true;
	cfg.resilience_enabled = false;
	compute_ok(&cfg, signal_fix_samples, SIGNAL_FIX_N, SIGNAL_FIX_M, &res);
	assert_true(res.valid);
	assert_false(res.r_valid);
	assert_false(res.resilience_enabled);
	assert_false(res.criticality_enabled);
	assert_null(res.invalid_reason);
	assert_int_equal(res.zone, SIGNAL_ZONE_NONE);
	assert_true(res.r == 0);
	assert_int_equal(res.nr_ranked, 0);
}

/* ---- histogram estimator ------------------------------------------------- */

static void hist_cfg(struct signal_config *cfg)
{
	signal_config__init(cfg);
	cfg->estimator = SIGNAL_EST_HISTOGRAM;
}

static void test_histogram_uniform_2_4_8_values_exact_bits(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[64];
	unsigned int k, t;

	(void)state;
	hist_cfg(&cfg);
	for (k = 2; k <= 8; k *= 2) {
		for (t = 0; t < 64; t++)
			x[t] = 10.0 + 3.5 * (t % k);
		compute_ok(&cfg, x, 1, 64, &res);
		assert_true(res.valid);
		assert_near(res.h[0], log2(k), 1e-15);
		assert_near(res.h_joint, log2(k), 1e-15);
		assert_true(res.total_corr == 0);
	}
}

static void test_histogram_half_quarter_quarter_is_1_5_bits(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[64];
	unsigned int t;

	(void)state;
	hist_cfg(&cfg);
	for (t = 0; t < 64; t++)
		x[t] = (double[]){ -1, -1, 0.5, 2 }[t % 4];
	compute_ok(&cfg, x, 1, 64, &res);
	assert_near(res.h[0], 1.5, 1e-15);
}

static void test_histogram_independent_uniform_pair_joint_is_sum(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 64];
	unsigned int t;

	(void)state;
	hist_cfg(&cfg);
	for (t = 0; t < 64; t++) {
		x[t] = t % 4;			/* 2 bits */
		x[64 + t] = (t / 4) % 2;	/* 1 bit, independent of x */
	}
	compute_ok(&cfg, x, 2, 64, &res);
	assert_near(res.h[0], 2, 1e-15);
	assert_near(res.h[1], 1, 1e-15);
	assert_near(res.h_joint, 3, 1e-15);
	assert_near(res.total_corr, 0, 1e-15);
	assert_true(res.r_valid && res.r < 1e-15);
	assert_int_equal(res.zone, SIGNAL_ZONE_CRITICAL);
}

static void test_histogram_copy_gives_r_exactly_half_healthy(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 64];
	unsigned int t;

	(void)state;
	hist_cfg(&cfg);
	for (t = 0; t < 64; t++)
		x[t] = x[64 + t] = t % 4;
	compute_ok(&cfg, x, 2, 64, &res);
	assert_true(res.sum_h == 4 && res.h_joint == 2 && res.total_corr == 2);
	assert_true(res.r == 0.5);
	assert_int_equal(res.zone, SIGNAL_ZONE_HEALTHY);
}

/*
 * Uniform bits a, b; channels (a, a, b): sum_h = 3, H_joint = 2, R = 1/3.
 * Without a copy: (a, b), R = 0; without b: (a, a), R = 1/2.
 * delta_r = 1/3, 1/3, -1/6.
 */
static void test_histogram_criticality_duplicate_closed_form(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[3 * 64];
	unsigned int t;

	(void)state;
	hist_cfg(&cfg);
	for (t = 0; t < 64; t++) {
		x[t] = x[64 + t] = t % 2;
		x[128 + t] = (t / 2) % 2;
	}
	compute_ok(&cfg, x, 3, 64, &res);
	assert_near(res.r, 1.0 / 3, 1e-15);
	assert_int_equal(res.zone, SIGNAL_ZONE_ATTENTION);
	assert_near(rank_delta(&res, 0), 1.0 / 3, 1e-15);
	assert_near(rank_delta(&res, 1), 1.0 / 3, 1e-15);
	assert_near(rank_delta(&res, 2), -1.0 / 6, 1e-15);
	assert_int_equal(res.ranking[0].channel, 0);	/* ties by channel index */
	assert_int_equal(res.ranking[1].channel, 1);
}

/*
 * Three copies of a uniform bit: sum_h = 3, H_joint = 1, R = 2/3; any pair has
 * sum_h = 2, R = 1/2. With min_sum_h = 2.5 a pair is too small to measure, its
 * R counts as 0 and every delta_r is the whole of R_all.
 */
static void test_criticality_subset_below_min_sum_h_counts_as_zero(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[3 * 64];
	unsigned int t, c;

	(void)state;
	hist_cfg(&cfg);
	for (t = 0; t < 64; t++)
		x[t] = x[64 + t] = x[128 + t] = t % 2;
	compute_ok(&cfg, x, 3, 64, &res);
	for (c = 0; c < 3; c++)
		assert_near(rank_delta(&res, c), 2.0 / 3 - 0.5, 1e-15);
	cfg.min_sum_h = 2.5;
	compute_ok(&cfg, x, 3, 64, &res);
	assert_near(res.r, 2.0 / 3, 1e-15);
	for (c = 0; c < 3; c++)
		assert_near(rank_delta(&res, c), 2.0 / 3, 1e-15);
}

static void test_histogram_bins_clamp_max_and_huge_range(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[64];
	unsigned int t;

	(void)state;
	hist_cfg(&cfg);
	cfg.histogram_bins = 2;
	for (t = 0; t < 64; t++)	/* max lands in the last bin, not bin 2 */
		x[t] = (double[]){ -DBL_MAX, -DBL_MAX / 2, DBL_MAX / 2, DBL_MAX }[t % 4];
	compute_ok(&cfg, x, 1, 64, &res);
	assert_true(res.valid);
	assert_near(res.h[0], 1, 1e-15);
}

/* ---- unique information U_k = H_joint - H_joint without k = H(X_k | rest) ---- */

/*
 * Histogram, exact: a = t % 4 and b = (t / 4) % 4 over 64 samples take every
 * pair of values 4 times (exactly independent, 2 bits each). Channels
 * (a, a, b): each copy of a has U = H(a | a, b) = 0; b has U = H(b) = 2.
 */
static void test_unique_histogram_copies_zero_independent_h(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[3 * 64];
	unsigned int t;

	(void)state;
	hist_cfg(&cfg);
	for (t = 0; t < 64; t++) {
		x[t] = x[64 + t] = t % 4;
		x[128 + t] = (t / 4) % 4;
	}
	compute_ok(&cfg, x, 3, 64, &res);
	assert_true(res.r_valid);
	assert_near(res.h_joint, 4, 1e-15);
	assert_near(rank_unique(&res, 0), 0, 1e-15);
	assert_near(rank_unique(&res, 1), 0, 1e-15);
	assert_near(rank_unique(&res, 2), res.h[2], 1e-15);
	assert_near(rank_unique(&res, 2), 2, 1e-15);
	/* delta_r ranks the copies first; U says they are the removable ones */
	assert_true(rank_delta(&res, 0) > rank_delta(&res, 2));
}

/*
 * Gaussian, z-scored: x, an exact copy of x, and z with zero sample
 * correlation to x. The estimator's matrix is Sigma + eps*I =
 * [[1+e, 1, 0], [1, 1+e, 0], [0, 0, 1+e]], so by the Schur complement
 *   var(copy | rest) = (1+e) - 1/(1+e) ~= 2e,  var(z | rest) = 1+e.
 * U of each copy is therefore not 0 but the floor eps sets,
 * 0.5*log2(2*pi*e_nat*((1+e) - 1/(1+e))) ~= -10.74 bits: a differential
 * entropy has no zero, an exact copy's is -inf without eps. Tolerance 1e-6
 * bits: the copies' sample correlation is 1 up to rounding (~1e-16), which
 * moves var(copy | rest) ~= 2e-8 by ~1e-16, i.e. U by ~1e-8 bits. z keeps
 * U = H_z = 0.5*log2(2*pi*e_nat*(1+e)) to rounding (1e-9).
 */
static void test_unique_gaussian_copies_at_eps_floor_independent_h(void **state)
{
	struct rng r = { 61 };
	struct signal_config cfg;
	struct signal_result res;
	double x[3 * 500], e = 1e-8, floor_bits;

	(void)state;
	make_rho_rows(&r, x, 500, 0.0, true);	/* rows 0 and 2 uncorrelated */
	memcpy(x + 500, x, sizeof(double) * 500);	/* row 1: a copy of row 0 */
	signal_config__init(&cfg);
	compute_ok(&cfg, x, 3, 500, &res);
	assert_true(res.r_valid);
	assert_result_finite(&res);
	floor_bits = 0.5 * log2(2 * M_PI * M_E * ((1 + e) - 1 / (1 + e)));
	assert_near(floor_bits, -10.74, 0.01);
	assert_near(rank_unique(&res, 0), floor_bits, 1e-6);
	assert_near(rank_unique(&res, 1), floor_bits, 1e-6);
	assert_near(rank_unique(&res, 2), H1_ZSCORE(e), 1e-9);
	assert_near(rank_unique(&res, 2), res.h[2], 1e-9);
}

/* Solve the 3x3 system a * v = b by Cramer's rule (independent of the code's Cholesky). */
static void solve3(const double a[3][3], const double b[3], double v[3])
{
	double det, m[3][3];
	unsigned int i, j, k;

	det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
	      a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
	      a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
	for (k = 0; k < 3; k++) {
		for (i = 0; i < 3; i++)
			for (j = 0; j < 3; j++)
				m[i][j] = j == k ? b[i] : a[i][j];
		v[k] = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
			m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
			m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])) / det;
	}
}

/* var(k | rest) of the 4x4 @s by the Schur complement s_kk - s_kr s_rr^-1 s_rk. */
static double schur_var(const double s[4][4], unsigned int k)
{
	double a[3][3], b[3], v[3], q = 0;
	unsigned int i, j, ri = 0, rj;

	for (i = 0; i < 4; i++) {
		if (i == k)
			continue;
		b[ri] = s[i][k];
		for (j = 0, rj = 0; j < 4; j++) {
			if (j != k)
				a[ri][rj++] = s[i][j];
		}
		ri++;
	}
	solve3(a, b, v);
	for (i = 0; i < 3; i++)
		q += b[i] * v[i];
	return s[k][k] - q;
}

/*
 * A hand-made covariance, reproduced exactly by the samples: X = L W with W
 * four rows of zero mean, unit variance and zero sample correlation (Gram-
 * Schmidt) and L the Cholesky factor of Sigma, so the population covariance
 * of X is L L^T = Sigma up to rounding. With normalization NONE the
 * estimator works on Sigma + eps*I, and U_k = 0.5*log2(2*pi*e*var(k | rest))
 * with var from the Schur complement of that matrix. Channel 3 is
 * independent: U_3 = H_3.
 */
static void test_unique_gaussian_matches_schur_complement(void **state)
{
	static const double sigma[4][4] = {
		{ 4.0, 2.0, 0.6, 0.0 },
		{ 2.0, 3.0, 0.5, 0.0 },
		{ 0.6, 0.5, 2.0, 0.0 },
		{ 0.0, 0.0, 0.0, 1.5 },
	};
	enum { M = 400 };
	struct rng r = { 71 };
	struct signal_config cfg;
	struct signal_result res;
	double w[4 * M], x[4 * M], l[4][4] = {}, se[4][4], d, want;
	unsigned int i, j, k, t;

	(void)state;
	for (i = 0; i < 4; i++) {		/* Cholesky of sigma, in the test */
		for (j = 0; j <= i; j++) {
			d = sigma[i][j];
			for (k = 0; k < j; k++)
				d -= l[i][k] * l[j][k];
			l[i][j] = i == j ? sqrt(d) : d / l[j][j];
		}
	}
	for (i = 0; i < 4; i++) {		/* orthonormal rows */
		fill_gauss(&r, w + i * M, M, 1.0);
		standardize(w + i * M, M);
		for (j = 0; j < i; j++)
			orthogonalize(w + i * M, w + j * M, M);
		standardize(w + i * M, M);
	}
	for (i = 0; i < 4; i++)
		for (t = 0; t < M; t++) {
			x[i * M + t] = 0;
			for (j = 0; j <= i; j++)
				x[i * M + t] += l[i][j] * w[j * M + t];
		}
	signal_config__init(&cfg);
	cfg.normalization = SIGNAL_NORM_NONE;
	compute_ok(&cfg, x, 4, M, &res);
	assert_true(res.r_valid);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			se[i][j] = sigma[i][j] + (i == j ? cfg.covariance_epsilon : 0);
	for (k = 0; k < 4; k++) {
		want = 0.5 * log2(2 * M_PI * M_E * schur_var(se, k));
		assert_near(rank_unique(&res, k), want, 1e-9);
	}
	assert_near(rank_unique(&res, 3), res.h[3], 1e-9);	/* independent: all its own */
	assert_true(rank_unique(&res, 0) < res.h[0]);		/* the rest explains part of it */
	/* the closed forms by hand: var(3 | rest) = 1.5 + eps */
	assert_near(schur_var(se, 3), 1.5 + 1e-8, 1e-15);
}

/* A constant channel adds nothing and has nothing of its own: U = 0. */
static void test_unique_constant_channel_zero(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 64];
	unsigned int t;

	(void)state;
	signal_config__init(&cfg);
	cfg.min_sum_h = 0.01;
	for (t = 0; t < 64; t++) {
		x[t] = sin(t * 0.7) + (t % 5);
		x[64 + t] = 3.0;
	}
	compute_ok(&cfg, x, 2, 64, &res);
	assert_true(res.r_valid);
	assert_near(rank_unique(&res, 1), 0, 0);
	assert_near(rank_unique(&res, 0), res.h[0], 1e-12);
}

/* ---- zones and names ---------------------------------------------------- */

static void test_zone_thresholds_at_and_around_edges(void **state)
{
	struct signal_config cfg;

	(void)state;
	signal_config__init(&cfg);
	assert_int_equal(signal__zone(&cfg, 0.5), SIGNAL_ZONE_HEALTHY);
	assert_int_equal(signal__zone(&cfg, nextafter(0.5, 0)), SIGNAL_ZONE_ATTENTION);
	assert_int_equal(signal__zone(&cfg, 0.2), SIGNAL_ZONE_ATTENTION);
	assert_int_equal(signal__zone(&cfg, nextafter(0.2, 0)), SIGNAL_ZONE_CRITICAL);
	assert_int_equal(signal__zone(&cfg, 0), SIGNAL_ZONE_CRITICAL);
	assert_int_equal(signal__zone(&cfg, 1), SIGNAL_ZONE_HEALTHY);
	assert_int_equal(signal__zone(&cfg, 3.5), SIGNAL_ZONE_HEALTHY);
	assert_int_equal(signal__zone(&cfg, NAN), SIGNAL_ZONE_NONE);
	cfg.healthy_min = 0.8;
	cfg.attention_min = 0.4;
	assert_int_equal(signal__zone(&cfg, 0.79), SIGNAL_ZONE_ATTENTION);
	assert_int_equal(signal__zone(&cfg, 0.8), SIGNAL_ZONE_HEALTHY);
	assert_int_equal(signal__zone(&cfg, 0.39), SIGNAL_ZONE_CRITICAL);
	assert_int_equal(signal__zone(&cfg, 0.4), SIGNAL_ZONE_ATTENTION);
}

static void test_zone_and_flag_names(void **state)
{
	(void)state;
	assert_string_equal(signal_zone__name(SIGNAL_ZONE_HEALTHY), "healthy");
	assert_string_equal(signal_zone__name(SIGNAL_ZONE_ATTENTION), "attention");
	assert_string_equal(signal_zone__name(SIGNAL_ZONE_CRITICAL), "critical");
	assert_string_equal(signal_zone__name(SIGNAL_ZONE_NONE), "none");
	assert_string_equal(signal_flag__name(SIGNAL_F_COMPUTED), "SIGNAL_COMPUTED");
	assert_string_equal(signal_flag__name(SIGNAL_F_JOINT_TRUNCATED), "JOINT_TRUNCATED");
	assert_string_equal(signal_flag__name(SIGNAL_F_CRITICALITY_TRUNCATED),
			    "CRITICALITY_TRUNCATED");
	assert_string_equal(signal_flag__name(SIGNAL_F_CONSTANT_CHANNEL), "CONSTANT_CHANNEL");
	assert_null(signal_flag__name(SIGNAL_F_ALL + 1));
}

/* ---- numpy fixtures ------------------------------------------------------ */

static void check_fixture(const struct signal_fix_case *fc)
{
	struct signal_config cfg;
	struct signal_result res;
	unsigned int c, i;

	print_message("fixture %s\n", fc->name);
	signal_config__init(&cfg);
	cfg.estimator = fc->estimator;
	cfg.normalization = fc->normalization;
	cfg.histogram_bins = fc->bins;
	cfg.covariance_epsilon = SIGNAL_FIX_EPS;
	cfg.crit_max_channels = SIGNAL_FIX_N;
	compute_ok(&cfg, signal_fix_samples, SIGNAL_FIX_N, SIGNAL_FIX_M, &res);
	assert_true(res.valid && res.r_valid);
	for (c = 0; c < SIGNAL_FIX_N; c++)
		assert_near(res.h[c], fc->h[c], 1e-9);
	assert_near(res.sum_h, fc->sum_h, 1e-9);
	assert_near(res.h_joint, fc->h_joint, 1e-9);
	assert_near(res.total_corr, fc->total_corr, 1e-9);
	assert_near(res.r, fc->r, 1e-9);
	assert_int_equal(res.nr_ranked, SIGNAL_FIX_N);
	for (i = 0; i < res.nr_ranked; i++)
		assert_near(res.ranking[i].delta_r, fc->delta_r[res.ranking[i].channel], 1e-9);
	assert_ranking_sorted(&res);
}

static void test_fixtures_match_numpy(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(signal_fix_cases) / sizeof(signal_fix_cases[0]); i++)
		check_fixture(&signal_fix_cases[i]);
}

/* ---- payload entropy ----------------------------------------------------- */

static void test_byte_entropy_known_distributions(void **state)
{
	unsigned char buf[1024] = { 0 };
	unsigned int i;

	(void)state;
	assert_true(signal__byte_entropy(buf, 0) == 0);
	assert_true(signal__byte_entropy(NULL, 10) == 0);
	memset(buf, 'x', sizeof(buf));
	assert_true(signal__byte_entropy(buf, sizeof(buf)) == 0);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = i % 2 ? 0xff : 0;
	assert_near(signal__byte_entropy(buf, sizeof(buf)), 1, 1e-15);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)i;
	assert_near(signal__byte_entropy(buf, sizeof(buf)), 8, 1e-15);
	assert_near(signal__byte_entropy(buf, 16), 4, 1e-15);
}

/* ---- JSON ---------------------------------------------------------------- */

static const struct signal_snapshot_info json_info = {
	.timestamp_ms = 1706000000000ULL,
	.window_kind = SIGNAL_WINDOW_TIME_MS,
	.window_value = 60000,
	.frame_size_bytes = 48,
	.h_bytes = 6.21,
};

static void assert_keys(const json_t *obj, const char *const *keys, size_t nr)
{
	size_t i;

	assert_true(json_is_object(obj));
	for (i = 0; i < nr; i++) {
		if (!json_object_get(obj, keys[i]))
			fail_msg("missing key %s", keys[i]);
	}
	assert_int_equal(json_object_size(obj), nr);
}

#define KEYS(...)	(const char *const[]){ __VA_ARGS__ },		\
			sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *)

static void assert_no_non_finite(const json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_real(j))
		assert_true(isfinite(json_real_value(j)));
	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, key, v)
			assert_no_non_finite(v);
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			assert_no_non_finite(v);
	}
}

/* Build, dump and parse back, as a consumer would see it. */
static json_t *round_trip(const struct signal_result *res, const struct signal_input *in,
			  const struct signal_snapshot_info *info)
{
	json_t *j = NULL, *back;
	char *text;

	assert_int_equal(signal_result__to_json(res, in, info, &j), 0);
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(text);
	assert_null(strstr(text, "nan"));
	assert_null(strstr(text, "inf"));
	back = json_loads(text, 0, NULL);
	assert_non_null(back);
	assert_no_non_finite(back);
	free(text);
	json_decref(j);
	return back;
}

static void assert_schema_shape(const json_t *root, bool with_reason)
{
	const json_t *res = json_object_get(root, "resilience");

	if (with_reason)
		assert_keys(root, KEYS("version", "timestamp_ms", "window", "signal", "payload",
				       "resilience", "flags", "invalid_reason"));
	else
		assert_keys(root, KEYS("version", "timestamp_ms", "window", "signal", "payload",
				       "resilience", "flags"));
	assert_keys(json_object_get(root, "window"),
		    KEYS("kind", "value", "aligned_samples", "channels_included"));
	assert_keys(json_object_get(root, "signal"),
		    KEYS("valid", "log_base", "h_per_channel", "sum_h", "h_joint", "total_corr"));
	assert_keys(json_object_get(root, "payload"), KEYS("frame_size_bytes", "h_bytes"));
	assert_keys(res, KEYS("enabled", "r", "zone", "criticality"));
	assert_keys(json_object_get(res, "criticality"), KEYS("enabled", "ranking", "note"));
	assert_true(json_is_array(json_object_get(root, "flags")));
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
}

static bool flags_contain(const json_t *root, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(root, "flags"), i, v) {
		if (!strcmp(json_string_value(v), name))
			return true;
	}
	return false;
}

static void test_json_valid_snapshot_matches_schema(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	struct signal_input in = input_of(signal_fix_samples, SIGNAL_FIX_N, SIGNAL_FIX_M);
	json_t *root, *sig, *w, *p, *rs, *crit, *e;
	size_t i;

	(void)state;
	in.channel_ids = signal_fix_ids;
	signal_config__init(&cfg);
	assert_int_equal(signal__compute(&cfg, &in, &res), 0);
	root = round_trip(&res, &in, &json_info);
	assert_schema_shape(root, false);
	assert_int_equal(json_integer_value(json_object_get(root, "timestamp_ms")),
			 1706000000000LL);
	w = json_object_get(root, "window");
	assert_string_equal(json_string_value(json_object_get(w, "kind")), "time_ms");
	assert_int_equal(json_integer_value(json_object_get(w, "value")), 60000);
	assert_int_equal(json_integer_value(json_object_get(w, "aligned_samples")), SIGNAL_FIX_M);
	assert_int_equal(json_integer_value(json_object_get(w, "channels_included")), SIGNAL_FIX_N);
	sig = json_object_get(root, "signal");
	assert_true(json_is_true(json_object_get(sig, "valid")));
	assert_string_equal(json_string_value(json_object_get(sig, "log_base")), "log2");
	assert_int_equal(json_array_size(json_object_get(sig, "h_per_channel")), SIGNAL_FIX_N);
	json_array_foreach(json_object_get(sig, "h_per_channel"), i, e) {
		assert_keys(e, KEYS("channel_id", "h"));
		assert_string_equal(json_string_value(json_object_get(e, "channel_id")),
				    signal_fix_ids[i]);
		assert_true(json_real_value(json_object_get(e, "h")) == res.h[i]);
	}
	assert_true(json_real_value(json_object_get(sig, "sum_h")) == res.sum_h);
	assert_true(json_real_value(json_object_get(sig, "h_joint")) == res.h_joint);
	assert_true(json_real_value(json_object_get(sig, "total_corr")) == res.total_corr);
	p = json_object_get(root, "payload");
	assert_int_equal(json_integer_value(json_object_get(p, "frame_size_bytes")), 48);
	assert_true(json_real_value(json_object_get(p, "h_bytes")) == 6.21);
	rs = json_object_get(root, "resilience");
	assert_true(json_is_true(json_object_get(rs, "enabled")));
	assert_true(json_real_value(json_object_get(rs, "r")) == res.r);
	assert_string_equal(json_string_value(json_object_get(rs, "zone")),
			    signal_zone__name(res.zone));
	crit = json_object_get(rs, "criticality");
	assert_true(json_is_true(json_object_get(crit, "enabled")));
	assert_string_equal(json_string_value(json_object_get(crit, "note")),
			    "delta_r = R_all - R_without_channel (leave-one-out)");
	assert_int_equal(json_array_size(json_object_get(crit, "ranking")), res.nr_ranked);
	json_array_foreach(json_object_get(crit, "ranking"), i, e) {
		assert_keys(e, KEYS("channel_id", "delta_r", "unique_bits"));
		assert_string_equal(json_string_value(json_object_get(e, "channel_id")),
				    signal_fix_ids[res.ranking[i].channel]);
		assert_true(json_real_value(json_object_get(e, "delta_r")) ==
			    res.ranking[i].delta_r);
		assert_true(json_real_value(json_object_get(e, "unique_bits")) ==
			    res.ranking[i].unique_bits);
	}
	assert_true(flags_contain(root, "SIGNAL_COMPUTED"));
	json_decref(root);
}

static void test_json_invalid_snapshot_has_reason_and_nulls(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	struct signal_input in = input_of(signal_fix_samples, SIGNAL_FIX_N, 10);
	struct signal_snapshot_info info = json_info;
	json_t *root, *sig, *rs;

	(void)state;
	in.channel_ids = signal_fix_ids;
	info.window_kind = SIGNAL_WINDOW_SAMPLES;
	info.window_value = 10;
	signal_config__init(&cfg);
	assert_int_equal(signal__compute(&cfg, &in, &res), 0);
	root = round_trip(&res, &in, &info);
	assert_schema_shape(root, true);
	assert_string_equal(json_string_value(json_object_get(root, "invalid_reason")),
			    "insufficient_samples");
	assert_string_equal(json_string_value(json_object_get(json_object_get(root, "window"),
							      "kind")), "samples");
	sig = json_object_get(root, "signal");
	assert_true(json_is_false(json_object_get(sig, "valid")));
	assert_int_equal(json_array_size(json_object_get(sig, "h_per_channel")), 0);
	assert_true(json_is_null(json_object_get(sig, "sum_h")));
	assert_true(json_is_null(json_object_get(sig, "h_joint")));
	assert_true(json_is_null(json_object_get(sig, "total_corr")));
	rs = json_object_get(root, "resilience");
	assert_true(json_is_null(json_object_get(rs, "r")));
	assert_true(json_is_null(json_object_get(rs, "zone")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(rs, "criticality"),
							 "ranking")), 0);
	assert_false(flags_contain(root, "SIGNAL_COMPUTED"));
	json_decref(root);
}

static void test_json_sum_h_below_min_signal_valid_r_null(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	double x[2 * 40] = { 0 };
	struct signal_input in = input_of(x, 2, 40);
	json_t *root, *sig, *rs;
	unsigned int t;

	(void)state;
	for (t = 0; t < 80; t++)
		x[t] = 4;
	in.channel_ids = signal_fix_ids;
	signal_config__init(&cfg);
	assert_int_equal(signal__compute(&cfg, &in, &res), 0);
	root = round_trip(&res, &in, &json_info);
	assert_schema_shape(root, true);
	assert_string_equal(json_string_value(json_object_get(root, "invalid_reason")),
			    "sum_h_below_min");
	sig = json_object_get(root, "signal");
	assert_true(json_is_true(json_object_get(sig, "valid")));
	assert_true(json_real_value(json_object_get(sig, "sum_h")) == 0);
	rs = json_object_get(root, "resilience");
	assert_true(json_is_true(json_object_get(rs, "enabled")));
	assert_true(json_is_null(json_object_get(rs, "r")));
	assert_true(json_is_null(json_object_get(rs, "zone")));
	assert_true(flags_contain(root, "CONSTANT_CHANNEL"));
	json_decref(root);
}

static void test_json_resilience_disabled_has_no_reason(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	struct signal_input in = input_of(signal_fix_samples, SIGNAL_FIX_N, SIGNAL_FIX_M);
	json_t *root, *rs;

	(void)state;
	in.channel_ids = signal_fix_ids;
	signal_config__init(&cfg);
	cfg.resilience_enabled = false;
	assert_int_equal(signal__compute(&cfg, &in, &res), 0);
	root = round_trip(&res, &in, &json_info);
	assert_schema_shape(root, false);
	rs = json_object_get(root, "resilience");
	assert_true(json_is_false(json_object_get(rs, "enabled")));
	assert_true(json_is_null(json_object_get(rs, "r")));
	assert_true(json_is_false(json_object_get(json_object_get(rs, "criticality"),
						  "enabled")));
	json_decref(root);
}

static void test_json_non_finite_values_become_null(void **state)
{
	struct signal_config cfg;
	struct signal_result res;
	struct signal_input in = input_of(signal_fix_samples, SIGNAL_FIX_N, SIGNAL_FIX_M);
	struct signal_snapshot_info info = json_info;
	json_t *root;

	(void)state;
	in.channel_ids = signal_fix_ids;
	signal_config__init(&cfg);
	assert_int_equal(signal__compute(&cfg, &in, &res), 0);
	res.h[2] = NAN;			/* a corrupted result must still not emit NaN */
	res.r = INFINITY;
	res.ranking[0].delta_r = -INFINITY;
	info.h_bytes = NAN;
	root = round_trip(&res, &in, &info);
	assert_true(json_is_null(json_object_get(json_object_get(root, "resilience"), "r")));
	assert_true(json_is_null(json_object_get(json_object_get(root, "payload"), "h_bytes")));
	json_decref(root);
}

static void test_json_rejects_bad_arguments(void **state)
{
	static const char *const bad_ids[] = { "a", "\xff\xfe", "c" };
	static const char *const null_ids[] = { "a", NULL, "c" };
	struct signal_config cfg;
	struct signal_result res;
	struct signal_input in = input_of(signal_fix_samples, 3, SIGNAL_FIX_M);
	struct signal_snapshot_info info = json_info;
	json_t *j = (json_t *)&j;

	(void)state;
	signal_config__init(&cfg);
	assert_int_equal(signal__compute(&cfg, &in, &res), 0);
	assert_int_equal(signal_result__to_json(&res, &in, &info, &j), -EINVAL);	/* no ids */
	in.channel_ids = null_ids;
	assert_int_equal(signal_result__to_json(&res, &in, &info, &j), -EINVAL);
	in.channel_ids = bad_ids;
	assert_int_equal(signal_result__to_json(&res, &in, &info, &j), -EINVAL);
	in.channel_ids = signal_fix_ids;
	info.timestamp_ms = UINT64_MAX;
	assert_int_equal(signal_result__to_json(&res, &in, &info, &j), -EINVAL);
	info = json_info;
	in.nr_channels = 2;		/* result covers more channels than the input */
	assert_int_equal(signal_result__to_json(&res, &in, &info, &j), -EINVAL);
	assert_int_equal(signal_result__to_json(&res, &in, &info, NULL), -EINVAL);
	in.nr_channels = 3;
	assert_int_equal(signal_result__to_json(&res, &in, &info, &j), 0);
	assert_non_null(j);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults_match_reference),
		cmocka_unit_test(test_config_validate_rejects_bad_values),
		cmocka_unit_test(test_compute_bad_arguments_return_einval_and_invalid_result),
		cmocka_unit_test(test_gaussian_independent_channels_tc_near_zero),
		cmocka_unit_test(test_gaussian_tc_same_for_zscore_and_raw_covariance),
		cmocka_unit_test(test_gaussian_raw_h_matches_sample_variance),
		cmocka_unit_test(test_gaussian_zscore_h_is_half_log2_2pie),
		cmocka_unit_test(test_gaussian_two_channels_tc_matches_rho),
		cmocka_unit_test(test_gaussian_criticality_closed_form_pair_plus_independent),
		cmocka_unit_test(test_criticality_gaussian_duplicate_copies_tie_and_outrank_unique),
		cmocka_unit_test(test_gaussian_duplicate_channels_stay_finite),
		cmocka_unit_test(test_gaussian_zero_epsilon_duplicate_is_singular_not_nan),
		cmocka_unit_test(test_constant_channel_zero_h_and_leaves_tc_and_r_unchanged),
		cmocka_unit_test(test_all_constant_channels_signal_valid_r_invalid),
		cmocka_unit_test(test_gaussian_raw_tiny_variance_sum_h_below_min),
		cmocka_unit_test(test_gaussian_huge_values_zscore_ok_raw_overflow),
		cmocka_unit_test(test_gaussian_32_correlated_channels_finite),
		cmocka_unit_test(test_insufficient_samples_invalid),
		cmocka_unit_test(test_no_channels_invalid),
		cmocka_unit_test(test_non_finite_input_invalid),
		cmocka_unit_test(test_joint_truncated_uses_first_channels_only),
		cmocka_unit_test(test_criticality_truncated_to_max_channels_sorted),
		cmocka_unit_test(test_resilience_and_criticality_switches),
		cmocka_unit_test(test_histogram_uniform_2_4_8_values_exact_bits),
		cmocka_unit_test(test_histogram_half_quarter_quarter_is_1_5_bits),
		cmocka_unit_test(test_histogram_independent_uniform_pair_joint_is_sum),
		cmocka_unit_test(test_histogram_copy_gives_r_exactly_half_healthy),
		cmocka_unit_test(test_histogram_criticality_duplicate_closed_form),
		cmocka_unit_test(test_criticality_subset_below_min_sum_h_counts_as_zero),
		cmocka_unit_test(test_unique_histogram_copies_zero_independent_h),
		cmocka_unit_test(test_unique_gaussian_copies_at_eps_floor_independent_h),
		cmocka_unit_test(test_unique_gaussian_matches_schur_complement),
		cmocka_unit_test(test_unique_constant_channel_zero),
		cmocka_unit_test(test_histogram_bins_clamp_max_and_huge_range),
		cmocka_unit_test(test_zone_thresholds_at_and_around_edges),
		cmocka_unit_test(test_zone_and_flag_names),
		cmocka_unit_test(test_fixtures_match_numpy),
		cmocka_unit_test(test_byte_entropy_known_distributions),
		cmocka_unit_test(test_json_valid_snapshot_matches_schema),
		cmocka_unit_test(test_json_invalid_snapshot_has_reason_and_nulls),
		cmocka_unit_test(test_json_sum_h_below_min_signal_valid_r_null),
		cmocka_unit_test(test_json_resilience_disabled_has_no_reason),
		cmocka_unit_test(test_json_non_finite_values_become_null),
		cmocka_unit_test(test_json_rejects_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
