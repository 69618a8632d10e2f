/* oip.c — Open Inference Protocol routes. See oip.h; the spec is kserve/open-inference-protocol
 * specification/protocol/inference_rest.md (routes, JSON objects) and open_inference_rest.yaml
 * (OpenAPI: "/v2/" for server metadata, the response schemas); README.md says how a
 * pipeline maps to a model. */
#include "agent/oip.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/api.h"
#include "agent/dispatch.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/oip-tensor.h"
#include "agent/readiness.h"
#include "agent/stage.h"

#define OIP_PLATFORM      "sponged_pipeline"
#define OIP_JSON_OVERHEAD 8u /* JSON text per carried byte, at most (FP32 "-1.2345678e-05,") */
#define OIP_BODY_SLACK    (64u << 10)
#define OIP_BODY_CAP      (256ull << 20)
#define OIP_ROUTES                                                                                 \
        "/v2, /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready, "         \
        "POST /v2/models/NAME/infer"

typedef enum OipKind {
        OIP_UNKNOWN,
        OIP_SERVER,
        OIP_LIVE,
        OIP_READY,
        OIP_MODEL,
        OIP_MODEL_READY,
        OIP_INFER,
} OipKind;

typedef struct OipRoute {
        OipKind kind;
        char model[PL_NAME_MAX + 2]; /* longer names are cut: they name no pipeline */
        bool versioned;              /* /versions/{v}/... */
} OipRoute;

/* Splits a /v2 URL. Returns false when the URL is not under /v2. */
static bool parse_route(const char *url, OipRoute *rt)
{
        const char *p, *slash;
        size_t n;

        *rt = (OipRoute){.kind = OIP_UNKNOWN};
        if (strncmp(url, "/v2", 3) != 0 || (url[3] != '\0' && url[3] != '/'))
                return false;
        if (strcmp(url, "/v2") == 0 || strcmp(url, "/v2/") == 0)
                rt->kind = OIP_SERVER;
        else if (strcmp(url, "/v2/health/live") == 0)
                rt->kind = OIP_LIVE;
        else if (strcmp(url, "/v2/health/ready") == 0)
                rt->kind = OIP_READY;
        if (rt->kind != OIP_UNKNOWN || strncmp(url, "/v2/models/", 11) != 0)
                return true;
        p = url + 11;
        slash = strchr(p, '/');
        n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
                return true;
        memcpy(rt->model, p, MIN(n, sizeof(rt->model) - 1));
        rt->model[MIN(n, sizeof(rt->model) - 1)] = '\0';
        p += n;
        if (strncmp(p, "/versions/", 10) == 0 && p[10] != '\0' && p[10] != '/') {
                rt->versioned = true;
                p = strchr(p + 10, '/');
                p = p ? p : "";
        }
        if (*p == '\0')
                rt->kind = OIP_MODEL;
        else if (strcmp(p, "/ready") == 0)
                rt->kind = OIP_MODEL_READY;
        else if (strcmp(p, "/infer") == 0)
                rt->kind = OIP_INFER;
        return true;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *j,
                             const char *allow)
{
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        struct MHD_Response *resp;
        enum MHD_Result ret;

        json_decref(j);
        if (!s)
                s = strdup("{\"error\":\"out of memory\"}");
        if (!s)
                return MHD_NO;
        if (!j)
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(s);
                return MHD_NO;
        }
        MHD_add_response_header(resp, "Content-Type", "application/json");
        if (allow)
                MHD_add_response_header(resp, "Allow", allow);
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *allow,
                                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *allow,
                                   const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return reply(c, status, json_pack("{s:s}", "error", msg), allow);
}

static json_t *tensors_json(const OipTensors *ts)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < ts->n; i++) {
                json_t *shape = json_array();
                for (size_t d = 0; shape && d < ts->t[i].n_dims; d++)
                        json_array_append_new(shape, json_integer((json_int_t)ts->t[i].shape[d]));
                if (json_array_append_new(
                        a, json_pack("{s:s, s:s, s:o}", "name", ts->t[i].name, "datatype",
                                     pl_datatype_to_string(ts->t[i].datatype), "shape", shape)) <
                    0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static json_t *model_json(const Pipeline *p)
{
        OipTensors in = oip_inputs(p->cfg), out = oip_outputs(p->cfg);

        return json_pack("{s:s, s:s, s:o, s:o}", "name", p->cfg->name, "platform", OIP_PLATFORM,
                         "inputs", tensors_json(&in), "outputs", tensors_json(&out));
}

static json_t *model_ready_json(const Pipeline *p, bool *ready)
{
        json_t *why = NULL, *j;

        *ready = readiness_pipeline(p, &why) && !p->manager->stopping;
        j = json_pack("{s:s, s:b}", "name", p->cfg->name, "ready", *ready);
        if (j && !*ready)
                json_object_set_new(j, "reason",
                                    json_string(p->manager->stopping
                                                    ? "draining: the agent is shutting down"
                                                    : "a stage has no ready replica"));
        if (j && why && json_object_size(why))
                json_object_set(j, "stages", why);
        json_decref(why);
        return j;
}

static void model_names(const Manager *m, char *buf, size_t len)
{
        size_t off = 0;

        buf[0] = '\0';
        for (const Pipeline *p = m->pipelines; p && off < len; p = p->next) {
                int w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", p->cfg->name);
                if (w < 0)
                        return;
                off += (size_t)w;
        }
}

static Pipeline *find_model(Manager *m, const OipRoute *rt)
{
        Pipeline *p = pl_validate_name(rt->model) == 0 ? manager_find_pipeline(m, rt->model) : NULL;

        return p && !p->retired ? p : NULL;
}

static enum MHD_Result on_model(Manager *m, struct MHD_Connection *c, const char *method,
                                const OipRoute *rt)
{
        Pipeline *p = find_model(m, rt);
        char names[512];
        bool ready;

        if (!p) {
                model_names(m, names, sizeof(names));
                return reply_error(c, MHD_HTTP_NOT_FOUND, NULL,
                                   "unknown model \"%.40s\": no pipeline of that name (models: "
                                   "%s)",
                                   rt->model, names[0] ? names : "none");
        }
        if (rt->versioned)
                return reply_error(c, MHD_HTTP_NOT_FOUND, NULL,
                                   "model \"%s\" has no versions: sponged pipelines are not "
                                   "versioned (leave /versions/... out of the path)",
                                   p->cfg->name);
        if (rt->kind == OIP_INFER) {
                if (strcmp(method, "POST") != 0)
                        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST",
                                           "%.16s is not accepted on an inference route (POST)",
                                           method);
                return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
                                   "model \"%s\" takes no requests: the agent is shutting down",
                                   p->cfg->name);
        }
        if (rt->kind == OIP_MODEL)
                return reply(c, MHD_HTTP_OK, model_json(p), NULL);
        {
                json_t *j = model_ready_json(p, &ready);
                return reply(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, j, NULL);
        }
}

bool oip_handle(Manager *m, struct MHD_Connection *c, const char *method, const char *url,
                enum MHD_Result *ret)
{
        OipRoute rt;
        bool ready;
        json_t *j;

        if (!parse_route(url, &rt))
                return false;
        if (rt.kind == OIP_UNKNOWN)
                *ret = reply_error(c, MHD_HTTP_NOT_FOUND, NULL,
                                   "no route for %.200s (Open Inference Protocol routes: %s)", url,
                                   OIP_ROUTES);
        else if (rt.kind != OIP_INFER && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                *ret = reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD",
                                   "%.16s is not accepted on %.200s (GET)", method, url);
        else if (rt.kind == OIP_SERVER)
                *ret = reply(c, MHD_HTTP_OK,
                             json_pack("{s:s, s:s, s:[s]}", "name", "sponged", "version",
                                       SPONGED_VERSION, "extensions", "binary_tensor_data"),
                             NULL);
        else if (rt.kind == OIP_LIVE)
                *ret = reply(c, MHD_HTTP_OK, json_pack("{s:b}", "live", 1), NULL);
        else if (rt.kind == OIP_READY) {
                /* The spec's $ready_server_response reads {"live": $bool} (sic); both are given. */
                j = readiness_json(m, &ready);
                if (j)
                        json_object_set_new(j, "live", json_true());
                *ret = reply(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, j, NULL);
        } else
                *ret = on_model(m, c, method, &rt);
        return true;
}

Pipeline *oip_infer_target(Manager *m, const char *url, const char *method)
{
        OipRoute rt;

        if (strcmp(method, "POST") != 0 || !parse_route(url, &rt) || rt.kind != OIP_INFER ||
            rt.versioned || m->stopping)
                return NULL;
        return find_model(m, &rt);
}

uint64_t oip_body_limit(const Pipeline *p)
{
        return MIN(p->cfg->max_body_bytes * OIP_JSON_OVERHEAD + OIP_BODY_SLACK, OIP_BODY_CAP);
}

/* ---- answers --------------------------------------------------------------------------------- */

typedef struct OipState {
        OipAsk ask;
} OipState;

static void state_free(void *s)
{
        OipState *st = s;

        if (!st)
                return;
        oip_ask_done(&st->ask);
        free(st);
}

/* "error: detail" from the agent's error JSON (dispatch.c), or a line for other bodies. */
static void error_text(unsigned status, const char *type, const void *body, size_t len, char *buf,
                       size_t n)
{
        json_t *j =
            type && strcmp(type, "application/json") == 0 ? json_loadb(body, len, 0, NULL) : NULL;
        const char *e = json_string_value(json_object_get(j, "error"));
        const char *d = json_string_value(json_object_get(j, "detail"));

        if (e)
                snprintf(buf, n, "%s%s%s", e, d && d[0] ? ": " : "", d && d[0] ? d : "");
        else
                snprintf(buf, n, "request failed with HTTP status %u", status);
        json_decref(j);
}

static struct MHD_Response *response_of(const void *body, size_t len, const char *type)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);

        if (r)
                MHD_add_response_header(r, "Content-Type", type);
        return r;
}

static struct MHD_Response *error_response(const char *msg)
{
        json_t *j = json_pack("{s:s}", "error", msg);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        struct MHD_Response *r = response_of(s ? s : "{\"error\":\"out of memory\"}",
                                             s ? strlen(s) : 25, "application/json");

        free(s);
        json_decref(j);
        return r;
}

static struct MHD_Response *encode_answer(Request *req, unsigned *status, const char *type,
                                          const void *body, size_t len)
{
        OipState *st = req->answer_state;
        const pl_pipeline *cfg = req->pipeline->cfg;
        OipTensors out = oip_outputs(cfg);
        char msg[1024], v[32];
        size_t json_len = 0;
        Buf b = {0};
        int r;

        if (*status != MHD_HTTP_OK) {
                error_text(*status, type, body, len, msg, sizeof(msg));
                return error_response(msg);
        }
        r = oip_encode_response(cfg->name, &out, &st->ask, body, len, &b, &json_len, msg,
                                sizeof(msg));
        if (r < 0) {
                struct MHD_Response *e;
                char full[1100];
                *status = r == -EPROTO ? MHD_HTTP_BAD_GATEWAY : MHD_HTTP_INTERNAL_SERVER_ERROR;
                snprintf(full, sizeof(full), "model %s: %s", cfg->name, msg);
                log_debug("Request %llu: %s", (unsigned long long)req->id, full);
                e = error_response(full);
                buf_done(&b);
                return e;
        }
        struct MHD_Response *resp = response_of(
            b.data, b.len, json_len < b.len ? "application/octet-stream" : "application/json");
        if (resp && json_len < b.len) {
                snprintf(v, sizeof(v), "%zu", json_len);
                MHD_add_response_header(resp, "Inference-Header-Content-Length", v);
        }
        buf_done(&b);
        return resp;
}

int oip_request_attach(Request *req)
{
        OipState *st = calloc(1, sizeof(*st));

        if (!st)
                return -ENOMEM;
        req->answer_state = st;
        req->answer_free = state_free;
        req->answer_encode = encode_answer;
        return 0;
}

int oip_request_decode(Request *req)
{
        OipState *st = req->answer_state;
        const pl_pipeline *cfg = req->pipeline->cfg;
        OipTensors in = oip_inputs(cfg), out = oip_outputs(cfg);
        const char *h = req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                                "Inference-Header-Content-Length")
                                  : NULL;
        size_t json_len = req->data.len;
        uint64_t v;
        Buf item = {0};
        char err[512];
        int r;

        if (h && (parse_u64(h, &v) < 0 || v > req->data.len)) {
                snprintf(err, sizeof(err),
                         "Inference-Header-Content-Length: expected the length of the JSON part, "
                         "an integer in [0, %zu] (the body's length), got \"%.32s\"",
                         req->data.len, h);
                request_answer_error(req, MHD_HTTP_BAD_REQUEST, "invalid inference request", err);
                return -EINVAL;
        }
        if (h)
                json_len = (size_t)v;
        r = oip_decode_request(&in, &out, req->data.data, req->data.len, json_len,
                               api_item_limit(req->pipeline), &st->ask, &item, err, sizeof(err));
        if (r < 0) {
                buf_done(&item);
                request_answer_error(req, api_status_from_errno(r),
                                     r == -EFBIG    ? "body too large"
                                     : r == -EINVAL ? "invalid inference request"
                                                    : "cannot decode the request",
                                     err);
                return r;
        }
        buf_done(&req->data);
        req->data = item;
        /* parameters.timeout (µs) shortens the budget the headers (or the SLO) gave. */
        if (st->ask.timeout_us && st->ask.timeout_us < req->budget_us) {
                req->budget_us = st->ask.timeout_us;
                req->deadline_us = req->arrival_us + req->budget_us;
        }
        return 0;
}
