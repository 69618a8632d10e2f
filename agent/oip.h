/* oip.h — the Open Inference Protocol (KServe V2 REST) on the agent's listeners, beside /v1:
 *   GET  /v2                                server metadata
 *   GET  /v2/health/live, /v2/health/ready  liveness; readiness (503 starting/draining/no replica)
 *   GET  /v2/models/{p}                     model metadata (the pipeline's declared tensors)
 *   GET  /v2/models/{p}/ready               model readiness (503 when not ready)
 *   POST /v2/models/{p}/infer               one request = one item through the pipeline
 * A pipeline is a model; pipelines have no versions (/versions/{v}/... answers 404). Inference
 * goes through the agent's one request path (dispatch.c); this file only decodes the body into
 * the first stage's item (oip-tensor.c) and encodes the answer. Every error is {"error": "..."}.
 * Loop thread only. */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/forward.h"

/* Answers any /v2 route except an inference it leaves to the request path (see below). Returns
 * false, answering nothing, when url is not a /v2 route. */
bool oip_handle(Manager *m, struct MHD_Connection *c, const char *method, const char *url,
                enum MHD_Result *ret);

/* The pipeline a "POST /v2/models/{p}/infer" names when it can take the request now; NULL
 * otherwise (oip_handle then answers: 404, 405, 503). */
Pipeline *oip_infer_target(Manager *m, const char *url, const char *method);

/* Largest request body of an inference on p (JSON text is longer than the bytes it carries). */
uint64_t oip_body_limit(const Pipeline *p);

/* Makes req an OIP request: its answer (or error) is encoded as the protocol's JSON. */
int oip_request_attach(Request *req);

/* Body complete: replaces req->data by the first stage's item and shortens the budget to
 * parameters.timeout. On a bad body answers req (400/413) and returns < 0. */
int oip_request_decode(Request *req);
