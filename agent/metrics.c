/* metrics.c — histograms, recent-sample quantiles and Prometheus text: see metrics.h. */
#include "agent/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bucket i holds samples <= 2^(i + HIST_SHIFT) µs. */
#define HIST_SHIFT 6

void histogram_observe(Histogram *h, uint64_t us)
{
        unsigned i = 0;

        while (i < HIST_BUCKETS - 1 && us > (1ULL << (i + HIST_SHIFT)))
                i++;
        h->buckets[i]++;
        h->count++;
        h->sum_us += us;
}

void recent_push(Recent *r, uint64_t us)
{
        r->us[r->head] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        r->head = (r->head + 1) % RECENT_SAMPLES;
        if (r->n < RECENT_SAMPLES)
                r->n++;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return (x > y) - (x < y);
}

uint64_t recent_quantile_us(const Recent *r, double q)
{
        uint32_t tmp[RECENT_SAMPLES];
        size_t idx;

        if (r->n == 0)
                return 0;
        memcpy(tmp, r->us, r->n * sizeof(uint32_t));
        qsort(tmp, r->n, sizeof(uint32_t), cmp_u32);
        if (q <= 0)
                return tmp[0];
        idx = (size_t)(q * (double)r->n);
        if (idx >= r->n)
                idx = r->n - 1;
        return tmp[idx];
}

const char *outcome_name(Outcome o)
{
        static const char *const names[_OUTCOME_MAX] = {
            [OUTCOME_OK] = "ok",
            [OUTCOME_BAD_REQUEST] = "bad_request",
            [OUTCOME_TOO_LARGE] = "too_large",
            [OUTCOME_QUEUE_FULL] = "queue_full",
            [OUTCOME_WORKER_ERROR] = "worker_error",
            [OUTCOME_UNAVAILABLE] = "unavailable",
            [OUTCOME_DEADLINE] = "deadline",
            [OUTCOME_CANCELLED] = "cancelled",
        };
        return o < _OUTCOME_MAX ? names[o] : "unknown";
}

const char *plan_change_name(PlanChange k)
{
        static const char *const names[_PLAN_CHANGE_MAX] = {
            [PLAN_CHANGE_VARIANT] = "variant",
            [PLAN_CHANGE_BATCH] = "batch",
            [PLAN_CHANGE_CORES] = "cores",
            [PLAN_CHANGE_REPLICAS] = "replicas",
        };
        return k < _PLAN_CHANGE_MAX ? names[k] : "unknown";
}

Outcome outcome_from_status(unsigned status)
{
        switch (status) {
        case 200:
                return OUTCOME_OK;
        case 413:
                return OUTCOME_TOO_LARGE;
        case 429:
                return OUTCOME_QUEUE_FULL;
        case 502:
                return OUTCOME_WORKER_ERROR;
        case 503:
                return OUTCOME_UNAVAILABLE;
        case 504:
                return OUTCOME_DEADLINE;
        default:
                return OUTCOME_BAD_REQUEST;
        }
}

int prom_printf(Buf *out, const char *fmt, ...)
{
        va_list ap;
        int n, r;

        for (;;) {
                size_t room = out->cap - out->len;
                va_start(ap, fmt);
                n = vsnprintf(room ? (char *)out->data + out->len : NULL, room, fmt, ap);
                va_end(ap);
                if (n < 0)
                        return -EINVAL;
                if ((size_t)n < room) {
                        out->len += (size_t)n;
                        return 0;
                }
                r = buf_reserve(out, (size_t)n + 1);
                if (r < 0)
                        return r;
        }
}

int prom_histogram(Buf *out, const char *name, const char *labels, const Histogram *h)
{
        const char *sep = labels[0] ? "," : "", *open = labels[0] ? "{" : "",
                   *close = labels[0] ? "}" : "";
        uint64_t cum = 0;
        int r = 0;

        for (unsigned i = 0; i < HIST_BUCKETS - 1 && r >= 0; i++) {
                cum += h->buckets[i];
                r = prom_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                                (double)(1ULL << (i + HIST_SHIFT)) / 1e6, (unsigned long long)cum);
        }
        if (r >= 0)
                r = prom_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                                (unsigned long long)h->count);
        if (r >= 0)
                r = prom_printf(out, "%s_sum%s%s%s %.6f\n", name, open, labels, close,
                                (double)h->sum_us / 1e6);
        if (r >= 0)
                r = prom_printf(out, "%s_count%s%s%s %llu\n", name, open, labels, close,
                                (unsigned long long)h->count);
        return r;
}
