/* agentcheck.c — HAProxy agent-check responder. See agentcheck.h. */
#include "agent/agentcheck.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "agent/capacity.h"
#include "agent/log.h"
#include "agent/manager.h"

#define AGENTCHECK_LINE_MAX 128u

typedef struct AgentConn {
        EventSource ev; /* first: epoll hands back this pointer */
        int fd;         /* -1: slot free */
        uint64_t deadline_us;
        char line[AGENTCHECK_LINE_MAX];
        size_t len;
} AgentConn;

typedef struct AgentCheck {
        EventSource ev; /* the listener */
        int fd;
        AgentConn conns[AGENTCHECK_MAX_CONNS];
        uint64_t answered, refused;
} AgentCheck;

static int listen_on(const char *spec)
{
        struct sockaddr_storage ss;
        int fd, one = 1, r;

        r = parse_tcp_address(spec, &ss);
        if (r < 0)
                return r;
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&ss,
                 ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                          : sizeof(struct sockaddr_in)) < 0 ||
            listen(fd, 64) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int agentcheck_start(Manager *m)
{
        AgentCheck *a;
        int fd;

        if (!m->config.agent_check_listen)
                return 0;
        fd = listen_on(m->config.agent_check_listen);
        if (fd < 0)
                return log_error_errno(fd, "Cannot listen for HAProxy agent checks on %s: %m",
                                       m->config.agent_check_listen);
        a = calloc(1, sizeof(*a));
        if (!a) {
                close(fd);
                return log_error_errno(-ENOMEM, "Cannot start the agent-check responder: %m");
        }
        a->ev.kind = EVENT_AGENTCHECK;
        a->fd = fd;
        for (size_t i = 0; i < AGENTCHECK_MAX_CONNS; i++) {
                a->conns[i].ev.kind = EVENT_AGENTCHECK;
                a->conns[i].fd = -1;
        }
        manager_epoll_mod(m, fd, &a->ev, EPOLLIN, true);
        m->agentcheck = a;
        log_info("HAProxy agent checks answered on %s", m->config.agent_check_listen);
        return 0;
}

/* The pipeline a line names, if it is a plausible pipeline name; "" for the node. */
static void requested_pipeline(const AgentConn *c, char *name, size_t len)
{
        size_t n = strcspn(c->line, "\r\n");

        name[0] = '\0';
        if (n == 0 || n >= len)
                return;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)c->line[i]) && !strchr("._-", c->line[i]))
                        return;
        memcpy(name, c->line, n);
        name[n] = '\0';
}

static void conn_close(AgentConn *c)
{
        close(c->fd); /* also takes it out of the epoll set */
        c->fd = -1;
        c->len = 0;
}

static void conn_answer(Manager *m, AgentCheck *a, AgentConn *c)
{
        char name[AGENTCHECK_LINE_MAX], reply[256];
        CapacitySignal s;
        int n;

        c->line[c->len < sizeof(c->line) ? c->len : sizeof(c->line) - 1] = '\0';
        requested_pipeline(c, name, sizeof(name));
        capacity_signal(m, name, &s);
        n = capacity_format_agent(&s, reply, sizeof(reply));
        /* A few bytes into a fresh socket's send buffer: never blocks, never partial. */
        if (n > 0 && send(c->fd, reply, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                log_debug("agent check: send failed: %m");
        a->answered++;
        conn_close(c);
}

static void accept_all(Manager *m, AgentCheck *a, uint64_t now)
{
        for (;;) {
                AgentConn *slot = NULL;
                int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd < 0)
                        return; /* EAGAIN, or a connection that went away meanwhile */
                for (size_t i = 0; i < AGENTCHECK_MAX_CONNS && !slot; i++)
                        if (a->conns[i].fd < 0)
                                slot = &a->conns[i];
                if (!slot) {
                        a->refused++;
                        close(fd);
                        continue;
                }
                slot->fd = fd;
                slot->len = 0;
                slot->deadline_us = now + AGENTCHECK_WAIT_US;
                manager_epoll_mod(m, fd, &slot->ev, EPOLLIN | EPOLLRDHUP, true);
        }
}

/* Reads what HAProxy sent (its agent-send string); answers on a full line, EOF or error. */
static void conn_read(Manager *m, AgentCheck *a, AgentConn *c)
{
        for (;;) {
                size_t room = sizeof(c->line) - 1 - c->len;
                ssize_t k = room ? recv(c->fd, c->line + c->len, room, 0) : 0;

                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (k <= 0 || memchr(c->line + c->len, '\n', (size_t)k) ||
                    c->len + (size_t)k >= sizeof(c->line) - 1) {
                        if (k > 0)
                                c->len += (size_t)k;
                        conn_answer(m, a, c);
                        return;
                }
                c->len += (size_t)k;
        }
}

void agentcheck_on_event(Manager *m, EventSource *src, uint32_t events)
{
        AgentCheck *a = m->agentcheck;

        assert(a);
        (void)events;
        if (src == &a->ev) {
                accept_all(m, a, now_us());
                return;
        }
        conn_read(m, a, (AgentConn *)src);
}

uint64_t agentcheck_run_due(Manager *m, uint64_t now)
{
        AgentCheck *a = m->agentcheck;
        uint64_t next = 0;

        if (!a)
                return 0;
        for (size_t i = 0; i < AGENTCHECK_MAX_CONNS; i++) {
                AgentConn *c = &a->conns[i];

                if (c->fd < 0)
                        continue;
                if (now >= c->deadline_us)
                        conn_answer(m, a, c);
                else if (!next || c->deadline_us < next)
                        next = c->deadline_us;
        }
        return next;
}

void agentcheck_free(Manager *m)
{
        AgentCheck *a = m->agentcheck;

        if (!a)
                return;
        for (size_t i = 0; i < AGENTCHECK_MAX_CONNS; i++)
                if (a->conns[i].fd >= 0)
                        conn_close(&a->conns[i]);
        close(a->fd);
        free(a);
        m->agentcheck = NULL;
}
