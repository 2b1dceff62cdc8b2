// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * demo-target: a small stand-in for a real service, with probe sites that
 * spec/demo.yml attaches to. Everything it emits is deterministic (fixed-seed
 * splitmix64 streams, no clock or rand() in any value), so tests can predict
 * every number emitd must show; the summary it prints at exit says exactly
 * what it emitted.
 *
 * Probe sites (argument positions are the ones the spec uses):
 *   uprobe handle_request(const char *route, long latency_us)
 *	a real function, entry = five 1-byte nops (an "emulated" uprobe site);
 *	requests_total{route} counts calls by arg0 (string)
 *   usdt demo:request_done(const char *route, long latency_us)
 *	fired inside handle_request; request_latency_seconds histogram from
 *	arg1 (microseconds, exported in seconds with scale: 1e-6)
 *   usdt demo:payload(const double *ratio)
 *	payload_ratio histogram from *arg0 (f64)
 *   usdt demo:queue_depth(long depth)
 *	queue_depth gauge from arg0
 *   usdt demo:sensor(long sensor_id, const double *value)
 *	sensor_value{sensor} gauges, label arg0, value *arg1 (f64)
 *   uprobe drop_rounding_noise(double *before, double *after, const char *context)
 *	a real function with an ordinary first instruction (a "single-step"
 *	site); trigger_normalization{context} from *arg0, *arg1 (f64), arg2
 *
 * One iteration fires every probe once, except demo:sensor which fires once
 * per sensor (NR_SENSORS times), and drop_rounding_noise which fires once in
 * the context trigger_contexts[i % 3]. `--events N` runs N iterations, so N
 * handle_request calls, N of each USDT probe (N per sensor id) and N
 * normalization events in all. The CLI is in usage(), the summary printed at
 * exit in print_summary().
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emitd_probe.h"

#define DEFAULT_ROUTES		3
#define MAX_ROUTES		1000000
#define ROUTE_LEN		24	/* "/r/" + any unsigned long */
#define NR_SENSORS		4
#define NR_CONTEXTS		3
#define NR_LATENCY_BOUNDS	21	/* exp2 { min: 1, max: 1048576 } */
#define NR_PAYLOAD_BOUNDS	6
#define QUEUE_CAPACITY		512
#define SENSOR_BASE		20.0
#define SENSOR_STUCK_VALUE	21.5
#define NSEC_PER_SEC		1000000000ULL

/* The fractional-budget trigger (see trigger_step()). */
#define FRACTION_NORMALIZATION_EPS	1e-9
#define LOSS_WINDOW		8
#define LOSS_STD_THRESHOLD	0.05	/* the trigger fires above this */
#define LOSS_CALM_AMPLITUDE	0.02
#define LOSS_NOISY_AMPLITUDE	0.3
#define LOSS_PHASE		40	/* steps per calm, then noisy, phase */
#define INJECTION_QUANTUM	0.1	/* requests are whole tenths of a sample */
#define MAX_REQUEST_QUANTA	9
#define BUDGET_CAP		2.0	/* samples the budget holds at most */
#define REFILL_PERIOD		16	/* steps between budget refills */
#define REFILL_AMOUNT		2.0	/* samples added per refill */

enum sensor_mode {
	SENSOR_NORMAL,		/* all four follow one latent signal */
	SENSOR_INDEPENDENT,	/* sensor 3 is independent noise */
	SENSOR_STUCK,		/* sensor 3 is stuck at SENSOR_STUCK_VALUE */
};

struct options {
	uint64_t events;
	bool has_events;
	double rate;
	unsigned long nr_routes;
	enum sensor_mode sensor_mode;
	bool wait_signal;
	const char *trace_norm;		/* write every normalization event here */
};

/*
 * payload_ratio's `le` bounds, as spec/demo.yml lists them. The latency is
 * emitted, bucketed and summed in microseconds, as the summary prints it
 * (request_latency_us_*): its bounds are 2^0 .. 2^20 us, which spec/demo.yml
 * writes in seconds (2^k / 1e6) for request_latency_seconds.
 */
static const double payload_bounds[NR_PAYLOAD_BOUNDS] = {
	0.1, 0.25, 0.5, 0.75, 0.9, 1.0,
};

/*
 * Payload ratios, cycled: every bound exactly, values between and just
 * above bounds (the next double), above every bound, and the zeros and a
 * negative (all in the first bucket).
 */
static const double payload_values[] = {
	0.1, 1.5, -0.0, 0.25, 0.05, 0.5, 0.0, 0.75, 0.95, 0.9, -1.0, 1.0,
	0x1.999999999999bp-4,	/* next double after 0.1 */
	0.2, 0.3, 0.6, 0.8,
	0x1.0000000000001p+0,	/* next double after 1.0 */
};

#define NR_PAYLOAD_VALUES	(sizeof(payload_values) / sizeof(payload_values[0]))

static const char *const default_routes[DEFAULT_ROUTES] = {
	"/api/users", "/api/orders", "/healthz",
};

/* drop_rounding_noise() records by these exact pointers. */
static const char *const trigger_contexts[NR_CONTEXTS] = {
	"budget_buffer", "fractional_credit", "carryover_credit",
};

struct norm_stats {
	uint64_t events;
	uint64_t zeroed;		/* after == 0.0 */
	double before_abs_sum;
	double after_abs_sum;
};

/* What drop_rounding_noise() saw, by context: the process-wide collector. */
static struct norm_stats norm_stats[NR_CONTEXTS];

/* --trace-norm: every event as "context,before,after" with exact doubles. */
static FILE *norm_trace;

struct loss_std_trigger {
	double losses[LOSS_WINDOW];
	uint64_t steps;
	uint64_t rng;
	double budget;			/* samples that may still be injected */
	double budget_buffer;		/* granted, not yet a whole sample */
	double fractional_credit;	/* earned on calm steps */
	double carryover_credit;	/* clipped by the budget, owed */
	uint64_t injected;		/* whole samples injected */
};

struct demo {
	struct options opts;
	char (*route_names)[ROUTE_LEN];	/* --routes > 3 */
	const char **routes;
	uint64_t rng_queue;
	uint64_t rng_latent;
	uint64_t rng_noise;
	uint64_t rng_indep;
	double latent;
	long queue_depth;
	struct loss_std_trigger trigger;

	/* what was emitted */
	uint64_t iterations;
	uint64_t *route_hits;
	uint64_t latency_slots[NR_LATENCY_BOUNDS + 1];
	int64_t latency_sum;
	uint64_t payload_slots[NR_PAYLOAD_BOUNDS + 1];
	double payload_sum;
	uint64_t queue_events;
	long queue_last;
	uint64_t sensor_events[NR_SENSORS];
	double sensor_last[NR_SENSORS];
};

static volatile sig_atomic_t exiting;
static volatile sig_atomic_t got_usr1;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		exiting = 1;
}

/* The probe functions are external: other tools find them by name. */
long handle_request(const char *route, long latency_us);
void drop_rounding_noise(double *before, double *after, const char *context);

/* ---- deterministic randomness ---------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1), exactly representable: k / 2^52. */
static double uniform(uint64_t *state)
{
	return (double)(splitmix64(state) >> 11) * 0x1.0p-52 - 1.0;
}

/* ---- probe sites -------------------------------------------------------- */

/*
 * The uprobe target of requests_total. patchable_function_entry(5, 0) makes
 * gcc start the function with five 1-byte nops (90), so a uprobe on
 * handle_request+0 lands on a 1-byte nop: the kernel emulates it (the
 * "emulated" site kind, ~460 ns per hit on Linux 6.18). clang 14 emits one
 * 5-byte `0f 1f 44 00 08` instead, not the optimizable nop5 either.
 */
EMITD_PROBE_FUNC __attribute__((patchable_function_entry(5, 0)))
long handle_request(const char *route, long latency_us)
{
	EMITD_PROBE2(demo, request_done, route, latency_us);
	return latency_us;
}

/*
 * The uprobe target of trigger_normalization: the trigger's clean-up commits
 * a normalization decision here. @before is the accumulator itself, @after
 * the value it becomes (0.0 when the remainder was rounding noise). emitd
 * reads both at the function's entry, so the caller decides *after first;
 * the function records the event and stores it. Not patchable: its first
 * instruction is an ordinary one (the "single-step" site kind, ~9 us).
 */
EMITD_PROBE_FUNC
void drop_rounding_noise(double *before, double *after, const char *context)
{
	int k;

	for (k = 0; k < NR_CONTEXTS; k++) {
		struct norm_stats *ns = &norm_stats[k];

		if (context != trigger_contexts[k])
			continue;
		ns->events++;
		ns->zeroed += *after == 0.0;
		ns->before_abs_sum += fabs(*before);
		ns->after_abs_sum += fabs(*after);
	}
	*before = *after;
}

/* ---- the fractional-budget trigger -------------------------------------- */

/*
 * A loss-standard-deviation trigger with an injection budget, after the
 * reference's LossStdTrigger. Each step it sees one loss (calm and noisy
 * phases of LOSS_PHASE steps). When the standard deviation of the last
 * LOSS_WINDOW losses exceeds LOSS_STD_THRESHOLD it requests an injection of
 * a whole number of tenths of a sample, granted from the budget (a token
 * bucket refilled every REFILL_PERIOD steps); what the budget clips is owed
 * as carry-over credit and paid first from later tokens. Calm steps earn a
 * tenth of fractional credit, turned into budget a whole sample at a time.
 * Granted fractions collect in the budget buffer; whole samples leave it.
 * Whole units are taken with a tolerance of FRACTION_NORMALIZATION_EPS, and
 * sums of tenths are inexact, so the accumulators carry rounding residue
 * such as 2.2e-16 or -1.1e-16 where the exact result is zero: the clean-up
 * (trigger_clean_up()) drops it.
 */
static double trigger_next_loss(struct loss_std_trigger *t)
{
	double amp = (t->steps / LOSS_PHASE) % 2 ? LOSS_NOISY_AMPLITUDE :
						   LOSS_CALM_AMPLITUDE;

	return 1.0 + amp * uniform(&t->rng);
}

static double trigger_loss_std(const struct loss_std_trigger *t)
{
	double mean = 0.0, var = 0.0;
	int k;

	for (k = 0; k < LOSS_WINDOW; k++)
		mean += t->losses[k];
	mean /= LOSS_WINDOW;
	for (k = 0; k < LOSS_WINDOW; k++)
		var += (t->losses[k] - mean) * (t->losses[k] - mean);
	return sqrt(var / LOSS_WINDOW);
}

static void trigger_init(struct loss_std_trigger *t)
{
	int k;

	memset(t, 0, sizeof(*t));
	t->rng = 0x5eed0005ULL;
	t->budget = BUDGET_CAP;
	for (k = 0; k < LOSS_WINDOW; k++)
		t->losses[k] = 1.0;
}

/* Whole units leave @acc. The tolerance leaves residue like -1.1e-16. */
static double take_whole(double *acc)
{
	double whole = floor(*acc + FRACTION_NORMALIZATION_EPS);

	*acc -= whole;
	return whole;
}

/* Granted fractions collect in the buffer; whole samples are injected. */
static void trigger_grant(struct loss_std_trigger *t, double amount)
{
	t->budget_buffer += amount;
	t->injected += (uint64_t)take_whole(&t->budget_buffer);
}

/* The budget is a token bucket of BUDGET_CAP; new tokens pay debts first. */
static void trigger_add_budget(struct loss_std_trigger *t, double amount)
{
	double pay;

	t->budget = fmin(t->budget + amount, BUDGET_CAP);
	pay = fmin(t->carryover_credit, t->budget);
	t->carryover_credit -= pay;
	t->budget -= pay;
	trigger_grant(t, pay);
}

static void trigger_inject(struct loss_std_trigger *t, double std)
{
	double quanta = fmin(floor(std / LOSS_STD_THRESHOLD), MAX_REQUEST_QUANTA);
	double request = quanta * INJECTION_QUANTUM;
	double granted = fmin(request, t->budget);

	t->budget -= granted;
	t->carryover_credit += request - granted;
	trigger_grant(t, granted);
}

static void trigger_step(struct loss_std_trigger *t)
{
	double std;

	t->losses[t->steps % LOSS_WINDOW] = trigger_next_loss(t);
	t->steps++;
	if (t->steps % REFILL_PERIOD == 0)
		trigger_add_budget(t, REFILL_AMOUNT);
	std = trigger_loss_std(t);
	if (std > LOSS_STD_THRESHOLD) {
		trigger_inject(t, std);
		return;
	}
	t->fractional_credit += INJECTION_QUANTUM;
	trigger_add_budget(t, take_whole(&t->fractional_credit));
}

/* The clean-up: one accumulator per step, round robin over the contexts. */
static void trigger_clean_up(struct loss_std_trigger *t, uint64_t i)
{
	double *acc[NR_CONTEXTS] = {
		&t->budget_buffer, &t->fractional_credit, &t->carryover_credit,
	};
	unsigned int k = (unsigned int)(i % NR_CONTEXTS);
	double after = *acc[k];

	double before = *acc[k];

	if (fabs(after) < FRACTION_NORMALIZATION_EPS)
		after = 0.0;
	drop_rounding_noise(acc[k], &after, trigger_contexts[k]);
	/* traced here, so drop_rounding_noise keeps its ordinary first insn */
	if (norm_trace)
		fprintf(norm_trace, "%s,%.17g,%.17g\n", trigger_contexts[k], before, after);
}

/* ---- one iteration -------------------------------------------------------- */

/*
 * Latency of request @i: variant i % 4 of 2^s with s = 5i % 23 (4 and 23 are
 * coprime, so every 92 requests see each pair): 2^s, 2^s + 1, 2^s - 1 and
 * 2^s * 1.5. That covers 0, exact powers of two (1, 2, 1024, 1048576),
 * their neighbours, and values up to 6291456, above the last bound.
 */
static long latency_for(uint64_t i)
{
	long p = 1L << ((5 * i) % 23);

	switch (i % 4) {
	case 0:
		return p;
	case 1:
		return p + 1;
	case 2:
		return p - 1;
	default:
		return p + p / 2;
	}
}

/* Le slot: the first bound >= value, or the +Inf slot after the last. */
static unsigned int latency_slot(long v)
{
	unsigned int k;

	for (k = 0; k < NR_LATENCY_BOUNDS; k++)
		if (v <= (1L << k))
			break;
	return k;
}

static unsigned int payload_slot(double v)
{
	unsigned int k;

	for (k = 0; k < NR_PAYLOAD_BOUNDS; k++)
		if (v <= payload_bounds[k])
			break;
	return k;
}

static void emit_request(struct demo *d, uint64_t i)
{
	unsigned long r = i % d->opts.nr_routes;
	long latency = handle_request(d->routes[r], latency_for(i));

	d->route_hits[r]++;
	d->latency_slots[latency_slot(latency)]++;
	d->latency_sum += latency;
}

static void emit_payload(struct demo *d, uint64_t i)
{
	double ratio = payload_values[i % NR_PAYLOAD_VALUES];

	EMITD_PROBE1(demo, payload, &ratio);
	d->payload_slots[payload_slot(ratio)]++;
	d->payload_sum += ratio;
}

/* A queue with 0..3 arrivals and 1..2 departures per step. */
static void emit_queue_depth(struct demo *d)
{
	uint64_t r = splitmix64(&d->rng_queue);
	long depth = d->queue_depth + (long)(r % 4) - 1 - (long)((r >> 2) % 2);

	if (depth < 0)
		depth = 0;
	if (depth > QUEUE_CAPACITY)
		depth = QUEUE_CAPACITY;
	d->queue_depth = depth;
	EMITD_PROBE1(demo, queue_depth, depth);
	d->queue_events++;
	d->queue_last = depth;
}

/*
 * Sensors 0..3 read one latent AR(1) signal plus per-sensor noise: the
 * signal's variance is 1.75, the noise's 0.12, so any two sensors correlate
 * at about 0.94 and the Gaussian resilience index of the four is about 0.6
 * (healthy). With sensor 3 independent it falls to about 0.4 (attention).
 * Every stream is drawn in every mode, so sensors 0..2 read the same values
 * whatever --sensor-mode says.
 */
static double sensor_value(struct demo *d, long id)
{
	double noise = 0.52 * uniform(&d->rng_noise);
	double indep = 2.3 * uniform(&d->rng_indep);

	if (id == NR_SENSORS - 1) {
		if (d->opts.sensor_mode == SENSOR_INDEPENDENT)
			return SENSOR_BASE + indep;
		if (d->opts.sensor_mode == SENSOR_STUCK)
			return SENSOR_STUCK_VALUE;
	}
	return SENSOR_BASE + 2.0 * d->latent + noise;
}

static void emit_sensors(struct demo *d)
{
	long id;

	d->latent = 0.9 * d->latent + 0.5 * uniform(&d->rng_latent);
	for (id = 0; id < NR_SENSORS; id++) {
		double value = sensor_value(d, id);

		EMITD_PROBE2(demo, sensor, id, &value);
		d->sensor_events[id]++;
		d->sensor_last[id] = value;
	}
}

static void demo_iteration(struct demo *d, uint64_t i)
{
	emit_request(d, i);
	emit_payload(d, i);
	emit_queue_depth(d);
	emit_sensors(d);
	trigger_step(&d->trigger);
	trigger_clean_up(&d->trigger, i);
	d->iterations++;
}

/* ---- setup, pacing, summary --------------------------------------------- */

static int demo_init(struct demo *d, const struct options *opts)
{
	unsigned long k, n = opts->nr_routes;

	memset(d, 0, sizeof(*d));
	d->opts = *opts;
	d->rng_queue = 0x5eed0001ULL;
	d->rng_latent = 0x5eed0002ULL;
	d->rng_noise = 0x5eed0003ULL;
	d->rng_indep = 0x5eed0004ULL;
	trigger_init(&d->trigger);

	d->routes = calloc(n, sizeof(*d->routes));
	d->route_hits = calloc(n, sizeof(*d->route_hits));
	if (n > DEFAULT_ROUTES)
		d->route_names = calloc(n, sizeof(*d->route_names));
	if (!d->routes || !d->route_hits || (n > DEFAULT_ROUTES && !d->route_names))
		return -ENOMEM;
	for (k = 0; k < n; k++) {
		if (n <= DEFAULT_ROUTES) {
			d->routes[k] = default_routes[k];
			continue;
		}
		snprintf(d->route_names[k], ROUTE_LEN, "/r/%lu", k);
		d->routes[k] = d->route_names[k];
	}
	return 0;
}

static void demo_free(struct demo *d)
{
	free(d->routes);
	free(d->route_hits);
	free(d->route_names);
}

/* Sleep until iteration @i's absolute deadline; false when told to exit. */
static bool pace(const struct timespec *start, uint64_t i, double rate)
{
	uint64_t offset = (uint64_t)((double)i * NSEC_PER_SEC / rate);
	struct timespec t = *start;

	t.tv_sec += (time_t)(offset / NSEC_PER_SEC);
	t.tv_nsec += (long)(offset % NSEC_PER_SEC);
	if (t.tv_nsec >= (long)NSEC_PER_SEC) {
		t.tv_sec++;
		t.tv_nsec -= (long)NSEC_PER_SEC;
	}
	while (!exiting) {
		int err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);

		if (err != EINTR)
			return true;
	}
	return false;
}

static void demo_run(struct demo *d)
{
	const struct options *opts = &d->opts;
	struct timespec start;
	uint64_t i;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; !opts->has_events || i < opts->events; i++) {
		if (exiting)
			break;
		if (opts->rate > 0 && !pace(&start, i, opts->rate))
			break;
		demo_iteration(d, i);
	}
}

static void print_hist_buckets(FILE *out, const char *name, const uint64_t *slots,
			       unsigned int nr_bounds, const double *bounds)
{
	uint64_t cum = 0;
	unsigned int k;

	for (k = 0; k < nr_bounds; k++) {
		cum += slots[k];
		if (bounds)
			fprintf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
				bounds[k], cum);
		else
			fprintf(out, "%s_bucket{le=\"%lu\"} %" PRIu64 "\n", name,
				1UL << k, cum);
	}
	cum += slots[nr_bounds];
	fprintf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	fprintf(out, "%s_count %" PRIu64 "\n", name, cum);
}

static void print_norm_stats(FILE *out)
{
	int k;

	for (k = 0; k < NR_CONTEXTS; k++) {
		const struct norm_stats *ns = &norm_stats[k];
		const char *ctx = trigger_contexts[k];

		fprintf(out, "trigger_normalization_events{context=\"%s\"} %" PRIu64 "\n",
			ctx, ns->events);
		fprintf(out, "trigger_normalization_zeroed{context=\"%s\"} %" PRIu64 "\n",
			ctx, ns->zeroed);
		fprintf(out, "trigger_normalization_before_abs_sum{context=\"%s\"} %.17g\n",
			ctx, ns->before_abs_sum);
		fprintf(out, "trigger_normalization_after_abs_sum{context=\"%s\"} %.17g\n",
			ctx, ns->after_abs_sum);
	}
}

static const char *sensor_mode_name(enum sensor_mode mode)
{
	switch (mode) {
	case SENSOR_INDEPENDENT:
		return "independent";
	case SENSOR_STUCK:
		return "stuck";
	default:
		return "normal";
	}
}

/*
 * The summary: `name{labels} value` lines in Prometheus text syntax (the
 * `#` lines are comments), exactly what was emitted. Bucket lines are
 * cumulative with `le` semantics (value <= bound); +Inf equals _count.
 */
static void print_summary(const struct demo *d, FILE *out)
{
	unsigned long r;
	long id;

	fprintf(out, "# demo-target summary: routes=%lu sensor_mode=%s\n",
		d->opts.nr_routes, sensor_mode_name(d->opts.sensor_mode));
	fprintf(out, "iterations %" PRIu64 "\n", d->iterations);
	for (r = 0; r < d->opts.nr_routes; r++)
		fprintf(out, "requests_total{route=\"%s\"} %" PRIu64 "\n",
			d->routes[r], d->route_hits[r]);
	print_hist_buckets(out, "request_latency_us", d->latency_slots,
			   NR_LATENCY_BOUNDS, NULL);
	fprintf(out, "request_latency_us_sum %" PRId64 "\n", d->latency_sum);
	print_hist_buckets(out, "payload_ratio", d->payload_slots,
			   NR_PAYLOAD_BOUNDS, payload_bounds);
	fprintf(out, "payload_ratio_sum %.17g\n", d->payload_sum);
	fprintf(out, "queue_depth_events %" PRIu64 "\n", d->queue_events);
	fprintf(out, "queue_depth_last %ld\n", d->queue_last);
	for (id = 0; id < NR_SENSORS; id++) {
		fprintf(out, "sensor_events{sensor=\"%ld\"} %" PRIu64 "\n",
			id, d->sensor_events[id]);
		fprintf(out, "sensor_value_last{sensor=\"%ld\"} %.17g\n",
			id, d->sensor_last[id]);
	}
	print_norm_stats(out);
	fprintf(out, "trigger_injected_total %" PRIu64 "\n", d->trigger.injected);
	fflush(out);
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
"Usage: %s [--events N] [--rate R] [--routes K]\n"
"          [--sensor-mode normal|independent|stuck] [--wait-signal]\n"
"\n"
"A stand-in service with emitd probe sites (spec/demo.yml). Each iteration\n"
"calls handle_request() (which fires USDT demo:request_done), fires\n"
"demo:payload and demo:queue_depth once, demo:sensor once per sensor 0..3,\n"
"and calls drop_rounding_noise() once, its context cycling through\n"
"budget_buffer, fractional_credit, carryover_credit. All values are\n"
"deterministic. At exit it prints what it emitted to stdout, one\n"
"`name{labels} value` line each.\n"
"\n"
"  --events N       run exactly N iterations, then exit 0 (default: run\n"
"                   until SIGINT or SIGTERM, then print the totals)\n"
"  --rate R         iterations per second, paced by absolute deadlines;\n"
"                   0 (the default) runs as fast as possible\n"
"  --routes K       distinct routes, 1..%d; up to 3 they are /api/users,\n"
"                   /api/orders, /healthz, above 3 they are /r/0../r/<K-1>\n"
"                   (default 3); request i uses route i %% K\n"
"  --sensor-mode M  normal: sensors 0..3 follow one signal (default);\n"
"                   independent: sensor 3 is independent noise;\n"
"                   stuck: sensor 3 stays at %g\n"
"  --wait-signal    print the pid to stderr and wait for SIGUSR1 before\n"
"                   emitting anything (attach by pid first)\n"
"  --trace-norm F   write every drop_rounding_noise() event to file F as\n"
"                   context,before,after (doubles in %%.17g)\n"
"  -h, --help       this text\n"
"\n"
"Bad arguments exit 2.\n", prog, MAX_ROUTES, SENSOR_STUCK_VALUE);
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_rate(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0) || isinf(v))
		return false;
	*out = v;
	return true;
}

static bool parse_sensor_mode(const char *s, enum sensor_mode *out)
{
	if (!strcmp(s, "normal"))
		*out = SENSOR_NORMAL;
	else if (!strcmp(s, "independent"))
		*out = SENSOR_INDEPENDENT;
	else if (!strcmp(s, "stuck"))
		*out = SENSOR_STUCK;
	else
		return false;
	return true;
}

static const char *option_name(const struct option *opts, int val)
{
	for (; opts->name; opts++)
		if (opts->val == val)
			return opts->name;
	return "?";
}

/* 0: run; 1: --help was printed; -EINVAL: usage error (already reported). */
static int parse_args(int argc, char **argv, struct options *opts)
{
	static const struct option longopts[] = {
		{ "events", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "routes", required_argument, NULL, 'k' },
		{ "sensor-mode", required_argument, NULL, 's' },
		{ "wait-signal", no_argument, NULL, 'w' },
		{ "trace-norm", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	memset(opts, 0, sizeof(*opts));
	opts->nr_routes = DEFAULT_ROUTES;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_u64(optarg, UINT64_MAX, &opts->events))
				goto bad_value;
			opts->has_events = true;
			break;
		case 'r':
			if (!parse_rate(optarg, &opts->rate))
				goto bad_value;
			break;
		case 'k':
			if (!parse_u64(optarg, MAX_ROUTES, &v) || !v)
				goto bad_value;
			opts->nr_routes = v;
			break;
		case 's':
			if (!parse_sensor_mode(optarg, &opts->sensor_mode))
				goto bad_value;
			break;
		case 'w':
			opts->wait_signal = true;
			break;
		case 't':
			opts->trace_norm = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			goto usage_error;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		goto usage_error;
	}
	return 0;

bad_value:
	fprintf(stderr, "%s: bad value '%s' for --%s\n", argv[0], optarg,
		option_name(longopts, c));
usage_error:
	usage(stderr, argv[0]);
	return -EINVAL;
}

/* ---- signals -------------------------------------------------------------- */

static int install_handlers(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGUSR1 };
	struct sigaction sa;
	unsigned int k;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
		if (sigaction(sigs[k], &sa, NULL))
			return -errno;
	return 0;
}

/* Block until SIGUSR1 (or SIGINT/SIGTERM), without a lost-wakeup race. */
static int wait_for_usr1(void)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &block, &old))
		return -errno;
	fprintf(stderr, "demo-target: pid %d waiting for SIGUSR1\n", (int)getpid());
	fflush(stderr);
	while (!got_usr1 && !exiting)
		sigsuspend(&old);
	if (sigprocmask(SIG_SETMASK, &old, NULL))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct options opts;
	struct demo d;
	int err;

	err = parse_args(argc, argv, &opts);
	if (err)
		return err > 0 ? 0 : 2;

	err = demo_init(&d, &opts);
	if (!err)
		err = install_handlers();
	if (err) {
		fprintf(stderr, "demo-target: setup failed: %s\n", strerror(-err));
		goto out_free;
	}
	if (opts.trace_norm) {
		norm_trace = fopen(opts.trace_norm, "w");
		if (!norm_trace) {
			err = -errno;
			fprintf(stderr, "demo-target: --trace-norm %s: %s\n", opts.trace_norm,
				strerror(errno));
			goto out_free;
		}
	}
	if (opts.wait_signal) {
		err = wait_for_usr1();
		if (err) {
			fprintf(stderr, "demo-target: %s\n", strerror(-err));
			goto out_free;
		}
	}
	demo_run(&d);
	print_summary(&d, stdout);

out_free:
	if (norm_trace && fclose(norm_trace) && !err)
		err = -errno;
	demo_free(&d);
	return err ? 1 : 0;
}
