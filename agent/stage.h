/* stage.h — a pipeline at run time: its stages, each with its EDF queue, latency models, plan in
 * force and replicas, and the reconciliation of the replicas with the plan (stage.c).
 *
 * Invariants: a stage's replicas follow its plan (stage_reconcile after every plan change and
 * replica event); a pipeline being replaced or deleted is "retired": it accepts nothing new,
 * finishes what it has, then its replicas stop and it is freed. Owned by the Manager (its list
 * of pipelines or of retired ones); loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/forward.h"
#include "agent/metrics.h"
#include "cgroups/bpf/rqdelay.h"
#include "optimizer/optimizer.h"
#include "pipelines/pipeline.h"
#include "queueing/queueing.h"

struct Stage {
        Pipeline *pipeline; /* borrowed: the owner */
        size_t index;
        const pl_stage *cfg; /* borrowed from pipeline->cfg */
        sq_queue queue;
        pl_plan_entry plan;   /* in force */
        opt_latency *models;  /* owned, one per variant: what the estimates use */
        opt_rls *rls;         /* owned, one per variant: online refit from observed batches */
        double *refit_scale;  /* owned, one per variant: models = profile x this (control.c) */
        opt_latency *profile; /* owned, one per variant: the profile as configured, never
                                 refitted (the reference for contention: ebpf.c) */
        Replica *replicas;    /* owned list */
        uint64_t wake_at_us;  /* batcher asked to decide again then (0 = not waiting) */
        StageMetrics m;
        /* contention, per control interval (ebpf.c) */
        uint32_t bpf_key;
        bool has_bpf_key, contended;
        rqd_stats bpf_prev;
        double rq_p50_us, rq_p99_us, wait_share, throttled_share, slowdown;
};

struct Pipeline {
        Manager *manager;
        pl_pipeline *cfg; /* owned */
        char *json;       /* owned: canonical JSON text, to detect changes on reload */
        char *path;       /* owned: the file it was loaded from / persisted to */
        Stage *stages;    /* owned, cfg->n_stages */
        bool retired;     /* accepts nothing; freed when empty */
        bool pinned;      /* plan set by hand: the control loop leaves it alone */
        uint32_t live_requests;
        uint64_t retire_deadline_us; /* retired: what is left is answered then (bounded.c) */
        PipelineMetrics m;
        struct ControlState *control; /* owned by control.c */
        Pipeline *next;
};

int pipeline_new(Manager *m, pl_pipeline *cfg, Pipeline **ret);
Pipeline *pipeline_free(Pipeline *p);
/* Sets the plan of one stage and reconciles replicas (start/stop/resize/switch variant). */
int stage_set_plan(Stage *s, const pl_plan_entry *e);
/* Brings the replicas in line with the plan: called after plan changes and replica events. */
void stage_reconcile(Stage *s, uint64_t now);
/* Estimated µs from dispatch at this stage with a batch of b to leaving the pipeline. */
uint64_t stage_estimate_us(uint32_t batch, void *stage);
uint32_t stage_allocated_millicores(const Stage *s);
void pipeline_retire(Pipeline *p);
bool pipeline_is_drained(const Pipeline *p);
