/* SPDX-License-Identifier: MIT */
/*
 * client.h — the agent side of one worker connection, for tools and tests (static library
 * sponge_worker_client, prefix spc_). It never starts a worker: the agent, the profiler and the
 * tests start workers through the agent's one spawn path (agent/spawn.h: capabilities, fds,
 * environment, worker user, placement before execve) and wrap the pid and socket it returns
 * in an spc_conn.
 *
 * What it does
 *   spc_read_frame() reads one frame with a deadline (never blocks past it); spc_send() writes
 *   a whole buffer; spc_wait_ready() and spc_set_threads() speak the start of the protocol;
 *   spc_stop() sends SHUTDOWN, waits, and SIGKILLs after a deadline.
 *
 * Invariants
 *   - A frame is returned only when complete and valid (spp_frame_parse); it borrows from the
 *     connection's read buffer until spc_frame_done().
 *   - After spc_stop()/spc_kill() the child is reaped; the struct can be discarded.
 *
 * Threads: one spc_conn belongs to one thread.
 */
#ifndef SPONGE_PIPELINES_WORKER_CLIENT_H
#define SPONGE_PIPELINES_WORKER_CLIENT_H

#include "pipelines/worker/protocol.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct spc_conn {
        pid_t pid;        /* -1 once reaped */
        int fd;           /* our end; -1 once closed */
        size_t max_frame; /* 0 = SPP_MAX_FRAME_DEFAULT */
        spp_buf rbuf;
        size_t pending; /* bytes of the frame last returned, dropped by spc_frame_done() */
} spc_conn;

/*
 * Reads the next frame, waiting at most timeout_ms (< 0: no limit). Returns 0 with *ret (call
 * spc_frame_done() when finished with it), -ECONNRESET (EOF at a frame boundary), -EPIPE (EOF
 * inside a frame), -EBADMSG / -EMSGSIZE (invalid frame; the connection is unusable),
 * -ETIMEDOUT, or -errno of read/poll.
 */
int spc_read_frame(spc_conn *c, int timeout_ms, spp_frame *ret);
/* Drops the frame last returned by spc_read_frame(). */
void spc_frame_done(spc_conn *c);

/* Writes all of buf (then empties it). Returns 0 or -errno (-EPIPE: the worker is gone). */
int spc_send(spc_conn *c, spp_buf *buf);

/* Waits for READY (timeout_ms). Returns 0 and the worker's thread count, -EPROTO if another
 * frame came first (ERROR included: its text goes to errmsg when not NULL), or a read error. */
int spc_wait_ready(spc_conn *c, int timeout_ms, uint32_t *ret_threads, char *errmsg,
                   size_t errmsg_size);

/* Sends SET_THREADS. Returns 0 or -errno. */
int spc_set_threads(spc_conn *c, uint32_t threads);

/* Sends SHUTDOWN, waits up to timeout_ms for the exit (then SIGKILL), reaps, closes. Returns 0
 * and the wait status in *ret_status (may be NULL). Accepts a connection already stopped. */
int spc_stop(spc_conn *c, int timeout_ms, int *ret_status);
/* SIGKILLs, reaps, closes. Returns 0 and the wait status (may be NULL). */
int spc_kill(spc_conn *c, int *ret_status);

#endif /* SPONGE_PIPELINES_WORKER_CLIENT_H */
