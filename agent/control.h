/* control.h — the control loop: observe, fit, forecast, solve, act in place.
 *
 * Every interval (node config interval_ms) and at once when a pipeline's arrival rate jumps,
 * the loop: counts each pipeline's arrivals of the last second into its forecaster (recent peak
 * plus a robust trend and noise term); scales each variant's profile by the slowdown the online
 * (RLS) refit of the batches' CPU time shows at the plan in force (never below 1: under CFS
 * bandwidth a lightly loaded worker runs faster than its quota could sustain); finds the
 * tightest budget admitted recently; solves one integer program for all pipelines that are not
 * pinned (GLPK, node capacity shared); and applies the result: millicores first (a cgroup write),
 * then batch, replicas, variants. A lower plan is applied only after it has held for
 * downscale_delay_ms (no flapping) unless holding it would overcommit the node; a higher one at
 * once. A failed or timed-out solve leaves the plan in force. When the node cannot hold every
 * pipeline's forecast, the headroom goes first (a plan for the present load: last interval's
 * arrivals plus the backlog's drain); if that does not fit either, a deliberate degraded plan
 * (fastest variants, the largest share of the load that fits, then looser budgets) and a status
 * naming the binding stage.
 *
 * The solve runs on the planner's thread (agent/plan/planner.h): each tick observes and posts
 * a self-contained problem; the decision comes back through an eventfd (EVENT_CONTROL) and is
 * applied to the pipelines still there (one replaced or deleted meanwhile is skipped). The
 * decision rules themselves are in agent/plan/plan.h.
 *
 * Owned by the loop thread. Per pipeline state lives in Pipeline.control.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/forward.h"

/* The loop's own state (Manager.control), created before the first pipeline. -ENOMEM. */
int control_new(Manager *m);

int control_pipeline_init(Pipeline *p);
void control_pipeline_done(Pipeline *p);

/* Records one admitted request's own budget (for the tightest-budget input). */
void control_observe_budget(Pipeline *p, uint64_t budget_us, uint64_t now);

/* Runs one iteration when due (or when forced by a rate jump); returns the next due time. */
uint64_t control_run_due(Manager *m, uint64_t now);

/* Makes the next loop iteration run a control tick (a pipeline was added or replaced). */
void control_replan_soon(Manager *m);

/* One iteration over every pipeline, now, solved on the calling thread. Returns 0, or -errno if
 * the solve failed (the plan in force is kept). */
int control_tick(Manager *m, uint64_t now);

/* One iteration with the solve on the planner's thread: observes and posts (a problem still
 * waiting is replaced). Solves inline when the thread could not start. Returns 0 or -ENOMEM. */
int control_post(Manager *m, uint64_t now);

/* The planner's eventfd is readable: applies the decision. Returns 1 if one was applied, 0 if
 * none was ready. */
int control_on_event(Manager *m);

/* The planner's eventfd (readable: call control_on_event), -1 when solving inline. */
int control_fd(const Manager *m);

/* Stops the planner's thread and frees the loop's state (NULL state ok). */
void control_free(Manager *m);

/* A JSON number, or null when x is not finite (jansson refuses NaN and infinities). */
json_t *json_finite(double x);

/* The last decision for GET /v1/pipelines/{p}: inputs, result, timings. New reference. */
json_t *control_pipeline_json(const Pipeline *p);

/* Arrivals per second of the last interval and the rate the last plan was made for (forecast
 * peak plus backlog drain); 0 before the first iteration. */
void control_pipeline_rates(const Pipeline *p, double *ret_observed_rps, double *ret_planned_rps);

/* Timings of the last iterations (for the bench and /metrics). */
typedef struct ControlStats {
        uint64_t iterations;
        uint64_t last_observe_us, last_solve_us, last_act_us, last_total_us;
        uint64_t last_post_us; /* observe + build + post, on the loop thread */
        uint64_t last_loop_us; /* what the loop thread spent: total minus an off-thread solve */
        bool solving;          /* a posted problem is waiting or being solved */
} ControlStats;
const ControlStats *control_stats(const Manager *m);
