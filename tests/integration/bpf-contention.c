/*
 * cgroups.bpf — run-queue delay seen through rqd_read, on the real scheduler (root).
 *
 * A CPU-bound "worker" process (its spinning is done by a pool thread, so tgid keying must
 * cover threads) is pinned to one CPU. Phase 1: a CPU hog is pinned to the same CPU; the worker
 * waits behind it in the run queue about half of the time, in waits of a scheduler slice or a
 * tick (HZ=250 here: 4 ms), so its p50 run-queue delay must be >= 1 ms. Phase 2: the hog is
 * gone; the worker's waits (if any: only the odd kernel thread or a neighbour's process) must be
 * far smaller. The hog itself is watched through its cgroup v2 id (moved into a fresh cgroup
 * in the cgroup2 mount) when one is mounted, which checks the cgroup keying on the same window.
 *
 * Noisy 2-core machine (other builds run at the same time): both processes are pinned to the
 * least busy CPU; the uncontended phase is measured up to a few times and the quietest window
 * counts, since a neighbour's compiler may land on "our" CPU for a while.
 *
 * Children are this same binary re-executed with a role argument (execve, argv array).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/bpf/rqdelay.h"

#define KEY_WORKER           1
#define KEY_HOG              2
#define WINDOW_US            1500000ull /* one measurement window */
#define QUIET_TRIES          4          /* uncontended windows tried before giving up */
#define CONTENDED_MIN_P50_US 1000.0

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

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_us(uint64_t us)
{
        struct timespec ts = {.tv_sec = (time_t)(us / 1000000u),
                              .tv_nsec = (long)(us % 1000000u) * 1000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int parse_cpu(const char *s, int *ret_cpu)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v >= CPU_SETSIZE)
                return -EINVAL;
        *ret_cpu = (int)v;
        return 0;
}

static int pin_to(int cpu)
{
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/* ---- child roles ------------------------------------------------------------------------ */

static volatile unsigned long sink;

static void *spin(void *arg)
{
        (void)arg;
        for (;;)
                sink++;
        return NULL;
}

/* "worker": the main thread parks, a pool thread burns CPU (affinity is inherited). */
static int role_worker(int cpu)
{
        pthread_t t;

        if (pin_to(cpu) < 0 || pthread_create(&t, NULL, spin, NULL) != 0)
                return 1;
        pthread_join(t, NULL);
        return 0;
}

static int role_hog(int cpu)
{
        if (pin_to(cpu) < 0)
                return 1;
        spin(NULL);
        return 0;
}

static pid_t spawn(const char *role, int cpu)
{
        char cpu_arg[16];
        pid_t pid;

        if (snprintf(cpu_arg, sizeof(cpu_arg), "%d", cpu) >= (int)sizeof(cpu_arg))
                return -EINVAL;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char *const argv[] = {(char *)"bpf-contention", (char *)role, cpu_arg, NULL};
                extern char **environ;

                /* A spinning orphan would eat a CPU for good if this test died. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execve("/proc/self/exe", argv, environ);
                _exit(127);
        }
        return pid;
}

static void stop(pid_t pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/* ---- CPU choice ------------------------------------------------------------------------- */

/* Busy jiffies of each CPU from /proc/stat (user+nice+system+irq+softirq+steal). */
static int read_busy(unsigned long long busy[], int ncpu)
{
        FILE *f = fopen("/proc/stat", "re");
        char line[512];
        int n = 0;

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f) && n < ncpu) {
                unsigned long long u, ni, sy, id, io, irq, sirq, st;
                int cpu;

                if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &u, &ni,
                           &sy, &id, &io, &irq, &sirq, &st) != 9 ||
                    cpu < 0 || cpu >= ncpu)
                        continue;
                busy[cpu] = u + ni + sy + irq + sirq + st;
                n++;
        }
        fclose(f);
        return n;
}

/* The allowed CPU that was least busy over the last 300 ms. */
static int quietest_cpu(void)
{
        unsigned long long a[CPU_SETSIZE] = {0}, b[CPU_SETSIZE] = {0};
        cpu_set_t allowed;
        int best = -1;

        if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
                return -errno;
        read_busy(a, CPU_SETSIZE);
        sleep_us(300000);
        read_busy(b, CPU_SETSIZE);
        for (int c = 0; c < CPU_SETSIZE; c++) {
                if (!CPU_ISSET(c, &allowed))
                        continue;
                if (best < 0 || b[c] - a[c] < b[best] - a[best])
                        best = c;
        }
        return best;
}

/* ---- cgroups: isolation from the rest of the machine, v2 id for the hog ------------------ */

/* Other builds and tests share this machine: a CPU hog of theirs on "our" CPU makes the worker
 * wait as much as our own hog does. A cpu cgroup with the highest weight (v1 cpu.shares
 * 262144, v2 cpu.weight 10000, against 1024/100 for everyone else, autogroups included) keeps
 * their share of our CPU under 1 % while the worker and the hog compete evenly inside it. */
#define V1_MAX_SHARES "262144"
#define V2_MAX_WEIGHT "10000"

struct groups {
        char cpu_dir[600]; /* the heavy cpu group ("" if none could be made) */
        bool cpu_is_v2;
        char v2_dir[600]; /* the hog's own v2 group on hybrid machines ("" if none) */
};

static bool has_token(const char *list, const char *sep, const char *tok)
{
        size_t n = strlen(tok);

        for (const char *p = list; *p;) {
                size_t len = strcspn(p, sep);

                if (len == n && strncmp(p, tok, n) == 0)
                        return true;
                p += len;
                p += strspn(p, sep);
        }
        return false;
}

/* Mount point of the v1 hierarchy carrying the cpu controller, or of the cgroup2 mount. */
static int find_mount(bool v2, char *buf, size_t len)
{
        FILE *f = fopen("/proc/self/mounts", "re");
        char dev[256], dir[512], type[64], opts[512];
        int rc = -ENOENT;

        if (!f)
                return -errno;
        while (fscanf(f, "%255s %511s %63s %511s %*[^\n]", dev, dir, type, opts) == 4) {
                bool match = v2 ? strcmp(type, "cgroup2") == 0
                                : strcmp(type, "cgroup") == 0 && has_token(opts, ",", "cpu");
                if (match) {
                        rc = snprintf(buf, len, "%s", dir) >= (int)len ? -ENAMETOOLONG : 0;
                        break;
                }
        }
        fclose(f);
        return rc;
}

static int write_file(const char *dir, const char *name, const char *val)
{
        char path[700];
        ssize_t w;
        int fd, rc;

        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        w = write(fd, val, strlen(val));
        rc = w < 0 ? -errno : 0;
        close(fd);
        return rc;
}

static int read_file(const char *dir, const char *name, char *buf, size_t len)
{
        char path[700];
        ssize_t n;
        int fd;

        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, len - 1);
        close(fd);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return 0;
}

static int write_pid(const char *dir, pid_t pid)
{
        char val[32];

        if (snprintf(val, sizeof(val), "%d\n", (int)pid) >= (int)sizeof(val))
                return -EINVAL;
        return write_file(dir, "cgroup.procs", val);
}

static int make_group(const char *mnt, char *dir, size_t len)
{
        if (snprintf(dir, len, "%s/sponge-bpf-test-%d", mnt, (int)getpid()) >= (int)len)
                return -ENAMETOOLONG;
        return mkdir(dir, 0755) < 0 ? -errno : 0;
}

/* Makes the heavy cpu group (v1 first: where the cpu controller lives on this machine), and
 * on hybrid machines a plain v2 group for the hog. Whatever cannot be made is left "" and
 * reported; the test then runs without it. */
static void setup_groups(struct groups *g)
{
        char mnt[512], ctrl[256];

        memset(g, 0, sizeof(*g));
        if (find_mount(false, mnt, sizeof(mnt)) == 0 &&
            make_group(mnt, g->cpu_dir, sizeof(g->cpu_dir)) == 0) {
                if (write_file(g->cpu_dir, "cpu.shares", V1_MAX_SHARES) < 0)
                        printf("note: cannot raise cpu.shares of %s\n", g->cpu_dir);
        } else if (find_mount(true, mnt, sizeof(mnt)) == 0 &&
                   read_file(mnt, "cgroup.controllers", ctrl, sizeof(ctrl)) == 0 &&
                   has_token(ctrl, " \n", "cpu")) {
                /* Enabling may fail if it is on already or the root has processes: try anyway. */
                (void)write_file(mnt, "cgroup.subtree_control", "+cpu");
                if (make_group(mnt, g->cpu_dir, sizeof(g->cpu_dir)) == 0) {
                        g->cpu_is_v2 = true;
                        if (write_file(g->cpu_dir, "cpu.weight", V2_MAX_WEIGHT) < 0)
                                printf("note: cannot raise cpu.weight of %s\n", g->cpu_dir);
                } else {
                        g->cpu_dir[0] = '\0';
                }
        } else {
                g->cpu_dir[0] = '\0';
        }
        if (!g->cpu_dir[0])
                printf("note: no cpu cgroup for isolation: other load on the machine will show\n");
        if (!g->cpu_is_v2 && find_mount(true, mnt, sizeof(mnt)) == 0 &&
            make_group(mnt, g->v2_dir, sizeof(g->v2_dir)) < 0)
                g->v2_dir[0] = '\0';
}

/* The v2 group the hog is watched by, or NULL. */
static const char *hog_v2_dir(const struct groups *g)
{
        if (g->cpu_is_v2)
                return g->cpu_dir;
        return g->v2_dir[0] ? g->v2_dir : NULL;
}

static void remove_group(const char *dir)
{
        if (!dir[0])
                return;
        /* The children were reaped, but the kernel may need a moment to mark it unpopulated. */
        for (int i = 0; i < 50 && rmdir(dir) < 0 && errno == EBUSY; i++)
                sleep_us(10000);
        if (access(dir, F_OK) == 0)
                fprintf(stderr, "warning: cannot remove %s: %s\n", dir, strerror(errno));
}

/* ---- measurement ------------------------------------------------------------------------ */

struct window {
        rqd_stats worker, hog;
        uint64_t len_us;
};

static int measure(rqd *r, struct window *w)
{
        rqd_stats w0, w1, h0, h1;
        uint64_t t0, t1;
        int rc;

        if ((rc = rqd_read(r, KEY_WORKER, &w0)) < 0 || (rc = rqd_read(r, KEY_HOG, &h0)) < 0)
                return rc;
        t0 = now_us();
        sleep_us(WINDOW_US);
        t1 = now_us();
        if ((rc = rqd_read(r, KEY_WORKER, &w1)) < 0 || (rc = rqd_read(r, KEY_HOG, &h1)) < 0)
                return rc;
        if ((rc = rqd_stats_delta(&w1, &w0, &w->worker)) < 0 ||
            (rc = rqd_stats_delta(&h1, &h0, &w->hog)) < 0)
                return rc;
        w->len_us = t1 - t0;
        return 0;
}

static void report(const char *what, const rqd_stats *s, uint64_t len_us)
{
        printf("%-22s n=%-6llu p50=%9.1f us p99=%9.1f us mean=%9.1f us wait=%5.1f%% "
               "oncpu=%5.1f%%\n",
               what, (unsigned long long)s->count, rqd_stats_quantile_us(s, 0.5),
               rqd_stats_quantile_us(s, 0.99), rqd_stats_mean_us(s),
               100.0 * (double)s->sum_ns / 1000.0 / (double)len_us,
               100.0 * (double)s->oncpu_ns / 1000.0 / (double)len_us);
}

static int run(rqd_mode mode)
{
        struct window con, quiet;
        pid_t worker = -1, hog = -1;
        const char *hog_dir = NULL;
        struct groups g;
        uint64_t cgid = 0;
        char err[512];
        rqd *r = NULL;
        int cpu, rc;

        rc = rqd_open_mode(mode, &r, err, sizeof(err));
        if (rc == -EOPNOTSUPP) {
                printf("SKIP: %s\n", err);
                return 77;
        }
        if (rc < 0) {
                if (geteuid() != 0) {
                        printf("SKIP: not root, eBPF cannot load: %s\n", err);
                        return 77;
                }
                fprintf(stderr, "FAIL: rqd_open as root: %s (%d)\n", err, rc);
                return 1;
        }
        printf("mode %s\n", rqd_mode_name(rqd_get_mode(r)));
        CHECK(mode == RQD_MODE_AUTO || rqd_get_mode(r) == mode, "asked for mode %s, got %s",
              rqd_mode_name(mode), rqd_mode_name(rqd_get_mode(r)));
        setup_groups(&g);
        cpu = quietest_cpu();
        CHECK(cpu >= 0, "no CPU to pin to (%d)", cpu);
        if (cpu < 0)
                goto out;
        printf("worker and hog on CPU %d, cpu group %s\n", cpu, g.cpu_dir[0] ? g.cpu_dir : "-");

        worker = spawn("worker", cpu);
        hog = spawn("hog", cpu);
        CHECK(worker > 0 && hog > 0, "spawn failed");
        if (worker <= 0 || hog <= 0)
                goto out;
        if (g.cpu_dir[0]) {
                CHECK((rc = write_pid(g.cpu_dir, worker)) == 0, "move worker: %d", rc);
                CHECK((rc = write_pid(g.cpu_dir, hog)) == 0, "move hog: %d", rc);
        }
        CHECK((rc = rqd_watch_tgid(r, worker, KEY_WORKER)) == 0, "watch worker: %d", rc);
        /* The hog by its v2 cgroup where there is one (the worker may share that cgroup: its
         * tgid entry takes precedence, which this checks too). */
        hog_dir = hog_v2_dir(&g);
        if (hog_dir) {
                if (hog_dir == g.v2_dir)
                        CHECK((rc = write_pid(hog_dir, hog)) == 0, "move hog to v2: %d", rc);
                CHECK((rc = rqd_cgroup_id(hog_dir, &cgid)) == 0, "cgroup id: %d", rc);
                CHECK((rc = rqd_watch_cgroup(r, cgid, KEY_HOG)) == 0, "watch cgroup: %d", rc);
        } else {
                printf("note: no cgroup2 mount usable: hog watched by tgid, cgroup keying not "
                       "exercised\n");
                CHECK((rc = rqd_watch_tgid(r, hog, KEY_HOG)) == 0, "watch hog: %d", rc);
        }
        if (failures)
                goto out;
        sleep_us(200000); /* let both settle on the CPU */

        CHECK((rc = measure(r, &con)) == 0, "measure: %d", rc);
        report("contended worker", &con.worker, con.len_us);
        report(hog_dir ? "contended hog (cgroup)" : "contended hog", &con.hog, con.len_us);
        double con_p50 = rqd_stats_quantile_us(&con.worker, 0.5);
        CHECK(con.worker.count >= 20, "contended worker: only %llu run-queue waits seen",
              (unsigned long long)con.worker.count);
        CHECK(con_p50 >= CONTENDED_MIN_P50_US, "contended worker p50 %.1f us < %.0f us", con_p50,
              CONTENDED_MIN_P50_US);
        CHECK(con.hog.count >= 20 && rqd_stats_quantile_us(&con.hog, 0.5) >= CONTENDED_MIN_P50_US,
              "contended hog (%s keying) p50 %.1f us over %llu waits", hog_dir ? "cgroup" : "tgid",
              rqd_stats_quantile_us(&con.hog, 0.5), (unsigned long long)con.hog.count);
        /* Two equal CPU-bound tasks on one CPU: each runs about half of the window. */
        CHECK(con.worker.oncpu_ns > con.len_us * 1000 / 5 &&
                  con.worker.oncpu_ns < con.len_us * 1000 * 4 / 5,
              "contended worker on-CPU %.1f%% of the window, expected about half",
              100.0 * (double)con.worker.oncpu_ns / 1000.0 / (double)con.len_us);

        stop(hog);
        hog = -1;
        bool quiet_ok = false;
        for (int i = 0; i < QUIET_TRIES && !quiet_ok; i++) {
                CHECK((rc = measure(r, &quiet)) == 0, "measure: %d", rc);
                if (rc < 0)
                        break;
                report("uncontended worker", &quiet.worker, quiet.len_us);
                double p50 = rqd_stats_quantile_us(&quiet.worker, 0.5);
                double wait = (double)quiet.worker.sum_ns / 1000.0 / (double)quiet.len_us;
                /* "Far less": at most a quarter of the contended p50, little time spent
                 * waiting, and the CPU mostly its own. No wait at all (count 0) is ideal. */
                quiet_ok = (quiet.worker.count == 0 || p50 <= con_p50 / 4) && wait < 0.10 &&
                           quiet.worker.oncpu_ns > quiet.len_us * 1000 * 7 / 10;
                if (!quiet_ok)
                        printf("  (CPU %d was busy with something else, measuring again)\n", cpu);
        }
        CHECK(quiet_ok,
              "uncontended worker never showed a run-queue delay far below the contended p50 "
              "%.1f us in %d windows",
              con_p50, QUIET_TRIES);
out:
        stop(hog);
        stop(worker);
        remove_group(g.cpu_dir);
        remove_group(g.v2_dir);
        rqd_free(r);
        return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
        rqd_mode mode = RQD_MODE_AUTO;
        int cpu;

        if (argc == 3 && parse_cpu(argv[2], &cpu) == 0) {
                if (strcmp(argv[1], "worker") == 0)
                        return role_worker(cpu);
                if (strcmp(argv[1], "hog") == 0)
                        return role_hog(cpu);
        }
        if (argc == 3 && strcmp(argv[1], "--mode") == 0) {
                if (strcmp(argv[2], "sched_info") == 0)
                        mode = RQD_MODE_SCHED_INFO;
                else if (strcmp(argv[2], "wakeup") == 0)
                        mode = RQD_MODE_WAKEUP;
                else if (strcmp(argv[2], "auto") != 0)
                        argc = -1;
        } else if (argc != 1) {
                argc = -1;
        }
        if (argc < 0) {
                fprintf(stderr, "usage: %s [--mode auto|sched_info|wakeup]\n", argv[0]);
                return 2;
        }
        int rc = run(mode);
        if (rc == 0)
                printf("PASS\n");
        return rc;
}
