/* status.c — JSON state and Prometheus metrics of the agent. See status.h. */
#include "agent/status.h"

#include <string.h>

#include "agent/control.h"

static double ms(uint64_t us)
{
        return (double)us / 1000.0;
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

        for (const Replica *r = s->replicas; r; r = r->next)
                json_array_append_new(reps, replica_json(r));
        return json_pack(
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
}

static json_t *outcomes_json(const PipelineMetrics *pm)
{
        json_t *o = json_object();

        for (int i = 0; i < _OUTCOME_MAX; i++)
                json_object_set_new(o, outcome_name(i), json_integer((json_int_t)pm->answered[i]));
        return o;
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
        if (j && with_config)
                json_object_set_new(j, "config", pl_to_json(p->cfg));
        return j;
}

json_t *status_pipelines(const Manager *m)
{
        json_t *a = json_array();

        for (const Pipeline *p = m->pipelines; p; p = p->next)
                json_array_append_new(a, status_pipeline(p, false));
        return json_pack("{s:o}", "pipelines", a);
}

json_t *status_node(const Manager *m)
{
        const ControlStats *cs = control_stats(m);

        return json_pack(
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
}

static int metrics_pipeline(const Pipeline *p, Buf *out)
{
        const char *n = p->cfg->name;
        char labels[128];
        int r = 0;

        for (int o = 0; o < _OUTCOME_MAX && r >= 0; o++)
                r = prom_printf(out,
                                "sponged_requests_total{pipeline=\"%s\",outcome=\"%s\"} %llu\n", n,
                                outcome_name(o), (unsigned long long)p->m.answered[o]);
        if (r >= 0)
                r = prom_printf(out,
                                "sponged_requests_accepted_total{pipeline=\"%s\"} %llu\n"
                                "sponged_requests_in_flight{pipeline=\"%s\"} %u\n"
                                "sponged_requests_within_slo_total{pipeline=\"%s\"} %llu\n",
                                n, (unsigned long long)p->m.accepted, n, p->live_requests, n,
                                (unsigned long long)p->m.within_slo);
        snprintf(labels, sizeof(labels), "pipeline=\"%s\"", n);
        if (r >= 0)
                r = prom_histogram(out, "sponged_request_duration_seconds", labels, &p->m.e2e);
        for (size_t i = 0; i < p->cfg->n_stages && r >= 0; i++) {
                const Stage *s = &p->stages[i];
                snprintf(labels, sizeof(labels), "pipeline=\"%s\",stage=\"%s\"", n, s->cfg->name);
                r = prom_printf(out,
                                "sponged_queue_length{%s} %u\nsponged_stage_batch_size{%s} %u\n"
                                "sponged_stage_replicas{%s} %u\n"
                                "sponged_stage_millicores_per_replica{%s} %u\n",
                                labels, sq_size(&s->queue), labels, s->plan.batch, labels,
                                s->plan.replicas, labels, s->plan.millicores);
                if (r >= 0)
                        r = prom_printf(out,
                                        "sponged_stage_runqueue_delay_seconds{%s,quantile=\"0.5\"} "
                                        "%.6f\nsponged_stage_runqueue_delay_seconds{%s,quantile="
                                        "\"0.99\"} %.6f\nsponged_stage_contended{%s} %d\n",
                                        labels, s->rq_p50_us / 1e6, labels, s->rq_p99_us / 1e6,
                                        labels, s->contended);
                if (r >= 0)
                        r = prom_histogram(out, "sponged_batch_duration_seconds", labels,
                                           &s->m.processing);
                if (r >= 0)
                        r = prom_histogram(out, "sponged_queue_wait_seconds", labels,
                                           &s->m.queueing);
                for (Replica *rep = s->replicas; rep && r >= 0; rep = rep->next) {
                        cg_stat st = {0};
                        if (cg_group_read_stat(rep->cg, &st) < 0)
                                continue;
                        r = prom_printf(
                            out,
                            "sponged_replica_cpu_usage_seconds_total{%s,replica=\"r%u\"} "
                            "%.6f\nsponged_replica_throttled_periods_total{%s,replica="
                            "\"r%u\"} %llu\nsponged_replica_throttled_seconds_total{%s,"
                            "replica=\"r%u\"} %.6f\n",
                            labels, rep->id, (double)st.usage_us / 1e6, labels, rep->id,
                            (unsigned long long)st.nr_throttled, labels, rep->id,
                            (double)st.throttled_us / 1e6);
                }
        }
        return r;
}

int status_metrics(const Manager *m, Buf *out)
{
        const NodeMetrics *nm = &m->m;
        int r = prom_printf(
            out,
            "# sponged metrics (Prometheus text format 0.0.4)\n"
            "sponged_millicores_total %u\nsponged_millicores_allocated %u\n"
            "sponged_resizes_total %llu\nsponged_resize_failures_total %llu\n"
            "sponged_replica_starts_total %llu\nsponged_replica_restarts_total %llu\n"
            "sponged_plan_changes_total %llu\nsponged_solves_total %llu\n"
            "sponged_solve_failures_total %llu\nsponged_requeued_total %llu\n"
            "sponged_requests_live %u\nsponged_http_requests_total %llu\n",
            m->capacity_millicores, manager_allocated_millicores(m),
            (unsigned long long)nm->resizes, (unsigned long long)nm->resize_failures,
            (unsigned long long)nm->replica_starts, (unsigned long long)nm->replica_restarts,
            (unsigned long long)nm->plan_changes, (unsigned long long)nm->solves,
            (unsigned long long)nm->solve_failures, (unsigned long long)nm->requeued, m->n_requests,
            (unsigned long long)nm->http_requests);

        for (const Pipeline *p = m->pipelines; p && r >= 0; p = p->next)
                r = metrics_pipeline(p, out);
        return r;
}
