/* SPDX-License-Identifier: MIT */
/*
 * oracle — the planning half of bench-trace as a library: bench-oracle (its CLI) and sponge-sim
 * (agent/sim) link it, so both report the same static/vertical/horizontal plans and the same
 * per-second oracle. What it computes is described at the top of bench-oracle.c.
 *
 * Pure computation over the pipeline's profiles (through agent/plan), no I/O except warnings on
 * stderr ("no single variant serves the peak vertically"). The caller owns every input.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipelines/pipeline.h"

typedef struct bench_oracle_input {
        const pl_pipeline *p;
        const double *rate; /* requests/s, one per second of the segment (warm-up excluded) */
        size_t n_rate;
        const double *net; /* network ms per second of the Ghent log; NULL: budget = SLO */
        size_t n_net;
        uint64_t ghent_offset; /* seconds the load replayed before the segment */
        uint64_t start;        /* for the report: the segment's first line */
        double scale;          /* for the report */
        double slo_ms;         /* > 0 */
        double quantile;       /* planning budget quantile (PLAN_BUDGET_QUANTILE) */
        uint32_t node_millicores;
        bool series; /* add "series": [t, rate, budget, least-cores, objective cores] */
} bench_oracle_input;

/* The JSON object bench-oracle prints. Returns 0 and *ret (caller decrefs); -ERANGE when no plan
 * serves the peak (message in err), a model's fit error, -EIO on a solver failure, -ENOMEM. */
int bench_oracle_compute(const bench_oracle_input *in, json_t **ret, char *err, size_t errlen);
