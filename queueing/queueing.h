/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * queueing — the SLO-aware request queue of one pipeline stage and its batching policy.
 *
 * What it does
 *   An EDF (earliest deadline first) queue: an intrusive binary min-heap of caller-owned
 *   nodes keyed on (deadline_us, seq), seq being a per-queue push counter so that equal
 *   deadlines leave in push order (FIFO on ties, as libuv's heap-inl.h does). On top of it:
 *   early drop of requests that can no longer make their deadline, overload shedding that
 *   keeps batches full (Nexus's "early drop", Shen et al., SOSP '19), and the batcher:
 *   a pure function that tells a free replica "take k now", "wake me at t" or "drop first".
 *   Data structures and policy only: no threads, no I/O, no clock — `now_us` is passed in
 *   (CLOCK_MONOTONIC microseconds in the agent, a fake clock in tests).
 *
 * Invariants
 *   - sq_pop()/sq_take() hand out nodes in (deadline_us, seq) order.
 *   - A node is in at most one queue; node->heap_index is 0 exactly when it is in none
 *     (a zero-initialised node is a valid, unqueued node).
 *   - No allocation after sq_queue_init(): push, pop, remove are O(log n); sq_take,
 *     sq_drop_hopeless and sq_shed O(k log n) for the k they remove; sq_decide O(log b)
 *     calls of the estimate.
 *   - Counters add up:
 *       enqueued == dispatched + dropped_hopeless + dropped_shed + cancelled + sq_size()
 *     (dropped_full counts refused pushes, which never entered).
 *   - SQ_LATE_DROP: given a non-decreasing estimate, sq_decide() never says "take k" when
 *     now + est(k) would pass the head's deadline (the tightest of the k): nothing is
 *     dispatched that the estimate says will miss. SQ_LATE_SERVE: hopeless requests are
 *     served, most urgent first, flagged SQ_NODE_LATE and counted in counters.late.
 *
 * Threads
 *   None inside. A queue and the nodes in it belong to the one thread that calls these
 *   functions (the agent's event loop); nothing here locks.
 *
 * The estimate
 *   sq_estimate_fn est(k, ud) = microseconds a request still needs from dispatch until it
 *   leaves the pipeline, if it is dispatched now in a batch of k: this stage's processing of a
 *   batch of k plus the expected time of the remaining stages. It must be non-decreasing in k
 *   (a bigger batch never finishes sooner) and cheap (sq_decide calls it O(log b) times).
 *
 * The batching rule (sq_decide), for a free replica with batch limit b and n waiting:
 *   latest start for a batch of k:  L(k) = head.deadline_us - est(k)
 *   - n == 0                                  -> SQ_IDLE
 *   - head hopeless (now + est(1) > deadline) -> SQ_DROP under SQ_LATE_DROP (call
 *                                                sq_drop_hopeless, then decide again);
 *                                                SQ_TAKE min(n, b) under SQ_LATE_SERVE
 *   - n >= b                                  -> SQ_TAKE the largest k <= b with now <= L(k)
 *                                                (b unless a batch of b would make the head
 *                                                miss; after sq_shed that happens only when
 *                                                fewer than b could make it in a full batch)
 *   - n <  b                                  -> wake = L(n), lowered to
 *                                                head.arrival_us + max_wait_us (if capped);
 *                                                now >= wake ? SQ_TAKE the largest
 *                                                k <= n with now <= L(k) : SQ_WAIT wake
 *   The wait assumes the batch that would be taken if nothing else arrives: the current
 *   count n. An arrival can only make the batch, hence est, larger and L earlier, so the
 *   caller must decide again after every push to this queue (and at wake_at_us); then the
 *   wait never runs past the head's latest start, and when an arrival makes a batch of n+1
 *   too slow for the head, the next decision takes at once the largest batch that fits.
 *   With est == 0 and a cap, the rule is Triton's max_queue_delay (FIFO aside).
 *
 * Why sq_shed
 *   Under overload an EDF queue keeps its head at the edge of its deadline, so "the largest
 *   batch that still fits the head" shrinks towards 1 and throughput collapses with it (in
 *   the simulation in tests/unit: 37% of capacity at 1.2x load). sq_shed drops the head
 *   requests that cannot make it in a full batch of b when at least b others can and when
 *   serving them first in a smaller batch would make later requests miss, so the replica
 *   keeps running full batches (>= 99% of capacity at 1.2x, and no shedding at 0.8x). It
 *   removes requests that could still have been served alone, which is why it is a separate
 *   call; it never sheds when fewer than b would remain, and never under SQ_LATE_SERVE.
 *
 * Lifecycle / API walk-through
 *   sq_queue q;  sq_queue_init(&q, 1024);  sq_set_late_policy(&q, SQ_LATE_DROP);
 *   struct request { ...; sq_node node; } *req = calloc(1, sizeof(*req));
 *   int r = sq_push(&q, &req->node, deadline_us, now_us);    SQ_ERR_FULL -> answer 429
 *   on arrival / replica free / timer, while a replica of the stage is free:
 *       n = sq_drop_hopeless(&q, now, est, ud, dropped, N);   answer each dropped (504)
 *       n = sq_shed(&q, now, b, est, ud, dropped, N);         the same, under overload
 *       d = sq_decide(&q, now, b, est, ud, max_wait_us);
 *       SQ_TAKE: k = sq_take(&q, d.k, batch);   send batch[0..k) to the replica
 *       SQ_WAIT: arm a timer for d.wake_at_us   SQ_DROP: drop again   SQ_IDLE: nothing
 *   request cancelled (client gone): sq_remove(&q, &req->node)
 *   sq_queue_done(&q);   (does not touch nodes still queued: drain first if they matter)
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The error sq_push returns when the queue holds `capacity` nodes (the agent answers 429). */
#define SQ_ERR_FULL (-ENOBUFS)

/* max_wait_us value for "no cap": wait as long as the head's slack allows. */
#define SQ_NO_CAP UINT64_MAX

/* Node flag: dispatched although the estimate said it would miss (SQ_LATE_SERVE). */
#define SQ_NODE_LATE 0x1u

/*
 * The intrusive node: embed it in the request struct and get back to the request with
 * sq_container_of(). All fields are written by the queue; read them, don't write them.
 */
typedef struct sq_node {
        uint64_t deadline_us; /* absolute, CLOCK_MONOTONIC µs; set by sq_push */
        uint64_t arrival_us;  /* now_us of the sq_push that queued it */
        uint64_t seq;         /* per-queue push counter: FIFO among equal deadlines */
        uint32_t heap_index;  /* 1 + position in the heap array; 0 = not queued */
        uint32_t flags;       /* SQ_NODE_*; cleared by sq_push */
} sq_node;

#define sq_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Counters for the metrics; monotonic, never reset by the queue. */
typedef struct sq_counters {
        uint64_t enqueued;         /* successful sq_push */
        uint64_t dispatched;       /* nodes handed out by sq_take / sq_pop */
        uint64_t dropped_full;     /* sq_push refused with SQ_ERR_FULL */
        uint64_t dropped_hopeless; /* removed by sq_drop_hopeless (SQ_LATE_DROP) */
        uint64_t dropped_shed;     /* removed by sq_shed (SQ_LATE_DROP, overload) */
        uint64_t cancelled;        /* removed by sq_remove */
        uint64_t late;             /* dispatched with SQ_NODE_LATE set (SQ_LATE_SERVE) */
} sq_counters;

typedef enum sq_late_policy {
        SQ_LATE_DROP = 0, /* hopeless requests are removed by sq_drop_hopeless (default) */
        SQ_LATE_SERVE,    /* pipeline "late": "serve": kept, served best-effort, counted late */
} sq_late_policy;

/* Heap slot: the key's deadline copied next to the pointer so sifting reads one array. */
typedef struct sq_slot {
        uint64_t deadline_us;
        sq_node *node;
} sq_slot;

typedef struct sq_queue {
        sq_slot *heap; /* owned; `capacity` slots, allocated once by sq_queue_init */
        uint32_t size;
        uint32_t capacity;
        uint64_t next_seq;
        sq_late_policy late_policy;
        /* SQ_LATE_SERVE: now + est(1) at the last sq_drop_hopeless; nodes dispatched with a
         * deadline before it are flagged SQ_NODE_LATE and counted late. */
        uint64_t late_before_us;
        sq_counters counters;
} sq_queue;

typedef uint64_t (*sq_estimate_fn)(uint32_t batch, void *userdata);

typedef enum sq_action {
        SQ_IDLE = 0, /* nothing waits */
        SQ_TAKE,     /* call sq_take(q, k, ...) now */
        SQ_WAIT,     /* decide again at wake_at_us (or at the next push) */
        SQ_DROP,     /* SQ_LATE_DROP and the head is hopeless: sq_drop_hopeless, decide again */
} sq_action;

typedef struct sq_decision {
        sq_action action;
        uint32_t k;          /* SQ_TAKE: how many to take (>= 1); otherwise 0 */
        uint64_t wake_at_us; /* SQ_WAIT: when to decide again; otherwise 0 */
} sq_decision;

/* A zero node is unqueued; this is for nodes reused from other state. */
static inline void sq_node_init(sq_node *n)
{
        *n = (sq_node){0};
}

static inline bool sq_node_is_queued(const sq_node *n)
{
        return n->heap_index != 0;
}

/*
 * Initialises q for at most `capacity` nodes (1 .. UINT32_MAX - 1) with one allocation.
 * Returns 0, -EINVAL for a bad capacity, -ENOMEM; on failure q is left zeroed (safe to pass
 * to sq_queue_done).
 */
int sq_queue_init(sq_queue *q, uint32_t capacity);

/* Frees the heap array. Accepts NULL and a zeroed queue; idempotent. Queued nodes are not
 * touched (the caller may already have freed them). */
void sq_queue_done(sq_queue *q);

/* Sets what sq_drop_hopeless does with hopeless requests. */
void sq_set_late_policy(sq_queue *q, sq_late_policy policy);

/*
 * Queues n with the given absolute deadline; n->arrival_us = now_us, n->seq = next seq,
 * n->flags = 0. O(log n). Returns 0; SQ_ERR_FULL (-ENOBUFS) when the queue is at capacity
 * (counted in dropped_full); -EBUSY if n is already queued (here or elsewhere). On failure
 * neither n nor the queue changes (except the dropped_full counter).
 */
int sq_push(sq_queue *q, sq_node *n, uint64_t deadline_us, uint64_t now_us);

/* The most urgent node, still queued; NULL if empty. */
sq_node *sq_peek(const sq_queue *q);

/* Removes and returns the most urgent node (counted as dispatched); NULL if empty. */
sq_node *sq_pop(sq_queue *q);

/*
 * Removes n from q (a cancelled or timed-out request), counted in cancelled. O(log n).
 * Returns 0, or -ENOENT if n is not queued in q (nothing changes then).
 */
int sq_remove(sq_queue *q, sq_node *n);

static inline uint32_t sq_size(const sq_queue *q)
{
        return q->size;
}

/*
 * Early drop. A node is hopeless when now_us + est(1) > its deadline: even dispatched alone
 * now it would miss. Since est(1) is the same for every node, the hopeless nodes are a prefix
 * of the EDF order.
 * SQ_LATE_DROP: removes up to `max` hopeless nodes, most urgent first, into ret_nodes, counts
 *   them in dropped_hopeless and returns how many; call again if it returned `max`.
 * SQ_LATE_SERVE: removes nothing and returns 0; remembers now + est(1) so that sq_take flags
 *   and counts as late the nodes it dispatches with a deadline before that.
 */
uint32_t sq_drop_hopeless(sq_queue *q, uint64_t now_us, sq_estimate_fn est, void *ud,
                          sq_node **ret_nodes, uint32_t max);

/*
 * Overload shedding (Nexus's "early drop"), for SQ_LATE_DROP queues; call it after
 * sq_drop_hopeless and before sq_decide. With b = batch_limit (0 is treated as 1),
 * T = now_us + est(b), and k the largest batch the head still fits in (now + est(k) <= its
 * deadline), it sheds when all three hold:
 *   - the head's deadline is before T: a full batch would make it miss;
 *   - at least b queued requests have a deadline >= T: a full batch that makes it exists;
 *   - some request after the k most urgent has a deadline before now + est(k) + est(b):
 *     serving the head first in a batch of k would cost more than throughput.
 * Then it removes the requests with a deadline before T — an EDF prefix — up to `max`, most
 * urgent first, into ret_nodes, counted in dropped_shed, and returns how many (call again
 * if `max`). Otherwise, and always under SQ_LATE_SERVE, it removes nothing and returns 0.
 * Cost: O(s log n) for s shed; deciding O(log b) estimates + O(min(s, n - b) + k) slots.
 */
uint32_t sq_shed(sq_queue *q, uint64_t now_us, uint32_t batch_limit, sq_estimate_fn est, void *ud,
                 sq_node **ret_nodes, uint32_t max);

/*
 * The batching decision for one free replica with batch limit batch_limit (0 is treated as
 * 1), per the rule in the header comment. Pure: reads q, calls est, changes nothing.
 * max_wait_us caps the wait at head.arrival_us + max_wait_us (the EDF head's own arrival,
 * so no request waits for batch-mates longer than that); SQ_NO_CAP for no cap, 0 for
 * "never wait for more".
 */
sq_decision sq_decide(const sq_queue *q, uint64_t now_us, uint32_t batch_limit, sq_estimate_fn est,
                      void *ud, uint64_t max_wait_us);

/*
 * Removes the min(k, size) most urgent nodes into ret_nodes in EDF order (counted as
 * dispatched; under SQ_LATE_SERVE those with a deadline before the last drop check are
 * flagged SQ_NODE_LATE and counted late). Returns how many.
 */
uint32_t sq_take(sq_queue *q, uint32_t k, sq_node **ret_nodes);

/*
 * Slack of the head: deadline - now - est(1) in µs (negative: hopeless). INT64_MAX if the
 * queue is empty (nothing constrains); saturates at INT64_MIN/INT64_MAX.
 */
int64_t sq_head_slack_us(const sq_queue *q, uint64_t now_us, sq_estimate_fn est, void *ud);
