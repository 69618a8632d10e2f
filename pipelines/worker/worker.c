/* SPDX-License-Identifier: MIT */
/* libsponge_worker: connection, framing, READY handshake, thread pool; see worker.h. */
#include "pipelines/worker/worker.h"
#include "pipelines/worker/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536u

/* ---- thread pool ---- */

/*
 * helpers[0..nhelpers) run helper_main(). A job is published by bumping `generation`; every
 * helper runs indices of the job until `next` passes n, then decrements `pending`. Resizes
 * happen only between jobs, on the owning thread: shrinking raises `stop_from` so helpers with
 * a higher slot exit, growing spawns new helpers.
 */
typedef struct pool {
        pthread_mutex_t mu;
        pthread_cond_t work_cv;
        pthread_cond_t done_cv;
        pthread_t *helpers;
        unsigned nhelpers;
        unsigned stop_from; /* helpers with slot >= stop_from exit */
        uint64_t generation;
        unsigned pending; /* helpers still inside the current job */
        spw_for_fn fn;
        void *arg;
        size_t n;
        atomic_size_t next;
} pool;

typedef struct helper_arg {
        pool *p;
        unsigned slot;
        uint64_t seen; /* the generation current when the helper was created */
} helper_arg;

static _Thread_local bool in_parallel_body;

static void run_indices(pool *p, unsigned thread)
{
        in_parallel_body = true;
        for (;;) {
                size_t i = atomic_fetch_add(&p->next, 1);
                if (i >= p->n)
                        break;
                p->fn(p->arg, i, thread);
        }
        in_parallel_body = false;
}

static void *helper_main(void *opaque)
{
        helper_arg *ha = opaque;
        pool *p = ha->p;
        unsigned slot = ha->slot;
        /* Not p->generation read here: a job published before this thread first runs would be
         * mistaken for the past, and its `pending` count would never reach zero. */
        uint64_t seen = ha->seen;
        free(ha);

        pthread_mutex_lock(&p->mu);
        for (;;) {
                while (p->generation == seen && slot < p->stop_from)
                        pthread_cond_wait(&p->work_cv, &p->mu);
                if (slot >= p->stop_from)
                        break;
                seen = p->generation;
                pthread_mutex_unlock(&p->mu);
                run_indices(p, slot + 1);
                pthread_mutex_lock(&p->mu);
                if (--p->pending == 0)
                        pthread_cond_signal(&p->done_cv);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

static int pool_init(pool *p)
{
        *p = (pool){0};
        if (pthread_mutex_init(&p->mu, NULL) != 0)
                return -ENOMEM;
        if (pthread_cond_init(&p->work_cv, NULL) != 0) {
                pthread_mutex_destroy(&p->mu);
                return -ENOMEM;
        }
        if (pthread_cond_init(&p->done_cv, NULL) != 0) {
                pthread_cond_destroy(&p->work_cv);
                pthread_mutex_destroy(&p->mu);
                return -ENOMEM;
        }
        return 0;
}

/* Resizes to `threads` total (caller included). On failure to spawn, keeps what it has and
 * returns a negative errno; the pool stays usable. */
static int pool_resize(pool *p, unsigned threads)
{
        unsigned want = threads > 0 ? threads - 1 : 0;

        if (want < p->nhelpers) {
                pthread_mutex_lock(&p->mu);
                p->stop_from = want;
                pthread_cond_broadcast(&p->work_cv);
                pthread_mutex_unlock(&p->mu);
                for (unsigned i = want; i < p->nhelpers; i++)
                        pthread_join(p->helpers[i], NULL);
                p->nhelpers = want;
                return 0;
        }
        if (want == p->nhelpers)
                return 0;
        pthread_t *h = realloc(p->helpers, want * sizeof(*h));
        if (!h)
                return -ENOMEM;
        p->helpers = h;
        pthread_mutex_lock(&p->mu);
        p->stop_from = want;
        pthread_mutex_unlock(&p->mu);
        while (p->nhelpers < want) {
                helper_arg *ha = malloc(sizeof(*ha));
                if (!ha)
                        goto fail;
                *ha = (helper_arg){.p = p, .slot = p->nhelpers, .seen = p->generation};
                int r = pthread_create(&p->helpers[p->nhelpers], NULL, helper_main, ha);
                if (r != 0) {
                        free(ha);
                        goto fail;
                }
                p->nhelpers++;
        }
        return 0;
fail:
        pthread_mutex_lock(&p->mu);
        p->stop_from = p->nhelpers;
        pthread_mutex_unlock(&p->mu);
        return -EAGAIN;
}

static void pool_destroy(pool *p)
{
        pool_resize(p, 1);
        free(p->helpers);
        pthread_cond_destroy(&p->done_cv);
        pthread_cond_destroy(&p->work_cv);
        pthread_mutex_destroy(&p->mu);
}

static void pool_run(pool *p, size_t n, spw_for_fn fn, void *arg)
{
        if (n == 0)
                return;
        if (p->nhelpers == 0 || n == 1 || in_parallel_body) {
                bool nested = in_parallel_body;
                for (size_t i = 0; i < n; i++)
                        fn(arg, i, 0);
                in_parallel_body = nested;
                return;
        }
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        p->n = n;
        atomic_store(&p->next, 0);
        p->pending = p->nhelpers;
        p->generation++;
        pthread_cond_broadcast(&p->work_cv);
        pthread_mutex_unlock(&p->mu);

        run_indices(p, 0);

        pthread_mutex_lock(&p->mu);
        while (p->pending > 0)
                pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
}

/* ---- outputs ---- */

enum { OUT_UNSET, OUT_OK, OUT_ERROR, OUT_INVALID };

typedef struct out_slot {
        uint8_t state;
        uint8_t *data; /* owned */
        size_t len;
} out_slot;

struct spw_outputs {
        out_slot *slots;
        size_t n;
};

static void slot_clear(out_slot *s)
{
        free(s->data);
        *s = (out_slot){0};
}

int spw_output_alloc(spw_outputs *out, size_t i, size_t len, void **ret_ptr)
{
        if (!out || i >= out->n)
                return -ERANGE;
        uint8_t *d = malloc(len ? len : 1);
        if (!d)
                return -ENOMEM;
        out_slot *s = &out->slots[i];
        slot_clear(s);
        *s = (out_slot){.state = OUT_OK, .data = d, .len = len};
        *ret_ptr = d;
        return 0;
}

int spw_output_set(spw_outputs *out, size_t i, const void *data, size_t len)
{
        void *p;
        int r = spw_output_alloc(out, i, len, &p);
        if (r < 0)
                return r;
        if (len)
                memcpy(p, data, len);
        return 0;
}

static int output_verror(spw_outputs *out, size_t i, int state, const char *fmt, va_list ap)
{
        char msg[SPP_ERROR_MSG_MAX + 1];
        if (!out || i >= out->n)
                return -ERANGE;
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        if (n < 0)
                return -EINVAL;
        /* A message longer than the buffer is cut; that is fine for an error text. */
        size_t len = strlen(msg);
        uint8_t *d = malloc(len ? len : 1);
        if (!d)
                return -ENOMEM;
        memcpy(d, msg, len);
        out_slot *s = &out->slots[i];
        slot_clear(s);
        *s = (out_slot){.state = state, .data = d, .len = len};
        return 0;
}

int spw_output_fail(spw_outputs *out, size_t i, spw_fault fault, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r =
            output_verror(out, i, fault == SPW_FAULT_INVALID ? OUT_INVALID : OUT_ERROR, fmt, ap);
        va_end(ap);
        return r;
}

static uint8_t slot_status(const out_slot *s)
{
        return s->state == OUT_OK        ? SPP_STATUS_OK
               : s->state == OUT_INVALID ? SPP_STATUS_INVALID
                                         : SPP_STATUS_ERROR;
}

static int output_error_str(spw_outputs *out, size_t i, const char *msg)
{
        return spw_output_error(out, i, "%s", msg);
}

/* ---- the running worker ---- */

struct spw_ctx {
        const spw_worker *w;
        int fd;
        size_t max_frame;
        unsigned threads;
        pool pool;
        spp_buf rbuf;
        spp_buf wbuf;
        char *errmsg;
        size_t errmsg_size;
};

unsigned spw_threads(const spw_ctx *ctx)
{
        return ctx->threads;
}

void spw_parallel_for(spw_ctx *ctx, size_t n, spw_for_fn fn, void *arg)
{
        pool_run(&ctx->pool, n, fn, arg);
}

static int fail(spw_ctx *ctx, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the first failure's description and returns r. */
static int fail(spw_ctx *ctx, int r, const char *fmt, ...)
{
        if (ctx->errmsg && ctx->errmsg_size > 0 && ctx->errmsg[0] == '\0') {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(ctx->errmsg, ctx->errmsg_size, fmt, ap); /* cut is fine */
                va_end(ap);
        }
        return r;
}

static uint64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Parses an unsigned decimal environment variable; absent → *ret untouched, returns 0. */
static int env_ulong(const char *name, unsigned long max, unsigned long *ret)
{
        const char *s = getenv(name);
        if (!s)
                return 0;
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int connect_env(spw_ctx *ctx)
{
        unsigned long fd = ULONG_MAX; /* stays ULONG_MAX when the variable is absent */
        int r = env_ulong(SPP_ENV_SOCKET_FD, INT_MAX, &fd);
        if (r < 0)
                return fail(ctx, r, "%s is not a file descriptor number", SPP_ENV_SOCKET_FD);
        if (fd != ULONG_MAX) {
                int flags = fcntl((int)fd, F_GETFD);
                if (flags < 0)
                        return fail(ctx, -EBADF, "%s=%lu is not an open file descriptor",
                                    SPP_ENV_SOCKET_FD, fd);
                /* Inherited on purpose; our own children must not inherit it again. */
                fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
                ctx->fd = (int)fd;
                return 0;
        }
        const char *path = getenv(SPP_ENV_SOCKET);
        if (!path || !*path)
                return fail(ctx, -EINVAL, "neither %s nor %s is set", SPP_ENV_SOCKET_FD,
                            SPP_ENV_SOCKET);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return fail(ctx, -ENAMETOOLONG, "%s is longer than %zu bytes", SPP_ENV_SOCKET,
                            sizeof(sa.sun_path) - 1);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return fail(ctx, -errno, "socket: %s", strerror(errno));
        if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;
                close(s);
                return fail(ctx, -e, "connect %s: %s", path, strerror(e));
        }
        ctx->fd = s;
        return 0;
}

/* Writes the whole write buffer. MSG_NOSIGNAL: a dead agent is an error code, not SIGPIPE. */
static int flush(spw_ctx *ctx)
{
        size_t off = 0;
        while (off < ctx->wbuf.len) {
                ssize_t w = send(ctx->fd, ctx->wbuf.data + off, ctx->wbuf.len - off, MSG_NOSIGNAL);
                if (w < 0 && errno == ENOTSOCK)
                        w = write(ctx->fd, ctx->wbuf.data + off, ctx->wbuf.len - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                /* The agent may hand over a non-blocking fd: wait until it
                                 * drains instead of failing. */
                                struct pollfd pfd = {.fd = ctx->fd, .events = POLLOUT};
                                (void)poll(&pfd, 1, -1);
                                continue;
                        }
                        int e = errno;
                        ctx->wbuf.len = 0;
                        return fail(ctx, -e, "write: %s", strerror(e));
                }
                off += (size_t)w;
        }
        ctx->wbuf.len = 0;
        return 0;
}

/* Sends ERROR(msg) (best effort), then reports r. The caller closes the connection. */
static int protocol_error(spw_ctx *ctx, int r, const char *msg)
{
        ctx->wbuf.len = 0;
        if (spp_encode_error(&ctx->wbuf, msg) == 0)
                (void)flush(ctx);
        return fail(ctx, r, "%s", msg);
}

/* Encodes the RESULT for `in`; outputs that are unset become "no output" errors. */
static int encode_result(spw_ctx *ctx, const spw_batch *in, spw_outputs *out, bool all_errors,
                         const char *all_msg)
{
        spp_builder b;
        int r = spp_encode_result_begin(&ctx->wbuf, in->batch_id, &b);
        if (r < 0)
                return r;
        for (size_t i = 0; i < in->n; i++) {
                const out_slot *s = &out->slots[i];
                if (all_errors)
                        spp_builder_add(&b, in->items[i].request_id, SPP_STATUS_ERROR, all_msg,
                                        strlen(all_msg));
                else if (s->state == OUT_UNSET)
                        spp_builder_add(&b, in->items[i].request_id, SPP_STATUS_ERROR, "no output",
                                        strlen("no output"));
                else
                        spp_builder_add(&b, in->items[i].request_id, slot_status(s), s->data,
                                        s->len);
        }
        return spp_builder_end(&b, ctx->max_frame);
}

static int handle_batch(spw_ctx *ctx, const spp_frame *f)
{
        spw_input *items = calloc(f->batch.n ? f->batch.n : 1, sizeof(*items));
        out_slot *slots = calloc(f->batch.n ? f->batch.n : 1, sizeof(*slots));
        int r = 0;

        if (!items || !slots) {
                r = fail(ctx, -ENOMEM, "out of memory for a batch of %" PRIu32, f->batch.n);
                goto out;
        }
        spp_item_iter it;
        spp_item item;
        size_t n = 0;
        spp_items_begin(f, &it);
        while (spp_items_next(&it, &item))
                items[n++] = (spw_input){item.request_id, item.data, item.len};

        spw_batch in = {.batch_id = f->batch.batch_id, .n = n, .items = items, .ctx = ctx};
        spw_outputs out = {.slots = slots, .n = n};
        int pr = ctx->w->process(&in, &out, ctx->w->userdata);
        if (pr < 0) {
                char msg[256];
                snprintf(msg, sizeof(msg), "worker failed: %s", strerror(-pr));
                for (size_t i = 0; i < n; i++)
                        if (slots[i].state == OUT_UNSET)
                                output_error_str(&out, i, msg);
        }
        r = encode_result(ctx, &in, &out, false, NULL);
        if (r == -EMSGSIZE)
                r = encode_result(ctx, &in, &out, true, "output too large for the frame limit");
        if (r < 0) {
                r = fail(ctx, r, "cannot encode RESULT: %s", strerror(-r));
                goto out;
        }
        r = flush(ctx);
out:
        for (size_t i = 0; slots && i < f->batch.n; i++)
                slot_clear(&slots[i]);
        free(slots);
        free(items);
        return r;
}

/* Handles one decoded frame. Returns 0 to go on, 1 after SHUTDOWN, or a negative errno. */
static int handle_frame(spw_ctx *ctx, const spp_frame *f)
{
        char msg[160];

        switch (f->type) {
        case SPP_BATCH:
                return handle_batch(ctx, f);
        case SPP_SET_THREADS: {
                unsigned t = f->set_threads.threads;
                if (t > SPW_MAX_THREADS)
                        t = SPW_MAX_THREADS;
                /* If threads cannot be spawned, keep serving with what we have. */
                (void)pool_resize(&ctx->pool, t);
                ctx->threads = ctx->pool.nhelpers + 1;
                return 0;
        }
        case SPP_SHUTDOWN:
                return 1;
        case SPP_ERROR: {
                int len = f->error.len > 512 ? 512 : (int)f->error.len;
                return fail(ctx, -ECONNABORTED, "agent sent ERROR: %.*s", len, f->error.msg);
        }
        default:
                snprintf(msg, sizeof(msg), "unexpected %s frame from the agent",
                         spp_type_name(f->type));
                return protocol_error(ctx, -EBADMSG, msg);
        }
}

/* Waits until fd is readable; with a partial frame buffered, for at most the time left of
 * SPW_PARTIAL_FRAME_TIMEOUT_US since it started. */
static int wait_readable(spw_ctx *ctx, uint64_t partial_since_us)
{
        for (;;) {
                int timeout_ms = -1;
                if (partial_since_us) {
                        uint64_t now = now_us();
                        uint64_t end = partial_since_us + SPW_PARTIAL_FRAME_TIMEOUT_US;
                        if (now >= end)
                                return protocol_error(ctx, -ETIMEDOUT,
                                                      "frame not completed within 10 s");
                        timeout_ms = (int)((end - now + 999) / 1000);
                }
                struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
                int r = poll(&pfd, 1, timeout_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return fail(ctx, -errno, "poll: %s", strerror(errno));
                if (r > 0)
                        return 0;
        }
}

static int serve(spw_ctx *ctx)
{
        uint64_t partial_since_us = 0;

        for (;;) {
                spp_frame f;
                size_t used;
                int r = spp_frame_parse(ctx->rbuf.data, ctx->rbuf.len, ctx->max_frame, &f, &used);
                if (r == 0) {
                        r = handle_frame(ctx, &f);
                        spp_buf_consume(&ctx->rbuf, used);
                        partial_since_us = 0;
                        if (r != 0)
                                return r > 0 ? 0 : r;
                        continue;
                }
                if (r == -EMSGSIZE)
                        return protocol_error(ctx, r, "frame larger than the frame limit");
                if (r == -EBADMSG)
                        return protocol_error(ctx, r, "malformed frame");
                /* -EAGAIN: read more. */
                if (ctx->rbuf.len > 0 && partial_since_us == 0)
                        partial_since_us = now_us();
                r = wait_readable(ctx, partial_since_us);
                if (r < 0)
                        return r;
                r = spp_buf_reserve(&ctx->rbuf, READ_CHUNK);
                if (r < 0)
                        return fail(ctx, r, "out of memory for the read buffer");
                ssize_t got =
                    read(ctx->fd, ctx->rbuf.data + ctx->rbuf.len, ctx->rbuf.cap - ctx->rbuf.len);
                if (got < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (got < 0)
                        return fail(ctx, -errno, "read: %s", strerror(errno));
                if (got == 0) {
                        if (ctx->rbuf.len > 0)
                                return protocol_error(ctx, -EBADMSG,
                                                      "connection closed inside a frame");
                        return fail(ctx, -ECONNRESET, "agent closed the connection");
                }
                ctx->rbuf.len += (size_t)got;
        }
}

static int setup(spw_ctx *ctx)
{
        unsigned long v = 0;
        int r;

        if (ctx->max_frame == 0) {
                r = env_ulong(SPW_ENV_MAX_FRAME, UINT32_MAX, &v);
                if (r < 0)
                        return fail(ctx, r, "%s is not a byte count", SPW_ENV_MAX_FRAME);
                ctx->max_frame = v ? v : SPP_MAX_FRAME_DEFAULT;
        }
        v = 1;
        r = env_ulong(SPW_ENV_THREADS, SPW_MAX_THREADS, &v);
        if (r < 0 || v == 0)
                return fail(ctx, -EINVAL, "%s must be 1..%u", SPW_ENV_THREADS, SPW_MAX_THREADS);
        r = pool_resize(&ctx->pool, (unsigned)v);
        if (r < 0)
                return fail(ctx, r, "cannot start %lu threads", v);
        ctx->threads = ctx->pool.nhelpers + 1;
        return connect_env(ctx);
}

int spw_run(const spw_worker *w, char *errmsg, size_t errmsg_size)
{
        spw_ctx ctx = {.w = w, .fd = -1, .errmsg = errmsg, .errmsg_size = errmsg_size};
        int r;

        if (errmsg && errmsg_size)
                errmsg[0] = '\0';
        if (!w || !w->process || !w->name)
                return fail(&ctx, -EINVAL, "worker needs a name and a process callback");
        ctx.max_frame = w->max_frame;
        r = pool_init(&ctx.pool);
        if (r < 0)
                return fail(&ctx, r, "cannot create the thread pool");

        r = setup(&ctx);
        if (r < 0)
                goto out;
        if (w->init) {
                r = w->init(&ctx, w->userdata);
                if (r < 0) {
                        char msg[256];
                        snprintf(msg, sizeof(msg), "initialisation failed: %s", strerror(-r));
                        r = protocol_error(&ctx, r, msg);
                        goto out;
                }
        }
        r = spp_encode_ready(&ctx.wbuf, SPP_PROTOCOL_VERSION, (uint32_t)getpid(), ctx.threads,
                             w->name);
        if (r < 0) {
                r = fail(&ctx, r, "cannot encode READY: %s", strerror(-r));
                goto out;
        }
        r = flush(&ctx);
        if (r < 0)
                goto out;
        r = serve(&ctx);
        if (r == 0 && w->fini)
                w->fini(w->userdata);
out:
        if (ctx.fd >= 0)
                close(ctx.fd);
        pool_destroy(&ctx.pool);
        spp_buf_free(&ctx.rbuf);
        spp_buf_free(&ctx.wbuf);
        return r;
}

int spw_main(const spw_worker *w)
{
        char msg[512];

        signal(SIGPIPE, SIG_IGN);
        int r = spw_run(w, msg, sizeof(msg));
        if (r == 0 || r == -ECONNRESET)
                return 0;
        fprintf(stderr, "%s: %s\n", w && w->name ? w->name : "worker", msg);
        return 1;
}
