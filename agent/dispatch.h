/* dispatch.h — the data plane: a Request is admitted into its pipeline's first stage queue, the
 * batcher hands batches to free replicas, outputs flow into the next stage, and the last stage's
 * output is the answer (dispatch.c).
 *
 * Invariants
 *   - Every accepted request gets exactly one answer (request_answer): its refcount holds one
 *     reference for the data plane until answered, one for the HTTP connection until
 *     libmicrohttpd reports the connection's request complete.
 *   - A request is in at most one place: a stage queue (node queued), a replica's in-flight
 *     batch (req->replica set), or nowhere (answered).
 * Loop thread only; live requests are on the Manager's list until freed.
 */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/forward.h"
#include "agent/util.h"
#include "pipelines/worker/protocol.h"
#include "queueing/queueing.h"

typedef enum RequestState { REQ_NEW, REQ_QUEUED, REQ_INFLIGHT, REQ_ANSWERED } RequestState;

struct Request {
        sq_node node;
        uint64_t id;
        Pipeline *pipeline; /* borrowed; pipeline->live_requests counts it */
        size_t stage;
        RequestState state;
        Replica *replica; /* while in flight */
        unsigned refs;
        uint64_t arrival_us, deadline_us, enqueued_us, queue_us;
        uint64_t budget_us; /* the request's own budget (deadline - arrival) */
        Buf data;           /* the payload for the current stage (owned) */
        uint16_t *variants; /* owned, n_stages: variant that served each stage */
        bool late;
        /* HTTP side */
        struct MHD_Connection *conn; /* NULL once the client is gone */
        bool suspended;
        unsigned status;
        struct MHD_Response *response; /* ready to queue on resume */
        /* Optional answer encoder (oip.c): builds the response from the answer (may change the
         * status) instead of sending the bytes as they are. State owned, freed by answer_free. */
        struct MHD_Response *(*answer_encode)(Request *req, unsigned *status, const char *type,
                                              const void *body, size_t len);
        void *answer_state;
        void (*answer_free)(void *state);
        Request *prev_all, *next_all; /* manager's list of live requests */
        /* while suspended: the client's socket in the manager's epoll, to notice it leave */
        EventSource client_ev;
        int client_fd;
        bool client_watched;
};

/* Admits a new request into its pipeline's first stage. Returns 0, or -errno that the API maps
 * to a status: -ENOBUFS queue full (429), -ETIME hopeless (504), -ESHUTDOWN (503). */
int request_admit(Request *req, uint64_t now);
/* Answers the request (exactly once); status + body; takes no ownership of body. */
void request_answer(Request *req, unsigned status, const char *content_type, const void *body,
                    size_t len);
void request_answer_error(Request *req, unsigned status, const char *error, const char *detail);
/* A request the agent gives up on: 499 (counted; nothing is sent) when its client is gone,
 * else request_answer_error(). */
void request_give_up(Request *req, unsigned status, const char *error, const char *detail);
void request_unref(Request *req);
Request *request_new(Manager *m, Pipeline *p);
void request_cancel(Request *req);
/* Runs the batcher of a stage: drops hopeless requests, hands batches to free replicas. */
void stage_dispatch(Stage *s, uint64_t now);
/* A replica returned a batch (RESULT frame already matched to it). */
void stage_batch_done(Replica *r, const spp_frame *f, uint64_t now);
/* The replica's batch is lost (worker died): re-queue what can still make it, answer the rest. */
void stage_batch_failed(Replica *r, const char *why, uint64_t now);
/* The replica's batch is given up (bounded.c): re-queue what can still make it when requeue,
 * answer the rest with status, error and "stage S, replica rN: why" as detail. */
void stage_batch_abandon(Replica *r, unsigned status, const char *error, const char *why,
                         bool requeue, uint64_t now);
/* Answers queued requests that can no longer make their deadline (even with no replica free);
 * returns how many. stage_expire_at: when the head will be such a request (0 = never). */
uint32_t stage_expire(Stage *s, uint64_t now);
uint64_t stage_expire_at(Stage *s);
/* The earliest time any stage asked to be woken (0 = none). */
uint64_t manager_next_wake(Manager *m);
