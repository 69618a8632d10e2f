/* SPDX-License-Identifier: MIT */
/*
 * plan-mix — private to sponge_plan: the inputs of InfAdapter's mix and loading cost that the
 * translation adds to a stage (start-up times, replicas in force per variant). The public
 * side (plan_stage_mix, plan_mix_entries, plan_input.mix/load_weight) is in plan.h.
 */
#pragma once

#include "agent/plan/plan.h"

/* Sets the variants' start-up time (startup_ms of the file) and, when the input names a plan
 * in force (current_mix, else current), running[v] = its replicas of variant v and
 * os->current_replicas = running; otherwise os->current_replicas stays NULL (no loading cost).
 * cur: stage i's entry in force as plan_problem_build resolved it. */
void plan__loading_inputs(const plan_input *in, size_t i, const pl_plan_entry *cur, opt_stage *os,
                          opt_variant *ov, uint32_t *running);
