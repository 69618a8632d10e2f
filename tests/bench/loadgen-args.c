/* SPDX-License-Identifier: MIT */
/* loadgen-args.c — sponge-load's command line (parse and check, no I/O) and the configuration
 * built from it (reads the trace, the Ghent log and the body file). See loadgen.h. */
#include "tests/bench/loadgen.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return r;
}

void lg_usage(FILE *f)
{
        fputs(
            "Usage: sponge-load TARGET SCHEDULE --slo-ms X [OPTIONS]\n"
            "Open-loop HTTP load generator for sponged's POST /v1/pipelines/NAME/infer.\n"
            "Send times are fixed before the run (Poisson within each second, or --uniform)\n"
            "and never wait for answers; a request that cannot leave on time is counted as\n"
            "not sent. The last line of stdout is one JSON object with the totals.\n"
            "\n"
            "Target (loopback or UNIX socket only):\n"
            "  --url http://127.0.0.1:PORT/v1/pipelines/NAME/infer\n"
            "  --unix SOCKET --path /v1/pipelines/NAME/infer\n"
            "Schedule (one of):\n"
            "  --rate R --duration S        R requests/s for S seconds\n"
            "  --trace FILE[.gz] --start I --length N [--scale F]\n"
            "                               lines I..I+N-1 (0-based) of a requests/s trace,\n"
            "                               each times F (default 1)\n"
            "  --steps R1:S1,R2:S2,...      R1 requests/s for S1 seconds, then ...\n"
            "  --uniform                    evenly spaced within each second, not Poisson\n"
            "Budgets:\n"
            "  --slo-ms X                   end-to-end SLO, sent as X-Sponge-Slo-Ms (required)\n"
            "  --ghent FILE --image-bytes B per request: network ms = B / (bytes/ms of the Ghent\n"
            "                               4G log at that second, cycled), sent as\n"
            "                               X-Sponge-Network-Ms; budget = SLO - network ms\n"
            "Body:\n"
            "  --body-bytes N               N random bytes from --seed (default 0)\n"
            "  --body-file F                the file's bytes\n"
            "Run:\n"
            "  --seed N                     arrivals and body (default 1)\n"
            "  --max-conns N                open connections at most (default 512)\n"
            "  --drain-s S                  wait for answers after the schedule (default 10)\n"
            "  --timeout-s S                give up a request after S seconds (default 30)\n"
            "  --max-lag-ms MS              not sent if the generator is this late (default 1000)\n"
            "  --max-requests N             hard bound on requests (default 20000000)\n"
            "  --csv FILE                   one line per request\n"
            "  --live                       per-second lines on stdout (default: stderr)\n"
            "  --quiet                      no per-second lines\n"
            "  -h, --help                   this text\n"
            "Exit status: 0 after a run (whatever the server answered), 1 if the generator\n"
            "could not run, 2 on bad arguments.\n",
            f);
}

static int num_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *ret,
                   char *err, size_t errlen)
{
        char *e;
        unsigned long long v;

        errno = 0;
        v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &e, 10) : 0;
        if (s[0] < '0' || s[0] > '9' || errno || *e || v < min || v > max)
                return fail(err, errlen, -EINVAL,
                            "--%s \"%.40s\": expected a whole number in [%llu, %llu]", name, s,
                            (unsigned long long)min, (unsigned long long)max);
        *ret = v;
        return 0;
}

static int num_double(const char *name, const char *s, double min, double max, double *ret,
                      char *err, size_t errlen)
{
        char *e;
        double v;

        errno = 0;
        v = strtod(s, &e);
        if (e == s || errno || *e || !isfinite(v) || v < min || v > max)
                return fail(err, errlen, -EINVAL, "--%s \"%.40s\": expected a number in [%g, %g]",
                            name, s, min, max);
        *ret = v;
        return 0;
}

enum {
        OPT_URL = 256,
        OPT_UNIX,
        OPT_PATH,
        OPT_RATE,
        OPT_DURATION,
        OPT_TRACE,
        OPT_START,
        OPT_LENGTH,
        OPT_SCALE,
        OPT_STEPS,
        OPT_UNIFORM,
        OPT_SLO,
        OPT_GHENT,
        OPT_IMAGE,
        OPT_BODY_BYTES,
        OPT_BODY_FILE,
        OPT_SEED,
        OPT_MAX_CONNS,
        OPT_DRAIN,
        OPT_TIMEOUT,
        OPT_MAX_LAG,
        OPT_MAX_REQ,
        OPT_CSV,
        OPT_LIVE,
        OPT_QUIET,
};

static const struct option long_opts[] = {
    {"url", required_argument, NULL, OPT_URL},
    {"unix", required_argument, NULL, OPT_UNIX},
    {"path", required_argument, NULL, OPT_PATH},
    {"rate", required_argument, NULL, OPT_RATE},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"start", required_argument, NULL, OPT_START},
    {"length", required_argument, NULL, OPT_LENGTH},
    {"scale", required_argument, NULL, OPT_SCALE},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"uniform", no_argument, NULL, OPT_UNIFORM},
    {"slo-ms", required_argument, NULL, OPT_SLO},
    {"ghent", required_argument, NULL, OPT_GHENT},
    {"image-bytes", required_argument, NULL, OPT_IMAGE},
    {"body-bytes", required_argument, NULL, OPT_BODY_BYTES},
    {"body-file", required_argument, NULL, OPT_BODY_FILE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"drain-s", required_argument, NULL, OPT_DRAIN},
    {"timeout-s", required_argument, NULL, OPT_TIMEOUT},
    {"max-lag-ms", required_argument, NULL, OPT_MAX_LAG},
    {"max-requests", required_argument, NULL, OPT_MAX_REQ},
    {"csv", required_argument, NULL, OPT_CSV},
    {"live", no_argument, NULL, OPT_LIVE},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, 'h'},
    {0},
};

/* Flags seen, to check combinations after the loop. */
typedef struct Seen {
        bool rate, duration, start, length, scale, image, body_bytes;
} Seen;

/* One option. Returns 0 or -EINVAL with a message. */
static int take(int opt, const char *arg, LgOptions *o, Seen *seen, char *err, size_t errlen)
{
        switch (opt) {
        case OPT_URL:
                o->url = arg;
                return 0;
        case OPT_UNIX:
                o->unix_path = arg;
                return 0;
        case OPT_PATH:
                o->path = arg;
                return 0;
        case OPT_RATE:
                seen->rate = true;
                return num_double("rate", arg, 0, LG_RATE_MAX, &o->rate, err, errlen);
        case OPT_DURATION:
                seen->duration = true;
                return num_u64("duration", arg, 1, LG_SECONDS_MAX, &o->duration_s, err, errlen);
        case OPT_TRACE:
                o->trace = arg;
                return 0;
        case OPT_START:
                seen->start = true;
                return num_u64("start", arg, 0, UINT32_MAX, &o->trace_start, err, errlen);
        case OPT_LENGTH:
                seen->length = true;
                return num_u64("length", arg, 1, LG_SECONDS_MAX, &o->trace_length, err, errlen);
        case OPT_SCALE:
                seen->scale = true;
                return num_double("scale", arg, 0, 10000, &o->scale, err, errlen);
        case OPT_STEPS:
                o->steps = arg;
                return 0;
        case OPT_UNIFORM:
                o->uniform = true;
                return 0;
        case OPT_SLO:
                o->have_slo = true;
                return num_double("slo-ms", arg, 0.001, LG_NET_MS_MAX, &o->slo_ms, err, errlen);
        case OPT_GHENT:
                o->ghent = arg;
                return 0;
        case OPT_IMAGE:
                seen->image = true;
                return num_u64("image-bytes", arg, 0, UINT32_MAX, &o->image_bytes, err, errlen);
        case OPT_BODY_BYTES:
                seen->body_bytes = true;
                return num_u64("body-bytes", arg, 0, LG_BODY_MAX, &o->body_bytes, err, errlen);
        case OPT_BODY_FILE:
                o->body_file = arg;
                return 0;
        case OPT_SEED:
                return num_u64("seed", arg, 0, UINT64_MAX, &o->seed, err, errlen);
        case OPT_MAX_CONNS:
                return num_u64("max-conns", arg, 1, LG_CONNS_MAX, &o->max_conns, err, errlen);
        case OPT_DRAIN:
                return num_double("drain-s", arg, 0, 3600, &o->drain_s, err, errlen);
        case OPT_TIMEOUT:
                return num_double("timeout-s", arg, 0.001, 3600, &o->timeout_s, err, errlen);
        case OPT_MAX_LAG:
                return num_double("max-lag-ms", arg, 0, 3600000, &o->max_lag_ms, err, errlen);
        case OPT_MAX_REQ:
                return num_u64("max-requests", arg, 1, 1000000000, &o->max_requests, err, errlen);
        case OPT_CSV:
                o->csv = arg;
                return 0;
        case OPT_LIVE:
                o->live = true;
                return 0;
        case OPT_QUIET:
                o->quiet = true;
                return 0;
        case 'h':
                o->help = true;
                return 0;
        default:
                return fail(err, errlen, -EINVAL, "unknown option or missing value (see --help)");
        }
}

/* The combinations: one target, one schedule, budgets, body. */
static int check(const LgOptions *o, const Seen *seen, char *err, size_t errlen)
{
        int schedules = (seen->rate || seen->duration) + !!o->trace + !!o->steps;

        if (!!o->url + !!o->unix_path != 1)
                return fail(err, errlen, -EINVAL, "give exactly one target: --url or --unix");
        if (o->unix_path && !o->path)
                return fail(err, errlen, -EINVAL, "--unix needs --path /v1/pipelines/NAME/infer");
        if (o->url && o->path)
                return fail(err, errlen, -EINVAL, "--path goes with --unix; --url has its path");
        if (schedules != 1)
                return fail(err, errlen, -EINVAL,
                            "give exactly one schedule: --rate R --duration S, --trace FILE "
                            "--start I --length N [--scale F], or --steps R:S,...");
        if ((seen->rate || seen->duration) && !(seen->rate && seen->duration))
                return fail(err, errlen, -EINVAL, "--rate and --duration go together");
        if (!o->trace && (seen->start || seen->length || seen->scale))
                return fail(err, errlen, -EINVAL, "--start, --length and --scale need --trace");
        if (o->trace && !seen->length)
                return fail(err, errlen, -EINVAL, "--trace needs --length N (seconds to replay)");
        if (!o->have_slo)
                return fail(err, errlen, -EINVAL,
                            "--slo-ms X is required (the budget every request is judged by)");
        if (!!o->ghent != seen->image)
                return fail(err, errlen, -EINVAL, "--ghent and --image-bytes go together");
        if (o->body_file && seen->body_bytes)
                return fail(err, errlen, -EINVAL, "give --body-bytes or --body-file, not both");
        if (o->live && o->quiet)
                return fail(err, errlen, -EINVAL, "--live and --quiet exclude each other");
        return 0;
}

int lg_options_parse(int argc, char **argv, LgOptions *ret, char *err, size_t errlen)
{
        LgOptions o = {
            .scale = 1.0,
            .seed = 1,
            .max_conns = 512,
            .drain_s = 10,
            .timeout_s = 30,
            .max_lag_ms = 1000,
            .max_requests = LG_REQUESTS_DEFAULT,
        };
        Seen seen = {0};
        int c, r;

        optind = 0; /* full re-initialisation (glibc), so tests can parse several argvs */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
                if (c == '?' || c == ':')
                        return fail(err, errlen, -EINVAL, "unknown option or missing value: %s",
                                    optind > 0 && optind <= argc ? argv[optind - 1] : "?");
                r = take(c, optarg, &o, &seen, err, errlen);
                if (r < 0)
                        return r;
        }
        if (!o.help) {
                if (optind < argc)
                        return fail(err, errlen, -EINVAL, "unexpected argument \"%.40s\"",
                                    argv[optind]);
                r = check(&o, &seen, err, errlen);
                if (r < 0)
                        return r;
                o.sched = o.steps ? LG_SCHED_STEPS : o.trace ? LG_SCHED_TRACE : LG_SCHED_CONSTANT;
        }
        *ret = o;
        return 0;
}

/* ---- configuration -------------------------------------------------------------------------- */

LgConfig *lg_config_free(LgConfig *c)
{
        if (!c)
                return NULL;
        free(c->rates);
        free(c->net_ms);
        free(c->body);
        free(c->csv_path);
        free(c);
        return NULL;
}

double lg_config_expected(const LgConfig *c)
{
        double sum = 0;

        for (size_t i = 0; i < c->n_seconds; i++)
                sum += c->rates[i];
        return sum;
}

static int body_file(const char *path, uint8_t **ret, size_t *ret_len, char *err, size_t errlen)
{
        FILE *f = fopen(path, "re");
        uint8_t *buf;
        size_t len;
        int r;

        if (!f)
                return fail(err, errlen, -errno, "--body-file %s: %s", path, strerror(errno));
        buf = malloc((size_t)LG_BODY_MAX + 1);
        if (!buf) {
                fclose(f);
                return fail(err, errlen, -ENOMEM, "out of memory");
        }
        len = fread(buf, 1, (size_t)LG_BODY_MAX + 1, f);
        r = ferror(f) ? -EIO : len > LG_BODY_MAX ? -EFBIG : 0;
        fclose(f);
        if (r < 0) {
                free(buf);
                return fail(err, errlen, r, "--body-file %s: %s", path,
                            r == -EIO ? "read error" : "larger than 64 MiB");
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int body_random(uint64_t n, uint64_t seed, uint8_t **ret, char *err, size_t errlen)
{
        uint8_t *buf = malloc(n ? n : 1);
        LgRng rng;

        if (!buf)
                return fail(err, errlen, -ENOMEM, "out of memory");
        /* A stream of its own (seed + a constant), so the body never shifts the arrivals. */
        lg_rng_seed(&rng, seed ^ 0xb0d1b0d1b0d1b0d1ull);
        for (uint64_t i = 0; i < n; i += 8) {
                uint64_t x = lg_rng_next(&rng);
                memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
        }
        *ret = buf;
        return 0;
}

static int config_schedule(const LgOptions *o, LgConfig *c, char *err, size_t errlen)
{
        switch (o->sched) {
        case LG_SCHED_CONSTANT:
                c->rates = malloc(o->duration_s * sizeof(*c->rates));
                if (!c->rates)
                        return fail(err, errlen, -ENOMEM, "out of memory");
                for (uint64_t i = 0; i < o->duration_s; i++)
                        c->rates[i] = o->rate;
                c->n_seconds = o->duration_s;
                return 0;
        case LG_SCHED_TRACE:
                return lg_trace_load(o->trace, o->trace_start, o->trace_length, o->scale, &c->rates,
                                     &c->n_seconds, err, errlen);
        case LG_SCHED_STEPS:
                return lg_steps_parse(o->steps, &c->rates, &c->n_seconds, err, errlen);
        default:
                return fail(err, errlen, -EINVAL, "no schedule");
        }
}

int lg_config_load(const LgOptions *o_in, LgConfig **ret, char *err, size_t errlen)
{
        LgOptions o = *o_in;
        LgConfig *c = calloc(1, sizeof(*c));
        double expected;
        int r;

        if (!c)
                return fail(err, errlen, -ENOMEM, "out of memory");
        if (o.sched == LG_SCHED_NONE)
                o.sched = o.steps ? LG_SCHED_STEPS : o.trace ? LG_SCHED_TRACE : LG_SCHED_CONSTANT;
        r = o.url ? lg_target_parse_url(o.url, &c->target, err, errlen)
                  : lg_target_unix(o.unix_path, o.path, &c->target, err, errlen);
        if (r == 0)
                r = config_schedule(&o, c, err, errlen);
        if (r == 0 && o.ghent)
                r = lg_ghent_load(o.ghent, o.image_bytes, &c->net_ms, &c->n_net, err, errlen);
        if (r == 0)
                r = o.body_file ? body_file(o.body_file, &c->body, &c->body_len, err, errlen)
                                : body_random(o.body_bytes, o.seed, &c->body, err, errlen);
        if (r == 0 && !o.body_file)
                c->body_len = (size_t)o.body_bytes;
        if (r == 0 && o.csv && !(c->csv_path = strdup(o.csv)))
                r = fail(err, errlen, -ENOMEM, "out of memory");
        if (r < 0) {
                lg_config_free(c);
                return r;
        }
        expected = lg_config_expected(c);
        if (expected > (double)o.max_requests) {
                lg_config_free(c);
                return fail(err, errlen, -E2BIG,
                            "the schedule offers %.0f requests, more than --max-requests %llu",
                            expected, (unsigned long long)o.max_requests);
        }
        c->uniform = o.uniform;
        c->seed = o.seed;
        c->slo_ms = o.slo_ms;
        c->max_conns = (unsigned)o.max_conns;
        c->drain_us = (uint64_t)(o.drain_s * (double)LG_USEC_PER_SEC);
        c->timeout_us = (uint64_t)(o.timeout_s * (double)LG_USEC_PER_SEC);
        c->max_lag_us = (uint64_t)(o.max_lag_ms * (double)LG_USEC_PER_MSEC);
        c->max_requests = o.max_requests;
        c->report = o.quiet ? NULL : o.live ? stdout : stderr;
        *ret = c;
        return 0;
}
