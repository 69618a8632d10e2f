/* SPDX-License-Identifier: MIT */
/* opt_solve: candidates → (diagnosis of what cannot work alone) → solver → plan. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "optimizer/optimizer-internal.h"

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void opt_plan_done(opt_plan *p)
{
        if (!p)
                return;
        for (size_t i = 0; p->pipelines && i < p->n_pipelines; i++)
                free(p->pipelines[i].stages);
        free(p->pipelines);
        memset(p, 0, sizeof(*p));
}

/* What is wrong with pipeline p on its own, if anything (the capacity aside). */
typedef struct alone {
        opt_infeasible reason;
        size_t stage;
        double excess_ms;
} alone;

static alone check_alone(const opt_problem *pr, const opt__cands *c, size_t p)
{
        const opt_pipeline *pl = &pr->pipelines[p];
        alone a = {OPT_FEASIBLE, 0, 0.0};
        double sum = 0.0, worst = -1.0;

        for (size_t s = 0; s < pl->n_stages; s++) {
                const opt__stage_cands *sc = &c->st[c->off[p] + s];
                double mn = INFINITY;
                if (pl->policy != OPT_POLICY_STATIC && sc->n == 0) {
                        a.reason = OPT_INFEASIBLE_THROUGHPUT;
                        a.stage = s;
                        a.excess_ms = INFINITY;
                        return a;
                }
                for (size_t k = 0; k < sc->n; k++)
                        mn = fmin(mn, sc->c[k].latency_ms);
                sum += mn;
                if (mn > worst) {
                        worst = mn;
                        a.stage = s;
                }
        }
        if (!(sum <= pl->slo_budget_ms)) {
                a.reason = pl->policy == OPT_POLICY_STATIC ? OPT_INFEASIBLE_STATIC
                                                           : OPT_INFEASIBLE_LATENCY;
                a.excess_ms = sum - pl->slo_budget_ms;
        }
        return a;
}

/* Copy of c without candidates that cannot be part of any feasible plan on their own: with
 * every other stage of the pipeline at its fastest the budget is missed (a hair of slack
 * keeps boundary cases for the exact check), or with every other stage of every pipeline at
 * its smallest the node is exceeded. Exact: no feasible plan is lost. */
static int filter_alone(const opt_problem *pr, const opt__cands *c, opt__cands *ret)
{
        size_t n_st = c->off[pr->n_pipelines];
        double *min_lat = calloc(n_st, sizeof(double));
        uint64_t *min_mc = calloc(n_st, sizeof(uint64_t)), all_mc = 0;
        opt__cands f = {0};
        int r = -ENOMEM;

        f.n_pipelines = c->n_pipelines;
        f.off = malloc(sizeof(size_t) * (c->n_pipelines + 1));
        f.st = calloc(n_st, sizeof(*f.st));
        if (!min_lat || !min_mc || !f.off || !f.st)
                goto out;
        memcpy(f.off, c->off, sizeof(size_t) * (c->n_pipelines + 1));
        for (size_t i = 0; i < n_st; i++) {
                min_lat[i] = INFINITY;
                min_mc[i] = UINT64_MAX;
                for (size_t k = 0; k < c->st[i].n; k++) {
                        min_lat[i] = fmin(min_lat[i], c->st[i].c[k].latency_ms);
                        if (c->st[i].c[k].mc_total < min_mc[i])
                                min_mc[i] = c->st[i].c[k].mc_total;
                }
                all_mc += c->st[i].n ? min_mc[i] : 0;
        }
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                const opt_pipeline *pl = &pr->pipelines[p];
                double all_lat = 0.0;
                for (size_t s = 0; s < pl->n_stages; s++)
                        all_lat += min_lat[c->off[p] + s];
                for (size_t s = 0; s < pl->n_stages; s++) {
                        size_t i = c->off[p] + s;
                        const opt__stage_cands *src = &c->st[i];
                        opt__stage_cands *dst = &f.st[i];
                        double rest_lat = all_lat - min_lat[i];
                        uint64_t rest_mc = all_mc - min_mc[i];
                        dst->n_generated = src->n_generated;
                        dst->c = malloc(sizeof(opt__cand) * (src->n ? src->n : 1));
                        if (!dst->c)
                                goto out;
                        for (size_t k = 0; k < src->n; k++) {
                                const opt__cand *cd = &src->c[k];
                                if (cd->latency_ms + rest_lat > pl->slo_budget_ms * (1.0 + 1e-9) ||
                                    cd->mc_total + rest_mc > pr->node_millicores)
                                        continue;
                                dst->c[dst->n++] = *cd;
                        }
                        f.total_generated += dst->n_generated;
                        f.total_kept += dst->n;
                }
        }
        *ret = f;
        f.st = NULL;
        f.off = NULL;
        r = 0;
out:
        if (f.st) {
                for (size_t i = 0; i < n_st; i++)
                        free(f.st[i].c);
                free(f.st);
        }
        free(f.off);
        free(min_lat);
        free(min_mc);
        return r;
}

/* Exact re-check of a choice: every pipeline's latency (summed in stage order) within its
 * budget and the total millicores within the node. */
static int choice_feasible(const opt_problem *pr, const opt__cands *c, const size_t *choice)
{
        uint64_t mc = 0;

        for (size_t p = 0; p < pr->n_pipelines; p++) {
                double lat = 0.0;
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        const opt__cand *cd = &c->st[c->off[p] + s].c[choice[c->off[p] + s]];
                        lat += cd->latency_ms;
                        mc += cd->mc_total;
                }
                if (!(lat <= pr->pipelines[p].slo_budget_ms))
                        return 0;
        }
        return mc <= pr->node_millicores;
}

static int plan_alloc(const opt_problem *pr, opt_plan *pl)
{
        memset(pl, 0, sizeof(*pl));
        pl->pipelines = calloc(pr->n_pipelines, sizeof(*pl->pipelines));
        if (!pl->pipelines)
                return -ENOMEM;
        pl->n_pipelines = pr->n_pipelines;
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                pl->pipelines[p].n_stages = pr->pipelines[p].n_stages;
                pl->pipelines[p].stages = calloc(pr->pipelines[p].n_stages, sizeof(opt_plan_stage));
                if (!pl->pipelines[p].stages) {
                        opt_plan_done(pl);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* Totals of every pipeline and of the plan, in stage then pipeline order. */
static void plan_totals(opt_plan *pl)
{
        pl->objective = 0.0;
        pl->cores = 0.0;
        for (size_t p = 0; p < pl->n_pipelines; p++) {
                opt_plan_pipeline *pp = &pl->pipelines[p];
                pp->latency_ms = pp->cores = pp->objective = 0.0;
                for (size_t s = 0; s < pp->n_stages; s++) {
                        pp->latency_ms += pp->stages[s].predicted_latency_ms;
                        pp->cores += pp->stages[s].cores;
                        pp->objective += pp->stages[s].objective;
                }
                pl->objective += pp->objective;
                pl->cores += pp->cores;
        }
}

/* Best effort for an infeasible problem (see opt_plan in the header); also diagnoses the
 * capacity case: extra millicores = Σ per-pipeline least millicores − node. */
static void plan_infeasible(const opt_problem *pr, const opt__cands *c, const alone *al,
                            size_t *choice, opt_plan *pl)
{
        uint64_t total = 0, worst = 0;

        for (size_t p = 0; p < pr->n_pipelines; p++) {
                const opt_pipeline *pp = &pr->pipelines[p];
                uint64_t mc = UINT64_MAX;
                if (al[p].reason == OPT_FEASIBLE)
                        mc = opt__pipeline_min_mc(pr, c, p, choice);
                if (mc != UINT64_MAX) {
                        for (size_t s = 0; s < pp->n_stages; s++)
                                opt__plan_stage_fill(&pp->stages[s], &c->st[c->off[p] + s],
                                                     &c->st[c->off[p] + s].c[choice[c->off[p] + s]],
                                                     &pl->pipelines[p].stages[s]);
                        total += mc;
                        if (mc > worst) {
                                worst = mc;
                                pl->binding_pipeline = p;
                        }
                        continue;
                }
                for (size_t s = 0; s < pp->n_stages; s++) {
                        const opt__stage_cands *sc = &c->st[c->off[p] + s];
                        opt__cand best;
                        size_t bk = 0;
                        if (sc->n == 0) {
                                opt__stage_max_throughput(pp, s, &best);
                        } else {
                                for (size_t k = 1; k < sc->n; k++)
                                        if (sc->c[k].latency_ms < sc->c[bk].latency_ms)
                                                bk = k;
                                best = sc->c[bk];
                        }
                        opt__plan_stage_fill(&pp->stages[s], sc, &best,
                                             &pl->pipelines[p].stages[s]);
                }
        }
        for (size_t p = 0; p < pr->n_pipelines; p++)
                if (al[p].reason != OPT_FEASIBLE) {
                        pl->reason = al[p].reason;
                        pl->binding_pipeline = p;
                        pl->binding_stage = al[p].stage;
                        pl->latency_excess_ms = al[p].excess_ms;
                        return;
                }
        /* Every pipeline fits alone: the node is too small. The binding stage is the one
         * holding the most millicores in the largest pipeline's least-millicore plan. */
        pl->reason = OPT_INFEASIBLE_CAPACITY;
        {
                const opt_plan_pipeline *bp = &pl->pipelines[pl->binding_pipeline];
                uint64_t diff = total > pr->node_millicores ? total - pr->node_millicores : 0;
                double most = -1.0;
                for (size_t s = 0; s < bp->n_stages; s++)
                        if (bp->stages[s].cores > most) {
                                most = bp->stages[s].cores;
                                pl->binding_stage = s;
                        }
                pl->extra_millicores = diff > UINT32_MAX ? UINT32_MAX : (uint32_t)diff;
        }
}

int opt_solve(const opt_problem *pr, opt_solver which, const opt_solve_options *opts, opt_plan *ret)
{
        uint64_t t0 = now_us();
        opt__cands c = {0}, f = {0};
        const opt__cands *used = &c;
        opt_plan plan;
        size_t *choice = NULL;
        alone *al = NULL;
        int r, feasible = 1, optimal = 1, prune;

        if (!ret || (which != OPT_SOLVER_GLPK && which != OPT_SOLVER_EXHAUSTIVE))
                return -EINVAL;
        r = opt_problem_validate(pr, NULL, 0);
        if (r < 0)
                return r;
        /* The exhaustive solver sees every candidate, so the tests check the pruning too. */
        prune = which == OPT_SOLVER_GLPK && !(opts && opts->no_prune);
        r = opt__cands_build(pr, prune, &c);
        if (r < 0)
                return r;
        choice = calloc(c.off[pr->n_pipelines], sizeof(size_t));
        al = calloc(pr->n_pipelines, sizeof(*al));
        if (!choice || !al) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                al[p] = check_alone(pr, &c, p);
                if (al[p].reason != OPT_FEASIBLE)
                        feasible = 0;
        }
        if (feasible && which == OPT_SOLVER_GLPK) {
                if (prune) {
                        r = filter_alone(pr, &c, &f);
                        if (r < 0)
                                goto out;
                        used = &f;
                }
                for (size_t i = 0; i < used->off[pr->n_pipelines]; i++)
                        if (used->st[i].n == 0)
                                feasible = 0; /* only the capacity can empty a stage here */
                if (feasible) {
                        r = opt__solve_glpk(pr, used, opts ? opts->time_limit_ms : 0,
                                            opts && opts->stage_ip, choice, &optimal);
                        /* GLPK's feasibility tolerance (1e-7) could admit a plan a hair over a
                         * bound; the exact solver settles such a plan (never seen in tests). */
                        if (r == 1 && !choice_feasible(pr, used, choice)) {
                                r = opt__solve_exhaustive(pr, used, choice);
                                optimal = 1;
                        }
                        if (r < 0)
                                goto out;
                        feasible = r == 1;
                }
        } else if (feasible) {
                r = opt__solve_exhaustive(pr, &c, choice);
                if (r < 0)
                        goto out;
                feasible = r == 1;
        }
        r = plan_alloc(pr, &plan);
        if (r < 0)
                goto out;
        if (feasible) {
                for (size_t p = 0; p < pr->n_pipelines; p++)
                        for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                                size_t i = used->off[p] + s;
                                opt__plan_stage_fill(&pr->pipelines[p].stages[s], &c.st[i],
                                                     &used->st[i].c[choice[i]],
                                                     &plan.pipelines[p].stages[s]);
                        }
                plan.feasible = true;
                plan.optimal = optimal;
        } else {
                /* Diagnose on the unfiltered candidates: the filter assumed feasibility. */
                plan_infeasible(pr, &c, al, choice, &plan);
        }
        plan_totals(&plan);
        plan.candidates = c.total_generated;
        plan.candidates_pruned = used->total_kept;
        plan.solve_us = now_us() - t0;
        *ret = plan;
        r = 0;
out:
        opt__cands_free(&c);
        opt__cands_free(&f);
        free(choice);
        free(al);
        return r;
}
