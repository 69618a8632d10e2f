/* SPDX-License-Identifier: MIT */
/*
 * Checked reading of JSON values with errors at a JSON path: see jsoncheck.h.
 *
 * The path lives in a fixed buffer inside the ctx; a segment that does not fit is dropped
 * (and deeper ones with it) until popped, and the message then shows "PATH...: ".
 */
#include "pipelines/jsoncheck.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jc_init(jc_ctx *c, const char *prefix, char *err, size_t errlen)
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

bool jc_is_ident(const char *s)
{
        if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '_'))
                        return false;
        return true;
}

/* Appends to the path and returns the previous length, to be handed back to jc_pop(). */
static size_t path_append(jc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_append(jc_ctx *c, const char *fmt, ...)
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

size_t jc_push_key(jc_ctx *c, const char *key)
{
        if (jc_is_ident(key))
                return path_append(c, "%s%s", c->path_len ? "." : "", key);
        /* Keys that are not identifiers are printed as JSON strings in brackets. */
        json_t *s = json_string(key);
        char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        size_t old = path_append(c, "[%s]", q ? q : "\"?\"");
        free(q);
        json_decref(s);
        return old;
}

size_t jc_push_index(jc_ctx *c, size_t i)
{
        return path_append(c, "[%zu]", i);
}

void jc_pop(jc_ctx *c, size_t old)
{
        /* Every successful append adds at least two characters, so an unchanged length
         * means the matching append did not fit. */
        if (c->path_len == old && c->truncated > 0)
                c->truncated--;
        c->path_len = old;
        c->path[old] = '\0';
}

int jc_fail(jc_ctx *c, const char *fmt, ...)
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

int jc_missing(jc_ctx *c)
{
        return jc_fail(c, "missing required key");
}

const char *jc_describe(const json_t *v, char *buf, size_t len)
{
        if (!v) {
                snprintf(buf, len, "nothing");
                return buf;
        }
        if (json_is_object(v) || json_is_array(v)) {
                bool empty = json_is_object(v) ? !json_object_size(v) : !json_array_size(v);
                snprintf(buf, len, "%s",
                         json_is_object(v) ? (empty ? "{}" : "an object")
                                           : (empty ? "[]" : "an array"));
                return buf;
        }
        /* 15 digits: 0.45 rather than 0.45000000000000001. */
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (!t)
                snprintf(buf, len, "a value");
        else if (strlen(t) > JC_GOT_MAX)
                snprintf(buf, len, "%.*s...", (int)JC_GOT_MAX, t);
        else
                snprintf(buf, len, "%s", t);
        free(t);
        return buf;
}

int jc_enum_from(const char *const *names, size_t n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (names[i] && strcmp(names[i], s) == 0) /* a gap in a table: no name */
                        return (int)i;
        return -EINVAL;
}

static bool key_allowed(const char *key, const char *const *allowed)
{
        for (const char *const *a = allowed; *a; a++)
                if (strcmp(*a, key) == 0)
                        return true;
        return false;
}

int jc_check_keys(jc_ctx *c, const json_t *obj, const char *const *allowed)
{
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)obj, key, v)
        {
                if (key_allowed(key, allowed))
                        continue;
                char list[512] = "";
                size_t n = 0;
                for (const char *const *a = allowed; *a && n < sizeof(list); a++) {
                        int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *a);
                        if (w < 0)
                                break;
                        n += (size_t)w;
                }
                size_t old = jc_push_key(c, key);
                int r = jc_fail(c, "unknown key (accepted here: %s)", list);
                jc_pop(c, old);
                return r;
        }
        return 0;
}

int jc_need_object(jc_ctx *c, const json_t *v)
{
        if (!json_is_object(v))
                return jc_fail(c, "expected an object, got %s", JC_GOT(v));
        return 0;
}

int jc_read_u64(jc_ctx *c, const json_t *v, uint64_t min, uint64_t max, uint64_t *ret)
{
        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                if (i >= 0 && (uint64_t)i >= min && (uint64_t)i <= max) {
                        *ret = (uint64_t)i;
                        return 0;
                }
        } else if (json_is_real(v)) {
                /* 16.0 is accepted as 16: JSON does not distinguish integers. */
                double d = json_real_value(v);
                if (isfinite(d) && d == floor(d) && d >= (double)min && d <= (double)max) {
                        *ret = (uint64_t)d;
                        return 0;
                }
        }
        return jc_fail(c, "expected an integer in [%llu, %llu], got %s", (unsigned long long)min,
                       (unsigned long long)max, JC_GOT(v));
}

int jc_read_uint(jc_ctx *c, const json_t *v, uint32_t min, uint32_t max, uint32_t *ret)
{
        uint64_t u;
        int r = jc_read_u64(c, v, min, max, &u);

        if (r == 0)
                *ret = (uint32_t)u;
        return r;
}

int jc_read_number(jc_ctx *c, const json_t *v, double min, double max, bool min_open, double *ret)
{
        if (json_is_number(v)) {
                double d = json_number_value(v);
                if (isfinite(d) && (min_open ? d > min : d >= min) && d <= max) {
                        *ret = d;
                        return 0;
                }
        }
        return jc_fail(c, "expected a number in %c%.15g, %.15g], got %s", min_open ? '(' : '[', min,
                       max, JC_GOT(v));
}

int jc_read_bool(jc_ctx *c, const json_t *v, bool *ret)
{
        if (!json_is_boolean(v))
                return jc_fail(c, "expected true or false, got %s", JC_GOT(v));
        *ret = json_is_true(v);
        return 0;
}

int jc_read_string(jc_ctx *c, const json_t *v, size_t max_len, const char **ret)
{
        if (!json_is_string(v))
                return jc_fail(c, "expected a string, got %s", JC_GOT(v));
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
                return jc_fail(c, "the string contains a NUL byte");
        if (strlen(s) > max_len)
                return jc_fail(c, "expected at most %zu bytes, got %zu", max_len, strlen(s));
        *ret = s;
        return 0;
}

int jc_set_string(jc_ctx *c, const json_t *v, size_t max_len, char **ret)
{
        const char *s;

        if (!json_is_string(v) || json_string_length(v) == 0)
                return jc_fail(c, "expected a non-empty string, got %s", JC_GOT(v));
        int r = jc_read_string(c, v, max_len, &s);
        if (r < 0)
                return r;
        char *d = strdup(s);
        if (!d)
                return -ENOMEM;
        free(*ret);
        *ret = d;
        return 0;
}

int jc_set_strings(jc_ctx *c, const json_t *v, size_t max, size_t max_len, char **out, size_t *n)
{
        json_t *e;
        size_t i;

        if (!json_is_array(v) || json_array_size(v) > max)
                return jc_fail(c, "expected an array of at most %zu strings, got %s", max,
                               JC_GOT(v));
        for (i = 0; i < *n; i++)
                free(out[i]);
        *n = 0;
        json_array_foreach(v, i, e)
        {
                out[i] = NULL;
                size_t old = jc_push_index(c, i);
                int r = jc_set_string(c, e, max_len, &out[i]);
                jc_pop(c, old);
                if (r < 0)
                        return r;
                *n = i + 1;
        }
        return 0;
}

int jc_read_enum(jc_ctx *c, const json_t *v, const char *const *names, size_t n, int *ret)
{
        int i = json_is_string(v) ? jc_enum_from(names, n, json_string_value(v)) : -EINVAL;
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
        return jc_fail(c, "expected %s, got %s", list, JC_GOT(v));
}

bool jc_field_open(jc_field *f, jc_ctx *c, const json_t *obj, const char *key)
{
        f->c = c;
        f->v = json_object_get(obj, key);
        f->old = jc_push_key(c, key);
        return f->v != NULL;
}

void jc_field_close(jc_field *f)
{
        jc_pop(f->c, f->old);
}
