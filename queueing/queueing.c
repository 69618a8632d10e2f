/* SPDX-License-Identifier: MIT */
/*
 * The EDF heap, early drop and the batcher. See queueing.h for the contract.
 *
 * The heap is a binary min-heap in one array of sq_slot {deadline_us, node}: the primary key
 * sits in the array itself so that sifting compares without touching the nodes (only ties
 * read node->seq); every move writes node->heap_index so that sq_remove finds a node in O(1).
 * Removal (pop and remove-by-handle alike) is the "bottom-up" variant (Wegener 1993,
 * "BOTTOM-UP-HEAPSORT"): the hole walks down to a leaf along the smaller children with one
 * comparison per level, then the last slot is put there and sifted up, which for the random
 * keys of a deadline queue rarely climbs more than a level or two. That halves the comparisons
 * of the textbook sift-down, which compares the moving element at every level too.
 */
#include "queueing/queueing.h"

#include <stdlib.h>

static inline bool slot_less(const sq_slot *a, const sq_slot *b)
{
        if (a->deadline_us != b->deadline_us)
                return a->deadline_us < b->deadline_us;
        return a->node->seq < b->node->seq;
}

static inline void slot_put(sq_queue *q, uint32_t i, sq_slot s)
{
        q->heap[i] = s;
        s.node->heap_index = i + 1;
}

/* Puts s at hole i and moves it up while it is more urgent than its parent. */
static void sift_up(sq_queue *q, uint32_t i, sq_slot s)
{
        while (i > 0) {
                uint32_t parent = (i - 1) / 2;
                if (!slot_less(&s, &q->heap[parent]))
                        break;
                slot_put(q, i, q->heap[parent]);
                i = parent;
        }
        slot_put(q, i, s);
}

/* Removes the slot at i (size >= 1): the hole goes down to a leaf, the last slot fills it. */
static void remove_at(sq_queue *q, uint32_t i)
{
        uint32_t last = --q->size;
        sq_slot moved = q->heap[last];

        if (i == last)
                return;
        /* Children of the hole exist below `last` only: the last slot is being moved. */
        for (;;) {
                uint32_t child = 2 * i + 1;
                if (child >= last)
                        break;
                if (child + 1 < last && slot_less(&q->heap[child + 1], &q->heap[child]))
                        child++;
                slot_put(q, i, q->heap[child]);
                i = child;
        }
        sift_up(q, i, moved);
}

static inline sq_node *detach(sq_queue *q, uint32_t i)
{
        sq_node *n = q->heap[i].node;
        remove_at(q, i);
        n->heap_index = 0;
        return n;
}

/* Saturating now + d. */
static inline uint64_t add_sat(uint64_t now_us, uint64_t d_us)
{
        return d_us > UINT64_MAX - now_us ? UINT64_MAX : now_us + d_us;
}

/* Does a batch that needs est_us, dispatched at now_us, end by deadline_us? */
static inline bool fits(uint64_t now_us, uint64_t est_us, uint64_t deadline_us)
{
        return deadline_us >= now_us && deadline_us - now_us >= est_us;
}

int sq_queue_init(sq_queue *q, uint32_t capacity)
{
        *q = (sq_queue){0};
        /* heap_index is 1-based in a uint32_t, so UINT32_MAX slots would not be addressable. */
        if (capacity == 0 || capacity == UINT32_MAX)
                return -EINVAL;
        sq_slot *heap = calloc(capacity, sizeof(*heap));
        if (!heap)
                return -ENOMEM;
        q->heap = heap;
        q->capacity = capacity;
        return 0;
}

void sq_queue_done(sq_queue *q)
{
        if (!q)
                return;
        free(q->heap);
        *q = (sq_queue){0};
}

void sq_set_late_policy(sq_queue *q, sq_late_policy policy)
{
        q->late_policy = policy;
        q->late_before_us = 0;
}

int sq_push(sq_queue *q, sq_node *n, uint64_t deadline_us, uint64_t now_us)
{
        if (n->heap_index != 0)
                return -EBUSY;
        if (q->size >= q->capacity) {
                q->counters.dropped_full++;
                return SQ_ERR_FULL;
        }
        n->deadline_us = deadline_us;
        n->arrival_us = now_us;
        n->seq = q->next_seq++;
        n->flags = 0;
        sift_up(q, q->size++, (sq_slot){.deadline_us = deadline_us, .node = n});
        q->counters.enqueued++;
        return 0;
}

sq_node *sq_peek(const sq_queue *q)
{
        return q->size > 0 ? q->heap[0].node : NULL;
}

sq_node *sq_pop(sq_queue *q)
{
        sq_node *n;
        return sq_take(q, 1, &n) == 1 ? n : NULL;
}

int sq_remove(sq_queue *q, sq_node *n)
{
        uint32_t i = n->heap_index;
        /* The index alone does not say which queue: check the slot points back at n. */
        if (i == 0 || i > q->size || q->heap[i - 1].node != n)
                return -ENOENT;
        detach(q, i - 1);
        q->counters.cancelled++;
        return 0;
}

uint32_t sq_drop_hopeless(sq_queue *q, uint64_t now_us, sq_estimate_fn est, void *ud,
                          sq_node **ret_nodes, uint32_t max)
{
        if (q->size == 0)
                return 0;
        uint64_t est1_us = est(1, ud);
        if (q->late_policy == SQ_LATE_SERVE) {
                q->late_before_us = add_sat(now_us, est1_us);
                return 0;
        }
        uint32_t dropped = 0;
        while (dropped < max && q->size > 0 && !fits(now_us, est1_us, q->heap[0].deadline_us))
                ret_nodes[dropped++] = detach(q, 0);
        q->counters.dropped_hopeless += dropped;
        return dropped;
}

/*
 * How many queued nodes have a deadline before t_us, counting no further than limit + 1.
 * Those nodes form a subtree that contains the root (a parent is never later than its
 * child), so a depth-first walk that stops at the first node >= t_us visits at most
 * 2·count + 1 slots. The walk keeps pending right children on a stack; it holds at most one
 * per level, and a heap of < 2^32 slots has at most 32 levels.
 */
static uint32_t count_before(const sq_queue *q, uint64_t t_us, uint32_t limit)
{
        uint32_t stack[64], sp = 0, count = 0;

        stack[sp++] = 0;
        while (sp > 0) {
                uint32_t i = stack[--sp];
                while (i < q->size && q->heap[i].deadline_us < t_us) {
                        if (++count > limit)
                                return count;
                        uint64_t right = 2 * (uint64_t)i + 2;
                        if (right < q->size)
                                stack[sp++] = (uint32_t)right;
                        i = 2 * i + 1;
                }
        }
        return count;
}

/*
 * The largest k in [1, hi] with fits(now, est(k), deadline), or 0 if not even k = 1 fits.
 * est is non-decreasing, so "fits" is true on a prefix of [1, hi]: try hi first (the common
 * case, one call), then binary-search.
 */
static uint32_t largest_fitting(uint32_t hi, uint64_t now_us, uint64_t deadline_us,
                                sq_estimate_fn est, void *ud)
{
        if (fits(now_us, est(hi, ud), deadline_us))
                return hi;
        uint32_t lo = 0; /* invariant: lo == 0 or lo fits; hi does not fit */
        while (hi - lo > 1) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (fits(now_us, est(mid, ud), deadline_us))
                        lo = mid;
                else
                        hi = mid;
        }
        return lo;
}

uint32_t sq_shed(sq_queue *q, uint64_t now_us, uint32_t batch_limit, sq_estimate_fn est, void *ud,
                 sq_node **ret_nodes, uint32_t max)
{
        uint32_t b = batch_limit > 0 ? batch_limit : 1;
        if (q->late_policy == SQ_LATE_SERVE || q->size <= b || max == 0)
                return 0;
        uint64_t est_b_us = est(b, ud);
        if (fits(now_us, est_b_us, q->heap[0].deadline_us))
                return 0;
        /* Shed only when a full batch that makes it remains: size - shed >= b. */
        uint64_t t_us = add_sat(now_us, est_b_us);
        if (count_before(q, t_us, q->size - b) > q->size - b)
                return 0;
        /* Serving the head first, in the largest batch k that fits it, costs throughput but
         * nobody's deadline if everyone after those k still makes it in a full batch that
         * starts when that one ends: then there is nothing to shed. */
        uint32_t k = largest_fitting(b, now_us, q->heap[0].deadline_us, est, ud);
        if (k > 0) {
                uint64_t after_us = add_sat(add_sat(now_us, est(k, ud)), est_b_us);
                if (count_before(q, after_us, k) <= k)
                        return 0;
        }
        uint32_t shed = 0;
        while (shed < max && q->size > 0 && q->heap[0].deadline_us < t_us)
                ret_nodes[shed++] = detach(q, 0);
        q->counters.dropped_shed += shed;
        return shed;
}

static inline sq_decision take(uint32_t k)
{
        return (sq_decision){.action = SQ_TAKE, .k = k};
}

sq_decision sq_decide(const sq_queue *q, uint64_t now_us, uint32_t batch_limit, sq_estimate_fn est,
                      void *ud, uint64_t max_wait_us)
{
        uint32_t n = q->size;
        if (n == 0)
                return (sq_decision){.action = SQ_IDLE};
        uint32_t b = batch_limit > 0 ? batch_limit : 1;
        uint32_t m = n < b ? n : b;
        const sq_node *head = q->heap[0].node;
        uint64_t deadline_us = head->deadline_us;

        if (!fits(now_us, est(1, ud), deadline_us)) {
                if (q->late_policy == SQ_LATE_SERVE)
                        return take(m); /* best effort: as soon and as many as allowed */
                return (sq_decision){.action = SQ_DROP};
        }
        if (n >= b)
                return take(largest_fitting(b, now_us, deadline_us, est, ud));

        /* n < b: wait for batch-mates until the latest start of the batch we have. */
        uint64_t est_n_us = est(n, ud);
        if (est_n_us > deadline_us)
                return take(largest_fitting(n, now_us, deadline_us, est, ud));
        uint64_t wake_us = deadline_us - est_n_us;
        if (max_wait_us != SQ_NO_CAP) {
                uint64_t cap_us = add_sat(head->arrival_us, max_wait_us);
                if (cap_us < wake_us)
                        wake_us = cap_us;
        }
        if (now_us >= wake_us)
                return take(largest_fitting(n, now_us, deadline_us, est, ud));
        return (sq_decision){.action = SQ_WAIT, .wake_at_us = wake_us};
}

uint32_t sq_take(sq_queue *q, uint32_t k, sq_node **ret_nodes)
{
        uint32_t taken = 0;
        bool serve = q->late_policy == SQ_LATE_SERVE;

        while (taken < k && q->size > 0) {
                sq_node *n = detach(q, 0);
                if (serve && n->deadline_us < q->late_before_us) {
                        n->flags |= SQ_NODE_LATE;
                        q->counters.late++;
                }
                ret_nodes[taken++] = n;
        }
        q->counters.dispatched += taken;
        return taken;
}

static inline int64_t clamp_pos(uint64_t v)
{
        return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

int64_t sq_head_slack_us(const sq_queue *q, uint64_t now_us, sq_estimate_fn est, void *ud)
{
        if (q->size == 0)
                return INT64_MAX;
        uint64_t deadline_us = q->heap[0].deadline_us;
        uint64_t est_us = est(1, ud);
        uint64_t short_us; /* how much the head misses by, when it does */

        if (deadline_us >= now_us) {
                uint64_t left_us = deadline_us - now_us;
                if (left_us >= est_us)
                        return clamp_pos(left_us - est_us);
                short_us = est_us - left_us;
        } else {
                short_us = add_sat(now_us - deadline_us, est_us);
        }
        /* -INT64_MAX - 1 is INT64_MIN: anything that short saturates there. */
        return short_us > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)short_us;
}
