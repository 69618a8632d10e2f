/*
 * cgroups.bpf_api — the watch set and the figures of rqdelay against the real kernel (root),
 * in each timing mode the kernel supports:
 *   - argument and state errors (-EINVAL, -ENOENT) leave the watch set as it was;
 *   - this process watched by tgid: its sleeps give run-queue waits to its key and to no other;
 *     a second thread of the process counts for the same key;
 *   - on-CPU time of the key agrees with the process's own CPU-time clock (both are the
 *     scheduler's accounting, so the margin can be tight without depending on the machine's
 *     load);
 *   - unwatched, the key stops moving; watched again under another key, the new key moves.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/bpf/rqdelay.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
                        fprintf(stderr, __VA_ARGS__);                                              \
                        fputc('\n', stderr);                                                       \
                        failures++;                                                                \
                }                                                                                  \
        } while (0)

static uint64_t cpu_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps briefly n times: n wakeups, n switch-ins. */
static void *nap(void *arg)
{
        long n = (long)arg;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 200000};

        for (long i = 0; i < n; i++)
                nanosleep(&ts, NULL);
        return NULL;
}

static volatile unsigned long sink;

static void burn_cpu_ns(uint64_t ns)
{
        uint64_t t0 = cpu_ns();

        while (cpu_ns() - t0 < ns)
                sink++;
}

static rqd_stats read_key(rqd *r, uint32_t key)
{
        rqd_stats s = {0};
        int rc = rqd_read(r, key, &s);

        CHECK(rc == 0, "rqd_read(%u): %d", key, rc);
        return s;
}

static void check_errors(rqd *r)
{
        rqd_stats s;
        int rc;

        CHECK((rc = rqd_watch_tgid(r, 0, 1)) == -EINVAL, "tgid 0: %d", rc);
        CHECK((rc = rqd_watch_tgid(r, -5, 1)) == -EINVAL, "tgid -5: %d", rc);
        CHECK((rc = rqd_watch_tgid(r, getpid(), RQD_MAX_KEYS)) == -EINVAL, "key too big: %d", rc);
        CHECK((rc = rqd_watch_cgroup(r, 0, 1)) == -EINVAL, "cgid 0: %d", rc);
        CHECK((rc = rqd_watch_cgroup(r, 12345, RQD_MAX_KEYS)) == -EINVAL, "key too big: %d", rc);
        CHECK((rc = rqd_unwatch_tgid(r, getpid())) == -ENOENT, "unwatch unknown tgid: %d", rc);
        CHECK((rc = rqd_unwatch_cgroup(r, 12345)) == -ENOENT, "unwatch unknown cgroup: %d", rc);
        CHECK((rc = rqd_read(r, RQD_MAX_KEYS, &s)) == -EINVAL, "read key too big: %d", rc);
        /* a cgroup watched and unwatched again (the id need not exist: it is only a key) */
        CHECK((rc = rqd_watch_cgroup(r, 12345, 9)) == 0, "watch cgroup: %d", rc);
        CHECK((rc = rqd_watch_cgroup(r, 12345, 8)) == 0, "re-key cgroup: %d", rc);
        CHECK((rc = rqd_unwatch_cgroup(r, 12345)) == 0, "unwatch cgroup: %d", rc);
        CHECK((rc = rqd_unwatch_cgroup(r, 12345)) == -ENOENT, "unwatch twice: %d", rc);
}

static void run_mode(rqd_mode mode)
{
        rqd_stats a0, a1, b0, b1, d;
        char err[512];
        pthread_t t;
        rqd *r = NULL;
        int rc;

        rc = rqd_open_mode(mode, &r, err, sizeof(err));
        if (rc == -EOPNOTSUPP) {
                printf("[%s] not supported here: %s\n", rqd_mode_name(mode), err);
                return;
        }
        CHECK(rc == 0, "[%s] rqd_open: %s (%d)", rqd_mode_name(mode), err, rc);
        if (rc < 0)
                return;
        check_errors(r);

        /* Watched by tgid under key 3: a second thread's naps count there too. */
        CHECK((rc = rqd_watch_tgid(r, getpid(), 3)) == 0, "watch self: %d", rc);
        a0 = read_key(r, 3);
        b0 = read_key(r, 4);
        uint64_t c0 = cpu_ns();
        CHECK(pthread_create(&t, NULL, nap, (void *)200L) == 0, "pthread_create");
        pthread_join(t, NULL);
        burn_cpu_ns(200000000ull);
        uint64_t cpu = cpu_ns() - c0;
        nap((void *)5L); /* end the burning stint: its wait is recorded at switch-out */
        a1 = read_key(r, 3);
        b1 = read_key(r, 4);
        CHECK(rqd_stats_delta(&a1, &a0, &d) == 0, "delta");
        printf("[%s] key 3: %llu waits, p50 %.1f us, on-CPU %.1f ms (CPU clock %.1f ms)\n",
               rqd_mode_name(mode), (unsigned long long)d.count, rqd_stats_quantile_us(&d, 0.5),
               (double)d.oncpu_ns / 1e6, (double)cpu / 1e6);
        CHECK(d.count >= 200, "key 3: %llu waits for 200+ naps of a thread",
              (unsigned long long)d.count);
        /* on-CPU includes the naps' bits of CPU and the reads; CPU clock the same stretch */
        CHECK(fabs((double)d.oncpu_ns - (double)cpu) < 0.1 * (double)cpu + 5e6,
              "on-CPU %.1f ms vs process CPU time %.1f ms", (double)d.oncpu_ns / 1e6,
              (double)cpu / 1e6);
        CHECK(b1.count == b0.count && b1.oncpu_ns == b0.oncpu_ns, "key 4 moved while unused");

        /* Unwatched: key 3 stands still. Watched as key 4: key 4 moves. */
        CHECK((rc = rqd_unwatch_tgid(r, getpid())) == 0, "unwatch: %d", rc);
        nap((void *)5L); /* a stint open at unwatch time closes into key 3 */
        a0 = read_key(r, 3);
        nap((void *)50L);
        a1 = read_key(r, 3);
        CHECK(a1.count == a0.count, "key 3 moved after unwatch (%llu -> %llu)",
              (unsigned long long)a0.count, (unsigned long long)a1.count);
        CHECK((rc = rqd_watch_tgid(r, getpid(), 4)) == 0, "re-watch: %d", rc);
        b0 = read_key(r, 4);
        nap((void *)50L);
        b1 = read_key(r, 4);
        CHECK(b1.count >= b0.count + 40, "key 4: %llu -> %llu waits for 50 naps",
              (unsigned long long)b0.count, (unsigned long long)b1.count);
        rqd_free(r);
}

int main(void)
{
        char err[512];
        rqd *r = NULL;
        int rc;

        rc = rqd_open(&r, err, sizeof(err));
        if (rc < 0) {
                if (geteuid() != 0) {
                        printf("SKIP: not root, eBPF cannot load: %s\n", err);
                        return 77;
                }
                fprintf(stderr, "FAIL: rqd_open as root: %s (%d)\n", err, rc);
                return 1;
        }
        rqd_free(r);
        run_mode(RQD_MODE_SCHED_INFO);
        run_mode(RQD_MODE_WAKEUP);
        if (failures)
                return 1;
        printf("PASS\n");
        return 0;
}
