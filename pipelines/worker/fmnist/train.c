/* SPDX-License-Identifier: MIT */
/*
 * sponge-fmnist-train — trains one size of the Fashion-MNIST classifier (fmnist.h) with a
 * fixed seed and writes its weight file.
 *
 *   sponge-fmnist-train --size softmax|mlp|wide --out FILE [--data DIR] [--seed N]
 *
 * Mini-batch SGD with momentum on the softmax cross-entropy, on the 60,000 training images
 * (pixels / 255), batches of 32, one thread; learning rate multiplied by 0.8 after each epoch.
 * Initial weights: He-uniform (U(±sqrt(6/in)), He et al., ICCV 2015) for ReLU layers,
 * Glorot-uniform (U(±sqrt(6/(in+out))), Glorot & Bengio, AISTATS 2010) for the output layer;
 * a xorshift64 generator seeded by --seed (default 1) draws them and the per-epoch shuffles, so
 * the same binary writes the same file byte for byte. Prints, per epoch, the mean training
 * loss and the accuracy on the 10,000 test images (which are never trained on).
 */
#include "pipelines/worker/fmnist/fmnist.h"
#include "pipelines/version.h"
#include "pipelines/worker/xorshift.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>

#define BATCH    32u
#define MOMENTUM 0.9f
#define LR_DECAY 0.8f

typedef struct hyper {
        const char *size;
        unsigned epochs;
        float lr;
} hyper;

static const hyper hypers[] = {
    {"softmax", 15, 0.01f},
    {"mlp", 15, 0.02f},
    {"wide", 15, 0.02f},
};

typedef struct trainer {
        fm_model m;
        fm_model grad; /* summed over the batch */
        fm_model vel;  /* momentum */
        float act[FM_MAX_LAYERS + 1][FM_MAX_WIDTH > FM_PIXELS ? FM_MAX_WIDTH : FM_PIXELS];
        float delta[FM_MAX_LAYERS + 1][FM_MAX_WIDTH];
} trainer;

static void init_weights(fm_model *m, uint64_t *seed)
{
        for (unsigned l = 0; l < m->layers; l++) {
                fm_layer *ly = &m->layer[l];
                bool last = l + 1 == m->layers;
                float a =
                    last ? sqrtf(6.0f / (float)(ly->in + ly->out)) : sqrtf(6.0f / (float)ly->in);
                for (size_t i = 0; i < (size_t)ly->in * ly->out; i++)
                        ly->w[i] = a * xorshift64_unit(seed);
        }
}

static void zero_model(fm_model *m)
{
        for (unsigned l = 0; l < m->layers; l++) {
                fm_layer *ly = &m->layer[l];
                memset(ly->w, 0, (size_t)ly->in * ly->out * sizeof(float));
                memset(ly->b, 0, ly->out * sizeof(float));
        }
}

/* Forward + backward of one example, adding its gradient; returns its loss. */
static float example(trainer *t, const uint8_t *pixels, unsigned label)
{
        fm_model *m = &t->m;
        for (unsigned i = 0; i < FM_PIXELS; i++)
                t->act[0][i] = (float)pixels[i] / 255.0f;
        for (unsigned l = 0; l < m->layers; l++) {
                const fm_layer *ly = &m->layer[l];
                float *z = t->act[l + 1];
                memcpy(z, ly->b, ly->out * sizeof(float));
                for (unsigned i = 0; i < ly->in; i++) {
                        float ai = t->act[l][i];
                        if (ai == 0.0f)
                                continue;
                        const float *wr = ly->w + (size_t)i * ly->out;
                        for (unsigned j = 0; j < ly->out; j++)
                                z[j] += ai * wr[j];
                }
                if (l + 1 < m->layers)
                        for (unsigned j = 0; j < ly->out; j++)
                                z[j] = z[j] > 0.0f ? z[j] : 0.0f;
        }
        /* Softmax cross-entropy: dL/dz = p − onehot. */
        float *z = t->act[m->layers], *d = t->delta[m->layers];
        float mx = z[0], sum = 0.0f;
        for (unsigned j = 1; j < FM_CLASSES; j++)
                mx = z[j] > mx ? z[j] : mx;
        for (unsigned j = 0; j < FM_CLASSES; j++) {
                d[j] = expf(z[j] - mx);
                sum += d[j];
        }
        for (unsigned j = 0; j < FM_CLASSES; j++)
                d[j] /= sum;
        float loss = -logf(d[label] > 1e-30f ? d[label] : 1e-30f);
        d[label] -= 1.0f;

        for (unsigned l = m->layers; l-- > 0;) {
                const fm_layer *ly = &m->layer[l];
                fm_layer *g = &t->grad.layer[l];
                const float *dl = t->delta[l + 1];
                for (unsigned j = 0; j < ly->out; j++)
                        g->b[j] += dl[j];
                for (unsigned i = 0; i < ly->in; i++) {
                        float ai = t->act[l][i];
                        if (ai == 0.0f)
                                continue;
                        float *gr = g->w + (size_t)i * ly->out;
                        for (unsigned j = 0; j < ly->out; j++)
                                gr[j] += ai * dl[j];
                }
                if (l == 0)
                        break;
                /* δ of the hidden layer below, through its ReLU (zero where inactive). */
                float *dp = t->delta[l];
                for (unsigned i = 0; i < ly->in; i++) {
                        float s = 0.0f;
                        if (t->act[l][i] > 0.0f) {
                                const float *wr = ly->w + (size_t)i * ly->out;
                                for (unsigned j = 0; j < ly->out; j++)
                                        s += wr[j] * dl[j];
                        }
                        dp[i] = s;
                }
        }
        return loss;
}

static void update(trainer *t, float lr, unsigned batch)
{
        for (unsigned l = 0; l < t->m.layers; l++) {
                fm_layer *w = &t->m.layer[l], *g = &t->grad.layer[l], *v = &t->vel.layer[l];
                size_t nw = (size_t)w->in * w->out;
                float scale = 1.0f / (float)batch;
                for (size_t i = 0; i < nw; i++) {
                        v->w[i] = MOMENTUM * v->w[i] + g->w[i] * scale;
                        w->w[i] -= lr * v->w[i];
                }
                for (unsigned j = 0; j < w->out; j++) {
                        v->b[j] = MOMENTUM * v->b[j] + g->b[j] * scale;
                        w->b[j] -= lr * v->b[j];
                }
        }
        zero_model(&t->grad);
}

static double accuracy(const fm_model *m, const fm_set *s)
{
        size_t right = 0;
        for (size_t i = 0; i < s->n; i++)
                right += fm_forward(m, s->images + i * FM_PIXELS, NULL) == s->labels[i];
        return 100.0 * (double)right / (double)s->n;
}

static int parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_lr(const char *s, float *ret)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !(v > 0 && v <= 10))
                return -EINVAL;
        *ret = (float)v;
        return 0;
}

static const char usage_text[] =
    "usage: sponge-fmnist-train --size softmax|mlp|wide --out FILE [--data DIR] "
    "[--seed N]\n"
    "       [--epochs N] [--lr X]   (defaults per size: the committed weights)\n";

static int bad_argument(const char *arg)
{
        return fm_bad_argument("sponge-fmnist-train", usage_text, arg);
}

static int bad_option(const struct option *opts, int idx, char *const argv[])
{
        char name[64];
        return bad_argument(fm_option_name(opts, idx, argv, name, sizeof(name)));
}

static int train(const hyper *h, const char *data, uint64_t seed, const char *out)
{
        unsigned dims[FM_MAX_LAYERS + 1], layers;
        fm_set tr = {0}, te = {0};
        trainer *t = calloc(1, sizeof(*t));
        size_t *order = NULL;
        int r = -ENOMEM;

        if (!t)
                goto out;
        fm_size_dims(h->size, dims, &layers);
        r = fm_set_load(data, "train", &tr);
        if (r == 0)
                r = fm_set_load(data, "t10k", &te);
        if (r < 0) {
                fprintf(stderr, "sponge-fmnist-train: cannot load %s: %s\n", data, strerror(-r));
                goto out;
        }
        r = fm_model_alloc(dims, layers, &t->m);
        if (r == 0)
                r = fm_model_alloc(dims, layers, &t->grad);
        if (r == 0)
                r = fm_model_alloc(dims, layers, &t->vel);
        order = malloc(tr.n * sizeof(*order));
        if (r < 0 || !order) {
                r = -ENOMEM;
                fprintf(stderr, "sponge-fmnist-train: out of memory\n");
                goto out;
        }
        uint64_t rng = seed ? seed : 1;
        init_weights(&t->m, &rng);
        for (size_t i = 0; i < tr.n; i++)
                order[i] = i;
        float lr = h->lr;
        for (unsigned e = 0; e < h->epochs; e++) {
                for (size_t i = tr.n - 1; i > 0; i--) { /* Fisher-Yates */
                        size_t j = xorshift64(&rng) % (i + 1);
                        size_t tmp = order[i];
                        order[i] = order[j];
                        order[j] = tmp;
                }
                double loss = 0;
                for (size_t i = 0; i < tr.n; i += BATCH) {
                        size_t end = i + BATCH < tr.n ? i + BATCH : tr.n;
                        for (size_t k = i; k < end; k++)
                                loss += example(t, tr.images + order[k] * FM_PIXELS,
                                                tr.labels[order[k]]);
                        update(t, lr, (unsigned)(end - i));
                }
                printf("%s epoch %2u  lr %.4f  train loss %.4f  test accuracy %.2f%%\n", h->size,
                       e + 1, (double)lr, loss / (double)tr.n, accuracy(&t->m, &te));
                fflush(stdout);
                lr *= LR_DECAY;
        }
        r = fm_model_save(&t->m, out);
        if (r < 0)
                fprintf(stderr, "sponge-fmnist-train: cannot write %s: %s\n", out, strerror(-r));
out:
        free(order);
        if (t) {
                fm_model_free(&t->m);
                fm_model_free(&t->grad);
                fm_model_free(&t->vel);
        }
        free(t);
        fm_set_free(&tr);
        fm_set_free(&te);
        return r;
}

int main(int argc, char **argv)
{
        const char *size = NULL, *out = NULL, *data = FM_DATASET_DIR;
        uint64_t seed = 1, epochs = 0;
        float lr = 0;

        if (sponge_version_requested(argc, argv, "sponge-fmnist-train"))
                return 0;
        static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'},       {"size", required_argument, NULL, 'z'},
            {"out", required_argument, NULL, 'o'},  {"data", required_argument, NULL, 'd'},
            {"seed", required_argument, NULL, 's'}, {"epochs", required_argument, NULL, 'e'},
            {"lr", required_argument, NULL, 'l'},   {0},
        };
        opterr = 0;
        for (int c, idx = -1; (c = getopt_long(argc, argv, "", opts, &idx)) != -1; idx = -1) {
                switch (c) {
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                case 'z':
                        size = optarg;
                        break;
                case 'o':
                        out = optarg;
                        break;
                case 'd':
                        data = optarg;
                        break;
                case 's':
                        if (parse_u64(optarg, &seed) < 0)
                                return bad_option(opts, idx, argv);
                        break;
                case 'e':
                        if (parse_u64(optarg, &epochs) < 0 || epochs < 1 || epochs > 1000)
                                return bad_option(opts, idx, argv);
                        break;
                case 'l':
                        if (parse_lr(optarg, &lr) < 0)
                                return bad_option(opts, idx, argv);
                        break;
                default:
                        return bad_option(opts, idx, argv);
                }
        }
        if (optind < argc)
                return bad_argument(argv[optind]);
        const hyper *h = NULL;
        for (size_t k = 0; size && k < sizeof(hypers) / sizeof(hypers[0]); k++)
                if (strcmp(hypers[k].size, size) == 0)
                        h = &hypers[k];
        if (!h || !out) {
                fprintf(stderr, "sponge-fmnist-train: --size softmax|mlp|wide and --out are "
                                "required\n");
                fputs(usage_text, stderr);
                return 2;
        }
        hyper hp = *h;
        if (epochs)
                hp.epochs = (unsigned)epochs;
        if (lr > 0)
                hp.lr = lr;
        return train(&hp, data, seed, out) < 0 ? 1 : 0;
}
