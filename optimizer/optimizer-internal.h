/* SPDX-License-Identifier: MIT */
/*
 * Private to optimizer/: the candidate list both solvers work on, the dense least-squares
 * kernel, and small helpers. Not installed, not included outside the module.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "optimizer/optimizer.h"

/* Formats into err (if non-NULL) and returns `code` — for one-line error returns. */
int opt__err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Least squares min ||X·θ − y|| over n rows and k <= 4 columns (X row-major, n×k) by
 * Householder QR on column-scaled X. Returns 0 and θ, and the residual sum of squares in
 * *ret_rss (may be NULL); -EDOM when X is rank deficient (relative pivot < 1e-10). */
#define OPT__LSQ_MAX_K 4
int opt__lsq(const double *X, const double *y, size_t n, size_t k, double *ret_theta,
             double *ret_rss);

/* Positivity of m (with margin) on the box [bmin,bmax] × [mcmin,mcmax]: checked at the four
 * corners, exact because l is bilinear in (b, 1/c). */
int opt__model_check_box(const opt_model *m, uint32_t bmin, uint32_t bmax, uint32_t mcmin,
                         uint32_t mcmax, char *err, size_t errlen);

/* The configuration space a stage's policy allows. */
typedef struct opt__space {
        uint32_t v_lo, v_hi; /* variants [v_lo, v_hi] */
        uint32_t pow2[32];   /* batch sizes when the stage gives none */
        const uint32_t *batches;
        size_t n_batches;
        uint32_t mc_lo, mc_hi, mc_step; /* step 0: mc_lo only */
        uint32_t r_lo, r_hi;
} opt__space;
void opt__stage_space(const opt_pipeline *pl, const opt_stage *st, opt__space *ret);
/* Number of millicore steps. */
uint64_t opt__space_n_mc(const opt__space *sp);

/* One configuration of one stage, with everything the solvers need precomputed. */
typedef struct opt__cand {
        uint32_t variant, batch, millicores, replicas;
        double processing_ms; /* l(b,c) with margin */
        double latency_ms;    /* processing + queueing */
        double throughput_rps;
        double objective;  /* α·acc − β·cores − δ·b */
        uint64_t mc_total; /* replicas·millicores (capacity is checked in integer millicores) */
        /* (cores = mc_total/1000 is not stored: 64 bytes a candidate keep the per-stage array of
         * the bench instance under malloc's mmap threshold; one more field tripled the solve
         * time in page faults.) */
        uint32_t mix; /* OPT__NO_MIX, or a mix: its groups are groups[2·mix .. 2·mix+1] of
                         the stage's candidates as built (variant..replicas: the first
                         group's, replicas the total) */
} opt__cand;

#define OPT__NO_MIX UINT32_MAX
_Static_assert(sizeof(opt__cand) == 64, "see the note at opt__cand.mix");

/* Candidates of one stage of one pipeline. */
typedef struct opt__stage_cands {
        opt__cand *c; /* owned */
        size_t n;
        size_t n_generated;     /* before pruning */
        opt_plan_group *groups; /* owned: the mixes' groups, two each (NULL without mixes);
                                   copies of the list made by the solver leave it NULL */
        size_t n_groups, cap_groups;
} opt__stage_cands;

/* All candidates of a problem, [pipeline][stage] flattened (index = off[p] + s). */
typedef struct opt__cands {
        opt__stage_cands *st; /* owned, one per (pipeline, stage) */
        size_t *off;          /* owned, n_pipelines + 1 offsets into st */
        size_t n_pipelines;
        size_t total_generated, total_kept;
} opt__cands;

/* Generates every configuration allowed by the stage's policy that carries λ with the least
 * replicas in range, and with each further replica while the replicas stay more than half busy
 * (each one shortens the queueing wait) (static: the one fixed configuration, even when it does not
 * carry λ: then latency is +INFINITY). prune: drop dominated candidates (another one with objective
 * >=, latency <= and millicores <=, strictly better in one, or identical and earlier) and
 * those infeasible alone given the other stages' minima. Returns 0, -ENOMEM. */
int opt__cands_build(const opt_problem *pr, int prune, opt__cands *ret);
void opt__cands_free(opt__cands *c);

/* Pareto filter on (latency min, mc min, objective max; use_obj = 0 ignores the objective).
 * Writes the indices of the kept entries into keep (capacity n) in (latency, mc, −objective,
 * index) order and returns their count, or -ENOMEM. Of identical entries the lowest index
 * stays. */
long opt__pareto(size_t n, const double *lat, const uint64_t *mc, const double *obj, int use_obj,
                 size_t *keep);

/* Byte offsets of the keys in an item: a double latency, a uint64_t mc, a double objective. */
typedef struct opt__pareto_keys {
        size_t lat, mc, obj;
} opt__pareto_keys;

/* opt__pareto on an array: itemsp is the address of its pointer (T **, as NetBSD's
 * reallocarr), *n its count of items of `size` bytes. On success the array is replaced by a new
 * one holding the kept items in opt__pareto's order (the old one freed) and *n by their count.
 * Returns 0, or -ENOMEM with both untouched. */
int opt__pareto_prune(void *itemsp, size_t *n, size_t size, const opt__pareto_keys *k, int use_obj);

/* The highest-throughput configuration a stage's policy allows (latency set to +INFINITY):
 * the best-effort choice for a stage that cannot carry λ. */
int opt__stage_max_throughput(const opt_pipeline *pl, size_t s, opt__cand *ret);

/* Appends c to sc->c (capacity *cap, doubled as needed). Returns 0, -ENOMEM. */
int opt__push_cand(opt__stage_cands *sc, size_t *cap, const opt__cand *c);

/* ---- mixes and loading cost (mix.c) ---- */

/* Start-up core-seconds of running n replicas of variant v at mc millicores against the plan
 * in force (st->current_replicas; none: 0), and how many are started (ret_started may be
 * NULL). */
double opt__loading(const opt_stage *st, uint32_t v, uint32_t mc, uint32_t n,
                    uint32_t *ret_started);
/* Configurations of the mix space of a stage (README §4 "Mixes"): 0 unless pl->mix, policy
 * full and >= 2 variants. For validation against its cap. */
uint64_t opt__mix_space(const opt_pipeline *pl, const opt_stage *st);
/* Appends every mix of the stage to sc (candidates and their groups). Returns 0, -ENOMEM. */
int opt__mix_build(const opt_pipeline *pl, const opt_stage *st, opt__stage_cands *sc, size_t *cap);
/* Fills a plan stage from candidate c, with its groups (owner: the stage's candidates as
 * built, whose groups c->mix indexes) and its loading cost. */
void opt__plan_stage_fill(const opt_stage *st, const opt__stage_cands *owner, const opt__cand *c,
                          opt_plan_stage *ret);

/* ---- dynamic programming (dp.c) ---- */

#define OPT__DP_MAX_STAGES OPT_MAX_STAGES

typedef struct opt__state {
        double lat, obj;
        uint64_t mc;
        uint32_t prev; /* index in the previous layer */
        uint32_t cand; /* candidate index of this layer's stage */
} opt__state;

typedef struct opt__layer {
        opt__state *s; /* owned */
        size_t n;
} opt__layer;

/* A complete pipeline choice: (millicores, objective) and its state in the last layer. */
typedef struct opt__point {
        uint64_t mc;
        double obj;
        size_t state;
} opt__point;

/* One pipeline's complete choices meeting its budget, Pareto in (mc min, objective max),
 * sorted by mc ascending (objective strictly ascending), with the layers to backtrack. */
typedef struct opt__frontier {
        opt__layer *layers; /* owned, n_stages */
        size_t n_stages;
        opt__point *pts; /* owned */
        size_t n_pts;
} opt__frontier;

/* ---- the capacity's Lagrangian subproblems (lagrange.c) ---- */

/* One entry of a backward staircase: the stages s.. can reach value `val` (Σ wo·o − ν·M) within
 * latency `lat`; k = candidate of stage s, j = entry of layer s+1 it continues with. */
typedef struct opt__suffix_entry {
        double lat, val;
        uint32_t k, j;
} opt__suffix_entry;

typedef struct opt__suffix_layer {
        opt__suffix_entry *e; /* owned; latency ascending, value strictly ascending */
        size_t n;
} opt__suffix_layer;

/* Pipeline p's staircases: layers[s] for the stages s..n_stages-1, layers[n_stages] = {(0, 0)}.
 * Only entries that the stages before s can still complete within the budget are kept. */
typedef struct opt__suffix {
        opt__suffix_layer *layers; /* owned, n_stages + 1 */
        size_t n_stages;
} opt__suffix;

/* The capacity multiplier ν >= 0 minimising the LP relaxation's dual (0 when the capacity
 * cannot bind). Returns 0 or -ENOMEM. */
int opt__capacity_multiplier(const opt_problem *pr, const opt__cands *c, double *ret_nu);
/* Pipeline p's staircases of the value wo·o − ν·M (wo = 1: the Lagrangian subproblem at ν;
 * wo = 0, ν = 1: least millicores). Returns 0 or -ENOMEM. */
int opt__suffix_build(const opt_problem *pr, const opt__cands *c, size_t p, double wo, double nu,
                      opt__suffix *ret);
void opt__suffix_free(opt__suffix *f);
/* R(lat): the best value of the layer within latency lat, -INFINITY if none. */
double opt__suffix_best(const opt__suffix_layer *ly, double lat);
/* Writes pipeline p's choice of the best entry of layer 0 within latency lat. */
void opt__suffix_choice(const opt__cands *c, size_t p, const opt__suffix *f, double lat,
                        size_t *choice);

/* Bound for pipeline p's partial states (see README): a state (lat, mc, obj) after stage s can
 * reach at most obj − nu·mc + R_{s+1}(B_p − lat) + others, where others = ν·C + the other
 * pipelines' best values U_q. */
typedef struct opt__bound {
        double nu;
        const opt__suffix *suf;
        double others;
        double incumbent; /* -INFINITY: no bound pruning */
} opt__bound;

/* Σ over all stages of their least millicores (UINT64_MAX if a stage has no candidate). */
uint64_t opt__min_mc_all(const opt__cands *c);

/* The frontier of pipeline p (use_obj = 0: (latency, mc) dominance only, for the least-mc
 * diagnosis). mc_cap: the node; mc_others: least millicores the other pipelines need.
 * bd may be NULL. Returns 0, -ENOMEM, -E2BIG (a layer over the state cap). */
int opt__pipeline_frontier(const opt_problem *pr, const opt__cands *c, size_t p, int use_obj,
                           uint64_t mc_cap, uint64_t mc_others, const opt__bound *bd,
                           opt__frontier *ret);
void opt__frontier_free(opt__frontier *f);
/* Sorts points by mc and keeps the (mc min, objective max) Pareto set. */
int opt__points_pareto(opt__point **pts, size_t *n);
/* Writes pipeline p's stage choices of frontier state `state` into choice. */
void opt__frontier_choice(const opt__cands *c, size_t p, const opt__frontier *f, size_t state,
                          size_t *choice);

/* Exact solve over cands by DP: per-pipeline frontiers combined under the capacity. Fills
 * choice[stage index] per (pipeline, stage). Returns 1 feasible, 0 infeasible, -ENOMEM,
 * -E2BIG. */
int opt__solve_exhaustive(const opt_problem *pr, const opt__cands *c, size_t *choice);

/* The least total millicores at which pipeline p meets its budget, or UINT64_MAX when no
 * choice meets it; fills choice for that pipeline's stages. Exact (DP). */
uint64_t opt__pipeline_min_mc(const opt_problem *pr, const opt__cands *c, size_t p, size_t *choice);

/* ---- GLPK (glpk.c) ---- */

/* The GLPK path: LP relaxation of the stage-level IP (simplex) for Lagrange multipliers and
 * a rounded incumbent; per-pipeline frontiers with the Lagrangian bound; the master IP over
 * pipeline configurations under the capacity (branch and bound). stage_ip: solve the
 * stage-level IP itself by branch and bound instead. Same contract as the exhaustive solver,
 * plus -EFAULT on a GLPK fault, -ETIMEDOUT (limit hit, no incumbent), and *ret_optimal = 0
 * when stopped at an incumbent. */
int opt__solve_glpk(const opt_problem *pr, const opt__cands *c, uint32_t time_limit_ms,
                    int stage_ip, size_t *choice, int *ret_optimal);
