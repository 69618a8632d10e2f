/* SPDX-License-Identifier: see LICENSE */
/*
 * Memory and pids limits of a group (cg_group_set_limits, cgroups.h). v2: memory.max and
 * pids.max in the group itself, after +memory +pids are enabled in subtree_control from the root
 * down to the group's parent (as +cpu is; needs Delegate= to include memory and pids). v1: each
 * controller is its own hierarchy, so the group is mirrored at <mount>/<root>/<relpath> in the
 * memory and pids hierarchies where they are mounted (as cpuacct is), the limit written there and
 * the pid attached; cg__limits_remove() removes the mirrors (and their emptied parents) when the
 * group is destroyed. The none backend has no limits (-EOPNOTSUPP).
 */
#include "cgroups/cg-internal.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct limit_file {
        const char *controller;
        const char *v1_file;
        const char *v2_file;
} limit_file;

static const limit_file limit_files[] = {
    {"memory", "memory.limit_in_bytes", "memory.max"},
    {"pids", "pids.max", "pids.max"},
};

/* The mount point of the v1 hierarchy whose super options list `controller`, into ret. */
static int v1_mount_of(const char *controller, char *ret, size_t size)
{
        char *text = NULL, *save = NULL, *line;
        int r = cg__read_all("/proc/self/mountinfo", &text);

        if (r < 0)
                return r;
        r = -ENOENT;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mnt[4096], fstype[32], src[64], opts[1024], *sep = strstr(line, " - "), *o,
                                                                 *osave = NULL;
                if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
                    sscanf(sep + 3, "%31s %63s %1023s", fstype, src, opts) != 3 ||
                    strcmp(fstype, "cgroup") != 0)
                        continue;
                for (o = strtok_r(opts, ",", &osave); o; o = strtok_r(NULL, ",", &osave))
                        if (r == -ENOENT && strcmp(o, controller) == 0)
                                r = (size_t)snprintf(ret, size, "%s", mnt) >= size ? -ENAMETOOLONG
                                                                                   : 0;
        }
        free(text);
        return r;
}

/* <mount of controller>/<root relative to the cpu mount>[/relpath]. */
static int v1_dir(const cg_group *g, const char *controller, bool with_rel, char *ret, size_t size)
{
        char mnt[4096];
        const char *rel_root = g->ctx->root + strlen(g->ctx->mount);
        int r = v1_mount_of(controller, mnt, sizeof(mnt));

        if (r < 0)
                return r;
        if ((size_t)snprintf(ret, size, "%s%s%s%s", mnt, rel_root, with_rel ? "/" : "",
                             with_rel ? g->relpath : "") >= size)
                return -ENAMETOOLONG;
        return 0;
}

static int set_v1(cg_group *g, const limit_file *f, const char *value, pid_t pid)
{
        char dir[8192], rel[4096], pidbuf[32];
        const char *rel_root = g->ctx->root + strlen(g->ctx->mount);
        int r = v1_dir(g, f->controller, false, dir, sizeof(dir));

        if (r == -ENOENT)
                return -EOPNOTSUPP; /* that controller is not mounted */
        if (r < 0)
                return cg__fail(g->ctx, r, "find the v1 %s hierarchy", f->controller);
        *strrchr(dir, '/') = '\0'; /* the mount point itself */
        if (strlen(dir) == 0 && strlen(rel_root) == 0)
                return cg__fail(g->ctx, -EINVAL, "no %s hierarchy root", f->controller);
        snprintf(rel, sizeof(rel), "%s/%s", rel_root + 1, g->relpath);
        r = cg__mkdir_below(dir, rel);
        if (r < 0)
                return cg__fail(g->ctx, r, "mkdir %s/%s", dir, rel);
        r = v1_dir(g, f->controller, true, dir, sizeof(dir));
        if (r >= 0)
                r = cg__write_at(dir, f->v1_file, value);
        if (r < 0)
                return cg__fail(g->ctx, r, "write %s to %s/%s", value, dir, f->v1_file);
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
        r = cg__write_at(dir, "cgroup.procs", pidbuf);
        if (r < 0)
                return cg__fail(g->ctx, r, "attach %d to %s", (int)pid, dir);
        return 0;
}

static bool has_word(const char *list, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
                if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

/* v2: +controller in subtree_control of the root and of every directory down to g's parent. */
static int enable_v2(cg_group *g, const char *controller)
{
        char dir[8192], want[32];
        size_t root_len = strlen(g->ctx->root);
        char *p;
        int r;

        snprintf(want, sizeof(want), "+%s", controller);
        if ((size_t)snprintf(dir, sizeof(dir), "%s", g->path) >= sizeof(dir))
                return -ENAMETOOLONG;
        /* Walk down: cut dir at each '/' from the root's end to g's parent (never g itself: a
         * group with processes cannot enable controllers for children). */
        for (p = dir + root_len; p; p = strchr(p + 1, '/')) {
                char avail[512];
                *p = '\0';
                /* Not delegated to us (Delegate= without it): no limit of that kind. */
                r = cg__read_at(dir, "cgroup.controllers", avail, sizeof(avail));
                if (r >= 0 && !has_word(avail, controller)) {
                        *p = '/';
                        return -EOPNOTSUPP;
                }
                r = cg__write_at(dir, "cgroup.subtree_control", want);
                *p = '/';
                if (r < 0)
                        return cg__fail(g->ctx, r,
                                        "enable %s in %s/cgroup.subtree_control (is it "
                                        "delegated? Delegate=cpu memory pids)",
                                        want, dir);
        }
        return 0;
}

int cg_group_set_limits(cg_group *g, uint64_t memory_bytes, uint64_t pids_max, pid_t pid)
{
        uint64_t values[2] = {memory_bytes, pids_max};
        int done = 0;

        if (!g || g->ctx->mode == CG_MODE_NONE)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < sizeof(limit_files) / sizeof(limit_files[0]); i++) {
                const limit_file *f = &limit_files[i];
                char value[32];
                int r;

                if (values[i] == 0)
                        continue;
                snprintf(value, sizeof(value), "%" PRIu64, values[i]);
                if (g->ctx->mode == CG_MODE_V1) {
                        r = set_v1(g, f, value, pid);
                } else {
                        r = enable_v2(g, f->controller);
                        if (r >= 0)
                                r = cg__write_at(g->path, f->v2_file, value);
                        if (r < 0 && r != -EACCES && r != -EPERM)
                                r = cg__fail(g->ctx, r, "write %s to %s/%s", value, g->path,
                                             f->v2_file);
                }
                if (r == -EOPNOTSUPP)
                        continue;
                if (r < 0)
                        return r;
                done++;
        }
        return done ? 0 : -EOPNOTSUPP;
}

void cg__limits_remove(cg_group *g)
{
        if (!g || g->ctx->mode != CG_MODE_V1 || !g->relpath)
                return;
        for (size_t i = 0; i < sizeof(limit_files) / sizeof(limit_files[0]); i++) {
                char dir[8192], stop[8192];
                if (v1_dir(g, limit_files[i].controller, true, dir, sizeof(dir)) < 0 ||
                    v1_dir(g, limit_files[i].controller, false, stop, sizeof(stop)) < 0)
                        continue;
                /* The group, then its parents while empty, up to and including the root. */
                while (strlen(dir) >= strlen(stop) && rmdir(dir) == 0 && strrchr(dir, '/'))
                        *strrchr(dir, '/') = '\0';
        }
}
