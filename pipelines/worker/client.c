/* SPDX-License-Identifier: MIT */
/* The agent side of one worker connection; see client.h. */
#include "pipelines/worker/client.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void spc_frame_done(spc_conn *c)
{
        spp_buf_consume(&c->rbuf, c->pending);
        c->pending = 0;
}

int spc_read_frame(spc_conn *c, int timeout_ms, spp_frame *ret)
{
        uint64_t end = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : UINT64_MAX;

        spc_frame_done(c);
        if (c->fd < 0)
                return -EBADF;
        for (;;) {
                size_t used;
                int r = spp_frame_parse(c->rbuf.data, c->rbuf.len, c->max_frame, ret, &used);
                if (r == 0)
                        c->pending = used;
                if (r != -EAGAIN)
                        return r;
                int wait_ms = -1;
                if (end != UINT64_MAX) {
                        uint64_t now = now_ms();
                        if (now >= end)
                                return -ETIMEDOUT;
                        wait_ms = end - now > INT32_MAX ? INT32_MAX : (int)(end - now);
                }
                struct pollfd p = {.fd = c->fd, .events = POLLIN};
                r = poll(&p, 1, wait_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                r = spp_buf_reserve(&c->rbuf, 65536);
                if (r < 0)
                        return r;
                ssize_t got = read(c->fd, c->rbuf.data + c->rbuf.len, c->rbuf.cap - c->rbuf.len);
                if (got < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (got < 0 && errno != ECONNRESET)
                        return -errno;
                if (got <= 0)
                        return c->rbuf.len ? -EPIPE : -ECONNRESET;
                c->rbuf.len += (size_t)got;
        }
}

int spc_send(spc_conn *c, spp_buf *buf)
{
        size_t off = 0;
        if (c->fd < 0)
                return -EBADF;
        while (off < buf->len) {
                ssize_t w = send(c->fd, buf->data + off, buf->len - off, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                off += (size_t)w;
        }
        buf->len = 0;
        return 0;
}

int spc_wait_ready(spc_conn *c, int timeout_ms, uint32_t *ret_threads, char *errmsg,
                   size_t errmsg_size)
{
        spp_frame f;
        int r = spc_read_frame(c, timeout_ms, &f);
        if (r < 0)
                return r;
        if (f.type != SPP_READY) {
                if (errmsg && errmsg_size) {
                        if (f.type == SPP_ERROR)
                                snprintf(errmsg, errmsg_size, "%.*s",
                                         (int)(f.error.len > 512 ? 512 : f.error.len), f.error.msg);
                        else
                                snprintf(errmsg, errmsg_size, "%s before READY",
                                         spp_type_name(f.type));
                }
                spc_frame_done(c);
                return -EPROTO;
        }
        *ret_threads = f.ready.threads;
        spc_frame_done(c);
        return 0;
}

int spc_set_threads(spc_conn *c, uint32_t threads)
{
        spp_buf b = SPP_BUF_INIT;
        int r = spp_encode_set_threads(&b, threads);
        if (r == 0)
                r = spc_send(c, &b);
        spp_buf_free(&b);
        return r;
}

static void finish(spc_conn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->pid = -1;
        spp_buf_free(&c->rbuf);
        c->pending = 0;
}

int spc_kill(spc_conn *c, int *ret_status)
{
        int status = 0;
        if (c->pid > 0) {
                kill(c->pid, SIGKILL);
                while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
                        ;
        }
        finish(c);
        if (ret_status)
                *ret_status = status;
        return 0;
}

int spc_stop(spc_conn *c, int timeout_ms, int *ret_status)
{
        int status = 0;
        if (c->pid <= 0) {
                finish(c);
                if (ret_status)
                        *ret_status = 0;
                return 0;
        }
        if (c->fd >= 0) {
                spp_buf b = SPP_BUF_INIT;
                if (spp_encode_shutdown(&b) == 0)
                        (void)spc_send(c, &b); /* a dead worker is reaped below */
                spp_buf_free(&b);
        }
        uint64_t end = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
        for (;;) {
                pid_t p = waitpid(c->pid, &status, WNOHANG);
                if (p == c->pid)
                        break;
                if (p < 0 && errno != EINTR) {
                        status = 0;
                        break;
                }
                if (now_ms() >= end) {
                        kill(c->pid, SIGKILL);
                        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        break;
                }
                struct timespec ts = {0, 2 * 1000 * 1000};
                nanosleep(&ts, NULL);
        }
        finish(c);
        if (ret_status)
                *ret_status = status;
        return 0;
}
