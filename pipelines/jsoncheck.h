/* SPDX-License-Identifier: MIT */
/*
 * pipelines/jsoncheck.h — checked reading of JSON values (jansson) with errors at a JSON path.
 *
 * A jc_ctx carries the path of the value being read ("stages[1].variants[0].accuracy") and the
 * caller's error buffer. Readers push a key or index before reading a member and pop it after;
 * the first failure writes "PATH: what is wrong, what is accepted, got VALUE" ("(root)" for the
 * empty path, "..." after a path too long for the buffer) and returns -EINVAL.
 * Invariants: every push is popped in reverse order; err may be NULL / errlen 0 (no message);
 * ret_* outputs are written only on success. No global state: reentrant, one ctx per thread.
 * Used by the pipeline files (pipelines/read.c, pipeline.c) and the node config
 * (agent/nodeconf.c, agent/trust.c).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JC_PATH_MAX 512u
#define JC_GOT_MAX  48u /* characters of an offending value quoted in a message */

typedef struct jc_ctx {
        char *err; /* borrowed: the caller's buffer, may be NULL */
        size_t errlen;
        char path[JC_PATH_MAX];
        size_t path_len;
        unsigned truncated; /* pushes that did not fit and are not popped yet */
} jc_ctx;

/* Starts at path prefix (NULL or "" for the root), errors into err. */
void jc_init(jc_ctx *c, const char *prefix, char *err, size_t errlen);

/* Push ".key" (or "[\"key\"]" when key is not an identifier) / "[i]"; each returns the length
 * to hand back to jc_pop(). */
size_t jc_push_key(jc_ctx *c, const char *key);
size_t jc_push_index(jc_ctx *c, size_t i);
void jc_pop(jc_ctx *c, size_t old);

/* Writes "PATH: <message>" to the error buffer; returns -EINVAL. */
int jc_fail(jc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* jc_fail(c, "missing required key"). */
int jc_missing(jc_ctx *c);

/* The "got ..." text of a value: the JSON of a scalar (shortened to JC_GOT_MAX), "an object",
 * "{}", "an array", "[]", or "nothing" for NULL. Returns buf. */
const char *jc_describe(const json_t *v, char *buf, size_t len);
#define JC_GOT(v) jc_describe((v), (char[JC_GOT_MAX + 8]){0}, JC_GOT_MAX + 8)

/* [A-Za-z_][A-Za-z0-9_]* */
bool jc_is_ident(const char *s);

/* Index of s in names[0..n), or -EINVAL (s NULL too). */
int jc_enum_from(const char *const *names, size_t n, const char *s);

/* Fails at the first key of obj not in allowed (NULL-terminated): "unknown key (accepted here:
 * a, b, c)", reported at that key. */
int jc_check_keys(jc_ctx *c, const json_t *obj, const char *const *allowed);
/* "expected an object, got ..." unless v is an object. */
int jc_need_object(jc_ctx *c, const json_t *v);

/* Integers: a JSON number with an integral value (16 and 16.0) in [min, max]. */
int jc_read_uint(jc_ctx *c, const json_t *v, uint32_t min, uint32_t max, uint32_t *ret);
int jc_read_u64(jc_ctx *c, const json_t *v, uint64_t min, uint64_t max, uint64_t *ret);
/* A finite number in [min, max] ((min, max] when min_open). */
int jc_read_number(jc_ctx *c, const json_t *v, double min, double max, bool min_open, double *ret);
/* true or false. */
int jc_read_bool(jc_ctx *c, const json_t *v, bool *ret);
/* A string without NUL bytes, at most max_len bytes; *ret is borrowed from v. */
int jc_read_string(jc_ctx *c, const json_t *v, size_t max_len, const char **ret);
/* As jc_read_string, not empty, copied: the previous *ret is freed and replaced. -ENOMEM. */
int jc_set_string(jc_ctx *c, const json_t *v, size_t max_len, char **ret);
/* An array of at most max strings, each as jc_set_string, into out[]: the *n strings there are
 * freed first, then *n counts those read (also after a failure, so all can be freed). */
int jc_set_strings(jc_ctx *c, const json_t *v, size_t max, size_t max_len, char **out, size_t *n);
/* One of names[0..n) (a JSON string): "expected \"a\", \"b\" or \"c\", got ...". */
int jc_read_enum(jc_ctx *c, const json_t *v, const char *const *names, size_t n, int *ret);

/* A member of an object with the path extended by its key: open, read f.v, close.
 * jc_field_open() returns whether the key is present (f->v NULL otherwise). */
typedef struct jc_field {
        jc_ctx *c;
        size_t old;
        const json_t *v;
} jc_field;

bool jc_field_open(jc_field *f, jc_ctx *c, const json_t *obj, const char *key);
void jc_field_close(jc_field *f);
