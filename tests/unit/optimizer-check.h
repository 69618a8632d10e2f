/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for the optimizer, written apart from the library so they check it rather
 * than repeat it: a random instance generator, an independent plan checker (own latency
 * formula, own rules per policy), and a brute-force enumerator for tiny instances.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "optimizer/optimizer.h"

#define OPTT_MAX_P 3
#define OPTT_MAX_S 5
#define OPTT_MAX_V 5
#define OPTT_MAX_B 4

typedef struct optt_instance {
        opt_problem pr;
        opt_pipeline pl[OPTT_MAX_P];
        opt_stage st[OPTT_MAX_P][OPTT_MAX_S];
        opt_variant var[OPTT_MAX_P][OPTT_MAX_S][OPTT_MAX_V];
        uint32_t batches[OPTT_MAX_P][OPTT_MAX_S][OPTT_MAX_B];
        uint32_t cur[OPTT_MAX_P][OPTT_MAX_S][OPTT_MAX_V]; /* plan in force (optt_mixify) */
} optt_instance;

/* A random small instance from *seed (xorshift state, advanced): 1–3 pipelines of 1–5
 * stages (at most 8 stages in all), 1–5 variants, mostly policy full, some vertical,
 * horizontal and static; budgets and capacity drawn around what is needed so that both
 * feasible and infeasible instances occur. */
void optt_random_instance(uint64_t *seed, optt_instance *ret);

/* Checks every constraint of plan against pr with its own arithmetic: configuration allowed
 * by the policy, replicas the least carrying λ, per-stage latency/throughput/cores/objective
 * as reported, Σ latency <= budget per pipeline, Σ millicores <= node, totals. For an
 * infeasible plan only the structure and the reported figures are checked. Returns 0 or -1
 * with the reason in err. */
int optt_plan_check(const opt_problem *pr, const opt_plan *plan, char *err, size_t errlen);

/* Best objective by plain enumeration of all candidate combinations (own candidate
 * generation). Returns 1 (feasible, *ret_obj set), 0 (infeasible), or -E2BIG when there are
 * more than `limit` combinations. */
int optt_brute_force(const opt_problem *pr, uint64_t limit, double *ret_obj);

/* Turns mixes on for the instance's full pipelines, with random start-up costs, a random
 * plan in force (or none) per stage and a loading weight (zero in half the pipelines). */
void optt_mixify(uint64_t *seed, optt_instance *in);

/* Uniform double in [lo, hi) from *seed. */
double optt_uniform(uint64_t *seed, double lo, double hi);
