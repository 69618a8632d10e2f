/* nodeconf.c — node configuration file: see nodeconf.h. */
#include "agent/nodeconf.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/util.h"

#define NODE_CONFIG_FILE_MAX (1u << 20)

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

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (err && errlen > 0)
                vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* An integer key in [lo, hi] scaled by `scale` into *ret. */
static int get_uint(json_t *v, const char *key, uint64_t lo, uint64_t hi, uint64_t scale,
                    uint64_t *ret, char *err, size_t errlen)
{
        json_int_t x;

        if (!json_is_integer(v))
                return fail(err, errlen, "%s: expected an integer in [%llu, %llu]", key,
                            (unsigned long long)lo, (unsigned long long)hi);
        x = json_integer_value(v);
        if (x < 0 || (uint64_t)x < lo || (uint64_t)x > hi)
                return fail(err, errlen, "%s: expected an integer in [%llu, %llu], got %lld", key,
                            (unsigned long long)lo, (unsigned long long)hi, (long long)x);
        *ret = (uint64_t)x * scale;
        return 0;
}

static int get_string(json_t *v, const char *key, char **ret, char *err, size_t errlen)
{
        char *s;

        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4095)
                return fail(err, errlen, "%s: expected a non-empty string", key);
        s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int parse_listen(json_t *v, NodeConfig *c, char *err, size_t errlen)
{
        size_t i;
        json_t *e;

        if (!json_is_array(v) || json_array_size(v) == 0 ||
            json_array_size(v) > NODE_CONFIG_MAX_LISTEN)
                return fail(err, errlen,
                            "listen: expected an array of 1..%u addresses (\"HOST:PORT\" or "
                            "\"unix:/path\")",
                            NODE_CONFIG_MAX_LISTEN);
        for (i = 0; i < c->n_listen; i++)
                free(c->listen[i]);
        c->n_listen = 0;
        json_array_foreach(v, i, e)
        {
                char key[32];
                int r;

                snprintf(key, sizeof(key), "listen[%zu]", i);
                c->listen[i] = NULL;
                r = get_string(e, key, &c->listen[i], err, errlen);
                if (r < 0)
                        return r;
                c->n_listen = i + 1;
        }
        return 0;
}

static int parse_cgroup(json_t *v, NodeConfig *c, char *err, size_t errlen)
{
        const char *key;
        json_t *e;
        uint64_t u;
        int r;

        if (!json_is_object(v))
                return fail(err, errlen, "cgroup: expected an object");
        json_object_foreach(v, key, e)
        {
                if (strcmp(key, "backend") == 0) {
                        const char *s = json_string_value(e);
                        if (s && strcmp(s, "auto") == 0)
                                c->cgroup_mode = CG_REQUEST_AUTO;
                        else if (s && strcmp(s, "v1") == 0)
                                c->cgroup_mode = CG_REQUEST_V1;
                        else if (s && strcmp(s, "v2") == 0)
                                c->cgroup_mode = CG_REQUEST_V2;
                        else if (s && strcmp(s, "none") == 0)
                                c->cgroup_mode = CG_REQUEST_NONE;
                        else
                                return fail(err, errlen,
                                            "cgroup.backend: expected \"auto\", \"v1\", \"v2\" or "
                                            "\"none\"");
                } else if (strcmp(key, "root") == 0) {
                        r = get_string(e, "cgroup.root", &c->cgroup_root, err, errlen);
                        if (r < 0)
                                return r;
                        if (c->cgroup_root[0] != '/')
                                return fail(err, errlen, "cgroup.root: expected an absolute path");
                } else if (strcmp(key, "period_us") == 0) {
                        r = get_uint(e, "cgroup.period_us", CG_PERIOD_MIN_US, CG_PERIOD_MAX_US, 1,
                                     &u, err, errlen);
                        if (r < 0)
                                return r;
                        c->period_us = (uint32_t)u;
                } else
                        return fail(err, errlen,
                                    "cgroup.%s: unknown key (accepted: backend, root, period_us)",
                                    key);
        }
        return 0;
}

static int parse_agent_check(json_t *v, NodeConfig *c, char *err, size_t errlen)
{
        struct sockaddr_storage ss;
        const char *key;
        json_t *e;
        uint64_t u;
        int r;

        if (!json_is_object(v))
                return fail(err, errlen, "agent_check: expected an object");
        json_object_foreach(v, key, e)
        {
                if (strcmp(key, "listen") == 0) {
                        r = get_string(e, "agent_check.listen", &c->agent_check_listen, err,
                                       errlen);
                        if (r < 0)
                                return r;
                        if (parse_tcp_address(c->agent_check_listen, &ss) < 0)
                                return fail(err, errlen,
                                            "agent_check.listen: expected \"HOST:PORT\" or "
                                            "\"[V6]:PORT\" with a numeric address");
                } else if (strcmp(key, "reference_millicores") == 0) {
                        r = get_uint(e, "agent_check.reference_millicores", 10, 1024000, 1, &u, err,
                                     errlen);
                        if (r < 0)
                                return r;
                        c->agent_check_reference_millicores = (uint32_t)u;
                } else
                        return fail(err, errlen,
                                    "agent_check.%s: unknown key (accepted: listen, "
                                    "reference_millicores)",
                                    key);
        }
        return 0;
}

static int parse_log_level(json_t *v, NodeConfig *c, char *err, size_t errlen)
{
        static const char *const names[] = {"error", "warning", "notice", "info", "debug"};
        const char *s = json_string_value(v);

        for (size_t i = 0; s && i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        c->log_level = LOG_LEVEL_ERR + (int)i;
                        return 0;
                }
        return fail(
            err, errlen,
            "log_level: expected \"error\", \"warning\", \"notice\", \"info\" or \"debug\"");
}

/* Durations in milliseconds: key, lower bound, upper bound, destination. */
typedef struct DurationKey {
        const char *key;
        uint64_t lo, hi;
        size_t offset;
} DurationKey;

static const DurationKey duration_keys[] = {
    {"interval_ms", 10, 3600000, offsetof(NodeConfig, interval_us)},
    {"downscale_delay_ms", 0, 3600000, offsetof(NodeConfig, downscale_delay_us)},
    {"max_batch_wait_ms", 0, 3600000, offsetof(NodeConfig, max_wait_us)},
    {"drain_timeout_ms", 0, 3600000, offsetof(NodeConfig, drain_timeout_us)},
    {"restart_backoff_max_ms", 10, 3600000, offsetof(NodeConfig, restart_backoff_max_us)},
    {"startup_timeout_min_ms", 100, 3600000, offsetof(NodeConfig, startup_timeout_min_us)},
    {"request_head_timeout_ms", 100, 30000, offsetof(NodeConfig, head_timeout_us)},
    {"drain_grace_ms", 0, 600000, offsetof(NodeConfig, drain_grace_us)},
};

static int parse_key(const char *key, json_t *v, NodeConfig *c, char *err, size_t errlen)
{
        uint64_t u;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(duration_keys); i++)
                if (strcmp(key, duration_keys[i].key) == 0)
                        return get_uint(
                            v, key, duration_keys[i].lo, duration_keys[i].hi, USEC_PER_MSEC,
                            (uint64_t *)((char *)c + duration_keys[i].offset), err, errlen);
        if (strcmp(key, "listen") == 0)
                return parse_listen(v, c, err, errlen);
        if (strcmp(key, "cgroup") == 0)
                return parse_cgroup(v, c, err, errlen);
        if (strcmp(key, "pipelines_dir") == 0)
                return get_string(v, key, &c->pipelines_dir, err, errlen);
        if (strcmp(key, "worker_path") == 0)
                return get_string(v, key, &c->worker_path, err, errlen);
        if (strcmp(key, "log_level") == 0)
                return parse_log_level(v, c, err, errlen);
        if (strcmp(key, "agent_check") == 0)
                return parse_agent_check(v, c, err, errlen);
        if (strcmp(key, "control") == 0 || strcmp(key, "ebpf") == 0) {
                if (!json_is_boolean(v))
                        return fail(err, errlen, "%s: expected true or false", key);
                *(key[0] == 'c' ? &c->control : &c->ebpf) = json_is_true(v);
                return 0;
        }
        if (strcmp(key, "millicores") == 0) {
                r = get_uint(v, key, 10, 1024000, 1, &u, err, errlen);
                if (r >= 0)
                        c->millicores = (uint32_t)u;
                return r;
        }
        if (strcmp(key, "max_body_bytes_in_flight") == 0)
                return get_uint(v, key, 1 << 20, UINT64_C(1) << 40, 1, &c->max_body_bytes_in_flight,
                                err, errlen);
        if (strcmp(key, "max_connections_per_ip") == 0) {
                r = get_uint(v, key, 0, 1000000, 1, &u, err, errlen);
                if (r >= 0)
                        c->max_connections_per_ip = (uint32_t)u;
                return r;
        }
        r = trust_config_key(&c->trust, key, v, err, errlen);
        if (r != -ENOENT)
                return r;
        if (strcmp(key, "max_requests") == 0) {
                r = get_uint(v, key, 1, 10000000, 1, &u, err, errlen);
                if (r >= 0)
                        c->max_requests = (uint32_t)u;
                return r;
        }
        return fail(err, errlen,
                    "%s: unknown key (accepted: listen, millicores, cgroup, pipelines_dir, "
                    "worker_path, interval_ms, downscale_delay_ms, max_batch_wait_ms, "
                    "drain_timeout_ms, drain_grace_ms, restart_backoff_max_ms, "
                    "startup_timeout_min_ms, request_head_timeout_ms, max_body_bytes_in_flight, "
                    "max_connections_per_ip, max_requests, control, ebpf, log_level, agent_check, "
                    "api_group, api_token_file, api_hosts, worker_dirs, worker_user, "
                    "max_pipelines, max_replicas)",
                    key);
}

int node_config_load(const char *path, NodeConfig *ret, char *err, size_t errlen)
{
        NodeConfig c;
        json_error_t jerr;
        json_t *root, *v;
        const char *key;
        char msg[512] = "";
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
        if (!json_is_object(root)) {
                r = fail(msg, sizeof(msg), "expected a JSON object at the top level");
                goto out;
        }
        json_object_foreach(root, key, v)
        {
                r = parse_key(key, v, &c, msg, sizeof(msg));
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
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
