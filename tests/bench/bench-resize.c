/* SPDX-License-Identifier: see LICENSE */
/*
 * bench-resize — what an in-place CPU resize costs, and how fast it takes effect.
 *
 *  1. resize: N alternating resizes (300 <-> 700 millicores) of a live group holding a busy
 *     child, through cg_group_set_millicores() (write + read-back verified): p50, p99 in µs.
 *  2. floor: the same N writes as a bare pwrite + pread on a held-open fd of the same file
 *     (v2 cpu.max, v1 cpu.cfs_quota_us). The two are interleaved in blocks of 500 so that
 *     machine noise hits both alike.
 *  3. settle: after a resize (200 -> 800 and 800 -> 200 millicores), the number of CFS periods
 *     until the child's consumption, from the group's usage counter sampled every 2 ms, is at
 *     the new level (within 10 % of it, one full period window). Median over trials, the larger
 *     of the two directions.
 *
 * Usage: bench-resize [--iterations N] [--root PATH] [--no-settle]
 * Last line: one JSON object {"backend":..,"resize_p50_us":..,"resize_p99_us":..,
 * "floor_p50_us":..,"floor_p99_us":..,"settle_periods":..} (settle_periods -1 with --no-settle).
 * Exit 77 when not root / no cpu
 * controller, 1 when a resize fails (so a short run doubles as a smoke test).
 */
#include "cgroups/cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK         500
#define SETTLE_TRIALS 5
#define SETTLE_MAX    12 /* periods observed after a resize */
#define SAMPLE_US     2000u

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(uint64_t us)
{
        struct timespec ts = {.tv_sec = (time_t)(us / 1000000u),
                              .tv_nsec = (long)(us % 1000000u) * 1000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

/* Percentile (0..100) of n sorted values, nearest rank, in µs. */
static double pct_us(const uint64_t *sorted_ns, size_t n, double p)
{
        size_t i = (size_t)(p / 100.0 * (double)n);

        if (i >= n)
                i = n - 1;
        return (double)sorted_ns[i] / 1000.0;
}

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

/* The floor's value strings, formatted up front so the loop is only the two syscalls. */
struct floor_vals {
        char v[2][32];
        size_t len[2];
};

static int floor_setup(cg_ctx *ctx, cg_group *g, int *ret_fd, struct floor_vals *fv)
{
        bool v2 = cg_ctx_mode(ctx) == CG_MODE_V2;
        uint32_t period = cg_ctx_period_us(ctx);
        const uint32_t mc[2] = {300, 700};
        char path[4096];
        int i, fd;

        snprintf(path, sizeof(path), "%s/%s", cg_group_path(g),
                 v2 ? "cpu.max" : "cpu.cfs_quota_us");
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (i = 0; i < 2; i++) {
                uint64_t q = (uint64_t)mc[i] * period / 1000;
                int n = v2 ? snprintf(fv->v[i], sizeof(fv->v[i]), "%llu %u\n",
                                      (unsigned long long)q, period)
                           : snprintf(fv->v[i], sizeof(fv->v[i]), "%llu", (unsigned long long)q);
                fv->len[i] = (size_t)n;
        }
        *ret_fd = fd;
        return 0;
}

/* Usage (µs) at time t (ns) by linear interpolation over the samples. */
static double usage_at(const uint64_t *t, const uint64_t *u, size_t n, uint64_t at)
{
        size_t i;

        for (i = 1; i < n; i++)
                if (t[i] >= at) {
                        double f = (double)(at - t[i - 1]) / (double)(t[i] - t[i - 1]);
                        return (double)u[i - 1] + f * (double)(u[i] - u[i - 1]);
                }
        return (double)u[n - 1];
}

/* One settle trial: from `from` to `to` millicores. Returns the periods until the first full
 * period window at the new level (SETTLE_MAX + 1 if never), or -errno. */
static int settle_trial(cg_ctx *ctx, cg_group *g, uint32_t from, uint32_t to)
{
        uint64_t period_ns = (uint64_t)cg_ctx_period_us(ctx) * 1000u;
        size_t cap = (size_t)(SETTLE_MAX + 1) * (period_ns / 1000u / SAMPLE_US + 2) + 8, n = 0;
        uint64_t *t = calloc(cap, sizeof(*t)), *u = calloc(cap, sizeof(*u));
        double want = (double)to / 1000.0 * (double)period_ns / 1000.0; /* µs per period */
        uint64_t t0, end;
        cg_stat st;
        int r, k, result = SETTLE_MAX + 1;

        if (!t || !u) {
                free(t);
                free(u);
                return -ENOMEM;
        }
        r = cg_group_set_millicores(g, from);
        if (r < 0)
                goto out;
        sleep_us(5 * period_ns / 1000u); /* steady at the old level */
        r = cg_group_set_millicores(g, to);
        t0 = now_ns();
        if (r < 0)
                goto out;
        end = t0 + (uint64_t)SETTLE_MAX * period_ns + period_ns / 10;
        while (n < cap) {
                r = cg_group_read_stat(g, &st);
                if (r < 0)
                        goto out;
                t[n] = now_ns();
                u[n] = st.usage_us;
                n++;
                if (t[n - 1] >= end)
                        break;
                sleep_us(SAMPLE_US);
        }
        for (k = 0; k < SETTLE_MAX; k++) {
                double used = usage_at(t, u, n, t0 + (uint64_t)(k + 1) * period_ns) -
                              usage_at(t, u, n, t0 + (uint64_t)k * period_ns);
                bool at_level = to > from ? used >= 0.9 * want : used <= 1.1 * want;
                if (at_level) {
                        result = k + 1;
                        break;
                }
        }
        r = 0;
out:
        free(t);
        free(u);
        return r < 0 ? r : result;
}

static int cmp_int(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
}

static int settle(cg_ctx *ctx, cg_group *g, int *ret_periods)
{
        int up[SETTLE_TRIALS], down[SETTLE_TRIALS], i;

        for (i = 0; i < SETTLE_TRIALS; i++) {
                up[i] = settle_trial(ctx, g, 200, 800);
                down[i] = settle_trial(ctx, g, 800, 200);
                if (up[i] < 0 || down[i] < 0) {
                        fprintf(stderr, "settle: %s\n", cg_last_error(ctx));
                        return up[i] < 0 ? up[i] : down[i];
                }
                printf("settle trial %d: 200->800 in %d period(s), 800->200 in %d period(s)\n",
                       i + 1, up[i], down[i]);
        }
        qsort(up, SETTLE_TRIALS, sizeof(int), cmp_int);
        qsort(down, SETTLE_TRIALS, sizeof(int), cmp_int);
        printf("settle median: up %d, down %d period(s) of %u us\n", up[SETTLE_TRIALS / 2],
               down[SETTLE_TRIALS / 2], cg_ctx_period_us(ctx));
        *ret_periods = up[SETTLE_TRIALS / 2] > down[SETTLE_TRIALS / 2] ? up[SETTLE_TRIALS / 2]
                                                                       : down[SETTLE_TRIALS / 2];
        return 0;
}

/* Same weight boost as the integration test: measure the quota, not the neighbours. */
static void boost_weight(cg_ctx *ctx)
{
        bool v1 = cg_ctx_mode(ctx) == CG_MODE_V1;
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", cg_ctx_root_path(ctx),
                 v1 ? "cpu.shares" : "cpu.weight");
        f = fopen(path, "we");
        if (f) {
                fputs(v1 ? "262144" : "10000", f);
                fclose(f);
        }
}

static int run(cg_ctx *ctx, size_t iters, bool do_settle)
{
        uint64_t *res = calloc(iters, sizeof(*res)), *flo = calloc(iters, sizeof(*flo));
        cg_group *g = NULL;
        struct floor_vals fv;
        char back[64];
        pid_t child = -1;
        int fd = -1, r, settle_periods = -1, rc = 1;
        size_t i, done;

        if (!res || !flo)
                goto out;
        r = cg_group_create(ctx, "bench/resize/0", &g);
        if (r < 0) {
                fprintf(stderr, "create: %s\n", cg_last_error(ctx));
                goto out;
        }
        child = spawn_spinner();
        if (child < 0 || cg_group_attach(g, child) < 0) {
                fprintf(stderr, "spawn/attach: %s\n", cg_last_error(ctx));
                goto out;
        }
        r = floor_setup(ctx, g, &fd, &fv);
        if (r < 0) {
                fprintf(stderr, "floor: open: %s\n", strerror(-r));
                goto out;
        }
        for (i = 0; i < 200; i++) /* warm caches and the page of the seq_file */
                if (cg_group_set_millicores(g, i & 1 ? 700 : 300) < 0)
                        goto fail_resize;
        for (done = 0; done < iters; done += BLOCK) {
                size_t end = done + BLOCK < iters ? done + BLOCK : iters;
                for (i = done; i < end; i++) {
                        uint64_t a = now_ns();
                        r = cg_group_set_millicores(g, i & 1 ? 700 : 300);
                        res[i] = now_ns() - a;
                        if (r < 0)
                                goto fail_resize;
                }
                for (i = done; i < end; i++) {
                        uint64_t a = now_ns();
                        ssize_t w = pwrite(fd, fv.v[i & 1], fv.len[i & 1], 0);
                        ssize_t rd = pread(fd, back, sizeof(back), 0);
                        flo[i] = now_ns() - a;
                        if (w < 0 || rd <= 0) {
                                fprintf(stderr, "floor: %s\n", strerror(errno));
                                goto out;
                        }
                }
        }
        qsort(res, iters, sizeof(*res), cmp_u64);
        qsort(flo, iters, sizeof(*flo), cmp_u64);
        printf("resize via cg_group_set_millicores (write + verified read-back), %zu calls: "
               "p50 %.2f us, p99 %.2f us, max %.2f us\n",
               iters, pct_us(res, iters, 50), pct_us(res, iters, 99),
               (double)res[iters - 1] / 1000.0);
        printf("floor: bare pwrite + pread on a held-open fd, %zu calls: p50 %.2f us, p99 %.2f us, "
               "max %.2f us\n",
               iters, pct_us(flo, iters, 50), pct_us(flo, iters, 99),
               (double)flo[iters - 1] / 1000.0);
        printf("ratio to floor: p50 %.2fx, p99 %.2fx\n",
               pct_us(res, iters, 50) / pct_us(flo, iters, 50),
               pct_us(res, iters, 99) / pct_us(flo, iters, 99));
        if (do_settle && settle(ctx, g, &settle_periods) < 0)
                goto out;
        printf("{\"backend\":\"%s\",\"resize_p50_us\":%.2f,\"resize_p99_us\":%.2f,"
               "\"floor_p50_us\":%.2f,\"floor_p99_us\":%.2f,\"settle_periods\":%d}\n",
               cg_mode_name(cg_ctx_mode(ctx)), pct_us(res, iters, 50), pct_us(res, iters, 99),
               pct_us(flo, iters, 50), pct_us(flo, iters, 99), settle_periods);
        rc = 0;
        goto out;
fail_resize:
        fprintf(stderr, "resize: %s\n", cg_last_error(ctx));
out:
        if (fd >= 0)
                close(fd);
        if (g && cg_group_kill_and_destroy(g) < 0) {
                fprintf(stderr, "destroy: %s\n", cg_last_error(ctx));
                rc = 1;
        }
        if (child > 0)
                waitpid(child, NULL, 0);
        free(res);
        free(flo);
        return rc;
}

int main(int argc, char **argv)
{
        cg_options o = {0};
        cg_ctx *ctx = NULL;
        char *mount = NULL, *root = NULL, err[512], *end;
        size_t iters = 10000;
        bool do_settle = true;
        cg_mode mode;
        int i, r, rc;

        for (i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
                        unsigned long long v;
                        errno = 0;
                        v = strtoull(argv[++i], &end, 10);
                        if (errno || *end || v < 100 || v > 10000000) {
                                fprintf(stderr, "--iterations: 100..10000000\n");
                                return 2;
                        }
                        iters = (size_t)v;
                } else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
                        root = strdup(argv[++i]);
                } else if (strcmp(argv[i], "--no-settle") == 0) {
                        do_settle = false;
                } else {
                        fprintf(stderr, "usage: %s [--iterations N] [--root PATH] [--no-settle]\n",
                                argv[0]);
                        return 2;
                }
        }
        if (geteuid() != 0) {
                printf("bench-resize: SKIP: needs root to create cgroups\n");
                return 77;
        }
        r = cg_detect(NULL, &mode, &mount);
        if (r < 0 || mode == CG_MODE_NONE) {
                printf("bench-resize: SKIP: no cpu controller (%s)\n",
                       r < 0 ? strerror(-r) : "none mounted");
                return 77;
        }
        if (!root && asprintf(&root, "%s/sponged-bench", mount) < 0)
                return 1;
        o.mode = mode == CG_MODE_V1 ? CG_REQUEST_V1 : CG_REQUEST_V2;
        o.root = root;
        r = cg_open_err(&o, &ctx, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "open: %s\n", err);
                return 1;
        }
        printf("bench-resize: %s\n", cg_ctx_note(ctx));
        boost_weight(ctx);
        (void)cg_remove_stale(ctx);
        rc = run(ctx, iters, do_settle);
        (void)cg_remove_stale(ctx);
        (void)cg_ctx_remove_root(ctx);
        cg_ctx_free(ctx);
        free(root);
        free(mount);
        return rc;
}
