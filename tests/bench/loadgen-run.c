/* SPDX-License-Identifier: MIT */
/* loadgen-run.c — sponge-load's engine: one thread, one epoll set holding a timerfd (the next
 * send time or report tick), a signalfd (SIGINT/SIGTERM stop the schedule and drain) and up to
 * --max-conns non-blocking connections. See loadgen.h for the invariants.
 *
 * A connection slot is EMPTY, CONNECTING (with its request waiting for the connect), SENDING,
 * WAITING (whole request written) or IDLE (kept alive, on the idle list). A request due now
 * takes the most recently idled connection (LIFO keeps few connections warm), else opens a new
 * one while fewer than --max-conns are open, else is not sent ("no_conn"). */
#include "tests/bench/loadgen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHECK_PERIOD_US (100 * LG_USEC_PER_MSEC) /* how often per-request timeouts are checked */
#define START_LEAD_US   (20 * LG_USEC_PER_MSEC)  /* first send time after start-up */
#define EV_TIMER        UINT64_MAX
#define EV_SIGNAL       (UINT64_MAX - 1)
#define NO_IDX          (-1)

typedef enum ConnState {
        CONN_EMPTY,
        CONN_CONNECTING,
        CONN_SENDING,
        CONN_WAITING,
        CONN_IDLE,
} ConnState;

typedef struct Req {
        uint64_t id;
        uint64_t sched_us; /* scheduled send time, absolute CLOCK_MONOTONIC */
        double budget_ms;
        size_t off, total; /* bytes written of prefix + budget headers + body */
        size_t budget_len;
        bool counted_sent; /* its first byte went out */
        bool retried;
        char budget_hdr[96]; /* X-Sponge-* lines and the blank line */
} Req;

typedef struct Conn {
        int fd;
        ConnState state;
        uint32_t events; /* current epoll interest */
        bool reused;     /* has carried a whole answer before: the server may close it idle */
        int idle_prev, idle_next;
        Req req;
        LgResp resp;
} Conn;

/* What one second of the report shows (answers by the second they arrive in). */
typedef struct Second {
        uint64_t scheduled, sent, not_sent, answered, within, errors, timeouts;
        uint64_t s200, s429, s503, s504, other;
        LgHist lat;
} Second;

typedef struct Run {
        const LgConfig *c;
        LgStats *s;
        int ep, tfd, sfd;
        Conn *conns;          /* max_conns slots (owned) */
        unsigned *free_slots; /* stack of EMPTY slot indices (owned) */
        unsigned n_free;
        int idle_head;
        unsigned n_busy; /* slots carrying a request */
        char prefix[1536];
        size_t prefix_len;
        uint64_t start_us, end_us, drain_until_us, armed_us;
        uint64_t next_tick_us, next_check_us;
        unsigned tick;
        LgArrivals arr;
        bool have_next;
        uint64_t next_us, next_id;
        bool stopping;
        bool masked; /* SIGINT/SIGTERM blocked by us (restored at the end) */
        FILE *csv;   /* owned */
        Second sec;
        char rbuf[65536];
} Run;

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return r;
}

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * LG_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- per-request records -------------------------------------------------------------------- */

static void csv_line(Run *run, const Req *q, unsigned status, double latency_ms, bool within,
                     const char *variants, const char *outcome)
{
        if (!run->csv)
                return;
        fprintf(run->csv, "%.6f,%u,", (double)(q->sched_us - run->start_us) / 1e6, status);
        if (latency_ms >= 0)
                fprintf(run->csv, "%.3f", latency_ms);
        fprintf(run->csv, ",%.3f,%d,\"%s\",%s\n", q->budget_ms, within ? 1 : 0, variants, outcome);
}

static void record_not_sent(Run *run, const Req *q, LgNotSent why)
{
        char outcome[32];

        run->s->not_sent++;
        run->s->not_sent_by[why]++;
        run->sec.not_sent++;
        snprintf(outcome, sizeof(outcome), "not_sent:%s", lg_not_sent_name(why));
        csv_line(run, q, 0, -1, false, "", outcome);
}

static void record_answer(Run *run, const Req *q, const LgResp *p, uint64_t now)
{
        uint64_t lat_us = now > q->sched_us ? now - q->sched_us : 0;
        double lat_ms = (double)lat_us / 1000.0;
        bool within = p->status == 200 && lat_ms <= q->budget_ms;
        Second *sec = &run->sec;

        run->s->answered++;
        run->s->by_status[p->status < 600 ? p->status : 599]++;
        run->s->late += p->late;
        sec->answered++;
        if (p->status == 200) {
                run->s->ok++;
                lg_hist_add(&run->s->latency_ok, lat_us);
                lg_hist_add(&sec->lat, lat_us);
                sec->s200++;
        } else if (p->status == 429) {
                sec->s429++;
        } else if (p->status == 503) {
                sec->s503++;
        } else if (p->status == 504) {
                sec->s504++;
        } else {
                sec->other++;
        }
        if (within) {
                run->s->within_budget++;
                sec->within++;
        }
        csv_line(run, q, p->status, lat_ms, within, p->variants, "answered");
}

static void record_error(Run *run, const Req *q, LgError e)
{
        char outcome[32];

        run->s->errors++;
        run->s->errors_by[e]++;
        run->sec.errors++;
        snprintf(outcome, sizeof(outcome), "error:%s", lg_error_name(e));
        csv_line(run, q, 0, -1, false, "", outcome);
}

static void record_timeout(Run *run, const Req *q)
{
        run->s->timeout++;
        run->sec.timeouts++;
        csv_line(run, q, 0, -1, false, "", "timeout");
}

/* ---- connection slots ----------------------------------------------------------------------- */

static void idle_push(Run *run, Conn *k)
{
        int i = (int)(k - run->conns);

        k->idle_prev = NO_IDX;
        k->idle_next = run->idle_head;
        if (run->idle_head != NO_IDX)
                run->conns[run->idle_head].idle_prev = i;
        run->idle_head = i;
}

static void idle_remove(Run *run, Conn *k)
{
        if (k->idle_prev != NO_IDX)
                run->conns[k->idle_prev].idle_next = k->idle_next;
        else
                run->idle_head = k->idle_next;
        if (k->idle_next != NO_IDX)
                run->conns[k->idle_next].idle_prev = k->idle_prev;
        k->idle_prev = k->idle_next = NO_IDX;
}

static int set_events(Run *run, Conn *k, uint32_t events)
{
        struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)(k - run->conns)};

        if (k->events == events)
                return 0;
        if (epoll_ctl(run->ep, EPOLL_CTL_MOD, k->fd, &ev) < 0)
                return -errno;
        k->events = events;
        return 0;
}

/* Closes the slot's socket; its request (if any) must have been recorded already. */
static void conn_close(Run *run, Conn *k)
{
        if (k->state == CONN_EMPTY)
                return;
        if (k->state == CONN_IDLE)
                idle_remove(run, k);
        else
                run->n_busy--;
        close(k->fd); /* also leaves the epoll set */
        k->fd = -1;
        k->state = CONN_EMPTY;
        k->events = 0;
        k->reused = false;
        run->free_slots[run->n_free++] = (unsigned)(k - run->conns);
}

/* A new non-blocking socket in a free slot, connect started. Returns the slot, or NULL with
 * *why set (no slot, socket() failed, connect refused at once). */
static Conn *conn_new(Run *run, LgNotSent *why)
{
        const LgTarget *t = &run->c->target;
        struct epoll_event ev = {0};
        Conn *k;
        int fd, one = 1, r;

        if (run->n_free == 0) {
                *why = LG_NS_NO_CONN;
                return NULL;
        }
        fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                *why = LG_NS_SOCKET;
                return NULL;
        }
        if (t->addr.ss_family != AF_UNIX)
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        r = connect(fd, (const struct sockaddr *)&t->addr, t->addr_len);
        /* A UNIX socket connects at once or fails with EAGAIN when the listen backlog is full
         * (unix(7)); TCP says EINPROGRESS and reports the outcome through EPOLLOUT/SO_ERROR. */
        if (r < 0 && errno != EINPROGRESS) {
                close(fd);
                *why = LG_NS_CONNECT;
                return NULL;
        }
        k = &run->conns[run->free_slots[run->n_free - 1]];
        ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = (uint64_t)(k - run->conns);
        if (epoll_ctl(run->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                close(fd);
                *why = LG_NS_SOCKET;
                return NULL;
        }
        run->n_free--;
        k->fd = fd;
        k->events = ev.events;
        k->state = r == 0 ? CONN_SENDING : CONN_CONNECTING;
        k->reused = false;
        k->idle_prev = k->idle_next = NO_IDX;
        run->n_busy++;
        run->s->conns_opened++;
        return k;
}

/* ---- requests ------------------------------------------------------------------------------- */

static void conn_write(Run *run, Conn *k);
static void conn_read(Run *run, Conn *k);

/* Fills q's budget for its second of the schedule. */
static void req_budget(Run *run, Req *q, uint64_t offset_us)
{
        const LgConfig *c = run->c;
        int n;

        if (c->net_ms) {
                double net = c->net_ms[(offset_us / LG_USEC_PER_SEC) % c->n_net];
                q->budget_ms = c->slo_ms - net;
                n = snprintf(q->budget_hdr, sizeof(q->budget_hdr),
                             "X-Sponge-Slo-Ms: %.3f\r\nX-Sponge-Network-Ms: %.3f\r\n\r\n",
                             c->slo_ms, net);
        } else {
                q->budget_ms = c->slo_ms;
                n = snprintf(q->budget_hdr, sizeof(q->budget_hdr), "X-Sponge-Slo-Ms: %.3f\r\n\r\n",
                             c->slo_ms);
        }
        /* Both values are at most 3600000.000: the lines always fit the buffer. */
        q->budget_len = n > 0 && (size_t)n < sizeof(q->budget_hdr) ? (size_t)n : 0;
}

/* Puts q on a connection: an idle one, else a new one. Returns 0, or -1 with *why. */
static int req_start(Run *run, const Req *q, LgNotSent *why)
{
        Conn *k;

        if (run->idle_head != NO_IDX) {
                k = &run->conns[run->idle_head];
                idle_remove(run, k);
                k->state = CONN_SENDING;
                run->n_busy++;
        } else {
                k = conn_new(run, why);
                if (!k)
                        return -1;
        }
        k->req = *q;
        k->req.off = 0;
        k->req.total = run->prefix_len + q->budget_len + run->c->body_len;
        lg_resp_reset(&k->resp);
        if (k->state == CONN_SENDING)
                conn_write(run, k);
        return 0;
}

/* The request due at sched_us (offset_us into the schedule). */
static void issue(Run *run, uint64_t offset_us, uint64_t now)
{
        Req q = {.id = run->next_id++, .sched_us = run->start_us + offset_us};
        LgNotSent why;

        req_budget(run, &q, offset_us);
        run->s->scheduled++;
        run->sec.scheduled++;
        if (now > q.sched_us + run->c->max_lag_us) {
                record_not_sent(run, &q, LG_NS_LATE);
                return;
        }
        if (req_start(run, &q, &why) < 0)
                record_not_sent(run, &q, why);
}

/* The connection failed before a whole answer. A kept-alive connection the server closed just
 * as we reused it (nothing of an answer came back) is the one race of HTTP keep-alive
 * (RFC 9112 9.3.1): the request goes once more on a fresh connection. */
static void conn_failed(Run *run, Conn *k, LgError e)
{
        Req q = k->req;
        bool retry = k->reused && e == LG_ERR_RESET && !lg_resp_started(&k->resp) && !q.retried &&
                     !run->stopping;
        LgNotSent why;

        conn_close(run, k);
        if (retry) {
                q.retried = true;
                run->s->retried++;
                if (req_start(run, &q, &why) == 0)
                        return;
        }
        if (q.counted_sent)
                record_error(run, &q, e);
        else /* refused or reset before its first byte left */
                record_not_sent(run, &q, LG_NS_CONNECT);
}

/* The connect of a CONNECTING slot failed: its request never left. */
static void connect_failed(Run *run, Conn *k)
{
        Req q = k->req;

        conn_close(run, k);
        if (q.counted_sent) /* a retry that could not reconnect */
                record_error(run, &q, LG_ERR_RESET);
        else
                record_not_sent(run, &q, LG_NS_CONNECT);
}

static void answered(Run *run, Conn *k, bool extra_bytes, uint64_t now)
{
        bool keep = k->resp.keep_alive && !extra_bytes && k->state == CONN_WAITING;

        if (!k->req.counted_sent) { /* answered before it was sent: count it sent */
                k->req.counted_sent = true;
                run->s->sent++;
                run->sec.sent++;
        }
        record_answer(run, &k->req, &k->resp, now);
        if (!keep) {
                conn_close(run, k);
                return;
        }
        k->state = CONN_IDLE;
        k->reused = true;
        run->n_busy--;
        idle_push(run, k);
        if (set_events(run, k, EPOLLIN | EPOLLRDHUP) < 0)
                conn_close(run, k);
}

static void conn_write(Run *run, Conn *k)
{
        Req *q = &k->req;
        struct iovec iov[3];
        struct msghdr msg = {.msg_iov = iov};
        const void *parts[3] = {run->prefix, q->budget_hdr, run->c->body};
        size_t lens[3] = {run->prefix_len, q->budget_len, run->c->body_len};
        size_t skip = q->off;
        ssize_t n;

        for (size_t i = 0; i < 3; i++) {
                if (skip >= lens[i]) {
                        skip -= lens[i];
                        continue;
                }
                iov[msg.msg_iovlen].iov_base = (char *)parts[i] + skip;
                iov[msg.msg_iovlen].iov_len = lens[i] - skip;
                msg.msg_iovlen++;
                skip = 0;
        }
        n = sendmsg(k->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (set_events(run, k, EPOLLOUT | EPOLLIN | EPOLLRDHUP) < 0)
                        conn_failed(run, k, LG_ERR_RESET);
                return;
        }
        if (n < 0) {
                /* The server may have answered (e.g. 413) and closed: read what it said. */
                conn_read(run, k);
                if (k->state == CONN_SENDING)
                        conn_failed(run, k, LG_ERR_RESET);
                return;
        }
        if (!q->counted_sent) {
                uint64_t now = now_us();
                q->counted_sent = true;
                run->s->sent++;
                run->sec.sent++;
                lg_hist_add(&run->s->send_lag, now > q->sched_us ? now - q->sched_us : 0);
        }
        q->off += (size_t)n;
        if (q->off < q->total) {
                if (set_events(run, k, EPOLLOUT | EPOLLIN | EPOLLRDHUP) < 0)
                        conn_failed(run, k, LG_ERR_RESET);
                return;
        }
        k->state = CONN_WAITING;
        if (set_events(run, k, EPOLLIN | EPOLLRDHUP) < 0)
                conn_failed(run, k, LG_ERR_RESET);
}

/* Reads what is there. May complete the answer, fail the connection, or close an idle one. */
static void conn_read(Run *run, Conn *k)
{
        for (int rounds = 0; rounds < 16; rounds++) {
                ssize_t n = read(k->fd, run->rbuf, sizeof(run->rbuf));
                size_t used = 0;
                int r;

                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (k->state == CONN_IDLE) {
                        /* EOF (server closed it idle), an error, or bytes nobody asked for. */
                        conn_close(run, k);
                        return;
                }
                if (n <= 0) {
                        if (n == 0 && lg_resp_eof(&k->resp) == 1)
                                answered(run, k, true, now_us());
                        else
                                conn_failed(run, k, LG_ERR_RESET);
                        return;
                }
                r = lg_resp_feed(&k->resp, run->rbuf, (size_t)n, &used);
                if (r < 0) {
                        conn_failed(run, k, LG_ERR_GARBAGE);
                        return;
                }
                if (r == 1) {
                        answered(run, k, used < (size_t)n, now_us());
                        return;
                }
        }
}

static void conn_event(Run *run, Conn *k, uint32_t events)
{
        if (k->state == CONN_CONNECTING) {
                int soerr = 0;
                socklen_t len = sizeof(soerr);
                if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
                        connect_failed(run, k);
                        return;
                }
                if (!(events & (EPOLLOUT | EPOLLIN)))
                        return;
                k->state = CONN_SENDING;
        }
        if (k->state == CONN_SENDING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                conn_write(run, k);
        if (k->state != CONN_EMPTY && k->state != CONN_CONNECTING &&
            (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
                conn_read(run, k);
}

/* Requests older than --timeout-s (or all of them, when the drain is over) are given up. */
static void expire(Run *run, uint64_t now, bool all)
{
        for (unsigned i = 0; i < run->c->max_conns && run->n_busy > 0; i++) {
                Conn *k = &run->conns[i];
                Req q;
                if (k->state == CONN_EMPTY || k->state == CONN_IDLE)
                        continue;
                if (!all && now < k->req.sched_us + run->c->timeout_us)
                        continue;
                q = k->req;
                conn_close(run, k);
                if (q.counted_sent)
                        record_timeout(run, &q);
                else
                        record_not_sent(run, &q, LG_NS_CONNECT);
        }
}

/* ---- report --------------------------------------------------------------------------------- */

static void report_header(const Run *run)
{
        if (run->c->report)
                fprintf(run->c->report, "%6s %6s %6s %6s %6s %5s %5s %5s %5s %5s %5s %8s %8s %7s\n",
                        "t_s", "sched", "sent", "nsent", "answ", "200", "429", "503", "504",
                        "other", "err", "p50_ms", "p99_ms", "inbud%");
}

static void report_second(Run *run)
{
        Second *s = &run->sec;
        FILE *f = run->c->report;

        if (f) {
                fprintf(f,
                        "%6u %6llu %6llu %6llu %6llu %5llu %5llu %5llu %5llu %5llu %5llu %8.2f "
                        "%8.2f %7.2f\n",
                        run->tick, (unsigned long long)s->scheduled, (unsigned long long)s->sent,
                        (unsigned long long)s->not_sent, (unsigned long long)s->answered,
                        (unsigned long long)s->s200, (unsigned long long)s->s429,
                        (unsigned long long)s->s503, (unsigned long long)s->s504,
                        (unsigned long long)s->other, (unsigned long long)(s->errors + s->timeouts),
                        lg_hist_quantile_us(&s->lat, 0.50) / 1000.0,
                        lg_hist_quantile_us(&s->lat, 0.99) / 1000.0,
                        s->answered ? 100.0 * (double)s->within / (double)s->answered : 0.0);
                fflush(f);
        }
        memset(s, 0, sizeof(*s));
        run->tick++;
}

/* ---- the loop ------------------------------------------------------------------------------- */

static int arm(Run *run, uint64_t at_us)
{
        struct itimerspec its = {0};

        if (at_us == run->armed_us)
                return 0;
        its.it_value.tv_sec = (time_t)(at_us / LG_USEC_PER_SEC);
        its.it_value.tv_nsec = (long)(at_us % LG_USEC_PER_SEC) * 1000L;
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
                its.it_value.tv_nsec = 1; /* 0 would disarm */
        if (timerfd_settime(run->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
                return -errno;
        run->armed_us = at_us;
        return 0;
}

static void advance(Run *run)
{
        uint64_t off;

        run->have_next =
            run->next_id < run->c->max_requests && lg_arrivals_next(&run->arr, &off) == 0;
        if (run->have_next)
                run->next_us = run->start_us + off;
}

static void on_signal(Run *run, uint64_t now)
{
        struct signalfd_siginfo si;

        while (read(run->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (run->stopping) {
                        run->drain_until_us = now; /* second signal: stop now */
                } else {
                        run->stopping = true;
                        run->s->interrupted = true;
                        run->drain_until_us = now + run->c->drain_us;
                }
        }
}

/* One pass: sends what is due, runs the periodic work. Returns true when the run is over. */
static bool step(Run *run)
{
        uint64_t now = now_us();

        while (run->have_next && !run->stopping && run->next_us <= now) {
                issue(run, run->next_us - run->start_us, now);
                advance(run);
        }
        if (now >= run->next_check_us) {
                expire(run, now, false);
                run->next_check_us = now + CHECK_PERIOD_US;
        }
        while (now >= run->next_tick_us) {
                report_second(run);
                run->next_tick_us += LG_USEC_PER_SEC;
        }
        if (run->stopping || (!run->have_next && now >= run->end_us)) {
                if (run->n_busy == 0)
                        return true;
                if (now >= run->drain_until_us) {
                        expire(run, now, true);
                        return true;
                }
        }
        return false;
}

/* The earliest of: next send, report tick, timeout check, schedule end (while ahead), drain end. */
static uint64_t next_wake(const Run *run, uint64_t now)
{
        uint64_t t = run->next_tick_us;

        if (run->next_check_us < t)
                t = run->next_check_us;
        if (run->have_next && !run->stopping && run->next_us < t)
                t = run->next_us;
        if ((run->stopping || !run->have_next) && run->drain_until_us < t)
                t = run->drain_until_us;
        if (!run->have_next && !run->stopping && run->end_us > now && run->end_us < t)
                t = run->end_us;
        return t;
}

static int loop(Run *run)
{
        struct epoll_event evs[256];

        for (;;) {
                int n, r;

                if (step(run))
                        return 0;
                r = arm(run, next_wake(run, now_us()));
                if (r < 0)
                        return r;
                n = epoll_wait(run->ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), -1);
                if (n < 0 && errno != EINTR)
                        return -errno;
                for (int i = 0; i < n; i++) {
                        uint64_t d = evs[i].data.u64;
                        if (d == EV_TIMER) {
                                uint64_t ticks;
                                (void)!read(run->tfd, &ticks, sizeof(ticks));
                                run->armed_us = 0;
                        } else if (d == EV_SIGNAL) {
                                on_signal(run, now_us());
                        } else if (d < run->c->max_conns) {
                                conn_event(run, &run->conns[d], evs[i].events);
                        }
                }
        }
}

/* ---- set-up and tear-down ------------------------------------------------------------------- */

static int add_fd(int ep, int fd, uint64_t tag)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

        return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Room for max_conns sockets plus our own few fds: raise the soft limit toward the hard one. */
static int raise_nofile(unsigned max_conns, char *err, size_t errlen)
{
        struct rlimit rl;
        rlim_t want = (rlim_t)max_conns + 64;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return fail(err, errlen, -errno, "getrlimit: %s", strerror(errno));
        if (rl.rlim_cur >= want)
                return 0;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
                return fail(err, errlen, -EMFILE,
                            "--max-conns %u needs %llu file descriptors; the hard limit is %llu",
                            max_conns, (unsigned long long)want, (unsigned long long)rl.rlim_max);
        rl.rlim_cur = want;
        return setrlimit(RLIMIT_NOFILE, &rl) < 0
                   ? fail(err, errlen, -errno, "setrlimit: %s", strerror(errno))
                   : 0;
}

static int run_setup(Run *run, sigset_t *ret_old, char *err, size_t errlen)
{
        const LgConfig *c = run->c;
        sigset_t mask;
        int n, r;

        n = snprintf(run->prefix, sizeof(run->prefix),
                     "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sponge-load\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n",
                     c->target.path, c->target.host, c->body_len);
        if (n < 0 || (size_t)n >= sizeof(run->prefix))
                return fail(err, errlen, -ENAMETOOLONG, "request head too long");
        run->prefix_len = (size_t)n;
        r = raise_nofile(c->max_conns, err, errlen);
        if (r < 0)
                return r;
        run->conns = calloc(c->max_conns, sizeof(*run->conns));
        run->free_slots = calloc(c->max_conns, sizeof(*run->free_slots));
        if (!run->conns || !run->free_slots)
                return fail(err, errlen, -ENOMEM, "out of memory for %u connections", c->max_conns);
        for (unsigned i = 0; i < c->max_conns; i++) {
                run->conns[i].fd = -1;
                run->conns[i].idle_prev = run->conns[i].idle_next = NO_IDX;
                run->free_slots[c->max_conns - 1 - i] = i; /* slot 0 first */
        }
        run->n_free = c->max_conns;
        run->idle_head = NO_IDX;
        if (c->csv_path) {
                run->csv = fopen(c->csv_path, "we");
                if (!run->csv)
                        return fail(err, errlen, -errno, "--csv %s: %s", c->csv_path,
                                    strerror(errno));
                setvbuf(run->csv, NULL, _IOFBF, 1u << 20);
                fprintf(run->csv,
                        "send_s,status,latency_ms,budget_ms,within_budget,variants,outcome\n");
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        run->ep = epoll_create1(EPOLL_CLOEXEC);
        run->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (run->ep < 0 || run->tfd < 0)
                return fail(err, errlen, -errno, "epoll/timerfd: %s", strerror(errno));
        /* Signals as events, so a SIGINT stops the schedule and still drains and reports. */
        if (pthread_sigmask(SIG_BLOCK, &mask, ret_old) != 0)
                return fail(err, errlen, -EINVAL, "pthread_sigmask failed");
        run->masked = true;
        run->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (run->sfd < 0)
                return fail(err, errlen, -errno, "signalfd: %s", strerror(errno));
        if ((r = add_fd(run->ep, run->tfd, EV_TIMER)) < 0 ||
            (r = add_fd(run->ep, run->sfd, EV_SIGNAL)) < 0)
                return fail(err, errlen, r, "epoll_ctl: %s", strerror(-r));
        return 0;
}

static void run_teardown(Run *run)
{
        for (unsigned i = 0; run->conns && i < run->c->max_conns; i++)
                if (run->conns[i].fd >= 0)
                        close(run->conns[i].fd);
        free(run->conns);
        free(run->free_slots);
        if (run->csv)
                fclose(run->csv);
        if (run->ep >= 0)
                close(run->ep);
        if (run->tfd >= 0)
                close(run->tfd);
        if (run->sfd >= 0)
                close(run->sfd);
}

int lg_run(const LgConfig *c, LgStats *ret, char *err, size_t errlen)
{
        Run *run = calloc(1, sizeof(*run));
        LgStats *s = calloc(1, sizeof(*s));
        sigset_t old;
        struct rusage ru;
        int r;

        if (!run || !s) {
                free(run);
                free(s);
                return fail(err, errlen, -ENOMEM, "out of memory");
        }
        run->c = c;
        run->s = s;
        run->ep = run->tfd = run->sfd = -1;
        r = run_setup(run, &old, err, errlen);
        if (r == 0) {
                run->start_us = now_us() + START_LEAD_US;
                run->end_us = run->start_us + (uint64_t)c->n_seconds * LG_USEC_PER_SEC;
                run->drain_until_us = run->end_us + c->drain_us;
                run->next_tick_us = run->start_us + LG_USEC_PER_SEC;
                run->next_check_us = run->start_us;
                lg_arrivals_init(&run->arr, c->rates, c->n_seconds, c->uniform, c->seed);
                advance(run);
                report_header(run);
                r = loop(run);
                if (r < 0)
                        fail(err, errlen, r, "event loop: %s", strerror(-r));
                else if (run->sec.scheduled || run->sec.answered || run->sec.errors ||
                         run->sec.timeouts)
                        report_second(run); /* the partial last second */
                s->duration_s = (double)c->n_seconds;
                s->elapsed_s = (double)(now_us() - run->start_us) / 1e6;
                if (run->csv && fflush(run->csv) != 0 && r == 0)
                        r = fail(err, errlen, -EIO, "--csv %s: write failed", c->csv_path);
        }
        run_teardown(run);
        if (run->masked)
                pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r == 0 && getrusage(RUSAGE_SELF, &ru) == 0)
                s->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        if (r == 0)
                *ret = *s;
        free(s);
        free(run);
        return r;
}
