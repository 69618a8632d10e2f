/* SPDX-License-Identifier: MIT */
/*
 * optimizer — what every stage of every pipeline should run, and with how much CPU.
 *
 * Pure functions of (latency profiles, arrival rate, SLO budget, node capacity) -> plan. No
 * processes, no I/O, no logging: failures are negative errno codes, with a message in the
 * caller's `err` buffer where a person needs detail. The module never includes pipelines/:
 * the agent converts a pipeline's configuration into the plain structs below.
 *
 * Parts (see optimizer/README.md for the mathematics):
 *  1. Latency model per variant, Sponge's form (EuroMLSys '24, eq. 1)
 *         l(b, c) = (γ·b/c + δ·b + ε/c + η) · (1 + margin)      [ms; c in cores]
 *     fitted by least squares (opt_fit, opt_fit_nonneg), checked over the allowed range
 *     (opt_model_check), refitted online by recursive least squares with forgetting (opt_rls),
 *     or replaced by a measured table with interpolation (opt_table). opt_latency holds
 *     either kind wherever a model is needed.
 *  2. Queueing estimate: a batch of b at per-replica rate λ/n waits (b−1)·n/λ to fill, plus one
 *     batch in service (opt_queue_delay_ms).
 *  3. Load forecast over per-second arrival counts (opt_forecast): IPA's setting, look back
 *     120 s, predict the max of the next 20 s.
 *  4. The integer program (opt_solve with OPT_SOLVER_GLPK): one candidate
 *     (variant, batch, millicores, replicas) per stage, maximise α·accuracy − β·cores − δ·batch
 *     under each pipeline's latency budget and the node's core capacity. Solved exactly by
 *     decomposition: dominance pruning, GLPK's simplex on the LP relaxation (Lagrange
 *     multipliers + a rounded incumbent), per-pipeline Pareto frontiers pruned by the
 *     Lagrangian bound, and GLPK's branch and bound on the master IP (one frontier point per
 *     pipeline under the capacity). opt_solve_options.stage_ip runs GLPK's branch and bound on
 *     the stage-level IP itself instead (same optimum, much slower on large problems).
 *  5. An exact exhaustive solver over the same candidates (OPT_SOLVER_EXHAUSTIVE): the oracle
 *     for tests and the solver for tiny problems.
 *  6. Per-pipeline policies: full, vertical (Sponge), horizontal (FA2-like), static.
 *  7. InfAdapter's variant mix and loading cost (opt_pipeline.mix, load_weight): a stage may
 *     run two variants at once, the load split by throughput; replicas the plan starts
 *     against the plan in force (opt_stage.current_replicas) cost their start-up. Each mix is
 *     one more candidate of its stage, so 4-5 stay exact over it.
 *
 * Units: latency in milliseconds (double), CPU per replica in millicores (uint32_t), CPU in the
 * objective and plan totals in cores (double), accuracy in percent, rates in requests/s.
 *
 * Threads: no global state. Every object belongs to its caller; functions taking a `const`
 * pointer may run concurrently on the same object. opt_solve may run on several threads at
 * once: each call uses the calling thread's own GLPK environment (GLPK keeps it in thread-local
 * storage), creates it if absent and frees it before returning if it created it (always after
 * a GLPK fault, which GLPK requires).
 *
 * API walk-through (the agent's control loop):
 *     opt_fit(profile points) -> opt_model; opt_model_check(model, range)    at (re)load
 *     opt_rls_init(&rls, &model, 0.98); per observed batch opt_rls_update(); opt_rls_model()
 *     opt_forecast_init(&f, NULL); every second opt_forecast_push(&f, count)
 *     each interval: problem.pipelines[i].lambda_rps = opt_forecast_next(&f) (per pipeline);
 *                    opt_solve(&problem, OPT_SOLVER_GLPK, &opts, &plan); apply plan;
 *                    opt_plan_done(&plan)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------ */
/* 1. Latency model                                                                            */

/* l(b,c) = (gamma·b/c + delta·b + epsilon/c + eta)·(1 + margin), milliseconds, c in cores. */
typedef struct opt_model {
        double gamma;   /* ms·cores per item: parallel per-item work */
        double delta;   /* ms per item: serial per-item work */
        double epsilon; /* ms·cores per batch: parallel per-batch work */
        double eta;     /* ms per batch: fixed overhead */
        double margin;  /* relative safety margin (0.1 = +10%), >= 0 */
} opt_model;

/* One profile measurement: a batch of `batch` items on `millicores` took `latency_ms`. */
typedef struct opt_point {
        uint32_t batch;
        uint32_t millicores;
        double latency_ms;
} opt_point;

/* Predicted latency in ms of a batch of `batch` on `millicores` (margin included). Returns
 * +INFINITY when millicores == 0 or batch == 0. */
double opt_latency_ms(const opt_model *m, uint32_t batch, uint32_t millicores);

/* Least-squares fit of γ, δ, ε, η to n points (QR, numerically stable). margin is set to the
 * p99 of the positive relative residuals (observed/predicted − 1), so the model with margin
 * covers 99% of the points. When all points share one batch size b0 the batch dependence is
 * not identifiable: the fit assumes no batching gain (latency ∝ batch, the conservative
 * choice), i.e. fits l(b0,c) = A/c + D and sets γ = A/b0, δ = D/b0, ε = η = 0.
 * Returns 0 and fills *ret; -EINVAL for bad input (NULL, n == 0, zero batch/millicores,
 * non-finite or non-positive latency), -EDOM when the points cannot determine the model
 * (fewer distinct (b,c) than parameters, all at one core count) or the fitted model predicts a
 * non-positive latency somewhere in the range the points span (see opt_model_check). *ret is
 * untouched on failure; err (if non-NULL) gets a one-line reason. */
int opt_fit(const opt_point *pts, size_t n, opt_model *ret, char *err, size_t errlen);

/* As opt_fit, but constrained to γ, δ, ε, η >= 0 (exact non-negative least squares: the best
 * of the least-squares fits on every support whose coefficients come out non-negative). The
 * parameters have physical meaning (work per item/batch, parallel/serial), so this never
 * yields a model that goes negative; the agent can fall back to it when opt_fit is rejected.
 * Same returns as opt_fit. */
int opt_fit_nonneg(const opt_point *pts, size_t n, opt_model *ret, char *err, size_t errlen);

/* Checks that the model predicts a finite, positive latency (hence positive throughput
 * b/l(b,c)) for every batch 1..max_batch and every millicores in [min_mc, max_mc]. The model
 * is bilinear in (b, 1/c), so the four corners decide it exactly. Returns 0 if so, -EDOM with a
 * message naming the offending (batch, millicores) otherwise, -EINVAL for an empty range. */
int opt_model_check(const opt_model *m, uint32_t max_batch, uint32_t min_mc, uint32_t max_mc,
                    char *err, size_t errlen);

/* Mean and max absolute relative error |pred − obs|/obs of the model WITHOUT its margin over
 * the points (for reporting fit quality). Returns 0, or -EINVAL for n == 0 / bad points. */
int opt_fit_error(const opt_model *m, const opt_point *pts, size_t n, double *ret_mean_rel,
                  double *ret_max_rel);

/* Online refit: recursive least squares with exponential forgetting over the regressors
 * x = (b/c, b, 1/c, 1), θ = (γ, δ, ε, η) (Ljung & Söderström, "Theory and Practice of
 * Recursive Identification", 1983, §2.6). The covariance is bounded (trace ≤ OPT_RLS_P_MAX)
 * so it cannot wind up while the agent keeps observing one configuration. The margin follows
 * the p99 of the recent a-priori relative errors (obs/pred − 1 of the model in use before each
 * update) over the last w = 1/(1 − forgetting) observations, w within [16, OPT_RLS_RESIDUALS]. */
#define OPT_RLS_RESIDUALS 128
#define OPT_RLS_P_MAX     1e6
typedef struct opt_rls {
        double theta[4];
        double P[4][4];
        double forgetting;  /* λ_f in (0, 1]: weight of an observation k steps old is λ_f^k */
        double base_margin; /* margin until enough residuals are seen */
        double resid[OPT_RLS_RESIDUALS]; /* ring of relative a-priori errors (obs/pred − 1) */
        size_t n_resid, resid_head;
        uint64_t n_updates;
} opt_rls;

/* Starts from `m` (its margin is the base margin) with covariance p0·I (p0 > 0; larger =
 * trust the prior less; 0 selects the default 100). forgetting in (0, 1] (0.98 ≈ memory of
 * 50 observations). Returns 0 or -EINVAL (state untouched). */
int opt_rls_init(opt_rls *s, const opt_model *m, double forgetting, double p0);

/* Folds in one observed batch. Returns 0; -EINVAL for zero batch/millicores or a non-finite or
 * non-positive observed_ms (state untouched). */
int opt_rls_update(opt_rls *s, uint32_t batch, uint32_t millicores, double observed_ms);

/* The current model: θ, and margin = the base margin before OPT_RLS_MIN_RESIDUALS
 * observations, then the p99 of the recent relative errors (0 if none positive). Never
 * fails. Check it with opt_model_check before use: RLS does not constrain signs. */
#define OPT_RLS_MIN_RESIDUALS 16
void opt_rls_model(const opt_rls *s, opt_model *ret);

/* Measured table: latency at measured (batch, millicores) points, interpolated. Within a
 * batch row, linear in 1/c between measured core counts (latency is ~linear in 1/c);
 * above the row's largest core count the value there (more cores never predicted slower);
 * below the smallest: +INFINITY (unknown: never chosen). Between measured batches, linear in
 * b between the two rows; outside the measured batches: +INFINITY. Duplicates are averaged. */
typedef struct opt_table opt_table;

/* Builds a table from n points (copied). Returns 0 and *ret (free with opt_table_free), -EINVAL
 * for bad points (message in err), -ENOMEM. */
int opt_table_new(const opt_point *pts, size_t n, opt_table **ret, char *err, size_t errlen);
/* Frees t (NULL allowed); returns NULL. */
opt_table *opt_table_free(opt_table *t);
/* Interpolated latency in ms (no margin), or +INFINITY outside the table as above. */
double opt_table_latency_ms(const opt_table *t, uint32_t batch, uint32_t millicores);

/* Either kind of latency predictor, usable wherever a model is needed. */
typedef enum opt_latency_kind {
        OPT_LATENCY_MODEL = 0, /* uses .fit (its margin included) */
        OPT_LATENCY_TABLE = 1, /* uses .table (borrowed, must outlive use) × (1 + table_margin) */
} opt_latency_kind;

typedef struct opt_latency {
        opt_latency_kind kind;
        opt_model fit;
        const opt_table *table;
        double table_margin;
} opt_latency;

/* Latency in ms of either kind (margin included), +INFINITY where undefined. */
double opt_latency_eval_ms(const opt_latency *l, uint32_t batch, uint32_t millicores);

/* ------------------------------------------------------------------------------------------ */
/* 2. Queueing-delay estimate                                                                  */

/* Expected time in ms from a request's arrival to its batch's completion at one of n replicas
 * sharing λ equally: the first request of a batch waits for b−1 more arrivals at rate λ/n,
 * (b−1)·n/λ seconds, plus one batch in service, service_ms s, plus the wait for a free replica
 * while others' batches are in service. With batches arriving at λ/b, per-replica utilisation
 * ρ = λ·s/(1000·n·b), that wait is taken as an M/D/n queue's: half the M/M/n wait in
 * Sakasegawa's approximation (Sakasegawa 1977; exact for n = 1, the Pollaczek-Khinchine M/D/1
 * mean):
 *     q = 1000·(b−1)·n/λ + s + (s/2)·ρ^(√(2(n+1))−1) / (n·(1−ρ)).
 * Without the last term a plan at ρ = 0.9 looks as fast as one at ρ = 0.3.
 * Returns +INFINITY for b > 1 at λ <= 0 (the batch never fills) and for ρ >= 1; service_ms
 * for b == 1 at λ <= 0. */
double opt_queue_delay_ms(uint32_t batch, uint32_t replicas, double lambda_rps, double service_ms);

/* ------------------------------------------------------------------------------------------ */
/* 3. Load forecast                                                                            */

/* Predicts the peak per-second arrival count of the next horizon_s seconds from the last
 * lookback_s seconds (IPA, JSys '24: 120 s back, max of the next 20 s). Method (README):
 *   level  = max over the last recent_s seconds,
 *   slope  = least-squares slope over the last lookback_s seconds, used only when rising,
 *   spread = standard deviation of the per-second residuals about that line,
 *   next   = (level + max(slope,0)·horizon_s + k_sigma·spread) · (1 + margin).
 * With `robust` set (the agent's 1 s loop), a step in the history moves neither term: slope =
 * median of the last recent_s first differences, spread = 1.4826·MAD(first differences)/√2
 * over the lookback (the per-second noise; a Poisson count of rate λ gives about √λ). */
typedef struct opt_forecast_params {
        uint32_t lookback_s; /* history kept, default 120 */
        uint32_t horizon_s;  /* predicted window, default 20 */
        uint32_t recent_s;   /* window of the level max, default 20, <= lookback_s */
        double k_sigma;      /* default 1.0 */
        double margin;       /* default 0 */
        bool robust;         /* default false: see above */
} opt_forecast_params;

/* Fills *ret with the defaults above (chosen on the first half of the Twitter trace, checked
 * on the second: README). */
void opt_forecast_params_default(opt_forecast_params *ret);

typedef struct opt_forecast {
        opt_forecast_params p;
        double *ring; /* owned: lookback_s counts, oldest at head once full */
        size_t len, head;
} opt_forecast;

/* p == NULL selects the defaults. Returns 0, -EINVAL (zero windows, recent_s > lookback_s,
 * negative k_sigma/margin), -ENOMEM. f untouched on failure. */
int opt_forecast_init(opt_forecast *f, const opt_forecast_params *p);
/* Frees the ring (NULL or zeroed f allowed). */
void opt_forecast_done(opt_forecast *f);
/* Appends one second's arrival count (negative or non-finite counts are taken as 0). */
void opt_forecast_push(opt_forecast *f, double count);
/* Predicted max requests/s over the next horizon_s (0 with no history yet). */
double opt_forecast_next(const opt_forecast *f);

typedef struct opt_forecast_eval {
        size_t n;             /* forecasts evaluated */
        double mape_pct;      /* mean |pred − actual| / actual, percent (actual = 0 skipped) */
        double under10_pct;   /* percent of forecasts with pred < 0.9 · actual */
        double mean_over_pct; /* mean (pred − actual)/actual over over-predictions, percent */
} opt_forecast_eval;

/* Replays counts[0..n) through a fresh forecaster with params p (NULL = defaults): from the
 * first full lookback on, every stride_s seconds (0 = horizon_s), forecasts the next
 * horizon_s and compares with their actual max. Returns 0, -EINVAL, -ENOMEM, or -ENODATA when
 * the series is too short for one forecast. */
int opt_forecast_evaluate(const double *counts, size_t n, const opt_forecast_params *p,
                          uint32_t stride_s, opt_forecast_eval *ret);

/* ------------------------------------------------------------------------------------------ */
/* 4–6. Problem, plan, solvers                                                                 */

typedef struct opt_variant {
        const char *name; /* borrowed, for reports */
        double accuracy;  /* percent */
        opt_latency model;
        /* Loading cost of one replica of this variant (InfAdapter's LC; 0 = free): wall
         * seconds from start to ready, during which its cores are held without serving, and
         * CPU core-seconds its start-up burns (loading the model). A started replica costs
         * startup_s·cores + startup_cpu_s core-seconds. */
        double startup_s, startup_cpu_s;
} opt_variant;

typedef enum opt_policy {
        OPT_POLICY_FULL = 0,   /* variant, batch, millicores, replicas all chosen */
        OPT_POLICY_VERTICAL,   /* Sponge: fixed_variant, replicas = 1; batch, millicores chosen */
        OPT_POLICY_HORIZONTAL, /* FA2-like: fixed_variant, fixed_millicores per replica;
                                  batch, replicas chosen */
        OPT_POLICY_STATIC,     /* not solved: fixed_variant/batch/millicores/replicas as given,
                                  evaluated and counted against the node's capacity */
} opt_policy;

typedef struct opt_stage {
        const char *name;            /* borrowed, for reports (may be NULL) */
        const opt_variant *variants; /* borrowed array of n_variants (>= 1) */
        size_t n_variants;
        /* Allowed batch sizes: batches[0..n_batches) if batches != NULL, else the powers of
         * two 1, 2, 4, ... <= max_batch. */
        uint32_t max_batch;
        const uint32_t *batches; /* borrowed, may be NULL */
        size_t n_batches;
        /* Millicores per replica: min_millicores, +step, ... <= max_millicores (step 0 = only
         * min_millicores). */
        uint32_t min_millicores, max_millicores, step_millicores;
        uint32_t min_replicas, max_replicas; /* 1 <= min <= max */
        /* Policy parameters (see opt_policy). */
        uint32_t fixed_variant;    /* VERTICAL, HORIZONTAL, STATIC */
        uint32_t fixed_batch;      /* STATIC */
        uint32_t fixed_millicores; /* HORIZONTAL, STATIC */
        uint32_t fixed_replicas;   /* STATIC */
        /* The plan in force: replicas now running per variant (borrowed array of n_variants,
         * may be NULL = no loading cost charged). A candidate starts max(0, n_v − current[v])
         * replicas of each variant v; resizing or re-batching a running replica starts none. */
        const uint32_t *current_replicas;
} opt_stage;

#define OPT_MAX_STAGES 64 /* per pipeline */

typedef struct opt_pipeline {
        const char *name;        /* borrowed, may be NULL */
        const opt_stage *stages; /* borrowed array of n_stages (1..OPT_MAX_STAGES) */
        size_t n_stages;
        double lambda_rps;    /* arrival rate to plan for (e.g. opt_forecast_next), >= 0 */
        double slo_budget_ms; /* end-to-end budget, already net of network latency */
        /* Objective weights: α per accuracy percent, β per core, δ per batch item. */
        double alpha, beta, delta;
        opt_policy policy;
        /* InfAdapter's variant mix (policy full only): a stage may also run replicas of two
         * variants at once, each group with its own batch, millicores and replica count, the
         * load split in proportion to throughput (README §4 "Mixes"). false: one variant per
         * stage, as before. */
        bool mix;
        /* Weight of the loading cost per core-second of start-up (>= 0; 0 = ignored). */
        double load_weight;
} opt_pipeline;

typedef struct opt_problem {
        const opt_pipeline *pipelines; /* borrowed array of n_pipelines (>= 1) */
        size_t n_pipelines;
        uint32_t node_millicores; /* cores the agent may hand out, all pipelines together */
} opt_problem;

typedef enum opt_solver {
        OPT_SOLVER_GLPK = 0,
        OPT_SOLVER_EXHAUSTIVE, /* exact dynamic programme; exponential in the worst case */
} opt_solver;

typedef struct opt_solve_options {
        uint32_t time_limit_ms; /* GLPK only; 0 = none. On expiry the best incumbent is
                                   returned with optimal = false. */
        bool no_prune;          /* skip dominance pruning (benchmark comparison only) */
        bool stage_ip;          /* GLPK: branch and bound on the stage-level IP itself instead
                                   of the decomposition (README); slow on large problems, kept
                                   as a cross-check */
} opt_solve_options;

typedef enum opt_infeasible {
        OPT_FEASIBLE = 0,
        OPT_INFEASIBLE_THROUGHPUT, /* no allowed configuration of the stage carries λ */
        OPT_INFEASIBLE_LATENCY,    /* the pipeline misses its budget even at its fastest */
        OPT_INFEASIBLE_CAPACITY,   /* every pipeline fits alone, not all within the node */
        OPT_INFEASIBLE_STATIC,     /* a static pipeline's fixed plan misses λ or its budget */
} opt_infeasible;

/* One group of a stage's plan: replicas of one variant with one configuration. */
#define OPT_MIX_MAX 2 /* groups (variants) per stage */
typedef struct opt_plan_group {
        uint32_t variant, batch, millicores, replicas;
        double processing_ms;        /* l(b,c), margin included */
        double predicted_latency_ms; /* at its share of λ */
        double throughput_rps;       /* n·b·1000/processing_ms */
        double share;                /* fraction of the stage's load: throughput / Σ throughput */
} opt_plan_group;

/* For a single-variant stage groups[0] repeats variant/batch/millicores/replicas; for a mix
 * (n_groups = 2) the top-level variant/batch/millicores are groups[0]'s (the larger share),
 * replicas is the total, and the latency/throughput/cores/objective are the stage's. */
typedef struct opt_plan_stage {
        uint32_t variant; /* index into opt_stage.variants */
        uint32_t batch;
        uint32_t millicores; /* per replica */
        uint32_t replicas;
        double processing_ms;        /* l(b,c), margin included */
        double predicted_latency_ms; /* opt_queue_delay_ms(b, n, λ, processing_ms) */
        double throughput_rps;       /* n·b·1000/processing_ms */
        double cores;                /* n·millicores/1000 */
        double objective; /* α·acc − β·cores − δ·b − load_weight·loading of this stage */
        double loading_core_s;     /* start-up core-seconds of the replicas it starts */
        uint32_t replicas_started; /* against opt_stage.current_replicas */
        uint32_t n_groups;         /* 1, or 2 for a mix */
        opt_plan_group groups[OPT_MIX_MAX];
} opt_plan_stage;

typedef struct opt_plan_pipeline {
        opt_plan_stage *stages; /* owned by the plan, n_stages entries */
        size_t n_stages;
        double latency_ms; /* Σ predicted_latency_ms */
        double cores;
        double objective;
} opt_plan_pipeline;

typedef struct opt_plan {
        opt_plan_pipeline *pipelines; /* owned, n_pipelines entries; free with opt_plan_done */
        size_t n_pipelines;
        bool feasible;
        bool optimal;     /* false when a time limit stopped GLPK at an incumbent */
        double objective; /* Σ over pipelines (feasible plans) */
        double cores;     /* Σ cores */
        /* When !feasible: why, where, and by how much. The stages then hold a best-effort
         * plan: per pipeline the least-core plan that meets its budget when one exists (the
         * CAPACITY case), else per stage its lowest-latency configuration; a stage that cannot
         * carry λ gets its highest-throughput configuration (latency +INFINITY). */
        opt_infeasible reason;
        size_t binding_pipeline, binding_stage;
        uint32_t extra_millicores; /* CAPACITY: node millicores missing for a feasible plan */
        double latency_excess_ms;  /* LATENCY/STATIC: fastest latency − budget */
        uint64_t solve_us;         /* wall time of opt_solve (CLOCK_MONOTONIC) */
        size_t candidates;         /* configurations generated (carrying λ) */
        size_t candidates_pruned;  /* left after pruning: what the solver saw */
} opt_plan;

/* Checks a problem's structure and ranges (what opt_solve rejects with -EINVAL). Returns 0 or
 * -EINVAL with a message naming the pipeline, stage and field in err. */
int opt_problem_validate(const opt_problem *pr, char *err, size_t errlen);

/* Solves the problem. Returns 0 with *ret filled (feasible or not: see opt_plan.reason);
 * -EINVAL for an invalid problem (opt_problem_validate says why), -ENOMEM, -EFAULT if GLPK
 * faulted (caught by glp_error_hook; the thread's GLPK env is freed), -ETIMEDOUT if the time
 * limit expired before GLPK found any integer solution, -E2BIG when the exhaustive solver's
 * state space exceeds its cap (2^23 states a layer). On failure *ret is untouched. `opts`
 * may be NULL. Free the plan with opt_plan_done. */
int opt_solve(const opt_problem *pr, opt_solver which, const opt_solve_options *opts,
              opt_plan *ret);

/* Frees the plan's arrays (NULL or zeroed allowed) and zeroes it. */
void opt_plan_done(opt_plan *p);

/* Evaluates one stage configuration as the solver does (latency with queueing, throughput,
 * cores, objective share) into *ret. Returns 0, -EINVAL (indices out of range), -ERANGE when
 * the configuration does not carry λ or its latency is not finite (*ret still filled). */
int opt_stage_evaluate(const opt_pipeline *pl, size_t stage, uint32_t variant, uint32_t batch,
                       uint32_t millicores, uint32_t replicas, opt_plan_stage *ret);

/* Static names for reports. */
const char *opt_policy_name(opt_policy p);
const char *opt_infeasible_name(opt_infeasible r);
/* Parses "full", "vertical", "horizontal", "static". Returns 0 or -EINVAL. */
int opt_policy_from_name(const char *s, opt_policy *ret);
