/* util.c — see util.h. */
#include "agent/util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

int parse_u64(const char *s, uint64_t *ret)
{
        char *end = NULL;
        unsigned long long v;

        if (!s || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_double(const char *s, double *ret)
{
        char *end = NULL;
        double v;

        if (!s || *s == '\0' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

int buf_reserve(Buf *b, size_t more)
{
        size_t need, cap;
        uint8_t *p;

        if (more > SIZE_MAX - b->len)
                return -ENOMEM;
        need = b->len + more;
        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : 256;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int buf_append(Buf *b, const void *p, size_t n)
{
        int r = buf_reserve(b, n);

        if (r < 0)
                return r;
        if (n > 0)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

void buf_consume(Buf *b, size_t n)
{
        if (n >= b->len) {
                b->len = 0;
                return;
        }
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
}

void buf_done(Buf *b)
{
        free(b->data);
        *b = (Buf){0};
}

int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        Buf b = {0};
        ssize_t n;
        int r;

        if (fd < 0)
                return -errno;
        for (;;) {
                r = buf_reserve(&b, 4096);
                if (r < 0)
                        goto fail;
                n = read(fd, b.data + b.len, b.cap - b.len - 1);
                if (n < 0) {
                        r = -errno;
                        goto fail;
                }
                if (n == 0)
                        break;
                b.len += (size_t)n;
                if (b.len > max) {
                        r = -EFBIG;
                        goto fail;
                }
        }
        b.data[b.len] = '\0';
        *ret = (char *)b.data;
        if (ret_len)
                *ret_len = b.len;
        return 0;
fail:
        buf_done(&b);
        return r;
}

/* fsyncs the directory that holds path, so that a rename or unlink in it is durable. */
int fsync_parent_dir(const char *path)
{
        char dir[4096];
        const char *slash = strrchr(path, '/');
        _cleanup_close_ int fd = -1;
        int n;

        if (!slash)
                n = snprintf(dir, sizeof(dir), ".");
        else
                n = snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path),
                             path);
        if (n < 0 || (size_t)n >= sizeof(dir))
                return -ENAMETOOLONG;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len)
{
        static unsigned counter;
        char tmp[4096];
        _cleanup_close_ int fd = -1;
        const uint8_t *p = data;
        int r, n = snprintf(tmp, sizeof(tmp), "%s" WRITE_ATOMIC_TMP_INFIX "%d.%u", path,
                            (int)getpid(), counter++);

        if (n < 0 || (size_t)n >= sizeof(tmp))
                return -ENAMETOOLONG;
        /* A new file of our own: never one planted there before, never through a symlink. */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t w = write(fd, p, len);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        unlink(tmp);
                        return r;
                }
                p += w;
                len -= (size_t)w;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        return fsync_parent_dir(path);
}

int parse_tcp_address(const char *spec, struct sockaddr_storage *ss)
{
        char host[256];
        const char *colon = strrchr(spec, ':');
        uint64_t port;
        size_t n;

        if (!colon || parse_u64(colon + 1, &port) < 0 || port == 0 || port > 65535)
                return -EINVAL;
        n = (size_t)(colon - spec);
        if (n == 0 || n >= sizeof(host))
                return -EINVAL;
        memcpy(host, spec, n);
        host[n] = '\0';
        memset(ss, 0, sizeof(*ss));
        if (host[0] == '[' && host[n - 1] == ']') {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
                host[n - 1] = '\0';
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t)port);
                return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1 ? 0 : -EINVAL;
        }
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -EINVAL;
}
