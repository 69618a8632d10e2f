/* SPDX-License-Identifier: MIT */
/*
 * plan — the one translation from pipeline files to the optimizer's problem, and the control
 * loop's decisions that touch no process (sponge_plan: links pipelines and optimizer only).
 *
 * Translation: a variant's profile → its latency model (a model as written; points fitted by
 * plan_fit: least squares, else non-negative least squares — the rule the profiler uses for
 * the models it writes); a pipeline's policy (pinned = static) →
 * opt_policy; each stage → an opt_stage whose candidates are the file's ranges and whose fixed
 * dimensions are the plan in force (pinned) or the initial plan (pl_initial_plan); a solved
 * plan → pl_plan_entry per stage, or per variant of a stage with plan_mix_entries (InfAdapter's
 * mix, offered only with plan_input.mix; loading cost from the plan in force, plan-mix.c).
 * The agent, control-oracle, bench-oracle and the simulator build their problems here and
 * nowhere else; the profiler fits with plan_fit.
 *
 * Decisions (each a pure function of its inputs, times passed in, no clock read):
 *   plan_decide       solve; keep the variants in force unless switching gains more than
 *                     PLAN_VARIANT_KEEP_SHARE·|objective| + PLAN_VARIANT_KEEP_POINTS; if the
 *                     forecast does not fit, the present load; if that does not fit either, the
 *                     degraded plan (fastest variants, largest share of the load, then looser
 *                     budgets);
 *   plan_hold_step    up at once, down after the delay (unless forced), the first decision at once;
 *   plan_would_overcommit  whether holding every downscale while applying every upscale would
 *                     allocate more than the node may use (then the hold is skipped);
 *   plan_budget_ms, plan_refit, plan_rate_jumped: the planning budget, the refit's slowdown
 *                     scale and the rate-jump trigger.
 *
 * Invariants: a plan_problem owns copies of everything it points at (models by value, names in
 * its own buffer), so it may be solved on another thread after the pipeline files are gone; it
 * is left as built by every call that changes it temporarily (plan_decide restores rates,
 * budgets, weights and variant slices). No logging, no global state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optimizer/optimizer.h"
#include "pipelines/pipeline.h"

#define PLAN_VARIANT_KEEP_SHARE  0.03
#define PLAN_VARIANT_KEEP_POINTS 1.0
#define PLAN_BUDGET_QUANTILE     0.05 /* plan for all but the tightest 5% of recent budgets */
#define PLAN_DEGRADE_MIN_SHARE   0.05
#define PLAN_DEGRADE_STEPS       7
#define PLAN_RLS_MIN_UPDATES     16
#define PLAN_REFIT_SCALE_MAX     4.0
#define PLAN_JUMP_FACTOR         1.5 /* a rate this much above the plan's (+ JUMP_RPS) forces a tick */
#define PLAN_JUMP_RPS            5.0

/* ---- translation ---- */

/* One stage's plan as entries, one per variant it runs (InfAdapter's mix: two; else one), the
 * larger share of the load first. */
typedef struct plan_stage_mix {
        size_t n;                     /* 1 or 2 (OPT_MIX_MAX) */
        pl_plan_entry e[OPT_MIX_MAX]; /* each with its own batch, millicores, replicas */
        double share[OPT_MIX_MAX];    /* fraction of the stage's load it serves (Σ = 1) */
} plan_stage_mix;

/* The optimizer's policy of a pipeline file's policy; a pinned pipeline is static. */
opt_policy plan_policy(pl_policy p, bool pinned);

/* The one rule that turns measured points into a latency model, for the agent (points in a
 * pipeline file) and the profiler (what it writes): least squares (opt_fit); the non-negative
 * fit (opt_fit_nonneg) when that is rejected or yields a negative parameter, which has no
 * physical meaning (work per item or per batch). *ret_nonneg (may be NULL) says which was
 * used. Returns 0 or opt_fit's errors with a message in err; *ret untouched on failure. */
int plan_fit(const opt_point *pts, size_t n, opt_model *ret, bool *ret_nonneg, char *err,
             size_t errlen);
/* The latency model of a variant's profile. Returns 0, -ENOMEM, or plan_fit's error with a
 * message in err. */
int plan_variant_model(const pl_variant *v, opt_model *ret, char *err, size_t errlen);

/* Fastest one request can pass a stage: its best variant at batch 1 on millicores_max. */
double plan_stage_floor_ms(const pl_stage *s, const opt_latency *models);

/* One pipeline's inputs to the problem. Everything is copied by plan_problem_build. */
typedef struct plan_input {
        const pl_pipeline *cfg;
        const opt_latency *const *models; /* per stage, n_variants each; NULL: the profiles' */
        const pl_plan_entry *current;     /* in force, n_stages; NULL: the initial plan */
        bool pinned;                      /* keep `current` (policy static) */
        double lambda_rps;                /* the rate to plan for (forecast + backlog) */
        double present_rps;               /* what arrives now + backlog (no headroom) */
        double budget_ms;
        uint64_t id; /* the caller's name for the pipeline (returned untouched) */
        /* Offer mixes (two variants per stage) where the file allows them ("mix", policy
         * full). Only for a caller whose data plane serves one stage from two variants; the
         * others leave it false and get one variant per stage. */
        bool mix;
        /* Weight of the loading cost per start-up core-second (optimizer README §4), >= 0:
         * replicas the plan starts against the plan in force (current_mix, else current; none
         * when both are NULL) cost the variant's startup_ms × its cores. */
        double load_weight;
        const plan_stage_mix *current_mix; /* in force per stage, n_stages; NULL: `current` */
} plan_input;

typedef struct plan_problem {
        opt_problem pr;           /* pipelines = pls */
        opt_pipeline *pls;        /* owned, n */
        opt_stage *stages;        /* owned, all stages, pipeline after pipeline */
        opt_variant *variants;    /* owned, all variants, stage after stage */
        pl_plan_entry *current;   /* owned, per stage: the plan in force */
        uint32_t *running;        /* owned, per variant: replicas in force (loading cost) */
        size_t *n_variants;       /* owned, per stage */
        uint64_t *ids;            /* owned, n */
        double *present_rps;      /* owned, n */
        char *names;              /* owned: every name the structs above point at */
        const opt_variant **full; /* scratch of plan_decide (degrade), per stage */
        size_t *fastest;          /* scratch, per stage */
} plan_problem;

/* Builds the problem of n pipelines on a node of node_millicores. Returns 0, -ENOENT for n == 0,
 * -ENOMEM, or a model's fit error (message in err); *ret zeroed on failure. */
int plan_problem_build(const plan_input *in, size_t n, uint32_t node_millicores, plan_problem *ret,
                       char *err, size_t errlen);
void plan_problem_done(plan_problem *x);

/* Fastest one request can pass pipeline k: per stage its best variant at batch 1 on the most
 * millicores allowed (budgets below it cannot be planned for). */
double plan_problem_floor_ms(const plan_problem *x, size_t k);

/* Index of pipeline k's first stage in x->stages / x->current. */
size_t plan_stage_base(const plan_problem *x, size_t k);

/* The plan entries of pipeline k of a solved plan (n_stages entries into ret). A mixed stage
 * gives its larger group with the stage's total replicas: callers that set plan_input.mix use
 * plan_mix_entries. */
void plan_entries(const opt_plan *plan, size_t k, pl_plan_entry *ret);

/* Pipeline k of a solved plan as plan_stage_mix per stage (n_stages into ret). */
void plan_mix_entries(const opt_plan *plan, size_t k, plan_stage_mix *ret);

/* Whether two entries are the same configuration (field by field: the struct has padding). */
bool plan_entry_equal(const pl_plan_entry *a, const pl_plan_entry *b);

/* Σ millicores × replicas. */
uint64_t plan_millicores(const pl_plan_entry *e, size_t n);

/* ---- decisions ---- */

typedef struct plan_decision {
        opt_plan plan;    /* to apply: feasible (valid when plan_decide returned 0) */
        opt_plan report;  /* when degraded: the infeasible plan that says why (else zeroed) */
        bool degraded;    /* the node cannot hold the load: plan is the degraded one */
        bool no_headroom; /* plan is for the present load, not the forecast */
        double share;     /* the share of the load plan carries (1 unless degraded) */
} plan_decision;

/* Solves x (GLPK, time_limit_ms) and applies the rules above. Returns 0 with a feasible
 * ret->plan; -ERANGE when not even the degraded plan fits (ret->report set); opt_solve's error
 * otherwise. Free with plan_decision_done in every case. */
int plan_decide(plan_problem *x, uint32_t time_limit_ms, plan_decision *ret);
void plan_decision_done(plan_decision *d);

/* "feasible", "feasible for the present load ...", "infeasible (capacity) at stage s: ..." —
 * what pipeline k's status says about the decision. */
void plan_reason(const plan_problem *x, const plan_decision *d, size_t k, char *buf, size_t len);

/* The downscale hold of one pipeline. */
typedef struct plan_hold {
        bool acted;   /* a decision was applied (the first replaces the file's plan at once) */
        bool pending; /* a lower plan is waiting out the delay */
        uint64_t pending_since_us;
} plan_hold;

/* Whether `next` should replace `cur` now: equal plans clear the hold (false); a lower total
 * millicores waits `delay_us` from the first time it was seen (unless force, or nothing was
 * applied yet); anything else at once. */
bool plan_hold_step(plan_hold *h, const pl_plan_entry *cur, const pl_plan_entry *next, size_t n,
                    uint64_t now_us, uint64_t delay_us, bool force);

/* Whether keeping every pipeline's current allocation where the plan lowers it, and the plan's
 * where it raises it, exceeds usable millicores. cur[k] is pipeline k's plan in force, NULL for
 * a pipeline no longer there (not counted); static pipelines count at cur. */
bool plan_would_overcommit(const plan_problem *x, const opt_plan *plan,
                           const pl_plan_entry *const *cur, uint32_t usable_millicores);

/* The budget to plan for: the quantile q of budgets_ms[0..n) (sorted in place), capped by the
 * SLO; the SLO when n == 0. */
double plan_budget_ms(double *budgets_ms, size_t n, double q, double slo_ms);

/* The refit's slowdown at (batch, millicores): rls's model over the profile's (both without
 * margin), within [1, PLAN_REFIT_SCALE_MAX]. Returns the scale and sets *ret_model to the
 * profile scaled by it; returns 0 and leaves *ret_model when the refit has fewer than
 * PLAN_RLS_MIN_UPDATES batches or the ratio is not finite. */
double plan_refit(const opt_latency *profile, const opt_rls *rls, uint32_t batch,
                  uint32_t millicores, opt_latency *ret_model);

/* Whether `arrivals` counted over age_s seconds jumped well above planned_rps. */
bool plan_rate_jumped(double arrivals, double age_s, double planned_rps);
