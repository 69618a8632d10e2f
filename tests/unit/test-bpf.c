/*
 * Unit tests of the pure rqd_stats helpers (cgroups/bpf/rqdelay-stats.c) on literal
 * histograms: quantile interpolation inside log2 buckets, mean, delta of two reads.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cgroups/bpf/rqdelay.h"

/* cmocka 1.1.5 compares floats in single precision: compare doubles here. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __FILE__, __LINE__)

static void assert_near_at(double a, double b, double eps, const char *file, int line)
{
        if (!(fabs(a - b) <= eps)) {
                print_error("%.9g != %.9g (+-%g)\n", a, b, eps);
                _fail(file, line);
        }
}

static void set_counts(rqd_stats *s)
{
        s->count = 0;
        for (unsigned i = 0; i < RQD_NBUCKETS; i++)
                s->count += s->hist[i];
}

/* All delays in [1024, 2048) us: the quantiles spread linearly over that bucket. */
static void test_quantile_one_bucket(void **state)
{
        rqd_stats s = {0};

        (void)state;
        s.hist[11] = 100;
        set_counts(&s);
        assert_near(rqd_stats_quantile_us(&s, 0.0), 1024.0, 1e-9);
        assert_near(rqd_stats_quantile_us(&s, 0.5), 1536.0, 1e-9);
        assert_near(rqd_stats_quantile_us(&s, 0.25), 1280.0, 1e-9);
        assert_near(rqd_stats_quantile_us(&s, 1.0), 2048.0, 1e-9);
}

/* Half below 1 us, half in [4, 8) us. */
static void test_quantile_two_buckets(void **state)
{
        rqd_stats s = {0};

        (void)state;
        s.hist[0] = 50;
        s.hist[3] = 50;
        set_counts(&s);
        assert_near(rqd_stats_quantile_us(&s, 0.5), 1.0, 1e-9); /* top of bucket 0 */
        assert_near(rqd_stats_quantile_us(&s, 0.75), 6.0, 1e-9);
        assert_near(rqd_stats_quantile_us(&s, 0.2), 0.4, 1e-9);
        assert_near(rqd_stats_quantile_us(&s, 1.0), 8.0, 1e-9);
}

/* A contended-looking histogram: p99 lands in the tail bucket, p50 in the body. */
static void test_quantile_tail(void **state)
{
        rqd_stats s = {0};

        (void)state;
        s.hist[2] = 10;  /* [2, 4) us */
        s.hist[12] = 80; /* [2048, 4096) us */
        s.hist[14] = 10; /* [8192, 16384) us */
        set_counts(&s);
        /* p50: rank 50, 40 into bucket 12's 80 -> 2048 + 0.5 * 2048 */
        assert_near(rqd_stats_quantile_us(&s, 0.5), 3072.0, 1e-9);
        /* p99: rank 99, 9 into bucket 14's 10 -> 8192 + 0.9 * 8192 */
        assert_near(rqd_stats_quantile_us(&s, 0.99), 8192.0 + 0.9 * 8192.0, 1e-6);
        /* monotone in q */
        double last = -1.0;
        for (double q = 0.0; q <= 1.0; q += 0.01) {
                double v = rqd_stats_quantile_us(&s, q);
                assert_true(v >= last);
                last = v;
        }
}

/* The last bucket is open-ended: it answers its lower bound, 2^30 us. */
static void test_quantile_open_bucket(void **state)
{
        rqd_stats s = {0};

        (void)state;
        s.hist[RQD_NBUCKETS - 1] = 3;
        set_counts(&s);
        assert_near(rqd_stats_quantile_us(&s, 0.5), ldexp(1.0, RQD_NBUCKETS - 2), 1e-9);
        assert_near(rqd_stats_quantile_us(&s, 1.0), ldexp(1.0, RQD_NBUCKETS - 2), 1e-9);
}

static void test_quantile_invalid(void **state)
{
        rqd_stats s = {0};

        (void)state;
        assert_true(isnan(rqd_stats_quantile_us(&s, 0.5))); /* empty */
        s.hist[5] = 1;
        set_counts(&s);
        assert_true(isnan(rqd_stats_quantile_us(&s, -0.1)));
        assert_true(isnan(rqd_stats_quantile_us(&s, 1.5)));
        assert_true(isnan(rqd_stats_quantile_us(&s, NAN)));
        assert_true(isnan(rqd_stats_quantile_us(NULL, 0.5)));
        assert_false(isnan(rqd_stats_quantile_us(&s, 0.5)));
}

static void test_mean(void **state)
{
        rqd_stats s = {0};

        (void)state;
        assert_true(isnan(rqd_stats_mean_us(&s)));
        s.count = 4;
        s.sum_ns = 10000;
        assert_near(rqd_stats_mean_us(&s), 2.5, 1e-12);
}

static void test_delta(void **state)
{
        rqd_stats a = {0}, b = {0}, d;

        (void)state;
        a.hist[3] = 5;
        a.hist[10] = 2;
        a.count = 7;
        a.sum_ns = 1000;
        a.oncpu_ns = 5000;
        b = a;
        b.hist[10] += 8;
        b.hist[11] += 1;
        b.count += 9;
        b.sum_ns += 20000;
        b.oncpu_ns += 7000;

        assert_int_equal(rqd_stats_delta(&b, &a, &d), 0);
        assert_int_equal(d.hist[3], 0);
        assert_int_equal(d.hist[10], 8);
        assert_int_equal(d.hist[11], 1);
        assert_int_equal(d.count, 9);
        assert_int_equal(d.sum_ns, 20000);
        assert_int_equal(d.oncpu_ns, 7000);
        /* delta of a read with itself is empty */
        assert_int_equal(rqd_stats_delta(&b, &b, &d), 0);
        assert_int_equal(d.count, 0);
        assert_true(isnan(rqd_stats_quantile_us(&d, 0.5)));
}

/* Swapped reads are an error and leave the output alone. */
static void test_delta_backwards(void **state)
{
        rqd_stats a = {0}, b = {0}, d;

        (void)state;
        a.hist[4] = 3;
        a.count = 3;
        b = a;
        b.hist[4] = 4;
        b.count = 4;
        memset(&d, 0xab, sizeof(d));
        rqd_stats untouched = d;
        assert_int_equal(rqd_stats_delta(&a, &b, &d), -ERANGE);
        assert_memory_equal(&d, &untouched, sizeof(d));

        /* one bucket going back is enough */
        b = a;
        b.hist[4] = 2;
        b.hist[5] = 1;
        assert_int_equal(rqd_stats_delta(&b, &a, &d), -ERANGE);
        assert_int_equal(rqd_stats_delta(NULL, &a, &d), -EINVAL);
}

/* oncpu_ns may step back a little (running-stint estimate): clamped at 0, not an error. */
static void test_delta_oncpu_clamped(void **state)
{
        rqd_stats a = {0}, b = {0}, d;

        (void)state;
        a.oncpu_ns = 1000;
        b.oncpu_ns = 900;
        assert_int_equal(rqd_stats_delta(&b, &a, &d), 0);
        assert_int_equal(d.oncpu_ns, 0);
}

/* ret may alias an input (read, delta in place). */
static void test_delta_alias(void **state)
{
        rqd_stats a = {0}, b = {0};

        (void)state;
        a.hist[1] = 1;
        a.count = 1;
        b.hist[1] = 4;
        b.count = 4;
        b.sum_ns = 40;
        assert_int_equal(rqd_stats_delta(&b, &a, &b), 0);
        assert_int_equal(b.hist[1], 3);
        assert_int_equal(b.count, 3);
        assert_int_equal(b.sum_ns, 40);
}

static void test_mode_names(void **state)
{
        (void)state;
        assert_string_equal(rqd_mode_name(RQD_MODE_AUTO), "auto");
        assert_string_equal(rqd_mode_name(RQD_MODE_SCHED_INFO), "sched_info");
        assert_string_equal(rqd_mode_name(RQD_MODE_WAKEUP), "wakeup");
        assert_string_equal(rqd_mode_name((rqd_mode)42), "unknown");
        assert_int_equal(rqd_get_mode(NULL), RQD_MODE_AUTO);
}

/* Argument checks that need no kernel: they fail before touching a handle. */
static void test_invalid_args(void **state)
{
        rqd_stats s;
        uint64_t id = 7;

        (void)state;
        assert_int_equal(rqd_open(NULL, NULL, 0), -EINVAL);
        assert_int_equal(rqd_watch_tgid(NULL, 1, 0), -EINVAL);
        assert_int_equal(rqd_unwatch_tgid(NULL, 1), -EINVAL);
        assert_int_equal(rqd_watch_cgroup(NULL, 1, 0), -EINVAL);
        assert_int_equal(rqd_unwatch_cgroup(NULL, 1), -EINVAL);
        assert_int_equal(rqd_read(NULL, 0, &s), -EINVAL);
        assert_int_equal(rqd_cgroup_id("/", NULL), -EINVAL);
        /* not a cgroup2 directory: an error, *ret untouched */
        assert_int_equal(rqd_cgroup_id("/proc", &id), -EINVAL);
        assert_int_equal(rqd_cgroup_id("/proc/self/status", &id), -ENOTDIR);
        assert_int_equal(rqd_cgroup_id("/nonexistent/sponge", &id), -ENOENT);
        assert_int_equal(id, 7);
        rqd_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_quantile_one_bucket),
            cmocka_unit_test(test_quantile_two_buckets),
            cmocka_unit_test(test_quantile_tail),
            cmocka_unit_test(test_quantile_open_bucket),
            cmocka_unit_test(test_quantile_invalid),
            cmocka_unit_test(test_mean),
            cmocka_unit_test(test_delta),
            cmocka_unit_test(test_delta_backwards),
            cmocka_unit_test(test_delta_oncpu_clamped),
            cmocka_unit_test(test_delta_alias),
            cmocka_unit_test(test_mode_names),
            cmocka_unit_test(test_invalid_args),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
