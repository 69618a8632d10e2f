/* SPDX-License-Identifier: MIT */
/*
 * bench-queue: cost of the EDF queue and of the batcher's decision.
 *
 *   bench-queue [--queued N] [--pairs N] [--rounds N]
 *
 * pairs: with N requests queued (default 10,000), pop the most urgent and push a request
 *   back with deadline = now + a random budget (50-550 ms) while the fake clock advances by
 *   10 µs a pair — the queue of a stage in steady state. Reported per second of this
 *   thread's CPU time (CLOCK_THREAD_CPUTIME_ID, so other processes on the machine do not
 *   count), best of --rounds rounds.
 * decide: sq_decide on the same queue with batch limit 32 (the take path), and
 *   decide_wait: on a queue of 3 with batch limit 32 (the wait path: latest start, cap).
 *
 * The last line is one JSON object: {"pairs_per_s":..,"decide_ns":..,...}.
 */
#include "queueing/queueing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct req {
        uint64_t id;
        sq_node node;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: cheap enough not to be what is measured. */
static uint64_t rng_next(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t budget_us(void)
{
        return 50000 + rng_next() % 500000;
}

static uint64_t thread_cpu_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A stage of 20 ms + 4 ms per item followed by 30 ms of later stages. */
static uint64_t est_linear(uint32_t batch, void *ud)
{
        (void)ud;
        return 50000 + 4000 * (uint64_t)batch;
}

static int parse_u32(const char *s, uint32_t min, uint32_t *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static volatile uint64_t sink;

int main(int argc, char **argv)
{
        uint32_t queued = 10000, pairs = 20000000, rounds = 5;

        for (int i = 1; i < argc; i += 2) {
                uint32_t *dst = NULL;
                if (strcmp(argv[i], "--queued") == 0)
                        dst = &queued;
                else if (strcmp(argv[i], "--pairs") == 0)
                        dst = &pairs;
                else if (strcmp(argv[i], "--rounds") == 0)
                        dst = &rounds;
                if (!dst || i + 1 >= argc || parse_u32(argv[i + 1], 1, dst) < 0) {
                        fprintf(stderr,
                                "usage: %s [--queued N>=1] [--pairs N>=1] [--rounds N>=1]\n",
                                argv[0]);
                        return 2;
                }
        }

        struct req *reqs = calloc(queued, sizeof(*reqs));
        sq_queue q;
        int r = sq_queue_init(&q, queued);
        if (!reqs || r < 0) {
                fprintf(stderr, "bench-queue: cannot allocate %u requests\n", queued);
                return 1;
        }
        uint64_t now_us = 1000000;
        for (uint32_t i = 0; i < queued; i++) {
                reqs[i].id = i;
                r = sq_push(&q, &reqs[i].node, now_us + budget_us(), now_us);
                if (r < 0) {
                        fprintf(stderr, "bench-queue: push failed: %s\n", strerror(-r));
                        return 1;
                }
        }

        double best_pair_ns = 0;
        for (uint32_t round = 0; round < rounds; round++) {
                uint64_t t0 = thread_cpu_ns(), check = 0;
                for (uint32_t i = 0; i < pairs; i++) {
                        sq_node *n = sq_pop(&q);
                        check += sq_container_of(n, struct req, node)->id;
                        now_us += 10;
                        sq_push(&q, n, now_us + budget_us(), now_us);
                }
                uint64_t t1 = thread_cpu_ns();
                sink = check;
                double ns = (double)(t1 - t0) / pairs;
                printf("round %u: %.1f ns per push+pop pair, %u queued\n", round, ns, sq_size(&q));
                if (round == 0 || ns < best_pair_ns)
                        best_pair_ns = ns;
        }

        /* The decision: take path (b fits in the queue) and wait path (b larger than n). */
        /* The wait path needs fewer waiting than the batch limit: 3 requests, b = 32. */
        sq_queue few;
        struct req few_reqs[3] = {{0}};
        if (sq_queue_init(&few, 3) < 0)
                return 1;
        for (uint32_t i = 0; i < 3; i++)
                (void)sq_push(&few, &few_reqs[i].node, now_us + 400000 + i, now_us);
        const uint32_t decisions = 2000000;
        double decide_ns = 0, decide_wait_ns = 0;
        for (uint32_t round = 0; round < rounds; round++) {
                uint64_t t0 = thread_cpu_ns(), acc = 0;
                for (uint32_t i = 0; i < decisions; i++) {
                        sq_decision d =
                            sq_decide(&q, now_us + (i & 1023), 32, est_linear, NULL, SQ_NO_CAP);
                        acc += d.k;
                }
                uint64_t t1 = thread_cpu_ns();
                for (uint32_t i = 0; i < decisions; i++) {
                        sq_decision d =
                            sq_decide(&few, now_us + (i & 1023), 32, est_linear, NULL, SQ_NO_CAP);
                        acc += d.wake_at_us + d.k;
                }
                uint64_t t2 = thread_cpu_ns();
                sink = acc;
                double a = (double)(t1 - t0) / decisions, b = (double)(t2 - t1) / decisions;
                if (round == 0 || a < decide_ns)
                        decide_ns = a;
                if (round == 0 || b < decide_wait_ns)
                        decide_wait_ns = b;
        }

        sq_queue_done(&few);
        sq_queue_done(&q);
        free(reqs);
        printf("{\"pairs_per_s\":%.0f,\"pair_ns\":%.1f,\"decide_ns\":%.1f,"
               "\"decide_wait_ns\":%.1f,\"queued\":%u}\n",
               1e9 / best_pair_ns, best_pair_ns, decide_ns, decide_wait_ns, queued);
        return 0;
}
