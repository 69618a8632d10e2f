/* bounded.h — every accepted request answered in bounded time, whatever a worker or a client does.
 *
 * The deadlines the loop enforces besides the batcher's own: in a "late": "drop" pipeline, a
 * batch's requests are answered 504 at their latest deadline plus a grace even while the worker
 * still runs it; a batch not answered by that deadline, or by eight times its predicted time
 * when that is later, plus the grace, is given up (worker presumed stuck: killed and
 * restarted, requests re-queued or answered 504); a worker not READY within its start-up deadline
 * is killed and retried with the restart back-off; queued requests that can no longer make it are
 * answered by a timer even when no replica is free; a retired pipeline is gone within
 * drain_timeout_ms; after SIGTERM, workers still holding batches are killed at the drain deadline.
 * Suspended connections are watched (EPOLLRDHUP) so that a client that leaves is noticed and its
 * request cancelled before it reaches a worker. Loop thread only; no state of its own (the
 * deadlines live in Replica, Pipeline, Manager).
 */
#pragma once

#include <stdint.h>

#include "agent/forward.h"
#include "agent/util.h"

/* How far past its latest deadline a batch may run: this share of the pipeline's SLO, bounded. */
#define BATCH_GRACE_SHARE  0.25
#define BATCH_GRACE_MIN_US (200 * USEC_PER_MSEC)
#define BATCH_GRACE_MAX_US (5 * USEC_PER_SEC)
/* A worker's start-up deadline: this many times its variant's startup_ms, at least the node's
 * startup_timeout_min_ms. */
#define STARTUP_DEADLINE_FACTOR 4
/* After the SIGTERM drain deadline: workers still shutting down are killed within this, and the
 * loop ends within STOP_SLACK_US whatever remains. */
#define STOP_KILL_AFTER_DRAIN_US (1 * USEC_PER_SEC)
#define STOP_SLACK_US            (2 * USEC_PER_SEC)

/* The time past which the batch reqs[0..n) sent now to r is given up (the worker killed): its
 * latest deadline, or eight times its predicted time, plus the grace. */
uint64_t bounded_batch_deadline(const Replica *r, Request *const *reqs, uint32_t n, uint64_t now);
/* In a "late": "drop" pipeline, the time past which the batch's requests are answered 504 even
 * though the worker, slow but not presumed stuck, still runs it (its result is then dropped):
 * the latest deadline plus the grace. 0 for "serve" (late requests are what it asks for). */
uint64_t bounded_answer_deadline(const Replica *r, Request *const *reqs, uint32_t n);
/* The start-up deadline of replica r spawned at spawned_us. */
uint64_t bounded_startup_deadline(const Replica *r);
/* Enforces every deadline due at now. */
void bounded_run_due(Manager *m, uint64_t now);
/* The earliest of those deadlines still ahead (0 = none). */
uint64_t bounded_next_wake(Manager *m);

/* Watches a suspended request's client socket; unwatch is idempotent. */
void client_watch(Request *req);
void client_unwatch(Request *req);
/* The client socket of a watched request reported hang-up: cancel the request. */
void client_on_event(Request *req, uint32_t events);
