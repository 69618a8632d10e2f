/* SPDX-License-Identifier: see LICENSE */
/*
 * The "none" backend, for runs without privileges or without a cpu controller: every value is
 * recorded in memory and nothing is applied to the kernel — no directory, no file write. The
 * context says so (cg_ctx_mode() == CG_MODE_NONE, cg_ctx_note()). Counters read as zero.
 *
 * One thing it does do: cg_group_kill_and_destroy() still kills the processes that were
 * attached, so the caller's replica life cycle is the same in every mode. It keeps a pidfd per
 * attached pid (pidfd_open, Linux >= 5.3) and signals through it, so a pid that exited and was
 * reused by an unrelated process is never signalled. Without pidfds it records the pid only and
 * signals nothing.
 */
#include "cgroups/cg-internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <unistd.h>

static int none_open_root(cg_ctx *ctx)
{
        return 0;
}

static int none_group_create(cg_group *g)
{
        g->quota_us = CG_QUOTA_UNLIMITED;
        return 0;
}

static void none_group_close(cg_group *g)
{
        size_t i;

        for (i = 0; i < g->n_pids; i++)
                if (g->pidfds[i] >= 0)
                        close(g->pidfds[i]);
        free(g->pidfds);
        free(g->pids);
        g->pidfds = NULL;
        g->pids = NULL;
        g->n_pids = 0;
}

/* Has the process behind this pidfd exited? (A pidfd polls readable on exit.) */
static bool exited(int pidfd)
{
        struct pollfd p = {.fd = pidfd, .events = POLLIN};

        return pidfd >= 0 && poll(&p, 1, 0) == 1;
}

static int none_attach(cg_group *g, pid_t pid)
{
        pid_t *np;
        int *nf, fd;
        size_t i;

        for (i = 0; i < g->n_pids; i++)
                if (g->pids[i] == pid && !exited(g->pidfds[i]))
                        return 0;
        fd = pidfd_open(pid, 0);
        if (fd < 0 && errno != ENOSYS)
                return cg__fail(g->ctx, -errno, "attach pid %d to %s (none: recorded only)",
                                (int)pid, g->path);
        np = reallocarray(g->pids, g->n_pids + 1, sizeof(*np));
        if (!np)
                goto oom;
        g->pids = np;
        nf = reallocarray(g->pidfds, g->n_pids + 1, sizeof(*nf));
        if (!nf)
                goto oom;
        g->pidfds = nf;
        g->pids[g->n_pids] = pid;
        g->pidfds[g->n_pids] = fd;
        g->n_pids++;
        return 0;
oom:
        if (fd >= 0)
                close(fd);
        return cg__fail(g->ctx, -ENOMEM, "attach pid %d to %s", (int)pid, g->path);
}

static int none_set_quota(cg_group *g, uint64_t quota_us)
{
        g->quota_us = quota_us;
        return 0;
}

static int none_get_quota(cg_group *g, uint64_t *ret_quota_us, uint64_t *ret_period_us)
{
        *ret_quota_us = g->quota_us;
        *ret_period_us = g->ctx->period_us;
        return 0;
}

static int none_read_stat(cg_group *g, cg_stat *ret)
{
        *ret = (cg_stat){0};
        return 0;
}

/* The recorded pids whose process is still running. */
static int none_pids(cg_group *g, pid_t **ret, size_t *ret_n)
{
        pid_t *out = NULL;
        size_t i, n = 0;

        if (g->n_pids) {
                out = calloc(g->n_pids, sizeof(*out));
                if (!out)
                        return cg__fail(g->ctx, -ENOMEM, "list pids of %s", g->path);
        }
        for (i = 0; i < g->n_pids; i++)
                if (!exited(g->pidfds[i]))
                        out[n++] = g->pids[i];
        if (n == 0) {
                free(out);
                out = NULL;
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

static int none_kill(cg_group *g)
{
        uint64_t deadline = cg__now_us() + CG__KILL_WAIT_US;
        size_t i;

        for (i = 0; i < g->n_pids; i++) {
                int fd = g->pidfds[i];

                if (fd < 0 || exited(fd))
                        continue;
                if (pidfd_send_signal(fd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                        return cg__fail(g->ctx, -errno, "kill pid %d of %s", (int)g->pids[i],
                                        g->path);
                /* same contract as v1/v2: return once the process has exited */
                while (!exited(fd)) {
                        struct pollfd p = {.fd = fd, .events = POLLIN};
                        uint64_t now = cg__now_us();
                        if (now >= deadline)
                                return cg__fail(g->ctx, -EBUSY, "pid %d of %s did not exit",
                                                (int)g->pids[i], g->path);
                        (void)poll(&p, 1, (int)((deadline - now) / 1000 + 1));
                }
        }
        return 0;
}

static int none_remove(cg_group *g)
{
        return 0;
}

static int none_remove_stale(cg_ctx *ctx)
{
        return 0;
}

const cg_backend cg__backend_none = {
    .name = "none",
    .open_root = none_open_root,
    .group_create = none_group_create,
    .group_close = none_group_close,
    .attach = none_attach,
    .set_quota = none_set_quota,
    .get_quota = none_get_quota,
    .read_stat = none_read_stat,
    .pids = none_pids,
    .kill = none_kill,
    .remove = none_remove,
    .remove_stale = none_remove_stale,
};
