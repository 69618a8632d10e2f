/* nodeconf.h — the node configuration of sponged (one JSON file, `sponged --config FILE`).
 *
 * What it holds: where the HTTP API listens, how many millicores the agent may hand out, the
 * cgroup backend and root, where the pipeline files live, the control interval and the limits.
 * Every key is optional; defaults are listed in node_config_defaults() and in the README.
 * Unknown keys are errors, reported with their JSON path like the pipeline files' errors.
 *
 * Lifecycle: node_config_load() at start and on SIGHUP; the agent keeps one NodeConfig and
 * swaps it whole. A NodeConfig owns all its strings.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agent/trust.h"
#include "cgroups/cgroups.h"

#define NODE_CONFIG_DEFAULT_LISTEN        "127.0.0.1:8750"
#define NODE_CONFIG_DEFAULT_PIPELINES_DIR "/etc/sponged/pipelines.d"
#define NODE_CONFIG_DEFAULT_INTERVAL_MS   1000u
#define NODE_CONFIG_MAX_LISTEN            8u

typedef struct NodeConfig {
        char *listen[NODE_CONFIG_MAX_LISTEN]; /* owned: "HOST:PORT" or "unix:/path" */
        size_t n_listen;
        uint32_t millicores; /* cores the agent may hand out; 0 = all online CPUs */
        cg_request cgroup_mode;
        char *cgroup_root; /* owned, NULL = backend default */
        uint32_t period_us;
        char *pipelines_dir;  /* owned */
        char *worker_path;    /* owned, ':'-separated directories searched for worker argv[0] */
        uint64_t interval_us; /* control loop period */
        uint64_t downscale_delay_us; /* a lower plan must hold this long before it is applied */
        uint32_t max_requests;       /* requests in flight in the whole agent before 503 */
        uint64_t max_wait_us;        /* cap on how long a batch waits to fill */
        uint64_t drain_timeout_us;   /* SIGTERM / retire: how long to wait for answers */
        uint64_t restart_backoff_max_us;
        uint64_t drain_grace_us;  /* SIGTERM: keep serving this long while announcing the drain */
        char *agent_check_listen; /* owned, "HOST:PORT" of the HAProxy agent-check responder */
        uint32_t agent_check_reference_millicores; /* usable millicores reported as weight 100% */
        bool control;      /* run the control loop (false: plans only by hand) */
        bool ebpf;         /* load the run-queue delay programs when possible */
        int log_level;     /* 3..7, syslog priorities */
        TrustConfig trust; /* who may change things, which programs run, as whom (trust.h) */

        /* bounded failure (agent/bounded.c, agent/api.c) */
        uint64_t startup_timeout_min_us;   /* floor of a worker's start-up deadline */
        uint64_t head_timeout_us;          /* a request head must be complete within this */
        uint64_t max_body_bytes_in_flight; /* bodies of all requests in flight before 503 */
        uint32_t max_connections_per_ip;   /* 0 = no limit */
} NodeConfig;

/* Fills *c with the defaults (allocating the default strings). Returns 0 or -ENOMEM. */
int node_config_defaults(NodeConfig *c);

/* Loads a node config file over the defaults. path NULL: defaults only. On error returns
 * -EINVAL (message "FILE: path: what is accepted" in err), -ENOMEM or the open/read errno, and
 * leaves *ret untouched. */
int node_config_load(const char *path, NodeConfig *ret, char *err, size_t errlen);

void node_config_done(NodeConfig *c);
