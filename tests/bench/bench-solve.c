/* SPDX-License-Identifier: MIT */
/*
 * bench-solve: solve time of the optimizer's integer program, and the load forecast's
 * accuracy on the Twitter trace.
 *
 *   one pipeline: 5 stages × 5 variants × batch {1..32} × 0.25..8 cores (0.25 steps) ×
 *                 1..8 replicas, λ and SLO drawn per solve;
 *   10, 30 and 100 such pipelines sharing one node whose capacity binds (16 cores each);
 *   the largest pipeline a pipeline file may describe (16 stages × 32 variants, --largest N
 *   solves, default 3).
 * Every plan is re-checked independently (outside the timing). The forecast is evaluated
 * with IPA's setting (120 s back, max of the next 20 s, a forecast every 20 s).
 *
 * Usage: bench-solve [--smoke] [--iters N] [--naive] [--largest N] [--only P] [--mix]
 *                    [--trace-first S] [--trace-lines N]
 * --mix lets the curve's pipelines mix two variants per stage (optimizer README §4 "Mixes";
 * the largest pipeline stays without: its mix space is over the cap).
 * --only P runs only the curve's size P (1, 10, 30 or 100; for profiling).
 * Last line: one JSON object ({one,ten,thirty,hundred}_p50_ms / _p99_ms — CPU time of the
 * solving thread —, the same as wall time (_wall_), "curve" (the four sizes), largest_p50_ms,
 * largest_max_ms, forecast_mape, forecast_under10_pct, ...). Iterations: N for one pipeline,
 * N/5 for ten, N/20 for thirty, N/50 for a hundred.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "optimizer/optimizer.h"
#include "tests/unit/optimizer-check.h"
#include "tests/unit/optimizer-data.h"

#define NP_MAX 100
#define NS     5
#define NV     5
/* Ten pipelines share 16 cores each on average: the capacity binds in most instances. */
#ifndef NODE_PER_PIPE
#define NODE_PER_PIPE 16000
#endif

/* The curve: 1, 10, 30 and 100 pipelines, iterations scaled down with the size. */
#define N_CURVE 4
static const size_t curve_np[N_CURVE] = {1, 10, 30, 100};
static const size_t curve_div[N_CURVE] = {1, 5, 20, 50};

typedef struct bench {
        opt_variant var[NP_MAX][NS][NV];
        opt_stage st[NP_MAX][NS];
        opt_pipeline pl[NP_MAX];
        opt_problem pr;
} bench;

/* ResNet-like variants: bigger = more accurate and slower (accuracies: torchvision ResNet
 * 18/34/50/101/152 top-1). Latency parameters in the range Sponge fitted for ResNet on CPU. */
static const double acc[NV] = {69.76, 73.31, 76.13, 77.37, 78.31};
static const double work[NV] = {1.0, 1.9, 2.3, 4.3, 6.2};

static bool g_mix; /* --mix */

static void instance(bench *b, size_t np, uint64_t *seed)
{
        memset(b, 0, sizeof(*b));
        for (size_t p = 0; p < np; p++) {
                for (size_t s = 0; s < NS; s++) {
                        double stage_k = optt_uniform(seed, 0.5, 1.5);
                        for (size_t v = 0; v < NV; v++) {
                                double k = work[v] * stage_k;
                                b->var[p][s][v] = (opt_variant){
                                    .accuracy = acc[v],
                                    .model = {.kind = OPT_LATENCY_MODEL,
                                              .fit = {18.0 * k, 0.6 * k, 6.0 * k, 3.0, 0.05}}};
                        }
                        b->st[p][s] = (opt_stage){.variants = b->var[p][s],
                                                  .n_variants = NV,
                                                  .max_batch = 32,
                                                  .min_millicores = 250,
                                                  .max_millicores = 8000,
                                                  .step_millicores = 250,
                                                  .min_replicas = 1,
                                                  .max_replicas = 8};
                }
                b->pl[p] = (opt_pipeline){.stages = b->st[p],
                                          .n_stages = NS,
                                          .lambda_rps = optt_uniform(seed, 20.0, 200.0),
                                          .slo_budget_ms = optt_uniform(seed, 400.0, 1500.0),
                                          .alpha = 1.0,
                                          .beta = optt_uniform(seed, 0.5, 3.0),
                                          .delta = 0.01,
                                          .policy = OPT_POLICY_FULL,
                                          .mix = g_mix};
        }
        /* One pipeline: a 32-core node; ten: 12 cores each on average, so capacity binds. */
        b->pr = (opt_problem){b->pl, np, np == 1 ? 32000u : (uint32_t)(np * NODE_PER_PIPE)};
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double q)
{
        size_t rank;

        qsort(v, n, sizeof(double), cmp_double);
        rank = (size_t)ceil(q * (double)n);
        return v[(rank ? rank : 1) - 1];
}

typedef struct result {
        double p50_ms, p99_ms, max_ms, feasible_pct, cand, kept;
        double cpu_p50_ms, cpu_p99_ms, cpu_max_ms;
} result;

/* CPU time of this thread: the machine is shared, wall time includes waiting for a core. */
static double thread_cpu_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int run(size_t np, int iters, int naive, result *ret)
{
        static bench b;
        opt_solve_options o = {.no_prune = naive != 0};
        double *t = calloc((size_t)iters, sizeof(double));
        double *cpu = calloc((size_t)iters, sizeof(double));
        uint64_t seed = 12345 + np;
        size_t feasible = 0;
        char err[256];

        if (!t || !cpu) {
                free(t);
                free(cpu);
                return -ENOMEM;
        }
        ret->cand = ret->kept = 0.0;
        for (int i = 0; i < iters; i++) {
                opt_plan pl;
                int r;
                double c0;
                instance(&b, np, &seed);
                c0 = thread_cpu_ms();
                r = opt_solve(&b.pr, OPT_SOLVER_GLPK, &o, &pl);
                cpu[i] = thread_cpu_ms() - c0;
                if (r < 0) {
                        fprintf(stderr, "bench-solve: opt_solve: %s\n", strerror(-r));
                        free(t);
                        free(cpu);
                        return r;
                }
                if (optt_plan_check(&b.pr, &pl, err, sizeof(err)) < 0) {
                        fprintf(stderr, "bench-solve: plan check failed: %s\n", err);
                        opt_plan_done(&pl);
                        free(t);
                        free(cpu);
                        return -EPROTO;
                }
                t[i] = (double)pl.solve_us / 1000.0;
                feasible += pl.feasible;
                ret->cand += (double)pl.candidates / iters;
                ret->kept += (double)pl.candidates_pruned / iters;
                opt_plan_done(&pl);
        }
        ret->feasible_pct = 100.0 * (double)feasible / iters;
        ret->p50_ms = pct(t, (size_t)iters, 0.50);
        ret->p99_ms = pct(t, (size_t)iters, 0.99);
        ret->max_ms = t[iters - 1];
        ret->cpu_p50_ms = pct(cpu, (size_t)iters, 0.50);
        ret->cpu_p99_ms = pct(cpu, (size_t)iters, 0.99);
        ret->cpu_max_ms = cpu[iters - 1];
        free(t);
        free(cpu);
        return 0;
}

/* The largest pipeline a pipeline file may describe (pipelines/README.md, "Limits"), as
 * tests/integration/control-solve-fail.sh writes it: 16 stages × 32 variants × batches
 * 1..1024 × 50..2000 millicores in steps of 10 × 1..8 replicas, SLO 1 s, λ drawn in 1..50. */
#define LG_S 16
#define LG_V 32
typedef struct largest_inst {
        opt_variant var[LG_S][LG_V];
        opt_stage st[LG_S];
        opt_pipeline pl;
        opt_problem pr;
} largest_inst;

static void largest_instance(largest_inst *x, double lambda)
{
        memset(x, 0, sizeof(*x));
        for (size_t s = 0; s < LG_S; s++) {
                for (size_t k = 0; k < LG_V; k++)
                        x->var[s][k] = (opt_variant){
                            .accuracy = 50.0 + (double)k,
                            .model = {.kind = OPT_LATENCY_MODEL,
                                      .fit = {1.0 + 0.5 * (double)k, 0.01 * (double)(k + 1),
                                              0.2 + 0.1 * (double)k, 0.1 + 0.05 * (double)k,
                                              0.05}}};
                x->st[s] = (opt_stage){.variants = x->var[s],
                                       .n_variants = LG_V,
                                       .max_batch = 1024,
                                       .min_millicores = 50,
                                       .max_millicores = 2000,
                                       .step_millicores = 10,
                                       .min_replicas = 1,
                                       .max_replicas = 8};
        }
        /* The pipeline file's default objective weights (pipelines/README.md). */
        x->pl = (opt_pipeline){.stages = x->st,
                               .n_stages = LG_S,
                               .lambda_rps = lambda,
                               .slo_budget_ms = 1000.0,
                               .alpha = 1.0,
                               .beta = 10.0,
                               .delta = 0.01,
                               .policy = OPT_POLICY_FULL};
        x->pr = (opt_problem){&x->pl, 1, 64000};
}

static int run_largest(int iters, result *ret)
{
        static largest_inst x;
        double *t = calloc((size_t)iters, sizeof(double));
        double *cpu = calloc((size_t)iters, sizeof(double));
        uint64_t seed = 777;
        size_t feasible = 0;
        char err[256];
        int r = 0;

        if (!t || !cpu) {
                free(t);
                free(cpu);
                return -ENOMEM;
        }
        memset(ret, 0, sizeof(*ret));
        for (int i = 0; i < iters && r == 0; i++) {
                opt_plan pl;
                double c0;
                largest_instance(&x, optt_uniform(&seed, 1.0, 50.0));
                c0 = thread_cpu_ms();
                r = opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl);
                cpu[i] = thread_cpu_ms() - c0;
                if (r < 0) {
                        fprintf(stderr, "bench-solve: largest: opt_solve: %s\n", strerror(-r));
                        break;
                }
                if (optt_plan_check(&x.pr, &pl, err, sizeof(err)) < 0) {
                        fprintf(stderr, "bench-solve: largest: plan check failed: %s\n", err);
                        r = -EPROTO;
                }
                t[i] = (double)pl.solve_us / 1000.0;
                feasible += pl.feasible;
                ret->cand += (double)pl.candidates / iters;
                ret->kept += (double)pl.candidates_pruned / iters;
                opt_plan_done(&pl);
        }
        if (r == 0) {
                ret->feasible_pct = 100.0 * (double)feasible / iters;
                ret->p50_ms = pct(t, (size_t)iters, 0.50);
                ret->p99_ms = pct(t, (size_t)iters, 0.99);
                ret->max_ms = t[iters - 1];
                ret->cpu_p50_ms = pct(cpu, (size_t)iters, 0.50);
                ret->cpu_p99_ms = pct(cpu, (size_t)iters, 0.99);
                ret->cpu_max_ms = cpu[iters - 1];
        }
        free(t);
        free(cpu);
        return r;
}

static void print_result(const char *what, const result *r)
{
        printf("%-28s wall p50 %7.3f p99 %7.3f max %7.3f ms | cpu p50 %7.3f p99 %7.3f ms | "
               "candidates %6.0f -> %5.0f | feasible %5.1f%%\n",
               what, r->p50_ms, r->p99_ms, r->max_ms, r->cpu_p50_ms, r->cpu_p99_ms, r->cand,
               r->kept, r->feasible_pct);
}

/* Opens the last line's JSON object: the curve's figures (CPU time of the solving thread). */
static void print_json_head(const result *curve)
{
        static const char *const key[N_CURVE] = {"one", "ten", "thirty", "hundred"};

        printf("{");
        for (size_t k = 0; k < N_CURVE; k++)
                printf("\"%s_p50_ms\":%.4f,\"%s_p99_ms\":%.4f,\"%s_wall_p50_ms\":%.4f,"
                       "\"%s_wall_p99_ms\":%.4f,",
                       key[k], curve[k].cpu_p50_ms, key[k], curve[k].cpu_p99_ms, key[k],
                       curve[k].p50_ms, key[k], curve[k].p99_ms);
        printf("\"curve\":[");
        for (size_t k = 0; k < N_CURVE; k++)
                printf("%s{\"pipelines\":%zu,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,"
                       "\"candidates_pruned\":%.0f,\"feasible_pct\":%.1f}",
                       k ? "," : "", curve_np[k], curve[k].cpu_p50_ms, curve[k].cpu_p99_ms,
                       curve[k].cpu_max_ms, curve[k].kept, curve[k].feasible_pct);
        printf("],");
}

static int parse_size(const char *s, size_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-')
                return -EINVAL;
        *ret = (size_t)v;
        return 0;
}

int main(int argc, char **argv)
{
        size_t iters = 1000, first = 0, lines = 0, n_largest = 3, only = 0;
        int smoke = 0, naive = 0, have_fc = 0;
        result curve[N_CURVE], one_n = {0}, ten_n = {0}, largest = {0};
        opt_forecast_eval fc = {0}, fc_a = {0}, fc_b = {0};
        char path[4096];

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--smoke") == 0) {
                        smoke = 1;
                } else if (strcmp(argv[i], "--mix") == 0) {
                        g_mix = true;
                } else if (strcmp(argv[i], "--naive") == 0) {
                        naive = 1;
                } else if (i + 1 < argc && strcmp(argv[i], "--iters") == 0) {
                        if (parse_size(argv[++i], &iters) < 0 || iters == 0)
                                goto usage;
                } else if (i + 1 < argc && strcmp(argv[i], "--only") == 0) {
                        if (parse_size(argv[++i], &only) < 0)
                                goto usage;
                } else if (i + 1 < argc && strcmp(argv[i], "--largest") == 0) {
                        if (parse_size(argv[++i], &n_largest) < 0)
                                goto usage;
                } else if (i + 1 < argc && strcmp(argv[i], "--trace-first") == 0) {
                        if (parse_size(argv[++i], &first) < 0)
                                goto usage;
                } else if (i + 1 < argc && strcmp(argv[i], "--trace-lines") == 0) {
                        if (parse_size(argv[++i], &lines) < 0)
                                goto usage;
                } else {
                        goto usage;
                }
        }
        if (smoke) {
                iters = 20;
                n_largest = n_largest < 1 ? n_largest : 1;
                if (lines == 0)
                        lines = 86400;
        }
        for (size_t k = 0; k < N_CURVE; k++) {
                char what[64];
                size_t n = iters / curve_div[k] ? iters / curve_div[k] : 1;
                if (smoke && curve_np[k] > 10)
                        n = 2;
                memset(&curve[k], 0, sizeof(curve[k]));
                if (only && curve_np[k] != only)
                        continue;
                if (run(curve_np[k], (int)n, 0, &curve[k]) < 0)
                        return 1;
                snprintf(what, sizeof(what), "%zu pipeline%s (GLPK, pruned)", curve_np[k],
                         curve_np[k] == 1 ? "" : "s");
                print_result(what, &curve[k]);
        }
        if (n_largest > 0) {
                if (run_largest((int)n_largest, &largest) < 0)
                        return 1;
                print_result("largest pipeline file", &largest);
        }
        if (naive) {
                if (run(1, (int)(iters / 5 ? iters / 5 : 1), 1, &one_n) < 0 ||
                    run(10, (int)(iters / 20 ? iters / 20 : 1), 1, &ten_n) < 0)
                        return 1;
                print_result("1 pipeline (GLPK, naive)", &one_n);
                print_result("10 pipelines (GLPK, naive)", &ten_n);
        }

        if (optt_data_path("twitter-2018-04-rps.txt.gz", path, sizeof(path)) == 0) {
                double *v = NULL;
                size_t n = 0;
                int r = optt_read_trace(path, first, lines, &v, &n);
                if (r < 0) {
                        fprintf(stderr, "bench-solve: %s: %s\n", path, strerror(-r));
                        return 1;
                }
                if (opt_forecast_evaluate(v, n, NULL, 0, &fc) < 0 ||
                    opt_forecast_evaluate(v, n / 2, NULL, 0, &fc_a) < 0 ||
                    opt_forecast_evaluate(v + n / 2, n - n / 2, NULL, 0, &fc_b) < 0) {
                        fprintf(stderr, "bench-solve: trace too short for a forecast\n");
                        free(v);
                        return 1;
                }
                printf("forecast on %zu s of the Twitter trace from s %zu (120 s back, max of "
                       "next 20 s, every 20 s): %zu forecasts, MAPE %.2f%%, under by >10%%: "
                       "%.2f%%, mean over-provision %.2f%%\n",
                       n, first, fc.n, fc.mape_pct, fc.under10_pct, fc.mean_over_pct);
                printf("  first half: MAPE %.2f%% under10 %.2f%%; second half: MAPE %.2f%% "
                       "under10 %.2f%%\n",
                       fc_a.mape_pct, fc_a.under10_pct, fc_b.mape_pct, fc_b.under10_pct);
                have_fc = 1;
                free(v);
        } else {
                printf("forecast: skipped, Twitter trace not found (%s)\n", path);
        }
        /* Solve time = CPU time of the solving thread: on a shared machine wall time also
         * counts the waits for a core (both are printed). */
        print_json_head(curve);
        if (n_largest > 0)
                printf("\"largest_p50_ms\":%.2f,\"largest_max_ms\":%.2f,\"largest_wall_max_ms\":"
                       "%.2f,\"largest_candidates\":%.0f,",
                       largest.cpu_p50_ms, largest.cpu_max_ms, largest.max_ms, largest.cand);
        else
                printf("\"largest_p50_ms\":null,\"largest_max_ms\":null,");
        if (have_fc)
                printf("\"forecast_mape\":%.3f,\"forecast_under10_pct\":%.3f,", fc.mape_pct,
                       fc.under10_pct);
        else
                printf("\"forecast_mape\":null,\"forecast_under10_pct\":null,");
        if (naive)
                printf("\"one_naive_p99_ms\":%.4f,\"ten_naive_p99_ms\":%.4f,", one_n.cpu_p99_ms,
                       ten_n.cpu_p99_ms);
        printf("\"one_candidates\":%.0f,\"one_candidates_pruned\":%.0f,\"ten_candidates\":%.0f,"
               "\"ten_candidates_pruned\":%.0f,\"mix\":%s,\"iters\":%zu}\n",
               curve[0].cand, curve[0].kept, curve[1].cand, curve[1].kept, g_mix ? "true" : "false",
               iters);
        return 0;
usage:
        fprintf(stderr, "usage: bench-solve [--smoke] [--iters N] [--naive] [--largest N] "
                        "[--only P] [--mix] [--trace-first S] [--trace-lines N]\n");
        return 2;
}
