/* SPDX-License-Identifier: MIT */
/*
 * sponge-worker-flops — a compute-calibrated stand-in for a neural network.
 *
 * Every item costs a fixed number of real single-precision floating-point operations (a
 * multiply-add counts as two), spread over the worker's thread pool, so a batch's latency
 * genuinely follows batch size, thread count and cgroup CPU quota.
 *
 * The model: L weight matrices W[0..L) of K×K floats, allocated and initialised at start-up
 * (the "loading" time). An item is M = 64 rows of K = 128 activations, seeded from a hash of
 * the item's bytes; each row-block of RB = 8 rows runs P passes of y = clamp(x·W[p mod L],
 * -1, 1) — a blocked GEMM of 2·RB·K² flops per pass. Row-blocks are independent, so the
 * (item, row-block) pairs of a batch are the units handed to the pool: a batch of b items on t
 * threads has 8·b units, and a single item spreads over up to 8 threads.
 *
 * Variants (--variant): the published per-image GFLOPs of the ResNet and YOLOv5 families
 * divided by ONE factor, SPW_FLOPS_SCALE = 8, and their published parameter counts divided by
 * the same factor for the weight memory. Why 8: in this worker the kernel sustains about
 * 13.5 GFLOP/s on one core of the 2-core development machine (measured with the profiler: 16.5
 * ms of cgroup CPU time per resnet18 item), so resnet18 (1.8/8 = 0.225 GFLOP) costs ≈ 17 ms per
 * item on one core — inside the 10–20 ms a small CNN takes on one CPU core — and yolov5x
 * (25.7 GFLOP) ≈ 1.9 s: the largest variant still serves an item per second on two cores, and
 * profiling the whole family stays near twenty minutes.
 *
 * Output per item (≤ 256 bytes): the last min(len, 248) bytes of the input followed by the
 * 8-byte little-endian FNV-1a-64 checksum of the final activations. An input of at most 248
 * bytes is thus echoed whole, and stages chain (the next stage's input is this output; the
 * tail keeps the previous stages' checksums).
 */
#include "pipelines/version.h"
#include "pipelines/worker/worker.h"
#include "pipelines/worker/xorshift.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPW_FLOPS_SCALE 8.0 /* published GFLOPs and params are divided by this (see above) */
#define K               128 /* activation width and weight matrix side */
#define M               64  /* rows per item */
#define RB              8   /* rows per work unit */
#define BLOCKS          (M / RB)
#define ECHO_MAX        248 /* input bytes echoed (the tail) */
#define DIRECT_LAYERS   32  /* weight matrices for --gflops */
#define FLOPS_PER_PASS  (2.0 * M * K * K)

typedef struct variant {
        const char *name;
        double gflops;   /* published, per image */
        double params_m; /* published, millions */
        double accuracy; /* published: ImageNet top-1 (ResNet) or COCO mAP@0.5 (YOLOv5) */
} variant;

/* ResNet: He et al. 2016 GFLOPs, torchvision top-1 and parameter counts. YOLOv5 at 640 px:
 * ultralytics v6.0 release table (FLOPs, params, mAP@0.5 as used by IPA, JSys '24). */
static const variant variants[] = {
    {"resnet18", 1.8, 11.7, 69.8},  {"resnet34", 3.6, 21.8, 73.3},   {"resnet50", 4.1, 25.6, 76.1},
    {"resnet101", 7.8, 44.5, 77.4}, {"resnet152", 11.5, 60.2, 78.3}, {"yolov5n", 4.5, 1.9, 45.7},
    {"yolov5s", 16.5, 7.2, 56.8},   {"yolov5m", 49.0, 21.2, 64.1},   {"yolov5l", 109.1, 46.5, 67.3},
    {"yolov5x", 205.7, 86.7, 68.9},
};

typedef struct model {
        const char *name;
        unsigned layers;
        unsigned passes;
        float *weights; /* layers × K × K, owned */
} model;

typedef struct job {
        const model *m;
        const spw_batch *in;
        uint64_t *block_hash; /* n × BLOCKS */
} job;

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
        const uint8_t *p = data;
        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= 0x100000001b3ull;
        }
        return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ull

/* y = clamp(x · w, -1, 1) for RB rows; the j loop vectorises. */
static void layer(const float *restrict x, const float *restrict w, float *restrict y)
{
        for (int i = 0; i < RB; i++) {
                float acc[K] = {0};
                for (int k = 0; k < K; k++) {
                        float a = x[i * K + k];
                        const float *wr = w + k * K;
                        for (int j = 0; j < K; j++)
                                acc[j] += a * wr[j];
                }
                for (int j = 0; j < K; j++) {
                        float v = acc[j];
                        y[i * K + j] = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
                }
        }
}

static void run_unit(void *arg, size_t index, unsigned thread)
{
        job *jb = arg;
        size_t item = index / BLOCKS, block = index % BLOCKS;
        const spw_input *in = &jb->in->items[item];
        float a[RB * K], b[RB * K];

        uint64_t seed =
            fnv1a(FNV_OFFSET, in->data, in->len) ^ (0x9e3779b97f4a7c15ull * (block + 1));
        if (seed == 0)
                seed = 1;
        for (size_t i = 0; i < RB * K; i++)
                a[i] = xorshift64_unit(&seed);
        float *x = a, *y = b;
        for (unsigned p = 0; p < jb->m->passes; p++) {
                layer(x, jb->m->weights + (size_t)(p % jb->m->layers) * K * K, y);
                float *t = x;
                x = y;
                y = t;
        }
        jb->block_hash[index] = fnv1a(FNV_OFFSET, x, sizeof(a));
}

static int process(const spw_batch *in, spw_outputs *out, void *userdata)
{
        const model *m = userdata;
        job jb = {.m = m, .in = in, .block_hash = calloc(in->n * BLOCKS + 1, sizeof(uint64_t))};

        if (!jb.block_hash)
                return -ENOMEM;
        spw_parallel_for(in->ctx, in->n * BLOCKS, run_unit, &jb);
        for (size_t i = 0; i < in->n; i++) {
                const spw_input *it = &in->items[i];
                size_t echo = it->len < ECHO_MAX ? it->len : ECHO_MAX;
                uint64_t h =
                    fnv1a(FNV_OFFSET, &jb.block_hash[i * BLOCKS], BLOCKS * sizeof(uint64_t));
                uint8_t *o;
                int r = spw_output_alloc(out, i, echo + 8, (void **)&o);
                if (r < 0) {
                        free(jb.block_hash);
                        return r;
                }
                if (echo)
                        memcpy(o, it->data + (it->len - echo), echo);
                for (int k = 0; k < 8; k++)
                        o[echo + k] = (uint8_t)(h >> (8 * k));
        }
        free(jb.block_hash);
        return 0;
}

typedef struct init_job {
        model *m;
} init_job;

/* Initialises layer `index`: uniform weights with variance 1.5²/K (so activations neither
 * vanish nor all saturate), each layer from its own seed so threads don't change the result. */
static void init_layer(void *arg, size_t index, unsigned thread)
{
        init_job *ij = arg;
        float *w = ij->m->weights + index * K * K;
        uint64_t s = 0x2545f4914f6cdd1dull ^ (index + 1) * 0x9e3779b97f4a7c15ull;
        float a = 1.5f * sqrtf(3.0f / K);
        for (size_t i = 0; i < (size_t)K * K; i++)
                w[i] = a * xorshift64_unit(&s);
}

static int init(spw_ctx *ctx, void *userdata)
{
        model *m = userdata;
        m->weights = malloc((size_t)m->layers * K * K * sizeof(float));
        if (!m->weights)
                return -ENOMEM;
        init_job ij = {.m = m};
        spw_parallel_for(ctx, m->layers, init_layer, &ij);
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: sponge-worker-flops --variant NAME | --gflops X [--name NAME]\n"
                "       sponge-worker-flops --list\n"
                "Serves the sponged stage-worker protocol on $SPONGE_SOCKET_FD or "
                "$SPONGE_SOCKET.\nEach item costs the variant's published GFLOPs / %g of "
                "real float arithmetic\n(--gflops X: exactly X GFLOP per item).\n",
                SPW_FLOPS_SCALE);
}

static void list(void)
{
        printf("%-10s %10s %10s %10s %9s\n", "variant", "published", "performed", "params_M",
               "accuracy");
        for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
                printf("%-10s %10.1f %10.4f %10.1f %9.1f\n", variants[i].name, variants[i].gflops,
                       variants[i].gflops / SPW_FLOPS_SCALE, variants[i].params_m,
                       variants[i].accuracy);
        printf("(GFLOP per item; performed = published / %g; params = weights / %g)\n",
               SPW_FLOPS_SCALE, SPW_FLOPS_SCALE);
}

static int parse_gflops(const char *s, double *ret)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v <= 0 || v > 1000)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Fills *ret from argv. Returns 0, 1 when the program should exit 0 (--help/--list), or
 * -EINVAL after printing what is wrong. */
static int parse_args(int argc, char **argv, model *ret)
{
        const variant *v = NULL;
        double gflops = 0;
        const char *name = NULL;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char *val = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(a, "--help") == 0) {
                        usage(stdout);
                        return 1;
                } else if (strcmp(a, "--list") == 0) {
                        list();
                        return 1;
                } else if (strcmp(a, "--variant") == 0 && val) {
                        for (size_t k = 0; k < sizeof(variants) / sizeof(variants[0]); k++)
                                if (strcmp(variants[k].name, val) == 0)
                                        v = &variants[k];
                        if (!v) {
                                fprintf(stderr,
                                        "sponge-worker-flops: unknown variant '%s' "
                                        "(--list shows them)\n",
                                        val);
                                return -EINVAL;
                        }
                        i++;
                } else if (strcmp(a, "--gflops") == 0 && val) {
                        if (parse_gflops(val, &gflops) < 0) {
                                fprintf(stderr,
                                        "sponge-worker-flops: --gflops expects a "
                                        "number in (0, 1000], got '%s'\n",
                                        val);
                                return -EINVAL;
                        }
                        i++;
                } else if (strcmp(a, "--name") == 0 && val && val[0] != '\0') {
                        name = val;
                        i++;
                } else {
                        fprintf(stderr, "sponge-worker-flops: unexpected argument '%s'\n", a);
                        return -EINVAL;
                }
        }
        if ((v != NULL) == (gflops > 0)) {
                fprintf(stderr, "sponge-worker-flops: give exactly one of --variant, --gflops\n");
                return -EINVAL;
        }
        double flops = v ? v->gflops / SPW_FLOPS_SCALE * 1e9 : gflops * 1e9;
        double passes = round(flops / FLOPS_PER_PASS);
        ret->passes = passes < 1 ? 1 : (unsigned)passes;
        if (v) {
                double layers = ceil(v->params_m * 1e6 / SPW_FLOPS_SCALE / (K * K));
                ret->layers = layers < 1 ? 1 : (unsigned)layers;
        } else {
                ret->layers = DIRECT_LAYERS;
        }
        ret->name = name ? name : (v ? v->name : "flops");
        return 0;
}

int main(int argc, char **argv)
{
        model m = {0};
        int r;

        if (sponge_version_requested(argc, argv, "sponge-worker-flops"))
                return 0;
        r = parse_args(argc, argv, &m);
        if (r == 1)
                return 0;
        if (r < 0) {
                usage(stderr);
                return 2;
        }
        spw_worker w = {.name = m.name, .process = process, .init = init, .userdata = &m};
        r = spw_main(&w);
        free(m.weights);
        return r;
}
