/*
 * bench-bpf — what the run-queue delay programs cost on a scheduler-heavy load.
 *
 * Two processes pinned to one CPU bounce a byte over two pipes, N round trips per round: every
 * round trip is two wakeups and two context switches, all through the full path of the
 * programs when they are attached (both processes are watched). Rounds alternate off/on in
 * ABBA order in one run (off = programs not loaded at all; on = rqd_open + watch both pids,
 * rqd_free after), after one discarded warm-up round.
 *
 * Rate = context switches per CPU-second of the two processes (2N / their CPU time), which
 * other load on the machine barely disturbs: time other tasks spend on this CPU is not charged
 * to the ping-pong, while the programs' own time is (they run inside the switch and the wakeup
 * of the two processes). The wall-clock rate is printed too. Overhead = 1 - on/off of the
 * median rates. Each "on" round also checks that the programs saw the switches (>= 2N run-queue
 * delays recorded), so a broken attach cannot pass for "no overhead".
 *
 * Usage: bench-bpf [--round-trips N] [--rounds R] [--cpu C] [--mode auto|sched_info|wakeup]
 * Last line: {"pingpong_off_per_s":..,"pingpong_on_per_s":..,"overhead_pct":..}
 * Exit: 0 ok, 1 failure, 2 usage, 77 cannot load eBPF here (not root).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/bpf/rqdelay.h"

#define MAX_ROUNDS 64
#define PONG_IN    3 /* fd numbers the pong child gets its pipe ends on */
#define PONG_OUT   4

static int parse_long(const char *s, long min, long max, long *ret)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_mode(const char *s, rqd_mode *ret)
{
        static const rqd_mode modes[] = {RQD_MODE_AUTO, RQD_MODE_SCHED_INFO, RQD_MODE_WAKEUP};

        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                if (strcmp(s, rqd_mode_name(modes[i])) == 0) {
                        *ret = modes[i];
                        return 0;
                }
        }
        return -EINVAL;
}

static int pin_to(int cpu)
{
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static double clock_s(clockid_t id)
{
        struct timespec ts;

        if (clock_gettime(id, &ts) < 0)
                return NAN;
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The pong side: echo every byte until EOF. */
static int role_pong(int cpu)
{
        char c;

        if (pin_to(cpu) < 0)
                return 1;
        for (;;) {
                ssize_t n = read(PONG_IN, &c, 1);

                if (n == 0)
                        return 0;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                if (write(PONG_OUT, &c, 1) != 1)
                        return 1;
        }
}

/* fd `from` as number `to`, without O_CLOEXEC (dup2 clears it on the copy, but is a no-op
 * when the numbers are already equal). */
static int move_fd(int from, int to)
{
        if (from == to)
                return fcntl(to, F_SETFD, 0) < 0 ? -errno : 0;
        return dup2(from, to) < 0 ? -errno : 0;
}

struct pong {
        pid_t pid;
        int to, from;       /* our ends of the pipes */
        clockid_t cpuclock; /* the child's CPU-time clock */
};

static int spawn_pong(int cpu, struct pong *ret)
{
        int p2c[2], c2p[2];
        char cpu_arg[16];
        pid_t pid;

        if (snprintf(cpu_arg, sizeof(cpu_arg), "%d", cpu) >= (int)sizeof(cpu_arg))
                return -EINVAL;
        if (pipe2(p2c, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(c2p, O_CLOEXEC) < 0) {
                close(p2c[0]);
                close(p2c[1]);
                return -errno;
        }
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char *const argv[] = {(char *)"bench-bpf", (char *)"--pong", cpu_arg, NULL};
                extern char **environ;

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                /* Exactly these two cross the execve. c2p[1] is the highest of the four new
                 * fds, so the first move cannot clobber it. */
                if (move_fd(p2c[0], PONG_IN) < 0 || move_fd(c2p[1], PONG_OUT) < 0)
                        _exit(127);
                execve("/proc/self/exe", argv, environ);
                _exit(127);
        }
        close(p2c[0]);
        close(c2p[1]);
        ret->pid = pid;
        ret->to = p2c[1];
        ret->from = c2p[0];
        if (clock_getcpuclockid(pid, &ret->cpuclock) != 0)
                return -ESRCH;
        return 0;
}

struct round {
        bool on;
        double cpu_rate, wall_rate; /* context switches per second */
        uint64_t waits;             /* run-queue delays recorded (on rounds) */
        double p50_us;
};

/* n round trips; returns 0 and fills cpu/wall seconds spent. */
static int pingpong(const struct pong *p, long n, double *ret_cpu_s, double *ret_wall_s)
{
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        double k0 = clock_s(p->cpuclock);
        char c = 'x';

        for (long i = 0; i < n; i++) {
                if (write(p->to, &c, 1) != 1 || read(p->from, &c, 1) != 1)
                        return -EIO;
        }
        *ret_wall_s = clock_s(CLOCK_MONOTONIC) - w0;
        *ret_cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0 + clock_s(p->cpuclock) - k0;
        return 0;
}

static rqd_mode bench_mode = RQD_MODE_AUTO;

static int run_round(const struct pong *p, long n, bool on, struct round *ret)
{
        rqd_stats s0 = {0}, s1 = {0}, d = {0};
        double cpu_s, wall_s;
        char err[512];
        rqd *r = NULL;
        int rc;

        if (on) {
                rc = rqd_open_mode(bench_mode, &r, err, sizeof(err));
                if (rc < 0) {
                        fprintf(stderr, "rqd_open: %s\n", err);
                        return rc;
                }
                if ((rc = rqd_watch_tgid(r, getpid(), 0)) < 0 ||
                    (rc = rqd_watch_tgid(r, p->pid, 0)) < 0 || (rc = rqd_read(r, 0, &s0)) < 0)
                        goto out;
        }
        rc = pingpong(p, n, &cpu_s, &wall_s);
        if (rc < 0)
                goto out;
        if (on && ((rc = rqd_read(r, 0, &s1)) < 0 || (rc = rqd_stats_delta(&s1, &s0, &d)) < 0))
                goto out;
        ret->on = on;
        ret->cpu_rate = 2.0 * (double)n / cpu_s;
        ret->wall_rate = 2.0 * (double)n / wall_s;
        ret->waits = d.count;
        ret->p50_us = on ? rqd_stats_quantile_us(&d, 0.5) : NAN;
out:
        rqd_free(r);
        return rc;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

static double median(double *v, int n)
{
        qsort(v, (size_t)n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static int bench(long n, int rounds, int cpu)
{
        struct round rs[2 * MAX_ROUNDS], warm;
        double off_cpu[MAX_ROUNDS], on_cpu[MAX_ROUNDS], off_wall[MAX_ROUNDS], on_wall[MAX_ROUNDS];
        int n_off = 0, n_on = 0, failures = 0, rc, status;
        struct pong p;
        char err[512];
        rqd *probe = NULL;

        rc = rqd_open_mode(bench_mode, &probe, err, sizeof(err));
        if (rc < 0) {
                printf("SKIP: eBPF cannot load here: %s\n", err);
                return geteuid() == 0 && rc != -EOPNOTSUPP ? 1 : 77;
        }
        printf("mode %s\n", rqd_mode_name(rqd_get_mode(probe)));
        rqd_free(probe);
        if ((rc = pin_to(cpu)) < 0) {
                fprintf(stderr, "cannot pin to CPU %d: %s\n", cpu, strerror(-rc));
                return 1;
        }
        if ((rc = spawn_pong(cpu, &p)) < 0) {
                fprintf(stderr, "cannot start the pong process: %s\n", strerror(-rc));
                return 1;
        }
        printf("ping-pong on CPU %d: %ld round trips per round, %d rounds each way (ABBA)\n", cpu,
               n, rounds);
        if ((rc = run_round(&p, n, false, &warm)) < 0)
                goto out;
        for (int i = 0; i < 2 * rounds; i++) {
                bool on = i % 4 == 1 || i % 4 == 2;
                struct round *r = &rs[i];

                if ((rc = run_round(&p, n, on, r)) < 0)
                        goto out;
                printf("round %2d %-3s %10.0f switches/cpu-s %10.0f switches/s", i,
                       on ? "on" : "off", r->cpu_rate, r->wall_rate);
                if (on) {
                        printf("  waits=%llu p50=%.1f us", (unsigned long long)r->waits, r->p50_us);
                        /* Each round trip runs each side once: one wait each (sched_info
                         * mode records a wait when the stint after it ends, so the last two
                         * may fall after the round). */
                        if (r->waits + 2 < (uint64_t)(2 * n)) {
                                printf("  <- FAIL: expected >= %ld", 2 * n - 2);
                                failures++;
                        }
                        on_cpu[n_on] = r->cpu_rate;
                        on_wall[n_on++] = r->wall_rate;
                } else {
                        off_cpu[n_off] = r->cpu_rate;
                        off_wall[n_off++] = r->wall_rate;
                }
                printf("\n");
        }
        double off = median(off_cpu, n_off), on = median(on_cpu, n_on);
        double offw = median(off_wall, n_off), onw = median(on_wall, n_on);
        double pct = 100.0 * (off - on) / off;
        /* median() sorted the arrays: the last element is the best round. */
        double offb = off_cpu[n_off - 1], onb = on_cpu[n_on - 1];
        printf("median: off %.0f on %.0f switches/cpu-s, overhead %.2f%%  (wall: off %.0f on "
               "%.0f switches/s, %.2f%%)\n",
               off, on, pct, offw, onw, 100.0 * (offw - onw) / offw);
        printf("best:   off %.0f on %.0f switches/cpu-s, overhead %.2f%%\n", offb, onb,
               100.0 * (offb - onb) / offb);
        printf("{\"pingpong_off_per_s\":%.0f,\"pingpong_on_per_s\":%.0f,\"overhead_pct\":%.2f}\n",
               off, on, pct);
out:
        if (rc < 0)
                fprintf(stderr, "round failed: %s\n", strerror(-rc));
        close(p.to);
        close(p.from);
        while (waitpid(p.pid, &status, 0) < 0 && errno == EINTR)
                ;
        return rc < 0 || failures ? 1 : 0;
}

static int last_allowed_cpu(void)
{
        cpu_set_t set;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return -1;
        for (int c = CPU_SETSIZE - 1; c >= 0; c--)
                if (CPU_ISSET(c, &set))
                        return c;
        return -1;
}

int main(int argc, char **argv)
{
        long n = 50000, rounds = 10, cpu = last_allowed_cpu();

        if (argc == 3 && strcmp(argv[1], "--pong") == 0) {
                long c;

                return parse_long(argv[2], 0, CPU_SETSIZE - 1, &c) < 0 ? 2 : role_pong((int)c);
        }
        for (int i = 1; i < argc; i++) {
                long *dst = NULL, min = 1, max = 0;

                if (strcmp(argv[i], "--round-trips") == 0)
                        dst = &n, max = 100000000;
                else if (strcmp(argv[i], "--rounds") == 0)
                        dst = &rounds, max = MAX_ROUNDS;
                else if (strcmp(argv[i], "--cpu") == 0)
                        dst = &cpu, min = 0, max = CPU_SETSIZE - 1;
                else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc &&
                         parse_mode(argv[i + 1], &bench_mode) == 0) {
                        i++;
                        continue;
                }
                if (!dst || i + 1 >= argc || parse_long(argv[++i], min, max, dst) < 0) {
                        fprintf(stderr,
                                "usage: %s [--round-trips N] [--rounds R (<= %d)] [--cpu C] "
                                "[--mode auto|sched_info|wakeup]\n",
                                argv[0], MAX_ROUNDS);
                        return 2;
                }
        }
        if (cpu < 0) {
                fprintf(stderr, "no CPU to pin to\n");
                return 1;
        }
        return bench(n, (int)rounds, (int)cpu);
}
