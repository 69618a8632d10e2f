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

/* Start-up core-seconds of n replicas of variant v at mc against the plan in force. */
static double load_of(const opt_stage *st, uint32_t v, uint32_t mc, uint32_t n)
{
        const opt_variant *va = &st->variants[v];
        uint32_t cur;

        if (!st->current_replicas)
                return 0.0;
        cur = st->current_replicas[v];
        return n > cur ? (n - cur) * (va->startup_s * mc / 1000.0 + va->startup_cpu_s) : 0.0;
}

static int mc_allowed(const opt_stage *st, uint32_t mc)
{
        return mc >= st->min_millicores && mc <= st->max_millicores &&
               (st->step_millicores ? (mc - st->min_millicores) % st->step_millicores == 0
                                    : mc == st->min_millicores);
}

/* The mix rules (optimizer README §4 "Mixes") for groups (v, b, mc, n)[2], with their own
 * arithmetic: returns 1 and the stage's latency, millicores and objective when it is a
 * candidate, 0 when not. */
static int mix_eval(const opt_pipeline *pl, const opt_stage *st, const uint32_t g[2][4],
                    double *ret_lat, uint64_t *ret_mc, double *ret_obj)
{
        double l[2], h[2], H = 0.0, lam = pl->lambda_rps, acc = 0.0, bat = 0.0, lat = 0.0;
        double load = 0.0;
        uint64_t mc = 0;

        if (!pl->mix || pl->policy != OPT_POLICY_FULL || g[0][0] == g[1][0] || !(lam > 0.0) ||
            g[0][3] + g[1][3] < st->min_replicas || g[0][3] + g[1][3] > st->max_replicas)
                return 0;
        for (int i = 0; i < 2; i++) {
                if (g[i][0] >= st->n_variants || !batch_allowed(st, g[i][1]) ||
                    !mc_allowed(st, g[i][2]) || g[i][3] == 0)
                        return 0;
                l[i] = lat_of(&st->variants[g[i][0]], g[i][1], g[i][2]);
                if (!(l[i] > 0.0) || !isfinite(l[i]))
                        return 0;
                h[i] = g[i][1] * 1000.0 / l[i];
                H += g[i][3] * h[i];
        }
        if (!(H > lam))
                return 0;
        for (int i = 0; i < 2; i++) {
                double Hi = g[i][3] * h[i], lam_i = lam * Hi / H, rho, q;
                if (Hi > lam)
                        return 0; /* the other group would not be needed */
                if (g[i][3] >= 2 && H - h[i] > lam)
                        return 0; /* a spare replica */
                rho = lam_i * l[i] / (1000.0 * g[i][3] * g[i][1]);
                q = 1000.0 * (g[i][1] - 1) * g[i][3] / lam_i + l[i] +
                    l[i] / 2 * pow(rho, sqrt(2.0 * (g[i][3] + 1)) - 1) / (g[i][3] * (1 - rho));
                lat = fmax(lat, q);
                acc += Hi / H * st->variants[g[i][0]].accuracy;
                bat += Hi / H * g[i][1];
                mc += (uint64_t)g[i][3] * g[i][2];
                load += load_of(st, g[i][0], g[i][2], g[i][3]);
        }
        *ret_lat = lat;
        *ret_mc = mc;
        *ret_obj =
            pl->alpha * acc - pl->beta * (mc / 1000.0) - pl->delta * bat - pl->load_weight * load;
        return isfinite(lat);
}

/* A mixed plan stage against the rules and its reported figures. */
static int check_mix_stage(const opt_pipeline *pl, const opt_stage *st, const opt_plan_stage *ps,
                           double *ret_lat, uint64_t *ret_mc, double *ret_obj, char *err,
                           size_t errlen)
{
        uint32_t g[2][4];

        for (int i = 0; i < 2; i++) {
                g[i][0] = ps->groups[i].variant;
                g[i][1] = ps->groups[i].batch;
                g[i][2] = ps->groups[i].millicores;
                g[i][3] = ps->groups[i].replicas;
        }
        if (!mix_eval(pl, st, (const uint32_t(*)[4])g, ret_lat, ret_mc, ret_obj))
                return fail(err, errlen, "mix breaks the rules");
        if (!close_rel(*ret_lat, ps->predicted_latency_ms) ||
            !close_rel(*ret_mc / 1000.0, ps->cores) || !close_rel(*ret_obj, ps->objective) ||
            ps->replicas != g[0][3] + g[1][3] ||
            !close_rel(ps->groups[0].share + ps->groups[1].share, 1.0) ||
            ps->groups[0].share < ps->groups[1].share)
                return fail(err, errlen, "mix figures differ (lat %g vs %g, obj %g vs %g)",
                            *ret_lat, ps->predicted_latency_ms, *ret_obj, ps->objective);
        return 0;
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
                        if (ps->n_groups == 2) {
                                uint64_t mmc;
                                if (check_mix_stage(pl, st, ps, &q, &mmc, &o, err, errlen) < 0)
                                        return fail(err, errlen, "p%zu s%zu: %s", p, s, err);
                                lat += q;
                                pobj += o;
                                mc_total += mmc;
                                continue;
                        }
                        if (ps->n_groups != 1 || ps->groups[0].variant != ps->variant ||
                            ps->groups[0].replicas != ps->replicas ||
                            ps->groups[0].millicores != ps->millicores ||
                            ps->groups[0].batch != ps->batch)
                                return fail(err, errlen, "p%zu s%zu: groups[0] differs", p, s);
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
                                if (pl->policy != OPT_POLICY_VERTICAL &&
                                    n >= st->min_replicas + 2 && carries(pl, v, b, mc, n - 2))
                                        return fail(err, errlen,
                                                    "p%zu s%zu: more than one spare replica", p, s);
                        }
                        l = lat_of(v, b, mc);
                        q = queue_ms(pl, b, n, l);
                        if (!carries(pl, v, b, mc, n))
                                q = INFINITY;
                        cores = (double)n * mc / 1000.0;
                        o = pl->alpha * v->accuracy - pl->beta * cores - pl->delta * b -
                            pl->load_weight * load_of(st, ps->variant, mc, n);
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

#define BSTAGE_MAX 65536
typedef struct bstage {
        bcand c[BSTAGE_MAX];
        size_t n;
} bstage;

/* Every mix by plain enumeration of both groups' (variant, batch, millicores, replicas),
 * filtered by the rules. */
static void gen_mixes(const opt_pipeline *pl, const opt_stage *st, const uint32_t *bl, uint32_t nb,
                      bstage *out)
{
        uint32_t cfg[256][3], n = 0, g[2][4];

        for (uint32_t v = 0; v < st->n_variants; v++)
                for (uint32_t bi = 0; bi < nb; bi++)
                        for (uint32_t mc = st->min_millicores; mc <= st->max_millicores && n < 256;
                             mc +=
                             st->step_millicores ? st->step_millicores : st->max_millicores + 1) {
                                cfg[n][0] = v;
                                cfg[n][1] = bl[bi];
                                cfg[n++][2] = mc;
                        }
        for (uint32_t i = 0; i < n; i++)
                for (uint32_t j = 0; j < n; j++) {
                        if (cfg[i][0] >= cfg[j][0])
                                continue; /* each pair of variants once, in order */
                        memcpy(g[0], cfg[i], sizeof(cfg[i]));
                        memcpy(g[1], cfg[j], sizeof(cfg[j]));
                        for (g[0][3] = 1; g[0][3] < st->max_replicas; g[0][3]++)
                                for (g[1][3] = 1; g[1][3] < st->max_replicas; g[1][3]++) {
                                        bcand *c = &out->c[out->n];
                                        if (out->n < BSTAGE_MAX &&
                                            mix_eval(pl, st, (const uint32_t(*)[4])g, &c->lat,
                                                     &c->mc, &c->obj))
                                                out->n++;
                                }
                }
}

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
                                        pl->beta * ((double)out->c[0].mc / 1000.0) - pl->delta * b -
                                        pl->load_weight * load_of(st, st->fixed_variant, mc, n);
                        out->n = 1;
                }
                return;
        }
        for (uint32_t v = vlo; v <= vhi; v++)
                for (uint32_t bi = 0; bi < nb; bi++)
                        for (uint32_t mc = mlo; mc <= mhi; mc += mstep ? mstep : mhi + 1)
                                for (uint32_t n = rlo, kept = 0; n <= rhi; n++) {
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
                                                 pl->delta * b -
                                                 pl->load_weight * load_of(st, v, mc, n);
                                        /* the least n, and one more if this one is more
                                         * than half busy */
                                        if (pl->lambda_rps * l / (1000.0 * n * b) <= 0.5 ||
                                            ++kept == 2 ||
                                            out->n == sizeof(out->c) / sizeof(out->c[0]))
                                                break;
                                }
        if (pl->mix)
                gen_mixes(pl, st, bl, nb, out);
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

static void set_budgets(uint64_t *seed, optt_instance *in);

void optt_random_instance(uint64_t *seed, optt_instance *in)
{
        size_t np = pick(seed, 1, OPTT_MAX_P), total_st = 0;

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
        set_budgets(seed, in);
}

/* Budgets and capacity from what the allowed configurations need: the fastest and the
 * smallest of each stage (own enumeration). */
static void set_budgets(uint64_t *seed, optt_instance *in)
{
        double need_mc = 0.0;

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

void optt_mixify(uint64_t *seed, optt_instance *in)
{
        for (size_t p = 0; p < in->pr.n_pipelines; p++) {
                opt_pipeline *pl = &in->pl[p];
                pl->mix = pl->policy == OPT_POLICY_FULL;
                /* Dear cores make the mix's finer steps between variants pay more often. */
                /* Mixes exist only where one replica of a configuration cannot carry λ:
                 * more load in half the pipelines, dearer cores in half. */
                if (pick(seed, 0, 1))
                        pl->lambda_rps *= 5.0;
                if (pick(seed, 0, 1))
                        pl->beta *= 10.0;
                pl->load_weight = pick(seed, 0, 1) ? optt_uniform(seed, 0.0, 3.0) : 0.0;
                for (size_t s = 0; s < pl->n_stages; s++) {
                        opt_stage *st = &in->st[p][s];
                        for (size_t v = 0; v < st->n_variants; v++) {
                                in->var[p][s][v].startup_s = optt_uniform(seed, 0.0, 4.0);
                                in->var[p][s][v].startup_cpu_s = optt_uniform(seed, 0.0, 2.0);
                                in->cur[p][s][v] = pick(seed, 0, 2);
                        }
                        st->current_replicas = pick(seed, 0, 3) ? in->cur[p][s] : NULL;
                }
        }
        set_budgets(seed, in);
}
