/* readiness.h — is the agent ready to serve: not draining, and every pipeline has a READY replica
 * in each of its stages (a stage whose replicas are still loading is "starting"). One answer for
 * /healthz, the Open Inference Protocol's /v2/health/ready and /v2/models/{p}/ready.
 * Read-only views of the manager's state (loop thread only); JSON results are new references. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/forward.h"

/* NULL when the stage has a replica that takes batches, else why not ("starting: ...",
 * "restarting after a failure: ...", "no ready replica"), possibly written into buf. */
const char *readiness_stage(const Stage *s, char *buf, size_t len);

/* True when every stage of p has a replica that takes batches. When not, and why is not NULL,
 * *why gets a new object {stage: "starting" | "restarting after a failure: ..." | ...}. */
bool readiness_pipeline(const Pipeline *p, json_t **why);

/* The node's readiness: {"status": "ok"|"unavailable", "ready", "stopping", "reason"?,
 * "pipelines": {name: {"ready", "stages"?}}}; *ret_ready says whether it is ready. */
json_t *readiness_json(const Manager *m, bool *ret_ready);
