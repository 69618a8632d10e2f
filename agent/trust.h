/* trust.h — the node config's trust keys: who may change things over the API (a UNIX group, a
 * bearer token file for TCP, extra Host names), which programs may run as workers (trusted
 * worker directories) and as whom (the worker user).
 *
 * Keys (all optional): "api_group" (default "sponged"), "api_token_file", "api_hosts",
 * "worker_dirs", "worker_user" (default "sponged-worker"), and the node-wide caps on what changes
 * may ask for: "max_pipelines" (default 64), "max_replicas" (default 256, the sum of every
 * stage's replicas.max over all pipelines). trust_config_finish() resolves the
 * names (getgrnam/getpwnam), reads and checks the token file (regular, mode 0600 or stricter,
 * owned by root or the agent's uid) and the worker directories, once per config load.
 * Lifecycle: embedded in NodeConfig, which owns every string here; trust_config_done() wipes the
 * token before freeing it.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define NODE_CONFIG_STRING_MAX      4095u /* bytes of any string value in the node config */
#define TRUST_MAX_HOSTS             8u
#define TRUST_MAX_WORKER_DIRS       8u
#define TRUST_DEFAULT_GROUP         "sponged"
#define TRUST_DEFAULT_USER          "sponged-worker"
#define TRUST_TOKEN_MIN             16u
#define TRUST_DEFAULT_MAX_PIPELINES 64u
#define TRUST_DEFAULT_MAX_REPLICAS  256u

typedef struct TrustConfig {
        char *api_group; /* owned; NULL = default */
        bool api_gid_valid;
        gid_t api_gid;
        char *api_token_file;             /* owned; NULL = no changes over TCP */
        char *api_token;                  /* owned, the file's first line */
        char *api_hosts[TRUST_MAX_HOSTS]; /* owned: Host names accepted besides loopback */
        size_t n_api_hosts;
        char *worker_dirs[TRUST_MAX_WORKER_DIRS]; /* owned, canonical (realpath) */
        size_t n_worker_dirs;
        bool worker_dirs_set; /* from the file (else the defaults) */
        char *worker_user;    /* owned; NULL = default */
        bool worker_user_set; /* named in the file */
        bool worker_switch;   /* workers get worker_uid/gid (agent is root or has CAP_SETUID) */
        uid_t worker_uid;
        gid_t worker_gid;
        unsigned max_pipelines;
        unsigned max_replicas;
        char note[512]; /* one line for the log at load: what was decided and why */
} TrustConfig;

/* Parses one key. Returns 0, -EINVAL (message in err), -ENOMEM, or -ENOENT when the key is not
 * one of the trust keys. */
int trust_config_key(TrustConfig *t, const char *key, const json_t *v, char *err, size_t errlen);
/* Resolves group, user, token and directories after parsing. Returns 0 or -EINVAL / -errno with
 * the reason in err. */
int trust_config_finish(TrustConfig *t, char *err, size_t errlen);
void trust_config_done(TrustConfig *t);
