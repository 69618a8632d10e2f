/* main.c — sponged: arguments, start-up, the loop, exit. See manager.h for the architecture. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "agent/nodeconf.h"
#include "agent/log.h"
#include "agent/manager.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: sponged [--config FILE] [--check]\n"
                   "Serves ML inference pipelines inside their latency SLOs with the fewest CPU\n"
                   "cores. Logs to stderr with syslog priority prefixes. Signals: SIGTERM drains\n"
                   "and exits, SIGHUP reloads the node config and the pipelines directory.\n\n"
                   "  -c, --config FILE   node configuration (JSON; default: built-in defaults)\n"
                   "      --check         check the node configuration, print what is wrong, exit\n"
                   "  -h, --help          this text\n"
                   "      --version       print the version\n");
}

/* --check: the node config as sponged would load it (before a deployment, like nginx -t). */
static int check_config(const char *path)
{
        NodeConfig c;
        char err[1024] = "";
        int r = node_config_load(path, &c, err, sizeof(err));

        if (r < 0) {
                fprintf(stderr, "%s\n", err[0] ? err : strerror(-r));
                return 1;
        }
        node_config_done(&c);
        printf("%s: valid node configuration\n", path ? path : "(defaults)");
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {"check", no_argument, NULL, 'C'},
            {0},
        };
        const char *config = NULL;
        bool check = false;
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
                case 'C':
                        check = true;
                        break;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return 2;
        }
        if (check)
                return check_config(config);
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
