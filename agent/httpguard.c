/* httpguard.c — request-head deadline and body budget: see httpguard.h. */
#include "agent/httpguard.h"

#include <sys/socket.h>

#include "agent/log.h"
#include "agent/manager.h"

typedef struct Conn {
        struct MHD_Connection *c;
        uint64_t head_deadline_us; /* 0 while a request is past its head */
        struct Conn *prev, *next;  /* waiting list (start order) while head_deadline_us != 0 */
} Conn;

struct HttpGuard {
        Manager *m;
        Conn *first, *last;  /* connections waiting for a complete head, earliest first */
        uint64_t body_bytes; /* reserved by live requests */
};

int httpguard_new(Manager *m, HttpGuard **ret)
{
        HttpGuard *g = calloc(1, sizeof(*g));

        if (!g)
                return -ENOMEM;
        g->m = m;
        *ret = g;
        return 0;
}

HttpGuard *httpguard_free(HttpGuard *g)
{
        free(g); /* connections are freed by their CLOSED notifications (MHD_stop_daemon) */
        return NULL;
}

static void waiting_remove(HttpGuard *g, Conn *k)
{
        if (!k->head_deadline_us)
                return;
        if (k->prev)
                k->prev->next = k->next;
        else
                g->first = k->next;
        if (k->next)
                k->next->prev = k->prev;
        else
                g->last = k->prev;
        k->prev = k->next = NULL;
        k->head_deadline_us = 0;
}

static void waiting_append(HttpGuard *g, Conn *k, uint64_t now)
{
        waiting_remove(g, k);
        k->head_deadline_us = now + g->m->config.head_timeout_us;
        k->prev = g->last;
        if (g->last)
                g->last->next = k;
        else
                g->first = k;
        g->last = k;
}

void httpguard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
        HttpGuard *g = cls;
        Conn *k = *socket_context;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                k = calloc(1, sizeof(*k));
                if (!k)
                        return; /* not tracked: only libmicrohttpd's idle timeout applies */
                k->c = c;
                waiting_append(g, k, now_us());
                *socket_context = k;
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && k) {
                waiting_remove(g, k);
                free(k);
                *socket_context = NULL;
        }
}

static Conn *conn_of(struct MHD_Connection *c)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci ? ci->socket_context : NULL;
}

void httpguard_head_done(HttpGuard *g, struct MHD_Connection *c)
{
        Conn *k = conn_of(c);

        if (k)
                waiting_remove(g, k);
}

void httpguard_request_done(HttpGuard *g, struct MHD_Connection *c)
{
        Conn *k = conn_of(c);

        if (k)
                waiting_append(g, k, now_us());
}

uint64_t httpguard_next_timeout(const HttpGuard *g)
{
        return g && g->first ? g->first->head_deadline_us : 0;
}

void httpguard_cut_slow(HttpGuard *g, uint64_t now)
{
        while (g && g->first && g->first->head_deadline_us <= now) {
                Conn *k = g->first;
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(k->c, MHD_CONNECTION_INFO_CONNECTION_FD);
                waiting_remove(g, k);
                g->m->m.http_head_timeouts++;
                log_debug("HTTP: a request head not complete within %llu ms; closing",
                          (unsigned long long)(g->m->config.head_timeout_us / USEC_PER_MSEC));
                /* libmicrohttpd sees the socket end and closes the connection itself. */
                if (ci)
                        (void)shutdown(ci->connect_fd, SHUT_RDWR);
        }
}

int httpguard_reserve(HttpGuard *g, uint64_t *held, uint64_t more)
{
        if (more > g->m->config.max_body_bytes_in_flight ||
            g->body_bytes > g->m->config.max_body_bytes_in_flight - more)
                return -EBUSY;
        g->body_bytes += more;
        *held += more;
        return 0;
}

void httpguard_release(HttpGuard *g, uint64_t *held)
{
        g->body_bytes -= MIN(*held, g->body_bytes);
        *held = 0;
}
