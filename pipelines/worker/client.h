/* SPDX-License-Identifier: MIT */
/*
 * client.h — the agent side of one worker connection, for tools and tests (static library
 * sponge_worker_client, prefix spc_): integration tests start real workers with spc_spawn(); the
 * profiler reads frames with it. The agent and the profiler start workers through the agent's
 * one spawn path (agent/spawn.h), which adds the trust boundary's rules (capabilities, fds,
 * worker user, trusted worker directories).
 *
 * What it does
 *   spc_spawn() creates a connected socketpair, forks, lets the caller place the child (e.g.
 *   attach it to a cgroup) BEFORE the child execs — so the loading already runs under the
 *   limit —, then execs argv with SPONGE_SOCKET_FD set. spc_read_frame() reads one frame with a
 *   deadline (never blocks past it); spc_send() writes a whole buffer; spc_stop() sends
 *   SHUTDOWN, waits, and SIGKILLs after a deadline.
 *
 * Invariants
 *   - Every fd is O_CLOEXEC; only the worker's end of the socketpair crosses execve.
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

/* Called in the parent with the child's pid while the child waits before execve. A negative
 * return aborts the spawn (the child is killed and reaped). */
typedef int (*spc_place_fn)(pid_t pid, void *userdata);

/*
 * Starts argv[0] (a path, or a name looked up in $PATH) with the environment of this process
 * minus SPONGE_SOCKET / SPONGE_SOCKET_FD, plus `extra_env` ("KEY=VALUE" strings, NULL-terminated,
 * may be NULL), plus SPONGE_SOCKET_FD. `place` (may be NULL) runs before the exec.
 * Returns 0 and *ret, -ENOENT (program not found), -errno of socketpair/fork, or place's error.
 * *ret untouched on failure. An exec failure shows later as EOF and exit status 127.
 */
int spc_spawn(char *const argv[], char *const extra_env[], spc_place_fn place, void *userdata,
              spc_conn *ret);

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
