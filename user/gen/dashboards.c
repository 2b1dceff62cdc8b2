// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * gen/dashboards: Grafana dashboards from the spec, one per family.
 *
 * Each dashboard starts with an alerts-overview text panel, followed by the
 * spec's panel hints, or, for a metric without hints, synthesized panels:
 *   counter        sum(rate(x[5m])) and sum by (l) splits for the first 2 labels
 *   histogram      p95 and p99 histogram_quantile over x_bucket
 *   gauge          topk(5, x) with labels, x without
 *   normalization  events rate and zeroed fraction, by the metric's labels
 * More than GEN_MAX_PANELS panels split the dashboard into <slug>-2, ...
 * Then emitd's own dashboard, <namespace>-emitd-health: its alerts and one
 * panel per self-metric that has a panel hint (lib/self_metrics.c).
 * Panel ids hash the slug and the panel's semantic signature (gen.h). Each
 * target's expression is recorded with the metric its panel comes from.
 * Every dashboard has the datasource variable ${DS_PROMETHEUS} resolves to
 * when Grafana provisions it from a file (gen/provision.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "gen/gen.h"
#include "lib/fmt.h"
#include "lib/log.h"
#include "lib/self_metrics.h"
#include "lib/suffix.h"

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define OVERVIEW_H		8
#define GRID_FULL_W		(GEN_GRID_COLS * GEN_GRID_W)
#define SCHEMA_VERSION		39
#define GRAFANA_MIN_VERSION	"9.0.0"
#define MAX_ID_ATTEMPTS		1000

/* Panel bodies (no id, no gridPos) in dashboard order, and their metrics. */
struct panels {
	json_t **v;
	long *metric;		/* index into spec->metrics, -1 for the overview */
	size_t nr;
	long cur;		/* the metric of the panels being added */
};

static void panels__free(struct panels *pl)
{
	size_t i;

	for (i = 0; i < pl->nr; i++)
		json_decref(pl->v[i]);
	free(pl->v);
	free(pl->metric);
	pl->v = NULL;
	pl->metric = NULL;
	pl->nr = 0;
}

/* Takes @body over, also on failure; it comes from metric pl->cur. */
static int panels__add(struct panels *pl, json_t *body)
{
	json_t **v;
	long *m;

	if (!body)
		return -ENOMEM;
	v = realloc(pl->v, (pl->nr + 1) * sizeof(*v));
	if (v)
		pl->v = v;
	m = v ? realloc(pl->metric, (pl->nr + 1) * sizeof(*m)) : NULL;
	if (!m) {
		json_decref(body);
		return -ENOMEM;
	}
	pl->metric = m;
	pl->v[pl->nr] = body;
	pl->metric[pl->nr++] = pl->cur;
	return 0;
}

/* ---- units ---- */

const char *gen__grafana_unit(const char *spec_unit, char buf[GEN_UNIT_LEN])
{
	static const struct {
		const char *spec;
		const char *grafana;
	} map[] = {
		{ "seconds", "s" }, { "s", "s" },
		{ "milliseconds", "ms" }, { "ms", "ms" },
		{ "microseconds", "µs" }, { "us", "µs" },
		{ "nanoseconds", "ns" }, { "ns", "ns" },
		{ "bytes", "bytes" }, { "bits", "bits" },
		{ "ratio", "percentunit" }, { "percent", "percent" },
		{ "celsius", "celsius" }, { "hertz", "hertz" },
	};
	size_t i;

	if (!spec_unit)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(map); i++) {
		if (!strcmp(map[i].spec, spec_unit))
			return map[i].grafana;
	}
	snprintf(buf, GEN_UNIT_LEN, "suffix:%s", spec_unit);
	return buf;
}

/* The unit of a counter's per-second rate. */
static const char *rate_unit(const char *spec_unit)
{
	if (spec_unit && !strcmp(spec_unit, "bytes"))
		return "Bps";
	if (spec_unit && !strcmp(spec_unit, "bits"))
		return "bps";
	return "cps";
}

/* ---- panel bodies ---- */

static json_t *datasource(void)
{
	return json_pack("{s:s, s:s}", "type", GEN_DS_TYPE, "uid", GEN_DS_UID);
}

static json_t *field_config(const char *unit)
{
	json_t *defaults = unit ? json_pack("{s:s}", "unit", unit) : json_object();

	return json_pack("{s:o, s:[]}", "defaults", defaults, "overrides");
}

/* Signature fields must not contain the signature's separators. */
static bool sig_safe(const char *s)
{
	return !s || (!strchr(s, GEN_SIG_FS) && !strchr(s, GEN_SIG_RS));
}

static int check_sig_text(const char *what, const char *title, const char *expr,
			  const char *unit)
{
	if (sig_safe(title) && sig_safe(expr) && sig_safe(unit))
		return 0;
	log_err("gen: %s: panel \"%s\": title, promql and unit must not contain the bytes 0x1e or 0x1f (they separate the fields of panel signatures)",
		what, title);
	return -EINVAL;
}

static json_t *query_panel(const char *type, const char *title, const char *unit,
			   const char *expr, const char *legend)
{
	json_t *target;

	target = json_pack("{s:s, s:o, s:s}", "refId", "A", "datasource", datasource(),
			   "expr", expr);
	if (target && legend && json_object_set_new(target, "legendFormat", json_string(legend))) {
		json_decref(target);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:o, s:o, s:[o]}", "type", type, "title", title,
			 "datasource", datasource(), "fieldConfig", field_config(unit),
			 "targets", target);
}

/* Takes @title, @expr and @legend (all malloc'ed) over. */
static int add_query(struct panels *pl, const char *type, const char *unit, char *legend,
		     char *title, char *expr)
{
	int err = -ENOMEM;

	if (title && expr)
		err = panels__add(pl, query_panel(type, title, unit, expr, legend));
	free(legend);
	free(title);
	free(expr);
	return err;
}

/* "{{a}} {{b}}" for the first @max labels; NULL without labels. */
static char *legend_of(const struct spec_metric *m, size_t max)
{
	size_t i, n = m->nr_labels < max ? m->nr_labels : max, len = 1;
	char *s;

	if (!n)
		return NULL;
	for (i = 0; i < n; i++)
		len += strlen(m->labels[i].name) + 5;
	s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, "{{");
		strcat(s, m->labels[i].name);
		strcat(s, "}}");
	}
	return s;
}

/* ---- synthesis ---- */

static int synth_counter(struct panels *pl, const char *x, const struct spec_metric *m)
{
	const char *unit = rate_unit(m->unit);
	size_t i;
	int err;

	err = add_query(pl, "timeseries", unit, NULL, fmt__str("%s rate (5m)", x),
			fmt__str("sum(rate(%s[5m]))", x));
	for (i = 0; !err && i < m->nr_labels && i < GEN_MAX_SPLIT_LABELS; i++) {
		const char *l = m->labels[i].name;

		err = add_query(pl, "timeseries", unit, fmt__str("{{%s}}", l),
				fmt__str("%s rate by %s (5m)", x, l),
				fmt__str("sum by (%s) (rate(%s[5m]))", l, x));
	}
	return err;
}

static int synth_histogram(struct panels *pl, const char *x, const struct spec_metric *m)
{
	static const char *const q[] = { "95", "99" };
	char ubuf[GEN_UNIT_LEN];
	const char *unit = gen__grafana_unit(m->unit, ubuf);
	size_t i;
	int err = 0;

	for (i = 0; !err && i < ARRAY_SIZE(q); i++)
		err = add_query(pl, "timeseries", unit, NULL, fmt__str("%s p%s (5m)", x, q[i]),
				fmt__str("histogram_quantile(0.%s, sum by (le) (rate(%s" SUFFIX_BUCKET "[5m])))",
				    q[i], x));
	return err;
}

static int synth_gauge(struct panels *pl, const char *x, const struct spec_metric *m)
{
	char ubuf[GEN_UNIT_LEN];
	const char *unit = gen__grafana_unit(m->unit, ubuf);

	if (!m->nr_labels)
		return add_query(pl, "timeseries", unit, NULL, strdup(x), strdup(x));
	return add_query(pl, "timeseries", unit, legend_of(m, SPEC_MAX_LABELS),
			 fmt__str("%s top 5", x), fmt__str("topk(5, %s)", x));
}

static int synth_norm(struct panels *pl, const char *x, const struct spec_metric *m)
{
	char *labels = gen__labels_joined(m, SPEC_MAX_LABELS), *sum = NULL, *by = NULL;
	int err = -ENOMEM;

	if (!labels)
		return -ENOMEM;
	sum = *labels ? fmt__str("sum by (%s)", labels) : strdup("sum");
	by = *labels ? fmt__str(" by %s", labels) : strdup("");
	if (!sum || !by)
		goto out;
	err = add_query(pl, "timeseries", "cps", legend_of(m, SPEC_MAX_LABELS),
			fmt__str("%s events rate%s (5m)", x, by),
			fmt__str("%s (rate(%s" SUFFIX_NORM_EVENTS "[5m]))", sum, x));
	if (!err)
		err = add_query(pl, "timeseries", "percentunit", legend_of(m, SPEC_MAX_LABELS),
				fmt__str("%s zeroed fraction%s (5m)", x, by),
				fmt__str("%s (rate(%s" SUFFIX_NORM_ZEROED "[5m])) / %s (rate(%s" SUFFIX_NORM_EVENTS "[5m]))",
				    sum, x, sum, x));
out:
	free(by);
	free(sum);
	free(labels);
	return err;
}

static int hint_panels(struct panels *pl, const char *x, const struct spec_metric *m)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < m->nr_panels; i++) {
		const struct spec_panel *p = &m->panels[i];

		err = check_sig_text(x, p->title, p->promql, p->unit);
		if (!err)
			err = add_query(pl, p->panel_type ? p->panel_type : "timeseries", p->unit,
					NULL, strdup(p->title), strdup(p->promql));
	}
	return err;
}

static int metric_panels(struct panels *pl, const struct spec *spec,
			 const struct spec_metric *m)
{
	char *x = spec_metric__full_name(spec, m);
	int err;

	if (!x)
		return -ENOMEM;
	if (m->nr_panels)
		err = hint_panels(pl, x, m);
	else if (m->type == SPEC_COUNTER)
		err = synth_counter(pl, x, m);
	else if (m->type == SPEC_HISTOGRAM)
		err = synth_histogram(pl, x, m);
	else if (m->type == SPEC_GAUGE)
		err = synth_gauge(pl, x, m);
	else
		err = synth_norm(pl, x, m);
	free(x);
	return err;
}

/* ---- the alerts overview ---- */

static void overview_row(FILE *f, const struct spec_alert *a, const char *source)
{
	fputs("| ", f);
	gen__put_md(f, a->alert);
	fputs(" | ", f);
	gen__put_md(f, a->severity);
	fputs(" | ", f);
	gen__put_md(f, a->for_ ? a->for_ : "-");
	fputs(" | ", f);
	gen__put_md_code(f, a->expr);
	fputs(" | ", f);
	gen__put_md(f, a->summary);
	fprintf(f, " | %s |\n", source);
}

static int overview_rows(FILE *f, const struct spec *spec, const char *family, size_t *nr)
{
	struct spec_alert sug[GEN_NORM_SUGGESTIONS];
	size_t i, j;
	int err;

	for (i = 0; i < spec->nr_metrics; i++) {
		const struct spec_metric *m = &spec->metrics[i];

		if (strcmp(gen__family(m), family))
			continue;
		for (j = 0; j < m->nr_alerts; j++, (*nr)++)
			overview_row(f, &m->alerts[j], "spec");
		if (m->type != SPEC_NORMALIZATION)
			continue;
		err = gen__norm_suggestions(spec, m, sug);
		if (err)
			return err;
		for (j = 0; j < GEN_NORM_SUGGESTIONS; j++, (*nr)++) {
			overview_row(f, &sug[j], "suggested");
			gen_alert__clear(&sug[j]);
		}
	}
	return 0;
}

/* The end of the first line, and the table's head. */
static void overview_head(FILE *f)
{
	fputs(" (rules/alerts.yml).\n\n", f);
	fputs("| Alert | Severity | For | Expr | Summary | Source |\n"
	      "| --- | --- | --- | --- | --- | --- |\n", f);
}

/* Takes the text of @t over; NULL on failure. */
static json_t *overview_panel(struct gen_text *t, int err)
{
	char *content = NULL;
	size_t len;
	json_t *p;

	if (gen_text__close(t, &content, &len) || err) {
		free(content);
		return NULL;
	}
	p = json_pack("{s:s, s:s, s:o, s:o, s:{s:s, s:s}}", "type", "text",
		      "title", "Alerts overview", "datasource", datasource(),
		      "fieldConfig", field_config(NULL),
		      "options", "mode", "markdown", "content", content);
	free(content);
	return p;
}

static json_t *family_overview(const struct spec *spec, const char *family)
{
	struct gen_text t;
	size_t nr = 0;
	int err;

	if (gen_text__open(&t))
		return NULL;
	fprintf(t.f, "Alerting rules of family `%s`", family);
	overview_head(t.f);
	err = overview_rows(t.f, spec, family, &nr);
	if (!err && !nr)
		fputs("\nNo alerts in this family.\n", t.f);
	return overview_panel(&t, err);
}

/* emitd's own alerts; the spec hash is written GEN_HASH_PLACEHOLDER (no churn). */
static int own_overview_rows(FILE *f, const struct spec *spec)
{
	struct spec_alert prov, sug[GEN_NR_HEALTH];
	const char *metric[GEN_NR_HEALTH];
	char hash[SPEC_SHA256_HEX], *expr = NULL;
	size_t i;
	int err;

	err = spec__hash(spec, hash);
	if (!err)
		err = gen__provenance_alert(spec, hash, &prov);
	if (err)
		return err;
	expr = gen__hide_hash(prov.expr, hash);
	if (expr) {
		free(prov.expr);
		prov.expr = expr;
		overview_row(f, &prov, "generated");
	}
	gen_alert__clear(&prov);
	if (!expr)
		return -ENOMEM;
	err = gen__health_alerts(sug, metric);
	for (i = 0; !err && i < GEN_NR_HEALTH; i++) {
		overview_row(f, &sug[i], "suggested");
		gen_alert__clear(&sug[i]);
	}
	return err;
}

static json_t *own_overview(const struct spec *spec)
{
	struct gen_text t;
	int err;

	if (gen_text__open(&t))
		return NULL;
	fputs("emitd's own alerting rules, groups `" GEN_PROVENANCE_GROUP "` and `"
	      GEN_HEALTH_GROUP "`", t.f);
	overview_head(t.f);
	err = own_overview_rows(t.f, spec);
	if (!err)
		fputs("\n`" GEN_HASH_PLACEHOLDER "` is the spec hash of dashboards/manifest.json.\n",
		      t.f);
	return overview_panel(&t, err);
}

/* ---- signatures, ids, layout ---- */

static const char *str_at(const json_t *j, const char *k1, const char *k2)
{
	j = json_object_get(j, k1);
	if (k2)
		j = json_object_get(j, k2);
	return json_string_value(j) ? json_string_value(j) : "";
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The targets' exprs, sorted; *@nr of them. Caller frees the array only. */
static const char **sorted_exprs(const json_t *panel, size_t *nr)
{
	const json_t *targets = json_object_get(panel, "targets");
	size_t i, n = json_array_size(targets);
	const char **v = calloc(n ? n : 1, sizeof(*v));

	*nr = n;
	if (!v)
		return NULL;
	for (i = 0; i < n; i++)
		v[i] = str_at(json_array_get(targets, i), "expr", NULL);
	qsort(v, n, sizeof(*v), cmp_str);
	return v;
}

static const char *unit_of(const json_t *panel)
{
	const json_t *defaults = json_object_get(json_object_get(panel, "fieldConfig"),
						 "defaults");

	return str_at(defaults, "unit", NULL);
}

char *gen_panel__signature(const json_t *panel)
{
	struct gen_text t;
	const char **exprs;
	size_t nr, i, len;
	char *sig = NULL;

	exprs = sorted_exprs(panel, &nr);
	if (!exprs || gen_text__open(&t)) {
		free(exprs);
		return NULL;
	}
	fprintf(t.f, "%s%c%s%c", str_at(panel, "type", NULL), GEN_SIG_FS,
		str_at(panel, "title", NULL), GEN_SIG_FS);
	for (i = 0; i < nr; i++) {
		if (i)
			fputc(GEN_SIG_RS, t.f);
		fputs(exprs[i], t.f);
	}
	fprintf(t.f, "%c%s%c%s", GEN_SIG_FS, str_at(panel, "datasource", "type"), GEN_SIG_FS,
		unit_of(panel));
	free(exprs);
	if (gen_text__close(&t, &sig, &len))
		return NULL;
	return sig;
}

uint32_t gen_panel__id(const char *slug, const char *sig, unsigned int attempt)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx;
	char sep = GEN_SIG_FS, num[16];
	int ok;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return 0;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, slug, strlen(slug)) &&
	     EVP_DigestUpdate(ctx, &sep, 1) &&
	     EVP_DigestUpdate(ctx, sig, strlen(sig));
	if (ok && attempt) {
		snprintf(num, sizeof(num), "%u", attempt);
		ok = EVP_DigestUpdate(ctx, &sep, 1) && EVP_DigestUpdate(ctx, num, strlen(num));
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &len) && len >= 4;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return 0;
	return ((uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 |
		md[3]) & 0x7fffffffu;
}

static int cmp_sig_idx(const void *a, const void *b, void *arg)
{
	char *const *sigs = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(sigs[i], sigs[j]);

	return c ? c : (i > j) - (i < j);
}

static bool id_taken(const uint32_t *ids, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ids[i] == id)
			return true;
	}
	return false;
}

/*
 * Ids in signature order, so that a collision is settled the same way
 * whatever the panel order: the larger signature takes the next attempt.
 */
static int assign_ids(const char *slug, char **sigs, size_t n, uint32_t *ids)
{
	size_t order[GEN_MAX_PANELS], k;
	uint32_t taken[GEN_MAX_PANELS];

	for (k = 0; k < n; k++)
		order[k] = k;
	qsort_r(order, n, sizeof(order[0]), cmp_sig_idx, sigs);
	for (k = 0; k < n; k++) {
		unsigned int attempt;
		uint32_t id = 0;

		for (attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
			id = gen_panel__id(slug, sigs[order[k]], attempt);
			if (id && !id_taken(taken, k, id))
				break;
		}
		if (attempt == MAX_ID_ATTEMPTS)
			return -EIO;
		taken[k] = id;
		ids[order[k]] = id;
	}
	return 0;
}

/* The overview spans the width; the other panels fill a grid below it. */
static json_t *grid_pos(size_t i)
{
	size_t k = i - 1;

	if (!i)
		return json_pack("{s:i, s:i, s:i, s:i}", "h", OVERVIEW_H, "w", GRID_FULL_W,
				 "x", 0, "y", 0);
	return json_pack("{s:i, s:i, s:i, s:i}", "h", GEN_GRID_H, "w", GEN_GRID_W,
			 "x", (int)(k % GEN_GRID_COLS) * GEN_GRID_W,
			 "y", OVERVIEW_H + (int)(k / GEN_GRID_COLS) * GEN_GRID_H);
}

/* The panels array: {id, gridPos, ...body} for each body, in order. */
static json_t *place_panels(const char *slug, json_t *const *bodies, size_t n)
{
	char *sigs[GEN_MAX_PANELS] = {};
	uint32_t ids[GEN_MAX_PANELS];
	json_t *arr = NULL, *p;
	size_t i;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		sigs[i] = gen_panel__signature(bodies[i]);
		err = sigs[i] ? 0 : -ENOMEM;
	}
	if (!err)
		err = assign_ids(slug, sigs, n, ids);
	if (!err)
		arr = json_array();
	for (i = 0; arr && i < n; i++) {
		p = json_pack("{s:i, s:o}", "id", (int)ids[i], "gridPos", grid_pos(i));
		if (!p || json_object_update(p, bodies[i]) || json_array_append(arr, p)) {
			json_decref(arr);
			arr = NULL;
		}
		json_decref(p);
	}
	for (i = 0; i < n; i++)
		free(sigs[i]);
	return arr;
}

/* ---- dashboards ---- */

static int make_uid(const char *slug, char uid[GEN_UID_MAX + 1])
{
	char hex[SPEC_SHA256_HEX];
	int err;

	if (strlen(slug) <= GEN_UID_MAX) {
		strcpy(uid, slug);
		return 0;
	}
	err = spec__sha256_hex(slug, strlen(slug), hex);
	if (!err)
		snprintf(uid, GEN_UID_MAX + 1, "%.31s-%.8s", slug, hex);
	return err;
}

static json_t *inputs(void)
{
	return json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s}]", "name", "DS_PROMETHEUS",
			 "label", "Prometheus", "description", "", "type", "datasource",
			 "pluginId", "prometheus", "pluginName", "Prometheus");
}

/*
 * The datasource variable ${DS_PROMETHEUS} resolves to when the dashboard is
 * provisioned from a file, where Grafana does not apply __inputs (those only
 * work in the import dialog): by default the datasource of
 * dashboards/provisioning/datasources.yml.
 */
static json_t *datasource_variable(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:b, s:s, s:s}, s:i, s:b, s:b, s:[], s:i, s:s}",
			 "type", "datasource", "name", GEN_DS_VAR, "label", "Prometheus",
			 "query", GEN_DS_TYPE,
			 "current", "selected", false, "text", GEN_DS_PROV_NAME,
			 "value", GEN_DS_PROV_UID,
			 "hide", 0, "includeAll", false, "multi", false, "options",
			 "refresh", 1, "regex", "");
}

static bool has_panel_type(const json_t *panels, const char *type)
{
	const json_t *p;
	size_t i;

	json_array_foreach(panels, i, p) {
		if (!strcmp(str_at(p, "type", NULL), type))
			return true;
	}
	return false;
}

static json_t *requires(const json_t *panels)
{
	static const struct {
		const char *id;
		const char *name;
	} types[] = {
		{ "timeseries", "Time series" }, { "stat", "Stat" }, { "gauge", "Gauge" },
		{ "bargauge", "Bar gauge" }, { "table", "Table" }, { "heatmap", "Heatmap" },
		{ "text", "Text" },
	};
	json_t *a;
	size_t i;

	a = json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]",
		      "type", "grafana", "id", "grafana", "name", "Grafana",
		      "version", GRAFANA_MIN_VERSION,
		      "type", "datasource", "id", "prometheus", "name", "Prometheus",
		      "version", "1.0.0");
	for (i = 0; a && i < ARRAY_SIZE(types); i++) {
		if (!has_panel_type(panels, types[i].id))
			continue;
		if (json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "type", "panel",
						       "id", types[i].id, "name", types[i].name,
						       "version", ""))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* Takes @panels over. */
static json_t *dashboard_json(const struct spec *spec, const char *slug, const char *title,
			      const char *family, json_t *panels)
{
	char uid[GEN_UID_MAX + 1], *desc;
	json_t *d;

	if (!panels || make_uid(slug, uid)) {
		json_decref(panels);
		return NULL;
	}
	desc = fmt__str("Generated by emitd gen from the %s spec, family %s: do not edit; change the spec and regenerate.",
		   spec->namespace_, family);
	if (!desc) {
		json_decref(panels);
		return NULL;
	}
	d = json_pack("{s:o, s:o, s:{s:[]}, s:b, s:i, s:n, s:s, s:s, s:s, s:[s, s, s],"
		      " s:s, s:i, s:i, s:s, s:{s:s, s:s}, s:{s:[o]}, s:O}",
		      "__inputs", inputs(), "__requires", requires(panels),
		      "annotations", "list", "editable", true, "graphTooltip", 1, "id",
		      "uid", uid, "title", title, "description", desc,
		      "tags", "emitd", spec->namespace_, family,
		      "timezone", "browser", "schemaVersion", SCHEMA_VERSION, "version", 1,
		      "refresh", "30s", "time", "from", "now-6h", "to", "now",
		      "templating", "list", datasource_variable(), "panels", panels);
	json_decref(panels);
	free(desc);
	return d;
}

/* Takes @slug and @title over, also on failure. */
static int dashes_add(struct gen_dashes *out, char *slug, char *title, const char *family,
		      json_t *json, size_t nr_panels)
{
	struct gen_dash *v, *d;

	if (!slug || !title || !json)
		goto err_nomem;
	v = realloc(out->v, (out->nr + 1) * sizeof(*v));
	if (!v)
		goto err_nomem;
	out->v = v;
	d = &out->v[out->nr];
	d->family = strdup(family);
	if (!d->family)
		goto err_nomem;
	out->nr++;
	d->slug = slug;
	d->title = title;
	d->json = json;
	d->nr_panels = nr_panels;
	return 0;
err_nomem:
	free(slug);
	free(title);
	json_decref(json);
	return -ENOMEM;
}

/* The expressions of @n panels of dashboard @slug, each with its panel's metric. */
static int record_exprs(struct gen_exprs *exprs, const char *slug, json_t *const *bodies,
			const long *metric, size_t n)
{
	const json_t *target;
	char *artifact;
	size_t i, k;
	int err = 0;

	if (!exprs)
		return 0;
	artifact = fmt__str(GEN_DASH_PATH_FMT, slug);
	if (!artifact)
		return -ENOMEM;
	for (i = 0; !err && i < n; i++) {
		json_array_foreach(json_object_get(bodies[i], "targets"), k, target) {
			err = gen_exprs__add(exprs, &(struct gen_expr){
					.expr = (char *)str_at(target, "expr", NULL),
					.artifact = artifact,
					.name = (char *)str_at(bodies[i], "title", NULL),
					.metric = metric[i],
					.source = GEN_SOURCE_GENERATED,
				});
			if (err)
				break;
		}
	}
	free(artifact);
	return err;
}

/* Dashboard @part (1-based): the overview and @n more panels of @pl. */
static int add_part(struct gen_dashes *out, const struct spec *spec, const char *base,
		    const char *family, size_t part, const struct panels *pl, size_t n,
		    struct gen_exprs *exprs)
{
	size_t first = 1 + (part - 1) * (GEN_MAX_PANELS - 1);
	json_t *all[GEN_MAX_PANELS], *json = NULL;
	long metric[GEN_MAX_PANELS];
	char *slug, *title;

	all[0] = pl->v[0];
	metric[0] = pl->metric[0];
	memcpy(all + 1, pl->v + first, n * sizeof(*all));
	memcpy(metric + 1, pl->metric + first, n * sizeof(*metric));
	if (part == 1) {
		slug = strdup(base);
		title = fmt__str("%s / %s", spec->namespace_, family);
	} else {
		slug = fmt__str("%s-%zu", base, part);
		title = fmt__str("%s / %s (%zu)", spec->namespace_, family, part);
	}
	if (slug && title)
		json = dashboard_json(spec, slug, title, family, place_panels(slug, all, n + 1));
	if (json && record_exprs(exprs, slug, all, metric, n + 1)) {
		json_decref(json);
		json = NULL;
	}
	return dashes_add(out, slug, title, family, json, n + 1);
}

static int family_dashboards(struct gen_dashes *out, const struct spec *spec,
			     const char *family, struct gen_exprs *exprs)
{
	struct panels pl = { .cur = -1 };
	size_t i, part, left;
	char *base;
	int err;

	base = gen__slug(spec, family);
	if (!base)
		return -ENOMEM;
	err = panels__add(&pl, family_overview(spec, family));
	for (i = 0; !err && i < spec->nr_metrics; i++) {
		pl.cur = (long)i;
		if (!strcmp(gen__family(&spec->metrics[i]), family))
			err = metric_panels(&pl, spec, &spec->metrics[i]);
	}
	left = err ? 0 : pl.nr - 1;
	for (part = 1; !err && (part == 1 || left); part++) {
		size_t n = left < GEN_MAX_PANELS - 1 ? left : GEN_MAX_PANELS - 1;

		err = add_part(out, spec, base, family, part, &pl, n, exprs);
		left -= n;
	}
	panels__free(&pl);
	free(base);
	return err;
}

/* ---- emitd's own dashboard ---- */

/* The panel hint of self-metric @id, if it has one. */
static int self_panel(struct panels *pl, enum self_metric_id id)
{
	const struct self_metric *m = self_metrics__get(id);
	const struct self_panel *h = &m->panel;

	if (!h->title)
		return 0;
	return add_query(pl, "timeseries", h->unit, h->legend ? strdup(h->legend) : NULL,
			 strdup(h->title), fmt__str(h->expr, m->name));
}

/* One dashboard of emitd's health: its alerts, then a panel per hinted self-metric. */
static int self_dashboard(struct gen_dashes *out, const struct spec *spec,
			  struct gen_exprs *exprs)
{
	struct panels pl = { .cur = -1 };
	json_t *json = NULL;
	char *slug, *title;
	int id, err;

	err = panels__add(&pl, own_overview(spec));
	for (id = 0; !err && id < SELF_METRICS_NR; id++)
		err = self_panel(&pl, id);
	if (!err && pl.nr > GEN_MAX_PANELS) {
		log_err("gen: emitd's own dashboard would have %zu panels, more than %d: fewer panel hints in lib/self_metrics.c",
			pl.nr, GEN_MAX_PANELS);
		err = -E2BIG;
	}
	if (err) {
		panels__free(&pl);
		return err;
	}
	slug = gen__slug(spec, GEN_SELF_FAMILY);
	title = fmt__str("%s / emitd health", spec->namespace_);
	if (slug && title)
		json = dashboard_json(spec, slug, title, GEN_SELF_FAMILY,
				      place_panels(slug, pl.v, pl.nr));
	if (json && record_exprs(exprs, slug, pl.v, pl.metric, pl.nr)) {
		json_decref(json);
		json = NULL;
	}
	err = dashes_add(out, slug, title, GEN_SELF_FAMILY, json, pl.nr);
	panels__free(&pl);
	return err;
}

/* A family named like a split part ("http-2") could take its slug. */
static int check_slugs(const struct gen_dashes *d)
{
	size_t i, j;

	for (i = 0; i < d->nr; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(d->v[i].slug, d->v[j].slug))
				continue;
			if (i == d->nr - 1 && !strcmp(d->v[i].family, GEN_SELF_FAMILY))
				log_err("gen: family \"%s\" takes the slug of emitd's own dashboard, \"%s\": rename the family",
					d->v[j].family, d->v[i].slug);
			else
				log_err("gen: dashboard slug \"%s\" comes from family \"%s\" and from family \"%s\": rename one of them",
					d->v[i].slug, d->v[j].family, d->v[i].family);
			return -EINVAL;
		}
	}
	return 0;
}

int gen_dash__build(const struct spec *spec, struct gen_dashes *out, struct gen_exprs *exprs)
{
	const char *fams[SPEC_MAX_METRICS];
	size_t nr = gen__families(spec, fams, ARRAY_SIZE(fams)), i;
	int err = 0;

	out->v = NULL;
	out->nr = 0;
	for (i = 0; i < nr && !err; i++)
		err = family_dashboards(out, spec, fams[i], exprs);
	if (!err)
		err = self_dashboard(out, spec, exprs);
	if (!err)
		err = check_slugs(out);
	if (err)
		gen_dashes__free(out);
	return err;
}

void gen_dashes__free(struct gen_dashes *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->nr; i++) {
		free(d->v[i].slug);
		free(d->v[i].family);
		free(d->v[i].title);
		json_decref(d->v[i].json);
	}
	free(d->v);
	d->v = NULL;
	d->nr = 0;
}

json_t *gen_dash__manifest(const struct spec *spec, const struct gen_dashes *d,
			   const char *spec_hash)
{
	char uid[GEN_UID_MAX + 1], *file;
	json_t *list = json_array();
	size_t i;

	for (i = 0; list && i < d->nr; i++) {
		const struct gen_dash *g = &d->v[i];

		file = fmt__str("%s.json", g->slug);	/* relative to GEN_DASH_DIR */
		if (!file || make_uid(g->slug, uid) ||
		    json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}",
							  "slug", g->slug, "uid", uid,
							  "title", g->title, "family", g->family,
							  "file", file, "panels",
							  (int)g->nr_panels))) {
			json_decref(list);
			list = NULL;
		}
		free(file);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "generator", "emitd gen",
			 "namespace", spec->namespace_, "spec_sha256", spec_hash,
			 "spec_hash_of", "the canonical form of the parsed spec (docs/GEN.md)",
			 "dashboards", list);
}
