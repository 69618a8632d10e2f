/* SPDX-License-Identifier: see LICENSE */
/*
 * The context and the group objects: detection, root selection, option checking, relpath
 * validation, and dispatch to the backend table. Kernel-facing work is in cg-v2.c / cg-v1.c /
 * cg-none.c.
 */
#include "cgroups/cg-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CG__MAX_DEPTH     8
#define CG__MAX_COMPONENT 64
/* The v2 leaf the agent moves itself into; reserved as a first relpath component everywhere so
 * a relpath means the same thing in every mode. */
#define CG__AGENT_LEAF "agent"

/* ---- detection ---- */

static bool word_in(const char *text, const char *word)
{
        size_t wl = strlen(word);
        const char *p = text;

        while ((p = strstr(p, word))) {
                bool start = p == text || p[-1] == ' ' || p[-1] == '\n';
                bool end = p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n';
                if (start && end)
                        return true;
                p += wl;
        }
        return false;
}

/* Parses the mounts file and decides the mode; *ret_mounts keeps every mount found. */
static int detect_full(const char *mounts_path, cg_mode *ret_mode, cg_mounts *ret_mounts)
{
        char *text = NULL;
        cg_mounts m = {0};
        cg_mode mode = CG_MODE_NONE;
        int r;

        r = cg__read_all(mounts_path ? mounts_path : "/proc/self/mountinfo", &text);
        if (r < 0)
                return r;
        r = cg_parse_mounts(text, &m);
        free(text);
        if (r < 0)
                return r;
        if (m.cpu_v1) {
                mode = CG_MODE_V1;
        } else if (m.unified) {
                char buf[512];
                /* cgroup.controllers of the hierarchy's root lists every controller bound to
                 * v2; "cpu" is absent when the cpu controller is bound to v1 or not built. */
                if (cg__read_at(m.unified, "cgroup.controllers", buf, sizeof(buf)) >= 0 &&
                    word_in(buf, "cpu"))
                        mode = CG_MODE_V2;
        }
        *ret_mode = mode;
        *ret_mounts = m;
        return 0;
}

int cg_detect(const char *mounts_path, cg_mode *ret_mode, char **ret_cpu_mount)
{
        cg_mounts m = {0};
        cg_mode mode;
        char *mnt = NULL;
        int r;

        if (!ret_mode || !ret_cpu_mount)
                return -EINVAL;
        r = detect_full(mounts_path, &mode, &m);
        if (r < 0)
                return r;
        if (mode != CG_MODE_NONE) {
                mnt = strdup(mode == CG_MODE_V1 ? m.cpu_v1 : m.unified);
                if (!mnt) {
                        cg_mounts_done(&m);
                        return -ENOMEM;
                }
        }
        cg_mounts_done(&m);
        *ret_mode = mode;
        *ret_cpu_mount = mnt;
        return 0;
}

/* ---- paths ---- */

/* One relpath component: [A-Za-z0-9_.-]{1,64}, not starting with '.'. */
static bool component_ok(const char *s, size_t len)
{
        size_t i;

        if (len == 0 || len > CG__MAX_COMPONENT || s[0] == '.')
                return false;
        for (i = 0; i < len; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '.'))
                        return false;
        }
        return true;
}

static bool relpath_ok(const char *rel)
{
        const char *p = rel;
        size_t depth = 0;

        if (!rel || !*rel)
                return false;
        for (;;) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);

                if (!component_ok(p, len) || ++depth > CG__MAX_DEPTH)
                        return false;
                if (depth == 1 && len == strlen(CG__AGENT_LEAF) &&
                    memcmp(p, CG__AGENT_LEAF, len) == 0)
                        return false;
                if (!slash)
                        return true;
                p = slash + 1;
        }
}

/* Absolute, no "//", no "." or ".." components, no trailing '/'. */
static bool abs_path_ok(const char *p)
{
        const char *c;

        if (!p || p[0] != '/' || strlen(p) >= PATH_MAX)
                return false;
        if (p[1] == '\0')
                return true;
        for (c = p + 1;;) {
                const char *slash = strchr(c, '/');
                size_t len = slash ? (size_t)(slash - c) : strlen(c);

                if (len == 0 || (len == 1 && c[0] == '.') ||
                    (len == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (!slash)
                        return true;
                c = slash + 1;
        }
}

/* If path is strictly below base, returns the part after "base/"; else NULL. */
static const char *below(const char *path, const char *base)
{
        size_t bl = strlen(base);

        if (bl == 1 && base[0] == '/')
                return path[0] == '/' && path[1] ? path + 1 : NULL;
        if (strncmp(path, base, bl) != 0 || path[bl] != '/' || path[bl + 1] == '\0')
                return NULL;
        return path + bl + 1;
}

static char *join_dup(const char *a, const char *b)
{
        char *s = NULL;

        if (a[0] == '/' && a[1] == '\0')
                return asprintf(&s, "/%s", b) < 0 ? NULL : s;
        return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

/* The agent's own cgroup in the cpu hierarchy, from /proc/self/cgroup. */
static int self_cgroup_path(cg_ctx *ctx, char **ret)
{
        char *text = NULL, *rel = NULL, *abs;
        int r;

        r = cg__read_all(ctx->proc_cgroup_path, &text);
        if (r < 0)
                return r;
        r = cg_parse_proc_cgroup(text, ctx->mode == CG_MODE_V2 ? NULL : "cpu", &rel);
        free(text);
        if (r < 0)
                return r;
        if (strcmp(rel, "/") == 0)
                abs = strdup(ctx->mount);
        else
                abs = join_dup(ctx->mount, rel + 1);
        free(rel);
        if (!abs)
                return -ENOMEM;
        *ret = abs;
        return 0;
}

/* ---- libcgroup ---- */

/* cgroup_init() reads the mount table into libcgroup's global state; once per process. */
static int lcg_init_once(void)
{
        static int state; /* 0 not tried, 1 ok, <0 failed */

        if (state == 0) {
                int r = cgroup_init();
                state = r == 0 ? 1 : cg__lcg_errno(r);
                if (state == 0)
                        state = -EIO;
        }
        return state < 0 ? state : 0;
}

/* libcgroup fits when it sees the same cpu mount point we detected (not for a temp-dir root). */
static void lcg_setup(cg_ctx *ctx)
{
        const char *rel;
        char *mp = NULL;

        if (lcg_init_once() < 0)
                return;
        if (cgroup_get_subsys_mount_point("cpu", &mp) != 0 || !mp)
                return;
        if (strcmp(mp, ctx->mount) == 0) {
                if (ctx->acct_mount) {
                        char *amp = NULL;
                        bool same = cgroup_get_subsys_mount_point("cpuacct", &amp) == 0 && amp &&
                                    strcmp(amp, ctx->acct_mount) == 0;
                        free(amp);
                        if (!same) {
                                free(mp);
                                return;
                        }
                }
                rel = below(ctx->root, ctx->mount);
                ctx->lcg_prefix = rel ? strdup(rel) : NULL;
                ctx->use_libcgroup = ctx->lcg_prefix != NULL;
        }
        free(mp);
}

int cg__lcg_create(cg_ctx *ctx, const char *rel, struct cgroup **ret)
{
        struct cgroup *cg;
        char *name = NULL;
        int r;

        if (*rel)
                r = asprintf(&name, "%s/%s", ctx->lcg_prefix, rel);
        else
                r = asprintf(&name, "%s", ctx->lcg_prefix);
        if (r < 0)
                return -ENOMEM;
        cg = cgroup_new_cgroup(name);
        free(name);
        if (!cg)
                return -ENOMEM;
        if (!cgroup_add_controller(cg, "cpu") || (ctx->mode == CG_MODE_V1 && !ctx->no_cpuacct &&
                                                  !cgroup_add_controller(cg, "cpuacct"))) {
                cgroup_free(&cg);
                return -ENOMEM;
        }
        /* Creates the directory and its missing parents in every hierarchy of the controllers
         * added. The object carries no values, so nothing else is written (issue #323 is about
         * writing back a loaded group; we never load one). ignore_ownership=1: no chown. */
        r = cg__lcg_errno(cgroup_create_cgroup(cg, 1));
        if (r < 0 || !ret)
                cgroup_free(&cg);
        else
                *ret = cg;
        return r;
}

/* ---- context ---- */

static int pick_root(cg_ctx *ctx, const cg_options *o, const cg_mounts *m)
{
        const char *rel;

        ctx->mount = strdup(ctx->mode == CG_MODE_V1 ? m->cpu_v1 : m->unified);
        if (!ctx->mount)
                return -ENOMEM;
        ctx->no_cpuacct = ctx->mode == CG_MODE_V1 && !m->cpuacct_v1;
        if (ctx->mode == CG_MODE_V1 && m->cpuacct_v1 && strcmp(m->cpuacct_v1, m->cpu_v1) != 0) {
                ctx->acct_mount = strdup(m->cpuacct_v1);
                if (!ctx->acct_mount)
                        return -ENOMEM;
        }
        if (self_cgroup_path(ctx, &ctx->self_path) < 0)
                ctx->self_path = NULL; /* unknown: stale removal then only skips open groups */

        if (o->root) {
                if (!abs_path_ok(o->root) || !below(o->root, ctx->mount))
                        return cg__fail(ctx, -EINVAL,
                                        "root %s must be an absolute path strictly below the cpu "
                                        "hierarchy %s",
                                        o->root, ctx->mount);
                ctx->root = strdup(o->root);
        } else if (ctx->mode == CG_MODE_V2 && ctx->self_path &&
                   strcmp(ctx->self_path, ctx->mount) != 0) {
                /* systemd delegated us our own cgroup (Delegate=yes) */
                ctx->root = strdup(ctx->self_path);
        } else {
                ctx->root = join_dup(ctx->mount, "sponged");
        }
        if (!ctx->root)
                return -ENOMEM;
        if (ctx->mode == CG_MODE_V2 && ctx->self_path && strcmp(ctx->self_path, ctx->root) == 0)
                ctx->root_is_self = true;
        if (ctx->acct_mount) {
                rel = below(ctx->root, ctx->mount);
                ctx->acct_root = join_dup(ctx->acct_mount, rel);
                if (!ctx->acct_root)
                        return -ENOMEM;
        }
        return 0;
}

/* The start-up line; a long path is cut, which is harmless for a log line. */
__attribute__((format(printf, 2, 3))) static void set_note(cg_ctx *ctx, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(ctx->note, sizeof(ctx->note), fmt, ap);
        va_end(ap);
}

static void set_none(cg_ctx *ctx, const char *why, const char *detail)
{
        ctx->be = &cg__backend_none;
        ctx->mode = CG_MODE_NONE;
        ctx->use_libcgroup = false;
        set_note(ctx, "none: %s%s%s%s; limits are recorded, nothing is applied", why,
                 detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
}

static int check_options(const cg_options *o, uint32_t *period, uint32_t *capacity)
{
        long n;

        *period = o->period_us ? o->period_us : CG_PERIOD_DEFAULT_US;
        if (*period < CG_PERIOD_MIN_US || *period > CG_PERIOD_MAX_US)
                return -EINVAL;
        if (o->capacity_millicores) {
                *capacity = o->capacity_millicores;
        } else {
                n = sysconf(_SC_NPROCESSORS_ONLN);
                *capacity = n > 0 ? (uint32_t)n * 1000u : 1000u;
        }
        if (*capacity == CG_MILLICORES_UNLIMITED || *capacity < cg_min_millicores(*period))
                return -EINVAL;
        if (o->mode > CG_REQUEST_NONE)
                return -EINVAL;
        return 0;
}

static int open_detected(cg_ctx *ctx, const cg_options *o)
{
        cg_mounts m = {0};
        cg_mode mode;
        int r;

        r = detect_full(o->mounts_path, &mode, &m);
        if (r < 0)
                return cg__fail(ctx, r, "read %s",
                                o->mounts_path ? o->mounts_path : "/proc/self/mountinfo");
        if ((o->mode == CG_REQUEST_V1 && mode != CG_MODE_V1) ||
            (o->mode == CG_REQUEST_V2 && mode != CG_MODE_V2)) {
                cg_mounts_done(&m);
                return cg__fail(ctx, -ENODEV, "cgroup %s requested, cpu controller is on %s",
                                o->mode == CG_REQUEST_V1 ? "v1" : "v2",
                                mode == CG_MODE_NONE ? "no hierarchy" : cg_mode_name(mode));
        }
        if (mode == CG_MODE_NONE) {
                cg_mounts_done(&m);
                set_none(ctx, "no cpu controller mounted",
                         "neither on v1 nor in cgroup2's cgroup.controllers");
                return 0;
        }
        ctx->mode = mode;
        ctx->be = mode == CG_MODE_V1 ? &cg__backend_v1 : &cg__backend_v2;
        r = pick_root(ctx, o, &m);
        cg_mounts_done(&m);
        if (r < 0)
                return r == -ENOMEM ? cg__fail(ctx, r, "choose root") : r;
        lcg_setup(ctx);
        r = ctx->be->open_root(ctx);
        if (r < 0) {
                if (o->mode == CG_REQUEST_AUTO && (r == -EACCES || r == -EPERM || r == -EROFS)) {
                        set_none(ctx,
                                 mode == CG_MODE_V1 ? "no rights on cgroup v1"
                                                    : "no rights on cgroup v2",
                                 ctx->err);
                        ctx->err[0] = '\0';
                        return 0;
                }
                return r;
        }
        set_note(ctx, "%s: cpu controller at %s%s%s%s, root %s%s%s", cg_mode_name(mode), ctx->mount,
                 ctx->acct_mount ? ", cpuacct at " : "", ctx->acct_mount ? ctx->acct_mount : "",
                 ctx->no_cpuacct ? " (no cpuacct hierarchy: usage_us reads 0)" : "", ctx->root,
                 ctx->root_is_self ? " (own cgroup; agent moved to agent/)" : "",
                 ctx->use_libcgroup ? ", libcgroup" : ", direct file I/O");
        return 0;
}

int cg_open_err(const cg_options *opts, cg_ctx **ret, char *err, size_t err_size)
{
        static const cg_options defaults = {0};
        const cg_options *o = opts ? opts : &defaults;
        cg_ctx *ctx;
        int r;

        if (err && err_size)
                err[0] = '\0';
        if (!ret)
                return -EINVAL;
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        ctx->proc_cgroup_path = o->proc_cgroup_path ? o->proc_cgroup_path : "/proc/self/cgroup";
        r = check_options(o, &ctx->period_us, &ctx->capacity_millicores);
        if (r < 0) {
                cg__fail(ctx, r,
                         "options: mode %d, period_us %u (accepted %u..%u), capacity %u millicores",
                         (int)o->mode, o->period_us, CG_PERIOD_MIN_US, CG_PERIOD_MAX_US,
                         o->capacity_millicores);
        } else if (o->mode == CG_REQUEST_NONE) {
                ctx->root = strdup(o->root ? o->root : "");
                r = ctx->root ? 0 : -ENOMEM;
                set_none(ctx, "requested", NULL);
        } else {
                r = open_detected(ctx, o);
        }
        if (r == 0 && !ctx->root) {
                ctx->root = strdup("");
                r = ctx->root ? 0 : -ENOMEM;
        }
        if (r < 0) {
                if (err && err_size)
                        snprintf(err, err_size, "%s", ctx->err[0] ? ctx->err : strerror(-r));
                cg_ctx_free(ctx);
                return r;
        }
        *ret = ctx;
        return 0;
}

int cg_open(const cg_options *opts, cg_ctx **ret)
{
        return cg_open_err(opts, ret, NULL, 0);
}

cg_ctx *cg_ctx_free(cg_ctx *ctx)
{
        if (!ctx)
                return NULL;
        while (ctx->groups)
                cg_group_free(ctx->groups);
        free(ctx->mount);
        free(ctx->acct_mount);
        free(ctx->root);
        free(ctx->acct_root);
        free(ctx->lcg_prefix);
        free(ctx->self_path);
        free(ctx);
        return NULL;
}

cg_mode cg_ctx_mode(const cg_ctx *ctx)
{
        return ctx ? ctx->mode : CG_MODE_NONE;
}

const char *cg_ctx_root_path(const cg_ctx *ctx)
{
        return ctx && ctx->root ? ctx->root : "";
}

uint32_t cg_ctx_period_us(const cg_ctx *ctx)
{
        return ctx ? ctx->period_us : 0;
}

uint32_t cg_ctx_capacity_millicores(const cg_ctx *ctx)
{
        return ctx ? ctx->capacity_millicores : 0;
}

const char *cg_ctx_note(const cg_ctx *ctx)
{
        return ctx ? ctx->note : "";
}

const char *cg_last_error(const cg_ctx *ctx)
{
        return ctx ? ctx->err : "";
}

int cg_remove_stale(cg_ctx *ctx)
{
        if (!ctx)
                return -EINVAL;
        ctx->err[0] = '\0';
        return ctx->be->remove_stale(ctx);
}

int cg_ctx_remove_root(cg_ctx *ctx)
{
        if (!ctx)
                return -EINVAL;
        if (ctx->mode == CG_MODE_NONE)
                return 0;
        if (ctx->root_is_self || ctx->groups)
                return cg__fail(ctx, -EBUSY, "remove root %s (%s)", ctx->root,
                                ctx->root_is_self ? "it is the agent's own cgroup"
                                                  : "groups are still open");
        if (rmdir(ctx->root) < 0 && errno != ENOENT)
                return cg__fail(ctx, -errno, "rmdir %s", ctx->root);
        if (ctx->acct_root && rmdir(ctx->acct_root) < 0 && errno != ENOENT)
                return cg__fail(ctx, -errno, "rmdir %s", ctx->acct_root);
        return 0;
}

/* ---- groups ---- */

/* Frees g's memory (libcgroup handle, paths, g itself); unlinked, its files closed. */
static void group_release(cg_group *g)
{
        if (g->lcg)
                cgroup_free(&g->lcg);
        free(g->relpath);
        free(g->path);
        free(g->acct_path);
        free(g);
}

int cg_group_create(cg_ctx *ctx, const char *relpath, cg_group **ret)
{
        cg_group *g, *o;
        int r;

        if (!ctx || !ret)
                return -EINVAL;
        if (!relpath_ok(relpath))
                return cg__fail(ctx, -EINVAL,
                                "group \"%s\": want 1..%d components of [A-Za-z0-9_.-], none "
                                "starting with '.', first not \"%s\"",
                                relpath ? relpath : "(null)", CG__MAX_DEPTH, CG__AGENT_LEAF);
        for (o = ctx->groups; o; o = o->next)
                if (strcmp(o->relpath, relpath) == 0)
                        return cg__fail(ctx, -EEXIST, "group %s already open", o->path);
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->ctx = ctx;
        g->quota_fd = g->stat_fd = g->usage_fd = -1;
        g->quota_us = CG_QUOTA_UNLIMITED;
        g->relpath = strdup(relpath);
        g->path = ctx->root[0] ? join_dup(ctx->root, relpath) : strdup(relpath);
        if (ctx->acct_root)
                g->acct_path = join_dup(ctx->acct_root, relpath);
        if (!g->relpath || !g->path || (ctx->acct_root && !g->acct_path)) {
                group_release(g); /* not linked yet */
                return cg__fail(ctx, -ENOMEM, "create group %s", relpath);
        }
        r = ctx->be->group_create(g);
        if (r < 0) {
                ctx->be->group_close(g);
                group_release(g);
                return r;
        }
        g->next = ctx->groups;
        if (ctx->groups)
                ctx->groups->prev = g;
        ctx->groups = g;
        *ret = g;
        return 0;
}

cg_group *cg_group_free(cg_group *g)
{
        cg_ctx *ctx;

        if (!g)
                return NULL;
        ctx = g->ctx;
        ctx->be->group_close(g);
        if (g->prev)
                g->prev->next = g->next;
        else
                ctx->groups = g->next;
        if (g->next)
                g->next->prev = g->prev;
        group_release(g);
        return NULL;
}

int cg_group_attach(cg_group *g, pid_t pid)
{
        if (!g)
                return -EINVAL;
        if (pid <= 0)
                return cg__fail(g->ctx, -EINVAL, "attach pid %d to %s", (int)pid, g->path);
        return g->ctx->be->attach(g, pid);
}

int cg_group_set_millicores(cg_group *g, uint32_t millicores)
{
        cg_ctx *ctx;
        uint64_t quota;
        int r;

        if (!g)
                return -EINVAL;
        ctx = g->ctx;
        r = cg_millicores_to_quota(millicores, ctx->period_us, ctx->capacity_millicores, &quota);
        if (r < 0)
                return cg__fail(ctx, r, "set %u millicores on %s (accepted %u..%u at period %u us)",
                                millicores, g->path, cg_min_millicores(ctx->period_us),
                                ctx->capacity_millicores, ctx->period_us);
        return ctx->be->set_quota(g, quota);
}

int cg_group_get_millicores(cg_group *g, uint32_t *ret_millicores)
{
        uint64_t quota, period;
        uint32_t m;
        int r;

        if (!g || !ret_millicores)
                return -EINVAL;
        r = g->ctx->be->get_quota(g, &quota, &period);
        if (r < 0)
                return r;
        r = cg_quota_to_millicores(quota, period, &m);
        if (r < 0)
                return cg__fail(g->ctx, r, "convert quota %llu / period %llu of %s",
                                (unsigned long long)quota, (unsigned long long)period, g->path);
        *ret_millicores = m;
        return 0;
}

int cg_group_read_stat(cg_group *g, cg_stat *ret)
{
        if (!g || !ret)
                return -EINVAL;
        return g->ctx->be->read_stat(g, ret);
}

int cg_group_pids(cg_group *g, pid_t **ret, size_t *ret_n)
{
        if (!g || !ret || !ret_n)
                return -EINVAL;
        return g->ctx->be->pids(g, ret, ret_n);
}

const char *cg_group_path(const cg_group *g)
{
        return g ? g->path : "";
}

/* Removes now-empty ancestors of g up to (not including) the root; failures (still in use by
 * another group: ENOTEMPTY/EBUSY) end the climb and are not errors. */
static void remove_empty_parents(const cg_ctx *ctx, const char *path, const char *root)
{
        char buf[PATH_MAX];
        size_t rl = strlen(root);

        if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
                return;
        for (;;) {
                char *slash = strrchr(buf, '/');
                if (!slash || (size_t)(slash - buf) <= rl)
                        return;
                *slash = '\0';
                if (cg__path_in_use(ctx, buf) || rmdir(buf) < 0)
                        return;
        }
}

int cg_group_kill_and_destroy(cg_group *g)
{
        cg_ctx *ctx;
        int r;

        if (!g)
                return 0;
        ctx = g->ctx;
        r = ctx->be->kill(g);
        if (r == 0)
                r = ctx->be->remove(g);
        if (r == 0)
                cg__limits_remove(g);
        if (r == 0 && ctx->mode != CG_MODE_NONE) {
                char *path = g->path, *acct = g->acct_path;
                g->path = g->acct_path = NULL;
                cg_group_free(g); /* first, so the climb does not see g as in use */
                remove_empty_parents(ctx, path, ctx->root);
                if (acct)
                        remove_empty_parents(ctx, acct, ctx->acct_root);
                free(path);
                free(acct);
                return 0;
        }
        cg_group_free(g);
        return r;
}
