/* SPDX-License-Identifier: MIT */
/* Pareto filter shared by candidate pruning and the exhaustive solver's dynamic programme. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

/* Sorting is most of the filter's time: an LSD radix sort on the latency's bits (stable,
 * linear), then the rare runs of equal latency ordered by (mc, −objective, index). */

typedef struct rkey {
        uint64_t key; /* order-preserving image of the latency */
        size_t i;
} rkey;

/* Unsigned integers that sort like the doubles (IEEE 754: flip the sign bit of positives, every
 * bit of negatives). */
static uint64_t lat_key(double d)
{
        uint64_t u;

        memcpy(&u, &d, sizeof(u));
        return (u >> 63) ? ~u : u | (1ull << 63);
}

/* Is (mc, −objective, index) of a before b's? (equal latencies) */
static int tie_before(size_t a, size_t b, const uint64_t *mc, const double *obj, int use_obj)
{
        if (mc[a] != mc[b])
                return mc[a] < mc[b];
        if (use_obj && obj[a] != obj[b])
                return obj[a] > obj[b];
        return a < b;
}

/* keep[] = 0..n-1 sorted by (latency, mc, −objective if use_obj, index). */
static int sort_keys(size_t n, const double *lat, const uint64_t *mc, const double *obj,
                     int use_obj, size_t *keep)
{
        rkey *base = malloc(sizeof(*base) * (n ? 2 * n : 1)), *v = base, *w;
        size_t count[8][256];

        if (!base)
                return -ENOMEM;
        w = v + n;
        memset(count, 0, sizeof(count));
        for (size_t i = 0; i < n; i++) {
                v[i] = (rkey){lat_key(lat[i]), i};
                for (int d = 0; d < 8; d++)
                        count[d][(v[i].key >> (8 * d)) & 0xff]++;
        }
        for (int d = 0; n > 0 && d < 8; d++) {
                size_t sum = 0;
                rkey *t;
                if (count[d][(v[0].key >> (8 * d)) & 0xff] == n)
                        continue; /* every key has this digit: nothing would move */
                for (int b = 0; b < 256; b++) {
                        size_t c = count[d][b];
                        count[d][b] = sum;
                        sum += c;
                }
                for (size_t i = 0; i < n; i++)
                        w[count[d][(v[i].key >> (8 * d)) & 0xff]++] = v[i];
                t = v;
                v = w;
                w = t;
        }
        for (size_t i = 0; i < n; i++)
                keep[i] = v[i].i;
        /* Equal latencies (stable so far: by index): insertion sort by the other keys. */
        for (size_t a = 0; a < n;) {
                size_t b = a + 1;
                while (b < n && v[b].key == v[a].key)
                        b++;
                for (size_t i = a + 1; i < b; i++) {
                        size_t x = keep[i], j = i;
                        while (j > a && tie_before(x, keep[j - 1], mc, obj, use_obj)) {
                                keep[j] = keep[j - 1];
                                j--;
                        }
                        keep[j] = x;
                }
                a = b;
        }
        free(base);
        return 0;
}

/* After sorting by (latency, mc, −objective, index) every dominator precedes what it
 * dominates. A staircase of the kept entries (mc ascending, objective strictly ascending)
 * answers "is there a kept entry with mc <= mine and objective >= mine" by binary search. */
long opt__pareto(size_t n, const double *lat, const uint64_t *mc, const double *obj, int use_obj,
                 size_t *keep)
{
        uint64_t *st_mc, min_mc = UINT64_MAX;
        double *st_obj;
        size_t n_st = 0, kept = 0;

        if (sort_keys(n, lat, mc, obj, use_obj, keep) < 0)
                return -ENOMEM;
        if (!use_obj) {
                for (size_t i = 0; i < n; i++)
                        if (mc[keep[i]] < min_mc) {
                                min_mc = mc[keep[i]];
                                keep[kept++] = keep[i];
                        }
                return (long)kept;
        }
        st_mc = malloc(sizeof(*st_mc) * (n ? n : 1));
        st_obj = malloc(sizeof(*st_obj) * (n ? n : 1));
        if (!st_mc || !st_obj) {
                free(st_mc);
                free(st_obj);
                return -ENOMEM;
        }
        for (size_t t = 0; t < n; t++) {
                size_t i = keep[t], lo = 0, hi = n_st, end;
                while (lo < hi) { /* first step with mc > mine */
                        size_t mid = (lo + hi) / 2;
                        if (st_mc[mid] <= mc[i])
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                if (lo > 0 && st_obj[lo - 1] >= obj[i])
                        continue; /* dominated */
                keep[kept++] = i;
                /* Steps after me with objective <= mine are now dominated: drop them; a step at
                 * my own mc (lower objective) is replaced. */
                end = lo;
                while (end < n_st && st_obj[end] <= obj[i])
                        end++;
                if (lo > 0 && st_mc[lo - 1] == mc[i])
                        lo--;
                memmove(&st_mc[lo + 1], &st_mc[end], sizeof(*st_mc) * (n_st - end));
                memmove(&st_obj[lo + 1], &st_obj[end], sizeof(*st_obj) * (n_st - end));
                n_st = n_st - (end - lo) + 1;
                st_mc[lo] = mc[i];
                st_obj[lo] = obj[i];
        }
        free(st_mc);
        free(st_obj);
        return (long)kept;
}

/* Copies the key at byte offset off of every item into a column. */
static void column(const char *items, size_t n, size_t size, size_t off, void *ret, size_t width)
{
        for (size_t i = 0; i < n; i++)
                memcpy((char *)ret + i * width, items + i * size + off, width);
}

int opt__pareto_prune(void *itemsp, size_t *n, size_t size, const opt__pareto_keys *k, int use_obj)
{
        char *items;
        size_t count = *n, m = count ? count : 1;
        double *lat = malloc(sizeof(double) * m), *obj = malloc(sizeof(double) * m);
        uint64_t *mc = malloc(sizeof(uint64_t) * m);
        size_t *keep = malloc(sizeof(size_t) * m);
        char *out = malloc(size * m);
        long kept = -ENOMEM;

        memcpy(&items, itemsp, sizeof(items));
        if (lat && obj && mc && keep && out) {
                column(items, count, size, k->lat, lat, sizeof(double));
                column(items, count, size, k->mc, mc, sizeof(uint64_t));
                column(items, count, size, k->obj, obj, sizeof(double));
                kept = opt__pareto(count, lat, mc, obj, use_obj, keep);
        }
        for (long i = 0; i < kept; i++)
                memcpy(out + (size_t)i * size, items + keep[i] * size, size);
        free(lat);
        free(obj);
        free(mc);
        free(keep);
        if (kept < 0) {
                free(out);
                return (int)kept;
        }
        free(items);
        memcpy(itemsp, &out, sizeof(out));
        *n = (size_t)kept;
        return 0;
}
