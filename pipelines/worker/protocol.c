/* SPDX-License-Identifier: MIT */
/* The stage-worker protocol codec; see protocol.h for the wire format and contract. */
#include "pipelines/worker/protocol.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Item record sizes without their bytes: request_id + len, plus status for RESULT. */
#define BATCH_ITEM_FIXED  12u
#define RESULT_ITEM_FIXED 13u
#define BATCH_HEAD        12u /* batch_id + n */

static uint32_t get_u32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
        return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
        put_u32(p, (uint32_t)v);
        put_u32(p + 4, (uint32_t)(v >> 32));
}

static size_t effective_max(size_t max_frame)
{
        if (max_frame == 0)
                return SPP_MAX_FRAME_DEFAULT;
        if (max_frame < SPP_MIN_MAX_FRAME)
                return SPP_MIN_MAX_FRAME;
        /* The length prefix is 32 bits: a frame can never be longer than 4 + UINT32_MAX. */
        if (max_frame > (size_t)UINT32_MAX)
                return (size_t)UINT32_MAX;
        return max_frame;
}

/* ---- buffers ---- */

int spp_buf_reserve(spp_buf *buf, size_t extra)
{
        if (buf->cap - buf->len >= extra)
                return 0;
        /* No object may exceed PTRDIFF_MAX bytes (pointer differences must fit). */
        if (extra > (size_t)PTRDIFF_MAX - buf->len)
                return -ENOMEM;
        size_t need = buf->len + extra;
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < need)
                cap = cap > (size_t)PTRDIFF_MAX / 2 ? need : cap * 2;
        uint8_t *p = realloc(buf->data, cap);
        if (!p)
                return -ENOMEM;
        buf->data = p;
        buf->cap = cap;
        return 0;
}

int spp_buf_append(spp_buf *buf, const void *data, size_t len)
{
        int r = spp_buf_reserve(buf, len);
        if (r < 0)
                return r;
        if (len)
                memcpy(buf->data + buf->len, data, len);
        buf->len += len;
        return 0;
}

void spp_buf_consume(spp_buf *buf, size_t n)
{
        if (n >= buf->len) {
                buf->len = 0;
                return;
        }
        memmove(buf->data, buf->data + n, buf->len - n);
        buf->len -= n;
}

void spp_buf_free(spp_buf *buf)
{
        if (!buf)
                return;
        free(buf->data);
        *buf = (spp_buf)SPP_BUF_INIT;
}

/* ---- decoding ---- */

const char *spp_type_name(uint8_t type)
{
        switch (type) {
        case SPP_BATCH:
                return "BATCH";
        case SPP_RESULT:
                return "RESULT";
        case SPP_READY:
                return "READY";
        case SPP_SET_THREADS:
                return "SET_THREADS";
        case SPP_SHUTDOWN:
                return "SHUTDOWN";
        case SPP_ERROR:
                return "ERROR";
        default:
                return "UNKNOWN";
        }
}

static bool type_known(uint8_t type)
{
        return type >= SPP_BATCH && type <= SPP_ERROR;
}

/* Validates the item records of a BATCH/RESULT body: exactly n records, nothing after. */
static int check_items(uint8_t type, const uint8_t *p, size_t len, uint32_t n)
{
        size_t fixed = type == SPP_RESULT ? RESULT_ITEM_FIXED : BATCH_ITEM_FIXED;
        /* Each record takes at least `fixed` bytes: reject impossible counts before looping. */
        if ((uint64_t)n * fixed > len)
                return -EBADMSG;
        for (uint32_t i = 0; i < n; i++) {
                if (len < fixed)
                        return -EBADMSG;
                if (type == SPP_RESULT && p[8] > SPP_STATUS_INVALID)
                        return -EBADMSG;
                uint32_t item_len = get_u32(p + fixed - 4);
                if (item_len > len - fixed)
                        return -EBADMSG;
                p += fixed + item_len;
                len -= fixed + item_len;
        }
        return len == 0 ? 0 : -EBADMSG;
}

/* Decodes a string (u32 count + bytes) that must fill the rest of the body exactly. */
static int parse_string(const uint8_t *p, size_t len, uint32_t *ret_len, const char **ret_str)
{
        if (len < 4)
                return -EBADMSG;
        uint32_t n = get_u32(p);
        if (n != len - 4)
                return -EBADMSG;
        *ret_len = n;
        *ret_str = (const char *)(p + 4);
        return 0;
}

static int parse_body(uint8_t type, const uint8_t *body, uint32_t body_len, spp_frame *f)
{
        int r;

        switch (type) {
        case SPP_BATCH:
        case SPP_RESULT:
                if (body_len < BATCH_HEAD)
                        return -EBADMSG;
                f->batch.batch_id = get_u64(body);
                f->batch.n = get_u32(body + 8);
                f->batch.items = body + BATCH_HEAD;
                f->batch.items_len = body_len - BATCH_HEAD;
                return check_items(type, f->batch.items, f->batch.items_len, f->batch.n);
        case SPP_READY:
                if (body_len < 12)
                        return -EBADMSG;
                f->ready.version = get_u32(body);
                f->ready.pid = get_u32(body + 4);
                f->ready.threads = get_u32(body + 8);
                r = parse_string(body + 12, body_len - 12, &f->ready.name_len, &f->ready.name);
                if (r < 0)
                        return r;
                return f->ready.threads >= 1 ? 0 : -EBADMSG;
        case SPP_SET_THREADS:
                if (body_len != 4)
                        return -EBADMSG;
                f->set_threads.threads = get_u32(body);
                return f->set_threads.threads >= 1 ? 0 : -EBADMSG;
        case SPP_SHUTDOWN:
                return body_len == 0 ? 0 : -EBADMSG;
        case SPP_ERROR:
                return parse_string(body, body_len, &f->error.len, &f->error.msg);
        default:
                return -EBADMSG;
        }
}

int spp_frame_parse(const uint8_t *buf, size_t len, size_t max_frame, spp_frame *ret,
                    size_t *ret_consumed)
{
        size_t max = effective_max(max_frame);

        if (len < SPP_PREFIX_SIZE)
                return -EAGAIN;
        uint32_t length = get_u32(buf);
        if (length == 0)
                return -EBADMSG;
        /* Decide on size from the prefix alone, so a reader never buffers an oversized frame. */
        if ((uint64_t)length + SPP_PREFIX_SIZE > max)
                return -EMSGSIZE;
        /* The type byte is checked as soon as it arrives: garbage fails fast, not after 16 MiB. */
        if (len < SPP_HEADER_SIZE)
                return -EAGAIN;
        uint8_t type = buf[SPP_PREFIX_SIZE];
        if (!type_known(type))
                return -EBADMSG;
        if (len - SPP_PREFIX_SIZE < length)
                return -EAGAIN;

        spp_frame f = {.type = type, .body_len = length - 1, .body = buf + SPP_HEADER_SIZE};
        int r = parse_body(type, f.body, f.body_len, &f);
        if (r < 0)
                return r;
        *ret = f;
        *ret_consumed = SPP_PREFIX_SIZE + (size_t)length;
        return 0;
}

void spp_items_begin(const spp_frame *frame, spp_item_iter *it)
{
        *it = (spp_item_iter){.type = frame->type};
        if (frame->type != SPP_BATCH && frame->type != SPP_RESULT)
                return;
        it->p = frame->batch.items;
        it->end = frame->batch.items + frame->batch.items_len;
        it->left = frame->batch.n;
}

bool spp_items_next(spp_item_iter *it, spp_item *ret)
{
        size_t fixed = it->type == SPP_RESULT ? RESULT_ITEM_FIXED : BATCH_ITEM_FIXED;

        /* The frame was validated, but stay defensive against a hand-made iterator. */
        if (it->left == 0 || it->p == NULL || (size_t)(it->end - it->p) < fixed)
                return false;
        spp_item item = {.request_id = get_u64(it->p)};
        item.status = it->type == SPP_RESULT ? it->p[8] : SPP_STATUS_OK;
        item.len = get_u32(it->p + fixed - 4);
        if (item.len > (size_t)(it->end - it->p) - fixed)
                return false;
        item.data = item.len ? it->p + fixed : NULL;
        it->p += fixed + item.len;
        it->left--;
        *ret = item;
        return true;
}

/* ---- encoding ---- */

/* Appends the 5-byte header with a zero length (patched later) and returns its offset. */
static int open_frame(spp_buf *buf, uint8_t type, size_t *ret_start)
{
        uint8_t head[SPP_HEADER_SIZE] = {0, 0, 0, 0, type};
        size_t start = buf->len;
        int r = spp_buf_append(buf, head, sizeof(head));
        if (r < 0)
                return r;
        *ret_start = start;
        return 0;
}

/* Patches the length prefix of the frame starting at `start`, or removes the frame when it is
 * larger than max_frame. */
static int close_frame(spp_buf *buf, size_t start, size_t max_frame)
{
        size_t size = buf->len - start;
        if (size > effective_max(max_frame)) {
                buf->len = start;
                return -EMSGSIZE;
        }
        put_u32(buf->data + start, (uint32_t)(size - SPP_PREFIX_SIZE));
        return 0;
}

static int builder_begin(spp_buf *buf, uint8_t type, uint64_t batch_id, spp_builder *ret)
{
        size_t start;
        int r = open_frame(buf, type, &start);
        if (r < 0)
                return r;
        uint8_t head[BATCH_HEAD];
        put_u64(head, batch_id);
        put_u32(head + 8, 0);
        r = spp_buf_append(buf, head, sizeof(head));
        if (r < 0) {
                buf->len = start;
                return r;
        }
        *ret = (spp_builder){.buf = buf, .start = start, .type = type};
        return 0;
}

int spp_encode_batch_begin(spp_buf *buf, uint64_t batch_id, spp_builder *ret)
{
        return builder_begin(buf, SPP_BATCH, batch_id, ret);
}

int spp_encode_result_begin(spp_buf *buf, uint64_t batch_id, spp_builder *ret)
{
        return builder_begin(buf, SPP_RESULT, batch_id, ret);
}

int spp_builder_add(spp_builder *b, uint64_t request_id, uint8_t status, const void *data,
                    size_t len)
{
        uint8_t rec[RESULT_ITEM_FIXED];
        size_t fixed = b->type == SPP_RESULT ? RESULT_ITEM_FIXED : BATCH_ITEM_FIXED;
        int r;

        if (b->error < 0)
                return b->error;
        if (len > UINT32_MAX || b->n == UINT32_MAX) {
                b->error = -EMSGSIZE;
                return b->error;
        }
        if (b->type == SPP_RESULT && status > SPP_STATUS_INVALID) {
                b->error = -EINVAL;
                return b->error;
        }
        put_u64(rec, request_id);
        if (b->type == SPP_RESULT)
                rec[8] = status;
        put_u32(rec + fixed - 4, (uint32_t)len);
        r = spp_buf_reserve(b->buf, fixed + len);
        if (r < 0) {
                b->error = r;
                return r;
        }
        spp_buf_append(b->buf, rec, fixed); /* cannot fail after the reserve */
        spp_buf_append(b->buf, data, len);
        b->n++;
        return 0;
}

int spp_builder_end(spp_builder *b, size_t max_frame)
{
        if (b->error < 0) {
                int r = b->error;
                spp_builder_abort(b);
                return r;
        }
        put_u32(b->buf->data + b->start + SPP_HEADER_SIZE + 8, b->n);
        return close_frame(b->buf, b->start, max_frame);
}

void spp_builder_abort(spp_builder *b)
{
        if (b && b->buf && b->buf->len > b->start)
                b->buf->len = b->start;
}

static int encode_items(spp_buf *buf, uint8_t type, uint64_t batch_id, const spp_item *items,
                        uint32_t n, size_t max_frame)
{
        spp_builder b;
        int r = builder_begin(buf, type, batch_id, &b);
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < n; i++)
                spp_builder_add(&b, items[i].request_id, items[i].status, items[i].data,
                                items[i].len);
        return spp_builder_end(&b, max_frame);
}

int spp_encode_batch(spp_buf *buf, uint64_t batch_id, const spp_item *items, uint32_t n,
                     size_t max_frame)
{
        return encode_items(buf, SPP_BATCH, batch_id, items, n, max_frame);
}

int spp_encode_result(spp_buf *buf, uint64_t batch_id, const spp_item *items, uint32_t n,
                      size_t max_frame)
{
        return encode_items(buf, SPP_RESULT, batch_id, items, n, max_frame);
}

/* Appends a whole frame: header, `fixed_len` bytes of fixed fields, then optionally a string. */
static int encode_simple(spp_buf *buf, uint8_t type, const uint8_t *fixed, size_t fixed_len,
                         const char *str, size_t str_len, size_t max_frame)
{
        size_t start;
        int r = open_frame(buf, type, &start);
        if (r < 0)
                return r;
        r = spp_buf_append(buf, fixed, fixed_len);
        if (r >= 0 && str) {
                uint8_t n[4];
                if (str_len > UINT32_MAX) {
                        r = -EMSGSIZE;
                } else {
                        put_u32(n, (uint32_t)str_len);
                        r = spp_buf_append(buf, n, sizeof(n));
                        if (r >= 0)
                                r = spp_buf_append(buf, str, str_len);
                }
        }
        if (r < 0) {
                buf->len = start;
                return r;
        }
        return close_frame(buf, start, max_frame);
}

int spp_encode_ready(spp_buf *buf, uint32_t version, uint32_t pid, uint32_t threads,
                     const char *name)
{
        uint8_t fixed[12];
        if (!name || threads < 1)
                return -EINVAL;
        put_u32(fixed, version);
        put_u32(fixed + 4, pid);
        put_u32(fixed + 8, threads);
        return encode_simple(buf, SPP_READY, fixed, sizeof(fixed), name, strlen(name), 0);
}

int spp_encode_set_threads(spp_buf *buf, uint32_t threads)
{
        uint8_t fixed[4];
        if (threads < 1)
                return -EINVAL;
        put_u32(fixed, threads);
        return encode_simple(buf, SPP_SET_THREADS, fixed, sizeof(fixed), NULL, 0, 0);
}

int spp_encode_shutdown(spp_buf *buf)
{
        return encode_simple(buf, SPP_SHUTDOWN, NULL, 0, NULL, 0, 0);
}

int spp_encode_error(spp_buf *buf, const char *msg)
{
        if (!msg)
                msg = "";
        size_t len = strlen(msg);
        if (len > SPP_ERROR_MSG_MAX) {
                len = SPP_ERROR_MSG_MAX;
                /* Back up over UTF-8 continuation bytes (10xxxxxx) so no character is cut. */
                while (len > 0 && ((uint8_t)msg[len] & 0xC0) == 0x80)
                        len--;
        }
        return encode_simple(buf, SPP_ERROR, NULL, 0, msg, len, 0);
}
