/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of queueing/: the EDF heap, early drop, the late policy, the batcher and the
 * counters, each on literal cases; a randomised run against a sorted-array reference; the
 * batcher's invariants on random states; and a discrete-event simulation comparing EDF +
 * early drop + slack batching with FIFO + a fixed timeout (queueing-sim.c).
 *
 *   test-queueing [name]     runs one test (the CTest names are queueing.<name>), or all
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "queueing/queueing.h"
#include "queueing-sim.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct req {
        int id;
        sq_node node;
};

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
        rng_state = seed | 1;
}

static uint64_t rng_next(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_below(uint32_t n)
{
        return (uint32_t)(rng_next() % n);
}

/* est(k) = a + c·k */
struct linear {
        uint64_t a_us, c_us;
};

static uint64_t est_linear(uint32_t batch, void *ud)
{
        const struct linear *l = ud;
        return l->a_us + l->c_us * batch;
}

/* A non-decreasing step function, to exercise the search for the largest fitting batch. */
#define TABLE_MAX 64
struct table {
        uint64_t us[TABLE_MAX + 1]; /* us[k] for k in 1..TABLE_MAX; constant past the end */
        unsigned calls;
};

static uint64_t est_table(uint32_t batch, void *ud)
{
        struct table *t = ud;
        t->calls++;
        assert_true(batch >= 1);
        return t->us[batch > TABLE_MAX ? TABLE_MAX : batch];
}

static void table_random(struct table *t)
{
        uint64_t v = rng_below(3000);
        t->calls = 0;
        t->us[0] = 0;
        for (int k = 1; k <= TABLE_MAX; k++) {
                if (rng_below(3) == 0)
                        v += rng_below(400);
                t->us[k] = v;
        }
}

/* Checks the heap property and that every node's heap_index points at its slot. */
static void assert_heap_valid(const sq_queue *q)
{
        for (uint32_t i = 0; i < q->size; i++) {
                const sq_slot *s = &q->heap[i];
                assert_non_null(s->node);
                assert_int_equal(s->node->heap_index, i + 1);
                assert_int_equal(s->deadline_us, s->node->deadline_us);
                if (i > 0) {
                        const sq_slot *p = &q->heap[(i - 1) / 2];
                        assert_true(
                            p->deadline_us < s->deadline_us ||
                            (p->deadline_us == s->deadline_us && p->node->seq < s->node->seq));
                }
        }
}

static void assert_counters_add_up(const sq_queue *q)
{
        const sq_counters *c = &q->counters;
        assert_int_equal(c->enqueued, c->dispatched + c->dropped_hopeless + c->dropped_shed +
                                          c->cancelled + sq_size(q));
}

/* ---- literal cases ---------------------------------------------------------------------- */

static void test_heap_basic(void **state)
{
        (void)state;
        sq_queue q;
        assert_int_equal(sq_queue_init(&q, 0), -EINVAL);
        assert_null(q.heap);
        assert_int_equal(sq_queue_init(&q, UINT32_MAX), -EINVAL);
        sq_queue_done(&q); /* zeroed after a failed init */
        sq_queue_done(NULL);

        assert_int_equal(sq_queue_init(&q, 16), 0);
        assert_int_equal(sq_size(&q), 0);
        assert_null(sq_peek(&q));
        assert_null(sq_pop(&q));

        const uint64_t deadlines[] = {500, 100, 900, 300, 700, 200, 800, 400, 600};
        const size_t n = sizeof(deadlines) / sizeof(deadlines[0]);
        struct req r[9] = {{0}};
        for (size_t i = 0; i < n; i++) {
                r[i].id = (int)i;
                assert_false(sq_node_is_queued(&r[i].node));
                assert_int_equal(sq_push(&q, &r[i].node, deadlines[i], 10 + i), 0);
                assert_true(sq_node_is_queued(&r[i].node));
                assert_int_equal(r[i].node.arrival_us, 10 + i);
                assert_int_equal(r[i].node.deadline_us, deadlines[i]);
                assert_heap_valid(&q);
        }
        assert_int_equal(sq_size(&q), n);
        /* A queued node cannot be pushed again, here or elsewhere. */
        assert_int_equal(sq_push(&q, &r[3].node, 1, 1), -EBUSY);
        assert_int_equal(r[3].node.deadline_us, 300);
        assert_int_equal(q.counters.enqueued, n);

        assert_ptr_equal(sq_peek(&q), &r[1].node);
        uint64_t last = 0;
        for (size_t i = 0; i < n; i++) {
                sq_node *node = sq_pop(&q);
                assert_non_null(node);
                assert_false(sq_node_is_queued(node));
                struct req *got = sq_container_of(node, struct req, node);
                assert_int_equal(deadlines[got->id], node->deadline_us);
                assert_true(node->deadline_us > last);
                last = node->deadline_us;
                assert_heap_valid(&q);
        }
        assert_null(sq_pop(&q));
        assert_int_equal(q.counters.dispatched, n);

        /* A popped node can be queued again (the next stage, or a re-queue). */
        assert_int_equal(sq_push(&q, &r[0].node, 42, 40), 0);
        assert_int_equal(r[0].node.seq, n);
        sq_queue_done(&q);
        sq_queue_done(&q); /* idempotent */
        assert_null(q.heap);
}

static void test_heap_ties(void **state)
{
        (void)state;
        sq_queue q;
        struct req r[64] = {{0}};
        assert_int_equal(sq_queue_init(&q, 64), 0);
        /* Three deadlines, interleaved: equal deadlines must leave in push order. */
        for (int i = 0; i < 64; i++) {
                r[i].id = i;
                assert_int_equal(sq_push(&q, &r[i].node, 1000 * (uint64_t)(2 - i % 3), 0), 0);
        }
        int prev_id = -1;
        uint64_t prev_deadline = 0;
        for (int i = 0; i < 64; i++) {
                struct req *got = sq_container_of(sq_pop(&q), struct req, node);
                if (got->node.deadline_us == prev_deadline)
                        assert_true(got->id > prev_id);
                else
                        assert_true(got->node.deadline_us > prev_deadline);
                prev_id = got->id;
                prev_deadline = got->node.deadline_us;
        }
        /* All equal: pure FIFO, also across removals in the middle. */
        for (int i = 0; i < 32; i++)
                assert_int_equal(sq_push(&q, &r[i].node, 5, 0), 0);
        for (int i = 1; i < 32; i += 3)
                assert_int_equal(sq_remove(&q, &r[i].node), 0);
        for (int i = 0; i < 32; i++) {
                if (i % 3 == 1)
                        continue;
                assert_ptr_equal(sq_pop(&q), &r[i].node);
        }
        assert_int_equal(sq_size(&q), 0);
        sq_queue_done(&q);
}

static void test_capacity(void **state)
{
        (void)state;
        sq_queue q;
        struct req r[4] = {{0}};
        assert_int_equal(sq_queue_init(&q, 3), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(sq_push(&q, &r[i].node, 100 + (uint64_t)i, 0), 0);
        /* Full: the distinct error, counted, and neither the node nor the queue changes. */
        assert_int_equal(sq_push(&q, &r[3].node, 1, 7), SQ_ERR_FULL);
        assert_int_equal(SQ_ERR_FULL, -ENOBUFS);
        assert_int_equal(sq_push(&q, &r[3].node, 1, 7), -ENOBUFS);
        assert_false(sq_node_is_queued(&r[3].node));
        assert_int_equal(r[3].node.deadline_us, 0);
        assert_int_equal(r[3].node.arrival_us, 0);
        assert_int_equal(q.counters.dropped_full, 2);
        assert_int_equal(q.counters.enqueued, 3);
        assert_int_equal(sq_size(&q), 3);
        assert_ptr_equal(sq_peek(&q), &r[0].node);
        /* Room again after a pop; the refused pushes did not consume sequence numbers. */
        assert_non_null(sq_pop(&q));
        assert_int_equal(sq_push(&q, &r[3].node, 1, 7), 0);
        assert_int_equal(r[3].node.seq, 3);
        assert_ptr_equal(sq_peek(&q), &r[3].node);
        assert_counters_add_up(&q);
        sq_queue_done(&q);
}

static void test_remove(void **state)
{
        (void)state;
        sq_queue q, other;
        struct req r[20] = {{0}}, stranger = {0};
        assert_int_equal(sq_queue_init(&q, 20), 0);
        assert_int_equal(sq_queue_init(&other, 2), 0);
        for (int i = 0; i < 20; i++) {
                r[i].id = i;
                assert_int_equal(sq_push(&q, &r[i].node, (uint64_t)(i * 7919) % 101, 0), 0);
        }
        assert_int_equal(sq_push(&other, &stranger.node, 1, 0), 0);

        /* Not queued, queued elsewhere: -ENOENT and nothing changes. */
        struct req idle = {0};
        assert_int_equal(sq_remove(&q, &idle.node), -ENOENT);
        assert_int_equal(sq_remove(&q, &stranger.node), -ENOENT);
        assert_true(sq_node_is_queued(&stranger.node));
        assert_int_equal(sq_size(&q), 20);

        /* The head, a leaf, the last slot and middle ones. */
        sq_node *head = sq_peek(&q);
        assert_int_equal(sq_remove(&q, head), 0);
        assert_false(sq_node_is_queued(head));
        assert_int_equal(sq_remove(&q, head), -ENOENT);
        assert_heap_valid(&q);
        assert_int_equal(sq_remove(&q, q.heap[q.size - 1].node), 0);
        assert_heap_valid(&q);
        assert_int_equal(sq_remove(&q, q.heap[q.size / 2].node), 0);
        assert_heap_valid(&q);
        assert_int_equal(sq_remove(&q, q.heap[1].node), 0);
        assert_heap_valid(&q);
        assert_int_equal(sq_size(&q), 16);
        assert_int_equal(q.counters.cancelled, 4);
        assert_counters_add_up(&q);

        uint64_t last = 0;
        while (sq_size(&q) > 0) {
                sq_node *n = sq_pop(&q);
                assert_true(n->deadline_us >= last);
                last = n->deadline_us;
        }
        assert_int_equal(sq_remove(&other, &stranger.node), 0);
        sq_queue_done(&other);
        sq_queue_done(&q);
}

static void test_drop_hopeless(void **state)
{
        (void)state;
        sq_queue q;
        struct req r[10] = {{0}};
        struct linear est = {.a_us = 100, .c_us = 50}; /* est(1) = 150 */
        sq_node *out[10];
        assert_int_equal(sq_queue_init(&q, 10), 0);
        /* now = 1000: hopeless iff deadline < 1150 (1150 itself makes it exactly). */
        const uint64_t deadlines[] = {1149, 900, 1150, 2000, 1100, 0, 1149, 5000, 1151, 1};
        for (int i = 0; i < 10; i++) {
                r[i].id = i;
                assert_int_equal(sq_push(&q, &r[i].node, deadlines[i], 0), 0);
        }
        assert_int_equal(sq_drop_hopeless(&q, 1000, est_linear, &est, out, 0), 0);
        /* At most `max`, most urgent first. */
        assert_int_equal(sq_drop_hopeless(&q, 1000, est_linear, &est, out, 2), 2);
        assert_ptr_equal(out[0], &r[5].node);
        assert_ptr_equal(out[1], &r[9].node);
        assert_false(sq_node_is_queued(out[0]));
        assert_int_equal(sq_drop_hopeless(&q, 1000, est_linear, &est, out, 10), 4);
        assert_ptr_equal(out[0], &r[1].node);
        assert_ptr_equal(out[1], &r[4].node);
        assert_ptr_equal(out[2], &r[0].node); /* tie at 1149: push order */
        assert_ptr_equal(out[3], &r[6].node);
        assert_int_equal(sq_drop_hopeless(&q, 1000, est_linear, &est, out, 10), 0);
        assert_int_equal(sq_size(&q), 4);
        assert_ptr_equal(sq_peek(&q), &r[2].node);
        assert_int_equal(sq_head_slack_us(&q, 1000, est_linear, &est), 0);
        assert_int_equal(q.counters.dropped_hopeless, 6);
        /* The batcher would dispatch the head now: est(1) fits exactly. */
        sq_decision d = sq_decide(&q, 1000, 1, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 1);
        /* One µs later it is hopeless: the pure decision says drop, and drop does. */
        d = sq_decide(&q, 1001, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_DROP);
        assert_int_equal(d.k, 0);
        assert_int_equal(sq_drop_hopeless(&q, 1001, est_linear, &est, out, 10), 1);
        assert_ptr_equal(out[0], &r[2].node);
        assert_int_equal(q.counters.dropped_hopeless, 7);
        assert_counters_add_up(&q);
        /* Empty queue: nothing, and est is not needed. */
        sq_queue_done(&q);
        assert_int_equal(sq_queue_init(&q, 1), 0);
        assert_int_equal(sq_drop_hopeless(&q, 1000, NULL, NULL, out, 10), 0);
        sq_queue_done(&q);
}

static void test_late_serve(void **state)
{
        (void)state;
        sq_queue q;
        struct req r[6] = {{0}};
        struct linear est = {.a_us = 100, .c_us = 50};
        sq_node *out[6];
        assert_int_equal(sq_queue_init(&q, 6), 0);
        sq_set_late_policy(&q, SQ_LATE_SERVE);
        const uint64_t deadlines[] = {1100, 5000, 1000, 1149, 1150, 9000};
        for (int i = 0; i < 6; i++)
                assert_int_equal(sq_push(&q, &r[i].node, deadlines[i], 0), 0);
        /* Nothing is removed; the three with deadline < 1150 are late when dispatched. */
        assert_int_equal(sq_drop_hopeless(&q, 1000, est_linear, &est, out, 6), 0);
        assert_int_equal(sq_size(&q), 6);
        assert_true(sq_head_slack_us(&q, 1000, est_linear, &est) < 0);
        /* The batcher serves them, most urgent first, as many as the limit allows, now. */
        sq_decision d = sq_decide(&q, 1000, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 4);
        assert_int_equal(sq_take(&q, d.k, out), 4);
        assert_ptr_equal(out[0], &r[2].node);
        assert_ptr_equal(out[1], &r[0].node);
        assert_ptr_equal(out[2], &r[3].node);
        assert_ptr_equal(out[3], &r[4].node);
        for (int i = 0; i < 3; i++)
                assert_true(out[i]->flags & SQ_NODE_LATE);
        assert_false(out[3]->flags & SQ_NODE_LATE);
        assert_int_equal(q.counters.late, 3);
        assert_int_equal(q.counters.dropped_hopeless, 0);
        assert_int_equal(q.counters.dispatched, 4);
        /* Fewer than b wait and the head is hopeless: no waiting for late requests. */
        assert_int_equal(sq_drop_hopeless(&q, 4990, est_linear, &est, out, 6), 0);
        d = sq_decide(&q, 4990, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 2);
        assert_int_equal(sq_take(&q, 8, out), 2);
        assert_true(out[0]->flags & SQ_NODE_LATE);
        assert_false(out[1]->flags & SQ_NODE_LATE);
        assert_int_equal(q.counters.late, 4);
        /* A re-push clears the flag. */
        assert_int_equal(sq_push(&q, out[0], 100000, 5000), 0);
        assert_int_equal(out[0]->flags, 0);
        /* Back to dropping. */
        sq_set_late_policy(&q, SQ_LATE_DROP);
        assert_int_equal(sq_drop_hopeless(&q, 200000, est_linear, &est, out, 6), 1);
        assert_counters_add_up(&q);
        sq_queue_done(&q);
}

static void test_shed(void **state)
{
        (void)state;
        sq_queue q;
        struct req r[6] = {{0}};
        struct linear est = {.a_us = 1000, .c_us = 100}; /* est(4) = 1400: T = now + 1400 */
        sq_node *out[6];
        assert_int_equal(sq_queue_init(&q, 6), 0);

        /* The head fits a batch of 2 at most; four others make it in a full batch; serving
         * the head first (until 1200) would make C, D, E miss a full batch after it (2600):
         * shed A and B, then a full batch. */
        const uint64_t tight[] = {1200, 1300, 1500, 1500, 1600, 5000};
        for (int i = 0; i < 6; i++)
                assert_int_equal(sq_push(&q, &r[i].node, tight[i], 0), 0);
        assert_int_equal(sq_shed(&q, 0, 4, est_linear, &est, out, 0), 0);
        assert_int_equal(sq_shed(&q, 0, 4, est_linear, &est, out, 1), 1);
        assert_ptr_equal(out[0], &r[0].node);
        assert_int_equal(sq_shed(&q, 0, 4, est_linear, &est, out, 6), 1);
        assert_ptr_equal(out[0], &r[1].node);
        assert_int_equal(sq_shed(&q, 0, 4, est_linear, &est, out, 6), 0);
        assert_int_equal(q.counters.dropped_shed, 2);
        assert_int_equal(q.counters.dropped_hopeless, 0);
        sq_decision d = sq_decide(&q, 0, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 4);
        assert_int_equal(sq_take(&q, 6, out), 4);
        assert_counters_add_up(&q);

        /* Everyone after the head's batch of 2 makes a full batch after it: nothing to shed;
         * the batcher serves the two tight ones first. */
        const uint64_t roomy[] = {1200, 1300, 3000, 3000, 3000, 3000};
        for (int i = 0; i < 6; i++)
                assert_int_equal(sq_push(&q, &r[i].node, roomy[i], 0), 0);
        assert_int_equal(sq_shed(&q, 0, 4, est_linear, &est, out, 6), 0);
        d = sq_decide(&q, 0, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 2);
        assert_int_equal(sq_take(&q, 6, out), 6);

        /* Fewer than b would make it in a full batch: keep them, serve what fits. */
        const uint64_t crowded[] = {1200, 1300, 1300, 1500, 1500};
        for (int i = 0; i < 5; i++)
                assert_int_equal(sq_push(&q, &r[i].node, crowded[i], 0), 0);
        assert_int_equal(sq_shed(&q, 0, 4, est_linear, &est, out, 6), 0);
        /* Not more than b waiting: never. */
        assert_int_equal(sq_shed(&q, 0, 5, est_linear, &est, out, 6), 0);
        /* Serve-late queues never shed. */
        assert_int_equal(sq_take(&q, 6, out), 5);
        sq_set_late_policy(&q, SQ_LATE_SERVE);
        for (int i = 0; i < 6; i++)
                assert_int_equal(sq_push(&q, &r[i].node, tight[i], 0), 0);
        assert_int_equal(sq_shed(&q, 0, 4, est_linear, &est, out, 6), 0);
        assert_int_equal(q.counters.dropped_shed, 2);
        assert_counters_add_up(&q);
        sq_queue_done(&q);
}

static void test_decide(void **state)
{
        (void)state;
        sq_queue q;
        struct req r[8] = {{0}};
        struct linear est = {.a_us = 1000, .c_us = 100}; /* est(k) = 1000 + 100k */
        assert_int_equal(sq_queue_init(&q, 8), 0);

        sq_decision d = sq_decide(&q, 0, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_IDLE);

        /* One waiting, deadline 10000, arrived at 0: L(1) = 10000 - 1100 = 8900. */
        assert_int_equal(sq_push(&q, &r[0].node, 10000, 0), 0);
        d = sq_decide(&q, 0, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_WAIT);
        assert_int_equal(d.wake_at_us, 8900);
        assert_int_equal(d.k, 0);
        d = sq_decide(&q, 8899, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_WAIT);
        d = sq_decide(&q, 8900, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 1);
        /* The cap counts from the head's arrival; 0 = never wait. */
        d = sq_decide(&q, 100, 4, est_linear, &est, 5000);
        assert_int_equal(d.action, SQ_WAIT);
        assert_int_equal(d.wake_at_us, 5000);
        d = sq_decide(&q, 5000, 4, est_linear, &est, 5000);
        assert_int_equal(d.action, SQ_TAKE);
        d = sq_decide(&q, 100, 4, est_linear, &est, 0);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 1);
        d = sq_decide(&q, 100, 4, est_linear, &est, 20000); /* cap later than L: L wins */
        assert_int_equal(d.wake_at_us, 8900);
        /* Batch limit 1 (and 0, treated as 1): take at once. */
        d = sq_decide(&q, 0, 1, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 1);
        d = sq_decide(&q, 0, 0, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 1);

        /* A second, later one: the wait shortens to L(2) = 10000 - 1200. */
        assert_int_equal(sq_push(&q, &r[1].node, 50000, 10), 0);
        d = sq_decide(&q, 10, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_WAIT);
        assert_int_equal(d.wake_at_us, 8800);
        /* Woken late, past L(2) but before L(1): take the one that still fits. */
        d = sq_decide(&q, 8850, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 1);

        /* b waiting: take b now, however much slack there is. */
        assert_int_equal(sq_push(&q, &r[2].node, 60000, 20), 0);
        assert_int_equal(sq_push(&q, &r[3].node, 70000, 30), 0);
        d = sq_decide(&q, 30, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 4);
        d = sq_decide(&q, 30, 3, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.k, 3);
        /* ... unless a batch of b would make the head miss: then the largest that fits. At
         * 8700 est(3) = 1300 leaves the head exactly on time, est(4) would not. */
        d = sq_decide(&q, 8700, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.action, SQ_TAKE);
        assert_int_equal(d.k, 3);
        d = sq_decide(&q, 8899, 4, est_linear, &est, SQ_NO_CAP);
        assert_int_equal(d.k, 1);

        /* Pure: nothing in the queue changed. */
        sq_slot before[8];
        sq_counters cbefore = q.counters;
        memcpy(before, q.heap, sizeof(before));
        for (uint64_t t = 0; t < 12000; t += 97)
                (void)sq_decide(&q, t, 1 + (uint32_t)(t % 9), est_linear, &est, t % 3 ? t : 0);
        assert_memory_equal(before, q.heap, sizeof(before));
        assert_memory_equal(&cbefore, &q.counters, sizeof(cbefore));
        assert_int_equal(sq_size(&q), 4);

        /* Extreme values: no overflow in deadline - est or arrival + cap. */
        sq_queue_done(&q);
        assert_int_equal(sq_queue_init(&q, 2), 0);
        struct linear huge = {.a_us = UINT64_MAX - 10, .c_us = 1};
        assert_int_equal(sq_push(&q, &r[4].node, UINT64_MAX, UINT64_MAX - 5), 0);
        d = sq_decide(&q, 0, 4, est_linear, &huge, UINT64_MAX - 1);
        assert_int_equal(d.action, SQ_WAIT);
        assert_int_equal(d.wake_at_us, 9);
        d = sq_decide(&q, 9, 4, est_linear, &huge, UINT64_MAX - 1);
        assert_int_equal(d.action, SQ_TAKE);
        d = sq_decide(&q, 10, 4, est_linear, &huge, UINT64_MAX - 1);
        assert_int_equal(d.action, SQ_DROP);
        assert_int_equal(sq_head_slack_us(&q, 0, est_linear, &huge), 9);
        assert_int_equal(sq_head_slack_us(&q, UINT64_MAX, est_linear, &huge), INT64_MIN);
        struct linear zero = {0, 0};
        assert_int_equal(sq_head_slack_us(&q, 0, est_linear, &zero), INT64_MAX);
        sq_queue_done(&q);
}

static void test_counters(void **state)
{
        (void)state;
        sq_queue q;
        struct req r[8] = {{0}};
        struct linear est = {.a_us = 10, .c_us = 0};
        sq_node *out[8];
        assert_int_equal(sq_queue_init(&q, 4), 0);
        assert_int_equal(sq_head_slack_us(&q, 0, est_linear, &est), INT64_MAX);
        for (int i = 0; i < 6; i++)
                (void)sq_push(&q, &r[i].node, 100 * (uint64_t)(i + 1), 0);
        assert_int_equal(q.counters.enqueued, 4);
        assert_int_equal(q.counters.dropped_full, 2);
        assert_int_equal(sq_head_slack_us(&q, 50, est_linear, &est), 40);
        assert_int_equal(sq_head_slack_us(&q, 150, est_linear, &est), -60);
        assert_int_equal(sq_drop_hopeless(&q, 150, est_linear, &est, out, 8), 1);
        assert_int_equal(sq_remove(&q, &r[2].node), 0);
        assert_int_equal(sq_take(&q, 8, out), 2);
        assert_int_equal(sq_take(&q, 8, out), 0);
        const sq_counters want = {.enqueued = 4,
                                  .dispatched = 2,
                                  .dropped_full = 2,
                                  .dropped_hopeless = 1,
                                  .dropped_shed = 0,
                                  .cancelled = 1,
                                  .late = 0};
        assert_memory_equal(&want, &q.counters, sizeof(want));
        assert_counters_add_up(&q);
        sq_queue_done(&q);
}

/* ---- randomised against a sorted array -------------------------------------------------- */

struct ref_item {
        uint64_t deadline_us, arrival_us, seq;
        sq_node *node;
};

struct ref {
        struct ref_item *a;
        uint32_t n, cap;
        uint64_t next_seq;
        uint64_t late_before_us;
};

static int ref_push(struct ref *r, sq_node *node, uint64_t deadline_us, uint64_t now_us)
{
        if (r->n == r->cap)
                return SQ_ERR_FULL;
        uint32_t i = r->n;
        while (i > 0 && r->a[i - 1].deadline_us > deadline_us) /* after equal ones: FIFO */
                i--;
        memmove(&r->a[i + 1], &r->a[i], (r->n - i) * sizeof(r->a[0]));
        r->a[i] = (struct ref_item){deadline_us, now_us, r->next_seq++, node};
        r->n++;
        return 0;
}

static void ref_remove_at(struct ref *r, uint32_t i)
{
        memmove(&r->a[i], &r->a[i + 1], (r->n - i - 1) * sizeof(r->a[0]));
        r->n--;
}

static int ref_find(const struct ref *r, const sq_node *node)
{
        for (uint32_t i = 0; i < r->n; i++)
                if (r->a[i].node == node)
                        return (int)i;
        return -1;
}

static bool ref_fits(uint64_t now_us, uint64_t est_us, uint64_t deadline_us)
{
        return (unsigned __int128)now_us + est_us <= deadline_us;
}

/* The batching rule of queueing.h, written out naively (linear search, 128-bit sums). */
static sq_decision ref_decide(const struct ref *r, bool serve, uint64_t now_us, uint32_t b,
                              sq_estimate_fn est, void *ud, uint64_t max_wait_us)
{
        if (r->n == 0)
                return (sq_decision){.action = SQ_IDLE};
        if (b == 0)
                b = 1;
        uint32_t m = r->n < b ? r->n : b;
        const struct ref_item *h = &r->a[0];
        if (!ref_fits(now_us, est(1, ud), h->deadline_us))
                return serve ? (sq_decision){.action = SQ_TAKE, .k = m}
                             : (sq_decision){.action = SQ_DROP};
        uint32_t k = 1;
        while (k < m && ref_fits(now_us, est(k + 1, ud), h->deadline_us))
                k++;
        if (r->n >= b)
                return (sq_decision){.action = SQ_TAKE, .k = k};
        uint64_t est_n = est(r->n, ud);
        if (est_n > h->deadline_us)
                return (sq_decision){.action = SQ_TAKE, .k = k};
        unsigned __int128 wake = h->deadline_us - est_n;
        if (max_wait_us != SQ_NO_CAP && (unsigned __int128)h->arrival_us + max_wait_us < wake)
                wake = (unsigned __int128)h->arrival_us + max_wait_us;
        if (now_us >= wake)
                return (sq_decision){.action = SQ_TAKE, .k = k};
        return (sq_decision){.action = SQ_WAIT, .wake_at_us = (uint64_t)wake};
}

/* How many sq_shed should remove, by its rule written out over the sorted array. */
static uint32_t ref_shed_count(const struct ref *r, bool serve, uint64_t now_us, uint32_t b,
                               struct table *tab, uint32_t max)
{
        if (b == 0)
                b = 1;
        if (serve || r->n <= b || max == 0)
                return 0;
        unsigned __int128 t = (unsigned __int128)now_us + est_table(b, tab);
        const uint64_t head_us = r->a[0].deadline_us;
        if (head_us >= t)
                return 0;
        uint32_t make_it = 0;
        for (uint32_t i = 0; i < r->n; i++)
                make_it += r->a[i].deadline_us >= t;
        if (make_it < b)
                return 0;
        uint32_t k = 0;
        while (k < b && ref_fits(now_us, est_table(k + 1, tab), head_us))
                k++;
        if (k > 0) {
                unsigned __int128 after =
                    (unsigned __int128)now_us + est_table(k, tab) + est_table(b, tab);
                bool harmless = true;
                for (uint32_t i = k; i < r->n; i++)
                        harmless = harmless && r->a[i].deadline_us >= after;
                if (harmless)
                        return 0;
        }
        uint32_t shed = 0;
        while (shed < max && r->a[shed].deadline_us < t)
                shed++;
        return shed;
}

static void random_run(bool serve, uint32_t ops, uint64_t seed)
{
        enum { NODES = 4000, CAP = 1000, MAXK = 24 };
        static struct req reqs[NODES];
        struct ref ref = {.a = calloc(CAP, sizeof(struct ref_item)), .cap = CAP};
        sq_queue q;
        sq_node *out[MAXK];
        struct table tab;
        uint64_t now_us = 1000000;
        uint64_t checks[9] = {0};

        assert_non_null(ref.a);
        memset(reqs, 0, sizeof(reqs));
        rng_seed(seed);
        assert_int_equal(sq_queue_init(&q, CAP), 0);
        sq_set_late_policy(&q, serve ? SQ_LATE_SERVE : SQ_LATE_DROP);
        table_random(&tab);

        for (uint32_t op = 0; op < ops; op++) {
                now_us += rng_below(40);
                if (op % 997 == 0)
                        table_random(&tab);
                /* Phases of mostly-push and mostly-pop so the queue fills and empties:
                 * cumulative shares of push, pop, remove, drop, take (decide: the rest). */
                bool filling = (op / 20000) % 2 == 0;
                static const uint32_t fill[5] = {70, 75, 83, 88, 93};
                static const uint32_t drain[5] = {30, 45, 57, 67, 77};
                const uint32_t *share = filling ? fill : drain;
                uint32_t max_k = filling ? 3 : MAXK;
                uint32_t dice = rng_below(100);
                if (dice < share[0]) {
                        struct req *x = &reqs[rng_below(NODES)];
                        /* Coarse deadlines: many ties. */
                        uint64_t deadline_us = now_us - 2000 + 100 * (uint64_t)rng_below(80);
                        bool queued = sq_node_is_queued(&x->node);
                        int r1 = sq_push(&q, &x->node, deadline_us, now_us);
                        if (queued) {
                                assert_int_equal(r1, -EBUSY);
                                checks[0]++;
                        } else {
                                int r2 = ref_push(&ref, &x->node, deadline_us, now_us);
                                assert_int_equal(r1, r2);
                                checks[r1 == 0 ? 1 : 2]++;
                        }
                } else if (dice < share[1]) {
                        sq_node *got = sq_pop(&q);
                        if (ref.n == 0) {
                                assert_null(got);
                        } else {
                                assert_ptr_equal(got, ref.a[0].node);
                                assert_int_equal(got->seq, ref.a[0].seq);
                                bool late = serve && ref.a[0].deadline_us < ref.late_before_us;
                                assert_int_equal(!!(got->flags & SQ_NODE_LATE), late);
                                ref_remove_at(&ref, 0);
                        }
                        checks[3]++;
                } else if (dice < share[2]) {
                        struct req *x = &reqs[rng_below(NODES)];
                        int i = ref_find(&ref, &x->node);
                        int r1 = sq_remove(&q, &x->node);
                        assert_int_equal(r1, i < 0 ? -ENOENT : 0);
                        if (i >= 0)
                                ref_remove_at(&ref, (uint32_t)i);
                        assert_false(sq_node_is_queued(&x->node));
                        checks[4]++;
                } else if (dice < share[3] && rng_below(2) == 0) {
                        uint32_t max = rng_below(max_k + 1);
                        uint32_t b = rng_below(MAXK + 1);
                        uint32_t got = sq_shed(&q, now_us, b, est_table, &tab, out, max);
                        uint32_t want = ref_shed_count(&ref, serve, now_us, b, &tab, max);
                        assert_int_equal(got, want);
                        for (uint32_t i = 0; i < got; i++) {
                                assert_ptr_equal(out[i], ref.a[0].node);
                                ref_remove_at(&ref, 0);
                        }
                        checks[8] += got > 0;
                } else if (dice < share[3]) {
                        uint32_t max = rng_below(max_k + 1);
                        uint32_t got = sq_drop_hopeless(&q, now_us, est_table, &tab, out, max);
                        if (serve) {
                                assert_int_equal(got, 0);
                                if (ref.n > 0)
                                        ref.late_before_us = now_us + tab.us[1];
                        } else {
                                uint32_t want = 0;
                                while (want < max && want < ref.n &&
                                       !ref_fits(now_us, tab.us[1], ref.a[want].deadline_us))
                                        want++;
                                assert_int_equal(got, want);
                                for (uint32_t i = 0; i < got; i++)
                                        assert_ptr_equal(out[i], ref.a[i].node);
                                for (uint32_t i = 0; i < got; i++)
                                        ref_remove_at(&ref, 0);
                        }
                        checks[5]++;
                } else if (dice < share[4]) {
                        uint32_t k = rng_below(max_k + 1);
                        uint32_t got = sq_take(&q, k, out);
                        assert_int_equal(got, k < ref.n ? k : ref.n);
                        for (uint32_t i = 0; i < got; i++) {
                                assert_ptr_equal(out[i], ref.a[0].node);
                                bool late = serve && ref.a[0].deadline_us < ref.late_before_us;
                                assert_int_equal(!!(out[i]->flags & SQ_NODE_LATE), late);
                                ref_remove_at(&ref, 0);
                        }
                        checks[6]++;
                } else {
                        uint32_t b = rng_below(MAXK + 1);
                        uint64_t caps[] = {SQ_NO_CAP, 0, rng_below(5000), UINT64_MAX - 1};
                        uint64_t cap_us = caps[rng_below(4)];
                        sq_decision d1 = sq_decide(&q, now_us, b, est_table, &tab, cap_us);
                        sq_decision d2 =
                            ref_decide(&ref, serve, now_us, b, est_table, &tab, cap_us);
                        assert_int_equal(d1.action, d2.action);
                        assert_int_equal(d1.k, d2.k);
                        assert_int_equal(d1.wake_at_us, d2.wake_at_us);
                        checks[7]++;
                }
                assert_int_equal(sq_size(&q), ref.n);
                assert_ptr_equal(sq_peek(&q), ref.n ? ref.a[0].node : NULL);
                if (op % 509 == 0) {
                        assert_heap_valid(&q);
                        assert_counters_add_up(&q);
                }
        }
        assert_heap_valid(&q);
        assert_counters_add_up(&q);
        printf("random-reference (%s): %u ops; push ok %lu, full %lu, busy %lu, pop %lu, "
               "remove %lu, drop %lu, take %lu, decide %lu; late %lu, dropped %lu, shed %lu\n",
               serve ? "serve" : "drop", ops, (unsigned long)checks[1], (unsigned long)checks[2],
               (unsigned long)checks[0], (unsigned long)checks[3], (unsigned long)checks[4],
               (unsigned long)checks[5], (unsigned long)checks[6], (unsigned long)checks[7],
               (unsigned long)q.counters.late, (unsigned long)q.counters.dropped_hopeless,
               (unsigned long)q.counters.dropped_shed);
        /* Every kind of operation, the full queue and re-pushes were exercised. */
        for (int i = 0; i < 8; i++)
                assert_true(checks[i] > 100);
        if (serve)
                assert_int_equal(checks[8], 0);
        else
                assert_true(checks[8] > 100);
        if (serve)
                assert_true(q.counters.late > 100);
        else
                assert_true(q.counters.dropped_hopeless > 100);
        sq_queue_done(&q);
        free(ref.a);
}

static void test_random_reference(void **state)
{
        (void)state;
        random_run(false, 150000, 0x5eed0001);
        random_run(true, 100000, 0x5eed0002);
}

/* ---- invariants on random states -------------------------------------------------------- */

static void test_invariants(void **state)
{
        (void)state;
        enum { N = 48 };
        static struct req reqs[N];
        sq_queue q;
        sq_node *out[N];
        struct table tab;
        uint64_t seen[4] = {0}, seen_short = 0;

        rng_seed(0x1a2b3c4d);
        assert_int_equal(sq_queue_init(&q, N), 0);
        for (int trial = 0; trial < 20000; trial++) {
                while (sq_take(&q, N, out) > 0)
                        ;
                memset(reqs, 0, sizeof(reqs));
                table_random(&tab);
                uint64_t now_us = 100000 + rng_below(100000);
                uint32_t n = rng_below(N + 1);
                uint32_t b = 1 + rng_below(32);
                uint64_t cap_us = rng_below(2) ? SQ_NO_CAP : rng_below(10000);
                for (uint32_t i = 0; i < n; i++) {
                        uint64_t arrival_us = now_us - rng_below(20000);
                        uint64_t deadline_us = arrival_us + rng_below(30000);
                        assert_int_equal(sq_push(&q, &reqs[i].node, deadline_us, arrival_us), 0);
                }

                /* Early drop on: after it, the head is never hopeless. */
                while (sq_drop_hopeless(&q, now_us, est_table, &tab, out, N) > 0)
                        ;
                bool shedding = rng_below(2) == 0;
                while (shedding && sq_shed(&q, now_us, b, est_table, &tab, out, N) > 0)
                        ;
                sq_decision d = sq_decide(&q, now_us, b, est_table, &tab, cap_us);
                uint32_t waiting = sq_size(&q);
                seen[d.action]++;
                assert_true(d.action != SQ_DROP);
                if (waiting == 0) {
                        assert_int_equal(d.action, SQ_IDLE);
                        continue;
                }
                const sq_node *head = sq_peek(&q);
                assert_true(now_us + tab.us[1] <= head->deadline_us);
                if (d.action == SQ_WAIT) {
                        /* Only with fewer than b, never past the head's latest start, in the
                         * future, and within the cap. */
                        assert_true(waiting < b);
                        assert_true(d.wake_at_us > now_us);
                        assert_true(d.wake_at_us + est_table(waiting, &tab) <= head->deadline_us);
                        if (cap_us != SQ_NO_CAP)
                                assert_true(d.wake_at_us <= head->arrival_us + cap_us);
                        continue;
                }
                assert_int_equal(d.action, SQ_TAKE);
                assert_true(d.k >= 1 && d.k <= b && d.k <= waiting);
                /* b waiting and a batch of b fits: b, at once. */
                if (waiting >= b && now_us + est_table(b, &tab) <= head->deadline_us)
                        assert_int_equal(d.k, b);
                /* Nothing taken that the estimate says will miss (EDF: the head is the
                 * tightest of the k), and no smaller than what fits. */
                uint32_t k = sq_take(&q, d.k, out);
                assert_int_equal(k, d.k);
                uint64_t done_us = now_us + est_table(k, &tab);
                for (uint32_t i = 0; i < k; i++) {
                        assert_true(done_us <= out[i]->deadline_us);
                        if (i > 0)
                                assert_true(out[i - 1]->deadline_us < out[i]->deadline_us ||
                                            (out[i - 1]->deadline_us == out[i]->deadline_us &&
                                             out[i - 1]->seq < out[i]->seq));
                }
                if (k < b && k < waiting)
                        assert_true(now_us + est_table(k + 1, &tab) > out[0]->deadline_us);
                /* After shedding, a short batch with b waiting means fewer than b could make
                 * it in a full batch, or everyone left makes a full batch after this one. */
                if (shedding && waiting >= b && k < b) {
                        uint64_t t_us = now_us + est_table(b, &tab);
                        uint64_t after_us = done_us + est_table(b, &tab);
                        uint32_t make_it = 0;
                        bool harmless = true;
                        for (uint32_t i = 0; i < k; i++)
                                make_it += out[i]->deadline_us >= t_us;
                        for (uint32_t i = 0; i < q.size; i++) {
                                make_it += q.heap[i].deadline_us >= t_us;
                                harmless = harmless && q.heap[i].deadline_us >= after_us;
                        }
                        assert_true(make_it < b || harmless);
                        seen_short++;
                }
        }
        /* The random states reached every outcome. */
        printf("invariants: idle %lu take %lu wait %lu; short batches after shedding %lu\n",
               (unsigned long)seen[SQ_IDLE], (unsigned long)seen[SQ_TAKE],
               (unsigned long)seen[SQ_WAIT], (unsigned long)seen_short);
        assert_true(seen[SQ_IDLE] > 100 && seen[SQ_TAKE] > 1000 && seen[SQ_WAIT] > 1000);
        assert_true(seen_short > 100);
        sq_queue_done(&q);
}

/* ---- the discrete-event simulation ------------------------------------------------------ */

static const char *ghent_path;

static void test_sim(void **state)
{
        (void)state;
        uint64_t *budgets = NULL;
        size_t n_budgets = 0;
        unsigned bad_line = 0;
        /* Sponge's setting: a 500 ms end-to-end SLO, a 200 KB image sent over the 4G link
         * (37-471 ms of budget left on the full log). */
        int r = sim_load_ghent_budgets(ghent_path, 500000, 200000, &budgets, &n_budgets, &bad_line);
        if (r < 0)
                fprintf(stderr, "cannot load %s: %s (line %u)\n", ghent_path, strerror(-r),
                        bad_line);
        assert_int_equal(r, 0);
        assert_true(n_budgets >= 100);

        struct sim_config cfg = {
            .duration_us = 300ull * 1000000, /* 5 simulated minutes */
            .batch_base_us = 20000,          /* a = 20 ms */
            .batch_per_us = 5000,            /* c = 5 ms per request */
            .batch_limit = 16,               /* b: 100 ms a batch, 160 requests/s */
            .queue_capacity = 4096,
            .fifo_timeout_us = 50000, /* a tuned Triton-style max_queue_delay */
            .budgets_us = budgets,
            .n_budgets = n_budgets,
        };
        double capacity = sim_capacity_per_s(&cfg);
        printf("sim: %zu budgets from %s; server a=%lu us c=%lu us b=%u: capacity %.1f req/s\n",
               n_budgets, ghent_path, (unsigned long)cfg.batch_base_us,
               (unsigned long)cfg.batch_per_us, cfg.batch_limit, capacity);

        /* Policies: EDF + early drop + shedding + slack batching (the module as the agent
         * uses it), FIFO + fixed timeout (the baseline), and EDF without sq_shed (printed
         * to show why the shedding is there). */
        static const char *const names[] = {"EDF", "FIFO", "EDF-noshed"};
        const double loads[] = {0.8, 1.2};
        struct sim_result res[2][3];
        for (int l = 0; l < 2; l++) {
                for (int p = 0; p < 3; p++) {
                        cfg.policy = p == 1 ? SIM_FIFO : SIM_EDF;
                        cfg.no_shed = p == 2;
                        cfg.rate_per_s = loads[l] * capacity;
                        cfg.seed = 0xabcdef01 + (uint64_t)l; /* same arrivals for all */
                        assert_int_equal(sim_run(&cfg, &res[l][p]), 0);
                        const struct sim_result *x = &res[l][p];
                        printf("sim: load %.1fx %-10s goodput %6.1f req/s (%5.1f%% of capacity): "
                               "arrived %lu on-time %lu missed %lu dropped %lu shed %lu "
                               "refused %lu, mean batch %.1f\n",
                               loads[l], names[p], x->goodput_per_s,
                               100 * x->goodput_per_s / capacity, (unsigned long)x->arrived,
                               (unsigned long)x->on_time, (unsigned long)x->missed,
                               (unsigned long)x->dropped, (unsigned long)x->shed,
                               (unsigned long)x->refused, x->mean_batch);
                }
        }
        for (int l = 0; l < 2; l++) {
                /* The module's own guarantees, with an exact estimate. */
                for (int p = 0; p < 3; p += 2) {
                        assert_int_equal(res[l][p].violations, 0);
                        assert_int_equal(res[l][p].late_waits, 0);
                        assert_int_equal(res[l][p].missed, 0);
                }
                assert_int_equal(res[l][1].arrived, res[l][0].arrived);
        }
        /* 0.8x: EDF meets at least as many deadlines as FIFO, without shedding anyone. */
        assert_true(res[0][0].on_time >= res[0][1].on_time);
        assert_int_equal(res[0][0].shed, 0);
        /* 1.2x: EDF keeps >= 90% of capacity; FIFO collapses (below a third of it). */
        assert_true(res[1][0].goodput_per_s >= 0.9 * capacity);
        assert_true(res[1][1].goodput_per_s < capacity / 3);
        /* ... and EDF needs sq_shed for that. */
        assert_true(res[1][2].goodput_per_s < 0.75 * res[1][0].goodput_per_s);
        free(budgets);
}

/* ---- main ------------------------------------------------------------------------------- */

static const char *find_ghent(void)
{
        static char buf[4096];
        const char *dir = getenv("SPONGE_SHARED_DATA");
        int n;
        if (dir) {
                n = snprintf(buf, sizeof(buf), "%s/ghent-4g-bus-bandwidth.log", dir);
                if (n > 0 && (size_t)n < sizeof(buf) && access(buf, R_OK) == 0)
                        return buf;
        }
        dir = getenv("SPONGE_SOURCE_DIR");
        if (dir) {
                n = snprintf(buf, sizeof(buf), "%s/tests/data/ghent-slice.txt", dir);
                if (n > 0 && (size_t)n < sizeof(buf) && access(buf, R_OK) == 0)
                        return buf;
        }
#ifdef QUEUEING_GHENT_SLICE
        if (access(QUEUEING_GHENT_SLICE, R_OK) == 0)
                return QUEUEING_GHENT_SLICE;
#endif
        return NULL;
}

int main(int argc, char **argv)
{
        static const struct CMUnitTest tests[] = {
            {"heap-basic", test_heap_basic, NULL, NULL, NULL},
            {"heap-ties", test_heap_ties, NULL, NULL, NULL},
            {"capacity", test_capacity, NULL, NULL, NULL},
            {"remove", test_remove, NULL, NULL, NULL},
            {"drop-hopeless", test_drop_hopeless, NULL, NULL, NULL},
            {"late-serve", test_late_serve, NULL, NULL, NULL},
            {"shed", test_shed, NULL, NULL, NULL},
            {"decide", test_decide, NULL, NULL, NULL},
            {"counters", test_counters, NULL, NULL, NULL},
            {"random-reference", test_random_reference, NULL, NULL, NULL},
            {"invariants", test_invariants, NULL, NULL, NULL},
            {"sim", test_sim, NULL, NULL, NULL},
        };
        const size_t n_tests = sizeof(tests) / sizeof(tests[0]);
        const char *only = argc > 1 ? argv[1] : NULL;

        if (only) {
                size_t i = 0;
                while (i < n_tests && strcmp(tests[i].name, only) != 0)
                        i++;
                if (i == n_tests) {
                        fprintf(stderr, "%s: no test named '%s'\n", argv[0], only);
                        return 2;
                }
                cmocka_set_test_filter(only);
        }
        ghent_path = find_ghent();
        if (!ghent_path && (!only || strcmp(only, "sim") == 0)) {
                fprintf(stderr, "SKIP sim: neither $SPONGE_SHARED_DATA/ghent-4g-bus-bandwidth.log "
                                "nor tests/data/ghent-slice.txt is readable\n");
                if (only)
                        return 77;
                cmocka_set_skip_filter("sim");
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
