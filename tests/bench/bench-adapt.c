/* bench-adapt — cost of one control-loop iteration (observe, solve, act) of a real sponged
 * manager with 1 and with 10 pipelines (copies of pipelines/examples/video.json, each with its
 * own real worker processes, cgroup backend `none` so it runs anywhere).
 *
 * "loop" is what the event-loop thread spends per iteration (observe, build and post the
 * problem, then apply the decision); "solve" runs on the solver thread meanwhile (issue 19:
 * solving off the loop), so it is no longer part of the loop's figure.
 *
 * Each iteration is fed a different arrival count per pipeline (uniform in 2..20 requests/s,
 * from light load to what one pipeline's share of cores carries), so the solver sees a new
 * problem every time, as under a real trace. The reaction time
 * (load step → new quota written) is measured on the live daemon by bench-adapt.sh, which runs
 * this program first.
 *
 * Last line: {"loop_p50_us_1":..,"loop_p99_us_1":..,"solve_p99_us_1":..,"loop_p50_us_10":..,
 *             "loop_p99_us_10":..,"solve_p99_us_10":..,"iterations":..}
 */
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/control.h"
#include "agent/log.h"
#include "agent/manager.h"
#include "agent/stage.h"

#define ITERATIONS 400

/* CPU time of this thread: the figure that does not depend on what else the machine runs. */
static uint64_t cpu_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return (x > y) - (x < y);
}

static int write_pipelines(const char *dir, const char *example, int n)
{
        json_error_t e;
        json_t *j = json_load_file(example, 0, &e);

        if (!j) {
                fprintf(stderr, "bench-adapt: %s: %s\n", example, e.text);
                return -1;
        }
        for (int i = 0; i < n; i++) {
                char name[32], path[700];
                snprintf(name, sizeof(name), "video%d", i);
                snprintf(path, sizeof(path), "%s/%s.json", dir, name);
                json_object_set_new(j, "name", json_string(name));
                if (json_dump_file(j, path, 0) < 0)
                        return -1;
        }
        json_decref(j);
        return 0;
}

/* One iteration as the daemon runs it: observe and post on this (the loop's) thread, the solve
 * on the solver thread, the decision applied here when its eventfd fires. The thread CPU time
 * measured around it is the loop's only (the wait sleeps). */
static int tick(Manager *m, uint64_t now)
{
        struct pollfd pfd = {.fd = control_fd(m), .events = POLLIN};

        if (pfd.fd < 0)
                return control_tick(m, now), 0;
        control_post(m, now);
        if (poll(&pfd, 1, 60000) != 1) {
                fprintf(stderr, "bench-adapt: no decision within 60 s\n");
                return -1;
        }
        return control_on_event(m) == 1 ? 0 : -1;
}

/* Runs ITERATIONS control ticks on a manager with n pipelines; fills p50/p99 of the loop and
 * p99 of the solve (wall), and p50/p99 of the loop's CPU time, in µs. */
static int run(const char *example, int n, int port, uint64_t ret[5])
{
        char dir[] = "/tmp/bench-adapt.XXXXXX", pdir[600], cfg[700], text[1024];
        uint64_t loop[ITERATIONS], solve[ITERATIONS], cpu[ITERATIONS], now, start, c0;
        double rate[64] = {0};
        Manager *m = NULL;
        FILE *f;

        if (!mkdtemp(dir))
                return -1;
        snprintf(pdir, sizeof(pdir), "%s/pipelines.d", dir);
        snprintf(cfg, sizeof(cfg), "%s/node.json", dir);
        mkdir(pdir, 0755);
        if (write_pipelines(pdir, example, n) < 0)
                return -1;
        snprintf(text, sizeof(text),
                 "{\"listen\":[\"127.0.0.1:%d\"],\"pipelines_dir\":\"%s\",\"control\":false,"
                 "\"ebpf\":false,\"millicores\":%d,\"cgroup\":{\"backend\":\"none\"},"
                 "\"log_level\":\"warning\"}",
                 port, pdir, 2000 * n);
        f = fopen(cfg, "we");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                return -1;
        if (manager_new(cfg, &m) < 0 || manager_start(m) < 0) {
                manager_free(m);
                return -1;
        }
        start = now_us();
        srand(42);
        for (int k = 0; k < ITERATIONS; k++) {
                int i = 0;
                for (Pipeline *p = m->pipelines; p; p = p->next, i++) {
                        /* 2..20 requests/s: from light to what one pipeline's cores carry */
                        rate[i] = 2 + 18 * (rand() / (double)RAND_MAX);
                        p->m.arrivals_current_second = (uint64_t)rate[i];
                }
                /* The loop's clock advances one interval per iteration, so the observed rate is
                 * count / 1 s as in the daemon; timings are taken on the real clock. */
                now = start + (uint64_t)(k + 1) * USEC_PER_SEC;
                c0 = cpu_us();
                if (tick(m, now) < 0)
                        return -1;
                cpu[k] = cpu_us() - c0;
                loop[k] = control_stats(m)->last_loop_us;
                solve[k] = control_stats(m)->last_solve_us;
                manager_run_due(m, now_us()); /* spawns/stops what the plans asked for */
        }
        qsort(loop, ITERATIONS, sizeof(uint64_t), cmp_u64);
        qsort(solve, ITERATIONS, sizeof(uint64_t), cmp_u64);
        qsort(cpu, ITERATIONS, sizeof(uint64_t), cmp_u64);
        ret[3] = cpu[ITERATIONS / 2];
        ret[4] = cpu[ITERATIONS * 99 / 100];
        ret[0] = loop[ITERATIONS / 2];
        ret[1] = loop[ITERATIONS * 99 / 100];
        ret[2] = solve[ITERATIONS * 99 / 100];
        manager_free(m);
        snprintf(text, sizeof(text), "rm -rf -- '%s'", dir);
        return system(text) == 0 ? 0 : 0;
}

int main(int argc, char **argv)
{
        const char *src = getenv("SPONGE_SOURCE_DIR");
        char example[512];
        uint64_t one[5], ten[5];

        snprintf(example, sizeof(example), "%s/pipelines/examples/video.json",
                 argc > 1 ? argv[1]
                 : src    ? src
                          : ".");
        log_set_max_level(LOG_LEVEL_WARNING);
        if (run(example, 1, 18801, one) < 0 || run(example, 10, 18802, ten) < 0) {
                fprintf(stderr, "bench-adapt: setup failed (is %s there?)\n", example);
                return 1;
        }
        printf("control loop, %d iterations: 1 pipeline p50 %llu us p99 %llu us (solve p99 %llu "
               "us); 10 pipelines p50 %llu us p99 %llu us (solve p99 %llu us)\n",
               ITERATIONS, (unsigned long long)one[0], (unsigned long long)one[1],
               (unsigned long long)one[2], (unsigned long long)ten[0], (unsigned long long)ten[1],
               (unsigned long long)ten[2]);
        printf("{\"loop_p50_us_1\":%llu,\"loop_p99_us_1\":%llu,\"solve_p99_us_1\":%llu,"
               "\"loop_cpu_p50_us_1\":%llu,\"loop_cpu_p99_us_1\":%llu,"
               "\"loop_p50_us_10\":%llu,\"loop_p99_us_10\":%llu,\"solve_p99_us_10\":%llu,"
               "\"loop_cpu_p50_us_10\":%llu,\"loop_cpu_p99_us_10\":%llu,\"iterations\":%d}\n",
               (unsigned long long)one[0], (unsigned long long)one[1], (unsigned long long)one[2],
               (unsigned long long)one[3], (unsigned long long)one[4], (unsigned long long)ten[0],
               (unsigned long long)ten[1], (unsigned long long)ten[2], (unsigned long long)ten[3],
               (unsigned long long)ten[4], ITERATIONS);
        return 0;
}
