/* SPDX-License-Identifier: see LICENSE */
/*
 * cgroups.unit — parsers and formatters on literal kernel text, millicore arithmetic, bad values,
 * mode detection on literal mountinfo, the none backend, and the v1/v2 backends against a
 * temp-dir fake root (directories and control files pre-created the way the kernel would show
 * them; regular files stand in for cgroupfs, so what is checked is which file gets which bytes).
 * Links only sponge_cgroups. Needs no privileges.
 */
#include "cgroups/cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- helpers ---- */

static char tmp_root[256];

static void put(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(const char *text, const char *fmt, ...)
{
        char path[1024];
        va_list ap;
        FILE *f;

        va_start(ap, fmt);
        vsnprintf(path, sizeof(path), fmt, ap);
        va_end(ap);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static char *get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *get(const char *fmt, ...)
{
        static char buf[4096];
        char path[1024];
        va_list ap;
        size_t n;
        FILE *f;

        va_start(ap, fmt);
        vsnprintf(path, sizeof(path), fmt, ap);
        va_end(ap);
        f = fopen(path, "re");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

static void mkdirs(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mkdirs(const char *fmt, ...)
{
        char path[1024], *p;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(path, sizeof(path), fmt, ap);
        va_end(ap);
        for (p = path + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        (void)mkdir(path, 0755);
                        *p = '/';
                }
        (void)mkdir(path, 0755);
}

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...)
{
        char path[1024];
        struct stat st;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(path, sizeof(path), fmt, ap);
        va_end(ap);
        return stat(path, &st) == 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int setup_tmp(void **state)
{
        snprintf(tmp_root, sizeof(tmp_root), "/tmp/test-cgroups-XXXXXX");
        assert_non_null(mkdtemp(tmp_root));
        return 0;
}

static int teardown_tmp(void **state)
{
        /* only the directory mkdtemp made for this test */
        if (strncmp(tmp_root, "/tmp/test-cgroups-", 18) == 0)
                nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return 0;
}

/* ---- literal kernel text ---- */

/* /proc/self/mountinfo of the development machine (Linux 6.18, cgroup v1 + an empty unified). */
static const char mountinfo_v1[] =
    "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* Debian 12 with systemd: pure v2, optional fields present. */
static const char mountinfo_v2[] =
    "26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
    "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

/* Older distributions: cpu and cpuacct co-mounted, /proc/mounts format. */
static const char mounts_comounted[] =
    "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
    "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0\n";

static void test_mode_name(void **state)
{
        assert_string_equal(cg_mode_name(CG_MODE_NONE), "none");
        assert_string_equal(cg_mode_name(CG_MODE_V1), "v1");
        assert_string_equal(cg_mode_name(CG_MODE_V2), "v2");
        assert_string_equal(cg_mode_name((cg_mode)42), "?");
}

static void test_parse_mounts(void **state)
{
        cg_mounts m;

        assert_int_equal(cg_parse_mounts(mountinfo_v1, &m), 0);
        assert_string_equal(m.cpu_v1, "/sys/fs/cgroup/cpu");
        assert_string_equal(m.cpuacct_v1, "/sys/fs/cgroup/cpuacct");
        assert_string_equal(m.unified, "/sys/fs/cgroup/unified");
        cg_mounts_done(&m);

        assert_int_equal(cg_parse_mounts(mountinfo_v2, &m), 0);
        assert_null(m.cpu_v1);
        assert_null(m.cpuacct_v1);
        assert_string_equal(m.unified, "/sys/fs/cgroup");
        cg_mounts_done(&m);

        assert_int_equal(cg_parse_mounts(mounts_comounted, &m), 0);
        assert_string_equal(m.cpu_v1, "/sys/fs/cgroup/cpu,cpuacct");
        assert_string_equal(m.cpuacct_v1, "/sys/fs/cgroup/cpu,cpuacct");
        assert_null(m.unified);
        cg_mounts_done(&m);

        /* octal escapes; "cpuset" must not count as "cpu" */
        assert_int_equal(cg_parse_mounts("1 2 0:3 / /a\\040b rw - cgroup2 none rw\n"
                                         "4 2 0:5 / /c rw - cgroup none rw,cpuset\n",
                                         &m),
                         0);
        assert_string_equal(m.unified, "/a b");
        assert_null(m.cpu_v1);
        cg_mounts_done(&m);

        /* nothing mounted is not an error */
        assert_int_equal(cg_parse_mounts("", &m), 0);
        assert_null(m.unified);
        cg_mounts_done(&m);

        /* a cgroup mountinfo line cut after the separator */
        assert_int_equal(cg_parse_mounts("1 2 0:3 / /x rw - cgroup2\n", &m), -EINVAL);
        /* a /proc/mounts cgroup line without options */
        assert_int_equal(cg_parse_mounts("cgroup /x cgroup\n", &m), -EINVAL);
        assert_int_equal(cg_parse_mounts(NULL, &m), -EINVAL);
}

static void test_parse_proc_cgroup(void **state)
{
        static const char hybrid[] = "9:name=systemd:/\n"
                                     "4:memory:/process_api/dc66a3b11c\n"
                                     "2:cpuacct:/\n"
                                     "1:cpu:/sponged\n"
                                     "0::/\n";
        char *p = NULL;

        assert_int_equal(cg_parse_proc_cgroup("0::/system.slice/sponged.service\n", NULL, &p), 0);
        assert_string_equal(p, "/system.slice/sponged.service");
        free(p);

        assert_int_equal(cg_parse_proc_cgroup(hybrid, "cpu", &p), 0);
        assert_string_equal(p, "/sponged");
        free(p);
        assert_int_equal(cg_parse_proc_cgroup(hybrid, "cpuacct", &p), 0);
        assert_string_equal(p, "/");
        free(p);
        assert_int_equal(cg_parse_proc_cgroup(hybrid, NULL, &p), 0);
        assert_string_equal(p, "/");
        free(p);

        /* co-mounted controllers; a path containing ':' */
        assert_int_equal(cg_parse_proc_cgroup("3:cpu,cpuacct:/a:b\n", "cpuacct", &p), 0);
        assert_string_equal(p, "/a:b");
        free(p);

        p = NULL;
        assert_int_equal(cg_parse_proc_cgroup("3:cpuset:/x\n", "cpu", &p), -ENOENT);
        assert_int_equal(cg_parse_proc_cgroup("1:cpu:/x\n", NULL, &p), -ENOENT);
        assert_int_equal(cg_parse_proc_cgroup("garbage\n", "cpu", &p), -EINVAL);
        assert_int_equal(cg_parse_proc_cgroup("0::relative\n", NULL, &p), -EINVAL);
        assert_int_equal(cg_parse_proc_cgroup("0::\n", NULL, &p), -EINVAL);
        assert_null(p);
}

static void test_parse_numbers(void **state)
{
        uint64_t u = 7;
        int64_t i = 7;

        assert_int_equal(cg_parse_u64("123\n", &u), 0);
        assert_int_equal(u, 123);
        assert_int_equal(cg_parse_u64("18446744073709551615", &u), 0);
        assert_true(u == UINT64_MAX);
        assert_int_equal(cg_parse_u64("18446744073709551616", &u), -ERANGE);
        assert_int_equal(cg_parse_i64("-1\n", &i), 0);
        assert_int_equal(i, -1);
        assert_int_equal(cg_parse_i64("9223372036854775808", &i), -ERANGE);
        /* first line only: what follows a newline is not looked at */
        assert_int_equal(cg_parse_u64("5\nrest", &u), 0);
        assert_int_equal(u, 5);
        u = 7;
        assert_int_equal(cg_parse_u64("", &u), -EINVAL);
        assert_int_equal(cg_parse_u64("-1", &u), -EINVAL);
        assert_int_equal(cg_parse_u64("+1", &u), -EINVAL);
        assert_int_equal(cg_parse_u64(" 1", &u), -EINVAL);
        assert_int_equal(cg_parse_u64("12x", &u), -EINVAL);
        assert_int_equal(cg_parse_u64("1 2", &u), -EINVAL);
        assert_int_equal(cg_parse_i64("--1", &i), -EINVAL);
        assert_int_equal(u, 7); /* untouched on failure */
}

static void test_cpu_max(void **state)
{
        uint64_t q = 1, p = 1;
        char buf[64];

        assert_int_equal(cg_parse_cpu_max("max 100000\n", &q, &p), 0);
        assert_true(q == CG_QUOTA_UNLIMITED);
        assert_int_equal(p, 100000);
        assert_int_equal(cg_parse_cpu_max("25000 100000", &q, &p), 0);
        assert_int_equal(q, 25000);
        assert_int_equal(p, 100000);

        q = p = 1;
        assert_int_equal(cg_parse_cpu_max("max\n", &q, &p), -EINVAL);
        assert_int_equal(cg_parse_cpu_max("25000\n", &q, &p), -EINVAL);
        assert_int_equal(cg_parse_cpu_max("25000 0\n", &q, &p), -EINVAL);
        assert_int_equal(cg_parse_cpu_max("-1 100000\n", &q, &p), -EINVAL);
        assert_int_equal(cg_parse_cpu_max("25000  100000\n", &q, &p), -EINVAL);
        assert_int_equal(cg_parse_cpu_max("25000 100000 7\n", &q, &p), -EINVAL);
        assert_int_equal(cg_parse_cpu_max("maxi 100000\n", &q, &p), -EINVAL);
        assert_int_equal(q, 1);

        assert_int_equal(cg_format_cpu_max(25000, 100000, buf, sizeof(buf)), 13);
        assert_string_equal(buf, "25000 100000\n");
        assert_int_equal(cg_format_cpu_max(CG_QUOTA_UNLIMITED, 100000, buf, sizeof(buf)), 11);
        assert_string_equal(buf, "max 100000\n");
        assert_int_equal(cg_parse_cpu_max(buf, &q, &p), 0);
        assert_true(q == CG_QUOTA_UNLIMITED && p == 100000);
        assert_int_equal(cg_format_cpu_max(25000, 100000, buf, 13), -ENOBUFS); /* no room for NUL */
        assert_int_equal(cg_format_cpu_max(25000, 0, buf, sizeof(buf)), -EINVAL);
}

static void test_cpu_stat(void **state)
{
        /* cgroup v2, Linux 6.1 */
        static const char v2[] = "usage_usec 8012345\n"
                                 "user_usec 8000000\n"
                                 "system_usec 12345\n"
                                 "core_sched.force_idle_usec 0\n"
                                 "nr_periods 120\n"
                                 "nr_throttled 80\n"
                                 "throttled_usec 4567890\n"
                                 "nr_bursts 0\n"
                                 "burst_usec 0\n";
        /* cgroup v1 cpu.stat, Linux 6.18 (throttled_time in ns; no usage) */
        static const char v1[] = "nr_periods 23\n"
                                 "nr_throttled 21\n"
                                 "throttled_time 452895123\n"
                                 "nr_bursts 0\n"
                                 "burst_time 0\n";
        cg_stat st;

        assert_int_equal(cg_parse_cpu_stat(v2, &st), 0);
        assert_int_equal(st.usage_us, 8012345);
        assert_int_equal(st.nr_periods, 120);
        assert_int_equal(st.nr_throttled, 80);
        assert_int_equal(st.throttled_us, 4567890);

        assert_int_equal(cg_parse_cpu_stat(v1, &st), 0);
        assert_int_equal(st.usage_us, 0);
        assert_int_equal(st.nr_periods, 23);
        assert_int_equal(st.nr_throttled, 21);
        assert_int_equal(st.throttled_us, 452895);

        assert_int_equal(cg_parse_cpu_stat("", &st), 0);
        assert_int_equal(st.nr_periods, 0);
        st.nr_periods = 99;
        assert_int_equal(cg_parse_cpu_stat("nr_periods\n", &st), -EINVAL);
        assert_int_equal(cg_parse_cpu_stat("nr_periods x\n", &st), -EINVAL);
        assert_int_equal(cg_parse_cpu_stat("nr_periods 1 2\n", &st), -EINVAL);
        assert_int_equal(cg_parse_cpu_stat("nr_periods -1\n", &st), -EINVAL);
        assert_int_equal(st.nr_periods, 99);
}

/* ---- millicores ---- */

static void test_millicores_to_quota(void **state)
{
        uint64_t q = 7;

        assert_int_equal(cg_millicores_to_quota(250, 100000, 2000, &q), 0);
        assert_int_equal(q, 25000);
        assert_int_equal(cg_millicores_to_quota(2000, 100000, 2000, &q), 0);
        assert_int_equal(q, 200000);
        assert_int_equal(cg_millicores_to_quota(1000, 1000, 2000, &q), 0);
        assert_int_equal(q, 1000);
        /* rounding to the nearest µs, ties up: 500 * 3333 / 1000 = 1666.5 -> 1667 */
        assert_int_equal(cg_millicores_to_quota(500, 3333, 2000, &q), 0);
        assert_int_equal(q, 1667);
        /* bounds apply to the rounded quota: 300 * 3333 / 1000 = 999.9 -> 1000, accepted */
        assert_int_equal(cg_millicores_to_quota(300, 3333, 2000, &q), 0);
        assert_int_equal(q, 1000);
        assert_int_equal(cg_millicores_to_quota(CG_MILLICORES_UNLIMITED, 100000, 2000, &q), 0);
        assert_true(q == CG_QUOTA_UNLIMITED);

        q = 7;
        /* bounds: quota >= 1 ms per period, <= capacity, not zero */
        assert_int_equal(cg_millicores_to_quota(9, 100000, 2000, &q), -ERANGE);
        assert_int_equal(cg_millicores_to_quota(0, 100000, 2000, &q), -ERANGE);
        assert_int_equal(cg_millicores_to_quota(2001, 100000, 2000, &q), -ERANGE);
        assert_int_equal(cg_millicores_to_quota(999, 1000, 2000, &q), -ERANGE);
        assert_int_equal(cg_millicores_to_quota(299, 3333, 2000, &q), -ERANGE); /* 996.6 us */
        /* period outside 1 ms .. 1 s */
        assert_int_equal(cg_millicores_to_quota(250, 999, 2000, &q), -EINVAL);
        assert_int_equal(cg_millicores_to_quota(250, 1000001, 2000, &q), -EINVAL);
        assert_int_equal(cg_millicores_to_quota(250, 0, 2000, &q), -EINVAL);
        assert_int_equal(q, 7);
}

static void test_quota_to_millicores(void **state)
{
        uint32_t m = 7;

        assert_int_equal(cg_quota_to_millicores(25000, 100000, &m), 0);
        assert_int_equal(m, 250);
        assert_int_equal(cg_quota_to_millicores(1667, 3333, &m), 0);
        assert_int_equal(m, 500);
        assert_int_equal(cg_quota_to_millicores(CG_QUOTA_UNLIMITED, 100000, &m), 0);
        assert_true(m == CG_MILLICORES_UNLIMITED);
        m = 7;
        assert_int_equal(cg_quota_to_millicores(25000, 0, &m), -EINVAL);
        assert_int_equal(cg_quota_to_millicores(UINT64_MAX - 1, 1000, &m), -ERANGE);
        assert_int_equal(cg_quota_to_millicores(4294967295ull, 1000, &m), -ERANGE);
        assert_int_equal(m, 7);
}

static void test_min_millicores_and_round_trip(void **state)
{
        static const uint32_t periods[] = {1000, 1001, 3333, 10000, 33333, 100000, 999999, 1000000};
        size_t i;

        assert_int_equal(cg_min_millicores(100000), 10);
        assert_int_equal(cg_min_millicores(1000), 1000);
        assert_int_equal(cg_min_millicores(3333), 300);
        assert_int_equal(cg_min_millicores(1000000), 1);
        for (i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
                uint32_t p = periods[i], lo = cg_min_millicores(p), m;
                uint64_t q;

                /* the smallest accepted value is accepted, one below is not */
                assert_int_equal(cg_millicores_to_quota(lo, p, 64000, &q), 0);
                assert_true(q >= CG_QUOTA_MIN_US);
                if (lo > 1)
                        assert_int_equal(cg_millicores_to_quota(lo - 1, p, 64000, &q), -ERANGE);
                /* millicores -> quota -> millicores is the identity over the whole range */
                for (m = lo; m <= 64000; m++) {
                        uint32_t back;
                        assert_int_equal(cg_millicores_to_quota(m, p, 64000, &q), 0);
                        assert_int_equal(cg_quota_to_millicores(q, p, &back), 0);
                        if (back != m)
                                fail_msg("period %u: %u millicores -> %llu us -> %u", p, m,
                                         (unsigned long long)q, back);
                }
        }
}

/* ---- detection on a temp dir ---- */

static void test_detect(void **state)
{
        char mi[512], text[1024];
        char *mnt = NULL;
        cg_mode mode = CG_MODE_V2;

        snprintf(mi, sizeof(mi), "%s/mountinfo", tmp_root);
        put(mountinfo_v1, "%s", mi);
        assert_int_equal(cg_detect(mi, &mode, &mnt), 0);
        assert_int_equal(mode, CG_MODE_V1);
        assert_string_equal(mnt, "/sys/fs/cgroup/cpu");
        free(mnt);

        /* v2: decided by <mount>/cgroup.controllers */
        mkdirs("%s/unified", tmp_root);
        snprintf(text, sizeof(text), "30 24 0:26 / %s/unified rw shared:9 - cgroup2 cgroup2 rw\n",
                 tmp_root);
        put(text, "%s", mi);
        put("cpuset cpu io memory hugetlb pids rdma misc\n", "%s/unified/cgroup.controllers",
            tmp_root);
        assert_int_equal(cg_detect(mi, &mode, &mnt), 0);
        assert_int_equal(mode, CG_MODE_V2);
        snprintf(text, sizeof(text), "%s/unified", tmp_root);
        assert_string_equal(mnt, text);
        free(mnt);

        /* cpu bound elsewhere: "cpuset" alone is not "cpu" */
        put("cpuset io memory\n", "%s/unified/cgroup.controllers", tmp_root);
        assert_int_equal(cg_detect(mi, &mode, &mnt), 0);
        assert_int_equal(mode, CG_MODE_NONE);
        assert_null(mnt);

        put("22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n", "%s", mi);
        assert_int_equal(cg_detect(mi, &mode, &mnt), 0);
        assert_int_equal(mode, CG_MODE_NONE);

        snprintf(mi, sizeof(mi), "%s/absent", tmp_root);
        assert_int_equal(cg_detect(mi, &mode, &mnt), -ENOENT);
}

/* ---- the none backend ---- */

static pid_t spawn_sleeper(void)
{
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                for (;;)
                        pause();
        }
        return pid;
}

static void test_none_backend(void **state)
{
        cg_options o = {.mode = CG_REQUEST_NONE, .capacity_millicores = 2000};
        char root[512];
        cg_ctx *ctx = NULL;
        cg_group *g = NULL, *g2 = NULL;
        uint32_t m = 0;
        cg_stat st = {.usage_us = 5};
        pid_t *pids = NULL, child;
        size_t n = 0;
        int status;

        snprintf(root, sizeof(root), "%s/none-root", tmp_root);
        o.root = root;
        assert_int_equal(cg_open(&o, &ctx), 0);
        assert_int_equal(cg_ctx_mode(ctx), CG_MODE_NONE);
        assert_non_null(strstr(cg_ctx_note(ctx), "nothing is applied"));
        assert_string_equal(cg_ctx_root_path(ctx), root);
        assert_int_equal(cg_ctx_period_us(ctx), 100000);

        assert_int_equal(cg_group_create(ctx, "p/s/0", &g), 0);
        assert_false(exists("%s", root)); /* nothing applied */
        assert_int_equal(cg_group_get_millicores(g, &m), 0);
        assert_true(m == CG_MILLICORES_UNLIMITED);
        assert_int_equal(cg_group_set_millicores(g, 250), 0);
        assert_int_equal(cg_group_get_millicores(g, &m), 0);
        assert_int_equal(m, 250);
        assert_int_equal(cg_group_set_millicores(g, 5), -ERANGE);
        assert_non_null(strstr(cg_last_error(ctx), "5 millicores"));
        assert_non_null(strstr(cg_last_error(ctx), "p/s/0"));
        assert_int_equal(cg_group_get_millicores(g, &m), 0);
        assert_int_equal(m, 250); /* unchanged */
        assert_int_equal(cg_group_set_millicores(g, 2001), -ERANGE);
        assert_int_equal(cg_group_read_stat(g, &st), 0);
        assert_int_equal(st.usage_us, 0);

        assert_int_equal(cg_group_create(ctx, "p/s/0", &g2), -EEXIST);
        assert_null(g2);

        child = spawn_sleeper();
        assert_int_equal(cg_group_attach(g, child), 0);
        assert_int_equal(cg_group_pids(g, &pids, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(pids[0], child);
        free(pids);
        assert_int_equal(cg_group_attach(g, -3), -EINVAL);

        /* destroy kills the attached process (through its pidfd) */
        assert_int_equal(cg_group_kill_and_destroy(g), 0);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        assert_int_equal(cg_remove_stale(ctx), 0);
        assert_int_equal(cg_ctx_remove_root(ctx), 0);
        /* groups left open are freed with the context (ASan checks the leak) */
        assert_int_equal(cg_group_create(ctx, "p/s/1", &g2), 0);
        assert_non_null(strstr(cg_group_path(g2), "none-root/p/s/1"));
        cg_ctx_free(ctx);
}

static void test_bad_relpaths(void **state)
{
        static const char *bad[] = {
            "",
            "/a",
            "a/",
            "a//b",
            "a/../b",
            "./a",
            "agent",
            "agent/x",
            ".hidden",
            "a b",
            "a/b\n",
            "x/y/z/w/v/u/t/s/r",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
        cg_options o = {.mode = CG_REQUEST_NONE};
        cg_ctx *ctx = NULL;
        cg_group *g = NULL;
        size_t i;

        assert_int_equal(cg_open(&o, &ctx), 0);
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (cg_group_create(ctx, bad[i], &g) != -EINVAL)
                        fail_msg("relpath \"%s\" accepted", bad[i]);
                assert_null(g);
        }
        assert_int_equal(cg_group_create(ctx, NULL, &g), -EINVAL);
        /* fine: an inner "agent", dots and dashes */
        assert_int_equal(cg_group_create(ctx, "p-1/agent/r.0", &g), 0);
        cg_group_free(g);
        cg_ctx_free(ctx);
}

static void test_bad_options(void **state)
{
        cg_options o = {.mode = CG_REQUEST_NONE, .period_us = 999};
        cg_ctx *ctx = NULL;
        char err[256];

        assert_int_equal(cg_open_err(&o, &ctx, err, sizeof(err)), -EINVAL);
        assert_null(ctx);
        assert_non_null(strstr(err, "period_us 999"));
        o.period_us = 1000001;
        assert_int_equal(cg_open(&o, &ctx), -EINVAL);
        o.period_us = 1000;
        o.capacity_millicores = 999; /* below the smallest limit at this period */
        assert_int_equal(cg_open(&o, &ctx), -EINVAL);
        o.capacity_millicores = 0;
        o.mode = (cg_request)9;
        assert_int_equal(cg_open(&o, &ctx), -EINVAL);
        assert_null(ctx);
}

/* AUTO without a cpu controller falls back to none and says why; an explicit mode fails. */
static void test_auto_fallback(void **state)
{
        cg_options o = {0};
        cg_ctx *ctx = NULL;
        char mi[512], err[256];

        snprintf(mi, sizeof(mi), "%s/mountinfo-empty", tmp_root);
        put("22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n", "%s", mi);
        o.mounts_path = mi;
        assert_int_equal(cg_open(&o, &ctx), 0);
        assert_int_equal(cg_ctx_mode(ctx), CG_MODE_NONE);
        assert_non_null(strstr(cg_ctx_note(ctx), "no cpu controller"));
        ctx = cg_ctx_free(ctx);

        o.mode = CG_REQUEST_V2;
        assert_int_equal(cg_open_err(&o, &ctx, err, sizeof(err)), -ENODEV);
        assert_null(ctx);
        assert_non_null(strstr(err, "v2 requested"));

        put(mountinfo_v1, "%s", mi);
        assert_int_equal(cg_open_err(&o, &ctx, err, sizeof(err)), -ENODEV);
        assert_non_null(strstr(err, "on v1"));
}

/* ---- v1 backend on a fake root ---- */

/* What the kernel shows in a fresh v1 group (cpu and cpuacct mounted separately). */
static void fake_v1_group(const char *rel)
{
        mkdirs("%s/cpu/sponged/%s", tmp_root, rel);
        mkdirs("%s/cpuacct/sponged/%s", tmp_root, rel);
        put("-1\n", "%s/cpu/sponged/%s/cpu.cfs_quota_us", tmp_root, rel);
        put("100000\n", "%s/cpu/sponged/%s/cpu.cfs_period_us", tmp_root, rel);
        put("nr_periods 23\nnr_throttled 21\nthrottled_time 452895123\nnr_bursts 0\n"
            "burst_time 0\n",
            "%s/cpu/sponged/%s/cpu.stat", tmp_root, rel);
        put("", "%s/cpu/sponged/%s/cgroup.procs", tmp_root, rel);
        put("5000000123\n", "%s/cpuacct/sponged/%s/cpuacct.usage", tmp_root, rel);
        put("", "%s/cpuacct/sponged/%s/cgroup.procs", tmp_root, rel);
}

static cg_ctx *open_fake(cg_request mode, const char *mountinfo, const char *proc_cgroup,
                         const char *root)
{
        static char mi[512], pc[512];
        cg_options o = {.mode = mode, .root = root, .capacity_millicores = 2000};
        cg_ctx *ctx = NULL;
        char err[512];
        int r;

        snprintf(mi, sizeof(mi), "%s/mountinfo", tmp_root);
        snprintf(pc, sizeof(pc), "%s/proc-self-cgroup", tmp_root);
        put(mountinfo, "%s", mi);
        put(proc_cgroup, "%s", pc);
        o.mounts_path = mi;
        o.proc_cgroup_path = pc;
        r = cg_open_err(&o, &ctx, err, sizeof(err));
        if (r < 0)
                fail_msg("open: %s", err);
        return ctx;
}

static void test_v1_fake_root(void **state)
{
        char mi[2048];
        cg_ctx *ctx;
        cg_group *g = NULL, *g2 = NULL;
        uint32_t m = 0;
        cg_stat st;
        pid_t *pids = NULL;
        size_t n = 0;
        char self[24], dn[512];

        snprintf(mi, sizeof(mi),
                 "32 31 0:29 / %s/cpu rw,relatime - cgroup cgroup rw,cpu\n"
                 "33 31 0:30 / %s/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n",
                 tmp_root, tmp_root);
        mkdirs("%s/cpu", tmp_root);
        mkdirs("%s/cpuacct", tmp_root);
        ctx = open_fake(CG_REQUEST_V1, mi, "2:cpuacct:/\n1:cpu:/\n0::/\n", NULL);
        assert_int_equal(cg_ctx_mode(ctx), CG_MODE_V1);
        assert_non_null(strstr(cg_ctx_note(ctx), "direct file I/O"));
        /* default root <cpu mount>/sponged, mirrored under cpuacct */
        assert_true(exists("%s/cpu/sponged", tmp_root));
        assert_true(exists("%s/cpuacct/sponged", tmp_root));
        assert_non_null(strstr(cg_ctx_root_path(ctx), "/cpu/sponged"));

        fake_v1_group("p/s/0");
        put("50000\n", "%s/cpu/sponged/p/s/0/cpu.cfs_period_us", tmp_root); /* a leftover */
        assert_int_equal(cg_group_create(ctx, "p/s/0", &g), 0);
        snprintf(dn, sizeof(dn), "%s/cpu/sponged/p/s/0", tmp_root);
        assert_string_equal(cg_group_path(g), dn);
        /* creation: quota unlimited first, then our period (the v1 order) */
        assert_int_equal(strncmp(get("%s/cpu.cfs_quota_us", dn), "-1", 2), 0);
        assert_string_equal(get("%s/cpu.cfs_period_us", dn), "100000");
        assert_int_equal(cg_group_get_millicores(g, &m), 0);
        assert_true(m == CG_MILLICORES_UNLIMITED);

        /* the hot path: one write of the quota file, read back */
        assert_int_equal(cg_group_set_millicores(g, 250), 0);
        assert_string_equal(get("%s/cpu.cfs_quota_us", dn), "25000"); /* regular file: no \\n */
        assert_int_equal(cg_group_get_millicores(g, &m), 0);
        assert_int_equal(m, 250);
        assert_int_equal(cg_group_set_millicores(g, 1500), 0);
        assert_string_equal(get("%s/cpu.cfs_quota_us", dn), "150000");
        assert_int_equal(cg_group_set_millicores(g, 2500), -ERANGE);
        assert_string_equal(get("%s/cpu.cfs_quota_us", dn), "150000"); /* nothing written */

        assert_int_equal(cg_group_read_stat(g, &st), 0);
        assert_int_equal(st.usage_us, 5000000);
        assert_int_equal(st.nr_periods, 23);
        assert_int_equal(st.nr_throttled, 21);
        assert_int_equal(st.throttled_us, 452895);

        /* attach writes cgroup.procs in both hierarchies */
        snprintf(self, sizeof(self), "%d", (int)getpid());
        assert_int_equal(cg_group_attach(g, getpid()), 0);
        assert_string_equal(get("%s/cgroup.procs", dn), self);
        assert_string_equal(get("%s/cpuacct/sponged/p/s/0/cgroup.procs", tmp_root), self);
        assert_int_equal(cg_group_pids(g, &pids, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(pids[0], getpid());
        free(pids);

        /* a write the kernel "accepts" but that reads back differently is -EIO */
        fake_v1_group("p/s/1");
        assert_int_equal(cg_group_create(ctx, "p/s/1", &g2), 0);
        cg_group_free(g2);
        snprintf(dn, sizeof(dn), "%s/cpu/sponged/p/s/1/cpu.cfs_quota_us", tmp_root);
        assert_int_equal(unlink(dn), 0);
        assert_int_equal(symlink("/dev/null", dn), 0);
        assert_int_equal(cg_group_create(ctx, "p/s/1", &g2), 0);
        assert_int_equal(cg_group_set_millicores(g2, 250), -EIO);
        assert_non_null(strstr(cg_last_error(ctx), "reads"));
        assert_non_null(strstr(cg_last_error(ctx), "25000"));

        /* a missing control file names the path */
        mkdirs("%s/cpu/sponged/p/s/2", tmp_root);
        mkdirs("%s/cpuacct/sponged/p/s/2", tmp_root);
        g2 = cg_group_free(g2);
        assert_int_equal(cg_group_create(ctx, "p/s/2", &g2), -ENOENT);
        assert_non_null(strstr(cg_last_error(ctx), "p/s/2/cpu.cfs_quota_us"));
        assert_null(g2);

        /* groups are not destroyed here: the fake files make every rmdir fail (ENOTEMPTY) and
         * the pids in them are ours; the integration test covers kill + rmdir on the kernel */
        cg_group_free(g);
        cg_ctx_free(ctx);
}

/* v1 with cpu but no cpuacct hierarchy: works, usage reads 0, and the note says so */
static void test_v1_without_cpuacct(void **state)
{
        char mi[1024], root[512];
        cg_ctx *ctx;
        cg_group *g = NULL;
        cg_stat st = {.usage_us = 9};

        snprintf(mi, sizeof(mi), "32 31 0:29 / %s/cpu rw,relatime - cgroup cgroup rw,cpu\n",
                 tmp_root);
        mkdirs("%s/cpu", tmp_root);
        snprintf(root, sizeof(root), "%s/cpu/custom/root", tmp_root);
        ctx = open_fake(CG_REQUEST_AUTO, mi, "1:cpu:/\n", root);
        assert_int_equal(cg_ctx_mode(ctx), CG_MODE_V1);
        assert_non_null(strstr(cg_ctx_note(ctx), "no cpuacct"));
        assert_string_equal(cg_ctx_root_path(ctx), root);
        assert_true(exists("%s", root));
        mkdirs("%s/cpu/custom/root/g", tmp_root);
        put("-1\n", "%s/cpu/custom/root/g/cpu.cfs_quota_us", tmp_root);
        put("100000\n", "%s/cpu/custom/root/g/cpu.cfs_period_us", tmp_root);
        put("nr_periods 3\nnr_throttled 1\nthrottled_time 2000\n", "%s/cpu/custom/root/g/cpu.stat",
            tmp_root);
        assert_int_equal(cg_group_create(ctx, "g", &g), 0);
        assert_int_equal(cg_group_read_stat(g, &st), 0);
        assert_int_equal(st.usage_us, 0);
        assert_int_equal(st.nr_periods, 3);
        assert_int_equal(st.throttled_us, 2);
        cg_ctx_free(ctx); /* frees g too */
}

/* ---- v2 backend on a fake root ---- */

static void fake_v2_group(const char *base, const char *rel)
{
        mkdirs("%s/%s", base, rel);
        put("max 100000\n", "%s/%s/cpu.max", base, rel);
        put("usage_usec 8012345\nuser_usec 8000000\nsystem_usec 12345\nnr_periods 120\n"
            "nr_throttled 80\nthrottled_usec 4567890\n",
            "%s/%s/cpu.stat", base, rel);
        put("", "%s/%s/cgroup.procs", base, rel);
        put("", "%s/%s/cgroup.subtree_control", base, rel);
}

static void test_v2_fake_root(void **state)
{
        char mi[1024], base[512], self[24];
        cg_ctx *ctx;
        cg_group *g = NULL;
        uint32_t m = 0;
        cg_stat st;

        snprintf(base, sizeof(base), "%s/v2", tmp_root);
        snprintf(mi, sizeof(mi), "30 24 0:26 / %s rw shared:9 - cgroup2 cgroup2 rw\n", base);
        mkdirs("%s", base);
        put("cpuset cpu io memory pids\n", "%s/cgroup.controllers", base);
        put("memory pids\n", "%s/cgroup.subtree_control", base);
        fake_v2_group(base, "sponged");
        /* own cgroup is the hierarchy's root -> default root <mount>/sponged */
        ctx = open_fake(CG_REQUEST_AUTO, mi, "0::/\n", NULL);
        assert_int_equal(cg_ctx_mode(ctx), CG_MODE_V2);
        assert_non_null(strstr(cg_ctx_root_path(ctx), "/v2/sponged"));
        /* +cpu enabled along the path: written where missing */
        assert_string_equal(get("%s/cgroup.subtree_control", base), "+cpu");
        assert_string_equal(get("%s/sponged/cgroup.subtree_control", base), "+cpu");
        assert_false(exists("%s/sponged/agent", base)); /* not our own cgroup: no leaf */

        fake_v2_group(base, "sponged/p");
        fake_v2_group(base, "sponged/p/s");
        put("cpu memory\n", "%s/sponged/p/cgroup.subtree_control", base); /* already on */
        fake_v2_group(base, "sponged/p/s/0");
        put("20000 100000\n", "%s/sponged/p/s/0/cpu.max", base);
        assert_int_equal(cg_group_create(ctx, "p/s/0", &g), 0);
        assert_string_equal(get("%s/sponged/p/cgroup.subtree_control", base), "cpu memory\n");
        assert_string_equal(get("%s/sponged/p/s/cgroup.subtree_control", base), "+cpu");
        /* the leaf itself gets no controllers (it holds the processes) */
        assert_string_equal(get("%s/sponged/p/s/0/cgroup.subtree_control", base), "");
        /* creation: our period, no limit */
        /* (a regular file keeps the tail of the longer old content; cgroupfs has none) */
        assert_int_equal(strncmp(get("%s/sponged/p/s/0/cpu.max", base), "max 100000\n", 11), 0);
        assert_int_equal(cg_group_get_millicores(g, &m), 0);
        assert_true(m == CG_MILLICORES_UNLIMITED);

        assert_int_equal(cg_group_set_millicores(g, 250), 0);
        assert_string_equal(get("%s/sponged/p/s/0/cpu.max", base), "25000 100000\n");
        assert_int_equal(cg_group_get_millicores(g, &m), 0);
        assert_int_equal(m, 250);
        assert_int_equal(cg_group_set_millicores(g, 0), -ERANGE);
        assert_string_equal(get("%s/sponged/p/s/0/cpu.max", base), "25000 100000\n");

        assert_int_equal(cg_group_read_stat(g, &st), 0);
        assert_int_equal(st.usage_us, 8012345);
        assert_int_equal(st.nr_throttled, 80);
        assert_int_equal(st.throttled_us, 4567890);

        snprintf(self, sizeof(self), "%d", (int)getpid());
        assert_int_equal(cg_group_attach(g, getpid()), 0);
        assert_string_equal(get("%s/sponged/p/s/0/cgroup.procs", base), self);
        cg_group_free(g);
        /* a root given explicitly must lie strictly below the mount */
        cg_ctx_free(ctx);
}

/* systemd delegation: the root is the agent's own cgroup -> move into agent/, then +cpu */
static void test_v2_delegated(void **state)
{
        char mi[1024], base[512], err[256];
        cg_options o = {.mode = CG_REQUEST_V2};
        cg_ctx *ctx;

        snprintf(base, sizeof(base), "%s/v2d", tmp_root);
        snprintf(mi, sizeof(mi), "30 24 0:26 / %s rw - cgroup2 cgroup2 rw\n", base);
        mkdirs("%s", base);
        put("cpu memory\n", "%s/cgroup.controllers", base);
        put("cpu memory\n", "%s/cgroup.subtree_control", base);
        fake_v2_group(base, "system.slice");
        put("cpu memory\n", "%s/system.slice/cgroup.subtree_control", base);
        fake_v2_group(base, "system.slice/sponged.service");
        mkdirs("%s/system.slice/sponged.service/agent", base);
        put("", "%s/system.slice/sponged.service/agent/cgroup.procs", base);
        ctx = open_fake(CG_REQUEST_V2, mi, "0::/system.slice/sponged.service\n", NULL);
        assert_non_null(strstr(cg_ctx_root_path(ctx), "/system.slice/sponged.service"));
        assert_non_null(strstr(cg_ctx_note(ctx), "own cgroup"));
        assert_string_equal(get("%s/system.slice/sponged.service/cgroup.subtree_control", base),
                            "+cpu");
        /* ancestors that already had cpu were not written */
        assert_string_equal(get("%s/system.slice/cgroup.subtree_control", base), "cpu memory\n");
        /* the delegated root is never removed by us */
        assert_int_equal(cg_ctx_remove_root(ctx), -EBUSY);
        cg_ctx_free(ctx);

        /* an explicit root outside the hierarchy is refused */
        o.root = "/elsewhere/x";
        snprintf(mi, sizeof(mi), "%s/mountinfo", tmp_root);
        o.mounts_path = mi;
        assert_int_equal(cg_open_err(&o, &ctx, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "strictly below"));
        o.root = base; /* the mount itself is not a root */
        assert_int_equal(cg_open(&o, &ctx), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_mode_name),
            cmocka_unit_test(test_parse_mounts),
            cmocka_unit_test(test_parse_proc_cgroup),
            cmocka_unit_test(test_parse_numbers),
            cmocka_unit_test(test_cpu_max),
            cmocka_unit_test(test_cpu_stat),
            cmocka_unit_test(test_millicores_to_quota),
            cmocka_unit_test(test_quota_to_millicores),
            cmocka_unit_test(test_min_millicores_and_round_trip),
            cmocka_unit_test_setup_teardown(test_detect, setup_tmp, teardown_tmp),
            cmocka_unit_test_setup_teardown(test_none_backend, setup_tmp, teardown_tmp),
            cmocka_unit_test(test_bad_relpaths),
            cmocka_unit_test(test_bad_options),
            cmocka_unit_test_setup_teardown(test_auto_fallback, setup_tmp, teardown_tmp),
            cmocka_unit_test_setup_teardown(test_v1_fake_root, setup_tmp, teardown_tmp),
            cmocka_unit_test_setup_teardown(test_v1_without_cpuacct, setup_tmp, teardown_tmp),
            cmocka_unit_test_setup_teardown(test_v2_fake_root, setup_tmp, teardown_tmp),
            cmocka_unit_test_setup_teardown(test_v2_delegated, setup_tmp, teardown_tmp),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
