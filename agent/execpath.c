/* execpath.c — which programs may run as workers: see execpath.h. */
#include "agent/execpath.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/trust.h"

static bool trusted_owner(uid_t uid)
{
        return uid == 0 || uid == geteuid();
}

/* One existing path (file or directory): owner and mode as execpath.h says. */
static int check_one(const char *path, bool want_dir, char *why, size_t whylen)
{
        struct stat st;

        if (lstat(path, &st) < 0) {
                int r = -errno;
                snprintf(why, whylen, "%s: %s", path, strerror(-r));
                return r;
        }
        if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
                snprintf(why, whylen, "%s is not a %s", path,
                         want_dir ? "directory" : "regular file");
                return -EACCES;
        }
        if (!trusted_owner(st.st_uid)) {
                snprintf(why, whylen,
                         "%s is owned by uid %u; it must be owned by root or the agent's uid %u",
                         path, (unsigned)st.st_uid, (unsigned)geteuid());
                return -EACCES;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                snprintf(why, whylen, "%s is writable by %s (mode %04o)", path,
                         st.st_mode & S_IWOTH ? "others" : "its group",
                         (unsigned)(st.st_mode & 07777));
                return -EACCES;
        }
        return 0;
}

int execpath_check_dir(const char *dir, char *why, size_t whylen)
{
        char p[PATH_MAX];
        size_t n = strlen(dir);
        int r;

        if (n == 0 || n >= sizeof(p) || dir[0] != '/') {
                snprintf(why, whylen, "%s is not an absolute path", dir);
                return -EINVAL;
        }
        memcpy(p, dir, n + 1);
        /* From the directory up to /: every component must be trusted. */
        for (;;) {
                r = check_one(p[0] ? p : "/", true, why, whylen);
                if (r < 0 || p[0] == '\0' || strcmp(p, "/") == 0)
                        return r;
                *strrchr(p, '/') = '\0';
        }
}

/* Finds argv0 without resolving it: as given (with a slash), else the first executable in the
 * search directories. */
static int find(const TrustConfig *t, const char *worker_path, const char *argv0, char *ret,
                size_t size)
{
        const char *path = getenv("PATH");
        char dirs[8192], *save = NULL, *dir;
        size_t len = 0;
        int k;

        if (strchr(argv0, '/')) {
                k = snprintf(ret, size, "%s", argv0);
                if (k < 0 || (size_t)k >= size)
                        return -ENAMETOOLONG;
                return access(ret, X_OK) == 0 ? 0 : -ENOENT;
        }
        dirs[0] = '\0';
        k = snprintf(dirs, sizeof(dirs), "%s:", worker_path ? worker_path : "");
        for (size_t i = 0; k >= 0 && i < t->n_worker_dirs; i++) {
                len = strlen(dirs);
                k = snprintf(dirs + len, sizeof(dirs) - len, "%s:", t->worker_dirs[i]);
        }
        len = strlen(dirs);
        k = snprintf(dirs + len, sizeof(dirs) - len, "%s",
                     path ? path : "/usr/local/bin:/usr/bin:/bin");
        if (k < 0 || (size_t)k >= sizeof(dirs) - len)
                return -ENAMETOOLONG;
        for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                k = snprintf(ret, size, "%s/%s", dir, argv0);
                if (k > 0 && (size_t)k < size && access(ret, X_OK) == 0)
                        return 0;
        }
        return -ENOENT;
}

static const char *worker_dir_of(const TrustConfig *t, const char *real)
{
        for (size_t i = 0; i < t->n_worker_dirs; i++) {
                size_t n = strlen(t->worker_dirs[i]);
                if (strncmp(real, t->worker_dirs[i], n) == 0 &&
                    (real[n] == '/' || strcmp(t->worker_dirs[i], "/") == 0))
                        return t->worker_dirs[i];
        }
        return NULL;
}

static void list_dirs(const TrustConfig *t, char *out, size_t size)
{
        size_t len = 0;

        out[0] = '\0';
        for (size_t i = 0; i < t->n_worker_dirs && len < size; i++) {
                int k = snprintf(out + len, size - len, "%s%s", i ? ", " : "", t->worker_dirs[i]);
                if (k < 0)
                        return;
                len += (size_t)k;
        }
        if (t->n_worker_dirs == 0)
                snprintf(out, size, "none");
}

int execpath_resolve(const TrustConfig *t, const char *worker_path, const char *argv0, char *ret,
                     size_t size, char *why, size_t whylen)
{
        char found[PATH_MAX], real[PATH_MAX], dirs[1024], parent[PATH_MAX];
        int r = find(t, worker_path, argv0, found, sizeof(found));

        if (r < 0) {
                snprintf(why, whylen,
                         "worker program \"%.200s\" not found (searched worker_path, the worker "
                         "directories and PATH)",
                         argv0);
                return r;
        }
        if (!realpath(found, real)) {
                r = -errno;
                snprintf(why, whylen, "worker program %.200s: %s", found, strerror(-r));
                return r;
        }
        if (!worker_dir_of(t, real)) {
                list_dirs(t, dirs, sizeof(dirs));
                snprintf(why, whylen,
                         "worker program \"%.200s\" (%.200s) is not in a worker directory "
                         "(worker_dirs: %.400s)",
                         argv0, real, dirs);
                return -EACCES;
        }
        r = check_one(real, false, why, whylen);
        if (r >= 0) {
                snprintf(parent, sizeof(parent), "%s", real);
                *strrchr(parent, '/') = '\0';
                r = execpath_check_dir(parent[0] ? parent : "/", why, whylen);
        }
        if (r < 0) {
                char inner[512];
                snprintf(inner, sizeof(inner), "%s", why);
                snprintf(why, whylen, "worker program \"%.200s\" refused: %s", argv0, inner);
                return r == -EINVAL ? -EACCES : r;
        }
        if (strlen(real) >= size)
                return -ENAMETOOLONG;
        memcpy(ret, real, strlen(real) + 1);
        return 0;
}

int execpath_check_pipeline(const TrustConfig *t, const char *worker_path, const pl_pipeline *cfg,
                            char *why, size_t whylen)
{
        char real[PATH_MAX], inner[768];

        for (size_t s = 0; s < cfg->n_stages; s++)
                for (size_t v = 0; v < cfg->stages[s].n_variants; v++) {
                        int r = execpath_resolve(t, worker_path, cfg->stages[s].variants[v].argv[0],
                                                 real, sizeof(real), inner, sizeof(inner));
                        if (r < 0) {
                                snprintf(why, whylen, "stages[%zu].variants[%zu].command[0]: %s", s,
                                         v, inner);
                                return r;
                        }
                }
        return 0;
}
