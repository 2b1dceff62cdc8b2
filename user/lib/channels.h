/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * channels: the series of `signal: true` metrics as aligned sample windows
 * for the signal math (signal_metrics.h).
 *
 * Pure: no clocks, the caller passes every timestamp. Each drain appends a
 * point to the sampling grid (tick); each channel records observations with
 * their own timestamps (a gauge's last update time, or the drain time for
 * derived values such as rates and means). Building aligns every channel on
 * the grid and applies the missing-data policy.
 */
#ifndef EMITD_CHANNELS_H
#define EMITD_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum chan_window_kind {
	CHAN_WINDOW_TIME = 0,		/* the last value ms of grid time */
	CHAN_WINDOW_SAMPLES,		/* the last value grid points */
};

enum chan_align {
	CHAN_ALIGN_SAMPLE_AND_HOLD = 0,	/* last observation at or before t */
	CHAN_ALIGN_NEAREST,		/* observation closest to t */
	CHAN_ALIGN_LINEAR,		/* interpolate between the neighbours of t */
};

enum chan_missing {
	CHAN_MISSING_DROP_INCOMPLETE = 0,	/* drop grid points where any channel is missing */
	CHAN_MISSING_ALLOW_PARTIAL,	/* drop incomplete channels, keep >= min_channels */
	CHAN_MISSING_FILL_LAST_KNOWN,	/* fill gaps with the channel's last known value */
};

struct chan_config {
	enum chan_window_kind window_kind;
	uint64_t window_value;		/* ms or points; default 60000 ms */
	enum chan_align align;
	enum chan_missing missing;
	unsigned int min_channels;	/* ALLOW_PARTIAL; default 2 */
	unsigned int max_channels;	/* channels kept at most; default 64 */
	unsigned int max_points;	/* grid points and observations kept per channel; default 4096 */
};

struct chan_set;

/* The aligned window: n channels x m samples, row-major by channel. */
struct chan_matrix {
	unsigned int nr_channels;
	unsigned int nr_samples;
	const char **ids;		/* owned by the chan_set, valid until its next change */
	double *samples;		/* caller frees with chan_matrix__free() */
	unsigned int nr_dropped_channels;	/* ALLOW_PARTIAL: incomplete channels left out */
};

void chan_config__init(struct chan_config *cfg);
int chan_config__parse_align(const char *s, enum chan_align *out);
int chan_config__parse_missing(const char *s, enum chan_missing *out, unsigned int *min_channels);
int chan_config__parse_window(const char *s, enum chan_window_kind *kind, uint64_t *value);

struct chan_set *chan_set__new(const struct chan_config *cfg);
void chan_set__free(struct chan_set *set);

/* Append a grid point (a drain) at @ts_ms; older points leave the window. */
int chan_set__tick(struct chan_set *set, uint64_t ts_ms);
/*
 * Record channel @id's value observed at @ts_ms. Observations with the same
 * timestamp as the channel's last one replace it. -ENOSPC when max_channels
 * are already tracked (the channel is not added).
 */
int chan_set__observe(struct chan_set *set, const char *id, uint64_t ts_ms, double value);
unsigned int chan_set__nr_channels(const struct chan_set *set);

int chan_set__build(struct chan_set *set, struct chan_matrix *out);
void chan_matrix__free(struct chan_matrix *m);

#endif /* EMITD_CHANNELS_H */
