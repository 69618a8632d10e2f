/* replica.c — replica supervision: one worker process per replica, started with execve inside its
 * own cgroup before it runs any code, spoken to over a socketpair with the stage-worker protocol,
 * resized in place, restarted with back-off when it dies, drained and stopped on request.
 * See replica.h for the invariants. */
#include "agent/replica.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "agent/bounded.h"
#include "agent/dispatch.h"
#include "agent/ebpf.h"
#include "agent/execpath.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/spawn.h"
#include "agent/stage.h"

#define STOP_GRACE_US      (5 * USEC_PER_SEC)
#define BACKOFF_INITIAL_US (100 * USEC_PER_MSEC)
#define READ_CHUNK         65536

static Manager *replica_manager(const Replica *r)
{
        return r->stage->pipeline->manager;
}

const char *replica_state_name(ReplicaState s)
{
        static const char *const names[] = {"starting", "ready", "draining", "stopping", "dead"};

        return s <= REPLICA_DEAD ? names[s] : "?";
}

static uint32_t threads_for(uint32_t millicores)
{
        uint32_t t = (millicores + 999) / 1000;

        return t ? t : 1;
}

/* The worker's own environment (spawn.c adds the pass-through list and the socket): the
 * SPONGE_* keys, then the variant's env. Strings live in `store`. */
static void build_env(const Replica *r, char **envp, size_t max, char store[][192])
{
        const pl_variant *v = &r->stage->cfg->variants[r->variant];
        size_t n = 0, k = 0;

        snprintf(store[k], 192, "SPONGE_THREADS=%u", threads_for(r->millicores));
        envp[n++] = store[k++];
        snprintf(store[k], 192, "SPONGE_PIPELINE=%s", r->stage->pipeline->cfg->name);
        envp[n++] = store[k++];
        snprintf(store[k], 192, "SPONGE_STAGE=%s", r->stage->cfg->name);
        envp[n++] = store[k++];
        snprintf(store[k], 192, "SPONGE_VARIANT=%s", v->name);
        envp[n++] = store[k++];
        for (size_t i = 0; i < v->n_env && n + 1 < max; i++)
                envp[n++] = v->env[i];
        envp[n] = NULL;
}

/* The stage's memory and pids limits on the replica's cgroup. Without the controllers (the
 * none backend, or not mounted/delegated) the worker runs without them, said once. */
static int place_limits(Replica *r, pid_t pid)
{
        static bool said;
        const pl_stage *st = r->stage->cfg;
        int k = cg_group_set_limits(r->cg, (uint64_t)st->memory_max_mb << 20, st->pids_max, pid);

        if (k == -EOPNOTSUPP) {
                if (!said)
                        log_notice("Workers run without memory/pids limits: no memory or pids "
                                   "cgroup controller available to the agent");
                said = true;
                return 0;
        }
        return k;
}

/* spawn.c's placement step: the cpu limit, the cgroup, the memory and pids limits, while the
 * child waits. */
static int place_replica(pid_t pid, void *userdata)
{
        Replica *r = userdata;
        int k = cg_group_set_millicores(r->cg, r->millicores);

        if (k >= 0)
                k = cg_group_attach(r->cg, pid);
        if (k >= 0)
                k = place_limits(r, pid);
        if (k < 0)
                log_error_errno(k, "Failed to place worker %d in its cgroup: %s", (int)pid,
                                cg_last_error(replica_manager(r)->cg));
        return k;
}

static void schedule_restart(Replica *r, uint64_t now, const char *why)
{
        Manager *m = replica_manager(r);
        uint64_t backoff = BACKOFF_INITIAL_US << MIN(r->consecutive_failures, 16u);

        if (backoff > m->config.restart_backoff_max_us)
                backoff = m->config.restart_backoff_max_us;
        r->consecutive_failures++;
        r->state = REPLICA_DEAD;
        r->restart_at_us = now + backoff;
        snprintf(r->last_error, sizeof(r->last_error), "%.150s", why);
        snprintf(r->last_failure, sizeof(r->last_failure), "%.150s", why);
}

int replica_spawn(Replica *r)
{
        Manager *m = replica_manager(r);
        const pl_variant *v = &r->stage->cfg->variants[r->variant];
        char path[PATH_MAX], store[8][192], why[512];
        char *envp[8 + PL_MAX_ENV + 1];
        SpawnSpec spec = {.path = path,
                          .argv = v->argv,
                          .extra_env = envp,
                          .trust = &m->config.trust,
                          .place = place_replica,
                          .userdata = r};
        int fd = -1, k;
        pid_t pid = 0;

        r->restart_at_us = 0;
        /* Resolved and checked once per start; execve gets the checked real path. */
        k = execpath_resolve(&m->config.trust, m->config.worker_path, v->argv[0], path,
                             sizeof(path), why, sizeof(why));
        if (k < 0) {
                log_error("Replica %s/%s/r%u: %s", r->stage->pipeline->cfg->name,
                          r->stage->cfg->name, r->id, why);
                schedule_restart(r, now_us(), why);
                return k;
        }
        build_env(r, envp, ELEMENTSOF(envp), store);
        /* The child blocks until it is inside its cgroup: no model code ever runs outside its
         * quota. A placement failure kills it; it is reaped through SIGCHLD like any worker. */
        k = spawn_worker(&spec, &pid, &fd);
        if (k < 0 && pid <= 0) {
                schedule_restart(r, now_us(), "fork failed");
                return log_error_errno(k, "Failed to start a worker: %m");
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        r->fd = fd;
        r->pid = pid;
        r->state = REPLICA_STARTING;
        r->spawned_us = now_us();
        r->threads = threads_for(r->millicores);
        r->rbuf.len = r->wbuf.len = 0;
        r->stat_prev = (cg_stat){0};
        ebpf_watch(r);
        manager_epoll_mod(m, r->fd, &r->ev, EPOLLIN, true);
        m->m.replica_starts++;
        log_info("Replica %s/%s/r%u: started %s (pid %d, %u millicores) in %s",
                 r->stage->pipeline->cfg->name, r->stage->cfg->name, r->id, v->name, (int)pid,
                 r->millicores, cg_group_path(r->cg));
        return 0;
}

/* Closes the connection and gives back the batch in flight. The process, if any, is killed and
 * reaped through SIGCHLD (manager_child_exited). */
void replica_lost(Replica *r, const char *why)
{
        if (r->fd >= 0) {
                /* Explicitly: close() alone leaves it in the epoll set while a child forked
                 * meanwhile (before its exec) still holds a copy, and a later event would
                 * point at a freed replica. */
                (void)epoll_ctl(replica_manager(r)->epoll_fd, EPOLL_CTL_DEL, r->fd, NULL);
                close(r->fd);
                r->fd = -1;
        }
        r->want_write = false;
        if (r->batch_n > 0)
                stage_batch_failed(r, why, now_us());
        /* A worker told to shut down closes its end and exits by itself; stop_at_us bounds it. */
        if (r->pid > 0 && r->state != REPLICA_STOPPING)
                spawn_kill_tree(r->pid);
        if (r->state == REPLICA_STARTING || r->state == REPLICA_READY)
                snprintf(r->last_error, sizeof(r->last_error), "%.150s", why);
}

static int replica_flush(Replica *r)
{
        Manager *m = replica_manager(r);

        while (r->wbuf.len > 0) {
                ssize_t n = send(r->fd, r->wbuf.data, r->wbuf.len, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                spp_buf_consume(&r->wbuf, (size_t)n);
        }
        if ((r->wbuf.len > 0) != r->want_write) {
                r->want_write = r->wbuf.len > 0;
                manager_epoll_mod(m, r->fd, &r->ev, EPOLLIN | (r->want_write ? EPOLLOUT : 0),
                                  false);
        }
        return 0;
}

/* Queues bytes already appended to wbuf; on a write error the replica is lost. */
static int replica_push(Replica *r)
{
        int k = replica_flush(r);

        if (k < 0)
                replica_lost(r, "connection to worker failed");
        return k;
}

uint64_t replica_cpu_usage_us(Replica *r)
{
        cg_stat st;

        if (!r->cg || cg_group_read_stat(r->cg, &st) < 0)
                return 0;
        return st.usage_us;
}

int replica_send_batch(Replica *r, Request **reqs, uint32_t n)
{
        Manager *m = replica_manager(r);
        spp_builder b;
        int k;

        if (n > r->batch_cap) {
                Request **p = realloc(r->batch, n * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                r->batch = p;
                r->batch_cap = n;
        }
        k = spp_encode_batch_begin(&r->wbuf, ++m->next_batch_id, &b);
        for (uint32_t i = 0; k >= 0 && i < n; i++)
                k = spp_builder_add(&b, reqs[i]->id, SPP_STATUS_OK, reqs[i]->data.data,
                                    reqs[i]->data.len);
        if (k >= 0)
                k = spp_builder_end(&b, SPP_MAX_FRAME_DEFAULT);
        else
                spp_builder_abort(&b);
        if (k < 0)
                return k;
        memcpy(r->batch, reqs, n * sizeof(*reqs));
        r->batch_n = n;
        r->batch_id = m->next_batch_id;
        r->batch_start_us = now_us();
        r->batch_deadline_us = bounded_batch_deadline(r, reqs, n, r->batch_start_us);
        r->batch_answer_us = bounded_answer_deadline(r, reqs, n);
        r->batch_cpu_start_us = replica_cpu_usage_us(r);
        for (uint32_t i = 0; i < n; i++) {
                reqs[i]->state = REQ_INFLIGHT;
                reqs[i]->replica = r;
                /* The batch's own reference: a request answered meanwhile (the agent's
                 * shutdown deadline) is freed only when its batch comes back or fails. */
                reqs[i]->refs++;
        }
        replica_push(r);
        return 0;
}

static void replica_send_threads(Replica *r)
{
        uint32_t t = threads_for(r->millicores);

        if (r->fd < 0 || r->state != REPLICA_READY || t == r->threads)
                return;
        if (spp_encode_set_threads(&r->wbuf, t) >= 0) {
                r->threads = t;
                replica_push(r);
        }
}

int replica_resize(Replica *r, uint32_t millicores)
{
        Manager *m = replica_manager(r);
        int k = cg_group_set_millicores(r->cg, millicores);

        if (k < 0) {
                m->m.resize_failures++;
                return log_error_errno(k, "Failed to resize %s to %u millicores: %s",
                                       cg_group_path(r->cg), millicores, cg_last_error(m->cg));
        }
        m->m.resizes++;
        log_debug("Resized %s (pid %d) from %u to %u millicores in place", cg_group_path(r->cg),
                  (int)r->pid, r->millicores, millicores);
        r->millicores = millicores;
        replica_send_threads(r);
        return 0;
}

static void replica_send_shutdown(Replica *r, uint64_t now)
{
        r->state = REPLICA_STOPPING;
        r->stop_at_us = now + STOP_GRACE_US;
        if (r->fd >= 0 && spp_encode_shutdown(&r->wbuf) >= 0)
                replica_push(r);
}

void replica_stop(Replica *r, uint64_t now)
{
        if (r->state == REPLICA_STOPPING)
                return;
        if (r->pid <= 0) {
                /* Nothing runs: the loop's sweep frees it. */
                r->state = REPLICA_STOPPING;
                r->restart_at_us = 0;
                return;
        }
        if (r->batch_n > 0) {
                r->state = REPLICA_DRAINING;
                r->drain_deadline_us = now + replica_manager(r)->config.drain_timeout_us;
                return;
        }
        replica_send_shutdown(r, now);
}

void replica_kill(Replica *r)
{
        if (r->pid > 0) {
                ebpf_unwatch(r);
                spawn_kill_tree(r->pid);
                waitpid(r->pid, NULL, 0);
                r->pid = 0;
        }
        replica_lost(r, "agent shutting down");
}

static int on_ready(Replica *r, const spp_frame *f)
{
        Manager *m = replica_manager(r);
        uint64_t now = now_us();

        if (r->state != REPLICA_STARTING)
                return -EPROTO;
        r->state = REPLICA_READY;
        r->ready_us = now;
        r->consecutive_failures = 0;
        r->last_error[0] = '\0';
        r->threads = f->ready.threads;
        log_info("Replica %s/%s/r%u: ready in %.1f ms (pid %d)", r->stage->pipeline->cfg->name,
                 r->stage->cfg->name, r->id, (double)(now - r->spawned_us) / 1000.0, (int)r->pid);
        replica_send_threads(r);
        (void)m;
        stage_reconcile(r->stage, now);
        stage_dispatch(r->stage, now);
        return 0;
}

static int on_result(Replica *r, const spp_frame *f)
{
        uint64_t now = now_us();
        spp_item_iter it;
        spp_item item;
        uint32_t i = 0;

        if (r->batch_n == 0 || f->batch.batch_id != r->batch_id || f->batch.n != r->batch_n)
                return -EPROTO;
        spp_items_begin(f, &it);
        while (spp_items_next(&it, &item))
                if (item.request_id != r->batch[i++]->id)
                        return -EPROTO;
        stage_batch_done(r, f, now);
        if (r->state == REPLICA_DRAINING)
                replica_send_shutdown(r, now);
        return 0;
}

static int on_frame(Replica *r, const spp_frame *f)
{
        switch (f->type) {
        case SPP_READY:
                return on_ready(r, f);
        case SPP_RESULT:
                return on_result(r, f);
        case SPP_ERROR:
                snprintf(r->last_error, sizeof(r->last_error), "worker said: %.*s",
                         (int)MIN(f->error.len, 120u), f->error.msg);
                return -ECONNABORTED;
        default:
                return -EPROTO;
        }
}

static void replica_read(Replica *r)
{
        spp_frame f;
        size_t used;
        ssize_t n;
        int k;

        for (;;) {
                if (spp_buf_reserve(&r->rbuf, READ_CHUNK) < 0)
                        return replica_lost(r, "out of memory");
                n = recv(r->fd, r->rbuf.data + r->rbuf.len, r->rbuf.cap - r->rbuf.len, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0)
                        return replica_lost(r, n == 0 ? "worker closed the connection"
                                                      : "read from worker failed");
                r->rbuf.len += (size_t)n;
                while ((k = spp_frame_parse(r->rbuf.data, r->rbuf.len, SPP_MAX_FRAME_DEFAULT, &f,
                                            &used)) == 0) {
                        k = on_frame(r, &f);
                        if (k < 0 || r->fd < 0)
                                break;
                        spp_buf_consume(&r->rbuf, used);
                }
                if (k == -EAGAIN)
                        continue;
                if (r->fd >= 0) {
                        char why[160];
                        snprintf(why, sizeof(why), "protocol violation by worker: %.100s (%s)",
                                 k == -ECONNABORTED ? r->last_error : strerror(-k),
                                 spp_type_name(f.type));
                        log_warning("Replica %s/%s/r%u: %s", r->stage->pipeline->cfg->name,
                                    r->stage->cfg->name, r->id, why);
                        replica_lost(r, why);
                }
                return;
        }
}

void replica_on_event(Replica *r, uint32_t events)
{
        if (r->fd >= 0 && (events & EPOLLOUT))
                replica_push(r);
        if (r->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                replica_read(r);
}

static Replica *find_replica(Pipeline *list, pid_t pid)
{
        for (Pipeline *p = list; p; p = p->next)
                for (size_t i = 0; i < p->cfg->n_stages; i++)
                        for (Replica *r = p->stages[i].replicas; r; r = r->next)
                                if (r->pid == pid)
                                        return r;
        return NULL;
}

static void describe_exit(int status, char *buf, size_t size)
{
        if (WIFEXITED(status))
                snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, size, "killed by signal %s", strsignal(WTERMSIG(status)));
        else
                snprintf(buf, size, "ended (status 0x%x)", (unsigned)status);
}

void manager_child_exited(Manager *m, pid_t pid, int status)
{
        Replica *r = find_replica(m->pipelines, pid);
        char how[64], why[200];
        uint64_t now = now_us();

        if (!r)
                r = find_replica(m->retired, pid);
        if (!r)
                return;
        describe_exit(status, how, sizeof(how));
        ebpf_unwatch(r);
        spawn_kill_tree(pid); /* what the worker left in its process group dies with it */
        r->pid = 0;
        m->m.replica_exits++;
        if (r->state == REPLICA_STOPPING || r->state == REPLICA_DRAINING) {
                replica_lost(r, "worker stopped");
                r->state = REPLICA_STOPPING; /* swept by the loop */
                log_info("Replica %s/%s/r%u: stopped (%s)", r->stage->pipeline->cfg->name,
                         r->stage->cfg->name, r->id, how);
                return;
        }
        snprintf(why, sizeof(why), "%.60s%s%.120s", how, r->last_error[0] ? " after: " : "",
                 r->last_error);
        replica_lost(r, why);
        schedule_restart(r, now, why);
        r->restarts++;
        m->m.replica_restarts++;
        log_warning("Replica %s/%s/r%u (pid %d) %s; restarting in %llu ms",
                    r->stage->pipeline->cfg->name, r->stage->cfg->name, r->id, (int)pid, why,
                    (unsigned long long)((r->restart_at_us - now) / 1000));
}

Replica *replica_free(Replica *r)
{
        Manager *m;
        int k;

        if (!r)
                return NULL;
        m = replica_manager(r);
        replica_kill(r);
        /* keeps the stage's CPU counter monotonic when its replicas come and go (/metrics) */
        r->stage->m.cpu_retired_us += replica_cpu_usage_us(r);
        k = cg_group_kill_and_destroy(r->cg);
        if (k < 0)
                log_warning_errno(k, "Failed to remove a replica cgroup: %s", cg_last_error(m->cg));
        spp_buf_free(&r->rbuf);
        spp_buf_free(&r->wbuf);
        free(r->batch);
        free(r);
        return NULL;
}
