/* agentcheck.h — HAProxy's agent-check protocol: a small TCP responder on its own port.
 *
 * HAProxy connects to the agent port of each server, optionally sends its `agent-send` string
 * (here: a pipeline name and "\n"), reads one line and closes (HAProxy configuration manual,
 * "agent-check"). The reply is capacity.h's signal: "up ready 150%", "up drain", "down#...",
 * "maint#...". Without a pipeline name the node's signal is sent.
 *
 * Invariants: every accepted connection is answered and closed within AGENTCHECK_WAIT_US (the
 * node's signal when no line came by then); at most AGENTCHECK_MAX_CONNS are open at once
 * (more are closed unanswered, which HAProxy does not count as an error). Off unless the node
 * config names agent_check.listen. Loop thread only; the listener lives from manager_start to
 * manager_free, also while draining (it is how the balancer learns of the drain).
 */
#pragma once

#include <stdint.h>

#include "agent/forward.h"

#define AGENTCHECK_WAIT_US   (200u * 1000u)
#define AGENTCHECK_MAX_CONNS 64u

/* Starts listening on the node config's agent_check.listen ("HOST:PORT"); nothing when unset.
 * Returns 0 or -errno (logged). */
int agentcheck_start(Manager *m);
/* An epoll event on one of its fds. */
void agentcheck_on_event(Manager *m, EventSource *src, uint32_t events);
/* Answers connections whose wait is over; returns the next time it must run (0 = none). */
uint64_t agentcheck_run_due(Manager *m, uint64_t now);
void agentcheck_free(Manager *m);
