/* SPDX-License-Identifier: MIT */
/*
 * pipelines.protocol — the stage-worker frame codec (sponge_protocol) and the worker library
 * (sponge_worker) with real processes.
 *
 * Codec: round trips, a byte-exact frame, every prefix of every frame (truncation), oversized
 * frames on encode and decode, garbage (zero length, unknown type, wrong body sizes, impossible
 * counts, trailing bytes), and a deterministic fuzz that must only ever yield the four
 * documented results.
 *
 * Processes: this binary re-executes itself as a worker (`--worker`, built on libsponge_worker)
 * or as a misbehaving peer (`--bad-peer KIND`, raw bytes), connected through a socketpair and
 * SPONGE_SOCKET_FD (or SPONGE_SOCKET). The agent side here is a small poll()-based reader with
 * a deadline, so no test can hang: handshake, SET_THREADS and the pool, per-item errors,
 * garbage/oversized/truncated frames sent to a worker (ERROR back, exit 1), garbage from a
 * peer (the reader reports it), and a worker killed (SIGKILL) or crashing (SIGSEGV) in the
 * middle of a batch: the reader sees EOF and reports it cleanly.
 *
 * Optional: env SPONGE_TEST_FLOPS_WORKER / SPONGE_TEST_ECHO_WORKER name the reference workers;
 * their tests check the documented output format and usage errors.
 */
#include "pipelines/worker/protocol.h"
#include "pipelines/worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

static char self_path[4096];

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                      */

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

/* Builds a raw frame: u32 length = 1 + body_len, type, body. */
static size_t raw_frame(uint8_t *out, uint8_t type, const uint8_t *body, uint32_t body_len)
{
        put32(out, body_len + 1);
        out[4] = type;
        if (body_len)
                memcpy(out + 5, body, body_len);
        return 5 + body_len;
}

static int parse_all(const spp_buf *b, spp_frame *f, size_t *used)
{
        return spp_frame_parse(b->data, b->len, 0, f, used);
}

/* ------------------------------------------------------------------------------------------ */
/* codec                                                                                        */

static void test_batch_round_trip(void **state)
{
        spp_buf b = SPP_BUF_INIT;
        spp_builder bb;
        assert_int_equal(spp_encode_batch_begin(&b, 0x1122334455667788ull, &bb), 0);
        assert_int_equal(spp_builder_add(&bb, 1, 0, "alpha", 5), 0);
        assert_int_equal(spp_builder_add(&bb, 2, 0, NULL, 0), 0);
        assert_int_equal(spp_builder_add(&bb, UINT64_MAX, 0, "z", 1), 0);
        assert_int_equal(spp_builder_end(&bb, 0), 0);

        spp_frame f;
        size_t used = 0;
        assert_int_equal(parse_all(&b, &f, &used), 0);
        assert_int_equal(used, b.len);
        assert_int_equal(f.type, SPP_BATCH);
        assert_true(f.batch.batch_id == 0x1122334455667788ull);
        assert_int_equal(f.batch.n, 3);

        spp_item_iter it;
        spp_item item;
        spp_items_begin(&f, &it);
        assert_true(spp_items_next(&it, &item));
        assert_int_equal(item.request_id, 1);
        assert_int_equal(item.len, 5);
        assert_memory_equal(item.data, "alpha", 5);
        assert_true(spp_items_next(&it, &item));
        assert_int_equal(item.request_id, 2);
        assert_int_equal(item.len, 0);
        assert_null(item.data);
        assert_true(spp_items_next(&it, &item));
        assert_true(item.request_id == UINT64_MAX);
        assert_memory_equal(item.data, "z", 1);
        assert_false(spp_items_next(&it, &item));
        spp_buf_free(&b);
}

static void test_result_round_trip(void **state)
{
        spp_item items[3] = {
            {.request_id = 10, .status = SPP_STATUS_OK, .len = 3, .data = (const uint8_t *)"out"},
            {.request_id = 11,
             .status = SPP_STATUS_ERROR,
             .len = 4,
             .data = (const uint8_t *)"bad!"},
            {.request_id = 12, .status = SPP_STATUS_INVALID, .len = 0, .data = NULL},
        };
        spp_buf b = SPP_BUF_INIT;
        assert_int_equal(spp_encode_result(&b, 99, items, 3, 0), 0);
        spp_frame f;
        size_t used;
        assert_int_equal(parse_all(&b, &f, &used), 0);
        assert_int_equal(f.type, SPP_RESULT);
        assert_int_equal(f.batch.batch_id, 99);
        spp_item_iter it;
        spp_item item;
        spp_items_begin(&f, &it);
        for (int i = 0; i < 3; i++) {
                assert_true(spp_items_next(&it, &item));
                assert_int_equal(item.request_id, items[i].request_id);
                assert_int_equal(item.status, items[i].status);
                assert_int_equal(item.len, items[i].len);
                if (item.len)
                        assert_memory_equal(item.data, items[i].data, item.len);
        }
        assert_false(spp_items_next(&it, &item));

        /* The same items as a BATCH: status is not on the wire there. */
        spp_buf_free(&b);
        assert_int_equal(spp_encode_batch(&b, 5, items, 3, 0), 0);
        assert_int_equal(parse_all(&b, &f, &used), 0);
        spp_items_begin(&f, &it);
        assert_true(spp_items_next(&it, &item));
        assert_true(spp_items_next(&it, &item));
        assert_int_equal(item.status, SPP_STATUS_OK);
        spp_buf_free(&b);

        /* An empty batch is valid. */
        assert_int_equal(spp_encode_batch(&b, 6, NULL, 0, 0), 0);
        assert_int_equal(parse_all(&b, &f, &used), 0);
        assert_int_equal(f.batch.n, 0);
        spp_buf_free(&b);
}

static void test_control_round_trip(void **state)
{
        spp_buf b = SPP_BUF_INIT;
        spp_frame f;
        size_t used, off = 0;

        assert_int_equal(spp_encode_ready(&b, SPP_PROTOCOL_VERSION, 4242, 2, "resnet18"), 0);
        assert_int_equal(spp_encode_set_threads(&b, 7), 0);
        assert_int_equal(spp_encode_shutdown(&b), 0);
        assert_int_equal(spp_encode_error(&b, "bad thing"), 0);
        assert_int_equal(spp_encode_set_threads(&b, 0), -EINVAL);
        assert_int_equal(spp_encode_ready(&b, 1, 1, 0, "x"), -EINVAL);

        assert_int_equal(spp_frame_parse(b.data + off, b.len - off, 0, &f, &used), 0);
        assert_int_equal(f.type, SPP_READY);
        assert_int_equal(f.ready.version, SPP_PROTOCOL_VERSION);
        assert_int_equal(f.ready.pid, 4242);
        assert_int_equal(f.ready.threads, 2);
        assert_int_equal(f.ready.name_len, 8);
        assert_memory_equal(f.ready.name, "resnet18", 8);
        off += used;
        assert_int_equal(spp_frame_parse(b.data + off, b.len - off, 0, &f, &used), 0);
        assert_int_equal(f.type, SPP_SET_THREADS);
        assert_int_equal(f.set_threads.threads, 7);
        assert_int_equal(used, 9);
        off += used;
        assert_int_equal(spp_frame_parse(b.data + off, b.len - off, 0, &f, &used), 0);
        assert_int_equal(f.type, SPP_SHUTDOWN);
        assert_int_equal(used, 5);
        off += used;
        assert_int_equal(spp_frame_parse(b.data + off, b.len - off, 0, &f, &used), 0);
        assert_int_equal(f.type, SPP_ERROR);
        assert_int_equal(f.error.len, 9);
        assert_memory_equal(f.error.msg, "bad thing", 9);
        off += used;
        assert_int_equal(off, b.len);
        assert_int_equal(spp_frame_parse(b.data + off, 0, 0, &f, &used), -EAGAIN);
        assert_string_equal(spp_type_name(SPP_SET_THREADS), "SET_THREADS");
        assert_string_equal(spp_type_name(0), "UNKNOWN");
        spp_buf_free(&b);
}

/* The example in README.md, byte for byte. */
static void test_byte_exact(void **state)
{
        static const uint8_t expect[] = {0x1b, 0,  0, 0, 0x01, 7, 0, 0, 0, 0, 0, 0, 0, 1,   0,  0,
                                         0,    42, 0, 0, 0,    0, 0, 0, 0, 2, 0, 0, 0, 'h', 'i'};
        spp_item item = {.request_id = 42, .len = 2, .data = (const uint8_t *)"hi"};
        spp_buf b = SPP_BUF_INIT;
        assert_int_equal(spp_encode_batch(&b, 7, &item, 1, 0), 0);
        assert_int_equal(b.len, sizeof(expect));
        assert_memory_equal(b.data, expect, sizeof(expect));
        spp_buf_free(&b);
}

/* Every proper prefix of every frame kind is -EAGAIN; two frames back to back parse in turn. */
static void test_truncated(void **state)
{
        spp_buf b = SPP_BUF_INIT;
        spp_item items[2] = {
            {.request_id = 1, .len = 3, .data = (const uint8_t *)"abc"},
            {.request_id = 2, .status = 1, .len = 2, .data = (const uint8_t *)"no"}};
        size_t ends[6];
        int k = 0;
        spp_encode_batch(&b, 1, items, 2, 0);
        ends[k++] = b.len;
        spp_encode_result(&b, 1, items, 2, 0);
        ends[k++] = b.len;
        spp_encode_ready(&b, 1, 2, 3, "name");
        ends[k++] = b.len;
        spp_encode_set_threads(&b, 2);
        ends[k++] = b.len;
        spp_encode_shutdown(&b);
        ends[k++] = b.len;
        spp_encode_error(&b, "oops");
        ends[k++] = b.len;

        size_t start = 0;
        for (int i = 0; i < k; i++) {
                spp_frame f;
                size_t used = 12345;
                for (size_t len = 0; len < ends[i] - start; len++) {
                        assert_int_equal(spp_frame_parse(b.data + start, len, 0, &f, &used),
                                         -EAGAIN);
                        assert_int_equal(used, 12345); /* untouched on failure */
                }
                /* With the rest of the stream behind it, the frame still parses alone. */
                assert_int_equal(spp_frame_parse(b.data + start, b.len - start, 0, &f, &used), 0);
                assert_int_equal(used, ends[i] - start);
                start = ends[i];
        }
        spp_buf_free(&b);
}

static void test_oversized(void **state)
{
        uint8_t hdr[5];
        spp_frame f;
        size_t used;

        /* Decided from the 4-byte prefix alone, before the rest arrives. */
        put32(hdr, SPP_MAX_FRAME_DEFAULT - 3);
        assert_int_equal(spp_frame_parse(hdr, 4, 0, &f, &used), -EMSGSIZE);
        put32(hdr, SPP_MAX_FRAME_DEFAULT - 4); /* exactly the limit: need more bytes */
        hdr[4] = SPP_BATCH;
        assert_int_equal(spp_frame_parse(hdr, 5, 0, &f, &used), -EAGAIN);
        put32(hdr, UINT32_MAX);
        assert_int_equal(spp_frame_parse(hdr, 4, 0, &f, &used), -EMSGSIZE);
        assert_int_equal(spp_frame_parse(hdr, 4, SIZE_MAX, &f, &used), -EMSGSIZE);
        put32(hdr, UINT32_MAX - 4); /* the largest frame a u32 prefix can describe */
        assert_int_equal(spp_frame_parse(hdr, 4, SIZE_MAX, &f, &used), -EAGAIN);
        /* A custom limit; values below the floor are raised to it. */
        put32(hdr, 8192);
        assert_int_equal(spp_frame_parse(hdr, 4, 8000, &f, &used), -EMSGSIZE);
        assert_int_equal(spp_frame_parse(hdr, 4, 10, &f, &used), -EMSGSIZE);
        put32(hdr, 4000);
        assert_int_equal(spp_frame_parse(hdr, 4, 10, &f, &used), -EAGAIN);

        /* Encoding refuses a frame over the limit and leaves the buffer as it was. */
        spp_buf b = SPP_BUF_INIT;
        spp_encode_shutdown(&b);
        size_t before = b.len;
        uint8_t *big = calloc(1, 10000);
        assert_non_null(big);
        spp_item item = {.request_id = 1, .len = 10000, .data = big};
        assert_int_equal(spp_encode_batch(&b, 1, &item, 1, 8192), -EMSGSIZE);
        assert_int_equal(b.len, before);
        assert_int_equal(spp_encode_result(&b, 1, &item, 1, 8192), -EMSGSIZE);
        assert_int_equal(b.len, before);
        assert_int_equal(spp_encode_batch(&b, 1, &item, 1, 0), 0);
        free(big);

        /* Builder: an error sticks and end() removes the partial frame. */
        spp_builder bb;
        before = b.len;
        assert_int_equal(spp_encode_result_begin(&b, 3, &bb), 0);
        assert_int_equal(spp_builder_add(&bb, 1, 9, "x", 1), -EINVAL); /* bad status */
        assert_int_equal(spp_builder_add(&bb, 2, 0, "y", 1), -EINVAL);
        assert_int_equal(spp_builder_end(&bb, 0), -EINVAL);
        assert_int_equal(b.len, before);
        assert_int_equal(spp_encode_batch_begin(&b, 3, &bb), 0);
        spp_builder_add(&bb, 2, 0, "y", 1);
        spp_builder_abort(&bb);
        assert_int_equal(b.len, before);

        /* ERROR messages are cut to SPP_ERROR_MSG_MAX at a UTF-8 boundary. */
        char msg[SPP_ERROR_MSG_MAX + 10];
        memset(msg, 'a', sizeof(msg) - 1);
        msg[sizeof(msg) - 1] = '\0';
        msg[SPP_ERROR_MSG_MAX - 1] = (char)0xC3; /* "é" straddling the cut */
        msg[SPP_ERROR_MSG_MAX] = (char)0xA9;
        spp_buf e = SPP_BUF_INIT;
        assert_int_equal(spp_encode_error(&e, msg), 0);
        assert_int_equal(spp_frame_parse(e.data, e.len, 0, &f, &used), 0);
        assert_int_equal(f.error.len, SPP_ERROR_MSG_MAX - 1);
        spp_buf_free(&e);
        spp_buf_free(&b);
}

static void expect_bad(const uint8_t *frame, size_t len)
{
        spp_frame f;
        size_t used = 777;
        assert_int_equal(spp_frame_parse(frame, len, 0, &f, &used), -EBADMSG);
        assert_int_equal(used, 777);
}

static void test_garbage(void **state)
{
        uint8_t fr[128], body[64];
        size_t n;

        /* Zero length; unknown types (detected as soon as the type byte is there). */
        memset(fr, 0, sizeof(fr));
        expect_bad(fr, 4);
        put32(fr, 100);
        for (unsigned t = 0; t < 256; t++) {
                if (t >= SPP_BATCH && t <= SPP_ERROR)
                        continue;
                fr[4] = (uint8_t)t;
                expect_bad(fr, 5);
        }
        /* Wrong fixed sizes. */
        memset(body, 0, sizeof(body));
        put32(body, 2);
        n = raw_frame(fr, SPP_SET_THREADS, body, 3);
        expect_bad(fr, n);
        n = raw_frame(fr, SPP_SET_THREADS, body, 5);
        expect_bad(fr, n);
        put32(body, 0);
        n = raw_frame(fr, SPP_SET_THREADS, body, 4); /* zero threads */
        expect_bad(fr, n);
        n = raw_frame(fr, SPP_SHUTDOWN, body, 1);
        expect_bad(fr, n);
        n = raw_frame(fr, SPP_BATCH, body, 11); /* shorter than batch_id + n */
        expect_bad(fr, n);
        /* n = 1 but no item. */
        put64(body, 1);
        put32(body + 8, 1);
        n = raw_frame(fr, SPP_BATCH, body, 12);
        expect_bad(fr, n);
        /* An impossible count (4e9 items in a few bytes) is rejected without looping. */
        put32(body + 8, UINT32_MAX);
        n = raw_frame(fr, SPP_BATCH, body, 40);
        expect_bad(fr, n);
        /* Item length past the end of the frame. */
        put32(body + 8, 1);
        put64(body + 12, 5);
        put32(body + 20, 10);
        n = raw_frame(fr, SPP_BATCH, body, 12 + 12 + 9);
        expect_bad(fr, n);
        /* Trailing bytes after the last item. */
        put32(body + 20, 2);
        n = raw_frame(fr, SPP_BATCH, body, 12 + 12 + 3);
        expect_bad(fr, n);
        n = raw_frame(fr, SPP_BATCH, body, 12 + 12 + 2); /* and the exact one is fine */
        spp_frame f;
        size_t used;
        assert_int_equal(spp_frame_parse(fr, n, 0, &f, &used), 0);
        /* RESULT status must be 0, 1 or 2. */
        put32(body + 8, 1);
        put64(body + 12, 5);
        body[20] = 3;
        put32(body + 21, 0);
        n = raw_frame(fr, SPP_RESULT, body, 12 + 13);
        expect_bad(fr, n);
        for (uint8_t st = SPP_STATUS_OK; st <= SPP_STATUS_INVALID; st++) {
                body[20] = st;
                n = raw_frame(fr, SPP_RESULT, body, 12 + 13);
                assert_int_equal(spp_frame_parse(fr, n, 0, &f, &used), 0);
        }
        /* READY: zero threads; string count not matching the rest of the body. */
        memset(body, 0, sizeof(body));
        put32(body, 1);
        put32(body + 4, 1);
        put32(body + 8, 0);
        put32(body + 12, 2);
        memcpy(body + 16, "ab", 2);
        n = raw_frame(fr, SPP_READY, body, 18);
        expect_bad(fr, n);
        put32(body + 8, 1);
        n = raw_frame(fr, SPP_READY, body, 18);
        assert_int_equal(spp_frame_parse(fr, n, 0, &f, &used), 0);
        n = raw_frame(fr, SPP_READY, body, 17);
        expect_bad(fr, n);
        n = raw_frame(fr, SPP_READY, body, 19);
        expect_bad(fr, n);
        n = raw_frame(fr, SPP_READY, body, 11);
        expect_bad(fr, n);
        /* ERROR: string count larger than the body; no count at all. */
        put32(body, 50);
        n = raw_frame(fr, SPP_ERROR, body, 10);
        expect_bad(fr, n);
        n = raw_frame(fr, SPP_ERROR, body, 3);
        expect_bad(fr, n);
}

/* Random bytes and random mutations of valid frames: only the four documented results, and a
 * frame reported complete always lies within the buffer. */
static void test_fuzz(void **state)
{
        uint64_t s = 0x9e3779b97f4a7c15ull;
        uint8_t buf[256];
        spp_buf valid = SPP_BUF_INIT;
        spp_item items[2] = {
            {.request_id = 1, .len = 3, .data = (const uint8_t *)"abc"},
            {.request_id = 2, .status = 1, .len = 1, .data = (const uint8_t *)"e"}};
        spp_encode_result(&valid, 9, items, 2, 0);
        int counts[4] = {0};

        for (int round = 0; round < 200000; round++) {
                size_t len;
                if (round % 2) {
                        len = valid.len;
                        memcpy(buf, valid.data, len);
                        for (int k = 0; k < 3; k++) {
                                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                                buf[s % len] ^= (uint8_t)(s >> 32);
                        }
                } else {
                        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                        len = s % sizeof(buf);
                        for (size_t i = 0; i < len; i++) {
                                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                                buf[i] = (uint8_t)s;
                        }
                        if (len > 4 && (s & 1)) /* plausible length and type */
                                put32(buf, (uint32_t)(len - 4 - (s >> 8) % 3)),
                                    buf[4] = 1 + (s >> 16) % 6;
                }
                spp_frame f;
                size_t used = 0;
                int r = spp_frame_parse(buf, len, 0, &f, &used);
                if (r == 0) {
                        assert_true(used <= len && used >= SPP_HEADER_SIZE);
                        spp_item_iter it;
                        spp_item item;
                        spp_items_begin(&f, &it);
                        while (spp_items_next(&it, &item))
                                assert_true(item.len == 0 || (item.data >= buf &&
                                                              item.data + item.len <= buf + len));
                        counts[0]++;
                } else if (r == -EAGAIN) {
                        counts[1]++;
                } else if (r == -EBADMSG) {
                        counts[2]++;
                } else {
                        assert_int_equal(r, -EMSGSIZE);
                        counts[3]++;
                }
        }
        /* The generator exercises all four outcomes. */
        for (int i = 0; i < 4; i++)
                assert_true(counts[i] > 0);
        spp_buf_free(&valid);
}

static void test_buffers(void **state)
{
        spp_buf b = SPP_BUF_INIT;
        assert_int_equal(spp_buf_append(&b, "hello", 5), 0);
        assert_int_equal(spp_buf_reserve(&b, 100000), 0);
        assert_true(b.cap - b.len >= 100000);
        spp_buf_consume(&b, 2);
        assert_int_equal(b.len, 3);
        assert_memory_equal(b.data, "llo", 3);
        spp_buf_consume(&b, 99);
        assert_int_equal(b.len, 0);
        assert_int_equal(spp_buf_reserve(&b, SIZE_MAX), -ENOMEM);
        spp_buf_free(&b);
        spp_buf_free(&b);
        spp_buf_free(NULL);
        assert_null(b.data);
}

/* ------------------------------------------------------------------------------------------ */
/* the worker this binary becomes with --worker                                                 */

typedef struct par_arg {
        int hits[1000];
        int used[SPW_MAX_THREADS];
} par_arg;

static void par_body(void *arg, size_t i, unsigned thread)
{
        par_arg *pa = arg;
        pa->hits[i]++;
        __atomic_store_n(&pa->used[thread], 1, __ATOMIC_RELAXED);
        /* Enough work per index that every thread gets some. */
        volatile double x = 0;
        for (int k = 0; k < 20000; k++)
                x += k;
}

static int test_worker_process(const spw_batch *in, spw_outputs *out, void *ud)
{
        for (size_t i = 0; i < in->n; i++) {
                const spw_input *it = &in->items[i];
                char cmd[32] = "";
                if (it->len < sizeof(cmd))
                        memcpy(cmd, it->data ? (const char *)it->data : "", it->len);
                if (strcmp(cmd, "sleep") == 0) {
                        sleep(30); /* the test kills us meanwhile */
                } else if (strcmp(cmd, "segv") == 0) {
                        struct rlimit no_core = {0, 0};
                        setrlimit(RLIMIT_CORE, &no_core); /* a crash on purpose: no core file */
                        raise(SIGSEGV);
                } else if (strcmp(cmd, "fail") == 0) {
                        spw_output_error(out, i, "failed item %zu", i);
                } else if (strcmp(cmd, "invalid") == 0) {
                        spw_output_invalid(out, i, "item %zu is not an image", i);
                } else if (strcmp(cmd, "skip") == 0) {
                        /* left unset on purpose */
                } else if (strcmp(cmd, "enomem") == 0) {
                        return -ENOMEM;
                } else if (strcmp(cmd, "threads") == 0) {
                        char t[16];
                        int n = snprintf(t, sizeof(t), "%u", spw_threads(in->ctx));
                        spw_output_set(out, i, t, (size_t)n);
                } else if (strcmp(cmd, "par") == 0) {
                        par_arg *pa = calloc(1, sizeof(*pa));
                        if (!pa)
                                return -ENOMEM;
                        spw_parallel_for(in->ctx, 1000, par_body, pa);
                        int ok = 1, threads = 0;
                        for (int k = 0; k < 1000; k++)
                                ok &= pa->hits[k] == 1;
                        for (unsigned k = 0; k < SPW_MAX_THREADS; k++)
                                threads += pa->used[k];
                        char t[32];
                        int n = snprintf(t, sizeof(t), "%d %d", ok, threads);
                        spw_output_set(out, i, t, (size_t)n);
                        free(pa);
                } else {
                        spw_output_set(out, i, it->data, it->len);
                }
        }
        return 0;
}

static int test_worker_init(spw_ctx *ctx, void *ud)
{
        const char *fail = getenv("TEST_WORKER_INIT_FAIL");
        return fail && *fail ? -ENOENT : 0;
}

static int worker_main(void)
{
        spw_worker w = {.name = "test",
                        .process = test_worker_process,
                        .init = test_worker_init,
                        .max_frame = 0};
        return spw_main(&w);
}

/* A peer that sends raw bytes instead of frames, then waits to be closed. */
static int bad_peer_main(const char *kind)
{
        const char *s = getenv(SPP_ENV_SOCKET_FD);
        int fd = s ? (int)strtol(s, NULL, 10) : -1;
        uint8_t b[64] = {0};
        size_t n = 0;
        if (strcmp(kind, "garbage") == 0) {
                memcpy(b,
                       "\x05\x00\x00\x00\x2a"
                       "abcd",
                       9); /* type 42 */
                n = 9;
        } else if (strcmp(kind, "oversized") == 0) {
                put32(b, 0x7fffffff);
                b[4] = SPP_RESULT;
                n = 5;
        } else if (strcmp(kind, "truncated") == 0) {
                put32(b, 40);
                b[4] = SPP_RESULT;
                n = 12;
        } else {
                return 2;
        }
        if (write(fd, b, n) != (ssize_t)n)
                return 1;
        return 0; /* exit: EOF follows the bytes */
}

/* ------------------------------------------------------------------------------------------ */
/* the agent side of the process tests                                                          */

typedef struct child {
        pid_t pid;
        int fd; /* our end */
        spp_buf rbuf;
} child;

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* envp = environ without SPONGE_SOCKET* / SPONGE_THREADS / TEST_WORKER_*, plus extra[]. */
static char **make_env(char *const extra[])
{
        size_t n = 0, k = 0;
        while (environ[n])
                n++;
        size_t ne = 0;
        while (extra && extra[ne])
                ne++;
        char **env = calloc(n + ne + 1, sizeof(char *));
        assert_non_null(env);
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "SPONGE_SOCKET", 13) != 0 &&
                    strncmp(environ[i], "SPONGE_THREADS", 14) != 0 &&
                    strncmp(environ[i], "TEST_WORKER_", 12) != 0)
                        env[k++] = environ[i];
        for (size_t i = 0; i < ne; i++)
                env[k++] = extra[i];
        return env;
}

/* Starts argv with our socketpair end's peer as SPONGE_SOCKET_FD (when use_fd), plus extra
 * environment. */
static child spawn(char *const argv[], char *const extra[], bool use_fd)
{
        int sv[2];
        child c = {.pid = -1, .fd = -1, .rbuf = SPP_BUF_INIT};
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        char fdvar[64];
        snprintf(fdvar, sizeof(fdvar), "%s=%d", SPP_ENV_SOCKET_FD, sv[1]);
        char *more[8] = {0};
        size_t k = 0;
        if (use_fd)
                more[k++] = fdvar;
        for (size_t i = 0; extra && extra[i] && k < 7; i++)
                more[k++] = extra[i];
        char **env = make_env(more);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                /* Only the worker's end crosses execve. */
                if (use_fd)
                        fcntl(sv[1], F_SETFD, 0);
                execve(argv[0], argv, env);
                _exit(127);
        }
        free(env);
        close(sv[1]);
        c.pid = pid;
        c.fd = sv[0];
        return c;
}

static child spawn_test_worker(char *const extra[])
{
        char *argv[] = {self_path, "--worker", NULL};
        return spawn(argv, extra, true);
}

/* Reads one frame with a deadline. Returns 0 (frame in *f, consume with frame_done), -ECONNRESET
 * (EOF at a frame boundary), -EPIPE (EOF inside a frame), -EBADMSG / -EMSGSIZE (what the codec
 * said), -ETIMEDOUT. */
static int read_frame(child *c, int timeout_ms, spp_frame *f, size_t *used)
{
        uint64_t end = now_ms() + (uint64_t)timeout_ms;
        for (;;) {
                int r = spp_frame_parse(c->rbuf.data, c->rbuf.len, 0, f, used);
                if (r != -EAGAIN)
                        return r;
                uint64_t now = now_ms();
                if (now >= end)
                        return -ETIMEDOUT;
                struct pollfd p = {.fd = c->fd, .events = POLLIN};
                r = poll(&p, 1, (int)(end - now));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0)
                        return -ETIMEDOUT;
                assert_int_equal(spp_buf_reserve(&c->rbuf, 65536), 0);
                ssize_t got = read(c->fd, c->rbuf.data + c->rbuf.len, c->rbuf.cap - c->rbuf.len);
                if (got < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (got < 0 && errno == ECONNRESET)
                        got = 0;
                assert_true(got >= 0);
                if (got == 0)
                        return c->rbuf.len ? -EPIPE : -ECONNRESET;
                c->rbuf.len += (size_t)got;
        }
}

static void send_buf(child *c, spp_buf *b)
{
        size_t off = 0;
        while (off < b->len) {
                ssize_t w = send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                assert_true(w > 0);
                off += (size_t)w;
        }
        b->len = 0;
}

static void send_raw(child *c, const void *data, size_t len)
{
        assert_int_equal(send(c->fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Waits for the child with a deadline (SIGKILL after it). Returns the wait status. */
static int reap(child *c, int timeout_ms)
{
        uint64_t end = now_ms() + (uint64_t)timeout_ms;
        int status = 0;
        for (;;) {
                pid_t p = waitpid(c->pid, &status, WNOHANG);
                if (p == c->pid)
                        break;
                if (now_ms() >= end) {
                        kill(c->pid, SIGKILL);
                        waitpid(c->pid, &status, 0);
                        fail_msg("child %d did not exit within %d ms", (int)c->pid, timeout_ms);
                }
                usleep(2000);
        }
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        spp_buf_free(&c->rbuf);
        return status;
}

static void expect_ready(child *c, const char *name)
{
        spp_frame f;
        size_t used;
        assert_int_equal(read_frame(c, 10000, &f, &used), 0);
        assert_int_equal(f.type, SPP_READY);
        assert_int_equal(f.ready.version, SPP_PROTOCOL_VERSION);
        assert_int_equal(f.ready.pid, (uint32_t)c->pid);
        assert_true(f.ready.threads >= 1);
        assert_int_equal(f.ready.name_len, strlen(name));
        assert_memory_equal(f.ready.name, name, strlen(name));
        spp_buf_consume(&c->rbuf, used);
}

/* Sends a batch of NUL-free strings and returns the RESULT's items as copies. */
typedef struct result {
        uint32_t n;
        uint64_t ids[16];
        uint8_t status[16];
        char text[16][1100];
} result;

static int run_batch(child *c, uint64_t batch_id, const char *const *inputs, uint32_t n,
                     int timeout_ms, result *ret)
{
        spp_buf b = SPP_BUF_INIT;
        spp_builder bb;
        assert_int_equal(spp_encode_batch_begin(&b, batch_id, &bb), 0);
        for (uint32_t i = 0; i < n; i++)
                spp_builder_add(&bb, 1000 + i, 0, inputs[i], strlen(inputs[i]));
        assert_int_equal(spp_builder_end(&bb, 0), 0);
        send_buf(c, &b);
        spp_buf_free(&b);

        spp_frame f;
        size_t used;
        int r = read_frame(c, timeout_ms, &f, &used);
        if (r < 0)
                return r;
        assert_int_equal(f.type, SPP_RESULT);
        assert_int_equal(f.batch.batch_id, batch_id);
        assert_int_equal(f.batch.n, n);
        spp_item_iter it;
        spp_item item;
        spp_items_begin(&f, &it);
        memset(ret, 0, sizeof(*ret));
        while (spp_items_next(&it, &item)) {
                uint32_t k = ret->n++;
                ret->ids[k] = item.request_id;
                ret->status[k] = item.status;
                assert_true(item.len < sizeof(ret->text[k]));
                if (item.len)
                        memcpy(ret->text[k], item.data, item.len);
        }
        spp_buf_consume(&c->rbuf, used);
        return 0;
}

static void shutdown_child(child *c)
{
        spp_buf b = SPP_BUF_INIT;
        spp_encode_shutdown(&b);
        send_buf(c, &b);
        spp_buf_free(&b);
        spp_frame f;
        size_t used;
        assert_int_equal(read_frame(c, 10000, &f, &used), -ECONNRESET);
        int st = reap(c, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
}

static void set_threads(child *c, uint32_t t)
{
        spp_buf b = SPP_BUF_INIT;
        assert_int_equal(spp_encode_set_threads(&b, t), 0);
        send_buf(c, &b);
        spp_buf_free(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* process tests                                                                                */

static void test_worker_serves(void **state)
{
        child c = spawn_test_worker(NULL);
        expect_ready(&c, "test");

        const char *in[] = {"hello", "fail", "", "skip", "threads", "invalid"};
        result r;
        assert_int_equal(run_batch(&c, 1, in, 6, 10000, &r), 0);
        for (uint32_t i = 0; i < 6; i++)
                assert_int_equal(r.ids[i], 1000 + i);
        assert_int_equal(r.status[0], SPP_STATUS_OK);
        assert_string_equal(r.text[0], "hello");
        assert_int_equal(r.status[1], SPP_STATUS_ERROR);
        assert_string_equal(r.text[1], "failed item 1");
        assert_int_equal(r.status[2], SPP_STATUS_OK);
        assert_string_equal(r.text[2], "");
        assert_int_equal(r.status[3], SPP_STATUS_ERROR);
        assert_string_equal(r.text[3], "no output");
        assert_string_equal(r.text[4], "1");
        assert_int_equal(r.status[5], SPP_STATUS_INVALID);
        assert_string_equal(r.text[5], "item 5 is not an image");

        /* SET_THREADS resizes the pool, up and down; parallel_for covers every index once. */
        set_threads(&c, 3);
        const char *in2[] = {"threads", "par"};
        assert_int_equal(run_batch(&c, 2, in2, 2, 10000, &r), 0);
        assert_string_equal(r.text[0], "3");
        assert_int_equal(r.text[1][0], '1'); /* every index exactly once */
        set_threads(&c, 1);
        assert_int_equal(run_batch(&c, 3, in2, 2, 10000, &r), 0);
        assert_string_equal(r.text[0], "1");
        assert_string_equal(r.text[1], "1 1");
        set_threads(&c, 100000); /* clamped */
        assert_int_equal(run_batch(&c, 4, in2, 1, 10000, &r), 0);
        assert_int_equal(strtoul(r.text[0], NULL, 10), SPW_MAX_THREADS);
        set_threads(&c, 2);

        /* process() failing: the items it left unset carry the errno's message. */
        const char *in3[] = {"keep", "enomem", "x"};
        assert_int_equal(run_batch(&c, 5, in3, 3, 10000, &r), 0);
        assert_int_equal(r.status[0], SPP_STATUS_OK);
        assert_int_equal(r.status[1], SPP_STATUS_ERROR);
        assert_non_null(strstr(r.text[1], "worker failed"));
        assert_int_equal(r.status[2], SPP_STATUS_ERROR);

        /* Two batches written back to back come back in order. */
        spp_buf b = SPP_BUF_INIT;
        spp_item one = {.request_id = 1, .len = 1, .data = (const uint8_t *)"a"};
        spp_encode_batch(&b, 10, &one, 1, 0);
        spp_encode_batch(&b, 11, &one, 1, 0);
        send_buf(&c, &b);
        spp_buf_free(&b);
        for (uint64_t id = 10; id <= 11; id++) {
                spp_frame f;
                size_t used;
                assert_int_equal(read_frame(&c, 10000, &f, &used), 0);
                assert_int_equal(f.batch.batch_id, id);
                spp_buf_consume(&c.rbuf, used);
        }
        shutdown_child(&c);
}

/* Sends `bytes` to a fresh worker and expects an ERROR frame, then EOF and exit status 1. */
static void expect_worker_rejects(const void *bytes, size_t len, bool close_after)
{
        child c = spawn_test_worker(NULL);
        expect_ready(&c, "test");
        send_raw(&c, bytes, len);
        if (close_after)
                shutdown(c.fd, SHUT_WR);
        spp_frame f;
        size_t used;
        assert_int_equal(read_frame(&c, 20000, &f, &used), 0);
        assert_int_equal(f.type, SPP_ERROR);
        assert_true(f.error.len > 0);
        spp_buf_consume(&c.rbuf, used);
        assert_int_equal(read_frame(&c, 10000, &f, &used), -ECONNRESET);
        int st = reap(&c, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 1);
}

static void test_worker_rejects_bad_frames(void **state)
{
        uint8_t b[64];
        /* Unknown type. */
        memcpy(b, "\x03\x00\x00\x00\x63xy", 7);
        expect_worker_rejects(b, 7, false);
        /* Zero length. */
        memset(b, 0, 8);
        expect_worker_rejects(b, 8, false);
        /* Oversized: rejected from the prefix, without waiting for 1 GiB. */
        put32(b, 1u << 30);
        b[4] = SPP_BATCH;
        expect_worker_rejects(b, 5, false);
        /* Truncated: half a frame, then EOF. */
        put32(b, 30);
        b[4] = SPP_BATCH;
        expect_worker_rejects(b, 10, true);
        /* Well-formed frames a worker never receives. */
        spp_buf f = SPP_BUF_INIT;
        spp_encode_ready(&f, 1, 1, 1, "agent?");
        expect_worker_rejects(f.data, f.len, false);
        spp_buf_free(&f);
        /* Malformed body: SET_THREADS of 2 bytes. */
        size_t n = raw_frame(b, SPP_SET_THREADS, (const uint8_t *)"\x01\x00", 2);
        expect_worker_rejects(b, n, false);
}

static void test_worker_eof_and_error(void **state)
{
        /* The agent closes at a frame boundary: clean exit 0. */
        child c = spawn_test_worker(NULL);
        expect_ready(&c, "test");
        shutdown(c.fd, SHUT_WR);
        int st = reap(&c, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);

        /* The agent sends ERROR: the worker stops with status 1. */
        c = spawn_test_worker(NULL);
        expect_ready(&c, "test");
        spp_buf b = SPP_BUF_INIT;
        spp_encode_error(&b, "agent gives up");
        send_buf(&c, &b);
        spp_buf_free(&b);
        st = reap(&c, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 1);

        /* init fails: ERROR instead of READY, exit 1. */
        char *env[] = {"TEST_WORKER_INIT_FAIL=1", NULL};
        c = spawn_test_worker(env);
        spp_frame f;
        size_t used;
        assert_int_equal(read_frame(&c, 10000, &f, &used), 0);
        assert_int_equal(f.type, SPP_ERROR);
        st = reap(&c, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 1);

        /* No connection in the environment: exit 1 at once, no hang. */
        char *argv[] = {self_path, "--worker", NULL};
        c = spawn(argv, NULL, false);
        st = reap(&c, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 1);

        /* Bad SPONGE_SOCKET_FD values. */
        char *bad[] = {"SPONGE_SOCKET_FD=12abc", NULL};
        c = spawn(argv, bad, false);
        st = reap(&c, 10000);
        assert_int_equal(WEXITSTATUS(st), 1);
        char *closed[] = {"SPONGE_SOCKET_FD=999", NULL};
        c = spawn(argv, closed, false);
        st = reap(&c, 10000);
        assert_int_equal(WEXITSTATUS(st), 1);
}

/* SPONGE_SOCKET: the worker connects to a listening path. */
static void test_worker_socket_path(void **state)
{
        char dir[] = "/tmp/sponge-protocol-XXXXXX";
        assert_non_null(mkdtemp(dir));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/w.sock", dir);
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(l >= 0);
        assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(l, 1), 0);

        char var[sizeof(sa.sun_path) + 32];
        snprintf(var, sizeof(var), "%s=%s", SPP_ENV_SOCKET, sa.sun_path);
        char *env[] = {var, "SPONGE_THREADS=2", NULL};
        char *argv[] = {self_path, "--worker", NULL};
        child c = spawn(argv, env, false);
        close(c.fd);
        struct pollfd p = {.fd = l, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        c.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_true(c.fd >= 0);
        spp_frame f;
        size_t used;
        assert_int_equal(read_frame(&c, 10000, &f, &used), 0);
        assert_int_equal(f.type, SPP_READY);
        assert_int_equal(f.ready.threads, 2); /* SPONGE_THREADS */
        spp_buf_consume(&c.rbuf, used);
        shutdown_child(&c);
        close(l);
        unlink(sa.sun_path);
        rmdir(dir);
}

/* A worker that dies in the middle of a batch: the reader sees EOF, no frame, no hang. */
static void test_worker_dies_mid_batch(void **state)
{
        child c = spawn_test_worker(NULL);
        expect_ready(&c, "test");
        const char *in[] = {"a", "sleep"};
        result r;
        /* The worker is inside process() now; nothing arrives within 300 ms. */
        assert_int_equal(run_batch(&c, 1, in, 2, 300, &r), -ETIMEDOUT);
        kill(c.pid, SIGKILL);
        spp_frame f;
        size_t used;
        assert_int_equal(read_frame(&c, 10000, &f, &used), -ECONNRESET);
        int st = reap(&c, 10000);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGKILL);

        /* A crash inside the callback (SIGSEGV; under ASan its handler reports and exits 1). */
        c = spawn_test_worker(NULL);
        expect_ready(&c, "test");
        const char *in2[] = {"ok", "segv"};
        assert_int_equal(run_batch(&c, 2, in2, 2, 20000, &r), -ECONNRESET);
        st = reap(&c, 20000);
        assert_false(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Peers sending garbage towards the agent side: the reader reports each case. */
static void test_bad_peer(void **state)
{
        static const struct {
                const char *kind;
                int expect;
        } cases[] = {{"garbage", -EBADMSG}, {"oversized", -EMSGSIZE}, {"truncated", -EPIPE}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *argv[] = {self_path, "--bad-peer", (char *)cases[i].kind, NULL};
                child c = spawn(argv, NULL, true);
                spp_frame f;
                size_t used;
                assert_int_equal(read_frame(&c, 10000, &f, &used), cases[i].expect);
                int st = reap(&c, 10000);
                assert_true(WIFEXITED(st));
                assert_int_equal(WEXITSTATUS(st), 0);
        }
}

/* ---- reference workers (when their paths are given) ---- */

static void test_echo_worker(void **state)
{
        const char *path = getenv("SPONGE_TEST_ECHO_WORKER");
        if (!path)
                skip();
        char *argv[] = {(char *)path, NULL};
        child c = spawn(argv, NULL, true);
        expect_ready(&c, "echo");
        const char *in[] = {"one", "", "three"};
        result r;
        assert_int_equal(run_batch(&c, 1, in, 3, 10000, &r), 0);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(r.status[i], SPP_STATUS_OK);
                assert_string_equal(r.text[i], in[i]);
        }
        shutdown_child(&c);

        char *bad[] = {(char *)path, "--bogus", NULL};
        c = spawn(bad, NULL, true);
        int st = reap(&c, 10000);
        assert_int_equal(WEXITSTATUS(st), 2);
}

static void flops_once(const char *path, uint32_t threads, uint8_t out[2][300], size_t lens[2])
{
        char *argv[] = {(char *)path, "--gflops", "0.02", "--name", "f", NULL};
        child c = spawn(argv, NULL, true);
        expect_ready(&c, "f");
        set_threads(&c, threads);
        char longin[400];
        memset(longin, 'x', sizeof(longin) - 1);
        longin[sizeof(longin) - 1] = '\0';
        longin[sizeof(longin) - 2] = 'E';
        const char *in[] = {"short input", longin};
        result r;
        assert_int_equal(run_batch(&c, 1, in, 2, 20000, &r), 0);
        for (int i = 0; i < 2; i++) {
                assert_int_equal(r.status[i], SPP_STATUS_OK);
                lens[i] = i == 0 ? strlen(in[0]) + 8 : 256;
                memcpy(out[i], r.text[i], lens[i]);
        }
        shutdown_child(&c);
}

static void test_flops_worker(void **state)
{
        const char *path = getenv("SPONGE_TEST_FLOPS_WORKER");
        if (!path)
                skip();
        uint8_t a[2][300], b[2][300];
        size_t la[2], lb[2];
        flops_once(path, 1, a, la);
        flops_once(path, 3, b, lb);
        /* Output: input (tail, ≤ 248 bytes) + 8-byte checksum, independent of thread count. */
        assert_memory_equal(a[0], "short input", 11);
        assert_memory_equal(a[1] + 247, "E", 1); /* last input byte, then the checksum */
        assert_memory_equal(a[0], b[0], la[0]);
        assert_memory_equal(a[1], b[1], la[1]);
        /* Different inputs give different checksums. */
        assert_memory_not_equal(a[0] + 11, a[1] + 248, 8);

        const char *bad[][4] = {{"--variant", "resnet9000", NULL, NULL},
                                {"--gflops", "abc", NULL, NULL},
                                {"--gflops", "-1", NULL, NULL},
                                {"--variant", "resnet18", "--gflops", "1"},
                                {NULL, NULL, NULL, NULL}};
        for (int i = 0; i < 5; i++) {
                char *argv[6] = {(char *)path};
                for (int k = 0; k < 4 && bad[i][k]; k++)
                        argv[k + 1] = (char *)bad[i][k];
                child c = spawn(argv, NULL, true);
                int st = reap(&c, 10000);
                assert_true(WIFEXITED(st));
                assert_int_equal(WEXITSTATUS(st), 2);
        }
}

int main(int argc, char **argv)
{
        if (argc >= 2 && strcmp(argv[1], "--worker") == 0)
                return worker_main();
        if (argc >= 3 && strcmp(argv[1], "--bad-peer") == 0)
                return bad_peer_main(argv[2]);

        ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
        if (n <= 0 || (size_t)n >= sizeof(self_path) - 1) {
                fprintf(stderr, "cannot resolve /proc/self/exe\n");
                return 1;
        }
        self_path[n] = '\0';
        signal(SIGPIPE, SIG_IGN);

        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_batch_round_trip),
            cmocka_unit_test(test_result_round_trip),
            cmocka_unit_test(test_control_round_trip),
            cmocka_unit_test(test_byte_exact),
            cmocka_unit_test(test_truncated),
            cmocka_unit_test(test_oversized),
            cmocka_unit_test(test_garbage),
            cmocka_unit_test(test_fuzz),
            cmocka_unit_test(test_buffers),
            cmocka_unit_test(test_worker_serves),
            cmocka_unit_test(test_worker_rejects_bad_frames),
            cmocka_unit_test(test_worker_eof_and_error),
            cmocka_unit_test(test_worker_socket_path),
            cmocka_unit_test(test_worker_dies_mid_batch),
            cmocka_unit_test(test_bad_peer),
            cmocka_unit_test(test_echo_worker),
            cmocka_unit_test(test_flops_worker),
        };
        return cmocka_run_group_tests_name("pipelines.protocol", tests, NULL, NULL);
}
