/* SPDX-License-Identifier: MIT */
/*
 * The per-pipeline JSON file: parse + validate (jansson), canonical printing, plan checks.
 *
 * Validation walks the document once, keeping the JSON path of the value being looked at in a
 * small buffer (pushed and popped around every key and index), so that the first problem found
 * is reported as "<path>: <what is wrong, what is accepted, what was found>". Keys of an object
 * are checked against the accepted set before any value is read, so a typo is reported as an
 * unknown key rather than as a missing one.
 */
#include "pipelines/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds of numbers that have no natural limit (objective weights, model parameters): large
 * enough for any sensible use, small enough that products stay far from overflow. */
#define OBJ_WEIGHT_MAX      1e6
#define MODEL_PARAM_MAX     1e7
#define MARGIN_MAX          10.0
#define LATENCY_MS_MAX      3600000.0
#define MILLICORE_LEVELS    256u /* distinct core sizes per stage: bounds the planner's search */
#define ENV_KEY_MAX         128u
#define ENV_RESERVED_PREFIX "SPONGE_" /* the agent passes SPONGE_SOCKET etc. to workers */
#define GOT_MAX             48u       /* characters of an offending value quoted in a message */

static const char NAME_PATTERN[] = "[a-z0-9][a-z0-9_-]{0,31}";

typedef struct ctx {
        char *err;
        size_t errlen;
        char path[512];
        size_t path_len;
        unsigned truncated; /* appends that did not fit and are not popped yet */
} ctx;

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))

/* --- path and messages ------------------------------------------------------------------ */

static void ctx_init(ctx *c, const char *prefix, char *err, size_t errlen)
{
        c->err = err;
        c->errlen = errlen;
        c->path_len = 0;
        c->truncated = 0;
        c->path[0] = '\0';
        if (prefix) {
                int n = snprintf(c->path, sizeof(c->path), "%s", prefix);
                c->path_len = (n > 0 && (size_t)n < sizeof(c->path)) ? (size_t)n : 0;
                c->path[c->path_len] = '\0';
        }
}

static bool is_ident(const char *s)
{
        if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '_'))
                        return false;
        return true;
}

/* Appends to the path and returns the previous length, to be handed back to path_pop(). */
static size_t path_append(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_append(ctx *c, const char *fmt, ...)
{
        size_t old = c->path_len;
        va_list ap;

        va_start(ap, fmt);
        int n = vsnprintf(c->path + old, sizeof(c->path) - old, fmt, ap);
        va_end(ap);
        /* Once a segment did not fit, deeper ones are dropped too until it is popped. */
        if (n < 0 || (size_t)n >= sizeof(c->path) - old || c->truncated > 0) {
                c->path[old] = '\0';
                c->truncated++;
        } else {
                c->path_len = old + (size_t)n;
        }
        return old;
}

static size_t path_key(ctx *c, const char *key)
{
        if (is_ident(key))
                return path_append(c, "%s%s", c->path_len ? "." : "", key);
        /* Keys that are not identifiers are printed as JSON strings in brackets. */
        json_t *s = json_string(key);
        char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        size_t old = path_append(c, "[%s]", q ? q : "\"?\"");
        free(q);
        json_decref(s);
        return old;
}

static size_t path_index(ctx *c, size_t i)
{
        return path_append(c, "[%zu]", i);
}

static void path_pop(ctx *c, size_t old)
{
        /* Every successful append adds at least two characters, so an unchanged length
         * means the matching append did not fit. */
        if (c->path_len == old && c->truncated > 0)
                c->truncated--;
        c->path_len = old;
        c->path[old] = '\0';
}

static int fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx *c, const char *fmt, ...)
{
        if (!c->err || c->errlen == 0)
                return -EINVAL;
        int n = snprintf(c->err, c->errlen, "%s%s: ", c->path_len ? c->path : "(root)",
                         c->truncated ? "..." : "");
        if (n < 0)
                n = 0;
        if ((size_t)n < c->errlen) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* "got ..." text for a value: the JSON text of scalars (strings quoted, shortened), a word
 * for containers. */
static void describe(const json_t *v, char *buf, size_t len)
{
        if (!v) {
                snprintf(buf, len, "nothing");
                return;
        }
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                snprintf(buf, len, json_object_size(v) ? "an object" : "{}");
                return;
        case JSON_ARRAY:
                snprintf(buf, len, json_array_size(v) ? "an array" : "[]");
                return;
        default:
                break;
        }
        /* 15 digits: 0.45 rather than 0.45000000000000001. */
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (!t) {
                snprintf(buf, len, "a value");
                return;
        }
        if (strlen(t) > GOT_MAX)
                snprintf(buf, len, "%.*s...", (int)GOT_MAX, t);
        else
                snprintf(buf, len, "%s", t);
        free(t);
}

#define GOT(v) describe_tmp((v), (char[GOT_MAX + 8]){0}, GOT_MAX + 8)
static const char *describe_tmp(const json_t *v, char *buf, size_t len)
{
        describe(v, buf, len);
        return buf;
}

/* --- typed readers (each reports at the current path) ------------------------------------ */

/* Fails on the first key of obj that is not in allowed (NULL-terminated). */
static int check_keys(ctx *c, const json_t *obj, const char *const *allowed)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v)
        {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (strcmp(*a, key) == 0) {
                                ok = true;
                                break;
                        }
                if (ok)
                        continue;
                char list[256] = "";
                size_t n = 0;
                for (const char *const *a = allowed; *a && n < sizeof(list); a++) {
                        int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *a);
                        if (w < 0)
                                break;
                        n += (size_t)w;
                }
                size_t old = path_key(c, key);
                int r = fail(c, "unknown key (accepted here: %s)", list);
                path_pop(c, old);
                return r;
        }
        return 0;
}

static int need_object(ctx *c, const json_t *v)
{
        if (!json_is_object(v))
                return fail(c, "expected an object, got %s", GOT(v));
        return 0;
}

static int read_uint(ctx *c, const json_t *v, uint32_t min, uint32_t max, uint32_t *ret)
{
        double d;

        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                if (i >= (json_int_t)min && i <= (json_int_t)max) {
                        *ret = (uint32_t)i;
                        return 0;
                }
        } else if (json_is_real(v)) {
                /* 16.0 is accepted as 16: JSON does not distinguish integers. */
                d = json_real_value(v);
                if (isfinite(d) && d == floor(d) && d >= min && d <= max) {
                        *ret = (uint32_t)d;
                        return 0;
                }
        }
        return fail(c, "expected an integer in [%u, %u], got %s", min, max, GOT(v));
}

static int read_number(ctx *c, const json_t *v, double min, double max, bool min_open, double *ret)
{
        if (json_is_number(v)) {
                double d = json_number_value(v);
                if (isfinite(d) && (min_open ? d > min : d >= min) && d <= max) {
                        *ret = d;
                        return 0;
                }
        }
        return fail(c, "expected a number in %c%.15g, %.15g], got %s", min_open ? '(' : '[', min,
                    max, GOT(v));
}

/* A string without NUL bytes, at most max_len bytes. Returns a borrowed pointer. */
static int read_string(ctx *c, const json_t *v, size_t max_len, const char **ret)
{
        if (!json_is_string(v))
                return fail(c, "expected a string, got %s", GOT(v));
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
                return fail(c, "the string contains a NUL byte");
        if (strlen(s) > max_len)
                return fail(c, "expected at most %zu bytes, got %zu", max_len, strlen(s));
        *ret = s;
        return 0;
}

static int dup_string(const char *s, char **ret)
{
        char *d = strdup(s);
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int read_name(ctx *c, const json_t *v, char **ret)
{
        if (!json_is_string(v) || pl_validate_name(json_string_value(v)) < 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
                return fail(c, "expected a name matching %s, got %s", NAME_PATTERN, GOT(v));
        return dup_string(json_string_value(v), ret);
}

/* Looks up key in obj and runs the reader with the path extended by the key. A missing
 * required key is reported at the key's path; a missing optional key leaves *found false. */
typedef struct field {
        ctx *c;
        const json_t *obj;
        const char *key;
        size_t old;
        const json_t *v;
} field;

static bool field_open(field *f, ctx *c, const json_t *obj, const char *key)
{
        f->c = c;
        f->obj = obj;
        f->key = key;
        f->v = json_object_get(obj, key);
        f->old = path_key(c, key);
        return f->v != NULL;
}

static void field_close(field *f)
{
        path_pop(f->c, f->old);
}

static int missing(ctx *c)
{
        return fail(c, "missing required key");
}

/* --- enums ---------------------------------------------------------------------------------- */

static const char *const LATE_NAMES[] = {
    [PL_LATE_DROP] = "drop",
    [PL_LATE_SERVE] = "serve",
};
static const char *const RESIZE_NAMES[] = {"in_place", "restart"};

static const char *const POLICY_NAMES[] = {
    [PL_POLICY_FULL] = "full",
    [PL_POLICY_VERTICAL] = "vertical",
    [PL_POLICY_HORIZONTAL] = "horizontal",
    [PL_POLICY_STATIC] = "static",
};
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static int enum_from(const char *const *names, size_t n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (strcmp(names[i], s) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *pl_late_to_string(pl_late late)
{
        return (unsigned)late < ELEMENTSOF(LATE_NAMES) ? LATE_NAMES[late] : NULL;
}

const char *pl_policy_to_string(pl_policy policy)
{
        return (unsigned)policy < ELEMENTSOF(POLICY_NAMES) ? POLICY_NAMES[policy] : NULL;
}

int pl_late_from_string(const char *s, pl_late *ret)
{
        int i = enum_from(LATE_NAMES, ELEMENTSOF(LATE_NAMES), s);
        if (i < 0)
                return i;
        *ret = (pl_late)i;
        return 0;
}

int pl_policy_from_string(const char *s, pl_policy *ret)
{
        int i = enum_from(POLICY_NAMES, ELEMENTSOF(POLICY_NAMES), s);
        if (i < 0)
                return i;
        *ret = (pl_policy)i;
        return 0;
}

static int read_enum(ctx *c, const json_t *v, const char *const *names, size_t n, int *ret)
{
        int i = json_is_string(v) ? enum_from(names, n, json_string_value(v)) : -EINVAL;
        if (i >= 0) {
                *ret = i;
                return 0;
        }
        char list[128] = "";
        size_t len = 0;
        for (size_t k = 0; k < n && len < sizeof(list); k++) {
                int w = snprintf(list + len, sizeof(list) - len, "%s\"%s\"",
                                 k == 0 ? "" : (k + 1 == n ? " or " : ", "), names[k]);
                if (w < 0)
                        break;
                len += (size_t)w;
        }
        return fail(c, "expected %s, got %s", list, GOT(v));
}

/* --- small public helpers ------------------------------------------------------------------- */

int pl_validate_name(const char *name)
{
        if (!name || !*name)
                return -EINVAL;
        size_t n = 0;
        for (const char *p = name; *p; p++, n++) {
                bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
                if (!alnum && (p == name || (*p != '_' && *p != '-')))
                        return -EINVAL;
        }
        return n <= PL_NAME_MAX ? 0 : -EINVAL;
}

int pl_find_stage(const pl_pipeline *p, const char *name)
{
        for (size_t i = 0; p && name && i < p->n_stages; i++)
                if (strcmp(p->stages[i].name, name) == 0)
                        return (int)i;
        return -ENOENT;
}

int pl_find_variant(const pl_stage *s, const char *name)
{
        for (size_t i = 0; s && name && i < s->n_variants; i++)
                if (strcmp(s->variants[i].name, name) == 0)
                        return (int)i;
        return -ENOENT;
}

double pl_model_latency_ms(const pl_model *m, uint32_t batch, uint32_t millicores)
{
        double b = batch, cores = millicores / 1000.0;
        double l = m->gamma * b / cores + m->delta * b + m->epsilon / cores + m->eta;
        return l * (1.0 + m->margin);
}

/* --- declared tensors (Open Inference Protocol metadata) ------------------------------------ */

static const char *const DATATYPE_NAMES[] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64",
                                             "INT8", "INT16", "INT32",  "INT64",  "FP16",
                                             "FP32", "FP64",  "BYTES"};
static const size_t DATATYPE_SIZES[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 0};

const char *pl_datatype_to_string(pl_datatype t)
{
        return (unsigned)t < ELEMENTSOF(DATATYPE_NAMES) ? DATATYPE_NAMES[t] : NULL;
}

int pl_datatype_from_string(const char *s, pl_datatype *ret)
{
        int i = s ? enum_from(DATATYPE_NAMES, ELEMENTSOF(DATATYPE_NAMES), s) : -EINVAL;
        if (i < 0)
                return -EINVAL;
        *ret = (pl_datatype)i;
        return 0;
}

size_t pl_datatype_size(pl_datatype t)
{
        return (unsigned)t < ELEMENTSOF(DATATYPE_SIZES) ? DATATYPE_SIZES[t] : 0;
}

static bool tensor_name_ok(const char *s)
{
        size_t n = strlen(s);
        return n >= 1 && n <= PL_TENSOR_NAME_MAX &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

static int read_shape(ctx *c, const json_t *v, pl_tensor *t)
{
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PL_TENSOR_MAX_DIMS)
                return fail(c, "expected an array of 1 to %u dimensions, got %s",
                            PL_TENSOR_MAX_DIMS, GOT(v));
        t->n_dims = json_array_size(v);
        for (size_t i = 0; i < t->n_dims; i++) {
                const json_t *d = json_array_get(v, i);
                json_int_t x = json_is_integer(d) ? json_integer_value(d) : 0;
                if (x != -1 && (x < 1 || x > (json_int_t)PL_TENSOR_DIM_MAX)) {
                        size_t old = path_index(c, i);
                        int r = fail(c, "expected an integer in [1, %u] or -1 (variable), got %s",
                                     PL_TENSOR_DIM_MAX, GOT(d));
                        path_pop(c, old);
                        return r;
                }
                t->shape[i] = x;
        }
        return 0;
}

static int read_tensor(ctx *c, const json_t *v, pl_tensor *t)
{
        static const char *const keys[] = {"name", "datatype", "shape", NULL};
        const char *s = NULL;
        field f;
        int r, e = 0;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;
        r = field_open(&f, c, v, "name") ? read_string(c, f.v, PL_TENSOR_NAME_MAX, &s) : missing(c);
        if (r == 0 && !tensor_name_ok(s))
                r = fail(c, "expected 1 to %u characters of [A-Za-z0-9_.:-], got %s",
                         PL_TENSOR_NAME_MAX, GOT(f.v));
        field_close(&f);
        if (r < 0 || (r = dup_string(s, &t->name)) < 0)
                return r;
        r = field_open(&f, c, v, "datatype")
                ? read_enum(c, f.v, DATATYPE_NAMES, ELEMENTSOF(DATATYPE_NAMES), &e)
                : missing(c);
        field_close(&f);
        if (r < 0)
                return r;
        t->datatype = (pl_datatype)e;
        r = field_open(&f, c, v, "shape") ? read_shape(c, f.v, t) : missing(c);
        field_close(&f);
        return r;
}

/* Outputs are cut out of one byte string in order: only the last may have a variable size. */
static int check_output_shape(ctx *c, const pl_tensor *t, bool last)
{
        size_t variable = 0;

        for (size_t i = 0; i < t->n_dims; i++)
                variable += t->shape[i] == -1;
        if (variable > (last ? 1u : 0u))
                return fail(c, "%s",
                            last ? "an output has at most one variable (-1) dimension"
                                 : "only the last output may have a variable (-1) "
                                   "dimension: the outputs are cut from the last "
                                   "stage's bytes in order");
        return 0;
}

static int read_tensors(ctx *c, const json_t *v, bool outputs, pl_tensor **ret, size_t *ret_n)
{
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PL_MAX_TENSORS)
                return fail(c, "expected an array of 1 to %u tensors, got %s", PL_MAX_TENSORS,
                            GOT(v));
        size_t n = json_array_size(v);
        *ret = calloc(n, sizeof(pl_tensor));
        if (!*ret)
                return -ENOMEM;
        *ret_n = n;
        for (size_t i = 0; i < n; i++) {
                size_t old = path_index(c, i);
                int r = read_tensor(c, json_array_get(v, i), &(*ret)[i]);
                if (r == 0 && outputs)
                        r = check_output_shape(c, &(*ret)[i], i + 1 == n);
                for (size_t k = 0; r == 0 && k < i; k++)
                        if (strcmp((*ret)[k].name, (*ret)[i].name) == 0) {
                                size_t o2 = path_key(c, "name");
                                r = fail(c, "duplicate tensor name \"%s\" (also [%zu])",
                                         (*ret)[i].name, k);
                                path_pop(c, o2);
                        }
                path_pop(c, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void tensors_free(pl_tensor *t, size_t n)
{
        for (size_t i = 0; t && i < n; i++)
                free(t[i].name);
        free(t);
}

/* --- freeing -------------------------------------------------------------------------------- */

static void strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void variant_done(pl_variant *v)
{
        free(v->name);
        strv_free(v->argv);
        strv_free(v->env);
        free(v->profile.points);
}

static void stage_done(pl_stage *s)
{
        free(s->name);
        for (size_t i = 0; s->variants && i < s->n_variants; i++)
                variant_done(&s->variants[i]);
        free(s->variants);
}

void pl_pipeline_free(pl_pipeline *p)
{
        if (!p)
                return;
        free(p->name);
        for (size_t i = 0; p->stages && i < p->n_stages; i++)
                stage_done(&p->stages[i]);
        free(p->stages);
        free(p->plan);
        tensors_free(p->inputs, p->n_inputs);
        tensors_free(p->outputs, p->n_outputs);
        free(p);
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

static int read_point(ctx *c, const json_t *v, pl_point *pt)
{
        int r;

        if (!json_is_array(v) || json_array_size(v) != 3)
                return fail(c, "expected [batch, millicores, latency_ms], got %s", GOT(v));
        size_t old = path_index(c, 0);
        r = read_uint(c, json_array_get(v, 0), 1, PL_MAX_BATCH, &pt->batch);
        path_pop(c, old);
        if (r < 0)
                return r;
        old = path_index(c, 1);
        r = read_uint(c, json_array_get(v, 1), PL_MILLICORES_MIN, PL_MILLICORES_MAX,
                      &pt->millicores);
        path_pop(c, old);
        if (r < 0)
                return r;
        old = path_index(c, 2);
        r = read_number(c, json_array_get(v, 2), 0, LATENCY_MS_MAX, true, &pt->latency_ms);
        path_pop(c, old);
        return r;
}

static int read_points(ctx *c, const json_t *v, pl_profile *prof)
{
        if (!json_is_array(v))
                return fail(c, "expected an array of [batch, millicores, latency_ms], got %s",
                            GOT(v));
        size_t n = json_array_size(v);
        if (n < PL_PROFILE_MIN_POINTS || n > PL_PROFILE_MAX_POINTS)
                return fail(c,
                            "expected between %u and %u points (the model has four "
                            "parameters), got %zu",
                            PL_PROFILE_MIN_POINTS, PL_PROFILE_MAX_POINTS, n);
        prof->points = calloc(n, sizeof(pl_point));
        if (!prof->points)
                return -ENOMEM;
        prof->n_points = n;
        for (size_t i = 0; i < n; i++) {
                size_t old = path_index(c, i);
                int r = read_point(c, json_array_get(v, i), &prof->points[i]);
                path_pop(c, old);
                if (r < 0)
                        return r;
        }
        if (!points_determine_model(prof->points, n))
                return fail(c, "these points do not determine the latency model "
                               "l(b,c) = gamma*b/c + delta*b + epsilon/c + eta; measure at "
                               "least two batch sizes on each of two core limits");
        return 0;
}

static int read_model(ctx *c, const json_t *v, const pl_stage *st, pl_model *m)
{
        static const char *const keys[] = {"gamma", "delta", "epsilon", "eta", "margin", NULL};
        double *dst[] = {&m->gamma, &m->delta, &m->epsilon, &m->eta, &m->margin};
        field f;
        int r;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;
        m->margin = PL_DEFAULT_MARGIN;
        for (size_t i = 0; keys[i]; i++) {
                bool is_margin = i == 4;
                if (!field_open(&f, c, v, keys[i]))
                        r = is_margin ? 0 : missing(c);
                else if (is_margin)
                        r = read_number(c, f.v, 0, MARGIN_MAX, false, dst[i]);
                else
                        r = read_number(c, f.v, -MODEL_PARAM_MAX, MODEL_PARAM_MAX, false, dst[i]);
                field_close(&f);
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
                                return fail(c,
                                            "predicts %.3g ms for batch %u on %u millicores; "
                                            "the latency must be positive over the stage's "
                                            "whole batch and millicores range",
                                            l, bs[i], cs[j]);
                }
        return 0;
}

static int read_profile(ctx *c, const json_t *v, const pl_stage *st, pl_profile *prof)
{
        static const char *const keys[] = {"model", "points", NULL};
        field f;
        int r;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;
        bool has_model = json_object_get(v, "model"), has_points = json_object_get(v, "points");
        if (has_model == has_points)
                return fail(c,
                            "expected exactly one of \"model\" (fitted parameters) or "
                            "\"points\" (measurements), got %s",
                            has_model ? "both" : "neither");
        if (has_model) {
                prof->kind = PL_PROFILE_MODEL;
                field_open(&f, c, v, "model");
                r = read_model(c, f.v, st, &prof->model);
        } else {
                prof->kind = PL_PROFILE_POINTS;
                field_open(&f, c, v, "points");
                r = read_points(c, f.v, prof);
        }
        field_close(&f);
        return r;
}

/* --- variant -------------------------------------------------------------------------------- */

static int read_command(ctx *c, const json_t *v, pl_variant *var)
{
        if (json_is_string(v))
                return fail(c,
                            "expected an argv array such as [\"sponge-worker-flops\", "
                            "\"--variant\", \"resnet18\"]: workers are started with "
                            "execve, never through a shell, got the string %s",
                            GOT(v));
        if (!json_is_array(v))
                return fail(c, "expected an argv array of strings, got %s", GOT(v));
        size_t n = json_array_size(v);
        if (n == 0 || n > PL_MAX_ARGS)
                return fail(c,
                            "expected an argv array of 1 to %u strings (the program first), "
                            "got %zu elements",
                            PL_MAX_ARGS, n);
        var->argv = calloc(n + 1, sizeof(char *));
        if (!var->argv)
                return -ENOMEM;
        var->argc = n;
        for (size_t i = 0; i < n; i++) {
                const char *s;
                size_t old = path_index(c, i);
                int r = read_string(c, json_array_get(v, i), PL_MAX_ARG_LEN, &s);
                if (r == 0 && i == 0 && !*s)
                        r = fail(c, "expected the program to run, got an empty string");
                path_pop(c, old);
                if (r < 0)
                        return r;
                if ((r = dup_string(s, &var->argv[i])) < 0)
                        return r;
        }
        return 0;
}

static bool env_key_ok(const char *k)
{
        return is_ident(k) && strlen(k) <= ENV_KEY_MAX;
}

static int read_env(ctx *c, const json_t *v, pl_variant *var)
{
        const char *key;
        json_t *val;
        size_t i = 0;

        if (!json_is_object(v))
                return fail(c, "expected an object of \"NAME\": \"value\" strings, got %s", GOT(v));
        size_t n = json_object_size(v);
        if (n > PL_MAX_ENV)
                return fail(c, "expected at most %u variables, got %zu", PL_MAX_ENV, n);
        var->env = calloc(n + 1, sizeof(char *));
        if (!var->env)
                return -ENOMEM;
        json_object_foreach((json_t *)v, key, val)
        {
                const char *s;
                int r = 0;
                size_t old = path_key(c, key);
                if (!env_key_ok(key))
                        r = fail(c, "expected a variable name matching "
                                    "[A-Za-z_][A-Za-z0-9_]{0,127}");
                else if (strncmp(key, ENV_RESERVED_PREFIX, strlen(ENV_RESERVED_PREFIX)) == 0)
                        r = fail(c, "names starting with " ENV_RESERVED_PREFIX
                                    " are reserved for the agent");
                else
                        r = read_string(c, val, PL_MAX_ARG_LEN, &s);
                path_pop(c, old);
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

static int read_variant(ctx *c, const json_t *v, const pl_stage *st, pl_variant *var)
{
        static const char *const keys[] = {"name",       "accuracy", "command", "env",
                                           "startup_ms", "profile",  NULL};
        field f;
        int r;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;

        r = field_open(&f, c, v, "name") ? read_name(c, f.v, &var->name) : missing(c);
        field_close(&f);
        if (r < 0)
                return r;

        r = field_open(&f, c, v, "accuracy") ? read_number(c, f.v, 0, 100, false, &var->accuracy)
                                             : missing(c);
        field_close(&f);
        if (r < 0)
                return r;

        r = field_open(&f, c, v, "command") ? read_command(c, f.v, var) : missing(c);
        field_close(&f);
        if (r < 0)
                return r;

        if (field_open(&f, c, v, "env")) {
                r = read_env(c, f.v, var);
        } else {
                var->env = calloc(1, sizeof(char *));
                r = var->env ? 0 : -ENOMEM;
        }
        field_close(&f);
        if (r < 0)
                return r;

        double startup_ms = PL_DEFAULT_STARTUP_MS;
        r = field_open(&f, c, v, "startup_ms")
                ? read_number(c, f.v, 0, PL_STARTUP_MS_MAX, false, &startup_ms)
                : 0;
        field_close(&f);
        if (r < 0)
                return r;
        var->startup_us = (uint64_t)llround(startup_ms * 1000.0);

        r = field_open(&f, c, v, "profile") ? read_profile(c, f.v, st, &var->profile) : missing(c);
        field_close(&f);
        return r;
}

/* --- stage ---------------------------------------------------------------------------------- */

static int read_millicores(ctx *c, const json_t *v, pl_stage *st)
{
        static const char *const keys[] = {"min", "max", "step", NULL};
        uint32_t *dst[] = {&st->millicores_min, &st->millicores_max, &st->millicores_step};
        field f;
        int r;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;
        for (size_t i = 0; keys[i]; i++) {
                uint32_t lo = i == 2 ? 1 : PL_MILLICORES_MIN;
                r = field_open(&f, c, v, keys[i]) ? read_uint(c, f.v, lo, PL_MILLICORES_MAX, dst[i])
                                                  : missing(c);
                if (r == 0 && i == 1 && st->millicores_max < st->millicores_min)
                        r = fail(c, "must not be less than min (%u), got %u", st->millicores_min,
                                 st->millicores_max);
                if (r == 0 && i == 2 &&
                    (st->millicores_max - st->millicores_min) % st->millicores_step != 0)
                        r = fail(c, "must divide max - min (%u), got %u",
                                 st->millicores_max - st->millicores_min, st->millicores_step);
                if (r == 0 && i == 2 &&
                    (st->millicores_max - st->millicores_min) / st->millicores_step + 1 >
                        MILLICORE_LEVELS)
                        r = fail(c,
                                 "gives %u core sizes from min to max; at most %u are "
                                 "accepted (use a larger step)",
                                 (st->millicores_max - st->millicores_min) / st->millicores_step +
                                     1,
                                 MILLICORE_LEVELS);
                field_close(&f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_replicas(ctx *c, const json_t *v, pl_stage *st)
{
        static const char *const keys[] = {"min", "max", NULL};
        field f;
        int r;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;
        r = field_open(&f, c, v, "min") ? read_uint(c, f.v, 1, PL_MAX_REPLICAS, &st->replicas_min)
                                        : missing(c);
        field_close(&f);
        if (r < 0)
                return r;
        r = field_open(&f, c, v, "max") ? read_uint(c, f.v, 1, PL_MAX_REPLICAS, &st->replicas_max)
                                        : missing(c);
        if (r == 0 && st->replicas_max < st->replicas_min)
                r = fail(c, "must not be less than min (%u), got %u", st->replicas_min,
                         st->replicas_max);
        field_close(&f);
        return r;
}

static int read_stage(ctx *c, const json_t *v, pl_stage *st)
{
        static const char *const keys[] = {"name",          "max_batch", "millicores", "replicas",
                                           "memory_max_mb", "pids_max",  "variants",   NULL};
        field f;
        int r;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;

        r = field_open(&f, c, v, "name") ? read_name(c, f.v, &st->name) : missing(c);
        field_close(&f);
        if (r < 0)
                return r;

        st->max_batch = PL_DEFAULT_MAX_BATCH;
        r = field_open(&f, c, v, "max_batch") ? read_uint(c, f.v, 1, PL_MAX_BATCH, &st->max_batch)
                                              : 0;
        field_close(&f);
        if (r < 0)
                return r;

        st->millicores_min = PL_DEFAULT_MILLICORES_MIN;
        st->millicores_max = PL_DEFAULT_MILLICORES_MAX;
        st->millicores_step = PL_DEFAULT_MILLICORES_STEP;
        r = field_open(&f, c, v, "millicores") ? read_millicores(c, f.v, st) : 0;
        field_close(&f);
        if (r < 0)
                return r;

        st->replicas_min = PL_DEFAULT_REPLICAS_MIN;
        st->replicas_max = PL_DEFAULT_REPLICAS_MAX;
        r = field_open(&f, c, v, "replicas") ? read_replicas(c, f.v, st) : 0;
        field_close(&f);
        if (r < 0)
                return r;

        st->memory_max_mb = PL_DEFAULT_MEMORY_MAX_MB;
        r = field_open(&f, c, v, "memory_max_mb")
                ? read_uint(c, f.v, PL_MEMORY_MAX_MB_MIN, PL_MEMORY_MAX_MB_MAX, &st->memory_max_mb)
                : 0;
        field_close(&f);
        if (r < 0)
                return r;
        st->pids_max = PL_DEFAULT_PIDS_MAX;
        r = field_open(&f, c, v, "pids_max")
                ? read_uint(c, f.v, PL_PIDS_MAX_MIN, PL_PIDS_MAX_MAX, &st->pids_max)
                : 0;
        field_close(&f);
        if (r < 0)
                return r;

        if (!field_open(&f, c, v, "variants")) {
                r = missing(c);
        } else if (!json_is_array(f.v) || json_array_size(f.v) == 0 ||
                   json_array_size(f.v) > PL_MAX_VARIANTS) {
                r = fail(c, "expected an array of 1 to %u variants, got %s", PL_MAX_VARIANTS,
                         GOT(f.v));
        } else {
                size_t n = json_array_size(f.v);
                st->variants = calloc(n, sizeof(pl_variant));
                r = st->variants ? 0 : -ENOMEM;
                if (r == 0)
                        st->n_variants = n;
                for (size_t i = 0; r == 0 && i < n; i++) {
                        size_t old = path_index(c, i);
                        r = read_variant(c, json_array_get(f.v, i), st, &st->variants[i]);
                        for (size_t k = 0; r == 0 && k < i; k++)
                                if (strcmp(st->variants[k].name, st->variants[i].name) == 0) {
                                        size_t o2 = path_key(c, "name");
                                        r = fail(
                                            c,
                                            "duplicate variant name \"%s\" (also variants[%zu] "
                                            "of this stage)",
                                            st->variants[i].name, k);
                                        path_pop(c, o2);
                                }
                        path_pop(c, old);
                }
        }
        field_close(&f);
        return r;
}

/* --- plan ----------------------------------------------------------------------------------- */

static int read_plan_entry(ctx *c, const json_t *v, const pl_stage *st, pl_plan_entry *e)
{
        static const char *const keys[] = {"variant", "batch", "millicores", "replicas", NULL};
        field f;
        int r;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;

        if (!field_open(&f, c, v, "variant")) {
                r = missing(c);
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
                        r = fail(c, "expected a variant of stage \"%s\" (%s), got %s", st->name,
                                 list, GOT(f.v));
                } else {
                        e->variant = (size_t)i;
                }
        }
        field_close(&f);
        if (r < 0)
                return r;

        r = field_open(&f, c, v, "batch") ? read_uint(c, f.v, 1, st->max_batch, &e->batch)
                                          : missing(c);
        field_close(&f);
        if (r < 0)
                return r;

        if (!field_open(&f, c, v, "millicores")) {
                r = missing(c);
        } else {
                r = read_uint(c, f.v, st->millicores_min, st->millicores_max, &e->millicores);
                if (r == 0 && (e->millicores - st->millicores_min) % st->millicores_step != 0)
                        r = fail(
                            c, "expected a value on the stage's grid %u + k*%u (up to %u), got %u",
                            st->millicores_min, st->millicores_step, st->millicores_max,
                            e->millicores);
        }
        field_close(&f);
        if (r < 0)
                return r;

        r = field_open(&f, c, v, "replicas")
                ? read_uint(c, f.v, st->replicas_min, st->replicas_max, &e->replicas)
                : missing(c);
        field_close(&f);
        return r;
}

static int read_plan(ctx *c, const pl_pipeline *p, const json_t *v, pl_plan_entry **ret)
{
        if (!json_is_array(v) || json_array_size(v) != p->n_stages)
                return fail(c, "expected an array of %zu entries (one per stage, in order), got %s",
                            p->n_stages, GOT(v));
        _cleanup_free_ pl_plan_entry *plan = calloc(p->n_stages, sizeof(pl_plan_entry));
        if (!plan)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_stages; i++) {
                size_t old = path_index(c, i);
                int r = read_plan_entry(c, json_array_get(v, i), &p->stages[i], &plan[i]);
                path_pop(c, old);
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
        ctx c;

        ctx_init(&c, "plan", err, errlen);
        if (!p)
                return fail(&c, "no pipeline");
        return read_plan(&c, p, plan, ret);
}

int pl_initial_plan(const pl_pipeline *p, pl_plan_entry **ret)
{
        pl_plan_entry *plan = calloc(p->n_stages ? p->n_stages : 1, sizeof(pl_plan_entry));
        if (!plan)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_stages; i++) {
                if (p->plan) {
                        plan[i] = p->plan[i];
                        continue;
                }
                plan[i] = (pl_plan_entry){
                    .variant = 0,
                    .batch = 1,
                    .millicores = p->stages[i].millicores_max,
                    .replicas = p->stages[i].replicas_min,
                };
        }
        *ret = plan;
        return 0;
}

/* --- pipeline ------------------------------------------------------------------------------- */

static int read_objective(ctx *c, const json_t *v, pl_objective *o)
{
        static const char *const keys[] = {"accuracy", "cores", "batch", NULL};
        double *dst[] = {&o->accuracy, &o->cores, &o->batch};
        field f;
        int r;

        if ((r = need_object(c, v)) < 0 || (r = check_keys(c, v, keys)) < 0)
                return r;
        for (size_t i = 0; keys[i]; i++) {
                r = field_open(&f, c, v, keys[i])
                        ? read_number(c, f.v, 0, OBJ_WEIGHT_MAX, false, dst[i])
                        : 0;
                field_close(&f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_stages(ctx *c, const json_t *v, pl_pipeline *p)
{
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PL_MAX_STAGES)
                return fail(c, "expected an array of 1 to %u stages, got %s", PL_MAX_STAGES,
                            GOT(v));
        size_t n = json_array_size(v);
        p->stages = calloc(n, sizeof(pl_stage));
        if (!p->stages)
                return -ENOMEM;
        p->n_stages = n;
        for (size_t i = 0; i < n; i++) {
                size_t old = path_index(c, i);
                int r = read_stage(c, json_array_get(v, i), &p->stages[i]);
                for (size_t k = 0; r == 0 && k < i; k++)
                        if (strcmp(p->stages[k].name, p->stages[i].name) == 0) {
                                size_t o2 = path_key(c, "name");
                                r = fail(c, "duplicate stage name \"%s\" (also stages[%zu])",
                                         p->stages[i].name, k);
                                path_pop(c, o2);
                        }
                path_pop(c, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_pipeline(ctx *c, const json_t *root, pl_pipeline *p)
{
        static const char *const keys[] = {
            "name",           "slo_ms", "late", "resize", "policy",  "objective", "queue_limit",
            "max_body_bytes", "stages", "plan", "inputs", "outputs", "mix",       NULL};
        field f;
        int r, e = 0;

        if ((r = need_object(c, root)) < 0 || (r = check_keys(c, root, keys)) < 0)
                return r;

        r = field_open(&f, c, root, "name") ? read_name(c, f.v, &p->name) : missing(c);
        field_close(&f);
        if (r < 0)
                return r;

        double slo_ms = 0;
        r = field_open(&f, c, root, "slo_ms")
                ? read_number(c, f.v, 1, PL_SLO_MS_MAX, false, &slo_ms)
                : missing(c);
        field_close(&f);
        if (r < 0)
                return r;
        p->slo_us = (uint64_t)llround(slo_ms * 1000.0);

        p->late = PL_LATE_DROP;
        if (field_open(&f, c, root, "late")) {
                r = read_enum(c, f.v, LATE_NAMES, ELEMENTSOF(LATE_NAMES), &e);
                p->late = (pl_late)e;
        }
        field_close(&f);
        if (r < 0)
                return r;

        p->resize = PL_RESIZE_IN_PLACE;
        if (field_open(&f, c, root, "resize")) {
                r = read_enum(c, f.v, RESIZE_NAMES, ELEMENTSOF(RESIZE_NAMES), &e);
                p->resize = (pl_resize)e;
        }
        field_close(&f);
        if (r < 0)
                return r;

        p->policy = PL_POLICY_FULL;
        if (field_open(&f, c, root, "policy")) {
                r = read_enum(c, f.v, POLICY_NAMES, ELEMENTSOF(POLICY_NAMES), &e);
                p->policy = (pl_policy)e;
        }
        field_close(&f);
        if (r < 0)
                return r;

        p->mix = true;
        if (field_open(&f, c, root, "mix")) {
                r = json_is_boolean(f.v) ? 0 : fail(c, "must be true or false");
                p->mix = json_is_true(f.v);
        }
        field_close(&f);
        if (r < 0)
                return r;

        p->objective =
            (pl_objective){PL_DEFAULT_OBJ_ACCURACY, PL_DEFAULT_OBJ_CORES, PL_DEFAULT_OBJ_BATCH};
        r = field_open(&f, c, root, "objective") ? read_objective(c, f.v, &p->objective) : 0;
        field_close(&f);
        if (r < 0)
                return r;

        p->queue_limit = PL_DEFAULT_QUEUE_LIMIT;
        r = field_open(&f, c, root, "queue_limit")
                ? read_uint(c, f.v, 1, PL_QUEUE_LIMIT_MAX, &p->queue_limit)
                : 0;
        field_close(&f);
        if (r < 0)
                return r;

        uint32_t body = PL_DEFAULT_MAX_BODY_BYTES;
        r = field_open(&f, c, root, "max_body_bytes")
                ? read_uint(c, f.v, 1, PL_BODY_BYTES_MAX, &body)
                : 0;
        field_close(&f);
        if (r < 0)
                return r;
        p->max_body_bytes = body;

        r = field_open(&f, c, root, "stages") ? read_stages(c, f.v, p) : missing(c);
        field_close(&f);
        if (r < 0)
                return r;

        r = field_open(&f, c, root, "inputs")
                ? read_tensors(c, f.v, false, &p->inputs, &p->n_inputs)
                : 0;
        field_close(&f);
        if (r < 0)
                return r;
        r = field_open(&f, c, root, "outputs")
                ? read_tensors(c, f.v, true, &p->outputs, &p->n_outputs)
                : 0;
        field_close(&f);
        if (r < 0)
                return r;

        if (field_open(&f, c, root, "plan"))
                r = read_plan(c, p, f.v, &p->plan);
        else if (p->policy == PL_POLICY_STATIC)
                r = fail(
                    c, "missing required key: needed when policy is \"static\" (the plan to keep)");
        field_close(&f);
        return r;
}

int pl_from_json(const json_t *root, pl_pipeline **ret, char *err, size_t errlen)
{
        ctx c;

        ctx_init(&c, NULL, err, errlen);
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

/* Parses text; on a syntax error *syntax is set and err holds "<line>:<column>: <text>". */
static int parse_text(const char *buf, size_t len, pl_pipeline **ret, char *err, size_t errlen,
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
        return parse_text(buf ? buf : "", len, ret, err, errlen, &syntax);
}

static int read_all(int fd, char **ret_buf, size_t *ret_len)
{
        size_t cap = 64 * 1024, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len == cap) {
                        if (cap > PL_FILE_BYTES_MAX)
                                return -EFBIG;
                        /* One byte past the limit is enough to tell a file is too large. */
                        size_t ncap = cap * 2 > PL_FILE_BYTES_MAX ? PL_FILE_BYTES_MAX + 1 : cap * 2;
                        char *nb = realloc(buf, ncap);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        cap = ncap;
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > PL_FILE_BYTES_MAX)
                return -EFBIG;
        *ret_buf = buf;
        *ret_len = len;
        buf = NULL;
        return 0;
}

int pl_load_file(const char *path, pl_pipeline **ret, char *err, size_t errlen)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                if (err && errlen)
                        snprintf(err, errlen, "%s: cannot open: %m", path);
                return r;
        }
        r = read_all(fd, &buf, &len);
        close(fd);
        if (r < 0) {
                errno = -r;
                if (err && errlen && r == -EFBIG)
                        snprintf(err, errlen, "%s: cannot read: larger than %u bytes", path,
                                 PL_FILE_BYTES_MAX);
                else if (err && errlen)
                        snprintf(err, errlen, "%s: cannot read: %m", path);
                return r;
        }

        char msg[1024];
        bool syntax;
        r = parse_text(buf, len, ret, msg, sizeof(msg), &syntax);
        if (r < 0 && err && errlen)
                snprintf(err, errlen, "%s:%s%s", path, syntax ? "" : " ", msg);
        return r;
}

/* --- printing ------------------------------------------------------------------------------- */

/* Milliseconds from microseconds: an integer when whole, so canonical files stay tidy. */
static json_t *ms_json(uint64_t us)
{
        if (us % 1000 == 0)
                return json_integer((json_int_t)(us / 1000));
        return json_real((double)us / 1000.0);
}

/* json_object_set_new() that remembers failure, so builders can check once at the end. */
/* The _new setters take the value's reference even when they fail (NULL container included). */
static void set(json_t *obj, const char *key, json_t *v, bool *ok)
{
        if (json_object_set_new(obj, key, v) < 0)
                *ok = false;
}

static void append(json_t *arr, json_t *v, bool *ok)
{
        if (json_array_append_new(arr, v) < 0)
                *ok = false;
}

static json_t *profile_json(const pl_profile *prof, bool *ok)
{
        json_t *o = json_object();
        if (prof->kind == PL_PROFILE_MODEL) {
                json_t *m = json_object();
                set(m, "gamma", json_real(prof->model.gamma), ok);
                set(m, "delta", json_real(prof->model.delta), ok);
                set(m, "epsilon", json_real(prof->model.epsilon), ok);
                set(m, "eta", json_real(prof->model.eta), ok);
                set(m, "margin", json_real(prof->model.margin), ok);
                set(o, "model", m, ok);
        } else {
                json_t *pts = json_array();
                for (size_t i = 0; i < prof->n_points; i++)
                        append(pts,
                               json_pack("[I,I,f]", (json_int_t)prof->points[i].batch,
                                         (json_int_t)prof->points[i].millicores,
                                         prof->points[i].latency_ms),
                               ok);
                set(o, "points", pts, ok);
        }
        return o;
}

static json_t *variant_json(const pl_variant *v, bool *ok)
{
        json_t *o = json_object(), *argv = json_array(), *env = json_object();

        set(o, "name", json_string(v->name), ok);
        set(o, "accuracy", json_real(v->accuracy), ok);
        for (size_t i = 0; i < v->argc; i++)
                append(argv, json_string(v->argv[i]), ok);
        set(o, "command", argv, ok);
        for (size_t i = 0; i < v->n_env; i++) {
                const char *eq = strchr(v->env[i], '=');
                if (!eq) {
                        *ok = false;
                        continue;
                }
                _cleanup_free_ char *k = strndup(v->env[i], (size_t)(eq - v->env[i]));
                if (!k)
                        *ok = false;
                else
                        set(env, k, json_string(eq + 1), ok);
        }
        set(o, "env", env, ok);
        set(o, "startup_ms", ms_json(v->startup_us), ok);
        set(o, "profile", profile_json(&v->profile, ok), ok);
        return o;
}

static json_t *stage_json(const pl_stage *s, bool *ok)
{
        json_t *o = json_object(), *vars = json_array();

        set(o, "name", json_string(s->name), ok);
        set(o, "max_batch", json_integer(s->max_batch), ok);
        set(o, "millicores",
            json_pack("{s:I,s:I,s:I}", "min", (json_int_t)s->millicores_min, "max",
                      (json_int_t)s->millicores_max, "step", (json_int_t)s->millicores_step),
            ok);
        set(o, "replicas",
            json_pack("{s:I,s:I}", "min", (json_int_t)s->replicas_min, "max",
                      (json_int_t)s->replicas_max),
            ok);
        set(o, "memory_max_mb", json_integer(s->memory_max_mb), ok);
        set(o, "pids_max", json_integer(s->pids_max), ok);
        for (size_t i = 0; i < s->n_variants; i++)
                append(vars, variant_json(&s->variants[i], ok), ok);
        set(o, "variants", vars, ok);
        return o;
}

json_t *pl_plan_to_json(const pl_pipeline *p, const pl_plan_entry *plan)
{
        bool ok = true;
        json_t *a = json_array();

        for (size_t i = 0; p && plan && i < p->n_stages; i++) {
                const pl_stage *s = &p->stages[i];
                const char *vname =
                    plan[i].variant < s->n_variants ? s->variants[plan[i].variant].name : NULL;
                append(a,
                       vname ? json_pack("{s:s,s:I,s:I,s:I}", "variant", vname, "batch",
                                         (json_int_t)plan[i].batch, "millicores",
                                         (json_int_t)plan[i].millicores, "replicas",
                                         (json_int_t)plan[i].replicas)
                             : NULL,
                       &ok);
        }
        if (!ok) {
                json_decref(a);
                return NULL;
        }
        return a;
}

static json_t *tensors_json(const pl_tensor *t, size_t n, bool *ok)
{
        json_t *a = json_array();

        for (size_t i = 0; i < n; i++) {
                json_t *shape = json_array();
                for (size_t d = 0; d < t[i].n_dims; d++)
                        append(shape, json_integer((json_int_t)t[i].shape[d]), ok);
                append(a,
                       json_pack("{s:s, s:s, s:o}", "name", t[i].name, "datatype",
                                 pl_datatype_to_string(t[i].datatype), "shape", shape),
                       ok);
        }
        if (!a)
                *ok = false;
        return a;
}

json_t *pl_to_json(const pl_pipeline *p)
{
        bool ok = true;
        json_t *o = json_object(), *stages = json_array();

        if (!p) {
                json_decref(o);
                json_decref(stages);
                return NULL;
        }
        set(o, "name", json_string(p->name), &ok);
        set(o, "slo_ms", ms_json(p->slo_us), &ok);
        set(o, "late", json_string(pl_late_to_string(p->late)), &ok);
        set(o, "resize", json_string(RESIZE_NAMES[p->resize]), &ok);
        set(o, "policy", json_string(pl_policy_to_string(p->policy)), &ok);
        set(o, "objective",
            json_pack("{s:f,s:f,s:f}", "accuracy", p->objective.accuracy, "cores",
                      p->objective.cores, "batch", p->objective.batch),
            &ok);
        set(o, "queue_limit", json_integer(p->queue_limit), &ok);
        if (!p->mix)
                set(o, "mix", json_false(), &ok);
        set(o, "max_body_bytes", json_integer((json_int_t)p->max_body_bytes), &ok);
        for (size_t i = 0; i < p->n_stages; i++)
                append(stages, stage_json(&p->stages[i], &ok), &ok);
        set(o, "stages", stages, &ok);
        if (p->plan)
                set(o, "plan", pl_plan_to_json(p, p->plan), &ok);
        if (p->n_inputs)
                set(o, "inputs", tensors_json(p->inputs, p->n_inputs, &ok), &ok);
        if (p->n_outputs)
                set(o, "outputs", tensors_json(p->outputs, p->n_outputs, &ok), &ok);
        if (!ok) {
                json_decref(o);
                return NULL;
        }
        return o;
}
