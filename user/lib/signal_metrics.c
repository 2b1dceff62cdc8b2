// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * signal: entropy, total correlation and resilience of aligned channels.
 * Definitions and the choices made are documented in signal.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* qsort_r, M_PI, M_E */
#endif
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/signal_metrics.h"

#define LOG2_2PIE	log2(2.0 * M_PI * M_E)

/* What an estimator hands back for the first k input channels. */
struct estimate {
	double h[SIGNAL_MAX_CHANNELS];
	double h_joint;
	double hj_minus[SIGNAL_MAX_CHANNELS];	/* joint entropy without channel c */
	bool constant[SIGNAL_MAX_CHANNELS];
	const char *fail;			/* invalid_reason, or NULL */
};

void signal_config__init(struct signal_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->estimator = SIGNAL_EST_GAUSSIAN;
	cfg->normalization = SIGNAL_NORM_ZSCORE;
	cfg->covariance_epsilon = SIGNAL_DEFAULT_EPSILON;
	cfg->max_channels_for_joint = SIGNAL_DEFAULT_MAX_JOINT;
	cfg->min_sum_h = SIGNAL_DEFAULT_MIN_SUM_H;
	cfg->min_aligned_samples = SIGNAL_DEFAULT_MIN_SAMPLES;
	cfg->healthy_min = SIGNAL_DEFAULT_HEALTHY_MIN;
	cfg->attention_min = SIGNAL_DEFAULT_ATTENTION_MIN;
	cfg->resilience_enabled = true;
	cfg->criticality_enabled = true;
	cfg->crit_max_channels = SIGNAL_DEFAULT_CRIT_MAX;
	cfg->histogram_bins = SIGNAL_DEFAULT_BINS;
}

int signal_config__validate(const struct signal_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	if ((unsigned int)cfg->estimator > SIGNAL_EST_HISTOGRAM ||
	    (unsigned int)cfg->normalization > SIGNAL_NORM_ZSCORE)
		return -EINVAL;
	if (!isfinite(cfg->covariance_epsilon) || cfg->covariance_epsilon < 0)
		return -EINVAL;
	if (cfg->max_channels_for_joint < 1 ||
	    cfg->max_channels_for_joint > SIGNAL_MAX_CHANNELS)
		return -EINVAL;
	if (!isfinite(cfg->min_sum_h) || cfg->min_sum_h <= 0)
		return -EINVAL;
	if (cfg->min_aligned_samples < 2)
		return -EINVAL;
	if (!isfinite(cfg->healthy_min) || !isfinite(cfg->attention_min) ||
	    cfg->attention_min > cfg->healthy_min)
		return -EINVAL;
	if (cfg->histogram_bins < 1 || cfg->histogram_bins > SIGNAL_MAX_BINS)
		return -EINVAL;
	return 0;
}

enum signal_zone signal__zone(const struct signal_config *cfg, double r)
{
	if (!isfinite(r))
		return SIGNAL_ZONE_NONE;
	if (r >= cfg->healthy_min)
		return SIGNAL_ZONE_HEALTHY;
	if (r >= cfg->attention_min)
		return SIGNAL_ZONE_ATTENTION;
	return SIGNAL_ZONE_CRITICAL;
}

const char *signal_zone__name(enum signal_zone zone)
{
	switch (zone) {
	case SIGNAL_ZONE_HEALTHY:
		return "healthy";
	case SIGNAL_ZONE_ATTENTION:
		return "attention";
	case SIGNAL_ZONE_CRITICAL:
		return "critical";
	default:
		return "none";
	}
}

const char *signal_flag__name(unsigned int flag)
{
	switch (flag) {
	case SIGNAL_F_COMPUTED:
		return "SIGNAL_COMPUTED";
	case SIGNAL_F_JOINT_TRUNCATED:
		return "JOINT_TRUNCATED";
	case SIGNAL_F_CRITICALITY_TRUNCATED:
		return "CRITICALITY_TRUNCATED";
	case SIGNAL_F_CONSTANT_CHANNEL:
		return "CONSTANT_CHANNEL";
	default:
		return NULL;
	}
}

/* -p * log2(p) for p = count / total. */
static double neg_plogp(size_t count, size_t total)
{
	double p = (double)count / (double)total;

	return -p * log2(p);
}

double signal__byte_entropy(const void *buf, size_t len)
{
	const unsigned char *b = buf;
	size_t counts[256] = { 0 };
	double h = 0;
	size_t i;

	if (!buf || !len)
		return 0;
	for (i = 0; i < len; i++)
		counts[b[i]]++;
	for (i = 0; i < 256; i++) {
		if (counts[i])
			h += neg_plogp(counts[i], len);
	}
	return fmin(fmax(h, 0), 8);
}

/* ---- Gaussian estimator ------------------------------------------------ */

struct gauss_ws {
	unsigned int nr_live;
	unsigned int live[SIGNAL_MAX_CHANNELS];	/* live slot -> channel */
	int exp[SIGNAL_MAX_CHANNELS];		/* channel = xc * 2^exp, by slot */
	double *xc;				/* nr_live x m, |xc| <= 1 */
	double *sigma;				/* nr_live x nr_live */
	double *chol;				/* scratch, nr_live x nr_live */
};

static bool channel_is_constant(const double *x, unsigned int m)
{
	unsigned int t;

	for (t = 1; t < m; t++) {
		if (x[t] != x[0])
			return false;
	}
	return true;
}

/* Exponent e such that every |x[t]| * 2^-e < 1, or 0 when all are 0. */
static int max_abs_exp(const double *x, unsigned int m)
{
	double a = 0;
	unsigned int t;
	int e;

	for (t = 0; t < m; t++)
		a = fmax(a, fabs(x[t]));
	frexp(a, &e);
	return e;
}

/*
 * Center a non-constant channel into @out, scaled by powers of two only (exact
 * short of underflow) so that |out| <= 1 and max |out| >= 0.5. Returns the
 * total exponent: the centered channel is out * 2^exp. No overflow for any
 * finite input: the scaled values sum to at most m in magnitude.
 */
static int center_scaled(const double *x, unsigned int m, double *out)
{
	int e0 = max_abs_exp(x, m), e1;
	double mean = 0;
	unsigned int t;

	for (t = 0; t < m; t++)
		mean += ldexp(x[t], -e0);
	mean /= m;
	for (t = 0; t < m; t++)
		out[t] = ldexp(x[t], -e0) - mean;
	e1 = max_abs_exp(out, m);
	for (t = 0; t < m; t++)
		out[t] = ldexp(out[t], -e1);
	return e0 + e1;
}

static void gauss_center(const double *x, unsigned int k, unsigned int m,
			 struct gauss_ws *ws, struct estimate *est)
{
	unsigned int c, s;

	for (c = 0; c < k; c++) {
		const double *row = x + (size_t)c * m;

		if (channel_is_constant(row, m)) {
			est->constant[c] = true;
			continue;
		}
		s = ws->nr_live++;
		ws->live[s] = c;
		ws->exp[s] = center_scaled(row, m, ws->xc + (size_t)s * m);
	}
}

static double dot(const double *a, const double *b, unsigned int m)
{
	double acc = 0;
	unsigned int t;

	for (t = 0; t < m; t++)
		acc += a[t] * b[t];
	return acc;
}

/* Sigma = cov (NONE) or corr (ZSCORE) of the live channels, plus eps * I. */
static const char *gauss_sigma(const struct signal_config *cfg, struct gauss_ws *ws,
			       unsigned int m)
{
	unsigned int n = ws->nr_live, i, j;
	double var[SIGNAL_MAX_CHANNELS], *sig = ws->sigma, v;

	for (i = 0; i < n; i++)
		var[i] = dot(ws->xc + (size_t)i * m, ws->xc + (size_t)i * m, m) / m;
	for (i = 0; i < n; i++) {
		for (j = 0; j <= i; j++) {
			v = i == j ? var[i] :
			    dot(ws->xc + (size_t)i * m, ws->xc + (size_t)j * m, m) / m;
			if (cfg->normalization == SIGNAL_NORM_ZSCORE)
				v = i == j ? 1.0 : v / (sqrt(var[i]) * sqrt(var[j]));
			else
				v = ldexp(v, ws->exp[i] + ws->exp[j]);
			if (!isfinite(v))
				return "numeric_overflow";
			if (i == j)
				v += cfg->covariance_epsilon;
			sig[i * n + j] = v;
			sig[j * n + i] = v;
		}
	}
	return NULL;
}

/* log2 of the determinant of the n x n SPD matrix @a; @a is overwritten. */
static int cholesky_log2det(double *a, unsigned int n, double *log2det)
{
	double acc = 0, d, l, s;
	unsigned int i, j, p;

	for (j = 0; j < n; j++) {
		d = a[j * n + j];
		for (p = 0; p < j; p++)
			d -= a[j * n + p] * a[j * n + p];
		if (!(d > 0) || !isfinite(d))
			return -EDOM;
		l = sqrt(d);
		a[j * n + j] = l;
		acc += log2(d);
		for (i = j + 1; i < n; i++) {
			s = a[i * n + j];
			for (p = 0; p < j; p++)
				s -= a[i * n + p] * a[j * n + p];
			a[i * n + j] = s / l;
		}
	}
	*log2det = acc;
	return 0;
}

/* Gaussian joint entropy of sigma without live slot @skip (skip >= n: none). */
static int gauss_joint(const struct gauss_ws *ws, unsigned int skip, double *h)
{
	unsigned int n = ws->nr_live, dim = 0, i, j, o = 0;
	double ld;

	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		for (j = 0; j < n; j++) {
			if (j != skip)
				ws->chol[o++] = ws->sigma[i * n + j];
		}
		dim++;
	}
	if (!dim) {
		*h = 0;
		return 0;
	}
	if (cholesky_log2det(ws->chol, dim, &ld))
		return -EDOM;
	*h = 0.5 * (dim * LOG2_2PIE + ld);
	return 0;
}

static const char *gauss_entropies(struct gauss_ws *ws, unsigned int k, bool loo,
				   struct estimate *est)
{
	unsigned int n = ws->nr_live, s, c;
	double v;

	for (s = 0; s < n; s++) {
		v = ws->sigma[s * n + s];
		if (!(v > 0))
			return "singular_covariance";
		est->h[ws->live[s]] = 0.5 * (LOG2_2PIE + log2(v));
	}
	if (gauss_joint(ws, n, &est->h_joint))
		return "singular_covariance";
	for (c = 0; loo && c < k; c++)
		est->hj_minus[c] = est->h_joint;
	for (s = 0; loo && s < n; s++) {
		if (gauss_joint(ws, s, &est->hj_minus[ws->live[s]]))
			return "singular_covariance";
	}
	return NULL;
}

static int gauss_estimate(const struct signal_config *cfg, const double *x, unsigned int k,
			  unsigned int m, bool loo, struct estimate *est)
{
	struct gauss_ws ws = { 0 };
	int err = -ENOMEM;

	ws.xc = malloc(sizeof(double) * k * m);
	ws.sigma = malloc(sizeof(double) * k * k);
	ws.chol = malloc(sizeof(double) * k * k);
	if (!ws.xc || !ws.sigma || !ws.chol)
		goto out_free;
	gauss_center(x, k, m, &ws, est);
	est->fail = gauss_sigma(cfg, &ws, m);
	if (!est->fail)
		est->fail = gauss_entropies(&ws, k, loo, est);
	err = 0;
out_free:
	free(ws.chol);
	free(ws.sigma);
	free(ws.xc);
	return err;
}

/* ---- Histogram estimator ----------------------------------------------- */

/* Bin channel @x into codes[t * stride]; returns false for a constant channel. */
static bool hist_bin(const double *x, unsigned int m, unsigned int bins,
		     unsigned char *codes, unsigned int stride)
{
	double lo = x[0], hi = x[0], range, pos;
	unsigned int t, b;

	for (t = 1; t < m; t++) {
		lo = fmin(lo, x[t]);
		hi = fmax(hi, x[t]);
	}
	range = hi - lo;
	for (t = 0; t < m; t++) {
		if (lo == hi)
			pos = 0;
		else if (isfinite(range))
			pos = (x[t] - lo) / range;
		else	/* hi - lo overflowed: halves cannot */
			pos = (x[t] * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5);
		b = (unsigned int)(pos * bins);
		codes[(size_t)t * stride] = b < bins ? b : bins - 1;
	}
	return lo != hi;
}

static double codes_entropy(const unsigned char *codes, unsigned int m, unsigned int stride)
{
	size_t counts[SIGNAL_MAX_BINS] = { 0 };
	double h = 0;
	unsigned int t, b;

	for (t = 0; t < m; t++)
		counts[codes[(size_t)t * stride]]++;
	for (b = 0; b < SIGNAL_MAX_BINS; b++) {
		if (counts[b])
			h += neg_plogp(counts[b], m);
	}
	return h;
}

static int cmp_rows(const void *a, const void *b, void *width)
{
	return memcmp(a, b, *(const size_t *)width);
}

/* Plug-in entropy of the m tuples of @w bytes in @rows; @rows gets sorted. */
static double rows_entropy(unsigned char *rows, unsigned int m, size_t w)
{
	unsigned int t, run = 1;
	double h = 0;

	if (!w)
		return 0;
	qsort_r(rows, m, w, cmp_rows, &w);
	for (t = 1; t <= m; t++) {
		if (t < m && !memcmp(rows + t * w, rows + (t - 1) * w, w)) {
			run++;
			continue;
		}
		h += neg_plogp(run, m);
		run = 1;
	}
	return h;
}

/* Joint entropy of the k-wide tuples in @codes without column @skip. */
static double hist_joint(const unsigned char *codes, unsigned int k, unsigned int m,
			 unsigned int skip, unsigned char *rows)
{
	size_t w = skip < k ? k - 1 : k;
	unsigned int t;

	for (t = 0; t < m; t++) {
		const unsigned char *src = codes + (size_t)t * k;
		unsigned char *dst = rows + t * w;

		if (skip >= k) {
			memcpy(dst, src, k);
			continue;
		}
		memcpy(dst, src, skip);
		memcpy(dst + skip, src + skip + 1, k - skip - 1);
	}
	return rows_entropy(rows, m, w);
}

static int hist_estimate(const struct signal_config *cfg, const double *x, unsigned int k,
			 unsigned int m, bool loo, struct estimate *est)
{
	unsigned char *codes, *rows = NULL;
	unsigned int c;
	int err = -ENOMEM;

	codes = calloc((size_t)k, m);
	rows = malloc((size_t)k * m);
	if (!codes || !rows)
		goto out_free;
	for (c = 0; c < k; c++) {
		est->constant[c] = !hist_bin(x + (size_t)c * m, m, cfg->histogram_bins,
					     codes + c, k);
		est->h[c] = codes_entropy(codes + c, m, k);
	}
	est->h_joint = hist_joint(codes, k, m, k, rows);
	for (c = 0; loo && c < k; c++) {
		est->hj_minus[c] = est->constant[c] ? est->h_joint :
				   hist_joint(codes, k, m, c, rows);
	}
	err = 0;
out_free:
	free(rows);
	free(codes);
	return err;
}

/* ---- Common ------------------------------------------------------------ */

/* R of a channel set; 0 when its sum_h is too small to divide by. */
static double resilience_of(const struct signal_config *cfg, double sum_h, double h_joint)
{
	if (!(sum_h >= cfg->min_sum_h))
		return 0;
	return fmax(sum_h - h_joint, 0) / sum_h;
}

static int cmp_rank(const void *a, const void *b)
{
	const struct signal_rank *x = a, *y = b;

	if (x->delta_r != y->delta_r)
		return x->delta_r > y->delta_r ? -1 : 1;
	return x->channel < y->channel ? -1 : x->channel > y->channel;
}

static void rank_criticality(const struct signal_config *cfg, const struct estimate *est,
			     struct signal_result *res)
{
	struct signal_rank all[SIGNAL_MAX_CHANNELS];
	unsigned int k = res->channels_included, nr = k, c, j;
	double sum;

	for (c = 0; c < k; c++) {
		sum = 0;
		for (j = 0; j < k; j++) {
			if (j != c)
				sum += est->h[j];
		}
		all[c].channel = c;
		all[c].delta_r = res->r - resilience_of(cfg, sum, est->hj_minus[c]);
		all[c].unique_bits = est->h_joint - est->hj_minus[c];
	}
	qsort(all, k, sizeof(all[0]), cmp_rank);
	if (nr > cfg->crit_max_channels) {
		nr = cfg->crit_max_channels;
		res->flags |= SIGNAL_F_CRITICALITY_TRUNCATED;
	}
	memcpy(res->ranking, all, sizeof(all[0]) * nr);
	res->nr_ranked = nr;
}

static void finish_signal(const struct estimate *est, struct signal_result *res)
{
	unsigned int k = res->channels_included, c;
	double sum = 0;

	for (c = 0; c < k; c++) {
		if (est->constant[c])
			res->flags |= SIGNAL_F_CONSTANT_CHANNEL;
		res->h[c] = est->h[c];
		sum += est->h[c];
	}
	res->sum_h = sum;
	res->h_joint = est->h_joint;
	res->total_corr = fmax(sum - est->h_joint, 0);
	res->valid = true;
	res->invalid_reason = NULL;
	res->flags |= SIGNAL_F_COMPUTED;
}

static void finish_resilience(const struct signal_config *cfg, const struct estimate *est,
			      struct signal_result *res)
{
	if (!res->resilience_enabled)
		return;
	if (!(res->sum_h >= cfg->min_sum_h)) {
		res->invalid_reason = "sum_h_below_min";
		return;
	}
	res->r = res->total_corr / res->sum_h;
	res->zone = signal__zone(cfg, res->r);
	res->r_valid = true;
	if (res->criticality_enabled)
		rank_criticality(cfg, est, res);
}

static bool all_finite(const double *x, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!isfinite(x[i]))
			return false;
	}
	return true;
}

static bool estimate_finite(const struct estimate *est, unsigned int k)
{
	return all_finite(est->h, k) && all_finite(est->hj_minus, k) &&
	       isfinite(est->h_joint);
}

/* NULL when the input can be computed, else the invalid_reason. */
static const char *input_problem(const struct signal_config *cfg,
				 const struct signal_input *in, unsigned int k)
{
	if (!in->nr_channels)
		return "no_channels";
	if (in->nr_samples < cfg->min_aligned_samples)
		return "insufficient_samples";
	if (!all_finite(in->samples, (size_t)k * in->nr_samples))
		return "non_finite_input";
	return NULL;
}

int signal__compute(const struct signal_config *cfg, const struct signal_input *in,
		    struct signal_result *res)
{
	struct estimate est = { 0 };
	bool loo;
	unsigned int k;
	int err;

	if (!res)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	res->invalid_reason = "not_computed";
	if (!in || signal_config__validate(cfg))
		return -EINVAL;
	if (in->nr_channels && in->nr_samples && !in->samples)
		return -EINVAL;

	k = in->nr_channels < cfg->max_channels_for_joint ? in->nr_channels :
							    cfg->max_channels_for_joint;
	res->channels_included = k;
	res->aligned_samples = in->nr_samples;
	res->resilience_enabled = cfg->resilience_enabled;
	res->criticality_enabled = cfg->resilience_enabled && cfg->criticality_enabled;
	if (in->nr_channels > k)
		res->flags |= SIGNAL_F_JOINT_TRUNCATED;

	res->invalid_reason = input_problem(cfg, in, k);
	if (res->invalid_reason)
		return 0;

	loo = res->criticality_enabled;
	if (cfg->estimator == SIGNAL_EST_GAUSSIAN)
		err = gauss_estimate(cfg, in->samples, k, in->nr_samples, loo, &est);
	else
		err = hist_estimate(cfg, in->samples, k, in->nr_samples, loo, &est);
	if (err) {
		res->invalid_reason = "not_computed";
		return err;
	}
	if (!est.fail && !estimate_finite(&est, k))
		est.fail = "numeric_overflow";
	if (est.fail) {
		res->invalid_reason = est.fail;
		return 0;
	}
	finish_signal(&est, res);
	finish_resilience(cfg, &est, res);
	return 0;
}

/* ---- MetricsSnapshot v1 JSON ------------------------------------------- */

/* Steals @val; fails when it is NULL (a failed constructor) or on OOM. */
static int set(json_t *obj, const char *key, json_t *val)
{
	return json_object_set_new(obj, key, val) ? -ENOMEM : 0;
}

static int append(json_t *arr, json_t *val)
{
	return json_array_append_new(arr, val) ? -ENOMEM : 0;
}

static json_t *real_or_null(bool ok, double v)
{
	return ok && isfinite(v) ? json_real(v) : json_null();
}

static json_t *window_json(const struct signal_result *res,
			   const struct signal_snapshot_info *info)
{
	json_t *w = json_object();
	const char *kind = info->window_kind == SIGNAL_WINDOW_SAMPLES ? "samples" : "time_ms";

	if (!w || set(w, "kind", json_string(kind)) ||
	    set(w, "value", json_integer((json_int_t)info->window_value)) ||
	    set(w, "aligned_samples", json_integer(res->aligned_samples)) ||
	    set(w, "channels_included", json_integer(res->channels_included))) {
		json_decref(w);
		return NULL;
	}
	return w;
}

/* {"channel_id": ..., @key: v}; NULL on OOM or an id that is not UTF-8. */
static json_t *channel_value(const char *id, const char *key, double v)
{
	json_t *o = json_object();

	if (!o || set(o, "channel_id", json_string(id)) || set(o, key, real_or_null(true, v))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *signal_json(const struct signal_result *res, const struct signal_input *in)
{
	json_t *s = json_object(), *h = json_array();
	unsigned int c;
	bool ok = res->valid;

	if (!s || !h)
		goto out_err;
	for (c = 0; ok && c < res->channels_included; c++) {
		if (append(h, channel_value(in->channel_ids[c], "h", res->h[c])))
			goto out_err;
	}
	if (set(s, "valid", json_boolean(ok)) || set(s, "log_base", json_string("log2")) ||
	    set(s, "h_per_channel", json_incref(h)) ||
	    set(s, "sum_h", real_or_null(ok, res->sum_h)) ||
	    set(s, "h_joint", real_or_null(ok, res->h_joint)) ||
	    set(s, "total_corr", real_or_null(ok, res->total_corr)))
		goto out_err;
	json_decref(h);
	return s;
out_err:
	json_decref(h);
	json_decref(s);
	return NULL;
}

static json_t *payload_json(const struct signal_snapshot_info *info)
{
	json_t *p = json_object();

	if (!p || set(p, "frame_size_bytes", json_integer((json_int_t)info->frame_size_bytes)) ||
	    set(p, "h_bytes", real_or_null(true, info->h_bytes))) {
		json_decref(p);
		return NULL;
	}
	return p;
}

/* {"channel_id", "delta_r", "unique_bits"}; NULL on OOM or an id that is not UTF-8. */
static json_t *rank_entry(const char *id, const struct signal_rank *e)
{
	json_t *o = channel_value(id, "delta_r", e->delta_r);

	if (o && set(o, "unique_bits", real_or_null(true, e->unique_bits))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *criticality_json(const struct signal_result *res, const struct signal_input *in)
{
	json_t *c = json_object(), *rank = json_array();
	const struct signal_rank *e;
	unsigned int i;

	if (!c || !rank)
		goto out_err;
	for (i = 0; res->r_valid && i < res->nr_ranked; i++) {
		e = &res->ranking[i];
		if (append(rank, rank_entry(in->channel_ids[e->channel], e)))
			goto out_err;
	}
	if (set(c, "enabled", json_boolean(res->criticality_enabled)) ||
	    set(c, "ranking", json_incref(rank)) ||
	    set(c, "note", json_string(SIGNAL_CRITICALITY_NOTE)))
		goto out_err;
	json_decref(rank);
	return c;
out_err:
	json_decref(rank);
	json_decref(c);
	return NULL;
}

static json_t *resilience_json(const struct signal_result *res, const struct signal_input *in)
{
	const char *zone = signal_zone__name(res->zone);
	json_t *r = json_object();

	if (!r || set(r, "enabled", json_boolean(res->resilience_enabled)) ||
	    set(r, "r", real_or_null(res->r_valid, res->r)) ||
	    set(r, "zone", res->r_valid ? json_string(zone) : json_null()) ||
	    set(r, "criticality", criticality_json(res, in))) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static json_t *flags_json(unsigned int flags)
{
	json_t *a = json_array();
	unsigned int bit;

	for (bit = 1; a && (bit & SIGNAL_F_ALL); bit <<= 1) {
		if ((flags & bit) && append(a, json_string(signal_flag__name(bit)))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static bool utf8_string(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	bool ok = j;

	json_decref(j);
	return ok;
}

static int check_json_args(const struct signal_result *res, const struct signal_input *in,
			   const struct signal_snapshot_info *info)
{
	unsigned int i;

	if (!res || !in || !info || res->channels_included > in->nr_channels)
		return -EINVAL;
	if (info->timestamp_ms > INT64_MAX || info->window_value > INT64_MAX ||
	    info->frame_size_bytes > INT64_MAX)
		return -EINVAL;
	if (res->channels_included && !in->channel_ids)
		return -EINVAL;
	for (i = 0; i < res->channels_included; i++) {
		if (!utf8_string(in->channel_ids[i]))
			return -EINVAL;
	}
	for (i = 0; i < res->nr_ranked; i++) {
		if (res->ranking[i].channel >= res->channels_included)
			return -EINVAL;
	}
	return 0;
}

int signal_result__to_json(const struct signal_result *res, const struct signal_input *in,
			   const struct signal_snapshot_info *info, struct json_t **out)
{
	json_t *root;

	if (!out || check_json_args(res, in, info))
		return -EINVAL;
	*out = NULL;
	root = json_object();
	if (!root || set(root, "version", json_integer(1)) ||
	    set(root, "timestamp_ms", json_integer((json_int_t)info->timestamp_ms)) ||
	    set(root, "window", window_json(res, info)) ||
	    set(root, "signal", signal_json(res, in)) ||
	    set(root, "payload", payload_json(info)) ||
	    set(root, "resilience", resilience_json(res, in)) ||
	    set(root, "flags", flags_json(res->flags)))
		goto out_err;
	if (res->invalid_reason && set(root, "invalid_reason", json_string(res->invalid_reason)))
		goto out_err;
	*out = root;
	return 0;
out_err:
	json_decref(root);
	return -ENOMEM;
}
