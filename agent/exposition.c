/* exposition.c — the Prometheus text of /metrics, family by family. See exposition.h. */
#include "agent/exposition.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/capacity.h"
#include "agent/control.h"
#include "agent/manager.h"
#include "agent/replica.h"
#include "agent/stage.h"
#include "agent/status.h"

_Static_assert(METRICS_MAX_VARIANTS == PL_MAX_VARIANTS, "a counter per configurable variant");

typedef enum Scope { SCOPE_NODE, SCOPE_PIPELINE, SCOPE_STAGE, SCOPE_REPLICA } Scope;

/* Where a sample is taken: the objects of its scope and their labels (already joined). */
typedef struct Ctx {
        const Manager *m;
        const Pipeline *p;
        const Stage *s;
        const Replica *r;
        const char *labels;
} Ctx;

typedef struct Family {
        const char *name, *type, *help;
        Scope scope;
        double (*value)(const Ctx *c);                         /* one sample, or ... */
        int (*emit)(Buf *out, const char *name, const Ctx *c); /* ... any number */
} Family;

/* ---- samples ---- */

static int sample(Buf *out, const char *name, const char *labels, const char *extra, double v)
{
        const char *sep = labels[0] && extra[0] ? "," : "";

        if (!labels[0] && !extra[0])
                return prom_printf(out, "%s %.15g\n", name, v);
        return prom_printf(out, "%s{%s%s%s} %.15g\n", name, labels, sep, extra, v);
}

/* ---- /proc/self: process_* (the client libraries' standard names) ---- */

typedef struct ProcSelf {
        double cpu_s, start_s, vsize_bytes, rss_bytes;
} ProcSelf;

static int read_small_file(const char *path, char *buf, size_t size)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        return 0;
}

static int boot_time_s(double *ret)
{
        char buf[8192], *p;
        unsigned long long v;
        int r = read_small_file("/proc/stat", buf, sizeof(buf));

        if (r < 0)
                return r;
        p = strstr(buf, "\nbtime ");
        if (!p || sscanf(p + 7, "%llu", &v) != 1)
                return -EIO;
        *ret = (double)v;
        return 0;
}

/* /proc/self/stat after the command's closing parenthesis: field 3 (state) is token 0; utime
 * (14), stime (15), starttime (22), vsize (23), rss (24) are tokens 11, 12, 19, 20, 21. */
static int proc_self(ProcSelf *ret)
{
        char buf[1024], *p, *save = NULL;
        unsigned long long tok[22];
        double tck = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE), boot;
        int r = read_small_file("/proc/self/stat", buf, sizeof(buf)), i = 0;

        if (r < 0)
                return r;
        p = strrchr(buf, ')');
        if (!p || tck <= 0 || boot_time_s(&boot) < 0)
                return -EIO;
        for (char *t = strtok_r(p + 1, " ", &save); t && i < 22; t = strtok_r(NULL, " ", &save)) {
                char *end;
                errno = 0;
                tok[i] = strtoull(t, &end, 10);
                if (i > 0 && (errno || end == t))
                        return -EIO;
                i++;
        }
        if (i < 22)
                return -EIO;
        ret->cpu_s = (double)(tok[11] + tok[12]) / tck;
        ret->start_s = boot + (double)tok[19] / tck;
        ret->vsize_bytes = (double)tok[20];
        ret->rss_bytes = (double)tok[21] * page;
        return 0;
}

static double open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        double n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n - 1; /* the directory's own fd */
}

/* /proc/self now; all zero when it cannot be read. */
static ProcSelf proc_self_or_zero(void)
{
        ProcSelf ps = {0};

        if (proc_self(&ps) < 0)
                ps = (ProcSelf){0};
        return ps;
}
static double v_cpu(const Ctx *c)
{
        (void)c;
        return proc_self_or_zero().cpu_s;
}
static double v_start(const Ctx *c)
{
        (void)c;
        return proc_self_or_zero().start_s;
}
static double v_vsize(const Ctx *c)
{
        (void)c;
        return proc_self_or_zero().vsize_bytes;
}
static double v_rss(const Ctx *c)
{
        (void)c;
        return proc_self_or_zero().rss_bytes;
}
static double v_fds(const Ctx *c)
{
        (void)c;
        return open_fds();
}
static double v_max_fds(const Ctx *c)
{
        struct rlimit rl;
        (void)c;
        return getrlimit(RLIMIT_NOFILE, &rl) < 0 ? 0 : (double)rl.rlim_cur;
}

/* ---- node ---- */

static int e_build_info(Buf *out, const char *name, const Ctx *c)
{
        (void)c;
        return prom_printf(out, "%s{version=\"%s\"} 1\n", name, SPONGED_VERSION);
}
static double v_cores(const Ctx *c)
{
        return c->m->capacity_millicores / 1000.0;
}
static double v_cores_usable(const Ctx *c)
{
        uint32_t u = c->m->usable_millicores;
        return (u ? u : c->m->capacity_millicores) / 1000.0;
}
static double v_cores_allocated(const Ctx *c)
{
        return manager_allocated_millicores(c->m) / 1000.0;
}
static double v_node_core_seconds(const Ctx *c)
{
        return c->m->m.core_seconds;
}
static double v_contended(const Ctx *c)
{
        return c->m->contended;
}
static double v_live(const Ctx *c)
{
        return c->m->n_requests;
}
#define NODE_COUNTER(fn, field)                                                                    \
        static double fn(const Ctx *c)                                                             \
        {                                                                                          \
                return (double)c->m->m.field;                                                      \
        }
NODE_COUNTER(v_http, http_requests)
NODE_COUNTER(v_resizes, resizes)
NODE_COUNTER(v_resize_failures, resize_failures)
NODE_COUNTER(v_starts, replica_starts)
NODE_COUNTER(v_exits, replica_exits)
NODE_COUNTER(v_restarts, replica_restarts)
NODE_COUNTER(v_requeued, requeued)
NODE_COUNTER(v_solves, solves)
NODE_COUNTER(v_plan_updates, plan_changes)
NODE_COUNTER(v_solve_failures, solve_failures)
NODE_COUNTER(v_batch_timeouts, batch_timeouts)
NODE_COUNTER(v_startup_timeouts, startup_timeouts)
NODE_COUNTER(v_expired, expired)
NODE_COUNTER(v_clients_gone, clients_gone)
NODE_COUNTER(v_retire_forced, retire_forced)
NODE_COUNTER(v_stop_kills, stop_kills)
NODE_COUNTER(v_budget_refused, http_budget_refused)
NODE_COUNTER(v_head_timeouts, http_head_timeouts)

/* The capacity signal a load balancer follows (capacity.h): the node's, or in a pipeline's
 * scope the pipeline's. */
static CapacitySignal signal_of(const Ctx *c)
{
        CapacitySignal s;

        capacity_signal(c->m, c->p ? c->p->cfg->name : NULL, &s);
        return s;
}
static double v_capacity_weight(const Ctx *c)
{
        return signal_of(c).weight_pct / 100.0;
}
static double v_capacity_deliverable(const Ctx *c)
{
        return signal_of(c).deliverable_cores;
}

static double v_capacity_draining(const Ctx *c)
{
        return manager_is_draining(c->m);
}

static double v_pipeline_max_rate(const Ctx *c)
{
        return signal_of(c).max_rps;
}
static double v_pipeline_headroom(const Ctx *c)
{
        return signal_of(c).headroom_rps;
}
static double v_iterations(const Ctx *c)
{
        return (double)control_stats(c->m)->iterations;
}
static int e_plan_changes(Buf *out, const char *name, const Ctx *c)
{
        char extra[32];
        int r = 0;

        for (int k = 0; k < _PLAN_CHANGE_MAX && r >= 0; k++) {
                snprintf(extra, sizeof(extra), "kind=\"%s\"", plan_change_name(k));
                r = sample(out, name, c->labels, extra, (double)c->m->m.plan_changes_by_kind[k]);
        }
        return r;
}
static int e_solve_duration(Buf *out, const char *name, const Ctx *c)
{
        return prom_histogram(out, name, c->labels, &c->m->m.solve_duration);
}

/* ---- pipeline ---- */

static int e_requests(Buf *out, const char *name, const Ctx *c)
{
        char extra[32];
        int r = 0;

        for (int o = 0; o < _OUTCOME_MAX && r >= 0; o++) {
                snprintf(extra, sizeof(extra), "outcome=\"%s\"", outcome_name(o));
                r = sample(out, name, c->labels, extra, (double)c->p->m.answered[o]);
        }
        return r;
}
static double v_accepted(const Ctx *c)
{
        return (double)c->p->m.accepted;
}
static double v_within_slo(const Ctx *c)
{
        return (double)c->p->m.within_slo;
}
static double v_late(const Ctx *c)
{
        return (double)c->p->m.late;
}
static double v_in_flight(const Ctx *c)
{
        return c->p->live_requests;
}
static double v_accuracy(const Ctx *c)
{
        return c->p->m.accuracy_sum / 100.0;
}
static double v_pipeline_core_seconds(const Ctx *c)
{
        return c->p->m.core_seconds;
}
static double v_slo(const Ctx *c)
{
        return (double)c->p->cfg->slo_us / 1e6;
}
static double v_attainment(const Ctx *c)
{
        return status_attainment_pct(c->p) / 100.0;
}
static double v_p50(const Ctx *c)
{
        return (double)recent_quantile_us(&c->p->m.recent_e2e, 0.5) / 1e6;
}
static double v_p99(const Ctx *c)
{
        return (double)recent_quantile_us(&c->p->m.recent_e2e, 0.99) / 1e6;
}
static double v_observed_rps(const Ctx *c)
{
        double o, pl;
        control_pipeline_rates(c->p, &o, &pl);
        return o;
}
static double v_planned_rps(const Ctx *c)
{
        double o, pl;
        control_pipeline_rates(c->p, &o, &pl);
        return pl;
}
static int e_request_duration(Buf *out, const char *name, const Ctx *c)
{
        return prom_histogram(out, name, c->labels, &c->p->m.e2e);
}

/* ---- stage ---- */

static double v_queue_length(const Ctx *c)
{
        return sq_size(&c->s->queue);
}
static double v_batch(const Ctx *c)
{
        return c->s->plan.batch;
}
static double v_replicas(const Ctx *c)
{
        return c->s->plan.replicas;
}
static double v_replicas_ready(const Ctx *c)
{
        unsigned n = 0;
        for (const Replica *r = c->s->replicas; r; r = r->next)
                n += r->state == REPLICA_READY;
        return n;
}
static double v_cores_per_replica(const Ctx *c)
{
        return c->s->plan.millicores / 1000.0;
}
static double v_stage_cores(const Ctx *c)
{
        return stage_allocated_millicores(c->s) / 1000.0;
}
static double v_stage_core_seconds(const Ctx *c)
{
        return c->s->m.core_seconds;
}
static double v_stage_cpu_used(const Ctx *c)
{
        uint64_t us = c->s->m.cpu_retired_us;

        for (Replica *r = c->s->replicas; r; r = r->next)
                us += replica_cpu_usage_us(r);
        return (double)us / 1e6;
}
static double v_stage_late(const Ctx *c)
{
        return (double)c->s->queue.counters.late;
}
static double v_stage_contended(const Ctx *c)
{
        return c->s->contended;
}
static double v_rq_p50(const Ctx *c)
{
        return c->s->rq_p50_us / 1e6;
}
static double v_rq_p99(const Ctx *c)
{
        return c->s->rq_p99_us / 1e6;
}

/* One sample per configured variant (bounded by the pipeline file). */
static int per_variant(Buf *out, const char *name, const Ctx *c, const uint64_t *counts,
                       bool active)
{
        char extra[64];
        int r = 0;

        for (size_t v = 0; v < c->s->cfg->n_variants && v < METRICS_MAX_VARIANTS && r >= 0; v++) {
                double x = active ? (double)(c->s->plan.variant == v) : (double)counts[v];
                snprintf(extra, sizeof(extra), "variant=\"%s\"", c->s->cfg->variants[v].name);
                r = sample(out, name, c->labels, extra, x);
        }
        return r;
}
static int e_variant_active(Buf *out, const char *name, const Ctx *c)
{
        return per_variant(out, name, c, NULL, true);
}
static int e_batches(Buf *out, const char *name, const Ctx *c)
{
        return per_variant(out, name, c, c->s->m.batches_by_variant, false);
}
static int e_items(Buf *out, const char *name, const Ctx *c)
{
        return per_variant(out, name, c, c->s->m.items_by_variant, false);
}
static int e_dropped(Buf *out, const char *name, const Ctx *c)
{
        const sq_counters *q = &c->s->queue.counters;
        int r = sample(out, name, c->labels, "reason=\"hopeless\"", (double)q->dropped_hopeless);

        if (r >= 0)
                r = sample(out, name, c->labels, "reason=\"shed\"", (double)q->dropped_shed);
        if (r >= 0)
                r = sample(out, name, c->labels, "reason=\"queue_full\"", (double)q->dropped_full);
        return r;
}
static int e_batch_duration(Buf *out, const char *name, const Ctx *c)
{
        return prom_histogram(out, name, c->labels, &c->s->m.processing);
}
static int e_queue_wait(Buf *out, const char *name, const Ctx *c)
{
        return prom_histogram(out, name, c->labels, &c->s->m.queueing);
}

/* ---- replica ---- */

/* The replica's cpu.stat now; all zero without a cgroup or when it cannot be read. */
static cg_stat replica_stat(const Replica *r)
{
        cg_stat st = {0};

        if (!r->cg || cg_group_read_stat(r->cg, &st) < 0)
                st = (cg_stat){0};
        return st;
}
static double v_replica_cpu(const Ctx *c)
{
        return (double)replica_stat(c->r).usage_us / 1e6;
}
static double v_replica_throttled_periods(const Ctx *c)
{
        return (double)replica_stat(c->r).nr_throttled;
}
static double v_replica_throttled(const Ctx *c)
{
        return (double)replica_stat(c->r).throttled_us / 1e6;
}
static double v_replica_cores(const Ctx *c)
{
        return c->r->millicores / 1000.0;
}
static double v_replica_ready(const Ctx *c)
{
        return c->r->state == REPLICA_READY;
}
static double v_replica_restarts(const Ctx *c)
{
        return c->r->restarts;
}

#define G "gauge"
#define C "counter"
#define H "histogram"
static const Family FAMILIES[] = {
    {"sponged_build_info", G, "Version of sponged; always 1.", SCOPE_NODE, NULL, e_build_info},
    {"sponged_node_cores", G, "CPU cores the agent may hand out to workers.", SCOPE_NODE, v_cores,
     NULL},
    {"sponged_node_cores_usable", G, "Cores the last plan was made with (less when contended).",
     SCOPE_NODE, v_cores_usable, NULL},
    {"sponged_node_cores_allocated", G, "Cores allocated to live replicas, all pipelines.",
     SCOPE_NODE, v_cores_allocated, NULL},
    {"sponged_node_cores_deliverable", G,
     "The node's cores less what its workers wait for the CPU (eBPF run-queue wait, smoothed).",
     SCOPE_NODE, v_capacity_deliverable, NULL},
    {"sponged_node_capacity_weight_ratio", G,
     "Weight told to a load balancer: deliverable cores / agent_check.reference_millicores.",
     SCOPE_NODE, v_capacity_weight, NULL},
    {"sponged_node_draining", G, "1 once a stop has begun or been announced (drain_grace_ms).",
     SCOPE_NODE, v_capacity_draining, NULL},
    {"sponged_batch_timeouts_total", C,
     "Batches given up: the worker did not answer by the deadline (killed, restarted).", SCOPE_NODE,
     v_batch_timeouts, NULL},
    {"sponged_startup_timeouts_total", C, "Workers not READY within their start-up deadline.",
     SCOPE_NODE, v_startup_timeouts, NULL},
    {"sponged_requests_expired_total", C,
     "Queued requests answered 504 by the timer (their deadline could no longer be met).",
     SCOPE_NODE, v_expired, NULL},
    {"sponged_clients_gone_total", C, "Waiting requests whose client disconnected (cancelled).",
     SCOPE_NODE, v_clients_gone, NULL},
    {"sponged_retire_forced_total", C,
     "Requests answered 503 at a deleted or replaced pipeline's drain deadline.", SCOPE_NODE,
     v_retire_forced, NULL},
    {"sponged_stop_kills_total", C, "Workers killed at the SIGTERM drain deadline.", SCOPE_NODE,
     v_stop_kills, NULL},
    {"sponged_http_budget_refused_total", C,
     "Requests refused 503: the in-flight body byte budget was full.", SCOPE_NODE, v_budget_refused,
     NULL},
    {"sponged_http_head_timeouts_total", C,
     "Connections closed: the request head was not complete in time.", SCOPE_NODE, v_head_timeouts,
     NULL},
    {"sponged_node_core_seconds_allocated_total", C,
     "Allocated cores integrated over time, all pipelines.", SCOPE_NODE, v_node_core_seconds, NULL},
    {"sponged_node_contended", G, "1 when workers wait for CPU although not throttled.", SCOPE_NODE,
     v_contended, NULL},
    {"sponged_requests_live", G, "Requests held by the agent (all pipelines, until freed).",
     SCOPE_NODE, v_live, NULL},
    {"sponged_http_requests_total", C, "HTTP requests received on every route.", SCOPE_NODE, v_http,
     NULL},
    {"sponged_resizes_total", C, "In-place CPU quota writes of a replica's cgroup.", SCOPE_NODE,
     v_resizes, NULL},
    {"sponged_resize_failures_total", C, "Failed CPU quota writes.", SCOPE_NODE, v_resize_failures,
     NULL},
    {"sponged_replica_starts_total", C, "Worker processes started.", SCOPE_NODE, v_starts, NULL},
    {"sponged_replica_exits_total", C, "Worker processes that exited.", SCOPE_NODE, v_exits, NULL},
    {"sponged_replica_restarts_total", C, "Worker processes restarted after dying.", SCOPE_NODE,
     v_restarts, NULL},
    {"sponged_requeued_total", C, "Requests re-queued after their worker died.", SCOPE_NODE,
     v_requeued, NULL},
    {"sponged_control_iterations_total", C, "Control loop iterations that reached a decision.",
     SCOPE_NODE, v_iterations, NULL},
    {"sponged_solves_total", C, "Integer programs solved by the control loop.", SCOPE_NODE,
     v_solves, NULL},
    {"sponged_solve_failures_total", C, "Solves that failed (plan in force kept).", SCOPE_NODE,
     v_solve_failures, NULL},
    {"sponged_solve_duration_seconds", H, "Time of one control-loop solve (GLPK and retries).",
     SCOPE_NODE, NULL, e_solve_duration},
    {"sponged_plan_updates_total", C, "Stage plans changed (in any way).", SCOPE_NODE,
     v_plan_updates, NULL},
    {"sponged_plan_changes_total", C,
     "Stage plan changes by what changed (variant, batch, cores, replicas).", SCOPE_NODE, NULL,
     e_plan_changes},
    {"process_cpu_seconds_total", C, "User and system CPU time of sponged.", SCOPE_NODE, v_cpu,
     NULL},
    {"process_start_time_seconds", G, "Start time of sponged since the Unix epoch.", SCOPE_NODE,
     v_start, NULL},
    {"process_resident_memory_bytes", G, "Resident memory of sponged.", SCOPE_NODE, v_rss, NULL},
    {"process_virtual_memory_bytes", G, "Virtual memory of sponged.", SCOPE_NODE, v_vsize, NULL},
    {"process_open_fds", G, "Open file descriptors of sponged.", SCOPE_NODE, v_fds, NULL},
    {"process_max_fds", G, "Limit of open file descriptors of sponged.", SCOPE_NODE, v_max_fds,
     NULL},

    {"sponged_requests_total", C, "Requests answered (or refused), by outcome.", SCOPE_PIPELINE,
     NULL, e_requests},
    {"sponged_requests_accepted_total", C, "Requests admitted into the first stage.",
     SCOPE_PIPELINE, v_accepted, NULL},
    {"sponged_requests_within_slo_total", C, "Requests answered 200 within their own deadline.",
     SCOPE_PIPELINE, v_within_slo, NULL},
    {"sponged_requests_late_total", C, "Requests served although late (late: serve).",
     SCOPE_PIPELINE, v_late, NULL},
    {"sponged_requests_in_flight", G, "Requests of the pipeline not yet freed.", SCOPE_PIPELINE,
     v_in_flight, NULL},
    {"sponged_accuracy_weighted_requests_total", C,
     "Sum over 200 answers of the served variants' mean accuracy / 100 (mean accuracy = rate of "
     "this / rate of ok requests).",
     SCOPE_PIPELINE, v_accuracy, NULL},
    {"sponged_pipeline_core_seconds_allocated_total", C,
     "Cores allocated to the pipeline integrated over time.", SCOPE_PIPELINE,
     v_pipeline_core_seconds, NULL},
    {"sponged_pipeline_slo_seconds", G, "The pipeline's end-to-end SLO.", SCOPE_PIPELINE, v_slo,
     NULL},
    {"sponged_pipeline_slo_attainment_ratio", G,
     "Share of answered admitted requests within their deadline since start.", SCOPE_PIPELINE,
     v_attainment, NULL},
    {"sponged_pipeline_latency_p50_seconds", G, "Median end-to-end latency, last 2048 answers.",
     SCOPE_PIPELINE, v_p50, NULL},
    {"sponged_pipeline_latency_p99_seconds", G, "99th percentile latency, last 2048 answers.",
     SCOPE_PIPELINE, v_p99, NULL},
    {"sponged_pipeline_arrival_rate", G, "Arrivals per second in the last control interval.",
     SCOPE_PIPELINE, v_observed_rps, NULL},
    {"sponged_pipeline_planned_rate", G,
     "Requests per second the last plan was made for (forecast peak plus backlog).", SCOPE_PIPELINE,
     v_planned_rps, NULL},
    {"sponged_pipeline_max_rate", G,
     "Requests/s the pipeline could take with the node's spare cores (linear estimate).",
     SCOPE_PIPELINE, v_pipeline_max_rate, NULL},
    {"sponged_pipeline_headroom_rate", G,
     "Requests/s more than arrive now that the node could take for the pipeline.", SCOPE_PIPELINE,
     v_pipeline_headroom, NULL},
    {"sponged_request_duration_seconds", H, "End-to-end latency of 200 answers in the agent.",
     SCOPE_PIPELINE, NULL, e_request_duration},

    {"sponged_stage_queue_length", G, "Requests waiting in the stage's EDF queue.", SCOPE_STAGE,
     v_queue_length, NULL},
    {"sponged_stage_batch_size", G, "Batch size of the plan in force.", SCOPE_STAGE, v_batch, NULL},
    {"sponged_stage_replicas", G, "Replicas of the plan in force.", SCOPE_STAGE, v_replicas, NULL},
    {"sponged_stage_replicas_ready", G, "Replicas ready to serve now.", SCOPE_STAGE,
     v_replicas_ready, NULL},
    {"sponged_stage_cores_per_replica", G, "Cores per replica of the plan in force.", SCOPE_STAGE,
     v_cores_per_replica, NULL},
    {"sponged_stage_cores_allocated", G, "Cores allocated to the stage's live replicas.",
     SCOPE_STAGE, v_stage_cores, NULL},
    {"sponged_stage_core_seconds_allocated_total", C,
     "Cores allocated to the stage integrated over time.", SCOPE_STAGE, v_stage_core_seconds, NULL},
    {"sponged_stage_cpu_used_seconds_total", C,
     "CPU time used by the stage's replicas' cgroups, past and present.", SCOPE_STAGE,
     v_stage_cpu_used, NULL},
    {"sponged_stage_variant_active", G, "1 for the variant of the plan in force, else 0.",
     SCOPE_STAGE, NULL, e_variant_active},
    {"sponged_stage_batches_total", C, "Batches run, by variant.", SCOPE_STAGE, NULL, e_batches},
    {"sponged_stage_items_total", C, "Items (requests) processed in batches, by variant.",
     SCOPE_STAGE, NULL, e_items},
    {"sponged_stage_dropped_total", C,
     "Requests dropped by the stage's queue: hopeless, shed under overload, or queue full.",
     SCOPE_STAGE, NULL, e_dropped},
    {"sponged_stage_late_total", C, "Requests the stage served past their deadline.", SCOPE_STAGE,
     v_stage_late, NULL},
    {"sponged_stage_contended", G, "1 when the stage's workers wait for CPU (eBPF).", SCOPE_STAGE,
     v_stage_contended, NULL},
    {"sponged_stage_runqueue_delay_p50_seconds", G,
     "Median run-queue delay of the stage's workers, last interval (eBPF).", SCOPE_STAGE, v_rq_p50,
     NULL},
    {"sponged_stage_runqueue_delay_p99_seconds", G,
     "99th percentile run-queue delay, last interval (eBPF).", SCOPE_STAGE, v_rq_p99, NULL},
    {"sponged_stage_batch_duration_seconds", H, "Time of one batch on a worker.", SCOPE_STAGE, NULL,
     e_batch_duration},
    {"sponged_stage_queue_wait_seconds", H, "Time a request waited in the stage's queue.",
     SCOPE_STAGE, NULL, e_queue_wait},

    {"sponged_replica_cores", G, "CPU quota of the replica's cgroup.", SCOPE_REPLICA,
     v_replica_cores, NULL},
    {"sponged_replica_ready", G, "1 when the replica serves.", SCOPE_REPLICA, v_replica_ready,
     NULL},
    {"sponged_replica_worker_restarts_total", C, "Restarts of the replica's worker.", SCOPE_REPLICA,
     v_replica_restarts, NULL},
    {"sponged_replica_cpu_seconds_total", C, "CPU time used by the replica's cgroup.",
     SCOPE_REPLICA, v_replica_cpu, NULL},
    {"sponged_replica_throttled_periods_total", C,
     "CFS periods in which the replica was throttled.", SCOPE_REPLICA, v_replica_throttled_periods,
     NULL},
    {"sponged_replica_throttled_seconds_total", C, "Time the replica was throttled.", SCOPE_REPLICA,
     v_replica_throttled, NULL},
};
#undef G
#undef C
#undef H

static int emit_one(Buf *out, const Family *f, const Ctx *c)
{
        if (f->emit)
                return f->emit(out, f->name, c);
        return sample(out, f->name, c->labels, "", f->value(c));
}

static int emit_replicas(Buf *out, const Family *f, Ctx *c, const char *stage_labels)
{
        char labels[256];
        unsigned idx = 0;
        int r = 0;

        for (const Replica *rep = c->s->replicas; rep && r >= 0; rep = rep->next, idx++) {
                int n = snprintf(labels, sizeof(labels), "%s,replica=\"%u\",variant=\"%s\"",
                                 stage_labels, idx, c->s->cfg->variants[rep->variant].name);
                if (n < 0 || (size_t)n >= sizeof(labels))
                        return -ENAMETOOLONG;
                c->r = rep;
                c->labels = labels;
                r = emit_one(out, f, c);
        }
        return r;
}

static int emit_family(Buf *out, const Manager *m, const Family *f)
{
        char labels[160];
        Ctx c = {.m = m, .labels = ""};
        int r =
            prom_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);

        if (r < 0 || f->scope == SCOPE_NODE)
                return r < 0 ? r : emit_one(out, f, &c);
        for (const Pipeline *p = m->pipelines; p && r >= 0; p = p->next) {
                c.p = p;
                if (f->scope == SCOPE_PIPELINE) {
                        snprintf(labels, sizeof(labels), "pipeline=\"%s\"", p->cfg->name);
                        c.labels = labels;
                        r = emit_one(out, f, &c);
                        continue;
                }
                for (size_t i = 0; i < p->cfg->n_stages && r >= 0; i++) {
                        /* names are [a-z0-9_-]{1,32} (pl_validate_name): no escaping needed */
                        snprintf(labels, sizeof(labels), "pipeline=\"%s\",stage=\"%s\"",
                                 p->cfg->name, p->stages[i].cfg->name);
                        c.s = &p->stages[i];
                        c.labels = labels;
                        r = f->scope == SCOPE_STAGE ? emit_one(out, f, &c)
                                                    : emit_replicas(out, f, &c, labels);
                }
        }
        return r;
}

int exposition_render(const Manager *m, Buf *out)
{
        int r = 0;

        assert(m && out);
        for (size_t i = 0; i < sizeof(FAMILIES) / sizeof(FAMILIES[0]) && r >= 0; i++)
                r = emit_family(out, m, &FAMILIES[i]);
        return r;
}
