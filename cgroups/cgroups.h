/* SPDX-License-Identifier: see LICENSE */
/*
 * cgroups — one cgroup per worker replica, CPU quota resized in place.
 *
 * What it does
 *   Finds where the cpu controller lives (cgroup v2, or the v1 cpu/cpuacct hierarchies), owns one
 *   subtree ("the root"), creates one group per replica below it (<root>/<pipeline>/<stage>/
 *   <replica>), attaches pids, writes the CPU limit in millicores, reads it back, reads usage and
 *   throttling counters, and kills + removes groups. Three backends sit behind one small table of
 *   function pointers (crun style):
 *     v2   cgroup2: cpu.max, cpu.stat, cgroup.procs, cgroup.subtree_control, cgroup.kill
 *     v1   cpu + cpuacct controllers: cpu.cfs_quota_us, cpu.cfs_period_us, cpu.stat,
 *          cpuacct.usage (the cpuacct hierarchy may be a separate mount; groups are mirrored there)
 *     none no privileges / no cpu controller: records every value in memory, applies nothing, and
 *          says so through cg_ctx_mode() and cg_ctx_note().
 *   libcgroup 2.0.2 is used for discovery, creation and (v2) attach; the hot path (resize) is one
 *   pwrite on a file descriptor held open since creation, plus one pread to verify.
 *
 * Invariants
 *   - Every group lives strictly below the root; relpaths never contain "..", empty components or
 *     a leading '/'.
 *   - The CFS period is fixed per context (cg_options.period_us) and written once when a group is
 *     created; a resize only changes the quota.
 *   - A group's limit is always within [CG_QUOTA_MIN_US per period, capacity]; values outside are
 *     rejected (-ERANGE) before anything is written.
 *   - On v2 no process lives in an inner node: when the root is the agent's own cgroup the agent
 *     moves itself into the leaf "<root>/agent" before enabling +cpu in subtree_control.
 *   - A resize that the kernel accepted but reads back differently fails with -EIO.
 *   - libcgroup is never used to load a whole group and write it back (upstream issue #323: that
 *     rewrites every value); values are always written one file at a time.
 *
 * Errors
 *   Functions that can fail return 0 or a negative errno; ret_* outputs are untouched on failure.
 *   The module never logs. After a failure, cg_last_error(ctx) holds one line naming the operation,
 *   the path and the value ("write 30000 to /sys/fs/cgroup/cpu/sponged/p/s/0/cpu.cfs_quota_us:
 *   Invalid argument (...)"), for the caller's single log line.
 *
 * Threads
 *   A context and its groups are owned by one thread (the agent's control loop); no locking here.
 *   The pure helpers (parsers, conversions) are thread-safe.
 *
 * Lifecycle / API walk-through
 *   cg_options o = {0};                          // auto mode, default root, 100 ms period
 *   cg_ctx *ctx; cg_open(&o, &ctx);              // detect mode once, prepare the root
 *   log("cgroups: %s", cg_ctx_note(ctx));        // the one start-up line
 *   cg_remove_stale(ctx);                        // groups left by a crashed predecessor
 *   cg_group *g; cg_group_create(ctx, "p/s/0", &g);
 *   cg_group_attach(g, pid);
 *   cg_group_set_millicores(g, 250);             // hot path, a quarter core
 *   cg_stat st; cg_group_read_stat(g, &st);
 *   cg_group_kill_and_destroy(g);                // kills, rmdirs, frees g
 *   cg_ctx_free(ctx);                            // frees remaining group objects (not kernel
 * groups)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants ------------------------------------------------------------------------------ */

/* Default CFS period: the kernel's default (Documentation/scheduler/sched-bwc.rst). */
#define CG_PERIOD_DEFAULT_US 100000u
/* Accepted period range, as the kernel's: 1 ms .. 1 s (sched-bwc.rst, "cpu.cfs_period_us"). */
#define CG_PERIOD_MIN_US 1000u
#define CG_PERIOD_MAX_US 1000000u
/* The kernel rejects a quota below 1 ms per period (sched-bwc.rst: "minimum quota ... 1ms"). */
#define CG_QUOTA_MIN_US 1000u
/* "No limit" in millicores (cpu.max "max", cfs_quota_us -1). */
#define CG_MILLICORES_UNLIMITED UINT32_MAX
/* "No limit" as a quota (what cg_parse_cpu_max returns for "max"). */
#define CG_QUOTA_UNLIMITED UINT64_MAX

/* ---- modes and detection -------------------------------------------------------------------- */

typedef enum { CG_MODE_NONE, CG_MODE_V1, CG_MODE_V2 } cg_mode;

/* "none", "v1", "v2"; "?" for anything else. */
const char *cg_mode_name(cg_mode mode);

/* Where the controllers we need are mounted, as parsed from mountinfo or /proc/mounts text.
 * Strings are owned by the struct; free with cg_mounts_done(). NULL = not mounted. */
typedef struct {
        char *cpu_v1;     /* v1 hierarchy carrying "cpu" (may also carry cpuacct) */
        char *cpuacct_v1; /* v1 hierarchy carrying "cpuacct" (equal to cpu_v1 when co-mounted) */
        char *unified;    /* first cgroup2 mount */
} cg_mounts;

/* Parses /proc/self/mountinfo text (lines with " - ") or /proc/mounts text (fstab format);
 * octal escapes (\040) are decoded. Returns 0, -EINVAL on a malformed cgroup line, -ENOMEM.
 * On failure *ret is untouched. */
int cg_parse_mounts(const char *text, cg_mounts *ret);
void cg_mounts_done(cg_mounts *m);

/* Decides the mode: the cpu controller on a v1 hierarchy -> V1; else a cgroup2 mount whose
 * <mount>/cgroup.controllers lists "cpu" -> V2; else NONE (with *ret_cpu_mount NULL).
 * mounts_path: a mountinfo or mounts file; NULL reads /proc/self/mountinfo.
 * *ret_cpu_mount (malloc'ed, may be NULL for NONE) is the directory holding the cpu files' root.
 * Returns 0, or -errno when the mounts file cannot be read or parsed. */
int cg_detect(const char *mounts_path, cg_mode *ret_mode, char **ret_cpu_mount);

/* ---- pure parsers and formatters (memory buffers) ------------------------------------------- */

/* From /proc/<pid>/cgroup text: the path of `controller` ("cpu", matched within comma lists of
 * v1 lines) or, with controller NULL, of the v2 line "0::<path>". Returns 0, -ENOENT when no line
 * matches, -EINVAL on a malformed line, -ENOMEM. *ret_path is malloc'ed. */
int cg_parse_proc_cgroup(const char *text, const char *controller, char **ret_path);

/* cpu.max: "<quota|max> <period>\n". quota "max" -> CG_QUOTA_UNLIMITED. Returns 0 or -EINVAL. */
int cg_parse_cpu_max(const char *text, uint64_t *ret_quota_us, uint64_t *ret_period_us);

/* Writes "<quota|max> <period>\n" into buf (NUL-terminated). Returns the length written
 * (excluding NUL), -ENOBUFS if it does not fit, -EINVAL for a zero period. */
int cg_format_cpu_max(uint64_t quota_us, uint64_t period_us, char *buf, size_t size);

/* One unsigned or signed decimal value with optional trailing whitespace ("-1\n" for v1's
 * unlimited quota; "123\n"). Returns 0 or -EINVAL / -ERANGE. */
int cg_parse_u64(const char *text, uint64_t *ret);
int cg_parse_i64(const char *text, int64_t *ret);

typedef struct {
        uint64_t usage_us;     /* CPU time consumed by the group (v1: cpuacct.usage / 1000) */
        uint64_t nr_periods;   /* enforcement periods that had runnable tasks */
        uint64_t nr_throttled; /* periods in which the group was throttled */
        uint64_t throttled_us; /* total time throttled (v1: throttled_time / 1000) */
} cg_stat;

/* cpu.stat, both forms: v2 keys usage_usec, nr_periods, nr_throttled, throttled_usec; v1 keys
 * nr_periods, nr_throttled, throttled_time (ns). Unknown keys are ignored; keys absent stay 0
 * (v1 has no usage: fill it from cpuacct.usage). Returns 0 or -EINVAL on a malformed line. */
int cg_parse_cpu_stat(const char *text, cg_stat *ret);

/* ---- millicore conversion (pure) ------------------------------------------------------------ */

/* quota_us = round(millicores * period_us / 1000), ties rounded up.
 * Rejected with -ERANGE: millicores 0, rounded quota below CG_QUOTA_MIN_US, millicores above
 * capacity_millicores. -EINVAL: period outside [CG_PERIOD_MIN_US, CG_PERIOD_MAX_US].
 * CG_MILLICORES_UNLIMITED -> CG_QUOTA_UNLIMITED. For period >= 1000 us the round trip through
 * cg_quota_to_millicores() returns the same millicores. */
int cg_millicores_to_quota(uint32_t millicores, uint32_t period_us, uint32_t capacity_millicores,
                           uint64_t *ret_quota_us);

/* millicores = round(quota_us * 1000 / period_us), ties up; CG_QUOTA_UNLIMITED ->
 * CG_MILLICORES_UNLIMITED. -EINVAL for period 0, -ERANGE if the result exceeds UINT32_MAX-1. */
int cg_quota_to_millicores(uint64_t quota_us, uint64_t period_us, uint32_t *ret_millicores);

/* Smallest millicores accepted at this period: the least m whose rounded quota is >=
 * CG_QUOTA_MIN_US, ceil((1000 * CG_QUOTA_MIN_US - 500) / period_us) (10 at 100 ms, 1000 at 1 ms).
 */
uint32_t cg_min_millicores(uint32_t period_us);

/* ---- context -------------------------------------------------------------------------------- */

typedef enum {
        CG_REQUEST_AUTO = 0, /* detect; fall back to none when no cpu controller or no rights */
        CG_REQUEST_V2,       /* v2 or fail (-ENODEV) */
        CG_REQUEST_V1,       /* v1 or fail (-ENODEV) */
        CG_REQUEST_NONE,     /* apply nothing */
} cg_request;

typedef struct {
        cg_request mode;
        /* The subtree the agent owns (absolute path inside the cpu hierarchy, e.g.
         * "/sys/fs/cgroup/cpu/sponged"). NULL: v2 -> the agent's own cgroup from /proc/self/cgroup
         * (if that is the hierarchy's root: <mount>/sponged); v1 -> <cpu mount>/sponged. Created
         * when missing. On v1 the same relative path is created in a separate cpuacct mount. */
        const char *root;
        uint32_t period_us;           /* 0 -> CG_PERIOD_DEFAULT_US */
        uint32_t capacity_millicores; /* 0 -> online CPUs * 1000 */
        /* Test injection: NULL -> /proc/self/mountinfo and /proc/self/cgroup. */
        const char *mounts_path;
        const char *proc_cgroup_path;
} cg_options;

typedef struct cg_ctx cg_ctx;
typedef struct cg_group cg_group;

/* Detects the mode once and prepares the root (v2: moves the agent into <root>/agent when the root
 * is its own cgroup, enables +cpu in the root's subtree_control). opts may be NULL (all defaults).
 * Returns 0 and *ret, or -errno: -ENODEV (requested mode not available), -EINVAL (bad options),
 * -EACCES/-EPERM (no rights; only when a mode was requested explicitly: AUTO falls back to none
 * and says why in cg_ctx_note), -ENOMEM. On failure *ret is untouched. */
int cg_open(const cg_options *opts, cg_ctx **ret);

/* Same, and on failure writes one line of detail (operation, path, value) into err (always
 * NUL-terminated when err_size > 0). */
int cg_open_err(const cg_options *opts, cg_ctx **ret, char *err, size_t err_size);

/* Frees the context and every group object still open (kernel groups are left in place).
 * Accepts NULL; returns NULL. */
cg_ctx *cg_ctx_free(cg_ctx *ctx);

cg_mode cg_ctx_mode(const cg_ctx *ctx);
/* The root path (for none: the path that would have been used, or "" if unknown). */
const char *cg_ctx_root_path(const cg_ctx *ctx);
uint32_t cg_ctx_period_us(const cg_ctx *ctx);
uint32_t cg_ctx_capacity_millicores(const cg_ctx *ctx);
/* One line saying what was detected and chosen, and for none why ("none: ... (applies
 * nothing)"). Never NULL. */
const char *cg_ctx_note(const cg_ctx *ctx);
/* The message of the last failed call on this context or its groups ("" if none). */
const char *cg_last_error(const cg_ctx *ctx);

/* Removes every group below the root left by a previous run (the v2 "agent" leaf excepted; groups
 * opened through this context are skipped), killing their processes first. Returns the number of
 * groups removed (>= 0) or -errno of the first failure (it carries on with the rest). */
int cg_remove_stale(cg_ctx *ctx);

/* Removes the root directory (and its v1 cpuacct mirror) when it is empty: for a clean shutdown
 * of a root the agent created (<mount>/sponged), and for tests. Refused with -EBUSY when the root
 * is the agent's own delegated cgroup or groups are still open; -ENOTEMPTY/-EBUSY from the kernel
 * when groups remain. none: 0. Returns 0 or -errno. */
int cg_ctx_remove_root(cg_ctx *ctx);

/* ---- groups --------------------------------------------------------------------------------- */

/* Creates <root>/<relpath> (intermediate directories too; existing ones are reused; on v2 +cpu
 * is enabled in each parent's subtree_control), writes the context's period, leaves the quota
 * unlimited, and opens the files used on the hot path. Returns 0 and *ret, or -EINVAL (bad
 * relpath), -EEXIST (already open through this context), -errno from the kernel. On failure
 * directories already created stay (cg_remove_stale removes them). */
int cg_group_create(cg_ctx *ctx, const char *relpath, cg_group **ret);

/* Per-replica limits (0 = leave that one unlimited): memory.max and pids.max on v2 (enabling
 * +memory +pids in subtree_control on the way), and on v1 mirrors of the group in the memory
 * (memory.limit_in_bytes) and pids hierarchies where they are mounted, with pid attached there
 * (it is attached to the cpu group by cg_group_attach). Returns 0 when at least one limit is in
 * place, -EOPNOTSUPP when none can be (none backend, controllers absent), or -errno with
 * cg_last_error() set. */
int cg_group_set_limits(cg_group *g, uint64_t memory_bytes, uint64_t pids_max, pid_t pid);

/* Moves the whole process (all threads) into the group. Returns 0 or -errno (-ESRCH: no such
 * pid). */
int cg_group_attach(cg_group *g, pid_t pid);

/* HOT PATH. Sets the CPU limit: one pwrite of the quota on an fd held open, then one pread to
 * verify. millicores may be CG_MILLICORES_UNLIMITED. Returns 0, -ERANGE (out of bounds, nothing
 * written), -EIO (read back differs), -errno from the kernel. On failure the previous limit is in
 * force unless the read-back mismatch says otherwise (see cg_group_get_millicores). */
int cg_group_set_millicores(cg_group *g, uint32_t millicores);

/* Reads the limit in force from the kernel (none: the recorded value). Returns 0 or -errno. */
int cg_group_get_millicores(cg_group *g, uint32_t *ret_millicores);

/* Usage and throttling counters (none: all zero). Returns 0 or -errno. */
int cg_group_read_stat(cg_group *g, cg_stat *ret);

/* Kills every process in the group (v2: cgroup.kill where present; else SIGKILL to each pid until
 * cgroup.procs is empty, bounded wait), then removes the directory (and its v1 cpuacct mirror).
 * The group object is freed in every case (accepts NULL: returns 0). Returns 0 or -errno (-EBUSY:
 * processes still present after the wait; the kernel group is left for cg_remove_stale). Note:
 * zombies the caller has not reaped do not keep the group busy. */
int cg_group_kill_and_destroy(cg_group *g);

/* Frees the object and closes its fds; the kernel group and its processes stay. NULL ok. */
cg_group *cg_group_free(cg_group *g);

/* Absolute path in the cpu hierarchy (none: the path that would have been used). */
const char *cg_group_path(const cg_group *g);

/* The pids in the group (cgroup.procs; none: the recorded pids). *ret is malloc'ed (NULL when
 * *ret_n is 0). Returns 0 or -errno. */
int cg_group_pids(cg_group *g, pid_t **ret, size_t *ret_n);

/* __attribute__((cleanup)) helpers: `__attribute__((cleanup(cg_ctx_freep))) cg_ctx *ctx = NULL;` */
static inline void cg_ctx_freep(cg_ctx **p)
{
        cg_ctx_free(*p);
}
static inline void cg_group_freep(cg_group **p)
{
        cg_group_free(*p);
}

#ifdef __cplusplus
}
#endif
