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
 * The computation is a library (oracle.h), linked by sponge-sim too.
 * Exit: 0 with the JSON on stdout; 1 when the inputs cannot be read or the peak cannot be
 * served at all (the scale is too high for the node); 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/plan/plan.h"
#include "agent/util.h"
#include "tests/bench/bench-cli.h"
#include "tests/bench/loadgen.h"
#include "tests/bench/oracle.h"

typedef struct Opts {
        bench_cli cli; /* --pipeline --trace --ghent --image-bytes --slo-ms --node-millicores */
        uint64_t start, length, ghent_offset;
        double scale, quantile;
        bool series;
} Opts;

static void usage(FILE *f)
{
        fputs("Usage: bench-oracle --pipeline FILE --trace FILE --start I --length N [--scale F]\n"
              "                    [--slo-ms X] [--ghent FILE --image-bytes B [--ghent-offset K]]\n"
              "                    [--node-millicores M] [--quantile Q] [--series]\n"
              "Static/vertical/horizontal plans for the segment's peak and the per-second\n"
              "least-cores oracle, as one JSON object on stdout (see tests/bench/README.md).\n",
              f);
}

/* bench-oracle's own options (bench_cli_spec.option). */
static int option(void *ud, int c, const char *arg)
{
        Opts *o = ud;

        switch (c) {
        case 'e':
                o->series = true;
                return 0;
        case 's':
                return bench_parse_uint(arg, 0, UINT32_MAX, &o->start);
        case 'n':
                return bench_parse_uint(arg, 1, 86400, &o->length);
        case 'o':
                return bench_parse_uint(arg, 0, UINT32_MAX, &o->ghent_offset);
        case 'f':
                return bench_parse_num(arg, 0, 1e6, &o->scale);
        case 'q':
                return bench_parse_num(arg, 0, 1, &o->quantile);
        default:
                return -EINVAL;
        }
}

static int parse_args(int argc, char **argv, Opts *o)
{
        static const struct option own[] = {
            {"start", required_argument, NULL, 's'},
            {"length", required_argument, NULL, 'n'},
            {"scale", required_argument, NULL, 'f'},
            {"ghent-offset", required_argument, NULL, 'o'},
            {"quantile", required_argument, NULL, 'q'},
            {"series", no_argument, NULL, 'e'},
            {0},
        };
        static const bench_cli_spec spec = {"bench-oracle", own, option, usage, 1024000};
        int r;

        *o = (Opts){.scale = 1.0, .quantile = PLAN_BUDGET_QUANTILE};
        r = bench_cli_parse(&spec, o, argc, argv, &o->cli);
        if (r == 0 && o->length == 0) { /* required too */
                usage(stderr);
                r = -EINVAL;
        }
        return r;
}

static int run(const Opts *o)
{
        _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
        _cleanup_free_ double *rate = NULL, *net = NULL;
        json_auto_t *out = NULL;
        size_t n_rate = 0, n_net = 0;
        char err[1024] = "";
        int r;

        r = bench_cli_load(&o->cli, &p, &net, &n_net, err, sizeof(err));
        if (r == 0)
                r = lg_trace_load(o->cli.trace, o->start, o->length, o->scale, &rate, &n_rate, err,
                                  sizeof(err));
        if (r < 0)
                return fprintf(stderr, "bench-oracle: %s\n", err), r;
        bench_oracle_input in = {
            .p = p,
            .rate = rate,
            .n_rate = n_rate,
            .net = net,
            .n_net = n_net,
            .ghent_offset = o->ghent_offset,
            .start = o->start,
            .scale = o->scale,
            .slo_ms = bench_cli_slo_ms(&o->cli, p),
            .quantile = o->quantile,
            .node_millicores = o->cli.node_millicores,
            .series = o->series,
        };
        r = bench_oracle_compute(&in, &out, err, sizeof(err));
        if (r < 0)
                return fprintf(stderr, "bench-oracle: %s: %s\n", o->cli.pipeline, err), r;
        if (json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6)) < 0)
                return -ENOMEM;
        putchar('\n');
        return 0;
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
