/* caps.c — node-wide caps on pipelines and replicas: see caps.h. */
#include "agent/caps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/manager.h"
#include "agent/stage.h"

static unsigned replicas_max(const pl_pipeline *cfg)
{
        unsigned n = 0;

        for (size_t i = 0; i < cfg->n_stages; i++)
                n += cfg->stages[i].replicas_max;
        return n;
}

int node_caps_check(const Manager *m, const pl_pipeline *cfg, char *why, size_t whylen)
{
        const TrustConfig *t = &m->config.trust;
        unsigned pipelines = 1, replicas = replicas_max(cfg);

        for (const Pipeline *p = m->pipelines; p; p = p->next)
                if (strcmp(p->cfg->name, cfg->name) != 0) {
                        pipelines++;
                        replicas += replicas_max(p->cfg);
                }
        if (pipelines > t->max_pipelines) {
                snprintf(why, whylen,
                         "the node runs at most %u pipelines (node config max_pipelines); delete "
                         "one first",
                         t->max_pipelines);
                return -EDQUOT;
        }
        if (replicas > t->max_replicas) {
                snprintf(why, whylen,
                         "with this pipeline the stages' replicas.max would add up to %u over all "
                         "pipelines, above the node's max_replicas %u; lower replicas.max",
                         replicas, t->max_replicas);
                return -EDQUOT;
        }
        return 0;
}
