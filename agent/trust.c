/* trust.c — the node config's trust keys: see trust.h. */
#include "agent/trust.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/execpath.h"
#include "agent/util.h"

#ifndef SPONGED_LIBEXECDIR
#define SPONGED_LIBEXECDIR "/usr/local/libexec/sponged"
#endif
#define TOKEN_FILE_MAX 4096
#define CAP_SETUID_BIT 7

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

static int set_string(json_t *v, const char *key, char **ret, char *err, size_t errlen)
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

/* An array of 0..max non-empty strings into out[] (previous contents freed). */
static int set_strings(json_t *v, const char *key, char **out, size_t max, size_t *n, char *err,
                       size_t errlen)
{
        json_t *e;
        size_t i;

        if (!json_is_array(v) || json_array_size(v) > max)
                return fail(err, errlen, "%s: expected an array of at most %zu strings", key, max);
        for (i = 0; i < *n; i++)
                free(out[i]);
        *n = 0;
        json_array_foreach(v, i, e)
        {
                char k[64];
                int r;

                snprintf(k, sizeof(k), "%s[%zu]", key, i);
                out[i] = NULL;
                r = set_string(e, k, &out[i], err, errlen);
                if (r < 0)
                        return r;
                *n = i + 1;
        }
        return 0;
}

int trust_config_key(TrustConfig *t, const char *key, json_t *v, char *err, size_t errlen)
{
        if (strcmp(key, "api_group") == 0)
                return set_string(v, key, &t->api_group, err, errlen);
        if (strcmp(key, "api_token_file") == 0) {
                if (json_is_string(v) && json_string_value(v)[0] != '/')
                        return fail(err, errlen, "api_token_file: expected an absolute path");
                return set_string(v, key, &t->api_token_file, err, errlen);
        }
        if (strcmp(key, "api_hosts") == 0)
                return set_strings(v, key, t->api_hosts, TRUST_MAX_HOSTS, &t->n_api_hosts, err,
                                   errlen);
        if (strcmp(key, "worker_dirs") == 0) {
                int r = set_strings(v, key, t->worker_dirs, TRUST_MAX_WORKER_DIRS,
                                    &t->n_worker_dirs, err, errlen);
                t->worker_dirs_set = true;
                return r;
        }
        if (strcmp(key, "max_pipelines") == 0 || strcmp(key, "max_replicas") == 0) {
                json_int_t x = json_integer_value(v);
                if (!json_is_integer(v) || x < 1 || x > 100000)
                        return fail(err, errlen, "%s: expected an integer in [1, 100000]", key);
                *(key[4] == 'p' ? &t->max_pipelines : &t->max_replicas) = (unsigned)x;
                return 0;
        }
        if (strcmp(key, "worker_user") == 0) {
                t->worker_user_set = true;
                return set_string(v, key, &t->worker_user, err, errlen);
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

        if (fd < 0)
                return fail(err, errlen, "api_token_file: cannot open %s: %s", t->api_token_file,
                            strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return fail(err, errlen, "api_token_file: %s is not a regular file",
                            t->api_token_file);
        if (st.st_mode & 077)
                return fail(err, errlen,
                            "api_token_file: %s has mode %04o; it must not be readable or "
                            "writable by group or others (chmod 600)",
                            t->api_token_file, (unsigned)(st.st_mode & 07777));
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return fail(err, errlen,
                            "api_token_file: %s is owned by uid %u; it must be owned by root or "
                            "the agent's uid %u",
                            t->api_token_file, (unsigned)st.st_uid, (unsigned)geteuid());
        n = read(fd, buf, TOKEN_FILE_MAX);
        if (n < 0)
                return fail(err, errlen, "api_token_file: cannot read %s: %s", t->api_token_file,
                            strerror(errno));
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (strlen(buf) < TRUST_TOKEN_MIN || !all_graph(buf)) {
                explicit_bzero(buf, sizeof(buf));
                return fail(err, errlen,
                            "api_token_file: %s: the first line must be at least %u printable "
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
                        return fail(err, errlen, "worker_user: no user named \"%s\"", name);
                snprintf(t->note, sizeof(t->note),
                         "workers run as the agent's uid %u with no capabilities: the user %s "
                         "does not exist (create it with systemd/sponged.sysusers, or name "
                         "another in worker_user)",
                         (unsigned)geteuid(), name);
                return 0;
        }
        if (pw->pw_uid == 0)
                return fail(err, errlen, "worker_user: \"%s\" is root; name an unprivileged user",
                            name);
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

        if (!realpath(dir, real)) {
                if (configured)
                        return fail(err, errlen, "worker_dirs[%zu]: %s: %s", i, dir,
                                    strerror(errno));
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
                                r = fail(err, errlen, "worker_dirs[%zu]: expected an absolute path",
                                         i);
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
        } else if (t->api_group)
                return fail(err, errlen, "api_group: no group named \"%s\"", group);
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
