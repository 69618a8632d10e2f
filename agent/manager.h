/* manager.h — the one struct that owns every event source and table of sponged.
 *
 * The Manager runs a single-threaded epoll loop over: the HTTP daemons (libmicrohttpd in
 * external-epoll mode), a signalfd (SIGTERM, SIGINT, SIGHUP, SIGCHLD), and one UNIX socket per
 * worker replica. Requests enter through api.c, wait in each stage's EDF queue (queueing/), go
 * to replicas in batches (dispatch.h), flow stage to stage, and are answered. Replicas are
 * worker processes, each in its own cgroup (replica.h, cgroups/). The control loop (control.h)
 * re-plans every interval with the optimizer and applies the plan in place.
 * Invariant: everything here is owned and touched by the loop thread only; there are no locks.
 * Lifecycle: manager_new → manager_start (cgroups, listeners, pipelines) → manager_run (until
 * SIGTERM and drained) → manager_free (workers stopped, cgroups removed).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent/forward.h"
#include "agent/nodeconf.h"
#include "agent/metrics.h"
#include "cgroups/bpf/rqdelay.h"
#include "cgroups/cgroups.h"
#include "pipelines/pipeline.h"

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
/* Runs what is due at now: core accounting, deadlines (bounded.h), replicas to restart, kill
 * or free, stages to wake, retired pipelines to free. */
void manager_run_due(Manager *m, uint64_t now);
uint32_t manager_allocated_millicores(const Manager *m);
/* A stop has begun or is announced (drain_grace_ms): load balancers should send nothing new. */
bool manager_is_draining(const Manager *m);
