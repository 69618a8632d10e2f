/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of agent/plan (sponge_plan): the translation from pipeline files to the optimizer's
 * problem, each decision rule of the control loop with a fake clock (times are arguments), and
 * the solver thread (planner). No root, no processes: pipelines are parsed from literal JSON.
 *
 *   test-plan [name]     runs one test (the CTest names are plan.<name>), or all
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan/plan.h"
#include "agent/plan/planner.h"

/* One stage "s" with the given variants (JSON array text), policy and optional plan. */
static pl_pipeline *parse(const char *variants, const char *policy, const char *plan,
                          const char *extra)
{
        char buf[8192], err[512] = "";
        pl_pipeline *p = NULL;
        int n = snprintf(buf, sizeof(buf),
                         "{\"name\": \"p\", \"slo_ms\": 500, \"policy\": \"%s\", %s%s%s"
                         "\"stages\": [{\"name\": \"s\", \"max_batch\": 8, "
                         "\"millicores\": {\"min\": 250, \"max\": 2000, \"step\": 250}, "
                         "\"replicas\": {\"min\": 1, \"max\": 2}, \"variants\": %s}]}",
                         policy, plan ? "\"plan\": " : "", plan ? plan : "", plan ? ", " : "",
                         variants);

        assert_true(n > 0 && (size_t)n < sizeof(buf));
        (void)extra;
        if (pl_parse(buf, (size_t)n, &p, err, sizeof(err)) < 0)
                fail_msg("pipeline does not parse: %s", err);
        return p;
}

static const char *variant_json(char *buf, size_t len, const char *name, double acc, double gamma)
{
        snprintf(buf, len,
                 "{\"name\": \"%s\", \"accuracy\": %g, \"command\": [\"x\"], "
                 "\"profile\": {\"model\": {\"gamma\": %g, \"delta\": 0.1, \"epsilon\": 1, "
                 "\"eta\": 0.5, \"margin\": 0.1}}}",
                 name, acc, gamma);
        return buf;
}

/* Two variants a (acc_a) and b (acc_b), b's model gamma_b. */
static pl_pipeline *two_variants(double acc_a, double acc_b, double gamma_b, const char *policy)
{
        char a[512], b[512], vs[1100];

        variant_json(a, sizeof(a), "a", acc_a, 20);
        variant_json(b, sizeof(b), "b", acc_b, gamma_b);
        snprintf(vs, sizeof(vs), "[%s, %s]", a, b);
        return parse(vs, policy, NULL, NULL);
}

/* ---- translation ---- */

static void test_policy(void **state)
{
        (void)state;
        assert_int_equal(plan_policy(PL_POLICY_FULL, false), OPT_POLICY_FULL);
        assert_int_equal(plan_policy(PL_POLICY_VERTICAL, false), OPT_POLICY_VERTICAL);
        assert_int_equal(plan_policy(PL_POLICY_HORIZONTAL, false), OPT_POLICY_HORIZONTAL);
        assert_int_equal(plan_policy(PL_POLICY_STATIC, false), OPT_POLICY_STATIC);
        assert_int_equal(plan_policy(PL_POLICY_FULL, true), OPT_POLICY_STATIC);
        assert_int_equal(plan_policy(PL_POLICY_VERTICAL, true), OPT_POLICY_STATIC);
}

/* A model profile is taken as written, a points profile is fitted as opt_fit does; the stage's
 * ranges, the objective and the file's plan (the fixed dimensions) reach the problem; names
 * are copied (the problem outlives the file). */
static void test_translate(void **state)
{
        const char *vs =
            "[{\"name\": \"m\", \"accuracy\": 70, \"command\": [\"x\"], \"profile\": {\"model\": "
            "{\"gamma\": 16, \"delta\": 0.3, \"epsilon\": 2, \"eta\": 1, \"margin\": 0.25}}},"
            " {\"name\": \"pts\", \"accuracy\": 75, \"command\": [\"x\"], \"profile\": "
            "{\"points\": [[1, 500, 40], [1, 1000, 22], [4, 500, 130], [4, 1000, 70],"
            " [8, 2000, 75]]}}]";
        const char *plan =
            "[{\"variant\": \"pts\", \"batch\": 4, \"millicores\": 750, \"replicas\": 2}]";
        pl_pipeline *p = parse(vs, "vertical", plan, NULL);
        opt_point pts[] = {
            {1, 500, 40}, {1, 1000, 22}, {4, 500, 130}, {4, 1000, 70}, {8, 2000, 75}};
        plan_input in = {.cfg = p, .lambda_rps = 12, .present_rps = 7, .budget_ms = 300, .id = 42};
        plan_problem x;
        opt_model want;
        char err[256];
        opt_plan plan_out;

        (void)state;
        assert_int_equal(plan_problem_build(&in, 1, 4000, &x, err, sizeof(err)), 0);
        p->objective.cores = 1234; /* the problem holds copies, not the file */
        assert_int_equal(x.pr.n_pipelines, 1);
        assert_int_equal(x.pr.node_millicores, 4000);
        assert_int_equal(x.ids[0], 42);
        assert_true(x.present_rps[0] == 7);
        const opt_pipeline *op = &x.pls[0];
        assert_string_equal(op->name, "p");
        assert_true(op->lambda_rps == 12 && op->slo_budget_ms == 300);
        assert_true(op->alpha == PL_DEFAULT_OBJ_ACCURACY && op->beta == PL_DEFAULT_OBJ_CORES &&
                    op->delta == PL_DEFAULT_OBJ_BATCH);
        assert_int_equal(op->policy, OPT_POLICY_VERTICAL);
        const opt_stage *os = &op->stages[0];
        assert_string_equal(os->name, "s");
        assert_int_equal(os->n_variants, 2);
        assert_int_equal(os->max_batch, 8);
        assert_int_equal(os->min_millicores, 250);
        assert_int_equal(os->max_millicores, 2000);
        assert_int_equal(os->step_millicores, 250);
        assert_int_equal(os->min_replicas, 1);
        assert_int_equal(os->max_replicas, 2);
        /* the file's plan: what vertical keeps */
        assert_int_equal(os->fixed_variant, 1);
        assert_int_equal(os->fixed_batch, 4);
        assert_int_equal(os->fixed_millicores, 750);
        assert_int_equal(os->fixed_replicas, 2);
        assert_int_equal(x.current[0].variant, 1);
        assert_string_equal(os->variants[0].name, "m");
        assert_true(os->variants[0].accuracy == 70);
        assert_true(os->variants[0].model.fit.gamma == 16 && os->variants[0].model.fit.eta == 1 &&
                    os->variants[0].model.fit.margin == 0.25);
        assert_int_equal(opt_fit(pts, 5, &want, err, sizeof(err)), 0);
        assert_memory_equal(&os->variants[1].model.fit, &want, sizeof(want));
        /* floor: the best variant at batch 1 on 2000 millicores */
        double f0 = opt_latency_ms(&os->variants[0].model.fit, 1, 2000);
        double f1 = opt_latency_ms(&want, 1, 2000);
        assert_true(fabs(plan_problem_floor_ms(&x, 0) - fmin(f0, f1)) < 1e-9);
        pl_pipeline_free(p); /* the problem is self-contained: solvable after the file is gone */
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &plan_out), 0);
        assert_true(plan_out.feasible);
        assert_int_equal(plan_out.pipelines[0].stages[0].variant, 1); /* vertical keeps it */
        assert_int_equal(plan_out.pipelines[0].stages[0].replicas, 1);
        pl_plan_entry e;
        plan_entries(&plan_out, 0, &e);
        assert_int_equal(e.variant, 1);
        assert_int_equal(e.batch, plan_out.pipelines[0].stages[0].batch);
        assert_int_equal(e.millicores, plan_out.pipelines[0].stages[0].millicores);
        opt_plan_done(&plan_out);
        plan_problem_done(&x);
}

/* Pinned: static with the plan in force; no file plan: pl_initial_plan's; models given by the
 * caller (the agent's refitted ones) win over the profile. */
static void test_translate_pinned(void **state)
{
        pl_pipeline *p = two_variants(70, 80, 20, "full");
        pl_plan_entry cur = {1, 2, 500, 2};
        opt_latency mods[2] = {{.kind = OPT_LATENCY_MODEL, .fit = {1, 2, 3, 4, 0}},
                               {.kind = OPT_LATENCY_MODEL, .fit = {5, 6, 7, 8, 0}}};
        const opt_latency *per_stage[1] = {mods};
        plan_input in[2] = {{.cfg = p, .current = &cur, .pinned = true, .models = per_stage},
                            {.cfg = p}};
        plan_problem x;
        char err[256];

        (void)state;
        assert_int_equal(plan_problem_build(in, 2, 2000, &x, err, sizeof(err)), 0);
        assert_int_equal(x.pls[0].policy, OPT_POLICY_STATIC);
        assert_int_equal(x.stages[0].fixed_variant, 1);
        assert_int_equal(x.stages[0].fixed_batch, 2);
        assert_int_equal(x.stages[0].fixed_millicores, 500);
        assert_int_equal(x.stages[0].fixed_replicas, 2);
        assert_true(x.stages[0].variants[1].model.fit.gamma == 5);
        assert_int_equal(x.pls[1].policy, OPT_POLICY_FULL);
        assert_int_equal(plan_stage_base(&x, 1), 1);
        /* initial plan: first variant, batch 1, the most millicores, the fewest replicas */
        assert_int_equal(x.stages[1].fixed_variant, 0);
        assert_int_equal(x.stages[1].fixed_batch, 1);
        assert_int_equal(x.stages[1].fixed_millicores, 2000);
        assert_int_equal(x.stages[1].fixed_replicas, 1);
        assert_true(x.stages[1].variants[1].model.fit.gamma == 20);
        plan_problem_done(&x);
        assert_int_equal(plan_problem_build(in, 0, 2000, &x, err, sizeof(err)), -ENOENT);
        pl_pipeline_free(p);
}

/* A points profile that no model fits (the parser refuses such files; the struct is altered
 * after parsing) is refused with the fit's message. */
static void test_translate_bad_points(void **state)
{
        const char *vs = "[{\"name\": \"pts\", \"accuracy\": 75, \"command\": [\"x\"], "
                         "\"profile\": {\"points\": [[1, 500, 40], [2, 1000, 40], [4, 500, "
                         "130], [8, 1000, 130]]}}]";
        pl_pipeline *p = parse(vs, "full", NULL, NULL);
        plan_input in = {.cfg = p};
        plan_problem x;
        char err[256] = "";

        (void)state;
        for (size_t i = 0; i < 4; i++)
                p->stages[0].variants[0].profile.points[i].millicores = 500;
        assert_true(plan_problem_build(&in, 1, 2000, &x, err, sizeof(err)) < 0);
        assert_true(err[0] != '\0');
        assert_null(x.pls);
        pl_pipeline_free(p);
}

/* plan_fit, the one fitting rule: exact points of a model with a negative δ (γ 1, δ −0.01,
 * ε 0.5, η 1; positive over the grid) pass least squares, which recovers δ < 0; the rule then
 * takes the non-negative fit. Points of a model with no negative term keep least squares. */
static void test_fit_rule(void **state)
{
        static const uint32_t bs[] = {1, 2, 4, 8}, mcs[] = {500, 1000, 2000};
        opt_point neg[12], pos[12];
        opt_model m, ls;
        bool nonneg = false;
        char err[256] = "";

        (void)state;
        for (size_t i = 0; i < 12; i++) {
                double b = bs[i / 3], c = mcs[i % 3] / 1000.0;
                neg[i] = (opt_point){bs[i / 3], mcs[i % 3], b / c - 0.01 * b + 0.5 / c + 1};
                pos[i] = (opt_point){bs[i / 3], mcs[i % 3], b / c + 0.2 * b + 0.5 / c + 1};
        }
        assert_int_equal(opt_fit(neg, 12, &ls, err, sizeof(err)), 0);
        assert_true(ls.delta < 0);
        assert_int_equal(plan_fit(neg, 12, &m, &nonneg, err, sizeof(err)), 0);
        assert_true(nonneg);
        assert_true(m.gamma >= 0 && m.delta >= 0 && m.epsilon >= 0 && m.eta >= 0);
        assert_int_equal(plan_fit(pos, 12, &m, &nonneg, err, sizeof(err)), 0);
        assert_false(nonneg);
        assert_float_equal(m.delta, 0.2, 1e-6);
        assert_int_equal(plan_fit(pos, 0, &m, &nonneg, err, sizeof(err)), -EINVAL);
}

/* ---- decisions ---- */

static plan_problem build_one(pl_pipeline *p, size_t current_variant, double lambda, double present,
                              uint32_t node)
{
        pl_plan_entry cur = {current_variant, 1, 1000, 1};
        plan_input in = {.cfg = p,
                         .current = &cur,
                         .lambda_rps = lambda,
                         .present_rps = present,
                         .budget_ms = 500};
        plan_problem x;
        char err[256];

        assert_int_equal(plan_problem_build(&in, 1, node, &x, err, sizeof(err)), 0);
        return x;
}

/* Hysteresis: a switch that gains less than 3% + 1 point keeps the variant in force; a larger
 * gain switches. */
static void test_hysteresis(void **state)
{
        pl_pipeline *small = two_variants(70, 70.5, 20, "full");
        pl_pipeline *large = two_variants(70, 90, 20, "full");
        plan_problem x;
        plan_decision d;

        (void)state;
        x = build_one(small, 0, 5, 5, 4000);
        assert_int_equal(plan_decide(&x, 0, &d), 0);
        assert_true(d.plan.feasible && !d.degraded && !d.no_headroom && d.share == 1.0);
        assert_int_equal(d.plan.pipelines[0].stages[0].variant, 0);
        plan_decision_done(&d);
        /* without hysteresis the solver alone picks b: the rule above made the difference */
        opt_plan raw;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &raw), 0);
        assert_int_equal(raw.pipelines[0].stages[0].variant, 1);
        opt_plan_done(&raw);
        /* the problem is left as built */
        assert_int_equal(x.stages[0].n_variants, 2);
        assert_int_equal(x.pls[0].lambda_rps, 5);
        plan_problem_done(&x);
        /* current b: kept as well */
        x = build_one(small, 1, 5, 5, 4000);
        assert_int_equal(plan_decide(&x, 0, &d), 0);
        assert_int_equal(d.plan.pipelines[0].stages[0].variant, 1);
        plan_decision_done(&d);
        plan_problem_done(&x);

        x = build_one(large, 0, 5, 5, 4000);
        assert_int_equal(plan_decide(&x, 0, &d), 0);
        assert_int_equal(d.plan.pipelines[0].stages[0].variant, 1);
        plan_decision_done(&d);
        plan_problem_done(&x);
        pl_pipeline_free(small);
        pl_pipeline_free(large);
}

/* The forecast does not fit the node but the present load does: the plan is for the present
 * load, and says so. */
static void test_present(void **state)
{
        pl_pipeline *p = two_variants(70, 71, 20, "full");
        plan_problem x = build_one(p, 0, 400, 20, 2000);
        plan_decision d;
        char reason[200];

        (void)state;
        assert_int_equal(plan_decide(&x, 0, &d), 0);
        assert_true(d.plan.feasible && d.no_headroom && !d.degraded && d.share == 1.0);
        /* what it carries: the present rate, within the node */
        assert_true(d.plan.cores <= 2.0 + 1e-9);
        assert_true(d.plan.pipelines[0].stages[0].throughput_rps >= 20);
        assert_true(x.pls[0].lambda_rps == 400); /* restored */
        plan_reason(&x, &d, 0, reason, sizeof(reason));
        assert_string_equal(reason, "feasible for the present load (no room for the forecast's)");
        plan_decision_done(&d);
        plan_problem_done(&x);
        pl_pipeline_free(p);
}

/* Neither fits: the degraded plan runs the fastest variant (b, whatever its accuracy) for the
 * largest share of the load that fits, and the status names the binding stage. */
static void test_degrade(void **state)
{
        pl_pipeline *p = two_variants(90, 60, 10, "full");
        plan_problem x = build_one(p, 0, 400, 400, 2000);
        plan_decision d;
        char reason[200];

        (void)state;
        assert_int_equal(plan_decide(&x, 0, &d), 0);
        assert_true(d.degraded && d.plan.feasible && !d.report.feasible);
        assert_true(d.share >= PLAN_DEGRADE_MIN_SHARE && d.share < 1.0);
        assert_int_equal(d.plan.pipelines[0].stages[0].variant, 1);
        assert_true(d.plan.cores <= 2.0 + 1e-9);
        /* the share found is the largest in bisection steps: 1/2^7 more does not fit */
        double step = (1.0 - PLAN_DEGRADE_MIN_SHARE) / (1 << PLAN_DEGRADE_STEPS);
        opt_plan more;
        x.pls[0].lambda_rps = 400 * (d.share + 2 * step);
        x.stages[0].variants = &x.stages[0].variants[1];
        x.stages[0].n_variants = 1;
        x.pls[0].alpha = 0;
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &more), 0);
        assert_false(more.feasible);
        opt_plan_done(&more);
        x.stages[0].variants = &x.stages[0].variants[-1];
        x.stages[0].n_variants = 2;
        plan_reason(&x, &d, 0, reason, sizeof(reason));
        assert_non_null(strstr(reason, "at stage s: degraded plan"));
        assert_non_null(strstr(reason, "infeasible ("));
        plan_decision_done(&d);
        plan_problem_done(&x);
        pl_pipeline_free(p);
}

/* Not even 5% of the load within 4x the budget: -ERANGE, the infeasible plan reported. */
static void test_degrade_none(void **state)
{
        pl_pipeline *p = two_variants(90, 60, 10, "full");
        plan_problem x = build_one(p, 0, 400, 400, 2000);
        plan_decision d;

        (void)state;
        x.pls[0].slo_budget_ms = 0.5; /* below any stage's latency, even at 4x */
        assert_int_equal(plan_decide(&x, 0, &d), -ERANGE);
        assert_true(d.degraded && !d.report.feasible);
        assert_null(d.plan.pipelines);
        plan_decision_done(&d);
        plan_problem_done(&x);
        pl_pipeline_free(p);
}

/* The downscale hold on a fake clock. */
static void test_hold(void **state)
{
        plan_hold h = {0};
        pl_plan_entry big = {0, 4, 2000, 1}, small = {0, 4, 1000, 1}, other = {1, 4, 2000, 1};
        const uint64_t D = 3000000; /* 3 s */

        (void)state;
        /* the first decision replaces the file's plan at once, even a lower one */
        assert_true(plan_hold_step(&h, &big, &small, 1, 1000, D, false));
        assert_true(h.acted && !h.pending);
        /* up at once */
        assert_true(plan_hold_step(&h, &small, &big, 1, 2000, D, false));
        /* down: held from the first time it is seen until the delay has passed */
        assert_false(plan_hold_step(&h, &big, &small, 1, 10000000, D, false));
        assert_true(h.pending && h.pending_since_us == 10000000);
        assert_false(plan_hold_step(&h, &big, &small, 1, 12999999, D, false));
        assert_int_equal(h.pending_since_us, 10000000);
        assert_true(plan_hold_step(&h, &big, &small, 1, 13000000, D, false));
        assert_false(h.pending);
        /* a decision equal to the plan in force ends the wait: the clock starts again */
        assert_false(plan_hold_step(&h, &big, &small, 1, 20000000, D, false));
        assert_false(plan_hold_step(&h, &big, &big, 1, 21000000, D, false));
        assert_false(h.pending);
        assert_false(plan_hold_step(&h, &big, &small, 1, 23500000, D, false));
        assert_int_equal(h.pending_since_us, 23500000);
        /* forced (the hold would overcommit the node): at once */
        assert_true(plan_hold_step(&h, &big, &small, 1, 23600000, D, true));
        /* same millicores, another variant: not a downscale, at once */
        assert_true(plan_hold_step(&h, &big, &other, 1, 30000000, D, false));
        /* equal is field by field: whatever the struct's padding holds */
        pl_plan_entry junk;
        memset(&junk, 0xa5, sizeof(junk));
        junk.variant = big.variant;
        junk.batch = big.batch;
        junk.millicores = big.millicores;
        junk.replicas = big.replicas;
        assert_true(plan_entry_equal(&big, &junk));
        assert_false(plan_hold_step(&h, &big, &junk, 1, 31000000, D, false));
        junk.replicas = 2;
        assert_false(plan_entry_equal(&big, &junk));
}

static void test_overcommit(void **state)
{
        pl_pipeline *p = two_variants(70, 71, 20, "full");
        plan_problem x;
        plan_input in[2] = {{.cfg = p}, {.cfg = p}};
        char err[256];
        opt_plan plan = {0};
        opt_plan_stage st[2] = {{.millicores = 500, .replicas = 1},
                                {.millicores = 1500, .replicas = 1}};
        opt_plan_pipeline pp[2] = {{&st[0], 1, 0, 0, 0}, {&st[1], 1, 0, 0, 0}};
        pl_plan_entry c0 = {0, 1, 1500, 1}, c1 = {0, 1, 500, 1};
        const pl_plan_entry *cur[2] = {&c0, &c1};

        (void)state;
        assert_int_equal(plan_problem_build(in, 2, 2000, &x, err, sizeof(err)), 0);
        plan.pipelines = pp;
        plan.n_pipelines = 2;
        /* holding 0's 1500 while 1 grows to 1500: 3000 > 2000 */
        assert_true(plan_would_overcommit(&x, &plan, cur, 2000));
        assert_false(plan_would_overcommit(&x, &plan, cur, 3000));
        /* a pipeline gone does not count */
        cur[0] = NULL;
        assert_false(plan_would_overcommit(&x, &plan, cur, 2000));
        /* a static pipeline counts at its plan in force */
        cur[0] = &c0;
        x.pls[1].policy = OPT_POLICY_STATIC;
        assert_false(plan_would_overcommit(&x, &plan, cur, 2000)); /* 1500 + 500 */
        plan_problem_done(&x);
        pl_pipeline_free(p);
}

static void test_budget(void **state)
{
        double v[100], one = 250;

        (void)state;
        assert_true(plan_budget_ms(NULL, 0, 0.05, 500) == 500);
        for (int i = 0; i < 100; i++)
                v[i] = 1000 - i * 5; /* 1000 .. 505, unsorted */
        /* the 5% quantile: the 6th smallest (index 5) = 530 */
        assert_true(plan_budget_ms(v, 100, PLAN_BUDGET_QUANTILE, 800) == 530);
        for (int i = 0; i < 100; i++)
                v[i] = 1000 + i;
        assert_true(plan_budget_ms(v, 100, PLAN_BUDGET_QUANTILE, 800) == 800); /* SLO caps */
        assert_true(plan_budget_ms(&one, 1, PLAN_BUDGET_QUANTILE, 800) == 250);
}

/* The refit scales the profile by the slowdown it sees at the operating point, within
 * [1, PLAN_REFIT_SCALE_MAX], and only after PLAN_RLS_MIN_UPDATES batches. */
static void test_refit(void **state)
{
        opt_model m = {16, 0.3, 2, 1, 0.2};
        opt_latency prof = {.kind = OPT_LATENCY_MODEL, .fit = m}, out = prof;
        opt_model bare = m;
        opt_rls rls;
        double s;

        (void)state;
        bare.margin = 0;
        for (int slow = 0; slow < 4; slow++) {
                double factor = (double[]){2.0, 0.5, 10.0, 1.0}[slow];
                assert_int_equal(opt_rls_init(&rls, &m, 0.98, 0), 0);
                for (int i = 0; i < PLAN_RLS_MIN_UPDATES - 1; i++)
                        opt_rls_update(&rls, 4, 1000, factor * opt_latency_ms(&bare, 4, 1000));
                out = prof;
                assert_true(plan_refit(&prof, &rls, 4, 1000, &out) == 0);
                assert_true(out.fit.gamma == m.gamma);
                for (int i = 0; i < 200; i++)
                        opt_rls_update(&rls, 4, 1000, factor * opt_latency_ms(&bare, 4, 1000));
                s = plan_refit(&prof, &rls, 4, 1000, &out);
                double want = fmin(PLAN_REFIT_SCALE_MAX, fmax(1.0, factor));
                assert_true(fabs(s - want) < 0.05 * want);
                assert_true(fabs(out.fit.gamma - m.gamma * s) < 1e-9);
                assert_true(out.fit.margin == m.margin);
                assert_true(fabs(opt_latency_eval_ms(&out, 4, 1000) -
                                 s * opt_latency_eval_ms(&prof, 4, 1000)) < 1e-6);
        }
}

static void test_jump(void **state)
{
        (void)state;
        /* 1.5x the plan + 5 rps */
        assert_false(plan_rate_jumped(10, 0.5, 10)); /* 20 rps vs 20 */
        assert_true(plan_rate_jumped(10.5, 0.5, 10));
        assert_false(plan_rate_jumped(2, 0.5, 0)); /* 4 rps vs 5 */
        assert_true(plan_rate_jumped(3, 0.5, 0));
        assert_false(plan_rate_jumped(100, 0, 0));
}

/* ---- the solver thread ---- */

/* The largest pipeline a file may describe (control-solve-fail's): 16 stages x 32 variants. */
static pl_pipeline *big_pipeline(void)
{
        size_t cap = 1 << 20, n = 0;
        char *buf = malloc(cap), err[512] = "";
        pl_pipeline *p = NULL;

        assert_non_null(buf);
        n += (size_t)snprintf(buf + n, cap - n,
                              "{\"name\": \"big\", \"slo_ms\": 1000, \"policy\": \"full\", "
                              "\"stages\": [");
        for (int i = 0; i < 16; i++) {
                n += (size_t)snprintf(buf + n, cap - n,
                                      "%s{\"name\": \"s%d\", \"max_batch\": 1024, \"millicores\": "
                                      "{\"min\": 50, \"max\": 2000, \"step\": 10}, \"replicas\": "
                                      "{\"min\": 1, \"max\": 8}, \"variants\": [",
                                      i ? ", " : "", i);
                for (int k = 0; k < 32; k++)
                        n += (size_t)snprintf(
                            buf + n, cap - n,
                            "%s{\"name\": \"v%d\", \"accuracy\": %g, \"command\": [\"x\"], "
                            "\"profile\": {\"model\": {\"gamma\": %g, \"delta\": %g, "
                            "\"epsilon\": %g, \"eta\": %g, \"margin\": 0.05}}}",
                            k ? ", " : "", k, 50.0 + k, 1.0 + 0.5 * k, 0.01 * (k + 1),
                            0.2 + 0.1 * k, 0.1 + 0.05 * k);
                n += (size_t)snprintf(buf + n, cap - n, "]}");
        }
        n += (size_t)snprintf(buf + n, cap - n, "]}");
        assert_true(n < cap);
        if (pl_parse(buf, n, &p, err, sizeof(err)) < 0)
                fail_msg("big pipeline: %s", err);
        free(buf);
        return p;
}

static plan_problem problem_at(pl_pipeline *p, double lambda, uint32_t node)
{
        plan_input in = {.cfg = p, .lambda_rps = lambda, .present_rps = lambda, .budget_ms = 1000};
        plan_problem x;
        char err[256];

        assert_int_equal(plan_problem_build(&in, 1, node, &x, err, sizeof(err)), 0);
        return x;
}

static int wait_result(planner *pl, planner_result *res, int timeout_ms)
{
        struct pollfd pfd = {.fd = planner_fd(pl), .events = POLLIN};

        if (poll(&pfd, 1, timeout_ms) <= 0)
                return 0;
        return planner_take(pl, res);
}

/* A decision from the thread equals the one made inline; the problem crossed over intact after
 * the pipeline file was freed. */
static void test_planner(void **state)
{
        pl_pipeline *p = two_variants(70, 90, 20, "full");
        plan_problem x = problem_at(p, 10, 2000), y = problem_at(p, 10, 2000);
        plan_decision inline_d;
        planner_result res;
        planner *pl;

        (void)state;
        pl_pipeline_free(p);
        assert_int_equal(planner_new(0, &pl), 0);
        assert_int_equal(planner_take(pl, &res), 0);
        assert_int_equal(planner_post(pl, &x), 1);
        assert_null(x.pls); /* handed over */
        assert_int_equal(wait_result(pl, &res, 10000), 1);
        assert_int_equal(res.seq, 1);
        assert_int_equal(res.r, 0);
        assert_int_equal(plan_decide(&y, 0, &inline_d), 0);
        assert_true(res.d.plan.objective == inline_d.plan.objective);
        assert_memory_equal(res.d.plan.pipelines[0].stages, inline_d.plan.pipelines[0].stages,
                            sizeof(opt_plan_stage));
        assert_string_equal(res.x.pls[0].name, "p");
        planner_result_done(&res);
        plan_decision_done(&inline_d);
        plan_problem_done(&y);
        assert_false(planner_busy(pl));
        assert_int_equal(planner_take(pl, &res), 0);
        planner_free(pl);
}

/* While a long solve runs, problems posted meanwhile replace each other: only the newest is
 * solved next. */
static void test_planner_supersede(void **state)
{
        pl_pipeline *big = big_pipeline(), *p = two_variants(70, 90, 20, "full");
        plan_problem a = problem_at(big, 30, 32000), b = problem_at(p, 5, 2000),
                     c = problem_at(p, 6, 2000);
        planner_result res;
        uint64_t seen[3] = {0};
        size_t n_seen = 0;
        planner *pl;

        (void)state;
        assert_int_equal(planner_new(0, &pl), 0);
        assert_int_equal(planner_post(pl, &a), 1);
        assert_int_equal(planner_post(pl, &b), 2);
        assert_int_equal(planner_post(pl, &c), 3);
        assert_true(planner_busy(pl));
        while (n_seen < 3 && wait_result(pl, &res, 60000) == 1) {
                seen[n_seen++] = res.seq;
                assert_int_equal(res.r, 0);
                if (res.seq == 3)
                        assert_true(res.x.pls[0].lambda_rps == 6);
                planner_result_done(&res);
                if (seen[n_seen - 1] == 3)
                        break;
        }
        assert_true(n_seen >= 1 && n_seen <= 2);
        assert_int_equal(seen[n_seen - 1], 3);
        for (size_t i = 0; i < n_seen; i++)
                assert_int_not_equal(seen[i], 2); /* superseded by 3 before it started */
        planner_free(pl);
        pl_pipeline_free(big);
        pl_pipeline_free(p);
}

/* Freed while solving: joins after the solve, frees what waits. */
static void test_planner_free_busy(void **state)
{
        pl_pipeline *big = big_pipeline();
        plan_problem a = problem_at(big, 30, 32000), b = problem_at(big, 20, 32000);
        planner *pl;

        (void)state;
        assert_int_equal(planner_new(0, &pl), 0);
        planner_post(pl, &a);
        planner_post(pl, &b);
        planner_free(pl); /* ASan: nothing leaks */
        pl_pipeline_free(big);
}

/* ---- InfAdapter's mix and loading cost (issue 22) ---- */

/* One stage, batch 1, one core a replica, 1-4 replicas: a (70 %) carries 9 req/s a replica, b
 * (90 %) 4 req/s; cores weigh 15. At 10 req/s a × 2 gives 40, b × 3 gives 45, one of each
 * (76.15 % on 2 cores) 46.15 (optimizer test_mix_beats_single, through a pipeline file). */
static pl_pipeline *duo_file(const char *mix)
{
        char buf[2048], err[512] = "";
        pl_pipeline *p = NULL;
        int n = snprintf(
            buf, sizeof(buf),
            "{\"name\": \"duo\", \"slo_ms\": 5000, %s"
            "\"objective\": {\"accuracy\": 1, \"cores\": 15, \"batch\": 0}, "
            "\"stages\": [{\"name\": \"s\", \"max_batch\": 1, "
            "\"millicores\": {\"min\": 1000, \"max\": 1000, \"step\": 250}, "
            "\"replicas\": {\"min\": 1, \"max\": 4}, \"variants\": ["
            "{\"name\": \"a\", \"accuracy\": 70, \"command\": [\"x\"], \"startup_ms\": 10000, "
            "\"profile\": {\"model\": {\"gamma\": 0, \"delta\": 0, \"epsilon\": 0, "
            "\"eta\": %.17g}}},"
            "{\"name\": \"b\", \"accuracy\": 90, \"command\": [\"x\"], \"startup_ms\": 10000, "
            "\"profile\": {\"model\": {\"gamma\": 0, \"delta\": 0, \"epsilon\": 0, "
            "\"eta\": 250}}}]}]}",
            mix, 1000.0 / 9.0);

        assert_true(n > 0 && (size_t)n < sizeof(buf));
        if (pl_parse(buf, (size_t)n, &p, err, sizeof(err)) < 0)
                fail_msg("pipeline does not parse: %s", err);
        return p;
}

static void solve_mix(const plan_input *in, plan_stage_mix *ret, pl_plan_entry *ret_entry)
{
        plan_problem x;
        opt_plan plan;
        char err[256];

        assert_int_equal(plan_problem_build(in, 1, 8000, &x, err, sizeof(err)), 0);
        assert_int_equal(opt_solve(&x.pr, OPT_SOLVER_GLPK, NULL, &plan), 0);
        assert_true(plan.feasible);
        plan_mix_entries(&plan, 0, ret);
        plan_entries(&plan, 0, ret_entry);
        opt_plan_done(&plan);
        plan_problem_done(&x);
}

/* A mixed plan becomes two entries (one per variant, each its own replicas, the larger share
 * first); without plan_input.mix, or with the file's "mix": false, one entry. */
static void test_mix_entries(void **state)
{
        pl_pipeline *p = duo_file(""), *off = duo_file("\"mix\": false, ");
        plan_input in = {.cfg = p, .lambda_rps = 10, .present_rps = 10, .budget_ms = 5000};
        plan_stage_mix m;
        pl_plan_entry e;

        (void)state;
        assert_true(p->mix);
        assert_false(off->mix);
        solve_mix(&in, &m, &e);
        assert_int_equal(m.n, 1);
        assert_int_equal(m.e[0].variant, 1);
        assert_int_equal(m.e[0].replicas, 3);
        assert_true(m.share[0] == 1.0);
        assert_true(plan_entry_equal(&m.e[0], &e));

        in.mix = true;
        solve_mix(&in, &m, &e);
        assert_int_equal(m.n, 2);
        assert_int_equal(m.e[0].variant, 0);
        assert_int_equal(m.e[0].replicas, 1);
        assert_int_equal(m.e[0].batch, 1);
        assert_int_equal(m.e[0].millicores, 1000);
        assert_int_equal(m.e[1].variant, 1);
        assert_int_equal(m.e[1].replicas, 1);
        assert_true(fabs(m.share[0] - 9.0 / 13.0) < 1e-12);
        assert_true(fabs(m.share[0] + m.share[1] - 1.0) < 1e-12);
        assert_int_equal(e.variant, 0); /* plan_entries: the larger group, total replicas */
        assert_int_equal(e.replicas, 2);

        in.cfg = off;
        solve_mix(&in, &m, &e);
        assert_int_equal(m.n, 1);
        assert_int_equal(m.e[0].variant, 1);
        pl_pipeline_free(p);
        pl_pipeline_free(off);
}

/* The plan in force and the start-up times reach the loading cost: with b × 3 running, a's
 * start (10 s × 1 core = 10 core-s, weight 0.2: 2 > the mix's gain 1.15) keeps b × 3; with
 * the mix in force nothing starts and the mix stays; plan_decide runs with both (its variant
 * slices move the replicas in force with the variants). */
static void test_mix_loading(void **state)
{
        pl_pipeline *p = duo_file("");
        pl_plan_entry cur = {1, 1, 1000, 3}, e;
        plan_stage_mix in_force = {.n = 2, .e = {{0, 1, 1000, 1}, {1, 1, 1000, 1}}};
        plan_input in = {.cfg = p,
                         .current = &cur,
                         .lambda_rps = 10,
                         .present_rps = 10,
                         .budget_ms = 5000,
                         .mix = true,
                         .load_weight = 0.2};
        plan_stage_mix m;
        plan_problem x;
        plan_decision d;
        char err[256];

        (void)state;
        assert_int_equal(plan_problem_build(&in, 1, 8000, &x, err, sizeof(err)), 0);
        assert_non_null(x.stages[0].current_replicas);
        assert_int_equal(x.stages[0].current_replicas[0], 0);
        assert_int_equal(x.stages[0].current_replicas[1], 3);
        assert_true(x.variants[0].startup_s == 10.0);
        assert_true(x.pls[0].mix && x.pls[0].load_weight == 0.2);
        assert_int_equal(plan_decide(&x, 0, &d), 0);
        plan_mix_entries(&d.plan, 0, &m);
        assert_int_equal(m.n, 1);
        assert_int_equal(m.e[0].variant, 1);
        plan_decision_done(&d);
        plan_problem_done(&x);
        solve_mix(&in, &m, &e);
        assert_int_equal(m.n, 1);
        assert_int_equal(m.e[0].variant, 1);
        assert_int_equal(m.e[0].replicas, 3);

        in.load_weight = 0.05; /* 0.5 < 1.15: worth starting one a */
        solve_mix(&in, &m, &e);
        assert_int_equal(m.n, 2);

        in.load_weight = 0.2;
        in.current_mix = &in_force;
        solve_mix(&in, &m, &e);
        assert_int_equal(m.n, 2);
        assert_int_equal(plan_problem_build(&in, 1, 8000, &x, err, sizeof(err)), 0);
        assert_int_equal(x.stages[0].current_replicas[0], 1);
        assert_int_equal(x.stages[0].current_replicas[1], 1);
        assert_int_equal(plan_decide(&x, 0, &d), 0);
        plan_mix_entries(&d.plan, 0, &m);
        assert_int_equal(m.n, 2);
        plan_decision_done(&d);
        plan_problem_done(&x);
        pl_pipeline_free(p);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest translate[] = {
            cmocka_unit_test(test_policy),           cmocka_unit_test(test_translate),
            cmocka_unit_test(test_translate_pinned), cmocka_unit_test(test_translate_bad_points),
            cmocka_unit_test(test_fit_rule),
        };
        const struct CMUnitTest mix[] = {
            cmocka_unit_test(test_mix_entries),
            cmocka_unit_test(test_mix_loading),
        };
        const struct CMUnitTest decide[] = {
            cmocka_unit_test(test_hysteresis), cmocka_unit_test(test_present),
            cmocka_unit_test(test_degrade),    cmocka_unit_test(test_degrade_none),
            cmocka_unit_test(test_hold),       cmocka_unit_test(test_overcommit),
            cmocka_unit_test(test_budget),     cmocka_unit_test(test_refit),
            cmocka_unit_test(test_jump),
        };
        const struct CMUnitTest thread[] = {
            cmocka_unit_test(test_planner),
            cmocka_unit_test(test_planner_supersede),
            cmocka_unit_test(test_planner_free_busy),
        };
        const char *g = argc > 1 ? argv[1] : "all";
        int r = 0;

        if (!strcmp(g, "all") || !strcmp(g, "translate"))
                r |= cmocka_run_group_tests_name("plan.translate", translate, NULL, NULL);
        if (!strcmp(g, "all") || !strcmp(g, "mix"))
                r |= cmocka_run_group_tests_name("plan.mix", mix, NULL, NULL);
        if (!strcmp(g, "all") || !strcmp(g, "decide"))
                r |= cmocka_run_group_tests_name("plan.decide", decide, NULL, NULL);
        if (!strcmp(g, "all") || !strcmp(g, "planner"))
                r |= cmocka_run_group_tests_name("plan.planner", thread, NULL, NULL);
        return r;
}
