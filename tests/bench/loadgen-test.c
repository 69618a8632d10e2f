/* SPDX-License-Identifier: MIT */
/*
 * Tests of sponge-load (tests/bench/loadgen*.c), no root needed:
 *
 *   test-loadgen unit     parsers and generators on literal inputs: HTTP responses (whole,
 *                         byte by byte, chunked, 1xx, malformed), targets (loopback only),
 *                         steps, trace (plain and gzip), Ghent log, arrivals (Poisson counts and
 *                         dispersion, uniform spacing, seeds), histogram, options
 *   test-loadgen engine   whole runs against an in-process server on a UNIX socket that answers
 *                         well, closes, sends garbage, never answers, mixes statuses in chunked
 *                         answers, or closes after each answer; and against no server at all.
 *                         Every run must account for each request exactly once and end in time.
 *   test-loadgen          both
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/bench/loadgen.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

/* ---- HTTP response parser ------------------------------------------------------------------- */

/* Feeds s whole (or byte by byte) to a fresh parser; returns the last result. */
static int feed(LgResp *p, const char *s, bool bytewise, size_t *ret_used)
{
        size_t len = strlen(s), total = 0;
        int r = 0;

        lg_resp_reset(p);
        if (!bytewise) {
                r = lg_resp_feed(p, s, len, ret_used);
                return r;
        }
        for (size_t i = 0; i < len && r == 0; i++) {
                size_t used = 0;
                r = lg_resp_feed(p, s + i, 1, &used);
                total += used;
        }
        *ret_used = total;
        return r;
}

static void test_resp_ok(void **state)
{
        static const char ok[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
            "X-Sponge-Variants: yolov5n,resnet18\r\nx-sponge-latency-ms: 12.5\r\n"
            "X-Sponge-Late: 1\r\n\r\nhello";
        LgResp *p = malloc(sizeof(*p));
        size_t used;

        for (int bytewise = 0; bytewise < 2; bytewise++) {
                assert_int_equal(feed(p, ok, bytewise, &used), 1);
                assert_int_equal(used, strlen(ok));
                assert_int_equal(p->status, 200);
                assert_true(p->keep_alive);
                assert_true(p->late);
                assert_string_equal(p->variants, "yolov5n,resnet18");
                assert_true(fabs(p->server_ms - 12.5) < 1e-9);
                assert_int_equal(p->body_bytes, 5);
        }
        /* Bytes after the answer are not taken: the caller closes the connection. */
        assert_int_equal(feed(p,
                              "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 2\r\n"
                              "Connection: close\r\n\r\n{}EXTRA",
                              false, &used),
                         1);
        assert_int_equal(p->status, 504);
        assert_false(p->keep_alive);
        assert_int_equal(used, strlen("HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 2\r\n"
                                      "Connection: close\r\n\r\n{}"));
        /* HTTP/1.0 without a length: the body ends at close. */
        assert_int_equal(feed(p, "HTTP/1.0 200 OK\r\n\r\nabc", false, &used), 0);
        assert_int_equal(p->state, LG_RESP_BODY_EOF);
        assert_false(p->keep_alive);
        assert_int_equal(lg_resp_eof(p), 1);
        /* 204 has no body; 100 Continue is skipped. */
        assert_int_equal(feed(p, "HTTP/1.1 204 No Content\r\n\r\n", false, &used), 1);
        assert_int_equal(feed(p,
                              "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\n"
                              "Content-Length: 0\r\n\r\n",
                              true, &used),
                         1);
        assert_int_equal(p->status, 429);
        free(p);
        (void)state;
}

static void test_resp_chunked(void **state)
{
        static const char ch[] =
            "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
            "4;ext=1\r\nabcd\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
        LgResp *p = malloc(sizeof(*p));
        size_t used;

        for (int bytewise = 0; bytewise < 2; bytewise++) {
                assert_int_equal(feed(p, ch, bytewise, &used), 1);
                assert_int_equal(used, strlen(ch));
                assert_int_equal(p->status, 503);
                assert_int_equal(p->body_bytes, 14);
        }
        /* Incomplete: EOF in the middle is a reset. */
        assert_int_equal(
            feed(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab", false, &used),
            0);
        assert_int_equal(lg_resp_eof(p), -ECONNRESET);
        assert_int_equal(
            feed(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, &used),
            -EBADMSG);
        assert_int_equal(
            feed(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", false, &used),
            -EBADMSG);
        free(p);
        (void)state;
}

static void test_resp_garbage(void **state)
{
        static const char *const bad[] = {
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 2x0 OK\r\n\r\n",
            "HTTP/1.1 200OK\r\n\r\n",
            "HTTP/2.0 200 OK\r\n\r\n",
            "HTTP/1.1 099 Low\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
        };
        LgResp *p = malloc(sizeof(*p));
        char *big = malloc(LG_HEAD_MAX + 64);
        size_t used;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(feed(p, bad[i], false, &used), -EBADMSG);
                assert_int_equal(feed(p, bad[i], true, &used), -EBADMSG);
        }
        /* A head that never ends is refused at LG_HEAD_MAX, not buffered forever. */
        snprintf(big, LG_HEAD_MAX + 64, "HTTP/1.1 200 OK\r\nX-Pad: ");
        memset(big + strlen(big), 'a', LG_HEAD_MAX);
        big[LG_HEAD_MAX + 20] = '\0';
        assert_int_equal(feed(p, big, false, &used), -EBADMSG);
        /* A binary body (NULs) after the head is fine, in one piece or byte by byte. */
        {
                static const char bin[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\0\0\0";
                lg_resp_reset(p);
                assert_int_equal(lg_resp_feed(p, bin, sizeof(bin) - 1, &used), 1);
                assert_int_equal(used, sizeof(bin) - 1);
                lg_resp_reset(p);
                for (size_t i = 0; i < sizeof(bin) - 1; i++)
                        assert_int_equal(lg_resp_feed(p, bin + i, 1, &used),
                                         i == sizeof(bin) - 2 ? 1 : 0);
        }
        /* NUL bytes in the head. */
        lg_resp_reset(p);
        assert_int_equal(lg_resp_feed(p, "HTTP/1.1 200 OK\r\n\0\r\n\r\n", 21, &used), -EBADMSG);
        /* Nothing received, then close: a reset. */
        lg_resp_reset(p);
        assert_false(lg_resp_started(p));
        assert_int_equal(lg_resp_eof(p), -ECONNRESET);
        free(big);
        free(p);
        (void)state;
}

/* ---- targets -------------------------------------------------------------------------------- */

static void test_target(void **state)
{
        LgTarget t;
        char err[256];

        assert_int_equal(lg_target_parse_url("http://127.0.0.1:18760/v1/pipelines/echo/infer", &t,
                                             err, sizeof(err)),
                         0);
        assert_int_equal(t.addr.ss_family, AF_INET);
        assert_string_equal(t.host, "127.0.0.1:18760");
        assert_string_equal(t.path, "/v1/pipelines/echo/infer");
        assert_int_equal(lg_target_parse_url("http://localhost/x", &t, err, sizeof(err)), 0);
        assert_string_equal(t.host, "127.0.0.1:80");
        assert_int_equal(lg_target_parse_url("http://127.1.2.3:9/x", &t, err, sizeof(err)), 0);
        assert_int_equal(lg_target_parse_url("http://[::1]:8750/v1", &t, err, sizeof(err)), 0);
        assert_int_equal(t.addr.ss_family, AF_INET6);
        assert_string_equal(t.host, "[::1]:8750");
        /* Not loopback: refused, with a message saying why. */
        assert_int_equal(lg_target_parse_url("http://10.0.0.1:80/x", &t, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "loopback"));
        assert_int_equal(lg_target_parse_url("http://[2001:db8::1]:80/x", &t, err, sizeof(err)),
                         -EPERM);
        assert_int_equal(lg_target_parse_url("http://0.0.0.0:80/x", &t, err, sizeof(err)), -EPERM);
        /* Malformed. */
        static const char *const bad[] = {
            "https://127.0.0.1/x",
            "http://127.0.0.1",
            "http://example.com/x",
            "http://127.0.0.1:0/x",
            "http://127.0.0.1:65536/x",
            "http://127.0.0.1:8a/x",
            "http://[::1/x",
            "http://:80/x",
            "http://127.0.0.1/a b",
            "127.0.0.1:80/x",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(lg_target_parse_url(bad[i], &t, err, sizeof(err)), -EINVAL);
        assert_int_equal(
            lg_target_unix("/run/sponged.sock", "/v1/pipelines/a/infer", &t, err, sizeof(err)), 0);
        assert_int_equal(t.addr.ss_family, AF_UNIX);
        assert_int_equal(lg_target_unix("/run/x", "v1/no-slash", &t, err, sizeof(err)), -EINVAL);
        (void)state;
}

/* ---- schedules ------------------------------------------------------------------------------ */

static void test_steps(void **state)
{
        double *rates = NULL;
        size_t n = 0;
        char err[256];

        assert_int_equal(lg_steps_parse("100:2,0:1,50.5:3", &rates, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 6);
        assert_true(rates[0] == 100 && rates[1] == 100 && rates[2] == 0 && rates[5] == 50.5);
        free(rates);
        static const char *const bad[] = {"",      "100",  "100:",     ":3",  "100:0", "-1:3",
                                          "1:2.5", "1:2,", "1:2,,3:4", "x:1", "1:+2",  "1e9:1"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(lg_steps_parse(bad[i], &rates, &n, err, sizeof(err)), -EINVAL);
        (void)state;
}

static void test_trace(void **state)
{
        char plain[128], gz[128], err[256];
        double *rates;
        size_t n;
        FILE *f;
        gzFile g;

        snprintf(plain, sizeof(plain), "%s/trace.txt", tmpdir);
        snprintf(gz, sizeof(gz), "%s/trace.txt.gz", tmpdir);
        f = fopen(plain, "we");
        g = gzopen(gz, "wb");
        assert_non_null(f);
        assert_non_null(g);
        for (int i = 0; i < 100; i++) {
                fprintf(f, "%d\n", i * 2);
                gzprintf(g, "%d\n", i * 2);
        }
        fclose(f);
        gzclose(g);
        for (int k = 0; k < 2; k++) {
                assert_int_equal(
                    lg_trace_load(k ? gz : plain, 10, 5, 0.5, &rates, &n, err, sizeof(err)), 0);
                assert_int_equal(n, 5);
                assert_true(rates[0] == 10.0 && rates[4] == 14.0); /* lines 10..14, ×0.5 */
                free(rates);
        }
        assert_int_equal(lg_trace_load(gz, 95, 10, 1, &rates, &n, err, sizeof(err)), -ERANGE);
        assert_int_equal(lg_trace_load("/nonexistent/trace", 0, 1, 1, &rates, &n, err, sizeof(err)),
                         -ENOENT);
        f = fopen(plain, "we");
        fprintf(f, "5\n6\nseven\n");
        fclose(f);
        assert_int_equal(lg_trace_load(plain, 0, 3, 1, &rates, &n, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "line 3"));

        /* The real trace, when the shared data is here: 0-based line 1301160 (IPA's "bursty"
         * segment, as Python's workload[1301160:...] indexes it) is 54, then 41, 36. */
        const char *shared = getenv("SPONGE_SHARED_DATA");
        char real[512];
        if (shared) {
                snprintf(real, sizeof(real), "%s/twitter-2018-04-rps.txt.gz", shared);
                if (access(real, R_OK) == 0) {
                        assert_int_equal(
                            lg_trace_load(real, 1301160, 3, 1, &rates, &n, err, sizeof(err)), 0);
                        assert_true(rates[0] == 54 && rates[1] == 41 && rates[2] == 36);
                        free(rates);
                }
        }
        (void)state;
}

static void test_ghent(void **state)
{
        static const char log[] = "1450274031248 725 51.06 3.73 3263799 725\n"
                                  "1450274032248 1725 51.06 3.73 4000000 1000\n"
                                  "\n"
                                  "1450274033248 2725 51.06 3.73 0 1000\r\n";
        double *ms;
        size_t n;
        char err[256];

        assert_int_equal(lg_ghent_parse(log, 200000, &ms, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 3);
        assert_true(fabs(ms[0] - 200000.0 * 725 / 3263799) < 1e-9);
        assert_true(fabs(ms[1] - 50.0) < 1e-9); /* 200 kB at 4000 bytes/ms */
        assert_true(ms[2] == LG_NET_MS_MAX);    /* link down */
        free(ms);
        assert_int_equal(lg_ghent_parse("1 2 3 4 5\n", 1, &ms, &n, err, sizeof(err)), -EINVAL);
        assert_int_equal(lg_ghent_parse("1 2 3 4 5 6 7\n", 1, &ms, &n, err, sizeof(err)), -EINVAL);
        assert_int_equal(lg_ghent_parse("1 2 3 4 -5 6\n", 1, &ms, &n, err, sizeof(err)), -EINVAL);
        assert_int_equal(lg_ghent_parse("", 1, &ms, &n, err, sizeof(err)), -EINVAL);

        const char *shared = getenv("SPONGE_SHARED_DATA");
        char real[512];
        if (shared) {
                snprintf(real, sizeof(real), "%s/ghent-4g-bus-bandwidth.log", shared);
                if (access(real, R_OK) == 0) {
                        assert_int_equal(lg_ghent_load(real, 200000, &ms, &n, err, sizeof(err)), 0);
                        assert_int_equal(n, 607);
                        free(ms);
                }
        }
        (void)state;
}

/* ---- arrivals ------------------------------------------------------------------------------- */

static void test_arrivals_poisson(void **state)
{
        static double rates[10] = {1000, 1000, 1000, 1000, 1000, 0, 0, 2000, 2000, 2000};
        LgArrivals a, b;
        uint64_t t, prev = 0, per_sec[10] = {0}, count = 0, same = 0;
        double sum_gap = 0, sum_gap2 = 0;
        uint64_t gaps = 0;

        lg_arrivals_init(&a, rates, 10, false, 42);
        lg_arrivals_init(&b, rates, 10, false, 42);
        while (lg_arrivals_next(&a, &t) == 0) {
                uint64_t u;
                assert_int_equal(lg_arrivals_next(&b, &u), 0);
                same += u == t;
                assert_true(t >= prev);
                assert_true(t < 10 * LG_USEC_PER_SEC);
                per_sec[t / LG_USEC_PER_SEC]++;
                if (count > 0 && t / LG_USEC_PER_SEC < 5) {
                        double g = (double)(t - prev) / 1e6;
                        sum_gap += g;
                        sum_gap2 += g * g;
                        gaps++;
                }
                prev = t;
                count++;
        }
        assert_int_equal(same, count); /* same seed, same times */
        assert_int_equal(per_sec[5] + per_sec[6], 0);
        /* Poisson(1000) per second: within 5 standard deviations (5·√1000 ≈ 158). */
        for (int s = 0; s < 5; s++)
                assert_true(llabs((long long)per_sec[s] - 1000) < 158);
        for (int s = 7; s < 10; s++)
                assert_true(llabs((long long)per_sec[s] - 2000) < 224);
        /* Exponential gaps: mean 1 ms, coefficient of variation 1 (uniform spacing gives 0). */
        double mean = sum_gap / (double)gaps, sd = sqrt(sum_gap2 / (double)gaps - mean * mean);
        assert_true(fabs(mean - 0.001) < 0.0001);
        assert_true(fabs(sd / mean - 1.0) < 0.1);
        /* Another seed, other times. */
        lg_arrivals_init(&a, rates, 10, false, 43);
        lg_arrivals_init(&b, rates, 10, false, 42);
        assert_int_equal(lg_arrivals_next(&a, &t), 0);
        uint64_t u;
        assert_int_equal(lg_arrivals_next(&b, &u), 0);
        assert_true(t != u);
        (void)state;
}

static void test_arrivals_uniform(void **state)
{
        static double rates[4] = {2.5, 2.5, 2.5, 2.5};
        static double four[1] = {4};
        LgArrivals a;
        uint64_t t, n = 0, times[8];

        lg_arrivals_init(&a, rates, 4, true, 1);
        while (lg_arrivals_next(&a, &t) == 0)
                n++;
        assert_int_equal(n, 10); /* the fractions carry: 2, 3, 2, 3 */
        lg_arrivals_init(&a, four, 1, true, 1);
        n = 0;
        while (lg_arrivals_next(&a, &t) == 0)
                times[n++] = t;
        assert_int_equal(n, 4);
        assert_true(times[0] == 125000 && times[1] == 375000 && times[3] == 875000);
        (void)state;
}

static void test_hist(void **state)
{
        LgHist *h = calloc(1, sizeof(*h));

        for (uint64_t v = 1; v <= 100000; v++)
                lg_hist_add(h, v);
        assert_true(fabs(lg_hist_quantile_us(h, 0.5) - 50000) / 50000 < 0.01);
        assert_true(fabs(lg_hist_quantile_us(h, 0.99) - 99000) / 99000 < 0.01);
        assert_true(lg_hist_quantile_us(h, 1.0) <= 100000);
        lg_hist_add(h, UINT64_MAX); /* clamped, no overflow */
        assert_int_equal(h->count, 100001);
        memset(h, 0, sizeof(*h));
        assert_true(lg_hist_quantile_us(h, 0.99) == 0);
        lg_hist_add(h, 7);
        assert_true(lg_hist_quantile_us(h, 0.5) == 7);
        free(h);
        (void)state;
}

/* ---- options -------------------------------------------------------------------------------- */

static int parse(LgOptions *o, const char *line)
{
        /* static: LgOptions borrows its strings from argv, and they must outlive this call */
        static char buf[1024];
        char *argv[64], err[512], *save = NULL;
        int argc = 0;

        snprintf(buf, sizeof(buf), "sponge-load %s", line);
        for (char *tok = strtok_r(buf, " ", &save); tok && argc < 63;
             tok = strtok_r(NULL, " ", &save))
                argv[argc++] = tok;
        argv[argc] = NULL;
        return lg_options_parse(argc, argv, o, err, sizeof(err));
}

static void test_options(void **state)
{
        LgOptions o;
        static const char *const good[] = {
            "--url http://127.0.0.1:1/x --rate 10 --duration 2 --slo-ms 100",
            "--unix /tmp/s --path /x --steps 1:1,2:2 --slo-ms 100 --uniform --seed 7",
            "--url http://127.0.0.1:1/x --trace t.gz --start 5 --length 9 --scale 0.25 --slo-ms 1 "
            "--ghent g.log --image-bytes 200000 --body-bytes 10 --max-conns 3 --drain-s 0.5 "
            "--timeout-s 2 --max-lag-ms 5 --max-requests 100 --csv o.csv --live",
        };
        static const char *const bad[] = {
            "--rate 10 --duration 2 --slo-ms 100", /* no target */
            "--url http://127.0.0.1:1/x --unix /s --path /x --rate 1 --duration 1 --slo-ms 1",
            "--unix /s --rate 1 --duration 1 --slo-ms 1",       /* no --path */
            "--url http://127.0.0.1:1/x --slo-ms 1",            /* no schedule */
            "--url http://127.0.0.1:1/x --rate 1 --slo-ms 1",   /* no duration */
            "--url http://127.0.0.1:1/x --rate 1 --duration 1", /* no SLO */
            "--url http://127.0.0.1:1/x --rate 1 --duration 1 --steps 1:1 --slo-ms 1",
            "--url http://127.0.0.1:1/x --trace t --slo-ms 1", /* no --length */
            "--url http://127.0.0.1:1/x --steps 1:1 --start 3 --slo-ms 1",
            "--url http://127.0.0.1:1/x --steps 1:1 --slo-ms 1 --ghent g",
            "--url http://127.0.0.1:1/x --steps 1:1 --slo-ms 1 --body-bytes 1 --body-file f",
            "--url http://127.0.0.1:1/x --rate -1 --duration 1 --slo-ms 1",
            "--url http://127.0.0.1:1/x --rate 1 --duration 0 --slo-ms 1",
            "--url http://127.0.0.1:1/x --rate 1x --duration 1 --slo-ms 1",
            "--url http://127.0.0.1:1/x --rate 1 --duration 1 --slo-ms 0",
            "--url http://127.0.0.1:1/x --rate 1 --duration 1 --slo-ms 1 --max-conns 0",
            "--url http://127.0.0.1:1/x --rate 1 --duration 1 --slo-ms 1 --bogus",
            "--url http://127.0.0.1:1/x --rate 1 --duration 1 --slo-ms 1 extra",
            "--url http://127.0.0.1:1/x --rate 1 --duration 1 --slo-ms 1 --live --quiet",
            "--url http://127.0.0.1:1/x --rate 1 --duration 1 --slo-ms",
        };

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                assert_int_equal(parse(&o, good[i]), 0);
        assert_int_equal(o.sched, LG_SCHED_TRACE);
        assert_true(o.scale == 0.25 && o.trace_start == 5 && o.max_conns == 3);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (parse(&o, bad[i]) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
        }
        assert_int_equal(parse(&o, "--help"), 0);
        assert_true(o.help);
        (void)state;
}

/* ---- an in-process server for the engine tests ---------------------------------------------- */

typedef enum SrvMode {
        SRV_OK,          /* 200, keep-alive */
        SRV_CLOSE,       /* reads the request, closes without a word */
        SRV_GARBAGE,     /* answers with something that is not HTTP */
        SRV_SILENT,      /* reads, never answers */
        SRV_MIX,         /* 200/429/503/504 in turn, chunked bodies */
        SRV_CLOSE_AFTER, /* answers 200 (keep-alive by the headers) and closes at once */
} SrvMode;

#define SRV_FDS 4096

typedef struct Srv {
        SrvMode mode;
        int lfd, stop_fd;
        pthread_t th;
        char path[108];
        char *buf[SRV_FDS]; /* per client fd: bytes received (owned by the thread) */
        size_t len[SRV_FDS];
        /* observations, read after the join */
        unsigned requests, conns, with_slo, with_net;
        double slo_ms, net_ms_max;
        size_t body_len;
} Srv;

static const char *header_value(const char *head, const char *name)
{
        const char *p = strcasestr(head, name);
        return p ? p + strlen(name) : NULL;
}

/* A whole request is in buf: handles it, returns its length (0 = need more, -1 = close). */
static long srv_request(Srv *s, int fd, const char *buf, size_t len)
{
        const char *end = memmem(buf, len, "\r\n\r\n", 4), *v;
        size_t head, body = 0, k;
        char resp[512];
        int n = 0;

        if (!end)
                return len > 8192 ? -1 : 0;
        head = (size_t)(end + 4 - buf);
        {
                char h[8192];
                memcpy(h, buf, head < sizeof(h) - 1 ? head : sizeof(h) - 1);
                h[head < sizeof(h) - 1 ? head : sizeof(h) - 1] = '\0';
                if ((v = header_value(h, "\r\nContent-Length:")))
                        body = strtoul(v, NULL, 10);
                if ((v = header_value(h, "\r\nX-Sponge-Slo-Ms:"))) {
                        s->with_slo++;
                        s->slo_ms = strtod(v, NULL);
                }
                if ((v = header_value(h, "\r\nX-Sponge-Network-Ms:"))) {
                        double net = strtod(v, NULL);
                        s->with_net++;
                        if (net > s->net_ms_max)
                                s->net_ms_max = net;
                }
        }
        if (len < head + body)
                return 0;
        s->body_len = body;
        k = s->requests++;
        switch (s->mode) {
        case SRV_OK: /* echoes the body, binary as it is, like sponge-worker-echo */
                n = snprintf(resp, sizeof(resp),
                             "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Sponge-Variants: a,b\r\n"
                             "X-Sponge-Latency-Ms: 0.5\r\n\r\n",
                             body);
                if (write(fd, resp, (size_t)n) != n || write(fd, buf + head, body) != (ssize_t)body)
                        return -1;
                return (long)(head + body);
        case SRV_CLOSE_AFTER:
                n = snprintf(resp, sizeof(resp),
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Sponge-Variants: a,b\r\n"
                             "X-Sponge-Latency-Ms: 0.5\r\n\r\nok");
                break;
        case SRV_GARBAGE:
                n = snprintf(resp, sizeof(resp), "SSH-2.0-OpenSSH_9.2\r\n\r\n");
                break;
        case SRV_MIX: {
                static const unsigned st[4] = {200, 429, 503, 504};
                n = snprintf(resp, sizeof(resp),
                             "HTTP/1.1 %u X\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n0\r\n\r\n",
                             st[k % 4]);
                break;
        }
        case SRV_CLOSE:
                return -1;
        case SRV_SILENT:
                break;
        }
        if (n > 0 && write(fd, resp, (size_t)n) != n)
                return -1;
        if (s->mode == SRV_CLOSE_AFTER)
                return -1;
        return (long)(head + body);
}

static void srv_close(Srv *s, int fd)
{
        close(fd);
        free(s->buf[fd]);
        s->buf[fd] = NULL;
        s->len[fd] = 0;
}

static void srv_readable(Srv *s, int fd)
{
        char tmp[65536];
        ssize_t n = read(fd, tmp, sizeof(tmp));
        long used;

        if (n <= 0) {
                srv_close(s, fd);
                return;
        }
        s->buf[fd] = realloc(s->buf[fd], s->len[fd] + (size_t)n);
        memcpy(s->buf[fd] + s->len[fd], tmp, (size_t)n);
        s->len[fd] += (size_t)n;
        while ((used = srv_request(s, fd, s->buf[fd], s->len[fd])) > 0) {
                memmove(s->buf[fd], s->buf[fd] + used, s->len[fd] - (size_t)used);
                s->len[fd] -= (size_t)used;
        }
        if (used < 0)
                srv_close(s, fd);
}

static void *srv_main(void *arg)
{
        Srv *s = arg;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN}, evs[64];

        ev.data.fd = s->lfd;
        epoll_ctl(ep, EPOLL_CTL_ADD, s->lfd, &ev);
        ev.data.fd = s->stop_fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, s->stop_fd, &ev);
        for (;;) {
                int n = epoll_wait(ep, evs, 64, -1);
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;
                        if (fd == s->stop_fd) {
                                for (int c = 0; c < SRV_FDS; c++)
                                        if (s->buf[c] || s->len[c])
                                                srv_close(s, c);
                                close(ep);
                                return NULL;
                        }
                        if (fd == s->lfd) {
                                int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
                                if (c < 0 || c >= SRV_FDS) {
                                        if (c >= 0)
                                                close(c);
                                        continue;
                                }
                                s->conns++;
                                s->buf[c] = malloc(1);
                                ev.data.fd = c;
                                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                                continue;
                        }
                        srv_readable(s, fd);
                }
        }
}

static Srv *srv_start(SrvMode mode)
{
        Srv *s = calloc(1, sizeof(*s));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        s->mode = mode;
        snprintf(s->path, sizeof(s->path), "%s/srv.sock", tmpdir);
        unlink(s->path);
        memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
        s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->lfd >= 0);
        assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(s->lfd, 1024), 0);
        s->stop_fd = eventfd(0, EFD_CLOEXEC);
        assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
        return s;
}

static void srv_stop(Srv *s)
{
        uint64_t one = 1;

        assert_int_equal(write(s->stop_fd, &one, sizeof(one)), sizeof(one));
        pthread_join(s->th, NULL);
        close(s->stop_fd);
        close(s->lfd);
        unlink(s->path);
}

/* After srv_stop: the observations stay readable until this. */
static void srv_free(Srv *s)
{
        free(s);
}

/* Runs sponge-load with the options in line (the target is added) and checks the accounting. */
static LgStats *run(const char *sock, const char *line)
{
        char full[1024], err[512];
        LgOptions o;
        LgConfig *c = NULL;
        LgStats *s = calloc(1, sizeof(*s));
        uint64_t by = 0;

        snprintf(full, sizeof(full), "--unix %s --path /v1/pipelines/t/infer --quiet %s", sock,
                 line);
        assert_int_equal(parse(&o, full), 0);
        if (lg_config_load(&o, &c, err, sizeof(err)) < 0)
                fail_msg("config: %s", err);
        if (lg_run(c, s, err, sizeof(err)) < 0)
                fail_msg("run: %s", err);
        for (unsigned i = 0; i < 600; i++)
                by += s->by_status[i];
        /* Every request is counted exactly once, and the run ended in time. */
        assert_int_equal(s->scheduled, s->sent + s->not_sent);
        assert_int_equal(s->sent, s->answered + s->errors + s->timeout);
        assert_int_equal(s->answered, by);
        assert_true(s->elapsed_s <= s->duration_s + (double)c->drain_us / 1e6 + 3.0);
        lg_config_free(c);
        return s;
}

static void test_engine_ok(void **state)
{
        Srv *srv = srv_start(SRV_OK);
        char ghent[128], line[512], csv[128];
        FILE *f;
        LgStats *s;

        snprintf(ghent, sizeof(ghent), "%s/ghent.log", tmpdir);
        snprintf(csv, sizeof(csv), "%s/out.csv", tmpdir);
        f = fopen(ghent, "we");
        fprintf(f, "1 1 0 0 4000000 1000\n1 1 0 0 1000 1000\n"); /* 50 ms, then 200 s */
        fclose(f);
        snprintf(line, sizeof(line),
                 "--rate 300 --duration 2 --slo-ms 5000 --ghent %s --image-bytes 200000 "
                 "--body-bytes 1000 --csv %s",
                 ghent, csv);
        s = run(srv->path, line);
        srv_stop(srv);
        assert_int_equal(srv->with_slo, s->sent);
        assert_int_equal(srv->with_net, s->sent);
        assert_true(fabs(srv->net_ms_max - 200000.0) < 1e-6);
        assert_int_equal(srv->body_len, 1000);
        srv_free(srv);
        assert_true(s->sent > 450 && s->sent < 750);
        assert_int_equal(s->answered, s->sent);
        assert_int_equal(s->ok, s->sent);
        assert_int_equal(s->not_sent, 0);
        /* Second 0: budget 4950 ms, met; second 1: 5000 − 200000 < 0, never within budget. */
        assert_true(s->within_budget > 0 && s->within_budget < s->ok);
        assert_true(s->conns_opened < s->sent / 4); /* keep-alive reuse */
        free(s);
        /* The CSV has the header and one line per request. */
        f = fopen(csv, "re");
        assert_non_null(f);
        {
                char buf[512];
                unsigned lines = 0, within = 0;
                while (fgets(buf, sizeof(buf), f)) {
                        lines++;
                        if (lines > 1 && strstr(buf, ",1,\"a,b\",answered"))
                                within++;
                }
                fclose(f);
                assert_true(lines > 450);
                assert_true(within > 0);
        }
        (void)state;
}

static void test_engine_headers(void **state)
{
        Srv *srv = srv_start(SRV_OK);
        char line[256];
        LgStats *s;

        snprintf(line, sizeof(line),
                 "--steps 50:1,0:1,50:1 --uniform --slo-ms 20000.5 --body-bytes 7");
        s = run(srv->path, line);
        srv_stop(srv);
        /* Uniform: exactly 50 + 0 + 50; each carried its SLO and its body, and no network. */
        assert_int_equal(s->scheduled, 100);
        assert_int_equal(srv->requests, 100);
        assert_int_equal(srv->with_slo, 100);
        assert_int_equal(srv->with_net, 0);
        assert_true(fabs(srv->slo_ms - 20000.5) < 1e-9);
        assert_int_equal(srv->body_len, 7);
        srv_free(srv);
        assert_int_equal(s->within_budget, 100);
        free(s);
        (void)state;
}

static void test_engine_misbehaving(void **state)
{
        static const struct {
                SrvMode mode;
                const char *what;
        } cases[] = {
            {SRV_CLOSE, "close"}, {SRV_GARBAGE, "garbage"}, {SRV_CLOSE_AFTER, "close-after"}};

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Srv *srv = srv_start(cases[i].mode);
                LgStats *s = run(srv->path, "--rate 200 --duration 1 --slo-ms 100 --drain-s 2");
                srv_stop(srv);
                srv_free(srv);
                print_message("%s: sent %llu answered %llu errors %llu (reset %llu garbage %llu) "
                              "retried %llu\n",
                              cases[i].what, (unsigned long long)s->sent,
                              (unsigned long long)s->answered, (unsigned long long)s->errors,
                              (unsigned long long)s->errors_by[LG_ERR_RESET],
                              (unsigned long long)s->errors_by[LG_ERR_GARBAGE],
                              (unsigned long long)s->retried);
                assert_true(s->sent > 100);
                switch (cases[i].mode) {
                case SRV_CLOSE:
                        assert_int_equal(s->errors_by[LG_ERR_RESET], s->sent);
                        break;
                case SRV_GARBAGE:
                        assert_int_equal(s->errors_by[LG_ERR_GARBAGE], s->sent);
                        break;
                default: /* closes after each answer: every request still answered */
                        assert_int_equal(s->answered, s->sent);
                        assert_int_equal(s->ok, s->sent);
                        break;
                }
                free(s);
        }
        (void)state;
}

static void test_engine_mix(void **state)
{
        Srv *srv = srv_start(SRV_MIX);
        LgStats *s = run(srv->path, "--rate 400 --duration 1 --uniform --slo-ms 20000");

        srv_stop(srv);
        srv_free(srv);
        assert_int_equal(s->answered, 400);
        assert_int_equal(s->by_status[200], 100);
        assert_int_equal(s->by_status[429], 100);
        assert_int_equal(s->by_status[503], 100);
        assert_int_equal(s->by_status[504], 100);
        assert_int_equal(s->within_budget, 100);
        assert_true(fabs(s->within_budget * 100.0 / (double)s->sent - 25.0) < 1e-9);
        free(s);
        (void)state;
}

static void test_engine_silent(void **state)
{
        Srv *srv = srv_start(SRV_SILENT);
        LgStats *s;

        /* Never answered: every request times out at the end of the drain. */
        s = run(srv->path, "--rate 100 --duration 1 --slo-ms 100 --drain-s 0.5");
        assert_int_equal(s->timeout, s->sent);
        assert_true(s->sent > 50);
        free(s);
        /* Two connections at most: the rest is not sent (no_conn), and nothing blocks. */
        s = run(srv->path, "--rate 100 --duration 1 --slo-ms 100 --drain-s 0.2 --max-conns 2");
        assert_int_equal(s->sent, 2);
        assert_int_equal(s->not_sent_by[LG_NS_NO_CONN], s->scheduled - 2);
        free(s);
        /* Per-request timeout frees connections during the run. */
        s = run(srv->path, "--rate 20 --duration 2 --uniform --slo-ms 100 --drain-s 0 "
                           "--max-conns 4 --timeout-s 0.3");
        assert_true(s->sent > 8); /* more than the 4 connections: timeouts freed them */
        assert_true(s->not_sent > 0);
        assert_int_equal(s->timeout, s->sent);
        free(s);
        srv_stop(srv);
        srv_free(srv);
        (void)state;
}

static void test_engine_no_server(void **state)
{
        char path[128];
        LgStats *s;

        snprintf(path, sizeof(path), "%s/nobody.sock", tmpdir);
        s = run(path, "--rate 100 --duration 1 --slo-ms 100");
        assert_int_equal(s->sent, 0);
        assert_int_equal(s->not_sent_by[LG_NS_CONNECT], s->scheduled);
        assert_true(s->scheduled > 50);
        free(s);
        (void)state;
}

static int setup_tmp(void **state)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-loadgen-XXXXXX");
        (void)state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
        static const char *const names[] = {"trace.txt", "trace.txt.gz", "ghent.log", "out.csv",
                                            "srv.sock"};
        char p[160];

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
                unlink(p);
        }
        (void)state;
        return rmdir(tmpdir);
}

int main(int argc, char **argv)
{
        static const struct CMUnitTest unit[] = {
            cmocka_unit_test(test_resp_ok),
            cmocka_unit_test(test_resp_chunked),
            cmocka_unit_test(test_resp_garbage),
            cmocka_unit_test(test_target),
            cmocka_unit_test(test_steps),
            cmocka_unit_test(test_trace),
            cmocka_unit_test(test_ghent),
            cmocka_unit_test(test_arrivals_poisson),
            cmocka_unit_test(test_arrivals_uniform),
            cmocka_unit_test(test_hist),
            cmocka_unit_test(test_options),
        };
        static const struct CMUnitTest engine[] = {
            cmocka_unit_test(test_engine_ok),          cmocka_unit_test(test_engine_headers),
            cmocka_unit_test(test_engine_misbehaving), cmocka_unit_test(test_engine_mix),
            cmocka_unit_test(test_engine_silent),      cmocka_unit_test(test_engine_no_server),
        };
        const char *only = argc > 1 ? argv[1] : NULL;
        int failed = 0;

        if (only && strcmp(only, "unit") != 0 && strcmp(only, "engine") != 0) {
                fprintf(stderr, "usage: %s [unit|engine]\n", argv[0]);
                return 2;
        }
        if (!only || strcmp(only, "unit") == 0)
                failed +=
                    cmocka_run_group_tests_name("loadgen-unit", unit, setup_tmp, teardown_tmp);
        if (!only || strcmp(only, "engine") == 0)
                failed +=
                    cmocka_run_group_tests_name("loadgen-engine", engine, setup_tmp, teardown_tmp);
        return failed ? 1 : 0;
}
