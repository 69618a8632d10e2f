/* SPDX-License-Identifier: MIT */
/*
 * sponge-load — open-loop HTTP load generator for sponged (see tests/bench/README.md and
 * loadgen.h). Examples:
 *
 *   sponge-load --url http://127.0.0.1:8750/v1/pipelines/video/infer --rate 200 --duration 60 \
 *               --slo-ms 800
 *   sponge-load --url ... --trace ../shared/data/twitter-2018-04-rps.txt.gz --start 1301160 \
 *               --length 1200 --scale 0.125 --slo-ms 800 \
 *               --ghent ../shared/data/ghent-4g-bus-bandwidth.log --image-bytes 200000
 *
 * Per-second lines go to stderr (stdout with --live); the last line of stdout is one JSON object:
 * {"sent":..,"answered":..,"not_sent":..,"ok":..,"within_budget":..,"attainment_pct":..,
 *  "p50_ms":..,"p99_ms":..,"by_status":{"200":..},"duration_s":..,...}.
 * Exit status: 0 after a run, 1 when the generator cannot run, 2 on bad arguments.
 */
#include "tests/bench/loadgen.h"
#include "pipelines/version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
        LgOptions o;
        LgConfig *c = NULL;
        LgStats *s;
        char err[512] = "";
        int r;

        if (sponge_version_requested(argc, argv, "sponge-load"))
                return 0;
        r = lg_options_parse(argc, argv, &o, err, sizeof(err));
        if (r == 0 && o.help) {
                lg_usage(stdout);
                return 0;
        }
        if (r < 0) {
                fprintf(stderr, "sponge-load: %s\n\n", err);
                lg_usage(stderr);
                return 2;
        }
        r = lg_config_load(&o, &c, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "sponge-load: %s\n", err);
                return 2;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
                lg_config_free(c);
                fprintf(stderr, "sponge-load: out of memory\n");
                return 1;
        }
        r = lg_run(c, s, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "sponge-load: %s\n", err);
        } else {
                fflush(stderr);
                lg_stats_json(s, stdout);
                fflush(stdout);
        }
        free(s);
        lg_config_free(c);
        return r < 0 ? 1 : 0;
}
