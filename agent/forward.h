/* forward.h — the names the agent's modules pass each other, without their fields.
 *
 * A header that only hands these objects around includes this one; the fields are in
 * manager.h (Manager), stage.h (Pipeline, Stage), replica.h (Replica) and dispatch.h (Request).
 * Invariant of them all: owned and touched by the loop thread only; there are no locks.
 * An epoll event's data points at an EventSource embedded in its object; kind says which.
 */
#pragma once

typedef struct Manager Manager;
typedef struct Pipeline Pipeline;
typedef struct Stage Stage;
typedef struct Replica Replica;
typedef struct Request Request;

/* What an epoll event points at. */
typedef enum EventKind {
        EVENT_HTTP,
        EVENT_SIGNAL,
        EVENT_REPLICA,
        EVENT_CLIENT,
        EVENT_AGENTCHECK,
        EVENT_CONTROL,
} EventKind;
typedef struct EventSource {
        EventKind kind;
} EventSource;
