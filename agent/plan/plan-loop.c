/* SPDX-License-Identifier: MIT */
/* plan-loop.c — the control loop's settings and rates, the service estimate (plan-loop.h). */
#include "agent/plan/plan-loop.h"

#include <assert.h>
#include <math.h>

uint64_t plan_wake_margin_us(uint64_t head_budget_us)
{
        uint64_t m = (uint64_t)(PLAN_WAKE_MARGIN_SHARE * (double)head_budget_us);

        return m > PLAN_WAKE_MARGIN_MIN_US ? m : PLAN_WAKE_MARGIN_MIN_US;
}

void plan_forecast_params(opt_forecast_params *ret)
{
        assert(ret);
        opt_forecast_params_default(ret);
        ret->lookback_s = PLAN_FORECAST_LOOKBACK_S;
        ret->horizon_s = PLAN_FORECAST_HORIZON_S;
        ret->robust = true;
        ret->recent_s = PLAN_FORECAST_RECENT_S;
        ret->k_sigma = PLAN_FORECAST_K_SIGMA;
}

void plan_rates(double observed_rps, double forecast_rps, uint32_t queued, double *ret_planned,
                double *ret_present)
{
        double backlog = (double)queued / PLAN_BACKLOG_DRAIN_S;

        *ret_present = observed_rps + backlog;
        *ret_planned = fmax(forecast_rps, observed_rps) + backlog;
}

uint64_t plan_estimate_us(const plan_stage_now *st, size_t n, size_t stage, uint32_t batch)
{
        double ms;

        assert(st && stage < n);
        ms = opt_latency_eval_ms(st[stage].model, batch, st[stage].millicores);
        for (size_t j = stage + 1; j < n; j++)
                ms += opt_latency_eval_ms(st[j].model, 1, st[j].millicores);
        if (!isfinite(ms) || ms < 0)
                return UINT64_MAX / 4;
        return (uint64_t)(ms * 1000.0);
}
