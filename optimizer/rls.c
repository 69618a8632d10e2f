/* SPDX-License-Identifier: MIT */
/* Online refit of the latency model: recursive least squares with exponential forgetting
 * (Ljung & Söderström 1983, §2.6), covariance bounded against wind-up. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer/optimizer-internal.h"

#define RLS_P0_DEFAULT 100.0

int opt_rls_init(opt_rls *s, const opt_model *m, double forgetting, double p0)
{
        if (!s || !m || !(forgetting > 0.0) || forgetting > 1.0 || p0 < 0.0 || !isfinite(p0) ||
            !isfinite(m->gamma) || !isfinite(m->delta) || !isfinite(m->epsilon) ||
            !isfinite(m->eta) || !(m->margin >= 0.0) || !isfinite(m->margin))
                return -EINVAL;
        if (p0 == 0.0)
                p0 = RLS_P0_DEFAULT;
        memset(s, 0, sizeof(*s));
        s->theta[0] = m->gamma;
        s->theta[1] = m->delta;
        s->theta[2] = m->epsilon;
        s->theta[3] = m->eta;
        for (int i = 0; i < 4; i++)
                s->P[i][i] = p0;
        s->forgetting = forgetting;
        s->base_margin = m->margin;
        return 0;
}

int opt_rls_update(opt_rls *s, uint32_t batch, uint32_t millicores, double observed_ms)
{
        double x[4], Px[4], pred = 0.0, denom, e, tr = 0.0, lf;

        if (!s || batch == 0 || millicores == 0 || !(observed_ms > 0.0) || !isfinite(observed_ms))
                return -EINVAL;
        x[0] = (double)batch * 1000.0 / millicores;
        x[1] = batch;
        x[2] = 1000.0 / millicores;
        x[3] = 1.0;
        for (int i = 0; i < 4; i++)
                pred += s->theta[i] * x[i];

        /* A-priori relative error: what the model in use would have got wrong. */
        s->resid[s->resid_head] = pred > 0.0 ? observed_ms / pred - 1.0 : 1.0;
        s->resid_head = (s->resid_head + 1) % OPT_RLS_RESIDUALS;
        if (s->n_resid < OPT_RLS_RESIDUALS)
                s->n_resid++;

        lf = s->forgetting;
        denom = lf;
        for (int i = 0; i < 4; i++) {
                Px[i] = 0.0;
                for (int j = 0; j < 4; j++)
                        Px[i] += s->P[i][j] * x[j];
                denom += x[i] * Px[i];
        }
        e = observed_ms - pred;
        for (int i = 0; i < 4; i++)
                s->theta[i] += Px[i] / denom * e;
        /* P ← (P − Px·Pxᵀ/denom)/λ, symmetrised to stop rounding drift. */
        for (int i = 0; i < 4; i++)
                for (int j = i; j < 4; j++) {
                        double v = (s->P[i][j] - Px[i] * Px[j] / denom) / lf;
                        s->P[i][j] = v;
                        s->P[j][i] = v;
                }
        /* With forgetting and no excitation in some direction, P grows as λ^-k there and the
         * next informative observation would swing θ wildly ("wind-up"): cap the trace. */
        for (int i = 0; i < 4; i++)
                tr += s->P[i][i];
        if (tr > OPT_RLS_P_MAX)
                for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++)
                                s->P[i][j] *= OPT_RLS_P_MAX / tr;
        s->n_updates++;
        return 0;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

void opt_rls_model(const opt_rls *s, opt_model *ret)
{
        double r[OPT_RLS_RESIDUALS], margin = s->base_margin;

        ret->gamma = s->theta[0];
        ret->delta = s->theta[1];
        ret->epsilon = s->theta[2];
        ret->eta = s->theta[3];
        if (s->n_resid >= OPT_RLS_MIN_RESIDUALS) {
                /* The last w errors, w = the forgetting memory 1/(1−λ) within [16, ring]:
                 * errors older than the model's memory say little about it. */
                size_t w = s->n_resid, rank;
                if (s->forgetting < 1.0) {
                        double mem = ceil(1.0 / (1.0 - s->forgetting));
                        if (mem < w)
                                w = mem < OPT_RLS_MIN_RESIDUALS ? OPT_RLS_MIN_RESIDUALS
                                                                : (size_t)mem;
                }
                for (size_t i = 0; i < w; i++)
                        r[i] = s->resid[(s->resid_head + OPT_RLS_RESIDUALS - 1 - i) %
                                        OPT_RLS_RESIDUALS];
                qsort(r, w, sizeof(double), cmp_double);
                rank = (size_t)ceil(0.99 * (double)w);
                margin = r[rank - 1] > 0.0 ? r[rank - 1] : 0.0;
        }
        ret->margin = margin;
}
