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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan/plan.h"
#include "tests/bench/loadgen.h"
#include "tests/bench/oracle.h"

typedef struct Opts {
        const char *pipeline, *trace, *ghent;
        uint64_t start, length, image_bytes, ghent_offset;
        double scale, slo_ms, quantile;
        uint32_t node_millicores;
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

static void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))

static int run(const Opts *o)
{
        _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
        _cleanup_free_ double *rate = NULL, *net = NULL;
        json_auto_t *out = NULL;
        size_t n_rate = 0, n_net = 0;
        char err[1024] = "";
        int r;

        r = pl_load_file(o->pipeline, &p, err, sizeof(err));
        if (r < 0)
                return fprintf(stderr, "bench-oracle: %s\n", err), r;
        r = lg_trace_load(o->trace, o->start, o->length, o->scale, &rate, &n_rate, err,
                          sizeof(err));
        if (r == 0 && o->ghent)
                r = lg_ghent_load(o->ghent, o->image_bytes, &net, &n_net, err, sizeof(err));
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
            .slo_ms = o->slo_ms > 0 ? o->slo_ms : (double)p->slo_us / 1000.0,
            .quantile = o->quantile,
            .node_millicores = o->node_millicores,
            .series = o->series,
        };
        r = bench_oracle_compute(&in, &out, err, sizeof(err));
        if (r < 0)
                return fprintf(stderr, "bench-oracle: %s: %s\n", o->pipeline, err), r;
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
