/* SPDX-License-Identifier: MIT */
/* Fashion-MNIST IDX reading and the fully connected classifier; see fmnist.h. */
#include "pipelines/worker/fmnist/fmnist.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the weight file is written with the host's float layout: little-endian only"
#endif

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned byte, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned byte, 1 dimension */
#define WEIGHTS_MAGIC    "SPFMNIST"
#define WEIGHTS_VERSION  1u

static const char *const label_names[FM_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

const char *fm_label_name(unsigned cls)
{
        return cls < FM_CLASSES ? label_names[cls] : NULL;
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads exactly len bytes from a gzip stream: 0, -EBADMSG (short) or -EIO. */
static int gz_read_all(gzFile f, void *buf, size_t len)
{
        uint8_t *p = buf;
        while (len > 0) {
                unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
                int r = gzread(f, p, chunk);
                if (r < 0)
                        return -EIO;
                if (r == 0)
                        return -EBADMSG;
                p += r;
                len -= (size_t)r;
        }
        return 0;
}

static gzFile gz_open(const char *dir, const char *prefix, const char *suffix, int *ret_err)
{
        char path[4096];
        int n = snprintf(path, sizeof(path), "%s/%s-%s", dir, prefix, suffix);
        if (n < 0 || (size_t)n >= sizeof(path)) {
                *ret_err = -ENAMETOOLONG;
                return NULL;
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                *ret_err = -errno;
                return NULL;
        }
        gzFile f = gzdopen(fd, "rb");
        if (!f) {
                close(fd);
                *ret_err = -ENOMEM;
        }
        return f;
}

/* Reads an IDX file of `dims` dimensions; returns the item count and the payload. */
static int idx_load(const char *dir, const char *prefix, const char *suffix, uint32_t magic,
                    unsigned dims, size_t item_size, size_t *ret_n, uint8_t **ret_data)
{
        int r = 0;
        gzFile f = gz_open(dir, prefix, suffix, &r);
        if (!f)
                return r;
        uint8_t head[16];
        r = gz_read_all(f, head, 4 + 4 * dims);
        if (r < 0)
                goto out;
        size_t n = be32(head + 4);
        size_t size = 1;
        for (unsigned d = 1; d < dims; d++)
                size *= be32(head + 4 + 4 * d);
        if (be32(head) != magic || size != item_size || n == 0 || n > 1000000) {
                r = -EBADMSG;
                goto out;
        }
        uint8_t *data = malloc(n * item_size);
        if (!data) {
                r = -ENOMEM;
                goto out;
        }
        r = gz_read_all(f, data, n * item_size);
        if (r < 0) {
                free(data);
                goto out;
        }
        *ret_n = n;
        *ret_data = data;
out:
        gzclose(f);
        return r;
}

int fm_set_load(const char *dir, const char *prefix, fm_set *ret)
{
        size_t ni, nl;
        uint8_t *images, *labels;
        int r = idx_load(dir, prefix, "images-idx3-ubyte.gz", IDX_IMAGES_MAGIC, 3, FM_PIXELS, &ni,
                         &images);
        if (r < 0)
                return r;
        r = idx_load(dir, prefix, "labels-idx1-ubyte.gz", IDX_LABELS_MAGIC, 1, 1, &nl, &labels);
        if (r < 0) {
                free(images);
                return r;
        }
        if (ni != nl) {
                free(images);
                free(labels);
                return -EBADMSG;
        }
        for (size_t i = 0; i < nl; i++)
                if (labels[i] >= FM_CLASSES) {
                        free(images);
                        free(labels);
                        return -EBADMSG;
                }
        *ret = (fm_set){.n = ni, .images = images, .labels = labels};
        return 0;
}

void fm_set_free(fm_set *set)
{
        if (!set)
                return;
        free(set->images);
        free(set->labels);
        *set = (fm_set){0};
}

int fm_size_dims(const char *size, unsigned dims[FM_MAX_LAYERS + 1], unsigned *ret_layers)
{
        unsigned hidden;
        if (strcmp(size, "softmax") == 0)
                hidden = 0;
        else if (strcmp(size, "mlp") == 0)
                hidden = 32;
        else if (strcmp(size, "wide") == 0)
                hidden = 256;
        else
                return -EINVAL;
        dims[0] = FM_PIXELS;
        if (hidden == 0) {
                dims[1] = FM_CLASSES;
                *ret_layers = 1;
        } else {
                dims[1] = hidden;
                dims[2] = FM_CLASSES;
                *ret_layers = 2;
        }
        return 0;
}

void fm_model_free(fm_model *m)
{
        if (!m)
                return;
        for (unsigned l = 0; l < m->layers; l++) {
                free(m->layer[l].w);
                free(m->layer[l].b);
        }
        *m = (fm_model){0};
}

int fm_model_alloc(const unsigned *dims, unsigned layers, fm_model *ret)
{
        fm_model m = {0};
        if (layers < 1 || layers > FM_MAX_LAYERS || dims[0] != FM_PIXELS ||
            dims[layers] != FM_CLASSES)
                return -EINVAL;
        for (unsigned l = 1; l < layers; l++)
                if (dims[l] < 1 || dims[l] > FM_MAX_WIDTH)
                        return -EINVAL;
        for (unsigned l = 0; l < layers; l++) {
                fm_layer *ly = &m.layer[l];
                ly->in = dims[l];
                ly->out = dims[l + 1];
                ly->w = calloc((size_t)ly->in * ly->out, sizeof(float));
                ly->b = calloc(ly->out, sizeof(float));
                m.layers = l + 1;
                if (!ly->w || !ly->b) {
                        fm_model_free(&m);
                        return -ENOMEM;
                }
        }
        *ret = m;
        return 0;
}

static int read_exact(FILE *f, void *buf, size_t len)
{
        if (fread(buf, 1, len, f) != len)
                return ferror(f) ? -EIO : -EBADMSG;
        return 0;
}

int fm_model_load(const char *path, fm_model *ret)
{
        FILE *f = fopen(path, "rbe");
        if (!f)
                return -errno;
        uint8_t head[16];
        uint32_t dims32[FM_MAX_LAYERS + 1];
        unsigned dims[FM_MAX_LAYERS + 1];
        fm_model m = {0};
        int r = read_exact(f, head, sizeof(head));
        if (r < 0)
                goto out;
        uint32_t version, layers;
        memcpy(&version, head + 8, 4);
        memcpy(&layers, head + 12, 4);
        if (memcmp(head, WEIGHTS_MAGIC, 8) != 0 || version != WEIGHTS_VERSION || layers < 1 ||
            layers > FM_MAX_LAYERS) {
                r = -EBADMSG;
                goto out;
        }
        r = read_exact(f, dims32, (layers + 1) * sizeof(uint32_t));
        if (r < 0)
                goto out;
        for (unsigned l = 0; l <= layers; l++)
                dims[l] = dims32[l];
        r = fm_model_alloc(dims, layers, &m);
        if (r == -EINVAL)
                r = -EBADMSG;
        if (r < 0)
                goto out;
        for (unsigned l = 0; l < layers && r == 0; l++) {
                fm_layer *ly = &m.layer[l];
                r = read_exact(f, ly->w, (size_t)ly->in * ly->out * sizeof(float));
                if (r == 0)
                        r = read_exact(f, ly->b, ly->out * sizeof(float));
        }
        if (r == 0 && fgetc(f) != EOF)
                r = -EBADMSG; /* trailing bytes: not a file we wrote */
        for (unsigned l = 0; l < layers && r == 0; l++) {
                const fm_layer *ly = &m.layer[l];
                for (size_t i = 0; i < (size_t)ly->in * ly->out; i++)
                        if (!isfinite(ly->w[i]))
                                r = -EBADMSG;
        }
        if (r < 0) {
                fm_model_free(&m);
                goto out;
        }
        *ret = m;
out:
        fclose(f);
        return r;
}

int fm_model_save(const fm_model *m, const char *path)
{
        FILE *f = fopen(path, "wbe");
        if (!f)
                return -errno;
        uint32_t version = WEIGHTS_VERSION, layers = m->layers;
        bool ok = fwrite(WEIGHTS_MAGIC, 1, 8, f) == 8 && fwrite(&version, 4, 1, f) == 1 &&
                  fwrite(&layers, 4, 1, f) == 1;
        uint32_t d = m->layer[0].in;
        ok = ok && fwrite(&d, 4, 1, f) == 1;
        for (unsigned l = 0; l < m->layers && ok; l++) {
                d = m->layer[l].out;
                ok = fwrite(&d, 4, 1, f) == 1;
        }
        for (unsigned l = 0; l < m->layers && ok; l++) {
                const fm_layer *ly = &m->layer[l];
                size_t nw = (size_t)ly->in * ly->out;
                ok = fwrite(ly->w, sizeof(float), nw, f) == nw &&
                     fwrite(ly->b, sizeof(float), ly->out, f) == ly->out;
        }
        if (fclose(f) != 0)
                ok = false;
        return ok ? 0 : -EIO;
}

unsigned fm_forward(const fm_model *m, const uint8_t *pixels, float *probs)
{
        float a[FM_MAX_WIDTH > FM_PIXELS ? FM_MAX_WIDTH : FM_PIXELS];
        float z[FM_MAX_WIDTH];

        for (unsigned i = 0; i < FM_PIXELS; i++)
                a[i] = (float)pixels[i] / 255.0f;
        for (unsigned l = 0; l < m->layers; l++) {
                const fm_layer *ly = &m->layer[l];
                memcpy(z, ly->b, ly->out * sizeof(float));
                /* z += a_i · W[i,:] — element-wise, so the order per output is fixed; zero
                 * inputs (background pixels, inactive ReLUs) are skipped. */
                for (unsigned i = 0; i < ly->in; i++) {
                        float ai = a[i];
                        if (ai == 0.0f)
                                continue;
                        const float *wr = ly->w + (size_t)i * ly->out;
                        for (unsigned j = 0; j < ly->out; j++)
                                z[j] += ai * wr[j];
                }
                bool last = l + 1 == m->layers;
                for (unsigned j = 0; j < ly->out; j++)
                        a[j] = last || z[j] > 0.0f ? z[j] : 0.0f;
        }
        unsigned best = 0;
        for (unsigned j = 1; j < FM_CLASSES; j++)
                if (a[j] > a[best])
                        best = j;
        if (probs) {
                float sum = 0.0f;
                for (unsigned j = 0; j < FM_CLASSES; j++) {
                        probs[j] = expf(a[j] - a[best]);
                        sum += probs[j];
                }
                for (unsigned j = 0; j < FM_CLASSES; j++)
                        probs[j] /= sum;
        }
        return best;
}

int fm_bad_argument(const char *prog, const char *usage, const char *arg)
{
        fprintf(stderr, "%s: bad argument '%s'\n", prog, arg);
        fputs(usage, stderr);
        return 2;
}

const char *fm_option_name(const struct option *opts, int idx, char *const argv[], char *buf,
                           size_t len)
{
        for (int k = 0; idx < 0 && optopt && opts[k].name; k++)
                if (opts[k].val == optopt)
                        idx = k;
        if (idx >= 0)
                snprintf(buf, len, "--%s", opts[idx].name);
        else if (optopt)
                snprintf(buf, len, "-%c", optopt);
        else
                snprintf(buf, len, "%s", argv[optind - 1]);
        return buf;
}
