/* manager.c — the event loop, start-up, reload and shutdown of sponged. See manager.h. */
#include "agent/manager.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "agent/agentcheck.h"
#include "agent/api.h"
#include "agent/bounded.h"
#include "agent/caps.h"
#include "agent/control.h"
#include "agent/dispatch.h"
#include "agent/ebpf.h"
#include "agent/execpath.h"
#include "agent/log.h"
#include "agent/notify.h"
#include "agent/pipefiles.h"
#include "agent/replica.h"
#include "agent/spawn.h"
#include "agent/stage.h"

#define MAX_EVENTS        64
#define STOP_WORKERS_US   (6 * USEC_PER_SEC)
#define PIPELINE_JSON_MAX PL_FILE_BYTES_MAX

void manager_epoll_mod(Manager *m, int fd, EventSource *ev, uint32_t events, bool add)
{
        struct epoll_event e = {.events = events, .data.ptr = ev};

        if (epoll_ctl(m->epoll_fd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e) < 0)
                log_error_errno(-errno, "epoll_ctl(%d) failed: %m", fd);
}

int manager_new(const char *config_path, Manager **ret)
{
        Manager *m = calloc(1, sizeof(*m));
        char err[1024];
        int r;

        if (!m)
                return -ENOMEM;
        m->epoll_fd = m->signal_fd = -1;
        m->signal_ev.kind = EVENT_SIGNAL;
        r = node_config_load(config_path, &m->config, err, sizeof(err));
        if (r < 0) {
                log_error("Invalid node configuration: %s", err);
                free(m);
                return r;
        }
        if (config_path && !(m->config_path = strdup(config_path))) {
                node_config_done(&m->config);
                free(m);
                return -ENOMEM;
        }
        log_set_max_level(m->config.log_level);
        if (m->config.trust.note[0])
                log_notice("%s", m->config.trust.note);
        *ret = m;
        return 0;
}

static int setup_signals(Manager *m)
{
        sigset_t mask;

        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        m->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (m->signal_fd < 0)
                return -errno;
        manager_epoll_mod(m, m->signal_fd, &m->signal_ev, EPOLLIN, true);
        return 0;
}

static int setup_cgroups(Manager *m)
{
        cg_options o = {
            .mode = m->config.cgroup_mode,
            .root = m->config.cgroup_root,
            .period_us = m->config.period_us,
            .capacity_millicores = m->config.millicores,
        };
        char err[512] = "";
        int r = cg_open_err(&o, &m->cg, err, sizeof(err));

        if (r < 0)
                return log_error_errno(r, "Cannot set up cgroups: %s", err);
        log_notice("cgroups: %s", cg_ctx_note(m->cg));
        r = cg_remove_stale(m->cg);
        if (r > 0)
                log_notice("cgroups: removed %d stale groups left by a previous run", r);
        else if (r < 0)
                log_warning_errno(r, "cgroups: could not remove every stale group: %s",
                                  cg_last_error(m->cg));
        m->capacity_millicores =
            m->config.millicores ? m->config.millicores : cg_ctx_capacity_millicores(m->cg);
        return 0;
}

Pipeline *manager_find_pipeline(Manager *m, const char *name)
{
        for (Pipeline *p = m->pipelines; p; p = p->next)
                if (strcmp(p->cfg->name, name) == 0)
                        return p;
        return NULL;
}

static void unlink_pipeline(Manager *m, Pipeline *p)
{
        for (Pipeline **pp = &m->pipelines; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        break;
                }
        p->next = m->retired;
        m->retired = p;
        pipeline_retire(p);
}

static char *canonical_json(const pl_pipeline *cfg)
{
        json_t *j = pl_to_json(cfg);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

        json_decref(j);
        return s;
}

int manager_apply_pipeline(Manager *m, pl_pipeline *cfg, const char *path)
{
        Pipeline *old = manager_find_pipeline(m, cfg->name), *p;
        char *json, why[1024];
        int r;

        r = execpath_check_pipeline(&m->config.trust, m->config.worker_path, cfg, why, sizeof(why));
        if (r < 0) {
                log_error("Pipeline %s%s%s: refused: %s", cfg->name, path ? " from " : "",
                          path ? path : "", why);
                pl_pipeline_free(cfg);
                return r;
        }
        r = node_caps_check(m, cfg, why, sizeof(why));
        if (r < 0) {
                log_error("Pipeline %s%s%s: refused: %s", cfg->name, path ? " from " : "",
                          path ? path : "", why);
                pl_pipeline_free(cfg);
                return r;
        }
        json = canonical_json(cfg);
        if (!json) {
                pl_pipeline_free(cfg);
                return -ENOMEM;
        }
        if (old && strcmp(old->json, json) == 0) {
                free(json);
                pl_pipeline_free(cfg);
                return 0;
        }
        r = pipeline_new(m, cfg, &p);
        if (r < 0) {
                free(json);
                return r;
        }
        p->json = json;
        p->path = path ? strdup(path) : NULL;
        pin_restore(p);
        if (old) {
                log_notice("Pipeline %s: replaced; the old version finishes its requests",
                           cfg->name);
                unlink_pipeline(m, old);
        } else
                log_notice("Pipeline %s: added (%zu stages, policy %s, SLO %.0f ms)", cfg->name,
                           cfg->n_stages, pl_policy_to_string(cfg->policy),
                           (double)cfg->slo_us / 1000.0);
        p->next = m->pipelines;
        m->pipelines = p;
        control_replan_soon(m);
        for (size_t i = 0; i < cfg->n_stages; i++)
                stage_reconcile(&p->stages[i], now_us());
        return 1;
}

int manager_delete_pipeline(Manager *m, const char *name)
{
        Pipeline *p = manager_find_pipeline(m, name);

        if (!p)
                return -ENOENT;
        log_notice("Pipeline %s: deleted; finishing %u requests", name, p->live_requests);
        unlink_pipeline(m, p);
        return 0;
}

static int pipeline_file(const Manager *m, const char *name, char *buf, size_t size)
{
        int n = snprintf(buf, size, "%s/%s.json", m->config.pipelines_dir, name);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int manager_persist_pipeline(Manager *m, const pl_pipeline *cfg)
{
        char path[4096];
        json_t *j = pl_to_json(cfg);
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        int r = s ? pipeline_file(m, cfg->name, path, sizeof(path)) : -ENOMEM;

        json_decref(j);
        if (r >= 0 && mkdir(m->config.pipelines_dir, 0755) < 0 && errno != EEXIST)
                r = -errno;
        if (r >= 0)
                r = write_file_atomic(path, s, strlen(s));
        free(s);
        if (r < 0)
                return log_error_errno(r, "Failed to persist pipeline %s in %s: %m", cfg->name,
                                       m->config.pipelines_dir);
        return 0;
}

int manager_unpersist_pipeline(Manager *m, const char *name)
{
        char path[4096];
        int r = pipeline_file(m, name, path, sizeof(path));

        if (r >= 0 && unlink(path) < 0 && errno != ENOENT)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "Failed to remove %s: %m", path);
        return 0;
}

static bool has_json_suffix(const char *name)
{
        size_t n = strlen(name);

        return n > 5 && strcmp(name + n - 5, ".json") == 0 && name[0] != '.';
}

static bool pipeline_from_path(Manager *m, const char *path)
{
        for (Pipeline *p = m->pipelines; p; p = p->next)
                if (p->path && strcmp(p->path, path) == 0)
                        return true;
        return false;
}

/* Appends name to a growing array; false when out of memory. */
static bool seen_add(char (**seen)[PL_NAME_MAX + 1], size_t *n, size_t *cap, const char *name)
{
        if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 64;
                char(*p)[PL_NAME_MAX + 1] = realloc(*seen, c * sizeof(**seen));
                if (!p)
                        return false;
                *seen = p;
                *cap = c;
        }
        snprintf((*seen)[(*n)++], PL_NAME_MAX + 1, "%s", name);
        return true;
}

/* Loads (or reloads) every *.json of the pipelines directory. A broken file is reported and, if
 * it was running, the running version is kept. Pipelines whose file is gone are retired. */
static int manager_load_dir(Manager *m)
{
        const char *dir = m->config.pipelines_dir;
        DIR *d = opendir(dir);
        char(*seen)[PL_NAME_MAX + 1] = NULL; /* names of the pipelines the files define */
        size_t n_seen = 0, cap = 0;
        bool complete = true; /* every name recorded: only then are missing ones retired */
        struct dirent *de;
        int errors = 0;

        if (!d) {
                if (errno == ENOENT) {
                        log_notice("Pipelines directory %s does not exist: no pipelines yet", dir);
                        return 0;
                }
                return log_error_errno(-errno, "Cannot open pipelines directory %s: %m", dir);
        }
        while ((de = readdir(d))) {
                char path[4096], err[1024];
                pl_pipeline *cfg = NULL;
                int r;

                if (!has_json_suffix(de->d_name) ||
                    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
                        continue;
                r = pl_load_file(path, &cfg, err, sizeof(err));
                if (r < 0) {
                        errors++;
                        log_error("Rejected pipeline file %s%s", err,
                                  pipeline_from_path(m, path) ? "; keeping the running version"
                                                              : "");
                        for (Pipeline *p = m->pipelines; p; p = p->next)
                                if (p->path && strcmp(p->path, path) == 0)
                                        complete = complete &&
                                                   seen_add(&seen, &n_seen, &cap, p->cfg->name);
                        continue;
                }
                complete = complete && seen_add(&seen, &n_seen, &cap, cfg->name);
                r = manager_apply_pipeline(m, cfg, path);
                if (r < 0)
                        errors++;
        }
        closedir(d);
        if (!complete)
                log_error("Out of memory listing the pipelines of %s: none retired", dir);
        for (Pipeline *p = complete ? m->pipelines : NULL, *next; p; p = next) {
                bool found = false;
                next = p->next;
                for (size_t i = 0; i < n_seen && !found; i++)
                        found = strcmp(seen[i], p->cfg->name) == 0;
                if (!found) {
                        log_notice("Pipeline %s: its file is gone; retiring it", p->cfg->name);
                        unlink_pipeline(m, p);
                }
        }
        free(seen);
        return errors ? -EINVAL : 0;
}

/* One line for systemd's STATUS=: pipelines, cores and requests. */
void manager_notify_status(Manager *m)
{
        char line[160];
        uint32_t n = 0;

        for (Pipeline *p = m->pipelines; p; p = p->next)
                n++;
        snprintf(
            line, sizeof(line),
            "STATUS=serving %u pipeline%s, %u/%u millicores allocated, %u requests in flight%s", n,
            n == 1 ? "" : "s", manager_allocated_millicores(m), m->capacity_millicores,
            m->n_requests, m->contended ? ", node contended" : "");
        notify_send(line);
}

int manager_reload(Manager *m)
{
        NodeConfig c;
        char err[1024];
        int r;

        log_notice("Reloading configuration%s%s", m->config_path ? " from " : "",
                   m->config_path ? m->config_path : "");
        r = node_config_load(m->config_path, &c, err, sizeof(err));
        if (r < 0) {
                log_error("Reload: invalid node configuration, keeping the running one: %s", err);
        } else {
                if (c.n_listen != m->config.n_listen || c.cgroup_mode != m->config.cgroup_mode)
                        log_warning("Reload: listen addresses and the cgroup backend take "
                                    "effect at the next start");
                /* Keep what only a restart can change. */
                for (size_t i = 0; i < c.n_listen; i++)
                        free(c.listen[i]);
                memcpy(c.listen, m->config.listen, sizeof(c.listen));
                c.n_listen = m->config.n_listen;
                m->config.n_listen = 0;
                c.cgroup_mode = m->config.cgroup_mode;
                free(c.cgroup_root);
                c.cgroup_root = TAKE_PTR(m->config.cgroup_root);
                c.period_us = m->config.period_us;
                node_config_done(&m->config);
                m->config = c;
                log_set_max_level(c.log_level);
        }
        r = manager_load_dir(m);
        notify_send("READY=1");
        manager_notify_status(m);
        return r;
}

int manager_start(Manager *m)
{
        int r;

        m->started_us = now_us();
        m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (m->epoll_fd < 0)
                return log_error_errno(-errno, "epoll_create1() failed: %m");
        r = setup_signals(m);
        if (r < 0)
                return log_error_errno(r, "Cannot set up signal handling: %m");
        r = setup_cgroups(m);
        if (r < 0)
                return r;
        r = control_new(m);
        if (r < 0)
                return r;
        ebpf_start(m);
        r = http_start(m);
        if (r < 0)
                return r;
        r = agentcheck_start(m);
        if (r < 0)
                return r;
        r = pipefiles_remove_stale(m->config.pipelines_dir);
        if (r > 0)
                log_notice("Removed %d temp files a previous run left in %s", r,
                           m->config.pipelines_dir);
        manager_load_dir(m);
        log_notice("sponged ready: %u millicores to hand out, cgroup backend %s, %s",
                   m->capacity_millicores, cg_mode_name(cg_ctx_mode(m->cg)),
                   m->config.control ? "control loop on" : "control loop off (plans by hand)");
        return 0;
}

static void reap_children(Manager *m)
{
        int status;
        pid_t pid;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                manager_child_exited(m, pid, status);
}

static void begin_stop(Manager *m, const char *why)
{
        if (m->stopping)
                return;
        if (m->config.drain_grace_us && !m->drain_stop_at_us) {
                /* Load balancers learn of the drain (agent check, readiness) and stop sending
                 * before requests are refused; a second signal stops at once. */
                m->drain_stop_at_us = now_us() + m->config.drain_grace_us;
                log_notice("%s: draining: still serving for %llu ms while load balancers move "
                           "away, then stopping",
                           why, (unsigned long long)(m->config.drain_grace_us / USEC_PER_MSEC));
                notify_send("STATUS=Draining: load balancers are told to send nothing new");
                return;
        }
        log_notice("%s: no new requests; answering %u in flight, then stopping workers", why,
                   m->n_requests);
        notify_send("STOPPING=1");
        m->stopping = true;
        m->stop_deadline_us = now_us() + m->config.drain_timeout_us;
        m->drain_deadline_us = m->stop_deadline_us;
        http_quiesce(m);
}

static void handle_signals(Manager *m)
{
        struct signalfd_siginfo si;

        while (read(m->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGTERM:
                case SIGINT:
                        begin_stop(m, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                        break;
                case SIGHUP:
                        notify_send("RELOADING=1");
                        manager_reload(m);
                        break;
                case SIGCHLD:
                        reap_children(m);
                        break;
                }
        }
}

/* Replicas due for a restart, a kill after their grace time, or freeing. */
static void stage_run_due(Stage *s, uint64_t now)
{
        for (Replica **rp = &s->replicas; *rp;) {
                Replica *r = *rp;
                if (r->state == REPLICA_STOPPING && r->pid <= 0) {
                        *rp = r->next;
                        replica_free(r);
                        continue;
                }
                if (r->state == REPLICA_DEAD && r->restart_at_us && r->restart_at_us <= now)
                        replica_spawn(r);
                else if (r->state == REPLICA_STOPPING && r->stop_at_us <= now)
                        spawn_kill_tree(r->pid);
                rp = &r->next;
        }
        if (s->wake_at_us && s->wake_at_us <= now)
                stage_dispatch(s, now);
}

static bool pipeline_has_replicas(const Pipeline *p)
{
        for (size_t i = 0; i < p->cfg->n_stages; i++)
                if (p->stages[i].replicas)
                        return true;
        return false;
}

/* Whether a request (answered or not) still points at p: one answered but not yet completed
 * by libmicrohttpd is freed only in http_run, after the due-work pass. */
static bool pipeline_referenced(const Manager *m, const Pipeline *p)
{
        for (const Request *req = m->requests; req; req = req->next_all)
                if (req->pipeline == p)
                        return true;
        return false;
}

/* Core-seconds: each pipeline's allocation integrated over time (for the demo and benches). */
static void integrate_cores(Manager *m, uint64_t now)
{
        double dt;

        if (!m->m.integrated_at_us) {
                m->m.integrated_at_us = now;
                return;
        }
        if (now - m->m.integrated_at_us < 10 * USEC_PER_MSEC)
                return;
        dt = (double)(now - m->m.integrated_at_us) / 1e6;
        m->m.integrated_at_us = now;
        for (Pipeline *p = m->pipelines; p; p = p->next) {
                uint32_t mc = 0;
                for (size_t i = 0; i < p->cfg->n_stages; i++) {
                        uint32_t smc = stage_allocated_millicores(&p->stages[i]);
                        p->stages[i].m.core_seconds += dt * smc / 1000.0;
                        mc += smc;
                }
                p->m.core_seconds += dt * mc / 1000.0;
                m->m.core_seconds += dt * mc / 1000.0;
        }
}

void manager_run_due(Manager *m, uint64_t now)
{
        integrate_cores(m, now);
        bounded_run_due(m, now);
        for (Pipeline *p = m->pipelines; p; p = p->next)
                for (size_t i = 0; i < p->cfg->n_stages; i++)
                        stage_run_due(&p->stages[i], now);
        for (Pipeline **pp = &m->retired; *pp;) {
                Pipeline *p = *pp;
                for (size_t i = 0; i < p->cfg->n_stages; i++) {
                        if (pipeline_is_drained(p))
                                stage_reconcile(&p->stages[i], now);
                        stage_run_due(&p->stages[i], now);
                }
                if (pipeline_is_drained(p) && !pipeline_has_replicas(p) &&
                    !pipeline_referenced(m, p)) {
                        *pp = p->next;
                        log_info("Pipeline %s: old version stopped", p->cfg->name);
                        pipeline_free(p);
                        continue;
                }
                pp = &p->next;
        }
}

/* Past the drain deadline: answer whatever is left. */
static void answer_all(Manager *m, const char *why)
{
        for (Request *req = m->requests, *next; req; req = next) {
                next = req->next_all;
                if (req->state != REQ_ANSWERED && req->state != REQ_NEW)
                        request_answer_error(req, 503, "shutting down", why);
        }
}

/* Whether every request has its answer (those still uploading a body are refused when their
 * body is complete, or dropped with their connection at exit). */
static bool all_answered(const Manager *m)
{
        for (const Request *req = m->requests; req; req = req->next_all)
                if (req->state != REQ_ANSWERED && req->state != REQ_NEW)
                        return false;
        return true;
}

/* Shutdown progress; returns true when the loop may end. */
static bool stop_step(Manager *m, uint64_t now)
{
        bool answered = true;

        for (Pipeline *p = m->pipelines; p; p = p->next)
                answered = answered && p->live_requests == 0;
        for (Pipeline *p = m->retired; p; p = p->next)
                answered = answered && p->live_requests == 0;
        if (!answered && now >= m->stop_deadline_us) {
                answer_all(m, "the agent stopped before this request could be served");
                answered = true;
        }
        if (!answered)
                return false;
        while (m->pipelines) /* retire everything: workers are told to shut down */
                unlink_pipeline(m, m->pipelines);
        if (m->stop_deadline_us > now + STOP_WORKERS_US)
                m->stop_deadline_us = now + STOP_WORKERS_US;
        /* Answers still being written are flushed by libmicrohttpd before it stops. */
        return m->retired == NULL && all_answered(m);
}

static uint64_t min_nonzero(uint64_t a, uint64_t b)
{
        return !a ? b : !b ? a : MIN(a, b);
}

static void wait_events(Manager *m, uint64_t until)
{
        struct epoll_event ev[MAX_EVENTS];
        struct timespec ts, *tp = NULL;
        uint64_t now = now_us();
        int n;

        if (until) {
                uint64_t d = until > now ? until - now : 0;
                ts.tv_sec = (time_t)(d / USEC_PER_SEC);
                ts.tv_nsec = (long)(d % USEC_PER_SEC) * 1000;
                tp = &ts;
        }
        n = epoll_pwait2(m->epoll_fd, ev, MAX_EVENTS, tp, NULL);
        for (int i = 0; i < n; i++) {
                EventSource *src = ev[i].data.ptr;
                if (src->kind == EVENT_SIGNAL)
                        handle_signals(m);
                else if (src->kind == EVENT_HTTP)
                        m->resumed = true; /* run libmicrohttpd once below */
                else if (src->kind == EVENT_CLIENT)
                        client_on_event(sq_container_of(src, Request, client_ev), ev[i].events);
                else if (src->kind == EVENT_AGENTCHECK)
                        agentcheck_on_event(m, src, ev[i].events);
                else if (src->kind == EVENT_CONTROL)
                        control_on_event(m);
                else
                        replica_on_event((Replica *)src, ev[i].events);
        }
}

int manager_run(Manager *m)
{
        uint64_t watchdog = notify_watchdog_usec() / 2, next_ping = 0, http_due;

        notify_send("READY=1");
        manager_notify_status(m);
        for (;;) {
                uint64_t now = now_us(), until;

                /* Plan first: a pipeline just added gets its first plan before its workers
                 * are spawned by the due-work pass. */
                if (m->config.control && !m->stopping)
                        control_run_due(m, now);
                manager_run_due(m, now);
                if (m->drain_stop_at_us && now >= m->drain_stop_at_us)
                        begin_stop(m, "Drain grace over");
                if (watchdog && now >= next_ping) {
                        notify_send("WATCHDOG=1");
                        manager_notify_status(m);
                        next_ping = now + watchdog;
                }
                /* libmicrohttpd runs on its epoll fd's events, after a resume, and whenever its
                 * own timeout says it has work pending without a new event. */
                http_due = http_next_timeout(m);
                if (m->resumed || (http_due && http_due <= now)) {
                        m->resumed = false;
                        http_run(m);
                }
                if (m->stopping && stop_step(m, now))
                        break;
                if (m->stopping && (now > m->stop_deadline_us + STOP_WORKERS_US ||
                                    now > m->drain_deadline_us + STOP_SLACK_US)) {
                        log_warning("Shutdown: %u requests or workers did not finish in time; "
                                    "exiting anyway",
                                    m->n_requests);
                        break;
                }
                until = min_nonzero(manager_next_wake(m), http_next_timeout(m));
                until = min_nonzero(until, agentcheck_run_due(m, now));
                if (!m->stopping)
                        until = min_nonzero(until, m->drain_stop_at_us);
                if (m->config.control && !m->stopping)
                        until = min_nonzero(until, control_run_due(m, 0));
                if (m->stopping)
                        until = min_nonzero(until, MIN(m->stop_deadline_us, now + 100000));
                if (watchdog)
                        until = min_nonzero(until, next_ping);
                wait_events(m, until);
        }
        log_notice("All requests answered and workers stopped; exiting");
        return 0;
}

/* Forgets the batches still in workers (a forced stop): the requests go next, whatever their
 * references, and a replica killed afterwards must not touch them. */
static void drop_batches(Pipeline *list)
{
        for (Pipeline *p = list; p; p = p->next)
                for (size_t i = 0; i < p->cfg->n_stages; i++)
                        for (Replica *r = p->stages[i].replicas; r; r = r->next)
                                r->batch_n = 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        /* Requests first, while their pipelines exist: answer what is left (this resumes the
         * suspended connections, which libmicrohttpd requires before it stops), let the daemons
         * complete every connection (dropping their references), then drop what remains. */
        answer_all(m, "the agent stopped before this request could be served");
        /* Resumed connections leave libmicrohttpd's suspended list only inside MHD_run;
         * MHD_stop_daemon aborts the process on one still suspended. */
        http_run(m);
        http_free(m);
        drop_batches(m->pipelines);
        drop_batches(m->retired);
        while (m->requests) { /* only after a forced stop: drop every reference */
                m->requests->refs = 1;
                request_unref(m->requests);
        }
        while (m->pipelines) {
                Pipeline *p = m->pipelines;
                m->pipelines = p->next;
                pipeline_free(p);
        }
        while (m->retired) {
                Pipeline *p = m->retired;
                m->retired = p->next;
                pipeline_free(p);
        }
        if (m->cg) {
                int r = cg_ctx_remove_root(m->cg);
                if (r < 0 && r != -EBUSY)
                        log_warning_errno(r, "Could not remove the cgroup root %s: %m",
                                          cg_ctx_root_path(m->cg));
        }
        cg_ctx_free(m->cg);
        ebpf_stop(m);
        agentcheck_free(m);
        control_free(m);
        if (m->signal_fd >= 0)
                close(m->signal_fd);
        if (m->epoll_fd >= 0)
                close(m->epoll_fd);
        node_config_done(&m->config);
        free(m->config_path);
        free(m);
        return NULL;
}

uint32_t manager_allocated_millicores(const Manager *m)
{
        uint32_t sum = 0;

        for (const Pipeline *p = m->pipelines; p; p = p->next)
                for (size_t i = 0; i < p->cfg->n_stages; i++)
                        sum += stage_allocated_millicores(&p->stages[i]);
        return sum;
}

bool manager_is_draining(const Manager *m)
{
        return m->stopping || m->drain_stop_at_us != 0;
}
