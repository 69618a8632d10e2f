/* SPDX-License-Identifier: MIT */
/*
 * sim — a discrete-event simulation of one pipeline on a node of N millicores, driven by the
 * agent's own decision code: the plan library (agent/plan: translation, plan_decide, the downscale
 * hold, overcommit, budget quantile, rate-jump check, forecast settings, service estimate), the
 * optimizer (GLPK, forecast) and the queueing module (EDF queue, early drop, shedding, batcher).
 * What is simulated instead of run: arrivals (given by the caller), workers (a batch of b on c
 * millicores takes the profile's l(b, c) without its margin, times 1 + a relative error drawn
 * from the profile's residuals, or from a normal whose p99 is the profile's margin), replica
 * start-up (the variant's startup_ms) and the clock.
 *
 * Invariants: every request is answered exactly once (200, 504 dropped early, 429 queue full);
 * requests = ok + dropped; core-seconds are the integral of the millicores of the replicas that
 * exist (starting, ready or draining), as the agent counts them; used core-seconds are the
 * batches' processing time × their millicores. Deterministic for a given seed.
 * Ownership: the caller owns every input; sim_run allocates and frees everything it uses.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipelines/pipeline.h"

typedef enum sim_policy {
        SIM_STATIC = 0, /* the given plan, never changed */
        SIM_REACTIVE,   /* the given plan; every 5 s cores = 1.3 x usage, applied by restart */
        SIM_HORIZONTAL, /* "policy": "horizontal" from the given plan */
        SIM_VERTICAL,   /* "policy": "vertical" from the given plan */
        SIM_FULL,       /* "policy": "full" (the given plan, or the initial one, to start) */
} sim_policy;

/* "static", "reactive", "horizontal", "vertical", "full"; -EINVAL otherwise. */
int sim_policy_from_name(const char *s, sim_policy *ret);
const char *sim_policy_name(sim_policy p);

/* The next arrival in µs from the start of the run: 0, or -ENOENT after the last. */
typedef int (*sim_arrival_fn)(void *ud, uint64_t *ret_us);

typedef struct sim_config {
        const pl_pipeline *cfg; /* borrowed; its policy/plan/resize are replaced per `policy` */
        sim_policy policy;
        const pl_plan_entry *plan; /* n_stages, the plan to start from; NULL = the file's or the
                                      initial plan (required for static/reactive/horizontal/
                                      vertical) */
        uint32_t node_millicores;
        sim_arrival_fn next_arrival;
        void *arrival_ud;
        const double *net_ms; /* per second of the run (mod n_net): budget = slo - net; NULL:
                                 budget = slo */
        size_t n_net;
        double slo_ms;
        uint64_t count_from_us, count_to_us; /* requests sent in [from, to) are counted */
        uint64_t seed;
        double noise;                /* scale of the drawn error (1 = the profile's; 0 = none) */
        uint64_t interval_us;        /* control interval (the agent's default 1 s) */
        uint64_t downscale_delay_us; /* 5 s */
        uint64_t max_wait_us;        /* batcher's cap on waiting (1 s) */
        uint32_t solve_time_limit_ms;
        /* Ablation (tests/bench/README.md, "where the core-seconds go"): plan for the rate that
         * arrives now plus the backlog, without the forecast's headroom. */
        bool no_headroom;
} sim_config;

/* Fills the agent's defaults (interval, delays, noise 1, seed 1, solve limit 200 ms). */
void sim_config_defaults(sim_config *c);

typedef struct sim_result {
        uint64_t requests;                     /* sent in the counted window */
        uint64_t ok;                           /* answered 200 */
        uint64_t within;                       /* 200 within the request's budget */
        uint64_t dropped;                      /* requests - ok */
        uint64_t status504;                    /* dropped early (admission, hopeless, shed) */
        uint64_t status429;                    /* queue full */
        double attainment_pct, p50_ms, p99_ms; /* p50/p99 of the 200s; -1 when none */
        double core_seconds, core_seconds_used;
        double mean_accuracy; /* mean over 200s of the stages' variants' mean; -1 when none */
        uint64_t plan_changes, solves, degraded_solves, events;
        /* the plan in force at the end, and the rate and budget its decision planned for */
        pl_plan_entry plan[PL_MAX_STAGES];
        double plan_lambda_rps, plan_budget_ms;
        double sim_s; /* simulated seconds */
} sim_result;

/* Runs the simulation. Returns 0 and *ret; -EINVAL for a bad configuration (message in err),
 * -ENOMEM, or the plan library's error (message in err). */
int sim_run(const sim_config *c, sim_result *ret, char *err, size_t errlen);
