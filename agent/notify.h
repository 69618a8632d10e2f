/* notify.h — the sd_notify protocol, written directly: one datagram per message to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). Without
 * $NOTIFY_SOCKET every call is a no-op returning 0. See sd_notify(3).
 */
#pragma once

#include <stdint.h>

/* Sends `state` ("READY=1\nSTATUS=..."). Returns 1 if sent, 0 if not under systemd, -errno. */
int notify_send(const char *state);
/* The watchdog period from $WATCHDOG_USEC (when $WATCHDOG_PID is unset or ours), else 0. */
uint64_t notify_watchdog_usec(void);
