/* capacity.c — the node's and each pipeline's capacity signal. See capacity.h. */
#include "agent/capacity.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/control.h"
#include "agent/manager.h"
#include "agent/readiness.h"
#include "agent/stage.h"

/* HAProxy takes a relative weight as a percentage of the server's configured weight; a
 * server's weight is at most 256 (HAProxy configuration manual, "weight"). */
#define CAPACITY_WEIGHT_MAX 256u

const char *capacity_state_name(CapacityState s)
{
        static const char *const names[] = {"up", "down", "drain", "maint"};
        return (size_t)s < ELEMENTSOF(names) ? names[s] : "down";
}

static uint32_t usable_millicores(const Manager *m)
{
        return m->usable_millicores ? m->usable_millicores : m->capacity_millicores;
}

/* The millicores the node can deliver: its share of the cores, less what its workers wait for
 * the CPU (eBPF run-queue delay; 0 without eBPF). */
static double deliverable_millicores(const Manager *m)
{
        return m->capacity_millicores * (1.0 - fmin(fmax(m->cpu_wait_share, 0.0), 1.0));
}

static unsigned weight_pct(const Manager *m)
{
        double ref = m->config.agent_check_reference_millicores;
        double w = ref > 0 ? 100.0 * deliverable_millicores(m) / ref : 100.0;

        return (unsigned)fmin(round(w), CAPACITY_WEIGHT_MAX);
}

/* Requests per second the plan in force serves: the slowest stage's replicas x batch / latency
 * of one batch under the model the agent plans with. */
static double plan_rps(const Pipeline *p)
{
        double rps = INFINITY;

        for (size_t i = 0; i < p->cfg->n_stages; i++) {
                const Stage *s = &p->stages[i];
                const pl_plan_entry *e = &s->plan;
                double ms = opt_latency_eval_ms(&s->models[e->variant], e->batch, e->millicores);

                if (!(ms > 0) || !isfinite(ms))
                        return 0.0;
                rps = fmin(rps, (double)e->replicas * e->batch * 1000.0 / ms);
        }
        return isfinite(rps) ? rps : 0.0;
}

static uint32_t pipeline_millicores(const Pipeline *p)
{
        uint32_t sum = 0;

        for (size_t i = 0; i < p->cfg->n_stages; i++)
                sum += stage_allocated_millicores(&p->stages[i]);
        return sum;
}

static void pipeline_signal(const Manager *m, const Pipeline *p, uint32_t spare, CapacitySignal *s)
{
        uint32_t mine = pipeline_millicores(p);

        s->plan_rps = plan_rps(p);
        /* Cores scaled linearly: what the spare millicores would add if this pipeline got them
         * all. An estimate for a load balancer's weight, not a plan. */
        s->max_rps = mine ? s->plan_rps * (double)(mine + spare) / mine : s->plan_rps;
        double planned;

        control_pipeline_rates(p, &s->observed_rps, &planned);
        s->headroom_rps = fmax(0.0, s->max_rps - s->observed_rps);
        for (size_t i = 0; i < p->cfg->n_stages && s->state == CAPACITY_UP; i++) {
                char buf[160];
                const char *why = readiness_stage(&p->stages[i], buf, sizeof(buf));

                if (!why)
                        continue;
                s->state = CAPACITY_DOWN;
                /* HAProxy reads the reason up to the end of the line. */
                snprintf(s->why, sizeof(s->why), "stage %s: %s", p->cfg->stages[i].name, why);
                s->why[strcspn(s->why, "\r\n")] = '\0';
        }
        (void)m;
}

void capacity_signal(const Manager *m, const char *pipeline, CapacitySignal *ret)
{
        uint32_t usable = usable_millicores(m), alloc = manager_allocated_millicores(m);
        CapacitySignal s = {
            .state = CAPACITY_UP,
            .weight_pct = weight_pct(m),
            .usable_cores = usable / 1000.0,
            .deliverable_cores = deliverable_millicores(m) / 1000.0,
            .allocated_cores = alloc / 1000.0,
        };

        assert(m);
        assert(ret);
        if (manager_is_draining(m)) {
                s.state = CAPACITY_DRAIN;
                snprintf(s.why, sizeof(s.why), "stopping");
        }
        if (pipeline && pipeline[0]) {
                const Pipeline *p = manager_find_pipeline((Manager *)m, pipeline);

                if (!p) {
                        s.state = CAPACITY_MAINT;
                        snprintf(s.why, sizeof(s.why), "no pipeline %.64s on this node", pipeline);
                } else
                        pipeline_signal(m, p, usable > alloc ? usable - alloc : 0, &s);
        }
        *ret = s;
}

int capacity_format_agent(const CapacitySignal *s, char *buf, size_t len)
{
        int n;

        switch (s->state) {
        case CAPACITY_UP:
                /* "ready" cancels a drain or maintenance this agent set before; "up" a down. */
                n = snprintf(buf, len, "up ready %u%%\n", s->weight_pct);
                break;
        case CAPACITY_DRAIN:
                n = snprintf(buf, len, "up drain\n");
                break;
        case CAPACITY_MAINT:
                n = snprintf(buf, len, "maint#%s\n", s->why);
                break;
        default:
                n = snprintf(buf, len, "down#%s\n", s->why);
                break;
        }
        if (n < 0 || (size_t)n >= len)
                return -ENOBUFS;
        return n;
}
