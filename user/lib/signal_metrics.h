/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * signal: entropy, total correlation and resilience of aligned channels.
 *
 * Pure math: no BPF, no sockets, no clocks, no state. The caller hands in n
 * channels x m aligned samples and gets plain data back; signal__compute()
 * allocates scratch memory for the call and frees it before returning.
 *
 * Definitions (all entropies in bits, log base 2):
 *   H_i      entropy of channel i
 *   H_joint  entropy of all included channels together
 *   TC       total correlation = sum_h - H_joint (>= 0; rounding below 0 is
 *            clamped to 0)
 *   R        resilience index = TC / sum_h
 *   zone     healthy when R >= healthy_min, attention when R >= attention_min,
 *            critical otherwise
 *   delta_r  criticality of channel k = R_all - R_without_k (leave-one-out):
 *            how much of the system's redundancy k carries (copies rank first)
 *   unique_bits  U_k = H_joint - H_joint_without_k = H(X_k | rest), from the
 *            same leave-one-out pass: the information only k has. Low U: the
 *            other channels carry what k says, k is removable. Histogram:
 *            0 <= U_k <= H_k, 0 for each copy of a duplicated channel, H_k for
 *            an independent one. Gaussian: U_k = 0.5 * log2(2*pi*e *
 *            var(k | rest)), var from Sigma + eps*I (the Schur complement);
 *            differential, so it has no zero: it is H_k for an independent
 *            channel and falls without bound as the rest predicts k, down to
 *            the floor eps sets for an exact copy, 0.5 * log2(2*pi*e *
 *            ((1+eps) - 1/(1+eps))) ~= -10.74 bits for eps = 1e-8 (z-scored).
 *            A constant channel has U = 0.
 *
 * Estimators:
 *   GAUSSIAN  H = 0.5 * log2((2*pi*e)^n * |Sigma + eps*I|), Sigma the
 *             population (divide by m) covariance, log-det by Cholesky. With
 *             ZSCORE normalization Sigma is the correlation matrix, every live
 *             channel has H_i = 0.5 * log2(2*pi*e*(1 + eps)) ~= 2.047 bits, and
 *             R = TC / (2.047 * n) is a per-channel normalized TC. With NONE,
 *             H_i depends on the units of the channel and may be negative.
 *             Differential TC is not bounded by sum_h: R may exceed 1 for
 *             near-duplicate channels (rho > ~0.998 for two channels).
 *   HISTOGRAM B equal-width bins over each channel's window range, plug-in
 *             entropy of the bin counts; the joint entropy counts distinct bin
 *             tuples. Normalization does not apply (equal-width bins are
 *             affine invariant). 0 <= R <= 1. The plug-in joint entropy
 *             saturates at log2(m), so with many channels and few samples TC
 *             and R are biased high: use it for few or discrete channels.
 *
 * Constant channels (every sample equal) carry no information: H_i = 0 and
 * they are left out of the joint entropy, so they change neither TC nor R and
 * get delta_r = 0. This is what the histogram estimator gives naturally; the
 * Gaussian one would otherwise give H_i = 0.5 * log2(2*pi*e*eps) ~= -11.2 bits
 * and inflate R by shrinking sum_h. Flagged SIGNAL_F_CONSTANT_CHANNEL.
 *
 * Validity: `valid` covers the signal part (h, sum_h, h_joint, total_corr),
 * `r_valid` covers r, zone and the criticality ranking. R needs
 * sum_h >= min_sum_h (> 0): below it r_valid is false with reason
 * "sum_h_below_min" while the signal part stays valid. For criticality, R of a
 * leave-one-out subset whose sum_h is below min_sum_h counts as 0. Every double
 * in a result is finite; fields not covered by a true validity flag are 0.
 */


#ifndef EMITD_SIGNAL_H
#define EMITD_SIGNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGNAL_MAX_CHANNELS		64	/* hard cap on included channels */
#define SIGNAL_MAX_BINS			256	/* bin indexes are stored as bytes */
#define SIGNAL_LOG_BASE			2
#define SIGNAL_DEFAULT_BINS		16
#define SIGNAL_DEFAULT_EPSILON		1e-8
#define SIGNAL_DEFAULT_MAX_JOINT	32
#define SIGNAL_DEFAULT_MIN_SUM_H	0.1
#define SIGNAL_DEFAULT_MIN_SAMPLES	32
#define SIGNAL_DEFAULT_HEALTHY_MIN	0.5
#define SIGNAL_DEFAULT_ATTENTION_MIN	0.2
#define SIGNAL_DEFAULT_CRIT_MAX		16
#define SIGNAL_CRITICALITY_NOTE	"delta_r = R_all - R_without_channel (leave-one-out)"

enum signal_estimator {
	SIGNAL_EST_GAUSSIAN = 0,
	SIGNAL_EST_HISTOGRAM,
};

enum signal_normalization {
	SIGNAL_NORM_NONE = 0,
	SIGNAL_NORM_ZSCORE,
};

enum signal_zone {
	SIGNAL_ZONE_NONE = 0,		/* r not valid */
	SIGNAL_ZONE_CRITICAL,
	SIGNAL_ZONE_ATTENTION,
	SIGNAL_ZONE_HEALTHY,
};

/* struct signal_result.flags */
#define SIGNAL_F_COMPUTED		(1U << 0)	/* signal part valid */
#define SIGNAL_F_JOINT_TRUNCATED	(1U << 1)	/* n > max_channels_for_joint */
#define SIGNAL_F_CRITICALITY_TRUNCATED	(1U << 2)	/* ranking cut to crit_max */
#define SIGNAL_F_CONSTANT_CHANNEL	(1U << 3)	/* some channel never changed */
#define SIGNAL_F_ALL			((1U << 4) - 1)

struct signal_config {
	enum signal_estimator estimator;	/* GAUSSIAN */
	enum signal_normalization normalization;	/* ZSCORE; GAUSSIAN only */
	double covariance_epsilon;		/* 1e-8, >= 0 */
	unsigned int max_channels_for_joint;	/* 32, 1..SIGNAL_MAX_CHANNELS */
	double min_sum_h;			/* 0.1 bits, > 0 */
	unsigned int min_aligned_samples;	/* 32, >= 2 */
	double healthy_min;			/* 0.5 */
	double attention_min;			/* 0.2, <= healthy_min */
	bool resilience_enabled;		/* true: compute r and zone */
	bool criticality_enabled;		/* true: rank delta_r */
	unsigned int crit_max_channels;		/* 16 ranking entries at most */
	unsigned int histogram_bins;		/* 16, 1..SIGNAL_MAX_BINS */
};

/*
 * n channels x m aligned samples, row-major by channel: sample t of channel c
 * is samples[c * nr_samples + t]. Caller-owned. Only the first
 * max_channels_for_joint channels are read.
 */
struct signal_input {
	unsigned int nr_channels;
	unsigned int nr_samples;
	const char *const *channel_ids;	/* nr_channels strings; JSON only */
	const double *samples;
};

struct signal_rank {
	unsigned int channel;		/* index into the input channels */
	double delta_r;
	double unique_bits;		/* U = H_joint - H_joint without the channel */
};

struct signal_result {
	bool valid;			/* h, sum_h, h_joint, total_corr */
	bool r_valid;			/* r, zone, ranking */
	bool resilience_enabled;	/* copied from the config */
	bool criticality_enabled;	/* copied from the config */
	const char *invalid_reason;	/* static; NULL when nothing enabled is invalid */
	unsigned int flags;		/* SIGNAL_F_* */
	unsigned int channels_included;	/* the first channels_included inputs */
	unsigned int aligned_samples;
	double h[SIGNAL_MAX_CHANNELS];	/* per included channel */
	double sum_h;
	double h_joint;
	double total_corr;
	double r;
	enum signal_zone zone;
	unsigned int nr_ranked;
	struct signal_rank ranking[SIGNAL_MAX_CHANNELS];	/* delta_r descending */
};

enum signal_window_kind {
	SIGNAL_WINDOW_TIME_MS = 0,	/* "time_ms" */
	SIGNAL_WINDOW_SAMPLES,		/* "samples" */
};

/* What the snapshot needs besides the result. */
struct signal_snapshot_info {
	uint64_t timestamp_ms;
	enum signal_window_kind window_kind;
	uint64_t window_value;		/* ms or samples, by window_kind */
	uint64_t frame_size_bytes;	/* the compressed /metrics frame */
	double h_bytes;			/* signal__byte_entropy() of that frame */
};

struct json_t;

void signal_config__init(struct signal_config *cfg);
int signal_config__validate(const struct signal_config *cfg);

/*
 * Returns 0 with @res filled (check res->valid and res->r_valid), -EINVAL on a
 * bad argument or config, -ENOMEM. On error @res, when given, is invalid.
 */
int signal__compute(const struct signal_config *cfg, const struct signal_input *in,
		    struct signal_result *res);

enum signal_zone signal__zone(const struct signal_config *cfg, double r);
const char *signal_zone__name(enum signal_zone zone);	/* "none" for NONE */
const char *signal_flag__name(unsigned int flag);	/* one SIGNAL_F_* bit */

/* Shannon entropy of the bytes of @buf in bits per byte, 0..8; 0 when empty. */
double signal__byte_entropy(const void *buf, size_t len);

/*
 * ALEC MetricsSnapshot v1 as a new jansson object in *@out (json_decref() it).
 * @in supplies the channel ids (UTF-8), indexed as in @res. 0, -EINVAL (bad
 * argument, id not UTF-8, a u64 above INT64_MAX), -ENOMEM.
 * As in the reference note: window.kind "time_ms" (or "samples"), log_base
 * "log2", flags are upper-case names. Every key is always present except
 * invalid_reason, present iff res->invalid_reason is set. When !valid:
 * h_per_channel is [] and sum_h, h_joint, total_corr are null; when !r_valid:
 * r and zone are null and ranking is []. A non-finite double is written null.
 * Each ranking entry is {channel_id, delta_r, unique_bits}.
 */
int signal_result__to_json(const struct signal_result *res, const struct signal_input *in,
			   const struct signal_snapshot_info *info, struct json_t **out);

#endif /* EMITD_SIGNAL_H */
