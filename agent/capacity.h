/* capacity.h — how much more load this node can take: the signal a load balancer in front of
 * several agents follows (HAProxy agent-check, /v1/node, /metrics).
 *
 * Per node: the state (up, or drain once a stop has begun) and a weight proportional to the
 * millicores the node can deliver (its share x (1 - its workers' smoothed run-queue wait share),
 * ebpf.c) against a reference (node config agent_check.reference_millicores: 100% = that many),
 * so a node with a smaller core share or under a CPU hog gets proportionally less traffic.
 * Per pipeline also: ready (every stage has a ready replica), the rate the plan in force serves,
 * the rate it could serve with the node's spare millicores (cores scaled linearly: an estimate,
 * not a solve), and the headroom above the rate observed now.
 *
 * Pure reads of the Manager; called on the loop thread. capacity_format_agent() is a pure
 * formatter of HAProxy's agent-check reply (unit-tested on literal values).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "agent/forward.h"

typedef enum CapacityState {
        CAPACITY_UP,    /* taking requests */
        CAPACITY_DOWN,  /* the pipeline has a stage with no ready replica */
        CAPACITY_DRAIN, /* stopping: finishes what it has, takes nothing new soon */
        CAPACITY_MAINT, /* no such pipeline on this node */
} CapacityState;

typedef struct CapacitySignal {
        CapacityState state;
        char why[128];            /* for down/drain/maint: a short reason (no newline, no '#') */
        unsigned weight_pct;      /* 0..256, HAProxy's range for a relative weight */
        double usable_cores;      /* node: what the planner may hand out now (ebpf.c) */
        double deliverable_cores; /* node: its share less the workers' run-queue wait: the
                                     weight's base */
        double allocated_cores;   /* node: what the plans in force hold */
        double plan_rps;          /* pipeline: what the plan in force serves (0 for the node) */
        double max_rps;           /* pipeline: with the node's spare cores added */
        double observed_rps;      /* pipeline: arrivals per second now */
        double headroom_rps;      /* pipeline: max_rps - observed_rps, >= 0 */
} CapacitySignal;

/* The node's signal (pipeline NULL or "") or one pipeline's. */
void capacity_signal(const Manager *m, const char *pipeline, CapacitySignal *ret);

/* HAProxy agent-check reply, one line ending in "\n": "up ready 150%", "up drain",
 * "down#stage s0: starting: ...", "maint#no pipeline x on this node". Returns the length, or
 * -ENOBUFS when len is too small. */
int capacity_format_agent(const CapacitySignal *s, char *buf, size_t len);

/* "up", "down", "drain", "maint". */
const char *capacity_state_name(CapacityState s);
