/* budget.c — a request's time budget from its headers: see budget.h. */
#include "agent/budget.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/util.h"
#include "pipelines/pipeline.h"

int budget_parse_ms(const char *name, const char *value, double *ret, char *err, size_t errlen)
{
        size_t len;
        double x;

        if (!value)
                return -ENOENT;
        len = strnlen(value, BUDGET_HEADER_VALUE_MAX + 1);
        /* Decimal only: strtod would also take "0x10", "inf" and "1e3". */
        if (len > BUDGET_HEADER_VALUE_MAX || value[strspn(value, "0123456789.")] != '\0' ||
            parse_double(value, &x) < 0 || x < 0 || x > (double)PL_SLO_MS_MAX) {
                snprintf(err, errlen,
                         "%s: expected milliseconds, a number in [0, %u], got \"%.64s%s\"", name,
                         PL_SLO_MS_MAX, value, len > 64 ? "..." : "");
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

int budget_from_headers(const char *slo, const char *network, const char *deadline, uint64_t slo_us,
                        uint64_t *ret_us, char *err, size_t errlen)
{
        double slo_ms = (double)slo_us / 1000.0, net_ms = 0, dl_ms = 0, budget;
        int r_slo, r_net, r_dl;

        r_slo = budget_parse_ms(BUDGET_HEADER_SLO, slo, &slo_ms, err, errlen);
        if (r_slo == -EINVAL)
                return -EINVAL;
        r_net = budget_parse_ms(BUDGET_HEADER_NETWORK, network, &net_ms, err, errlen);
        if (r_net == -EINVAL)
                return -EINVAL;
        r_dl = budget_parse_ms(BUDGET_HEADER_DEADLINE, deadline, &dl_ms, err, errlen);
        if (r_dl == -EINVAL)
                return -EINVAL;
        if (r_slo == 0 && slo_ms <= 0) {
                snprintf(err, errlen, BUDGET_HEADER_SLO ": must be greater than 0");
                return -EINVAL;
        }
        if (r_dl == 0 && (r_slo == 0 || r_net == 0)) {
                snprintf(err, errlen,
                         "give " BUDGET_HEADER_DEADLINE " alone, or " BUDGET_HEADER_SLO
                         " and/or " BUDGET_HEADER_NETWORK ", not both");
                return -EINVAL;
        }
        budget = r_dl == 0 ? dl_ms : slo_ms - net_ms;
        /* Below one µs is nothing left too: the budget is kept in whole µs ("0.0001" → 0). */
        if (budget * 1000.0 < 1.0) {
                snprintf(err, errlen, "no time left: budget %.3f ms (SLO %.3f ms, network %.3f ms)",
                         budget, r_dl == 0 ? dl_ms : slo_ms, net_ms);
                return -ETIME;
        }
        *ret_us = (uint64_t)(budget * 1000.0);
        return 0;
}
