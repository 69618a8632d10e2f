/* SPDX-License-Identifier: MIT */
/*
 * sponge-worker-echo — returns every input item unchanged. No arithmetic at all, so a
 * benchmark through it measures the agent's data plane (HTTP, queue, batcher, framing, socket)
 * and nothing else. Usage: sponge-worker-echo [--name NAME] [--never-ready]; invalid arguments
 * exit 2. --never-ready keeps the socket open and never says READY (a worker stuck loading: the
 * agent's start-up deadline is tested with it).
 */
#include "pipelines/version.h"
#include "pipelines/worker/worker.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int process(const spw_batch *in, spw_outputs *out, void *userdata)
{
        for (size_t i = 0; i < in->n; i++) {
                int r = spw_output_set(out, i, in->items[i].data, in->items[i].len);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: sponge-worker-echo [--name NAME] [--never-ready]\n"
                   "Serves the sponged stage-worker protocol on $SPONGE_SOCKET_FD or "
                   "$SPONGE_SOCKET,\nanswering each item with its own bytes. --never-ready: "
                   "never say READY (a stuck start-up).\n");
}

int main(int argc, char **argv)
{
        spw_worker w = {.name = "echo", .process = process};
        int never_ready = 0;

        if (sponge_version_requested(argc, argv, "sponge-worker-echo"))
                return 0;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--name") == 0 && i + 1 < argc && argv[i + 1][0] != '\0') {
                        w.name = argv[++i];
                } else if (strcmp(argv[i], "--never-ready") == 0) {
                        never_ready = 1;
                } else if (strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return 0;
                } else {
                        fprintf(stderr, "sponge-worker-echo: unexpected argument '%s'\n", argv[i]);
                        usage(stderr);
                        return 2;
                }
        }
        while (never_ready)
                pause(); /* the socket stays open; the agent's deadline ends this */
        return spw_main(&w);
}
