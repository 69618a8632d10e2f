/* SPDX-License-Identifier: MIT */
/* plan.c — pipeline files → the optimizer's problem, and the control loop's decisions. See
 * plan.h. */
#include "agent/plan/plan.h"
#include "agent/plan/plan-mix.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Infeasible problem: if even PLAN_DEGRADE_MIN_SHARE of the load misses its budgets, the
 * budgets are loosened by these factors in turn (the first is 1: as given). */
static const double DEGRADE_BUDGET[] = {1.0, 1.5, 2.0, 4.0};

opt_policy plan_policy(pl_policy p, bool pinned)
{
        if (pinned)
                return OPT_POLICY_STATIC;
        switch (p) {
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

static bool negative(const opt_model *m)
{
        return m->gamma < 0 || m->delta < 0 || m->epsilon < 0 || m->eta < 0;
}

int plan_fit(const opt_point *pts, size_t n, opt_model *ret, bool *ret_nonneg, char *err,
             size_t errlen)
{
        opt_model m;
        int r = opt_fit(pts, n, &m, err, errlen);
        bool nonneg = r < 0 || negative(&m);

        if (nonneg) {
                int r2 = opt_fit_nonneg(pts, n, &m, err, errlen);
                if (r2 < 0) /* both rejected: opt_fit's error stands; a negative fit, NNLS's */
                        return r < 0 ? r : r2;
                r = 0;
        }
        if (r < 0)
                return r;
        *ret = m;
        if (ret_nonneg)
                *ret_nonneg = nonneg;
        return 0;
}

int plan_variant_model(const pl_variant *v, opt_model *ret, char *err, size_t errlen)
{
        const pl_profile *pr = &v->profile;
        opt_point *pts;
        opt_model m;
        int r;

        if (pr->kind == PL_PROFILE_MODEL) {
                *ret = (opt_model){pr->model.gamma, pr->model.delta, pr->model.epsilon,
                                   pr->model.eta, pr->model.margin};
                return 0;
        }
        /* pl_point and opt_point have the same fields; copied to keep the modules apart. */
        pts = calloc(pr->n_points ? pr->n_points : 1, sizeof(*pts));
        if (!pts)
                return -ENOMEM;
        for (size_t i = 0; i < pr->n_points; i++)
                pts[i] = (opt_point){pr->points[i].batch, pr->points[i].millicores,
                                     pr->points[i].latency_ms};
        r = plan_fit(pts, pr->n_points, &m, NULL, err, errlen);
        free(pts);
        if (r == 0)
                *ret = m;
        return r;
}

double plan_stage_floor_ms(const pl_stage *s, const opt_latency *models)
{
        double best = INFINITY;

        for (size_t v = 0; v < s->n_variants; v++)
                best = fmin(best, opt_latency_eval_ms(&models[v], 1, s->millicores_max));
        return best;
}

static char *copy_name(char **pos, const char *s)
{
        size_t n = strlen(s) + 1;
        char *d = *pos;

        memcpy(d, s, n);
        *pos += n;
        return d;
}

static size_t names_size(const plan_input *in, size_t n)
{
        size_t sum = 0;

        for (size_t k = 0; k < n; k++) {
                const pl_pipeline *c = in[k].cfg;
                sum += strlen(c->name) + 1;
                for (size_t i = 0; i < c->n_stages; i++) {
                        sum += strlen(c->stages[i].name) + 1;
                        for (size_t v = 0; v < c->stages[i].n_variants; v++)
                                sum += strlen(c->stages[i].variants[v].name) + 1;
                }
        }
        return sum;
}

/* Stage i of pipeline in into os/ov; base gives the dimensions the policy keeps. */
static int fill_stage(const plan_input *in, size_t i, const pl_plan_entry *base, char **names,
                      opt_stage *os, opt_variant *ov, char *err, size_t errlen)
{
        const pl_stage *c = &in->cfg->stages[i];

        for (size_t v = 0; v < c->n_variants; v++) {
                opt_latency l = {.kind = OPT_LATENCY_MODEL};
                if (in->models)
                        l = in->models[i][v];
                else {
                        int r = plan_variant_model(&c->variants[v], &l.fit, err, errlen);
                        if (r < 0)
                                return r;
                }
                ov[v] = (opt_variant){.name = copy_name(names, c->variants[v].name),
                                      .accuracy = c->variants[v].accuracy,
                                      .model = l};
        }
        *os = (opt_stage){
            .name = copy_name(names, c->name),
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
        return 0;
}

static int problem_alloc(const plan_input *in, size_t n, plan_problem *x)
{
        size_t ns = 0, nv = 0;

        for (size_t k = 0; k < n; k++)
                for (size_t i = 0; i < in[k].cfg->n_stages; i++, ns++)
                        nv += in[k].cfg->stages[i].n_variants;
        x->pls = calloc(n, sizeof(*x->pls));
        x->stages = calloc(ns, sizeof(*x->stages));
        x->variants = calloc(nv, sizeof(*x->variants));
        x->current = calloc(ns, sizeof(*x->current));
        x->running = calloc(nv ? nv : 1, sizeof(*x->running));
        x->n_variants = calloc(ns, sizeof(*x->n_variants));
        x->ids = calloc(n, sizeof(*x->ids));
        x->present_rps = calloc(n, sizeof(*x->present_rps));
        x->names = malloc(names_size(in, n));
        x->full = calloc(ns, sizeof(*x->full));
        x->fastest = calloc(ns, sizeof(*x->fastest));
        if (!x->pls || !x->stages || !x->variants || !x->current || !x->running || !x->n_variants ||
            !x->ids || !x->present_rps || !x->names || !x->full || !x->fastest)
                return -ENOMEM;
        return 0;
}

/* The pinned/static pipelines keep the plan in force; vertical/horizontal keep the initial
 * plan (the file's, or pl_initial_plan's) for what they do not decide. */
int plan_problem_build(const plan_input *in, size_t n, uint32_t node_millicores, plan_problem *ret,
                       char *err, size_t errlen)
{
        plan_problem x = {0};
        size_t is = 0, iv = 0;
        char *names;
        int r;

        *ret = (plan_problem){0};
        if (n == 0)
                return -ENOENT;
        r = problem_alloc(in, n, &x);
        names = x.names;
        for (size_t k = 0; k < n && r == 0; k++) {
                const pl_pipeline *c = in[k].cfg;
                pl_plan_entry *init = NULL;
                if (pl_initial_plan(c, &init) < 0) {
                        r = -ENOMEM;
                        break;
                }
                x.ids[k] = in[k].id;
                x.present_rps[k] = in[k].present_rps;
                x.pls[k] = (opt_pipeline){
                    .name = copy_name(&names, c->name),
                    .stages = &x.stages[is],
                    .n_stages = c->n_stages,
                    .lambda_rps = in[k].lambda_rps,
                    .slo_budget_ms = in[k].budget_ms,
                    .alpha = c->objective.accuracy,
                    .beta = c->objective.cores,
                    .delta = c->objective.batch,
                    .policy = plan_policy(c->policy, in[k].pinned),
                    .mix = in[k].mix && c->mix,
                    .load_weight = in[k].load_weight,
                };
                for (size_t i = 0; i < c->n_stages && r == 0; i++, is++) {
                        x.current[is] = in[k].current ? in[k].current[i] : init[i];
                        x.n_variants[is] = c->stages[i].n_variants;
                        r = fill_stage(&in[k], i, in[k].pinned ? &x.current[is] : &init[i], &names,
                                       &x.stages[is], &x.variants[iv], err, errlen);
                        plan__loading_inputs(&in[k], i, &x.current[is], &x.stages[is],
                                             &x.variants[iv], &x.running[iv]);
                        iv += c->stages[i].n_variants;
                }
                free(init);
        }
        if (r < 0) {
                plan_problem_done(&x);
                return r;
        }
        x.pr = (opt_problem){x.pls, n, node_millicores};
        *ret = x;
        return 0;
}

void plan_problem_done(plan_problem *x)
{
        free(x->pls);
        free(x->stages);
        free(x->variants);
        free(x->current);
        free(x->running);
        free(x->n_variants);
        free(x->ids);
        free(x->present_rps);
        free(x->names);
        free(x->full);
        free(x->fastest);
        *x = (plan_problem){0};
}

double plan_problem_floor_ms(const plan_problem *x, size_t k)
{
        double sum = 0;

        for (size_t i = 0; i < x->pls[k].n_stages; i++) {
                const opt_stage *os = &x->pls[k].stages[i];
                double best = INFINITY;
                for (size_t v = 0; v < os->n_variants; v++)
                        best = fmin(best, opt_latency_eval_ms(&os->variants[v].model, 1,
                                                              os->max_millicores));
                sum += best;
        }
        return sum;
}

size_t plan_stage_base(const plan_problem *x, size_t k)
{
        return (size_t)(x->pls[k].stages - x->stages);
}

void plan_entries(const opt_plan *plan, size_t k, pl_plan_entry *ret)
{
        const opt_plan_pipeline *pp = &plan->pipelines[k];

        for (size_t i = 0; i < pp->n_stages; i++) {
                memset(&ret[i], 0, sizeof(ret[i])); /* padding too: entries are compared */
                ret[i].variant = pp->stages[i].variant;
                ret[i].batch = pp->stages[i].batch;
                ret[i].millicores = pp->stages[i].millicores;
                ret[i].replicas = pp->stages[i].replicas;
        }
}

bool plan_entry_equal(const pl_plan_entry *a, const pl_plan_entry *b)
{
        return a->variant == b->variant && a->batch == b->batch && a->millicores == b->millicores &&
               a->replicas == b->replicas;
}

uint64_t plan_millicores(const pl_plan_entry *e, size_t n)
{
        uint64_t sum = 0;

        for (size_t i = 0; i < n; i++)
                sum += (uint64_t)e[i].millicores * e[i].replicas;
        return sum;
}

/* ---- decisions ---- */

static int solve(const plan_problem *x, uint32_t time_limit_ms, opt_plan *ret)
{
        opt_solve_options o = {.time_limit_ms = time_limit_ms};

        return opt_solve(&x->pr, OPT_SOLVER_GLPK, &o, ret);
}

/* The same problem with every stage held to the variant in force (variant hysteresis).
 * Returns opt_solve's result; on success the plan's variant indices are the real ones. */
static int solve_sticky(plan_problem *x, uint32_t tl, opt_plan *ret)
{
        size_t ns =
            plan_stage_base(x, x->pr.n_pipelines - 1) + x->pls[x->pr.n_pipelines - 1].n_stages;
        uint32_t saved_fixed[ns];
        int r;

        for (size_t is = 0; is < ns; is++) {
                opt_stage *os = &x->stages[is];
                saved_fixed[is] = os->fixed_variant;
                os->variants = &os->variants[x->current[is].variant];
                if (os->current_replicas)
                        os->current_replicas += x->current[is].variant;
                os->n_variants = 1;
                os->fixed_variant = 0;
        }
        r = solve(x, tl, ret);
        for (size_t is = 0; is < ns; is++) {
                x->stages[is].variants -= x->current[is].variant;
                if (x->stages[is].current_replicas)
                        x->stages[is].current_replicas -= x->current[is].variant;
                x->stages[is].n_variants = x->n_variants[is];
                x->stages[is].fixed_variant = saved_fixed[is];
        }
        if (r >= 0)
                for (size_t k = 0; k < x->pr.n_pipelines; k++)
                        for (size_t i = 0; i < x->pls[k].n_stages; i++)
                                ret->pipelines[k].stages[i].variant =
                                    (uint32_t)x->current[plan_stage_base(x, k) + i].variant;
        return r;
}

/* Keeps the variants in force when switching gains too little. */
static void keep_variants(plan_problem *x, uint32_t tl, opt_plan *plan)
{
        opt_plan sticky;
        double slack = PLAN_VARIANT_KEEP_SHARE * fabs(plan->objective) + PLAN_VARIANT_KEEP_POINTS;

        if (solve_sticky(x, tl, &sticky) < 0)
                return;
        if (sticky.feasible && sticky.objective >= plan->objective - slack) {
                opt_plan_done(plan);
                *plan = sticky;
                return;
        }
        opt_plan_done(&sticky);
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

/* Holds every "full" stage to its fastest variant (hold) or undoes it. */
static void hold_fastest(plan_problem *x, bool hold)
{
        for (size_t k = 0; k < x->pr.n_pipelines; k++)
                for (size_t i = 0, is = plan_stage_base(x, k); i < x->pls[k].n_stages; i++, is++) {
                        opt_stage *os = &x->stages[is];
                        if (x->pls[k].policy != OPT_POLICY_FULL)
                                continue;
                        if (hold) {
                                x->fastest[is] = fastest_variant(os);
                                x->full[is] = os->variants;
                                os->variants = &os->variants[x->fastest[is]];
                                if (os->current_replicas)
                                        os->current_replicas += x->fastest[is];
                                os->n_variants = 1;
                        } else {
                                if (os->current_replicas)
                                        os->current_replicas -= x->fastest[is];
                                os->variants = x->full[is];
                                os->n_variants = x->n_variants[is];
                        }
                }
}

/* Maps a plan solved under hold_fastest back to real variant indices. */
static void map_fastest(const plan_problem *x, opt_plan *plan)
{
        for (size_t k = 0; k < x->pr.n_pipelines; k++)
                for (size_t i = 0, is = plan_stage_base(x, k); i < x->pls[k].n_stages; i++, is++)
                        if (x->pls[k].policy == OPT_POLICY_FULL)
                                plan->pipelines[k].stages[i].variant = (uint32_t)x->fastest[is];
}

/* Solves x with every pipeline's load times f and budget times g. Returns 0 with a feasible plan
 * in *ret, -ERANGE if infeasible, or opt_solve's error. */
static int solve_scaled(plan_problem *x, uint32_t tl, const double *lambda, const double *budget,
                        double f, double g, opt_plan *ret)
{
        int r;

        for (size_t k = 0; k < x->pr.n_pipelines; k++) {
                x->pls[k].lambda_rps = lambda[k] * f;
                x->pls[k].slo_budget_ms = budget[k] * g;
        }
        r = solve(x, tl, ret);
        if (r >= 0 && !ret->feasible) {
                opt_plan_done(ret);
                r = -ERANGE;
        }
        return r;
}

/* Keeps tmp in *plan if r says it is feasible (freeing the previous one). */
static bool take_plan(int r, opt_plan *tmp, opt_plan *plan)
{
        if (r < 0)
                return false;
        opt_plan_done(plan);
        *plan = *tmp;
        return true;
}

/* The deliberate degraded plan of an infeasible problem: the fastest variants, and the largest
 * share of the load (bisected PLAN_DEGRADE_STEPS times) that fits the node within the budgets;
 * if not even PLAN_DEGRADE_MIN_SHARE of it fits, looser budgets. Returns 0 with *plan replaced
 * by a feasible one (the old one freed) and *share set; <0 with *plan untouched. */
static int degrade(plan_problem *x, uint32_t tl, opt_plan *plan, double *share)
{
        size_t n = x->pr.n_pipelines;
        double lambda[n], budget[n], alpha[n], lo = PLAN_DEGRADE_MIN_SHARE, hi = 1.0;
        opt_plan tmp;
        int r = -ERANGE;

        for (size_t k = 0; k < n; k++) {
                lambda[k] = x->pls[k].lambda_rps;
                budget[k] = x->pls[k].slo_budget_ms;
                alpha[k] = x->pls[k].alpha;
                x->pls[k].alpha = 0; /* serve as much as possible; accuracy second */
        }
        hold_fastest(x, true);
        for (size_t i = 0; i < sizeof(DEGRADE_BUDGET) / sizeof(DEGRADE_BUDGET[0]) && r == -ERANGE;
             i++) {
                r = solve_scaled(x, tl, lambda, budget, lo, DEGRADE_BUDGET[i], &tmp);
                if (take_plan(r, &tmp, plan))
                        *share = lo;
                if (r >= 0 && i == 0) /* the budgets hold: look for the largest share */
                        for (int step = 0; step < PLAN_DEGRADE_STEPS; step++) {
                                double f = (lo + hi) / 2;
                                int k = solve_scaled(x, tl, lambda, budget, f, 1.0, &tmp);
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
 * load that is here now (never above the forecast). Returns 0 with *plan replaced by a feasible
 * one, -ERANGE if that does not fit either, or opt_solve's error; *plan untouched on failure. */
static int solve_present(plan_problem *x, uint32_t tl, opt_plan *plan)
{
        size_t n = x->pr.n_pipelines;
        double lambda[n], present[n], budget[n];
        opt_plan tmp;
        int r;

        if (n == 0) /* never: a problem has a pipeline; tells the compiler the arrays are set */
                return -ENOENT;
        for (size_t k = 0; k < n; k++) {
                lambda[k] = x->pls[k].lambda_rps;
                budget[k] = x->pls[k].slo_budget_ms;
                present[k] = fmin(x->present_rps[k], lambda[k]);
        }
        r = solve_scaled(x, tl, present, budget, 1.0, 1.0, &tmp);
        if (r >= 0)
                keep_variants(x, tl, &tmp); /* at the present load, still set in x */
        for (size_t k = 0; k < n; k++)
                x->pls[k].lambda_rps = lambda[k];
        return take_plan(r, &tmp, plan) ? 0 : r;
}

int plan_decide(plan_problem *x, uint32_t time_limit_ms, plan_decision *ret)
{
        plan_decision d = {.share = 1.0};
        int r;

        r = solve(x, time_limit_ms, &d.plan);
        if (r >= 0 && d.plan.feasible)
                keep_variants(x, time_limit_ms, &d.plan);
        if (r >= 0 && !d.plan.feasible) {
                /* Never apply the optimizer's best-effort stages as they are: they ignore the
                 * node's capacity. Plan for the present load; failing that, keep the infeasible
                 * plan as the report and plan for as much of the load as fits. */
                if (solve_present(x, time_limit_ms, &d.plan) == 0) {
                        d.no_headroom = true;
                } else {
                        d.report = d.plan;
                        d.plan = (opt_plan){0};
                        d.degraded = true;
                        r = degrade(x, time_limit_ms, &d.plan, &d.share);
                }
        }
        *ret = d;
        return r < 0 ? r : 0;
}

void plan_decision_done(plan_decision *d)
{
        opt_plan_done(&d->plan);
        opt_plan_done(&d->report);
}

void plan_reason(const plan_problem *x, const plan_decision *d, size_t k, char *buf, size_t len)
{
        const opt_plan *p = d->degraded ? &d->report : &d->plan;

        if (p->feasible)
                snprintf(buf, len, "feasible%s%s",
                         d->no_headroom ? " for the present load (no room for the forecast's)" : "",
                         p->optimal ? "" : " (time limit)");
        else if (p->binding_pipeline == k)
                snprintf(buf, len,
                         "infeasible (%s) at stage %s: degraded plan, %u more millicores needed",
                         opt_infeasible_name(p->reason), x->pls[k].stages[p->binding_stage].name,
                         p->extra_millicores);
        else
                snprintf(buf, len, "node infeasible (%s) elsewhere: degraded plan",
                         opt_infeasible_name(p->reason));
}

bool plan_hold_step(plan_hold *h, const pl_plan_entry *cur, const pl_plan_entry *next, size_t n,
                    uint64_t now_us, uint64_t delay_us, bool force)
{
        bool same = true;

        for (size_t i = 0; i < n; i++)
                same &= plan_entry_equal(&cur[i], &next[i]);
        if (same) {
                h->pending = false;
                h->acted = true;
                return false;
        }
        if (!force && h->acted && plan_millicores(next, n) < plan_millicores(cur, n)) {
                if (!h->pending) {
                        h->pending = true;
                        h->pending_since_us = now_us;
                }
                if (now_us - h->pending_since_us < delay_us)
                        return false;
        }
        h->pending = false;
        h->acted = true;
        return true;
}

bool plan_would_overcommit(const plan_problem *x, const opt_plan *plan,
                           const pl_plan_entry *const *cur, uint32_t usable_millicores)
{
        uint64_t sum = 0;

        for (size_t k = 0; k < x->pr.n_pipelines; k++) {
                uint64_t now = 0, next = 0;
                if (!cur[k])
                        continue;
                for (size_t i = 0; i < x->pls[k].n_stages; i++) {
                        const opt_plan_stage *ps = &plan->pipelines[k].stages[i];
                        now += (uint64_t)cur[k][i].millicores * cur[k][i].replicas;
                        next += (uint64_t)ps->millicores * ps->replicas;
                }
                sum += x->pls[k].policy == OPT_POLICY_STATIC ? now : (now > next ? now : next);
        }
        return sum > usable_millicores;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

double plan_budget_ms(double *budgets_ms, size_t n, double q, double slo_ms)
{
        if (n == 0)
                return slo_ms;
        qsort(budgets_ms, n, sizeof(double), cmp_double);
        return fmin(budgets_ms[(size_t)(q * (double)n)], slo_ms);
}

/* The profile at (b, mc) without its margin. */
static double profile_ms(const opt_latency *profile, uint32_t b, uint32_t mc)
{
        opt_latency l = *profile;

        l.fit.margin = 0;
        l.table_margin = 0;
        return opt_latency_eval_ms(&l, b, mc);
}

/* Under CFS bandwidth control a lightly loaded worker runs faster than its quota could sustain,
 * so the refit only ever slows the profile down (never below 1), and is read at the plan's
 * operating point only: with observations clustered at a few (b, c) the terms drift to large
 * values of opposite sign that predict nonsense away from the data. */
double plan_refit(const opt_latency *profile, const opt_rls *rls, uint32_t batch,
                  uint32_t millicores, opt_latency *ret_model)
{
        opt_latency fit = {.kind = OPT_LATENCY_MODEL};
        opt_latency m = *profile;
        double scale;

        if (rls->n_updates < PLAN_RLS_MIN_UPDATES)
                return 0;
        opt_rls_model(rls, &fit.fit);
        fit.fit.margin = 0;
        scale =
            opt_latency_eval_ms(&fit, batch, millicores) / profile_ms(profile, batch, millicores);
        if (!isfinite(scale))
                return 0;
        scale = fmin(PLAN_REFIT_SCALE_MAX, fmax(1.0, scale));
        m.fit.gamma *= scale;
        m.fit.delta *= scale;
        m.fit.epsilon *= scale;
        m.fit.eta *= scale;
        m.table_margin = (1 + m.table_margin) * scale - 1;
        *ret_model = m;
        return scale;
}

bool plan_rate_jumped(double arrivals, double age_s, double planned_rps)
{
        return age_s > 0 && arrivals / age_s > PLAN_JUMP_FACTOR * planned_rps + PLAN_JUMP_RPS;
}
