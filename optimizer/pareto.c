/* SPDX-License-Identifier: MIT */
/* Pareto filter shared by candidate pruning and the exhaustive solver's dynamic programme. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

/* The sort keys copied next to the index: the comparisons touch one cache line, not four. */
typedef struct entry {
        double lat, obj;
        uint64_t mc;
        size_t i;
} entry;

static int cmp_entry(const void *a, const void *b)
{
        const entry *x = a, *y = b;

        if (x->lat != y->lat)
                return x->lat < y->lat ? -1 : 1;
        if (x->mc != y->mc)
                return x->mc < y->mc ? -1 : 1;
        if (x->obj != y->obj)
                return x->obj > y->obj ? -1 : 1;
        return (x->i > y->i) - (x->i < y->i);
}

/* keep[] = 0..n-1 sorted by (latency, mc, −objective if use_obj, index). */
static int sort_keys(size_t n, const double *lat, const uint64_t *mc, const double *obj,
                     int use_obj, size_t *keep)
{
        entry *e = malloc(sizeof(*e) * (n ? n : 1));

        if (!e)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                e[i] = (entry){lat[i], use_obj ? obj[i] : 0.0, mc[i], i};
        qsort(e, n, sizeof(*e), cmp_entry);
        for (size_t i = 0; i < n; i++)
                keep[i] = e[i].i;
        free(e);
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
