/* SPDX-License-Identifier: MIT */
/*
 * protocol.h — the stage-worker protocol codec (static library sponge_protocol, prefix spp_).
 *
 * What it does
 *   Encodes and decodes the length-prefixed binary frames that the agent and a stage worker
 *   exchange over a UNIX stream socket. Pure functions on memory buffers: no I/O, no threads,
 *   no logging, no policy. Readers (blocking or not) append whatever bytes they have to a
 *   buffer and call spp_frame_parse() until it stops returning 0; writers encode frames into
 *   an spp_buf and write its bytes out however they like.
 *
 * Wire format (all integers little-endian; full description in pipelines/worker/README.md)
 *   frame   = u32 length, u8 type, body          length = 1 + body size (type byte included),
 *                                                 so a whole frame is 4 + length bytes.
 *   string  = u32 byte count, UTF-8 bytes (no terminating NUL)
 *   BATCH       (agent→worker)  u64 batch_id, u32 n, n × { u64 request_id, u32 len, len bytes }
 *   RESULT      (worker→agent)  u64 batch_id, u32 n,
 *                               n × { u64 request_id, u8 status, u32 len, len bytes }
 *                               status 0 = ok (bytes = output), 1 = error (bytes = UTF-8 message),
 *                               2 = invalid input (bytes = UTF-8 message)
 *   READY       (worker→agent)  u32 protocol version, u32 pid, u32 threads, string name
 *   SET_THREADS (agent→worker)  u32 threads (≥ 1)
 *   SHUTDOWN    (agent→worker)  empty body
 *   ERROR       (either way)    string message; the sender then closes the connection
 *
 * Invariants
 *   - A frame (4 + length bytes) never exceeds max_frame; encoders refuse (-EMSGSIZE) and
 *     decoders reject (-EMSGSIZE) as soon as the 4-byte prefix is known, so a reader never
 *     buffers more than max_frame bytes for one frame.
 *   - spp_frame_parse() accepts a frame only if its body is exactly what its type says: no
 *     missing bytes, no trailing bytes, item counts consistent with the body, known type.
 *   - Decoded frames borrow from the caller's buffer (zero copy): pointers in spp_frame and
 *     spp_item stay valid until the caller modifies or frees those bytes.
 *   - Encoders append to an spp_buf; on failure the buffer is left exactly as it was.
 *
 * Threads
 *   No global state. An spp_buf / spp_builder belongs to one thread at a time.
 *
 * API walk-through
 *   Writing:  spp_buf b = SPP_BUF_INIT;
 *             spp_builder bb;
 *             spp_encode_batch_begin(&b, batch_id, &bb);
 *             spp_builder_add(&bb, request_id, SPP_STATUS_OK, data, len);   (repeat)
 *             spp_builder_end(&bb, max_frame);          → b.data[0..b.len) is one BATCH frame
 *             ... write(fd, b.data, b.len) ... spp_buf_consume(&b, written);
 *             spp_buf_free(&b);
 *   Reading:  spp_buf_reserve(&rb, 65536); r = read(fd, rb.data + rb.len, rb.cap - rb.len);
 *             rb.len += r;
 *             while ((r = spp_frame_parse(rb.data, rb.len, max_frame, &f, &used)) == 0) {
 *                     if (f.type == SPP_BATCH) {
 *                             spp_item_iter it; spp_item item;
 *                             spp_items_begin(&f, &it);
 *                             while (spp_items_next(&it, &item)) ...;
 *                     }
 *                     spp_buf_consume(&rb, used);     (invalidates f: use it before this)
 *             }
 *             r == -EAGAIN: read more; -EBADMSG / -EMSGSIZE: send ERROR, close.
 */
#ifndef SPONGE_PIPELINES_WORKER_PROTOCOL_H
#define SPONGE_PIPELINES_WORKER_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPP_PROTOCOL_VERSION  1u
#define SPP_MAX_FRAME_DEFAULT (16u * 1024u * 1024u) /* whole frame, prefix included */
#define SPP_PREFIX_SIZE       4u                    /* the u32 length */
#define SPP_HEADER_SIZE       5u                    /* u32 length + u8 type */
#define SPP_MIN_MAX_FRAME     4096u                 /* smallest max_frame accepted */
#define SPP_ERROR_MSG_MAX     1024u                 /* longest message spp_encode_error sends */

/* Environment variables through which the agent hands a worker its connection. */
#define SPP_ENV_SOCKET    "SPONGE_SOCKET"    /* path of a UNIX stream socket to connect to */
#define SPP_ENV_SOCKET_FD "SPONGE_SOCKET_FD" /* an already-connected fd; takes precedence */

typedef enum spp_type {
        SPP_BATCH = 1,
        SPP_RESULT = 2,
        SPP_READY = 3,
        SPP_SET_THREADS = 4,
        SPP_SHUTDOWN = 5,
        SPP_ERROR = 6,
} spp_type;

typedef enum spp_status {
        SPP_STATUS_OK = 0,
        SPP_STATUS_ERROR = 1,
        SPP_STATUS_INVALID = 2, /* this item's input is malformed: the client's fault (HTTP 400) */
} spp_status;

/* One item of a BATCH or RESULT frame, borrowed from the decoded buffer. For BATCH items
 * status is always SPP_STATUS_OK. */
typedef struct spp_item {
        uint64_t request_id;
        uint8_t status;
        uint32_t len;
        const uint8_t *data; /* len bytes, borrowed; NULL when len == 0 */
} spp_item;

/* A decoded frame. All pointers borrow from the buffer given to spp_frame_parse(). */
typedef struct spp_frame {
        uint8_t type;        /* an spp_type */
        uint32_t body_len;   /* bytes after the type byte */
        const uint8_t *body; /* borrowed */
        union {
                struct { /* SPP_BATCH, SPP_RESULT */
                        uint64_t batch_id;
                        uint32_t n;
                        const uint8_t *items; /* start of the item records, borrowed */
                        uint32_t items_len;
                } batch;
                struct { /* SPP_READY */
                        uint32_t version;
                        uint32_t pid;
                        uint32_t threads;
                        uint32_t name_len;
                        const char *name; /* NOT NUL-terminated */
                } ready;
                struct { /* SPP_SET_THREADS */
                        uint32_t threads;
                } set_threads;
                struct { /* SPP_ERROR */
                        uint32_t len;
                        const char *msg; /* NOT NUL-terminated */
                } error;
        };
} spp_frame;

/* Iterator over the items of a decoded BATCH or RESULT frame. */
typedef struct spp_item_iter {
        const uint8_t *p;
        const uint8_t *end;
        uint32_t left;
        uint8_t type;
} spp_item_iter;

/* A growable byte buffer. data[0..len) are valid bytes, cap is the allocation size. */
typedef struct spp_buf {
        uint8_t *data;
        size_t len;
        size_t cap;
} spp_buf;

#define SPP_BUF_INIT                                                                               \
        {                                                                                          \
                NULL, 0, 0                                                                         \
        }

/* An open BATCH or RESULT frame being appended to an spp_buf. */
typedef struct spp_builder {
        spp_buf *buf;
        size_t start; /* offset of the frame's length prefix in buf */
        uint32_t n;
        uint8_t type;
        int error; /* first failure of spp_builder_add(), reported again by spp_builder_end() */
} spp_builder;

/* ---- buffers ---- */

/* Ensures at least `extra` free bytes after len. Returns 0 or -ENOMEM (buffer unchanged). */
int spp_buf_reserve(spp_buf *buf, size_t extra);
/* Appends bytes. Returns 0 or -ENOMEM (buffer unchanged). */
int spp_buf_append(spp_buf *buf, const void *data, size_t len);
/* Drops the first n bytes (n > len drops everything). Never fails. */
void spp_buf_consume(spp_buf *buf, size_t n);
/* Frees the storage and resets to SPP_BUF_INIT. Accepts NULL. */
void spp_buf_free(spp_buf *buf);

/* ---- decoding ---- */

/*
 * Decodes the first frame in buf[0..len).
 * max_frame: largest whole frame accepted (0 = SPP_MAX_FRAME_DEFAULT; values below
 * SPP_MIN_MAX_FRAME are raised to it).
 * Returns 0 with *ret (borrowing from buf) and *ret_consumed = bytes of that frame;
 *         -EAGAIN if buf holds only a valid prefix of a frame (read more, call again);
 *         -EMSGSIZE if the length prefix announces a frame larger than max_frame;
 *         -EBADMSG if the bytes cannot be a frame (zero length, unknown type, body not
 *                  matching its type).
 * On any error *ret and *ret_consumed are untouched. The connection cannot be resynchronised
 * after -EMSGSIZE or -EBADMSG: send ERROR and close.
 */
int spp_frame_parse(const uint8_t *buf, size_t len, size_t max_frame, spp_frame *ret,
                    size_t *ret_consumed);

/* Starts iterating the items of a frame decoded by spp_frame_parse(). For frames other than
 * BATCH/RESULT the iterator yields nothing. */
void spp_items_begin(const spp_frame *frame, spp_item_iter *it);
/* Returns true and fills *ret with the next item, or false at the end. Cannot fail on a frame
 * that spp_frame_parse() accepted. */
bool spp_items_next(spp_item_iter *it, spp_item *ret);

/* "BATCH", "RESULT", ... or "UNKNOWN". */
const char *spp_type_name(uint8_t type);

/* ---- encoding (each appends one whole frame to buf; on error buf is unchanged) ---- */

/* Opens a BATCH / RESULT frame at the end of buf. Returns 0 or -ENOMEM. */
int spp_encode_batch_begin(spp_buf *buf, uint64_t batch_id, spp_builder *ret);
int spp_encode_result_begin(spp_buf *buf, uint64_t batch_id, spp_builder *ret);
/*
 * Appends one item. status is ignored for BATCH frames. Returns 0, -ENOMEM, or -EMSGSIZE
 * (item longer than UINT32_MAX / item count overflow). After a failure the builder remembers
 * the error and spp_builder_end() fails with it (so callers may check only the end).
 */
int spp_builder_add(spp_builder *b, uint64_t request_id, uint8_t status, const void *data,
                    size_t len);
/*
 * Closes the frame: patches its length prefix and item count. Returns 0, or the first error
 * of spp_builder_add(), or -EMSGSIZE if the frame exceeds max_frame (0 = default); on error
 * the frame is removed from the buffer (buf back to its state before _begin).
 */
int spp_builder_end(spp_builder *b, size_t max_frame);
/* Removes an open frame from the buffer (buf back to its state before _begin). */
void spp_builder_abort(spp_builder *b);

/* One-shot BATCH / RESULT from an array of items. Returns 0, -ENOMEM or -EMSGSIZE. */
int spp_encode_batch(spp_buf *buf, uint64_t batch_id, const spp_item *items, uint32_t n,
                     size_t max_frame);
int spp_encode_result(spp_buf *buf, uint64_t batch_id, const spp_item *items, uint32_t n,
                      size_t max_frame);
/* READY; name is a NUL-terminated UTF-8 string, threads ≥ 1. Returns 0, -EINVAL, -ENOMEM or
 * -EMSGSIZE. */
int spp_encode_ready(spp_buf *buf, uint32_t version, uint32_t pid, uint32_t threads,
                     const char *name);
/* SET_THREADS; threads must be ≥ 1. Returns 0, -EINVAL or -ENOMEM. */
int spp_encode_set_threads(spp_buf *buf, uint32_t threads);
/* SHUTDOWN. Returns 0 or -ENOMEM. */
int spp_encode_shutdown(spp_buf *buf);
/* ERROR; msg is a NUL-terminated UTF-8 string, cut (at a UTF-8 character boundary) to at most
 * SPP_ERROR_MSG_MAX bytes so it fits any max_frame. Returns 0 or -ENOMEM. */
int spp_encode_error(spp_buf *buf, const char *msg);

#endif /* SPONGE_PIPELINES_WORKER_PROTOCOL_H */
