/* control.c — observe, fit, forecast, solve, act. See control.h. */
#include "agent/control.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/ebpf.h"
#include "agent/log.h"
#include "agent/manager.h"

#define BUDGET_RING      512
#define BUDGET_WINDOW_US (10 * USEC_PER_SEC)
#define BUDGET_QUANTILE  0.05 /* plan for all but the tightest 5% of recent budgets */
#define SOLVE_TIME_LIMIT 200  /* ms; GLPK keeps its best incumbent past it */
#define JUMP_CHECK_US    (100 * USEC_PER_MSEC)
#define JUMP_MIN_AGE_US  (200 * USEC_PER_MSEC)
#define JUMP_FACTOR      1.5 /* a rate this much above the plan's forces a tick */
/* Online correction of the latency model: the RLS refit (with forgetting) of the observed
 * batches is read at the plan's operating point only, and the profile is scaled by how much
 * slower than profiled it says the variant runs there, within [1, REFIT_SCALE_MAX]. Two facts
 * of real data make a free 4-term refit unusable for planning: (1) under CFS bandwidth control a
 * batch that fits in the period's remaining quota runs at full core speed, so at low load
 * batches finish several times faster than l(b, c) and a refit learns a throughput the quota
 * cannot give under sustained load (the profile, measured saturated, is the bound); (2) with
 * observations clustered at a few (b, c) points the terms drift to large values of opposite
 * sign (gamma 28, delta -15, epsilon -19, eta 117 were seen) that pass the positivity check
 * but predict nonsense away from the data. */
#define RLS_MIN_UPDATES 16
#define REFIT_SCALE_MAX 4.0
/* Variant hysteresis: the variants in force are kept unless switching improves the objective by
 * more than this share of it plus this many points (a switch starts and drains workers). */
#define VARIANT_KEEP_SHARE  0.03
#define VARIANT_KEEP_POINTS 1.0
/* IPA predicts the max of the next 20 s from 120 s because its changes take that long; the agent
 * replans every interval and applies in place, and requests wait in a deadline queue, so it
 * plans for the peak of the last few seconds plus one standard deviation of the per-second
 * noise, a few seconds ahead. Robust terms (optimizer.h): a step of the load, which the rate
 * jump check already answers, must not inflate the trend or the noise for the next minute (a
 * least-squares fit over 120 s planned 44 rps for a steady 30 after a step from 4). */
#define FORECAST_LOOKBACK_S 30
#define FORECAST_HORIZON_S  3
#define FORECAST_RECENT_S   3
#define FORECAST_K_SIGMA    1.0
/* A backlog is planned to drain over this many seconds. */
#define BACKLOG_DRAIN_S 5.0
/* Infeasible problem: the degraded plan serves the largest share of the load that fits (down to
 * DEGRADE_MIN_SHARE, found in DEGRADE_STEPS bisections); the rest is dropped early by the
 * batcher (or served late with "late": "serve"). If even that share misses its budgets, the
 * budgets are loosened by these factors in turn (the first is 1: as given). */
#define DEGRADE_MIN_SHARE 0.05
#define DEGRADE_STEPS     7
static const double DEGRADE_BUDGET[] = {1.0, 1.5, 2.0, 4.0};

typedef struct ControlState {
        opt_forecast forecast;
        double observed_rps, planned_rps, budget_ms;
        double present_rps; /* what arrives now plus the backlog's drain: no forecast headroom */
        double floor_ms;    /* fastest the pipeline can be: budgets below it are not planned for */
        uint64_t budgets_us[BUDGET_RING], budget_at_us[BUDGET_RING];
        uint32_t n_budgets, budget_head;
        pl_plan_entry *pending; /* owned, n_stages: a lower plan waiting out the delay */
        uint64_t pending_since_us;
        bool has_pending;
        /* the last decision */
        bool solved, feasible;
        bool no_headroom;    /* feasible only for the present load, not the forecast's */
        bool acted;          /* the first decision replaces the file's starting plan at once */
        double served_share; /* 1, or the share of the planned load a degraded plan carries */
        char reason[200];
        double objective, cores, predicted_ms;
        uint64_t decided_at_us;
} ControlState;

static double floor_ms(const Pipeline *p);

typedef struct ControlLoop {
        uint64_t next_tick_us, last_tick_us, last_jump_check_us;
        ControlStats stats;
} ControlLoop;

int control_pipeline_init(Pipeline *p)
{
        ControlState *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        c->pending = calloc(p->cfg->n_stages, sizeof(pl_plan_entry));
        opt_forecast_params fp;
        opt_forecast_params_default(&fp);
        fp.lookback_s = FORECAST_LOOKBACK_S;
        fp.horizon_s = FORECAST_HORIZON_S;
        fp.robust = true;
        fp.recent_s = FORECAST_RECENT_S;
        fp.k_sigma = FORECAST_K_SIGMA;
        r = c->pending ? opt_forecast_init(&c->forecast, &fp) : -ENOMEM;
        if (r < 0) {
                free(c->pending);
                free(c);
                return r;
        }
        c->budget_ms = (double)p->cfg->slo_us / 1000.0;
        c->served_share = 1.0;
        p->control = c;
        c->floor_ms = floor_ms(p);
        snprintf(c->reason, sizeof(c->reason), "no decision yet");
        p->control = c;
        return 0;
}

void control_pipeline_done(Pipeline *p)
{
        if (!p->control)
                return;
        opt_forecast_done(&p->control->forecast);
        free(p->control->pending);
        free(p->control);
        p->control = NULL;
}

/* The fastest any plan can serve one request: per stage, the best variant at batch 1 on the
 * most cores allowed. A budget below it cannot be met by planning, so it must not drag the plan
 * (those requests are dropped early instead). */
static double floor_ms(const Pipeline *p)
{
        double sum = 0;

        for (size_t i = 0; i < p->cfg->n_stages; i++) {
                const Stage *s = &p->stages[i];
                double best = INFINITY;
                for (size_t v = 0; v < s->cfg->n_variants; v++)
                        best = fmin(best,
                                    opt_latency_eval_ms(&s->models[v], 1, s->cfg->millicores_max));
                sum += best;
        }
        return sum;
}

void control_observe_budget(Pipeline *p, uint64_t budget_us, uint64_t now)
{
        ControlState *c = p->control;

        if ((double)budget_us / 1000.0 < c->floor_ms)
                return;

        c->budgets_us[c->budget_head] = budget_us;
        c->budget_at_us[c->budget_head] = now;
        c->budget_head = (c->budget_head + 1) % BUDGET_RING;
        if (c->n_budgets < BUDGET_RING)
                c->n_budgets++;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return (x > y) - (x < y);
}

/* The budget to plan for: a low quantile of the budgets admitted in the last window, capped by
 * the pipeline's SLO (requests may only ask for less). */
static double planning_budget_ms(const Pipeline *p, uint64_t now)
{
        const ControlState *c = p->control;
        uint64_t v[BUDGET_RING];
        uint32_t n = 0;

        for (uint32_t i = 0; i < c->n_budgets; i++)
                if (c->budget_at_us[i] + BUDGET_WINDOW_US >= now)
                        v[n++] = c->budgets_us[i];
        if (n == 0)
                return (double)p->cfg->slo_us / 1000.0;
        qsort(v, n, sizeof(uint64_t), cmp_u64);
        return MIN((double)v[(size_t)(BUDGET_QUANTILE * n)], (double)p->cfg->slo_us) / 1000.0;
}

/* The profile of variant v at (b, mc), without its margin. */
static double profile_ms(const Stage *s, size_t v, uint32_t b, uint32_t mc)
{
        opt_latency l = s->profile[v];

        l.fit.margin = 0;
        l.table_margin = 0;
        return opt_latency_eval_ms(&l, b, mc);
}

/* Scales each variant's profile by the refit's slowdown at the plan's batch and millicores. */
static void follow_reality(Stage *s)
{
        uint32_t b = s->plan.batch, mc = s->plan.millicores;

        for (size_t v = 0; v < s->cfg->n_variants; v++) {
                opt_latency fit = {.kind = OPT_LATENCY_MODEL};
                opt_latency *m = &s->models[v];
                double scale;

                if (s->rls[v].n_updates < RLS_MIN_UPDATES)
                        continue;
                opt_rls_model(&s->rls[v], &fit.fit);
                fit.fit.margin = 0;
                scale = opt_latency_eval_ms(&fit, b, mc) / profile_ms(s, v, b, mc);
                if (!isfinite(scale))
                        continue;
                scale = fmin(REFIT_SCALE_MAX, fmax(1.0, scale));
                s->refit_scale[v] = scale;
                *m = s->profile[v];
                m->fit.gamma *= scale;
                m->fit.delta *= scale;
                m->fit.epsilon *= scale;
                m->fit.eta *= scale;
                m->table_margin = (1 + m->table_margin) * scale - 1;
        }
}

/* Observe: arrivals of the last interval → forecast; refits → models; budgets → budget. */
static void observe(Pipeline *p, uint64_t now, double elapsed_s)
{
        ControlState *c = p->control;
        uint32_t queued = 0;

        c->observed_rps = (double)p->m.arrivals_current_second / elapsed_s;
        p->m.arrivals_current_second = 0;
        opt_forecast_push(&c->forecast, c->observed_rps);
        for (size_t i = 0; i < p->cfg->n_stages; i++) {
                Stage *s = &p->stages[i];
                queued += sq_size(&s->queue);
                ebpf_observe_stage(s);
                follow_reality(s);
        }
        c->floor_ms = floor_ms(p);
        c->budget_ms = planning_budget_ms(p, now);
        /* Plan for the forecast peak, never below what arrives now, plus what waits. */
        c->present_rps = c->observed_rps + (double)queued / BACKLOG_DRAIN_S;
        c->planned_rps = fmax(opt_forecast_next(&c->forecast), c->observed_rps) +
                         (double)queued / BACKLOG_DRAIN_S;
}

typedef struct Problem {
        opt_problem pr;
        opt_pipeline *pls;
        opt_stage *stages;
        opt_variant *variants;
        Pipeline **owners;
        const opt_variant **full; /* per stage: its whole variant slice (hold_fastest) */
        size_t *fastest;          /* per stage: the variant hold_fastest keeps */
} Problem;

static void problem_done(Problem *x)
{
        free(x->pls);
        free(x->stages);
        free(x->variants);
        free(x->owners);
        free(x->full);
        free(x->fastest);
}

static opt_policy policy_of(const Pipeline *p)
{
        if (p->pinned)
                return OPT_POLICY_STATIC;
        switch (p->cfg->policy) {
        case PL_POLICY_VERTICAL:
                return OPT_POLICY_VERTICAL;
        case PL_POLICY_HORIZONTAL:
                return OPT_POLICY_HORIZONTAL;
        case PL_POLICY_STATIC:
                return OPT_POLICY_STATIC;
        default:
                return OPT_POLICY_FULL;
        }
}

static void fill_stage(const Stage *s, opt_stage *os, opt_variant *ov, const pl_plan_entry *base)
{
        const pl_stage *c = s->cfg;

        for (size_t v = 0; v < c->n_variants; v++)
                ov[v] = (opt_variant){c->variants[v].name, c->variants[v].accuracy, s->models[v]};
        *os = (opt_stage){
            .name = c->name,
            .variants = ov,
            .n_variants = c->n_variants,
            .max_batch = c->max_batch,
            .min_millicores = c->millicores_min,
            .max_millicores = c->millicores_max,
            .step_millicores = c->millicores_step,
            .min_replicas = c->replicas_min,
            .max_replicas = c->replicas_max,
            .fixed_variant = (uint32_t)base->variant,
            .fixed_batch = base->batch,
            .fixed_millicores = base->millicores,
            .fixed_replicas = base->replicas,
        };
}

/* The pinned/static pipelines keep the plan in force; vertical/horizontal keep their file's
 * plan (or the initial plan) for what they do not decide. */
static int problem_build(Manager *m, Problem *x)
{
        size_t np = 0, ns = 0, nv = 0, is = 0, iv = 0, k = 0;

        for (Pipeline *p = m->pipelines; p; p = p->next, np++)
                for (size_t i = 0; i < p->cfg->n_stages; i++, ns++)
                        nv += p->cfg->stages[i].n_variants;
        *x = (Problem){0};
        if (np == 0)
                return -ENOENT;
        x->pls = calloc(np, sizeof(opt_pipeline));
        x->stages = calloc(ns, sizeof(opt_stage));
        x->variants = calloc(nv, sizeof(opt_variant));
        x->owners = calloc(np, sizeof(Pipeline *));
        x->full = calloc(ns, sizeof(*x->full));
        x->fastest = calloc(ns, sizeof(*x->fastest));
        if (!x->pls || !x->stages || !x->variants || !x->owners || !x->full || !x->fastest)
                return -ENOMEM;
        for (Pipeline *p = m->pipelines; p; p = p->next, k++) {
                _cleanup_free_ pl_plan_entry *init = NULL;
                if (pl_initial_plan(p->cfg, &init) < 0)
                        return -ENOMEM;
                x->owners[k] = p;
                x->pls[k] = (opt_pipeline){
                    .name = p->cfg->name,
                    .stages = &x->stages[is],
                    .n_stages = p->cfg->n_stages,
                    .lambda_rps = p->control->planned_rps,
                    .slo_budget_ms = p->control->budget_ms,
                    .alpha = p->cfg->objective.accuracy,
                    .beta = p->cfg->objective.cores,
                    .delta = p->cfg->objective.batch,
                    .policy = policy_of(p),
                };
                for (size_t i = 0; i < p->cfg->n_stages; i++, is++) {
                        const pl_plan_entry *base = p->pinned ? &p->stages[i].plan : &init[i];
                        fill_stage(&p->stages[i], &x->stages[is], &x->variants[iv], base);
                        iv += p->cfg->stages[i].n_variants;
                }
        }
        x->pr = (opt_problem){x->pls, np, m->usable_millicores};
        return 0;
}

static uint64_t plan_millicores(const pl_plan_entry *e, size_t n)
{
        uint64_t sum = 0;

        for (size_t i = 0; i < n; i++)
                sum += (uint64_t)e[i].millicores * e[i].replicas;
        return sum;
}

/* Act on one pipeline: up at once, down after the stabilisation delay unless `force` (holding
 * the old allocation would overcommit the node while others grow). */
static void act(Manager *m, Pipeline *p, const opt_plan_pipeline *pp, uint64_t now, bool force)
{
        ControlState *c = p->control;
        size_t n = p->cfg->n_stages;
        _cleanup_free_ pl_plan_entry *cur = calloc(n, sizeof(pl_plan_entry));
        _cleanup_free_ pl_plan_entry *next = calloc(n, sizeof(pl_plan_entry));

        if (!cur || !next)
                return;
        for (size_t i = 0; i < n; i++) {
                cur[i] = p->stages[i].plan;
                next[i] = (pl_plan_entry){pp->stages[i].variant, pp->stages[i].batch,
                                          pp->stages[i].millicores, pp->stages[i].replicas};
        }
        if (memcmp(cur, next, n * sizeof(*cur)) == 0) {
                c->has_pending = false;
                c->acted = true;
                return;
        }
        if (!force && c->acted && plan_millicores(next, n) < plan_millicores(cur, n)) {
                if (!c->has_pending) {
                        c->has_pending = true;
                        c->pending_since_us = now;
                }
                memcpy(c->pending, next, n * sizeof(*next));
                if (now - c->pending_since_us < m->config.downscale_delay_us)
                        return;
        }
        c->has_pending = false;
        c->acted = true;
        for (size_t i = 0; i < n; i++)
                stage_set_plan(&p->stages[i], &next[i]);
}

/* The same problem with every stage held to the variant it runs now (variant hysteresis).
 * Returns opt_solve's result; on success the plan's variant indices are the real ones. */
static int solve_sticky(Problem *x, const opt_solve_options *o, opt_plan *ret)
{
        size_t is = 0, ns = 0;
        int r;

        for (size_t k = 0; k < x->pr.n_pipelines; k++)
                ns += x->pls[k].n_stages;
        const opt_variant *saved[ns];
        size_t saved_n[ns];
        uint32_t saved_fixed[ns];
        for (size_t k = 0; k < x->pr.n_pipelines; k++)
                for (size_t i = 0; i < x->pls[k].n_stages; i++, is++) {
                        opt_stage *os = &x->stages[is];
                        size_t cur = x->owners[k]->stages[i].plan.variant;
                        saved[is] = os->variants;
                        saved_n[is] = os->n_variants;
                        saved_fixed[is] = os->fixed_variant;
                        os->variants = &os->variants[cur];
                        os->n_variants = 1;
                        os->fixed_variant = 0;
                }
        r = opt_solve(&x->pr, OPT_SOLVER_GLPK, o, ret);
        is = 0;
        for (size_t k = 0; k < x->pr.n_pipelines; k++)
                for (size_t i = 0; i < x->pls[k].n_stages; i++, is++) {
                        x->stages[is].variants = saved[is];
                        x->stages[is].n_variants = saved_n[is];
                        x->stages[is].fixed_variant = saved_fixed[is];
                        if (r >= 0)
                                ret->pipelines[k].stages[i].variant =
                                    (uint32_t)x->owners[k]->stages[i].plan.variant;
                }
        return r;
}

/* Keeps the variants in force when switching gains too little. */
static void keep_variants(Problem *x, const opt_solve_options *o, opt_plan *plan)
{
        opt_plan sticky;
        double slack = VARIANT_KEEP_SHARE * fabs(plan->objective) + VARIANT_KEEP_POINTS;

        if (solve_sticky(x, o, &sticky) < 0)
                return;
        if (sticky.feasible && sticky.objective >= plan->objective - slack) {
                opt_plan_done(plan);
                *plan = sticky;
                return;
        }
        opt_plan_done(&sticky);
}

static void record(Pipeline *p, const opt_plan *plan, size_t k, uint64_t now)
{
        ControlState *c = p->control;
        const opt_plan_pipeline *pp = &plan->pipelines[k];
        char reason[200];

        c->solved = true;
        c->feasible = plan->feasible;
        c->objective = pp->objective;
        c->cores = pp->cores;
        c->predicted_ms = pp->latency_ms;
        c->decided_at_us = now;
        if (plan->feasible)
                snprintf(reason, sizeof(reason), "feasible%s%s",
                         c->no_headroom ? " for the present load (no room for the forecast's)" : "",
                         plan->optimal ? "" : " (time limit)");
        else if (plan->binding_pipeline == k)
                snprintf(reason, sizeof(reason),
                         "infeasible (%s) at stage %s: degraded plan, %u more millicores needed",
                         opt_infeasible_name(plan->reason),
                         p->cfg->stages[plan->binding_stage].name, plan->extra_millicores);
        else
                snprintf(reason, sizeof(reason), "node infeasible (%s) elsewhere: degraded plan",
                         opt_infeasible_name(plan->reason));
        if (strcmp(reason, c->reason) != 0 && !plan->feasible)
                log_warning("Pipeline %s: %s", p->cfg->name, reason);
        snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

/* The fastest variant of a stage: least latency for one item on the most cores allowed. */
static size_t fastest_variant(const opt_stage *os)
{
        size_t best = 0;

        for (size_t v = 1; v < os->n_variants; v++)
                if (opt_latency_eval_ms(&os->variants[v].model, 1, os->max_millicores) <
                    opt_latency_eval_ms(&os->variants[best].model, 1, os->max_millicores))
                        best = v;
        return best;
}

/* Holds every "full" stage to its fastest variant (hold) or undoes it: the deliberate degraded
 * plan uses the cheapest variants. */
static void hold_fastest(Problem *x, bool hold)
{
        size_t is = 0;

        for (size_t k = 0; k < x->pr.n_pipelines; k++)
                for (size_t i = 0; i < x->pls[k].n_stages; i++, is++) {
                        opt_stage *os = &x->stages[is];
                        if (x->pls[k].policy != OPT_POLICY_FULL)
                                continue;
                        if (hold) {
                                x->fastest[is] = fastest_variant(os);
                                x->full[is] = os->variants;
                                os->variants = &os->variants[x->fastest[is]];
                                os->n_variants = 1;
                        } else {
                                os->variants = x->full[is];
                                os->n_variants = x->owners[k]->cfg->stages[i].n_variants;
                        }
                }
}

/* Maps a plan solved under hold_fastest back to real variant indices. */
static void map_fastest(const Problem *x, opt_plan *plan)
{
        size_t is = 0;

        for (size_t k = 0; k < x->pr.n_pipelines; k++)
                for (size_t i = 0; i < x->pls[k].n_stages; i++, is++)
                        if (x->pls[k].policy == OPT_POLICY_FULL)
                                plan->pipelines[k].stages[i].variant = (uint32_t)x->fastest[is];
}

/* Re-solves an infeasible problem with less load, then with looser budgets, until a plan fits:
 * the deliberate degraded plan. Returns 0 with *plan replaced by a feasible one (the old one
 * freed) and *share = the load fraction planned for; <0 with *plan untouched. */
/* Solves x with every pipeline's load times f and budget times g. Returns 0 with a feasible plan
 * in *ret, -ERANGE if infeasible, or opt_solve's error. */
static int solve_scaled(Problem *x, const opt_solve_options *o, const double *lambda,
                        const double *budget, double f, double g, opt_plan *ret)
{
        int r;

        for (size_t k = 0; k < x->pr.n_pipelines; k++) {
                x->pls[k].lambda_rps = lambda[k] * f;
                x->pls[k].slo_budget_ms = budget[k] * g;
        }
        r = opt_solve(&x->pr, OPT_SOLVER_GLPK, o, ret);
        if (r >= 0 && !ret->feasible) {
                opt_plan_done(ret);
                r = -ERANGE;
        }
        return r;
}

/* Keeps tmp in *plan if it is feasible (freeing the previous one). */
static bool take_plan(int r, opt_plan *tmp, opt_plan *plan)
{
        if (r < 0)
                return false;
        opt_plan_done(plan);
        *plan = *tmp;
        return true;
}

/* The deliberate degraded plan of an infeasible problem: the fastest variants, and the largest
 * share of the load (bisected to DEGRADE_STEPS) that fits the node within the budgets; if not
 * even DEGRADE_MIN_SHARE of it fits, looser budgets. Returns 0 with *plan replaced by a feasible
 * one (the old one freed) and *share set; <0 with *plan untouched. */
static int degrade(Problem *x, const opt_solve_options *o, opt_plan *plan, double *share)
{
        size_t n = x->pr.n_pipelines;
        double lambda[n], budget[n], alpha[n], lo = DEGRADE_MIN_SHARE, hi = 1.0;
        opt_plan tmp;
        int r = -ERANGE;

        for (size_t k = 0; k < n; k++) {
                lambda[k] = x->pls[k].lambda_rps;
                budget[k] = x->pls[k].slo_budget_ms;
                alpha[k] = x->pls[k].alpha;
                x->pls[k].alpha = 0; /* serve as much as possible; accuracy second */
        }
        hold_fastest(x, true);
        for (size_t i = 0; i < ELEMENTSOF(DEGRADE_BUDGET) && r == -ERANGE; i++) {
                r = solve_scaled(x, o, lambda, budget, lo, DEGRADE_BUDGET[i], &tmp);
                if (take_plan(r, &tmp, plan))
                        *share = lo;
                if (r >= 0 && i == 0) /* the budgets hold: look for the largest share */
                        for (int step = 0; step < DEGRADE_STEPS; step++) {
                                double f = (lo + hi) / 2;
                                int k = solve_scaled(x, o, lambda, budget, f, 1.0, &tmp);
                                if (k != -ERANGE && k < 0)
                                        break;
                                if (take_plan(k, &tmp, plan))
                                        *share = lo = f;
                                else
                                        hi = f;
                        }
        }
        for (size_t k = 0; k < n; k++) {
                x->pls[k].lambda_rps = lambda[k];
                x->pls[k].slo_budget_ms = budget[k];
                x->pls[k].alpha = alpha[k];
        }
        hold_fastest(x, false);
        if (r >= 0)
                map_fastest(x, plan);
        return r;
}

/* The node cannot hold every pipeline's forecast: the headroom goes first. Solves again for the
 * load that is here now (arrivals of the last interval plus the backlog's drain, never above the
 * forecast). Returns 0 with *plan replaced by a feasible one, -ERANGE if that does not fit
 * either (the degraded plan is next), or opt_solve's error; *plan untouched on failure. */
static int solve_present(Problem *x, const opt_solve_options *o, opt_plan *plan)
{
        size_t n = x->pr.n_pipelines;
        double lambda[n], present[n], budget[n];
        opt_plan tmp;
        int r;

        for (size_t k = 0; k < n; k++) {
                const ControlState *c = x->owners[k]->control;
                lambda[k] = x->pls[k].lambda_rps;
                budget[k] = x->pls[k].slo_budget_ms;
                present[k] = fmin(c->present_rps, c->planned_rps);
        }
        r = solve_scaled(x, o, present, budget, 1.0, 1.0, &tmp);
        if (r >= 0)
                keep_variants(x, o, &tmp); /* at the present load, still set in x */
        for (size_t k = 0; k < n; k++)
                x->pls[k].lambda_rps = lambda[k];
        return take_plan(r, &tmp, plan) ? 0 : r;
}

/* Whether delaying every downscale of the new plan (keeping those pipelines' current, larger
 * allocation) while applying every upscale would allocate more than the node may use. The
 * solver's plan fits; a mix of new and old ones need not. */
static bool hold_would_overcommit(const Manager *m, const Problem *x, const opt_plan *plan)
{
        uint64_t sum = 0;

        for (size_t k = 0; k < x->pr.n_pipelines; k++) {
                const Pipeline *p = x->owners[k];
                uint64_t cur = 0, next = 0;
                for (size_t i = 0; i < p->cfg->n_stages; i++) {
                        const opt_plan_stage *ps = &plan->pipelines[k].stages[i];
                        cur += (uint64_t)p->stages[i].plan.millicores * p->stages[i].plan.replicas;
                        next += (uint64_t)ps->millicores * ps->replicas;
                }
                sum += x->pls[k].policy == OPT_POLICY_STATIC ? cur : MAX(cur, next);
        }
        return sum > m->usable_millicores;
}

int control_tick(Manager *m, uint64_t now)
{
        ControlLoop *cl = m->control;
        double elapsed = cl->last_tick_us ? (double)(now - cl->last_tick_us) / 1e6 : 1.0;
        uint64_t t0 = now_us(), t1, t2;
        opt_solve_options o = {.time_limit_ms = SOLVE_TIME_LIMIT};
        opt_plan plan;
        Problem x;
        double share = 1.0;
        bool recorded = false, force;
        int r;

        cl->last_tick_us = now;
        for (Pipeline *p = m->pipelines; p; p = p->next)
                observe(p, now, fmax(elapsed, 0.05));
        {
                bool was = m->contended;
                m->usable_millicores = ebpf_usable_millicores(m, &m->contended);
                if (m->contended != was)
                        log_warning("Node %s: planning with %u of %u millicores",
                                    m->contended ? "contended (workers wait for CPU although "
                                                   "not throttled)"
                                                 : "no longer contended",
                                    m->usable_millicores, m->capacity_millicores);
        }
        r = problem_build(m, &x);
        t1 = now_us();
        if (r >= 0)
                r = opt_solve(&x.pr, OPT_SOLVER_GLPK, &o, &plan);
        if (r >= 0 && plan.feasible)
                keep_variants(&x, &o, &plan);
        for (size_t k = 0; k < x.pr.n_pipelines; k++)
                x.owners[k]->control->no_headroom = false;
        if (r >= 0 && !plan.feasible) {
                /* Never apply the optimizer's best-effort stages as they are: they ignore the
                 * node's capacity. Plan for the present load; failing that, record why and plan
                 * for as much of the load as fits. */
                int k = solve_present(&x, &o, &plan);
                if (k == 0) {
                        for (size_t i = 0; i < x.pr.n_pipelines; i++)
                                x.owners[i]->control->no_headroom = true;
                } else {
                        for (size_t i = 0; i < x.pr.n_pipelines; i++)
                                record(x.owners[i], &plan, i, now);
                        recorded = true;
                        r = degrade(&x, &o, &plan, &share);
                        if (r < 0)
                                opt_plan_done(&plan);
                }
        }
        t2 = now_us();
        m->m.solves += r != -ENOENT;
        if (r != -ENOENT)
                histogram_observe(&m->m.solve_duration, t2 - t1);
        if (r < 0) {
                if (r != -ENOENT) {
                        m->m.solve_failures++;
                        if (r == -ERANGE)
                                log_warning("Control: no plan fits even at 5%% of the load and "
                                            "4x the budget; keeping the plan in force");
                        else
                                log_warning_errno(r, "Control: solve failed (%m); keeping the "
                                                     "plan in force");
                }
                problem_done(&x);
                return r == -ENOENT ? 0 : r;
        }
        force = hold_would_overcommit(m, &x, &plan);
        for (size_t k = 0; k < x.pr.n_pipelines; k++) {
                x.owners[k]->control->served_share = share;
                if (!recorded)
                        record(x.owners[k], &plan, k, now);
                if (x.pls[k].policy != OPT_POLICY_STATIC)
                        act(m, x.owners[k], &plan.pipelines[k], now, force);
        }
        opt_plan_done(&plan);
        problem_done(&x);
        cl->stats.iterations++;
        cl->stats.last_observe_us = t1 - t0;
        cl->stats.last_solve_us = t2 - t1;
        cl->stats.last_act_us = now_us() - t2;
        cl->stats.last_total_us = now_us() - t0;
        return 0;
}

/* A rate well above the plan's forces a tick before the interval ends. */
static bool rate_jumped(Manager *m, uint64_t now)
{
        ControlLoop *cl = m->control;
        double age;

        if (now - cl->last_jump_check_us < JUMP_CHECK_US)
                return false;
        /* Advance the check time even when the tick is too recent: the loop sleeps until
         * last_jump_check_us + JUMP_CHECK_US, which must lie in the future. */
        cl->last_jump_check_us = now;
        if (now - cl->last_tick_us < JUMP_MIN_AGE_US)
                return false;
        age = (double)(now - cl->last_tick_us) / 1e6;
        for (Pipeline *p = m->pipelines; p; p = p->next)
                if ((double)p->m.arrivals_current_second / age >
                    JUMP_FACTOR * p->control->planned_rps + 5.0)
                        return true;
        return false;
}

uint64_t control_run_due(Manager *m, uint64_t now)
{
        ControlLoop *cl = m->control;

        if (now == 0)
                return MIN(cl->next_tick_us, cl->last_jump_check_us + JUMP_CHECK_US);
        if (now >= cl->next_tick_us || rate_jumped(m, now)) {
                control_tick(m, now);
                cl->next_tick_us = now + m->config.interval_us;
        }
        return cl->next_tick_us;
}

int control_new(Manager *m)
{
        m->control = calloc(1, sizeof(ControlLoop));
        return m->control ? 0 : -ENOMEM;
}

void control_replan_soon(Manager *m)
{
        if (m->control)
                m->control->next_tick_us = 0;
}

const ControlStats *control_stats(const Manager *m)
{
        static const ControlStats none;

        return m->control ? &m->control->stats : &none;
}

/* A JSON number, or null for what is not finite (an infeasible plan's latency is +inf). */
json_t *json_finite(double x)
{
        return isfinite(x) ? json_real(x) : json_null();
}

json_t *control_pipeline_json(const Pipeline *p)
{
        const ControlState *c = p->control;

        return json_pack("{s:o, s:o, s:o, s:b, s:b, s:s, s:o, s:o, s:o, s:b, s:o}", "observed_rps",
                         json_finite(c->observed_rps), "planned_rps", json_finite(c->planned_rps),
                         "budget_ms", json_finite(c->budget_ms), "solved", c->solved, "feasible",
                         c->feasible, "reason", c->reason, "objective", json_finite(c->objective),
                         "cores", json_finite(c->cores), "predicted_latency_ms",
                         json_finite(c->predicted_ms), "downscale_pending", c->has_pending,
                         "served_share", json_finite(c->served_share));
}

void control_pipeline_rates(const Pipeline *p, double *ret_observed_rps, double *ret_planned_rps)
{
        *ret_observed_rps = p->control ? p->control->observed_rps : 0.0;
        *ret_planned_rps = p->control ? p->control->planned_rps : 0.0;
}
