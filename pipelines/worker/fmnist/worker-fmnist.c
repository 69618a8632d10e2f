/* SPDX-License-Identifier: MIT */
/*
 * sponge-worker-fmnist — a real Fashion-MNIST classifier as a sponged stage worker.
 *
 *   sponge-worker-fmnist --size softmax|mlp|wide [--weights FILE] [--name NAME]
 *
 * Input per item: exactly 784 bytes, the 28×28 grey pixels row by row (0 = background), as in
 * the IDX files. Output per item: UTF-8 JSON text without a newline,
 *   {"class":3,"label":"Dress","score":0.9132}
 * class = the most probable class 0..9, label = its Fashion-MNIST name, score = its softmax
 * probability (4 decimals). An input of another length gets an item error.
 *
 * Loading: the weight file (fmnist.h) of the size, from --weights, else
 * $SPONGE_FMNIST_WEIGHTS_DIR/SIZE.bin, else the installed data directory, else the source tree.
 * Items of a batch are classified in parallel on the worker's thread pool.
 */
#include "pipelines/worker/fmnist/fmnist.h"
#include "pipelines/worker/worker.h"
#include "pipelines/version.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define OUTPUT_MAX 96

typedef struct state {
        const char *size;
        const char *weights; /* explicit --weights, or NULL */
        fm_model model;
} state;

typedef struct job {
        const state *st;
        const spw_batch *in;
        spw_outputs *out;
} job;

static void classify(void *arg, size_t i, unsigned thread)
{
        job *jb = arg;
        const spw_input *it = &jb->in->items[i];
        float probs[FM_CLASSES];
        char text[OUTPUT_MAX];

        if (it->len != FM_PIXELS) {
                spw_output_error(jb->out, i, "expected %u pixel bytes, got %zu", FM_PIXELS,
                                 it->len);
                return;
        }
        unsigned cls = fm_forward(&jb->st->model, it->data, probs);
        int n = snprintf(text, sizeof(text), "{\"class\":%u,\"label\":\"%s\",\"score\":%.4f}", cls,
                         fm_label_name(cls), (double)probs[cls]);
        if (n < 0 || (size_t)n >= sizeof(text)) {
                spw_output_error(jb->out, i, "output formatting failed");
                return;
        }
        /* On -ENOMEM the item stays unset and the library reports it as an item error. */
        (void)spw_output_set(jb->out, i, text, (size_t)n);
}

static int process(const spw_batch *in, spw_outputs *out, void *userdata)
{
        job jb = {.st = userdata, .in = in, .out = out};
        spw_parallel_for(in->ctx, in->n, classify, &jb);
        return 0;
}

static int try_load(state *st, const char *dir)
{
        char path[4096];
        int n = snprintf(path, sizeof(path), "%s/%s.bin", dir, st->size);
        if (n < 0 || (size_t)n >= sizeof(path))
                return -ENAMETOOLONG;
        return fm_model_load(path, &st->model);
}

static int load(state *st, const char **ret_where)
{
        if (st->weights) {
                *ret_where = st->weights;
                return fm_model_load(st->weights, &st->model);
        }
        const char *env = getenv("SPONGE_FMNIST_WEIGHTS_DIR");
        if (env && *env) {
                *ret_where = env;
                return try_load(st, env);
        }
        *ret_where = SPONGE_FMNIST_DATADIR;
        int r = try_load(st, SPONGE_FMNIST_DATADIR);
        if (r == -ENOENT) {
                *ret_where = SPONGE_FMNIST_SRCDIR;
                r = try_load(st, SPONGE_FMNIST_SRCDIR);
        }
        return r;
}

/* Loads the weights and checks they have the shape of the requested size. The reason of a
 * failure goes to stderr (this is the program, not the library: the agent keeps its log). */
static int init(spw_ctx *ctx, void *userdata)
{
        state *st = userdata;
        unsigned dims[FM_MAX_LAYERS + 1], layers;
        const char *where;

        int r = load(st, &where);
        if (r < 0) {
                fprintf(stderr, "sponge-worker-fmnist: cannot load %s weights from %s: %s\n",
                        st->size, where, strerror(-r));
                return r;
        }
        fm_size_dims(st->size, dims, &layers);
        bool same = st->model.layers == layers;
        for (unsigned l = 0; same && l < layers; l++)
                same = st->model.layer[l].in == dims[l] && st->model.layer[l].out == dims[l + 1];
        if (!same) {
                fprintf(stderr, "sponge-worker-fmnist: weights from %s are not a '%s' model\n",
                        where, st->size);
                return -EBADMSG;
        }
        return 0;
}

static const char usage_text[] =
    "usage: sponge-worker-fmnist --size softmax|mlp|wide [--weights FILE] "
    "[--name NAME]\n"
    "Serves the sponged stage-worker protocol on $SPONGE_SOCKET_FD or "
    "$SPONGE_SOCKET;\ninput 784 pixel bytes, output "
    "{\"class\":N,\"label\":\"...\",\"score\":P}.\n";

static int bad_argument(const char *arg)
{
        return fm_bad_argument("sponge-worker-fmnist", usage_text, arg);
}

static int bad_option(const struct option *opts, int idx, char *const argv[])
{
        char name[64];
        return bad_argument(fm_option_name(opts, idx, argv, name, sizeof(name)));
}

int main(int argc, char **argv)
{
        state st = {0};
        const char *name = NULL;
        unsigned dims[FM_MAX_LAYERS + 1], layers;

        if (sponge_version_requested(argc, argv, "sponge-worker-fmnist"))
                return 0;
        static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'},
            {"size", required_argument, NULL, 'z'},
            {"weights", required_argument, NULL, 'w'},
            {"name", required_argument, NULL, 'n'},
            {0},
        };
        opterr = 0;
        for (int c, idx = -1; (c = getopt_long(argc, argv, "", opts, &idx)) != -1; idx = -1) {
                if (c == 'h') {
                        fputs(usage_text, stdout);
                        return 0;
                } else if (c == 'z') {
                        st.size = optarg;
                } else if (c == 'w' && *optarg) {
                        st.weights = optarg;
                } else if (c == 'n' && *optarg) {
                        name = optarg;
                } else {
                        return bad_option(opts, idx, argv);
                }
        }
        if (optind < argc)
                return bad_argument(argv[optind]);
        if (!st.size || fm_size_dims(st.size, dims, &layers) < 0) {
                fprintf(stderr, "sponge-worker-fmnist: --size must be softmax, mlp or wide\n");
                fputs(usage_text, stderr);
                return 2;
        }
        char defname[32];
        snprintf(defname, sizeof(defname), "fmnist-%s", st.size); /* fits: sizes are short */
        spw_worker w = {
            .name = name ? name : defname, .process = process, .init = init, .userdata = &st};
        int r = spw_main(&w);
        fm_model_free(&st.model);
        return r;
}
