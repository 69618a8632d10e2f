/* SPDX-License-Identifier: MIT */
/* planner.c — the solver thread. See planner.h. */
#include "agent/plan/planner.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PLANNER_STACK_BYTES (2u << 20)
#define PLANNER_NICE        10

struct planner {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        int efd;
        uint32_t time_limit_ms;
        bool stop;
        bool detached; /* freed while solving: the thread frees the planner when done */
        /* under lock */
        bool has_job, has_result, solving;
        uint64_t next_seq, job_seq;
        plan_problem job;
        planner_result result;
};

static uint64_t mono_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void planner_release(planner *p)
{
        plan_problem_done(&p->job);
        if (p->has_result)
                planner_result_done(&p->result);
        close(p->efd);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->wake);
        free(p);
}

static void *solver_main(void *arg)
{
        planner *p = arg;
        bool detached;

        /* Below the loop and the workers: a long solve takes what CPU is left. */
        errno = 0;
        int nice_now = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
        if (errno == 0)
                (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
                                  nice_now + PLANNER_NICE > 19 ? 19 : nice_now + PLANNER_NICE);
        pthread_mutex_lock(&p->lock);
        for (;;) {
                planner_result res = {0};
                uint64_t t0, one = 1;

                while (!p->stop && !p->has_job)
                        pthread_cond_wait(&p->wake, &p->lock);
                if (p->stop)
                        break;
                res.x = p->job;
                res.seq = p->job_seq;
                p->job = (plan_problem){0};
                p->has_job = false;
                p->solving = true;
                pthread_mutex_unlock(&p->lock);

                t0 = mono_us();
                res.r = plan_decide(&res.x, p->time_limit_ms, &res.d);
                res.solve_us = mono_us() - t0;

                pthread_mutex_lock(&p->lock);
                p->solving = false;
                if (p->stop) {
                        planner_result_done(&res);
                        break;
                }
                if (p->has_result)
                        planner_result_done(&p->result);
                p->result = res;
                p->has_result = true;
                /* Cannot fail but on a counter overflow (2^64 - 1 unread wake-ups). */
                if (write(p->efd, &one, sizeof(one)) < 0) {
                }
        }
        detached = p->detached;
        pthread_mutex_unlock(&p->lock);
        if (detached)
                planner_release(p);
        return NULL;
}

int planner_new(uint32_t time_limit_ms, planner **ret)
{
        planner *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return -ENOMEM;
        p->time_limit_ms = time_limit_ms;
        p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->efd < 0) {
                r = -errno;
                free(p);
                return r;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->wake, NULL);
        /* A small stack: sponged may run under an address-space limit (control-solve-fail), and
         * the default reserves RLIMIT_STACK (8 MiB). The solve keeps its data on the heap. */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, PLANNER_STACK_BYTES);
        r = -pthread_create(&p->thread, &attr, solver_main, p);
        pthread_attr_destroy(&attr);
        if (r < 0) {
                close(p->efd);
                pthread_mutex_destroy(&p->lock);
                pthread_cond_destroy(&p->wake);
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

planner *planner_free(planner *p)
{
        pthread_t t;
        bool busy;

        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_signal(&p->wake);
        /* A solve cannot be interrupted (GLPK) and may take long: the thread is left to finish
         * it and free the planner (shutdown does not wait; exit ends it). */
        busy = p->solving;
        p->detached = busy;
        t = p->thread;
        pthread_mutex_unlock(&p->lock);
        if (busy) {
                pthread_detach(t);
                return NULL;
        }
        pthread_join(t, NULL);
        planner_release(p);
        return NULL;
}

int planner_fd(const planner *p)
{
        return p->efd;
}

uint64_t planner_post(planner *p, plan_problem *x)
{
        uint64_t seq;

        pthread_mutex_lock(&p->lock);
        if (p->has_job)
                plan_problem_done(&p->job); /* superseded before it started */
        p->job = *x;
        *x = (plan_problem){0};
        p->has_job = true;
        seq = p->job_seq = ++p->next_seq;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        return seq;
}

int planner_take(planner *p, planner_result *ret)
{
        uint64_t n;
        int have;

        if (read(p->efd, &n, sizeof(n)) < 0) {
                /* EAGAIN: nothing written since the last take; the slot says what is there */
        }
        pthread_mutex_lock(&p->lock);
        have = p->has_result;
        if (have) {
                *ret = p->result;
                p->result = (planner_result){0};
                p->has_result = false;
        }
        pthread_mutex_unlock(&p->lock);
        return have;
}

void planner_result_done(planner_result *res)
{
        plan_decision_done(&res->d);
        plan_problem_done(&res->x);
}

bool planner_busy(planner *p)
{
        bool busy;

        pthread_mutex_lock(&p->lock);
        busy = p->has_job || p->solving;
        pthread_mutex_unlock(&p->lock);
        return busy;
}
