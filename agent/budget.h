/* budget.h — a request's own time budget from its X-Sponge-* header values (pure, no I/O).
 *
 * X-Sponge-Slo-Ms (end-to-end SLO) and X-Sponge-Network-Ms (time already spent or still to
 * spend on the network) give budget = SLO - network; X-Sponge-Deadline-Ms alone gives what is
 * left directly; none of them: the pipeline's SLO. Values are decimal milliseconds in
 * [0, PL_SLO_MS_MAX]. The HTTP layer looks the headers up and calls budget_from_headers(); the
 * fuzzer (tests/fuzz/fuzz-budget.c) calls the same function on arbitrary bytes.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BUDGET_HEADER_SLO       "X-Sponge-Slo-Ms"
#define BUDGET_HEADER_NETWORK   "X-Sponge-Network-Ms"
#define BUDGET_HEADER_DEADLINE  "X-Sponge-Deadline-Ms"
#define BUDGET_HEADER_VALUE_MAX 256u /* longer values are refused */

/* One header value as milliseconds. value NULL: -ENOENT (absent). A value that is not a decimal
 * number in [0, PL_SLO_MS_MAX]: -EINVAL, with a message naming the header in err. *ret is
 * written only on success. */
int budget_parse_ms(const char *name, const char *value, double *ret, char *err, size_t errlen);

/* The budget in µs from the three header values (each NULL when absent) and the pipeline's SLO
 * (slo_us, used when no SLO header is given). Returns 0 with *ret_us > 0; -EINVAL for a malformed
 * value or a forbidden combination; -ETIME when nothing is left of the budget. The message goes
 * to err; *ret_us is written only on success. */
int budget_from_headers(const char *slo, const char *network, const char *deadline, uint64_t slo_us,
                        uint64_t *ret_us, char *err, size_t errlen);
