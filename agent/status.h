/* status.h — what the API reports: pipeline and node state as JSON, and the Prometheus text of
 * /metrics. Read-only views of the manager's state (loop thread only). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "agent/forward.h"
#include "agent/util.h"

json_t *status_pipeline(const Pipeline *p, bool with_config);
json_t *status_pipelines(const Manager *m);
json_t *status_node(const Manager *m);
int status_metrics(const Manager *m, Buf *out);
/* SLO attainment of a pipeline in percent of answered admitted requests (100 when none). */
double status_attainment_pct(const Pipeline *p);
