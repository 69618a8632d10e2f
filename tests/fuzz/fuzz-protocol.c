/* fuzz-protocol.c — libFuzzer target for the worker frame decoder (pipelines/worker/protocol.c).
 *
 * The input is a byte stream as an agent or a worker would read it from the socket. Frames are
 * decoded one after another, as a reader does, with the default limit and with the smallest one.
 * Checked, beyond ASan/UBSan: the contract of protocol.h — every strict prefix of an accepted
 * frame is -EAGAIN; the item iterator yields exactly n items inside the frame; an accepted frame
 * encodes back to the same bytes (BATCH, RESULT, READY, SET_THREADS, SHUTDOWN, ERROR).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/worker/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes f again from its decoded fields; returns 0 and the bytes in *out, or -1 when the
 * encoder cannot express it (a READY name or ERROR message holding a NUL, a long ERROR). */
static int reencode(const spp_frame *f, spp_buf *out)
{
        spp_item_iter it;
        spp_item item, *items = NULL;
        uint32_t n = 0;
        char *s;
        int r;

        switch (f->type) {
        case SPP_BATCH:
        case SPP_RESULT:
                items = calloc(f->batch.n ? f->batch.n : 1, sizeof(*items));
                assert(items);
                spp_items_begin(f, &it);
                while (spp_items_next(&it, &item)) {
                        assert(n < f->batch.n);
                        assert(item.len == 0 ||
                               (item.data >= f->batch.items &&
                                item.data + item.len <= f->batch.items + f->batch.items_len));
                        assert(item.status <= SPP_STATUS_INVALID);
                        items[n++] = item;
                }
                assert(n == f->batch.n);
                r = f->type == SPP_BATCH ? spp_encode_batch(out, f->batch.batch_id, items, n, 0)
                                         : spp_encode_result(out, f->batch.batch_id, items, n, 0);
                free(items);
                return r;
        case SPP_READY:
                if (memchr(f->ready.name, '\0', f->ready.name_len))
                        return -1;
                s = strndup(f->ready.name, f->ready.name_len);
                assert(s);
                r = spp_encode_ready(out, f->ready.version, f->ready.pid, f->ready.threads, s);
                free(s);
                return r;
        case SPP_SET_THREADS:
                return spp_encode_set_threads(out, f->set_threads.threads);
        case SPP_SHUTDOWN:
                return spp_encode_shutdown(out);
        case SPP_ERROR:
                if (f->error.len > SPP_ERROR_MSG_MAX || memchr(f->error.msg, '\0', f->error.len))
                        return -1;
                s = strndup(f->error.msg, f->error.len);
                assert(s);
                r = spp_encode_error(out, s);
                free(s);
                return r;
        default:
                assert(!"spp_frame_parse accepted an unknown type");
                return -1;
        }
}

static void check_frame(const uint8_t *buf, size_t len, size_t max_frame)
{
        spp_frame f, g;
        spp_buf out = SPP_BUF_INIT;
        size_t used = 0, used2 = 0;
        int r;

        r = spp_frame_parse(buf, len, max_frame, &f, &used);
        if (r < 0) {
                assert(r == -EAGAIN || r == -EBADMSG || r == -EMSGSIZE);
                return;
        }
        assert(used >= SPP_HEADER_SIZE && used <= len);
        assert(f.body == buf + SPP_HEADER_SIZE && f.body_len == used - SPP_HEADER_SIZE);
        /* A reader holding only part of this frame must be told to read more. */
        for (size_t k = 0; k < used; k += (used > 256 && k >= 64) ? 61 : 1)
                assert(spp_frame_parse(buf, k, max_frame, &g, &used2) == -EAGAIN);
        assert(spp_frame_parse(buf, used - 1, max_frame, &g, &used2) == -EAGAIN);
        if (reencode(&f, &out) == 0) {
                assert(out.len == used);
                assert(memcmp(out.data, buf, used) == 0);
        }
        spp_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const size_t limits[] = {0, SPP_MIN_MAX_FRAME};

        for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
                size_t off = 0, used;
                spp_frame f;

                /* The stream as a reader sees it: frame after frame until one is refused. */
                while (off < size) {
                        check_frame(data + off, size - off, limits[l]);
                        if (spp_frame_parse(data + off, size - off, limits[l], &f, &used) < 0)
                                break;
                        off += used;
                }
        }
        return 0;
}
