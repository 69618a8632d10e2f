/* control-oracle — the exhaustive solver on pipeline files, for the agent.control-* tests.
 *
 * Usage: control-oracle --node-millicores N
 *                       (--pipeline FILE --rps R --budget-ms B)...
 *                       [--solver exhaustive|glpk] [--time-limit-ms T]
 *
 * Builds the optimizer's problem from the pipeline files with the agent's own translation
 * (agent/plan: plan_problem_build before any refit, no plan in force), with
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

#include "agent/plan/plan.h"

#define MAX_PIPELINES 8

typedef struct Input {
        pl_pipeline *cfg;
        double rps, budget_ms;
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
        plan_input pin[MAX_PIPELINES];
        plan_problem x = {0};
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
        for (size_t k = 0; k < n; k++)
                pin[k] = (plan_input){.cfg = in[k].cfg,
                                      .lambda_rps = in[k].rps,
                                      .present_rps = in[k].rps,
                                      .budget_ms = in[k].budget_ms};
        r = plan_problem_build(pin, n, (uint32_t)node, &x, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "control-oracle: cannot build the problem: %s %s\n", strerror(-r),
                        err);
                goto out;
        }
        r = opt_problem_validate(&x.pr, err, sizeof(err));
        if (r == 0)
                r = opt_solve(&x.pr, solver, &opts, &plan);
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
        plan_problem_done(&x);
        for (size_t k = 0; k < n; k++)
                pl_pipeline_free(in[k].cfg);
        return rc;
}
