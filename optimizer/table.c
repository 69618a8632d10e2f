/* SPDX-License-Identifier: MIT */
/* Measured latency table with interpolation: rows by batch size, each row sorted by
 * millicores; linear in 1/c within a row, linear in b between rows. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

typedef struct table_row {
        uint32_t batch;
        size_t first, n; /* range in opt_table.mc / .lat */
} table_row;

struct opt_table {
        table_row *rows; /* sorted by batch */
        size_t n_rows;
        uint32_t *mc; /* per row, ascending, distinct */
        double *lat;  /* averaged latency at (row batch, mc) */
};

static int cmp_point(const void *a, const void *b)
{
        const opt_point *x = a, *y = b;

        if (x->batch != y->batch)
                return x->batch < y->batch ? -1 : 1;
        if (x->millicores != y->millicores)
                return x->millicores < y->millicores ? -1 : 1;
        return 0;
}

opt_table *opt_table_free(opt_table *t)
{
        if (!t)
                return NULL;
        free(t->rows);
        free(t->mc);
        free(t->lat);
        free(t);
        return NULL;
}

int opt_table_new(const opt_point *pts, size_t n, opt_table **ret, char *err, size_t errlen)
{
        opt_point *s;
        opt_table *t;
        size_t m = 0;

        if (!pts || n == 0 || !ret)
                return opt__err(err, errlen, -EINVAL, "no table points");
        for (size_t i = 0; i < n; i++)
                if (pts[i].batch == 0 || pts[i].millicores == 0 || !(pts[i].latency_ms > 0.0) ||
                    !isfinite(pts[i].latency_ms))
                        return opt__err(err, errlen, -EINVAL,
                                        "table point %zu: batch and millicores must be >= 1 "
                                        "and latency finite and > 0",
                                        i);
        s = malloc(sizeof(*s) * n);
        t = calloc(1, sizeof(*t));
        if (!s || !t) {
                free(s);
                free(t);
                return -ENOMEM;
        }
        memcpy(s, pts, sizeof(*s) * n);
        qsort(s, n, sizeof(*s), cmp_point);
        t->rows = calloc(n, sizeof(*t->rows));
        t->mc = calloc(n, sizeof(*t->mc));
        t->lat = calloc(n, sizeof(*t->lat));
        if (!t->rows || !t->mc || !t->lat) {
                free(s);
                opt_table_free(t);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n;) {
                size_t j = i;
                double sum = 0.0;
                while (j < n && s[j].batch == s[i].batch && s[j].millicores == s[i].millicores)
                        sum += s[j++].latency_ms;
                if (t->n_rows == 0 || t->rows[t->n_rows - 1].batch != s[i].batch) {
                        t->rows[t->n_rows].batch = s[i].batch;
                        t->rows[t->n_rows].first = m;
                        t->n_rows++;
                }
                t->rows[t->n_rows - 1].n++;
                t->mc[m] = s[i].millicores;
                t->lat[m] = sum / (double)(j - i);
                m++;
                i = j;
        }
        free(s);
        *ret = t;
        return 0;
}

/* Latency of one row at mc: linear in 1/c between neighbours, flat above, unknown below. */
static double row_at(const opt_table *t, const table_row *r, uint32_t mc)
{
        const uint32_t *x = &t->mc[r->first];
        const double *y = &t->lat[r->first];
        double u, u0, u1;
        size_t i;

        if (mc < x[0])
                return INFINITY;
        if (mc >= x[r->n - 1])
                return y[r->n - 1];
        for (i = 1; i < r->n && x[i] < mc; i++)
                ;
        if (x[i] == mc)
                return y[i];
        u = 1.0 / mc;
        u0 = 1.0 / x[i - 1];
        u1 = 1.0 / x[i];
        return y[i - 1] + (y[i] - y[i - 1]) * (u - u0) / (u1 - u0);
}

double opt_table_latency_ms(const opt_table *t, uint32_t batch, uint32_t millicores)
{
        size_t i;
        double a, b, w;

        if (!t || t->n_rows == 0 || batch < t->rows[0].batch ||
            batch > t->rows[t->n_rows - 1].batch || millicores == 0)
                return INFINITY;
        for (i = 0; i < t->n_rows && t->rows[i].batch < batch; i++)
                ;
        if (t->rows[i].batch == batch)
                return row_at(t, &t->rows[i], millicores);
        a = row_at(t, &t->rows[i - 1], millicores);
        b = row_at(t, &t->rows[i], millicores);
        if (!isfinite(a) || !isfinite(b))
                return INFINITY;
        w = (double)(batch - t->rows[i - 1].batch) /
            (double)(t->rows[i].batch - t->rows[i - 1].batch);
        return a + (b - a) * w;
}
