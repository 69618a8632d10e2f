/* SPDX-License-Identifier: MIT */
/*
 * sponge-sim — bench-trace without the machine: the same segments, schedule, arrivals (sponge-
 * load's generator, same seed), budgets (Ghent 4G log) and policies, each run through the agent's
 * own decision code on a simulated node (sim.h); the oracle and the shared options are
 * bench-oracle's (linked: oracle.h, bench-cli.h). Prints bench-trace's table per segment and, as
 * the last line, one JSON object.
 *
 * Usage: sponge-sim --pipeline FILE --trace FILE [--segment
 * NAME[:START:LENGTH:SCALE[:COMPRESS]]]...
 *                   [--policies LIST] [--node-millicores M] [--warmup-s S] [--slo-ms X]
 *                   [--ghent FILE --image-bytes B] [--seed N] [--noise F] [--no-oracle]
 * Exit: 0 done; 1 a run or the oracle failed; 2 bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/plan/plan.h"
#include "agent/sim/sim.h"
#include "agent/util.h"
#include "tests/bench/bench-cli.h"
#include "tests/bench/loadgen.h"
#include "tests/bench/oracle.h"

#define MAX_SEGMENTS    16
#define RATE_RESOLUTION 100.0 /* bench-trace's schedule holds rate x 100 as integers */

typedef struct Segment {
        char name[64];
        uint64_t start, length, compress;
        double scale;
} Segment;

/* bench-trace.py's SEGMENTS */
static const Segment known[] = {
    {"bursty", 1301160, 100, 12, 0.1},
    {"steady-high", 1768800, 80, 1, 0.07},
};

typedef struct Opts {
        bench_cli cli; /* --pipeline --trace --ghent --image-bytes --slo-ms --node-millicores */
        Segment seg[MAX_SEGMENTS];
        size_t n_seg;
        bool policy[SIM_FULL + 1];
        uint64_t warmup_s, seed;
        double noise;
        bool no_oracle;
        /* ablations (tests/bench/README.md, "where the core-seconds go"); 0 / -1 = unset */
        bool no_headroom;
        int64_t startup_ms, downscale_delay_ms, interval_ms;
        uint64_t millicore_step;
} Opts;

static double wall_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* NAME or NAME:START:LENGTH:SCALE[:COMPRESS]; empty fields keep NAME's defaults. */
static int parse_segment(const char *spec, Segment *ret)
{
        char buf[256], *f[6] = {0}, *at = buf;
        size_t n = 0;
        int r = 0;

        if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf))
                return -EINVAL;
        while (n < 6) { /* split at ':' keeping empty fields */
                char *colon = strchr(at, ':');
                f[n++] = at;
                if (!colon)
                        break;
                *colon = '\0';
                at = colon + 1;
        }
        if (n == 0 || n > 5 || !*f[0] || strlen(f[0]) >= sizeof(ret->name))
                return -EINVAL;
        *ret = (Segment){.compress = 1};
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                if (strcmp(known[i].name, f[0]) == 0)
                        *ret = known[i];
        snprintf(ret->name, sizeof(ret->name), "%s", f[0]);
        if (n > 1 && *f[1])
                r |= bench_parse_uint(f[1], 0, 1e9, &ret->start);
        if (n > 2 && *f[2])
                r |= bench_parse_uint(f[2], 5, 1e8, &ret->length);
        if (n > 3 && *f[3])
                r |= bench_parse_num(f[3], 1e-9, 1e6, &ret->scale);
        if (n > 4 && *f[4])
                r |= bench_parse_uint(f[4], 1, 1e6, &ret->compress);
        if (r || ret->length < 5 || ret->scale <= 0)
                return -EINVAL;
        return 0;
}

static int parse_policies(const char *list, bool *ret)
{
        char buf[256], *save = NULL;

        if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
                return -EINVAL;
        memset(ret, 0, sizeof(bool) * (SIM_FULL + 1));
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                sim_policy p;
                if (sim_policy_from_name(t, &p) < 0)
                        return -EINVAL;
                ret[p] = true;
        }
        return 0;
}

static void usage(FILE *f)
{
        fputs(
            "Usage: sponge-sim --pipeline FILE --trace FILE\n"
            "                  [--segment NAME[:START:LENGTH:SCALE[:COMPRESS]]]... (default: "
            "bursty, steady-high)\n"
            "                  [--policies static,reactive,horizontal,vertical,full]\n"
            "                  [--node-millicores M (2000)] [--warmup-s S (5)] [--slo-ms X]\n"
            "                  [--ghent FILE --image-bytes B] [--seed N (1)] [--noise F (1)]\n"
            "                  [--no-oracle]\n"
            "  ablations:      [--no-headroom] [--downscale-delay-ms N (5000)]\n"
            "                  [--interval-ms N (1000)] [--startup-ms N (the file's)]\n"
            "                  [--millicore-step N (the file's)]\n"
            "bench-trace's policies on a simulated node, driven by the agent's own decision\n"
            "code; bench-trace's table per segment, then one JSON object (agent/sim/README.md).\n",
            f);
}

/* sponge-sim's own options (bench_cli_spec.option). */
static int option(void *ud, int c, const char *arg)
{
        Opts *o = ud;
        uint64_t u;
        int r;

        switch (c) {
        case 'S':
                return o->n_seg < MAX_SEGMENTS ? parse_segment(arg, &o->seg[o->n_seg++]) : -E2BIG;
        case 'P':
                return parse_policies(arg, o->policy);
        case 'w':
                return bench_parse_uint(arg, 0, 3600, &o->warmup_s);
        case 's':
                return bench_parse_uint(arg, 0, 1e15, &o->seed);
        case 'n':
                return bench_parse_num(arg, 0, 100, &o->noise);
        case 'O':
                o->no_oracle = true;
                return 0;
        case 'H':
                o->no_headroom = true;
                return 0;
        case 'D':
        case 'I':
        case 'U':
                r = bench_parse_uint(arg, c == 'I' ? 10 : 0, 3600000, &u);
                if (r == 0)
                        *(c == 'D'   ? &o->downscale_delay_ms
                          : c == 'I' ? &o->interval_ms
                                     : &o->startup_ms) = (int64_t)u;
                return r;
        case 'M':
                return bench_parse_uint(arg, 1, 100000, &o->millicore_step);
        default:
                return -EINVAL;
        }
}

static int parse_args(int argc, char **argv, Opts *o)
{
        static const struct option own[] = {
            {"segment", required_argument, NULL, 'S'},
            {"policies", required_argument, NULL, 'P'},
            {"warmup-s", required_argument, NULL, 'w'},
            {"seed", required_argument, NULL, 's'},
            {"noise", required_argument, NULL, 'n'},
            {"no-oracle", no_argument, NULL, 'O'},
            {"no-headroom", no_argument, NULL, 'H'},
            {"downscale-delay-ms", required_argument, NULL, 'D'},
            {"interval-ms", required_argument, NULL, 'I'},
            {"startup-ms", required_argument, NULL, 'U'},
            {"millicore-step", required_argument, NULL, 'M'},
            {0},
        };
        static const bench_cli_spec spec = {"sponge-sim", own, option, usage, 10240000};

        *o = (Opts){.warmup_s = 5,
                    .seed = 1,
                    .noise = 1.0,
                    .startup_ms = -1,
                    .downscale_delay_ms = -1,
                    .interval_ms = -1};
        parse_policies("static,reactive,horizontal,vertical,full", o->policy);
        if (bench_cli_parse(&spec, o, argc, argv, &o->cli) < 0)
                return -EINVAL;
        if (o->n_seg == 0) { /* bench-trace's two */
                o->seg[0] = known[0];
                o->seg[1] = known[1];
                o->n_seg = 2;
        }
        return 0;
}

/* bench-trace's schedule: run second i = round(100 × mean of `compress` trace seconds), replayed
 * at scale / 100 (make_schedule and sponge-load's --scale). */
static int schedule(const Opts *o, const Segment *g, double **ret, size_t *ret_n, char *err,
                    size_t errlen)
{
        _cleanup_free_ double *raw = NULL;
        uint64_t k = g->compress, w = o->warmup_s, n = w + g->length;
        size_t n_raw = 0;
        double *rates;
        int r;

        if (g->start < w * k)
                return snprintf(err, errlen, "segment %s starts before its warm-up", g->name),
                       -EINVAL;
        r = lg_trace_load(o->cli.trace, g->start - w * k, n * k, 1.0, &raw, &n_raw, err, errlen);
        if (r < 0)
                return r;
        rates = calloc(n, sizeof(double));
        if (!rates)
                return -ENOMEM;
        for (uint64_t i = 0; i < n; i++) {
                double sum = 0;
                for (uint64_t j = 0; j < k; j++)
                        sum += raw[i * k + j];
                rates[i] = round(RATE_RESOLUTION * sum / (double)k) * (g->scale / RATE_RESOLUTION);
        }
        *ret = rates;
        *ret_n = n;
        return 0;
}

typedef struct Arrivals {
        LgArrivals a;
} Arrivals;

static int next_arrival(void *ud, uint64_t *ret_us)
{
        return lg_arrivals_next(&((Arrivals *)ud)->a, ret_us);
}

/* The plan under `key` of the oracle's JSON as entries (variant names → indices). */
static int oracle_plan(const pl_pipeline *p, const json_t *oracle, const char *key,
                       pl_plan_entry *ret)
{
        const json_t *arr = json_object_get(json_object_get(oracle, key), "plan");

        if (!json_is_array(arr) || json_array_size(arr) != p->n_stages)
                return -ENOENT;
        for (size_t i = 0; i < p->n_stages; i++) {
                const json_t *e = json_array_get(arr, i);
                const char *v = json_string_value(json_object_get(e, "variant"));
                size_t k;
                for (k = 0; v && k < p->stages[i].n_variants; k++)
                        if (strcmp(p->stages[i].variants[k].name, v) == 0)
                                break;
                if (!v || k == p->stages[i].n_variants)
                        return -ENOENT;
                ret[i] =
                    (pl_plan_entry){k, (uint32_t)json_integer_value(json_object_get(e, "batch")),
                                    (uint32_t)json_integer_value(json_object_get(e, "millicores")),
                                    (uint32_t)json_integer_value(json_object_get(e, "replicas"))};
        }
        return 0;
}

static json_t *result_json(const sim_result *r, double wall)
{
        json_t *by = json_pack("{s:I, s:I, s:I}", "200", (json_int_t)r->ok, "429",
                               (json_int_t)r->status429, "504", (json_int_t)r->status504);
        json_t *nul = json_null();

        return json_pack(
            "{s:f, s:o, s:o, s:I, s:I, s:I, s:o, s:I, s:f, s:f, s:o, s:I, s:I, s:I, s:I, s:f, "
            "s:f}",
            "attainment_pct", round(r->attainment_pct * 1000) / 1000, "p50_ms",
            r->p50_ms >= 0 ? json_real(r->p50_ms) : json_null(), "p99_ms",
            r->p99_ms >= 0 ? json_real(r->p99_ms) : json_null(), "drops", (json_int_t)r->dropped,
            "requests", (json_int_t)r->requests, "not_sent", (json_int_t)0, "by_status", by,
            "timeouts", (json_int_t)0, "core_seconds", round(r->core_seconds * 100) / 100,
            "core_seconds_used", round(r->core_seconds_used * 100) / 100, "mean_accuracy",
            r->mean_accuracy >= 0 ? json_real(round(r->mean_accuracy * 1000) / 1000) : nul,
            "plan_changes", (json_int_t)r->plan_changes, "solves", (json_int_t)r->solves,
            "degraded_solves", (json_int_t)r->degraded_solves, "events", (json_int_t)r->events,
            "sim_s", r->sim_s, "wall_s", round(wall * 1000) / 1000);
}

static void fmt(char *b, size_t n, const json_t *v, int nd)
{
        if (json_is_number(v))
                snprintf(b, n, "%.*f", nd, json_number_value(v));
        else
                snprintf(b, n, "-");
}

static void print_table(const Segment *g, const json_t *seg, const json_t *oracle)
{
        const json_t *pols = json_object_get(seg, "policies"),
                     *st = json_object_get(pols, "static");
        double scs = json_number_value(json_object_get(st, "core_seconds"));
        double ocs =
            json_number_value(json_object_get(json_object_get(oracle, "oracle"), "core_seconds"));
        const char *name;
        const json_t *r;

        printf("\n== %s: trace lines %" PRIu64 "..%" PRIu64 " x%g (peak %.1f req/s, mean %.1f), "
               "simulated\n",
               g->name, g->start, g->start + g->length * g->compress - 1, g->scale,
               json_number_value(json_object_get(seg, "peak_rps")),
               json_number_value(json_object_get(seg, "mean_rps")));
        printf("%-11s %8s %7s %7s %6s %6s %7s %7s %6s %7s %7s %8s %7s\n", "policy", "attain%",
               "p50ms", "p99ms", "drops", "sent", "core-s", "used", "acc", "/static", "/oracle",
               "plan chg", "wall s");
        json_object_foreach((json_t *)pols, name, r)
        {
                char a[5][32], vs[2][32];
                double cs = json_number_value(json_object_get(r, "core_seconds"));
                if (json_object_get(r, "failed")) {
                        printf("%-11s FAILED: %s\n", name,
                               json_string_value(json_object_get(r, "failed")));
                        continue;
                }
                fmt(a[0], 32, json_object_get(r, "attainment_pct"), 2);
                fmt(a[1], 32, json_object_get(r, "p50_ms"), 1);
                fmt(a[2], 32, json_object_get(r, "p99_ms"), 1);
                fmt(a[3], 32, json_object_get(r, "core_seconds_used"), 1);
                fmt(a[4], 32, json_object_get(r, "mean_accuracy"), 2);
                snprintf(vs[0], 32, scs > 0 ? "%.2f" : "-", scs > 0 ? cs / scs : 0);
                snprintf(vs[1], 32, ocs > 0 ? "%.2f" : "-", ocs > 0 ? cs / ocs : 0);
                printf("%-11s %8s %7s %7s %6" JSON_INTEGER_FORMAT " %6" JSON_INTEGER_FORMAT
                       " %7.1f %7s %6s %7s %7s %8" JSON_INTEGER_FORMAT " %7.2f\n",
                       name, a[0], a[1], a[2], json_integer_value(json_object_get(r, "drops")),
                       json_integer_value(json_object_get(r, "requests")), cs, a[3], a[4], vs[0],
                       vs[1], json_integer_value(json_object_get(r, "plan_changes")),
                       json_number_value(json_object_get(r, "wall_s")));
        }
        if (oracle && json_object_get(oracle, "oracle"))
                printf("%-11s %8s %7s %7s %6s %6s %7.1f %7s %6.2f   (least cores per second, any "
                       "variant)\n",
                       "oracle", "", "", "", "", "", ocs, "",
                       json_number_value(
                           json_object_get(json_object_get(oracle, "oracle"), "mean_accuracy")));
}

static int run_segment(const Opts *o, const pl_pipeline *p, const Segment *g, const double *net,
                       size_t n_net, double slo, json_t *out)
{
        _cleanup_free_ double *rates = NULL;
        json_auto_t *oracle = NULL;
        json_t *seg, *pols;
        size_t n = 0;
        char err[1024] = "";
        int r, ret = 0;

        r = schedule(o, g, &rates, &n, err, sizeof(err));
        if (r < 0)
                return fprintf(stderr, "sponge-sim: %s: %s\n", g->name, err), r;
        bench_oracle_input oi = {.p = p,
                                 .rate = rates + o->warmup_s,
                                 .n_rate = g->length,
                                 .net = net,
                                 .n_net = n_net,
                                 .ghent_offset = o->warmup_s,
                                 .start = g->start,
                                 .scale = g->scale,
                                 .slo_ms = slo,
                                 .quantile = PLAN_BUDGET_QUANTILE,
                                 .node_millicores = o->cli.node_millicores};
        double t0 = wall_s();
        r = o->no_oracle ? 0 : bench_oracle_compute(&oi, &oracle, err, sizeof(err));
        if (o->no_oracle) { /* only "full" runs: the other policies start from its plans */
                oracle = json_object();
        } else if (r == -ERANGE) { /* the node cannot carry the peak: only "full" runs (degraded) */
                fprintf(stderr, "sponge-sim: %s: oracle: %s\n", g->name, err);
                oracle = json_object();
        } else if (r < 0) {
                return fprintf(stderr, "sponge-sim: %s: oracle: %s\n", g->name, err), r;
        }
        double oracle_wall = wall_s() - t0, peak = 0, mean = 0;
        for (size_t i = o->warmup_s; i < n; i++) {
                peak = fmax(peak, rates[i]);
                mean += rates[i] / (double)g->length;
        }
        seg = json_pack("{s:I, s:I, s:f, s:I, s:f, s:f, s:O?, s:f}", "trace_start",
                        (json_int_t)g->start, "length_s", (json_int_t)g->length, "scale", g->scale,
                        "compress", (json_int_t)g->compress, "peak_rps", peak, "mean_rps", mean,
                        "planning_budget_ms", json_object_get(oracle, "planning_budget_ms"),
                        "oracle_wall_s", round(oracle_wall * 1000) / 1000);
        pols = json_object();
        if (!seg || !pols)
                return -ENOMEM;
        json_object_set_new(seg, "policies", pols);
        if (!o->no_oracle && json_object_get(oracle, "oracle")) {
                json_object_set(seg, "oracle_core_seconds",
                                json_object_get(json_object_get(oracle, "oracle"), "core_seconds"));
                json_object_set(
                    seg, "oracle_mean_accuracy",
                    json_object_get(json_object_get(oracle, "oracle"), "mean_accuracy"));
                json_object_set(
                    seg, "oracle_objective_core_seconds",
                    json_object_get(json_object_get(oracle, "oracle_objective"), "core_seconds"));
                json_object_set(seg, "static_plan",
                                json_object_get(json_object_get(oracle, "static"), "plan"));
        }
        for (int pi = 0; pi <= SIM_FULL; pi++) {
                static const char *plan_of[] = {"static", "static", "horizontal", "vertical", NULL};
                pl_plan_entry plan[PL_MAX_STAGES];
                sim_config c;
                sim_result res;
                Arrivals arr;

                if (!o->policy[pi])
                        continue;
                sim_config_defaults(&c);
                c.cfg = p;
                c.policy = (sim_policy)pi;
                if (plan_of[pi]) {
                        if (oracle_plan(p, oracle, plan_of[pi], plan) < 0) {
                                json_object_set_new(
                                    pols, sim_policy_name(c.policy),
                                    json_pack("{s:s}", "failed", "no plan serves the peak"));
                                continue;
                        }
                        c.plan = plan;
                }
                lg_arrivals_init(&arr.a, rates, n, false, o->seed);
                c.node_millicores = o->cli.node_millicores;
                c.next_arrival = next_arrival;
                c.arrival_ud = &arr;
                c.net_ms = net;
                c.n_net = n_net;
                c.slo_ms = slo;
                c.count_from_us = o->warmup_s * 1000000ull;
                c.count_to_us = (o->warmup_s + g->length) * 1000000ull;
                c.seed = o->seed;
                c.noise = o->noise;
                c.no_headroom = o->no_headroom;
                if (o->downscale_delay_ms >= 0)
                        c.downscale_delay_us = (uint64_t)o->downscale_delay_ms * 1000;
                if (o->interval_ms >= 0)
                        c.interval_us = (uint64_t)o->interval_ms * 1000;
                t0 = wall_s();
                r = sim_run(&c, &res, err, sizeof(err));
                if (r < 0) {
                        fprintf(stderr, "sponge-sim: %s/%s: %s (%s)\n", g->name,
                                sim_policy_name(c.policy), err, strerror(-r));
                        json_object_set_new(pols, sim_policy_name(c.policy),
                                            json_pack("{s:s}", "failed", err));
                        ret = r;
                        continue;
                }
                json_object_set_new(pols, sim_policy_name(c.policy),
                                    result_json(&res, wall_s() - t0));
        }
        print_table(g, seg, o->no_oracle ? NULL : oracle);
        json_object_set_new(out, g->name, seg);
        return ret;
}

/* The ablations that change the pipeline itself (its start-up times and millicore grid): the
 * oracle sees them too. */
static int ablate(const Opts *o, pl_pipeline *p, char *err, size_t errlen)
{
        for (size_t i = 0; i < p->n_stages; i++) {
                pl_stage *st = &p->stages[i];

                for (size_t k = 0; o->startup_ms >= 0 && k < st->n_variants; k++)
                        st->variants[k].startup_us = (uint64_t)o->startup_ms * 1000;
                if (!o->millicore_step)
                        continue;
                /* dividing the file's step keeps every point of its grid (plans included) */
                if (st->millicores_step % o->millicore_step)
                        return snprintf(err, errlen,
                                        "--millicore-step %" PRIu64
                                        " does not divide stage %s's step %u",
                                        o->millicore_step, st->name, st->millicores_step),
                               -EINVAL;
                st->millicores_step = (uint32_t)o->millicore_step;
        }
        return 0;
}

int main(int argc, char **argv)
{
        _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
        _cleanup_free_ double *net = NULL;
        json_auto_t *segs = json_object(), *out = NULL;
        size_t n_net = 0;
        char err[1024] = "";
        double slo, t0 = wall_s();
        int r, ok = 1;
        Opts o;

        if (parse_args(argc, argv, &o) < 0)
                return 2;
        r = bench_cli_load(&o.cli, &p, &net, &n_net, err, sizeof(err));
        if (r == 0)
                r = ablate(&o, p, err, sizeof(err));
        if (r < 0 || !segs)
                return fprintf(stderr, "sponge-sim: %s\n", err), 1;
        slo = bench_cli_slo_ms(&o.cli, p);
        for (size_t i = 0; i < o.n_seg; i++)
                if (run_segment(&o, p, &o.seg[i], net, n_net, slo, segs) < 0)
                        ok = 0;
        out =
            json_pack("{s:O, s:s, s:f, s:I, s:I, s:I, s:I, s:f, s:b}", "segments", segs, "pipeline",
                      o.cli.pipeline, "slo_ms", slo, "image_bytes", (json_int_t)o.cli.image_bytes,
                      "node_millicores", (json_int_t)o.cli.node_millicores, "warmup_s",
                      (json_int_t)o.warmup_s, "seed", (json_int_t)o.seed, "elapsed_s",
                      round((wall_s() - t0) * 1000) / 1000, "simulated", 1);
        if (!out || json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6)) < 0)
                return 1;
        putchar('\n');
        return ok ? 0 : 1;
}
