/*
 * rqdelay — per-replica CPU contention seen from the scheduler, through eBPF.
 *
 * A cgroup quota says how much CPU a worker *may* use, not whether the CPU was there. This
 * module loads small BPF programs on the scheduler's BTF tracepoints and measures, per *key*
 * (one key per worker replica, chosen by the caller):
 *   - run-queue delay: time from "runnable" (woken up, or preempted while still runnable) to
 *     "on a CPU", as a log2 histogram in microseconds, plus count and sum;
 *   - on-CPU time of the key's tasks.
 * Two ways of timing a wait (rqd_mode): by default one program on sched_switch reads what the
 * kernel's own schedstat bookkeeping (CONFIG_SCHED_INFO) already measured; where the kernel
 * lacks it, programs on sched_wakeup/sched_wakeup_new/sched_switch stamp every enqueue. Both
 * give the same figures; the first runs one program per context switch instead of two and
 * costs less (figures in cgroups/bpf/README.md).
 * Tasks are matched to keys by their thread-group id (the worker's pid: covers every thread of
 * its thread pool) or, where the agent runs on cgroup v2, by the id of their v2 cgroup. On a
 * cgroup v1 machine every task's v2 cgroup is the unified root, so tgid keying is the one that
 * works there; both can be used at once (tgid is looked up first).
 *
 * Invariants:
 *   - key < RQD_MAX_KEYS; several tgids/cgroups may share one key (their figures add up).
 *   - The figures of a key only grow (kernel-side accumulators, never reset while loaded);
 *     the caller takes the difference of two reads (rqd_stats_delta) per control interval.
 *   - hist[0] counts delays < 1 us; hist[i] (1 <= i < RQD_NBUCKETS-1) counts delays in
 *     [2^(i-1), 2^i) us; hist[RQD_NBUCKETS-1] counts everything from 2^(RQD_NBUCKETS-2) us up.
 *   - oncpu_ns includes the running stint of a task that is on a CPU at the time of the read,
 *     so a task that never leaves its CPU still shows its time. That part is an estimate: a
 *     stint that ends while rqd_read runs may be left out of that read (at most one stint
 *     per CPU), so oncpu_ns of two reads may go back by that much; rqd_stats_delta clamps it.
 *   - In sched_info mode a wait is recorded when the stint that follows it ends (the kernel
 *     adds it up at switch-in), so a read may lag by one stint per task.
 *   - Delays use the scheduler's runqueue clock, as /proc/<pid>/schedstat does: a task that
 *     preempts at its wakeup may read as 0 us (the scheduler skips that clock update).
 *   - tgids and the thread ids behind the on-CPU estimate are those of the initial pid
 *     namespace: the agent must run in it (a node agent does).
 *   - Nothing is printed: failures return a negative errno and, for rqd_open, a reason.
 *
 * Thread ownership: the watch/unwatch functions update the maps and two counters shared with
 * the programs without locks: call them from one thread at a time (the agent's control
 * thread). rqd_read and the rqd_stats_* helpers may run
 * concurrently with anything but rqd_free.
 *
 * Lifecycle / API walk-through:
 *     char err[256];
 *     rqd *r;
 *     int rc = rqd_open(&r, err, sizeof(err));   // needs root or CAP_BPF+CAP_PERFMON, BTF
 *     if (rc < 0) { log once: "eBPF off: %s", err; carry on without it }
 *     rqd_watch_tgid(r, worker_pid, replica_key); // on every spawn
 *     rqd_stats prev = {0}, cur, d;
 *     each control interval:
 *         rqd_read(r, replica_key, &cur);
 *         rqd_stats_delta(&cur, &prev, &d);  prev = cur;
 *         p50_us = rqd_stats_quantile_us(&d, 0.5); p99_us = rqd_stats_quantile_us(&d, 0.99);
 *     rqd_unwatch_tgid(r, worker_pid);            // on exit
 *     rqd_free(r);                                 // detaches and unloads everything
 */
#ifndef SPONGE_CGROUPS_BPF_RQDELAY_H
#define SPONGE_CGROUPS_BPF_RQDELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RQD_NBUCKETS    32   /* log2 histogram buckets, see the invariants above */
#define RQD_MAX_KEYS    256  /* keys are 0 .. RQD_MAX_KEYS-1 */
#define RQD_MAX_TGIDS   4096 /* watched thread groups at once */
#define RQD_MAX_CGROUPS 1024 /* watched v2 cgroups at once */

/* rqd_open needs CAP_SYS_ADMIN, or both of these (numbers, as older <linux/capability.h> lack
 * them). */
#define RQD_CAP_PERFMON 38
#define RQD_CAP_BPF     39

typedef struct rqd rqd;

typedef enum rqd_mode {
        RQD_MODE_AUTO = 0,       /* SCHED_INFO where /proc/self/schedstat exists, else WAKEUP */
        RQD_MODE_SCHED_INFO = 1, /* sched_switch only; waits from sched_info.run_delay */
        RQD_MODE_WAKEUP = 2,     /* sched_wakeup(_new) + sched_switch; waits from own stamps */
} rqd_mode;

typedef struct rqd_stats {
        uint64_t hist[RQD_NBUCKETS]; /* run-queue delays per log2 microsecond bucket */
        uint64_t count;              /* run-queue delays recorded (sum of hist) */
        uint64_t sum_ns;             /* sum of those delays */
        uint64_t oncpu_ns;           /* time the key's tasks spent on a CPU */
} rqd_stats;

/* Loads and attaches the programs. On success *ret is a new handle and 0 is returned. On
 * failure returns a negative errno, writes a one-line reason into err (if errlen > 0; always
 * NUL-terminated) and leaves *ret untouched:
 *   -EPERM   not root / lacks CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN);
 *   -ENOENT  the kernel has no BTF (/sys/kernel/btf/vmlinux);
 *   -EINVAL, -EACCES, ... the verifier or the kernel refused a program (log tail in err);
 *   -ENOMEM. */
int rqd_open(rqd **ret, char *err, size_t errlen);

/* rqd_open with the timing method chosen: RQD_MODE_AUTO is what rqd_open does; asking for
 * RQD_MODE_SCHED_INFO on a kernel without CONFIG_SCHED_INFO fails with -EOPNOTSUPP. Other
 * failures as rqd_open. */
int rqd_open_mode(rqd_mode mode, rqd **ret, char *err, size_t errlen);

/* The method a loaded handle uses (never RQD_MODE_AUTO), and its name for logs/metrics
 * ("sched_info", "wakeup"; "auto" and "unknown" for the other values). */
rqd_mode rqd_get_mode(const rqd *r);
const char *rqd_mode_name(rqd_mode mode);

/* Makes every thread of process tgid count for key (replacing an earlier key of that tgid).
 * Returns 0, -EINVAL (tgid <= 0 or key >= RQD_MAX_KEYS), -ENOSPC (RQD_MAX_TGIDS watched
 * already) or another negative errno from the kernel; the watch set is unchanged on failure. */
int rqd_watch_tgid(rqd *r, pid_t tgid, uint32_t key);

/* Stops watching tgid. Returns 0 or -ENOENT if it was not watched. The key keeps its figures. */
int rqd_unwatch_tgid(rqd *r, pid_t tgid);

/* Makes every task whose cgroup v2 id is cgid count for key. cgid is the inode number of the
 * cgroup's directory in the cgroup2 file system (see rqd_cgroup_id). Only a task's own cgroup
 * counts, not its ancestors. Returns 0, -EINVAL, -ENOSPC or a negative errno; unchanged on
 * failure. */
int rqd_watch_cgroup(rqd *r, uint64_t cgid, uint32_t key);

/* Stops watching cgid. Returns 0 or -ENOENT if it was not watched. */
int rqd_unwatch_cgroup(rqd *r, uint64_t cgid);

/* Stores in *ret the id of the cgroup v2 directory at path (on 64-bit kernels the inode
 * number of the directory is the kernfs node id, which is the cgroup id). Returns 0, a
 * negative errno from stat(2)/statfs(2), -ENOTDIR, or -EINVAL if path is not in a cgroup2 file
 * system; *ret untouched on failure. Needs no handle (usable before rqd_open). */
int rqd_cgroup_id(const char *path, uint64_t *ret);

/* Sums the per-CPU figures of key into *ret (cumulative since rqd_open). Returns 0,
 * -EINVAL (key >= RQD_MAX_KEYS) or a negative errno from the kernel; *ret untouched on
 * failure. A key never watched reads as all zeros. */
int rqd_read(rqd *r, uint32_t key, rqd_stats *ret);

/* Detaches and unloads the programs and maps. Accepts NULL. */
void rqd_free(rqd *r);

/* The q-quantile (0 <= q <= 1) of the run-queue delays in s, in microseconds, interpolated
 * linearly inside the log2 bucket that holds it (the last, open bucket answers its lower
 * bound). Returns NAN if s holds no delay or q is outside [0, 1]. */
double rqd_stats_quantile_us(const rqd_stats *s, double q);

/* Mean run-queue delay in microseconds (sum_ns / count); NAN if count is 0. */
double rqd_stats_mean_us(const rqd_stats *s);

/* *ret = newer - older, field by field (what happened between two reads of the same key);
 * oncpu_ns is clamped at 0 (see the invariants). Returns 0, or -ERANGE if count, sum_ns or a
 * histogram bucket of newer is below older's (reads swapped, or from different handles);
 * *ret untouched on failure. ret may alias newer or older. */
int rqd_stats_delta(const rqd_stats *newer, const rqd_stats *older, rqd_stats *ret);

#endif
