/* SPDX-License-Identifier: MIT */
/*
 * bench-cli — the command line bench-oracle and sponge-sim (agent/sim) share: --pipeline,
 * --trace, --ghent, --image-bytes, --slo-ms, --node-millicores and --help, read by one getopt
 * loop that hands each program's own options to its callback; then the pipeline file and the
 * Ghent log, loaded the same way. Numbers go through the agent's parsers (agent/util.h) with a
 * range. Strings in bench_cli point into argv.
 */
#pragma once

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipelines/pipeline.h"

typedef struct bench_cli {
        const char *pipeline, *trace, *ghent; /* ghent: NULL, or with image_bytes > 0 */
        uint64_t image_bytes;
        double slo_ms; /* 0: the pipeline's SLO (bench_cli_slo_ms) */
        uint32_t node_millicores;
} bench_cli;

typedef struct bench_cli_spec {
        const char *prog;             /* for messages */
        const struct option *options; /* the program's own, ending in {0}; values below 256 */
        int (*option)(void *ud, int c, const char *arg); /* one of them: 0, or < 0 (bad value) */
        void (*usage)(FILE *f);
        uint32_t node_millicores_max;
} bench_cli_spec;

/* s as a finite number (_num) or a whole number (_uint) within [lo, hi]. Returns 0 or -EINVAL;
 * *ret untouched on failure. */
int bench_parse_num(const char *s, double lo, double hi, double *ret);
int bench_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *ret);

/* Parses argv, the program's own options into ud through s->option (node_millicores 2000 unless
 * given). --help prints the usage on stdout and exits 0. Returns 0, or -EINVAL after a message on
 * stderr: the option with a bad value, or the usage when an argument is missing or left over
 * (--pipeline and --trace are required). */
int bench_cli_parse(const bench_cli_spec *s, void *ud, int argc, char **argv, bench_cli *ret);

/* Loads the pipeline file and, with --ghent, the network ms of an image on each second of the
 * log (*ret_net NULL otherwise). Returns 0 or a negative errno with a message in err. */
int bench_cli_load(const bench_cli *o, pl_pipeline **ret_p, double **ret_net, size_t *ret_n_net,
                   char *err, size_t errlen);

/* --slo-ms, or the pipeline's SLO. */
double bench_cli_slo_ms(const bench_cli *o, const pl_pipeline *p);
