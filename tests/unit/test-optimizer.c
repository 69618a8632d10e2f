/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of optimizer/: latency model, fit and online refit, table, queueing estimate,
 * forecast, the GLPK integer program against an exact oracle and a brute-force enumerator,
 * infeasibility diagnosis, policies, threads; and the real data (InfAdapter profile, Twitter
 * trace); 30-100 pipelines against the direct stage-level IP. Usage:
 * test-optimizer model|forecast|solve|many|data  (no argument: model, forecast, solve).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "optimizer/optimizer.h"
#include "tests/unit/optimizer-check.h"
#include "tests/unit/optimizer-data.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static double rel_err(double a, double b)
{
        return fabs(a - b) / fmax(fabs(b), 1e-300);
}

/* A Sponge-like model: 20 ms·core per item, 2 ms per item, 10 ms·core per batch, 5 ms. */
static const opt_model truth = {20.0, 2.0, 10.0, 5.0, 0.0};

static size_t grid_points(const opt_model *m, uint64_t *seed, double noise, opt_point *pts)
{
        static const uint32_t bs[] = {1, 2, 4, 8, 16, 32};
        size_t n = 0;

        for (size_t i = 0; i < 6; i++)
                for (uint32_t mc = 250; mc <= 8000; mc += 250) {
                        double l = opt_latency_ms(m, bs[i], mc);
                        if (noise > 0.0)
                                l *= 1.0 + optt_uniform(seed, -noise, noise);
                        pts[n++] = (opt_point){bs[i], mc, l};
                }
        return n;
}

/* ---- model -------------------------------------------------------------------------------- */

static void test_latency_formula(void **state)
{
        opt_model m = truth;

        (void)state;
        /* b = 4, c = 0.5: 20·4/0.5 + 2·4 + 10/0.5 + 5 = 160 + 8 + 20 + 5 = 193 */
        assert_true(fabs(opt_latency_ms(&m, 4, 500) - 193.0) < 1e-12);
        m.margin = 0.1;
        assert_true(fabs(opt_latency_ms(&m, 4, 500) - 212.3) < 1e-9);
        assert_true(isinf(opt_latency_ms(&m, 4, 0)));
        assert_true(isinf(opt_latency_ms(&m, 0, 500)));
}

static void test_fit_exact_and_noisy(void **state)
{
        static opt_point pts[6 * 32];
        uint64_t seed = 42;
        opt_model m;
        char err[256];
        size_t n;
        double mean, max;

        (void)state;
        n = grid_points(&truth, &seed, 0.0, pts);
        assert_int_equal(opt_fit(pts, n, &m, err, sizeof(err)), 0);
        assert_true(rel_err(m.gamma, truth.gamma) < 1e-9);
        assert_true(rel_err(m.delta, truth.delta) < 1e-9);
        assert_true(rel_err(m.epsilon, truth.epsilon) < 1e-9);
        assert_true(rel_err(m.eta, truth.eta) < 1e-9);
        assert_true(m.margin < 1e-9);

        /* ±3% uniform multiplicative noise */
        n = grid_points(&truth, &seed, 0.03, pts);
        assert_int_equal(opt_fit(pts, n, &m, err, sizeof(err)), 0);
        printf("noisy fit: gamma %.4f delta %.4f epsilon %.4f eta %.4f margin %.4f\n", m.gamma,
               m.delta, m.epsilon, m.eta, m.margin);
        assert_true(rel_err(m.gamma, truth.gamma) < 0.02);
        assert_true(rel_err(m.delta, truth.delta) < 0.10);
        assert_true(rel_err(m.epsilon, truth.epsilon) < 0.25);
        assert_true(rel_err(m.eta, truth.eta) < 0.25);
        /* The margin covers the noise (p99 of +3% noise) but not much more. */
        assert_true(m.margin > 0.015 && m.margin < 0.06);
        assert_int_equal(opt_fit_error(&m, pts, n, &mean, &max), 0);
        assert_true(mean < 0.02 && max < 0.05);
        /* Predictions with the margin cover >= 98% of the points. */
        {
                size_t covered = 0;
                for (size_t i = 0; i < n; i++)
                        covered += opt_latency_ms(&m, pts[i].batch, pts[i].millicores) >=
                                   pts[i].latency_ms;
                assert_true(covered >= (size_t)(0.98 * (double)n));
        }
        /* NNLS on the same data is as good here (true parameters are positive). */
        assert_int_equal(opt_fit_nonneg(pts, n, &m, err, sizeof(err)), 0);
        assert_true(rel_err(m.gamma, truth.gamma) < 0.02);
}

static void test_fit_single_batch(void **state)
{
        opt_point pts[8];
        opt_model m;
        char err[256];

        (void)state;
        for (int i = 0; i < 8; i++)
                pts[i] = (opt_point){1, (uint32_t)(1000 * (i + 1)),
                                     opt_latency_ms(&truth, 1, (uint32_t)(1000 * (i + 1)))};
        assert_int_equal(opt_fit(pts, 8, &m, err, sizeof(err)), 0);
        /* l(1,c) = 30/c + 7 is recovered exactly; batch dependence assumed linear. */
        assert_true(fabs(opt_latency_ms(&m, 1, 2000) - (15.0 + 7.0)) < 1e-9);
        assert_true(fabs(opt_latency_ms(&m, 4, 2000) - 4.0 * 22.0) < 1e-9);
        assert_true(m.epsilon == 0.0 && m.eta == 0.0);
}

static void test_fit_rejects(void **state)
{
        static opt_point pts[6 * 32];
        opt_model m = {1, 1, 1, 1, 0}, neg = {20.0, 1.0, 0.0, -8.0, 0.0}, keep = m;
        char err[256] = "";
        size_t n = 0;

        (void)state;
        /* Input errors. */
        assert_int_equal(opt_fit(NULL, 0, &m, err, sizeof(err)), -EINVAL);
        pts[0] = (opt_point){1, 1000, 0.0};
        assert_int_equal(opt_fit(pts, 1, &m, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "point 0"));
        /* All at one core count: core dependence unidentifiable. */
        for (uint32_t b = 1; b <= 8; b++)
                pts[b - 1] = (opt_point){b, 2000, 10.0 * b};
        assert_int_equal(opt_fit(pts, 8, &m, err, sizeof(err)), -EDOM);
        assert_non_null(strstr(err, "one core count") ? strstr(err, "one core count")
                                                      : strstr(err, "2000 millicores"));
        /* Three points for four parameters. */
        pts[0] = (opt_point){1, 1000, 10};
        pts[1] = (opt_point){2, 2000, 12};
        pts[2] = (opt_point){1, 2000, 7};
        assert_int_equal(opt_fit(pts, 3, &m, err, sizeof(err)), -EDOM);
        assert_memory_equal(&m, &keep, sizeof(m)); /* untouched on failure */

        /* A model that goes negative at small batch on many cores: data from b >= 4 only. */
        for (uint32_t b = 4; b <= 32; b *= 2)
                for (uint32_t mc = 1000; mc <= 8000; mc += 1000)
                        pts[n++] = (opt_point){b, mc, opt_latency_ms(&neg, b, mc)};
        assert_int_equal(opt_fit(pts, n, &m, err, sizeof(err)), 0); /* fine where measured */
        assert_int_equal(opt_model_check(&m, 32, 1000, 8000, err, sizeof(err)), -EDOM);
        printf("rejected: %s\n", err);
        assert_non_null(strstr(err, "batch 1"));
        /* The same data violates positivity inside its own range once a point at b = 1 on
         * 8 cores is measured slightly positive: the least-squares fit dips below zero. */
        pts[n++] = (opt_point){1, 8000, 0.05};
        pts[n++] = (opt_point){1, 1000, 0.05};
        assert_int_equal(opt_fit(pts, n, &m, err, sizeof(err)), -EDOM);
        printf("rejected: %s\n", err);
        /* NNLS never goes negative. */
        assert_int_equal(opt_fit_nonneg(pts, n, &m, err, sizeof(err)), 0);
        assert_int_equal(opt_model_check(&m, 32, 1000, 8000, err, sizeof(err)), 0);
        assert_true(m.gamma >= 0 && m.delta >= 0 && m.epsilon >= 0 && m.eta >= 0);
        /* Range errors. */
        assert_int_equal(opt_model_check(&truth, 0, 1000, 8000, err, sizeof(err)), -EINVAL);
        assert_int_equal(opt_model_check(&truth, 8, 2000, 1000, err, sizeof(err)), -EINVAL);
}

/* Mean relative prediction error of m against t over a grid of configurations. */
static double grid_error(const opt_model *m, const opt_model *t)
{
        opt_model a = *m;
        double sum = 0.0;
        int n = 0;

        a.margin = 0.0;
        for (uint32_t b = 1; b <= 32; b *= 2)
                for (uint32_t mc = 500; mc <= 8000; mc += 500, n++)
                        sum += rel_err(opt_latency_ms(&a, b, mc), opt_latency_ms(t, b, mc));
        return sum / n;
}

static void feed(opt_rls *s, const opt_model *t, uint64_t *seed, int n, double noise)
{
        static const uint32_t bs[] = {1, 2, 4, 8, 16, 32};

        for (int i = 0; i < n; i++) {
                uint32_t b = bs[(size_t)optt_uniform(seed, 0, 6)];
                uint32_t mc = 250 * (1 + (uint32_t)optt_uniform(seed, 0, 32));
                double l = opt_latency_ms(t, b, mc) * (1.0 + optt_uniform(seed, -noise, noise));
                assert_int_equal(opt_rls_update(s, b, mc, l), 0);
        }
}

static void test_rls_step(void **state)
{
        opt_model after = {32.0, 2.5, 10.0, 9.0, 0.0}, m;
        opt_rls s, slow;
        uint64_t seed = 7;
        double e_fast, e_slow;

        (void)state;
        assert_int_equal(opt_rls_init(&s, &truth, 0.98, 0), 0);
        assert_int_equal(opt_rls_init(&slow, &truth, 1.0, 0), 0);
        feed(&s, &truth, &seed, 300, 0.01);
        seed = 7;
        feed(&slow, &truth, &seed, 300, 0.01);
        opt_rls_model(&s, &m);
        assert_true(grid_error(&m, &truth) < 0.01);
        assert_true(m.margin < 0.03);

        /* Step: the node got slower (a noisy neighbour). */
        feed(&s, &after, &seed, 20, 0.01);
        opt_rls_model(&s, &m);
        printf("rls: 20 after the step: grid error %.3f margin %.3f\n", grid_error(&m, &after),
               m.margin);
        assert_true(m.margin > 0.2); /* the a-priori errors of the step show */
        feed(&s, &after, &seed, 180, 0.01);
        opt_rls_model(&s, &m);
        seed = 99;
        feed(&slow, &after, &seed, 200, 0.01);
        e_fast = grid_error(&m, &after);
        {
                opt_model ms;
                opt_rls_model(&slow, &ms);
                e_slow = grid_error(&ms, &after);
        }
        printf("rls: 200 after the step: grid error %.4f (no forgetting: %.4f), margin %.3f\n",
               e_fast, e_slow, m.margin);
        assert_true(e_fast < 0.01);
        assert_true(e_slow > 2 * e_fast); /* forgetting is what makes it follow */
        assert_true(m.margin < 0.1);      /* from 1.6 right after the step */
        assert_int_equal(opt_model_check(&m, 32, 250, 8000, NULL, 0), 0);

        /* Bad input leaves the state alone. */
        {
                opt_rls copy = s;
                assert_int_equal(opt_rls_update(&s, 0, 1000, 5.0), -EINVAL);
                assert_int_equal(opt_rls_update(&s, 1, 1000, -1.0), -EINVAL);
                assert_int_equal(opt_rls_update(&s, 1, 1000, NAN), -EINVAL);
                assert_memory_equal(&copy, &s, sizeof(s));
        }
        assert_int_equal(opt_rls_init(&s, &truth, 0.0, 0), -EINVAL);
        assert_int_equal(opt_rls_init(&s, &truth, 1.5, 0), -EINVAL);
}

static void test_rls_windup(void **state)
{
        opt_rls s;
        opt_model m;
        uint64_t seed = 3;
        double tr = 0.0;

        (void)state;
        assert_int_equal(opt_rls_init(&s, &truth, 0.9, 0), 0);
        /* One configuration only, for a long time: P must not blow up. */
        for (int i = 0; i < 5000; i++)
                assert_int_equal(opt_rls_update(&s, 4, 2000, opt_latency_ms(&truth, 4, 2000)), 0);
        for (int i = 0; i < 4; i++)
                tr += s.P[i][i];
        assert_true(tr <= OPT_RLS_P_MAX * (1 + 1e-9));
        /* Then varied data still converges. */
        feed(&s, &truth, &seed, 200, 0.0);
        opt_rls_model(&s, &m);
        assert_true(grid_error(&m, &truth) < 1e-3);
}

static void test_table(void **state)
{
        const opt_point pts[] = {
            {1, 1000, 100.0}, {1, 2000, 60.0},  {1, 4000, 40.0},
            {4, 1000, 300.0}, {4, 4000, 100.0}, {4, 4000, 120.0}, /* averaged: 110 */
        };
        opt_table *t = NULL;
        opt_latency l = {.kind = OPT_LATENCY_TABLE, .table_margin = 0.1};
        char err[128];
        double u, want;

        (void)state;
        assert_int_equal(opt_table_new(pts, 6, &t, err, sizeof(err)), 0);
        assert_true(opt_table_latency_ms(t, 1, 2000) == 60.0);
        assert_true(opt_table_latency_ms(t, 4, 4000) == 110.0);
        /* Between 1000 and 2000 millicores: linear in 1/c. */
        u = (1.0 / 1500 - 1.0 / 1000) / (1.0 / 2000 - 1.0 / 1000);
        want = 100.0 + (60.0 - 100.0) * u;
        assert_true(fabs(opt_table_latency_ms(t, 1, 1500) - want) < 1e-9);
        /* Above the largest measured cores: flat; below the smallest: unknown. */
        assert_true(opt_table_latency_ms(t, 1, 8000) == 40.0);
        assert_true(isinf(opt_table_latency_ms(t, 1, 500)));
        /* Between batches: linear in b (at 1000 mc: 100 → 300). */
        assert_true(fabs(opt_table_latency_ms(t, 2, 1000) - (100.0 + 200.0 / 3.0)) < 1e-9);
        assert_true(isinf(opt_table_latency_ms(t, 8, 1000)));
        l.table = t;
        assert_true(fabs(opt_latency_eval_ms(&l, 1, 2000) - 66.0) < 1e-9);
        assert_null(opt_table_free(t));
        assert_null(opt_table_free(NULL));
        assert_int_equal(opt_table_new(pts, 0, &t, err, sizeof(err)), -EINVAL);
}

static void test_queue_delay(void **state)
{
        (void)state;
        /* b = 8 at 2 replicas, λ = 100/s: the first waits 7 more arrivals at 50/s = 140 ms */
        /* fill 1000·7·2/100 = 140, service 30, rho = 100·30/(1000·2·8) = 0.1875:
         * wait 15·0.1875^(√6−1)/(2·0.8125) */
        assert_true(fabs(opt_queue_delay_ms(8, 2, 100.0, 30.0) -
                         (170.0 + 15.0 * pow(0.1875, sqrt(6.0) - 1.0) / 1.625)) < 1e-9);
        /* M/D/1: the Pollaczek-Khinchine mean wait rho·s/(2(1−rho)) = 0.5·25/1 at rho = 0.5 */
        assert_true(fabs(opt_queue_delay_ms(1, 1, 20.0, 25.0) - 37.5) < 1e-9);
        /* more replicas at the same load: less wait */
        assert_true(opt_queue_delay_ms(1, 4, 100.0, 30.0) < opt_queue_delay_ms(1, 2, 100.0, 30.0));
        assert_true(opt_queue_delay_ms(1, 4, 100.0, 30.0) > 30.0);
        assert_true(isinf(opt_queue_delay_ms(1, 1, 40.0, 25.0))); /* rho = 1 */
        assert_true(opt_queue_delay_ms(1, 1, 0.0, 30.0) == 30.0);
        assert_true(isinf(opt_queue_delay_ms(2, 1, 0.0, 30.0)));
}

/* ---- forecast ----------------------------------------------------------------------------- */

/* The agent's robust mode: a step of the load moves neither the trend nor the noise term;
 * a ramp still extrapolates; Poisson-like noise gives about its standard deviation. */
static void test_forecast_robust(void **state)
{
        opt_forecast_params p;
        opt_forecast f, ls;
        const double noise[6] = {-5, 3, 6, -2, -6, 4};

        (void)state;
        opt_forecast_params_default(&p);
        p.lookback_s = 30;
        p.horizon_s = 3;
        p.recent_s = 3;
        p.robust = true;
        assert_int_equal(opt_forecast_init(&f, &p), 0);
        p.robust = false;
        assert_int_equal(opt_forecast_init(&ls, &p), 0);
        for (int i = 0; i < 10; i++) {
                opt_forecast_push(&f, 4.0);
                opt_forecast_push(&ls, 4.0);
        }
        for (int i = 0; i < 10; i++) {
                opt_forecast_push(&f, 30.0);
                opt_forecast_push(&ls, 30.0);
        }
        /* least squares: slope and residuals of the step inflate it far above 30 */
        assert_true(opt_forecast_next(&ls) > 40.0);
        assert_true(fabs(opt_forecast_next(&f) - 30.0) < 1e-9);
        opt_forecast_done(&f);
        opt_forecast_done(&ls);

        p.robust = true;
        assert_int_equal(opt_forecast_init(&f, &p), 0);
        for (int i = 0; i < 20; i++)
                opt_forecast_push(&f, 10.0 + 2.0 * i); /* ramp: 2/s over 3 s ahead */
        assert_true(fabs(opt_forecast_next(&f) - (48.0 + 6.0)) < 1e-9);
        opt_forecast_done(&f);

        assert_int_equal(opt_forecast_init(&f, &p), 0);
        for (int i = 0; i < 30; i++)
                opt_forecast_push(&f, 30.0 + noise[i % 6]);
        /* level 34 (max of the last 3: 28, 24, 34), slope the median of -8, -4, 10 (< 0: none),
         * spread a few requests (the differences' MAD) */
        printf("robust forecast of 30 +- 6: %.2f\n", opt_forecast_next(&f));
        assert_true(opt_forecast_next(&f) > 34.0 + 2.0 && opt_forecast_next(&f) < 34.0 + 12.0);
        opt_forecast_done(&f);
}

static void test_forecast_synthetic(void **state)
{
        opt_forecast f;
        opt_forecast_params p;
        double ramp[400];
        opt_forecast_eval ev;

        (void)state;
        assert_int_equal(opt_forecast_init(&f, NULL), 0);
        assert_true(opt_forecast_next(&f) == 0.0);
        for (int i = 0; i < 500; i++)
                opt_forecast_push(&f, 50.0);
        assert_true(fabs(opt_forecast_next(&f) - 50.0) < 1e-9);
        /* Only the last 120 s count: a spike 200 s ago is forgotten. */
        opt_forecast_push(&f, 500.0);
        for (int i = 0; i < 200; i++)
                opt_forecast_push(&f, 50.0);
        assert_true(fabs(opt_forecast_next(&f) - 50.0) < 1e-9);
        opt_forecast_push(&f, -3.0); /* taken as 0 */
        opt_forecast_push(&f, NAN);
        assert_true(opt_forecast_next(&f) >= 50.0);
        opt_forecast_done(&f);
        opt_forecast_done(&f); /* idempotent */

        /* A steady ramp is never under-predicted: the trend term extrapolates it. */
        for (int i = 0; i < 400; i++)
                ramp[i] = 10.0 + 0.5 * i;
        assert_int_equal(opt_forecast_evaluate(ramp, 400, NULL, 1, &ev), 0);
        assert_true(ev.n > 200);
        assert_true(ev.under10_pct == 0.0);
        assert_true(ev.mape_pct < 5.0);

        opt_forecast_params_default(&p);
        p.recent_s = 200;
        assert_int_equal(opt_forecast_init(&f, &p), -EINVAL);
        assert_int_equal(opt_forecast_evaluate(ramp, 100, NULL, 1, &ev), -ENODATA);
}

/* ---- solve -------------------------------------------------------------------------------- */

/* Bench-like instance: stages × 5 variants, batches 1..32, 250..8000 step 250, 1..8. */
typedef struct big {
        opt_variant var[10][5][5];
        opt_stage st[10][5];
        opt_pipeline pl[10];
        opt_problem pr;
} big;

static void big_instance(big *b, size_t n_pipes, double lambda)
{
        memset(b, 0, sizeof(*b));
        for (size_t p = 0; p < n_pipes; p++) {
                for (size_t s = 0; s < 5; s++) {
                        for (size_t v = 0; v < 5; v++) {
                                opt_variant *va = &b->var[p][s][v];
                                double k = 1.0 + v;
                                va->accuracy = 70.0 + 4.0 * v;
                                va->model = (opt_latency){
                                    .kind = OPT_LATENCY_MODEL,
                                    .fit = {5.0 * k + s, 0.3 * k, 4.0 * k, 2.0 + s, 0.05}};
                        }
                        b->st[p][s] = (opt_stage){.variants = b->var[p][s],
                                                  .n_variants = 5,
                                                  .max_batch = 32,
                                                  .min_millicores = 250,
                                                  .max_millicores = 8000,
                                                  .step_millicores = 250,
                                                  .min_replicas = 1,
                                                  .max_replicas = 8};
                }
                b->pl[p] = (opt_pipeline){.stages = b->st[p],
                                          .n_stages = 5,
                                          .lambda_rps = lambda,
                                          .slo_budget_ms = 600.0,
                                          .alpha = 1.0,
                                          .beta = 2.0,
                                          .delta = 0.05,
                                          .policy = OPT_POLICY_FULL};
        }
        b->pr = (opt_problem){b->pl, n_pipes, (uint32_t)(n_pipes * 24000)};
}

static void test_random_agree(void **state)
{
        static optt_instance in;
        uint64_t seed = 0x9e3779b97f4a7c15ull;
        size_t n_feas = 0, n_infeas = 0, n_brute = 0, reasons[5] = {0};
        const opt_solve_options stage_ip = {.stage_ip = true};
        char err[256];

        (void)state;
        for (int i = 0; i < 1000; i++) {
                opt_plan g, e, s;
                double bobj = 0.0;
                int rb;

                optt_random_instance(&seed, &in);
                assert_int_equal(opt_problem_validate(&in.pr, err, sizeof(err)), 0);
                assert_int_equal(opt_solve(&in.pr, OPT_SOLVER_GLPK, NULL, &g), 0);
                assert_int_equal(opt_solve(&in.pr, OPT_SOLVER_EXHAUSTIVE, NULL, &e), 0);
                /* The textbook stage-level IP, by GLPK's branch and bound alone. */
                assert_int_equal(opt_solve(&in.pr, OPT_SOLVER_GLPK, &stage_ip, &s), 0);
                if (s.feasible != e.feasible ||
                    (s.feasible && rel_err(s.objective, e.objective) > 1e-9 &&
                     fabs(s.objective - e.objective) > 1e-9))
                        fail_msg("instance %d: stage IP feasible %d obj %.12g, exhaustive %d "
                                 "%.12g",
                                 i, s.feasible, s.objective, e.feasible, e.objective);
                if (optt_plan_check(&in.pr, &s, err, sizeof(err)) < 0)
                        fail_msg("instance %d stage-IP plan: %s", i, err);
                opt_plan_done(&s);
                if (g.feasible != e.feasible)
                        fail_msg("instance %d: glpk feasible %d, exhaustive %d", i, g.feasible,
                                 e.feasible);
                if (optt_plan_check(&in.pr, &g, err, sizeof(err)) < 0)
                        fail_msg("instance %d glpk plan: %s", i, err);
                if (optt_plan_check(&in.pr, &e, err, sizeof(err)) < 0)
                        fail_msg("instance %d exhaustive plan: %s", i, err);
                if (g.feasible) {
                        n_feas++;
                        assert_true(g.optimal && e.optimal);
                        if (rel_err(g.objective, e.objective) > 1e-9 &&
                            fabs(g.objective - e.objective) > 1e-9)
                                fail_msg("instance %d: objective glpk %.12g exhaustive %.12g", i,
                                         g.objective, e.objective);
                        assert_true(g.candidates_pruned <= g.candidates);
                } else {
                        n_infeas++;
                        assert_int_equal(g.reason, e.reason);
                        assert_int_equal(g.binding_pipeline, e.binding_pipeline);
                        assert_int_equal(g.extra_millicores, e.extra_millicores);
                        reasons[g.reason]++;
                }
                rb = optt_brute_force(&in.pr, 20000, &bobj);
                if (rb >= 0) {
                        n_brute++;
                        if (rb != (int)g.feasible)
                                fail_msg("instance %d: brute force feasible %d, glpk %d", i, rb,
                                         g.feasible);
                        if (rb == 1 && rel_err(g.objective, bobj) > 1e-9 &&
                            fabs(g.objective - bobj) > 1e-9)
                                fail_msg("instance %d: objective glpk %.12g brute %.12g", i,
                                         g.objective, bobj);
                }
                opt_plan_done(&g);
                opt_plan_done(&e);
        }
        printf("1000 random instances: %zu feasible, %zu infeasible (throughput %zu, latency "
               "%zu, capacity %zu, static %zu); %zu also brute-forced\n",
               n_feas, n_infeas, reasons[1], reasons[2], reasons[3], reasons[4], n_brute);
        /* The generator must exercise both outcomes, else this test proves little. */
        assert_true(n_feas > 300 && n_infeas > 100 && reasons[3] > 20 && n_brute > 300);
}

/* Two pipelines of two stages; stage 1 of pipeline 1 is the slow one. */
typedef struct small {
        opt_variant var[2][2][2];
        opt_stage st[2][2];
        opt_pipeline pl[2];
        opt_problem pr;
} small;

static void small_instance(small *x)
{
        memset(x, 0, sizeof(*x));
        for (int p = 0; p < 2; p++)
                for (int s = 0; s < 2; s++) {
                        for (int v = 0; v < 2; v++) {
                                double k = (p == 1 && s == 1) ? 8.0 : 1.0;
                                x->var[p][s][v] = (opt_variant){
                                    .accuracy = 70.0 + 10.0 * v,
                                    .model = {.kind = OPT_LATENCY_MODEL,
                                              .fit = {10.0 * k * (v + 1), 1.0, 5.0, 2.0, 0.0}}};
                        }
                        x->st[p][s] = (opt_stage){.variants = x->var[p][s],
                                                  .n_variants = 2,
                                                  .max_batch = 8,
                                                  .min_millicores = 500,
                                                  .max_millicores = 4000,
                                                  .step_millicores = 500,
                                                  .min_replicas = 1,
                                                  .max_replicas = 4};
                }
        for (int p = 0; p < 2; p++)
                x->pl[p] = (opt_pipeline){.stages = x->st[p],
                                          .n_stages = 2,
                                          .lambda_rps = 20.0,
                                          .slo_budget_ms = 200.0,
                                          .alpha = 1.0,
                                          .beta = 1.0,
                                          .delta = 0.1};
        x->pr = (opt_problem){x->pl, 2, 16000};
}

static void test_infeasible_latency(void **state)
{
        static small x;
        opt_plan pl;
        char err[256];

        (void)state;
        small_instance(&x);
        x.pl[1].slo_budget_ms = 30.0; /* stage 1 alone needs >= 80·1/4 + ... */
        for (int w = 0; w < 2; w++) {
                assert_int_equal(opt_solve(&x.pr, (opt_solver)w, NULL, &pl), 0);
                assert_false(pl.feasible);
                assert_int_equal(pl.reason, OPT_INFEASIBLE_LATENCY);
                assert_int_equal(pl.binding_pipeline, 1);
                assert_int_equal(pl.binding_stage, 1);
                assert_true(pl.latency_excess_ms > 0.0);
                /* Best effort: pipeline 1 at its fastest. */
                assert_true(fabs(pl.pipelines[1].latency_ms - 30.0 - pl.latency_excess_ms) < 1e-9);
                assert_int_equal(optt_plan_check(&x.pr, &pl, err, sizeof(err)), 0);
                opt_plan_done(&pl);
        }
}

static void test_infeasible_capacity(void **state)
{
        static small x;
        opt_plan pl, pl2;
        uint32_t extra;

        (void)state;
        small_instance(&x);
        x.pl[0].lambda_rps = x.pl[1].lambda_rps = 60.0;
        x.pr.node_millicores = 3000;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl), 0);
        assert_false(pl.feasible);
        assert_int_equal(pl.reason, OPT_INFEASIBLE_CAPACITY);
        assert_int_equal(pl.binding_pipeline, 1); /* the slow stage's pipeline needs most */
        assert_int_equal(pl.binding_stage, 1);
        extra = pl.extra_millicores;
        printf("capacity: node %u short by %u millicores (best effort %.2f cores)\n",
               x.pr.node_millicores, extra, pl.cores);
        assert_true(extra > 0);
        opt_plan_done(&pl);
        /* Exactly that many more make it feasible; one fewer does not. */
        x.pr.node_millicores += extra;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl), 0);
        assert_true(pl.feasible);
        x.pr.node_millicores -= 1;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_EXHAUSTIVE, NULL, &pl2), 0);
        assert_false(pl2.feasible);
        assert_int_equal(pl2.extra_millicores, 1);
        opt_plan_done(&pl);
        opt_plan_done(&pl2);
}

static void test_infeasible_throughput(void **state)
{
        static small x;
        opt_plan pl;

        (void)state;
        small_instance(&x);
        x.pl[0].lambda_rps = 100000.0;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl), 0);
        assert_false(pl.feasible);
        assert_int_equal(pl.reason, OPT_INFEASIBLE_THROUGHPUT);
        assert_int_equal(pl.binding_pipeline, 0);
        assert_int_equal(pl.binding_stage, 0);
        /* Best effort for a stage that cannot carry λ: most replicas, most cores. */
        assert_int_equal(pl.pipelines[0].stages[0].replicas, 4);
        assert_int_equal(pl.pipelines[0].stages[0].millicores, 4000);
        assert_true(isinf(pl.pipelines[0].stages[0].predicted_latency_ms));
        opt_plan_done(&pl);
}

static void test_policies(void **state)
{
        static small x;
        opt_plan pl, full;
        char err[256];

        (void)state;
        small_instance(&x);
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &full), 0);
        assert_true(full.feasible);

        x.pl[0].policy = OPT_POLICY_VERTICAL;
        x.st[0][0].fixed_variant = 1;
        x.st[0][1].fixed_variant = 0;
        x.pl[1].policy = OPT_POLICY_HORIZONTAL;
        x.st[1][0].fixed_millicores = 1000;
        x.st[1][1].fixed_millicores = 2000;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl), 0);
        assert_true(pl.feasible);
        assert_int_equal(optt_plan_check(&x.pr, &pl, err, sizeof(err)), 0);
        assert_int_equal(pl.pipelines[0].stages[0].variant, 1);
        assert_int_equal(pl.pipelines[0].stages[0].replicas, 1);
        assert_int_equal(pl.pipelines[0].stages[1].replicas, 1);
        assert_int_equal(pl.pipelines[1].stages[0].millicores, 1000);
        assert_int_equal(pl.pipelines[1].stages[1].millicores, 2000);
        /* Restricted policies can only do worse than full. */
        assert_true(pl.objective <= full.objective + 1e-9);
        opt_plan_done(&pl);

        /* Static: echoed, and its cores leave less for the other pipeline. */
        x.pl[1].policy = OPT_POLICY_STATIC;
        x.st[1][0] = (opt_stage){.variants = x.var[1][0],
                                 .n_variants = 2,
                                 .max_batch = 1,
                                 .min_millicores = 1,
                                 .max_millicores = 1,
                                 .min_replicas = 1,
                                 .max_replicas = 1,
                                 .fixed_variant = 0,
                                 .fixed_batch = 2,
                                 .fixed_millicores = 3000,
                                 .fixed_replicas = 2};
        x.st[1][1] = x.st[1][0];
        x.st[1][1].variants = x.var[1][1];
        x.st[1][1].fixed_millicores = 4000;
        x.st[1][1].fixed_replicas = 3;
        x.pl[1].slo_budget_ms = 1000.0; /* batch 2 at 20/s: 100-150 ms to fill per stage */
        x.pr.node_millicores = 30000;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl), 0);
        assert_true(pl.feasible);
        assert_int_equal(optt_plan_check(&x.pr, &pl, err, sizeof(err)), 0);
        assert_int_equal(pl.pipelines[1].stages[1].replicas, 3);
        assert_true(fabs(pl.pipelines[1].cores - 18.0) < 1e-12);
        assert_true(pl.cores <= 30.0);
        assert_true(pl.pipelines[0].cores <= 12.0);
        opt_plan_done(&pl);
        x.pr.node_millicores = 17000; /* 18 cores of static plan exceed the node */
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl), 0);
        assert_false(pl.feasible);
        assert_int_equal(pl.reason, OPT_INFEASIBLE_CAPACITY);
        opt_plan_done(&pl);
        x.pr.node_millicores = 40000;
        x.pl[1].slo_budget_ms = 1.0;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl), 0);
        assert_int_equal(pl.reason, OPT_INFEASIBLE_STATIC);
        assert_int_equal(pl.binding_pipeline, 1);
        opt_plan_done(&pl);
        opt_plan_done(&full);
        {
                opt_policy p;
                assert_int_equal(opt_policy_from_name("horizontal", &p), 0);
                assert_int_equal(p, OPT_POLICY_HORIZONTAL);
                assert_int_equal(opt_policy_from_name("diagonal", &p), -EINVAL);
                assert_string_equal(opt_infeasible_name(OPT_INFEASIBLE_CAPACITY), "capacity");
        }
}

static void test_validate(void **state)
{
        static small x;
        opt_plan pl;
        char err[256];

        (void)state;
        small_instance(&x);
        x.st[1][0].min_millicores = 0;
        assert_int_equal(opt_problem_validate(&x.pr, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "pipelines[1].stages[0]"));
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &pl), -EINVAL);
        small_instance(&x);
        x.pl[0].slo_budget_ms = NAN;
        assert_int_equal(opt_problem_validate(&x.pr, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "slo_budget_ms"));
        small_instance(&x);
        x.pl[0].policy = OPT_POLICY_VERTICAL;
        x.st[0][1].fixed_variant = 2;
        assert_int_equal(opt_problem_validate(&x.pr, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "fixed_variant"));
        small_instance(&x);
        x.st[0][0].step_millicores = 1;
        x.st[0][0].max_millicores = 4000000;
        assert_int_equal(opt_problem_validate(&x.pr, err, sizeof(err)), -EINVAL);
        assert_int_equal(opt_solve(NULL, OPT_SOLVER_GLPK, NULL, &pl), -EINVAL);
}

static void test_pruning_exact(void **state)
{
        static big b;
        opt_solve_options naive = {.no_prune = true};
        opt_plan a, n;
        char err[256];

        (void)state;
        big_instance(&b, 2, 150.0);
        assert_int_equal(opt_solve(&b.pr, OPT_SOLVER_GLPK, NULL, &a), 0);
        assert_int_equal(opt_solve(&b.pr, OPT_SOLVER_GLPK, &naive, &n), 0);
        printf("2 pipelines x 5 stages: %zu candidates, %zu after pruning; %llu us vs %llu us "
               "unpruned; %.2f cores\n",
               a.candidates, a.candidates_pruned, (unsigned long long)a.solve_us,
               (unsigned long long)n.solve_us, a.cores);
        assert_true(a.feasible && n.feasible);
        assert_true(a.candidates_pruned * 4 < a.candidates);
        assert_int_equal(n.candidates_pruned, n.candidates);
        assert_true(rel_err(a.objective, n.objective) < 1e-9);
        assert_int_equal(optt_plan_check(&b.pr, &a, err, sizeof(err)), 0);
        opt_plan_done(&a);
        opt_plan_done(&n);
}

static void test_time_limit(void **state)
{
        static big b;
        /* The stage-level IP on two bench-size pipelines takes GLPK about a second: a 30 ms
         * limit must stop it at an incumbent (or report that none was found in time). */
        opt_solve_options o = {.time_limit_ms = 30, .stage_ip = true};
        opt_plan pl;
        char err[256];
        int r;

        (void)state;
        big_instance(&b, 2, 150.0);
        r = opt_solve(&b.pr, OPT_SOLVER_GLPK, &o, &pl);
        assert_true(r == 0 || r == -ETIMEDOUT);
        if (r == 0) {
                printf("time limit 30 ms: feasible %d optimal %d objective %.3f in %llu us\n",
                       pl.feasible, pl.optimal, pl.objective, (unsigned long long)pl.solve_us);
                assert_true(pl.feasible);
                assert_int_equal(optt_plan_check(&b.pr, &pl, err, sizeof(err)), 0);
                /* GLPK checks the limit between nodes; generous bound for a loaded machine */
                assert_true(pl.solve_us < 2000000);
                opt_plan_done(&pl);
        }
}

typedef struct thread_arg {
        const opt_problem *pr;
        double objective;
        int bad;
} thread_arg;

static void *solver_thread(void *p)
{
        thread_arg *a = p;

        for (int i = 0; i < 30; i++) {
                opt_plan pl;
                if (opt_solve(a->pr, OPT_SOLVER_GLPK, NULL, &pl) < 0 || !pl.feasible ||
                    pl.objective != a->objective)
                        a->bad++;
                opt_plan_done(&pl);
        }
        return NULL;
}

static void test_threads(void **state)
{
        static big b;
        opt_plan ref;
        pthread_t t[3];
        thread_arg a[3];

        (void)state;
        big_instance(&b, 2, 100.0);
        b.pr.node_millicores = 2 * 10000;
        assert_int_equal(opt_solve(&b.pr, OPT_SOLVER_GLPK, NULL, &ref), 0);
        assert_true(ref.feasible);
        for (int i = 0; i < 3; i++) {
                a[i] = (thread_arg){&b.pr, ref.objective, 0};
                assert_int_equal(pthread_create(&t[i], NULL, solver_thread, &a[i]), 0);
        }
        for (int i = 0; i < 3; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(a[i].bad, 0);
        }
        opt_plan_done(&ref);
}

/* Many pipelines at once: n of the random instances' pipelines (each feasible on its own),
 * sharing a node of a drawn share of what they would take apart, so that the capacity binds.
 * GLPK's branch and bound on the stage-level IP (stage_ip, the direct model) is the oracle
 * where the exhaustive combination is too slow; a time limit bounds it. */
#define MANY_MAX 100
typedef struct many {
        optt_instance in[MANY_MAX];
        opt_pipeline pl[MANY_MAX];
        opt_problem pr;
} many;

static void many_instance(many *m, size_t n, uint64_t *seed, double share)
{
        uint64_t node = 0;
        size_t k = 0;

        memset(m, 0, sizeof(*m));
        while (k < n) {
                optt_instance *in = &m->in[k];
                opt_plan pl;
                optt_random_instance(seed, in);
                in->pr.n_pipelines = 1; /* its first pipeline, alone */
                assert_int_equal(opt_solve(&in->pr, OPT_SOLVER_GLPK, NULL, &pl), 0);
                if (pl.feasible) {
                        m->pl[k++] = in->pl[0];
                        node += in->pr.node_millicores;
                }
                opt_plan_done(&pl);
        }
        m->pr = (opt_problem){m->pl, n, (uint32_t)((double)node * share)};
}

static void test_many_pipelines(void **state)
{
        static many m;
        static const size_t sizes[] = {30, 50, 100};
        const opt_solve_options ip = {.stage_ip = true, .time_limit_ms = 60000};
        uint64_t seed = 0x2545f4914f6cdd1dull;
        size_t n_feas = 0, n_cap = 0;
        char err[256];

        (void)state;
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                for (int rep = 0; rep < 4; rep++) {
                        opt_plan g, s;
                        many_instance(&m, sizes[i], &seed, optt_uniform(&seed, 0.35, 1.0));
                        assert_int_equal(opt_solve(&m.pr, OPT_SOLVER_GLPK, NULL, &g), 0);
                        assert_int_equal(opt_solve(&m.pr, OPT_SOLVER_GLPK, &ip, &s), 0);
                        printf("%zu pipelines, node %u mc: decomposed %s %.9g in %llu us, stage IP "
                               "%s%s %.9g in %llu us\n",
                               sizes[i], m.pr.node_millicores,
                               g.feasible ? "feasible" : "infeasible", g.objective,
                               (unsigned long long)g.solve_us,
                               s.feasible ? "feasible" : "infeasible", s.optimal ? "" : " (limit)",
                               s.objective, (unsigned long long)s.solve_us);
                        assert_int_equal(g.feasible, s.feasible);
                        assert_true(g.optimal);
                        if (optt_plan_check(&m.pr, &g, err, sizeof(err)) < 0)
                                fail_msg("%zu pipelines: decomposed plan: %s", sizes[i], err);
                        if (g.feasible) {
                                n_feas++;
                                /* A time-limited stage IP gives a lower bound only. */
                                if (s.optimal ? rel_err(g.objective, s.objective) > 1e-9 &&
                                                    fabs(g.objective - s.objective) > 1e-9
                                              : g.objective < s.objective - 1e-9)
                                        fail_msg("%zu pipelines: objective decomposed %.12g, "
                                                 "stage IP %.12g",
                                                 sizes[i], g.objective, s.objective);
                        } else {
                                assert_int_equal(g.reason, OPT_INFEASIBLE_CAPACITY);
                                n_cap++;
                        }
                        opt_plan_done(&g);
                        opt_plan_done(&s);
                }
        printf("%zu feasible, %zu over the node's capacity\n", n_feas, n_cap);
        /* Mostly feasible: the comparison must have objectives to compare. */
        assert_true(n_feas >= 8);
}

/* ---- real data ---------------------------------------------------------------------------- */

static void test_infadapter_fit(void **state)
{
        static optt_resnet md[8];
        char path[4096], err[256];
        size_t n = 0;

        (void)state;
        assert_int_equal(optt_data_path("infadapter-resnet-capacity.csv", path, sizeof(path)), 0);
        assert_int_equal(optt_read_resnet(path, md, 8, &n), 0);
        assert_int_equal(n, 5);
        printf("InfAdapter ResNet profile, batch 1, 1-20 cores: fit l(1,c) = A/c + D\n");
        printf("%-10s %7s %9s %8s %9s %9s | %7s %8s %8s %9s %9s\n", "model", "p99 pts", "A", "D",
               "mean err", "max err", "tp pts", "A", "D", "mean err", "max err");
        for (size_t i = 0; i < n; i++) {
                opt_model m99, mtp;
                double e99, x99, etp, xtp;
                assert_int_equal(opt_fit(md[i].p99, md[i].n_p99, &m99, err, sizeof(err)), 0);
                assert_int_equal(opt_fit(md[i].sat, md[i].n_sat, &mtp, err, sizeof(err)), 0);
                assert_int_equal(opt_fit_error(&m99, md[i].p99, md[i].n_p99, &e99, &x99), 0);
                assert_int_equal(opt_fit_error(&mtp, md[i].sat, md[i].n_sat, &etp, &xtp), 0);
                printf("ResNet-%-3d %7zu %9.2f %8.2f %8.1f%% %8.1f%% | %7zu %8.1f %8.2f "
                       "%8.1f%% %8.1f%%\n",
                       md[i].arch, md[i].n_p99, m99.gamma, m99.delta, 100 * e99, 100 * x99,
                       md[i].n_sat, mtp.gamma, mtp.delta, 100 * etp, 100 * xtp);
                /* Time per request at saturation follows A/c + D closely. */
                assert_true(etp < 0.10);
                assert_int_equal(opt_model_check(&mtp, 1, 1000, 20000, NULL, 0), 0);
        }
}

static void test_twitter_forecast(void **state)
{
        char path[4096];
        double *v = NULL;
        size_t n = 0;
        opt_forecast_eval ev;

        (void)state;
        assert_int_equal(optt_data_path("twitter-2018-04-rps.txt.gz", path, sizeof(path)), 0);
        /* Two days from the second half (the defaults were chosen on the first half). */
        assert_int_equal(optt_read_trace(path, 1000000, 2 * 86400, &v, &n), 0);
        assert_int_equal(n, 2 * 86400);
        assert_int_equal(opt_forecast_evaluate(v, n, NULL, 0, &ev), 0);
        printf("twitter forecast (2 days from s 1000000, 120 s back, max of next 20 s): n %zu, "
               "MAPE %.2f%%, under-predicted by >10%%: %.2f%%\n",
               ev.n, ev.mape_pct, ev.under10_pct);
        assert_true(ev.mape_pct < 25.0);
        assert_true(ev.under10_pct < 5.0);
        free(v);
}

static int data_present(void)
{
        char path[4096];

        if (optt_data_path("infadapter-resnet-capacity.csv", path, sizeof(path)) < 0 ||
            optt_data_path("twitter-2018-04-rps.txt.gz", path, sizeof(path)) < 0) {
                printf("skipped: shared data not found (%s); set SPONGE_SHARED_DATA\n", path);
                return 0;
        }
        return 1;
}

/* ---- mixes and loading cost (InfAdapter) ---------------------------------------------------- */

/* Random instances with mixes on (full pipelines), random start-up costs, plans in force and
 * loading weights: the decomposition, the exhaustive solver and GLPK on the stage-level IP
 * agree, every plan passes the independent checker (its own mix rules and figures), and the
 * small ones equal plain enumeration (its own mix generation). */
static void test_mix_random(void **state)
{
        static optt_instance in;
        uint64_t seed = 0x2545f4914f6cdd1dull;
        size_t n_feas = 0, n_mixed = 0, n_brute = 0, n_loaded = 0;
        const opt_solve_options stage_ip = {.stage_ip = true};
        char err[256];

        (void)state;
        for (int i = 0; i < 3000; i++) {
                opt_plan g, e, s;
                double bobj = 0.0;
                int rb;

                optt_random_instance(&seed, &in);
                optt_mixify(&seed, &in);
                assert_int_equal(opt_problem_validate(&in.pr, err, sizeof(err)), 0);
                assert_int_equal(opt_solve(&in.pr, OPT_SOLVER_GLPK, NULL, &g), 0);
                assert_int_equal(opt_solve(&in.pr, OPT_SOLVER_EXHAUSTIVE, NULL, &e), 0);
                assert_int_equal(opt_solve(&in.pr, OPT_SOLVER_GLPK, &stage_ip, &s), 0);
                if (g.feasible != e.feasible || s.feasible != e.feasible)
                        fail_msg("instance %d: feasible glpk %d stage IP %d exhaustive %d", i,
                                 g.feasible, s.feasible, e.feasible);
                if (g.feasible && ((rel_err(g.objective, e.objective) > 1e-9 &&
                                    fabs(g.objective - e.objective) > 1e-9) ||
                                   (rel_err(s.objective, e.objective) > 1e-9 &&
                                    fabs(s.objective - e.objective) > 1e-9)))
                        fail_msg("instance %d: objective glpk %.12g stage IP %.12g exhaustive "
                                 "%.12g",
                                 i, g.objective, s.objective, e.objective);
                if (optt_plan_check(&in.pr, &g, err, sizeof(err)) < 0 ||
                    optt_plan_check(&in.pr, &e, err, sizeof(err)) < 0 ||
                    optt_plan_check(&in.pr, &s, err, sizeof(err)) < 0)
                        fail_msg("instance %d plan: %s", i, err);
                if (g.feasible) {
                        n_feas++;
                        for (size_t p = 0; p < g.n_pipelines; p++)
                                for (size_t st = 0; st < g.pipelines[p].n_stages; st++) {
                                        n_mixed += g.pipelines[p].stages[st].n_groups == 2;
                                        n_loaded += g.pipelines[p].stages[st].loading_core_s > 0;
                                }
                } else {
                        assert_int_equal(g.reason, e.reason);
                        assert_int_equal(g.extra_millicores, e.extra_millicores);
                }
                rb = optt_brute_force(&in.pr, 200000, &bobj);
                if (rb >= 0) {
                        n_brute++;
                        if (rb != (int)g.feasible)
                                fail_msg("instance %d: brute force feasible %d, glpk %d", i, rb,
                                         g.feasible);
                        if (rb == 1 && rel_err(g.objective, bobj) > 1e-9 &&
                            fabs(g.objective - bobj) > 1e-9)
                                fail_msg("instance %d: objective glpk %.12g brute %.12g", i,
                                         g.objective, bobj);
                }
                opt_plan_done(&g);
                opt_plan_done(&e);
                opt_plan_done(&s);
        }
        printf("3000 random instances with mixes: %zu feasible, %zu mixed stages chosen, %zu "
               "stages starting replicas; %zu also brute-forced\n",
               n_feas, n_mixed, n_loaded, n_brute);
        assert_true(n_feas > 1000 && n_mixed > 40 && n_loaded > 100 && n_brute > 1000);
}

/* One stage, one core per replica, batch 1: variant A (70 %) carries 9 req/s a replica, B
 * (90 %) 4 req/s; λ = 10. Alone A needs 2 replicas (α·70 − 2β), B 3 (α·90 − 3β); the mix of
 * one of each carries 13 req/s on 2 cores at (9·70 + 4·90)/13 = 76.15 %. */
typedef struct duo {
        opt_variant var[2];
        uint32_t cur[2];
        opt_stage st;
        opt_pipeline pl;
        opt_problem pr;
} duo;

static void duo_instance(duo *d, double beta)
{
        memset(d, 0, sizeof(*d));
        d->var[0] = (opt_variant){.name = "A", .accuracy = 70.0};
        d->var[1] = (opt_variant){.name = "B", .accuracy = 90.0};
        d->var[0].model.fit.eta = 1000.0 / 9.0;
        d->var[1].model.fit.eta = 250.0;
        d->st = (opt_stage){.variants = d->var,
                            .n_variants = 2,
                            .max_batch = 1,
                            .min_millicores = 1000,
                            .max_millicores = 1000,
                            .min_replicas = 1,
                            .max_replicas = 4};
        d->pl = (opt_pipeline){.stages = &d->st,
                               .n_stages = 1,
                               .lambda_rps = 10.0,
                               .slo_budget_ms = 5000.0,
                               .alpha = 1.0,
                               .beta = beta,
                               .policy = OPT_POLICY_FULL};
        d->pr = (opt_problem){&d->pl, 1, 8000};
}

static void solve_both(const opt_problem *pr, opt_plan *ret)
{
        opt_plan e;
        char err[256];

        assert_int_equal(opt_solve(pr, OPT_SOLVER_GLPK, NULL, ret), 0);
        assert_int_equal(opt_solve(pr, OPT_SOLVER_EXHAUSTIVE, NULL, &e), 0);
        assert_true(ret->feasible && e.feasible);
        assert_true(fabs(ret->objective - e.objective) < 1e-9);
        if (optt_plan_check(pr, ret, err, sizeof(err)) < 0)
                fail_msg("%s", err);
        opt_plan_done(&e);
}

static void test_mix_beats_single(void **state)
{
        duo d;
        opt_plan single, mixed;
        const opt_plan_stage *ps;

        (void)state;
        duo_instance(&d, 15.0);
        solve_both(&d.pr, &single);
        /* Without mixes: B × 3 (90 − 45 = 45) beats A × 2 (70 − 30 = 40). */
        assert_int_equal(single.pipelines[0].stages[0].n_groups, 1);
        assert_int_equal(single.pipelines[0].stages[0].variant, 1);
        assert_int_equal(single.pipelines[0].stages[0].replicas, 3);
        assert_true(fabs(single.objective - 45.0) < 1e-9);
        d.pl.mix = true;
        solve_both(&d.pr, &mixed);
        ps = &mixed.pipelines[0].stages[0];
        /* The mix: 76.15 − 30 = 46.15, strictly above every single variant. */
        assert_int_equal(ps->n_groups, 2);
        assert_int_equal(ps->groups[0].variant, 0); /* A: the larger share, 9/13 */
        assert_int_equal(ps->groups[0].replicas, 1);
        assert_int_equal(ps->groups[1].variant, 1);
        assert_int_equal(ps->groups[1].replicas, 1);
        assert_true(fabs(ps->groups[0].share - 9.0 / 13.0) < 1e-12);
        assert_true(fabs(mixed.objective - ((9.0 * 70 + 4.0 * 90) / 13.0 - 30.0)) < 1e-9);
        assert_true(mixed.objective > single.objective + 1.0);
        assert_true(fabs(mixed.cores - 2.0) < 1e-12);
        opt_plan_done(&single);
        opt_plan_done(&mixed);
}

/* The plan in force runs B × 3. Starting an A replica costs 10 s × 1 core + 5 core-s = 15
 * core-seconds: at weight 0.2 (penalty 3) the mix's gain of 1.15 does not pay for it and the
 * plan stays; at 0.05 (penalty 0.75) it does and the mix starts one A replica; with no plan
 * in force nothing is charged. */
static void test_loading_cost(void **state)
{
        duo d;
        opt_plan pl;
        const opt_plan_stage *ps;
        char err[256];

        (void)state;
        duo_instance(&d, 15.0);
        d.pl.mix = true;
        d.var[0].startup_s = 10.0;
        d.var[0].startup_cpu_s = 5.0;
        d.var[1].startup_s = 10.0;
        d.var[1].startup_cpu_s = 5.0;
        d.cur[1] = 3;
        d.st.current_replicas = d.cur;
        d.pl.load_weight = 0.2;
        solve_both(&d.pr, &pl);
        ps = &pl.pipelines[0].stages[0];
        assert_int_equal(ps->n_groups, 1);
        assert_int_equal(ps->variant, 1);
        assert_int_equal(ps->replicas, 3);
        assert_int_equal(ps->replicas_started, 0);
        assert_true(fabs(pl.objective - 45.0) < 1e-9);
        opt_plan_done(&pl);

        d.pl.load_weight = 0.05;
        solve_both(&d.pr, &pl);
        ps = &pl.pipelines[0].stages[0];
        assert_int_equal(ps->n_groups, 2);
        assert_int_equal(ps->replicas_started, 1);
        assert_true(fabs(ps->loading_core_s - 15.0) < 1e-12);
        assert_true(fabs(pl.objective - ((9.0 * 70 + 4.0 * 90) / 13.0 - 30.0 - 0.75)) < 1e-9);
        opt_plan_done(&pl);

        /* Without mixes, the loading cost keeps B × 3 against A × 2 even where A would win. */
        d.pl.mix = false;
        d.pl.beta = 25.0; /* A: 70 − 50 = 20, B: 90 − 75 = 15; starting A × 2 costs 30 */
        d.pl.load_weight = 0.2;
        solve_both(&d.pr, &pl);
        assert_int_equal(pl.pipelines[0].stages[0].variant, 1);
        opt_plan_done(&pl);
        d.pl.load_weight = 0.0;
        solve_both(&d.pr, &pl);
        assert_int_equal(pl.pipelines[0].stages[0].variant, 0);
        opt_plan_done(&pl);
        d.st.current_replicas = NULL;
        d.pl.load_weight = 0.2;
        solve_both(&d.pr, &pl);
        assert_int_equal(pl.pipelines[0].stages[0].variant, 0);
        assert_int_equal(pl.pipelines[0].stages[0].replicas_started, 0);
        opt_plan_done(&pl);

        /* Validation. */
        d.pl.load_weight = -1.0;
        assert_int_equal(opt_problem_validate(&d.pr, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "load_weight"));
        d.pl.load_weight = 0.0;
        d.var[0].startup_s = NAN;
        assert_int_equal(opt_problem_validate(&d.pr, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "startup_s"));
}

int main(int argc, char **argv)
{
        const struct CMUnitTest model[] = {
            cmocka_unit_test(test_latency_formula),
            cmocka_unit_test(test_fit_exact_and_noisy),
            cmocka_unit_test(test_fit_single_batch),
            cmocka_unit_test(test_fit_rejects),
            cmocka_unit_test(test_rls_step),
            cmocka_unit_test(test_rls_windup),
            cmocka_unit_test(test_table),
            cmocka_unit_test(test_queue_delay),
        };
        const struct CMUnitTest forecast[] = {
            cmocka_unit_test(test_forecast_synthetic),
            cmocka_unit_test(test_forecast_robust),
        };
        const struct CMUnitTest solve[] = {
            cmocka_unit_test(test_random_agree),
            cmocka_unit_test(test_infeasible_latency),
            cmocka_unit_test(test_infeasible_capacity),
            cmocka_unit_test(test_infeasible_throughput),
            cmocka_unit_test(test_policies),
            cmocka_unit_test(test_validate),
            cmocka_unit_test(test_pruning_exact),
            cmocka_unit_test(test_time_limit),
            cmocka_unit_test(test_threads),
        };
        const struct CMUnitTest mix[] = {
            cmocka_unit_test(test_mix_beats_single),
            cmocka_unit_test(test_loading_cost),
            cmocka_unit_test(test_mix_random),
        };
        const struct CMUnitTest many_tests[] = {
            cmocka_unit_test(test_many_pipelines),
        };
        const struct CMUnitTest data[] = {
            cmocka_unit_test(test_infadapter_fit),
            cmocka_unit_test(test_twitter_forecast),
        };
        const char *g = argc > 1 ? argv[1] : "all";
        int r = 0;

        if (strcmp(g, "data") == 0)
                return data_present()
                           ? cmocka_run_group_tests_name("optimizer.data", data, NULL, NULL)
                           : 77;
        if (strcmp(g, "mix") == 0)
                return cmocka_run_group_tests_name("optimizer.mix", mix, NULL, NULL);
        if (strcmp(g, "many") == 0)
                return cmocka_run_group_tests_name("optimizer.many", many_tests, NULL, NULL);
        if (strcmp(g, "model") == 0 || strcmp(g, "all") == 0)
                r |= cmocka_run_group_tests_name("optimizer.model", model, NULL, NULL);
        if (strcmp(g, "forecast") == 0 || strcmp(g, "all") == 0)
                r |= cmocka_run_group_tests_name("optimizer.forecast", forecast, NULL, NULL);
        if (strcmp(g, "solve") == 0 || strcmp(g, "all") == 0)
                r |= cmocka_run_group_tests_name("optimizer.solve", solve, NULL, NULL);
        return r ? 1 : 0;
}
