/* spawn.h — the one way a worker process is started, by the agent and by the profiler.
 *
 * spawn_worker() creates a socketpair and forks. The child blocks on a gate until the parent's
 * `place` callback has put it in its cgroup (so no worker code ever runs outside its limits),
 * then, before execve: signals back to their defaults and unblocked, its own process group,
 * the bounding set dropped (when the agent may) and the ambient set cleared, the worker user's
 * groups/gid/uid when the TrustConfig says so, every capability set emptied, no_new_privs,
 * PDEATHSIG=SIGKILL (set after the uid change, which clears it), the worker's socket as fd 3
 * and every other fd but stdio closed (close_range). Then execve(path, argv, env) where env is
 * a short pass-through list of the agent's environment (PATH, LANG, TMPDIR, sanitizer options),
 * SPONGE_SOCKET_FD=3 and the caller's extra "KEY=VALUE" strings — nothing else of the agent.
 * A child that cannot do one of these steps writes the step to stderr and exits 126 (127 when
 * execve fails), before running any of the worker's code.
 *
 * Between fork and execve the child calls async-signal-safe functions only; every allocation
 * and name lookup happens in the parent.
 */
#pragma once

#include <sys/types.h>

#include "agent/trust.h"

#define SPAWN_WORKER_FD 3

/* Called in the parent with the child's pid while the child waits before execve. */
typedef int (*spawn_place_fn)(pid_t pid, void *userdata);

typedef struct SpawnSpec {
        const char *path;         /* the program, already resolved (execpath_resolve) */
        char *const *argv;        /* NULL-terminated */
        char *const *extra_env;   /* "KEY=VALUE", NULL-terminated; may be NULL */
        const TrustConfig *trust; /* worker user (worker_switch); NULL: keep the agent's uid */
        spawn_place_fn place;     /* may be NULL */
        void *userdata;
} SpawnSpec;

/* Starts the worker. Returns 0 with the child's pid and the agent's end of the socketpair
 * (O_CLOEXEC, blocking) in *ret_pid / *ret_fd. -errno of socketpair/pipe/fork/malloc with nothing
 * left behind. When `place` fails, the child is SIGKILLed (never reaped here: the caller reaps
 * it, as it reaps every worker), its pid and our socket end are still returned, and place's
 * error is returned. */
int spawn_worker(const SpawnSpec *s, pid_t *ret_pid, int *ret_fd);

/* SIGKILLs the worker's whole process group (the worker and whatever it started that stayed in
 * its group; after the worker was reaped, what is left of the group). Returns 0 or -errno of
 * kill() (-ESRCH: nothing left). With the
 * `none` cgroup backend this is what leaves nothing behind; the agent is also a child subreaper,
 * so orphans of a worker are reparented to it and reaped. */
int spawn_kill_tree(pid_t pid);
