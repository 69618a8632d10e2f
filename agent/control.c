/* control.c — observe, fit, forecast, solve, act. See control.h. The problem and every decision
 * that touches no process live in agent/plan/ (plan.h); the solve runs on the planner's thread
 * (planner.h). */
#include "agent/control.h"

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent/ebpf.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/plan/plan-loop.h"
#include "agent/plan/plan.h"
#include "agent/plan/planner.h"
#include "agent/stage.h"

#define BUDGET_RING      512
#define BUDGET_WINDOW_US PLAN_BUDGET_WINDOW_US
#define SOLVE_TIME_LIMIT 200 /* ms; GLPK keeps its best incumbent past it */
#define JUMP_CHECK_US    PLAN_JUMP_CHECK_US
#define JUMP_MIN_AGE_US  PLAN_JUMP_MIN_AGE_US
/* A pipeline just added waits this long for its first decision before its workers start from
 * the file's plan (the decision then follows in place): its first plan usually arrives before
 * the first spawn, as when the loop solved inline, and a slow solve holds the loop no longer. */
#define FIRST_PLAN_WAIT_MS 20
/* The forecast's parameters, the backlog's drain and the planned rate: plan-loop.h (shared with
 * the simulator, agent/sim). */

typedef struct ControlState {
        uint64_t id; /* names the pipeline in a problem on the planner's thread */
        opt_forecast forecast;
        double observed_rps, planned_rps, budget_ms;
        double present_rps; /* what arrives now plus the backlog's drain: no forecast headroom */
        double floor_ms;    /* fastest the pipeline can be: budgets below it are not planned for */
        uint64_t budgets_us[BUDGET_RING], budget_at_us[BUDGET_RING];
        uint32_t n_budgets, budget_head;
        plan_hold hold;
        /* the last decision */
        bool solved, feasible;
        double served_share; /* 1, or the share of the planned load a degraded plan carries */
        char reason[200];
        double objective, cores, predicted_ms;
        uint64_t decided_at_us;
} ControlState;

typedef struct ControlLoop {
        EventSource ev;   /* EVENT_CONTROL: the planner's eventfd */
        planner *planner; /* owned; NULL: solve inline (the thread could not start) */
        uint64_t next_tick_us, last_tick_us, last_jump_check_us, next_id;
        uint64_t last_post_us; /* when the problem being solved was posted */
        ControlStats stats;
} ControlLoop;

static double floor_ms(const Pipeline *p)
{
        double sum = 0;

        for (size_t i = 0; i < p->cfg->n_stages; i++)
                sum += plan_stage_floor_ms(p->stages[i].cfg, p->stages[i].models);
        return sum;
}

int control_pipeline_init(Pipeline *p)
{
        ControlState *c = calloc(1, sizeof(*c));
        opt_forecast_params fp;
        int r;

        if (!c)
                return -ENOMEM;
        plan_forecast_params(&fp);
        r = opt_forecast_init(&c->forecast, &fp);
        if (r < 0) {
                free(c);
                return r;
        }
        c->id = p->manager->control ? ++p->manager->control->next_id : 0;
        c->budget_ms = (double)p->cfg->slo_us / 1000.0;
        c->served_share = 1.0;
        p->control = c;
        c->floor_ms = floor_ms(p);
        snprintf(c->reason, sizeof(c->reason), "no decision yet");
        return 0;
}

void control_pipeline_done(Pipeline *p)
{
        if (!p->control)
                return;
        opt_forecast_done(&p->control->forecast);
        free(p->control);
        p->control = NULL;
}

void control_observe_budget(Pipeline *p, uint64_t budget_us, uint64_t now)
{
        ControlState *c = p->control;

        /* A budget below the floor cannot be met by planning, so it must not drag the plan
         * (those requests are dropped early instead). */
        if ((double)budget_us / 1000.0 < c->floor_ms)
                return;
        c->budgets_us[c->budget_head] = budget_us;
        c->budget_at_us[c->budget_head] = now;
        c->budget_head = (c->budget_head + 1) % BUDGET_RING;
        if (c->n_budgets < BUDGET_RING)
                c->n_budgets++;
}

/* The budget to plan for over the budgets admitted in the last window (plan_budget_ms). */
static double planning_budget_ms(const Pipeline *p, uint64_t now)
{
        const ControlState *c = p->control;
        double v[BUDGET_RING];
        size_t n = 0;

        for (uint32_t i = 0; i < c->n_budgets; i++)
                if (c->budget_at_us[i] + BUDGET_WINDOW_US >= now)
                        v[n++] = (double)c->budgets_us[i] / 1000.0;
        return plan_budget_ms(v, n, PLAN_BUDGET_QUANTILE, (double)p->cfg->slo_us / 1000.0);
}

/* Scales each variant's profile by the refit's slowdown at the plan's batch and millicores. */
static void follow_reality(Stage *s)
{
        for (size_t v = 0; v < s->cfg->n_variants; v++) {
                double scale = plan_refit(&s->profile[v], &s->rls[v], s->plan.batch,
                                          s->plan.millicores, &s->models[v]);
                if (scale > 0)
                        s->refit_scale[v] = scale;
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
        plan_rates(c->observed_rps, opt_forecast_next(&c->forecast), queued, &c->planned_rps,
                   &c->present_rps);
}

/* Observes every pipeline and builds the problem of this tick. Returns 0, -ENOENT when there is
 * no pipeline, -ENOMEM. */
static int prepare(Manager *m, uint64_t now, plan_problem *ret)
{
        ControlLoop *cl = m->control;
        double elapsed = cl->last_tick_us ? (double)(now - cl->last_tick_us) / 1e6 : 1.0;
        size_t np = 0, k = 0;
        bool was = m->measured_contended;
        char err[256];

        cl->last_tick_us = now;
        for (Pipeline *p = m->pipelines; p; p = p->next, np++)
                observe(p, now, fmax(elapsed, 0.05));
        m->measured_millicores = ebpf_usable_millicores(m, &m->measured_contended);
        if (m->measured_contended != was)
                log_warning("Node %s: planning with %u of %u millicores",
                            m->measured_contended ? "contended (workers wait for CPU although "
                                                    "not throttled)"
                                                  : "no longer contended",
                            m->measured_millicores, m->capacity_millicores);
        if (np == 0)
                return plan_problem_build(NULL, 0, 0, ret, err, sizeof(err));

        _cleanup_free_ plan_input *in = calloc(np, sizeof(*in));
        _cleanup_free_ const opt_latency **models = calloc(np * PL_MAX_STAGES, sizeof(*models));
        _cleanup_free_ pl_plan_entry *cur = calloc(np * PL_MAX_STAGES, sizeof(*cur));
        if (!in || !models || !cur)
                return -ENOMEM;
        for (Pipeline *p = m->pipelines; p; p = p->next, k++) {
                for (size_t i = 0; i < p->cfg->n_stages; i++) {
                        models[k * PL_MAX_STAGES + i] = p->stages[i].models;
                        cur[k * PL_MAX_STAGES + i] = p->stages[i].plan;
                }
                in[k] = (plan_input){
                    .cfg = p->cfg,
                    .models = &models[k * PL_MAX_STAGES],
                    .current = &cur[k * PL_MAX_STAGES],
                    .pinned = p->pinned,
                    .lambda_rps = p->control->planned_rps,
                    .present_rps = p->control->present_rps,
                    .budget_ms = p->control->budget_ms,
                    .id = p->control->id,
                };
        }
        return plan_problem_build(in, np, m->measured_millicores, ret, err, sizeof(err));
}

/* The live pipeline a problem's pipeline k was built from, or NULL when it has since been
 * replaced or deleted (its decision is dropped). */
static Pipeline *owner(Manager *m, const plan_problem *x, size_t k)
{
        for (Pipeline *p = m->pipelines; p; p = p->next)
                if (p->control->id == x->ids[k])
                        return p;
        return NULL;
}

/* Act on one pipeline: up at once, down after the stabilisation delay unless `force` (holding
 * the old allocation would overcommit the node while others grow). */
static void act(Manager *m, Pipeline *p, const opt_plan *plan, size_t k, uint64_t now, bool force)
{
        size_t n = p->cfg->n_stages;
        pl_plan_entry cur[PL_MAX_STAGES], next[PL_MAX_STAGES];

        for (size_t i = 0; i < n; i++)
                cur[i] = p->stages[i].plan;
        plan_entries(plan, k, next);
        if (!plan_hold_step(&p->control->hold, cur, next, n, now, m->config.downscale_delay_us,
                            force))
                return;
        for (size_t i = 0; i < n; i++)
                stage_set_plan(&p->stages[i], &next[i]);
}

static void record(Pipeline *p, const plan_problem *x, const plan_decision *d, size_t k,
                   uint64_t now)
{
        ControlState *c = p->control;
        const opt_plan *shown = d->degraded ? &d->report : &d->plan;
        const opt_plan_pipeline *pp = &shown->pipelines[k];
        char reason[200];

        c->solved = true;
        c->feasible = shown->feasible;
        c->objective = pp->objective;
        c->cores = pp->cores;
        c->predicted_ms = pp->latency_ms;
        c->decided_at_us = now;
        plan_reason(x, d, k, reason, sizeof(reason));
        if (strcmp(reason, c->reason) != 0 && !shown->feasible)
                log_warning("Pipeline %s: %s", p->cfg->name, reason);
        snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

/* Records and applies a decision to the pipelines still there. */
static void apply(Manager *m, const plan_problem *x, const plan_decision *d, int r, uint64_t now)
{
        size_t n = x->pr.n_pipelines;
        _cleanup_free_ Pipeline **owners = calloc(n, sizeof(*owners));
        _cleanup_free_ const pl_plan_entry **cur = calloc(n, sizeof(*cur));
        pl_plan_entry *now_plan;
        bool force;

        m->m.solves++;
        if (!owners || !cur)
                return;
        for (size_t k = 0; k < n; k++) {
                owners[k] = owner(m, x, k);
                if (owners[k] && d->degraded)
                        record(owners[k], x, d, k, now);
        }
        if (r < 0) {
                m->m.solve_failures++;
                if (r == -ERANGE)
                        log_warning("Control: no plan fits even at 5%% of the load and 4x the "
                                    "budget; keeping the plan in force");
                else
                        log_warning_errno(r, "Control: solve failed (%m); keeping the plan in "
                                             "force");
                return;
        }
        _cleanup_free_ pl_plan_entry *entries = calloc(n * PL_MAX_STAGES, sizeof(*entries));
        if (!entries)
                return;
        for (size_t k = 0; k < n; k++) {
                if (!owners[k])
                        continue;
                now_plan = &entries[k * PL_MAX_STAGES];
                for (size_t i = 0; i < owners[k]->cfg->n_stages; i++)
                        now_plan[i] = owners[k]->stages[i].plan;
                cur[k] = now_plan;
        }
        force = plan_would_overcommit(x, &d->plan, cur, x->pr.node_millicores);
        m->usable_millicores = x->pr.node_millicores;
        m->contended = m->measured_contended;
        for (size_t k = 0; k < n; k++) {
                Pipeline *p = owners[k];
                if (!p)
                        continue;
                p->control->served_share = d->share;
                if (!d->degraded)
                        record(p, x, d, k, now);
                if (x->pls[k].policy != OPT_POLICY_STATIC && !p->pinned)
                        act(m, p, &d->plan, k, now, force);
        }
}

static void note_stats(Manager *m, uint64_t observe_us, uint64_t solve_us, uint64_t act_us,
                       bool inline_solve)
{
        ControlLoop *cl = m->control;

        histogram_observe(&m->m.solve_duration, solve_us);
        cl->stats.iterations++;
        cl->stats.last_observe_us = observe_us;
        cl->stats.last_solve_us = solve_us;
        cl->stats.last_act_us = act_us;
        cl->stats.last_total_us = observe_us + solve_us + act_us;
        cl->stats.last_loop_us = observe_us + act_us + (inline_solve ? solve_us : 0);
}

int control_tick(Manager *m, uint64_t now)
{
        uint64_t t0 = now_us(), t1, t2;
        plan_problem x;
        plan_decision d;
        int r;

        r = prepare(m, now, &x);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        t1 = now_us();
        r = plan_decide(&x, SOLVE_TIME_LIMIT, &d);
        t2 = now_us();
        apply(m, &x, &d, r, now);
        plan_decision_done(&d);
        plan_problem_done(&x);
        note_stats(m, t1 - t0, t2 - t1, now_us() - t2, true);
        return r;
}

int control_post(Manager *m, uint64_t now)
{
        ControlLoop *cl = m->control;
        uint64_t t0 = now_us();
        plan_problem x;
        int r;

        if (!cl->planner)
                return control_tick(m, now);
        r = prepare(m, now, &x);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        planner_post(cl->planner, &x);
        cl->stats.solving = true;
        cl->stats.last_post_us = now_us() - t0;
        return 0;
}

int control_on_event(Manager *m)
{
        ControlLoop *cl = m->control;
        planner_result res;
        uint64_t t0 = now_us();

        if (!cl->planner || planner_take(cl->planner, &res) == 0)
                return 0;
        cl->stats.solving = planner_busy(cl->planner);
        if (!m->stopping)
                apply(m, &res.x, &res.d, res.r, t0);
        note_stats(m, cl->stats.last_post_us, res.solve_us, now_us() - t0, false);
        planner_result_done(&res);
        return 1;
}

/* A pipeline without its first decision: wait (bounded) for the one just posted. */
static void wait_first_plan(Manager *m)
{
        ControlLoop *cl = m->control;
        struct pollfd pfd = {.fd = planner_fd(cl->planner), .events = POLLIN};
        bool first = false;

        for (Pipeline *p = m->pipelines; p; p = p->next)
                first |= !p->control->hold.acted;
        if (first && poll(&pfd, 1, FIRST_PLAN_WAIT_MS) > 0)
                control_on_event(m);
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
                if (plan_rate_jumped((double)p->m.arrivals_current_second, age,
                                     p->control->planned_rps))
                        return true;
        return false;
}

uint64_t control_run_due(Manager *m, uint64_t now)
{
        ControlLoop *cl = m->control;

        if (now == 0)
                return MIN(cl->next_tick_us, cl->last_jump_check_us + JUMP_CHECK_US);
        if (now >= cl->next_tick_us || rate_jumped(m, now)) {
                control_post(m, now);
                if (cl->planner)
                        wait_first_plan(m);
                cl->next_tick_us = now + m->config.interval_us;
        }
        return cl->next_tick_us;
}

int control_fd(const Manager *m)
{
        return m->control && m->control->planner ? planner_fd(m->control->planner) : -1;
}

int control_new(Manager *m)
{
        ControlLoop *cl = calloc(1, sizeof(ControlLoop));
        int r;

        if (!cl)
                return -ENOMEM;
        cl->ev.kind = EVENT_CONTROL;
        r = planner_new(SOLVE_TIME_LIMIT, &cl->planner);
        if (r < 0)
                log_warning_errno(r, "Control: cannot start the solver thread (%m); solving on "
                                     "the event loop");
        else
                manager_epoll_mod(m, planner_fd(cl->planner), &cl->ev, EPOLLIN, true);
        m->control = cl;
        return 0;
}

void control_free(Manager *m)
{
        if (!m->control)
                return;
        planner_free(m->control->planner);
        free(m->control);
        m->control = NULL;
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
                         json_finite(c->predicted_ms), "downscale_pending", c->hold.pending,
                         "served_share", json_finite(c->served_share));
}

void control_pipeline_rates(const Pipeline *p, double *ret_observed_rps, double *ret_planned_rps)
{
        *ret_observed_rps = p->control ? p->control->observed_rps : 0.0;
        *ret_planned_rps = p->control ? p->control->planned_rps : 0.0;
}
