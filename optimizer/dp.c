/* SPDX-License-Identifier: MIT */
/* Dynamic programming over Pareto sets: the exact exhaustive solver, and the per-pipeline
 * reduction the GLPK path uses.
 *
 * Within a pipeline, stage by stage, a partial choice is a state (latency, millicores,
 * objective). A state dominated in all three by another is dropped: every completion of it is
 * matched by the same completion of the dominator. A state that cannot be completed within the
 * pipeline's budget (even with the fastest remaining stages) or the node (even with the
 * smallest remaining stages of every pipeline) is dropped. With a Lagrangian bound (GLPK
 * path), a state whose best possible completion cannot reach the incumbent is dropped too.
 * Across pipelines only (millicores, objective) matter. Exact; exponential only in the worst
 * case (layers are capped, see MAX_STATES). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

/* Refuse layers larger than this (memory ~32 B a state). */
#define MAX_STATES (1u << 23)

void opt__frontier_free(opt__frontier *f)
{
        if (!f)
                return;
        for (size_t i = 0; f->layers && i < f->n_stages; i++)
                free(f->layers[i].s);
        free(f->layers);
        free(f->pts);
        memset(f, 0, sizeof(*f));
}

/* Replaces l->s by its Pareto set. */
static int prune_layer(opt__layer *l, int use_obj)
{
        static const opt__pareto_keys keys = {offsetof(opt__state, lat), offsetof(opt__state, mc),
                                              offsetof(opt__state, obj)};

        return opt__pareto_prune(&l->s, &l->n, sizeof(*l->s), &keys, use_obj);
}

/* Least latency and millicores of each stage's candidates. */
static void stage_minima(const opt__stage_cands *sc, double *ret_lat, uint64_t *ret_mc)
{
        double l = INFINITY;
        uint64_t m = UINT64_MAX;

        for (size_t k = 0; k < sc->n; k++) {
                l = fmin(l, sc->c[k].latency_ms);
                m = sc->c[k].mc_total < m ? sc->c[k].mc_total : m;
        }
        *ret_lat = l;
        *ret_mc = m;
}

uint64_t opt__min_mc_all(const opt__cands *c)
{
        uint64_t sum = 0;

        for (size_t i = 0; i < c->off[c->n_pipelines]; i++) {
                double l;
                uint64_t m;
                stage_minima(&c->st[i], &l, &m);
                if (m == UINT64_MAX)
                        return UINT64_MAX;
                sum += m;
        }
        return sum;
}

int opt__pipeline_frontier(const opt_problem *pr, const opt__cands *c, size_t p, int use_obj,
                           uint64_t mc_cap, uint64_t mc_others, const opt__bound *bd,
                           opt__frontier *ret)
{
        const opt_pipeline *pl = &pr->pipelines[p];
        size_t ns = pl->n_stages;
        opt__frontier f = {0};
        opt__state start = {0};
        double rest_lat[OPT__DP_MAX_STAGES + 1];
        uint64_t rest_mc[OPT__DP_MAX_STAGES + 1];
        double tol = 0.0;
        int r;

        if (ns > OPT__DP_MAX_STAGES)
                return -E2BIG;
        /* rest_*[s] = least latency / millicores of stages s..ns-1 */
        rest_lat[ns] = 0.0;
        rest_mc[ns] = 0;
        for (size_t s = ns; s-- > 0;) {
                double l;
                uint64_t m;
                stage_minima(&c->st[c->off[p] + s], &l, &m);
                rest_lat[s] = rest_lat[s + 1] + l;
                rest_mc[s] = m == UINT64_MAX ? UINT64_MAX : rest_mc[s + 1] + m;
        }
        if (bd && isfinite(bd->incumbent))
                tol = 1e-9 * fmax(1.0, fabs(bd->incumbent));
        f.n_stages = ns;
        f.layers = calloc(ns, sizeof(*f.layers));
        if (!f.layers)
                return -ENOMEM;
        for (size_t s = 0; s < ns; s++) {
                const opt__stage_cands *sc = &c->st[c->off[p] + s];
                const opt__state *prev = s ? f.layers[s - 1].s : &start;
                size_t n_prev = s ? f.layers[s - 1].n : 1, n = 0;
                opt__layer *ly = &f.layers[s];
                if ((uint64_t)n_prev * sc->n > MAX_STATES) {
                        opt__frontier_free(&f);
                        return -E2BIG;
                }
                ly->s = malloc(sizeof(opt__state) * (n_prev * sc->n + 1));
                if (!ly->s) {
                        opt__frontier_free(&f);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n_prev; i++)
                        for (size_t k = 0; k < sc->n; k++) {
                                const opt__cand *cd = &sc->c[k];
                                opt__state t;
                                t.lat = prev[i].lat + cd->latency_ms;
                                t.mc = prev[i].mc + cd->mc_total;
                                t.obj = prev[i].obj + cd->objective;
                                t.prev = (uint32_t)i;
                                t.cand = (uint32_t)k;
                                /* Completable within the budget and the node? (all terms are
                                 * non-negative, so partial sums only grow) */
                                if (!(t.lat + rest_lat[s + 1] <= pl->slo_budget_ms * (1.0 + 1e-12)))
                                        continue;
                                if (rest_mc[s + 1] == UINT64_MAX ||
                                    t.mc + rest_mc[s + 1] + mc_others > mc_cap)
                                        continue;
                                if (bd && isfinite(bd->incumbent)) {
                                        /* The best completion within what is left of the
                                         * budget (a hair more: never tighter than exact). */
                                        double rest = opt__suffix_best(
                                            &bd->suf->layers[s + 1],
                                            (pl->slo_budget_ms - t.lat) * (1.0 + 1e-9) + 1e-9);
                                        double ub =
                                            t.obj - bd->nu * (double)t.mc + rest + bd->others;
                                        if (!(ub >= bd->incumbent - tol))
                                                continue;
                                }
                                ly->s[n++] = t;
                        }
                ly->n = n;
                r = prune_layer(ly, use_obj);
                if (r < 0) {
                        opt__frontier_free(&f);
                        return r;
                }
        }
        /* Complete choices meeting the budget (exactly, in stage order), as (mc, objective)
         * Pareto points. */
        {
                opt__layer *last = &f.layers[ns - 1];
                size_t n = 0;
                f.pts = malloc(sizeof(*f.pts) * (last->n + 1));
                if (!f.pts) {
                        opt__frontier_free(&f);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < last->n; i++)
                        if (last->s[i].lat <= pl->slo_budget_ms)
                                f.pts[n++] = (opt__point){last->s[i].mc, last->s[i].obj, i};
                f.n_pts = n;
                r = opt__points_pareto(&f.pts, &f.n_pts);
                if (r < 0) {
                        opt__frontier_free(&f);
                        return r;
                }
        }
        *ret = f;
        return 0;
}

static int cmp_point(const void *a, const void *b)
{
        const opt__point *x = a, *y = b;

        if (x->mc != y->mc)
                return x->mc < y->mc ? -1 : 1;
        if (x->obj != y->obj)
                return x->obj > y->obj ? -1 : 1;
        return (x->state > y->state) - (x->state < y->state);
}

int opt__points_pareto(opt__point **pts, size_t *n)
{
        size_t kept = 0;
        double best = -INFINITY;

        qsort(*pts, *n, sizeof(**pts), cmp_point);
        for (size_t i = 0; i < *n; i++)
                if ((*pts)[i].obj > best) {
                        best = (*pts)[i].obj;
                        (*pts)[kept++] = (*pts)[i];
                }
        *n = kept;
        return 0;
}

void opt__frontier_choice(const opt__cands *c, size_t p, const opt__frontier *f, size_t state,
                          size_t *choice)
{
        for (size_t s = f->n_stages; s-- > 0;) {
                choice[c->off[p] + s] = f->layers[s].s[state].cand;
                state = f->layers[s].s[state].prev;
        }
}

uint64_t opt__pipeline_min_mc(const opt_problem *pr, const opt__cands *c, size_t p, size_t *choice)
{
        const opt_pipeline *pl = &pr->pipelines[p];
        opt__suffix f;
        double best;

        for (size_t s = 0; s < pl->n_stages; s++)
                if (c->st[c->off[p] + s].n == 0)
                        return UINT64_MAX;
        /* The staircase of −millicores within latency: its best entry within the budget. */
        if (opt__suffix_build(pr, c, p, 0.0, 1.0, &f) < 0)
                return UINT64_MAX;
        /* A hair of latency: the staircase sums backwards, the exact check forwards; never
         * call feasible infeasible (the caller re-checks a plan exactly). */
        best = opt__suffix_best(&f.layers[0], pl->slo_budget_ms * (1.0 + 1e-12));
        if (best == -INFINITY) {
                opt__suffix_free(&f);
                return UINT64_MAX;
        }
        opt__suffix_choice(c, p, &f, pl->slo_budget_ms * (1.0 + 1e-12), choice);
        opt__suffix_free(&f);
        return (uint64_t)(-best);
}

int opt__solve_exhaustive(const opt_problem *pr, const opt__cands *c, size_t *choice)
{
        size_t np = pr->n_pipelines;
        opt__frontier *fr = calloc(np, sizeof(*fr));
        opt__layer *acc = calloc(np, sizeof(*acc)); /* combined frontier after pipeline p */
        uint64_t all_min = opt__min_mc_all(c);
        int r = 0, feasible = 0;

        if (!fr || !acc) {
                r = -ENOMEM;
                goto out;
        }
        if (all_min == UINT64_MAX || all_min > pr->node_millicores)
                goto out; /* r = 0: infeasible */
        for (size_t p = 0; p < np; p++) {
                const opt__state *prev;
                opt__state start = {0};
                size_t n_prev, n = 0;
                uint64_t own_min = 0;
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        double l;
                        uint64_t m;
                        stage_minima(&c->st[c->off[p] + s], &l, &m);
                        own_min += m;
                }
                r = opt__pipeline_frontier(pr, c, p, 1, pr->node_millicores, all_min - own_min,
                                           NULL, &fr[p]);
                if (r < 0)
                        goto out;
                prev = p ? acc[p - 1].s : &start;
                n_prev = p ? acc[p - 1].n : 1;
                if ((uint64_t)n_prev * fr[p].n_pts > MAX_STATES) {
                        r = -E2BIG;
                        goto out;
                }
                acc[p].s = malloc(sizeof(opt__state) * (n_prev * fr[p].n_pts + 1));
                if (!acc[p].s) {
                        r = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < n_prev; i++)
                        for (size_t k = 0; k < fr[p].n_pts; k++) {
                                opt__state t = {0};
                                t.mc = prev[i].mc + fr[p].pts[k].mc;
                                t.obj = prev[i].obj + fr[p].pts[k].obj;
                                t.prev = (uint32_t)i;
                                t.cand = (uint32_t)k;
                                if (t.mc <= pr->node_millicores)
                                        acc[p].s[n++] = t;
                        }
                acc[p].n = n;
                /* lat is 0 for all: the filter reduces to (mc min, objective max). */
                r = prune_layer(&acc[p], 1);
                if (r < 0)
                        goto out;
                if (n == 0)
                        break;
        }
        r = 0;
        if (acc[np - 1].s && acc[np - 1].n > 0) {
                size_t best = 0, idx;
                for (size_t i = 1; i < acc[np - 1].n; i++)
                        if (acc[np - 1].s[i].obj > acc[np - 1].s[best].obj)
                                best = i;
                idx = best;
                for (size_t p = np; p-- > 0;) {
                        const opt__state *st = &acc[p].s[idx];
                        opt__frontier_choice(c, p, &fr[p], fr[p].pts[st->cand].state, choice);
                        idx = st->prev;
                }
                feasible = 1;
        }
        r = feasible;
out:
        for (size_t p = 0; fr && p < np; p++)
                opt__frontier_free(&fr[p]);
        for (size_t p = 0; acc && p < np; p++)
                free(acc[p].s);
        free(fr);
        free(acc);
        return r;
}
