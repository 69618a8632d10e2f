/* ebpf.h — the agent's use of cgroups/bpf (rqdelay): per-stage run-queue delay and contention.
 *
 * At start the agent loads the scheduler programs when it can (root or CAP_BPF+CAP_PERFMON,
 * BTF present); when it cannot, it says why once and carries on without them. Every stage gets
 * one rqdelay key; every worker process of the stage is watched by its tgid from spawn to exit
 * (tgid keys work on cgroup v1 and v2 alike). Each control interval reads the delta per stage:
 * run-queue delay p50/p99 and the share of runnable time spent waiting for a CPU.
 *
 * Contention: a stage whose batches take longer than its model predicts while it is NOT
 * throttled by its quota and whose tasks wait in the run queue is short of CPU that its quota
 * would allow: the node is contended. The control loop then plans with a usable capacity
 * reduced by the observed waiting share, instead of adding cores that cannot be granted.
 * Loop thread only.
 */
#pragma once

#include <stdbool.h>

#include "agent/forward.h"

/* A stage is contended when its batches run this much slower than predicted ... */
#define CONTENTION_SLOWDOWN 1.2
/* ... its replicas were throttled in fewer than this share of their CFS periods ... */
#define CONTENTION_MAX_THROTTLED 0.2
/* ... and its tasks spent at least this share of their runnable time waiting for a CPU. */
#define CONTENTION_MIN_WAIT 0.2

void ebpf_start(Manager *m);
void ebpf_stop(Manager *m);
void ebpf_watch(Replica *r);
void ebpf_unwatch(Replica *r);
/* Reads the stage's figures for the interval that ended now and decides whether it is
 * contended (fields in Stage). */
void ebpf_observe_stage(Stage *s);
/* The node capacity the optimizer may plan with (millicores), and whether it is contended. */
unsigned ebpf_usable_millicores(Manager *m, bool *ret_contended);
