/* api.c — HTTP handlers of sponged on libmicrohttpd. See api.h. */
#include "agent/api.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent/control.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/status.h"
#include "agent/ui.h"

#define API_BODY_MAX         (4u << 20) /* PUT bodies (pipeline JSON, plans) */
#define API_HEADER_VALUE_MAX 256u
#define API_CONN_TIMEOUT_S   30u
/* Open connections per listener (libmicrohttpd's default is FD_SETSIZE - 4 even with epoll). */
#define API_CONN_LIMIT 16384u
/* Per-connection memory pool (headers + buffers). libmicrohttpd clears it for every request on
 * a keep-alive connection, so larger costs CPU per request (measured: 128 KiB made memset 13% of
 * the agent's time); 32 KiB still takes header values of tens of KiB. */
#define API_CONN_MEMORY (32u * 1024u)

typedef struct Listener {
        EventSource ev;
        struct MHD_Daemon *daemon;
        char *unix_path; /* owned; unlinked at the end */
} Listener;

typedef struct Http {
        Listener listeners[NODE_CONFIG_MAX_LISTEN];
        size_t n;
} Http;

/* Per-connection request state (MHD's con_cls). */
typedef enum RouteKind { ROUTE_SIMPLE, ROUTE_INFER, ROUTE_BODY } RouteKind;
typedef struct HttpCtx {
        RouteKind kind;
        Request *req; /* ROUTE_INFER: one reference held until the connection completes */
        Buf body;     /* ROUTE_BODY */
        uint64_t limit;
        unsigned early_status; /* answer decided before the body was read */
        char early_error[64];
        char early_detail[256];
} HttpCtx;

unsigned api_status_from_errno(int r)
{
        switch (r) {
        case -EINVAL:
        case -EBADMSG:
        case -ERANGE:
                return MHD_HTTP_BAD_REQUEST;
        case -ENOENT:
                return MHD_HTTP_NOT_FOUND;
        case -EEXIST:
                return MHD_HTTP_CONFLICT;
        case -EFBIG:
        case -E2BIG:
        case -EMSGSIZE:
                return MHD_HTTP_CONTENT_TOO_LARGE;
        case -ENOBUFS:
                return MHD_HTTP_TOO_MANY_REQUESTS;
        case -EPIPE:
        case -EPROTO:
        case -ECONNRESET:
                return MHD_HTTP_BAD_GATEWAY;
        case -ESHUTDOWN:
        case -EBUSY:
        case -ENOSPC:
                return MHD_HTTP_SERVICE_UNAVAILABLE;
        case -ETIME:
        case -ETIMEDOUT:
                return MHD_HTTP_GATEWAY_TIMEOUT;
        default:
                return MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const void *body, size_t len)
{
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret;

        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", type);
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, "Allow", "GET, PUT, POST, DELETE");
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        enum MHD_Result ret;

        json_decref(j);
        if (!s)
                return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                             "{\"error\":\"out of memory\"}\n", 26);
        ret = reply(c, status, "application/json", s, strlen(s));
        free(s);
        return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *error,
                                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *error,
                                   const char *fmt, ...)
{
        char detail[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        return reply_json(c, status, json_pack("{s:s, s:s}", "error", error, "detail", detail));
}

/* ---- request budgets ------------------------------------------------------------------------ */

/* One optional header as milliseconds: -ENOENT absent, -EINVAL malformed (message in err). */
static int header_ms(struct MHD_Connection *c, const char *name, double *ret, char *err,
                     size_t errlen)
{
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
        double x;

        if (!v)
                return -ENOENT;
        /* Decimal only: strtod would also take "0x10", "inf" and "1e3". */
        if (strlen(v) > API_HEADER_VALUE_MAX || v[strspn(v, "0123456789.")] != '\0' ||
            parse_double(v, &x) < 0 || x < 0 || x > (double)PL_SLO_MS_MAX) {
                snprintf(err, errlen,
                         "%s: expected milliseconds, a number in [0, %u], got \"%.64s%s\"", name,
                         PL_SLO_MS_MAX, v, strlen(v) > 64 ? "..." : "");
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

/* The request's own budget in µs from its headers (or the pipeline's SLO). -EINVAL for bad
 * headers, -ETIME when nothing is left of it. */
static int request_budget(struct MHD_Connection *c, const Pipeline *p, uint64_t *ret, char *err,
                          size_t errlen)
{
        double slo = (double)p->cfg->slo_us / 1000.0, net = 0, dl = 0, budget;
        int r_slo = header_ms(c, "X-Sponge-Slo-Ms", &slo, err, errlen);
        int r_net =
            r_slo == -EINVAL ? -EINVAL : header_ms(c, "X-Sponge-Network-Ms", &net, err, errlen);
        int r_dl =
            r_net == -EINVAL ? -EINVAL : header_ms(c, "X-Sponge-Deadline-Ms", &dl, err, errlen);

        if (r_slo == -EINVAL || r_net == -EINVAL || r_dl == -EINVAL)
                return -EINVAL;
        if (r_slo == 0 && slo <= 0) {
                snprintf(err, errlen, "X-Sponge-Slo-Ms: must be greater than 0");
                return -EINVAL;
        }
        if (r_dl == 0 && (r_slo == 0 || r_net == 0)) {
                snprintf(err, errlen,
                         "give X-Sponge-Deadline-Ms alone, or X-Sponge-Slo-Ms and/or "
                         "X-Sponge-Network-Ms, not both");
                return -EINVAL;
        }
        budget = r_dl == 0 ? dl : slo - net;
        if (budget <= 0) {
                snprintf(err, errlen, "no time left: budget %.3f ms (SLO %.3f ms, network %.3f ms)",
                         budget, r_dl == 0 ? dl : slo, net);
                return -ETIME;
        }
        *ret = (uint64_t)(budget * 1000.0);
        return 0;
}

/* ---- routing -------------------------------------------------------------------------------- */

typedef struct Route {
        char pipeline[PL_NAME_MAX + 2];
        const char *sub; /* "", "infer", "plan" */
        bool collection; /* /v1/pipelines */
} Route;

/* Splits /v1/pipelines[/{p}[/infer|/plan]]. Returns 0, or -ENOENT for other paths. */
static int parse_pipeline_url(const char *url, Route *ret)
{
        const char *prefix = "/v1/pipelines", *p, *slash;
        size_t n;

        *ret = (Route){.sub = ""};
        if (strncmp(url, prefix, strlen(prefix)) != 0)
                return -ENOENT;
        p = url + strlen(prefix);
        if (*p == '\0' || strcmp(p, "/") == 0) {
                ret->collection = true;
                return 0;
        }
        if (*p != '/')
                return -ENOENT;
        p++;
        slash = strchr(p, '/');
        n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n > PL_NAME_MAX)
                return -ENOENT;
        memcpy(ret->pipeline, p, n);
        ret->pipeline[n] = '\0';
        if (!slash || strcmp(slash, "/") == 0)
                return 0;
        if (strcmp(slash, "/infer") == 0)
                ret->sub = "infer";
        else if (strcmp(slash, "/plan") == 0)
                ret->sub = "plan";
        else
                return -ENOENT;
        return 0;
}

static enum MHD_Result reply_not_found(struct MHD_Connection *c, const char *url)
{
        return reply_error(c, MHD_HTTP_NOT_FOUND, "not found",
                           "no route for %.200s (routes: /v1/pipelines[/NAME[/infer|/plan]], "
                           "/v1/node, /metrics, /healthz, /ui/)",
                           url);
}

static enum MHD_Result reply_no_pipeline(struct MHD_Connection *c, const char *name)
{
        return reply_error(c, MHD_HTTP_NOT_FOUND, "unknown pipeline",
                           "no pipeline named \"%.40s\" (GET /v1/pipelines lists them)", name);
}

static enum MHD_Result reply_method(struct MHD_Connection *c, const char *method, const char *url,
                                    const char *allowed)
{
        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                           "%.16s is not accepted on %.200s (accepted: %s)", method, url, allowed);
}

/* ---- handlers (final call: the whole body is in) --------------------------------------------- */

static enum MHD_Result on_put_pipeline(Manager *m, struct MHD_Connection *c, const Route *rt,
                                       const Buf *body)
{
        json_error_t jerr;
        json_t *j = json_loadb((const char *)body->data, body->len, JSON_REJECT_DUPLICATES, &jerr);
        pl_pipeline *cfg = NULL;
        char err[1024];
        int r;

        if (!j)
                return reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid JSON", "%d:%d: %s", jerr.line,
                                   jerr.column, jerr.text);
        r = pl_from_json(j, &cfg, err, sizeof(err));
        json_decref(j);
        if (r < 0)
                return reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid pipeline", "%s", err);
        if (strcmp(cfg->name, rt->pipeline) != 0) {
                reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid pipeline",
                            "name: \"%s\" does not match the URL's \"%.40s\"", cfg->name,
                            rt->pipeline);
                pl_pipeline_free(cfg);
                return MHD_YES;
        }
        r = manager_persist_pipeline(m, cfg);
        if (r < 0) {
                pl_pipeline_free(cfg);
                return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot persist",
                                   "writing %s/%s.json failed: %s; nothing changed",
                                   m->config.pipelines_dir, rt->pipeline, strerror(-r));
        }
        {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s.json", m->config.pipelines_dir, rt->pipeline);
                r = manager_apply_pipeline(m, cfg, path);
        }
        if (r < 0)
                return reply_error(c, api_status_from_errno(r), "cannot apply", "%s", strerror(-r));
        return reply_json(c, r > 0 ? MHD_HTTP_CREATED : MHD_HTTP_OK,
                          status_pipeline(manager_find_pipeline(m, rt->pipeline), true));
}

static enum MHD_Result on_put_plan(Manager *m, struct MHD_Connection *c, Pipeline *p,
                                   const Buf *body)
{
        json_error_t jerr;
        json_t *j = json_loadb((const char *)body->data, body->len, JSON_REJECT_DUPLICATES, &jerr);
        _cleanup_free_ pl_plan_entry *plan = NULL;
        char err[1024];
        int r;

        if (!j)
                return reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid JSON", "%d:%d: %s", jerr.line,
                                   jerr.column, jerr.text);
        r = pl_check_plan(p->cfg, j, &plan, err, sizeof(err));
        json_decref(j);
        if (r < 0)
                return reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid plan", "%s", err);
        p->pinned = true;
        for (size_t i = 0; i < p->cfg->n_stages; i++)
                stage_set_plan(&p->stages[i], &plan[i]);
        log_notice("Pipeline %s: plan pinned by hand", p->cfg->name);
        (void)m;
        return reply_json(c, MHD_HTTP_OK, status_pipeline(p, false));
}

static json_t *plan_json(const Pipeline *p)
{
        _cleanup_free_ pl_plan_entry *plan = calloc(p->cfg->n_stages, sizeof(pl_plan_entry));

        if (!plan)
                return NULL;
        for (size_t i = 0; i < p->cfg->n_stages; i++)
                plan[i] = p->stages[i].plan;
        return json_pack("{s:o, s:b}", "plan", pl_plan_to_json(p->cfg, plan), "pinned", p->pinned);
}

static enum MHD_Result on_plan(Manager *m, struct MHD_Connection *c, const char *method,
                               Pipeline *p, const Buf *body)
{
        if (strcmp(method, "GET") == 0)
                return reply_json(c, MHD_HTTP_OK, plan_json(p));
        if (strcmp(method, "PUT") == 0)
                return on_put_plan(m, c, p, body);
        if (strcmp(method, "DELETE") == 0) {
                if (p->cfg->policy == PL_POLICY_STATIC)
                        return reply_error(c, MHD_HTTP_CONFLICT, "static pipeline",
                                           "policy \"static\" always runs its file's plan; "
                                           "change the pipeline's policy to let the agent plan");
                p->pinned = false;
                log_notice("Pipeline %s: plan unpinned; the control loop decides", p->cfg->name);
                return reply_json(c, MHD_HTTP_OK, plan_json(p));
        }
        return reply_method(c, method, "/v1/pipelines/NAME/plan", "GET, PUT, DELETE");
}

static enum MHD_Result on_pipelines(Manager *m, struct MHD_Connection *c, const char *method,
                                    const char *url, const Buf *body)
{
        Route rt;
        Pipeline *p;
        int r;

        if (parse_pipeline_url(url, &rt) < 0)
                return reply_not_found(c, url);
        if (rt.collection)
                return strcmp(method, "GET") == 0 ? reply_json(c, MHD_HTTP_OK, status_pipelines(m))
                                                  : reply_method(c, method, url, "GET");
        if (pl_validate_name(rt.pipeline) < 0)
                return reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid pipeline name",
                                   "\"%.40s\": names match [a-z0-9][a-z0-9_-]{0,31}", rt.pipeline);
        p = manager_find_pipeline(m, rt.pipeline);
        if (strcmp(rt.sub, "plan") == 0)
                return p ? on_plan(m, c, method, p, body) : reply_no_pipeline(c, rt.pipeline);
        if (strcmp(rt.sub, "infer") == 0)
                return reply_method(c, method, url, "POST");
        if (strcmp(method, "GET") == 0)
                return p ? reply_json(c, MHD_HTTP_OK, status_pipeline(p, true))
                         : reply_no_pipeline(c, rt.pipeline);
        if (strcmp(method, "PUT") == 0)
                return on_put_pipeline(m, c, &rt, body);
        if (strcmp(method, "DELETE") == 0) {
                r = manager_delete_pipeline(m, rt.pipeline);
                if (r < 0)
                        return reply_no_pipeline(c, rt.pipeline);
                manager_unpersist_pipeline(m, rt.pipeline);
                return reply_json(c, MHD_HTTP_OK,
                                  json_pack("{s:s, s:s}", "deleted", rt.pipeline, "detail",
                                            "accepted requests are still answered"));
        }
        return reply_method(c, method, url, "GET, PUT, DELETE");
}

/* GET /ui/...: the web view, from the files embedded at build time (ui.h). */
static enum MHD_Result on_ui(struct MHD_Connection *c, const char *method, const char *url)
{
        const UiAsset *a = ui_find(url);
        struct MHD_Response *resp;
        enum MHD_Result ret;
        bool redirect = strcmp(url, "/ui") == 0;

        if (!a && !redirect)
                return reply_not_found(c, url);
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return reply_method(c, method, url, "GET, HEAD");
        resp = redirect ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
                        : MHD_create_response_from_buffer(a->len, (void *)a->data,
                                                          MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        if (redirect)
                MHD_add_response_header(resp, "Location", "/ui/");
        else
                MHD_add_response_header(resp, "Content-Type", a->content_type);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; frame-ancestors 'none'");
        ret = MHD_queue_response(c, redirect ? MHD_HTTP_PERMANENT_REDIRECT : MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_simple(Manager *m, struct MHD_Connection *c, const char *method,
                                 const char *url, const Buf *body)
{
        if (strncmp(url, "/ui", 3) == 0 && (url[3] == '\0' || url[3] == '/'))
                return on_ui(c, method, url);
        if (strcmp(url, "/healthz") == 0)
                return strcmp(method, "GET") == 0
                           ? reply_json(
                                 c, MHD_HTTP_OK,
                                 json_pack("{s:s, s:b}", "status", "ok", "stopping", m->stopping))
                           : reply_method(c, method, url, "GET");
        if (strcmp(url, "/v1/node") == 0)
                return strcmp(method, "GET") == 0 ? reply_json(c, MHD_HTTP_OK, status_node(m))
                                                  : reply_method(c, method, url, "GET");
        if (strcmp(url, "/metrics") == 0) {
                Buf out = {0};
                enum MHD_Result ret;
                if (strcmp(method, "GET") != 0)
                        return reply_method(c, method, url, "GET");
                if (status_metrics(m, &out) < 0) {
                        buf_done(&out);
                        return reply_error(c, 500, "out of memory", "rendering metrics");
                }
                ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", out.data, out.len);
                buf_done(&out);
                return ret;
        }
        return on_pipelines(m, c, method, url, body);
}

/* ---- infer ---------------------------------------------------------------------------------- */

static void early(HttpCtx *ctx, unsigned status, const char *error, const char *detail)
{
        ctx->early_status = status;
        snprintf(ctx->early_error, sizeof(ctx->early_error), "%s", error);
        snprintf(ctx->early_detail, sizeof(ctx->early_detail), "%s", detail);
}

/* First call of an infer request: headers are in, the body is not. */
static int infer_begin(Manager *m, struct MHD_Connection *c, Pipeline *p, HttpCtx *ctx)
{
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t len = 0, budget = 0;
        char err[256];
        int r;

        ctx->kind = ROUTE_INFER;
        ctx->limit = p->cfg->max_body_bytes;
        ctx->req = request_new(m, p);
        if (!ctx->req)
                return -ENOMEM;
        ctx->req->conn = c;
        p->m.arrivals_current_second++;
        if (cl && parse_u64(cl, &len) == 0 && len > ctx->limit) {
                snprintf(err, sizeof(err), "body of %llu bytes; pipeline %s accepts at most %llu",
                         (unsigned long long)len, p->cfg->name, (unsigned long long)ctx->limit);
                early(ctx, MHD_HTTP_CONTENT_TOO_LARGE, "body too large", err);
                return 0;
        }
        r = request_budget(c, p, &budget, err, sizeof(err));
        if (r < 0) {
                early(ctx, api_status_from_errno(r),
                      r == -ETIME ? "deadline cannot be met" : "bad header", err);
                return 0;
        }
        ctx->req->arrival_us = now_us();
        ctx->req->budget_us = budget;
        ctx->req->deadline_us = ctx->req->arrival_us + budget;
        return 0;
}

static enum MHD_Result infer_finish(HttpCtx *ctx, struct MHD_Connection *c)
{
        Request *req = ctx->req;
        char detail[256];
        int r;

        if (req->response) { /* resumed: the answer is ready */
                enum MHD_Result ret = MHD_queue_response(c, req->status, req->response);
                MHD_destroy_response(req->response);
                req->response = NULL;
                return ret;
        }
        if (req->state != REQ_NEW)
                return MHD_YES; /* still suspended by a spurious call */
        if (ctx->early_status) {
                request_answer_error(req, ctx->early_status, ctx->early_error, ctx->early_detail);
                return infer_finish(ctx, c);
        }
        control_observe_budget(req->pipeline, req->budget_us, req->arrival_us);
        r = request_admit(req, now_us());
        if (r < 0) {
                snprintf(detail, sizeof(detail), "%s",
                         r == -ENOBUFS ? "the pipeline's queue is at its limit (queue_limit)"
                         : r == -ETIME ? "the estimated service time exceeds the request's budget"
                         : r == -EBUSY ? "the agent is at its limit of requests in flight"
                         : r == -ESHUTDOWN ? "the pipeline or the agent is shutting down"
                                           : strerror(-r));
                request_answer_error(req, api_status_from_errno(r),
                                     r == -ENOBUFS ? "queue full"
                                     : r == -ETIME ? "deadline cannot be met"
                                                   : "unavailable",
                                     detail);
                return infer_finish(ctx, c);
        }
        if (req->response) /* answered at once (dropped by the batcher) */
                return infer_finish(ctx, c);
        req->suspended = true;
        MHD_suspend_connection(c);
        return MHD_YES;
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------------------- */

static int begin(Manager *m, struct MHD_Connection *c, const char *url, const char *method,
                 HttpCtx *ctx)
{
        Route rt;
        Pipeline *p;

        m->m.http_requests++;
        if (parse_pipeline_url(url, &rt) == 0 && strcmp(rt.sub, "infer") == 0 &&
            strcmp(method, "POST") == 0) {
                p = manager_find_pipeline(m, rt.pipeline);
                if (p && !m->stopping)
                        return infer_begin(m, c, p, ctx);
                if (p) {
                        early(ctx, 503, "unavailable", "the agent is shutting down");
                } else {
                        char d[160];
                        snprintf(d, sizeof(d),
                                 "no pipeline named \"%.40s\" (GET /v1/pipelines lists them)",
                                 rt.pipeline);
                        early(ctx, 404, "unknown pipeline", d);
                }
        }
        ctx->kind = ROUTE_BODY;
        ctx->limit = API_BODY_MAX;
        return 0;
}

static int take_body(HttpCtx *ctx, const char *data, size_t len)
{
        Buf *b = ctx->kind == ROUTE_INFER ? &ctx->req->data : &ctx->body;

        if (ctx->early_status)
                return 0; /* discard: the answer is decided */
        if (b->len + len > ctx->limit) {
                char d[128];
                snprintf(d, sizeof(d), "body larger than %llu bytes",
                         (unsigned long long)ctx->limit);
                early(ctx, MHD_HTTP_CONTENT_TOO_LARGE, "body too large", d);
                return 0;
        }
        return buf_append(b, data, len);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
        Manager *m = cls;
        HttpCtx *ctx = *con_cls;

        if (!ctx) {
                ctx = calloc(1, sizeof(*ctx));
                if (!ctx || begin(m, c, url, method, ctx) < 0) {
                        free(ctx);
                        return MHD_NO;
                }
                *con_cls = ctx;
                return MHD_YES;
        }
        if (*upload_size > 0) {
                if (take_body(ctx, upload, *upload_size) < 0)
                        return MHD_NO;
                *upload_size = 0;
                return MHD_YES;
        }
        if (ctx->kind == ROUTE_INFER)
                return infer_finish(ctx, c);
        if (ctx->early_status)
                return reply_error(c, ctx->early_status, ctx->early_error, "%s", ctx->early_detail);
        return on_simple(m, c, method, url, &ctx->body);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        HttpCtx *ctx = *con_cls;

        if (!ctx)
                return;
        if (ctx->req) {
                if (ctx->req->state != REQ_ANSWERED && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
                        log_debug("Request %llu: client went away (%d)",
                                  (unsigned long long)ctx->req->id, (int)toe);
                /* Gone before its body was complete: never admitted, never answered. */
                if (ctx->req->state == REQ_NEW)
                        ctx->req->pipeline->m.answered[OUTCOME_CANCELLED]++;
                request_cancel(ctx->req);
                request_unref(ctx->req);
        }
        buf_done(&ctx->body);
        free(ctx);
        *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        char line[512];

        vsnprintf(line, sizeof(line), fmt, ap);
        line[strcspn(line, "\n")] = '\0';
        log_debug("libmicrohttpd: %s", line);
}

/* ---- listeners ------------------------------------------------------------------------------ */

static int unix_listen_socket(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void)unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
            listen(fd, 1024) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int tcp_address(const char *spec, struct sockaddr_storage *ss)
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

static int listener_start(Manager *m, Listener *l, const char *spec)
{
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
        struct sockaddr_storage ss;
        const union MHD_DaemonInfo *info;
        int fd = -1, r;

        l->ev.kind = EVENT_HTTP;
        if (strncmp(spec, "unix:", 5) == 0) {
                fd = unix_listen_socket(spec + 5);
                if (fd < 0)
                        return log_error_errno(fd, "Cannot listen on %s: %m", spec);
                l->unix_path = strdup(spec + 5);
        } else if ((r = tcp_address(spec, &ss)) < 0)
                return log_error_errno(r,
                                       "Invalid listen address \"%s\" (expected HOST:PORT, "
                                       "[V6]:PORT or unix:/path)",
                                       spec);
        else if (ss.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        l->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, on_access, m, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)API_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONN_LIMIT,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY,
            fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR,
            fd >= 0 ? (void *)(intptr_t)fd : (void *)&ss, MHD_OPTION_END);
        if (!l->daemon) {
                if (fd >= 0)
                        close(fd);
                return log_error_errno(-EADDRINUSE,
                                       "Cannot start the HTTP API on %s (address in "
                                       "use, or not permitted)",
                                       spec);
        }
        info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        manager_epoll_mod(m, info->epoll_fd, &l->ev, EPOLLIN, true);
        log_notice("HTTP API listening on %s", spec);
        return 0;
}

int http_start(Manager *m)
{
        Http *h = calloc(1, sizeof(*h));
        int r;

        if (!h)
                return -ENOMEM;
        m->http = h;
        for (size_t i = 0; i < m->config.n_listen; i++) {
                r = listener_start(m, &h->listeners[h->n], m->config.listen[i]);
                if (r < 0)
                        return r;
                h->n++;
        }
        return 0;
}

void http_run(Manager *m)
{
        for (size_t i = 0; m->http && i < m->http->n; i++)
                MHD_run(m->http->listeners[i].daemon);
}

uint64_t http_next_timeout(Manager *m)
{
        uint64_t best = 0, now = now_us();

        for (size_t i = 0; m->http && i < m->http->n; i++) {
                MHD_UNSIGNED_LONG_LONG ms;
                if (MHD_get_timeout(m->http->listeners[i].daemon, &ms) == MHD_YES) {
                        uint64_t t = now + (uint64_t)ms * USEC_PER_MSEC;
                        best = best ? MIN(best, t) : t;
                }
        }
        return best;
}

void http_quiesce(Manager *m)
{
        for (size_t i = 0; m->http && i < m->http->n; i++) {
                MHD_socket fd = MHD_quiesce_daemon(m->http->listeners[i].daemon);
                if (fd != MHD_INVALID_SOCKET)
                        close(fd);
        }
}

void http_free(Manager *m)
{
        Http *h = m->http;

        if (!h)
                return;
        for (size_t i = 0; i < h->n; i++) {
                MHD_stop_daemon(h->listeners[i].daemon);
                if (h->listeners[i].unix_path) {
                        unlink(h->listeners[i].unix_path);
                        free(h->listeners[i].unix_path);
                }
        }
        free(h);
        m->http = NULL;
}
