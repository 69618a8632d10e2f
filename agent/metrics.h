/* metrics.h — counters and latency histograms of the agent, and their Prometheus rendering.
 *
 * Histograms have fixed log2-spaced buckets in microseconds (bucket i counts samples
 * <= 2^(i+6) µs, i.e. 64 µs .. ~68 s) so an observation is O(1) and allocation-free. A ring of the
 * last RECENT_SAMPLES samples gives p50/p99 for the status API and the control loop.
 * Owned and updated by the loop thread only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agent/util.h"

#define HIST_BUCKETS   21
#define RECENT_SAMPLES 2048
/* = PL_MAX_VARIANTS (checked where both are seen: agent/exposition.c) */
#define METRICS_MAX_VARIANTS 32

typedef struct Histogram {
        uint64_t buckets[HIST_BUCKETS]; /* non-cumulative */
        uint64_t count;
        uint64_t sum_us;
} Histogram;

typedef struct Recent {
        uint32_t us[RECENT_SAMPLES];
        uint32_t n, head;
} Recent;

/* How a request ended. The order is the order of the metric's label values. */
typedef enum Outcome {
        OUTCOME_OK,           /* 200 */
        OUTCOME_BAD_REQUEST,  /* 400 */
        OUTCOME_TOO_LARGE,    /* 413 */
        OUTCOME_QUEUE_FULL,   /* 429 */
        OUTCOME_WORKER_ERROR, /* 502 */
        OUTCOME_UNAVAILABLE,  /* 503 */
        OUTCOME_DEADLINE,     /* 504 */
        OUTCOME_CANCELLED,    /* client went away before the answer */
        _OUTCOME_MAX,
} Outcome;

typedef struct PipelineMetrics {
        uint64_t accepted;                /* admitted into the first stage */
        uint64_t answered[_OUTCOME_MAX];  /* every admitted or refused request, by outcome */
        uint64_t within_slo;              /* 200 within the request's own deadline */
        uint64_t late;                    /* served although late ("late": "serve") */
        uint64_t arrivals_current_second; /* arrivals since the control loop last looked */
        double accuracy_sum; /* Σ over 200 answers of the mean accuracy of the variants that
                                served them (percent) */
        double core_seconds; /* allocated millicores integrated over time, / 1000 */
        Histogram e2e;
        Recent recent_e2e;
} PipelineMetrics;

typedef struct StageMetrics {
        uint64_t batches, items, dropped;
        Histogram processing; /* one batch on a worker */
        Histogram queueing;   /* one request waiting in this stage's queue */
        Recent recent_processing;
        /* this control interval: what the model predicted for the batches run, what they took */
        double interval_predicted_ms, interval_observed_ms;
        /* bounded failure (bounded.c) */
        uint64_t batch_timeouts; /* batches given up: the worker did not answer in time */
        uint64_t expired;        /* queued requests answered 504 by the timer (none free) */
        /* by the variant that ran them (index into the stage's variants) */
        uint64_t batches_by_variant[METRICS_MAX_VARIANTS], items_by_variant[METRICS_MAX_VARIANTS];
        double core_seconds;     /* allocated millicores integrated over time, / 1000 */
        uint64_t cpu_retired_us; /* cgroup CPU time of the stage's replicas already freed */
} StageMetrics;

/* What a stage's plan change changed: the label values of sponged_plan_changes_total. */
typedef enum PlanChange {
        PLAN_CHANGE_VARIANT,
        PLAN_CHANGE_BATCH,
        PLAN_CHANGE_CORES,
        PLAN_CHANGE_REPLICAS,
        _PLAN_CHANGE_MAX,
} PlanChange;

typedef struct NodeMetrics {
        uint64_t http_requests;
        uint64_t resizes, resize_failures;
        uint64_t replica_starts, replica_exits, replica_restarts;
        uint64_t plan_changes, solves, solve_failures;
        uint64_t requeued;
        double core_seconds; /* all pipelines' allocation integrated over time */
        uint64_t integrated_at_us;

        /* bounded failure (bounded.c, api.c) */
        uint64_t batch_timeouts;      /* batches given up, worker killed and restarted */
        uint64_t startup_timeouts;    /* workers not READY within their start-up deadline */
        uint64_t expired;             /* queued requests answered 504 by the timer */
        uint64_t clients_gone;        /* suspended requests whose client disconnected */
        uint64_t retire_forced;       /* requests answered 503 at a retired pipeline's deadline */
        uint64_t stop_kills;          /* workers killed at the SIGTERM drain deadline */
        uint64_t http_budget_refused; /* requests refused 503: in-flight body byte budget */
        uint64_t http_head_timeouts;  /* connections cut: request head not complete in time */
        /* stage plan changes by what changed (one change may count in several) */
        uint64_t plan_changes_by_kind[_PLAN_CHANGE_MAX];
        Histogram solve_duration; /* one control-loop solve */
} NodeMetrics;

void histogram_observe(Histogram *h, uint64_t us);
void recent_push(Recent *r, uint64_t us);
/* q in [0,1]; 0 when empty. */
uint64_t recent_quantile_us(const Recent *r, double q);
const char *outcome_name(Outcome o);
const char *plan_change_name(PlanChange k);
Outcome outcome_from_status(unsigned status);

/* Prometheus text exposition helpers. name must be a valid metric name; labels "" or
 * `a="b",c="d"` (already escaped). Return 0 or -ENOMEM. */
int prom_histogram(Buf *out, const char *name, const char *labels, const Histogram *h);
int prom_printf(Buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
