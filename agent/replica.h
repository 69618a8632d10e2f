/* replica.h — a replica: one worker process of a stage in its own cgroup, spoken to over a
 * socketpair with the stage-worker protocol (pipelines/worker/protocol.h).
 *
 * Invariants: a replica takes a batch only when READY, not draining, and idle; its in-flight
 * batch is re-queued or answered when it dies (replica_lost → stage_batch_failed). A worker
 * that dies is restarted with back-off (DEAD until restart_at_us).
 * Lifecycle: made DEAD by its stage's reconcile (stage.c), spawned by the loop's due-work pass
 * (manager.c) → READY → replica_stop (DRAINING while a batch is in flight) → STOPPING ->
 * process reaped (manager_child_exited) → swept and replica_free. Owned by its Stage; loop
 * thread only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/forward.h"
#include "cgroups/cgroups.h"
#include "pipelines/worker/protocol.h"

typedef enum ReplicaState {
        REPLICA_STARTING, /* spawned, waiting for READY */
        REPLICA_READY,    /* serving */
        REPLICA_DRAINING, /* finishes its batch, then is told to shut down */
        REPLICA_STOPPING, /* SHUTDOWN sent (or killed); waiting for the process to exit */
        REPLICA_DEAD,     /* exited unexpectedly; restarted at restart_at_us */
} ReplicaState;

struct Replica {
        EventSource ev;
        Stage *stage; /* borrowed: the owner */
        uint32_t id;  /* stage-local, names the cgroup "r<id>" */
        size_t variant;
        ReplicaState state;
        pid_t pid;    /* 0 when no process */
        int fd;       /* our end of the socketpair, -1 when closed */
        cg_group *cg; /* owned */
        uint32_t millicores;
        uint32_t threads; /* last SET_THREADS sent (or READY reported) */
        spp_buf rbuf, wbuf;
        bool want_write;
        /* the batch in flight */
        uint64_t batch_id;
        Request **batch; /* owned array (capacity batch_cap), borrowed requests */
        uint32_t batch_n, batch_cap;
        uint64_t batch_start_us;
        uint64_t batch_cpu_start_us; /* the cgroup's CPU usage then; 0: not readable */
        uint64_t batch_deadline_us;  /* given up (worker killed) past this (bounded.c) */
        uint64_t batch_answer_us;    /* "late": "drop": its requests answered 504 past this while
                                        the worker runs on (bounded.c); 0 = none or done */
        uint64_t drain_deadline_us;  /* DRAINING: its batch is given up past this (bounded.c) */
        /* supervision */
        uint64_t spawned_us, ready_us, stop_at_us, restart_at_us;
        cg_stat stat_prev; /* cpu.stat at the last control interval (ebpf.c) */
        uint32_t restarts, consecutive_failures;
        char last_error[160];   /* since the last READY: what went wrong (cleared when ready) */
        char last_failure[160]; /* why it last died or failed to start (kept, for the status) */
        Replica *next;          /* stage's list */
};

int replica_spawn(Replica *r);
void replica_on_event(Replica *r, uint32_t events);
int replica_send_batch(Replica *r, Request **reqs, uint32_t n);
int replica_resize(Replica *r, uint32_t millicores);
/* CPU time used by the replica's cgroup so far, in µs; 0 when not readable (backend none). */
uint64_t replica_cpu_usage_us(Replica *r);
void replica_stop(Replica *r, uint64_t now);
void replica_kill(Replica *r);
/* Closes the connection, gives back the batch in flight (stage_batch_failed), kills the process
 * (reaped through SIGCHLD) and records why. */
void replica_lost(Replica *r, const char *why);
/* A child exited: find its replica and handle it. */
void manager_child_exited(Manager *m, pid_t pid, int status);
Replica *replica_free(Replica *r);
const char *replica_state_name(ReplicaState s);
