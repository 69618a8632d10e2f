/* dispatch.c — the data plane: requests are admitted into their pipeline's first stage queue,
 * the batcher hands batches to free replicas, outputs flow into the next stage, and every
 * request is answered exactly once. See dispatch.h for the invariants. */
#include "agent/dispatch.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "agent/bounded.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/plan/plan-loop.h"
#include "agent/replica.h"
#include "agent/stage.h"

#define DROP_CHUNK 64
/* A batch frame: header and batch head, then per item a 12-byte record (protocol.c); the reply
 * adds a status byte per item. Counted with margin so the reply to an echo also fits. */
#define FRAME_FIXED    64u
#define FRAME_PER_ITEM 16u
/* The batcher's wake-up margin: plan_wake_margin_us (agent/plan/plan-loop.h). */

Request *request_new(Manager *m, Pipeline *p)
{
        Request *req = calloc(1, sizeof(*req));

        if (!req)
                return NULL;
        req->variants = calloc(p->cfg->n_stages, sizeof(uint16_t));
        if (!req->variants) {
                free(req);
                return NULL;
        }
        req->id = ++m->next_request_id;
        req->pipeline = p;
        req->refs = 1; /* the HTTP connection's */
        req->status = 0;
        req->next_all = m->requests;
        if (m->requests)
                m->requests->prev_all = req;
        m->requests = req;
        m->n_requests++;
        return req;
}

void request_unref(Request *req)
{
        Manager *m;

        if (!req || --req->refs > 0)
                return;
        m = req->pipeline->manager;
        if (req->prev_all)
                req->prev_all->next_all = req->next_all;
        else
                m->requests = req->next_all;
        if (req->next_all)
                req->next_all->prev_all = req->prev_all;
        m->n_requests--;
        client_unwatch(req);
        if (req->response)
                MHD_destroy_response(req->response);
        buf_done(&req->data);
        if (req->answer_free)
                req->answer_free(req->answer_state);
        free(req->variants);
        free(req);
}

static void add_timing_headers(Request *req, struct MHD_Response *resp, uint64_t now)
{
        const pl_pipeline *cfg = req->pipeline->cfg;
        char v[64], names[PL_MAX_STAGES * (PL_NAME_MAX + 1) + 1] = "";
        size_t off = 0;

        snprintf(v, sizeof(v), "%.3f", (double)(now - req->arrival_us) / 1000.0);
        MHD_add_response_header(resp, "X-Sponge-Latency-Ms", v);
        snprintf(v, sizeof(v), "%.3f", (double)req->queue_us / 1000.0);
        MHD_add_response_header(resp, "X-Sponge-Queue-Ms", v);
        for (size_t i = 0; i < req->stage + 1 && i < cfg->n_stages && req->status == 200; i++) {
                int n = snprintf(names + off, sizeof(names) - off, "%s%s", i ? "," : "",
                                 cfg->stages[i].variants[req->variants[i]].name);
                if (n > 0)
                        off += (size_t)n;
        }
        if (off > 0)
                MHD_add_response_header(resp, "X-Sponge-Variants", names);
        if (req->late)
                MHD_add_response_header(resp, "X-Sponge-Late", "1");
}

/* Mean accuracy of the variants that served the request's stages. */
static double request_accuracy(const Request *req)
{
        const pl_pipeline *cfg = req->pipeline->cfg;
        double sum = 0;

        for (size_t i = 0; i < cfg->n_stages; i++)
                sum += cfg->stages[i].variants[req->variants[i]].accuracy;
        return sum / (double)cfg->n_stages;
}

static void count_outcome(Request *req, unsigned status, uint64_t now)
{
        PipelineMetrics *pm = &req->pipeline->m;
        uint64_t e2e = now - req->arrival_us;

        pm->answered[req->conn ? outcome_from_status(status) : OUTCOME_CANCELLED]++;
        if (status != 200)
                return;
        histogram_observe(&pm->e2e, e2e);
        recent_push(&pm->recent_e2e, e2e);
        pm->accuracy_sum += request_accuracy(req);
        if (now <= req->deadline_us)
                pm->within_slo++;
        if (req->late)
                pm->late++;
}

void request_answer(Request *req, unsigned status, const char *content_type, const void *body,
                    size_t len)
{
        Manager *m = req->pipeline->manager;
        bool admitted = req->state != REQ_NEW;
        uint64_t now = now_us();
        struct MHD_Response *resp = NULL;

        if (req->state == REQ_ANSWERED)
                return;
        if (req->conn && req->answer_encode) /* may turn a 200 into an error */
                resp = req->answer_encode(req, &status, content_type, body, len);
        req->status = status;
        if (req->state == REQ_QUEUED)
                sq_remove(&req->pipeline->stages[req->stage].queue, &req->node);
        req->state = REQ_ANSWERED;
        req->replica = NULL;
        count_outcome(req, status, now);
        if (req->conn) {
                if (!req->answer_encode) {
                        resp = MHD_create_response_from_buffer(len, (void *)body,
                                                               MHD_RESPMEM_MUST_COPY);
                        if (resp)
                                MHD_add_response_header(resp, "Content-Type", content_type);
                }
                if (resp) {
                        add_timing_headers(req, resp, now);
                        req->response = resp;
                }
                if (req->suspended) {
                        client_unwatch(req);
                        req->suspended = false;
                        MHD_resume_connection(req->conn);
                        m->resumed = true;
                }
        }
        if (admitted) {
                req->pipeline->live_requests--;
                request_unref(req); /* the data plane's reference */
        }
}

void request_answer_error(Request *req, unsigned status, const char *error, const char *detail)
{
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:I}", "error", error, "detail", detail ? detail : "",
                      "pipeline", req->pipeline->cfg->name, "request_id", (json_int_t)req->id);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

        request_answer(req, status, "application/json", s ? s : "{\"error\":\"out of memory\"}",
                       s ? strlen(s) : 26);
        free(s);
        json_decref(j);
}

void request_give_up(Request *req, unsigned status, const char *error, const char *detail)
{
        if (!req->conn)
                request_answer(req, 499, "text/plain", "", 0);
        else
                request_answer_error(req, status, error, detail);
}

static int stage_enqueue(Stage *s, Request *req, uint64_t now)
{
        int r = sq_push(&s->queue, &req->node, req->deadline_us, now);

        if (r < 0)
                return r;
        req->stage = s->index;
        req->state = REQ_QUEUED;
        req->enqueued_us = now;
        return 0;
}

int request_admit(Request *req, uint64_t now)
{
        Pipeline *p = req->pipeline;
        Manager *m = p->manager;
        Stage *s = &p->stages[0];
        int r;

        if (m->stopping || p->retired)
                return -ESHUTDOWN;
        if (m->n_requests > m->config.max_requests)
                return -EBUSY;
        if (p->cfg->late == PL_LATE_DROP && now + stage_estimate_us(1, s) > req->deadline_us)
                return -ETIME;
        r = stage_enqueue(s, req, now);
        if (r < 0)
                return r;
        req->refs++; /* the data plane's, until answered */
        p->live_requests++;
        p->m.accepted++;
        stage_dispatch(s, now);
        return 0;
}

void request_cancel(Request *req)
{
        client_unwatch(req);
        req->conn = NULL;
        req->suspended = false;
        /* Queued: answer now (nobody listens). In flight: the result is dropped on return. */
        if (req->state == REQ_QUEUED)
                request_answer(req, 499, "text/plain", "", 0);
}

/* A replica that may take a batch now. */
static Replica *stage_free_replica(Stage *s)
{
        for (Replica *r = s->replicas; r; r = r->next)
                if (r->state == REPLICA_READY && r->batch_n == 0 && r->fd >= 0)
                        return r;
        return NULL;
}

static void answer_dropped(Stage *s, sq_node **nodes, uint32_t n, const char *why)
{
        char detail[160];

        for (uint32_t i = 0; i < n; i++) {
                Request *req = sq_container_of(nodes[i], Request, node);
                /* Already out of the queue: request_answer must not remove it again. */
                req->state = REQ_INFLIGHT;
                snprintf(detail, sizeof(detail),
                         "%s at stage %s: budget %.1f ms, estimated %.1f ms still needed", why,
                         s->cfg->name, (double)req->budget_us / 1000.0,
                         (double)stage_estimate_us(1, s) / 1000.0);
                s->m.dropped++;
                request_answer_error(req, 504, "deadline cannot be met", detail);
        }
}

/* Takes from the queue, chunk by chunk, the requests that can no longer make their deadline
 * (sq_drop_hopeless) or, with shed, those shed under overload (sq_shed at the plan's batch),
 * and answers them with why; returns how many. */
static uint32_t stage_drop_all(Stage *s, uint64_t now, bool shed, const char *why)
{
        sq_node *nodes[DROP_CHUNK];
        uint32_t n, total = 0;

        do {
                n = shed
                        ? sq_shed(&s->queue, now, s->plan.batch, stage_estimate_us, s, nodes,
                                  DROP_CHUNK)
                        : sq_drop_hopeless(&s->queue, now, stage_estimate_us, s, nodes, DROP_CHUNK);
                answer_dropped(s, nodes, n, why);
                total += n;
        } while (n == DROP_CHUNK);
        return total;
}

/* Drops what can no longer make it; returns how many. */
static uint32_t stage_drop(Stage *s, uint64_t now)
{
        uint32_t total = stage_drop_all(s, now, false, "hopeless");

        return total + stage_drop_all(s, now, true, "shed under overload");
}

static void stage_take(Stage *s, Replica *r, uint32_t k, uint64_t now)
{
        sq_node *nodes[PL_MAX_BATCH];
        Request *reqs[PL_MAX_BATCH];
        uint64_t bytes = FRAME_FIXED;
        uint32_t n = 0;
        int err;

        /* One at a time, within the frame limit: a batch the worker's frame cannot carry would
         * fail every request in it. (The first always goes: admission keeps it within.) */
        for (k = MIN(k, PL_MAX_BATCH); n < k; n++) {
                sq_node *head = sq_peek(&s->queue);
                uint64_t len = head ? sq_container_of(head, Request, node)->data.len : 0;
                if (!head || (n > 0 && bytes + FRAME_PER_ITEM + len > SPP_MAX_FRAME_DEFAULT))
                        break;
                bytes += FRAME_PER_ITEM + len;
                sq_take(&s->queue, 1, &nodes[n]);
        }

        for (uint32_t i = 0; i < n; i++) {
                Request *req = sq_container_of(nodes[i], Request, node);
                uint64_t waited = now - req->enqueued_us;
                req->queue_us += waited;
                req->late = req->late || (nodes[i]->flags & SQ_NODE_LATE);
                histogram_observe(&s->m.queueing, waited);
                reqs[i] = req;
                req->state = REQ_INFLIGHT;
        }
        err = replica_send_batch(r, reqs, n);
        if (err < 0)
                for (uint32_t i = 0; i < n; i++)
                        request_answer_error(reqs[i], 502, "worker failed",
                                             "the batch could not be sent to the worker");
}

static uint64_t wake_margin_us(const Stage *s)
{
        const Request *head = sq_container_of(sq_peek(&s->queue), Request, node);

        return plan_wake_margin_us(head->budget_us);
}

void stage_dispatch(Stage *s, uint64_t now)
{
        Manager *m = s->pipeline->manager;

        for (;;) {
                Replica *r;
                sq_decision d;

                s->wake_at_us = 0;
                if (sq_size(&s->queue) == 0)
                        return;
                r = stage_free_replica(s);
                if (!r)
                        return;
                stage_drop(s, now);
                d = sq_decide(&s->queue, now, s->plan.batch, stage_estimate_us, s,
                              m->config.max_wait_us);
                switch (d.action) {
                case SQ_IDLE:
                        return;
                case SQ_DROP:
                        if (stage_drop(s, now) == 0)
                                return;
                        break;
                case SQ_WAIT:
                        if (d.wake_at_us > now + wake_margin_us(s)) {
                                s->wake_at_us = d.wake_at_us - wake_margin_us(s);
                                return;
                        }
                        /* Within the margin of its latest start: take what is there now. */
                        stage_take(s, r, MIN(sq_size(&s->queue), s->plan.batch), now);
                        break;
                case SQ_TAKE:
                        stage_take(s, r, d.k, now);
                        break;
                }
        }
}

/* Moves one item's output on: next stage, or the answer. */
static void item_done(Stage *s, Request *req, const spp_item *item, uint64_t now)
{
        Pipeline *p = s->pipeline;
        char detail[256];
        int r;

        req->replica = NULL;
        if (!req->conn) {
                request_answer(req, 499, "text/plain", "", 0);
                return;
        }
        if (item->status != SPP_STATUS_OK) {
                snprintf(detail, sizeof(detail), "stage %s: %.*s", s->cfg->name,
                         (int)MIN(item->len, 200u), (const char *)item->data);
                if (item->status == SPP_STATUS_INVALID)
                        request_answer_error(req, 400, "invalid input", detail);
                else
                        request_answer_error(req, 502, "worker failed", detail);
                return;
        }
        if (s->index + 1 == p->cfg->n_stages) {
                request_answer(req, 200, "application/octet-stream", item->data, item->len);
                return;
        }
        req->data.len = 0;
        r = buf_append(&req->data, item->data, item->len);
        if (r >= 0)
                r = stage_enqueue(&p->stages[s->index + 1], req, now);
        if (r == SQ_ERR_FULL)
                request_answer_error(req, 429, "queue full",
                                     "the next stage's queue is at its limit (queue_limit)");
        else if (r < 0)
                request_answer_error(req, 503, "no capacity", strerror(-r));
}

void stage_batch_done(Replica *r, const spp_frame *f, uint64_t now)
{
        Stage *s = r->stage;
        uint64_t took = now - r->batch_start_us, cpu = replica_cpu_usage_us(r);
        spp_item_iter it;
        spp_item item;
        uint32_t i = 0, n = r->batch_n;

        s->m.batches++;
        s->m.items += n;
        if (r->variant < METRICS_MAX_VARIANTS) {
                s->m.batches_by_variant[r->variant]++;
                s->m.items_by_variant[r->variant] += n;
        }
        histogram_observe(&s->m.processing, took);
        s->m.interval_observed_ms += (double)took / 1000.0;
        /* Against the profile, not the refit: the refit learns contention away. */
        s->m.interval_predicted_ms +=
            opt_latency_eval_ms(&s->profile[r->variant], n, r->millicores);
        recent_push(&s->m.recent_processing, took);
        /* The refit learns the batch's CPU time spread over its quota (cpu / cores): what
         * l(b, c) means. Wall time is shorter than that when the batch fits in the period's
         * remaining quota (it runs at full core speed) and longer when it waits for the next
         * period; neither says what throughput the quota gives. Without cgroup usage (backend
         * none) there is no quota, and the wall time is what the batch took. */
        if (r->batch_cpu_start_us && cpu > r->batch_cpu_start_us)
                opt_rls_update(&s->rls[r->variant], n, r->millicores,
                               (double)(cpu - r->batch_cpu_start_us) / (double)r->millicores);
        else if (!r->batch_cpu_start_us)
                opt_rls_update(&s->rls[r->variant], n, r->millicores, (double)took / 1000.0);
        r->batch_n = 0;
        /* on_result (replica.c) checked the frame: exactly the batch's n items, in order */
        spp_items_begin(f, &it);
        while (spp_items_next(&it, &item) && i < n) {
                Request *req = r->batch[i++];
                if (req->state != REQ_ANSWERED) {
                        req->variants[s->index] = (uint16_t)r->variant;
                        item_done(s, req, &item, now);
                }
                request_unref(req); /* the batch's reference */
        }
        stage_dispatch(s, now);
        if (s->index + 1 < s->pipeline->cfg->n_stages)
                stage_dispatch(&s->pipeline->stages[s->index + 1], now);
}

void stage_batch_abandon(Replica *r, unsigned status, const char *error, const char *why,
                         bool requeue, uint64_t now)
{
        Stage *s = r->stage;
        Manager *m = s->pipeline->manager;
        uint32_t n = r->batch_n;
        char detail[256];

        r->batch_n = 0;
        snprintf(detail, sizeof(detail), "stage %s, replica r%u: %s", s->cfg->name, r->id, why);
        for (uint32_t i = 0; i < n; i++) {
                Request *req = r->batch[i];
                req->replica = NULL;
                if (req->state == REQ_ANSWERED) {
                        /* answered meanwhile */
                } else if (requeue && req->conn && !s->pipeline->retired &&
                           now + stage_estimate_us(1, s) <= req->deadline_us &&
                           stage_enqueue(s, req, now) >= 0) {
                        m->m.requeued++;
                } else {
                        request_give_up(req, status, error, detail);
                }
                request_unref(req); /* the batch's reference */
        }
}

void stage_batch_failed(Replica *r, const char *why, uint64_t now)
{
        stage_batch_abandon(r, 502, "worker failed", why, true, now);
}

uint32_t stage_expire(Stage *s, uint64_t now)
{
        uint32_t total = stage_drop_all(s, now, false, "expired while waiting for a free replica");

        s->m.expired += total;
        s->pipeline->manager->m.expired += total;
        return total;
}

uint64_t stage_expire_at(Stage *s)
{
        sq_node *head = sq_peek(&s->queue);
        uint64_t est;

        if (!head || s->pipeline->cfg->late != PL_LATE_DROP)
                return 0;
        est = stage_estimate_us(1, s);
        /* hopeless once now + est > deadline */
        return head->deadline_us > est ? head->deadline_us - est + 1 : 1;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
        return !a ? b : !b ? a : MIN(a, b);
}

static uint64_t pipelines_next_wake(Pipeline *list)
{
        uint64_t next = 0;

        for (Pipeline *p = list; p; p = p->next)
                for (size_t i = 0; i < p->cfg->n_stages; i++) {
                        Stage *s = &p->stages[i];
                        next = earliest(next, s->wake_at_us);
                        for (Replica *r = s->replicas; r; r = r->next) {
                                uint64_t t = r->restart_at_us ? r->restart_at_us : 0;
                                if (r->state == REPLICA_STOPPING && r->pid > 0)
                                        t = r->stop_at_us;
                                next = earliest(next, t);
                        }
                }
        return next;
}

uint64_t manager_next_wake(Manager *m)
{
        return earliest(
            earliest(pipelines_next_wake(m->pipelines), pipelines_next_wake(m->retired)),
            bounded_next_wake(m));
}
