/* SPDX-License-Identifier: MIT */
/*
 * plan-loop — the control loop's settings and rates, and the data plane's service estimate,
 * shared by the agent (agent/control.c, agent/stage.c) and the simulator (agent/sim): the
 * forecast's parameters, the rate a tick plans for, the budget window, the rate-jump check's
 * timing, the batcher's wake-up margin, and the time a request still needs from a stage on.
 * Pure functions, no state.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "optimizer/optimizer.h"

/* IPA predicts the max of the next 20 s from 120 s because its changes take that long; the agent
 * replans every interval and applies in place, and requests wait in a deadline queue, so it
 * plans for the peak of the last few seconds plus one standard deviation of the per-second
 * noise, a few seconds ahead. Robust terms (optimizer.h): a step of the load, which the rate
 * jump check already answers, must not inflate the trend or the noise for the next minute (a
 * least-squares fit over 120 s planned 44 rps for a steady 30 after a step from 4). */
#define PLAN_FORECAST_LOOKBACK_S 30
#define PLAN_FORECAST_HORIZON_S  3
#define PLAN_FORECAST_RECENT_S   3
#define PLAN_FORECAST_K_SIGMA    1.0
/* A backlog is planned to drain over this many seconds. */
#define PLAN_BACKLOG_DRAIN_S 5.0
/* The planning budget looks at the budgets admitted this long ago at most. */
#define PLAN_BUDGET_WINDOW_US (10ull * 1000000ull)
/* The rate-jump check runs this often, and not sooner than this after a tick. */
#define PLAN_JUMP_CHECK_US   (100ull * 1000ull)
#define PLAN_JUMP_MIN_AGE_US (200ull * 1000ull)

/* The batcher's wake-up is set this much before the head's latest start: a timer that fires
 * late on a busy machine (tens of ms were seen with both cores loaded) must not turn a request
 * that waited for batch-mates into a hopeless one. A share of the head's budget, at least
 * PLAN_WAKE_MARGIN_MIN_US. */
#define PLAN_WAKE_MARGIN_MIN_US 2000ull
#define PLAN_WAKE_MARGIN_SHARE  0.10

/* The wake-up margin for a queue head with this budget (µs). */
uint64_t plan_wake_margin_us(uint64_t head_budget_us);

/* The agent's forecast parameters (opt_forecast_init). */
void plan_forecast_params(opt_forecast_params *ret);

/* What a tick plans for: the forecast peak, never below what arrives now, plus what waits
 * drained over PLAN_BACKLOG_DRAIN_S (*ret_planned); and the same without the forecast
 * (*ret_present). */
void plan_rates(double observed_rps, double forecast_rps, uint32_t queued, double *ret_planned,
                double *ret_present);

/* One stage as the data plane sees it: the model of the variant in force and its millicores. */
typedef struct plan_stage_now {
        const opt_latency *model;
        uint32_t millicores;
} plan_stage_now;

/* µs a request still needs if stage `stage` of st[0..n) takes it now in a batch of `batch`: that
 * batch there, and every later stage at batch 1 (the least they can take, so a request is
 * dropped early only when it surely cannot make it). UINT64_MAX / 4 when not finite. */
uint64_t plan_estimate_us(const plan_stage_now *st, size_t n, size_t stage, uint32_t batch);
