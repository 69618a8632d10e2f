/* SPDX-License-Identifier: MIT */
/*
 * bench-oracle — the planning half of bench-trace (tests/bench/bench-trace.py): everything the
 * benchmark computes from the profiles instead of running.
 *
 * Given a pipeline file, a segment of a requests/s trace (start, length, scale) and the
 * per-second budgets the load generator will send (SLO minus an image's upload time on the
 * Ghent 4G log, or the SLO alone), it prints one JSON object with:
 *  - "static": the plan the optimizer picks (policy full, the pipeline's own objective) for the
 *    segment's peak rate at the planning budget (a low quantile of the segment's budgets, the
 *    agent's rule) — the peak-provisioned baseline, held fixed by the benchmark;
 *  - "vertical": the best single variant per stage for the peak under policy vertical (one
 *    replica, cores and batch free), the plan the vertical run starts from;
 *  - "horizontal": static's variants with the smallest per-replica size on the stage's grid
 *    whose replicas (at most replicas.max) still carry the peak — the fixed-size replicas of
 *    the horizontal run;
 *  - "oracle": per second, the least-cores plan for that second's true rate and budget
 *    (knowing the future, no start-up or resize cost, any variant), summed into core-seconds:
 *    the lower bound the issue asks for; "oracle_objective": the same with the pipeline's own
 *    objective (accuracy against cores), i.e. what `full` would do with a perfect forecast;
 *  - "series" (with --series): the per-second rate, budget and both oracles' cores.
 *
 * Rates and budgets are read with the load generator's own parsers (lg_trace_load,
 * lg_ghent_load), so the oracle sees exactly the schedule sponge-load replays: second t of the
 * segment has rate trace[start + t]·scale and budget slo − net[(K + t) mod len(log)], where K
 * (--ghent-offset) is the number of seconds the load generator replayed before the segment
 * (its warm-up: sponge-load indexes the log by the second of its own run).
 *
 * Usage: bench-oracle --pipeline FILE --trace FILE --start I --length N [--scale F]
 *                     [--slo-ms X] [--ghent FILE --image-bytes B [--ghent-offset K]]
 *                     [--node-millicores M] [--quantile Q] [--series]
 * Exit: 0 with the JSON on stdout; 1 when the inputs cannot be read or the peak cannot be
 * served at all (the scale is too high for the node); 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan/plan.h"
#include "tests/bench/loadgen.h"

#define MIN_CORES_ALPHA 1e-6 /* accuracy only breaks ties between least-cores plans */

typedef struct Opts {
        const char *pipeline, *trace, *ghent;
        uint64_t start, length, image_bytes, ghent_offset;
        double scale, slo_ms, quantile;
        uint32_t node_millicores;
        bool series;
} Opts;

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

static void usage(FILE *f)
{
        fputs("Usage: bench-oracle --pipeline FILE --trace FILE --start I --length N [--scale F]\n"
              "                    [--slo-ms X] [--ghent FILE --image-bytes B [--ghent-offset K]]\n"
              "                    [--node-millicores M] [--quantile Q] [--series]\n"
              "Static/vertical/horizontal plans for the segment's peak and the per-second\n"
              "least-cores oracle, as one JSON object on stdout (see tests/bench/README.md).\n",
              f);
}

static int parse_double(const char *s, double lo, double hi, double *ret)
{
        char *e;
        double v;

        errno = 0;
        v = strtod(s, &e);
        if (e == s || *e || errno || !isfinite(v) || v < lo || v > hi)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
        char *e;
        unsigned long long v;

        if (*s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &e, 10);
        if (e == s || *e || errno || v < lo || v > hi)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_args(int argc, char **argv, Opts *o)
{
        static const struct option longopts[] = {
            {"pipeline", required_argument, NULL, 'p'},
            {"trace", required_argument, NULL, 't'},
            {"start", required_argument, NULL, 's'},
            {"length", required_argument, NULL, 'n'},
            {"scale", required_argument, NULL, 'f'},
            {"slo-ms", required_argument, NULL, 'S'},
            {"ghent", required_argument, NULL, 'g'},
            {"image-bytes", required_argument, NULL, 'i'},
            {"ghent-offset", required_argument, NULL, 'o'},
            {"node-millicores", required_argument, NULL, 'm'},
            {"quantile", required_argument, NULL, 'q'},
            {"series", no_argument, NULL, 'e'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        uint64_t u;
        int c, li = 0, r = 0;

        *o = (Opts){
            .scale = 1.0, .quantile = PLAN_BUDGET_QUANTILE, .node_millicores = 2000, .length = 0};
        while (r == 0 && (c = getopt_long(argc, argv, "h", longopts, &li)) != -1) {
                switch (c) {
                case 'p':
                        o->pipeline = optarg;
                        break;
                case 't':
                        o->trace = optarg;
                        break;
                case 'g':
                        o->ghent = optarg;
                        break;
                case 'e':
                        o->series = true;
                        break;
                case 's':
                        r = parse_u64(optarg, 0, UINT32_MAX, &o->start);
                        break;
                case 'n':
                        r = parse_u64(optarg, 1, 86400, &o->length);
                        break;
                case 'i':
                        r = parse_u64(optarg, 1, UINT32_MAX, &o->image_bytes);
                        break;
                case 'o':
                        r = parse_u64(optarg, 0, UINT32_MAX, &o->ghent_offset);
                        break;
                case 'f':
                        r = parse_double(optarg, 0, 1e6, &o->scale);
                        break;
                case 'S':
                        r = parse_double(optarg, 1, 3600000, &o->slo_ms);
                        break;
                case 'q':
                        r = parse_double(optarg, 0, 1, &o->quantile);
                        break;
                case 'm':
                        r = parse_u64(optarg, 10, 1024000, &u);
                        o->node_millicores = (uint32_t)u;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        return -EINVAL;
                }
                if (r < 0)
                        fprintf(stderr, "bench-oracle: bad value for --%s: %s\n", longopts[li].name,
                                optarg);
        }
        if (r < 0)
                return r;
        if (optind != argc || !o->pipeline || !o->trace || o->length == 0 ||
            !!o->ghent != (o->image_bytes > 0)) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

static int run(const Opts *o)
{
        _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
        _cleanup_free_ double *rate = NULL, *net = NULL, *budget = NULL;
        json_auto_t *out = NULL, *series = NULL;
        pl_plan_entry stat[PL_MAX_STAGES];
        size_t n_rate = 0, n_net = 0;
        opt_plan sp = {0}, vp = {0}, hp = {0};
        OracleSum min = {0}, obj = {0};
        Objective po, mo = {MIN_CORES_ALPHA, 1.0, 0.0};
        double peak = 0, mean = 0, slo, pbudget;
        char err[1024] = "";
        Bench b = {0};
        int r;

        r = pl_load_file(o->pipeline, &p, err, sizeof(err));
        if (r < 0)
                return fprintf(stderr, "bench-oracle: %s\n", err), r;
        slo = o->slo_ms > 0 ? o->slo_ms : (double)p->slo_us / 1000.0;
        po = (Objective){p->objective.accuracy, p->objective.cores, p->objective.batch};
        r = lg_trace_load(o->trace, o->start, o->length, o->scale, &rate, &n_rate, err,
                          sizeof(err));
        if (r == 0 && o->ghent)
                r = lg_ghent_load(o->ghent, o->image_bytes, &net, &n_net, err, sizeof(err));
        if (r < 0)
                return fprintf(stderr, "bench-oracle: %s\n", err), r;
        r = bench_init(&b, p, o->node_millicores, err, sizeof(err));
        if (r < 0) {
                bench_done(&b);
                return fprintf(stderr, "bench-oracle: %s: %s\n", o->pipeline, err), r;
        }
        budget = calloc(n_rate, sizeof(double));
        series = json_array();
        if (!budget || !series) {
                bench_done(&b);
                return -ENOMEM;
        }
        for (size_t t = 0; t < n_rate; t++) {
                budget[t] = net ? slo - net[(o->ghent_offset + t) % n_net] : slo;
                peak = fmax(peak, rate[t]);
                mean += rate[t] / (double)n_rate;
        }
        pbudget = planning_budget_ms(&b, budget, rate, n_rate, slo, o->quantile);

        r = bench_solve(&b, OPT_POLICY_FULL, NULL, peak, pbudget, po, &sp);
        if (r < 0 || !sp.feasible) {
                fprintf(stderr,
                        "bench-oracle: no plan serves the peak of %.1f requests/s within %.0f ms "
                        "on %u millicores (%s): lower --scale\n",
                        peak, pbudget, o->node_millicores,
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
                        fprintf(stderr, "bench-oracle: solver failure at second %zu\n", t);
                        r = -EIO;
                        break;
                }
                if (o->series)
                        json_array_append_new(series, json_pack("[I, f, f, f, f]", (json_int_t)t,
                                                                rate[t], budget[t], cm, co));
        }
        if (r == 0) {
                out = json_pack(
                    "{s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:o, s:o*, s:o*, s:o, "
                    "s:o}",
                    "pipeline", p->name, "start", (json_int_t)o->start, "length",
                    (json_int_t)o->length, "scale", o->scale, "slo_ms", slo, "peak_rps", peak,
                    "mean_rps", mean, "planning_budget_ms", pbudget, "node_millicores",
                    (json_int_t)o->node_millicores, "floor_ms", b.floor_ms, "static",
                    plan_json(&b, &sp), "vertical", vp.pipelines ? plan_json(&b, &vp) : NULL,
                    "horizontal", hp.pipelines ? plan_json(&b, &hp) : NULL, "oracle",
                    oracle_json(&min), "oracle_objective", oracle_json(&obj));
                if (out && o->series)
                        json_object_set(out, "series", series);
                if (!out || json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6)) < 0)
                        r = -ENOMEM;
                else
                        putchar('\n');
        }
        opt_plan_done(&sp);
        opt_plan_done(&vp);
        opt_plan_done(&hp);
        bench_done(&b);
        return r;
}

int main(int argc, char **argv)
{
        Opts o;
        int r;

        if (parse_args(argc, argv, &o) < 0)
                return 2;
        r = run(&o);
        return r < 0 ? 1 : 0;
}
