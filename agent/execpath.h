/* execpath.h — which programs may run as workers: argv[0] is found (as given when it has a
 * slash, else in the legacy worker_path, the worker directories, then $PATH), resolved once with
 * realpath, and accepted only when the real file lies in one of the trusted worker directories
 * and every directory from / down to it, and the file itself, is owned by root or the agent's
 * uid and not writable by group or others — the check sudo and sshd make of their files.
 *
 * Interpreted workers: a script (e.g. `#!/usr/bin/python3`) installed executable in a worker
 * directory is named as argv[0]; the script is what is checked. An interpreter named as argv[0]
 * is accepted only if its directory is made a worker directory (not by default).
 *
 * Pure checks on the file system, no logging: refusals come back as a sentence naming the path
 * and why, for the caller to log or send to a client.
 */
#pragma once

#include <stddef.h>

#include "pipelines/pipeline.h"

typedef struct TrustConfig TrustConfig;

/* Resolves and checks argv0. Returns 0 with the real path in ret, -ENOENT (not found), -EACCES
 * (refused) or -ENAMETOOLONG; the reason is in why. */
int execpath_resolve(const TrustConfig *t, const char *worker_path, const char *argv0, char *ret,
                     size_t size, char *why, size_t whylen);

/* Checks dir and each of its parents: a directory owned by root or the agent's uid, not writable
 * by group or others. Returns 0 or -EACCES / -errno with the reason in why. */
int execpath_check_dir(const char *dir, char *why, size_t whylen);

/* Checks every variant's program of a pipeline. Returns 0, or the first refusal (-ENOENT or
 * -EACCES) with "stages[i].variants[j].command[0]: ..." in why. */
int execpath_check_pipeline(const TrustConfig *t, const char *worker_path, const pl_pipeline *cfg,
                            char *why, size_t whylen);
