/* ebpf.c — run-queue delay per stage and node contention. See ebpf.h. */
#include "agent/ebpf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/log.h"
#include "agent/manager.h"
#include "agent/replica.h"
#include "agent/stage.h"

void ebpf_start(Manager *m)
{
        char err[200] = "";
        int r;

        if (!m->config.ebpf) {
                snprintf(m->bpf_note, sizeof(m->bpf_note), "off (disabled in the configuration)");
                return;
        }
        r = rqd_open(&m->bpf, err, sizeof(err));
        if (r < 0) {
                m->bpf = NULL;
                snprintf(m->bpf_note, sizeof(m->bpf_note), "off: %s", err);
                log_notice("eBPF run-queue delay %s; contention is not detected", m->bpf_note);
                return;
        }
        snprintf(m->bpf_note, sizeof(m->bpf_note),
                 "on: run-queue delay per stage from sched_wakeup/sched_switch");
        log_notice("eBPF %s", m->bpf_note);
}

void ebpf_stop(Manager *m)
{
        rqd_free(m->bpf);
        m->bpf = NULL;
}

/* One key per stage, taken at its first spawn and kept while the manager runs (a stage's
 * figures are cumulative; the delta per interval is what counts). */
static bool stage_key(Stage *s)
{
        Manager *m = s->pipeline->manager;

        if (s->has_bpf_key)
                return true;
        for (uint32_t k = 0; k < RQD_MAX_KEYS; k++)
                if (!(m->bpf_keys[k / 64] & (1ULL << (k % 64)))) {
                        m->bpf_keys[k / 64] |= 1ULL << (k % 64);
                        s->bpf_key = k;
                        s->has_bpf_key = true;
                        rqd_read(m->bpf, k, &s->bpf_prev);
                        return true;
                }
        return false;
}

void ebpf_watch(Replica *r)
{
        Manager *m = r->stage->pipeline->manager;
        int k;

        if (!m->bpf || r->pid <= 0 || !stage_key(r->stage))
                return;
        k = rqd_watch_tgid(m->bpf, r->pid, r->stage->bpf_key);
        if (k < 0)
                log_debug("eBPF: cannot watch pid %d: %s", (int)r->pid, strerror(-k));
}

void ebpf_unwatch(Replica *r)
{
        Manager *m = r->stage->pipeline->manager;

        if (m->bpf && r->pid > 0)
                (void)rqd_unwatch_tgid(m->bpf, r->pid);
}

/* Share of the stage's CFS periods in which its replicas were throttled, this interval. */
static double throttled_share(Stage *s)
{
        uint64_t periods = 0, throttled = 0;

        for (Replica *r = s->replicas; r; r = r->next) {
                cg_stat st;
                if (r->pid <= 0 || cg_group_read_stat(r->cg, &st) < 0)
                        continue;
                if (st.nr_periods >= r->stat_prev.nr_periods) {
                        periods += st.nr_periods - r->stat_prev.nr_periods;
                        throttled += st.nr_throttled - r->stat_prev.nr_throttled;
                }
                r->stat_prev = st;
        }
        return periods ? (double)throttled / (double)periods : 0.0;
}

void ebpf_observe_stage(Stage *s)
{
        Manager *m = s->pipeline->manager;
        StageMetrics *sm = &s->m;
        rqd_stats cur, d;

        s->throttled_share = throttled_share(s);
        s->slowdown = sm->interval_predicted_ms > 0
                          ? sm->interval_observed_ms / sm->interval_predicted_ms
                          : 0.0;
        sm->interval_predicted_ms = sm->interval_observed_ms = 0;
        s->contended = false;
        if (!m->bpf || !s->has_bpf_key || rqd_read(m->bpf, s->bpf_key, &cur) < 0 ||
            rqd_stats_delta(&cur, &s->bpf_prev, &d) < 0)
                return;
        s->bpf_prev = cur;
        s->rq_p50_us = d.count ? rqd_stats_quantile_us(&d, 0.5) : 0;
        s->rq_p99_us = d.count ? rqd_stats_quantile_us(&d, 0.99) : 0;
        s->wait_share =
            d.sum_ns + d.oncpu_ns ? (double)d.sum_ns / (double)(d.sum_ns + d.oncpu_ns) : 0.0;
        s->contended = s->slowdown > CONTENTION_SLOWDOWN &&
                       s->throttled_share < CONTENTION_MAX_THROTTLED &&
                       s->wait_share >= CONTENTION_MIN_WAIT;
}

unsigned ebpf_usable_millicores(Manager *m, bool *ret_contended)
{
        double worst = 0, waiting = 0;
        uint32_t floor = 0, usable;

        for (Pipeline *p = m->pipelines; p; p = p->next)
                for (size_t i = 0; i < p->cfg->n_stages; i++) {
                        Stage *s = &p->stages[i];
                        floor += s->cfg->millicores_min * s->cfg->replicas_min;
                        waiting = fmax(waiting, s->wait_share);
                        if (s->contended)
                                worst = fmax(worst, s->wait_share);
                }
        /* What a load balancer is told (capacity.c): the run-queue wait the workers see, also
         * when the plan does not call it contention, smoothed like the usable figure below. */
        m->cpu_wait_share = m->bpf ? (m->cpu_wait_share + waiting) / 2 : 0.0;
        /* Tasks that wait `worst` of their runnable time get about (1 - worst) of the CPU they
         * ask for: plan with that much of the node, never below every stage's minimum. */
        usable = (uint32_t)((double)m->capacity_millicores * (1.0 - worst));
        /* Halfway from the last figure: one noisy interval must not halve the plan. */
        if (m->measured_millicores)
                usable = (usable + m->measured_millicores) / 2;
        *ret_contended = worst > 0;
        return MAX(usable, MIN(floor, m->capacity_millicores));
}
