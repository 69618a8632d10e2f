/*
 * Loader for the run-queue delay programs (rqdelay.bpf.c): opens the generated skeleton,
 * explains why it cannot load when it cannot, keeps the watch maps and sums the per-CPU
 * figures. See rqdelay.h for the contract.
 */
#include "cgroups/bpf/rqdelay.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/types.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroups/bpf/rqdelay-abi.h"
#include "rqdelay.skel.h"

_Static_assert(RQD_NBUCKETS == RQD_ABI_NBUCKETS, "histogram size differs from the BPF side");
_Static_assert(RQD_MAX_KEYS == RQD_ABI_MAX_KEYS, "key range differs from the BPF side");
_Static_assert(RQD_MAX_TGIDS == RQD_ABI_MAX_TGIDS, "tgid map size differs from the BPF side");
_Static_assert(RQD_MAX_CGROUPS == RQD_ABI_MAX_CGROUPS, "cgroup map size differs");
_Static_assert(sizeof(struct rqd_abi_kstats) % 8 == 0, "per-CPU values are 8-byte aligned");
_Static_assert(sizeof(struct rqd_abi_running) % 8 == 0, "per-CPU values are 8-byte aligned");

#define RQD_BTF_PATH "/sys/kernel/btf/vmlinux"
/* Present exactly when the kernel keeps sched_info (CONFIG_SCHED_INFO). */
#define RQD_SCHEDSTAT_PATH "/proc/self/schedstat"

struct rqd {
        struct rqdelay_bpf *skel;          /* owned: programs, links, maps */
        int ncpus;                         /* possible CPUs: per-CPU values come in this many */
        struct rqd_abi_kstats *kstats_buf; /* owned: ncpus values, scratch for rqd_read */
        struct rqd_abi_running *run_buf;   /* owned: ncpus values, scratch for rqd_read */
        uint32_t nr_cgroups;               /* entries in watch_cgroup, mirrored to the BPF side */
        rqd_mode mode;                     /* SCHED_INFO or WAKEUP */
};

/* ---- error reporting ---------------------------------------------------------------- */

/* Messages are for people: truncation to errlen is fine, the result is always terminated. */
__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
        va_list ap;

        if (!err || errlen == 0)
                return;
        va_start(ap, fmt);
        if (vsnprintf(err, errlen, fmt, ap) < 0)
                err[0] = '\0';
        va_end(ap);
}

/* What libbpf said while rqd_open ran, boiled down to two lines. libbpf reports through one
 * process-wide print callback; rqd_open swaps in capture_libbpf for its duration and restores
 * the caller's callback after. The state is per thread so a concurrent libbpf user in another
 * thread is not mixed in (its messages are dropped during that window). */
struct libbpf_capture {
        bool active;
        char first[256];    /* first warning line */
        char verifier[256]; /* the verifier's complaint, from the program load log */
};
static __thread struct libbpf_capture capture;

static void copy_line(char *dst, size_t dstlen, const char *src, size_t srclen)
{
        size_t n = srclen < dstlen - 1 ? srclen : dstlen - 1;

        memcpy(dst, src, n);
        dst[n] = '\0';
}

/* Keeps the last meaningful line of a verifier log: the verifier ends with statistics lines
 * ("processed N insns", "verification time", "stack depth") after the actual complaint. */
static void keep_verifier_line(const char *log)
{
        const char *end = strstr(log, "-- END PROG LOAD LOG --");
        const char *p = log;

        if (!end)
                end = log + strlen(log);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

                if (len > 0 && strncmp(p, "processed ", 10) != 0 &&
                    strncmp(p, "verification time", 17) != 0 && strncmp(p, "stack depth", 11) != 0)
                        copy_line(capture.verifier, sizeof(capture.verifier), p, len);
                p += len + 1;
        }
}

__attribute__((format(printf, 2, 0))) static int capture_libbpf(enum libbpf_print_level level,
                                                                const char *fmt, va_list ap)
{
        char *msg = NULL;
        const char *log;

        if (!capture.active || level == LIBBPF_DEBUG)
                return 0;
        if (vasprintf(&msg, fmt, ap) < 0)
                return 0;
        log = strstr(msg, "-- BEGIN PROG LOAD LOG --\n");
        if (log)
                keep_verifier_line(log + strlen("-- BEGIN PROG LOAD LOG --\n"));
        else if (capture.first[0] == '\0')
                copy_line(capture.first, sizeof(capture.first), msg, strcspn(msg, "\n"));
        free(msg);
        return 0;
}

/* Which of the capabilities that matter the calling thread has in its effective set. */
struct bpf_caps {
        bool sys_admin, bpf, perfmon;
};

static struct bpf_caps effective_caps(void)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {0};
        struct bpf_caps c = {0};

        if (syscall(SYS_capget, &hdr, data) < 0)
                return c;
#define HAS(cap) ((data[(cap) / 32].effective & (1u << ((cap) % 32))) != 0)
        c.sys_admin = HAS(CAP_SYS_ADMIN);
        c.bpf = HAS(RQD_CAP_BPF);
        c.perfmon = HAS(RQD_CAP_PERFMON);
#undef HAS
        return c;
}

/* Tracing programs need CAP_BPF and CAP_PERFMON; CAP_SYS_ADMIN implies both. */
static bool caps_suffice(struct bpf_caps c)
{
        return c.sys_admin || (c.bpf && c.perfmon);
}

static int explain_failure(int rc, const char *stage, char *err, size_t errlen)
{
        struct bpf_caps c = effective_caps();

        if (!caps_suffice(c) || rc == -EPERM) {
                set_err(err, errlen,
                        "eBPF %s not permitted (%s): needs root or CAP_BPF and CAP_PERFMON; this "
                        "process has CAP_SYS_ADMIN=%s CAP_BPF=%s CAP_PERFMON=%s%s",
                        stage, strerror(-rc), c.sys_admin ? "yes" : "no", c.bpf ? "yes" : "no",
                        c.perfmon ? "yes" : "no",
                        caps_suffice(c) ? " (kernel lockdown or an LSM may forbid it)" : "");
                return -EPERM;
        }
        if (capture.verifier[0])
                set_err(err, errlen, "eBPF %s failed (%s): verifier: %s", stage, strerror(-rc),
                        capture.verifier);
        else
                set_err(err, errlen, "eBPF %s failed (%s)%s%s", stage, strerror(-rc),
                        capture.first[0] ? ": " : "", capture.first);
        return rc;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

void rqd_free(rqd *r)
{
        if (!r)
                return;
        rqdelay_bpf__destroy(r->skel); /* accepts NULL; detaches the links first */
        free(r->kstats_buf);
        free(r->run_buf);
        free(r);
}

static void rqd_freep(rqd **r)
{
        rqd_free(*r);
}

/* open → load (verifier, CO-RE relocation against the kernel's BTF) → attach, with libbpf's
 * messages captured. Returns 0 or a negative errno with err filled. */
static int load_and_attach(rqd *r, char *err, size_t errlen)
{
        libbpf_print_fn_t old = libbpf_set_print(capture_libbpf);
        int rc;

        memset(&capture, 0, sizeof(capture));
        capture.active = true;
        r->skel = rqdelay_bpf__open();
        if (!r->skel) {
                rc = errno > 0 ? -errno : -EINVAL;
                rc = explain_failure(rc, "open", err, errlen);
                goto out;
        }
        /* Only the programs of the chosen mode are loaded and attached. */
        bool si = r->mode == RQD_MODE_SCHED_INFO;
        if ((rc = bpf_program__set_autoload(r->skel->progs.rqd_switch_si, si)) < 0 ||
            (rc = bpf_program__set_autoload(r->skel->progs.rqd_switch_wk, !si)) < 0 ||
            (rc = bpf_program__set_autoload(r->skel->progs.rqd_wakeup, !si)) < 0 ||
            (rc = bpf_program__set_autoload(r->skel->progs.rqd_wakeup_new, !si)) < 0) {
                rc = explain_failure(rc, "open", err, errlen);
                goto out;
        }
        rc = rqdelay_bpf__load(r->skel);
        if (rc < 0) {
                rc = explain_failure(rc, "load", err, errlen);
                goto out;
        }
        rc = rqdelay_bpf__attach(r->skel);
        if (rc < 0)
                rc = explain_failure(rc, "attach", err, errlen);
out:
        capture.active = false;
        libbpf_set_print(old);
        return rc;
}

const char *rqd_mode_name(rqd_mode mode)
{
        switch (mode) {
        case RQD_MODE_AUTO:
                return "auto";
        case RQD_MODE_SCHED_INFO:
                return "sched_info";
        case RQD_MODE_WAKEUP:
                return "wakeup";
        }
        return "unknown";
}

rqd_mode rqd_get_mode(const rqd *r)
{
        return r ? r->mode : RQD_MODE_AUTO;
}

/* The mode to load: AUTO resolves to SCHED_INFO where the kernel keeps it. */
static int resolve_mode(rqd_mode mode, rqd_mode *ret, char *err, size_t errlen)
{
        bool have_si = access(RQD_SCHEDSTAT_PATH, F_OK) == 0;

        switch (mode) {
        case RQD_MODE_AUTO:
                *ret = have_si ? RQD_MODE_SCHED_INFO : RQD_MODE_WAKEUP;
                return 0;
        case RQD_MODE_SCHED_INFO:
                if (!have_si) {
                        set_err(err, errlen,
                                "sched_info mode needs a kernel with CONFIG_SCHED_INFO (%s "
                                "missing)",
                                RQD_SCHEDSTAT_PATH);
                        return -EOPNOTSUPP;
                }
                *ret = mode;
                return 0;
        case RQD_MODE_WAKEUP:
                *ret = mode;
                return 0;
        }
        set_err(err, errlen, "unknown rqd_mode %d", (int)mode);
        return -EINVAL;
}

int rqd_open(rqd **ret, char *err, size_t errlen)
{
        return rqd_open_mode(RQD_MODE_AUTO, ret, err, errlen);
}

int rqd_open_mode(rqd_mode mode, rqd **ret, char *err, size_t errlen)
{
        __attribute__((cleanup(rqd_freep))) rqd *r = NULL;
        rqd_mode resolved;
        int rc;

        if (err && errlen)
                err[0] = '\0';
        if (!ret)
                return -EINVAL;
        rc = resolve_mode(mode, &resolved, err, errlen);
        if (rc < 0)
                return rc;
        /* CO-RE needs the running kernel's BTF; without it libbpf's message is cryptic. */
        if (access(RQD_BTF_PATH, R_OK) < 0) {
                rc = -errno;
                set_err(err, errlen,
                        "kernel BTF not readable at %s (%s): needs CONFIG_DEBUG_INFO_BTF=y",
                        RQD_BTF_PATH, strerror(-rc));
                return rc;
        }
        r = calloc(1, sizeof(*r));
        if (!r) {
                set_err(err, errlen, "out of memory");
                return -ENOMEM;
        }
        r->mode = resolved;
        r->ncpus = libbpf_num_possible_cpus();
        if (r->ncpus <= 0) {
                rc = r->ncpus < 0 ? r->ncpus : -EINVAL;
                set_err(err, errlen, "cannot count possible CPUs (%s)", strerror(-rc));
                return rc;
        }
        r->kstats_buf = calloc((size_t)r->ncpus, sizeof(*r->kstats_buf));
        r->run_buf = calloc((size_t)r->ncpus, sizeof(*r->run_buf));
        if (!r->kstats_buf || !r->run_buf) {
                set_err(err, errlen, "out of memory");
                return -ENOMEM;
        }
        rc = load_and_attach(r, err, errlen);
        if (rc < 0)
                return rc;
        *ret = r;
        r = NULL;
        return 0;
}

/* ---- watch set ---------------------------------------------------------------------- */

/* libbpf returns -errno; a full hash map says E2BIG, which means "no room" here. */
static int map_errno(int rc)
{
        return rc == -E2BIG ? -ENOSPC : rc;
}

/* Sets or clears one bit of a bitmap array map (watch_bits, watch_cg_bits). Only the owner
 * thread writes them and only the BPF side reads them, so a read-modify-write through the
 * syscall is enough. */
static int set_bit(struct bpf_map *bits, uint64_t bit, bool on)
{
        __u32 word = (__u32)(bit / 64);
        __u64 w = 0;
        int rc;

        rc = bpf_map__lookup_elem(bits, &word, sizeof(word), &w, sizeof(w), 0);
        if (rc < 0)
                return rc;
        if (on)
                w |= 1ull << (bit % 64);
        else
                w &= ~(1ull << (bit % 64));
        return bpf_map__update_elem(bits, &word, sizeof(word), &w, sizeof(w), BPF_ANY);
}

/* Keys cached in task storage were looked up under the previous generation: they go stale. */
static void bump_gen(rqd *r)
{
        __u32 g = r->skel->data->rqd_gen + 1;

        r->skel->data->rqd_gen = g ? g : 1; /* 0 means "never looked up" */
}

int rqd_watch_tgid(rqd *r, pid_t tgid, uint32_t key)
{
        __u32 k = (__u32)tgid;
        int rc;

        if (!r || tgid <= 0 || tgid >= RQD_ABI_PID_LIMIT || key >= RQD_MAX_KEYS)
                return -EINVAL;
        /* Key first, bit second: the programs look the key up only once the bit is set. */
        rc = bpf_map__update_elem(r->skel->maps.watch_tgid, &k, sizeof(k), &key, sizeof(key),
                                  BPF_ANY);
        if (rc < 0)
                return map_errno(rc);
        rc = set_bit(r->skel->maps.watch_bits, k, true);
        if (rc < 0) {
                (void)bpf_map__delete_elem(r->skel->maps.watch_tgid, &k, sizeof(k), 0);
                return rc;
        }
        bump_gen(r);
        return 0;
}

int rqd_unwatch_tgid(rqd *r, pid_t tgid)
{
        __u32 k = (__u32)tgid, key;
        int rc;

        if (!r || tgid <= 0 || tgid >= RQD_ABI_PID_LIMIT)
                return -EINVAL;
        rc = bpf_map__lookup_elem(r->skel->maps.watch_tgid, &k, sizeof(k), &key, sizeof(key), 0);
        if (rc < 0)
                return rc;
        rc = set_bit(r->skel->maps.watch_bits, k, false);
        if (rc < 0)
                return rc;
        rc = bpf_map__delete_elem(r->skel->maps.watch_tgid, &k, sizeof(k), 0);
        bump_gen(r);
        return rc;
}

/* Whether another watched cgroup id shares cgid's filter bit (then the bit stays set). */
static bool cg_bit_shared(rqd *r, __u64 cgid)
{
        struct bpf_map *m = r->skel->maps.watch_cgroup;
        __u64 cur, next;
        int rc;

        for (rc = bpf_map__get_next_key(m, NULL, &next, sizeof(next)); rc == 0;
             rc = bpf_map__get_next_key(m, &cur, &next, sizeof(next))) {
                if (next != cgid && next % RQD_ABI_CG_BITS == cgid % RQD_ABI_CG_BITS)
                        return true;
                cur = next;
        }
        return false;
}

int rqd_watch_cgroup(rqd *r, uint64_t cgid, uint32_t key)
{
        __u64 k = cgid;
        int rc;

        if (!r || cgid == 0 || key >= RQD_MAX_KEYS)
                return -EINVAL;
        rc = bpf_map__update_elem(r->skel->maps.watch_cgroup, &k, sizeof(k), &key, sizeof(key),
                                  BPF_NOEXIST);
        if (rc == -EEXIST) {
                rc = bpf_map__update_elem(r->skel->maps.watch_cgroup, &k, sizeof(k), &key,
                                          sizeof(key), BPF_EXIST);
                if (rc == 0)
                        bump_gen(r);
                return map_errno(rc);
        }
        if (rc < 0)
                return map_errno(rc);
        rc = set_bit(r->skel->maps.watch_cg_bits, k % RQD_ABI_CG_BITS, true);
        if (rc < 0) {
                (void)bpf_map__delete_elem(r->skel->maps.watch_cgroup, &k, sizeof(k), 0);
                return rc;
        }
        /* The BPF side reads no cgroup id while this is 0 (the v1 case: cheaper). */
        r->skel->bss->rqd_nr_cgroups = ++r->nr_cgroups;
        bump_gen(r);
        return 0;
}

int rqd_unwatch_cgroup(rqd *r, uint64_t cgid)
{
        __u64 k = cgid;
        int rc;

        if (!r || cgid == 0)
                return -EINVAL;
        rc = bpf_map__delete_elem(r->skel->maps.watch_cgroup, &k, sizeof(k), 0);
        if (rc < 0)
                return rc;
        if (r->nr_cgroups > 0)
                r->skel->bss->rqd_nr_cgroups = --r->nr_cgroups;
        bump_gen(r);
        if (!cg_bit_shared(r, k))
                return set_bit(r->skel->maps.watch_cg_bits, k % RQD_ABI_CG_BITS, false);
        return 0;
}

int rqd_cgroup_id(const char *path, uint64_t *ret)
{
        struct statfs sfs;
        struct stat st;

        if (!path || !ret)
                return -EINVAL;
        if (statfs(path, &sfs) < 0 || stat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (sfs.f_type != CGROUP2_SUPER_MAGIC)
                return -EINVAL;
        *ret = (uint64_t)st.st_ino;
        return 0;
}

/* ---- reading ------------------------------------------------------------------------ */

/* A thread's on-CPU time so far, as the scheduler counts it (se.sum_exec_runtime, brought up
 * to date for a running thread): the first field of /proc/<tid>/schedstat. */
static int thread_runtime_ns(__u32 tid, uint64_t *ret_ns)
{
        char path[64], buf[128], *end;
        unsigned long long v;
        FILE *f;

        if (snprintf(path, sizeof(path), "/proc/%u/schedstat", tid) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (!fgets(buf, sizeof(buf), f)) {
                fclose(f);
                return -EIO;
        }
        fclose(f);
        errno = 0;
        v = strtoull(buf, &end, 10);
        if (errno || end == buf || (*end != ' ' && *end != '\n'))
                return -EIO;
        *ret_ns = v;
        return 0;
}

int rqd_read(rqd *r, uint32_t key, rqd_stats *ret)
{
        __u32 k = key, zero = 0;
        rqd_stats s = {0};
        int rc;

        if (!r || !ret || key >= RQD_MAX_KEYS)
                return -EINVAL;
        rc = bpf_map__lookup_elem(r->skel->maps.stats, &k, sizeof(k), r->kstats_buf,
                                  sizeof(*r->kstats_buf) * (size_t)r->ncpus, 0);
        if (rc < 0)
                return rc;
        for (int cpu = 0; cpu < r->ncpus; cpu++) {
                const struct rqd_abi_kstats *c = &r->kstats_buf[cpu];

                for (unsigned i = 0; i < RQD_NBUCKETS; i++)
                        s.hist[i] += c->hist[i];
                s.count += c->count;
                s.sum_ns += c->sum_ns;
                s.oncpu_ns += c->oncpu_ns;
        }
        /* Add the stints still running. The totals above were read first, so a stint seen
         * running now is not in them; a stint that ends between the two reads is missed by
         * this read (and counted by the next). */
        rc = bpf_map__lookup_elem(r->skel->maps.running, &zero, sizeof(zero), r->run_buf,
                                  sizeof(*r->run_buf) * (size_t)r->ncpus, 0);
        if (rc < 0)
                return rc;
        for (int cpu = 0; cpu < r->ncpus; cpu++) {
                const struct rqd_abi_running *run = &r->run_buf[cpu];
                uint64_t sum_ns = 0;

                /* The thread may have exited since: then its stint is in the totals already. */
                if (run->pid != 0 && run->key == key && thread_runtime_ns(run->pid, &sum_ns) == 0 &&
                    sum_ns > run->start_sum_ns)
                        s.oncpu_ns += sum_ns - run->start_sum_ns;
        }
        *ret = s;
        return 0;
}
