/* SPDX-License-Identifier: MIT */
/* The capacity multiplier ν and the per-pipeline Lagrangian subproblems (README, "How it is
 * solved"). Relaxing only the node's capacity with a multiplier ν >= 0, every feasible plan x
 * satisfies
 *     Σ_p o_p(x_p) <= Σ_p (o_p(x_p) − ν·M_p(x_p)) + ν·C,
 * and each pipeline's term is at most U_p(ν) = max of Σ_s (o − ν·M) over its choices within
 * its latency budget: a resource-constrained problem solved exactly by a backward dynamic
 * programme over (latency, value) staircases. The staircase of stages s.. answers "the best
 * value of the remaining stages within a latency ℓ", R_s(ℓ), which bounds every partial state
 * of the forward programme (dp.c).
 *
 * ν itself: the minimiser of the LP relaxation's dual, min over ν, μ >= 0 of
 *     Σ_p [Σ_s max_k (o_k − ν·M_k − μ_p·L_k) + μ_p·B_p] + ν·C;
 * for fixed ν each pipeline's μ_p is found exactly on the upper envelopes of the stages'
 * lines in μ, and the outer function is convex in ν (bisection on its subgradient). Any
 * ν >= 0 gives a valid bound; this one makes it as tight as the LP's. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

/* ---- ν from the LP dual ------------------------------------------------------------------- */

/* One breakpoint of a stage's envelope: crossing μ upward, the stage's choice moves to a
 * faster candidate, its latency falls by dl and its millicores change by dm. */
typedef struct event {
        double mu, dl;
        int64_t dm;
} event;

static int cmp_event(const void *a, const void *b)
{
        const event *x = a, *y = b;

        return (x->mu > y->mu) - (x->mu < y->mu);
}

typedef struct lscratch {
        size_t *order; /* per stage index: its candidates by latency ascending (offsets cofs) */
        size_t *cofs;  /* n_st + 1 */
        size_t *hull;  /* scratch, max candidates of a stage */
        event *ev;     /* scratch, total candidates of a pipeline */
} lscratch;

typedef struct lat_idx {
        double lat;
        size_t i;
} lat_idx;

static int cmp_lat_idx(const void *a, const void *b)
{
        const lat_idx *x = a, *y = b;

        if (x->lat != y->lat)
                return x->lat < y->lat ? -1 : 1;
        return (x->i > y->i) - (x->i < y->i);
}

/* o[0..n) = the candidates of sc by latency ascending (they usually are already). */
static int order_by_lat(const opt__stage_cands *sc, size_t *o)
{
        int sorted = 1;
        lat_idx *t;

        for (size_t k = 0; k < sc->n; k++) {
                o[k] = k;
                if (k && sc->c[k].latency_ms < sc->c[k - 1].latency_ms)
                        sorted = 0;
        }
        if (sorted)
                return 0;
        t = malloc(sizeof(*t) * sc->n);
        if (!t)
                return -ENOMEM;
        for (size_t k = 0; k < sc->n; k++)
                t[k] = (lat_idx){sc->c[k].latency_ms, k};
        qsort(t, sc->n, sizeof(*t), cmp_lat_idx);
        for (size_t k = 0; k < sc->n; k++)
                o[k] = t[k].i;
        free(t);
        return 0;
}

/* Upper envelope for μ >= 0 of the lines a_k − μ·L_k (a = o − ν·M) of one stage. Writes the
 * hull bottom (fastest, wins for large μ) to top (wins at μ = 0+) into h; returns its size. */
static size_t envelope(const opt__stage_cands *sc, const size_t *order, double nu, size_t *h)
{
        size_t n = 0;

        for (size_t j = 0; j < sc->n; j++) {
                const opt__cand *k = &sc->c[order[j]];
                double ak = k->objective - nu * (double)k->mc_total;
                while (n > 0) {
                        const opt__cand *t = &sc->c[h[n - 1]];
                        double at = t->objective - nu * (double)t->mc_total;
                        if (ak <= at)
                                goto next; /* slower and no better: never on top for μ >= 0 */
                        if (k->latency_ms == t->latency_ms) {
                                n--; /* same slope, higher: replaces t */
                                continue;
                        }
                        if (n >= 2) {
                                const opt__cand *u = &sc->c[h[n - 2]];
                                double au = u->objective - nu * (double)u->mc_total;
                                double b_ut = (at - au) / (t->latency_ms - u->latency_ms);
                                double b_tk = (ak - at) / (k->latency_ms - t->latency_ms);
                                if (b_tk >= b_ut) {
                                        n--; /* t never wins */
                                        continue;
                                }
                        }
                        break;
                }
                h[n++] = order[j];
        next:;
        }
        return n;
}

/* Pipeline p at ν: walks μ up from 0 through the envelopes' breakpoints to the least μ at
 * which the choices meet the budget (the minimiser of the pipeline's dual term); returns the
 * millicores of those choices: the pipeline's share of the subgradient in ν. */
static uint64_t pipeline_at(const opt_problem *pr, const opt__cands *c, size_t p, double nu,
                            lscratch *w)
{
        const opt_pipeline *pl = &pr->pipelines[p];
        double lat = 0.0;
        int64_t mc = 0;
        size_t ne = 0;

        for (size_t s = 0; s < pl->n_stages; s++) {
                size_t i = c->off[p] + s,
                       nh = envelope(&c->st[i], &w->order[w->cofs[i]], nu, w->hull);
                const opt__cand *top;
                if (nh == 0)
                        continue; /* no candidate: the caller never gets here */
                top = &c->st[i].c[w->hull[nh - 1]];
                lat += top->latency_ms;
                mc += (int64_t)top->mc_total;
                for (size_t j = nh - 1; j > 0; j--) {
                        const opt__cand *t = &c->st[i].c[w->hull[j]],
                                        *u = &c->st[i].c[w->hull[j - 1]];
                        double at = t->objective - nu * (double)t->mc_total;
                        double au = u->objective - nu * (double)u->mc_total;
                        w->ev[ne++] = (event){(at - au) / (t->latency_ms - u->latency_ms),
                                              t->latency_ms - u->latency_ms,
                                              (int64_t)u->mc_total - (int64_t)t->mc_total};
                }
        }
        if (lat > pl->slo_budget_ms) {
                qsort(w->ev, ne, sizeof(*w->ev), cmp_event);
                for (size_t e = 0; e < ne && lat > pl->slo_budget_ms; e++) {
                        lat -= w->ev[e].dl;
                        mc += w->ev[e].dm;
                }
        }
        return mc < 0 ? 0 : (uint64_t)mc;
}

static int scratch_init(const opt_problem *pr, const opt__cands *c, lscratch *w)
{
        size_t n_st = c->off[pr->n_pipelines], max_k = 1, max_p = 1;

        memset(w, 0, sizeof(*w));
        w->cofs = calloc(n_st + 1, sizeof(size_t));
        if (!w->cofs)
                return -ENOMEM;
        for (size_t i = 0; i < n_st; i++) {
                w->cofs[i + 1] = w->cofs[i] + c->st[i].n;
                max_k = c->st[i].n > max_k ? c->st[i].n : max_k;
        }
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                size_t n = 0;
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++)
                        n += c->st[c->off[p] + s].n;
                max_p = n > max_p ? n : max_p;
        }
        w->order = malloc(sizeof(size_t) * (w->cofs[n_st] + 1));
        w->hull = malloc(sizeof(size_t) * max_k);
        w->ev = malloc(sizeof(event) * max_p);
        if (!w->order || !w->hull || !w->ev)
                return -ENOMEM;
        for (size_t i = 0; i < n_st; i++)
                if (order_by_lat(&c->st[i], &w->order[w->cofs[i]]) < 0)
                        return -ENOMEM;
        return 0;
}

static void scratch_free(lscratch *w)
{
        free(w->order);
        free(w->cofs);
        free(w->hull);
        free(w->ev);
}

static uint64_t total_at(const opt_problem *pr, const opt__cands *c, double nu, lscratch *w)
{
        uint64_t mc = 0;

        for (size_t p = 0; p < pr->n_pipelines; p++)
                mc += pipeline_at(pr, c, p, nu, w);
        return mc;
}

int opt__capacity_multiplier(const opt_problem *pr, const opt__cands *c, double *ret_nu)
{
        lscratch w;
        double lo = 0.0, hi = 1e-6;
        uint64_t cap = pr->node_millicores, max_mc = 0;
        int r;

        *ret_nu = 0.0;
        for (size_t i = 0; i < c->off[pr->n_pipelines]; i++) {
                uint64_t m = 0;
                for (size_t k = 0; k < c->st[i].n; k++)
                        m = c->st[i].c[k].mc_total > m ? c->st[i].c[k].mc_total : m;
                max_mc += m;
        }
        if (max_mc <= cap)
                return 0; /* the capacity cannot bind */
        r = scratch_init(pr, c, &w);
        if (r < 0) {
                scratch_free(&w);
                return r;
        }
        if (total_at(pr, c, 0.0, &w) > cap) {
                while (hi < 1e9 && total_at(pr, c, hi, &w) > cap) {
                        lo = hi;
                        hi *= 4.0;
                }
                /* Any ν is valid; within 1 % of the LP's is as good a bound in practice (the
                 * exact subproblems do the rest). */
                for (int it = 0; it < 40 && hi - lo > 1e-2 * hi; it++) {
                        double mid = 0.5 * (lo + hi);
                        if (total_at(pr, c, mid, &w) > cap)
                                lo = mid;
                        else
                                hi = mid;
                }
                *ret_nu = hi;
        }
        scratch_free(&w);
        return 0;
}

/* ---- the exact subproblem: backward staircases --------------------------------------------- */

void opt__suffix_free(opt__suffix *f)
{
        if (!f)
                return;
        for (size_t s = 0; f->layers && s <= f->n_stages; s++)
                free(f->layers[s].e);
        free(f->layers);
        memset(f, 0, sizeof(*f));
}

/* A min-heap of merge cursors keyed by their head's latency. */
typedef struct cursor {
        double lat;
        uint32_t k, j; /* candidate, index in the next layer */
} cursor;

static void sift_down(cursor *h, size_t n, size_t i)
{
        for (;;) {
                size_t l = 2 * i + 1, m = i;
                cursor t;
                if (l < n && h[l].lat < h[m].lat)
                        m = l;
                if (l + 1 < n && h[l + 1].lat < h[m].lat)
                        m = l + 1;
                if (m == i)
                        return;
                t = h[i];
                h[i] = h[m];
                h[m] = t;
                i = m;
        }
}

/* Layer s from layer s+1 and stage s: the K lists "next layer shifted by candidate k" are each
 * sorted by latency; merged in latency order, an entry is kept when its value beats every
 * faster one (the staircase). Entries over `cut` end their list. */
static int suffix_layer(const opt__stage_cands *sc, const opt__suffix_layer *next, double wo,
                        double nu, double cut, opt__suffix_layer *ly)
{
        cursor *h = malloc(sizeof(cursor) * (sc->n ? sc->n : 1));
        size_t *o = malloc(sizeof(size_t) * (sc->n ? sc->n : 1));
        size_t nh = 0, cap = 64, n = 0;
        double best = -INFINITY;
        opt__suffix_entry *e = malloc(sizeof(*e) * cap);

        if (!h || !o || !e || order_by_lat(sc, o) < 0) {
                free(h);
                free(o);
                free(e);
                return -ENOMEM;
        }
        /* Only the stage's own staircase in (latency ↑, value ↑) can matter: a candidate no
         * faster and no better than another gives a list that one's list dominates point by
         * point. */
        for (size_t j = 0; j < sc->n && next->n > 0; j++) {
                const opt__cand *cd = &sc->c[o[j]];
                double a = wo * cd->objective - nu * (double)cd->mc_total;
                double l = cd->latency_ms + next->e[0].lat;
                if (!(a > best))
                        continue;
                best = a;
                if (l <= cut)
                        h[nh++] = (cursor){l, (uint32_t)o[j], 0};
        }
        free(o);
        best = -INFINITY;
        for (size_t i = nh / 2; i-- > 0;)
                sift_down(h, nh, i);
        while (nh > 0) {
                cursor *t = &h[0];
                const opt__cand *cd = &sc->c[t->k];
                double a = wo * cd->objective - nu * (double)cd->mc_total;
                double v = a + next->e[t->j].val;
                if (!(v > best)) {
                        /* Dominated: skip the run of this list that cannot beat `best` (values
                         * ascend along a list) in one binary search. */
                        size_t lo = t->j + 1, hi = next->n;
                        double need = best - a;
                        while (lo < hi) {
                                size_t mid = (lo + hi) / 2;
                                if (next->e[mid].val <= need)
                                        lo = mid + 1;
                                else
                                        hi = mid;
                        }
                        t->j = (uint32_t)(lo - 1);
                } else {
                        if (n == cap) {
                                opt__suffix_entry *g = realloc(e, sizeof(*e) * cap * 2);
                                if (!g) {
                                        free(h);
                                        free(e);
                                        return -ENOMEM;
                                }
                                e = g;
                                cap *= 2;
                        }
                        e[n++] = (opt__suffix_entry){t->lat, v, t->k, t->j};
                        best = v;
                }
                if (++t->j < next->n && (t->lat = cd->latency_ms + next->e[t->j].lat) <= cut) {
                        sift_down(h, nh, 0);
                } else {
                        h[0] = h[--nh];
                        sift_down(h, nh, 0);
                }
        }
        free(h);
        ly->e = e;
        ly->n = n;
        return 0;
}

int opt__suffix_build(const opt_problem *pr, const opt__cands *c, size_t p, double wo, double nu,
                      opt__suffix *ret)
{
        const opt_pipeline *pl = &pr->pipelines[p];
        size_t ns = pl->n_stages;
        double pre[OPT__DP_MAX_STAGES + 1], cut = pl->slo_budget_ms * (1.0 + 1e-9);
        opt__suffix f = {0};

        /* pre[s] = least latency of stages 0..s-1: what the states of layer s leave over. */
        pre[0] = 0.0;
        for (size_t s = 0; s < ns; s++) {
                const opt__stage_cands *sc = &c->st[c->off[p] + s];
                double m = INFINITY;
                for (size_t k = 0; k < sc->n; k++)
                        m = fmin(m, sc->c[k].latency_ms);
                pre[s + 1] = pre[s] + m;
        }
        f.n_stages = ns;
        f.layers = calloc(ns + 1, sizeof(*f.layers));
        if (!f.layers)
                return -ENOMEM;
        f.layers[ns].e = malloc(sizeof(opt__suffix_entry));
        if (!f.layers[ns].e) {
                opt__suffix_free(&f);
                return -ENOMEM;
        }
        f.layers[ns].e[0] = (opt__suffix_entry){0.0, 0.0, 0, 0};
        f.layers[ns].n = 1;
        for (size_t s = ns; s-- > 0;) {
                int r = suffix_layer(&c->st[c->off[p] + s], &f.layers[s + 1], wo, nu, cut - pre[s],
                                     &f.layers[s]);
                if (r < 0) {
                        opt__suffix_free(&f);
                        return r;
                }
        }
        *ret = f;
        return 0;
}

double opt__suffix_best(const opt__suffix_layer *ly, double lat)
{
        size_t lo = 0, hi = ly->n;

        while (lo < hi) { /* first entry over lat */
                size_t mid = (lo + hi) / 2;
                if (ly->e[mid].lat <= lat)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo ? ly->e[lo - 1].val : -INFINITY;
}

void opt__suffix_choice(const opt__cands *c, size_t p, const opt__suffix *f, double lat,
                        size_t *choice)
{
        size_t lo = 0, hi = f->layers[0].n, j;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (f->layers[0].e[mid].lat <= lat)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        j = lo ? lo - 1 : 0;
        for (size_t s = 0; s < f->n_stages; s++) {
                choice[c->off[p] + s] = f->layers[s].e[j].k;
                j = f->layers[s].e[j].j;
        }
}
