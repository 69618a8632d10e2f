/* SPDX-License-Identifier: MIT */
/*
 * worker.h — libsponge_worker: write a sponged stage worker as one callback (prefix spw_).
 *
 * What it does
 *   Runs the worker side of the stage-worker protocol (protocol.h): finds the connection the
 *   agent handed over (env SPONGE_SOCKET_FD, an already-connected fd, takes precedence over
 *   SPONGE_SOCKET, a UNIX stream socket path), runs the optional init (loading) callback,
 *   sends READY, then serves frames in order until SHUTDOWN:
 *     BATCH       → process(batch) → one RESULT with one output or one error per item;
 *     SET_THREADS → resizes the thread pool used by spw_parallel_for() (between batches);
 *     SHUTDOWN    → fini, return 0;
 *     ERROR       → the agent gave up on us: return -ECONNABORTED;
 *   Malformed, truncated or oversized frames (and frames a worker never receives: RESULT,
 *   READY) are answered with an ERROR frame and the connection is closed: never a crash, never
 *   a hang (a frame started but not finished within SPW_PARTIAL_FRAME_TIMEOUT_US is an error).
 *   A crash in the callback kills the process; the agent sees EOF and restarts it.
 *
 * Invariants
 *   - Exactly one RESULT per BATCH, with the batch's id and its items in the same order with the
 *     same request ids. An item the callback left unset gets status error "no output".
 *   - If process() returns a negative errno, every item it did not set gets an error carrying
 *     that errno's message; the worker keeps serving.
 *   - If the RESULT would exceed the frame limit, every output is replaced by an error saying
 *     so (the frame is still sent).
 *
 * Threads
 *   spw_run() runs on the caller's thread, which also calls init/process/fini. The pool has
 *   threads-1 helper threads; spw_parallel_for() runs on the caller plus the helpers and
 *   returns when all indices are done. spw_output_*() may be called concurrently for DISTINCT
 *   item indices (e.g. from a parallel_for body); never twice concurrently for one index.
 *   Nested spw_parallel_for() calls (from inside a body) run serially on the calling thread.
 *
 * Lifecycle / API walk-through
 *   static int process(const spw_batch *in, spw_outputs *out, void *ud) {
 *           for (size_t i = 0; i < in->n; i++)
 *                   spw_output_set(out, i, in->items[i].data, in->items[i].len);
 *           return 0;
 *   }
 *   int main(void) {
 *           spw_worker w = {.name = "echo", .process = process};
 *           return spw_main(&w);   // exit status: 0 after SHUTDOWN, 1 on error
 *   }
 *
 * Environment
 *   SPONGE_SOCKET_FD   connected stream socket fd (precedence)
 *   SPONGE_SOCKET      path of a UNIX stream socket to connect to
 *   SPONGE_THREADS     initial pool size (default 1; the agent sends SET_THREADS after READY
 *                      and after every resize)
 *   SPONGE_MAX_FRAME   largest frame in bytes (default 16 MiB), if spw_worker.max_frame is 0
 */
#ifndef SPONGE_PIPELINES_WORKER_WORKER_H
#define SPONGE_PIPELINES_WORKER_WORKER_H

#include <stddef.h>
#include <stdint.h>

#define SPW_MAX_THREADS              256u /* SET_THREADS above this is clamped */
#define SPW_PARTIAL_FRAME_TIMEOUT_US (10u * 1000u * 1000u)
#define SPW_ENV_THREADS              "SPONGE_THREADS"
#define SPW_ENV_MAX_FRAME            "SPONGE_MAX_FRAME"

typedef struct spw_ctx spw_ctx;         /* the running worker: pool, connection */
typedef struct spw_outputs spw_outputs; /* the per-item outputs of one batch */

/* One input item, borrowed from the received frame (valid during process()). */
typedef struct spw_input {
        uint64_t request_id;
        const uint8_t *data; /* NULL when len == 0 */
        size_t len;
} spw_input;

typedef struct spw_batch {
        uint64_t batch_id;
        size_t n;
        const spw_input *items;
        spw_ctx *ctx; /* for spw_parallel_for() / spw_threads() */
} spw_batch;

/* Fills `out` for the items of `in`; returns 0 or a negative errno (see invariants). */
typedef int (*spw_process_fn)(const spw_batch *in, spw_outputs *out, void *userdata);
/* Loading: runs once before READY; a negative errno aborts start-up (ERROR sent, exit 1). */
typedef int (*spw_init_fn)(spw_ctx *ctx, void *userdata);
/* Runs once after SHUTDOWN (not after errors). */
typedef void (*spw_fini_fn)(void *userdata);
/* One index of a parallel loop; thread is 0 (the caller) .. spw_threads()-1. */
typedef void (*spw_for_fn)(void *arg, size_t index, unsigned thread);

typedef struct spw_worker {
        const char *name;       /* sent in READY (required) */
        spw_process_fn process; /* required */
        spw_init_fn init;       /* optional */
        spw_fini_fn fini;       /* optional */
        void *userdata;
        size_t max_frame; /* 0 = SPONGE_MAX_FRAME or SPP_MAX_FRAME_DEFAULT */
} spw_worker;

/*
 * Serves one connection until SHUTDOWN. Returns 0 after SHUTDOWN, or a negative errno:
 * -ECONNRESET when the agent closed the connection without SHUTDOWN, -ECONNABORTED after an
 * ERROR frame from the agent, -EBADMSG / -EMSGSIZE / -ETIMEDOUT after a bad frame (ERROR sent,
 * connection closed), -EINVAL for a bad environment or worker, or init's error. When errmsg is
 * not NULL it receives a one-line description of the failure (empty on success).
 */
int spw_run(const spw_worker *w, char *errmsg, size_t errmsg_size);

/* spw_run() for main(): prints a failure to stderr as "NAME: MESSAGE" and returns the process
 * exit status: 0 after SHUTDOWN or when the agent closed the connection at a frame boundary,
 * 1 otherwise. SIGPIPE is ignored (write errors are handled as return codes). */
int spw_main(const spw_worker *w);

/* Sets item i's output to a copy of data[0..len). Returns 0, -ERANGE (bad index), -ENOMEM. */
int spw_output_set(spw_outputs *out, size_t i, const void *data, size_t len);
/* Gives item i a writable output of len bytes in *ret_ptr, to be filled before process()
 * returns. Returns 0, -ERANGE or -ENOMEM (*ret_ptr untouched). */
int spw_output_alloc(spw_outputs *out, size_t i, size_t len, void **ret_ptr);
/* How an item failed: the worker's fault or the input's (what the agent answers the client). */
typedef enum spw_fault {
        SPW_FAULT_ERROR,   /* the item failed: 502 */
        SPW_FAULT_INVALID, /* the input is malformed: 400 */
} spw_fault;
/* Marks item i failed with a printf-formatted UTF-8 message. Returns 0, -ERANGE or -ENOMEM. */
int spw_output_fail(spw_outputs *out, size_t i, spw_fault fault, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The two faults by name: spw_output_error(out, i, fmt, ...), spw_output_invalid(...). */
#define spw_output_error(out, i, ...)   spw_output_fail((out), (i), SPW_FAULT_ERROR, __VA_ARGS__)
#define spw_output_invalid(out, i, ...) spw_output_fail((out), (i), SPW_FAULT_INVALID, __VA_ARGS__)

/* Current pool size (≥ 1): what the agent last sent in SET_THREADS (or SPONGE_THREADS). */
unsigned spw_threads(const spw_ctx *ctx);
/* Runs fn(arg, i, thread) for every i in [0, n) on the pool; returns when all are done.
 * Indices are handed out dynamically, one at a time, so make each index a sizeable chunk. */
void spw_parallel_for(spw_ctx *ctx, size_t n, spw_for_fn fn, void *arg);

#endif /* SPONGE_PIPELINES_WORKER_WORKER_H */
