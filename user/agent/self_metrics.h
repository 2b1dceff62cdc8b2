/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * self_metrics: the agent's own families (emitd_*), rendered from the table
 * of lib/self_metrics.h and from copies of the figures: the collector's
 * (collector__stats()), the drain controller's (agent_batch__stats()), the
 * targets' (watch__targets()) and the HTTP server's (http_server__stats()).
 * It reads nothing else and calls none of them.
 */
#ifndef EMITD_AGENT_SELF_METRICS_H
#define EMITD_AGENT_SELF_METRICS_H

#include <stddef.h>

#include "agent/collector.h"
#include "agent/drain.h"
#include "agent/families.h"
#include "agent/http.h"
#include "agent/remote_write.h"
#include "agent/store.h"
#include "agent/watch.h"
#include "lib/self_metrics.h"

/*
 * The family @id with @nr series: @values[i] and the label values
 * @lv[i * L .. i * L + L - 1], L being the number of labels the table gives @id.
 */
void self_metrics__add(struct fam_builder *fb, enum self_metric_id id,
		       const char *const *lv, const double *values, size_t nr);
/* The family @id (without labels) with its one series. */
void self_metrics__add_value(struct fam_builder *fb, enum self_metric_id id, double value);

/*
 * emitd_build_info (the version and revision of lib/build_info.h, the
 * libbpf version given) and emitd_start_time_seconds.
 */
void self_metrics__add_build(struct fam_builder *fb, const char *libbpf_version,
			     double start_time_s);
/*
 * The spec's provenance (emitd_spec_info), probe sites and hits, maps, the
 * kernel's counters, drains and scrapes.
 */
void self_metrics__add_collector(struct fam_builder *fb, const struct store *st,
				 const struct collector_stats *cs, const struct http_stats *hs);
/* emitd_target_up, from a copy of the targets' states (watch__targets()). */
void self_metrics__add_targets(struct fam_builder *fb, const struct watch_target *t, size_t nr);
/* The drain controller: cadence, shedding, lanes, cardinality, trial mode. */
void self_metrics__add_drain(struct fam_builder *fb, const struct store *st,
			     const struct collector_stats *cs, const struct agent_batch_stats *bs);

/* Remote write, from copies of each URL's counters (@nr 0: nothing). */
void self_metrics__add_remote_write(struct fam_builder *fb,
				    const struct remote_write_url_stats *st, size_t nr);

#endif /* EMITD_AGENT_SELF_METRICS_H */
