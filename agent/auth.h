/* auth.h — who is calling the HTTP API, and may they do this.
 *
 * The rule, one place for every route (README "Trust model" has the table):
 *   - GET and HEAD, and POST of .../infer, are open to every client of a configured listener;
 *   - everything else changes state (PUT/DELETE of pipelines and plans, and any route added
 *     later) and needs an identified caller: on a UNIX socket its SO_PEERCRED uid is root, the
 *     agent's own uid, or it is in the api_group (default "sponged"); on TCP it carries
 *     "Authorization: Bearer <the api_token_file's token>", and without a configured token no
 *     change is accepted over TCP;
 *   - on TCP every request's Host must be a loopback name/address or one of api_hosts (DNS
 *     rebinding), and a change with an Origin header must come from such a host too.
 * Pure decisions on what libmicrohttpd tells about the connection; no logging, no state.
 */
#pragma once

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/trust.h"

typedef struct AuthVerdict {
        unsigned status;       /* 0 = allowed, else 401 / 403 / 421 */
        const char *error;     /* short error for the JSON body */
        char detail[512];      /* what was wrong and what to do */
        bool www_authenticate; /* add WWW-Authenticate: Bearer */
} AuthVerdict;

/* True when (method, url) changes state (the rule above). */
bool auth_route_changes_state(const char *method, const char *url);

/* Decides on one request whose headers are in. Returns 0 (see ret->status) or -errno when the
 * connection cannot be inspected (then the request is refused with 403 as well). */
int auth_check(const TrustConfig *t, struct MHD_Connection *c, const char *method, const char *url,
               AuthVerdict *ret);
