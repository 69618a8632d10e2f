/* SPDX-License-Identifier: MIT */
/*
 * loadgen.h — sponge-load, the open-loop HTTP load generator for sponged's infer API
 * (`POST /v1/pipelines/{p}/infer`).
 *
 * What it does: turns a rate schedule (requests per second for each second of the run: constant,
 * steps, or a segment of the Twitter trace times a scale factor) into send times fixed before
 * the run starts (Poisson within each second, or evenly spaced), gives every request its own
 * latency budget (a fixed SLO, or the SLO minus the time an image spends on the Ghent 4G link at
 * that second, as Sponge does), sends each on its own connection from a pool of non-blocking
 * sockets driven by epoll, and records every request's outcome and latency.
 *
 * Invariants:
 * - Open loop: the send times depend only on the schedule and the seed, never on the answers.
 *   A request that cannot leave on time (no free connection below --max-conns, connect failure,
 *   the loop fell behind by more than --max-lag-ms) is counted as *not sent* with its reason;
 *   the generator never waits for a connection.
 * - Latency is measured from the request's *scheduled* send time to the last byte of its answer
 *   (no coordinated omission: a late send counts against the answer).
 * - Every scheduled request ends in exactly one outcome: not sent, answered (any HTTP status),
 *   error (connection reset / malformed answer) or timeout.
 * - Bounded: the schedule is at most LG_SECONDS_MAX seconds and --max-requests requests; after it,
 *   at most --drain-s seconds of waiting; every request at most --timeout-s seconds.
 * - Only loopback (127.0.0.0/8, ::1) and UNIX-socket targets: lg_target_parse refuses others.
 *
 * Threads: one. LgConfig is read-only during a run; LgRun (loadgen-run.c) owns every socket.
 *
 * Walk-through (see loadgen.c):
 *   LgOptions o; lg_options_parse(argc, argv, &o, err)   → strings and numbers, no I/O
 *   LgConfig *c; lg_config_load(&o, &c, err)              → reads the trace, Ghent log, body
 *   LgStats s;   lg_run(c, &s, err)                       → the run (per-second report, CSV)
 *   lg_stats_json(&s, stdout)                             → the final JSON line
 *   lg_config_free(c)
 * The pieces below it (schedule, arrivals, response parser, histogram) are pure functions on
 * memory buffers and are unit-tested on literal inputs (tests/bench/loadgen-test.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define LG_USEC_PER_SEC  1000000ULL
#define LG_USEC_PER_MSEC 1000ULL

#define LG_SECONDS_MAX      (30u * 86400u) /* schedule length (s): a month of trace */
#define LG_RATE_MAX         200000.0       /* requests/s in one second of the schedule */
#define LG_CONNS_MAX        20000u
#define LG_BODY_MAX         (64u << 20) /* request body (bytes) */
#define LG_HEAD_MAX         16384u      /* response status line + headers (bytes) */
#define LG_RESP_BODY_MAX    (256ull << 20)
#define LG_NET_MS_MAX       3600000.0 /* sponged accepts header values up to one hour */
#define LG_VARIANTS_MAX     128u      /* bytes kept of X-Sponge-Variants */
#define LG_REQUESTS_DEFAULT 20000000ull

/* ---- options (argv → values, no I/O) -------------------------------------------------------- */

typedef enum LgSchedKind {
        LG_SCHED_NONE,
        LG_SCHED_CONSTANT, /* --rate --duration */
        LG_SCHED_TRACE,    /* --trace --start --length --scale */
        LG_SCHED_STEPS,    /* --steps R:S,... */
} LgSchedKind;

typedef struct LgOptions {
        const char *url;       /* --url (borrowed from argv) */
        const char *unix_path; /* --unix */
        const char *path;      /* --path (with --unix) */
        LgSchedKind sched;
        double rate;
        uint64_t duration_s;
        const char *trace;
        uint64_t trace_start, trace_length;
        double scale;
        const char *steps;
        bool uniform;
        bool have_slo;
        double slo_ms;
        const char *ghent;
        uint64_t image_bytes;
        uint64_t body_bytes;
        const char *body_file;
        uint64_t seed;
        uint64_t max_conns;
        double drain_s, timeout_s, max_lag_ms;
        uint64_t max_requests;
        const char *csv;
        bool live, quiet;
        bool help;
} LgOptions;

/* Parses argv (getopt_long; resets optind). The strings in *ret point into argv. Returns 0 (with
 * ret->help set for --help, the rest unchecked then), or -EINVAL with a message for a person in
 * err (what was wrong and what is accepted); *ret is untouched on failure. */
int lg_options_parse(int argc, char **argv, LgOptions *ret, char *err, size_t errlen);
void lg_usage(FILE *f);

/* ---- target --------------------------------------------------------------------------------- */

typedef struct LgTarget {
        struct sockaddr_storage addr;
        socklen_t addr_len;
        char host[80];   /* Host header */
        char path[1024]; /* request target, starts with '/' */
} LgTarget;

/* http://HOST[:PORT]/PATH with HOST an IPv4 literal, [IPv6] literal or "localhost". Returns 0,
 * -EINVAL (malformed) or -EPERM (not a loopback address); message in err; *ret untouched then. */
int lg_target_parse_url(const char *url, LgTarget *ret, char *err, size_t errlen);
/* A UNIX socket path and a request path. Same returns as above. */
int lg_target_unix(const char *sock_path, const char *path, LgTarget *ret, char *err,
                   size_t errlen);

/* ---- rate schedule -------------------------------------------------------------------------- */

/* "R1:S1,R2:S2,...": rate R (requests/s, >= 0) for S whole seconds (>= 1). Returns 0 and a
 * malloc'ed array of one rate per second, or -EINVAL/-E2BIG (message in err; nothing allocated). */
int lg_steps_parse(const char *spec, double **ret_rates, size_t *ret_n, char *err, size_t errlen);
/* Lines [start, start + length) (0-based) of a trace of one non-negative integer per line, read
 * with zlib (gzip or plain), each times scale. Returns 0, -ENOENT/-EIO (cannot read), -EINVAL
 * (malformed line, message names it) or -ERANGE (the file is shorter than start + length). */
int lg_trace_load(const char *path, uint64_t start, uint64_t length, double scale,
                  double **ret_rates, size_t *ret_n, char *err, size_t errlen);

/* Network time (ms) of an image of image_bytes on each second of the Ghent 4G log (whitespace
 * separated: unix ms, elapsed ms, lat, lon, bytes in the interval, interval ms): image_bytes ÷
 * (bytes / interval ms), capped at LG_NET_MS_MAX (a second with no bytes gets the cap). */
int lg_ghent_load(const char *path, uint64_t image_bytes, double **ret_net_ms, size_t *ret_n,
                  char *err, size_t errlen);
/* Same, on a buffer in memory (NUL-terminated). */
int lg_ghent_parse(const char *text, uint64_t image_bytes, double **ret_net_ms, size_t *ret_n,
                   char *err, size_t errlen);

/* ---- arrivals ------------------------------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64 (Blackman & Vigna, "Scrambled linear pseudorandom
 * number generators", 2021): fast, and the same seed gives the same run on every machine. */
typedef struct LgRng {
        uint64_t s[4];
} LgRng;
void lg_rng_seed(LgRng *r, uint64_t seed);
uint64_t lg_rng_next(LgRng *r);
/* Uniform in (0, 1]. */
double lg_rng_unit(LgRng *r);

/* Walks the schedule second by second. Poisson: exponential gaps at that second's rate,
 * restarted at each second boundary (exact for a piecewise-constant rate, since the exponential
 * is memoryless). Uniform: floor(rate + carry) requests evenly spaced in the second, the
 * fraction carried to the next so the mean rate is kept. */
typedef struct LgArrivals {
        const double *rates; /* borrowed */
        size_t n_seconds;
        bool uniform;
        LgRng rng;
        size_t sec;        /* second being walked */
        double t_s;        /* Poisson: last arrival (s from the start) */
        double carry;      /* uniform: fractional requests carried over */
        uint64_t k, count; /* uniform: next index in this second, requests in it */
        bool second_open;
} LgArrivals;
void lg_arrivals_init(LgArrivals *a, const double *rates, size_t n_seconds, bool uniform,
                      uint64_t seed);
/* The next send time in µs from the start of the run. Returns 0, or -ENOENT after the last
 * (then *ret_offset_us is untouched). Non-decreasing. */
int lg_arrivals_next(LgArrivals *a, uint64_t *ret_offset_us);

/* ---- HTTP response parser ------------------------------------------------------------------- */

typedef enum LgRespState {
        LG_RESP_HEAD,
        LG_RESP_BODY_LEN,
        LG_RESP_CHUNK_SIZE,
        LG_RESP_CHUNK_DATA,
        LG_RESP_CHUNK_CRLF,
        LG_RESP_TRAILER,
        LG_RESP_BODY_EOF, /* no length: the body ends when the server closes */
        LG_RESP_DONE,
} LgRespState;

typedef struct LgResp {
        LgRespState state;
        unsigned status;
        bool keep_alive;
        bool late;          /* X-Sponge-Late: 1 */
        double server_ms;   /* X-Sponge-Latency-Ms, -1 when absent */
        uint64_t remaining; /* body / chunk bytes left */
        size_t head_len;
        size_t line_len; /* chunk-size / trailer line */
        uint64_t body_bytes;
        char variants[LG_VARIANTS_MAX]; /* X-Sponge-Variants, "" when absent */
        char line[128];
        char head[LG_HEAD_MAX];
} LgResp;

void lg_resp_reset(LgResp *p);
/* Feeds received bytes. Returns 1 when a whole response is in (*ret_used = bytes of data it
 * took; the rest belongs to no request), 0 when it needs more (all taken), or -EBADMSG for a
 * malformed or oversized response (the connection must be closed). 1xx answers are skipped. */
int lg_resp_feed(LgResp *p, const char *data, size_t len, size_t *ret_used);
/* The server closed the connection: 1 if that completes the response (body delimited by close),
 * -ECONNRESET if nothing or only part of it had arrived. */
int lg_resp_eof(const LgResp *p);
/* Whether any byte of a response has been received. */
bool lg_resp_started(const LgResp *p);

/* ---- latency histogram ---------------------------------------------------------------------- */

/* Log-linear buckets over µs: exact below 128 µs, then 64 buckets per power of two, so a
 * percentile is within 1/128 (0.8 %) of the true value; values above 2^40 µs are clamped.
 * The HdrHistogram layout (G. Tene), in fixed memory. */
#define LG_HIST_SUB     64u
#define LG_HIST_BUCKETS ((40u - 6u + 1u) * LG_HIST_SUB + LG_HIST_SUB)
typedef struct LgHist {
        uint64_t count;
        uint64_t max_us;
        uint64_t buckets[LG_HIST_BUCKETS];
} LgHist;
void lg_hist_add(LgHist *h, uint64_t value_us);
/* The p-quantile (0 < p <= 1) in µs (middle of its bucket), 0 when empty. */
double lg_hist_quantile_us(const LgHist *h, double p);

/* ---- the run -------------------------------------------------------------------------------- */

typedef struct LgConfig {
        LgTarget target;
        double *rates; /* owned: requests/s for each second of the schedule */
        size_t n_seconds;
        bool uniform;
        uint64_t seed;
        double slo_ms;
        double *net_ms; /* owned: Ghent network ms per second, cycled; NULL = fixed budget */
        size_t n_net;
        uint8_t *body; /* owned */
        size_t body_len;
        unsigned max_conns;
        uint64_t drain_us, timeout_us, max_lag_us;
        uint64_t max_requests;
        char *csv_path; /* owned, NULL = no CSV */
        FILE *report;   /* per-second lines: stderr, stdout with --live, NULL with --quiet */
} LgConfig;

/* Builds the run's configuration from parsed options: target, schedule (reads the trace),
 * budgets (reads the Ghent log), body (random from the seed, or the file). Returns 0, or
 * a negative errno with a message in err (nothing allocated then). */
int lg_config_load(const LgOptions *o, LgConfig **ret, char *err, size_t errlen);
LgConfig *lg_config_free(LgConfig *c);
/* Expected number of requests of the schedule (sum of the rates). */
double lg_config_expected(const LgConfig *c);

typedef enum LgNotSent {
        LG_NS_NO_CONN, /* all --max-conns connections busy */
        LG_NS_CONNECT, /* connect() failed (refused, backlog full, ...) */
        LG_NS_SOCKET,  /* socket() failed (out of fds) */
        LG_NS_LATE,    /* the generator fell behind by more than --max-lag-ms */
        LG_NS_STOPPED, /* interrupted (SIGINT/SIGTERM) before its time */
        LG_NS_N,
} LgNotSent;

typedef enum LgError {
        LG_ERR_RESET,   /* closed or reset before a whole answer */
        LG_ERR_GARBAGE, /* not HTTP, or oversized */
        LG_ERR_N,
} LgError;

typedef struct LgStats {
        uint64_t scheduled; /* requests whose time came (sent + not sent) */
        uint64_t sent;      /* first byte written */
        uint64_t answered;  /* a whole HTTP response, any status */
        uint64_t not_sent, not_sent_by[LG_NS_N];
        uint64_t errors, errors_by[LG_ERR_N];
        uint64_t timeout;
        uint64_t retried;       /* reused keep-alive connection closed under us: sent again once */
        uint64_t ok;            /* status 200 */
        uint64_t within_budget; /* status 200 and latency <= the request's own budget */
        uint64_t late;          /* X-Sponge-Late */
        uint64_t by_status[600];
        uint64_t conns_opened;
        LgHist latency_ok; /* of status-200 answers */
        LgHist send_lag;   /* actual − scheduled send time */
        double duration_s; /* schedule length */
        double elapsed_s;  /* wall time of the run, drain included */
        double cpu_s;      /* this process, user + system */
        bool interrupted;
} LgStats;

/* Runs the schedule against the target. Returns 0 (the stats are filled, whatever the server
 * did), or a negative errno when the generator itself cannot run (epoll, timerfd, CSV file);
 * message in err. */
int lg_run(const LgConfig *c, LgStats *ret, char *err, size_t errlen);

/* The final JSON object, one line, to f. */
void lg_stats_json(const LgStats *s, FILE *f);
const char *lg_not_sent_name(LgNotSent r);
const char *lg_error_name(LgError e);
