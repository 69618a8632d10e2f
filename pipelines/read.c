/* SPDX-License-Identifier: MIT */
/*
 * Reading a pipeline: JSON value -> pl_pipeline, validated (pl_from_json, pl_parse,
 * pl_check_plan). The file's format is pipelines/README.md.
 *
 * Validation walks the document once with a jc_ctx (pipelines/jsoncheck.h) holding the JSON
 * path of the value being looked at, so that the first problem found is reported as
 * "<path>: <what is wrong, what is accepted, what was found>". Keys of an object are checked
 * against the accepted set before any value is read, so a typo is reported as an unknown key
 * rather than as a missing one. Every reader leaves what it allocated in the pipeline being
 * built, so one pl_pipeline_free() cleans up after a failure at any depth.
 */
#include "pipelines/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/jsoncheck.h"
#include "pipelines/pipeline-internal.h"

/* Bounds of numbers that have no natural limit (objective weights, model parameters): large
 * enough for any sensible use, small enough that products stay far from overflow. */
#define OBJ_WEIGHT_MAX      1e6
#define MODEL_PARAM_MAX     1e7
#define MARGIN_MAX          10.0
#define LATENCY_MS_MAX      3600000.0
#define MILLICORE_LEVELS    256u /* distinct core sizes per stage: bounds the planner's search */
#define ENV_KEY_MAX         128u
#define ENV_RESERVED_PREFIX "SPONGE_" /* the agent passes SPONGE_SOCKET etc. to workers */

static const char NAME_PATTERN[] = "[a-z0-9][a-z0-9_-]{0,31}";

/* --- names ---------------------------------------------------------------------------------- */

static int dup_string(const char *s, char **ret)
{
        char *d = strdup(s);
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int read_name(jc_ctx *c, const json_t *v, char **ret)
{
        if (!json_is_string(v) || pl_validate_name(json_string_value(v)) < 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
                return jc_fail(c, "expected a name matching %s, got %s", NAME_PATTERN, JC_GOT(v));
        return dup_string(json_string_value(v), ret);
}

/* --- declared tensors (Open Inference Protocol metadata) ------------------------------------ */

static bool tensor_name_ok(const char *s)
{
        size_t n = strlen(s);
        return n >= 1 && n <= PL_TENSOR_NAME_MAX &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

static int read_shape(jc_ctx *c, const json_t *v, pl_tensor *t)
{
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PL_TENSOR_MAX_DIMS)
                return jc_fail(c, "expected an array of 1 to %u dimensions, got %s",
                               PL_TENSOR_MAX_DIMS, JC_GOT(v));
        t->n_dims = json_array_size(v);
        for (size_t i = 0; i < t->n_dims; i++) {
                const json_t *d = json_array_get(v, i);
                json_int_t x = json_is_integer(d) ? json_integer_value(d) : 0;
                if (x != -1 && (x < 1 || x > (json_int_t)PL_TENSOR_DIM_MAX)) {
                        size_t old = jc_push_index(c, i);
                        int r =
                            jc_fail(c, "expected an integer in [1, %u] or -1 (variable), got %s",
                                    PL_TENSOR_DIM_MAX, JC_GOT(d));
                        jc_pop(c, old);
                        return r;
                }
                t->shape[i] = x;
        }
        return 0;
}

static int read_tensor(jc_ctx *c, const json_t *v, pl_tensor *t)
{
        static const char *const keys[] = {"name", "datatype", "shape", NULL};
        const char *s = NULL;
        jc_field f;
        int r, e = 0;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;
        r = jc_field_open(&f, c, v, "name") ? jc_read_string(c, f.v, PL_TENSOR_NAME_MAX, &s)
                                            : jc_missing(c);
        if (r == 0 && !tensor_name_ok(s))
                r = jc_fail(c, "expected 1 to %u characters of [A-Za-z0-9_.:-], got %s",
                            PL_TENSOR_NAME_MAX, JC_GOT(f.v));
        jc_field_close(&f);
        if (r < 0 || (r = dup_string(s, &t->name)) < 0)
                return r;
        r = jc_field_open(&f, c, v, "datatype")
                ? jc_read_enum(c, f.v, pl__datatype_names, ELEMENTSOF(pl__datatype_names), &e)
                : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;
        t->datatype = (pl_datatype)e;
        r = jc_field_open(&f, c, v, "shape") ? read_shape(c, f.v, t) : jc_missing(c);
        jc_field_close(&f);
        return r;
}

/* Outputs are cut out of one byte string in order: only the last may have a variable size. */
static int check_output_shape(jc_ctx *c, const pl_tensor *t, bool last)
{
        size_t variable = 0;

        for (size_t i = 0; i < t->n_dims; i++)
                variable += t->shape[i] == -1;
        if (variable > (last ? 1u : 0u))
                return jc_fail(c, "%s",
                               last ? "an output has at most one variable (-1) dimension"
                                    : "only the last output may have a variable (-1) "
                                      "dimension: the outputs are cut from the last "
                                      "stage's bytes in order");
        return 0;
}

static int read_tensors(jc_ctx *c, const json_t *v, bool outputs, pl_tensor **ret, size_t *ret_n)
{
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PL_MAX_TENSORS)
                return jc_fail(c, "expected an array of 1 to %u tensors, got %s", PL_MAX_TENSORS,
                               JC_GOT(v));
        size_t n = json_array_size(v);
        *ret = calloc(n, sizeof(pl_tensor));
        if (!*ret)
                return -ENOMEM;
        *ret_n = n;
        for (size_t i = 0; i < n; i++) {
                size_t old = jc_push_index(c, i);
                int r = read_tensor(c, json_array_get(v, i), &(*ret)[i]);
                if (r == 0 && outputs)
                        r = check_output_shape(c, &(*ret)[i], i + 1 == n);
                for (size_t k = 0; r == 0 && k < i; k++)
                        if (strcmp((*ret)[k].name, (*ret)[i].name) == 0) {
                                size_t o2 = jc_push_key(c, "name");
                                r = jc_fail(c, "duplicate tensor name \"%s\" (also [%zu])",
                                            (*ret)[i].name, k);
                                jc_pop(c, o2);
                        }
                jc_pop(c, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- profile -------------------------------------------------------------------------------- */

/* True if the columns b/c, b, 1/c, 1 over the points are linearly independent, i.e. the
 * least-squares fit of the latency model has a unique solution. Modified Gram-Schmidt with
 * one re-orthogonalisation pass on columns scaled to unit maximum. */
static bool points_determine_model(const pl_point *pts, size_t n)
{
        _cleanup_free_ double *q = calloc(4 * n, sizeof(double));
        if (!q)
                return true; /* cannot tell; the consumer's fit will notice */
        for (size_t j = 0; j < 4; j++) {
                double *col = q + j * n, scale = 0;
                for (size_t i = 0; i < n; i++) {
                        double b = pts[i].batch, cores = pts[i].millicores / 1000.0;
                        double f[4] = {b / cores, b, 1.0 / cores, 1.0};
                        col[i] = f[j];
                        scale = fmax(scale, fabs(f[j]));
                }
                double norm0 = 0;
                for (size_t i = 0; i < n; i++) {
                        col[i] /= scale;
                        norm0 += col[i] * col[i];
                }
                for (int pass = 0; pass < 2; pass++)
                        for (size_t k = 0; k < j; k++) {
                                const double *qk = q + k * n;
                                double dot = 0;
                                for (size_t i = 0; i < n; i++)
                                        dot += qk[i] * col[i];
                                for (size_t i = 0; i < n; i++)
                                        col[i] -= dot * qk[i];
                        }
                double norm = 0;
                for (size_t i = 0; i < n; i++)
                        norm += col[i] * col[i];
                if (!(norm > 1e-18 * norm0))
                        return false;
                norm = sqrt(norm);
                for (size_t i = 0; i < n; i++)
                        col[i] /= norm;
        }
        return true;
}

static int read_point(jc_ctx *c, const json_t *v, pl_point *pt)
{
        int r;

        if (!json_is_array(v) || json_array_size(v) != 3)
                return jc_fail(c, "expected [batch, millicores, latency_ms], got %s", JC_GOT(v));
        size_t old = jc_push_index(c, 0);
        r = jc_read_uint(c, json_array_get(v, 0), 1, PL_MAX_BATCH, &pt->batch);
        jc_pop(c, old);
        if (r < 0)
                return r;
        old = jc_push_index(c, 1);
        r = jc_read_uint(c, json_array_get(v, 1), PL_MILLICORES_MIN, PL_MILLICORES_MAX,
                         &pt->millicores);
        jc_pop(c, old);
        if (r < 0)
                return r;
        old = jc_push_index(c, 2);
        r = jc_read_number(c, json_array_get(v, 2), 0, LATENCY_MS_MAX, true, &pt->latency_ms);
        jc_pop(c, old);
        return r;
}

static int read_points(jc_ctx *c, const json_t *v, pl_profile *prof)
{
        if (!json_is_array(v))
                return jc_fail(c, "expected an array of [batch, millicores, latency_ms], got %s",
                               JC_GOT(v));
        size_t n = json_array_size(v);
        if (n < PL_PROFILE_MIN_POINTS || n > PL_PROFILE_MAX_POINTS)
                return jc_fail(c,
                               "expected between %u and %u points (the model has four "
                               "parameters), got %zu",
                               PL_PROFILE_MIN_POINTS, PL_PROFILE_MAX_POINTS, n);
        prof->points = calloc(n, sizeof(pl_point));
        if (!prof->points)
                return -ENOMEM;
        prof->n_points = n;
        for (size_t i = 0; i < n; i++) {
                size_t old = jc_push_index(c, i);
                int r = read_point(c, json_array_get(v, i), &prof->points[i]);
                jc_pop(c, old);
                if (r < 0)
                        return r;
        }
        if (!points_determine_model(prof->points, n))
                return jc_fail(c, "these points do not determine the latency model "
                                  "l(b,c) = gamma*b/c + delta*b + epsilon/c + eta; measure at "
                                  "least two batch sizes on each of two core limits");
        return 0;
}

static int read_model(jc_ctx *c, const json_t *v, const pl_stage *st, pl_model *m)
{
        static const char *const keys[] = {"gamma", "delta", "epsilon", "eta", "margin", NULL};
        double *dst[] = {&m->gamma, &m->delta, &m->epsilon, &m->eta, &m->margin};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;
        m->margin = PL_DEFAULT_MARGIN;
        for (size_t i = 0; keys[i]; i++) {
                bool is_margin = i == 4;
                if (!jc_field_open(&f, c, v, keys[i]))
                        r = is_margin ? 0 : jc_missing(c);
                else if (is_margin)
                        r = jc_read_number(c, f.v, 0, MARGIN_MAX, false, dst[i]);
                else
                        r = jc_read_number(c, f.v, -MODEL_PARAM_MAX, MODEL_PARAM_MAX, false,
                                           dst[i]);
                jc_field_close(&f);
                if (r < 0)
                        return r;
        }
        /* For fixed c the model is affine in b, and for fixed b it is A/c + B: its minimum on
         * the stage's box lies at a corner, so four evaluations cover the whole grid. */
        const uint32_t bs[2] = {1, st->max_batch};
        const uint32_t cs[2] = {st->millicores_min, st->millicores_max};
        for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                        double l = pl_model_latency_ms(m, bs[i], cs[j]);
                        if (!(l > 0))
                                return jc_fail(c,
                                               "predicts %.3g ms for batch %u on %u millicores; "
                                               "the latency must be positive over the stage's "
                                               "whole batch and millicores range",
                                               l, bs[i], cs[j]);
                }
        return 0;
}

static int read_profile(jc_ctx *c, const json_t *v, const pl_stage *st, pl_profile *prof)
{
        static const char *const keys[] = {"model", "points", NULL};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;
        bool has_model = json_object_get(v, "model"), has_points = json_object_get(v, "points");
        if (has_model == has_points)
                return jc_fail(c,
                               "expected exactly one of \"model\" (fitted parameters) or "
                               "\"points\" (measurements), got %s",
                               has_model ? "both" : "neither");
        if (has_model) {
                prof->kind = PL_PROFILE_MODEL;
                jc_field_open(&f, c, v, "model");
                r = read_model(c, f.v, st, &prof->model);
        } else {
                prof->kind = PL_PROFILE_POINTS;
                jc_field_open(&f, c, v, "points");
                r = read_points(c, f.v, prof);
        }
        jc_field_close(&f);
        return r;
}

/* --- variant -------------------------------------------------------------------------------- */

static int read_command(jc_ctx *c, const json_t *v, pl_variant *var)
{
        if (json_is_string(v))
                return jc_fail(c,
                               "expected an argv array such as [\"sponge-worker-flops\", "
                               "\"--variant\", \"resnet18\"]: workers are started with "
                               "execve, never through a shell, got the string %s",
                               JC_GOT(v));
        if (!json_is_array(v))
                return jc_fail(c, "expected an argv array of strings, got %s", JC_GOT(v));
        size_t n = json_array_size(v);
        if (n == 0 || n > PL_MAX_ARGS)
                return jc_fail(c,
                               "expected an argv array of 1 to %u strings (the program first), "
                               "got %zu elements",
                               PL_MAX_ARGS, n);
        var->argv = calloc(n + 1, sizeof(char *));
        if (!var->argv)
                return -ENOMEM;
        var->argc = n;
        for (size_t i = 0; i < n; i++) {
                const char *s;
                size_t old = jc_push_index(c, i);
                int r = jc_read_string(c, json_array_get(v, i), PL_MAX_ARG_LEN, &s);
                if (r == 0 && i == 0 && !*s)
                        r = jc_fail(c, "expected the program to run, got an empty string");
                jc_pop(c, old);
                if (r < 0)
                        return r;
                if ((r = dup_string(s, &var->argv[i])) < 0)
                        return r;
        }
        return 0;
}

static bool env_key_ok(const char *k)
{
        return jc_is_ident(k) && strlen(k) <= ENV_KEY_MAX;
}

static int read_env(jc_ctx *c, const json_t *v, pl_variant *var)
{
        const char *key;
        json_t *val;
        size_t i = 0;

        if (!json_is_object(v))
                return jc_fail(c, "expected an object of \"NAME\": \"value\" strings, got %s",
                               JC_GOT(v));
        size_t n = json_object_size(v);
        if (n > PL_MAX_ENV)
                return jc_fail(c, "expected at most %u variables, got %zu", PL_MAX_ENV, n);
        var->env = calloc(n + 1, sizeof(char *));
        if (!var->env)
                return -ENOMEM;
        json_object_foreach((json_t *)v, key, val)
        {
                const char *s;
                int r = 0;
                size_t old = jc_push_key(c, key);
                if (!env_key_ok(key))
                        r = jc_fail(c, "expected a variable name matching "
                                       "[A-Za-z_][A-Za-z0-9_]{0,127}");
                else if (strncmp(key, ENV_RESERVED_PREFIX, strlen(ENV_RESERVED_PREFIX)) == 0)
                        r = jc_fail(c, "names starting with " ENV_RESERVED_PREFIX
                                       " are reserved for the agent");
                else
                        r = jc_read_string(c, val, PL_MAX_ARG_LEN, &s);
                jc_pop(c, old);
                if (r < 0)
                        return r;
                char *kv;
                if (asprintf(&kv, "%s=%s", key, s) < 0)
                        return -ENOMEM;
                var->env[i++] = kv;
                var->n_env = i;
        }
        return 0;
}

static int read_variant(jc_ctx *c, const json_t *v, const pl_stage *st, pl_variant *var)
{
        static const char *const keys[] = {"name",       "accuracy", "command", "env",
                                           "startup_ms", "profile",  NULL};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;

        r = jc_field_open(&f, c, v, "name") ? read_name(c, f.v, &var->name) : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;

        r = jc_field_open(&f, c, v, "accuracy")
                ? jc_read_number(c, f.v, 0, 100, false, &var->accuracy)
                : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;

        r = jc_field_open(&f, c, v, "command") ? read_command(c, f.v, var) : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;

        if (jc_field_open(&f, c, v, "env")) {
                r = read_env(c, f.v, var);
        } else {
                var->env = calloc(1, sizeof(char *));
                r = var->env ? 0 : -ENOMEM;
        }
        jc_field_close(&f);
        if (r < 0)
                return r;

        double startup_ms = PL_DEFAULT_STARTUP_MS;
        r = jc_field_open(&f, c, v, "startup_ms")
                ? jc_read_number(c, f.v, 0, PL_STARTUP_MS_MAX, false, &startup_ms)
                : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;
        var->startup_us = (uint64_t)llround(startup_ms * 1000.0);

        r = jc_field_open(&f, c, v, "profile") ? read_profile(c, f.v, st, &var->profile)
                                               : jc_missing(c);
        jc_field_close(&f);
        return r;
}

/* --- stage ---------------------------------------------------------------------------------- */

static int read_millicores(jc_ctx *c, const json_t *v, pl_stage *st)
{
        static const char *const keys[] = {"min", "max", "step", NULL};
        uint32_t *dst[] = {&st->millicores_min, &st->millicores_max, &st->millicores_step};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;
        for (size_t i = 0; keys[i]; i++) {
                uint32_t lo = i == 2 ? 1 : PL_MILLICORES_MIN;
                r = jc_field_open(&f, c, v, keys[i])
                        ? jc_read_uint(c, f.v, lo, PL_MILLICORES_MAX, dst[i])
                        : jc_missing(c);
                if (r == 0 && i == 1 && st->millicores_max < st->millicores_min)
                        r = jc_fail(c, "must not be less than min (%u), got %u", st->millicores_min,
                                    st->millicores_max);
                if (r == 0 && i == 2 &&
                    (st->millicores_max - st->millicores_min) % st->millicores_step != 0)
                        r = jc_fail(c, "must divide max - min (%u), got %u",
                                    st->millicores_max - st->millicores_min, st->millicores_step);
                if (r == 0 && i == 2 &&
                    (st->millicores_max - st->millicores_min) / st->millicores_step + 1 >
                        MILLICORE_LEVELS)
                        r = jc_fail(
                            c,
                            "gives %u core sizes from min to max; at most %u are "
                            "accepted (use a larger step)",
                            (st->millicores_max - st->millicores_min) / st->millicores_step + 1,
                            MILLICORE_LEVELS);
                jc_field_close(&f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_replicas(jc_ctx *c, const json_t *v, pl_stage *st)
{
        static const char *const keys[] = {"min", "max", NULL};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;
        r = jc_field_open(&f, c, v, "min")
                ? jc_read_uint(c, f.v, 1, PL_MAX_REPLICAS, &st->replicas_min)
                : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;
        r = jc_field_open(&f, c, v, "max")
                ? jc_read_uint(c, f.v, 1, PL_MAX_REPLICAS, &st->replicas_max)
                : jc_missing(c);
        if (r == 0 && st->replicas_max < st->replicas_min)
                r = jc_fail(c, "must not be less than min (%u), got %u", st->replicas_min,
                            st->replicas_max);
        jc_field_close(&f);
        return r;
}

static int read_stage(jc_ctx *c, const json_t *v, pl_stage *st)
{
        static const char *const keys[] = {"name",          "max_batch", "millicores", "replicas",
                                           "memory_max_mb", "pids_max",  "variants",   NULL};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;

        r = jc_field_open(&f, c, v, "name") ? read_name(c, f.v, &st->name) : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;

        st->max_batch = PL_DEFAULT_MAX_BATCH;
        r = jc_field_open(&f, c, v, "max_batch")
                ? jc_read_uint(c, f.v, 1, PL_MAX_BATCH, &st->max_batch)
                : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;

        st->millicores_min = PL_DEFAULT_MILLICORES_MIN;
        st->millicores_max = PL_DEFAULT_MILLICORES_MAX;
        st->millicores_step = PL_DEFAULT_MILLICORES_STEP;
        r = jc_field_open(&f, c, v, "millicores") ? read_millicores(c, f.v, st) : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;

        st->replicas_min = PL_DEFAULT_REPLICAS_MIN;
        st->replicas_max = PL_DEFAULT_REPLICAS_MAX;
        r = jc_field_open(&f, c, v, "replicas") ? read_replicas(c, f.v, st) : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;

        st->memory_max_mb = PL_DEFAULT_MEMORY_MAX_MB;
        r = jc_field_open(&f, c, v, "memory_max_mb")
                ? jc_read_uint(c, f.v, PL_MEMORY_MAX_MB_MIN, PL_MEMORY_MAX_MB_MAX,
                               &st->memory_max_mb)
                : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;
        st->pids_max = PL_DEFAULT_PIDS_MAX;
        r = jc_field_open(&f, c, v, "pids_max")
                ? jc_read_uint(c, f.v, PL_PIDS_MAX_MIN, PL_PIDS_MAX_MAX, &st->pids_max)
                : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;

        if (!jc_field_open(&f, c, v, "variants")) {
                r = jc_missing(c);
        } else if (!json_is_array(f.v) || json_array_size(f.v) == 0 ||
                   json_array_size(f.v) > PL_MAX_VARIANTS) {
                r = jc_fail(c, "expected an array of 1 to %u variants, got %s", PL_MAX_VARIANTS,
                            JC_GOT(f.v));
        } else {
                size_t n = json_array_size(f.v);
                st->variants = calloc(n, sizeof(pl_variant));
                r = st->variants ? 0 : -ENOMEM;
                if (r == 0)
                        st->n_variants = n;
                for (size_t i = 0; r == 0 && i < n; i++) {
                        size_t old = jc_push_index(c, i);
                        r = read_variant(c, json_array_get(f.v, i), st, &st->variants[i]);
                        for (size_t k = 0; r == 0 && k < i; k++)
                                if (strcmp(st->variants[k].name, st->variants[i].name) == 0) {
                                        size_t o2 = jc_push_key(c, "name");
                                        r = jc_fail(
                                            c,
                                            "duplicate variant name \"%s\" (also variants[%zu] "
                                            "of this stage)",
                                            st->variants[i].name, k);
                                        jc_pop(c, o2);
                                }
                        jc_pop(c, old);
                }
        }
        jc_field_close(&f);
        return r;
}

/* --- plan ----------------------------------------------------------------------------------- */

static int read_plan_entry(jc_ctx *c, const json_t *v, const pl_stage *st, pl_plan_entry *e)
{
        static const char *const keys[] = {"variant", "batch", "millicores", "replicas", NULL};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;

        if (!jc_field_open(&f, c, v, "variant")) {
                r = jc_missing(c);
        } else {
                int i = json_is_string(f.v) ? pl_find_variant(st, json_string_value(f.v)) : -ENOENT;
                if (i < 0) {
                        char list[256] = "";
                        size_t len = 0;
                        for (size_t k = 0; k < st->n_variants && len < sizeof(list); k++) {
                                int w = snprintf(list + len, sizeof(list) - len, "%s%s",
                                                 k ? ", " : "", st->variants[k].name);
                                if (w < 0)
                                        break;
                                len += (size_t)w;
                        }
                        r = jc_fail(c, "expected a variant of stage \"%s\" (%s), got %s", st->name,
                                    list, JC_GOT(f.v));
                } else {
                        e->variant = (size_t)i;
                }
        }
        jc_field_close(&f);
        if (r < 0)
                return r;

        r = jc_field_open(&f, c, v, "batch") ? jc_read_uint(c, f.v, 1, st->max_batch, &e->batch)
                                             : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;

        if (!jc_field_open(&f, c, v, "millicores")) {
                r = jc_missing(c);
        } else {
                r = jc_read_uint(c, f.v, st->millicores_min, st->millicores_max, &e->millicores);
                if (r == 0 && (e->millicores - st->millicores_min) % st->millicores_step != 0)
                        r = jc_fail(
                            c, "expected a value on the stage's grid %u + k*%u (up to %u), got %u",
                            st->millicores_min, st->millicores_step, st->millicores_max,
                            e->millicores);
        }
        jc_field_close(&f);
        if (r < 0)
                return r;

        r = jc_field_open(&f, c, v, "replicas")
                ? jc_read_uint(c, f.v, st->replicas_min, st->replicas_max, &e->replicas)
                : jc_missing(c);
        jc_field_close(&f);
        return r;
}

static int read_plan(jc_ctx *c, const pl_pipeline *p, const json_t *v, pl_plan_entry **ret)
{
        if (!json_is_array(v) || json_array_size(v) != p->n_stages)
                return jc_fail(c,
                               "expected an array of %zu entries (one per stage, in order), got %s",
                               p->n_stages, JC_GOT(v));
        _cleanup_free_ pl_plan_entry *plan = calloc(p->n_stages, sizeof(pl_plan_entry));
        if (!plan)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_stages; i++) {
                size_t old = jc_push_index(c, i);
                int r = read_plan_entry(c, json_array_get(v, i), &p->stages[i], &plan[i]);
                jc_pop(c, old);
                if (r < 0)
                        return r;
        }
        *ret = plan;
        plan = NULL;
        return 0;
}

int pl_check_plan(const pl_pipeline *p, const json_t *plan, pl_plan_entry **ret, char *err,
                  size_t errlen)
{
        jc_ctx c;

        jc_init(&c, "plan", err, errlen);
        if (!p)
                return jc_fail(&c, "no pipeline");
        return read_plan(&c, p, plan, ret);
}

/* --- pipeline ------------------------------------------------------------------------------- */

static int read_objective(jc_ctx *c, const json_t *v, pl_objective *o)
{
        static const char *const keys[] = {"accuracy", "cores", "batch", NULL};
        double *dst[] = {&o->accuracy, &o->cores, &o->batch};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, v)) < 0 || (r = jc_check_keys(c, v, keys)) < 0)
                return r;
        for (size_t i = 0; keys[i]; i++) {
                r = jc_field_open(&f, c, v, keys[i])
                        ? jc_read_number(c, f.v, 0, OBJ_WEIGHT_MAX, false, dst[i])
                        : 0;
                jc_field_close(&f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_stages(jc_ctx *c, const json_t *v, pl_pipeline *p)
{
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PL_MAX_STAGES)
                return jc_fail(c, "expected an array of 1 to %u stages, got %s", PL_MAX_STAGES,
                               JC_GOT(v));
        size_t n = json_array_size(v);
        p->stages = calloc(n, sizeof(pl_stage));
        if (!p->stages)
                return -ENOMEM;
        p->n_stages = n;
        for (size_t i = 0; i < n; i++) {
                size_t old = jc_push_index(c, i);
                int r = read_stage(c, json_array_get(v, i), &p->stages[i]);
                for (size_t k = 0; r == 0 && k < i; k++)
                        if (strcmp(p->stages[k].name, p->stages[i].name) == 0) {
                                size_t o2 = jc_push_key(c, "name");
                                r = jc_fail(c, "duplicate stage name \"%s\" (also stages[%zu])",
                                            p->stages[i].name, k);
                                jc_pop(c, o2);
                        }
                jc_pop(c, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* An optional enum key: dflt when absent. */
static int read_opt_enum(jc_ctx *c, const json_t *obj, const char *key, const char *const *names,
                         size_t n, int dflt, int *ret)
{
        jc_field f;
        int r = 0;

        *ret = dflt;
        if (jc_field_open(&f, c, obj, key))
                r = jc_read_enum(c, f.v, names, n, ret);
        jc_field_close(&f);
        return r;
}

/* name, slo_ms, late, resize, policy, mix. */
static int read_pipeline_head(jc_ctx *c, const json_t *root, pl_pipeline *p)
{
        jc_field f;
        int r, late, resize, policy;

        r = jc_field_open(&f, c, root, "name") ? read_name(c, f.v, &p->name) : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;

        double slo_ms = 0;
        r = jc_field_open(&f, c, root, "slo_ms")
                ? jc_read_number(c, f.v, 1, PL_SLO_MS_MAX, false, &slo_ms)
                : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;
        p->slo_us = (uint64_t)llround(slo_ms * 1000.0);

        if ((r = read_opt_enum(c, root, "late", pl__late_names, ELEMENTSOF(pl__late_names),
                               PL_LATE_DROP, &late)) < 0 ||
            (r = read_opt_enum(c, root, "resize", pl__resize_names, ELEMENTSOF(pl__resize_names),
                               PL_RESIZE_IN_PLACE, &resize)) < 0 ||
            (r = read_opt_enum(c, root, "policy", pl__policy_names, ELEMENTSOF(pl__policy_names),
                               PL_POLICY_FULL, &policy)) < 0)
                return r;
        p->late = (pl_late)late;
        p->resize = (pl_resize)resize;
        p->policy = (pl_policy)policy;

        p->mix = true;
        if (jc_field_open(&f, c, root, "mix")) {
                r = json_is_boolean(f.v) ? 0 : jc_fail(c, "must be true or false");
                p->mix = json_is_true(f.v);
        }
        jc_field_close(&f);
        return r;
}

/* objective, queue_limit, max_body_bytes. */
static int read_pipeline_limits(jc_ctx *c, const json_t *root, pl_pipeline *p)
{
        jc_field f;
        int r;

        p->objective =
            (pl_objective){PL_DEFAULT_OBJ_ACCURACY, PL_DEFAULT_OBJ_CORES, PL_DEFAULT_OBJ_BATCH};
        r = jc_field_open(&f, c, root, "objective") ? read_objective(c, f.v, &p->objective) : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;

        p->queue_limit = PL_DEFAULT_QUEUE_LIMIT;
        r = jc_field_open(&f, c, root, "queue_limit")
                ? jc_read_uint(c, f.v, 1, PL_QUEUE_LIMIT_MAX, &p->queue_limit)
                : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;

        uint32_t body = PL_DEFAULT_MAX_BODY_BYTES;
        r = jc_field_open(&f, c, root, "max_body_bytes")
                ? jc_read_uint(c, f.v, 1, PL_BODY_BYTES_MAX, &body)
                : 0;
        jc_field_close(&f);
        p->max_body_bytes = body;
        return r;
}

static int read_pipeline(jc_ctx *c, const json_t *root, pl_pipeline *p)
{
        static const char *const keys[] = {
            "name",           "slo_ms", "late", "resize", "policy",  "objective", "queue_limit",
            "max_body_bytes", "stages", "plan", "inputs", "outputs", "mix",       NULL};
        jc_field f;
        int r;

        if ((r = jc_need_object(c, root)) < 0 || (r = jc_check_keys(c, root, keys)) < 0 ||
            (r = read_pipeline_head(c, root, p)) < 0 || (r = read_pipeline_limits(c, root, p)) < 0)
                return r;

        r = jc_field_open(&f, c, root, "stages") ? read_stages(c, f.v, p) : jc_missing(c);
        jc_field_close(&f);
        if (r < 0)
                return r;

        r = jc_field_open(&f, c, root, "inputs")
                ? read_tensors(c, f.v, false, &p->inputs, &p->n_inputs)
                : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;
        r = jc_field_open(&f, c, root, "outputs")
                ? read_tensors(c, f.v, true, &p->outputs, &p->n_outputs)
                : 0;
        jc_field_close(&f);
        if (r < 0)
                return r;

        if (jc_field_open(&f, c, root, "plan"))
                r = read_plan(c, p, f.v, &p->plan);
        else if (p->policy == PL_POLICY_STATIC)
                r = jc_fail(
                    c, "missing required key: needed when policy is \"static\" (the plan to keep)");
        jc_field_close(&f);
        return r;
}

int pl_from_json(const json_t *root, pl_pipeline **ret, char *err, size_t errlen)
{
        jc_ctx c;

        jc_init(&c, NULL, err, errlen);
        pl_pipeline *p = calloc(1, sizeof(pl_pipeline));
        if (!p)
                return -ENOMEM;
        int r = read_pipeline(&c, root, p);
        if (r < 0) {
                if (r == -ENOMEM && err && errlen)
                        snprintf(err, errlen, "out of memory");
                pl_pipeline_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

int pl__parse_text(const char *buf, size_t len, pl_pipeline **ret, char *err, size_t errlen,
                   bool *syntax)
{
        json_error_t jerr;

        *syntax = false;
        /* Duplicate keys would otherwise silently keep the last value. */
        json_auto_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                *syntax = true;
                if (err && errlen)
                        snprintf(err, errlen, "%d:%d: invalid JSON: %s", jerr.line, jerr.column,
                                 jerr.text);
                return -EINVAL;
        }
        return pl_from_json(root, ret, err, errlen);
}

int pl_parse(const char *buf, size_t len, pl_pipeline **ret, char *err, size_t errlen)
{
        bool syntax;

        if (!buf && len)
                return -EINVAL;
        return pl__parse_text(buf ? buf : "", len, ret, err, errlen, &syntax);
}
