/* status.c — JSON state and Prometheus metrics of the agent. See status.h. */
#include "agent/status.h"

#include <string.h>

#include "agent/capacity.h"
#include "agent/control.h"
#include "agent/exposition.h"
#include "agent/manager.h"
#include "agent/replica.h"
#include "agent/stage.h"

static double ms(uint64_t us)
{
        return (double)us / 1000.0;
}

/* The capacity signal (capacity.h) of the node (pipeline NULL) or of one pipeline. */
static json_t *capacity_json(const Manager *m, const char *pipeline)
{
        CapacitySignal c;
        json_t *j;

        capacity_signal(m, pipeline, &c);
        j = json_pack("{s:s, s:s?, s:I, s:f, s:f, s:f}", "state", capacity_state_name(c.state),
                      "why", c.why[0] ? c.why : NULL, "weight_pct", (json_int_t)c.weight_pct,
                      "usable_cores", c.usable_cores, "deliverable_cores", c.deliverable_cores,
                      "allocated_cores", c.allocated_cores);
        if (j && pipeline)
                json_object_update_new(j, json_pack("{s:o, s:o, s:o, s:o}", "plan_rps",
                                                    json_finite(c.plan_rps), "max_rps",
                                                    json_finite(c.max_rps), "observed_rps",
                                                    json_finite(c.observed_rps), "headroom_rps",
                                                    json_finite(c.headroom_rps)));
        return j;
}

double status_attainment_pct(const Pipeline *p)
{
        uint64_t answered = 0;

        for (int o = 0; o < _OUTCOME_MAX; o++)
                if (o != OUTCOME_CANCELLED)
                        answered += p->m.answered[o];
        return answered ? 100.0 * (double)p->m.within_slo / (double)answered : 100.0;
}

static json_t *replica_json(const Replica *r)
{
        const pl_stage *c = r->stage->cfg;

        return json_pack("{s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:s?}", "id", (json_int_t)r->id,
                         "pid", (json_int_t)r->pid, "state", replica_state_name(r->state),
                         "variant", c->variants[r->variant].name, "millicores",
                         (json_int_t)r->millicores, "threads", (json_int_t)r->threads, "restarts",
                         (json_int_t)r->restarts, "cgroup", cg_group_path(r->cg), "last_error",
                         r->last_failure[0] ? r->last_failure : NULL);
}

static json_t *contention_json(const Stage *s)
{
        return json_pack("{s:f, s:f, s:f, s:f, s:f, s:b}", "runqueue_p50_ms", s->rq_p50_us / 1000.0,
                         "runqueue_p99_ms", s->rq_p99_us / 1000.0, "wait_share", s->wait_share,
                         "throttled_share", s->throttled_share, "slowdown", s->slowdown,
                         "contended", s->contended);
}

/* The latency model the stage's estimates use now: the profile scaled by the refit's slowdown
 * at the plan (control.c, follow_reality). */
static json_t *model_json(const Stage *s)
{
        const opt_model *m = &s->models[s->plan.variant].fit;
        const opt_rls *r = &s->rls[s->plan.variant];

        return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}", "refit_scale",
                         json_finite(s->refit_scale[s->plan.variant]), "gamma",
                         json_finite(m->gamma), "delta", json_finite(m->delta), "epsilon",
                         json_finite(m->epsilon), "eta", json_finite(m->eta), "margin",
                         json_finite(m->margin), "observations", (json_int_t)r->n_updates,
                         "predicted_ms_at_plan",
                         json_finite(opt_latency_eval_ms(&s->models[s->plan.variant], s->plan.batch,
                                                         s->plan.millicores)));
}

static json_t *stage_json(const Stage *s)
{
        json_t *reps = json_array();
        const sq_counters *q = &s->queue.counters;

        json_t *j;

        for (const Replica *r = s->replicas; r; r = r->next)
                json_array_append_new(reps, replica_json(r));
        j = json_pack(
            "{s:s, s:{s:s, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:o, s:o}",
            "name", s->cfg->name, "plan", "variant", s->cfg->variants[s->plan.variant].name,
            "batch", (json_int_t)s->plan.batch, "millicores", (json_int_t)s->plan.millicores,
            "replicas", (json_int_t)s->plan.replicas, "queue_length",
            (json_int_t)sq_size(&s->queue), "batches", (json_int_t)s->m.batches, "items",
            (json_int_t)s->m.items, "dropped", (json_int_t)(q->dropped_hopeless + q->dropped_shed),
            "queue_full", (json_int_t)q->dropped_full, "late", (json_int_t)q->late,
            "processing_p50_ms", ms(recent_quantile_us(&s->m.recent_processing, 0.5)),
            "processing_p99_ms", ms(recent_quantile_us(&s->m.recent_processing, 0.99)),
            "contention", contention_json(s), "replica_list", reps, "model", model_json(s));
        if (j) {
                json_object_set_new(j, "batch_timeouts",
                                    json_integer((json_int_t)s->m.batch_timeouts));
                json_object_set_new(j, "expired", json_integer((json_int_t)s->m.expired));
        }
        return j;
}

static json_t *outcomes_json(const PipelineMetrics *pm)
{
        json_t *o = json_object();

        for (int i = 0; i < _OUTCOME_MAX; i++)
                json_object_set_new(o, outcome_name(i), json_integer((json_int_t)pm->answered[i]));
        return o;
}

/* Variant env values may be secrets (tokens, keys): GET shows their names only. */
static json_t *redact_env(json_t *cfg)
{
        json_t *stage, *variant, *v;
        const char *key;
        size_t i, k;

        json_array_foreach(json_object_get(cfg, "stages"), i, stage)
        {
                json_array_foreach(json_object_get(stage, "variants"), k, variant)
                {
                        json_object_foreach(json_object_get(variant, "env"), key, v)
                            json_object_set_new(json_object_get(variant, "env"), key,
                                                json_string("<redacted>"));
                }
        }
        return cfg;
}

json_t *status_pipeline(const Pipeline *p, bool with_config)
{
        json_t *stages = json_array(), *j;

        for (size_t i = 0; i < p->cfg->n_stages; i++)
                json_array_append_new(stages, stage_json(&p->stages[i]));
        j = json_pack(
            "{s:s, s:s, s:f, s:b, s:b, s:I, s:I, s:o, s:I, s:f, s:f, s:f, s:f, s:f, "
            "s:o, s:o}",
            "name", p->cfg->name, "policy", pl_policy_to_string(p->cfg->policy), "slo_ms",
            ms(p->cfg->slo_us), "pinned", p->pinned, "retired", p->retired, "in_flight",
            (json_int_t)p->live_requests, "accepted", (json_int_t)p->m.accepted, "answered",
            outcomes_json(&p->m), "late", (json_int_t)p->m.late, "slo_attainment_pct",
            status_attainment_pct(p), "p50_ms", ms(recent_quantile_us(&p->m.recent_e2e, 0.5)),
            "p99_ms", ms(recent_quantile_us(&p->m.recent_e2e, 0.99)), "core_seconds",
            p->m.core_seconds, "mean_accuracy",
            p->m.answered[OUTCOME_OK] ? p->m.accuracy_sum / (double)p->m.answered[OUTCOME_OK] : 0.0,
            "stages", stages, "control", control_pipeline_json(p));
        if (j)
                json_object_set_new(j, "capacity", capacity_json(p->manager, p->cfg->name));
        if (j && with_config)
                json_object_set_new(j, "config", redact_env(pl_to_json(p->cfg)));
        return j;
}

json_t *status_pipelines(const Manager *m)
{
        json_t *a = json_array();

        for (const Pipeline *p = m->pipelines; p; p = p->next)
                json_array_append_new(a, status_pipeline(p, false));
        return json_pack("{s:o}", "pipelines", a);
}

/* Bounded failure (bounded.c, api.c): what was given up, cut off or refused, and why. */
static json_t *bounded_json(const Manager *m)
{
        const NodeMetrics *n = &m->m;

        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "batch_timeouts",
                         (json_int_t)n->batch_timeouts, "startup_timeouts",
                         (json_int_t)n->startup_timeouts, "expired", (json_int_t)n->expired,
                         "clients_gone", (json_int_t)n->clients_gone, "retire_forced",
                         (json_int_t)n->retire_forced, "stop_kills", (json_int_t)n->stop_kills,
                         "http_budget_refused", (json_int_t)n->http_budget_refused,
                         "http_head_timeouts", (json_int_t)n->http_head_timeouts);
}

json_t *status_node(const Manager *m)
{
        const ControlStats *cs = control_stats(m);
        json_t *j;

        j = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:I, s:I, s:f, s:f, s:s, s:b, "
            "s:{s:I, s:f, s:f, s:f, s:f, s:f, s:b}}",
            "backend", cg_mode_name(cg_ctx_mode(m->cg)), "cgroup_note", cg_ctx_note(m->cg),
            "cgroup_root", cg_ctx_root_path(m->cg), "millicores_total",
            (json_int_t)m->capacity_millicores, "millicores_allocated",
            (json_int_t)manager_allocated_millicores(m), "millicores_usable",
            (json_int_t)(m->usable_millicores ? m->usable_millicores : m->capacity_millicores),
            "contended", m->contended, "period_us", (json_int_t)cg_ctx_period_us(m->cg),
            "requests_in_flight", (json_int_t)m->n_requests, "uptime_s",
            (double)(now_us() - m->started_us) / 1e6, "core_seconds", m->m.core_seconds, "ebpf",
            m->bpf_note, "control", m->config.control, "control_loop", "iterations",
            (json_int_t)cs->iterations, "last_observe_ms", ms(cs->last_observe_us), "last_solve_ms",
            ms(cs->last_solve_us), "last_act_ms", ms(cs->last_act_us), "last_total_ms",
            ms(cs->last_total_us), "last_loop_ms", ms(cs->last_loop_us), "solving", cs->solving);
        if (j) {
                json_object_set_new(j, "bounded", bounded_json(m));
                json_object_set_new(j, "capacity", capacity_json(m, NULL));
        }
        return j;
}

int status_metrics(const Manager *m, Buf *out)
{
        return exposition_render(m, out);
}
