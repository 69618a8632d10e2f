/* SPDX-License-Identifier: MIT */
/*
 * profile.h — measure one variant's batch latency in a real cgroup and fit Sponge's model
 * (static library sponge_profile, prefix prof_; the tool is sponge-profile, main.c).
 *
 * What it does
 *   prof_run() starts the variant's worker (its argv from the pipeline file) inside a fresh
 *   cgroup, exactly as the agent does: placed in the group before exec, socketpair +
 *   SPONGE_SOCKET_FD, READY awaited, SET_THREADS = ceil(millicores / 1000) after every resize
 *   (the agent's rule). For every point of the grid batches × millicores it writes the limit,
 *   sends warm-up batches, then measures batches until it has at least min_reps of them and
 *   point_time_us has passed (at most max_reps), and records p50 / p99 / mean latency (wall
 *   time from the first byte sent to the whole RESULT received) and the CPU time the cgroup
 *   used per batch. prof_fit() fits l(b,c) = γ·b/c + δ·b + ε/c + η (c in cores) to the
 *   per-point p50s with the plan library's rule (plan_fit, the one the agent uses for points), sets
 *   the margin to the typical tail (median over the points of p99 / model − 1, ≥ 0), and
 *   computes R² of the p50s.
 *
 * Invariants
 *   - Every item of every batch is answered with status ok, or the run fails (a profile of
 *     error replies would be meaningless).
 *   - The worker and its cgroup are gone when prof_run() returns, whatever happened.
 *   - p99 is the nearest-rank 99th percentile of the batches measured at a point: with fewer
 *     than 100 batches it is their maximum.
 *
 * Threads: one run at a time per cg_ctx (the cgroups module's rule); no global state.
 *
 * Lifecycle
 *   cg_open(NULL, &cg);  prof_run(cg, &opts, &res, err, sizeof err);
 *   prof_fit(&res, &fit, err, sizeof err);  prof_profile_json(&fit) → {"model": {...}}
 *   prof_result_done(&res);
 */
#ifndef SPONGE_AGENT_PROFILER_PROFILE_H
#define SPONGE_AGENT_PROFILER_PROFILE_H

#include "cgroups/cgroups.h"
#include "optimizer/optimizer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROF_MIN_REPS_DEFAULT   5u
#define PROF_MAX_REPS_DEFAULT   100u
#define PROF_POINT_TIME_DEFAULT 1000000u /* µs per grid point at least */
#define PROF_WARMUP_DEFAULT     1u
#define PROF_ITEM_BYTES_DEFAULT 64u
#define PROF_TIMEOUT_MS_DEFAULT 300000 /* per batch, and for READY */

typedef struct prof_point {
        uint32_t batch;
        uint32_t millicores;
        uint32_t threads;
        unsigned n; /* batches measured */
        double p50_ms;
        double p99_ms;
        double mean_ms;
        double min_ms;
        double cpu_ms; /* cgroup CPU time per measured batch (usage counter) */
} prof_point;

typedef struct prof_options {
        char *const *argv;       /* the variant's command (argv[0] a path or a $PATH name) */
        char *const *env;        /* extra "KEY=VALUE" for the worker, NULL-terminated; or NULL */
        const uint32_t *batches; /* grid */
        size_t n_batches;
        const uint32_t *millicores;
        size_t n_millicores;
        unsigned min_reps;        /* 0 = default */
        unsigned max_reps;        /* 0 = default */
        uint64_t point_time_us;   /* 0 = default; max_reps caps it */
        unsigned warmup;          /* batches per point not measured; default 1 */
        size_t item_bytes;        /* bytes per item, 0 = default */
        const uint8_t *item_data; /* item_bytes of fixed content, or NULL for seeded random */
        const char *group;        /* cgroup relpath below the cgroups root; NULL = profile-<pid> */
        int timeout_ms;           /* 0 = default */
        /* Called after each point (progress output), may be NULL. */
        void (*progress)(const prof_point *p, void *userdata);
        void *userdata;
} prof_options;

typedef struct prof_result {
        prof_point *points; /* n_batches × n_millicores, millicores-major; owned */
        size_t n;
        double startup_ms; /* spawn → READY, at the largest grid millicores */
        char name[64];     /* the worker's READY name */
} prof_result;

typedef struct prof_fit {
        opt_model model;   /* margin: median over the points of p99 / model − 1 */
        bool nonneg;       /* opt_fit_nonneg was used */
        double r2;         /* coefficient of determination of the p50s (model without margin) */
        double mean_rel;   /* mean |pred − p50| / p50 */
        double max_rel;    /* max of the same */
        double worst_tail; /* max over the points of p99 / model − 1 (CFS stalls show here) */
} prof_fit;

/*
 * Runs the grid. Returns 0 and *ret (free with prof_result_done), or a negative errno with a
 * one-line reason in err: -EINVAL (bad options), cgroup errors, -ENOENT (program not found),
 * -EPROTO (no READY / a bad reply / an item error), -ETIMEDOUT, -ECONNRESET (worker died).
 */
int prof_run(cg_ctx *cg, const prof_options *o, prof_result *ret, char *err, size_t errlen);
void prof_result_done(prof_result *r);

/*
 * Gives the cgroups root the highest CPU weight (v1 cpu.shares = 262144, v2 cpu.weight =
 * 10000) so that other processes on the machine, which sit in other cgroups with the default
 * weight, cannot take the CPU time the quota grants: the quota (the ceiling being profiled)
 * stays the only limit. The old value is written to saved (NUL-terminated) for
 * prof_restore_weight(). It changes the weight of the WHOLE root: use a dedicated root (e.g.
 * cg_options.root = <cpu mount>/sponge-profile), not the one a running agent uses.
 * Returns 0, -ENODEV (mode none), or -errno of the file access.
 */
int prof_boost_weight(cg_ctx *cg, char *saved, size_t saved_size);
/* Writes back what prof_boost_weight() saved. Returns 0 or -errno. */
int prof_restore_weight(cg_ctx *cg, const char *saved);

/* Fits the model to the result's p50s (see above). Returns 0, or opt_fit's error. */
int prof_fit_result(const prof_result *r, prof_fit *ret, char *err, size_t errlen);

/* Model latency without margin, ms. */
double prof_predict_ms(const opt_model *m, uint32_t batch, uint32_t millicores);

/* {"model": {"gamma":..,"delta":..,"epsilon":..,"eta":..,"margin":..}} — the pipeline file's
 * profile block (values rounded to 6 significant digits). NULL on allocation failure. */
json_t *prof_profile_json(const prof_fit *fit);

/* The full report: the profile block plus startup_ms, r2, and every point. NULL on failure. */
json_t *prof_report_json(const prof_result *r, const prof_fit *fit);

#endif /* SPONGE_AGENT_PROFILER_PROFILE_H */
