/* trust.c — the node config's trust keys: see trust.h. */
#include "agent/trust.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/execpath.h"
#include "agent/util.h"
#include "pipelines/jsoncheck.h"

#ifndef SPONGED_LIBEXECDIR
#define SPONGED_LIBEXECDIR "/usr/local/libexec/sponged"
#endif
#define TOKEN_FILE_MAX 4096
#define CAP_SETUID_BIT 7

/* One of the integer keys max_pipelines, max_replicas. */
static int set_cap(jc_ctx *c, const json_t *v, unsigned *ret)
{
        uint64_t u;
        int r = jc_read_u64(c, v, 1, 100000, &u);

        if (r == 0)
                *ret = (unsigned)u;
        return r;
}

static int set_worker_dirs(TrustConfig *t, jc_ctx *c, const json_t *v)
{
        t->worker_dirs_set = true;
        return jc_set_strings(c, v, TRUST_MAX_WORKER_DIRS, NODE_CONFIG_STRING_MAX, t->worker_dirs,
                              &t->n_worker_dirs);
}

int trust_config_key(TrustConfig *t, const char *key, const json_t *v, char *err, size_t errlen)
{
        jc_ctx c;

        jc_init(&c, key, err, errlen);
        if (strcmp(key, "api_group") == 0)
                return jc_set_string(&c, v, NODE_CONFIG_STRING_MAX, &t->api_group);
        if (strcmp(key, "api_token_file") == 0) {
                if (json_is_string(v) && json_string_value(v)[0] != '/')
                        return jc_fail(&c, "expected an absolute path");
                return jc_set_string(&c, v, NODE_CONFIG_STRING_MAX, &t->api_token_file);
        }
        if (strcmp(key, "api_hosts") == 0)
                return jc_set_strings(&c, v, TRUST_MAX_HOSTS, NODE_CONFIG_STRING_MAX, t->api_hosts,
                                      &t->n_api_hosts);
        if (strcmp(key, "worker_dirs") == 0)
                return set_worker_dirs(t, &c, v);
        if (strcmp(key, "max_pipelines") == 0)
                return set_cap(&c, v, &t->max_pipelines);
        if (strcmp(key, "max_replicas") == 0)
                return set_cap(&c, v, &t->max_replicas);
        if (strcmp(key, "worker_user") == 0) {
                t->worker_user_set = true;
                return jc_set_string(&c, v, NODE_CONFIG_STRING_MAX, &t->worker_user);
        }
        return -ENOENT;
}

static bool all_graph(const char *s)
{
        for (; *s; s++)
                if (!isgraph((unsigned char)*s))
                        return false;
        return true;
}

/* The bearer token: the file's first line, from a regular file that only its owner (root or the
 * agent's uid) can read or write — as ssh checks a private key. */
static int load_token(TrustConfig *t, char *err, size_t errlen)
{
        _cleanup_close_ int fd = open(t->api_token_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char buf[TOKEN_FILE_MAX + 1];
        struct stat st;
        ssize_t n;
        int open_errno = errno; /* before jc_init's snprintf */
        jc_ctx c;

        jc_init(&c, "api_token_file", err, errlen);
        if (fd < 0)
                return jc_fail(&c, "cannot open %s: %s", t->api_token_file, strerror(open_errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return jc_fail(&c, "%s is not a regular file", t->api_token_file);
        if (st.st_mode & 077)
                return jc_fail(&c,
                               "%s has mode %04o; it must not be readable or "
                               "writable by group or others (chmod 600)",
                               t->api_token_file, (unsigned)(st.st_mode & 07777));
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return jc_fail(&c,
                               "%s is owned by uid %u; it must be owned by root or "
                               "the agent's uid %u",
                               t->api_token_file, (unsigned)st.st_uid, (unsigned)geteuid());
        n = read(fd, buf, TOKEN_FILE_MAX);
        if (n < 0)
                return jc_fail(&c, "cannot read %s: %s", t->api_token_file, strerror(errno));
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (strlen(buf) < TRUST_TOKEN_MIN || !all_graph(buf)) {
                explicit_bzero(buf, sizeof(buf));
                return jc_fail(&c,
                               "%s: the first line must be at least %u printable "
                               "characters without spaces (e.g. `openssl rand -hex 32`)",
                               t->api_token_file, TRUST_TOKEN_MIN);
        }
        t->api_token = strdup(buf);
        explicit_bzero(buf, sizeof(buf));
        return t->api_token ? 0 : -ENOMEM;
}

/* Does this process hold CAP_SETUID in its effective set? (root normally does.) */
static bool have_cap_setuid(void)
{
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        uint64_t eff = 0;
        bool found = false;

        if (!f)
                return geteuid() == 0;
        while (!found && fgets(line, sizeof(line), f))
                found = sscanf(line, "CapEff:\t%" SCNx64, &eff) == 1;
        fclose(f);
        if (!found)
                return geteuid() == 0;
        return (eff >> CAP_SETUID_BIT) & 1;
}

static int resolve_user(TrustConfig *t, char *err, size_t errlen)
{
        const char *name = t->worker_user ? t->worker_user : TRUST_DEFAULT_USER;
        struct passwd *pw;
        jc_ctx c;

        jc_init(&c, "worker_user", err, errlen);
        if (!have_cap_setuid()) {
                snprintf(t->note, sizeof(t->note),
                         "workers run as the agent's uid %u (no CAP_SETUID to switch to %s)",
                         (unsigned)geteuid(), name);
                return 0;
        }
        errno = 0;
        pw = getpwnam(name);
        if (!pw) {
                if (t->worker_user_set)
                        return jc_fail(&c, "no user named \"%s\"", name);
                snprintf(t->note, sizeof(t->note),
                         "workers run as the agent's uid %u with no capabilities: the user %s "
                         "does not exist (create it with systemd/sponged.sysusers, or name "
                         "another in worker_user)",
                         (unsigned)geteuid(), name);
                return 0;
        }
        if (pw->pw_uid == 0)
                return jc_fail(&c, "\"%s\" is root; name an unprivileged user", name);
        t->worker_switch = true;
        t->worker_uid = pw->pw_uid;
        t->worker_gid = pw->pw_gid;
        snprintf(t->note, sizeof(t->note), "workers run as user %s (uid %u, gid %u)", name,
                 (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
        return 0;
}

/* Adds a directory (canonicalised) to the worker directories; a default that does not exist is
 * left out, a configured one is an error. */
static int add_worker_dir(TrustConfig *t, size_t i, const char *dir, bool configured, char *err,
                          size_t errlen)
{
        char real[PATH_MAX];
        jc_ctx c;

        if (!realpath(dir, real)) {
                int e = errno; /* before jc_init's snprintf */
                jc_init(&c, "worker_dirs", err, errlen);
                jc_push_index(&c, i);
                if (configured)
                        return jc_fail(&c, "%s: %s", dir, strerror(e));
                return 0;
        }
        for (size_t k = 0; k < t->n_worker_dirs; k++)
                if (strcmp(t->worker_dirs[k], real) == 0)
                        return 0;
        t->worker_dirs[t->n_worker_dirs] = strdup(real);
        if (!t->worker_dirs[t->n_worker_dirs])
                return -ENOMEM;
        t->n_worker_dirs++;
        return 0;
}

static int not_absolute(size_t i, char *err, size_t errlen)
{
        jc_ctx c;

        jc_init(&c, "worker_dirs", err, errlen);
        jc_push_index(&c, i);
        return jc_fail(&c, "expected an absolute path");
}

static int resolve_worker_dirs(TrustConfig *t, char *err, size_t errlen)
{
        char *given[TRUST_MAX_WORKER_DIRS], self[PATH_MAX], rel[PATH_MAX + 32];
        size_t n = t->n_worker_dirs;
        ssize_t k;
        int r = 0;

        memcpy(given, t->worker_dirs, sizeof(given));
        t->n_worker_dirs = 0;
        if (t->worker_dirs_set) {
                for (size_t i = 0; i < n && r >= 0; i++) {
                        if (given[i][0] != '/')
                                r = not_absolute(i, err, errlen);
                        else
                                r = add_worker_dir(t, i, given[i], true, err, errlen);
                }
                for (size_t i = 0; i < n; i++)
                        free(given[i]);
                return r;
        }
        /* Defaults: the directory of the sponged binary, ../libexec/sponged beside it (a
         * relocated install: the .deb puts /usr/bin/sponged beside /usr/libexec/sponged while
         * the build's prefix was /usr/local) and the build's libexec directory. */
        k = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (k > 0) {
                self[k] = '\0';
                if (strrchr(self, '/'))
                        *strrchr(self, '/') = '\0';
                r = add_worker_dir(t, 0, self, false, err, errlen);
                k = snprintf(rel, sizeof(rel), "%s/../libexec/sponged", self);
                if (r >= 0 && k > 0 && (size_t)k < sizeof(rel))
                        r = add_worker_dir(t, 1, rel, false, err, errlen);
        }
        if (r >= 0)
                r = add_worker_dir(t, 2, SPONGED_LIBEXECDIR, false, err, errlen);
        return r;
}

int trust_config_finish(TrustConfig *t, char *err, size_t errlen)
{
        const char *group = t->api_group ? t->api_group : TRUST_DEFAULT_GROUP;
        struct group *gr;
        int r;

        if (!t->max_pipelines)
                t->max_pipelines = TRUST_DEFAULT_MAX_PIPELINES;
        if (!t->max_replicas)
                t->max_replicas = TRUST_DEFAULT_MAX_REPLICAS;
        gr = getgrnam(group);
        if (gr) {
                t->api_gid_valid = true;
                t->api_gid = gr->gr_gid;
        } else if (t->api_group) {
                jc_ctx c;
                jc_init(&c, "api_group", err, errlen);
                return jc_fail(&c, "no group named \"%s\"", group);
        }
        if (t->api_token_file) {
                r = load_token(t, err, errlen);
                if (r < 0)
                        return r;
        }
        r = resolve_worker_dirs(t, err, errlen);
        if (r < 0)
                return r;
        return resolve_user(t, err, errlen);
}

void trust_config_done(TrustConfig *t)
{
        if (!t)
                return;
        free(t->api_group);
        free(t->api_token_file);
        if (t->api_token) {
                explicit_bzero(t->api_token, strlen(t->api_token));
                free(t->api_token);
        }
        for (size_t i = 0; i < t->n_api_hosts; i++)
                free(t->api_hosts[i]);
        for (size_t i = 0; i < t->n_worker_dirs; i++)
                free(t->worker_dirs[i]);
        free(t->worker_user);
        *t = (TrustConfig){0};
}
