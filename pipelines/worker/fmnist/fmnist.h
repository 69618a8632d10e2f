/* SPDX-License-Identifier: MIT */
/*
 * fmnist.h — Fashion-MNIST data and models shared by sponge-worker-fmnist, sponge-fmnist-train
 * and the accuracy test (static library sponge_fmnist, prefix fm_).
 *
 * What it does
 *   Reads the IDX files of Debian's dataset-fashion-mnist (gzip, via zlib), and holds a fully
 *   connected classifier: 784 inputs (pixel/255) → hidden ReLU layers → 10 logits → softmax.
 *   Three sizes: "softmax" (784→10, multinomial logistic regression), "mlp" (784→32→10) and
 *   "wide" (784→256→10). Weights are trained by sponge-fmnist-train and stored in a small
 *   binary file (format below).
 *
 * Weight file format (little-endian)
 *   8 bytes magic "SPFMNIST", u32 version (1), u32 L (layers), u32 dims[L+1] (dims[0] = 784,
 *   dims[L] = 10), then for each layer l: dims[l]×dims[l+1] float32 weights (row-major, one row
 *   per INPUT unit: w[i*out + j] connects input i to output j), then dims[l+1] float32 biases.
 *
 * Determinism
 *   Training and inference use one thread per example and the same operation order whatever
 *   the optimisation level (no float reductions are reassociated, contraction into FMA is off
 *   for these sources), so the same binary on x86-64 regenerates the weights byte for byte.
 *
 * Threads
 *   fm_forward() is reentrant (scratch on the stack); a loaded fm_model is read-only.
 */
#ifndef SPONGE_PIPELINES_WORKER_FMNIST_H
#define SPONGE_PIPELINES_WORKER_FMNIST_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#define FM_PIXELS      784u /* 28 × 28 */
#define FM_CLASSES     10u
#define FM_MAX_LAYERS  3u
#define FM_MAX_WIDTH   512u
#define FM_DATASET_DIR "/usr/share/datasets/fashion-mnist"

/* Images (n × 784 bytes) and labels (n bytes), as stored in the IDX files. */
typedef struct fm_set {
        size_t n;
        uint8_t *images; /* owned */
        uint8_t *labels; /* owned */
} fm_set;

typedef struct fm_layer {
        unsigned in, out;
        float *w; /* in × out (w[i*out + j]: input i → output j), owned */
        float *b; /* out, owned */
} fm_layer;

typedef struct fm_model {
        unsigned layers;
        fm_layer layer[FM_MAX_LAYERS];
} fm_model;

/* "T-shirt/top", "Trouser", ... for class 0..9; NULL outside. */
const char *fm_label_name(unsigned cls);

/*
 * Loads `prefix`-images-idx3-ubyte.gz and `prefix`-labels-idx1-ubyte.gz ("train" or "t10k")
 * from dir. Returns 0, -ENOENT (missing file), -EBADMSG (not the expected IDX layout), -ENOMEM
 * or -EIO; *ret untouched on failure.
 */
int fm_set_load(const char *dir, const char *prefix, fm_set *ret);
/* Frees a set (NULL accepted) and zeroes it. */
void fm_set_free(fm_set *set);

/* The hidden widths of a size name: softmax → none, mlp → 32, wide → 256. Fills dims[0..L]
 * and *ret_layers. Returns 0 or -EINVAL for an unknown name. */
int fm_size_dims(const char *size, unsigned dims[FM_MAX_LAYERS + 1], unsigned *ret_layers);

/* Allocates a model with the given dims, weights zero. Returns 0, -EINVAL or -ENOMEM. */
int fm_model_alloc(const unsigned *dims, unsigned layers, fm_model *ret);
/* Frees a model (NULL accepted) and zeroes it. */
void fm_model_free(fm_model *m);
/* Reads / writes the weight file format above. Load returns 0, -ENOENT, -EBADMSG, -ENOMEM or
 * -EIO (*ret untouched on failure); save returns 0 or a negative errno (file may be partial). */
int fm_model_load(const char *path, fm_model *ret);
int fm_model_save(const fm_model *m, const char *path);

/* Class probabilities (softmax of the logits) of one image of 784 pixel bytes. Returns the
 * most probable class (lowest index on ties) and fills probs[0..9] when probs is not NULL. */
unsigned fm_forward(const fm_model *m, const uint8_t *pixels, float *probs);

/* The two programs' answer to a bad command line: "PROG: bad argument 'ARG'", the usage text,
 * both on stderr; returns 2 (the exit status). */
int fm_bad_argument(const char *prog, const char *usage, const char *arg);
/* The option getopt_long just refused, or whose value the program refused, as "--NAME" (idx:
 * getopt_long's longindex, -1 when it set none; a missing value is found through optopt), or
 * the word itself (an unknown option). Written into buf, which is returned. */
const char *fm_option_name(const struct option *opts, int idx, char *const argv[], char *buf,
                           size_t len);

#endif /* SPONGE_PIPELINES_WORKER_FMNIST_H */
