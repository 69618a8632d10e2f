/* bounded.c — the deadlines that keep every answer bounded in time. See bounded.h. */
#include "agent/bounded.h"

#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent/dispatch.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/replica.h"
#include "agent/stage.h"

static uint64_t earliest(uint64_t a, uint64_t b)
{
        return !a ? b : !b ? a : MIN(a, b);
}

static double ms(uint64_t us)
{
        return (double)us / 1000.0;
}

static uint64_t batch_grace_us(const Pipeline *p)
{
        uint64_t g = (uint64_t)(BATCH_GRACE_SHARE * (double)p->cfg->slo_us);

        return MIN(MAX(g, BATCH_GRACE_MIN_US), BATCH_GRACE_MAX_US);
}

static uint64_t latest_deadline(Request *const *reqs, uint32_t n)
{
        uint64_t latest = 0;

        for (uint32_t i = 0; i < n; i++)
                latest = MAX(latest, reqs[i]->deadline_us);
        return latest;
}

uint64_t bounded_answer_deadline(const Replica *r, Request *const *reqs, uint32_t n)
{
        const Pipeline *p = r->stage->pipeline;

        if (p->cfg->late != PL_LATE_DROP)
                return 0;
        return latest_deadline(reqs, n) + batch_grace_us(p);
}

uint64_t bounded_batch_deadline(const Replica *r, Request *const *reqs, uint32_t n, uint64_t now)
{
        const Stage *s = r->stage;
        double pred_ms = opt_latency_eval_ms(&s->models[r->variant], n, r->millicores);
        uint64_t latest = latest_deadline(reqs, n), pred = 0;

        /* Requests served late ("late": "serve") have their deadline behind them: the batch
         * still gets eight times what the model predicts for it. */
        if (pred_ms > 0 && pred_ms < 3.6e6)
                pred = (uint64_t)(8.0 * pred_ms * 1000.0);
        return MAX(latest, now + pred) + batch_grace_us(s->pipeline);
}

uint64_t bounded_startup_deadline(const Replica *r)
{
        const Manager *m = r->stage->pipeline->manager;
        uint64_t startup = r->stage->cfg->variants[r->variant].startup_us;

        return r->spawned_us +
               MAX(m->config.startup_timeout_min_us, STARTUP_DEADLINE_FACTOR * startup);
}

static bool batch_due(const Replica *r, uint64_t now)
{
        return r->batch_n > 0 && r->fd >= 0 && r->batch_deadline_us && r->batch_deadline_us <= now;
}

/* Before the worker is given up: a "drop" batch past its requests' deadlines + grace. */
static bool answer_due(const Replica *r, uint64_t now)
{
        return r->batch_n > 0 && r->fd >= 0 && r->batch_answer_us && r->batch_answer_us <= now &&
               r->batch_answer_us < r->batch_deadline_us;
}

/* A replica let go (variant switch, scale-down, retired pipeline) still holds its batch after
 * drain_timeout_ms: the batch goes back to the stage, where the replicas that replace it serve
 * it. */
static bool drain_due(const Replica *r, uint64_t now)
{
        return r->state == REPLICA_DRAINING && r->batch_n > 0 && r->fd >= 0 &&
               r->drain_deadline_us && r->drain_deadline_us <= now;
}

static bool startup_due(const Replica *r, uint64_t now)
{
        return r->state == REPLICA_STARTING && r->pid > 0 && r->fd >= 0 &&
               bounded_startup_deadline(r) <= now;
}

/* The batch outlived its deadline: the worker is stuck (stopped, looping, deadlocked). */
static void give_up_batch(Replica *r, uint64_t now)
{
        Stage *s = r->stage;
        Manager *m = s->pipeline->manager;
        char why[160];

        snprintf(why, sizeof(why),
                 "worker did not answer a batch of %u within %.0f ms (its latest deadline or 8x "
                 "its predicted time, + %.0f ms grace); killed",
                 r->batch_n, ms(now - r->batch_start_us), ms(batch_grace_us(s->pipeline)));
        log_warning("Replica %s/%s/r%u (pid %d): %s", s->pipeline->cfg->name, s->cfg->name, r->id,
                    (int)r->pid, why);
        s->m.batch_timeouts++;
        m->m.batch_timeouts++;
        stage_batch_abandon(r, 504, "worker did not answer", why, true, now);
        replica_lost(r, why);
        snprintf(r->last_failure, sizeof(r->last_failure), "%.150s", why);
        stage_dispatch(s, now);
}

/* The worker is slow, not presumed stuck: its requests get their 504 now; the batch's own
 * reference keeps them until the worker answers (result dropped) or is given up. */
static void answer_late_batch(Replica *r)
{
        Stage *s = r->stage;
        char detail[256];
        uint32_t n = 0;

        snprintf(detail, sizeof(detail),
                 "stage %s, replica r%u: the batch ran past its requests' deadlines + %.0f ms "
                 "grace; the worker finishes it and its result is dropped",
                 s->cfg->name, r->id, ms(batch_grace_us(s->pipeline)));
        for (uint32_t i = 0; i < r->batch_n; i++) {
                Request *req = r->batch[i];
                if (req->state == REQ_ANSWERED)
                        continue;
                n++;
                request_give_up(req, 504, "deadline passed", detail);
        }
        r->batch_answer_us = 0;
        log_info("Replica %s/%s/r%u (pid %d): batch of %u past its deadlines + grace: %u "
                 "requests answered 504, the worker runs on",
                 s->pipeline->cfg->name, s->cfg->name, r->id, (int)r->pid, r->batch_n, n);
}

static void give_up_drain(Replica *r, uint64_t now)
{
        Stage *s = r->stage;
        char why[160];

        snprintf(why, sizeof(why),
                 "worker being stopped did not finish its batch of %u within drain_timeout_ms; "
                 "killed",
                 r->batch_n);
        log_warning("Replica %s/%s/r%u (pid %d): %s", s->pipeline->cfg->name, s->cfg->name, r->id,
                    (int)r->pid, why);
        s->m.batch_timeouts++;
        s->pipeline->manager->m.batch_timeouts++;
        stage_batch_abandon(r, 503, "worker retired", why, true, now);
        replica_lost(r, why);
        stage_dispatch(s, now);
}

static void give_up_startup(Replica *r, uint64_t now)
{
        Stage *s = r->stage;
        char why[160];

        snprintf(why, sizeof(why),
                 "not ready within %.0f ms of its start (startup_ms %.0f); killed",
                 ms(now - r->spawned_us), ms(s->cfg->variants[r->variant].startup_us));
        log_warning("Replica %s/%s/r%u (pid %d): %s", s->pipeline->cfg->name, s->cfg->name, r->id,
                    (int)r->pid, why);
        s->pipeline->manager->m.startup_timeouts++;
        replica_lost(r, why);
        snprintf(r->last_failure, sizeof(r->last_failure), "%.150s", why);
}

/* A retired pipeline past its deadline: answer what is left, kill the workers that hold it. */
static void force_retire(Manager *m, Pipeline *p, uint64_t now)
{
        uint32_t n = 0;

        for (Request *req = m->requests, *next; req; req = next) {
                next = req->next_all;
                if (req->pipeline != p || req->state == REQ_ANSWERED || req->state == REQ_NEW)
                        continue;
                request_answer_error(req, 503, "pipeline retired",
                                     "the pipeline was deleted or replaced and this request was "
                                     "not served within drain_timeout_ms");
                n++;
        }
        m->m.retire_forced += n;
        log_warning("Pipeline %s (retired): %u requests not served within drain_timeout_ms "
                    "answered 503",
                    p->cfg->name, n);
        for (size_t i = 0; i < p->cfg->n_stages; i++)
                for (Replica *r = p->stages[i].replicas; r; r = r->next)
                        if (r->batch_n > 0 && r->fd >= 0) {
                                stage_batch_abandon(r, 503, "pipeline retired", "retired", false,
                                                    now);
                                replica_lost(r, "retired pipeline's drain deadline passed");
                        }
}

/* SIGTERM's drain deadline passed: nothing is waited for any more. */
static void stop_due(Manager *m, Pipeline *list, uint64_t now)
{
        uint64_t kill_at = m->drain_deadline_us + STOP_KILL_AFTER_DRAIN_US;

        for (Pipeline *p = list; p; p = p->next)
                for (size_t i = 0; i < p->cfg->n_stages; i++)
                        for (Replica *r = p->stages[i].replicas; r; r = r->next) {
                                if (r->batch_n > 0 && r->fd >= 0) {
                                        log_warning("Shutdown: worker %s/%s/r%u (pid %d) did not "
                                                    "finish in time; killing it",
                                                    p->cfg->name, p->stages[i].cfg->name, r->id,
                                                    (int)r->pid);
                                        m->m.stop_kills++;
                                        stage_batch_abandon(
                                            r, 503, "shutting down",
                                            "the agent stopped before the worker answered", false,
                                            now);
                                        replica_lost(r, "agent stopping: drain deadline passed");
                                }
                                if (r->state == REPLICA_STOPPING && r->stop_at_us > kill_at)
                                        r->stop_at_us = kill_at;
                        }
}

static void stage_due(Stage *s, uint64_t now)
{
        uint64_t t;

        for (Replica *r = s->replicas; r; r = r->next) {
                if (answer_due(r, now))
                        answer_late_batch(r);
                if (batch_due(r, now))
                        give_up_batch(r, now);
                else if (drain_due(r, now))
                        give_up_drain(r, now);
                else if (startup_due(r, now))
                        give_up_startup(r, now);
        }
        t = stage_expire_at(s);
        if (t && t <= now)
                stage_expire(s, now);
}

static void pipelines_due(Manager *m, Pipeline *list, uint64_t now)
{
        for (Pipeline *p = list; p; p = p->next) {
                if (p->retired && p->live_requests > 0 && p->retire_deadline_us &&
                    p->retire_deadline_us <= now)
                        force_retire(m, p, now);
                for (size_t i = 0; i < p->cfg->n_stages; i++)
                        stage_due(&p->stages[i], now);
        }
}

void bounded_run_due(Manager *m, uint64_t now)
{
        pipelines_due(m, m->pipelines, now);
        pipelines_due(m, m->retired, now);
        if (m->stopping && m->drain_deadline_us && m->drain_deadline_us <= now) {
                stop_due(m, m->pipelines, now);
                stop_due(m, m->retired, now);
        }
}

static uint64_t pipelines_next(Pipeline *list)
{
        uint64_t next = 0;

        for (Pipeline *p = list; p; p = p->next) {
                if (p->retired && p->live_requests > 0)
                        next = earliest(next, p->retire_deadline_us);
                for (size_t i = 0; i < p->cfg->n_stages; i++) {
                        Stage *s = &p->stages[i];
                        next = earliest(next, stage_expire_at(s));
                        for (Replica *r = s->replicas; r; r = r->next) {
                                if (r->batch_n > 0 && r->fd >= 0)
                                        next = earliest(earliest(next, r->batch_deadline_us),
                                                        r->batch_answer_us);
                                if (r->state == REPLICA_DRAINING && r->batch_n > 0 && r->fd >= 0)
                                        next = earliest(next, r->drain_deadline_us);
                                if (r->state == REPLICA_STARTING && r->pid > 0 && r->fd >= 0)
                                        next = earliest(next, bounded_startup_deadline(r));
                        }
                }
        }
        return next;
}

uint64_t bounded_next_wake(Manager *m)
{
        uint64_t next = earliest(pipelines_next(m->pipelines), pipelines_next(m->retired));

        if (m->stopping && m->drain_deadline_us > now_us())
                next = earliest(next, m->drain_deadline_us);
        return next;
}

/* ---- clients that leave while their request waits ------------------------------------------ */

void client_watch(Request *req)
{
        Manager *m = req->pipeline->manager;
        const union MHD_ConnectionInfo *ci;
        struct epoll_event e = {.events = EPOLLRDHUP, .data.ptr = &req->client_ev};

        if (req->client_watched || !req->conn)
                return;
        ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
                return;
        req->client_ev.kind = EVENT_CLIENT;
        req->client_fd = ci->connect_fd;
        if (epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, req->client_fd, &e) < 0) {
                log_debug("Request %llu: cannot watch its client (fd %d): %s",
                          (unsigned long long)req->id, req->client_fd, strerror(errno));
                return;
        }
        req->client_watched = true;
}

void client_unwatch(Request *req)
{
        if (!req->client_watched)
                return;
        req->client_watched = false;
        /* The fd is still open (libmicrohttpd closes it only after the request completes). */
        (void)epoll_ctl(req->pipeline->manager->epoll_fd, EPOLL_CTL_DEL, req->client_fd, NULL);
}

void client_on_event(Request *req, uint32_t events)
{
        Manager *m = req->pipeline->manager;
        struct MHD_Connection *conn = req->conn;

        if (!req->client_watched || !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                return;
        client_unwatch(req);
        if (!req->suspended || !conn)
                return;
        m->m.clients_gone++;
        log_debug("Request %llu: client went away while %s; cancelled", (unsigned long long)req->id,
                  req->state == REQ_QUEUED ? "queued" : "in a worker");
        /* Queued: answered (cancelled) at once and never sent to a worker. In a worker: its
         * output is dropped when the batch returns. */
        request_cancel(req);
        /* libmicrohttpd closes the connection once it runs it again (api.c: a request without a
         * client is refused with MHD_NO). */
        MHD_resume_connection(conn);
        m->resumed = true;
}
