/* SPDX-License-Identifier: MIT */
/*
 * Test/bench helpers for the optimizer: readers for the shared data set (the Twitter
 * per-second trace, gzip; InfAdapter's ResNet capacity CSV). Not part of the library: the
 * module itself does no I/O.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "optimizer/optimizer.h"

/* $SPONGE_SHARED_DATA/<name> into buf (or ../shared/data relative to SPONGE_SOURCE_DIR).
 * Returns 0, -ENOENT when the file is absent (callers skip with a reason), -ENAMETOOLONG. */
int optt_data_path(const char *name, char *buf, size_t len);

/* Reads up to max_lines counts (0 = all) from a gzip'd one-integer-a-line trace, starting at
 * line `first` (0-based). Returns 0 and a malloc'd array in *ret (count in *ret_n), -ENOENT,
 * -EIO, -EBADMSG (a line that is not a non-negative number), -ENOMEM. */
int optt_read_trace(const char *path, size_t first, size_t max_lines, double **ret, size_t *ret_n);

/* One ResNet of the InfAdapter CSV (one replica, batch 1, CPU = cores, one row per SLA):
 *  p99: (cpu, p99_latency) of every row that has one — tail latency under the load that
 *       just met the SLA, so it includes queueing;
 *  sat: (cpu, 1000/saturation_tp) — the time per request at saturation, the quantity
 *       l(1,c) stands for when the solver sizes replicas (h = b/l). */
typedef struct optt_resnet {
        int arch; /* 18, 34, 50, 101, 152 */
        opt_point p99[128];
        size_t n_p99;
        opt_point sat[128];
        size_t n_sat;
} optt_resnet;

/* Parses the CSV at path into models[0..*ret_n) (at most max). Returns 0, -ENOENT, -EIO,
 * -EBADMSG (missing column or unparsable field). */
int optt_read_resnet(const char *path, optt_resnet *models, size_t max, size_t *ret_n);
