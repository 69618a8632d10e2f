/* SPDX-License-Identifier: see LICENSE */
/*
 * cgroup v2 backend: cpu.max (quota and period in one file, one write), cpu.stat,
 * cgroup.procs, cgroup.subtree_control, cgroup.kill (Linux >= 5.14).
 *
 * Kernel rules this code follows (Documentation/admin-guide/cgroup-v2.rst):
 *  - "no internal process": a non-root cgroup with controllers enabled in its subtree_control
 *    cannot hold processes (writing cgroup.procs fails with EBUSY, and enabling fails while it
 *    has processes). Hence the agent's own cgroup is emptied into the leaf "agent/" first.
 *  - A child has cpu.* files only when +cpu is enabled in its parent's subtree_control, which in
 *    turn needs it in the grandparent's: it is enabled top-down along the whole path.
 *  - cpu.max takes "<quota> <period>" atomically; unlike v1, a child's limit above its parent's
 *    is accepted (the effective limit is the minimum), so there is no write-order EINVAL here.
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

#define AGENT_LEAF "agent"

/* +cpu in dir/cgroup.subtree_control unless it is already there (reading first keeps us from
 * writing into an ancestor systemd manages when nothing needs to change). */
static int enable_cpu(cg_ctx *ctx, const char *dir)
{
        char buf[256];
        const char *p;
        int r;

        r = cg__read_at(dir, "cgroup.subtree_control", buf, sizeof(buf));
        if (r < 0)
                return cg__fail(ctx, r, "read %s/cgroup.subtree_control", dir);
        for (p = buf; (p = strstr(p, "cpu"));) {
                if ((p == buf || p[-1] == ' ') && (p[3] == ' ' || p[3] == '\n' || p[3] == '\0'))
                        return 0;
                p += 3;
        }
        r = cg__write_at(dir, "cgroup.subtree_control", "+cpu");
        if (r < 0)
                return cg__fail(ctx, r, "write +cpu to %s/cgroup.subtree_control%s", dir,
                                r == -EBUSY ? " (the cgroup holds processes: v2 allows controllers "
                                              "in subtree_control only on inner nodes without "
                                              "processes)"
                                            : "");
        return 0;
}

/* Enables +cpu in every directory from `from` (inclusive) down to the parent of `leaf`. */
static int enable_cpu_along(cg_ctx *ctx, const char *from, const char *leaf)
{
        char buf[PATH_MAX];
        size_t fl = strlen(from), i;
        int r;

        if (snprintf(buf, sizeof(buf), "%s", leaf) >= (int)sizeof(buf))
                return cg__fail(ctx, -ENAMETOOLONG, "path %s", leaf);
        r = enable_cpu(ctx, from);
        if (r < 0)
                return r;
        /* every '/' after `from` ends an intermediate directory */
        for (i = fl + 1; buf[i]; i++) {
                if (buf[i] != '/')
                        continue;
                buf[i] = '\0';
                r = enable_cpu(ctx, buf);
                buf[i] = '/';
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Creates <root>/<rel> ("" = the root itself, below the mount), then makes sure +cpu is enabled
 * in every directory from the mount down to the new leaf's parent. libcgroup does the mkdir when
 * it knows the hierarchy; the subtree_control chain is checked here either way (a read per level,
 * a write only where cpu is missing) rather than relying on how libcgroup 2.0.2 treats ancestors
 * that existed before the call. Enabling after the mkdir is fine: the kernel adds the cpu.* files
 * to existing children when their parent enables the controller. */
static int make_dirs(cg_ctx *ctx, const char *rel, struct cgroup **ret_lcg)
{
        const char *base = *rel ? ctx->root : ctx->mount;
        const char *sub = *rel ? rel : ctx->root + strlen(ctx->mount) + 1;
        char *leaf = NULL;
        int r;

        if (asprintf(&leaf, "%s/%s", base, sub) < 0)
                return -ENOMEM;
        /* libcgroup 2.0.2's cgroup_create_cgroup() opens the parent's cgroup.subtree_control
         * read-write all the way up; an agent that systemd delegated a subtree to (often not
         * root) may only write inside that subtree, so there it creates directories itself. */
        if (ctx->use_libcgroup && !ctx->root_is_self && geteuid() == 0) {
                r = cg__lcg_create(ctx, rel, ret_lcg);
                if (r < 0)
                        r = cg__fail(ctx, r, "libcgroup: create %s", leaf);
        } else {
                r = cg__mkdir_below(base, sub);
                if (r < 0)
                        r = cg__fail(ctx, r, "mkdir %s", leaf);
        }
        if (r == 0)
                r = enable_cpu_along(ctx, ctx->mount, leaf);
        free(leaf);
        return r;
}

/* Moves every process of the root into root/agent (v2 forbids processes in an inner node that
 * has controllers enabled). A few rounds: a process may fork while we move. */
static int move_self_to_leaf(cg_ctx *ctx)
{
        char leaf[PATH_MAX];
        int round, r;

        r = cg__join(leaf, sizeof(leaf), ctx->root, AGENT_LEAF);
        if (r < 0)
                return cg__fail(ctx, r, "path %s/%s", ctx->root, AGENT_LEAF);
        if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
                return cg__fail(ctx, -errno, "mkdir %s", leaf);
        for (round = 0; round < 8; round++) {
                pid_t *pids = NULL;
                size_t n = 0, i;

                r = cg__read_pids(ctx->root, &pids, &n);
                if (r < 0)
                        return cg__fail(ctx, r, "read %s/cgroup.procs", ctx->root);
                if (n == 0)
                        return 0;
                for (i = 0; i < n; i++) {
                        char v[24];
                        cg__fmt_u64(v, (uint64_t)pids[i]);
                        r = cg__write_at(leaf, "cgroup.procs", v);
                        if (r < 0 && r != -ESRCH) {
                                free(pids);
                                return cg__fail(ctx, r, "move pid %s into %s/cgroup.procs", v,
                                                leaf);
                        }
                }
                free(pids);
        }
        return cg__fail(ctx, -EBUSY, "%s/cgroup.procs does not stay empty", ctx->root);
}

static int v2_open_root(cg_ctx *ctx)
{
        struct stat st;
        int r;

        if (ctx->root_is_self) {
                char *leaf;

                r = move_self_to_leaf(ctx);
                if (r < 0)
                        return r;
                if (asprintf(&leaf, "%s/%s", ctx->root, AGENT_LEAF) < 0)
                        return cg__fail(ctx, -ENOMEM, "path");
                free(ctx->self_path); /* we live in the leaf now */
                ctx->self_path = leaf;
                return enable_cpu(ctx, ctx->root);
        }
        if (stat(ctx->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
                r = make_dirs(ctx, "", NULL);
                if (r < 0)
                        return r;
        } else {
                r = enable_cpu_along(ctx, ctx->mount, ctx->root);
                if (r < 0)
                        return r;
        }
        return enable_cpu(ctx, ctx->root);
}

static void v2_group_close(cg_group *g)
{
        if (g->quota_fd >= 0)
                close(g->quota_fd);
        if (g->stat_fd >= 0)
                close(g->stat_fd);
        g->quota_fd = g->stat_fd = -1;
}

static int v2_group_create(cg_group *g)
{
        cg_ctx *ctx = g->ctx;
        char buf[64];
        int r;

        r = make_dirs(ctx, g->relpath, &g->lcg);
        if (r < 0)
                return r;
        g->quota_fd = cg__open_at(g->path, "cpu.max", O_RDWR);
        if (g->quota_fd < 0)
                return cg__fail(ctx, g->quota_fd,
                                "open %s/cpu.max (is +cpu enabled in the "
                                "parent's cgroup.subtree_control?)",
                                g->path);
        g->stat_fd = cg__open_at(g->path, "cpu.stat", O_RDONLY);
        if (g->stat_fd < 0)
                return cg__fail(ctx, g->stat_fd, "open %s/cpu.stat", g->path);
        /* The period is fixed per context and written once here, with no limit yet. */
        r = cg_format_cpu_max(CG_QUOTA_UNLIMITED, ctx->period_us, buf, sizeof(buf));
        if (r < 0)
                return cg__fail(ctx, r, "format cpu.max");
        if (pwrite(g->quota_fd, buf, (size_t)r, 0) != r)
                return cg__fail(ctx, -errno, "write \"max %u\" to %s/cpu.max", ctx->period_us,
                                g->path);
        return 0;
}

static int v2_attach(cg_group *g, pid_t pid)
{
        char v[24];
        int r;

        if (g->lcg) {
                /* libcgroup 2.0.2 writes cgroup.procs on v2: the whole process moves. */
                r = cg__lcg_errno(cgroup_attach_task_pid(g->lcg, pid));
        } else {
                cg__fmt_u64(v, (uint64_t)pid);
                r = cg__write_at(g->path, "cgroup.procs", v);
        }
        if (r < 0)
                return cg__fail(g->ctx, r, "attach pid %d to %s/cgroup.procs", (int)pid, g->path);
        return 0;
}

static int v2_set_quota(cg_group *g, uint64_t quota_us)
{
        char buf[64], back[64];
        uint64_t q, p;
        int n, r;

        n = cg_format_cpu_max(quota_us, g->ctx->period_us, buf, sizeof(buf));
        if (n < 0)
                return cg__fail(g->ctx, n, "format cpu.max");
        if (pwrite(g->quota_fd, buf, (size_t)n, 0) != n) {
                r = -errno;
                buf[n - 1] = '\0';
                return cg__fail(g->ctx, r ? r : -EIO, "write \"%s\" to %s/cpu.max", buf, g->path);
        }
        r = cg__pread_str(g->quota_fd, back, sizeof(back));
        if (r < 0)
                return cg__fail(g->ctx, r, "read back %s/cpu.max", g->path);
        if (cg_parse_cpu_max(back, &q, &p) < 0 || q != quota_us || p != g->ctx->period_us) {
                buf[n - 1] = '\0';
                back[strcspn(back, "\n")] = '\0';
                return cg__fail(g->ctx, -EIO, "%s/cpu.max reads \"%s\" after writing \"%s\"",
                                g->path, back, buf);
        }
        return 0;
}

static int v2_get_quota(cg_group *g, uint64_t *ret_quota_us, uint64_t *ret_period_us)
{
        char back[64];
        int r;

        r = cg__pread_str(g->quota_fd, back, sizeof(back));
        if (r < 0)
                return cg__fail(g->ctx, r, "read %s/cpu.max", g->path);
        r = cg_parse_cpu_max(back, ret_quota_us, ret_period_us);
        if (r < 0)
                return cg__fail(g->ctx, r, "parse %s/cpu.max", g->path);
        return 0;
}

static int v2_read_stat(cg_group *g, cg_stat *ret)
{
        char buf[1024];
        int r;

        r = cg__pread_str(g->stat_fd, buf, sizeof(buf));
        if (r < 0)
                return cg__fail(g->ctx, r, "read %s/cpu.stat", g->path);
        r = cg_parse_cpu_stat(buf, ret);
        if (r < 0)
                return cg__fail(g->ctx, r, "parse %s/cpu.stat", g->path);
        return 0;
}

static int v2_pids(cg_group *g, pid_t **ret, size_t *ret_n)
{
        int r = cg__read_pids(g->path, ret, ret_n);

        return r < 0 ? cg__fail(g->ctx, r, "read %s/cgroup.procs", g->path) : 0;
}

/* cgroup.kill (5.14+) kills the whole subtree atomically, forks included; without it, SIGKILL
 * each listed pid until the group is empty. */
static int kill_dir(cg_ctx *ctx, const char *dir)
{
        int r;

        r = cg__write_at(dir, "cgroup.kill", "1");
        if (r == 0)
                r = cg__wait_empty(dir, CG__KILL_WAIT_US);
        else if (r == -ENOENT)
                r = cg__kill_until_empty(dir, CG__KILL_WAIT_US);
        if (r < 0)
                return cg__fail(ctx, r, "kill the processes of %s", dir);
        return 0;
}

static int v2_kill(cg_group *g)
{
        return kill_dir(g->ctx, g->path);
}

static int v2_remove(cg_group *g)
{
        if (rmdir(g->path) < 0 && errno != ENOENT)
                return cg__fail(g->ctx, -errno, "rmdir %s", g->path);
        return 0;
}

struct stale {
        cg_ctx *ctx;
        char leaf[PATH_MAX]; /* root/agent, never removed */
};

static int stale_one(const char *path, void *arg)
{
        struct stale *s = arg;
        size_t ll = strlen(s->leaf);
        int r;

        if (strncmp(path, s->leaf, ll) == 0 && (path[ll] == '\0' || path[ll] == '/'))
                return 0;
        if (cg__path_in_use(s->ctx, path))
                return 0;
        if (s->ctx->self_path) {
                size_t pl = strlen(path);
                if (strncmp(s->ctx->self_path, path, pl) == 0 &&
                    (s->ctx->self_path[pl] == '\0' || s->ctx->self_path[pl] == '/'))
                        return 0;
        }
        r = kill_dir(s->ctx, path);
        if (r < 0)
                return r;
        if (rmdir(path) < 0)
                return cg__fail(s->ctx, -errno, "rmdir stale %s", path);
        return 1;
}

static int v2_remove_stale(cg_ctx *ctx)
{
        struct stale s = {.ctx = ctx};
        int r;

        r = cg__join(s.leaf, sizeof(s.leaf), ctx->root, AGENT_LEAF);
        if (r < 0)
                return cg__fail(ctx, r, "path %s", ctx->root);
        r = cg__walk_post(ctx->root, stale_one, &s);
        if (r < 0 && !ctx->err[0])
                cg__fail(ctx, r, "walk %s", ctx->root);
        return r;
}

const cg_backend cg__backend_v2 = {
    .name = "v2",
    .open_root = v2_open_root,
    .group_create = v2_group_create,
    .group_close = v2_group_close,
    .attach = v2_attach,
    .set_quota = v2_set_quota,
    .get_quota = v2_get_quota,
    .read_stat = v2_read_stat,
    .pids = v2_pids,
    .kill = v2_kill,
    .remove = v2_remove,
    .remove_stale = v2_remove_stale,
};
