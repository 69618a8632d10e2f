/* SPDX-License-Identifier: MIT */
/*
 * sponge-profile — profiles one variant in a real cgroup and writes its `profile` block.
 *
 *   sponge-profile [OPTIONS] -- COMMAND [ARGS...]
 *
 * Runs COMMAND (the variant's argv, as in the pipeline file) as a stage worker in a fresh
 * cgroup below the cgroups root, over the grid --batches × --millicores, measures batch
 * latency p50/p99, fits l(b,c) = γ·b/c + δ·b + ε/c + η and prints a table and R² on stderr.
 * The block {"model": {...}} goes to stdout, or to --out FILE; --report FILE adds the start-up
 * time, R² and every point. Needs root (or a delegated cgroup) with the cpu controller.
 * Exit status: 0 done, 1 failure, 2 usage error.
 */
#include "agent/profiler/profile.h"
#include "pipelines/version.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GRID 64
#define MAX_ENV  64

static void usage(FILE *f)
{
        fprintf(f,
                "usage: sponge-profile [OPTIONS] -- COMMAND [ARGS...]\n"
                "  --batches LIST      batch sizes, comma-separated (default 1,2,4,8)\n"
                "  --millicores LIST   CPU limits (default 500,1000,1500,2000)\n"
                "  --min-reps N        batches measured per point at least (default %u)\n"
                "  --max-reps N        at most (default %u)\n"
                "  --point-ms N        measure each point for at least N ms (default %u)\n"
                "  --warmup N          unmeasured batches per point (default %u)\n"
                "  --item-bytes N      bytes per item, seeded random content (default %u)\n"
                "  --item-file FILE    content of every item (sets its size)\n"
                "  --env KEY=VALUE     extra environment for the worker (repeatable)\n"
                "  --group RELPATH     cgroup below the root (default profile-<pid>)\n"
                "  --cgroup-root PATH  the cgroups root (default: the cgroups module's)\n"
                "  --period-us N       CFS period (default %u, the agent's default)\n"
                "  --boost             give the cgroups root the highest CPU weight while\n"
                "                      profiling (other load cannot take the quota's time);\n"
                "                      use with a dedicated --cgroup-root\n"
                "  --timeout-ms N      per batch and for READY (default %d)\n"
                "  --out FILE          write the profile block there instead of stdout\n"
                "  --report FILE       write the full measurement report (JSON)\n",
                PROF_MIN_REPS_DEFAULT, PROF_MAX_REPS_DEFAULT, PROF_POINT_TIME_DEFAULT / 1000,
                PROF_WARMUP_DEFAULT, PROF_ITEM_BYTES_DEFAULT, CG_PERIOD_DEFAULT_US,
                PROF_TIMEOUT_MS_DEFAULT);
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_list(const char *s, uint32_t max, uint32_t *out, size_t *ret_n)
{
        char buf[1024];
        size_t n = 0;
        if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
                return -EINVAL;
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                unsigned long v;
                if (n == MAX_GRID || parse_ulong(tok, 1, max, &v) < 0)
                        return -EINVAL;
                out[n++] = (uint32_t)v;
        }
        if (n == 0)
                return -EINVAL;
        *ret_n = n;
        return 0;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
        FILE *f = fopen(path, "rbe");
        if (!f)
                return -errno;
        uint8_t *buf = malloc(1 << 20);
        size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
        bool more = fgetc(f) != EOF;
        fclose(f);
        if (!buf)
                return -ENOMEM;
        if (n == 0 || more) {
                free(buf);
                return -EFBIG;
        }
        *ret = buf;
        *ret_len = n;
        return 0;
}

static void progress(const prof_point *p, void *userdata)
{
        fprintf(stderr,
                "  batch %4u  %5u mc  %2u threads  %4u batches  p50 %9.2f ms  p99 %9.2f ms"
                "  cpu %9.2f ms\n",
                p->batch, p->millicores, p->threads, p->n, p->p50_ms, p->p99_ms, p->cpu_ms);
}

static int write_json(json_t *j, const char *path)
{
        int flags = JSON_INDENT(2) | JSON_REAL_PRECISION(6) | JSON_PRESERVE_ORDER;
        if (!path) {
                if (json_dumpf(j, stdout, flags) < 0)
                        return -EIO;
                fputc('\n', stdout);
                return 0;
        }
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        int r = json_dumpf(j, f, flags) < 0 ? -EIO : 0;
        if (r == 0 && fputc('\n', f) == EOF)
                r = -EIO;
        if (fclose(f) != 0 && r == 0)
                r = -EIO;
        return r;
}

int main(int argc, char **argv)
{
        uint32_t batches[MAX_GRID] = {1, 2, 4, 8}, mcs[MAX_GRID] = {500, 1000, 1500, 2000};
        char *env[MAX_ENV + 1] = {0};
        size_t nenv = 0;
        prof_options o = {.batches = batches,
                          .n_batches = 4,
                          .millicores = mcs,
                          .n_millicores = 4,
                          .progress = progress};
        cg_options cgo = {0};
        const char *out = NULL, *report = NULL, *item_file = NULL;
        bool boost = false;
        unsigned long v;
        int i;

        if (sponge_version_requested(argc, argv, "sponge-profile"))
                return 0;
        for (i = 1; i < argc; i++) {
                const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
                bool ok = val != NULL;
                if (strcmp(a, "--") == 0) {
                        i++;
                        break;
                } else if (strcmp(a, "--help") == 0) {
                        usage(stdout);
                        return 0;
                } else if (strcmp(a, "--batches") == 0) {
                        ok = ok && parse_list(val, 65536, batches, &o.n_batches) == 0;
                } else if (strcmp(a, "--millicores") == 0) {
                        ok = ok && parse_list(val, 1024000, mcs, &o.n_millicores) == 0;
                } else if (strcmp(a, "--min-reps") == 0) {
                        ok = ok && parse_ulong(val, 1, 100000, &v) == 0;
                        o.min_reps = (unsigned)v;
                } else if (strcmp(a, "--max-reps") == 0) {
                        ok = ok && parse_ulong(val, 1, 100000, &v) == 0;
                        o.max_reps = (unsigned)v;
                } else if (strcmp(a, "--point-ms") == 0) {
                        ok = ok && parse_ulong(val, 1, 3600000, &v) == 0;
                        o.point_time_us = (uint64_t)v * 1000;
                } else if (strcmp(a, "--warmup") == 0) {
                        ok = ok && parse_ulong(val, 0, 1000, &v) == 0;
                        o.warmup = (unsigned)v;
                } else if (strcmp(a, "--item-bytes") == 0) {
                        ok = ok && parse_ulong(val, 1, 8u << 20, &v) == 0;
                        o.item_bytes = v;
                } else if (strcmp(a, "--boost") == 0) {
                        boost = true;
                        continue; /* takes no value */
                } else if (strcmp(a, "--item-file") == 0) {
                        item_file = val;
                } else if (strcmp(a, "--env") == 0) {
                        ok = ok && strchr(val, '=') && val[0] != '=' && nenv < MAX_ENV;
                        if (ok)
                                env[nenv++] = (char *)val;
                } else if (strcmp(a, "--group") == 0) {
                        o.group = val;
                } else if (strcmp(a, "--cgroup-root") == 0) {
                        cgo.root = val;
                } else if (strcmp(a, "--period-us") == 0) {
                        ok = ok && parse_ulong(val, CG_PERIOD_MIN_US, CG_PERIOD_MAX_US, &v) == 0;
                        cgo.period_us = (uint32_t)v;
                } else if (strcmp(a, "--timeout-ms") == 0) {
                        ok = ok && parse_ulong(val, 1, 3600000, &v) == 0;
                        o.timeout_ms = (int)v;
                } else if (strcmp(a, "--out") == 0) {
                        out = val;
                } else if (strcmp(a, "--report") == 0) {
                        report = val;
                } else {
                        ok = false;
                }
                if (!ok) {
                        fprintf(stderr, "sponge-profile: bad option or value: %s %s\n", a,
                                val ? val : "");
                        usage(stderr);
                        return 2;
                }
                i++;
        }
        if (i >= argc) {
                fprintf(stderr, "sponge-profile: no command after --\n");
                usage(stderr);
                return 2;
        }
        o.argv = argv + i;
        o.env = env;
        uint8_t *item = NULL;
        if (item_file) {
                int r = read_file(item_file, &item, &o.item_bytes);
                if (r < 0) {
                        fprintf(stderr, "sponge-profile: %s: %s\n", item_file,
                                r == -EFBIG ? "empty or larger than 1 MiB" : strerror(-r));
                        return 2;
                }
                o.item_data = item;
        }

        char err[1024] = "";
        cg_ctx *cg = NULL;
        cgo.mode = CG_REQUEST_AUTO;
        int r = cg_open_err(&cgo, &cg, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "sponge-profile: cgroups: %s\n", err);
                free(item);
                return 1;
        }
        fprintf(stderr, "sponge-profile: cgroups %s; profiling", cg_ctx_note(cg));
        for (int k = i; k < argc; k++)
                fprintf(stderr, " %s", argv[k]);
        fputc('\n', stderr);

        char saved[32] = "";
        if (boost) {
                r = prof_boost_weight(cg, saved, sizeof(saved));
                if (r < 0) {
                        fprintf(stderr, "sponge-profile: --boost: %s\n", strerror(-r));
                        cg_ctx_free(cg);
                        free(item);
                        return 1;
                }
        }
        prof_result res;
        r = prof_run(cg, &o, &res, err, sizeof(err));
        if (boost && prof_restore_weight(cg, saved) < 0)
                fprintf(stderr, "sponge-profile: could not restore the weight %s of %s\n", saved,
                        cg_ctx_root_path(cg));
        /* Leaves no empty root behind; refused (and harmless) while an agent has groups in it. */
        (void)cg_ctx_remove_root(cg);
        cg_ctx_free(cg);
        free(item);
        if (r < 0) {
                fprintf(stderr, "sponge-profile: %s\n", err);
                return 1;
        }
        prof_fit fit;
        r = prof_fit_result(&res, &fit, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "sponge-profile: fit: %s\n", err);
                prof_result_done(&res);
                return 1;
        }
        fprintf(stderr, "start-up %.1f ms\n", res.startup_ms);
        fprintf(stderr, "%6s %7s %11s %11s %11s %7s\n", "batch", "mc", "p50_ms", "p99_ms",
                "model_ms", "err%");
        for (size_t k = 0; k < res.n; k++) {
                const prof_point *p = &res.points[k];
                double pred = prof_predict_ms(&fit.model, p->batch, p->millicores);
                fprintf(stderr, "%6u %7u %11.2f %11.2f %11.2f %+7.1f\n", p->batch, p->millicores,
                        p->p50_ms, p->p99_ms, pred, 100.0 * (pred - p->p50_ms) / p->p50_ms);
        }
        fprintf(stderr,
                "model: gamma %.4g  delta %.4g  epsilon %.4g  eta %.4g  margin %.3f%s\n"
                "R^2 %.4f  mean |error| %.1f%%  max |error| %.1f%%  worst p99/model %.2f\n",
                fit.model.gamma, fit.model.delta, fit.model.epsilon, fit.model.eta,
                fit.model.margin, fit.nonneg ? "  (non-negative fit)" : "", fit.r2,
                100 * fit.mean_rel, 100 * fit.max_rel, 1 + fit.worst_tail);

        json_t *block = prof_profile_json(&fit);
        r = block ? write_json(block, out) : -ENOMEM;
        json_decref(block);
        if (r == 0 && report) {
                json_t *rep = prof_report_json(&res, &fit);
                r = rep ? write_json(rep, report) : -ENOMEM;
                json_decref(rep);
        }
        prof_result_done(&res);
        if (r < 0) {
                fprintf(stderr, "sponge-profile: write: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
