/* SPDX-License-Identifier: MIT */
/*
 * InfAdapter's variant mix and loading cost (README §4 "Mixes"): a stage's candidate may be
 * two groups of replicas of different variants, each with its own batch, millicores and
 * replica count, sharing the stage's load in proportion to their throughput. Each mix is one
 * more candidate (L, M, o) of its stage, so every solver works on it unchanged.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

double opt__loading(const opt_stage *st, uint32_t v, uint32_t mc, uint32_t n, uint32_t *ret_started)
{
        const opt_variant *va = &st->variants[v];
        uint32_t cur, started;

        if (!st->current_replicas) {
                if (ret_started)
                        *ret_started = 0;
                return 0.0;
        }
        cur = st->current_replicas[v];
        started = n > cur ? n - cur : 0;
        if (ret_started)
                *ret_started = started;
        return (double)started * (va->startup_s * (double)mc / 1000.0 + va->startup_cpu_s);
}

static int mix_enabled(const opt_pipeline *pl, const opt_stage *st)
{
        return pl->mix && pl->policy == OPT_POLICY_FULL && st->n_variants >= 2 &&
               st->max_replicas >= 2 && pl->lambda_rps > 0.0;
}

uint64_t opt__mix_space(const opt_pipeline *pl, const opt_stage *st)
{
        opt__space sp;
        uint64_t per_variant, pairs;

        if (!mix_enabled(pl, st))
                return 0;
        opt__stage_space(pl, st, &sp);
        per_variant = (uint64_t)sp.n_batches * opt__space_n_mc(&sp);
        pairs = (uint64_t)st->n_variants * (st->n_variants - 1) / 2;
        return pairs * per_variant * per_variant * (st->max_replicas - 1);
}

/* "Is a single-variant candidate at least as good in latency, millicores and objective?",
 * answered in two binary searches: per distinct millicore total M_i of the stage's Pareto
 * singles, the staircase (latency ascending, objective strictly ascending) of the singles with
 * millicores <= M_i. */
typedef struct single_index {
        size_t n_b;        /* buckets */
        uint64_t *bmc;     /* owned, n_b, ascending */
        size_t *off;       /* owned, n_b + 1 into lat/obj */
        double *lat, *obj; /* owned */
} single_index;

static void single_index_free(single_index *x)
{
        free(x->bmc);
        free(x->off);
        free(x->lat);
        free(x->obj);
        memset(x, 0, sizeof(*x));
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return (x > y) - (x < y);
}

static int single_index_build(const opt__cand *c, size_t n, single_index *x)
{
        double *lat = malloc(sizeof(double) * (n ? n : 1)),
               *obj = malloc(sizeof(double) * (n ? n : 1));
        uint64_t *mc = malloc(sizeof(uint64_t) * (n ? n : 1));
        size_t *keep = malloc(sizeof(size_t) * (n ? n : 1)), m = 0;
        long kept = -ENOMEM;

        memset(x, 0, sizeof(*x));
        if (lat && obj && mc && keep) {
                for (size_t i = 0; i < n; i++) {
                        lat[i] = c[i].latency_ms;
                        mc[i] = c[i].mc_total;
                        obj[i] = c[i].objective;
                }
                kept = opt__pareto(n, lat, mc, obj, 1, keep); /* latency order */
        }
        if (kept >= 0) {
                x->bmc = malloc(sizeof(uint64_t) * ((size_t)kept + 1));
                x->off = malloc(sizeof(size_t) * ((size_t)kept + 2));
                x->lat = malloc(sizeof(double) * ((size_t)kept * (size_t)kept + 1));
                x->obj = malloc(sizeof(double) * ((size_t)kept * (size_t)kept + 1));
        }
        if (kept < 0 || !x->bmc || !x->off || !x->lat || !x->obj) {
                free(lat);
                free(obj);
                free(mc);
                free(keep);
                single_index_free(x);
                return -ENOMEM;
        }
        for (long t = 0; t < kept; t++)
                x->bmc[t] = mc[keep[t]];
        qsort(x->bmc, (size_t)kept, sizeof(uint64_t), cmp_u64);
        for (long t = 0; t < kept; t++)
                if (t == 0 || x->bmc[t] != x->bmc[x->n_b - 1])
                        x->bmc[x->n_b++] = x->bmc[t];
        for (size_t b = 0; b < x->n_b; b++) {
                x->off[b] = m;
                for (long t = 0; t < kept; t++) {
                        size_t i = keep[t];
                        if (mc[i] > x->bmc[b] || (m > x->off[b] && obj[i] <= x->obj[m - 1]))
                                continue;
                        x->lat[m] = lat[i];
                        x->obj[m++] = obj[i];
                }
        }
        x->off[x->n_b] = m;
        free(lat);
        free(obj);
        free(mc);
        free(keep);
        return 0;
}

/* Whether a single-variant candidate has latency <= lat, millicores <= mc and objective
 * >= obj: the mix is then never needed (swap it for that one). */
static int single_dominates(const single_index *x, double lat, uint64_t mc, double obj)
{
        size_t lo = 0, hi = x->n_b, b;

        while (lo < hi) { /* first bucket with bmc > mc */
                size_t mid = (lo + hi) / 2;
                if (x->bmc[mid] <= mc)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == 0)
                return 0;
        b = lo - 1;
        lo = x->off[b];
        hi = x->off[b + 1];
        while (lo < hi) { /* first step with latency > lat */
                size_t mid = (lo + hi) / 2;
                if (x->lat[mid] <= lat)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo > x->off[b] && x->obj[lo - 1] >= obj;
}

/* One replica configuration of one variant: l(b, c) finite and > 0, h = 1000·b/l. */
typedef struct rcfg {
        uint32_t batch, millicores;
        double l, h;
} rcfg;

/* The variant's configurations with a finite latency, in (batch, millicores) order. */
static size_t variant_cfgs(const opt_stage *st, const opt__space *sp, uint32_t v, rcfg *out)
{
        size_t n = 0;

        for (size_t bi = 0; bi < sp->n_batches; bi++)
                for (uint64_t mc = sp->mc_lo; mc <= sp->mc_hi;
                     mc += sp->mc_step ? sp->mc_step : (uint64_t)UINT32_MAX + 1) {
                        uint32_t b = sp->batches[bi];
                        double l = opt_latency_eval_ms(&st->variants[v].model, b, (uint32_t)mc);
                        if (!(l > 0.0) || !isfinite(l))
                                continue;
                        out[n++] = (rcfg){b, (uint32_t)mc, l, (double)b * 1000.0 / l};
                }
        return n;
}

static void group_fill(uint32_t v, const rcfg *r, uint32_t n, double lambda_share, double share,
                       opt_plan_group *g)
{
        g->variant = v;
        g->batch = r->batch;
        g->millicores = r->millicores;
        g->replicas = n;
        g->processing_ms = r->l;
        g->throughput_rps = (double)n * r->h;
        g->predicted_latency_ms = opt_queue_delay_ms(r->batch, n, lambda_share, r->l);
        g->share = share;
}

static int push_groups(opt__stage_cands *sc, const opt_plan_group g[2])
{
        if (sc->n_groups + 2 > sc->cap_groups) {
                size_t cap = sc->cap_groups ? sc->cap_groups * 2 : 256;
                opt_plan_group *n = realloc(sc->groups, sizeof(*n) * cap);
                if (!n)
                        return -ENOMEM;
                sc->groups = n;
                sc->cap_groups = cap;
        }
        sc->groups[sc->n_groups++] = g[0];
        sc->groups[sc->n_groups++] = g[1];
        return 0;
}

/* Evaluates the mix (v1: r1 × n1, v2: r2 × n2) and appends it. */
/* The fill and service part of opt_queue_delay_ms (its wait term is >= 0): a lower bound of
 * a group's latency without pow(). */
static double latency_floor_ms(const rcfg *r, uint32_t n, double lambda_share)
{
        return 1000.0 * (double)(r->batch - 1) * (double)n / lambda_share + r->l;
}

/* Evaluates the mix (v1: r1 × n1, v2: r2 × n2) and appends it unless a single-variant
 * candidate dominates it (checked first against the latency floor, which settles most). */
static int add_mix(const opt_pipeline *pl, const opt_stage *st, const single_index *idx,
                   uint32_t v1, const rcfg *r1, uint32_t n1, uint32_t v2, const rcfg *r2,
                   uint32_t n2, opt__stage_cands *sc, size_t *cap)
{
        double h1 = n1 * r1->h, h2 = n2 * r2->h, H = h1 + h2, lam = pl->lambda_rps, floor_ms;
        const opt_variant *a = &st->variants[v1], *b = &st->variants[v2];
        opt_plan_group g[2];
        opt__cand c;
        int swap = h2 > h1; /* groups[0]: the larger share */

        memset(&c, 0, sizeof(c));
        c.mc_total = (uint64_t)n1 * r1->millicores + (uint64_t)n2 * r2->millicores;
        c.objective = pl->alpha * (h1 * a->accuracy + h2 * b->accuracy) / H -
                      pl->beta * ((double)c.mc_total / 1000.0) -
                      pl->delta * (h1 * r1->batch + h2 * r2->batch) / H;
        if (pl->load_weight > 0.0)
                c.objective -= pl->load_weight * (opt__loading(st, v1, r1->millicores, n1, NULL) +
                                                  opt__loading(st, v2, r2->millicores, n2, NULL));
        /* (1 − 1e-12: the floor is computed apart from the latency, rounding may differ) */
        floor_ms =
            fmax(latency_floor_ms(r1, n1, lam * h1 / H), latency_floor_ms(r2, n2, lam * h2 / H));
        if (single_dominates(idx, floor_ms * (1.0 - 1e-12), c.mc_total, c.objective))
                return 0;
        group_fill(v1, r1, n1, lam * h1 / H, h1 / H, &g[swap]);
        group_fill(v2, r2, n2, lam * h2 / H, h2 / H, &g[!swap]);
        c.latency_ms = fmax(g[0].predicted_latency_ms, g[1].predicted_latency_ms);
        if (!isfinite(c.latency_ms) || single_dominates(idx, c.latency_ms, c.mc_total, c.objective))
                return 0;
        c.variant = g[0].variant;
        c.batch = g[0].batch;
        c.millicores = g[0].millicores;
        c.replicas = n1 + n2;
        c.processing_ms = g[0].processing_ms;
        c.throughput_rps = H;
        c.mix = (uint32_t)(sc->n_groups / 2);
        if (push_groups(sc, g) < 0 || opt__push_cand(sc, cap, &c) < 0)
                return -ENOMEM;
        return 0;
}

/* The least n2 >= 1 with H1 + n2·h2 > λ (exact test after the rounded quotient). */
static uint32_t least_second(double lam, double H1, double h2)
{
        double need = (lam - H1) / h2;
        uint32_t n2 = need < 1.0 ? 1 : (uint32_t)fmin(floor(need) + 1.0, (double)UINT32_MAX / 2);

        while (n2 > 1 && H1 + (n2 - 1) * h2 > lam)
                n2--;
        while (!(H1 + n2 * h2 > lam))
                n2++;
        return n2;
}

/* Every mix of variants v1 < v2: for each configuration and replica count of the first group
 * that does not carry λ alone, each configuration of the second with its least replicas that
 * complete it; kept when the second does not carry λ alone either, the first has no spare
 * replica, and the total is within [min_replicas, max_replicas]. */
static int mix_pair(const opt_pipeline *pl, const opt_stage *st, const single_index *idx,
                    uint32_t v1, const rcfg *c1, size_t n_c1, uint32_t v2, const rcfg *c2,
                    size_t n_c2, opt__stage_cands *sc, size_t *cap)
{
        double lam = pl->lambda_rps;

        for (size_t i = 0; i < n_c1; i++)
                for (uint32_t n1 = 1; n1 < st->max_replicas && n1 * c1[i].h <= lam; n1++) {
                        double H1 = n1 * c1[i].h;
                        for (size_t j = 0; j < n_c2; j++) {
                                uint32_t n2;
                                if (H1 + (st->max_replicas - n1) * c2[j].h <= lam)
                                        continue; /* cannot complete within max_replicas */
                                n2 = least_second(lam, H1, c2[j].h);
                                if (n1 + n2 < st->min_replicas || n2 * c2[j].h > lam ||
                                    (n1 >= 2 && H1 - c1[i].h + n2 * c2[j].h > lam))
                                        continue;
                                if (add_mix(pl, st, idx, v1, &c1[i], n1, v2, &c2[j], n2, sc, cap) <
                                    0)
                                        return -ENOMEM;
                        }
                }
        return 0;
}

int opt__mix_build(const opt_pipeline *pl, const opt_stage *st, opt__stage_cands *sc, size_t *cap)
{
        opt__space sp;
        rcfg **cfg;
        size_t *n_cfg, per;
        single_index idx;
        int r = -ENOMEM;

        if (!mix_enabled(pl, st))
                return 0;
        if (single_index_build(sc->c, sc->n, &idx) < 0)
                return -ENOMEM;
        opt__stage_space(pl, st, &sp);
        per = sp.n_batches * (size_t)opt__space_n_mc(&sp);
        cfg = calloc(st->n_variants, sizeof(*cfg));
        n_cfg = calloc(st->n_variants, sizeof(*n_cfg));
        if (!cfg || !n_cfg)
                goto out;
        for (uint32_t v = 0; v < st->n_variants; v++) {
                cfg[v] = malloc(sizeof(rcfg) * per);
                if (!cfg[v])
                        goto out;
                n_cfg[v] = variant_cfgs(st, &sp, v, cfg[v]);
        }
        r = 0;
        for (uint32_t v1 = 0; r == 0 && v1 < st->n_variants; v1++)
                for (uint32_t v2 = v1 + 1; r == 0 && v2 < st->n_variants; v2++)
                        r = mix_pair(pl, st, &idx, v1, cfg[v1], n_cfg[v1], v2, cfg[v2], n_cfg[v2],
                                     sc, cap);
out:
        single_index_free(&idx);
        if (cfg)
                for (uint32_t v = 0; v < st->n_variants; v++)
                        free(cfg[v]);
        free(cfg);
        free(n_cfg);
        return r;
}

void opt__plan_stage_fill(const opt_stage *st, const opt__stage_cands *owner, const opt__cand *c,
                          opt_plan_stage *ret)
{
        uint32_t started;

        *ret = (opt_plan_stage){.variant = c->variant,
                                .batch = c->batch,
                                .millicores = c->millicores,
                                .replicas = c->replicas,
                                .processing_ms = c->processing_ms,
                                .predicted_latency_ms = c->latency_ms,
                                .throughput_rps = c->throughput_rps,
                                .cores = (double)c->mc_total / 1000.0,
                                .objective = c->objective};
        if (c->mix == OPT__NO_MIX) {
                ret->n_groups = 1;
                ret->groups[0] = (opt_plan_group){
                    c->variant,       c->batch,      c->millicores,     c->replicas,
                    c->processing_ms, c->latency_ms, c->throughput_rps, 1.0};
                ret->loading_core_s = opt__loading(st, c->variant, c->millicores, c->replicas,
                                                   &ret->replicas_started);
                return;
        }
        assert(owner && owner->groups && 2 * (size_t)c->mix + 1 < owner->n_groups);
        ret->n_groups = 2;
        for (int g = 0; g < 2; g++) {
                const opt_plan_group *src = &owner->groups[2 * (size_t)c->mix + (size_t)g];
                ret->groups[g] = *src;
                ret->loading_core_s +=
                    opt__loading(st, src->variant, src->millicores, src->replicas, &started);
                ret->replicas_started += started;
        }
}
