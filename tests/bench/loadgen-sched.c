/* SPDX-License-Identifier: MIT */
/* loadgen-sched.c — sponge-load's rate schedules (steps, trace), Ghent budgets and arrival
 * times. Pure functions on memory plus two file readers. See loadgen.h. */
#include "tests/bench/loadgen.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

/* ---- steps ---------------------------------------------------------------------------------- */

/* One "R:S" item of [s, end). */
static int step_parse(const char *s, const char *end, double *ret_rate, uint64_t *ret_secs)
{
        char item[64], *colon, *e;
        size_t n = (size_t)(end - s);
        double rate;
        unsigned long long secs;

        if (n == 0 || n >= sizeof(item))
                return -EINVAL;
        memcpy(item, s, n);
        item[n] = '\0';
        colon = strchr(item, ':');
        if (!colon || colon == item || colon[1] == '\0')
                return -EINVAL;
        *colon = '\0';
        errno = 0;
        rate = strtod(item, &e);
        if (errno || *e || !isfinite(rate) || rate < 0 || rate > LG_RATE_MAX)
                return -EINVAL;
        if (colon[1] == '-' || colon[1] == '+')
                return -EINVAL;
        errno = 0;
        secs = strtoull(colon + 1, &e, 10);
        if (errno || *e || secs < 1 || secs > LG_SECONDS_MAX)
                return -EINVAL;
        *ret_rate = rate;
        *ret_secs = secs;
        return 0;
}

int lg_steps_parse(const char *spec, double **ret_rates, size_t *ret_n, char *err, size_t errlen)
{
        double *rates = NULL;
        size_t n = 0;
        const char *s = spec;

        for (;;) {
                const char *end = strchr(s, ',');
                double rate;
                uint64_t secs;
                double *grown;

                if (!end)
                        end = s + strlen(s);
                if (step_parse(s, end, &rate, &secs) < 0) {
                        free(rates);
                        return fail(err, errlen, -EINVAL,
                                    "--steps: bad step \"%.*s\" (expected RATE:SECONDS, rate in "
                                    "[0, %.0f] requests/s, seconds a whole number >= 1)",
                                    end - s < 40 ? (int)(end - s) : 40, s, LG_RATE_MAX);
                }
                if (n + secs > LG_SECONDS_MAX) {
                        free(rates);
                        return fail(err, errlen, -E2BIG, "--steps: more than %u seconds in all",
                                    LG_SECONDS_MAX);
                }
                grown = realloc(rates, (n + secs) * sizeof(*rates));
                if (!grown) {
                        free(rates);
                        return fail(err, errlen, -ENOMEM, "out of memory");
                }
                rates = grown;
                for (uint64_t i = 0; i < secs; i++)
                        rates[n++] = rate;
                if (*end == '\0')
                        break;
                s = end + 1;
        }
        *ret_rates = rates;
        *ret_n = n;
        return 0;
}

/* ---- Twitter trace ------------------------------------------------------------------------- */

/* A line of the trace: one non-negative integer, optional trailing CR/LF. */
static int trace_value(const char *line, uint64_t *ret)
{
        char *e;
        unsigned long long v;

        if (line[0] < '0' || line[0] > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(line, &e, 10);
        if (errno)
                return -EINVAL;
        while (*e == '\r' || *e == '\n')
                e++;
        if (*e)
                return -EINVAL;
        *ret = v;
        return 0;
}

int lg_trace_load(const char *path, uint64_t start, uint64_t length, double scale,
                  double **ret_rates, size_t *ret_n, char *err, size_t errlen)
{
        gzFile gz;
        char line[64];
        uint64_t idx = 0, n = 0;
        double *rates;
        int r = 0;

        if (length < 1 || length > LG_SECONDS_MAX)
                return fail(err, errlen, -EINVAL, "--length: expected 1 to %u seconds",
                            LG_SECONDS_MAX);
        rates = malloc(length * sizeof(*rates));
        if (!rates)
                return fail(err, errlen, -ENOMEM, "out of memory");
        /* gzopen reads plain text transparently, so a slice committed uncompressed works too. */
        gz = gzopen(path, "rbe");
        if (!gz) {
                r = errno ? -errno : -ENOMEM;
                free(rates);
                return fail(err, errlen, r, "--trace %s: cannot open: %s", path, strerror(-r));
        }
        gzbuffer(gz, 1u << 17);
        while (n < length && gzgets(gz, line, sizeof(line))) {
                uint64_t v;
                if (!strchr(line, '\n') && !gzeof(gz)) {
                        r = fail(err, errlen, -EINVAL, "--trace %s: line %llu is too long", path,
                                 (unsigned long long)idx + 1);
                        break;
                }
                if (idx++ < start)
                        continue;
                if (trace_value(line, &v) < 0 || v > (uint64_t)LG_RATE_MAX) {
                        line[strcspn(line, "\r\n")] = '\0';
                        r = fail(err, errlen, -EINVAL,
                                 "--trace %s: line %llu: expected an integer in [0, %.0f], got "
                                 "\"%.20s\"",
                                 path, (unsigned long long)idx, LG_RATE_MAX, line);
                        break;
                }
                rates[n++] = (double)v * scale;
                if (rates[n - 1] > LG_RATE_MAX) {
                        r = fail(err, errlen, -EINVAL,
                                 "--scale: line %llu gives %.0f requests/s (at most %.0f)",
                                 (unsigned long long)idx, rates[n - 1], LG_RATE_MAX);
                        break;
                }
        }
        if (r == 0 && n < length) {
                int zerr = 0;
                const char *zmsg = gzerror(gz, &zerr);
                r = zerr != Z_OK && zerr != Z_BUF_ERROR
                        ? fail(err, errlen, -EIO, "--trace %s: read error: %s", path, zmsg)
                        : fail(err, errlen, -ERANGE,
                               "--trace %s: has %llu lines; --start %llu --length %llu needs %llu",
                               path, (unsigned long long)idx, (unsigned long long)start,
                               (unsigned long long)length, (unsigned long long)(start + length));
        }
        gzclose(gz);
        if (r < 0) {
                free(rates);
                return r;
        }
        *ret_rates = rates;
        *ret_n = (size_t)n;
        return 0;
}

/* ---- Ghent 4G log --------------------------------------------------------------------------- */

/* One line: 6 numbers; returns network ms of the image, or -EINVAL. */
static int ghent_line(const char *line, uint64_t image_bytes, double *ret_ms)
{
        double col[6];
        const char *p = line;

        for (size_t i = 0; i < 6; i++) {
                char *e;
                while (*p == ' ' || *p == '\t')
                        p++;
                errno = 0;
                col[i] = strtod(p, &e);
                if (e == p || errno || !isfinite(col[i]) ||
                    (*e && *e != ' ' && *e != '\t' && *e != '\r'))
                        return -EINVAL;
                p = e;
        }
        while (*p == ' ' || *p == '\t' || *p == '\r')
                p++;
        if (*p || col[4] < 0 || col[5] < 0)
                return -EINVAL;
        /* bytes/ms = col4 / col5; network ms = image ÷ that. No bytes: the link was down. */
        if (col[4] <= 0 || col[5] <= 0)
                *ret_ms = LG_NET_MS_MAX;
        else
                *ret_ms = fmin((double)image_bytes * col[5] / col[4], LG_NET_MS_MAX);
        return 0;
}

int lg_ghent_parse(const char *text, uint64_t image_bytes, double **ret_net_ms, size_t *ret_n,
                   char *err, size_t errlen)
{
        double *out = NULL;
        size_t n = 0, cap = 0, lineno = 0;
        const char *p = text;

        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                char line[256];
                double ms;

                lineno++;
                if (len >= sizeof(line)) {
                        free(out);
                        return fail(err, errlen, -EINVAL, "--ghent: line %zu is too long", lineno);
                }
                memcpy(line, p, len);
                line[len] = '\0';
                p += len + (nl ? 1 : 0);
                if (line[strspn(line, " \t\r")] == '\0')
                        continue; /* blank */
                if (ghent_line(line, image_bytes, &ms) < 0) {
                        free(out);
                        return fail(err, errlen, -EINVAL,
                                    "--ghent: line %zu: expected 6 numbers (unix ms, elapsed ms, "
                                    "lat, lon, bytes, interval ms), got \"%.60s\"",
                                    lineno, line);
                }
                if (n == cap) {
                        size_t ncap = cap ? 2 * cap : 1024;
                        double *g = realloc(out, ncap * sizeof(*out));
                        if (!g) {
                                free(out);
                                return fail(err, errlen, -ENOMEM, "out of memory");
                        }
                        out = g;
                        cap = ncap;
                }
                out[n++] = ms;
        }
        if (n == 0) {
                free(out);
                return fail(err, errlen, -EINVAL, "--ghent: no lines");
        }
        *ret_net_ms = out;
        *ret_n = n;
        return 0;
}

int lg_ghent_load(const char *path, uint64_t image_bytes, double **ret_net_ms, size_t *ret_n,
                  char *err, size_t errlen)
{
        FILE *f = fopen(path, "re");
        char *text;
        size_t len;
        int r;

        if (!f)
                return fail(err, errlen, -errno, "--ghent %s: cannot open: %s", path,
                            strerror(errno));
        /* The log is 607 lines (~40 KB); 16 MiB is far more than any such log. */
        text = malloc((16u << 20) + 1);
        if (!text) {
                fclose(f);
                return fail(err, errlen, -ENOMEM, "out of memory");
        }
        len = fread(text, 1, 16u << 20, f);
        r = ferror(f) ? -EIO : !feof(f) ? -EFBIG : 0;
        fclose(f);
        if (r < 0) {
                free(text);
                return fail(err, errlen, r, "--ghent %s: %s", path,
                            r == -EIO ? "read error" : "larger than 16 MiB");
        }
        text[len] = '\0';
        if (strlen(text) != len) {
                free(text);
                return fail(err, errlen, -EINVAL, "--ghent %s: not a text file", path);
        }
        r = lg_ghent_parse(text, image_bytes, ret_net_ms, ret_n, err, errlen);
        free(text);
        return r;
}

/* ---- random numbers ------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
        uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

void lg_rng_seed(LgRng *r, uint64_t seed)
{
        for (size_t i = 0; i < 4; i++)
                r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

uint64_t lg_rng_next(LgRng *r)
{
        uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

double lg_rng_unit(LgRng *r)
{
        return (double)((lg_rng_next(r) >> 11) + 1) * 0x1.0p-53;
}

/* ---- arrivals ------------------------------------------------------------------------------- */

void lg_arrivals_init(LgArrivals *a, const double *rates, size_t n_seconds, bool uniform,
                      uint64_t seed)
{
        *a = (LgArrivals){.rates = rates, .n_seconds = n_seconds, .uniform = uniform};
        lg_rng_seed(&a->rng, seed);
}

static int arrivals_uniform(LgArrivals *a, uint64_t *ret_offset_us)
{
        while (a->sec < a->n_seconds) {
                if (!a->second_open) {
                        double want = a->rates[a->sec] + a->carry;
                        a->count = (uint64_t)floor(want);
                        a->carry = want - (double)a->count;
                        a->k = 0;
                        a->second_open = true;
                }
                if (a->k < a->count) {
                        /* Centred in its slot: k + 1/2 of count slots in the second. */
                        double t = (double)a->sec + ((double)a->k + 0.5) / (double)a->count;
                        a->k++;
                        *ret_offset_us = (uint64_t)llround(t * (double)LG_USEC_PER_SEC);
                        return 0;
                }
                a->sec++;
                a->second_open = false;
        }
        return -ENOENT;
}

static int arrivals_poisson(LgArrivals *a, uint64_t *ret_offset_us)
{
        while (a->sec < a->n_seconds) {
                double rate = a->rates[a->sec], t;

                if (!a->second_open) {
                        a->t_s = (double)a->sec;
                        a->second_open = true;
                }
                if (rate > 0) {
                        t = a->t_s - log(lg_rng_unit(&a->rng)) / rate;
                        if (t < (double)(a->sec + 1)) {
                                a->t_s = t;
                                *ret_offset_us = (uint64_t)(t * (double)LG_USEC_PER_SEC);
                                return 0;
                        }
                }
                a->sec++;
                a->second_open = false;
        }
        return -ENOENT;
}

int lg_arrivals_next(LgArrivals *a, uint64_t *ret_offset_us)
{
        return a->uniform ? arrivals_uniform(a, ret_offset_us) : arrivals_poisson(a, ret_offset_us);
}
