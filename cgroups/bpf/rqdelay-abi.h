/*
 * Layouts shared by the BPF programs (rqdelay.bpf.c) and their loader (rqdelay.c). Private to
 * cgroups/bpf. It includes nothing: the BPF side gets __u32/__u64 from vmlinux.h, the user
 * side from <linux/types.h>. The public constants of rqdelay.h are repeated here for the BPF
 * side; static asserts in rqdelay.c keep them equal.
 */
#ifndef SPONGE_CGROUPS_BPF_RQDELAY_ABI_H
#define SPONGE_CGROUPS_BPF_RQDELAY_ABI_H

#define RQD_ABI_NBUCKETS    32
#define RQD_ABI_MAX_KEYS    256
#define RQD_ABI_MAX_TGIDS   4096
#define RQD_ABI_MAX_CGROUPS 1024
/* Bitmap words covering every pid the kernel can hand out: PID_MAX_LIMIT is 4194304 (2^22)
 * on 64-bit kernels, so 65536 u64 words, 512 KiB. */
#define RQD_ABI_PID_LIMIT  4194304
#define RQD_ABI_TGID_WORDS (RQD_ABI_PID_LIMIT / 64)
/* Filter for cgroup ids: bit (id % 65536) set when some watched cgroup id has those low bits.
 * Kernfs ids are handed out in sequence, so the low bits spread; a collision only costs a hash
 * lookup. 1024 words, 8 KiB. */
#define RQD_ABI_CG_BITS  65536
#define RQD_ABI_CG_WORDS (RQD_ABI_CG_BITS / 64)
/* A task seen by the filters but watched by neither map (a filter collision). */
#define RQD_ABI_NO_KEY 0xffffffffu

/* Value of the per-CPU `stats` array, one element per key. */
struct rqd_abi_kstats {
        __u64 hist[RQD_ABI_NBUCKETS];
        __u64 count;
        __u64 sum_ns;
        __u64 oncpu_ns;
};

/* Value of the per-CPU `running` array (one element): the watched task this CPU switched to
 * last, if any. pid tells which task it is, so a missed event cannot charge the wrong task. */
struct rqd_abi_running {
        __u64 start_sum_ns; /* the task's se.sum_exec_runtime at switch-in */
        __u32 pid;          /* thread id; 0 = the task on this CPU is not watched */
        __u32 key;
};

/* Task-local storage of a task that passed the watch filters. */
struct rqd_abi_task {
        /* sched_info mode: the task's sched_info.run_delay when it last left a CPU (valid
         * when seen != 0). wakeup mode: the runqueue clock when it last became runnable
         * (0 once consumed at switch-in). */
        __u64 mark_ns;
        __u64 cgid; /* the cgroup id key was found by; 0 = found by tgid */
        __u32 key;  /* cached key, or RQD_ABI_NO_KEY */
        __u32 gen;  /* rqd_gen when key was looked up; 0 = never */
        __u32 seen; /* sched_info mode: mark_ns holds a value */
        __u32 pad;
};

#endif
