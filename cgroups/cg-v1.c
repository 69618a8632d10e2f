/* SPDX-License-Identifier: see LICENSE */
/*
 * cgroup v1 backend: the cpu controller (cpu.cfs_quota_us, cpu.cfs_period_us, cpu.stat) and the
 * cpuacct controller (cpuacct.usage), which may be mounted separately (as on the development
 * machine: /sys/fs/cgroup/cpu and /sys/fs/cgroup/cpuacct). Each group then exists twice, at the
 * same relative path in both hierarchies, and each process is attached in both.
 *
 * The v1 write-order EINVAL (Documentation/scheduler/sched-bwc.rst, "Hierarchical
 * considerations"; kernel/sched/core.c tg_cfs_schedulable_down): on v1 the kernel rejects any
 * quota/period pair whose ratio exceeds an ancestor's, and quota and period are separate files, so
 * the pair passes through an intermediate state after the first write. Writing the period while
 * an old quota is set can make that intermediate ratio too large (old quota / smaller period)
 * and the write fails with EINVAL although the final pair is valid. Hence, at creation: quota -1
 * (unlimited: always valid) first, then the period, and only then a finite quota. After creation
 * the period never changes, so a resize is a single write of cpu.cfs_quota_us. If that single
 * write still gets EINVAL, the message names the ancestor whose limit is below the request.
 */
#include "cgroups/cg-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory of g in the hierarchy that carries cpuacct. */
static const char *acct_dir(const cg_group *g)
{
        return g->acct_path ? g->acct_path : g->path;
}

static int make_dirs(cg_ctx *ctx, const char *rel, struct cgroup **ret_lcg)
{
        const char *sub;
        int r;

        if (ctx->use_libcgroup) {
                /* one call creates the path in the cpu and the cpuacct hierarchy */
                r = cg__lcg_create(ctx, rel, ret_lcg);
                if (r < 0)
                        return cg__fail(ctx, r, "libcgroup: create %s%s%s", ctx->root,
                                        *rel ? "/" : "", rel);
                return 0;
        }
        if (*rel) {
                r = cg__mkdir_below(ctx->root, rel);
                if (r < 0)
                        return cg__fail(ctx, r, "mkdir %s/%s", ctx->root, rel);
                if (ctx->acct_root) {
                        r = cg__mkdir_below(ctx->acct_root, rel);
                        if (r < 0)
                                return cg__fail(ctx, r, "mkdir %s/%s", ctx->acct_root, rel);
                }
                return 0;
        }
        sub = ctx->root + strlen(ctx->mount) + 1;
        r = cg__mkdir_below(ctx->mount, sub);
        if (r < 0)
                return cg__fail(ctx, r, "mkdir %s", ctx->root);
        if (ctx->acct_mount) {
                r = cg__mkdir_below(ctx->acct_mount, sub);
                if (r < 0)
                        return cg__fail(ctx, r, "mkdir %s", ctx->acct_root);
        }
        return 0;
}

static int v1_open_root(cg_ctx *ctx)
{
        return make_dirs(ctx, "", NULL);
}

static void v1_group_close(cg_group *g)
{
        if (g->quota_fd >= 0)
                close(g->quota_fd);
        if (g->stat_fd >= 0)
                close(g->stat_fd);
        if (g->usage_fd >= 0)
                close(g->usage_fd);
        g->quota_fd = g->stat_fd = g->usage_fd = -1;
}

static int v1_group_create(cg_group *g)
{
        cg_ctx *ctx = g->ctx;
        char v[24];
        int r;

        r = make_dirs(ctx, g->relpath, &g->lcg);
        if (r < 0)
                return r;
        g->quota_fd = cg__open_at(g->path, "cpu.cfs_quota_us", O_RDWR);
        if (g->quota_fd < 0)
                return cg__fail(ctx, g->quota_fd, "open %s/cpu.cfs_quota_us", g->path);
        g->stat_fd = cg__open_at(g->path, "cpu.stat", O_RDONLY);
        if (g->stat_fd < 0)
                return cg__fail(ctx, g->stat_fd, "open %s/cpu.stat", g->path);
        g->usage_fd = ctx->no_cpuacct ? -1 : cg__open_at(acct_dir(g), "cpuacct.usage", O_RDONLY);
        if (g->usage_fd < 0 && !ctx->no_cpuacct)
                return cg__fail(ctx, g->usage_fd, "open %s/cpuacct.usage", acct_dir(g));
        /* Order matters (see the top of this file): unlimited quota, then the period. */
        if (pwrite(g->quota_fd, "-1", 2, 0) != 2)
                return cg__fail(ctx, -errno, "write -1 to %s/cpu.cfs_quota_us", g->path);
        cg__fmt_u64(v, ctx->period_us);
        r = cg__write_at(g->path, "cpu.cfs_period_us", v);
        if (r < 0)
                return cg__fail(ctx, r, "write %s to %s/cpu.cfs_period_us", v, g->path);
        return 0;
}

/* Writes "<pid>" to dir/cgroup.procs. On v1, cgroup.procs moves every thread of the process;
 * libcgroup 2.0.2's cgroup_attach_task_pid() writes the v1 "tasks" file instead, which moves a
 * single thread, so the v1 attach is done here with direct I/O. */
static int attach_dir(cg_ctx *ctx, const char *dir, pid_t pid)
{
        char v[24];
        int r;

        cg__fmt_u64(v, (uint64_t)pid);
        r = cg__write_at(dir, "cgroup.procs", v);
        if (r < 0)
                return cg__fail(ctx, r, "attach pid %s to %s/cgroup.procs", v, dir);
        return 0;
}

static int v1_attach(cg_group *g, pid_t pid)
{
        int r;

        r = attach_dir(g->ctx, g->path, pid);
        if (r < 0 || !g->acct_path)
                return r;
        return attach_dir(g->ctx, g->acct_path, pid);
}

/* Explains a v1 EINVAL on a quota write: the first ancestor (below the mount) whose own
 * quota/period ratio is below the requested one. Falls back to the kernel's bounds. */
static int explain_einval(cg_group *g, int64_t quota, const char *what)
{
        cg_ctx *ctx = g->ctx;
        char dir[PATH_MAX], q[32], p[32];
        size_t ml = strlen(ctx->mount);

        if (snprintf(dir, sizeof(dir), "%s", g->path) >= (int)sizeof(dir))
                return cg__fail(ctx, -EINVAL, "write %s to %s/cpu.cfs_quota_us", what, g->path);
        for (;;) {
                char *slash = strrchr(dir, '/');
                int64_t aq, ap;

                if (!slash || (size_t)(slash - dir) < ml)
                        break;
                *slash = '\0';
                if (strlen(dir) <= ml)
                        break;
                if (cg__read_at(dir, "cpu.cfs_quota_us", q, sizeof(q)) < 0 ||
                    cg__read_at(dir, "cpu.cfs_period_us", p, sizeof(p)) < 0 ||
                    cg_parse_i64(q, &aq) < 0 || cg_parse_i64(p, &ap) < 0 || aq < 0 || ap <= 0)
                        continue;
                /* quota/period > aq/ap  <=>  quota*ap > aq*period */
                if ((__int128)quota * ap > (__int128)aq * ctx->period_us)
                        return cg__fail(ctx, -EINVAL,
                                        "write %s to %s/cpu.cfs_quota_us: exceeds the limit of "
                                        "ancestor %s (%lld us per %lld us); v1 rejects a child "
                                        "above its parent",
                                        what, g->path, dir, (long long)aq, (long long)ap);
        }
        return cg__fail(ctx, -EINVAL,
                        "write %s to %s/cpu.cfs_quota_us (period %u us; the kernel wants quota "
                        ">= %u us and <= its max)",
                        what, g->path, ctx->period_us, CG_QUOTA_MIN_US);
}

static int v1_set_quota(cg_group *g, uint64_t quota_us)
{
        char buf[24], back[32];
        int64_t want, got;
        size_t n;
        int r;

        if (quota_us == CG_QUOTA_UNLIMITED) {
                want = -1;
                memcpy(buf, "-1", 3);
                n = 2;
        } else {
                want = (int64_t)quota_us;
                n = cg__fmt_u64(buf, quota_us);
        }
        if (pwrite(g->quota_fd, buf, n, 0) != (ssize_t)n) {
                r = -errno;
                if (r == -EINVAL && want > 0)
                        return explain_einval(g, want, buf);
                return cg__fail(g->ctx, r ? r : -EIO, "write %s to %s/cpu.cfs_quota_us", buf,
                                g->path);
        }
        r = cg__pread_str(g->quota_fd, back, sizeof(back));
        if (r < 0)
                return cg__fail(g->ctx, r, "read back %s/cpu.cfs_quota_us", g->path);
        if (cg_parse_i64(back, &got) < 0 || got != want) {
                back[strcspn(back, "\n")] = '\0';
                return cg__fail(g->ctx, -EIO, "%s/cpu.cfs_quota_us reads \"%s\" after writing %s",
                                g->path, back, buf);
        }
        return 0;
}

static int v1_get_quota(cg_group *g, uint64_t *ret_quota_us, uint64_t *ret_period_us)
{
        char q[32], p[32];
        int64_t qv, pv;
        int r;

        r = cg__pread_str(g->quota_fd, q, sizeof(q));
        if (r < 0)
                return cg__fail(g->ctx, r, "read %s/cpu.cfs_quota_us", g->path);
        r = cg__read_at(g->path, "cpu.cfs_period_us", p, sizeof(p));
        if (r < 0)
                return cg__fail(g->ctx, r, "read %s/cpu.cfs_period_us", g->path);
        if (cg_parse_i64(q, &qv) < 0 || cg_parse_i64(p, &pv) < 0 || pv <= 0 || qv < -1)
                return cg__fail(g->ctx, -EINVAL, "parse %s/cpu.cfs_{quota,period}_us", g->path);
        *ret_quota_us = qv < 0 ? CG_QUOTA_UNLIMITED : (uint64_t)qv;
        *ret_period_us = (uint64_t)pv;
        return 0;
}

static int v1_read_stat(cg_group *g, cg_stat *ret)
{
        char buf[1024], u[32];
        uint64_t ns;
        cg_stat st;
        int r;

        r = cg__pread_str(g->stat_fd, buf, sizeof(buf));
        if (r < 0)
                return cg__fail(g->ctx, r, "read %s/cpu.stat", g->path);
        r = cg_parse_cpu_stat(buf, &st);
        if (r < 0)
                return cg__fail(g->ctx, r, "parse %s/cpu.stat", g->path);
        if (g->usage_fd < 0) { /* no cpuacct hierarchy (see cg_ctx_note) */
                *ret = st;
                return 0;
        }
        r = cg__pread_str(g->usage_fd, u, sizeof(u));
        if (r < 0)
                return cg__fail(g->ctx, r, "read %s/cpuacct.usage", acct_dir(g));
        r = cg_parse_u64(u, &ns);
        if (r < 0)
                return cg__fail(g->ctx, r, "parse %s/cpuacct.usage", acct_dir(g));
        st.usage_us = ns / 1000; /* cpuacct.usage is in nanoseconds */
        *ret = st;
        return 0;
}

static int v1_pids(cg_group *g, pid_t **ret, size_t *ret_n)
{
        int r = cg__read_pids(g->path, ret, ret_n);

        return r < 0 ? cg__fail(g->ctx, r, "read %s/cgroup.procs", g->path) : 0;
}

/* v1 has no cgroup.kill: signal each pid until cgroup.procs stays empty. */
static int kill_dir(cg_ctx *ctx, const char *dir)
{
        int r = cg__kill_until_empty(dir, CG__KILL_WAIT_US);

        return r < 0 ? cg__fail(ctx, r, "kill the processes of %s", dir) : 0;
}

static int v1_kill(cg_group *g)
{
        int r = kill_dir(g->ctx, g->path);

        if (r < 0 || !g->acct_path)
                return r;
        return kill_dir(g->ctx, g->acct_path);
}

static int rmdir_one(cg_ctx *ctx, const char *dir)
{
        if (rmdir(dir) < 0 && errno != ENOENT)
                return cg__fail(ctx, -errno, "rmdir %s", dir);
        return 0;
}

static int v1_remove(cg_group *g)
{
        int r = rmdir_one(g->ctx, g->path);

        if (r < 0 || !g->acct_path)
                return r;
        return rmdir_one(g->ctx, g->acct_path);
}

static bool is_self_or_ancestor(const cg_ctx *ctx, const char *path)
{
        size_t pl = strlen(path);

        return ctx->self_path && strncmp(ctx->self_path, path, pl) == 0 &&
               (ctx->self_path[pl] == '\0' || ctx->self_path[pl] == '/');
}

static int stale_one(const char *path, void *arg)
{
        cg_ctx *ctx = arg;
        int r;

        if (cg__path_in_use(ctx, path) || is_self_or_ancestor(ctx, path))
                return 0;
        r = kill_dir(ctx, path);
        if (r < 0)
                return r;
        return rmdir(path) < 0 ? cg__fail(ctx, -errno, "rmdir stale %s", path) : 1;
}

/* A stale group's cpuacct mirror; counted with its cpu twin, so it returns 0 on success. */
static int stale_acct(const char *path, void *arg)
{
        int r = stale_one(path, arg);

        return r > 0 ? 0 : r;
}

static int v1_remove_stale(cg_ctx *ctx)
{
        int r, ra = 0;

        r = cg__walk_post(ctx->root, stale_one, ctx);
        if (ctx->acct_root)
                ra = cg__walk_post(ctx->acct_root, stale_acct, ctx);
        if (r >= 0 && ra < 0)
                r = ra;
        if (r < 0 && !ctx->err[0])
                cg__fail(ctx, r, "walk %s", ctx->root);
        return r;
}

const cg_backend cg__backend_v1 = {
    .name = "v1",
    .open_root = v1_open_root,
    .group_create = v1_group_create,
    .group_close = v1_group_close,
    .attach = v1_attach,
    .set_quota = v1_set_quota,
    .get_quota = v1_get_quota,
    .read_stat = v1_read_stat,
    .pids = v1_pids,
    .kill = v1_kill,
    .remove = v1_remove,
    .remove_stale = v1_remove_stale,
};
