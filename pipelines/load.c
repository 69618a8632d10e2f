/* SPDX-License-Identifier: MIT */
/*
 * Loading a pipeline file: pl_read_fd() (a whole fd into memory, with a size limit) and
 * pl_load_file() (open, read, parse; errors prefixed with the path). The fd is read, never
 * closed, by pl_read_fd(); pl_load_file() opens O_CLOEXEC and closes before parsing.
 */
#include "pipelines/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipelines/pipeline-internal.h"

#define READ_CHUNK (64u * 1024)

/* Grows buf to hold cap bytes plus the NUL: at most max + 1, one byte past the limit being
 * enough to tell the input is too large. */
static int grow(char **buf, size_t *cap, size_t max)
{
        if (*cap > max)
                return -EFBIG;
        size_t ncap = *cap * 2 > max ? max + 1 : *cap * 2;
        char *nb = realloc(*buf, ncap + 1);
        if (!nb)
                return -ENOMEM;
        *buf = nb;
        *cap = ncap;
        return 0;
}

int pl_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
        size_t cap = max < READ_CHUNK ? max + 1 : READ_CHUNK, len = 0;
        _cleanup_free_ char *buf = malloc(cap + 1);
        int r;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len == cap && (r = grow(&buf, &cap, max)) < 0)
                        return r;
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret_buf = buf;
        *ret_len = len;
        buf = NULL;
        return 0;
}

int pl_load_file(const char *path, pl_pipeline **ret, char *err, size_t errlen)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                if (err && errlen)
                        snprintf(err, errlen, "%s: cannot open: %m", path);
                return r;
        }
        r = pl_read_fd(fd, PL_FILE_BYTES_MAX, &buf, &len);
        close(fd);
        if (r < 0) {
                errno = -r;
                if (err && errlen && r == -EFBIG)
                        snprintf(err, errlen, "%s: cannot read: larger than %u bytes", path,
                                 PL_FILE_BYTES_MAX);
                else if (err && errlen)
                        snprintf(err, errlen, "%s: cannot read: %m", path);
                return r;
        }

        char msg[1024];
        bool syntax;
        r = pl__parse_text(buf, len, ret, msg, sizeof(msg), &syntax);
        if (r < 0 && err && errlen)
                snprintf(err, errlen, "%s:%s%s", path, syntax ? "" : " ", msg);
        return r;
}
