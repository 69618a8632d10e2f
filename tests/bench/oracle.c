/* SPDX-License-Identifier: MIT */
/* oracle.c — the plans and oracles of bench-trace (oracle.h; what they are: bench-oracle.c). */
#include "tests/bench/oracle.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan/plan.h"

#define MIN_CORES_ALPHA 1e-6 /* accuracy only breaks ties between least-cores plans */

typedef struct Bench {
        const pl_pipeline *p;
        plan_problem x;    /* owned: the pipeline alone, built by the agent's translation */
        opt_stage *stages; /* x.stages */
        double floor_ms;   /* fastest any plan serves one request: budgets below are hopeless */
} Bench;

static void bench_done(Bench *b)
{
        plan_problem_done(&b->x);
}

static void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))

/* The problem as the agent builds it (agent/plan), before any refit. Returns 0 or a negative
 * errno with a message in err. */
static int bench_init(Bench *b, const pl_pipeline *p, uint32_t node_millicores, char *err,
                      size_t errlen)
{
        plan_input in = {.cfg = p};
        int r;

        *b = (Bench){.p = p};
        r = plan_problem_build(&in, 1, node_millicores, &b->x, err, errlen);
        if (r < 0)
                return r;
        b->stages = b->x.stages;
        b->floor_ms = plan_problem_floor_ms(&b->x, 0);
        return 0;
}

typedef struct Objective {
        double alpha, beta, delta;
} Objective;

/* Solves the pipeline alone on the node for rate lambda within budget_ms under policy pol;
 * fixed (may be NULL) gives the dimensions the policy keeps. Returns opt_solve's code; *ret
 * filled on success (feasible or not). */
static int bench_solve(Bench *b, opt_policy pol, const pl_plan_entry *fixed, double lambda,
                       double budget_ms, Objective o, opt_plan *ret)
{
        opt_pipeline *pl = &b->x.pls[0];
        opt_solve_options so = {0};

        pl->lambda_rps = lambda;
        pl->slo_budget_ms = budget_ms;
        pl->alpha = o.alpha;
        pl->beta = o.beta;
        pl->delta = o.delta;
        pl->policy = pol;
        for (size_t i = 0; i < b->p->n_stages; i++) {
                opt_stage *s = &b->stages[i];
                s->fixed_variant = fixed ? (uint32_t)fixed[i].variant : 0;
                s->fixed_batch = fixed ? fixed[i].batch : 1;
                s->fixed_millicores = fixed ? fixed[i].millicores : s->max_millicores;
                s->fixed_replicas = fixed ? fixed[i].replicas : s->min_replicas;
        }
        return opt_solve(&b->x.pr, OPT_SOLVER_GLPK, &so, ret);
}

/* Mean over the stages of the variants' accuracies (the agent's per-request accuracy). */
static double plan_accuracy(const Bench *b, const pl_plan_entry *e)
{
        double sum = 0;

        for (size_t i = 0; i < b->p->n_stages; i++)
                sum += b->p->stages[i].variants[e[i].variant].accuracy;
        return sum / (double)b->p->n_stages;
}

/* {"plan": [...], "cores", "accuracy", "feasible", "predicted_latency_ms", "reason"} */
static json_t *plan_json(const Bench *b, const opt_plan *plan)
{
        pl_plan_entry e[PL_MAX_STAGES];
        json_t *arr = json_array();

        plan_entries(plan, 0, e);
        for (size_t i = 0; i < b->p->n_stages; i++)
                json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I}", "variant",
                                                     b->p->stages[i].variants[e[i].variant].name,
                                                     "batch", (json_int_t)e[i].batch, "millicores",
                                                     (json_int_t)e[i].millicores, "replicas",
                                                     (json_int_t)e[i].replicas));
        return json_pack(
            "{s:o, s:f, s:f, s:b, s:f, s:s}", "plan", arr, "cores", plan->cores, "accuracy",
            plan_accuracy(b, e), "feasible", plan->feasible, "predicted_latency_ms",
            isfinite(plan->pipelines[0].latency_ms) ? plan->pipelines[0].latency_ms : -1.0,
            "reason", opt_infeasible_name(plan->reason));
}

/* The agent's planning budget (plan_budget_ms): a low quantile of the budgets it admits,
 * ignoring those below the floor (no plan can meet them: they are dropped early), capped by
 * the SLO. Here over the segment's seconds that carry requests. */
static double planning_budget_ms(const Bench *b, const double *budget, const double *rate, size_t n,
                                 double slo_ms, double q)
{
        _cleanup_free_ double *v = calloc(n ? n : 1, sizeof(double));
        size_t k = 0;

        if (!v)
                return slo_ms;
        for (size_t i = 0; i < n; i++)
                if (rate[i] > 0 && budget[i] >= b->floor_ms)
                        v[k++] = budget[i];
        return plan_budget_ms(v, k, q, slo_ms);
}

/* Vertical: every combination of one variant per stage, solved under policy vertical at the
 * peak; the feasible one with the best objective. Returns 0 and *ret, or -ENOENT when none is
 * feasible. */
static int best_vertical(Bench *b, double peak, double budget, Objective o, opt_plan *ret)
{
        size_t n = b->p->n_stages, idx[PL_MAX_STAGES] = {0};
        pl_plan_entry fixed[PL_MAX_STAGES] = {{0}};
        opt_plan best = {0};
        bool have = false;

        for (;;) {
                opt_plan plan;
                size_t i;

                for (i = 0; i < n; i++)
                        fixed[i] = (pl_plan_entry){idx[i], 1, b->stages[i].max_millicores, 1};
                if (bench_solve(b, OPT_POLICY_VERTICAL, fixed, peak, budget, o, &plan) == 0) {
                        if (plan.feasible && (!have || plan.objective > best.objective)) {
                                opt_plan_done(&best);
                                best = plan;
                                have = true;
                        } else {
                                opt_plan_done(&plan);
                        }
                }
                for (i = 0; i < n; i++) { /* odometer over the stages' variants */
                        if (++idx[i] < b->stages[i].n_variants)
                                break;
                        idx[i] = 0;
                }
                if (i == n)
                        break;
        }
        if (!have)
                return -ENOENT;
        *ret = best;
        return 0;
}

/* Horizontal: static's variants; per stage the replica size starts at the peak allocation
 * divided by replicas.max (rounded up to the grid), so the replica count has room to follow
 * the load; while the peak is infeasible every size grows by one step. Returns 0 and *ret, or
 * -ENOENT. */
static int best_horizontal(Bench *b, const pl_plan_entry *stat, double peak, double budget,
                           Objective o, opt_plan *ret)
{
        size_t n = b->p->n_stages;
        pl_plan_entry fixed[PL_MAX_STAGES] = {{0}};

        for (size_t i = 0; i < n; i++) {
                const opt_stage *s = &b->stages[i];
                uint32_t total = stat[i].millicores * stat[i].replicas;
                uint32_t want = (total + s->max_replicas - 1) / s->max_replicas, mc;
                uint32_t step = s->step_millicores ? s->step_millicores : 1;

                mc = want <= s->min_millicores
                         ? s->min_millicores
                         : s->min_millicores + (want - s->min_millicores + step - 1) / step * step;
                fixed[i] = (pl_plan_entry){stat[i].variant, stat[i].batch,
                                           mc > s->max_millicores ? s->max_millicores : mc,
                                           stat[i].replicas};
        }
        for (;;) {
                opt_plan plan;
                bool grew = false;

                if (bench_solve(b, OPT_POLICY_HORIZONTAL, fixed, peak, budget, o, &plan) == 0) {
                        if (plan.feasible) {
                                *ret = plan;
                                return 0;
                        }
                        opt_plan_done(&plan);
                }
                for (size_t i = 0; i < n; i++) {
                        const opt_stage *s = &b->stages[i];
                        if (fixed[i].millicores + s->step_millicores <= s->max_millicores &&
                            s->step_millicores > 0) {
                                fixed[i].millicores += s->step_millicores;
                                grew = true;
                        }
                }
                if (!grew)
                        return -ENOENT;
        }
}

typedef struct OracleSum {
        double core_seconds, acc_weighted, requests;
        unsigned relaxed_s, infeasible_s;
} OracleSum;

/* One second of an oracle: the plan for (lambda, budget); a budget no plan meets is relaxed to
 * the SLO (those requests are lost by any policy, counted in relaxed_s), and a second that no
 * plan carries counts its best-effort plan (infeasible_s). Returns the cores, or -1 on a
 * solver failure. */
static double oracle_second(Bench *b, double lambda, double budget, double slo_ms, Objective o,
                            OracleSum *sum)
{
        pl_plan_entry e[PL_MAX_STAGES];
        opt_plan plan;
        double cores;

        if (bench_solve(b, OPT_POLICY_FULL, NULL, lambda, budget, o, &plan) < 0)
                return -1;
        if (!plan.feasible && plan.reason == OPT_INFEASIBLE_LATENCY && budget < slo_ms) {
                opt_plan_done(&plan);
                sum->relaxed_s++;
                if (bench_solve(b, OPT_POLICY_FULL, NULL, lambda, slo_ms, o, &plan) < 0)
                        return -1;
        }
        if (!plan.feasible)
                sum->infeasible_s++;
        plan_entries(&plan, 0, e);
        cores = plan.cores;
        sum->core_seconds += cores;
        sum->acc_weighted += lambda * plan_accuracy(b, e);
        sum->requests += lambda;
        opt_plan_done(&plan);
        return cores;
}

static json_t *oracle_json(const OracleSum *s)
{
        return json_pack("{s:f, s:f, s:I, s:I}", "core_seconds", s->core_seconds, "mean_accuracy",
                         s->requests > 0 ? s->acc_weighted / s->requests : 0.0, "budget_relaxed_s",
                         (json_int_t)s->relaxed_s, "infeasible_s", (json_int_t)s->infeasible_s);
}

int bench_oracle_compute(const bench_oracle_input *in, json_t **ret, char *err, size_t errlen)
{
        const pl_pipeline *p = in->p;
        const double *rate = in->rate, *net = in->net;
        size_t n_rate = in->n_rate, n_net = in->n_net;
        _cleanup_free_ double *budget = NULL;
        json_t *out = NULL;
        json_auto_t *series = NULL;
        pl_plan_entry stat[PL_MAX_STAGES];
        opt_plan sp = {0}, vp = {0}, hp = {0};
        OracleSum min = {0}, obj = {0};
        Objective po, mo = {MIN_CORES_ALPHA, 1.0, 0.0};
        double peak = 0, mean = 0, slo = in->slo_ms, pbudget;
        Bench b = {0};
        int r;

        po = (Objective){p->objective.accuracy, p->objective.cores, p->objective.batch};
        r = bench_init(&b, p, in->node_millicores, err, errlen);
        if (r < 0) {
                bench_done(&b);
                return r;
        }
        budget = calloc(n_rate ? n_rate : 1, sizeof(double));
        series = json_array();
        if (!budget || !series) {
                bench_done(&b);
                return -ENOMEM;
        }
        for (size_t t = 0; t < n_rate; t++) {
                budget[t] = net ? slo - net[(in->ghent_offset + t) % n_net] : slo;
                peak = fmax(peak, rate[t]);
                mean += rate[t] / (double)n_rate;
        }
        pbudget = planning_budget_ms(&b, budget, rate, n_rate, slo, in->quantile);

        r = bench_solve(&b, OPT_POLICY_FULL, NULL, peak, pbudget, po, &sp);
        if (r < 0 || !sp.feasible) {
                snprintf(err, errlen,
                         "no plan serves the peak of %.1f requests/s within %.0f ms on %u "
                         "millicores (%s): lower --scale",
                         peak, pbudget, in->node_millicores,
                         r < 0 ? strerror(-r) : opt_infeasible_name(sp.reason));
                opt_plan_done(&sp);
                bench_done(&b);
                return r < 0 ? r : -ERANGE;
        }
        plan_entries(&sp, 0, stat);
        if (best_vertical(&b, peak, pbudget, po, &vp) < 0)
                fprintf(stderr, "bench-oracle: no single variant serves the peak vertically\n");
        if (best_horizontal(&b, stat, peak, pbudget, po, &hp) < 0)
                fprintf(stderr, "bench-oracle: no replica size serves the peak horizontally\n");

        for (size_t t = 0; t < n_rate; t++) {
                double cm = oracle_second(&b, rate[t], budget[t], slo, mo, &min);
                double co = oracle_second(&b, rate[t], budget[t], slo, po, &obj);

                if (cm < 0 || co < 0) {
                        snprintf(err, errlen, "solver failure at second %zu", t);
                        r = -EIO;
                        break;
                }
                if (in->series)
                        json_array_append_new(series, json_pack("[I, f, f, f, f]", (json_int_t)t,
                                                                rate[t], budget[t], cm, co));
        }
        if (r == 0) {
                out = json_pack(
                    "{s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:o, s:o*, s:o*, s:o, "
                    "s:o}",
                    "pipeline", p->name, "start", (json_int_t)in->start, "length",
                    (json_int_t)n_rate, "scale", in->scale, "slo_ms", slo, "peak_rps", peak,
                    "mean_rps", mean, "planning_budget_ms", pbudget, "node_millicores",
                    (json_int_t)in->node_millicores, "floor_ms", b.floor_ms, "static",
                    plan_json(&b, &sp), "vertical", vp.pipelines ? plan_json(&b, &vp) : NULL,
                    "horizontal", hp.pipelines ? plan_json(&b, &hp) : NULL, "oracle",
                    oracle_json(&min), "oracle_objective", oracle_json(&obj));
                if (out && in->series)
                        json_object_set(out, "series", series);
                if (!out)
                        r = -ENOMEM;
        }
        opt_plan_done(&sp);
        opt_plan_done(&vp);
        opt_plan_done(&hp);
        bench_done(&b);
        if (r == 0)
                *ret = out;
        return r;
}
