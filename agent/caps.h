/* caps.h — node-wide caps on what a change may ask for: at most max_pipelines pipelines and at
 * most max_replicas replicas (the sum of every stage's replicas.max, so no plan can exceed it)
 * over all pipelines (node config, trust.h). Checked before a pipeline is persisted or applied;
 * a pipeline that replaces one of the same name counts instead of it. */
#pragma once

#include <stddef.h>

#include "agent/forward.h"
#include "pipelines/pipeline.h"

/* Returns 0, or -EDQUOT with what is over which cap in why. */
int node_caps_check(const Manager *m, const pl_pipeline *cfg, char *why, size_t whylen);
