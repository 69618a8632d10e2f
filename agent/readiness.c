/* readiness.c — see readiness.h. */
#include "agent/readiness.h"

#include <stdio.h>

#include "agent/manager.h"
#include "agent/replica.h"
#include "agent/stage.h"

const char *readiness_stage(const Stage *s, char *buf, size_t len)
{
        bool starting = false;
        const Replica *dead = NULL;

        for (const Replica *r = s->replicas; r; r = r->next) {
                if (r->state == REPLICA_READY && r->fd >= 0)
                        return NULL;
                starting = starting || r->state == REPLICA_STARTING;
                if (r->state == REPLICA_DEAD)
                        dead = r;
        }
        if (starting)
                return "starting: no worker has said READY yet";
        if (dead) {
                snprintf(buf, len, "restarting after a failure: %s",
                         dead->last_failure[0] ? dead->last_failure : "the worker exited");
                return buf;
        }
        return "no ready replica";
}

bool readiness_pipeline(const Pipeline *p, json_t **why)
{
        bool ready = !p->retired;
        char buf[256];

        if (why)
                *why = json_object();
        for (size_t i = 0; i < p->cfg->n_stages; i++) {
                const char *w = readiness_stage(&p->stages[i], buf, sizeof(buf));
                if (!w)
                        continue;
                ready = false;
                if (why && *why)
                        json_object_set_new(*why, p->stages[i].cfg->name, json_string(w));
        }
        return ready;
}

json_t *readiness_json(const Manager *m, bool *ret_ready)
{
        json_t *pipes = json_object();
        const char *first = NULL;
        char reason[256] = "";
        bool draining = manager_is_draining(m), ready = !draining;

        for (const Pipeline *p = m->pipelines; p; p = p->next) {
                json_t *why = NULL;
                bool ok = readiness_pipeline(p, &why);
                json_t *o = json_pack("{s:b}", "ready", ok);
                if (!ok && o && why)
                        json_object_set(o, "stages", why);
                json_decref(why);
                if (pipes && o)
                        json_object_set_new(pipes, p->cfg->name, o);
                else
                        json_decref(o);
                if (!ok && !first)
                        first = p->cfg->name;
                ready = ready && ok;
        }
        if (draining)
                snprintf(reason, sizeof(reason), "draining: the agent is shutting down");
        else if (first)
                snprintf(reason, sizeof(reason),
                         "pipeline %s has a stage without a ready replica (see pipelines)", first);
        *ret_ready = ready;
        return json_pack("{s:s, s:b, s:b, s:s*, s:o*}", "status", ready ? "ok" : "unavailable",
                         "ready", ready, "stopping", draining, "reason", reason[0] ? reason : NULL,
                         "pipelines", pipes);
}
