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

#include "agent/auth.h"
#include "agent/bounded.h"
#include "agent/budget.h"
#include "agent/caps.h"
#include "agent/control.h"
#include "agent/dispatch.h"
#include "agent/execpath.h"
#include "agent/httpguard.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/oip.h"
#include "agent/pipefiles.h"
#include "agent/readiness.h"
#include "agent/stage.h"
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
/* Largest request body a worker can take: one item in a batch frame, and the item's echo in the
 * result frame (frame header 5, batch head 12, result item record 13: protocol.c), rounded up. */
#define API_FRAME_ITEM_MAX (SPP_MAX_FRAME_DEFAULT - 64u)

typedef struct Listener {
        EventSource ev;
        struct MHD_Daemon *daemon;
        char *unix_path; /* owned; unlinked at the end */
} Listener;

typedef struct Http {
        Listener listeners[NODE_CONFIG_MAX_LISTEN];
        size_t n;
        HttpGuard *guard; /* owned: head deadline, body budget (httpguard.c) */
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
        char early_detail[512];
        uint64_t held; /* body bytes reserved in the agent's budget (httpguard.c) */
        bool discard;  /* a method the route refuses (405/404): its body is dropped unread */
} HttpCtx;

uint64_t api_item_limit(const Pipeline *p)
{
        return MIN(p->cfg->max_body_bytes, API_FRAME_ITEM_MAX);
}

unsigned api_status_from_errno(int r)
{
        switch (r) {
        case -EINVAL:
        case -EBADMSG:
        case -ERANGE:
                return MHD_HTTP_BAD_REQUEST;
        case -ENOENT:
                return MHD_HTTP_NOT_FOUND;
        case -EACCES:
        case -EPERM:
                return MHD_HTTP_FORBIDDEN;
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
        if (status == MHD_HTTP_UNAUTHORIZED)
                MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"sponged\"");
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

/* The request's own budget in µs from its headers (or the pipeline's SLO). -EINVAL for bad
 * headers, -ETIME when nothing is left of it. The parsing itself is in budget.c. */
static int request_budget(struct MHD_Connection *c, const Pipeline *p, uint64_t *ret, char *err,
                          size_t errlen)
{
        return budget_from_headers(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, BUDGET_HEADER_SLO),
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, BUDGET_HEADER_NETWORK),
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, BUDGET_HEADER_DEADLINE), p->cfg->slo_us,
            ret, err, errlen);
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
        /* Which programs may run: refused before anything is persisted (execpath.h). */
        r = execpath_check_pipeline(&m->config.trust, m->config.worker_path, cfg, err, sizeof(err));
        if (r < 0) {
                pl_pipeline_free(cfg);
                return reply_error(c, r == -ENOENT ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_FORBIDDEN,
                                   "worker program refused", "%s; nothing changed", err);
        }
        r = node_caps_check(m, cfg, err, sizeof(err));
        if (r < 0) {
                pl_pipeline_free(cfg);
                return reply_error(c, MHD_HTTP_CONFLICT, "node limit", "%s; nothing changed", err);
        }
        {
                /* The pipeline's own file (it may have been loaded from another name). */
                const Pipeline *old = manager_find_pipeline(m, rt->pipeline);
                char path[4096];
                int n = old && old->path ? snprintf(path, sizeof(path), "%s", old->path)
                                         : snprintf(path, sizeof(path), "%s/%s.json",
                                                    m->config.pipelines_dir, rt->pipeline);
                r = n < 0 || (size_t)n >= sizeof(path) ? -ENAMETOOLONG : 0;
                if (r >= 0 && mkdir(m->config.pipelines_dir, 0755) < 0 && errno != EEXIST)
                        r = -errno;
                if (r >= 0)
                        r = pipefile_write(path, cfg);
                if (r < 0) {
                        pl_pipeline_free(cfg);
                        log_error_errno(r, "Failed to persist pipeline %s as %.200s: %m",
                                        rt->pipeline, path);
                        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot persist",
                                           "writing %.200s failed: %s; nothing changed", path,
                                           strerror(-r));
                }
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
        r = pin_save(p, plan);
        if (r < 0)
                return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot persist",
                                   "writing the pin beside %.200s failed: %s; nothing changed",
                                   p->path ? p->path : "(no file)", strerror(-r));
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
                int r = pin_forget(p);
                if (r < 0)
                        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot unpin",
                                           "removing %.200s" PIN_SUFFIX
                                           " failed: %s; the plan stays pinned",
                                           p->path, strerror(-r));
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
                if (!p)
                        return reply_no_pipeline(c, rt.pipeline);
                /* The file first: a pipeline whose file stays would come back at the next
                 * reload or start. */
                r = pipefile_remove(p);
                if (r < 0) {
                        log_error_errno(r, "Failed to remove %s: %m", p->path);
                        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot delete",
                                           "removing %.200s failed: %s; nothing changed, the "
                                           "pipeline still runs",
                                           p->path, strerror(-r));
                }
                manager_delete_pipeline(m, rt.pipeline);
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
        enum MHD_Result oip;
        bool ready;

        if (strncmp(url, "/ui", 3) == 0 && (url[3] == '\0' || url[3] == '/'))
                return on_ui(c, method, url);
        if (strcmp(url, "/healthz") == 0) {
                json_t *j = strcmp(method, "GET") == 0 ? readiness_json(m, &ready) : NULL;
                return j ? reply_json(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, j)
                         : reply_method(c, method, url, "GET");
        }
        if (oip_handle(m, c, method, url, &oip))
                return oip;
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
static int infer_begin(Manager *m, struct MHD_Connection *c, Pipeline *p, HttpCtx *ctx, bool oip)
{
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t len = 0, budget = 0;
        char err[256];
        int r;

        ctx->kind = ROUTE_INFER;
        /* A body must fit one batch frame to the worker, and its echo the reply frame (the
         * decoded item of an OIP request likewise: oip.c checks it against api_item_limit). */
        ctx->limit = oip ? oip_body_limit(p) : api_item_limit(p);
        ctx->req = request_new(m, p);
        if (ctx->req && oip && oip_request_attach(ctx->req) < 0) {
                request_unref(ctx->req);
                ctx->req = NULL;
        }
        if (!ctx->req)
                return -ENOMEM;
        ctx->req->conn = c;
        p->m.arrivals_current_second++;
        if (cl && parse_u64(cl, &len) == 0 && len > ctx->limit) {
                snprintf(err, sizeof(err),
                         "body of %llu bytes; pipeline %s accepts at most %llu (its "
                         "max_body_bytes, within the worker frame limit)",
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
        if (!req->conn)
                return MHD_NO; /* the client left while suspended (bounded.c): close */
        if (req->state != REQ_NEW)
                return MHD_YES; /* still suspended by a spurious call */
        if (ctx->early_status) {
                request_answer_error(req, ctx->early_status, ctx->early_error, ctx->early_detail);
                return infer_finish(ctx, c);
        }
        if (req->answer_encode && oip_request_decode(req) < 0) /* answered */
                return infer_finish(ctx, c);
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
        client_watch(req);
        return MHD_YES;
}

/* ---- libmicrohttpd callbacks ---------------------------------------------------------------- */

/* Routes that take a body: PUT of a pipeline or of its plan (infer is routed apart). */
static bool route_takes_body(const char *url, const char *method)
{
        Route rt;

        return strcmp(method, "PUT") == 0 && parse_pipeline_url(url, &rt) == 0 && !rt.collection &&
               (rt.sub[0] == '\0' || strcmp(rt.sub, "plan") == 0);
}

static int begin(Manager *m, struct MHD_Connection *c, const char *url, const char *method,
                 HttpCtx *ctx)
{
        Route rt;
        Pipeline *p;
        AuthVerdict auth;

        m->m.http_requests++;
        /* Who may do this: one check for every route (auth.h); a refusal is answered once the
         * body is dropped unread, and nothing runs. */
        (void)auth_check(&m->config.trust, c, method, url, &auth);
        if (auth.status) {
                early(ctx, auth.status, auth.error, auth.detail);
                ctx->kind = ROUTE_BODY;
                ctx->limit = API_BODY_MAX;
                ctx->discard = true;
                return 0;
        }
        if ((p = oip_infer_target(m, url, method)))
                return infer_begin(m, c, p, ctx, true);
        if (parse_pipeline_url(url, &rt) == 0 && strcmp(rt.sub, "infer") == 0 &&
            strcmp(method, "POST") == 0) {
                p = manager_find_pipeline(m, rt.pipeline);
                if (p && !m->stopping)
                        return infer_begin(m, c, p, ctx, false);
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
        ctx->limit = route_takes_body(url, method) ? API_BODY_MAX : 0;
        /* GET, HEAD and DELETE with a body: 413. Other methods without a body route are
         * answered 405 or 404 by the handler; their body is not kept. */
        ctx->discard = ctx->limit == 0 && strcmp(method, "GET") != 0 &&
                       strcmp(method, "HEAD") != 0 && strcmp(method, "DELETE") != 0;
        return 0;
}

/* Reserves the body's announced length in the agent's budget as the request begins. */
static void begin_budget(Manager *m, struct MHD_Connection *c, HttpCtx *ctx)
{
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t len = 0;

        if (ctx->early_status || ctx->discard || !cl || parse_u64(cl, &len) < 0 || len == 0)
                return;
        if (len > ctx->limit) {
                char d[128];
                if (ctx->limit)
                        snprintf(d, sizeof(d), "body of %llu bytes; this route takes at most %u",
                                 (unsigned long long)len, API_BODY_MAX);
                else
                        snprintf(d, sizeof(d),
                                 "this route takes no body (PUT of a pipeline or a "
                                 "plan and POST .../infer do)");
                early(ctx, MHD_HTTP_CONTENT_TOO_LARGE, "body too large", d);
                return;
        }
        if (httpguard_reserve(m->http->guard, &ctx->held, len) < 0) {
                m->m.http_budget_refused++;
                early(ctx, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                      "the agent's budget of request bodies in flight (max_body_bytes_in_flight) "
                      "is used up; retry later");
        }
}

static int take_body(Manager *m, HttpCtx *ctx, const char *data, size_t len)
{
        Buf *b = ctx->kind == ROUTE_INFER ? &ctx->req->data : &ctx->body;

        if (ctx->early_status || ctx->discard)
                return 0; /* discard: the answer is decided */
        if (b->len + len > ctx->limit) {
                char d[128];
                if (ctx->limit)
                        snprintf(d, sizeof(d), "body larger than %llu bytes",
                                 (unsigned long long)ctx->limit);
                else
                        snprintf(d, sizeof(d), "this route takes no body");
                early(ctx, MHD_HTTP_CONTENT_TOO_LARGE, "body too large", d);
                return 0;
        }
        /* Bodies without a (true) Content-Length are reserved as they arrive. */
        if (b->len + len > ctx->held &&
            httpguard_reserve(m->http->guard, &ctx->held, b->len + len - ctx->held) < 0) {
                m->m.http_budget_refused++;
                buf_done(b);
                early(ctx, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                      "the agent's budget of request bodies in flight (max_body_bytes_in_flight) "
                      "is used up; retry later");
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
                httpguard_head_done(m->http->guard, c);
                if (!ctx || begin(m, c, url, method, ctx) < 0) {
                        free(ctx);
                        return MHD_NO;
                }
                begin_budget(m, c, ctx);
                *con_cls = ctx;
                return MHD_YES;
        }
        if (*upload_size > 0) {
                if (take_body(m, ctx, upload, *upload_size) < 0)
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
        Manager *m = cls;
        HttpCtx *ctx = *con_cls;

        httpguard_request_done(m->http->guard, c);
        if (!ctx)
                return;
        httpguard_release(m->http->guard, &ctx->held);
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

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
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
        } else if ((r = parse_tcp_address(spec, &ss)) < 0)
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
            MHD_OPTION_NOTIFY_CONNECTION, httpguard_notify, m->http->guard,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned)(fd >= 0 ? 0 : m->config.max_connections_per_ip),
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

        if (!h || httpguard_new(m, &h->guard) < 0) {
                free(h);
                return -ENOMEM;
        }
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
        if (m->http)
                httpguard_cut_slow(m->http->guard, now_us());
        for (size_t i = 0; m->http && i < m->http->n; i++)
                MHD_run(m->http->listeners[i].daemon);
}

uint64_t http_next_timeout(Manager *m)
{
        uint64_t best = m->http ? httpguard_next_timeout(m->http->guard) : 0, now = now_us();

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
        httpguard_free(h->guard);
        free(h);
        m->http = NULL;
}
