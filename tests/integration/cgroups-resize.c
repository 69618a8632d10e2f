/* SPDX-License-Identifier: see LICENSE */
/*
 * cgroups.resize — the in-place resize on the real kernel, through the module's API.
 *
 * A busy-looping child in a group at 300 millicores must consume 0.30 ± 0.05 cores over a 2 s
 * window (from the group's own usage counter, not wall-clock guesses); raised in place to 1000
 * millicores, the same pid must then consume >= 0.9 cores; after destroy the group and the child
 * are gone; a group left behind by a "crashed" context (object dropped, kernel group and process
 * kept) is removed, with its process, by cg_remove_stale() of the next context.
 *
 * Runs unchanged on cgroup v1 (this machine) and v2 (the qemu guest of tests/vm): the mode is
 * detected. Usage: test-cgroups-integration [--root PATH]  (default <cpu mount>/sponged-itest).
 * Exit 0 pass, 1 fail, 77 skipped (not root, no cpu controller) with the reason printed.
 *
 * The machine has 2 cores shared with other builds (some at nice -20, weight 88761 each, against
 * a cgroup's default 1024): the test raises its own root's CPU weight (v1 cpu.shares 262144, v2
 * cpu.weight 10000, the kernel maxima) so that what is measured is the quota, not the neighbours.
 * A window that still measures less than the limit is retried (at most 3 windows per step);
 * exceeding a limit is never excused.
 */
#include "cgroups/cgroups.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_US     2000000u
#define WARMUP_US     300000u
#define TRIES         3
#define LOW_MC        300u
#define HIGH_MC       1000u
#define LOW_TOLERANCE 0.05
#define HIGH_MIN      0.9

static const char *prog = "cgroups.resize";

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
        va_list ap;

        printf("%s: ", prog);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

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

/* A child that spins forever and dies with us. */
static pid_t spawn_spinner(void)
{
        pid_t pid = fork();

        if (pid == 0) {
                volatile uint64_t x = 0;
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;)
                        x++;
        }
        return pid;
}

/* Cores consumed by g over one window, from its usage counter, and the window's counters. */
static int measure(cg_group *g, double *ret_cores, cg_stat *ret_delta)
{
        cg_stat a, b;
        uint64_t t0, t1;
        int r;

        r = cg_group_read_stat(g, &a);
        t0 = now_us();
        if (r < 0)
                return r;
        sleep_us(WINDOW_US);
        r = cg_group_read_stat(g, &b);
        t1 = now_us();
        if (r < 0)
                return r;
        *ret_cores = (double)(b.usage_us - a.usage_us) / (double)(t1 - t0);
        /* the counters of this window only */
        *ret_delta = (cg_stat){.usage_us = b.usage_us - a.usage_us,
                               .nr_periods = b.nr_periods - a.nr_periods,
                               .nr_throttled = b.nr_throttled - a.nr_throttled,
                               .throttled_us = b.throttled_us - a.throttled_us};
        return 0;
}

static bool has_pid(cg_group *g, pid_t pid)
{
        pid_t *pids = NULL;
        size_t n = 0, i;
        bool found = false;

        if (cg_group_pids(g, &pids, &n) < 0)
                return false;
        for (i = 0; i < n; i++)
                found |= pids[i] == pid;
        free(pids);
        return found;
}

static bool gone(const char *path)
{
        struct stat st;

        return stat(path, &st) < 0 && errno == ENOENT;
}

/* Reaps pid; true when it died of SIGKILL (within ~5 s). */
static bool reaped_killed(pid_t pid)
{
        uint64_t deadline = now_us() + 5000000u;
        int status;

        while (now_us() < deadline) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
                if (w < 0)
                        return false;
                sleep_us(10000);
        }
        return false;
}

#define CHECK(cond, ...)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        say("FAIL: " __VA_ARGS__);                                                 \
                        goto fail;                                                                 \
                }                                                                                  \
        } while (0)

static int step_resize(cg_ctx *ctx)
{
        cg_group *g = NULL;
        pid_t child = -1;
        double cores = 0;
        cg_stat st;
        uint32_t mc = 0;
        char path[4096];
        int r, i;
        bool ok;

        r = cg_group_create(ctx, "itest/resize/0", &g);
        CHECK(r == 0, "create: %s", cg_last_error(ctx));
        snprintf(path, sizeof(path), "%s", cg_group_path(g));
        say("group %s", path);
        child = spawn_spinner();
        CHECK(child > 0, "fork: %s", strerror(errno));
        r = cg_group_attach(g, child);
        CHECK(r == 0, "attach: %s", cg_last_error(ctx));
        CHECK(has_pid(g, child), "pid %d not listed in the group", (int)child);

        r = cg_group_set_millicores(g, LOW_MC);
        CHECK(r == 0, "set %u: %s", LOW_MC, cg_last_error(ctx));
        r = cg_group_get_millicores(g, &mc);
        CHECK(r == 0 && mc == LOW_MC, "read back %u, want %u (%s)", mc, LOW_MC, cg_last_error(ctx));
        sleep_us(WARMUP_US);
        for (ok = false, i = 1; i <= TRIES && !ok; i++) {
                r = measure(g, &cores, &st);
                CHECK(r == 0, "read stat: %s", cg_last_error(ctx));
                say("at %u millicores: %.3f cores over 2 s (window %d; nr_periods %llu, "
                    "nr_throttled %llu, throttled %llu us)",
                    LOW_MC, cores, i, (unsigned long long)st.nr_periods,
                    (unsigned long long)st.nr_throttled, (unsigned long long)st.throttled_us);
                CHECK(cores <= LOW_MC / 1000.0 + LOW_TOLERANCE, "%.3f cores exceeds %.2f + %.2f",
                      cores, LOW_MC / 1000.0, LOW_TOLERANCE);
                ok = cores >= LOW_MC / 1000.0 - LOW_TOLERANCE;
        }
        CHECK(ok, "%.3f cores at %u millicores, want %.2f ± %.2f", cores, LOW_MC, LOW_MC / 1000.0,
              LOW_TOLERANCE);
        CHECK(st.nr_periods > 0 && st.nr_throttled > 0,
              "a busy loop at %u millicores must be throttled (nr_periods %llu, nr_throttled "
              "%llu)",
              LOW_MC, (unsigned long long)st.nr_periods, (unsigned long long)st.nr_throttled);

        r = cg_group_set_millicores(g, HIGH_MC);
        CHECK(r == 0, "set %u: %s", HIGH_MC, cg_last_error(ctx));
        r = cg_group_get_millicores(g, &mc);
        CHECK(r == 0 && mc == HIGH_MC, "read back %u, want %u", mc, HIGH_MC);
        CHECK(has_pid(g, child), "pid %d left the group after the resize", (int)child);
        sleep_us(WARMUP_US);
        for (ok = false, i = 1; i <= TRIES && !ok; i++) {
                r = measure(g, &cores, &st);
                CHECK(r == 0, "read stat: %s", cg_last_error(ctx));
                say("same pid %d at %u millicores: %.3f cores over 2 s (window %d; nr_throttled "
                    "%llu)",
                    (int)child, HIGH_MC, cores, i, (unsigned long long)st.nr_throttled);
                CHECK(cores <= HIGH_MC / 1000.0 + LOW_TOLERANCE, "%.3f cores exceeds %.2f", cores,
                      HIGH_MC / 1000.0);
                ok = cores >= HIGH_MIN;
        }
        CHECK(ok, "%.3f cores at %u millicores, want >= %.2f", cores, HIGH_MC, HIGH_MIN);

        r = cg_group_kill_and_destroy(g);
        g = NULL;
        CHECK(r == 0, "destroy: %s", cg_last_error(ctx));
        CHECK(reaped_killed(child), "child %d was not killed by SIGKILL", (int)child);
        child = -1;
        CHECK(gone(path), "%s still exists after destroy", path);
        say("destroy: child killed, %s removed", path);
        return 0;
fail:
        if (g)
                (void)cg_group_kill_and_destroy(g);
        if (child > 0) {
                kill(child, SIGKILL);
                waitpid(child, NULL, 0);
        }
        return 1;
}

static int step_stale(const cg_options *o, cg_ctx **ctxp)
{
        cg_ctx *ctx2 = NULL;
        cg_group *g = NULL;
        pid_t child = -1;
        char path[4096];
        int r;

        r = cg_group_create(*ctxp, "stale/s/0", &g);
        CHECK(r == 0, "create stale group: %s", cg_last_error(*ctxp));
        snprintf(path, sizeof(path), "%s", cg_group_path(g));
        child = spawn_spinner();
        CHECK(child > 0, "fork: %s", strerror(errno));
        r = cg_group_attach(g, child);
        CHECK(r == 0, "attach: %s", cg_last_error(*ctxp));
        r = cg_group_set_millicores(g, 100);
        CHECK(r == 0, "set 100: %s", cg_last_error(*ctxp));
        /* the "crash": the object goes, the kernel group and its process stay */
        cg_group_free(g);
        g = NULL;
        *ctxp = cg_ctx_free(*ctxp);
        CHECK(!gone(path), "%s vanished before the stale sweep", path);

        r = cg_open(o, &ctx2);
        CHECK(r == 0, "reopen: %s", strerror(-r));
        r = cg_remove_stale(ctx2);
        CHECK(r >= 1, "remove_stale returned %d: %s", r, cg_last_error(ctx2));
        say("stale sweep removed %d group director%s", r, r == 1 ? "y" : "ies");
        CHECK(reaped_killed(child), "stale child %d was not killed by SIGKILL", (int)child);
        child = -1;
        CHECK(gone(path), "%s still exists after the stale sweep", path);
        *ctxp = ctx2;
        return 0;
fail:
        if (child > 0) {
                kill(child, SIGKILL);
                waitpid(child, NULL, 0);
        }
        cg_group_free(g);
        if (ctx2) {
                cg_ctx_free(*ctxp);
                *ctxp = ctx2;
        }
        return 1;
}

/* Test-only tuning outside the module's API: the weight of the test's root against its
 * siblings (see the top of this file). Direct file I/O; failure is reported, not fatal. */
static void boost_weight(cg_ctx *ctx)
{
        bool v1 = cg_ctx_mode(ctx) == CG_MODE_V1;
        const char *value = v1 ? "262144" : "10000";
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", cg_ctx_root_path(ctx),
                 v1 ? "cpu.shares" : "cpu.weight");
        f = fopen(path, "we");
        if (!f || fputs(value, f) < 0 || fclose(f) != 0) {
                say("note: could not raise %s to %s (%s); measuring at the default weight", path,
                    value, strerror(errno));
                return;
        }
        say("raised %s to %s (quota is what is measured, not neighbours)", path, value);
}

int main(int argc, char **argv)
{
        cg_options o = {0};
        cg_ctx *ctx = NULL;
        char *mount = NULL, *root = NULL, err[512];
        cg_mode mode;
        int r, failed = 0;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc == 3 && strcmp(argv[1], "--root") == 0) {
                root = strdup(argv[2]);
        } else if (argc != 1) {
                fprintf(stderr, "usage: %s [--root PATH]\n", argv[0]);
                return 2;
        }
        if (geteuid() != 0) {
                say("SKIP: needs root to create cgroups (euid %d)", (int)geteuid());
                return 77;
        }
        r = cg_detect(NULL, &mode, &mount);
        if (r < 0) {
                say("FAIL: detect: %s", strerror(-r));
                return 1;
        }
        if (mode == CG_MODE_NONE) {
                say("SKIP: no cpu controller mounted (neither cgroup v1 nor cgroup2)");
                return 77;
        }
        if (!root && asprintf(&root, "%s/sponged-itest", mount) < 0)
                return 1;
        o.mode = mode == CG_MODE_V1 ? CG_REQUEST_V1 : CG_REQUEST_V2;
        o.root = root;
        /* capacity: the test asks for 1000 millicores even on a 1-CPU guest */
        o.capacity_millicores = 64000;
        r = cg_open_err(&o, &ctx, err, sizeof(err));
        if (r < 0) {
                say("FAIL: open (%s, root %s): %s", cg_mode_name(mode), root, err);
                free(root);
                free(mount);
                return 1;
        }
        say("%s", cg_ctx_note(ctx));
        boost_weight(ctx);
        r = cg_remove_stale(ctx);
        if (r < 0) {
                say("FAIL: initial stale sweep: %s", cg_last_error(ctx));
                failed = 1;
        } else if (r > 0) {
                say("removed %d leftover group(s) of an earlier run", r);
        }
        if (!failed)
                failed = step_resize(ctx);
        if (!failed)
                failed = step_stale(&o, &ctx);
        if (ctx) {
                (void)cg_remove_stale(ctx);
                r = cg_ctx_remove_root(ctx);
                if (r < 0) {
                        say("FAIL: remove the test root: %s", cg_last_error(ctx));
                        failed = 1;
                }
        }
        cg_ctx_free(ctx);
        free(root);
        free(mount);
        say("%s", failed ? "FAIL" : "PASS");
        return failed ? 1 : 0;
}
