/* api.h — the local HTTP API of sponged (libmicrohttpd in external-epoll mode, driven by the
 * manager's loop; JSON via jansson).
 *
 * Routes (README "HTTP API" has curl examples):
 *   POST   /v1/pipelines/{p}/infer      a request; answer = last stage's output
 *   GET    /v1/pipelines                every pipeline with a summary of its state
 *   GET    /v1/pipelines/{p}            the pipeline JSON and its live state
 *   PUT    /v1/pipelines/{p}            validate fully, persist, apply (replace)
 *   DELETE /v1/pipelines/{p}            finish its requests, stop it, remove its file
 *   GET|PUT|DELETE /v1/pipelines/{p}/plan   the plan in force; pin one by hand; unpin
 *   GET    /v1/node, /metrics, /healthz (readiness: 200 / 503 and why, readiness.h)
 *   /v2/...                             the Open Inference Protocol (oip.h)
 * Handlers only parse, call the manager, and write JSON. Every error is a JSON object
 * {"error": ..., "detail": ...}; errno codes become HTTP statuses in api_status_from_errno only.
 */
#pragma once

#include <stdint.h>

#include "agent/forward.h"

int http_start(Manager *m);
/* Runs libmicrohttpd on every listener (after epoll said so, or a connection was resumed). */
void http_run(Manager *m);
/* Absolute µs time at which libmicrohttpd wants to run (connection timeouts), 0 = none. */
uint64_t http_next_timeout(Manager *m);
/* Stops accepting connections (shutdown); open connections continue. */
void http_quiesce(Manager *m);
void http_free(Manager *m);

/* The one place where an errno becomes an HTTP status. */
unsigned api_status_from_errno(int r);

/* The largest input item a pipeline takes: its max_body_bytes, within what one batch frame to a
 * worker (and its echo back) can carry. */
uint64_t api_item_limit(const Pipeline *p);
