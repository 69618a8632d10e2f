/* manager.h — the one struct that owns every event source and table of sponged.
 *
 * What it does
 *   The Manager runs a single-threaded epoll loop over: the HTTP daemons (libmicrohttpd in
 *   external-epoll mode), a signalfd (SIGTERM, SIGINT, SIGHUP, SIGCHLD), and one UNIX socket
 *   per worker replica. Requests enter through api.c, wait in each stage's EDF queue
 *   (queueing/), go to replicas in batches (dispatch.c), flow stage to stage, and are answered.
 *   Replicas are worker processes, each in its own cgroup (worker.c, cgroups/). The control loop
 *   (control.c) re-plans every interval with the optimizer and applies the plan in place.
 *
 * Invariants
 *   - Everything here is owned and touched by the loop thread only; there are no locks.
 *   - Every accepted request (Request) gets exactly one answer (request_answer): its refcount
 *     holds one reference for the data plane until answered, one for the HTTP connection until
 *     libmicrohttpd reports the connection's request complete.
 *   - A Request is in at most one place: a stage queue (node queued), a replica's in-flight
 *     batch (req->replica set), or nowhere (answered).
 *   - A replica takes a batch only when READY, not draining, and idle; its in-flight batch is
 *     re-queued or answered when it dies.
 *   - A pipeline being replaced or deleted is "retired": it accepts nothing new, finishes what
 *     it has, then its replicas stop and it is freed.
 *
 * Lifecycle
 *   manager_new → manager_start (cgroups, listeners, pipelines) → manager_run (until SIGTERM
 *   and drained) → manager_free (workers stopped, cgroups removed).
 */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/nodeconf.h"
#include "agent/metrics.h"
#include "agent/util.h"
#include "cgroups/bpf/rqdelay.h"
#include "cgroups/cgroups.h"
#include "optimizer/optimizer.h"
#include "pipelines/pipeline.h"
#include "pipelines/worker/protocol.h"
#include "queueing/queueing.h"

typedef struct Manager Manager;
typedef struct Pipeline Pipeline;
typedef struct Stage Stage;
typedef struct Replica Replica;
typedef struct Request Request;

/* What an epoll event points at. */
typedef enum EventKind {
        EVENT_HTTP,
        EVENT_SIGNAL,
        EVENT_REPLICA,
        EVENT_CLIENT,
        EVENT_AGENTCHECK,
        EVENT_CONTROL,
} EventKind;
typedef struct EventSource {
        EventKind kind;
} EventSource;

typedef enum ReplicaState {
        REPLICA_STARTING, /* spawned, waiting for READY */
        REPLICA_READY,    /* serving */
        REPLICA_DRAINING, /* finishes its batch, then is told to shut down */
        REPLICA_STOPPING, /* SHUTDOWN sent (or killed); waiting for the process to exit */
        REPLICA_DEAD,     /* exited unexpectedly; restarted at restart_at_us */
} ReplicaState;

struct Replica {
        EventSource ev;
        Stage *stage; /* borrowed: the owner */
        uint32_t id;  /* stage-local, names the cgroup "r<id>" */
        size_t variant;
        ReplicaState state;
        pid_t pid;    /* 0 when no process */
        int fd;       /* our end of the socketpair, -1 when closed */
        cg_group *cg; /* owned */
        uint32_t millicores;
        uint32_t threads; /* last SET_THREADS sent (or READY reported) */
        spp_buf rbuf, wbuf;
        bool want_write;
        /* the batch in flight */
        uint64_t batch_id;
        Request **batch; /* owned array (capacity batch_cap), borrowed requests */
        uint32_t batch_n, batch_cap;
        uint64_t batch_start_us;
        uint64_t batch_cpu_start_us; /* the cgroup's CPU usage then; 0: not readable */
        uint64_t batch_deadline_us;  /* given up (worker killed) past this (bounded.c) */
        uint64_t drain_deadline_us;  /* DRAINING: its batch is given up past this (bounded.c) */
        /* supervision */
        uint64_t spawned_us, ready_us, stop_at_us, restart_at_us;
        cg_stat stat_prev; /* cpu.stat at the last control interval (ebpf.c) */
        uint32_t restarts, consecutive_failures;
        char last_error[160];   /* since the last READY: what went wrong (cleared when ready) */
        char last_failure[160]; /* why it last died or failed to start (kept, for the status) */
        Replica *next;          /* stage's list */
};

/* A latency histogram: log2-spaced µs buckets plus a ring of recent samples for quantiles. */
struct Stage {
        Pipeline *pipeline; /* borrowed: the owner */
        size_t index;
        const pl_stage *cfg; /* borrowed from pipeline->cfg */
        sq_queue queue;
        pl_plan_entry plan;   /* in force */
        opt_latency *models;  /* owned, one per variant: what the estimates use */
        opt_rls *rls;         /* owned, one per variant: online refit from observed batches */
        double *refit_scale;  /* owned, one per variant: models = profile x this (control.c) */
        opt_latency *profile; /* owned, one per variant: the profile as configured, never
                                 refitted (the reference for contention: ebpf.c) */
        Replica *replicas;    /* owned list */
        uint64_t wake_at_us;  /* batcher asked to decide again then (0 = not waiting) */
        StageMetrics m;
        /* contention, per control interval (ebpf.c) */
        uint32_t bpf_key;
        bool has_bpf_key, contended;
        rqd_stats bpf_prev;
        double rq_p50_us, rq_p99_us, wait_share, throttled_share, slowdown;
};

struct Pipeline {
        Manager *manager;
        pl_pipeline *cfg; /* owned */
        char *json;       /* owned: canonical JSON text, to detect changes on reload */
        char *path;       /* owned: the file it was loaded from / persisted to */
        Stage *stages;    /* owned, cfg->n_stages */
        bool retired;     /* accepts nothing; freed when empty */
        bool pinned;      /* plan set by hand: the control loop leaves it alone */
        uint32_t live_requests;
        uint64_t retire_deadline_us; /* retired: what is left is answered then (bounded.c) */
        PipelineMetrics m;
        struct ControlState *control; /* owned by control.c */
        Pipeline *next;
};

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

struct Manager {
        NodeConfig config;
        char *config_path; /* owned, NULL = defaults */
        int epoll_fd;
        EventSource signal_ev;
        int signal_fd;
        cg_ctx *cg;
        uint32_t capacity_millicores;
        struct Http *http; /* api.c */
        Pipeline *pipelines;
        Pipeline *retired;
        Request *requests; /* every live request (answered or not, until freed) */
        uint32_t n_requests;
        uint64_t next_request_id, next_batch_id;
        uint32_t next_replica_id; /* names replica cgroups uniquely across replacements */
        bool stopping;
        uint64_t stop_deadline_us;
        /* SIGTERM + drain_timeout: workers still holding batches are killed then, and the
         * loop ends by this + STOP_SLACK_US (bounded.c) */
        uint64_t drain_deadline_us;
        uint64_t drain_stop_at_us;     /* SIGTERM with drain_grace_ms: still serving, announcing the
                                          drain (capacity.h) until then; 0 = not announced */
        struct AgentCheck *agentcheck; /* agentcheck.c; NULL when off */
        bool resumed;                  /* a connection was resumed: run libmicrohttpd again */
        uint64_t started_us;
        NodeMetrics m;
        struct ControlLoop *control;          /* control.c */
        rqd *bpf;                             /* owned; NULL when eBPF is off */
        char bpf_note[256];                   /* why eBPF is on or off, for the status */
        uint64_t bpf_keys[RQD_MAX_KEYS / 64]; /* rqdelay keys in use (one per stage) */
        bool contended;                       /* as measured for the last plan applied */
        uint32_t usable_millicores;           /* capacity the last plan applied was made with */
        /* The last measurement (smoothed), published to the two above when the plan made
         * with it is applied: status never pairs a new figure with the plan of the old. */
        bool measured_contended;
        uint32_t measured_millicores;
        double cpu_wait_share; /* workers' run-queue wait share, smoothed (ebpf.c) */
};

/* ---- manager.c ---- */
int manager_new(const char *config_path, Manager **ret);
int manager_start(Manager *m);
int manager_run(Manager *m);
Manager *manager_free(Manager *m);
int manager_reload(Manager *m);
void manager_notify_status(Manager *m);
Pipeline *manager_find_pipeline(Manager *m, const char *name);
/* Validates nothing: takes ownership of cfg; starts its workers. Replaces (retires) a pipeline
 * of the same name. Returns 0 or -errno (cfg freed on failure). */
int manager_apply_pipeline(Manager *m, pl_pipeline *cfg, const char *path);
int manager_delete_pipeline(Manager *m, const char *name);
int manager_persist_pipeline(Manager *m, const pl_pipeline *cfg);
int manager_unpersist_pipeline(Manager *m, const char *name);
void manager_epoll_mod(Manager *m, int fd, EventSource *ev, uint32_t events, bool add);
uint32_t manager_allocated_millicores(const Manager *m);
/* A stop has begun or is announced (drain_grace_ms): load balancers should send nothing new. */
bool manager_is_draining(const Manager *m);

/* ---- pipeline.c ---- */
int pipeline_new(Manager *m, pl_pipeline *cfg, Pipeline **ret);
Pipeline *pipeline_free(Pipeline *p);
/* Sets the plan of one stage and reconciles replicas (start/stop/resize/switch variant). */
int stage_set_plan(Stage *s, const pl_plan_entry *e);
/* Brings the replicas in line with the plan: called after plan changes and replica events. */
void stage_reconcile(Stage *s, uint64_t now);
/* Estimated µs from dispatch at this stage with a batch of b to leaving the pipeline. */
uint64_t stage_estimate_us(uint32_t batch, void *stage);
uint32_t stage_allocated_millicores(const Stage *s);
void pipeline_retire(Pipeline *p);
bool pipeline_is_drained(const Pipeline *p);

/* ---- worker.c ---- */
int replica_spawn(Replica *r);
void replica_on_event(Replica *r, uint32_t events);
int replica_send_batch(Replica *r, Request **reqs, uint32_t n);
int replica_resize(Replica *r, uint32_t millicores);
/* CPU time used by the replica's cgroup so far, in µs; 0 when not readable (backend none). */
uint64_t replica_cpu_usage_us(Replica *r);
void replica_stop(Replica *r, uint64_t now);
void replica_kill(Replica *r);
/* Closes the connection, gives back the batch in flight (stage_batch_failed), kills the process
 * (reaped through SIGCHLD) and records why. */
void replica_lost(Replica *r, const char *why);
/* A child exited: find its replica and handle it. */
void manager_child_exited(Manager *m, pid_t pid, int status);
Replica *replica_free(Replica *r);
const char *replica_state_name(ReplicaState s);

/* ---- dispatch.c ---- */
/* Admits a new request into its pipeline's first stage. Returns 0, or -errno that the API maps
 * to a status: -ENOBUFS queue full (429), -ETIME hopeless (504), -ESHUTDOWN (503). */
int request_admit(Request *req, uint64_t now);
/* Answers the request (exactly once); status + body; takes no ownership of body. */
void request_answer(Request *req, unsigned status, const char *content_type, const void *body,
                    size_t len);
void request_answer_error(Request *req, unsigned status, const char *error, const char *detail);
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
void manager_run_due(Manager *m, uint64_t now);
