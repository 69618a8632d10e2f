/* SPDX-License-Identifier: MIT */
/* Problem validation, candidate generation per stage and policy, dominance pruning. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

/* Above this many configurations per stage the problem is rejected (memory ~64 B each). */
#define MAX_CONFIGS_PER_STAGE (1u << 20)
/* Above this many mix configurations enumerated per stage, mix is rejected (time, not memory:
 * few survive the minimality rule). */
#define MAX_MIX_CONFIGS_PER_STAGE (1u << 22)

/* Names indexed by the enums (the last value of each is asserted; a gap reads "unknown"). */
static const char *const policy_names[] = {
    [OPT_POLICY_FULL] = "full",
    [OPT_POLICY_VERTICAL] = "vertical",
    [OPT_POLICY_HORIZONTAL] = "horizontal",
    [OPT_POLICY_STATIC] = "static",
};
static_assert(sizeof(policy_names) / sizeof(policy_names[0]) == OPT_POLICY_STATIC + 1,
              "a policy without a name");
static const char *const infeasible_names[] = {
    [OPT_FEASIBLE] = "feasible",          [OPT_INFEASIBLE_THROUGHPUT] = "throughput",
    [OPT_INFEASIBLE_LATENCY] = "latency", [OPT_INFEASIBLE_CAPACITY] = "capacity",
    [OPT_INFEASIBLE_STATIC] = "static",
};
static_assert(sizeof(infeasible_names) / sizeof(infeasible_names[0]) == OPT_INFEASIBLE_STATIC + 1,
              "an infeasibility reason without a name");

const char *opt_policy_name(opt_policy p)
{
        return (unsigned)p <= OPT_POLICY_STATIC && policy_names[p] ? policy_names[p] : "unknown";
}

int opt_policy_from_name(const char *s, opt_policy *ret)
{
        for (int p = OPT_POLICY_FULL; p <= OPT_POLICY_STATIC; p++)
                if (s && strcmp(s, opt_policy_name((opt_policy)p)) == 0) {
                        *ret = (opt_policy)p;
                        return 0;
                }
        return -EINVAL;
}

const char *opt_infeasible_name(opt_infeasible r)
{
        return (unsigned)r <= OPT_INFEASIBLE_STATIC && infeasible_names[r] ? infeasible_names[r]
                                                                           : "unknown";
}

/* ---- the configuration space of a stage ---------------------------------------------------- */

void opt__stage_space(const opt_pipeline *pl, const opt_stage *st, opt__space *sp)
{
        memset(sp, 0, sizeof(*sp));
        sp->v_lo = 0;
        sp->v_hi = (uint32_t)st->n_variants - 1;
        if (st->batches) {
                sp->batches = st->batches;
                sp->n_batches = st->n_batches;
        } else {
                for (uint64_t b = 1; b <= st->max_batch; b *= 2)
                        sp->pow2[sp->n_batches++] = (uint32_t)b;
                sp->batches = sp->pow2;
        }
        sp->mc_lo = st->min_millicores;
        sp->mc_hi = st->max_millicores;
        sp->mc_step = st->step_millicores;
        sp->r_lo = st->min_replicas;
        sp->r_hi = st->max_replicas;
        switch (pl->policy) {
        case OPT_POLICY_FULL:
                break;
        case OPT_POLICY_VERTICAL:
                sp->v_lo = sp->v_hi = st->fixed_variant;
                sp->r_lo = sp->r_hi = 1;
                break;
        case OPT_POLICY_HORIZONTAL:
                sp->v_lo = sp->v_hi = st->fixed_variant;
                sp->mc_lo = sp->mc_hi = st->fixed_millicores;
                sp->mc_step = 0;
                break;
        case OPT_POLICY_STATIC:
                sp->v_lo = sp->v_hi = st->fixed_variant;
                sp->pow2[0] = st->fixed_batch;
                sp->batches = sp->pow2;
                sp->n_batches = 1;
                sp->mc_lo = sp->mc_hi = st->fixed_millicores;
                sp->mc_step = 0;
                sp->r_lo = sp->r_hi = st->fixed_replicas;
                break;
        }
}

uint64_t opt__space_n_mc(const opt__space *sp)
{
        return sp->mc_step ? (uint64_t)(sp->mc_hi - sp->mc_lo) / sp->mc_step + 1 : 1;
}

/* ---- validation ---------------------------------------------------------------------------- */

static int validate_stage(const opt_pipeline *pl, size_t p, size_t s, char *err, size_t errlen)
{
        const opt_stage *st = &pl->stages[s];
        opt__space sp;

#define BAD(...) opt__err(err, errlen, -EINVAL, __VA_ARGS__)
        if (!st->variants || st->n_variants == 0 || st->n_variants > UINT32_MAX)
                return BAD("pipelines[%zu].stages[%zu]: no variants", p, s);
        for (size_t v = 0; v < st->n_variants; v++) {
                const opt_variant *va = &st->variants[v];
                if (!isfinite(va->accuracy))
                        return BAD("pipelines[%zu].stages[%zu].variants[%zu]: accuracy not "
                                   "finite",
                                   p, s, v);
                if (!(va->startup_s >= 0.0) || !isfinite(va->startup_s) ||
                    !(va->startup_cpu_s >= 0.0) || !isfinite(va->startup_cpu_s))
                        return BAD("pipelines[%zu].stages[%zu].variants[%zu]: startup_s and "
                                   "startup_cpu_s must be finite and >= 0",
                                   p, s, v);
                if (va->model.kind == OPT_LATENCY_TABLE
                        ? !va->model.table || !(va->model.table_margin >= 0.0)
                        : va->model.kind != OPT_LATENCY_MODEL)
                        return BAD("pipelines[%zu].stages[%zu].variants[%zu]: latency kind "
                                   "unknown, table missing or negative margin",
                                   p, s, v);
        }
        if (st->batches) {
                if (st->n_batches == 0)
                        return BAD("pipelines[%zu].stages[%zu]: empty batch list", p, s);
                for (size_t i = 0; i < st->n_batches; i++)
                        if (st->batches[i] == 0)
                                return BAD("pipelines[%zu].stages[%zu].batches[%zu]: batch "
                                           "must be >= 1",
                                           p, s, i);
        } else if (st->max_batch == 0) {
                return BAD("pipelines[%zu].stages[%zu]: max_batch must be >= 1", p, s);
        }
        if (st->min_millicores == 0 || st->max_millicores < st->min_millicores)
                return BAD("pipelines[%zu].stages[%zu]: need 1 <= min_millicores <= "
                           "max_millicores (got %u, %u)",
                           p, s, st->min_millicores, st->max_millicores);
        if (st->min_replicas == 0 || st->max_replicas < st->min_replicas)
                return BAD("pipelines[%zu].stages[%zu]: need 1 <= min_replicas <= max_replicas "
                           "(got %u, %u)",
                           p, s, st->min_replicas, st->max_replicas);
        if (pl->policy != OPT_POLICY_FULL && st->fixed_variant >= st->n_variants)
                return BAD("pipelines[%zu].stages[%zu]: fixed_variant %u out of range (%zu "
                           "variants) for policy %s",
                           p, s, st->fixed_variant, st->n_variants, opt_policy_name(pl->policy));
        if ((pl->policy == OPT_POLICY_HORIZONTAL || pl->policy == OPT_POLICY_STATIC) &&
            st->fixed_millicores == 0)
                return BAD("pipelines[%zu].stages[%zu]: fixed_millicores must be >= 1 for "
                           "policy %s",
                           p, s, opt_policy_name(pl->policy));
        if (pl->policy == OPT_POLICY_STATIC && (st->fixed_batch == 0 || st->fixed_replicas == 0))
                return BAD("pipelines[%zu].stages[%zu]: fixed_batch and fixed_replicas must be "
                           ">= 1 for policy static",
                           p, s);
        opt__stage_space(pl, st, &sp);
        if ((uint64_t)(sp.v_hi - sp.v_lo + 1) * sp.n_batches * opt__space_n_mc(&sp) >
            MAX_CONFIGS_PER_STAGE)
                return BAD("pipelines[%zu].stages[%zu]: more than %u configurations (variants x "
                           "batches x millicore steps): raise step_millicores",
                           p, s, MAX_CONFIGS_PER_STAGE);
        if (opt__mix_space(pl, st) > MAX_MIX_CONFIGS_PER_STAGE)
                return BAD("pipelines[%zu].stages[%zu]: more than %u mix configurations (pairs "
                           "of variants x their batches x millicore steps x replicas): raise "
                           "step_millicores or set mix false",
                           p, s, MAX_MIX_CONFIGS_PER_STAGE);
#undef BAD
        return 0;
}

int opt_problem_validate(const opt_problem *pr, char *err, size_t errlen)
{
        if (!pr || !pr->pipelines || pr->n_pipelines == 0)
                return opt__err(err, errlen, -EINVAL, "no pipelines");
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                const opt_pipeline *pl = &pr->pipelines[p];
                if (!pl->stages || pl->n_stages == 0 || pl->n_stages > OPT_MAX_STAGES)
                        return opt__err(err, errlen, -EINVAL,
                                        "pipelines[%zu]: need 1..%d stages (got %zu)", p,
                                        OPT_MAX_STAGES, pl->n_stages);
                if (!(pl->lambda_rps >= 0.0) || !isfinite(pl->lambda_rps))
                        return opt__err(err, errlen, -EINVAL,
                                        "pipelines[%zu]: lambda_rps must be finite and >= 0", p);
                if (!(pl->slo_budget_ms > 0.0) || !isfinite(pl->slo_budget_ms))
                        return opt__err(err, errlen, -EINVAL,
                                        "pipelines[%zu]: slo_budget_ms must be finite and > 0", p);
                if (!(pl->load_weight >= 0.0) || !isfinite(pl->load_weight))
                        return opt__err(err, errlen, -EINVAL,
                                        "pipelines[%zu]: load_weight must be finite and >= 0", p);
                if (!isfinite(pl->alpha) || !isfinite(pl->beta) || !isfinite(pl->delta))
                        return opt__err(err, errlen, -EINVAL,
                                        "pipelines[%zu]: weights alpha, beta, delta must be "
                                        "finite",
                                        p);
                if (pl->policy < OPT_POLICY_FULL || pl->policy > OPT_POLICY_STATIC)
                        return opt__err(err, errlen, -EINVAL, "pipelines[%zu]: unknown policy", p);
                for (size_t s = 0; s < pl->n_stages; s++) {
                        int r = validate_stage(pl, p, s, err, errlen);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

/* Fills c for (v, b, mc, n). Returns 1 when latency is finite and n replicas carry λ. */
static int eval_config_l(const opt_pipeline *pl, const opt_stage *st, uint32_t v, uint32_t b,
                         uint32_t mc, uint32_t n, double l, opt__cand *c)
{
        const opt_variant *va = &st->variants[v];

        c->variant = v;
        c->batch = b;
        c->millicores = mc;
        c->replicas = n;
        c->mc_total = (uint64_t)n * mc;
        c->objective = pl->alpha * va->accuracy - pl->beta * ((double)c->mc_total / 1000.0) -
                       pl->delta * (double)b;
        if (pl->load_weight > 0.0)
                c->objective -= pl->load_weight * opt__loading(st, v, mc, n, NULL);
        c->mix = OPT__NO_MIX;
        c->processing_ms = l;
        if (!(l > 0.0) || !isfinite(l)) {
                c->throughput_rps = 0.0;
                c->latency_ms = INFINITY;
                return 0;
        }
        c->throughput_rps = (double)n * (double)b * 1000.0 / l;
        if (!(c->throughput_rps >= pl->lambda_rps)) {
                c->latency_ms = INFINITY;
                return 0;
        }
        c->latency_ms = opt_queue_delay_ms(b, n, pl->lambda_rps, l);
        return isfinite(c->latency_ms);
}

/* As eval_config_l with l(b, c) from the variant's model. */
static int eval_config(const opt_pipeline *pl, const opt_stage *st, uint32_t v, uint32_t b,
                       uint32_t mc, uint32_t n, opt__cand *c)
{
        return eval_config_l(pl, st, v, b, mc, n,
                             opt_latency_eval_ms(&st->variants[v].model, b, mc), c);
}

int opt_stage_evaluate(const opt_pipeline *pl, size_t stage, uint32_t variant, uint32_t batch,
                       uint32_t millicores, uint32_t replicas, opt_plan_stage *ret)
{
        opt__cand c;
        int ok;

        if (!pl || !ret || stage >= pl->n_stages || !pl->stages ||
            variant >= pl->stages[stage].n_variants || batch == 0 || millicores == 0 ||
            replicas == 0)
                return -EINVAL;
        ok = eval_config(pl, &pl->stages[stage], variant, batch, millicores, replicas, &c);
        opt__plan_stage_fill(&pl->stages[stage], NULL, &c, ret);
        return ok ? 0 : -ERANGE;
}

/* The least replicas in [r_lo, r_hi] carrying λ at (v, b, mc); 0 if none. */
static uint32_t least_replicas(const opt_pipeline *pl, const opt_stage *st, const opt__space *sp,
                               uint32_t v, uint32_t b, uint32_t mc, opt__cand *c)
{
        double l = opt_latency_eval_ms(&st->variants[v].model, b, mc), need;
        uint32_t n;

        if (!(l > 0.0) || !isfinite(l))
                return 0;
        need = pl->lambda_rps * l / (1000.0 * b);
        if (need > (double)sp->r_hi + 1.0)
                return 0;
        n = need > (double)sp->r_lo ? (uint32_t)ceil(need) : sp->r_lo;
        /* ceil() of a rounded quotient can be off by one: settle on the exact test. */
        while (n > sp->r_lo && eval_config_l(pl, st, v, b, mc, n - 1, l, c))
                n--;
        while (n <= sp->r_hi && !eval_config_l(pl, st, v, b, mc, n, l, c))
                n++;
        return n <= sp->r_hi ? n : 0;
}

/* ---- generation and pruning ---------------------------------------------------------------- */

/* Keeps the candidates no other dominates: j dominates i when latency_j <= latency_i,
 * mc_j <= mc_i and objective_j >= objective_i (of identical ones the first generated stays).
 * Any plan using i stays feasible and no worse with j instead, so the optimum is unchanged. */
static int prune_dominated(opt__stage_cands *sc)
{
        static const opt__pareto_keys keys = {offsetof(opt__cand, latency_ms),
                                              offsetof(opt__cand, mc_total),
                                              offsetof(opt__cand, objective)};

        return opt__pareto_prune(&sc->c, &sc->n, sizeof(*sc->c), &keys, 1);
}

/* Appends c, growing the array as needed. */
int opt__push_cand(opt__stage_cands *sc, size_t *cap, const opt__cand *c)
{
        if (sc->n == *cap) {
                opt__cand *g = realloc(sc->c, sizeof(*g) * *cap * 2);
                if (!g)
                        return -ENOMEM;
                sc->c = g;
                *cap *= 2;
        }
        sc->c[sc->n++] = *c;
        return 0;
}

/* The least replicas carrying λ at (v, b, mc), then more while the replicas stay busier than
 * EXTRA_REPLICAS_RHO: each one shortens the wait behind other batches (opt_queue_delay_ms). */
#define EXTRA_REPLICAS_RHO 0.5
#define EXTRA_REPLICAS_MAX 1
static int add_config(const opt_pipeline *pl, const opt_stage *st, const opt__space *sp, uint32_t v,
                      uint32_t b, uint32_t mc, opt__stage_cands *sc, size_t *cap)
{
        opt__cand c;
        uint32_t n = least_replicas(pl, st, sp, v, b, mc, &c);
        int r;

        if (n == 0)
                return 0;
        r = opt__push_cand(sc, cap, &c);
        for (uint32_t k = 0; r == 0 && k < EXTRA_REPLICAS_MAX && ++n <= sp->r_hi &&
                             pl->lambda_rps / c.throughput_rps > EXTRA_REPLICAS_RHO &&
                             eval_config_l(pl, st, v, b, mc, n, c.processing_ms, &c);
             k++)
                r = opt__push_cand(sc, cap, &c);
        return r;
}

static int build_stage(const opt_pipeline *pl, const opt_stage *st, opt__stage_cands *sc)
{
        opt__space sp;
        uint64_t max;
        size_t cap;

        opt__stage_space(pl, st, &sp);
        /* Room for the least replicas and EXTRA_REPLICAS_MAX more per configuration: no
         * realloc on the way. */
        max = (uint64_t)(sp.v_hi - sp.v_lo + 1) * sp.n_batches * opt__space_n_mc(&sp) *
              (1 + EXTRA_REPLICAS_MAX);
        sc->c = malloc(sizeof(*sc->c) * (max ? max : 1));
        if (!sc->c)
                return -ENOMEM;
        if (pl->policy == OPT_POLICY_STATIC) {
                /* Kept even when it fails: the plan reports it (latency +INFINITY). */
                eval_config(pl, st, sp.v_lo, sp.batches[0], sp.mc_lo, sp.r_lo, &sc->c[0]);
                sc->n = sc->n_generated = 1;
                return 0;
        }
        cap = max ? max : 1;
        sc->n = 0;
        for (uint32_t v = sp.v_lo; v <= sp.v_hi; v++)
                for (size_t bi = 0; bi < sp.n_batches; bi++)
                        for (uint64_t mc = sp.mc_lo; mc <= sp.mc_hi;
                             mc += sp.mc_step ? sp.mc_step : (uint64_t)UINT32_MAX + 1) {
                                int r = add_config(pl, st, &sp, v, sp.batches[bi], (uint32_t)mc, sc,
                                                   &cap);
                                if (r < 0)
                                        return r;
                        }
        int r = opt__mix_build(pl, st, sc, &cap);
        if (r < 0)
                return r;
        sc->n_generated = sc->n;
        return 0;
}

/* Before the dominance filter (whose sort is the costly part), drops the candidates that miss
 * the budget even with every other stage of the pipeline at its fastest (a hair of slack keeps
 * boundary cases for the exact check). Only for a pipeline that meets its budget at its
 * fastest: an infeasible one keeps every candidate for the diagnosis. Exact: no plan meeting
 * the budget is lost, and the least millicores meeting it are unchanged. */
static void drop_too_slow(const opt_pipeline *pl, opt__stage_cands *st)
{
        double min_lat[OPT_MAX_STAGES], all = 0.0;

        if (pl->policy == OPT_POLICY_STATIC)
                return;
        for (size_t s = 0; s < pl->n_stages; s++) {
                min_lat[s] = INFINITY;
                for (size_t k = 0; k < st[s].n; k++)
                        min_lat[s] = fmin(min_lat[s], st[s].c[k].latency_ms);
                all += min_lat[s];
        }
        if (!(all <= pl->slo_budget_ms))
                return;
        for (size_t s = 0; s < pl->n_stages; s++) {
                double rest = all - min_lat[s];
                size_t n = 0;
                for (size_t k = 0; k < st[s].n; k++)
                        if (st[s].c[k].latency_ms + rest <= pl->slo_budget_ms * (1.0 + 1e-9))
                                st[s].c[n++] = st[s].c[k];
                st[s].n = n;
        }
}

void opt__cands_free(opt__cands *c)
{
        if (!c)
                return;
        if (c->st && c->off)
                for (size_t i = 0; i < c->off[c->n_pipelines]; i++) {
                        free(c->st[i].c);
                        free(c->st[i].groups);
                }
        free(c->st);
        free(c->off);
        memset(c, 0, sizeof(*c));
}

int opt__cands_build(const opt_problem *pr, int prune, opt__cands *ret)
{
        opt__cands c = {0};
        size_t total = 0;
        int r;

        c.n_pipelines = pr->n_pipelines;
        c.off = calloc(pr->n_pipelines + 1, sizeof(*c.off));
        if (!c.off)
                return -ENOMEM;
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                c.off[p] = total;
                total += pr->pipelines[p].n_stages;
        }
        c.off[pr->n_pipelines] = total;
        c.st = calloc(total, sizeof(*c.st));
        if (!c.st) {
                opt__cands_free(&c);
                return -ENOMEM;
        }
        for (size_t p = 0; p < pr->n_pipelines; p++) {
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        r = build_stage(&pr->pipelines[p], &pr->pipelines[p].stages[s],
                                        &c.st[c.off[p] + s]);
                        if (r < 0) {
                                opt__cands_free(&c);
                                return r;
                        }
                }
                if (prune)
                        drop_too_slow(&pr->pipelines[p], &c.st[c.off[p]]);
                for (size_t s = 0; s < pr->pipelines[p].n_stages; s++) {
                        opt__stage_cands *sc = &c.st[c.off[p] + s];
                        r = prune && sc->n > 1 ? prune_dominated(sc) : 0;
                        if (r < 0) {
                                opt__cands_free(&c);
                                return r;
                        }
                        c.total_generated += sc->n_generated;
                        c.total_kept += sc->n;
                }
        }
        *ret = c;
        return 0;
}

int opt__stage_max_throughput(const opt_pipeline *pl, size_t s, opt__cand *ret)
{
        const opt_stage *st = &pl->stages[s];
        opt__cand best = {0}, c;
        opt__space sp;
        int found = 0;

        opt__stage_space(pl, st, &sp);
        for (uint32_t v = sp.v_lo; v <= sp.v_hi; v++)
                for (size_t bi = 0; bi < sp.n_batches; bi++) {
                        /* Throughput grows with cores for a sane model; check the top and the
                         * bottom of the range to stay safe with tables. */
                        uint32_t mcs[2] = {
                            sp.mc_lo,
                            sp.mc_step
                                ? sp.mc_lo + (uint32_t)((opt__space_n_mc(&sp) - 1) * sp.mc_step)
                                : sp.mc_lo};
                        for (int i = 0; i < 2; i++) {
                                eval_config(pl, st, v, sp.batches[bi], mcs[i], sp.r_hi, &c);
                                if (!found || c.throughput_rps > best.throughput_rps) {
                                        best = c;
                                        found = 1;
                                }
                        }
                }
        best.latency_ms = INFINITY;
        *ret = best;
        return 0;
}
