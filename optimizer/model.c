/* SPDX-License-Identifier: MIT */
/* Latency model l(b,c) = (γ·b/c + δ·b + ε/c + η)(1 + margin): evaluation, least-squares fit,
 * range check; the queueing estimate. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

int opt__err(char *err, size_t errlen, int code, const char *fmt, ...)
{
        va_list ap;

        if (err && errlen > 0) {
                va_start(ap, fmt);
                /* A truncated message is still a message: the return value is not needed. */
                (void)vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return code;
}

static double cores_of(uint32_t millicores)
{
        return (double)millicores / 1000.0;
}

double opt_latency_ms(const opt_model *m, uint32_t batch, uint32_t millicores)
{
        double b = batch, c = cores_of(millicores);

        if (!m || batch == 0 || millicores == 0)
                return INFINITY;
        return (m->gamma * b / c + m->delta * b + m->epsilon / c + m->eta) * (1.0 + m->margin);
}

double opt_latency_eval_ms(const opt_latency *l, uint32_t batch, uint32_t millicores)
{
        double v;

        if (!l)
                return INFINITY;
        if (l->kind == OPT_LATENCY_MODEL)
                return opt_latency_ms(&l->fit, batch, millicores);
        if (l->kind != OPT_LATENCY_TABLE || !l->table)
                return INFINITY;
        v = opt_table_latency_ms(l->table, batch, millicores);
        return v * (1.0 + l->table_margin);
}

double opt_queue_delay_ms(uint32_t batch, uint32_t replicas, double lambda_rps, double service_ms)
{
        double fill = 0.0, rho, wait = 0.0;

        if (!(lambda_rps > 0.0))
                return batch <= 1 ? service_ms : INFINITY;
        if (replicas == 0)
                return INFINITY;
        if (batch > 1)
                fill = 1000.0 * (double)(batch - 1) * (double)replicas / lambda_rps;
        rho = lambda_rps * service_ms / (1000.0 * (double)replicas * (double)batch);
        if (!(rho < 1.0))
                return INFINITY;
        if (rho > 0.0)
                wait = service_ms / 2.0 * pow(rho, sqrt(2.0 * (replicas + 1.0)) - 1.0) /
                       ((double)replicas * (1.0 - rho));
        return fill + service_ms + wait;
}

/* ---- least squares ------------------------------------------------------------------------ */

int opt__lsq(const double *X, const double *y, size_t n, size_t k, double *ret_theta,
             double *ret_rss)
{
        double scale[OPT__LSQ_MAX_K], theta[OPT__LSQ_MAX_K], rss = 0.0;
        double *A, *b;
        int r = 0;

        if (k == 0 || k > OPT__LSQ_MAX_K || n < k)
                return -EDOM;
        A = malloc(sizeof(double) * n * k);
        b = malloc(sizeof(double) * n);
        if (!A || !b) {
                free(A);
                free(b);
                return -ENOMEM;
        }
        /* Scale every column to unit norm so the rank test below is scale-free. */
        for (size_t j = 0; j < k; j++) {
                double s = 0.0;
                for (size_t i = 0; i < n; i++)
                        s += X[i * k + j] * X[i * k + j];
                scale[j] = sqrt(s);
                if (!(scale[j] > 0.0) || !isfinite(scale[j])) {
                        r = -EDOM;
                        goto out;
                }
                for (size_t i = 0; i < n; i++)
                        A[i * k + j] = X[i * k + j] / scale[j];
        }
        memcpy(b, y, sizeof(double) * n);

        /* Householder QR: after step j, column j is zero below the diagonal and b holds Qᵀy. */
        for (size_t j = 0; j < k; j++) {
                double norm = 0.0, alpha, vv, v0;
                for (size_t i = j; i < n; i++)
                        norm += A[i * k + j] * A[i * k + j];
                norm = sqrt(norm);
                if (norm < 1e-10) {
                        r = -EDOM;
                        goto out;
                }
                alpha = A[j * k + j] > 0 ? -norm : norm;
                v0 = A[j * k + j] - alpha;
                vv = v0 * v0 + (norm * norm - A[j * k + j] * A[j * k + j]);
                A[j * k + j] = v0; /* column j below the diagonal is now the vector v */
                if (vv > 0.0) {
                        for (size_t jj = j + 1; jj < k; jj++) {
                                double d = 0.0;
                                for (size_t i = j; i < n; i++)
                                        d += A[i * k + j] * A[i * k + jj];
                                d = 2.0 * d / vv;
                                for (size_t i = j; i < n; i++)
                                        A[i * k + jj] -= d * A[i * k + j];
                        }
                        double d = 0.0;
                        for (size_t i = j; i < n; i++)
                                d += A[i * k + j] * b[i];
                        d = 2.0 * d / vv;
                        for (size_t i = j; i < n; i++)
                                b[i] -= d * A[i * k + j];
                }
                A[j * k + j] = alpha; /* R's diagonal */
                if (fabs(alpha) < 1e-9) {
                        r = -EDOM;
                        goto out;
                }
        }
        for (size_t jj = k; jj-- > 0;) {
                double s = b[jj];
                for (size_t j = jj + 1; j < k; j++)
                        s -= A[jj * k + j] * theta[j];
                theta[jj] = s / A[jj * k + jj];
        }
        for (size_t i = k; i < n; i++)
                rss += b[i] * b[i];
        for (size_t j = 0; j < k; j++)
                ret_theta[j] = theta[j] / scale[j];
        if (ret_rss)
                *ret_rss = rss;
out:
        free(A);
        free(b);
        return r;
}

/* ---- checks ------------------------------------------------------------------------------- */

int opt__model_check_box(const opt_model *m, uint32_t bmin, uint32_t bmax, uint32_t mcmin,
                         uint32_t mcmax, char *err, size_t errlen)
{
        const uint32_t bs[2] = {bmin, bmax}, mcs[2] = {mcmin, mcmax};

        if (!isfinite(m->gamma) || !isfinite(m->delta) || !isfinite(m->epsilon) ||
            !isfinite(m->eta) || !isfinite(m->margin) || m->margin < 0.0)
                return opt__err(err, errlen, -EDOM, "model has a non-finite or negative field");
        /* l is linear in b for fixed c and linear in 1/c for fixed b: its minimum over the box
         * lies at a corner. */
        for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                        double l = opt_latency_ms(m, bs[i], mcs[j]);
                        if (!(l > 0.0) || !isfinite(l))
                                return opt__err(err, errlen, -EDOM,
                                                "model predicts latency %.6g ms, hence a "
                                                "non-positive throughput, at batch %u, %u "
                                                "millicores: it must be positive over batch "
                                                "%u..%u, %u..%u millicores",
                                                l, bs[i], mcs[j], bmin, bmax, mcmin, mcmax);
                }
        return 0;
}

int opt_model_check(const opt_model *m, uint32_t max_batch, uint32_t min_mc, uint32_t max_mc,
                    char *err, size_t errlen)
{
        if (!m || max_batch == 0 || min_mc == 0 || max_mc < min_mc)
                return opt__err(err, errlen, -EINVAL,
                                "empty range: need max_batch >= 1 and 0 < min_mc <= max_mc");
        return opt__model_check_box(m, 1, max_batch, min_mc, max_mc, err, errlen);
}

int opt_fit_error(const opt_model *m, const opt_point *pts, size_t n, double *ret_mean_rel,
                  double *ret_max_rel)
{
        opt_model bare;
        double sum = 0.0, mx = 0.0;

        if (!m || !pts || n == 0)
                return -EINVAL;
        bare = *m;
        bare.margin = 0.0;
        for (size_t i = 0; i < n; i++) {
                double pred = opt_latency_ms(&bare, pts[i].batch, pts[i].millicores);
                double e;
                if (!(pts[i].latency_ms > 0.0) || !isfinite(pred))
                        return -EINVAL;
                e = fabs(pred - pts[i].latency_ms) / pts[i].latency_ms;
                sum += e;
                if (e > mx)
                        mx = e;
        }
        if (ret_mean_rel)
                *ret_mean_rel = sum / (double)n;
        if (ret_max_rel)
                *ret_max_rel = mx;
        return 0;
}

/* ---- fit ---------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* p99 (nearest rank) of the positive relative residuals obs/pred − 1; 0 if none positive. */
static int residual_margin(const opt_model *m, const opt_point *pts, size_t n, double *ret)
{
        double *r = malloc(sizeof(double) * n);
        size_t rank;

        if (!r)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                double pred = opt_latency_ms(m, pts[i].batch, pts[i].millicores);
                r[i] = pred > 0.0 ? pts[i].latency_ms / pred - 1.0 : INFINITY;
        }
        qsort(r, n, sizeof(double), cmp_double);
        rank = (size_t)ceil(0.99 * (double)n);
        if (rank < 1)
                rank = 1;
        *ret = r[rank - 1] > 0.0 ? r[rank - 1] : 0.0;
        free(r);
        return 0;
}

/* Regressor row for (b, c): all four, or for the one-batch case (1/c, 1). */
static void regressors(uint32_t batch, uint32_t mc, int reduced, double *row)
{
        double b = batch, c = cores_of(mc);

        if (reduced) {
                row[0] = 1.0 / c;
                row[1] = 1.0;
        } else {
                row[0] = b / c;
                row[1] = b;
                row[2] = 1.0 / c;
                row[3] = 1.0;
        }
}

/* Least squares on the columns in `mask` only (others 0). */
static int lsq_masked(const double *X, const double *y, size_t n, size_t k, unsigned mask,
                      double *theta, double *rss)
{
        double *Xs, t[OPT__LSQ_MAX_K];
        size_t ks = 0, cols[OPT__LSQ_MAX_K];
        int r;

        for (size_t j = 0; j < k; j++)
                if (mask & (1u << j))
                        cols[ks++] = j;
        Xs = malloc(sizeof(double) * n * ks);
        if (!Xs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < ks; j++)
                        Xs[i * ks + j] = X[i * k + cols[j]];
        r = opt__lsq(Xs, y, n, ks, t, rss);
        free(Xs);
        if (r < 0)
                return r;
        for (size_t j = 0; j < k; j++)
                theta[j] = 0.0;
        for (size_t j = 0; j < ks; j++)
                theta[cols[j]] = t[j];
        return 0;
}

/* Exact NNLS for k <= 4: the optimum is the unconstrained least-squares solution on its own
 * support, so the best non-negative solution over all 2^k − 1 supports is the optimum. */
static int nnls_small(const double *X, const double *y, size_t n, size_t k, double *theta)
{
        double best = INFINITY, t[OPT__LSQ_MAX_K], rss;
        int found = 0;

        for (unsigned mask = 1; mask < (1u << k); mask++) {
                int r = lsq_masked(X, y, n, k, mask, t, &rss), ok = 1;
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                for (size_t j = 0; j < k; j++)
                        if (t[j] < 0.0)
                                ok = 0;
                if (ok && rss < best) {
                        best = rss;
                        memcpy(theta, t, sizeof(double) * k);
                        found = 1;
                }
        }
        return found ? 0 : -EDOM;
}

static int fit_common(const opt_point *pts, size_t n, int nonneg, opt_model *ret, char *err,
                      size_t errlen)
{
        uint32_t bmin = UINT32_MAX, bmax = 0, cmin = UINT32_MAX, cmax = 0;
        double theta[OPT__LSQ_MAX_K], *X, *y;
        opt_model m = {0};
        size_t k;
        int reduced, r;

        if (!pts || n == 0 || !ret)
                return opt__err(err, errlen, -EINVAL, "no profile points");
        for (size_t i = 0; i < n; i++) {
                if (pts[i].batch == 0 || pts[i].millicores == 0 || !(pts[i].latency_ms > 0.0) ||
                    !isfinite(pts[i].latency_ms))
                        return opt__err(err, errlen, -EINVAL,
                                        "point %zu: batch and millicores must be >= 1 and "
                                        "latency finite and > 0 (got %u, %u, %g)",
                                        i, pts[i].batch, pts[i].millicores, pts[i].latency_ms);
                bmin = pts[i].batch < bmin ? pts[i].batch : bmin;
                bmax = pts[i].batch > bmax ? pts[i].batch : bmax;
                cmin = pts[i].millicores < cmin ? pts[i].millicores : cmin;
                cmax = pts[i].millicores > cmax ? pts[i].millicores : cmax;
        }
        if (cmin == cmax)
                return opt__err(err, errlen, -EDOM,
                                "all %zu points at %u millicores: the core dependence cannot "
                                "be fitted (profile at least two core counts)",
                                n, cmin);
        reduced = bmin == bmax;
        k = reduced ? 2 : 4;
        X = malloc(sizeof(double) * n * k);
        y = malloc(sizeof(double) * n);
        if (!X || !y) {
                free(X);
                free(y);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                regressors(pts[i].batch, pts[i].millicores, reduced, &X[i * k]);
                y[i] = pts[i].latency_ms;
        }
        r = nonneg ? nnls_small(X, y, n, k, theta) : opt__lsq(X, y, n, k, theta, NULL);
        free(X);
        free(y);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return opt__err(err, errlen, -EDOM,
                                "the %zu points do not determine the %zu parameters (need "
                                "points at >= 2 batch sizes x >= 2 core counts, not all on one "
                                "line)",
                                n, k);
        if (reduced) {
                /* One batch size b0: l(b0,c) = A/c + D. Assume latency ∝ batch (no batching
                 * gain), the conservative reading of a batch-1 profile. */
                m.gamma = theta[0] / bmin;
                m.delta = theta[1] / bmin;
        } else {
                m.gamma = theta[0];
                m.delta = theta[1];
                m.epsilon = theta[2];
                m.eta = theta[3];
        }
        r = opt__model_check_box(&m, bmin, bmax, cmin, cmax, err, errlen);
        if (r < 0)
                return r;
        r = residual_margin(&m, pts, n, &m.margin);
        if (r < 0)
                return r;
        *ret = m;
        return 0;
}

int opt_fit(const opt_point *pts, size_t n, opt_model *ret, char *err, size_t errlen)
{
        return fit_common(pts, n, 0, ret, err, errlen);
}

int opt_fit_nonneg(const opt_point *pts, size_t n, opt_model *ret, char *err, size_t errlen)
{
        return fit_common(pts, n, 1, ret, err, errlen);
}
