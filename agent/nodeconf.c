/* nodeconf.c — node configuration file: see nodeconf.h. */
#include "agent/nodeconf.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/util.h"
#include "pipelines/jsoncheck.h"

int node_config_defaults(NodeConfig *c)
{
        *c = (NodeConfig){
            .cgroup_mode = CG_REQUEST_AUTO,
            .period_us = CG_PERIOD_DEFAULT_US,
            .interval_us = NODE_CONFIG_DEFAULT_INTERVAL_MS * USEC_PER_MSEC,
            .downscale_delay_us = 5 * USEC_PER_SEC,
            .max_requests = 65536,
            .max_wait_us = USEC_PER_SEC,
            .drain_timeout_us = 30 * USEC_PER_SEC,
            .restart_backoff_max_us = 10 * USEC_PER_SEC,
            .startup_timeout_min_us = 10 * USEC_PER_SEC,
            .head_timeout_us = 30 * USEC_PER_SEC,
            .max_body_bytes_in_flight = 256u << 20,
            .max_connections_per_ip = 1024,
            .agent_check_reference_millicores = 1000,
            .control = true,
            .ebpf = true,
            .log_level = LOG_LEVEL_INFO,
        };
        c->listen[0] = strdup(NODE_CONFIG_DEFAULT_LISTEN);
        c->n_listen = 1;
        c->pipelines_dir = strdup(NODE_CONFIG_DEFAULT_PIPELINES_DIR);
        if (!c->listen[0] || !c->pipelines_dir) {
                node_config_done(c);
                return -ENOMEM;
        }
        return 0;
}

void node_config_done(NodeConfig *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_listen; i++)
                free(c->listen[i]);
        free(c->cgroup_root);
        free(c->pipelines_dir);
        free(c->worker_path);
        free(c->agent_check_listen);
        trust_config_done(&c->trust);
        *c = (NodeConfig){0};
}

/* Every key, in the order the "unknown key" message lists them. */
static const char *const KEYS[] = {
    "listen",
    "millicores",
    "cgroup",
    "pipelines_dir",
    "worker_path",
    "interval_ms",
    "downscale_delay_ms",
    "max_batch_wait_ms",
    "drain_timeout_ms",
    "drain_grace_ms",
    "restart_backoff_max_ms",
    "startup_timeout_min_ms",
    "request_head_timeout_ms",
    "max_body_bytes_in_flight",
    "max_connections_per_ip",
    "max_requests",
    "control",
    "ebpf",
    "log_level",
    "agent_check",
    "api_group",
    "api_token_file",
    "api_hosts",
    "worker_dirs",
    "worker_user",
    "max_pipelines",
    "max_replicas",
    NULL,
};

static int parse_listen(jc_ctx *c, const json_t *v, NodeConfig *nc)
{
        if (!json_is_array(v) || json_array_size(v) == 0 ||
            json_array_size(v) > NODE_CONFIG_MAX_LISTEN)
                return jc_fail(c,
                               "expected an array of 1..%u addresses (\"HOST:PORT\" or "
                               "\"unix:/path\"), got %s",
                               NODE_CONFIG_MAX_LISTEN, JC_GOT(v));
        return jc_set_strings(c, v, NODE_CONFIG_MAX_LISTEN, NODE_CONFIG_STRING_MAX, nc->listen,
                              &nc->n_listen);
}

static int parse_cgroup_key(jc_ctx *c, const char *key, const json_t *v, NodeConfig *nc)
{
        static const char *const backends[] = {"auto", "v1", "v2", "none"};
        static const cg_request modes[] = {CG_REQUEST_AUTO, CG_REQUEST_V1, CG_REQUEST_V2,
                                           CG_REQUEST_NONE};
        uint64_t u;
        int i, r;

        if (strcmp(key, "backend") == 0) {
                r = jc_read_enum(c, v, backends, ELEMENTSOF(backends), &i);
                if (r == 0)
                        nc->cgroup_mode = modes[i];
                return r;
        }
        if (strcmp(key, "root") == 0) {
                r = jc_set_string(c, v, NODE_CONFIG_STRING_MAX, &nc->cgroup_root);
                if (r == 0 && nc->cgroup_root[0] != '/')
                        r = jc_fail(c, "expected an absolute path");
                return r;
        }
        r = jc_read_u64(c, v, CG_PERIOD_MIN_US, CG_PERIOD_MAX_US, &u);
        if (r == 0)
                nc->period_us = (uint32_t)u;
        return r;
}

static int parse_agent_check_key(jc_ctx *c, const char *key, const json_t *v, NodeConfig *nc)
{
        struct sockaddr_storage ss;
        uint64_t u;
        int r;

        if (strcmp(key, "listen") == 0) {
                r = jc_set_string(c, v, NODE_CONFIG_STRING_MAX, &nc->agent_check_listen);
                if (r == 0 && parse_tcp_address(nc->agent_check_listen, &ss) < 0)
                        r = jc_fail(c, "expected \"HOST:PORT\" or \"[V6]:PORT\" with a numeric "
                                       "address");
                return r;
        }
        r = jc_read_u64(c, v, 10, 1024000, &u);
        if (r == 0)
                nc->agent_check_reference_millicores = (uint32_t)u;
        return r;
}

typedef int (*KeyParser)(jc_ctx *c, const char *key, const json_t *v, NodeConfig *nc);

/* An object whose keys (all optional) are checked against keys, then each parsed in turn at
 * its own path. */
static int parse_object(jc_ctx *c, const json_t *v, const char *const *keys, KeyParser parse,
                        NodeConfig *nc)
{
        const char *key;
        json_t *e;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;
        json_object_foreach((json_t *)v, key, e)
        {
                size_t old = jc_push_key(c, key);
                r = parse(c, key, e, nc);
                jc_pop(c, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_log_level(jc_ctx *c, const json_t *v, NodeConfig *nc)
{
        static const char *const names[] = {"error", "warning", "notice", "info", "debug"};
        int i, r = jc_read_enum(c, v, names, ELEMENTSOF(names), &i);

        if (r == 0)
                nc->log_level = LOG_LEVEL_ERR + i;
        return r;
}

/* Integer keys: name, bounds, scale (1000 for a duration in ms stored in us), destination and
 * its width. */
typedef struct UintKey {
        const char *key;
        uint64_t lo, hi, scale;
        size_t offset;
        bool wide; /* uint64_t, else uint32_t */
} UintKey;

#define MS(k, lo, hi, field)                                                                       \
        {                                                                                          \
                k, lo, hi, USEC_PER_MSEC, offsetof(NodeConfig, field), true                        \
        }
#define U32(k, lo, hi, field)                                                                      \
        {                                                                                          \
                k, lo, hi, 1, offsetof(NodeConfig, field), false                                   \
        }

static const UintKey uint_keys[] = {
    MS("interval_ms", 10, 3600000, interval_us),
    MS("downscale_delay_ms", 0, 3600000, downscale_delay_us),
    MS("max_batch_wait_ms", 0, 3600000, max_wait_us),
    MS("drain_timeout_ms", 0, 3600000, drain_timeout_us),
    MS("restart_backoff_max_ms", 10, 3600000, restart_backoff_max_us),
    MS("startup_timeout_min_ms", 100, 3600000, startup_timeout_min_us),
    MS("request_head_timeout_ms", 100, 30000, head_timeout_us),
    MS("drain_grace_ms", 0, 600000, drain_grace_us),
    {"max_body_bytes_in_flight", 1 << 20, UINT64_C(1) << 40, 1,
     offsetof(NodeConfig, max_body_bytes_in_flight), true},
    U32("millicores", 10, 1024000, millicores),
    U32("max_connections_per_ip", 0, 1000000, max_connections_per_ip),
    U32("max_requests", 1, 10000000, max_requests),
};

/* Returns -ENOENT when key is not an integer key. */
static int parse_uint_key(jc_ctx *c, const char *key, const json_t *v, NodeConfig *nc)
{
        for (size_t i = 0; i < ELEMENTSOF(uint_keys); i++) {
                const UintKey *k = &uint_keys[i];
                uint64_t u;
                if (strcmp(key, k->key) != 0)
                        continue;
                int r = jc_read_u64(c, v, k->lo, k->hi, &u);
                if (r == 0 && k->wide)
                        *(uint64_t *)((char *)nc + k->offset) = u * k->scale;
                else if (r == 0)
                        *(uint32_t *)((char *)nc + k->offset) = (uint32_t)(u * k->scale);
                return r;
        }
        return -ENOENT;
}

static int parse_key(jc_ctx *c, const char *key, const json_t *v, NodeConfig *nc)
{
        static const char *const cgroup_keys[] = {"backend", "root", "period_us", NULL};
        static const char *const agent_check_keys[] = {"listen", "reference_millicores", NULL};
        int r = parse_uint_key(c, key, v, nc);

        if (r != -ENOENT)
                return r;
        if (strcmp(key, "listen") == 0)
                return parse_listen(c, v, nc);
        if (strcmp(key, "cgroup") == 0)
                return parse_object(c, v, cgroup_keys, parse_cgroup_key, nc);
        if (strcmp(key, "agent_check") == 0)
                return parse_object(c, v, agent_check_keys, parse_agent_check_key, nc);
        if (strcmp(key, "pipelines_dir") == 0)
                return jc_set_string(c, v, NODE_CONFIG_STRING_MAX, &nc->pipelines_dir);
        if (strcmp(key, "worker_path") == 0)
                return jc_set_string(c, v, NODE_CONFIG_STRING_MAX, &nc->worker_path);
        if (strcmp(key, "log_level") == 0)
                return parse_log_level(c, v, nc);
        if (strcmp(key, "control") == 0)
                return jc_read_bool(c, v, &nc->control);
        if (strcmp(key, "ebpf") == 0)
                return jc_read_bool(c, v, &nc->ebpf);
        /* The rest are the trust keys (KEYS lists them all, so nothing else should get here). */
        r = trust_config_key(&nc->trust, key, v, c->err, c->errlen);
        return r == -ENOENT ? jc_fail(c, "a key listed as accepted but read by nobody (a bug)") : r;
}

/* Reads root (a JSON object) into *nc; the message, "PATH: ...", goes to err. */
static int parse_root(const json_t *root, NodeConfig *nc, char *err, size_t errlen)
{
        jc_ctx c;

        jc_init(&c, NULL, err, errlen);
        return parse_object(&c, root, KEYS, parse_key, nc);
}

int node_config_load(const char *path, NodeConfig *ret, char *err, size_t errlen)
{
        NodeConfig c;
        json_error_t jerr;
        json_t *root;
        char msg[1024] = "";
        int r;

        r = node_config_defaults(&c);
        if (r < 0)
                return r;
        if (!path) {
                r = trust_config_finish(&c.trust, err, errlen);
                if (r < 0) {
                        node_config_done(&c);
                        return r;
                }
                *ret = c;
                return 0;
        }
        root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                node_config_done(&c);
                if (access(path, R_OK) < 0) {
                        r = -errno;
                        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-r));
                        return r;
                }
                snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
                return -EINVAL;
        }
        r = parse_root(root, &c, msg, sizeof(msg));
        json_decref(root);
        if (r >= 0)
                r = trust_config_finish(&c.trust, msg, sizeof(msg));
        if (r < 0) {
                snprintf(err, errlen, "%s: %s", path, msg);
                node_config_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}
