/* SPDX-License-Identifier: see LICENSE */
/*
 * Private to the cgroups module: the context and group structs, the backend table, and the small
 * file helpers shared by the backends. Nothing here is part of the public API.
 */
#pragma once

#include "cgroups/cgroups.h"

#include <limits.h>
#include <stdarg.h>

#define CG__ERR_SIZE  512
#define CG__NOTE_SIZE 512
/* Upper bound of how long a kill waits for a group to empty (SIGKILL'ed tasks leave the group
 * when they exit, not when they are reaped; on a loaded 2-core machine that takes milliseconds). */
#define CG__KILL_WAIT_US 5000000u

struct cgroup; /* libcgroup */

/* One backend: crun-style table of function pointers. Each returns 0 or -errno and fills
 * ctx->err (through cg__fail) on failure. */
typedef struct cg_backend {
        const char *name;
        /* Prepares ctx->root (and mirrors) after detection. */
        int (*open_root)(cg_ctx *ctx);
        /* Makes the directories of g, writes the period, opens the hot-path fds. */
        int (*group_create)(cg_group *g);
        /* Closes what group_create opened (never fails). */
        void (*group_close)(cg_group *g);
        int (*attach)(cg_group *g, pid_t pid);
        /* quota_us may be CG_QUOTA_UNLIMITED. Verifies by reading back. */
        int (*set_quota)(cg_group *g, uint64_t quota_us);
        int (*get_quota)(cg_group *g, uint64_t *ret_quota_us, uint64_t *ret_period_us);
        int (*read_stat)(cg_group *g, cg_stat *ret);
        int (*pids)(cg_group *g, pid_t **ret, size_t *ret_n);
        /* Kills all processes of g and waits until the group is empty. */
        int (*kill)(cg_group *g);
        /* Removes the directories of g (and its mirror), not its ancestors. */
        int (*remove)(cg_group *g);
        /* Removes everything below the root left by a previous run; returns the count removed. */
        int (*remove_stale)(cg_ctx *ctx);
} cg_backend;

extern const cg_backend cg__backend_v2;
extern const cg_backend cg__backend_v1;
extern const cg_backend cg__backend_none;

struct cg_ctx {
        const cg_backend *be; /* static, not owned */
        cg_mode mode;
        char *mount;      /* cpu hierarchy mount point (owned; NULL for none without a mount) */
        char *acct_mount; /* v1 cpuacct mount when separate from the cpu one (owned), else NULL */
        char *root;       /* absolute root in the cpu hierarchy (owned; "" when unknown) */
        char *acct_root;  /* v1: the root mirrored in acct_mount (owned), else NULL */
        bool no_cpuacct;  /* v1 without a cpuacct hierarchy: usage_us reads 0 */
        const char *proc_cgroup_path; /* /proc/self/cgroup or the test's file (borrowed) */
        uint32_t period_us;
        uint32_t capacity_millicores;
        /* libcgroup knows the hierarchy the root lives in (cgroup_init succeeded and its cpu mount
         * point is ours); false for a test's temp-dir root, where direct file I/O is used. */
        bool use_libcgroup;
        char *lcg_prefix; /* the root relative to the mount, libcgroup's group name prefix */
        /* The agent's own cgroup in the cpu hierarchy (owned; NULL if unknown). Stale removal
         * never touches it or its ancestors. */
        char *self_path;
        /* v2: the root is the agent's own (delegated) cgroup, so it moved into <root>/agent. */
        bool root_is_self;
        cg_group *groups; /* intrusive list of open groups (owned: freed by cg_ctx_free) */
        char note[CG__NOTE_SIZE];
        char err[CG__ERR_SIZE];
};

struct cg_group {
        cg_ctx *ctx; /* borrowed; outlives the group */
        cg_group *prev, *next;
        char *relpath;      /* owned, validated */
        char *path;         /* owned: <root>/<relpath> */
        char *acct_path;    /* owned: v1 cpuacct mirror, NULL when co-mounted or not v1 */
        struct cgroup *lcg; /* libcgroup object (name + controllers, never values), or NULL */
        int quota_fd;       /* v2 cpu.max, v1 cpu.cfs_quota_us; -1 when closed */
        int stat_fd;        /* cpu.stat */
        int usage_fd;       /* v1 cpuacct.usage */
        /* none backend: what would have been applied */
        uint64_t quota_us;
        int *pidfds; /* pidfd per recorded pid (-1 when pidfd_open is unavailable) */
        pid_t *pids;
        size_t n_pids;
};

/* ---- errors ---- */

/* Formats fmt into ctx->err followed by ": <strerror(-r)>" and returns r (negative errno). */
int cg__fail(cg_ctx *ctx, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Maps a libcgroup ECG* return to a negative errno (its last errno for ECGOTHER). */
int cg__lcg_errno(int lcg_ret);

/* ---- paths and files (direct I/O) ---- */

/* dir + "/" + name into buf; -ENAMETOOLONG if it does not fit. */
int cg__join(char *buf, size_t size, const char *dir, const char *name);
/* Open dir/name with flags | O_CLOEXEC. Returns the fd or -errno. */
int cg__open_at(const char *dir, const char *name, int flags);
/* Write value to dir/name in one write(2). 0 or -errno. */
int cg__write_at(const char *dir, const char *name, const char *value);
/* Read dir/name into buf (NUL-terminated, truncated to size-1). Length or -errno. */
int cg__read_at(const char *dir, const char *name, char *buf, size_t size);
/* Read a whole file of any size into a malloc'ed NUL-terminated string. 0 or -errno. */
int cg__read_all(const char *path, char **ret);
/* pread(fd, 0) into buf (NUL-terminated). Length or -errno. */
int cg__pread_str(int fd, char *buf, size_t size);
/* mkdir -p of rel below base (base must exist); existing directories are fine, an existing
 * non-directory is -EEXIST. 0 or -errno. */
int cg__mkdir_below(const char *base, const char *rel);
/* v1: removes g's mirrors in the memory and pids hierarchies (cg-limits.c); never fails. */
void cg__limits_remove(cg_group *g);
/* Parses cgroup.procs text into a malloc'ed array. 0 or -errno. */
int cg__parse_pids(const char *text, pid_t **ret, size_t *ret_n);
/* Reads dir/cgroup.procs. A missing directory counts as empty. 0 or -errno. */
int cg__read_pids(const char *dir, pid_t **ret, size_t *ret_n);
/* Sends SIGKILL to every pid in dir/cgroup.procs until it is empty or wait_us has passed.
 * Returns 0 when empty, -EBUSY on time-out, -errno on a read error. */
int cg__kill_until_empty(const char *dir, uint64_t wait_us);
/* Waits until dir/cgroup.procs is empty (a missing dir counts as empty). 0, -EBUSY, -errno. */
int cg__wait_empty(const char *dir, uint64_t wait_us);
/* Post-order walk below dir: for every descendant directory (deepest first) calls
 * fn(path, arg); the walk stops at the first negative return of fn only if stop_on_error. The
 * top directory itself is not visited. Returns the number of visited directories or the first
 * -errno. */
typedef int (*cg__dir_fn)(const char *path, void *arg);
int cg__walk_post(const char *dir, cg__dir_fn fn, void *arg);

/* Decimal formatting without snprintf (hot path). Returns the length; buf needs 21 bytes. */
size_t cg__fmt_u64(char *buf, uint64_t v);

uint64_t cg__now_us(void);
void cg__sleep_us(uint64_t us);

/* libcgroup: creates <mount>/<lcg_prefix>/<rel> (rel may be "" for the root itself) with the
 * cpu controller (and cpuacct on v1); on success *ret (may be NULL) gets the object, which
 * carries the name and controllers only, never values. 0 or -errno. */
int cg__lcg_create(cg_ctx *ctx, const char *rel, struct cgroup **ret);

/* True when path is an open group's path (or a v1 mirror) or an ancestor of one. */
bool cg__path_in_use(const cg_ctx *ctx, const char *path);
