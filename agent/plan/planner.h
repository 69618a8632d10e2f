/* SPDX-License-Identifier: MIT */
/*
 * planner — plan_decide on a thread of its own, so a long solve never holds the event loop.
 *
 * The loop posts a plan_problem (planner_post takes it); the solver thread decides it and wakes
 * the loop through an eventfd (planner_fd, readable when a decision is ready); the loop takes it
 * (planner_take). A problem posted while another waits replaces it (the older is freed unsolved);
 * the one being solved finishes and is delivered, then the newest waiting one is solved. A
 * decision not taken before the next one is ready is replaced by it. GLPK keeps its environment
 * per thread (optimizer.h), so the solver thread has its own and the loop never touches GLPK.
 *
 * Invariants: the loop thread owns the planner; the solver thread touches only the job and the
 * result slots (under the mutex) and its own problem while solving. The solver thread runs
 * PLANNER_NICE below the loop (Linux nice is per thread).
 */
#pragma once

#include <stdint.h>

#include "agent/plan/plan.h"

typedef struct planner planner;

/* What the solver thread delivers. Free with planner_result_done. */
typedef struct planner_result {
        uint64_t seq; /* planner_post's */
        int r;        /* plan_decide's */
        plan_problem x;
        plan_decision d;
        uint64_t solve_us; /* CLOCK_MONOTONIC wall time of plan_decide */
} planner_result;

/* Starts the solver thread. Returns 0, -ENOMEM, or the errno of eventfd/pthread_create. */
int planner_new(uint32_t time_limit_ms, planner **ret);
/* Stops the thread and frees what is left. A solve in progress is not waited for: the thread
 * finishes it, drops its result and frees the planner itself. NULL ok. */
planner *planner_free(planner *p);
/* The eventfd (O_CLOEXEC, non-blocking): readable when planner_take has a result. */
int planner_fd(const planner *p);
/* Hands x to the solver thread (x is zeroed: the planner owns it now). Returns the job's seq. */
uint64_t planner_post(planner *p, plan_problem *x);
/* Takes the newest decision: 1 with *ret filled (caller frees), 0 when none is ready. Clears
 * the eventfd. */
int planner_take(planner *p, planner_result *ret);
void planner_result_done(planner_result *res);
/* Whether a job is waiting or being solved. */
bool planner_busy(planner *p);
