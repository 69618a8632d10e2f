/* SPDX-License-Identifier: MIT */
/* Load forecast: peak arrivals of the next horizon from a ring of per-second counts. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

void opt_forecast_params_default(opt_forecast_params *ret)
{
        ret->lookback_s = 120;
        ret->horizon_s = 20;
        ret->recent_s = 20;
        ret->k_sigma = 1.0;
        ret->margin = 0.0;
        ret->robust = false;
}

static int params_ok(const opt_forecast_params *p)
{
        return p->lookback_s > 0 && p->horizon_s > 0 && p->recent_s > 0 &&
               p->recent_s <= p->lookback_s && p->k_sigma >= 0.0 && isfinite(p->k_sigma) &&
               p->margin >= 0.0 && isfinite(p->margin);
}

int opt_forecast_init(opt_forecast *f, const opt_forecast_params *p)
{
        opt_forecast_params d;
        double *ring;

        if (!f)
                return -EINVAL;
        if (!p) {
                opt_forecast_params_default(&d);
                p = &d;
        }
        if (!params_ok(p))
                return -EINVAL;
        ring = calloc(p->lookback_s, sizeof(double));
        if (!ring)
                return -ENOMEM;
        f->p = *p;
        f->ring = ring;
        f->len = 0;
        f->head = 0;
        return 0;
}

void opt_forecast_done(opt_forecast *f)
{
        if (!f)
                return;
        free(f->ring);
        f->ring = NULL;
        f->len = 0;
        f->head = 0;
}

void opt_forecast_push(opt_forecast *f, double count)
{
        if (!f || !f->ring)
                return;
        if (!(count >= 0.0) || !isfinite(count))
                count = 0.0;
        f->ring[f->head] = count;
        f->head = (f->head + 1) % f->p.lookback_s;
        if (f->len < f->p.lookback_s)
                f->len++;
}

/* i-th oldest of the kept counts, 0 <= i < len. */
static double at(const opt_forecast *f, size_t i)
{
        size_t cap = f->p.lookback_s;
        return f->ring[(f->head + cap - f->len + i) % cap];
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return (x > y) - (x < y);
}

/* Median of v[0..n) (sorted in place), 0 for n == 0. */
static double median(double *v, size_t n)
{
        if (n == 0)
                return 0.0;
        qsort(v, n, sizeof(double), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Robust trend and noise from the first differences d[i] = y[i+1] - y[i]. */
static void robust_terms(const opt_forecast *f, double *ret_slope, double *ret_spread)
{
        size_t n = f->len, nd = n > 1 ? n - 1 : 0, recent = f->p.recent_s < nd ? f->p.recent_s : nd;
        double d[nd + 1], dev[nd + 1], med;

        for (size_t i = 0; i < nd; i++)
                d[i] = at(f, i + 1) - at(f, i);
        memcpy(dev, d + nd - recent, recent * sizeof(double));
        *ret_slope = median(dev, recent);
        med = median(memcpy(dev, d, nd * sizeof(double)), nd);
        for (size_t i = 0; i < nd; i++)
                dev[i] = fabs(d[i] - med);
        /* MAD -> sigma of a normal; a difference of two counts has sqrt(2) times their sigma */
        *ret_spread = 1.4826 * median(dev, nd) / M_SQRT2;
}

double opt_forecast_next(const opt_forecast *f)
{
        size_t n, recent;
        double level = 0.0, st = 0.0, sy = 0.0, stt = 0.0, sty = 0.0, slope = 0.0, icpt, ss = 0.0;
        double spread;

        if (!f || !f->ring || f->len == 0)
                return 0.0;
        n = f->len;
        recent = f->p.recent_s < n ? f->p.recent_s : n;
        for (size_t i = n - recent; i < n; i++)
                if (at(f, i) > level)
                        level = at(f, i);
        if (f->p.robust) {
                robust_terms(f, &slope, &spread);
                return (level + (slope > 0.0 ? slope : 0.0) * f->p.horizon_s +
                        f->p.k_sigma * spread) *
                       (1.0 + f->p.margin);
        }
        for (size_t i = 0; i < n; i++) {
                double t = (double)i, y = at(f, i);
                st += t;
                sy += y;
                stt += t * t;
                sty += t * y;
        }
        if (n >= 2) {
                double den = (double)n * stt - st * st;
                slope = den > 0.0 ? ((double)n * sty - st * sy) / den : 0.0;
        }
        icpt = (sy - slope * st) / (double)n;
        for (size_t i = 0; i < n; i++) {
                double r = at(f, i) - (icpt + slope * (double)i);
                ss += r * r;
        }
        spread = n >= 2 ? sqrt(ss / (double)(n - 1)) : 0.0;
        return (level + (slope > 0.0 ? slope : 0.0) * f->p.horizon_s + f->p.k_sigma * spread) *
               (1.0 + f->p.margin);
}

int opt_forecast_evaluate(const double *counts, size_t n, const opt_forecast_params *p,
                          uint32_t stride_s, opt_forecast_eval *ret)
{
        opt_forecast f;
        opt_forecast_eval ev = {0};
        double ape = 0.0, over = 0.0;
        size_t n_ape = 0, n_under = 0, n_over = 0;
        int r;

        if (!counts || !ret)
                return -EINVAL;
        r = opt_forecast_init(&f, p);
        if (r < 0)
                return r;
        if (stride_s == 0)
                stride_s = f.p.horizon_s;
        if (n < (size_t)f.p.lookback_s + f.p.horizon_s) {
                opt_forecast_done(&f);
                return -ENODATA;
        }
        for (size_t t = 0; t + f.p.horizon_s <= n; t++) {
                if (t >= f.p.lookback_s && (t - f.p.lookback_s) % stride_s == 0) {
                        double pred = opt_forecast_next(&f), actual = 0.0;
                        for (size_t i = t; i < t + f.p.horizon_s; i++)
                                actual = counts[i] > actual ? counts[i] : actual;
                        ev.n++;
                        if (actual > 0.0) {
                                ape += fabs(pred - actual) / actual;
                                n_ape++;
                                if (pred > actual) {
                                        over += (pred - actual) / actual;
                                        n_over++;
                                }
                        }
                        if (pred < 0.9 * actual)
                                n_under++;
                }
                opt_forecast_push(&f, counts[t]);
        }
        opt_forecast_done(&f);
        ev.mape_pct = n_ape ? 100.0 * ape / (double)n_ape : 0.0;
        ev.under10_pct = ev.n ? 100.0 * (double)n_under / (double)ev.n : 0.0;
        ev.mean_over_pct = n_over ? 100.0 * over / (double)n_over : 0.0;
        *ret = ev;
        return 0;
}
