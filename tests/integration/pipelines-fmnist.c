/* SPDX-License-Identifier: MIT */
/*
 * pipelines.fmnist — the accuracy of every Fashion-MNIST size on the 10,000 test images,
 * measured through the real sponge-worker-fmnist over the stage protocol, against what the
 * example pipeline (pipelines/examples/fmnist.json) states.
 *
 *   pipelines-fmnist WORKER_PATH
 *
 * For each known size (softmax, mlp, wide): start the worker, send the test images in batches,
 * parse the JSON outputs, count correct classes. Then:
 *   - sizes must be strictly ordered by accuracy (softmax < mlp < wide);
 *   - each variant of the example's first stage whose command runs sponge-worker-fmnist must
 *     name a known --size, and its "accuracy" must be within 0.5 points of the measurement.
 * Skips (77, with the reason) when the dataset or the example file is missing.
 */
#include "agent/spawn.h"
#include "pipelines/worker/client.h"
#include "pipelines/worker/fmnist/fmnist.h"
#include "pipelines/worker/protocol.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH     250u
#define TOLERANCE 0.5 /* accuracy points */

static const char *const sizes[] = {"softmax", "mlp", "wide"};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Classifies the whole set with `size`; returns 0 and the accuracy in percent. */
static int measure(const char *worker, const char *size, const fm_set *set, double *ret)
{
        char *argv[] = {(char *)worker, "--size", (char *)size, NULL};
        spc_conn c;
        spp_buf b = SPP_BUF_INIT;
        uint32_t threads;
        char err[512] = "";
        size_t right = 0;

        /* The agent's one spawn path (agent/spawn.h); the worker keeps the test's uid. The
         * environment is the agent's short list, plus the weights directory when one is set. */
        char weights[4200];
        const char *dir = getenv("SPONGE_FMNIST_WEIGHTS_DIR");
        char *extra[] = {weights, NULL};
        snprintf(weights, sizeof(weights), "SPONGE_FMNIST_WEIGHTS_DIR=%s", dir ? dir : "");
        SpawnSpec spec = {.path = worker, .argv = argv, .extra_env = dir ? extra : NULL};
        pid_t pid = 0;
        int fd = -1;
        int r = spawn_worker(&spec, &pid, &fd);
        if (r < 0) {
                fprintf(stderr, "spawn %s: %s\n", worker, strerror(-r));
                if (pid > 0)
                        waitpid(pid, NULL, 0);
                if (fd >= 0)
                        close(fd);
                return r;
        }
        c = (spc_conn){.pid = pid, .fd = fd, .rbuf = SPP_BUF_INIT};
        r = spc_wait_ready(&c, 30000, &threads, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "%s: no READY: %s %s\n", size, strerror(-r), err);
                goto out;
        }
        r = spc_set_threads(&c, 2);
        for (size_t start = 0; r == 0 && start < set->n; start += BATCH) {
                size_t n = set->n - start < BATCH ? set->n - start : BATCH;
                spp_builder bb;
                r = spp_encode_batch_begin(&b, start, &bb);
                for (size_t i = 0; r == 0 && i < n; i++)
                        r = spp_builder_add(&bb, start + i, 0,
                                            set->images + (start + i) * FM_PIXELS, FM_PIXELS);
                if (r == 0)
                        r = spp_builder_end(&bb, 0);
                if (r == 0)
                        r = spc_send(&c, &b);
                spp_frame f;
                if (r == 0)
                        r = spc_read_frame(&c, 60000, &f);
                if (r < 0) {
                        fprintf(stderr, "%s: batch at %zu: %s\n", size, start, strerror(-r));
                        break;
                }
                if (f.type != SPP_RESULT || f.batch.batch_id != start || f.batch.n != n) {
                        fprintf(stderr, "%s: unexpected reply %s\n", size, spp_type_name(f.type));
                        r = -EPROTO;
                        break;
                }
                spp_item_iter it;
                spp_item item;
                spp_items_begin(&f, &it);
                while (r == 0 && spp_items_next(&it, &item)) {
                        json_error_t je;
                        json_t *o = item.status == SPP_STATUS_OK
                                        ? json_loadb((const char *)item.data, item.len, 0, &je)
                                        : NULL;
                        json_t *cls = o ? json_object_get(o, "class") : NULL;
                        json_t *label = o ? json_object_get(o, "label") : NULL;
                        json_t *score = o ? json_object_get(o, "score") : NULL;
                        if (!json_is_integer(cls) || !json_is_string(label) ||
                            !json_is_real(score) || json_integer_value(cls) < 0 ||
                            json_integer_value(cls) >= (json_int_t)FM_CLASSES ||
                            strcmp(json_string_value(label),
                                   fm_label_name((unsigned)json_integer_value(cls))) != 0 ||
                            json_real_value(score) < 0.1 || json_real_value(score) > 1.0) {
                                fprintf(stderr, "%s: item %llu: bad output '%.*s'\n", size,
                                        (unsigned long long)item.request_id, (int)item.len,
                                        item.data ? (const char *)item.data : "");
                                r = -EBADMSG;
                        } else if (json_integer_value(cls) == set->labels[item.request_id]) {
                                right++;
                        }
                        json_decref(o);
                }
                spc_frame_done(&c);
        }
out:
        spp_buf_free(&b);
        int status;
        spc_stop(&c, 10000, &status);
        if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                fprintf(stderr, "%s: worker exit status %d\n", size, status);
                r = -ECHILD;
        }
        if (r == 0)
                *ret = 100.0 * (double)right / (double)set->n;
        return r;
}

/* Index of the size named after "--size" in the command array, or -1. */
static int command_size(json_t *cmd, const char **ret_name)
{
        size_t i;
        json_t *v;
        *ret_name = NULL;
        json_array_foreach(cmd, i, v)
        {
                json_t *next = json_array_get(cmd, i + 1);
                if (json_is_string(v) && strcmp(json_string_value(v), "--size") == 0 &&
                    json_is_string(next)) {
                        *ret_name = json_string_value(next);
                        for (size_t k = 0; k < NSIZES; k++)
                                if (strcmp(sizes[k], *ret_name) == 0)
                                        return (int)k;
                        return -1;
                }
        }
        return -1;
}

/* Compares the example's stated accuracies; returns the number of failures (-1: skip). */
static int check_example(const char *path, const double measured[NSIZES])
{
        json_error_t je;
        json_t *root = json_load_file(path, 0, &je);
        if (!root) {
                if (access(path, F_OK) != 0)
                        return -1;
                fprintf(stderr, "FAIL %s:%d: %s\n", path, je.line, je.text);
                return 1;
        }
        int failures = 0, checked = 0;
        json_t *variants =
            json_object_get(json_array_get(json_object_get(root, "stages"), 0), "variants");
        size_t i;
        json_t *v;
        json_array_foreach(variants, i, v)
        {
                const char *name = json_string_value(json_object_get(v, "name"));
                json_t *acc = json_object_get(v, "accuracy");
                json_t *cmd = json_object_get(v, "command");
                const char *prog = json_string_value(json_array_get(cmd, 0));
                if (!prog || !strstr(prog, "sponge-worker-fmnist"))
                        continue;
                const char *size;
                int k = command_size(cmd, &size);
                if (k < 0) {
                        fprintf(stderr,
                                "FAIL variant %s: command has --size '%s', expected one of "
                                "softmax, mlp, wide\n",
                                name ? name : "?", size ? size : "(none)");
                        failures++;
                        continue;
                }
                if (!json_is_number(acc)) {
                        fprintf(stderr, "FAIL variant %s: no numeric accuracy\n",
                                name ? name : "?");
                        failures++;
                        continue;
                }
                double stated = json_number_value(acc);
                bool ok = fabs(stated - measured[k]) <= TOLERANCE;
                printf("%-8s %-8s stated %6.2f  measured %6.2f  %s\n", name ? name : "?", size,
                       stated, measured[k], ok ? "ok" : "FAIL (more than 0.5 points apart)");
                failures += !ok;
                checked++;
        }
        if (checked == 0) {
                fprintf(stderr, "FAIL %s: no sponge-worker-fmnist variant in stages[0]\n", path);
                failures++;
        }
        json_decref(root);
        return failures;
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: pipelines-fmnist WORKER_PATH\n");
                return 2;
        }
        const char *src = getenv("SPONGE_SOURCE_DIR");
        char example[4096];
        snprintf(example, sizeof(example), "%s/pipelines/examples/fmnist.json", src ? src : ".");
        if (access(example, R_OK) != 0) {
                printf("SKIP: %s does not exist yet\n", example);
                return 77;
        }
        fm_set test;
        int r = fm_set_load(FM_DATASET_DIR, "t10k", &test);
        if (r == -ENOENT) {
                printf("SKIP: %s/t10k-*.gz missing (Debian package dataset-fashion-mnist)\n",
                       FM_DATASET_DIR);
                return 77;
        }
        if (r < 0) {
                fprintf(stderr, "FAIL: cannot read the test set: %s\n", strerror(-r));
                return 1;
        }

        double measured[NSIZES];
        int failures = 0;
        for (size_t k = 0; k < NSIZES; k++) {
                r = measure(argv[1], sizes[k], &test, &measured[k]);
                if (r < 0) {
                        fprintf(stderr, "FAIL: %s: %s\n", sizes[k], strerror(-r));
                        fm_set_free(&test);
                        return 1;
                }
                printf("size %-8s accuracy %.2f%% on %zu test images\n", sizes[k], measured[k],
                       test.n);
        }
        fm_set_free(&test);
        for (size_t k = 1; k < NSIZES; k++)
                if (!(measured[k] > measured[k - 1])) {
                        fprintf(stderr, "FAIL: %s (%.2f) is not more accurate than %s (%.2f)\n",
                                sizes[k], measured[k], sizes[k - 1], measured[k - 1]);
                        failures++;
                }
        int ex = check_example(example, measured);
        if (ex < 0) {
                printf("SKIP: %s vanished\n", example);
                return 77;
        }
        failures += ex;
        printf("%s\n", failures ? "FAIL" : "PASS");
        return failures ? 1 : 0;
}
