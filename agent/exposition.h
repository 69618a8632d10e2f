/* exposition.h — the Prometheus text of GET /metrics (format 0.0.4), clean under
 * `promtool check metrics`.
 *
 * Invariants: every family has one HELP and one TYPE line and all its samples follow them
 * together (families are written one at a time, looping over pipelines inside); names are in base
 * units (seconds, cores, bytes), counters end in _total, histograms are complete (cumulative
 * _bucket{le} up to +Inf, _sum, _count); label values are bounded by the configuration (pipeline,
 * stage and variant names, replica index 0..n-1, fixed reason/kind/outcome sets), never by time.
 * Retired pipelines (being replaced or deleted) are not exported: their successor of the same
 * name is. A read-only view of the manager (loop thread only); agent/README.md has the table.
 */
#pragma once

#include "agent/forward.h"
#include "agent/util.h"

/* Appends the whole exposition to out. Returns 0 or -ENOMEM. */
int exposition_render(const Manager *m, Buf *out);
