/* fuzz-budget.c — libFuzzer target for the X-Sponge-* budget headers (agent/budget.c).
 *
 * Input: byte 0 = which headers are present (bit 0 SLO, bit 1 network, bit 2 deadline) and the
 * pipeline's SLO ((byte0 >> 3) + 1) × 10 ms; the rest = up to three values separated by '\n'
 * (headers cannot hold NUL or newlines, so each value is cut at the first NUL).
 * Checked: the return codes and the contract of budget.h (0 < budget ≤ the largest SLO, a
 * NUL-terminated message on every error).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/budget.h"
#include "pipelines/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *copy, *value[3] = {NULL, NULL, NULL}, *p, err[256];
        uint64_t slo_us, ret_us = 0;
        unsigned mask;
        int r;

        if (size < 1)
                return 0;
        mask = data[0] & 7u;
        slo_us = (((uint64_t)data[0] >> 3) + 1) * 10000;
        copy = malloc(size); /* size - 1 bytes + a NUL */
        if (!copy)
                return 0;
        memcpy(copy, data + 1, size - 1);
        copy[size - 1] = '\0';
        p = copy;
        for (int i = 0; i < 3; i++) {
                char *nl = p ? strchr(p, '\n') : NULL;

                if (mask & (1u << i))
                        value[i] = p ? p : copy + size - 1;
                if (nl)
                        *nl = '\0';
                p = nl ? nl + 1 : NULL;
        }
        memset(err, 'x', sizeof(err));
        r = budget_from_headers(value[0], value[1], value[2], slo_us, &ret_us, err, sizeof(err));
        if (r == 0) {
                assert(ret_us > 0);
                assert(ret_us <= (uint64_t)PL_SLO_MS_MAX * 1000u);
        } else {
                assert(r == -EINVAL || r == -ETIME);
                assert(memchr(err, '\0', sizeof(err)) != NULL);
                assert(ret_us == 0);
        }
        free(copy);
        return 0;
}
