/* SPDX-License-Identifier: MIT */
/* A solved plan's mixed stages as entries, one per variant, and the loading-cost inputs. */
#include <string.h>

#include "agent/plan/plan-mix.h"

void plan__loading_inputs(const plan_input *in, size_t i, const pl_plan_entry *cur, opt_stage *os,
                          opt_variant *ov, uint32_t *running)
{
        const pl_stage *c = &in->cfg->stages[i];

        for (size_t v = 0; v < c->n_variants; v++) {
                ov[v].startup_s = (double)c->variants[v].startup_us / 1e6;
                running[v] = 0;
        }
        if (in->current_mix) {
                const plan_stage_mix *m = &in->current_mix[i];
                for (size_t g = 0; g < m->n && g < OPT_MIX_MAX; g++)
                        if (m->e[g].variant < c->n_variants)
                                running[m->e[g].variant] += m->e[g].replicas;
        } else if (in->current) {
                if (cur->variant < c->n_variants)
                        running[cur->variant] = cur->replicas;
        } else {
                return;
        }
        os->current_replicas = running;
}

static void entry_of(size_t variant, uint32_t batch, uint32_t millicores, uint32_t replicas,
                     pl_plan_entry *ret)
{
        memset(ret, 0, sizeof(*ret)); /* padding too: entries are compared */
        ret->variant = variant;
        ret->batch = batch;
        ret->millicores = millicores;
        ret->replicas = replicas;
}

void plan_mix_entries(const opt_plan *plan, size_t k, plan_stage_mix *ret)
{
        const opt_plan_pipeline *pp = &plan->pipelines[k];

        for (size_t i = 0; i < pp->n_stages; i++) {
                const opt_plan_stage *ps = &pp->stages[i];
                plan_stage_mix *m = &ret[i];
                memset(m, 0, sizeof(*m));
                if (ps->n_groups != 2) {
                        /* One variant: the top-level fields (plan_decide maps their variant
                         * back to the stage's real index; groups[0] is not remapped). */
                        m->n = 1;
                        entry_of(ps->variant, ps->batch, ps->millicores, ps->replicas, &m->e[0]);
                        m->share[0] = 1.0;
                        continue;
                }
                m->n = 2;
                for (size_t g = 0; g < 2; g++) {
                        const opt_plan_group *gr = &ps->groups[g];
                        entry_of(gr->variant, gr->batch, gr->millicores, gr->replicas, &m->e[g]);
                        m->share[g] = gr->share;
                }
        }
}
