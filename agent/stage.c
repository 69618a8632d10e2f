/* stage.c — a pipeline at run time: its stages, their queues, latency models and plans, and
 * the reconciliation of each stage's replicas with its plan. See stage.h. */
#include "agent/stage.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/control.h"
#include "agent/dispatch.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/plan/plan-loop.h"
#include "agent/plan/plan.h"
#include "agent/replica.h"

/* RLS forgetting factor: memory of ~50 batches, so the model follows a change within a few
 * control intervals at the rates the example pipelines see. */
#define RLS_FORGETTING 0.98

static int stage_models_init(Stage *s, char *err, size_t errlen)
{
        const pl_stage *c = s->cfg;

        s->models = calloc(c->n_variants, sizeof(opt_latency));
        s->rls = calloc(c->n_variants, sizeof(opt_rls));
        s->profile = calloc(c->n_variants, sizeof(opt_latency));
        s->refit_scale = calloc(c->n_variants, sizeof(double));
        if (!s->models || !s->rls || !s->profile || !s->refit_scale)
                return -ENOMEM;
        for (size_t v = 0; v < c->n_variants; v++) {
                opt_model m;
                int r;

                s->refit_scale[v] = 1.0;
                r = plan_variant_model(&c->variants[v], &m, err, errlen);
                if (r < 0)
                        return r;
                s->models[v] = (opt_latency){.kind = OPT_LATENCY_MODEL, .fit = m};
                s->profile[v] = s->models[v];
                r = opt_rls_init(&s->rls[v], &m, RLS_FORGETTING, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A starting plan (the file's, or the most cores allowed) above what one replica may get on
 * this node could never be written to a cgroup: the largest allowed size that fits instead. */
static void clamp_to_node(const Manager *m, Stage *s)
{
        const pl_stage *c = s->cfg;
        uint32_t cap = m->capacity_millicores, mc;

        if (!cap || s->plan.millicores <= cap || cap < c->millicores_min)
                return;
        mc = c->millicores_step ? c->millicores_min + (cap - c->millicores_min) /
                                                          c->millicores_step * c->millicores_step
                                : c->millicores_min;
        log_warning("Pipeline %s, stage %s: starting plan of %u millicores per replica exceeds "
                    "the node's %u; starting with %u",
                    s->pipeline->cfg->name, c->name, s->plan.millicores, cap, mc);
        s->plan.millicores = mc;
}

int pipeline_new(Manager *m, pl_pipeline *cfg, Pipeline **ret)
{
        _cleanup_free_ pl_plan_entry *plan = NULL;
        Pipeline *p;
        char err[256] = "";
        int r;

        p = calloc(1, sizeof(*p));
        if (!p) {
                pl_pipeline_free(cfg);
                return -ENOMEM;
        }
        p->manager = m;
        p->cfg = cfg;
        p->stages = calloc(cfg->n_stages, sizeof(Stage));
        r = p->stages ? pl_initial_plan(cfg, &plan) : -ENOMEM;
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < cfg->n_stages; i++) {
                Stage *s = &p->stages[i];
                s->pipeline = p;
                s->index = i;
                s->cfg = &cfg->stages[i];
                s->plan = plan[i];
                clamp_to_node(m, s);
                r = sq_queue_init(&s->queue, cfg->queue_limit);
                if (r < 0)
                        goto fail;
                sq_set_late_policy(&s->queue,
                                   cfg->late == PL_LATE_SERVE ? SQ_LATE_SERVE : SQ_LATE_DROP);
                r = stage_models_init(s, err, sizeof(err));
                if (r < 0) {
                        log_error("Pipeline %s, stage %s: cannot build a latency model: %s",
                                  cfg->name, s->cfg->name, err);
                        goto fail;
                }
        }
        p->pinned = cfg->policy == PL_POLICY_STATIC;
        r = control_pipeline_init(p);
        if (r < 0)
                goto fail;
        *ret = p;
        return 0;
fail:
        pipeline_free(p);
        return r;
}

Pipeline *pipeline_free(Pipeline *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; p->stages && i < p->cfg->n_stages; i++) {
                Stage *s = &p->stages[i];
                while (s->replicas) {
                        Replica *r = s->replicas;
                        s->replicas = r->next;
                        replica_kill(r);
                        replica_free(r);
                }
                sq_queue_done(&s->queue);
                free(s->models);
                free(s->rls);
                free(s->profile);
                free(s->refit_scale);
        }
        control_pipeline_done(p);
        free(p->stages);
        free(p->json);
        free(p->path);
        pl_pipeline_free(p->cfg);
        free(p);
        return NULL;
}

uint64_t stage_estimate_us(uint32_t batch, void *userdata)
{
        Stage *s = userdata;
        Pipeline *p = s->pipeline;
        plan_stage_now st[PL_MAX_STAGES];

        for (size_t j = 0; j < p->cfg->n_stages; j++)
                st[j] = (plan_stage_now){&p->stages[j].models[p->stages[j].plan.variant],
                                         p->stages[j].plan.millicores};
        return plan_estimate_us(st, p->cfg->n_stages, s->index, batch);
}

uint32_t stage_allocated_millicores(const Stage *s)
{
        uint32_t sum = 0;

        for (const Replica *r = s->replicas; r; r = r->next)
                if (r->pid > 0)
                        sum += r->millicores;
        return sum;
}

static Replica *replica_new(Stage *s, size_t variant)
{
        Replica *r = calloc(1, sizeof(*r));
        char rel[3 * PL_NAME_MAX + 16];
        int n, k;

        if (!r)
                return NULL;
        r->ev.kind = EVENT_REPLICA;
        r->stage = s;
        r->id = s->pipeline->manager->next_replica_id++;
        r->variant = variant;
        r->fd = -1;
        r->state = REPLICA_DEAD;
        r->millicores = s->plan.millicores;
        n = snprintf(rel, sizeof(rel), "%s/%s/r%u", s->pipeline->cfg->name, s->cfg->name, r->id);
        if (n < 0 || (size_t)n >= sizeof(rel)) {
                free(r);
                return NULL;
        }
        k = cg_group_create(s->pipeline->manager->cg, rel, &r->cg);
        if (k < 0) {
                log_error_errno(k, "Failed to create cgroup for %s: %s", rel,
                                cg_last_error(s->pipeline->manager->cg));
                free(r);
                return NULL;
        }
        r->next = s->replicas;
        s->replicas = r;
        return r;
}

/* Whether replica r serves the stage's plan as it is: same variant and, when quota changes
 * need a restart, the same quota. */
static bool replica_matches(const Stage *s, const Replica *r)
{
        return r->variant == s->plan.variant && (s->pipeline->cfg->resize == PL_RESIZE_IN_PLACE ||
                                                 r->millicores == s->plan.millicores);
}

static bool replica_live(const Replica *r)
{
        return r->state == REPLICA_STARTING || r->state == REPLICA_READY ||
               r->state == REPLICA_DEAD;
}

/* Which replica of the plan's variant to let go first: dead, starting, idle, then busy. */
static int stop_rank(const Replica *r)
{
        if (r->state == REPLICA_DEAD)
                return 0;
        if (r->state == REPLICA_STARTING)
                return 1;
        return r->batch_n == 0 ? 2 : 3;
}

static void stage_shrink(Stage *s, uint32_t extra, uint64_t now)
{
        for (int rank = 0; rank < 4 && extra > 0; rank++)
                for (Replica *r = s->replicas; r && extra > 0; r = r->next)
                        if (replica_matches(s, r) && replica_live(r) && stop_rank(r) == rank) {
                                replica_stop(r, now);
                                extra--;
                        }
}

void stage_reconcile(Stage *s, uint64_t now)
{
        const pl_plan_entry *e = &s->plan;
        bool gone = s->pipeline->retired && pipeline_is_drained(s->pipeline);
        uint32_t live = 0, ready = 0, want = gone ? 0 : e->replicas;

        for (Replica *r = s->replicas; r; r = r->next) {
                if (!replica_matches(s, r) || !replica_live(r))
                        continue;
                live++;
                ready += r->state == REPLICA_READY;
                if (r->millicores != e->millicores && r->state != REPLICA_DEAD)
                        replica_resize(r, e->millicores);
                else
                        r->millicores = e->millicores;
        }
        for (; live < want; live++) {
                Replica *r = replica_new(s, e->variant);
                if (!r)
                        break;
                r->restart_at_us = now; /* spawned by the loop's due-work pass, right away */
        }
        if (live > want)
                stage_shrink(s, live - want, now);
        /* A variant switch (or a restart-resize): the old replicas serve until the new ones are
         * all ready. */
        if (ready >= want)
                for (Replica *r = s->replicas; r; r = r->next)
                        if (!replica_matches(s, r) && replica_live(r))
                                replica_stop(r, now);
}

static void count_plan_change(NodeMetrics *nm, const pl_plan_entry *was, const pl_plan_entry *e)
{
        nm->plan_changes_by_kind[PLAN_CHANGE_VARIANT] += was->variant != e->variant;
        nm->plan_changes_by_kind[PLAN_CHANGE_BATCH] += was->batch != e->batch;
        nm->plan_changes_by_kind[PLAN_CHANGE_CORES] += was->millicores != e->millicores;
        nm->plan_changes_by_kind[PLAN_CHANGE_REPLICAS] += was->replicas != e->replicas;
}

int stage_set_plan(Stage *s, const pl_plan_entry *e)
{
        if (plan_entry_equal(&s->plan, e))
                return 0;
        log_info("Plan %s/%s: variant %s batch %u millicores %u replicas %u (was %s, %u, %u, %u)",
                 s->pipeline->cfg->name, s->cfg->name, s->cfg->variants[e->variant].name, e->batch,
                 e->millicores, e->replicas, s->cfg->variants[s->plan.variant].name, s->plan.batch,
                 s->plan.millicores, s->plan.replicas);
        count_plan_change(&s->pipeline->manager->m, &s->plan, e);
        s->plan = *e;
        s->pipeline->manager->m.plan_changes++;
        stage_reconcile(s, now_us());
        stage_dispatch(s, now_us());
        return 1;
}

void pipeline_retire(Pipeline *p)
{
        if (p->retired)
                return;
        p->retired = true;
        p->retire_deadline_us = now_us() + p->manager->config.drain_timeout_us;
        log_info("Pipeline %s retired: finishing %u requests in flight", p->cfg->name,
                 p->live_requests);
}

bool pipeline_is_drained(const Pipeline *p)
{
        return p->live_requests == 0;
}
