/* SPDX-License-Identifier: MIT */
/* bench-cli.c — see bench-cli.h. */
#include "tests/bench/bench-cli.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"
#include "tests/bench/loadgen.h"

/* The shared options that take a value: getopt_long returns OPT_FIRST + their index here. */
#define OPT_FIRST 256
static const char *const shared_names[] = {"pipeline",    "trace",  "ghent",
                                           "image-bytes", "slo-ms", "node-millicores"};
enum { OPT_PIPELINE = OPT_FIRST, OPT_TRACE, OPT_GHENT, OPT_IMAGE_BYTES, OPT_SLO_MS, OPT_NODE_MC };

#define MAX_OPTIONS 32

int bench_parse_num(const char *s, double lo, double hi, double *ret)
{
        double v;

        if (parse_double(s, &v) < 0 || v < lo || v > hi)
                return -EINVAL;
        *ret = v;
        return 0;
}

int bench_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret)
{
        uint64_t v;

        if (parse_u64(s, &v) < 0 || v < lo || v > hi)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The shared options first (--help last of them), then the program's; the {0} end included. */
static void merge_options(const struct option *own, struct option *ret)
{
        size_t n = 0;

        for (; n < ELEMENTSOF(shared_names); n++)
                ret[n] =
                    (struct option){shared_names[n], required_argument, NULL, OPT_FIRST + (int)n};
        ret[n++] = (struct option){"help", no_argument, NULL, 'h'};
        for (size_t i = 0; own[i].name; i++) {
                assert(n < MAX_OPTIONS - 1 && own[i].val < OPT_FIRST);
                ret[n++] = own[i];
        }
        ret[n] = (struct option){0};
}

/* One option: a shared one, or the program's through its callback. */
static int handle(const bench_cli_spec *s, void *ud, bench_cli *o, int c, const char *arg)
{
        uint64_t u = 0;
        int r;

        switch (c) {
        case OPT_PIPELINE:
        case OPT_TRACE:
        case OPT_GHENT:
                *(c == OPT_PIPELINE ? &o->pipeline : c == OPT_TRACE ? &o->trace : &o->ghent) = arg;
                return 0;
        case OPT_IMAGE_BYTES:
                return bench_parse_uint(arg, 1, UINT32_MAX, &o->image_bytes);
        case OPT_SLO_MS:
                return bench_parse_num(arg, 1, 3600000, &o->slo_ms);
        case OPT_NODE_MC:
                r = bench_parse_uint(arg, 10, s->node_millicores_max, &u);
                o->node_millicores = r < 0 ? o->node_millicores : (uint32_t)u;
                return r;
        case 'h':
                s->usage(stdout);
                exit(0);
        default:
                return s->option(ud, c, arg);
        }
}

int bench_cli_parse(const bench_cli_spec *s, void *ud, int argc, char **argv, bench_cli *ret)
{
        struct option lo[MAX_OPTIONS];
        bench_cli o = {.node_millicores = 2000};
        int c, li = 0;

        merge_options(s->options, lo);
        while ((c = getopt_long(argc, argv, "h", lo, &li)) != -1) {
                if (c == '?')
                        return -EINVAL;
                if (handle(s, ud, &o, c, optarg) < 0) {
                        fprintf(stderr, "%s: bad value for --%s: %s\n", s->prog, lo[li].name,
                                optarg);
                        return -EINVAL;
                }
        }
        if (optind != argc || !o.pipeline || !o.trace || !!o.ghent != (o.image_bytes > 0)) {
                s->usage(stderr);
                return -EINVAL;
        }
        *ret = o;
        return 0;
}

int bench_cli_load(const bench_cli *o, pl_pipeline **ret_p, double **ret_net, size_t *ret_n_net,
                   char *err, size_t errlen)
{
        _cleanup_pl_pipeline_ pl_pipeline *p = NULL;
        double *net = NULL;
        size_t n_net = 0;
        int r;

        r = pl_load_file(o->pipeline, &p, err, errlen);
        if (r == 0 && o->ghent)
                r = lg_ghent_load(o->ghent, o->image_bytes, &net, &n_net, err, errlen);
        if (r < 0)
                return r;
        *ret_p = TAKE_PTR(p);
        *ret_net = net;
        *ret_n_net = n_net;
        return 0;
}

double bench_cli_slo_ms(const bench_cli *o, const pl_pipeline *p)
{
        return o->slo_ms > 0 ? o->slo_ms : (double)p->slo_us / 1000.0;
}
