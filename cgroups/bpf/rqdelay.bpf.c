/*
 * Run-queue delay and on-CPU time per key, from the scheduler's BTF tracepoints.
 *
 * Two ways to time a wait in the run queue; the loader attaches one of them:
 *
 * sched_info mode (rqd_switch_si alone; the default where the kernel has CONFIG_SCHED_INFO,
 *   i.e. /proc/<pid>/schedstat exists). The scheduler already stamps every enqueue
 *   (sched_info.last_queued) and adds each wait to sched_info.run_delay when the task gets a
 *   CPU, migrations between runqueues included. So at switch-out the wait that preceded this
 *   stint is run_delay minus its value at the previous switch-out. One program, no clock read.
 *
 * wakeup mode (rqd_wakeup, rqd_wakeup_new, rqd_switch_wk; the fallback, and what the issue
 *   first asked for). A task becomes runnable when it is woken (sched_wakeup,
 *   sched_wakeup_new: the argument is the woken task, generally not `current`) or when it is
 *   switched out while still runnable (sched_switch with preempt set, or prev still
 *   TASK_RUNNING: it stays queued). Both stamp the task's local storage with the clock of its
 *   runqueue; at switch-in the difference is the run-queue delay. It costs a second program
 *   run per wakeup (bench-bpf here: ~10 % on a ping-pong, against 6-8.5 % for sched_info).
 *
 * The clock in wakeup mode is the runqueue clock (rq->clock), not bpf_ktime_get_ns(): the
 * scheduler updates it right before each of these tracepoints (update_rq_clock in __schedule,
 * ttwu_queue/ttwu_runnable/sched_ttwu_pending, wake_up_new_task), so reading it is a load,
 * where a clock read costs ~40 ns in this VM. It is the clock run_delay is kept in.
 * On-CPU time, in both modes, is the task's se.sum_exec_runtime at switch-out minus its value
 * at switch-in (the scheduler's own accounting, just brought up to date by put_prev_task).
 *
 * Cost control: every context switch in the system runs this code, watched tasks or not.
 * Unwatched tasks are turned away by a bitmap indexed by tgid (an array lookup, which the
 * verifier inlines); the replica key of a watched task is cached in its task storage and looked
 * up in the hash maps again only after the watch set changed (rqd_gen). Task fields are read
 * directly (BTF pointers: plain loads), never through bpf_probe_read_kernel.
 *
 * Per-CPU maps, no atomics: every figure is written only by sched_switch, which the kernel runs
 * with the runqueue lock held and interrupts off, on the CPU whose copy it updates. Plain
 * increments are then exact, and the hottest path in the kernel touches no cache line that
 * another CPU writes. The loader sums the copies. (The wakeup programs write only the woken
 * task's own storage.)
 *
 * Built with clang -target bpf against a vmlinux.h generated at build time (CO-RE: field
 * offsets are relocated by libbpf against the running kernel's BTF).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "rqdelay-abi.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TASK_RUNNING 0

/* Kept by the loader through the mmapped .bss. */
volatile __u32 rqd_nr_cgroups = 0; /* watched cgroups: with none, cgroup ids are not read */
volatile __u32 rqd_gen = 1;        /* bumped on every watch change: cached keys go stale */

/* One bit per possible tgid: the test every switch of every task makes. */
struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, RQD_ABI_TGID_WORDS);
        __type(key, __u32);   /* tgid / 64 */
        __type(value, __u64); /* bit tgid % 64 set: watched */
} watch_bits SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, RQD_ABI_CG_WORDS);
        __type(key, __u32);   /* (cgroup id % RQD_ABI_CG_BITS) / 64 */
        __type(value, __u64); /* bit set: some watched cgroup id has these low bits */
} watch_cg_bits SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, RQD_ABI_MAX_TGIDS);
        __type(key, __u32);   /* tgid */
        __type(value, __u32); /* key */
} watch_tgid SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, RQD_ABI_MAX_CGROUPS);
        __type(key, __u64);   /* cgroup v2 id */
        __type(value, __u32); /* key */
} watch_cgroup SEC(".maps");

/* Freed by the kernel with the task: nothing to clean up when workers exit. */
struct {
        __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, int);
        __type(value, struct rqd_abi_task);
} task_store SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct rqd_abi_running);
} running SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, RQD_ABI_MAX_KEYS);
        __type(key, __u32);
        __type(value, struct rqd_abi_kstats);
} stats SEC(".maps");

/* ---- task fields (CO-RE) -------------------------------------------------------------- */

/* Kernels before 5.14 name the field `state`. */
struct task_struct___pre514 {
        long state;
} __attribute__((preserve_access_index));

static __always_inline unsigned int task_state(struct task_struct *p)
{
        if (bpf_core_field_exists(p->__state))
                return p->__state;
        return (unsigned int)((struct task_struct___pre514 *)p)->state;
}

/* The clock of the runqueue p is queued on or runs on, reached through the task's cfs_rq (set
 * for tasks of every class by set_task_rq; cfs_rq->rq exists with CONFIG_FAIR_GROUP_SCHED,
 * which distribution kernels have) rather than the per-CPU `runqueues` symbol, which needs
 * CONFIG_KALLSYMS_ALL to resolve (this kernel has not). Without the field, CO-RE turns this
 * into the BPF clock, for every stamp alike. */
static __always_inline __u64 task_rq_clock(struct task_struct *p)
{
        if (bpf_core_field_exists(p->se.cfs_rq->rq))
                return p->se.cfs_rq->rq->clock;
        return bpf_ktime_get_ns();
}

static __always_inline __u64 task_cgroup_id(struct task_struct *p)
{
        return p->cgroups->dfl_cgrp->kn->id;
}

/* ---- who is watched --------------------------------------------------------------------- */

static __always_inline bool bit_set(void *bits_map, __u64 bit)
{
        __u32 word = (__u32)(bit / 64);
        __u64 *w = bpf_map_lookup_elem(bits_map, &word);

        return w && ((*w >> (bit % 64)) & 1);
}

/* The cheap test, true for every watched task (and for the odd cgroup-filter collision).
 * *ret_cgid is the cgroup id to look the key up by, 0 to look it up by tgid. */
static __always_inline bool may_watch(struct task_struct *p, __u64 *ret_cgid)
{
        __u64 cgid;

        *ret_cgid = 0;
        if (bit_set(&watch_bits, p->tgid))
                return true;
        if (!rqd_nr_cgroups)
                return false;
        cgid = task_cgroup_id(p);
        *ret_cgid = cgid;
        return bit_set(&watch_cg_bits, cgid % RQD_ABI_CG_BITS);
}

/* The key of a task that passed may_watch, from its storage while the watch set has not
 * changed (and, if keyed by cgroup, it is still in that cgroup), else from the hash maps. */
static __always_inline bool task_key(struct task_struct *p, struct rqd_abi_task *t, __u64 cgid,
                                     __u32 *ret_key)
{
        __u32 gen = rqd_gen, *k;

        if (t->gen != gen || t->cgid != cgid) {
                if (cgid == 0) {
                        __u32 tgid = p->tgid;

                        k = bpf_map_lookup_elem(&watch_tgid, &tgid);
                } else {
                        k = bpf_map_lookup_elem(&watch_cgroup, &cgid);
                }
                t->key = k ? *k : RQD_ABI_NO_KEY;
                t->cgid = cgid;
                t->gen = gen;
        }
        *ret_key = t->key;
        return t->key != RQD_ABI_NO_KEY;
}

/* ---- figures ---------------------------------------------------------------------------- */

/* floor(log2(v)) for v > 0, without loops (the verifier wants bounded code). */
static __always_inline __u32 log2_u64(__u64 v)
{
        __u32 r = 0, shift;

        shift = (v > 0xffffffffULL) << 5;
        v >>= shift;
        r |= shift;
        shift = (v > 0xffff) << 4;
        v >>= shift;
        r |= shift;
        shift = (v > 0xff) << 3;
        v >>= shift;
        r |= shift;
        shift = (v > 0xf) << 2;
        v >>= shift;
        r |= shift;
        shift = (v > 0x3) << 1;
        v >>= shift;
        r |= shift;
        r |= (v >> 1);
        return r;
}

/* Histogram bucket of a delay: 0 below 1 us, else 1 + floor(log2(delay in us)). Without a
 * division (a 64-bit div is the slowest instruction on this path): with L = floor(log2(ns)),
 * 1000 * 2^(L-10) <= ns always (1000/1024 < 1), so floor(log2(ns / 1000)) is L-9 if
 * ns >= 1000 * 2^(L-9), else L-10. */
static __always_inline __u32 delay_bucket(__u64 ns)
{
        __u32 l;

        if (ns < 1000)
                return 0;
        l = log2_u64(ns); /* >= 9 here */
        return (ns >= (1000ull << (l - 9)) ? l - 9 : l - 10) + 1;
}

static __always_inline void record_delay(__u32 key, __u64 delay_ns)
{
        struct rqd_abi_kstats *st = bpf_map_lookup_elem(&stats, &key);
        __u32 b = delay_bucket(delay_ns);

        if (!st)
                return;
        if (b >= RQD_ABI_NBUCKETS)
                b = RQD_ABI_NBUCKETS - 1;
        /* clang knows b < 32 here and drops a plain mask; the verifier does not follow its
         * reasoning through the 32-bit truncation. The barrier keeps the mask in the code. */
        barrier_var(b);
        st->hist[b & (RQD_ABI_NBUCKETS - 1)]++;
        st->count++;
        st->sum_ns += delay_ns;
}

/* prev leaves this CPU: if it is the watched task that came in last, charge its stint.
 * Returns whether it was (so *ret_key is its key). */
static __always_inline bool stint_end(struct rqd_abi_running *run, struct task_struct *prev,
                                      __u32 prev_pid, __u32 *ret_key)
{
        bool was = run->pid != 0 && run->pid == prev_pid;

        if (was) {
                struct rqd_abi_kstats *st = bpf_map_lookup_elem(&stats, &run->key);
                __u64 sum_ns = prev->se.sum_exec_runtime;

                if (st && sum_ns > run->start_sum_ns)
                        st->oncpu_ns += sum_ns - run->start_sum_ns;
                *ret_key = run->key;
        }
        run->pid = 0;
        return was;
}

/* This CPU's stint (the running map's one entry). */
static __always_inline struct rqd_abi_running *this_cpu_stint(void)
{
        __u32 zero = 0;

        return bpf_map_lookup_elem(&running, &zero);
}

/* next's storage (created) with its key in *ret_key when it is watched; NULL when it is not
 * (pid 0, the idle task, is never). */
static __always_inline struct rqd_abi_task *watched_next(struct task_struct *next, __u32 next_pid,
                                                         __u32 *ret_key)
{
        struct rqd_abi_task *t;
        __u64 cgid;

        if (next_pid == 0 || !may_watch(next, &cgid))
                return NULL;
        t = bpf_task_storage_get(&task_store, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
        if (!t || !task_key(next, t, cgid, ret_key))
                return NULL;
        return t;
}

static __always_inline void stint_begin(struct rqd_abi_running *run, struct task_struct *next,
                                        __u32 next_pid, __u32 key)
{
        run->start_sum_ns = next->se.sum_exec_runtime;
        run->key = key;
        run->pid = next_pid;
}

/* ---- sched_info mode -------------------------------------------------------------------- */

SEC("tp_btf/sched_switch")
int BPF_PROG(rqd_switch_si, bool preempt, struct task_struct *prev, struct task_struct *next)
{
        __u32 key, prev_pid = prev->pid, next_pid = next->pid;
        struct rqd_abi_running *run = this_cpu_stint();
        struct rqd_abi_task *t;

        if (!run)
                return 0;

        /* prev: its wait before this stint is in run_delay now (sched_info_arrive ran at its
         * switch-in, after the previous switch-out's mark). pid 0 is the idle task. */
        if (stint_end(run, prev, prev_pid, &key)) {
                t = bpf_task_storage_get(&task_store, prev, 0, 0);
                if (t) {
                        __u64 total_ns = prev->sched_info.run_delay;

                        if (t->seen && total_ns >= t->mark_ns)
                                record_delay(key, total_ns - t->mark_ns);
                        t->mark_ns = total_ns;
                        t->seen = 1;
                }
        }

        /* next: find its key, open a stint. On first sight the mark is run_delay before this
         * wait is added (the tracepoint fires before sched_info_arrive), so the first stint
         * counts too. */
        t = watched_next(next, next_pid, &key);
        if (!t)
                return 0;
        if (!t->seen) {
                t->mark_ns = next->sched_info.run_delay;
                t->seen = 1;
        }
        stint_begin(run, next, next_pid, key);
        return 0;
}

/* ---- wakeup mode ------------------------------------------------------------------------ */

static __always_inline void mark_runnable(struct task_struct *p)
{
        struct rqd_abi_task *t =
            bpf_task_storage_get(&task_store, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

        if (t)
                t->mark_ns = task_rq_clock(p);
}

/* p was just queued on its runqueue, whose clock the waker just updated. */
static __always_inline int on_wakeup(struct task_struct *p)
{
        __u64 cgid;

        if (may_watch(p, &cgid))
                mark_runnable(p);
        return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(rqd_wakeup, struct task_struct *p)
{
        return on_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(rqd_wakeup_new, struct task_struct *p)
{
        return on_wakeup(p);
}

/* prev is still runnable after the switch: preempted, or its sleep was cancelled (a signal,
 * or a wakeup that came before it got off the CPU) and it stays queued. */
static __always_inline bool requeued(bool preempt, struct task_struct *prev)
{
        return preempt || task_state(prev) == TASK_RUNNING;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rqd_switch_wk, bool preempt, struct task_struct *prev, struct task_struct *next)
{
        __u32 key, prev_pid = prev->pid, next_pid = next->pid;
        struct rqd_abi_running *run = this_cpu_stint();
        struct rqd_abi_task *t;
        __u64 cgid;

        if (!run)
                return 0;

        /* prev leaves the CPU: stamp it if it stays on the runqueue. A task watched while it
         * was running has no stint open, but is stamped all the same. */
        if (stint_end(run, prev, prev_pid, &key)) {
                if (requeued(preempt, prev))
                        mark_runnable(prev);
        } else if (prev_pid != 0 && requeued(preempt, prev) && may_watch(prev, &cgid)) {
                mark_runnable(prev);
        }

        /* next gets the CPU: its wait ends here. */
        t = watched_next(next, next_pid, &key);
        if (!t)
                return 0;
        if (t->mark_ns) {
                __u64 now_ns = task_rq_clock(next);

                /* Zero is a real answer: a wakeup that preempts asks the scheduler to skip
                 * its next clock update (rq_clock_skip_update), so a task switched in at
                 * once sees the clock of its wakeup. A negative difference is clock skew
                 * between two CPUs' runqueues after a migration: count it as zero too. */
                record_delay(key, now_ns > t->mark_ns ? now_ns - t->mark_ns : 0);
                t->mark_ns = 0;
        }
        stint_begin(run, next, next_pid, key);
        return 0;
}
