/* seeds-protocol.c — writes the seed corpus of fuzz-protocol: one file per frame kind (and a
 * stream of several frames), encoded by the real encoder of pipelines/worker/protocol.c.
 * Usage: seeds-protocol DIR (DIR must exist). Exit 0 or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pipelines/worker/protocol.h"

static int write_seed(const char *dir, const char *name, const spp_buf *b)
{
        char path[4096];
        int fd, n;

        n = snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (n < 0 || (size_t)n >= sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, b->data, b->len) != (ssize_t)b->len) {
                close(fd);
                return -EIO;
        }
        return close(fd) < 0 ? -errno : 0;
}

#define N_SEEDS 8

/* Appends the frame(s) of seed `i` (< N_SEEDS) to b; returns its name, or NULL on failure. */
static const char *make_seed(int i, spp_buf *b)
{
        static const char payload[] = "{\"x\": [1, 2, 3]}";
        const spp_item items[] = {
            {.request_id = 1,
             .status = SPP_STATUS_OK,
             .len = sizeof(payload) - 1,
             .data = (const uint8_t *)payload},
            {.request_id = 2,
             .status = SPP_STATUS_ERROR,
             .len = 5,
             .data = (const uint8_t *)"boom!"},
            {.request_id = UINT64_MAX, .status = SPP_STATUS_OK, .len = 0, .data = NULL},
        };
        int r = 0;

        switch (i) {
        case 0:
                r = spp_encode_batch(b, 7, items, 3, 0);
                return r < 0 ? NULL : "batch";
        case 1:
                r = spp_encode_result(b, 7, items, 3, 0);
                return r < 0 ? NULL : "result";
        case 2:
                r = spp_encode_ready(b, SPP_PROTOCOL_VERSION, 1234, 2, "flops-resnet18");
                return r < 0 ? NULL : "ready";
        case 3:
                r = spp_encode_set_threads(b, 4);
                return r < 0 ? NULL : "set-threads";
        case 4:
                r = spp_encode_shutdown(b);
                return r < 0 ? NULL : "shutdown";
        case 5:
                r = spp_encode_error(b, "unexpected frame BATCH before READY");
                return r < 0 ? NULL : "error";
        case 6:
                r = spp_encode_batch(b, 0, NULL, 0, 0);
                return r < 0 ? NULL : "batch-empty";
        case 7: /* what a worker sends over one connection */
                r = spp_encode_ready(b, SPP_PROTOCOL_VERSION, 1, 1, "echo");
                if (r == 0)
                        r = spp_encode_result(b, 1, items, 2, 0);
                if (r == 0)
                        r = spp_encode_result(b, 2, items + 2, 1, 0);
                return r < 0 ? NULL : "stream";
        default:
                return NULL;
        }
}

int main(int argc, char **argv)
{
        const char *name;

        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return 1;
        }
        for (int i = 0; i < N_SEEDS; i++) {
                spp_buf b = SPP_BUF_INIT;
                int r = -ENOMEM;

                name = make_seed(i, &b);
                if (name)
                        r = write_seed(argv[1], name, &b);
                spp_buf_free(&b);
                if (r < 0) {
                        fprintf(stderr, "%s: seed %d (%s): %s\n", argv[1], i, name ? name : "?",
                                strerror(-r));
                        return 1;
                }
        }
        return 0;
}
