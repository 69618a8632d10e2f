/* control-oracle — the exhaustive solver on pipeline files, for the agent.control-* tests.
 *
 * Usage: control-oracle --node-millicores N
 *                       (--pipeline FILE --rps R --budget-ms B)...
 *                       [--solver exhaustive|glpk] [--time-limit-ms T]
 *
 * Builds the optimizer's problem from the pipeline files as the agent does before any refit
 * (each variant's profile model; a profile given as points is fitted by least squares), with
 * the given arrival rate and end-to-end budget per pipeline and the node's capacity, solves it
 * (OPT_SOLVER_EXHAUSTIVE by default) and prints one JSON object:
 *   {"feasible": bool, "optimal": bool, "reason": "...", "objective": x, "millicores": total,
 *    "pipelines": [{"name": ..., "stages": [{"variant", "batch", "millicores", "replicas",
 *                                            "latency_ms"}...]}...]}
 * Exit status 0 after a solve (feasible or not), 1 on a bad pipeline or a solver error,
 * 2 on bad arguments. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer.h"
#include "pipelines/pipeline.h"

#define MAX_PIPELINES 8

typedef struct Input {
        pl_pipeline *cfg;
        double rps, budget_ms;
        opt_stage *stages;
        opt_variant *variants;
} Input;

static int parse_double(const char *s, double *ret)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static opt_policy policy_of(pl_policy p)
{
        switch (p) {
        case PL_POLICY_VERTICAL:
                return OPT_POLICY_VERTICAL;
        case PL_POLICY_HORIZONTAL:
                return OPT_POLICY_HORIZONTAL;
        case PL_POLICY_STATIC:
                return OPT_POLICY_STATIC;
        default:
                return OPT_POLICY_FULL;
        }
}

/* The latency model of a variant: its profile's parameters, or a fit of its points. */
static int variant_model(const pl_variant *v, opt_model *ret)
{
        const pl_profile *pr = &v->profile;
        opt_point *pts;
        char err[256];
        int r;

        if (pr->kind == PL_PROFILE_MODEL) {
                *ret = (opt_model){pr->model.gamma, pr->model.delta, pr->model.epsilon,
                                   pr->model.eta, pr->model.margin};
                return 0;
        }
        pts = calloc(pr->n_points, sizeof(*pts));
        if (!pts)
                return -ENOMEM;
        for (size_t i = 0; i < pr->n_points; i++)
                pts[i] = (opt_point){pr->points[i].batch, pr->points[i].millicores,
                                     pr->points[i].latency_ms};
        r = opt_fit(pts, pr->n_points, ret, err, sizeof(err));
        if (r < 0)
                r = opt_fit_nonneg(pts, pr->n_points, ret, err, sizeof(err));
        if (r < 0)
                fprintf(stderr, "control-oracle: variant %s: %s\n", v->name, err);
        free(pts);
        return r;
}

/* Fills in->stages/variants and *ret from the pipeline file's configuration. */
static int build(Input *in, opt_pipeline *ret)
{
        const pl_pipeline *c = in->cfg;
        pl_plan_entry *init = NULL;
        size_t nv = 0, iv = 0;
        int r = 0;

        for (size_t i = 0; i < c->n_stages; i++)
                nv += c->stages[i].n_variants;
        in->stages = calloc(c->n_stages, sizeof(opt_stage));
        in->variants = calloc(nv, sizeof(opt_variant));
        if (!in->stages || !in->variants || pl_initial_plan(c, &init) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_stages && r == 0; i++) {
                const pl_stage *s = &c->stages[i];
                opt_variant *ov = &in->variants[iv];
                for (size_t v = 0; v < s->n_variants && r == 0; v++) {
                        opt_model m = {0};
                        r = variant_model(&s->variants[v], &m);
                        ov[v] = (opt_variant){s->variants[v].name,
                                              s->variants[v].accuracy,
                                              {.kind = OPT_LATENCY_MODEL, .fit = m}};
                }
                in->stages[i] = (opt_stage){
                    .name = s->name,
                    .variants = ov,
                    .n_variants = s->n_variants,
                    .max_batch = s->max_batch,
                    .min_millicores = s->millicores_min,
                    .max_millicores = s->millicores_max,
                    .step_millicores = s->millicores_step,
                    .min_replicas = s->replicas_min,
                    .max_replicas = s->replicas_max,
                    .fixed_variant = (uint32_t)init[i].variant,
                    .fixed_batch = init[i].batch,
                    .fixed_millicores = init[i].millicores,
                    .fixed_replicas = init[i].replicas,
                };
                iv += s->n_variants;
        }
        free(init);
        if (r < 0)
                return r;
        *ret = (opt_pipeline){
            .name = c->name,
            .stages = in->stages,
            .n_stages = c->n_stages,
            .lambda_rps = in->rps,
            .slo_budget_ms = in->budget_ms,
            .alpha = c->objective.accuracy,
            .beta = c->objective.cores,
            .delta = c->objective.batch,
            .policy = policy_of(c->policy),
        };
        return 0;
}

static const char *reason_name(const opt_plan *p)
{
        return p->feasible ? "feasible" : opt_infeasible_name(p->reason);
}

static void print_plan(const opt_plan *plan, const Input *in, size_t n)
{
        uint64_t total = 0;

        for (size_t k = 0; k < n; k++)
                for (size_t i = 0; i < plan->pipelines[k].n_stages; i++) {
                        const opt_plan_stage *st = &plan->pipelines[k].stages[i];
                        total += (uint64_t)st->millicores * st->replicas;
                }
        printf("{\"feasible\": %s, \"optimal\": %s, \"reason\": \"%s\", \"objective\": %.6g, "
               "\"millicores\": %llu, \"pipelines\": [",
               plan->feasible ? "true" : "false", plan->optimal ? "true" : "false",
               reason_name(plan), isfinite(plan->objective) ? plan->objective : 0.0,
               (unsigned long long)total);
        for (size_t k = 0; k < n; k++) {
                const opt_plan_pipeline *pp = &plan->pipelines[k];
                printf("%s{\"name\": \"%s\", \"stages\": [", k ? ", " : "", in[k].cfg->name);
                for (size_t i = 0; i < pp->n_stages; i++) {
                        const opt_plan_stage *st = &pp->stages[i];
                        printf("%s{\"variant\": \"%s\", \"batch\": %u, \"millicores\": %u, "
                               "\"replicas\": %u, \"latency_ms\": %.3f}",
                               i ? ", " : "", in[k].cfg->stages[i].variants[st->variant].name,
                               st->batch, st->millicores, st->replicas,
                               isfinite(st->predicted_latency_ms) ? st->predicted_latency_ms
                                                                  : -1.0);
                }
                printf("]}");
        }
        printf("]}\n");
}

static int usage(void)
{
        fprintf(stderr, "usage: control-oracle --node-millicores N (--pipeline FILE --rps R "
                        "--budget-ms B)... [--solver exhaustive|glpk] [--time-limit-ms T]\n");
        return 2;
}

int main(int argc, char **argv)
{
        Input in[MAX_PIPELINES] = {0};
        opt_pipeline pls[MAX_PIPELINES];
        opt_solver solver = OPT_SOLVER_EXHAUSTIVE;
        opt_solve_options opts = {0};
        double tl = 0;
        double node = -1;
        size_t n = 0;
        opt_plan plan;
        char err[512] = "";
        int r, rc = 1;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!v)
                        return usage();
                i++;
                if (strcmp(a, "--node-millicores") == 0) {
                        if (parse_double(v, &node) < 0 || node < 1 || node > 1e7)
                                return usage();
                } else if (strcmp(a, "--pipeline") == 0) {
                        if (n == MAX_PIPELINES)
                                return usage();
                        r = pl_load_file(v, &in[n].cfg, err, sizeof(err));
                        if (r < 0) {
                                fprintf(stderr, "control-oracle: %s\n", err);
                                goto out;
                        }
                        in[n].budget_ms = (double)in[n].cfg->slo_us / 1000.0;
                        n++;
                } else if (strcmp(a, "--rps") == 0) {
                        if (n == 0 || parse_double(v, &in[n - 1].rps) < 0)
                                return usage();
                } else if (strcmp(a, "--budget-ms") == 0) {
                        if (n == 0 || parse_double(v, &in[n - 1].budget_ms) < 0)
                                return usage();
                } else if (strcmp(a, "--time-limit-ms") == 0) {
                        if (parse_double(v, &tl) < 0 || tl > 3600000)
                                return usage();
                        opts.time_limit_ms = (uint32_t)tl;
                } else if (strcmp(a, "--solver") == 0) {
                        if (strcmp(v, "exhaustive") == 0)
                                solver = OPT_SOLVER_EXHAUSTIVE;
                        else if (strcmp(v, "glpk") == 0)
                                solver = OPT_SOLVER_GLPK;
                        else
                                return usage();
                } else
                        return usage();
        }
        if (n == 0 || node < 0)
                return usage();
        for (size_t k = 0; k < n; k++) {
                r = build(&in[k], &pls[k]);
                if (r < 0) {
                        fprintf(stderr, "control-oracle: %s: cannot build the problem: %s\n",
                                in[k].cfg->name, strerror(-r));
                        goto out;
                }
        }
        r = opt_problem_validate(&(opt_problem){pls, n, (uint32_t)node}, err, sizeof(err));
        if (r == 0)
                r = opt_solve(&(opt_problem){pls, n, (uint32_t)node}, solver, &opts, &plan);
        if (r < 0) {
                fprintf(stderr, "control-oracle: solve failed: %s %s\n", strerror(-r), err);
                goto out;
        }
        fprintf(stderr, "control-oracle: solved in %.3f ms, %zu candidates, %zu after pruning\n",
                (double)plan.solve_us / 1000.0, plan.candidates, plan.candidates_pruned);
        print_plan(&plan, in, n);
        opt_plan_done(&plan);
        rc = 0;
out:
        for (size_t k = 0; k < n; k++) {
                free(in[k].stages);
                free(in[k].variants);
                pl_pipeline_free(in[k].cfg);
        }
        return rc;
}
