/* SPDX-License-Identifier: MIT */
/* Profiling a variant in a real cgroup and fitting its latency model; see profile.h. */
#include "agent/profiler/profile.h"
#include "agent/execpath.h"
#include "agent/plan/plan.h"
#include "agent/spawn.h"
#include "pipelines/worker/client.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        if (err && errlen) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap); /* a cut message is still useful */
                va_end(ap);
        }
        return r;
}

/* The agent's rule (agent/replica.c): one thread per started core. */
static uint32_t threads_for(uint32_t millicores)
{
        uint32_t t = (millicores + 999) / 1000;
        return t ? t : 1;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *sorted, size_t n, double q)
{
        size_t rank = (size_t)ceil(q * (double)n);
        if (rank < 1)
                rank = 1;
        return sorted[rank - 1];
}

typedef struct run {
        const prof_options *o;
        cg_group *g;
        spc_conn conn;
        bool spawned;
        uint8_t *items; /* max batch × item_bytes */
        size_t item_bytes;
        spp_buf wbuf;
        uint64_t next_id;
        double *samples;
        char *err;
        size_t errlen;
} run;

static int place(pid_t pid, void *userdata)
{
        run *rn = userdata;
        int r = cg_group_attach(rn->g, pid);
        if (r < 0)
                fail(rn->err, rn->errlen, r, "attach pid %d to %s: %s", (int)pid,
                     cg_group_path(rn->g), strerror(-r));
        return r;
}

/* Starts the worker exactly as the agent does (agent/spawn.h): its program checked against the
 * worker directories, its environment filtered, its capabilities and fds dropped, the worker
 * user, placed in its cgroup before execve. */
static int start_worker(run *rn, char *const *env)
{
        TrustConfig trust = {0};
        char path[PATH_MAX], why[768];
        SpawnSpec spec = {.path = path,
                          .argv = rn->o->argv,
                          .extra_env = env,
                          .trust = &trust,
                          .place = place,
                          .userdata = rn};
        pid_t pid = 0;
        int fd = -1;
        int r = trust_config_finish(&trust, why, sizeof(why));

        if (r >= 0)
                r = execpath_resolve(&trust, NULL, rn->o->argv[0], path, sizeof(path), why,
                                     sizeof(why));
        if (r < 0) {
                trust_config_done(&trust);
                return fail(rn->err, rn->errlen, r, "%s", why);
        }
        r = spawn_worker(&spec, &pid, &fd);
        trust_config_done(&trust);
        if (pid > 0) {
                rn->conn = (spc_conn){.pid = pid, .fd = fd};
                rn->spawned = true;
        }
        if (r < 0 && (!rn->err || !rn->errlen || !rn->err[0]))
                fail(rn->err, rn->errlen, r, "start %s: %s", rn->o->argv[0], strerror(-r));
        return r;
}

/* Sends one batch of b items and waits for its RESULT; returns 0 and the latency. */
static int one_batch(run *rn, uint32_t b, double *ret_ms)
{
        spp_builder bb;
        uint64_t batch_id = rn->next_id;
        int r = spp_encode_batch_begin(&rn->wbuf, batch_id, &bb);
        for (uint32_t i = 0; r == 0 && i < b; i++)
                r = spp_builder_add(&bb, rn->next_id + i, 0, rn->items + i * rn->item_bytes,
                                    rn->item_bytes);
        if (r == 0)
                r = spp_builder_end(&bb, 0);
        if (r < 0)
                return fail(rn->err, rn->errlen, r, "encode a batch of %u: %s", b, strerror(-r));
        rn->next_id += b;

        uint64_t t0 = now_us();
        r = spc_send(&rn->conn, &rn->wbuf);
        spp_frame f;
        if (r == 0)
                r = spc_read_frame(&rn->conn, rn->o->timeout_ms, &f);
        uint64_t t1 = now_us();
        if (r < 0)
                return fail(rn->err, rn->errlen, r, "batch of %u: %s", b,
                            r == -ECONNRESET ? "the worker closed the connection (died?)"
                                             : strerror(-r));
        if (f.type != SPP_RESULT || f.batch.batch_id != batch_id || f.batch.n != b) {
                spc_frame_done(&rn->conn);
                return fail(rn->err, rn->errlen, -EPROTO, "batch of %u: unexpected %s reply", b,
                            spp_type_name(f.type));
        }
        spp_item_iter it;
        spp_item item;
        spp_items_begin(&f, &it);
        while (spp_items_next(&it, &item))
                if (item.status != SPP_STATUS_OK) {
                        int len = item.len > 300 ? 300 : (int)item.len;
                        fail(rn->err, rn->errlen, -EPROTO, "item error: %.*s", len,
                             item.data ? (const char *)item.data : "");
                        spc_frame_done(&rn->conn);
                        return -EPROTO;
                }
        spc_frame_done(&rn->conn);
        *ret_ms = (double)(t1 - t0) / 1000.0;
        return 0;
}

static int measure_point(run *rn, uint32_t b, uint32_t mc, prof_point *p)
{
        const prof_options *o = rn->o;
        int r = cg_group_set_millicores(rn->g, mc);
        if (r < 0)
                return fail(rn->err, rn->errlen, r, "set %u millicores on %s: %s", mc,
                            cg_group_path(rn->g), strerror(-r));
        uint32_t t = threads_for(mc);
        r = spc_set_threads(&rn->conn, t);
        if (r < 0)
                return fail(rn->err, rn->errlen, r, "SET_THREADS: %s", strerror(-r));
        double ms;
        for (unsigned w = 0; w < o->warmup; w++) {
                r = one_batch(rn, b, &ms);
                if (r < 0)
                        return r;
        }
        cg_stat before, after;
        r = cg_group_read_stat(rn->g, &before);
        if (r < 0)
                return fail(rn->err, rn->errlen, r, "read cpu usage: %s", strerror(-r));
        uint64_t start = now_us();
        unsigned n = 0;
        double sum = 0;
        while (n < o->max_reps && (n < o->min_reps || now_us() - start < o->point_time_us)) {
                r = one_batch(rn, b, &ms);
                if (r < 0)
                        return r;
                rn->samples[n++] = ms;
                sum += ms;
        }
        r = cg_group_read_stat(rn->g, &after);
        if (r < 0)
                return fail(rn->err, rn->errlen, r, "read cpu usage: %s", strerror(-r));
        qsort(rn->samples, n, sizeof(double), cmp_double);
        *p = (prof_point){
            .batch = b,
            .millicores = mc,
            .threads = t,
            .n = n,
            .p50_ms = percentile(rn->samples, n, 0.50),
            .p99_ms = percentile(rn->samples, n, 0.99),
            .mean_ms = sum / n,
            .min_ms = rn->samples[0],
            .cpu_ms = (double)(after.usage_us - before.usage_us) / 1000.0 / n,
        };
        return 0;
}

static int check_options(const prof_options *o, char *err, size_t errlen)
{
        if (!o || !o->argv || !o->argv[0] || !o->batches || !o->n_batches || !o->millicores ||
            !o->n_millicores)
                return fail(err, errlen, -EINVAL, "need a command, batches and millicores");
        for (size_t i = 0; i < o->n_batches; i++)
                if (o->batches[i] < 1 || o->batches[i] > 65536)
                        return fail(err, errlen, -EINVAL, "batch %u outside 1..65536",
                                    o->batches[i]);
        for (size_t i = 0; i < o->n_millicores; i++)
                if (o->millicores[i] < 1)
                        return fail(err, errlen, -EINVAL, "millicores must be positive");
        return 0;
}

static void run_cleanup(run *rn)
{
        if (rn->spawned)
                spc_stop(&rn->conn, 10000, NULL);
        if (rn->g)
                cg_group_kill_and_destroy(rn->g);
        free(rn->items);
        free(rn->samples);
        spp_buf_free(&rn->wbuf);
}

int prof_run(cg_ctx *cg, const prof_options *opts, prof_result *ret, char *err, size_t errlen)
{
        int r = check_options(opts, err, errlen);
        if (r < 0)
                return r;
        prof_options o = *opts;
        o.min_reps = o.min_reps ? o.min_reps : PROF_MIN_REPS_DEFAULT;
        o.max_reps = o.max_reps ? o.max_reps : PROF_MAX_REPS_DEFAULT;
        if (o.max_reps < o.min_reps)
                o.max_reps = o.min_reps;
        o.point_time_us = o.point_time_us ? o.point_time_us : PROF_POINT_TIME_DEFAULT;
        o.item_bytes = o.item_bytes ? o.item_bytes : PROF_ITEM_BYTES_DEFAULT;
        o.timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : PROF_TIMEOUT_MS_DEFAULT;
        if (cg_ctx_mode(cg) == CG_MODE_NONE)
                return fail(err, errlen, -ENODEV,
                            "no cgroup CPU controller in use (%s): a profile needs real limits",
                            cg_ctx_note(cg));

        uint32_t max_b = 1, max_mc = 1;
        for (size_t i = 0; i < o.n_batches; i++)
                max_b = o.batches[i] > max_b ? o.batches[i] : max_b;
        for (size_t i = 0; i < o.n_millicores; i++)
                max_mc = o.millicores[i] > max_mc ? o.millicores[i] : max_mc;

        run rn = {.o = &o, .item_bytes = o.item_bytes, .err = err, .errlen = errlen};
        if (err && errlen)
                err[0] = '\0';
        prof_result res = {.n = o.n_batches * o.n_millicores};
        rn.items = malloc((size_t)max_b * o.item_bytes);
        rn.samples = malloc(o.max_reps * sizeof(double));
        res.points = calloc(res.n, sizeof(prof_point));
        if (!rn.items || !rn.samples || !res.points) {
                r = fail(err, errlen, -ENOMEM, "out of memory");
                goto out;
        }
        uint64_t seed = 0x853c49e6748fea9bull;
        for (size_t i = 0; i < (size_t)max_b * o.item_bytes; i++) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                rn.items[i] = o.item_data ? o.item_data[i % o.item_bytes] : (uint8_t)seed;
        }

        char group[64];
        const char *relpath = o.group;
        if (!relpath) {
                snprintf(group, sizeof(group), "profile-%d", (int)getpid()); /* fits */
                relpath = group;
        }
        r = cg_group_create(cg, relpath, &rn.g);
        if (r < 0) {
                rn.g = NULL;
                r = fail(err, errlen, r, "create cgroup %s: %s (%s)", relpath, strerror(-r),
                         cg_last_error(cg));
                goto out;
        }
        /* Loading runs with the most cores of the grid, as a new replica would get them. */
        r = cg_group_set_millicores(rn.g, max_mc);
        if (r < 0) {
                r = fail(err, errlen, r, "set %u millicores: %s", max_mc, strerror(-r));
                goto out;
        }
        char threads_env[48];
        snprintf(threads_env, sizeof(threads_env), "SPONGE_THREADS=%u", threads_for(max_mc));
        size_t ne = 0;
        while (o.env && o.env[ne])
                ne++;
        char **env = calloc(ne + 2, sizeof(char *));
        if (!env) {
                r = fail(err, errlen, -ENOMEM, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < ne; i++)
                env[i] = o.env[i];
        env[ne] = threads_env;

        uint64_t t0 = now_us();
        r = start_worker(&rn, env);
        free(env);
        if (r < 0)
                goto out;
        uint32_t threads;
        char why[512] = "";
        r = spc_wait_ready(&rn.conn, o.timeout_ms, &threads, why, sizeof(why));
        if (r < 0) {
                r = fail(err, errlen, r, "%s did not become ready: %s %s", o.argv[0],
                         r == -ECONNRESET ? "exited" : strerror(-r), why);
                goto out;
        }
        res.startup_ms = (double)(now_us() - t0) / 1000.0;
        snprintf(res.name, sizeof(res.name), "%s", o.argv[0]);

        size_t k = 0;
        for (size_t ci = 0; ci < o.n_millicores; ci++)
                for (size_t bi = 0; bi < o.n_batches; bi++, k++) {
                        r = measure_point(&rn, o.batches[bi], o.millicores[ci], &res.points[k]);
                        if (r < 0)
                                goto out;
                        if (o.progress)
                                o.progress(&res.points[k], o.userdata);
                }
        *ret = res;
        res.points = NULL;
out:
        run_cleanup(&rn);
        free(res.points);
        return r;
}

/* The cgroups module has no weight setter (the agent never needs one), so the file is written
 * here directly: <root>/cpu.shares on v1, <root>/cpu.weight on v2. */
static int weight_file(cg_ctx *cg, char *path, size_t size, const char **ret_max)
{
        const char *name;
        switch (cg_ctx_mode(cg)) {
        case CG_MODE_V1:
                name = "cpu.shares";
                *ret_max = "262144"; /* the kernel's MAX_SHARES */
                break;
        case CG_MODE_V2:
                name = "cpu.weight";
                *ret_max = "10000"; /* Documentation/admin-guide/cgroup-v2.rst, cpu.weight */
                break;
        default:
                return -ENODEV;
        }
        int n = snprintf(path, size, "%s/%s", cg_ctx_root_path(cg), name);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        int r = fputs(text, f) < 0 ? -EIO : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

int prof_boost_weight(cg_ctx *cg, char *saved, size_t saved_size)
{
        char path[4096], old[32];
        const char *max;
        int r = weight_file(cg, path, sizeof(path), &max);
        if (r < 0)
                return r;
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        bool ok = fgets(old, sizeof(old), f) != NULL;
        fclose(f);
        if (!ok)
                return -EIO;
        old[strcspn(old, "\n")] = '\0';
        r = write_text(path, max);
        if (r < 0)
                return r;
        snprintf(saved, saved_size, "%s", old);
        return 0;
}

int prof_restore_weight(cg_ctx *cg, const char *saved)
{
        char path[4096];
        const char *max;
        int r = weight_file(cg, path, sizeof(path), &max);
        return r < 0 ? r : write_text(path, saved);
}

void prof_result_done(prof_result *r)
{
        if (!r)
                return;
        free(r->points);
        r->points = NULL;
        r->n = 0;
}

double prof_predict_ms(const opt_model *m, uint32_t batch, uint32_t millicores)
{
        opt_model median = *m;

        median.margin = 0; /* the fit itself: what the p50s are compared with */
        return opt_latency_ms(&median, batch, millicores);
}

int prof_fit_result(const prof_result *res, prof_fit *ret, char *err, size_t errlen)
{
        opt_point *pts = calloc(res->n ? res->n : 1, sizeof(*pts));
        if (!pts)
                return fail(err, errlen, -ENOMEM, "out of memory");
        for (size_t i = 0; i < res->n; i++)
                pts[i] = (opt_point){res->points[i].batch, res->points[i].millicores,
                                     res->points[i].p50_ms};
        prof_fit fit = {0};
        int r = plan_fit(pts, res->n, &fit.model, &fit.nonneg, err, errlen);
        free(pts);
        if (r < 0)
                return r;

        double *tail = calloc(res->n, sizeof(double));
        if (!tail)
                return fail(err, errlen, -ENOMEM, "out of memory");
        double mean = 0, ss_tot = 0, ss_res = 0, sum_rel = 0, max_rel = 0, worst = 0;
        for (size_t i = 0; i < res->n; i++)
                mean += res->points[i].p50_ms;
        mean /= (double)res->n;
        for (size_t i = 0; i < res->n; i++) {
                const prof_point *p = &res->points[i];
                double pred = prof_predict_ms(&fit.model, p->batch, p->millicores);
                ss_tot += (p->p50_ms - mean) * (p->p50_ms - mean);
                ss_res += (p->p50_ms - pred) * (p->p50_ms - pred);
                double rel = fabs(pred - p->p50_ms) / p->p50_ms;
                sum_rel += rel;
                max_rel = rel > max_rel ? rel : max_rel;
                tail[i] = pred > 0 && p->p99_ms / pred > 1 ? p->p99_ms / pred - 1 : 0;
                worst = tail[i] > worst ? tail[i] : worst;
        }
        /* The margin is the typical tail, the median over the points of p99/model − 1. Not the
         * maximum: a batch that finds its CFS quota used up waits for the next period (up to
         * period − quota, e.g. 90 ms at 100 millicores), an additive stall that a multiplicative
         * margin would turn into a factor of hundreds for sub-millisecond batches. The worst
         * ratio is reported separately (worst_tail). */
        qsort(tail, res->n, sizeof(double), cmp_double);
        fit.model.margin =
            res->n % 2 ? tail[res->n / 2] : (tail[res->n / 2 - 1] + tail[res->n / 2]) / 2;
        fit.worst_tail = worst;
        free(tail);
        fit.r2 = ss_tot > 0 ? 1 - ss_res / ss_tot : (ss_res == 0 ? 1 : 0);
        fit.mean_rel = sum_rel / (double)res->n;
        fit.max_rel = max_rel;
        *ret = fit;
        return 0;
}

/* Rounds to 6 significant digits (profiles are measurements, not exact numbers). */
static double round6(double v)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%.6g", v);
        return strtod(buf, NULL);
}

json_t *prof_profile_json(const prof_fit *fit)
{
        return json_pack("{s:{s:f,s:f,s:f,s:f,s:f}}", "model", "gamma", round6(fit->model.gamma),
                         "delta", round6(fit->model.delta), "epsilon", round6(fit->model.epsilon),
                         "eta", round6(fit->model.eta), "margin", round6(fit->model.margin));
}

json_t *prof_report_json(const prof_result *r, const prof_fit *fit)
{
        json_t *points = json_array();
        json_t *rep = json_pack("{s:o,s:f,s:f,s:b,s:f,s:f,s:f,s:o}", "profile",
                                prof_profile_json(fit), "startup_ms", round6(r->startup_ms), "r2",
                                round6(fit->r2), "nonneg_fit", fit->nonneg, "mean_rel_error",
                                round6(fit->mean_rel), "max_rel_error", round6(fit->max_rel),
                                "worst_tail", round6(fit->worst_tail), "points", points);
        if (!rep)
                return NULL;
        for (size_t i = 0; i < r->n; i++) {
                const prof_point *p = &r->points[i];
                json_t *o = json_pack(
                    "{s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "batch", (json_int_t)p->batch,
                    "millicores", (json_int_t)p->millicores, "threads", (json_int_t)p->threads,
                    "batches", (json_int_t)p->n, "p50_ms", round6(p->p50_ms), "p99_ms",
                    round6(p->p99_ms), "mean_ms", round6(p->mean_ms), "min_ms", round6(p->min_ms),
                    "cpu_ms", round6(p->cpu_ms), "model_ms",
                    round6(prof_predict_ms(&fit->model, p->batch, p->millicores)));
                if (!o || json_array_append_new(points, o) < 0) {
                        json_decref(rep);
                        return NULL;
                }
        }
        return rep;
}
