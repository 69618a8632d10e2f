/* oip-tensor.c — see oip-tensor.h. Written from the Open Inference Protocol's REST text
 * (kserve/open-inference-protocol, specification/protocol/inference_rest.md: "Inference Request
 * JSON Object", "Tensor Data", "Tensor Data Types") and its binary tensor data extension
 * (binary_data_size, binary_data, binary_data_output; BOOL one byte, BYTES elements each a
 * 4-byte little-endian length then the bytes; binary data after the JSON, in input order). */
#include "agent/oip-tensor.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DATA_DEPTH_MAX  32u /* nesting of a "data" array */
#define ELEMENTS_MAX    (1ull << 32)
#define TIMEOUT_US_MAX  (3600ull * USEC_PER_SEC)
#define BYTES_PREFIX    4u /* BYTES element: uint32 little-endian length */
#define ERR_NAME_QUOTED 64

static const pl_tensor DEFAULT_INPUT = {
    .name = (char *)"input", .datatype = PL_DT_BYTES, .shape = {1}, .n_dims = 1};
static const pl_tensor DEFAULT_OUTPUT = {
    .name = (char *)"output", .datatype = PL_DT_BYTES, .shape = {1}, .n_dims = 1};

OipTensors oip_inputs(const pl_pipeline *p)
{
        return p->n_inputs ? (OipTensors){p->inputs, p->n_inputs} : (OipTensors){&DEFAULT_INPUT, 1};
}

OipTensors oip_outputs(const pl_pipeline *p)
{
        return p->n_outputs ? (OipTensors){p->outputs, p->n_outputs}
                            : (OipTensors){&DEFAULT_OUTPUT, 1};
}

void oip_ask_done(OipAsk *a)
{
        free(a->id);
        a->id = NULL;
}

static int bad(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t errlen, int r, const char *fmt, ...)
{
        va_list ap;

        if (err && errlen) {
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}

/* One BYTES tensor of one element, alone: its bytes travel as they are (what /v1 carries). */
static bool single_bytes(const OipTensors *ts)
{
        if (ts->n != 1 || ts->t[0].datatype != PL_DT_BYTES)
                return false;
        for (size_t d = 0; d < ts->t[0].n_dims; d++)
                if (ts->t[0].shape[d] != 1)
                        return false;
        return true;
}

static int put_le(Buf *b, uint64_t bits, size_t n)
{
        uint8_t v[8];

        for (size_t i = 0; i < n; i++)
                v[i] = (uint8_t)(bits >> (8 * i));
        return buf_append(b, v, n);
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* ---- FP16 ------------------------------------------------------------------------------------ */

static uint32_t round_shift(uint64_t man, unsigned shift)
{
        uint64_t kept = shift < 64 ? man >> shift : 0, rem, mid;

        if (shift == 0)
                return (uint32_t)man;
        rem = shift < 64 ? man & ((1ull << shift) - 1) : man;
        mid = shift <= 64 ? 1ull << (shift - 1) : 0;
        if (rem > mid || (rem == mid && (kept & 1)))
                kept++;
        return (uint32_t)kept;
}

uint16_t oip_half_from_double(double x)
{
        uint64_t b, man;
        uint16_t sign;
        int exp, e;

        memcpy(&b, &x, sizeof(b));
        sign = (uint16_t)((b >> 48) & 0x8000);
        exp = (int)((b >> 52) & 0x7ff);
        man = b & 0xfffffffffffffull;
        if (exp == 0x7ff)
                return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
        e = exp - 1023 + 15;
        if (e >= 31)
                return sign | 0x7c00;
        if (e <= 0) { /* half subnormal: m * 2^-24 */
                if (e < -10)
                        return sign;
                return (uint16_t)(sign | round_shift(man | (1ull << 52), (unsigned)(43 - e)));
        }
        /* A carry out of the mantissa steps the exponent, up to infinity: still correct. */
        return (uint16_t)(sign | round_shift(((uint64_t)e << 52) | man, 42));
}

double oip_half_to_double(uint16_t h)
{
        int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
        double v = exp == 0    ? ldexp(man, -24)
                   : exp == 31 ? (man ? NAN : INFINITY)
                               : ldexp(man | 0x400, exp - 25);

        return (h & 0x8000) ? -v : v;
}

/* ---- request --------------------------------------------------------------------------------- */

typedef struct Chunk {
        const json_t *j; /* the request input (borrowed from the parsed body) */
        uint64_t count;  /* elements */
        bool binary;
        const uint8_t *bin; /* binary data (borrowed from the body) */
        size_t bin_len;
} Chunk;

typedef struct Dec {
        char *err;
        size_t errlen;
        Buf *item;
        size_t max_item;
        const char *where; /* "inputs[2] (\"x\")" */
} Dec;

/* 0 while the item built so far fits the pipeline's max_body_bytes, else -EFBIG (said in err). */
static int check_item_size(const Dec *d)
{
        if (d->item->len <= d->max_item)
                return 0;
        return bad(d->err, d->errlen, -EFBIG,
                   "the input tensors take more than %zu bytes (the pipeline's max_body_bytes)",
                   d->max_item);
}

static bool integral(const json_t *v, double lo, double hi, double *ret)
{
        double d;

        if (json_is_integer(v))
                d = (double)json_integer_value(v);
        else if (json_is_real(v))
                d = json_real_value(v);
        else
                return false;
        if (!isfinite(d) || d != floor(d) || d < lo || d > hi)
                return false;
        *ret = d;
        return true;
}

static int put_int(Buf *b, const json_t *v, pl_datatype t, bool *ok)
{
        static const struct {
                double lo, hi;
        } range[] = {
            [PL_DT_UINT8] = {0, 255},
            [PL_DT_UINT16] = {0, 65535},
            [PL_DT_UINT32] = {0, 4294967295.0},
            [PL_DT_UINT64] = {0, 9223372036854775807.0}, /* JSON numbers beyond int64: jansson */
            [PL_DT_INT8] = {-128, 127},
            [PL_DT_INT16] = {-32768, 32767},
            [PL_DT_INT32] = {-2147483648.0, 2147483647.0},
            [PL_DT_INT64] = {-9223372036854775808.0, 9223372036854775807.0},
        };
        double d;

        if (json_is_integer(v) && (t == PL_DT_INT64 || t == PL_DT_UINT64)) {
                json_int_t i = json_integer_value(v); /* exact: no detour through double */
                *ok = t == PL_DT_INT64 || i >= 0;
                return *ok ? put_le(b, (uint64_t)i, 8) : 0;
        }
        *ok = integral(v, range[t].lo, range[t].hi, &d);
        if (!*ok)
                return 0;
        return put_le(b, d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d, pl_datatype_size(t));
}

/* Appends one JSON element as its binary layout. Sets *ok false when the value does not fit. */
static int put_element(Buf *b, const json_t *v, pl_datatype t, bool raw, bool *ok)
{
        double d = json_is_number(v) ? json_number_value(v) : NAN;
        float f;
        uint64_t bits = 0;

        *ok = true;
        switch (t) {
        case PL_DT_BOOL:
                *ok = json_is_boolean(v);
                return *ok ? put_le(b, json_is_true(v), 1) : 0;
        case PL_DT_FP16:
                *ok = isfinite(d);
                return *ok ? put_le(b, oip_half_from_double(d), 2) : 0;
        case PL_DT_FP32:
                *ok = isfinite(d) && fabs(d) <= FLT_MAX;
                f = (float)d;
                memcpy(&bits, &f, sizeof(f));
                return *ok ? put_le(b, bits, 4) : 0;
        case PL_DT_FP64:
                *ok = isfinite(d);
                memcpy(&bits, &d, sizeof(d));
                return *ok ? put_le(b, bits, 8) : 0;
        case PL_DT_BYTES: {
                size_t n = json_is_string(v) ? json_string_length(v) : 0;
                int r = 0;
                *ok = json_is_string(v) && n <= UINT32_MAX;
                if (*ok && !raw)
                        r = put_le(b, n, BYTES_PREFIX);
                return *ok && r == 0 ? buf_append(b, json_string_value(v), n) : r;
        }
        default:
                return put_int(b, v, t, ok);
        }
}

static const char *expected_json(pl_datatype t)
{
        switch (t) {
        case PL_DT_BOOL:
                return "true or false";
        case PL_DT_BYTES:
                return "a string";
        case PL_DT_FP16:
        case PL_DT_FP64:
                return "a finite number";
        case PL_DT_FP32:
                return "a finite number within FP32's range";
        default:
                return "an integer within the datatype's range";
        }
}

/* Walks a (possibly nested) "data" array in row-major order: counts, or writes, its elements. */
static int walk(Dec *d, const json_t *v, unsigned depth, pl_datatype t, bool raw, bool write,
                uint64_t *n)
{
        bool ok;
        int r;

        if (json_is_array(v)) {
                if (depth >= DATA_DEPTH_MAX)
                        return bad(d->err, d->errlen, -EINVAL,
                                   "%s: data: nested deeper than %u arrays", d->where,
                                   DATA_DEPTH_MAX);
                for (size_t i = 0; i < json_array_size(v); i++) {
                        r = walk(d, json_array_get(v, i), depth + 1, t, raw, write, n);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (write) {
                r = put_element(d->item, v, t, raw, &ok);
                if (r < 0)
                        return r;
                if (!ok) {
                        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                        r = bad(d->err, d->errlen, -EINVAL,
                                "%s: data element %llu: expected %s for %s, got %.32s", d->where,
                                (unsigned long long)*n, expected_json(t), pl_datatype_to_string(t),
                                s ? s : "a value");
                        free(s);
                        return r;
                }
                r = check_item_size(d);
                if (r < 0)
                        return r;
        }
        (*n)++;
        return *n > ELEMENTS_MAX
                   ? bad(d->err, d->errlen, -EINVAL, "%s: too many elements", d->where)
                   : 0;
}

/* Checks a BYTES tensor's binary data: count elements, each a length then its bytes, exactly. */
static int check_bytes_binary(Dec *d, const Chunk *c)
{
        size_t off = 0;

        for (uint64_t i = 0; i < c->count; i++) {
                uint64_t n;
                if (c->bin_len - off < BYTES_PREFIX)
                        return bad(d->err, d->errlen, -EINVAL,
                                   "%s: binary data ends inside element %llu's length", d->where,
                                   (unsigned long long)i);
                n = get_le(c->bin + off, BYTES_PREFIX);
                off += BYTES_PREFIX;
                if (c->bin_len - off < n)
                        return bad(d->err, d->errlen, -EINVAL,
                                   "%s: binary element %llu says %llu bytes, %zu are left",
                                   d->where, (unsigned long long)i, (unsigned long long)n,
                                   c->bin_len - off);
                off += n;
        }
        if (off != c->bin_len)
                return bad(d->err, d->errlen, -EINVAL,
                           "%s: binary_data_size %zu, but its %llu elements take %zu bytes",
                           d->where, c->bin_len, (unsigned long long)c->count, off);
        return 0;
}

static int read_shape(Dec *d, const json_t *s, const pl_tensor *decl, uint64_t *ret_count)
{
        uint64_t count = 1;

        if (!json_is_array(s) || json_array_size(s) != decl->n_dims)
                return bad(d->err, d->errlen, -EINVAL,
                           "%s: shape: expected an array of %zu dimensions", d->where,
                           decl->n_dims);
        for (size_t i = 0; i < decl->n_dims; i++) {
                const json_t *x = json_array_get(s, i);
                json_int_t v = json_is_integer(x) ? json_integer_value(x) : -1;
                if (v < 0 || (decl->shape[i] != -1 && v != decl->shape[i]) ||
                    v > (json_int_t)PL_TENSOR_DIM_MAX)
                        return bad(
                            d->err, d->errlen, -EINVAL, "%s: shape[%zu]: expected %s%lld, got %lld",
                            d->where, i, decl->shape[i] == -1 ? "an integer >= 0, not " : "",
                            (long long)(decl->shape[i] == -1 ? -1 : decl->shape[i]), (long long)v);
                count *= (uint64_t)v;
                if (count > ELEMENTS_MAX)
                        return bad(d->err, d->errlen, -EINVAL, "%s: shape: too many elements",
                                   d->where);
        }
        *ret_count = count;
        return 0;
}

/* Validates one request input against its declaration; takes its binary data from *bin_off. */
static int read_input(Dec *d, const json_t *ji, const pl_tensor *decl, const uint8_t *bin,
                      size_t bin_len, size_t *bin_off, Chunk *c)
{
        const json_t *dt = json_object_get(ji, "datatype"),
                     *params = json_object_get(ji, "parameters");
        const json_t *size = params ? json_object_get(params, "binary_data_size") : NULL;
        const json_t *data = json_object_get(ji, "data");
        const char *key;
        json_t *v;
        int r;

        json_object_foreach((json_t *)ji, key, v)
        {
                if (strcmp(key, "name") && strcmp(key, "shape") && strcmp(key, "datatype") &&
                    strcmp(key, "parameters") && strcmp(key, "data"))
                        return bad(d->err, d->errlen, -EINVAL,
                                   "%s: unknown key \"%.32s\" (accepted: name, shape, "
                                   "datatype, parameters, data)",
                                   d->where, key);
        }
        if (!json_is_string(dt) ||
            strcmp(json_string_value(dt), pl_datatype_to_string(decl->datatype)))
                return bad(d->err, d->errlen, -EINVAL,
                           "%s: datatype: the pipeline takes %s, got %.32s", d->where,
                           pl_datatype_to_string(decl->datatype),
                           json_is_string(dt) ? json_string_value(dt) : "no string");
        r = read_shape(d, json_object_get(ji, "shape"), decl, &c->count);
        if (r < 0)
                return r;
        if (params && !json_is_object(params))
                return bad(d->err, d->errlen, -EINVAL, "%s: parameters: expected an object",
                           d->where);
        c->j = ji;
        if (!size) {
                uint64_t n = 0;
                if (!json_is_array(data))
                        return bad(d->err, d->errlen, -EINVAL,
                                   "%s: data: expected an array (or parameters.binary_data_size "
                                   "with binary data after the JSON)",
                                   d->where);
                r = walk(d, data, 0, decl->datatype, false, false, &n);
                if (r < 0)
                        return r;
                if (n != c->count)
                        return bad(d->err, d->errlen, -EINVAL,
                                   "%s: data has %llu elements, the shape says %llu", d->where,
                                   (unsigned long long)n, (unsigned long long)c->count);
                return 0;
        }
        if (data)
                return bad(d->err, d->errlen, -EINVAL,
                           "%s: give data or parameters.binary_data_size, not both", d->where);
        if (!json_is_integer(size) || json_integer_value(size) < 0 ||
            (uint64_t)json_integer_value(size) > bin_len - *bin_off)
                return bad(d->err, d->errlen, -EINVAL,
                           "%s: parameters.binary_data_size: expected an integer in [0, %zu] "
                           "(the binary data left after the JSON)",
                           d->where, bin_len - *bin_off);
        c->binary = true;
        c->bin = bin + *bin_off;
        c->bin_len = (size_t)json_integer_value(size);
        *bin_off += c->bin_len;
        if (decl->datatype == PL_DT_BYTES)
                return check_bytes_binary(d, c);
        if (c->bin_len != c->count * pl_datatype_size(decl->datatype))
                return bad(d->err, d->errlen, -EINVAL,
                           "%s: binary_data_size %zu, but %llu %s elements take %llu bytes",
                           d->where, c->bin_len, (unsigned long long)c->count,
                           pl_datatype_to_string(decl->datatype),
                           (unsigned long long)(c->count * pl_datatype_size(decl->datatype)));
        return 0;
}

static int emit_input(Dec *d, const Chunk *c, const pl_tensor *decl, bool raw)
{
        uint64_t n = 0;
        int r;

        if (!c->binary)
                return walk(d, json_object_get(c->j, "data"), 0, decl->datatype, raw, true, &n);
        if (raw) /* one BYTES element: drop its length */
                r = buf_append(d->item, c->bin + BYTES_PREFIX, c->bin_len - BYTES_PREFIX);
        else
                r = buf_append(d->item, c->bin, c->bin_len);
        if (r < 0)
                return r;
        return check_item_size(d);
}

static int find_tensor(const OipTensors *ts, const json_t *name)
{
        for (size_t i = 0; json_is_string(name) && i < ts->n; i++)
                if (strcmp(ts->t[i].name, json_string_value(name)) == 0)
                        return (int)i;
        return -1;
}

static void tensor_names(const OipTensors *ts, char *buf, size_t len)
{
        size_t off = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ts->n && off < len; i++) {
                int w = snprintf(buf + off, len - off, "%s\"%s\"", i ? ", " : "", ts->t[i].name);
                if (w < 0)
                        return;
                off += (size_t)w;
        }
}

static int read_inputs(Dec *d, const json_t *inputs, const OipTensors *in, const uint8_t *bin,
                       size_t bin_len)
{
        Chunk chunks[PL_MAX_TENSORS] = {0};
        char where[96], names[256];
        size_t bin_off = 0;
        int r;

        tensor_names(in, names, sizeof(names));
        if (!json_is_array(inputs) || json_array_size(inputs) == 0)
                return bad(d->err, d->errlen, -EINVAL,
                           "inputs: expected an array of the pipeline's input tensors (%s)", names);
        for (size_t i = 0; i < json_array_size(inputs); i++) {
                const json_t *ji = json_array_get(inputs, i), *name = json_object_get(ji, "name");
                int k = find_tensor(in, name);
                snprintf(where, sizeof(where), "inputs[%zu] (%.*s)", i, ERR_NAME_QUOTED,
                         json_is_string(name) ? json_string_value(name) : "no name");
                d->where = where;
                if (!json_is_object(ji) || k < 0)
                        return bad(d->err, d->errlen, -EINVAL,
                                   "%s: expected an object naming one of the pipeline's inputs "
                                   "(%s)",
                                   where, names);
                if (chunks[k].j)
                        return bad(d->err, d->errlen, -EINVAL, "%s: given twice", where);
                r = read_input(d, ji, &in->t[k], bin, bin_len, &bin_off, &chunks[k]);
                if (r < 0)
                        return r;
        }
        for (size_t k = 0; k < in->n; k++)
                if (!chunks[k].j)
                        return bad(d->err, d->errlen, -EINVAL,
                                   "inputs: input \"%s\" is missing (the pipeline takes %s)",
                                   in->t[k].name, names);
        if (bin_off != bin_len)
                return bad(d->err, d->errlen, -EINVAL,
                           "%zu bytes of binary data after the JSON, the inputs' "
                           "binary_data_size add up to %zu",
                           bin_len, bin_off);
        for (size_t k = 0; k < in->n; k++) {
                snprintf(where, sizeof(where), "input \"%s\"", in->t[k].name);
                d->where = where;
                r = emit_input(d, &chunks[k], &in->t[k], single_bytes(in));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_bool_param(Dec *d, const json_t *params, const char *key, const char *where,
                           bool *ret)
{
        const json_t *v = json_is_object(params) ? json_object_get(params, key) : NULL;

        if (!v)
                return 0;
        if (!json_is_boolean(v))
                return bad(d->err, d->errlen, -EINVAL, "%s.%s: expected true or false", where, key);
        *ret = json_is_true(v);
        return 1;
}

static int read_parameters(Dec *d, const json_t *params, OipAsk *ask, bool *binary_all)
{
        const json_t *t;
        const char *key;
        json_t *v;
        double us;

        if (!params)
                return 0;
        if (!json_is_object(params))
                return bad(d->err, d->errlen, -EINVAL, "parameters: expected an object");
        json_object_foreach((json_t *)params, key, v)
        {
                if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v))
                        return bad(d->err, d->errlen, -EINVAL,
                                   "parameters.%.32s: expected a string, number or boolean", key);
        }
        t = json_object_get(params, "timeout");
        if (t) {
                if (!integral(t, 1, (double)TIMEOUT_US_MAX, &us))
                        return bad(d->err, d->errlen, -EINVAL,
                                   "parameters.timeout: expected microseconds, an integer in "
                                   "[1, %llu]",
                                   (unsigned long long)TIMEOUT_US_MAX);
                ask->timeout_us = (uint64_t)us;
        }
        return read_bool_param(d, params, "binary_data_output", "parameters", binary_all) < 0
                   ? -EINVAL
                   : 0;
}

static int read_outputs(Dec *d, const json_t *outputs, const OipTensors *out, bool binary_all,
                        OipAsk *ask)
{
        char where[96], names[256];
        bool named = false;

        tensor_names(out, names, sizeof(names));
        for (size_t k = 0; k < out->n; k++)
                ask->binary[k] = binary_all;
        if (outputs && !json_is_array(outputs))
                return bad(d->err, d->errlen, -EINVAL, "outputs: expected an array");
        for (size_t i = 0; outputs && i < json_array_size(outputs); i++) {
                const json_t *jo = json_array_get(outputs, i), *name = json_object_get(jo, "name");
                const json_t *params = json_object_get(jo, "parameters");
                int k = find_tensor(out, name);
                snprintf(where, sizeof(where), "outputs[%zu]", i);
                if (!json_is_object(jo) || k < 0)
                        return bad(d->err, d->errlen, -EINVAL,
                                   "%s: expected an object naming one of the pipeline's outputs "
                                   "(%s)",
                                   where, names);
                if (ask->want[k])
                        return bad(d->err, d->errlen, -EINVAL, "%s: \"%s\" asked twice", where,
                                   out->t[k].name);
                if (params && !json_is_object(params))
                        return bad(d->err, d->errlen, -EINVAL, "%s.parameters: expected an object",
                                   where);
                snprintf(where, sizeof(where), "outputs[%zu].parameters", i);
                if (read_bool_param(d, params, "binary_data", where, &ask->binary[k]) < 0)
                        return -EINVAL;
                ask->want[k] = named = true;
        }
        for (size_t k = 0; !named && k < out->n; k++)
                ask->want[k] = true;
        return 0;
}

static int check_top_keys(Dec *d, const json_t *root)
{
        const char *key;
        json_t *v;

        if (!json_is_object(root))
                return bad(d->err, d->errlen, -EINVAL,
                           "expected a JSON object {\"inputs\": [...], ...}");
        json_object_foreach((json_t *)root, key, v)
        {
                if (strcmp(key, "id") && strcmp(key, "parameters") && strcmp(key, "inputs") &&
                    strcmp(key, "outputs"))
                        return bad(d->err, d->errlen, -EINVAL,
                                   "unknown key \"%.32s\" (accepted: id, parameters, inputs, "
                                   "outputs)",
                                   key);
        }
        v = json_object_get(root, "id");
        if (v && !json_is_string(v))
                return bad(d->err, d->errlen, -EINVAL, "id: expected a string");
        return 0;
}

int oip_decode_request(const OipTensors *in, const OipTensors *out, const uint8_t *body, size_t len,
                       size_t json_len, size_t max_item, OipAsk *ret_ask, Buf *ret_item, char *err,
                       size_t errlen)
{
        Buf item = {0};
        OipAsk ask = {0};
        Dec d = {.err = err, .errlen = errlen, .item = &item, .max_item = max_item, .where = ""};
        json_error_t jerr;
        json_t *root;
        bool binary_all = false;
        int r;

        if (json_len > len)
                return bad(err, errlen, -EINVAL,
                           "Inference-Header-Content-Length %zu is larger than the body (%zu)",
                           json_len, len);
        root = json_loadb((const char *)body, json_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return bad(err, errlen, -EINVAL, "invalid JSON at %d:%d: %s", jerr.line,
                           jerr.column, jerr.text);
        r = check_top_keys(&d, root);
        if (r == 0)
                r = read_parameters(&d, json_object_get(root, "parameters"), &ask, &binary_all);
        if (r == 0)
                r = read_outputs(&d, json_object_get(root, "outputs"), out, binary_all, &ask);
        if (r == 0)
                r = read_inputs(&d, json_object_get(root, "inputs"), in, body + json_len,
                                len - json_len);
        if (r == 0 && json_object_get(root, "id")) {
                ask.id = strdup(json_string_value(json_object_get(root, "id")));
                r = ask.id ? 0 : -ENOMEM;
        }
        if (r == 0)
                r = buf_append(ret_item, item.data, item.len);
        json_decref(root);
        buf_done(&item);
        if (r < 0) {
                oip_ask_done(&ask);
                return r;
        }
        *ret_ask = ask;
        return 0;
}

/* ---- response -------------------------------------------------------------------------------- */

typedef struct Cut {
        size_t off, len; /* in the output bytes */
        int64_t shape[PL_TENSOR_MAX_DIMS];
        uint64_t count;
        bool raw; /* one BYTES element without its length */
} Cut;

/* Counts BYTES elements from off until max elements or the end; returns the bytes they take. */
static int bytes_elements(const uint8_t *data, size_t len, size_t off, uint64_t max,
                          uint64_t *ret_n, size_t *ret_len)
{
        size_t start = off;
        uint64_t n = 0;

        while (n < max && off < len) {
                uint64_t e;
                if (len - off < BYTES_PREFIX)
                        return -EPROTO;
                e = get_le(data + off, BYTES_PREFIX);
                if (len - off - BYTES_PREFIX < e)
                        return -EPROTO;
                off += BYTES_PREFIX + e;
                n++;
        }
        if (max != UINT64_MAX && n != max)
                return -EPROTO;
        *ret_n = n;
        *ret_len = off - start;
        return 0;
}

static int cut_one(const pl_tensor *t, const uint8_t *data, size_t len, size_t off, Cut *c)
{
        uint64_t known = 1, n;
        size_t esz = pl_datatype_size(t->datatype), var = SIZE_MAX;

        *c = (Cut){0};
        for (size_t i = 0; i < t->n_dims; i++) {
                c->shape[i] = t->shape[i];
                if (t->shape[i] == -1)
                        var = i;
                else
                        known *= (uint64_t)t->shape[i];
        }
        c->off = off;
        if (t->datatype == PL_DT_BYTES) {
                if (bytes_elements(data, len, off, var == SIZE_MAX ? known : UINT64_MAX, &n,
                                   &c->len) < 0 ||
                    (var != SIZE_MAX && n % known != 0))
                        return -EPROTO;
        } else if (var == SIZE_MAX) {
                n = known;
                c->len = known * esz;
                if (c->len > len - off)
                        return -EPROTO;
        } else {
                if ((len - off) % (known * esz) != 0)
                        return -EPROTO;
                n = (len - off) / esz;
                c->len = len - off;
        }
        if (var != SIZE_MAX)
                c->shape[var] = (int64_t)(n / known);
        c->count = n;
        return 0;
}

static void shape_text(const int64_t *shape, size_t n, char *buf, size_t len)
{
        size_t off = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < n && off < len; i++) {
                int w =
                    snprintf(buf + off, len - off, "%s%lld", i ? "," : "[", (long long)shape[i]);
                if (w < 0)
                        return;
                off += (size_t)w;
        }
        if (off < len)
                snprintf(buf + off, len - off, "]");
}

static int cut_outputs(const OipTensors *out, const uint8_t *data, size_t len, Cut *cuts, char *err,
                       size_t errlen)
{
        size_t off = 0;
        char shape[96];

        if (single_bytes(out)) {
                cuts[0] = (Cut){.off = 0, .len = len, .count = 1, .raw = true};
                memcpy(cuts[0].shape, out->t[0].shape, sizeof(cuts[0].shape));
                return 0;
        }
        for (size_t k = 0; k < out->n; k++) {
                if (cut_one(&out->t[k], data, len, off, &cuts[k]) < 0) {
                        shape_text(out->t[k].shape, out->t[k].n_dims, shape, sizeof(shape));
                        return bad(err, errlen, -EPROTO,
                                   "the last stage answered %zu bytes; output \"%s\" (%s %s) "
                                   "does not fit the %zu bytes from offset %zu",
                                   len, out->t[k].name, pl_datatype_to_string(out->t[k].datatype),
                                   shape, len - off, off);
                }
                off += cuts[k].len;
        }
        if (off != len)
                return bad(err, errlen, -EPROTO,
                           "the last stage answered %zu bytes; the declared outputs take %zu", len,
                           off);
        return 0;
}

/* One element as JSON; NULL when JSON cannot carry it (NaN, non-UTF-8, > INT64_MAX). */
static json_t *element_json(pl_datatype t, const uint8_t *p, size_t n)
{
        uint64_t v = get_le(p, pl_datatype_size(t));
        float f;
        double d;

        switch (t) {
        case PL_DT_BOOL:
                return json_boolean(v != 0);
        case PL_DT_UINT8:
        case PL_DT_UINT16:
        case PL_DT_UINT32:
                return json_integer((json_int_t)v);
        case PL_DT_UINT64:
                return v > INT64_MAX ? NULL : json_integer((json_int_t)v);
        case PL_DT_INT8:
                return json_integer((int8_t)v);
        case PL_DT_INT16:
                return json_integer((int16_t)v);
        case PL_DT_INT32:
                return json_integer((int32_t)v);
        case PL_DT_INT64:
                return json_integer((json_int_t)v);
        case PL_DT_FP16:
                return json_real(oip_half_to_double((uint16_t)v)); /* NULL for NaN/inf */
        case PL_DT_FP32: {
                uint32_t b = (uint32_t)v;
                memcpy(&f, &b, sizeof(f));
                return json_real((double)f);
        }
        case PL_DT_FP64:
                memcpy(&d, &v, sizeof(d));
                return json_real(d);
        case PL_DT_BYTES:
                return json_stringn((const char *)p, n);
        default:
                return NULL;
        }
}

/* The flat "data" array of an output, or NULL when JSON cannot carry it. */
static json_t *data_json(const pl_tensor *t, const Cut *c, const uint8_t *data)
{
        json_t *a = json_array();
        size_t off = c->off, esz = pl_datatype_size(t->datatype);

        for (uint64_t i = 0; a && i < c->count; i++) {
                size_t n = esz;
                const uint8_t *p = data + off;
                if (t->datatype == PL_DT_BYTES && c->raw)
                        n = c->len;
                else if (t->datatype == PL_DT_BYTES) {
                        n = (size_t)get_le(p, BYTES_PREFIX);
                        p += BYTES_PREFIX;
                        off += BYTES_PREFIX;
                }
                if (json_array_append_new(a, element_json(t->datatype, p, n)) < 0) {
                        json_decref(a);
                        return NULL;
                }
                off += n;
        }
        return a;
}

static int output_json(const pl_tensor *t, const Cut *c, const uint8_t *data, bool binary,
                       json_t *outputs, Buf *bin)
{
        json_t *shape = json_array(), *o, *arr = binary ? NULL : data_json(t, c, data);
        int r = 0;

        for (size_t i = 0; shape && i < t->n_dims; i++)
                if (json_array_append_new(shape, json_integer((json_int_t)c->shape[i])) < 0)
                        r = -ENOMEM;
        o = json_pack("{s:s, s:s, s:o}", "name", t->name, "datatype",
                      pl_datatype_to_string(t->datatype), "shape", shape);
        if (!o || r < 0) {
                json_decref(arr);
                json_decref(o);
                return -ENOMEM;
        }
        if (arr)
                r = json_object_set_new(o, "data", arr) < 0 ? -ENOMEM : 0;
        else { /* asked for, or JSON cannot carry it: binary data after the JSON */
                size_t before = bin->len;
                if (c->raw)
                        r = put_le(bin, c->len, BYTES_PREFIX);
                if (r == 0)
                        r = buf_append(bin, data + c->off, c->len);
                if (r == 0 && json_object_set_new(o, "parameters",
                                                  json_pack("{s:I}", "binary_data_size",
                                                            (json_int_t)(bin->len - before))) < 0)
                        r = -ENOMEM;
        }
        if (r == 0 && json_array_append_new(outputs, o) < 0)
                return -ENOMEM;
        if (r < 0)
                json_decref(o);
        return r;
}

int oip_encode_response(const char *model, const OipTensors *out, const OipAsk *ask,
                        const uint8_t *data, size_t len, Buf *ret_body, size_t *ret_json_len,
                        char *err, size_t errlen)
{
        Cut cuts[PL_MAX_TENSORS];
        Buf bin = {0};
        json_t *root, *outputs = json_array();
        char *s = NULL;
        int r = cut_outputs(out, data, len, cuts, err, errlen);

        if (r < 0) {
                json_decref(outputs);
                return r;
        }
        root = json_pack("{s:s, s:o}", "model_name", model, "outputs", outputs);
        if (root && ask->id && json_object_set_new(root, "id", json_string(ask->id)) < 0)
                r = -ENOMEM;
        for (size_t k = 0; root && r == 0 && k < out->n; k++)
                if (ask->want[k])
                        r = output_json(&out->t[k], &cuts[k], data, ask->binary[k], outputs, &bin);
        if (root && r == 0)
                s = json_dumps(root, JSON_COMPACT);
        r = r < 0 ? r : !s ? -ENOMEM : buf_append(ret_body, s, strlen(s));
        if (r == 0) {
                *ret_json_len = strlen(s);
                r = buf_append(ret_body, bin.data, bin.len);
        }
        free(s);
        json_decref(root);
        buf_done(&bin);
        return r < 0 ? bad(err, errlen, r, "out of memory") : 0;
}
