/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * families: turns the store and the agent's own counters into exposition
 * families (expo.h). A builder owns every allocation of one rendering and
 * frees them at once.
 */
#ifndef EMITD_FAMILIES_H
#define EMITD_FAMILIES_H

#include <stddef.h>
#include <stdint.h>

#include "lib/expo.h"
#include "agent/store.h"

struct fam_builder {
	struct expo_family *fams;
	size_t nr_fams, cap_fams;
	void **allocs;			/* everything the families point into */
	size_t nr_allocs, cap_allocs;
	int err;			/* first allocation failure, sticky */
};

void fam_builder__free(struct fam_builder *fb);

/* The spec's metrics, from the store. */
void fam_builder__add_store(struct fam_builder *fb, const struct store *st);

/*
 * A family with up to one label and @nr series. @values[i] and @label_values[i]
 * describe series i; @label_name NULL for an unlabelled family (nr must be 1).
 * COUNTER values are taken as exact integers.
 */
void fam_builder__add_simple(struct fam_builder *fb, const char *name, const char *help,
			     enum expo_type type, const char *label_name,
			     const char *const *label_values, const double *values, size_t nr);

/* A family of one unlabelled series. */
void fam_builder__add_value(struct fam_builder *fb, const char *name, const char *help,
			    enum expo_type type, double value);

/* A family of series with any number of labels, copied from @lv (nr x nl). */
void fam_builder__add_labelled(struct fam_builder *fb, const char *name, const char *help,
			       enum expo_type type, const char *const *label_names, size_t nl,
			       const char *const *lv, const double *values, size_t nr);

/*
 * A histogram family of one unlabelled series: @nr_bounds finite bounds and
 * nr_bounds + 1 non-cumulative @buckets, all copied.
 */
void fam_builder__add_histogram(struct fam_builder *fb, const char *name, const char *help,
				const double *bounds, size_t nr_bounds, const uint64_t *buckets,
				uint64_t count, double sum);

#endif /* EMITD_FAMILIES_H */
