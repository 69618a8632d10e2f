/* SPDX-License-Identifier: MIT */
/* loadgen-stats.c — sponge-load's latency histogram and final JSON line. See loadgen.h. */
#include "tests/bench/loadgen.h"

#include <math.h>

#define HIST_LINEAR (2u * LG_HIST_SUB) /* values below this have a bucket each */
#define HIST_MAX_US ((1ull << 40) - 1)

static unsigned hist_index(uint64_t v)
{
        unsigned e, shift;

        if (v > HIST_MAX_US)
                v = HIST_MAX_US;
        if (v < HIST_LINEAR)
                return (unsigned)v;
        e = 63u - (unsigned)__builtin_clzll(v); /* v >= 128: e >= 7 */
        shift = e - 6u;                         /* v >> shift in [64, 128) */
        return (shift + 1u) * LG_HIST_SUB + (unsigned)((v >> shift) - LG_HIST_SUB);
}

/* Middle of bucket i, in µs. */
static double hist_value(unsigned i)
{
        unsigned shift;
        uint64_t m;

        if (i < HIST_LINEAR)
                return (double)i;
        shift = i / LG_HIST_SUB - 1u;
        m = i % LG_HIST_SUB + LG_HIST_SUB;
        return ((double)(m << shift) + (double)(((m + 1) << shift) - 1)) / 2.0;
}

void lg_hist_add(LgHist *h, uint64_t value_us)
{
        h->buckets[hist_index(value_us)]++;
        h->count++;
        if (value_us > h->max_us)
                h->max_us = value_us;
}

double lg_hist_quantile_us(const LgHist *h, double p)
{
        uint64_t rank, seen = 0;

        if (h->count == 0)
                return 0;
        rank = (uint64_t)ceil(p * (double)h->count);
        if (rank < 1)
                rank = 1;
        for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
                seen += h->buckets[i];
                if (seen >= rank) {
                        double v = hist_value(i);
                        return v > (double)h->max_us ? (double)h->max_us : v;
                }
        }
        return (double)h->max_us;
}

const char *lg_not_sent_name(LgNotSent r)
{
        static const char *const names[LG_NS_N] = {
            [LG_NS_NO_CONN] = "no_conn", [LG_NS_CONNECT] = "connect", [LG_NS_SOCKET] = "socket",
            [LG_NS_LATE] = "late",       [LG_NS_STOPPED] = "stopped",
        };
        return (unsigned)r < LG_NS_N ? names[r] : "?";
}

const char *lg_error_name(LgError e)
{
        static const char *const names[LG_ERR_N] = {
            [LG_ERR_RESET] = "reset", [LG_ERR_GARBAGE] = "garbage"};
        return (unsigned)e < LG_ERR_N ? names[e] : "?";
}

void lg_stats_json(const LgStats *s, FILE *f)
{
        const char *sep = "";

        fprintf(f,
                "{\"scheduled\":%llu,\"sent\":%llu,\"answered\":%llu,\"not_sent\":%llu,"
                "\"ok\":%llu,\"within_budget\":%llu,\"attainment_pct\":%.3f,\"p50_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"by_status\":{",
                (unsigned long long)s->scheduled, (unsigned long long)s->sent,
                (unsigned long long)s->answered, (unsigned long long)s->not_sent,
                (unsigned long long)s->ok, (unsigned long long)s->within_budget,
                s->sent ? 100.0 * (double)s->within_budget / (double)s->sent : 0.0,
                lg_hist_quantile_us(&s->latency_ok, 0.50) / 1000.0,
                lg_hist_quantile_us(&s->latency_ok, 0.99) / 1000.0,
                (double)s->latency_ok.max_us / 1000.0);
        for (unsigned i = 0; i < 600; i++)
                if (s->by_status[i]) {
                        fprintf(f, "%s\"%u\":%llu", sep, i, (unsigned long long)s->by_status[i]);
                        sep = ",";
                }
        fprintf(f, "},\"timeout\":%llu,\"errors\":%llu,\"errors_by\":{",
                (unsigned long long)s->timeout, (unsigned long long)s->errors);
        for (unsigned i = 0; i < LG_ERR_N; i++)
                fprintf(f, "%s\"%s\":%llu", i ? "," : "", lg_error_name((LgError)i),
                        (unsigned long long)s->errors_by[i]);
        fprintf(f, "},\"not_sent_by\":{");
        for (unsigned i = 0; i < LG_NS_N; i++)
                fprintf(f, "%s\"%s\":%llu", i ? "," : "", lg_not_sent_name((LgNotSent)i),
                        (unsigned long long)s->not_sent_by[i]);
        fprintf(f,
                "},\"late\":%llu,\"retried\":%llu,\"conns_opened\":%llu,\"send_lag_p99_ms\":%.3f,"
                "\"send_lag_max_ms\":%.3f,\"duration_s\":%.3f,\"elapsed_s\":%.3f,"
                "\"offered_rps\":%.1f,\"cpu_s\":%.3f,\"cpu_pct\":%.1f,\"interrupted\":%s}\n",
                (unsigned long long)s->late, (unsigned long long)s->retried,
                (unsigned long long)s->conns_opened,
                lg_hist_quantile_us(&s->send_lag, 0.99) / 1000.0,
                (double)s->send_lag.max_us / 1000.0, s->duration_s, s->elapsed_s,
                s->duration_s > 0 ? (double)s->scheduled / s->duration_s : 0.0, s->cpu_s,
                s->elapsed_s > 0 ? 100.0 * s->cpu_s / s->elapsed_s : 0.0,
                s->interrupted ? "true" : "false");
}
