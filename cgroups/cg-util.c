/* SPDX-License-Identifier: see LICENSE */
/*
 * Error text, file helpers and the kill/walk loops shared by the v1 and v2 backends.
 * Every fd is opened O_CLOEXEC; every path is built with a truncation check.
 */
#include "cgroups/cg-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cg__fail(cg_ctx *ctx, int r, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (!ctx)
                return r;
        va_start(ap, fmt);
        n = vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof(ctx->err))
                snprintf(ctx->err + n, sizeof(ctx->err) - (size_t)n, ": %s", strerror(-r));
        return r;
}

int cg__lcg_errno(int lcg_ret)
{
        int e;

        switch (lcg_ret) {
        case 0:
                return 0;
        case ECGOTHER:
                e = cgroup_get_last_errno();
                return e > 0 ? -e : -EIO;
        case ECGROUPNOTEXIST:
                return -ENOENT;
        case ECGROUPNOTOWNER:
        case ECGROUPNOTALLOWED:
                return -EPERM;
        case ECGROUPNOTMOUNTED:
        case ECGROUPSUBSYSNOTMOUNTED:
                return -ENODEV;
        case ECGINVAL:
                return -EINVAL;
        default:
                e = cgroup_get_last_errno();
                return e > 0 ? -e : -EIO;
        }
}

int cg__join(char *buf, size_t size, const char *dir, const char *name)
{
        int n = snprintf(buf, size, "%s/%s", dir, name);

        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int cg__open_at(const char *dir, const char *name, int flags)
{
        char path[PATH_MAX];
        int fd, r;

        r = cg__join(path, sizeof(path), dir, name);
        if (r < 0)
                return r;
        fd = open(path, flags | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int cg__write_at(const char *dir, const char *name, const char *value)
{
        size_t len = strlen(value);
        ssize_t n;
        int fd, r = 0;

        /* O_TRUNC is what `echo v > file` does and cgroupfs ignores it; a regular file (the unit
         * tests' fake root) then holds exactly the value */
        fd = cg__open_at(dir, name, O_WRONLY | O_TRUNC);
        if (fd < 0)
                return fd;
        n = write(fd, value, len);
        if (n < 0)
                r = -errno;
        else if ((size_t)n != len)
                r = -EIO;
        close(fd);
        return r;
}

int cg__read_at(const char *dir, const char *name, char *buf, size_t size)
{
        int fd, r;

        fd = cg__open_at(dir, name, O_RDONLY);
        if (fd < 0)
                return fd;
        r = cg__pread_str(fd, buf, size);
        close(fd);
        return r;
}

int cg__pread_str(int fd, char *buf, size_t size)
{
        size_t off = 0;

        if (size == 0)
                return -ENOBUFS;
        /* cgroup files are generated on read; one pread normally returns everything, loop for
         * the long ones (cgroup.procs) and stop at EOF. */
        while (off < size - 1) {
                ssize_t n = pread(fd, buf + off, size - 1 - off, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                off += (size_t)n;
        }
        buf[off] = '\0';
        return (int)off;
}

int cg__read_all(const char *path, char **ret)
{
        size_t cap = 4096, len = 0;
        char *buf = NULL;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t n;

                if (!buf || len + 1 >= cap) {
                        char *nb;
                        if (buf)
                                cap *= 2;
                        nb = realloc(buf, cap);
                        if (!nb) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = nb;
                }
                n = read(fd, buf + len, cap - 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (r < 0) {
                free(buf);
                return r;
        }
        buf[len] = '\0';
        *ret = buf;
        return 0;
}

int cg__mkdir_below(const char *base, const char *rel)
{
        char path[PATH_MAX];
        size_t blen = strlen(base), i;
        int r;

        r = cg__join(path, sizeof(path), base, rel);
        if (r < 0)
                return r;
        /* Walk the separators of the rel part and create each prefix, then the whole. */
        for (i = blen + 1;; i++) {
                if (path[i] == '/' || path[i] == '\0') {
                        char c = path[i];
                        struct stat st;

                        path[i] = '\0';
                        if (mkdir(path, 0755) < 0) {
                                if (errno != EEXIST)
                                        return -errno;
                                /* EEXIST for a regular file (e.g. a name like "cpu.max") */
                                if (stat(path, &st) < 0)
                                        return -errno;
                                if (!S_ISDIR(st.st_mode))
                                        return -EEXIST;
                        }
                        path[i] = c;
                        if (c == '\0')
                                break;
                }
        }
        return 0;
}

int cg__parse_pids(const char *text, pid_t **ret, size_t *ret_n)
{
        const char *p = text;
        pid_t *pids = NULL;
        size_t n = 0, cap = 0;

        while (*p) {
                uint64_t v;
                const char *eol;
                int r;

                if (*p == '\n') {
                        p++;
                        continue;
                }
                r = cg_parse_u64(p, &v);
                if (r < 0 || v == 0 || v > INT32_MAX) {
                        free(pids);
                        return r < 0 ? r : -EINVAL;
                }
                if (n == cap) {
                        pid_t *np;
                        cap = cap ? cap * 2 : 16;
                        np = reallocarray(pids, cap, sizeof(*pids));
                        if (!np) {
                                free(pids);
                                return -ENOMEM;
                        }
                        pids = np;
                }
                pids[n++] = (pid_t)v;
                eol = strchr(p, '\n');
                p = eol ? eol + 1 : p + strlen(p);
        }
        *ret = pids;
        *ret_n = n;
        return 0;
}

int cg__read_pids(const char *dir, pid_t **ret, size_t *ret_n)
{
        char path[PATH_MAX];
        char *text = NULL;
        int r;

        r = cg__join(path, sizeof(path), dir, "cgroup.procs");
        if (r < 0)
                return r;
        r = cg__read_all(path, &text);
        if (r == -ENOENT || r == -ENODEV) {
                /* the group is already gone: nothing in it */
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        r = cg__parse_pids(text, ret, ret_n);
        free(text);
        return r;
}

uint64_t cg__now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void cg__sleep_us(uint64_t us)
{
        struct timespec ts = {.tv_sec = (time_t)(us / 1000000u),
                              .tv_nsec = (long)(us % 1000000u) * 1000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Back-off between polls of cgroup.procs: 0.2 ms doubling to 20 ms. */
static uint64_t next_backoff(uint64_t us)
{
        return us >= 10000 ? 20000 : us * 2;
}

int cg__kill_until_empty(const char *dir, uint64_t wait_us)
{
        uint64_t deadline = cg__now_us() + wait_us, backoff = 200;

        for (;;) {
                pid_t *pids = NULL;
                size_t n = 0, i;
                int r;

                r = cg__read_pids(dir, &pids, &n);
                if (r < 0)
                        return r;
                if (n == 0)
                        return 0;
                /* A pid read here may exit and be reused before the kill; the window is the
                 * same one systemd accepts (cg_kill). A task forked meanwhile is caught by the
                 * next round. */
                for (i = 0; i < n; i++)
                        if (pids[i] != getpid()) /* never ourselves: then -EBUSY below */
                                (void)kill(pids[i], SIGKILL);
                free(pids);
                if (cg__now_us() >= deadline)
                        return -EBUSY;
                cg__sleep_us(backoff);
                backoff = next_backoff(backoff);
        }
}

int cg__wait_empty(const char *dir, uint64_t wait_us)
{
        uint64_t deadline = cg__now_us() + wait_us, backoff = 200;

        for (;;) {
                pid_t *pids = NULL;
                size_t n = 0;
                int r;

                r = cg__read_pids(dir, &pids, &n);
                if (r < 0)
                        return r;
                free(pids);
                if (n == 0)
                        return 0;
                if (cg__now_us() >= deadline)
                        return -EBUSY;
                cg__sleep_us(backoff);
                backoff = next_backoff(backoff);
        }
}

int cg__walk_post(const char *dir, cg__dir_fn fn, void *arg)
{
        char path[PATH_MAX];
        struct dirent *de;
        DIR *d;
        int count = 0, first_err = 0;

        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                int r;

                if (de->d_name[0] == '.')
                        continue;
                if (de->d_type == DT_UNKNOWN) { /* file systems without d_type */
                        struct stat st;
                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                            !S_ISDIR(st.st_mode))
                                continue;
                } else if (de->d_type != DT_DIR) {
                        continue;
                }
                r = cg__join(path, sizeof(path), dir, de->d_name);
                if (r < 0) {
                        if (!first_err)
                                first_err = r;
                        continue;
                }
                r = cg__walk_post(path, fn, arg);
                if (r < 0 && !first_err)
                        first_err = r;
                if (r > 0)
                        count += r;
                r = fn(path, arg);
                if (r < 0) {
                        if (!first_err)
                                first_err = r;
                } else {
                        count += r;
                }
        }
        closedir(d);
        return first_err ? first_err : count;
}

bool cg__path_in_use(const cg_ctx *ctx, const char *path)
{
        size_t plen = strlen(path);
        const cg_group *g;

        for (g = ctx->groups; g; g = g->next) {
                const char *paths[2] = {g->path, g->acct_path};
                size_t i;

                for (i = 0; i < 2; i++) {
                        const char *gp = paths[i];
                        if (gp && strncmp(gp, path, plen) == 0 &&
                            (gp[plen] == '\0' || gp[plen] == '/'))
                                return true;
                }
        }
        return false;
}
