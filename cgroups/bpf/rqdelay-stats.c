/*
 * Pure helpers over rqd_stats: quantile, mean, delta. No kernel access, so the unit tests run
 * them on literal histograms.
 */
#include "cgroups/bpf/rqdelay.h"

#include <errno.h>
#include <math.h>

/* Bucket i holds [lo, hi) microseconds: [0, 1) for i = 0, [2^(i-1), 2^i) above. */
static double bucket_lo_us(unsigned i)
{
        return i == 0 ? 0.0 : ldexp(1.0, (int)i - 1);
}

static double bucket_hi_us(unsigned i)
{
        return ldexp(1.0, (int)i);
}

double rqd_stats_quantile_us(const rqd_stats *s, double q)
{
        uint64_t total = 0, cum = 0;

        if (!s || isnan(q) || q < 0.0 || q > 1.0)
                return NAN;
        for (unsigned i = 0; i < RQD_NBUCKETS; i++)
                total += s->hist[i];
        if (total == 0)
                return NAN;

        double target = q * (double)total;

        for (unsigned i = 0; i < RQD_NBUCKETS; i++) {
                uint64_t n = s->hist[i];

                if (n == 0)
                        continue;
                if ((double)(cum + n) >= target) {
                        double frac = (target - (double)cum) / (double)n;

                        if (frac < 0.0)
                                frac = 0.0;
                        if (i == RQD_NBUCKETS - 1) /* open-ended: no upper bound to reach */
                                return bucket_lo_us(i);
                        return bucket_lo_us(i) + frac * (bucket_hi_us(i) - bucket_lo_us(i));
                }
                cum += n;
        }
        return NAN; /* not reached: cum ends at total >= target */
}

double rqd_stats_mean_us(const rqd_stats *s)
{
        if (!s || s->count == 0)
                return NAN;
        return (double)s->sum_ns / (double)s->count / 1000.0;
}

int rqd_stats_delta(const rqd_stats *newer, const rqd_stats *older, rqd_stats *ret)
{
        rqd_stats d;

        if (!newer || !older || !ret)
                return -EINVAL;
        if (newer->count < older->count || newer->sum_ns < older->sum_ns)
                return -ERANGE;
        for (unsigned i = 0; i < RQD_NBUCKETS; i++) {
                if (newer->hist[i] < older->hist[i])
                        return -ERANGE;
                d.hist[i] = newer->hist[i] - older->hist[i];
        }
        d.count = newer->count - older->count;
        d.sum_ns = newer->sum_ns - older->sum_ns;
        /* The running-stint estimate can step back a little between reads (see rqdelay.h). */
        d.oncpu_ns = newer->oncpu_ns > older->oncpu_ns ? newer->oncpu_ns - older->oncpu_ns : 0;
        *ret = d;
        return 0;
}
