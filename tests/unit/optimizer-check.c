/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/optimizer-check.h"

static uint64_t next_u64(uint64_t *s)
{
        /* xorshift64* (Vigna 2016) */
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 2685821657736338717ull;
}

double optt_uniform(uint64_t *seed, double lo, double hi)
{
        return lo + (hi - lo) * (double)(next_u64(seed) >> 11) / 9007199254740992.0;
}

static uint32_t pick(uint64_t *seed, uint32_t lo, uint32_t hi)
{
        return lo + (uint32_t)(next_u64(seed) % (uint64_t)(hi - lo + 1));
}

/* The check's own latency formula (margin included). */
static double lat_of(const opt_variant *v, uint32_t b, uint32_t mc)
{
        const opt_model *m = &v->model.fit;
        double c = mc / 1000.0;

        if (v->model.kind != OPT_LATENCY_MODEL)
                return opt_latency_eval_ms(&v->model, b, mc);
        return (m->gamma * b / c + m->delta * b + m->epsilon / c + m->eta) * (1.0 + m->margin);
}

static int fail(char *err, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(err, len, fmt, ap);
        va_end(ap);
        return -1;
}

static int close_rel(double a, double b)
{
        if (isinf(a) || isinf(b))
                return a == b;
        return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

static int batch_allowed(const opt_stage *st, uint32_t b)
{
        if (st->batches) {
                for (size_t i = 0; i < st->n_batches; i++)
                        if (st->batches[i] == b)
                                return 1;
                return 0;
        }
        return b <= st->max_batch && (b & (b - 1)) == 0;
}

static int carries(const opt_pipeline *pl, const opt_variant *v, uint32_t b, uint32_t mc,
                   uint32_t n)
{
        double l = lat_of(v, b, mc), h;

        if (!(l > 0.0) || !isfinite(l))
                return 0;
        h = (double)n * b * 1000.0 / l;
        /* at utilisation 1 the queue grows without bound (queueing estimate: +inf) */
        return pl->lambda_rps > 0.0 ? h > pl->lambda_rps : 1;
}

/* The queueing estimate, written out again (optimizer README, section 2). */
static double queue_ms(const opt_pipeline *pl, uint32_t b, uint32_t n, double l)
{
        double lam = pl->lambda_rps, rho;

        if (!(lam > 0.0))
                return b > 1 ? INFINITY : l;
        rho = lam * l / (1000.0 * n * b);
        return 1000.0 * (b - 1) * n / lam + l +
               l / 2 * pow(rho, sqrt(2.0 * (n + 1)) - 1) / (n * (1 - rho));
}

int optt_plan_check(const opt_problem *pr, const opt_plan *plan, char *err, size_t errlen)
{
        uint64_t mc_total = 0;
        double obj = 0.0;

        if (plan->n_pipelines != pr->n_pipelines)
                return fail(err, errlen, "plan has %zu pipelines, problem %zu", plan->n_pipelines,
                            pr->n_pipelines);
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                const opt_pipeline *pl = &pr->pipelines[p];
                const opt_plan_pipeline *pp = &plan->pipelines[p];
                double lat = 0.0, pobj = 0.0;
                if (pp->n_stages != pl->n_stages)
                        return fail(err, errlen, "p%zu: stage count", p);
                for (size_t s = 0; s < pl->n_stages; s++) {
                        const opt_stage *st = &pl->stages[s];
                        const opt_plan_stage *ps = &pp->stages[s];
                        const opt_variant *v;
                        uint32_t b = ps->batch, mc = ps->millicores, n = ps->replicas;
                        double l, q, cores, o;
                        if (ps->variant >= st->n_variants)
                                return fail(err, errlen, "p%zu s%zu: variant range", p, s);
                        v = &st->variants[ps->variant];
                        if (pl->policy != OPT_POLICY_FULL && ps->variant != st->fixed_variant)
                                return fail(err, errlen, "p%zu s%zu: variant not fixed", p, s);
                        if (pl->policy == OPT_POLICY_STATIC) {
                                if (b != st->fixed_batch || mc != st->fixed_millicores ||
                                    n != st->fixed_replicas)
                                        return fail(err, errlen, "p%zu s%zu: static changed", p, s);
                        } else if (plan->feasible) {
                                if (!batch_allowed(st, b))
                                        return fail(err, errlen, "p%zu s%zu: batch %u", p, s, b);
                                if (pl->policy == OPT_POLICY_HORIZONTAL
                                        ? mc != st->fixed_millicores
                                        : (mc < st->min_millicores || mc > st->max_millicores ||
                                           (st->step_millicores
                                                ? (mc - st->min_millicores) % st->step_millicores
                                                : mc != st->min_millicores)))
                                        return fail(err, errlen, "p%zu s%zu: millicores %u", p, s,
                                                    mc);
                                if (pl->policy == OPT_POLICY_VERTICAL
                                        ? n != 1
                                        : (n < st->min_replicas || n > st->max_replicas))
                                        return fail(err, errlen, "p%zu s%zu: replicas %u", p, s, n);
                                if (!carries(pl, v, b, mc, n))
                                        return fail(err, errlen, "p%zu s%zu: does not carry", p, s);
                                /* more than the least replicas only while the one fewer
                                 * would be more than half busy */
                                if (pl->policy != OPT_POLICY_VERTICAL && n > st->min_replicas &&
                                    carries(pl, v, b, mc, n - 1) &&
                                    pl->lambda_rps * lat_of(v, b, mc) / (1000.0 * (n - 1) * b) <=
                                        0.5)
                                        return fail(err, errlen, "p%zu s%zu: replicas not least", p,
                                                    s);
                        }
                        l = lat_of(v, b, mc);
                        q = queue_ms(pl, b, n, l);
                        if (!carries(pl, v, b, mc, n))
                                q = INFINITY;
                        cores = (double)n * mc / 1000.0;
                        o = pl->alpha * v->accuracy - pl->beta * cores - pl->delta * b;
                        if (plan->feasible || isfinite(ps->predicted_latency_ms)) {
                                if (!close_rel(l, ps->processing_ms) ||
                                    !close_rel(q, ps->predicted_latency_ms) ||
                                    !close_rel(cores, ps->cores) || !close_rel(o, ps->objective))
                                        return fail(err, errlen,
                                                    "p%zu s%zu: figures differ (lat %g vs %g)", p,
                                                    s, q, ps->predicted_latency_ms);
                        }
                        lat += q;
                        pobj += o;
                        mc_total += (uint64_t)n * mc;
                }
                if (plan->feasible && !(lat <= pl->slo_budget_ms * (1.0 + 1e-12)))
                        return fail(err, errlen, "p%zu: latency %.9g > budget %.9g", p, lat,
                                    pl->slo_budget_ms);
                obj += pobj;
        }
        if (plan->feasible) {
                if (mc_total > pr->node_millicores)
                        return fail(err, errlen, "millicores %llu > node %u",
                                    (unsigned long long)mc_total, pr->node_millicores);
                if (!close_rel(obj, plan->objective))
                        return fail(err, errlen, "objective %.12g vs plan %.12g", obj,
                                    plan->objective);
        } else if (plan->reason == OPT_FEASIBLE) {
                return fail(err, errlen, "infeasible plan without a reason");
        }
        return 0;
}

/* ---- brute force -------------------------------------------------------------------------- */

typedef struct bcand {
        double lat, obj;
        uint64_t mc;
} bcand;

typedef struct bstage {
        bcand c[4096];
        size_t n;
} bstage;

static void gen_stage(const opt_pipeline *pl, const opt_stage *st, bstage *out)
{
        uint32_t vlo = 0, vhi = (uint32_t)st->n_variants - 1, bl[64], nb = 0;
        uint32_t mlo = st->min_millicores, mhi = st->max_millicores, mstep = st->step_millicores;
        uint32_t rlo = st->min_replicas, rhi = st->max_replicas;

        out->n = 0;
        if (pl->policy != OPT_POLICY_FULL)
                vlo = vhi = st->fixed_variant;
        if (pl->policy == OPT_POLICY_VERTICAL)
                rlo = rhi = 1;
        if (pl->policy == OPT_POLICY_HORIZONTAL || pl->policy == OPT_POLICY_STATIC) {
                mlo = mhi = st->fixed_millicores;
                mstep = 0;
        }
        for (uint32_t b = 1; b <= 4096 && nb < 64; b++)
                if (batch_allowed(st, b))
                        bl[nb++] = b;
        if (pl->policy == OPT_POLICY_STATIC) {
                const opt_variant *v = &st->variants[st->fixed_variant];
                uint32_t b = st->fixed_batch, mc = st->fixed_millicores, n = st->fixed_replicas;
                double l = lat_of(v, b, mc);
                if (carries(pl, v, b, mc, n)) {
                        out->c[0].lat = queue_ms(pl, b, n, l);
                        out->c[0].mc = (uint64_t)n * mc;
                        out->c[0].obj = pl->alpha * v->accuracy -
                                        pl->beta * ((double)out->c[0].mc / 1000.0) - pl->delta * b;
                        out->n = 1;
                }
                return;
        }
        for (uint32_t v = vlo; v <= vhi; v++)
                for (uint32_t bi = 0; bi < nb; bi++)
                        for (uint32_t mc = mlo; mc <= mhi; mc += mstep ? mstep : mhi + 1)
                                for (uint32_t n = rlo; n <= rhi; n++) {
                                        const opt_variant *va = &st->variants[v];
                                        uint32_t b = bl[bi];
                                        double l = lat_of(va, b, mc);
                                        bcand *c;
                                        if (!carries(pl, va, b, mc, n))
                                                continue;
                                        c = &out->c[out->n++];
                                        c->lat = queue_ms(pl, b, n, l);
                                        c->mc = (uint64_t)n * mc;
                                        c->obj = pl->alpha * va->accuracy -
                                                 pl->beta * ((double)c->mc / 1000.0) -
                                                 pl->delta * b;
                                        /* the least n, and more while this one is more than
                                         * half busy */
                                        if (pl->lambda_rps * l / (1000.0 * n * b) <= 0.5 ||
                                            out->n == sizeof(out->c) / sizeof(out->c[0]))
                                                break;
                                }
}

int optt_brute_force(const opt_problem *pr, uint64_t limit, double *ret_obj)
{
        static bstage stages[OPTT_MAX_P * OPTT_MAX_S];
        size_t idx[OPTT_MAX_P * OPTT_MAX_S] = {0}, ns = 0, pipe_of[OPTT_MAX_P * OPTT_MAX_S];
        uint64_t combos = 1;
        double best = -INFINITY;
        int found = 0;

        for (size_t p = 0; p < pr->n_pipelines; p++)
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        gen_stage(&pr->pipelines[p], &pr->pipelines[p].stages[s], &stages[ns]);
                        pipe_of[ns] = p;
                        if (stages[ns].n == 0)
                                return 0;
                        combos *= stages[ns].n;
                        if (combos > limit)
                                return -E2BIG;
                        ns++;
                }
        for (;;) {
                double lat[OPTT_MAX_P] = {0}, obj = 0.0;
                uint64_t mc = 0;
                int ok = 1;
                for (size_t i = 0; i < ns; i++) {
                        const bcand *c = &stages[i].c[idx[i]];
                        lat[pipe_of[i]] += c->lat;
                        mc += c->mc;
                }
                for (size_t p = 0; p < pr->n_pipelines; p++)
                        if (!(lat[p] <= pr->pipelines[p].slo_budget_ms))
                                ok = 0;
                if (mc > pr->node_millicores)
                        ok = 0;
                if (ok) {
                        /* Objective summed per pipeline, then over pipelines, like the plan. */
                        double pobj[OPTT_MAX_P] = {0};
                        for (size_t i = 0; i < ns; i++)
                                pobj[pipe_of[i]] += stages[i].c[idx[i]].obj;
                        for (size_t p = 0; p < pr->n_pipelines; p++)
                                obj += pobj[p];
                        if (obj > best)
                                best = obj;
                        found = 1;
                }
                size_t i = 0;
                while (i < ns && ++idx[i] == stages[i].n)
                        idx[i++] = 0;
                if (i == ns)
                        break;
        }
        if (found)
                *ret_obj = best;
        return found;
}

void optt_random_instance(uint64_t *seed, optt_instance *in)
{
        size_t np = pick(seed, 1, OPTT_MAX_P), total_st = 0;
        double need_mc = 0.0;

        memset(in, 0, sizeof(*in));
        for (size_t p = 0; p < np; p++) {
                opt_pipeline *pl = &in->pl[p];
                size_t ns = pick(seed, 1, OPTT_MAX_S);
                uint32_t pol = pick(seed, 0, 9);

                if (total_st + ns > 8)
                        ns = 8 - total_st;
                if (ns == 0)
                        break;
                total_st += ns;
                pl->stages = in->st[p];
                pl->n_stages = ns;
                pl->lambda_rps = optt_uniform(seed, 1.0, 40.0);
                pl->alpha = optt_uniform(seed, 0.2, 2.0);
                pl->beta = optt_uniform(seed, 0.0, 5.0);
                pl->delta = optt_uniform(seed, 0.0, 0.3);
                pl->policy = pol < 6   ? OPT_POLICY_FULL
                             : pol < 7 ? OPT_POLICY_VERTICAL
                             : pol < 9 ? OPT_POLICY_HORIZONTAL
                                       : OPT_POLICY_STATIC;
                for (size_t s = 0; s < ns; s++) {
                        opt_stage *st = &in->st[p][s];
                        size_t nv = pick(seed, 1, OPTT_MAX_V);
                        st->variants = in->var[p][s];
                        st->n_variants = nv;
                        for (size_t v = 0; v < nv; v++) {
                                opt_variant *va = &in->var[p][s][v];
                                va->accuracy = optt_uniform(seed, 60.0, 90.0);
                                va->model.kind = OPT_LATENCY_MODEL;
                                va->model.fit.gamma = optt_uniform(seed, 1.0, 20.0);
                                va->model.fit.delta = optt_uniform(seed, 0.0, 4.0);
                                va->model.fit.epsilon = optt_uniform(seed, 0.0, 15.0);
                                va->model.fit.eta = optt_uniform(seed, 0.0, 8.0);
                                va->model.fit.margin = optt_uniform(seed, 0.0, 0.2);
                        }
                        if (pick(seed, 0, 1)) {
                                st->max_batch = 1u << pick(seed, 0, 3);
                        } else {
                                st->n_batches = pick(seed, 1, OPTT_MAX_B);
                                for (size_t b = 0; b < st->n_batches; b++)
                                        in->batches[p][s][b] = pick(seed, 1, 12);
                                st->batches = in->batches[p][s];
                        }
                        st->min_millicores = 250 * pick(seed, 1, 4);
                        st->step_millicores = 250 * pick(seed, 0, 2);
                        st->max_millicores =
                            st->min_millicores +
                            (st->step_millicores ? st->step_millicores : 250) * pick(seed, 0, 4);
                        st->min_replicas = pick(seed, 1, 2);
                        st->max_replicas = st->min_replicas + pick(seed, 0, 3);
                        st->fixed_variant = pick(seed, 0, (uint32_t)nv - 1);
                        st->fixed_batch = pick(seed, 1, 2);
                        st->fixed_millicores = 250 * pick(seed, 4, 8);
                        st->fixed_replicas = pick(seed, 2, 4);
                }
        }
        in->pr.pipelines = in->pl;
        in->pr.n_pipelines = np;
        for (size_t p = 0; p < np; p++)
                if (in->pl[p].n_stages == 0)
                        in->pr.n_pipelines = p;
        /* Budgets and capacity from what the allowed configurations need: the fastest and the
         * smallest of each stage (own enumeration). */
        for (size_t p = 0; p < in->pr.n_pipelines; p++) {
                opt_pipeline *pl = &in->pl[p];
                double fast = 0.0;
                for (size_t s = 0; s < pl->n_stages; s++) {
                        static bstage bs;
                        double l = INFINITY;
                        uint64_t m = UINT64_MAX;
                        gen_stage(pl, &pl->stages[s], &bs);
                        for (size_t k = 0; k < bs.n; k++) {
                                l = fmin(l, bs.c[k].lat);
                                m = bs.c[k].mc < m ? bs.c[k].mc : m;
                        }
                        fast += isfinite(l) ? l : 100.0;
                        need_mc += m == UINT64_MAX ? 1000.0 : (double)m;
                }
                pl->slo_budget_ms = fast * optt_uniform(seed, 0.95, 2.5);
        }
        in->pr.node_millicores = (uint32_t)(need_mc * optt_uniform(seed, 0.9, 2.5)) + 1;
}
