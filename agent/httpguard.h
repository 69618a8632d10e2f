/* httpguard.h — limits that keep a greedy or slow HTTP client from exhausting the agent.
 *
 * What it does
 *   - A deadline for the request head: a connection whose head (request line + headers) is not
 *     complete within request_head_timeout_ms of its start (or of the end of its previous
 *     request) is cut (shutdown(2); libmicrohttpd then closes it). libmicrohttpd's own timeout
 *     is an idle timeout, which a client sending a byte every few seconds never trips.
 *   - A budget of request-body bytes in flight in the whole agent (max_body_bytes_in_flight):
 *     reserved as a request begins (its Content-Length) or as its body arrives, released when
 *     the request completes; past it, 503 before anything is buffered.
 * Invariants: connections waiting for their head are kept in start order, so the earliest
 * deadline is the list's head (O(1)); the reserved total is the sum of what live requests hold.
 * Loop thread only; owned by api.c's Http.
 */
#pragma once

#include <microhttpd.h>
#include <stdint.h>

#include "agent/forward.h"

typedef struct HttpGuard HttpGuard;

int httpguard_new(Manager *m, HttpGuard **ret);
HttpGuard *httpguard_free(HttpGuard *g);
/* MHD_OPTION_NOTIFY_CONNECTION callback (cls: the HttpGuard). */
void httpguard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* The head of the connection's current request is complete (first access-handler call). */
void httpguard_head_done(HttpGuard *g, struct MHD_Connection *c);
/* The connection's request completed: the next head's deadline starts now. */
void httpguard_request_done(HttpGuard *g, struct MHD_Connection *c);
/* The earliest head deadline (0 = none); cuts the connections past theirs. */
uint64_t httpguard_next_timeout(const HttpGuard *g);
void httpguard_cut_slow(HttpGuard *g, uint64_t now);
/* Adds more bytes to *held (a request's reservation). Returns 0, or -EBUSY (nothing reserved)
 * when the budget would be exceeded. */
int httpguard_reserve(HttpGuard *g, uint64_t *held, uint64_t more);
/* Gives back *held and zeroes it. */
void httpguard_release(HttpGuard *g, uint64_t *held);
