/* main.c — sponged: arguments, start-up, the loop, exit. See manager.h for the architecture. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "agent/log.h"
#include "agent/manager.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: sponged [--config FILE]\n"
                   "Serves ML inference pipelines inside their latency SLOs with the fewest CPU\n"
                   "cores. Logs to stderr with syslog priority prefixes. Signals: SIGTERM drains\n"
                   "and exits, SIGHUP reloads the node config and the pipelines directory.\n\n"
                   "  -c, --config FILE   node configuration (JSON; default: built-in defaults)\n"
                   "  -h, --help          this text\n"
                   "      --version       print the version\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
        };
        const char *config = NULL;
        Manager *m = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        config = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        puts("sponged " SPONGED_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return 2;
        }
        /* Many concurrent clients need many fds: take the hard limit. */
        {
                struct rlimit rl;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                        rl.rlim_cur = rl.rlim_max;
                        (void)setrlimit(RLIMIT_NOFILE, &rl);
                }
        }
        /* Orphans of a worker (its children after it died) are reparented to the agent, which
         * reaps them and, with the `none` backend, kills them with the worker's process group
         * (agent/spawn.h). */
        (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        r = manager_new(config, &m);
        if (r >= 0)
                r = manager_start(m);
        if (r >= 0)
                r = manager_run(m);
        manager_free(m);
        return r < 0 ? 1 : 0;
}
