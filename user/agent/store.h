/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * store: the series the agent has drained, with their cumulative values.
 *
 * The BPF maps hold monotonic per-CPU values that are never deleted, so a
 * drain replaces each series' values with the per-CPU sums it just read
 * (store__apply_*()), plus the series' carry: what maps retired by a
 * migration held (store__set_carry()). The sample lane adds what only raw
 * values give (store__add_sample()). Only the drain thread mutates the
 * store.
 *
 * Pure: plain data in (the kernel's value layouts of include/emitd.h), no
 * BPF calls, no clocks.
 */
#ifndef EMITD_STORE_H
#define EMITD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emitd.h"
#include "spec/hash.h"
#include "spec/spec.h"

struct store_metric;
struct store_index;

/*
 * A series. What each kind adds to the count shares its memory with the
 * other kinds' (a series has the one kind of its metric): read only the
 * fields of s->metric->kind. 232 bytes a series (240 with the index's
 * chain pointer, store.c), 1M series take 229 MiB before their labels.
 */
struct series {
	struct emitd_series_key key;
	struct store_metric *metric;
	/*
	 * Formatted label values. A string label points into key when its
	 * encoding (lib/labelenc.h) is the key's bytes up to a NUL the key
	 * holds, the overflow series' to a shared EMITD_OTHER_VALUE: read-only,
	 * never freed by the caller.
	 */
	char *labels[EMITD_MAX_LABELS];
	uint64_t count;			/* counter value, histogram count, norm events */
	union {
		struct {		/* EMITD_KIND_GAUGE */
			double gauge;
			uint64_t gauge_ktime;
		};
		struct {		/* EMITD_KIND_HISTOGRAM */
			uint64_t *slots;	/* EMITD_NR_SLOTS non-cumulative */
			int64_t isum;		/* integer sum, exact */
			double fsum;		/* f64 sum, from the sample lane */
			uint64_t fsum_samples;	/* samples behind fsum */
		};
		struct {		/* EMITD_KIND_NORMALIZATION */
			uint64_t zeroed;
			double before_abs_sum;	/* from the sample lane */
			double after_abs_sum;
			uint64_t samples;
		};
	};
	void *carry;			/* NULL, or the kind's value (struct emitd_counter...) */
	bool in_kernel;			/* a drain read it from a map (store__apply_*()) */
};

struct store_metric {
	const struct spec_metric *spec;
	char *full_name;
	uint32_t id;
	uint32_t idx;			/* position in the spec and in `series_count` */
	enum emitd_kind kind;
	enum spec_val_type value_type;
	bool fixed;			/* no labels: a per-CPU array slot in the kernel */
	bool trial;			/* histogram trial mode: raw values on the sample lane */
	bool fresh;			/* its series restart: store__adopt_samples() skips it */
	uint32_t slot;			/* its stable slot: *_fixed index, guard entry (idx until set) */
	struct series **series;		/* sorted by label values when published */
	size_t nr_series;
	size_t cap_series;
	bool sorted;
};

/*
 * The path of cgroup @id into @buf of @size bytes: 0, or -ENOENT when
 * unresolved (the label is then the id's number).
 */
typedef int (*store_cgroup_fn)(void *ctx, uint64_t id, char *buf, size_t size);

struct store {
	struct store_metric *metrics;
	size_t nr_metrics;
	struct store_index *index;	/* the series by key, and their memory */
	uint64_t orphans;		/* map entries of metrics no longer in the spec */
	const char *spec_namespace;	/* the spec's, which outlives the store */
	char spec_sha256[SPEC_SHA256_HEX];	/* spec__hash() of the spec: emitd_spec_info */
	store_cgroup_fn cgroup_path;	/* renders `cgroup` labels; NULL: numbers */
	void *cgroup_ctx;
};

/*
 * A store for @spec, which must outlive it, with the spec's hash and its
 * warm series: the series of each metric without labels, and one per
 * combination of the label values the spec lists (spec_metric__nr_warm()),
 * all at 0, keyed as the kernel will key them. 0, or -ENOMEM, -EIO (no
 * SHA-256) or -EEXIST (two metric ids collide) with the reason in @err.
 */
int store__init(struct store *st, const struct spec *spec, char *err, size_t err_sz);
void store__free(struct store *st);
/*
 * How `cgroup` labels are rendered from here on: @fn's path, encoded as a
 * string label is (lib/labelenc.h), or the id's number where @fn cannot
 * resolve it. A path begins with '/', a number never does.
 */
void store__set_cgroup_namer(struct store *st, store_cgroup_fn fn, void *ctx);
struct store_metric *store__metric_by_id(struct store *st, uint32_t id);
/* Find or create the series for @key (labels formatted per the metric). */
struct series *store__series(struct store *st, const struct emitd_series_key *key);
/* Sort each metric's series by label values for a stable exposition. */
void store__sort(struct store *st);
/* Start counting orphans afresh (once per drain). */
void store__reset_orphans(struct store *st);
/* Histogram trial mode for @m: its raw values come down the sample lane. */
void store_metric__set_trial(struct store_metric *m);

/*
 * Replace @s's values with the sums of @ncpus per-CPU values read from the
 * map of one kind, and mark it in_kernel. Counters, histograms and
 * normalizations sum every CPU; a gauge takes the value of the CPU that
 * updated it last (it keeps its value when no CPU did). Values of another
 * kind than @s's metric are ignored (nothing changes, not even in_kernel):
 * the kinds share the series' memory.
 */
void store__apply_counter(struct series *s, const struct emitd_counter *percpu, int ncpus);
void store__apply_gauge(struct series *s, const struct emitd_gauge *percpu, int ncpus);
void store__apply_hist(struct series *s, const struct emitd_hist *percpu, int ncpus);
void store__apply_norm(struct series *s, const struct emitd_norm *percpu, int ncpus);
/*
 * Every apply of @s adds @value, one value of the kind's map layout (a
 * gauge: the newest of it and the CPUs' values wins). 0 or -ENOMEM.
 */
int store__set_carry(struct series *s, const void *value);
/* Bytes of one value of @kind in the maps (struct emitd_counter, ...). */
size_t store__value_size(enum emitd_kind kind);
/*
 * Copy what the sample lane summed in @old's series (f64 histogram sums,
 * normalization magnitudes) into the same series of @st, for each metric of
 * @st of the same name, kind and value type in @old that is not fresh.
 * 0 or -ENOMEM.
 */
int store__adopt_samples(struct store *st, const struct store *old);
/*
 * A sample-lane record of metric @m for its series @s: a histogram adds the
 * value to its f64 sum, a normalization its |before| and |after|. Nothing
 * when @m is not @s's metric.
 */
void store__add_sample(const struct store_metric *m, struct series *s,
		       const struct emitd_sample *smp);

/*
 * A series the kernel admitted (counted in its budget): read from a map, not
 * the overflow series. A warm series is not, until the kernel creates it.
 */
bool series__admitted(const struct series *s);

/* A raw map or sample value as a double, by the value's type. */
double store__raw_to_double(__u64 raw, enum spec_val_type t);
/*
 * A raw value of @m's value in the unit @m exports: as a double, times the
 * value's `scale:` (lib/scale.h). The store keeps raw values; what leaves
 * it for users (trial mode's quantiles) goes through here or scale__export().
 */
double store_metric__value(const struct store_metric *m, __u64 raw);

enum emitd_kind emitd_kind__from_spec(enum spec_metric_type t);

#endif /* EMITD_STORE_H */
