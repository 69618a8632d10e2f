/* Unit tests of agent/oip-tensor.c: the Open Inference Protocol's tensor codec, on literal
 * request bodies. The first case is the spec's own example (inference_rest.md, "Inference Request
 * Examples": input0 UINT32 [2,2], input1 BOOL, output0 FP32 [3,2]) with its BOOL data made to
 * agree with its shape. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "agent/oip-tensor.h"

#define T(n, dt, ...)                                                                              \
        {                                                                                          \
                .name = (char *)(n), .datatype = (dt), .shape = {__VA_ARGS__},                     \
                .n_dims = sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)                       \
        }

static const pl_tensor SPEC_IN[] = {T("input0", PL_DT_UINT32, 2, 2), T("input1", PL_DT_BOOL, 3)};
static const pl_tensor SPEC_OUT[] = {T("output0", PL_DT_FP32, 3, 2)};
static const OipTensors spec_in = {SPEC_IN, 2}, spec_out = {SPEC_OUT, 1};

static int decode(const OipTensors *in, const OipTensors *out, const char *body, size_t json_len,
                  size_t len, OipAsk *ask, Buf *item, char *err)
{
        return oip_decode_request(in, out, (const uint8_t *)body, len, json_len, 1 << 20, ask, item,
                                  err, 512);
}

static int decode_json(const OipTensors *in, const OipTensors *out, const char *body, OipAsk *ask,
                       Buf *item, char *err)
{
        return decode(in, out, body, strlen(body), strlen(body), ask, item, err);
}

static void test_spec_example(void **state)
{
        const char *body = "{\"id\": \"42\", \"inputs\": ["
                           "{\"name\": \"input0\", \"shape\": [2, 2], \"datatype\": \"UINT32\","
                           " \"data\": [1, 2, 3, 4]},"
                           "{\"name\": \"input1\", \"shape\": [3], \"datatype\": \"BOOL\","
                           " \"data\": [true, false, true]}],"
                           " \"outputs\": [{\"name\": \"output0\"}]}";
        static const uint8_t want[] = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1, 0, 1};
        const float outv[] = {1.0f, 1.1f, 2.0f, 2.1f, 3.0f, 3.1f};
        OipAsk ask = {0};
        Buf item = {0}, resp = {0};
        char err[512];
        size_t json_len;
        json_t *j, *o;

        (void)state;
        assert_int_equal(decode_json(&spec_in, &spec_out, body, &ask, &item, err), 0);
        assert_int_equal(item.len, sizeof(want));
        assert_memory_equal(item.data, want, sizeof(want));
        assert_string_equal(ask.id, "42");
        assert_true(ask.want[0] && !ask.binary[0]);
        assert_int_equal(oip_encode_response("mymodel", &spec_out, &ask, (const uint8_t *)outv,
                                             sizeof(outv), &resp, &json_len, err, sizeof(err)),
                         0);
        assert_int_equal(json_len, resp.len);
        j = json_loadb((const char *)resp.data, resp.len, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "id")), "42");
        assert_string_equal(json_string_value(json_object_get(j, "model_name")), "mymodel");
        o = json_array_get(json_object_get(j, "outputs"), 0);
        assert_string_equal(json_string_value(json_object_get(o, "name")), "output0");
        assert_string_equal(json_string_value(json_object_get(o, "datatype")), "FP32");
        assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "shape"), 0)), 3);
        assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "shape"), 1)), 2);
        for (size_t i = 0; i < 6; i++)
                assert_true((float)json_real_value(json_array_get(json_object_get(o, "data"), i)) ==
                            outv[i]);
        json_decref(j);
        oip_ask_done(&ask);
        buf_done(&item);
        buf_done(&resp);
}

static void test_bytes_default(void **state)
{
        static const pl_tensor in1[] = {T("input", PL_DT_BYTES, 1)},
                               out1[] = {T("output", PL_DT_BYTES, 1)};
        OipTensors in = {in1, 1}, out = {out1, 1};
        const char *body = "{\"inputs\": [{\"name\": \"input\", \"shape\": [1], \"datatype\": "
                           "\"BYTES\", \"data\": [\"hello\"]}]}";
        char bin[128], err[512];
        OipAsk ask = {0};
        Buf item = {0}, resp = {0};
        size_t json_len, n;

        (void)state;
        assert_int_equal(decode_json(&in, &out, body, &ask, &item, err), 0);
        assert_int_equal(item.len, 5); /* one BYTES element alone: unprefixed */
        assert_memory_equal(item.data, "hello", 5);
        assert_null(ask.id);
        oip_ask_done(&ask);
        /* Binary: the 4-byte length is dropped too. */
        item.len = 0;
        n = (size_t)snprintf(bin, sizeof(bin),
                             "{\"inputs\": [{\"name\": \"input\", \"shape\": [1], \"datatype\": "
                             "\"BYTES\", \"parameters\": {\"binary_data_size\": 6}}]}");
        memcpy(bin + n, "\x02\x00\x00\x00hi", 6);
        assert_int_equal(decode(&in, &out, bin, n, n + 6, &ask, &item, err), 0);
        assert_int_equal(item.len, 2);
        assert_memory_equal(item.data, "hi", 2);
        /* A non-UTF-8 output goes binary, length-prefixed. */
        assert_int_equal(oip_encode_response("m", &out, &ask, (const uint8_t *)"\xff\x00", 2, &resp,
                                             &json_len, err, sizeof(err)),
                         0);
        assert_int_equal(resp.len - json_len, 6);
        assert_memory_equal(resp.data + json_len, "\x02\x00\x00\x00\xff\x00", 6);
        assert_non_null(strstr((const char *)resp.data, "\"binary_data_size\":6"));
        oip_ask_done(&ask);
        buf_done(&item);
        buf_done(&resp);
}

static void test_errors(void **state)
{
        static const struct {
                const char *body, *needle;
        } cases[] = {
            {"{", "invalid JSON"},
            {"{\"inputs\": []}", "inputs: expected an array"},
            {"{\"inputs\": [{\"name\": \"input0\", \"shape\": [2, 2], \"datatype\": \"INT32\", "
             "\"data\": [1, 2, 3, 4]}]}",
             "datatype: the pipeline takes UINT32"},
            {"{\"inputs\": [{\"name\": \"input0\", \"shape\": [2, 3], \"datatype\": \"UINT32\", "
             "\"data\": [1, 2, 3, 4, 5, 6]}]}",
             "shape[1]: expected 2, got 3"},
            {"{\"inputs\": [{\"name\": \"input0\", \"shape\": [2, 2], \"datatype\": \"UINT32\", "
             "\"data\": [1, 2, 3, -4]}, {\"name\": \"input1\", \"shape\": [3], \"datatype\": "
             "\"BOOL\", \"data\": [true, true, true]}]}",
             "data element 3"},
            {"{\"inputs\": [{\"name\": \"input0\", \"shape\": [2, 2], \"datatype\": \"UINT32\", "
             "\"data\": [1, 2, 3, 4]}]}",
             "input \"input1\" is missing"},
            {"{\"inputs\": [{\"name\": \"input1\", \"shape\": [3], \"datatype\": \"BOOL\", "
             "\"data\": [true]}]}",
             "data has 1 elements, the shape says 3"},
        };
        char err[512];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                OipAsk ask = {.id = NULL};
                Buf item = {0};
                assert_int_equal(decode_json(&spec_in, &spec_out, cases[i].body, &ask, &item, err),
                                 -EINVAL);
                if (!strstr(err, cases[i].needle))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].needle);
                assert_null(ask.id);
                assert_int_equal(item.len, 0);
                buf_done(&item);
        }
}

static void test_output_mismatch_and_binary(void **state)
{
        static const pl_tensor outs[] = {T("x", PL_DT_INT16, 2), T("rest", PL_DT_UINT8, -1)};
        OipTensors out = {outs, 2};
        OipAsk ask = {.want = {true, true}, .binary = {true, false}};
        Buf resp = {0};
        size_t json_len;
        char err[512];

        (void)state;
        assert_int_equal(oip_encode_response("m", &out, &ask, (const uint8_t *)"\x01\x00\x02\x00",
                                             4, &resp, &json_len, err, sizeof(err)),
                         0); /* rest: [0] */
        assert_int_equal(resp.len - json_len, 4);
        assert_memory_equal(resp.data + json_len, "\x01\x00\x02\x00", 4);
        assert_non_null(strstr((const char *)resp.data, "\"shape\":[0]"));
        buf_done(&resp);
        assert_int_equal(oip_encode_response("m", &out, &ask, (const uint8_t *)"\x01\x00\x02", 3,
                                             &resp, &json_len, err, sizeof(err)),
                         -EPROTO);
        assert_non_null(strstr(err, "output \"x\""));
        assert_int_equal(resp.len, 0);
}

static void test_half(void **state)
{
        (void)state;
        assert_int_equal(oip_half_from_double(1.5), 0x3e00);
        assert_int_equal(oip_half_from_double(-2.0), 0xc000);
        assert_int_equal(oip_half_from_double(0.1), 0x2e66);
        assert_int_equal(oip_half_from_double(65504.0), 0x7bff);
        assert_int_equal(oip_half_from_double(65520.0), 0x7c00); /* rounds up to infinity */
        assert_int_equal(oip_half_from_double(5.960464477539063e-08), 0x0001);
        assert_int_equal(oip_half_from_double(2.98e-08), 0x0000); /* below half the smallest */
        assert_true(oip_half_to_double(0x2e66) == 0.0999755859375);
        assert_true(oip_half_to_double(0x0001) == 5.960464477539063e-08);
        assert_true(oip_half_to_double(0xfbff) == -65504.0);
        for (uint32_t h = 0; h < 0x7c00; h++)
                assert_int_equal(oip_half_from_double(oip_half_to_double((uint16_t)h)), h);
}

static void test_item_limit(void **state)
{
        static const pl_tensor in1[] = {T("a", PL_DT_FP64, -1)};
        OipTensors in = {in1, 1};
        const char *body = "{\"inputs\": [{\"name\": \"a\", \"shape\": [3], \"datatype\": "
                           "\"FP64\", \"data\": [1, 2, 3]}]}";
        OipAsk ask = {0};
        Buf item = {0};
        char err[512];

        (void)state;
        assert_int_equal(oip_decode_request(&in, &spec_out, (const uint8_t *)body, strlen(body),
                                            strlen(body), 16, &ask, &item, err, sizeof(err)),
                         -EFBIG);
        assert_int_equal(item.len, 0);
        assert_int_equal(oip_decode_request(&in, &spec_out, (const uint8_t *)body, strlen(body),
                                            strlen(body), 24, &ask, &item, err, sizeof(err)),
                         0);
        assert_int_equal(item.len, 24);
        oip_ask_done(&ask);
        buf_done(&item);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_spec_example), cmocka_unit_test(test_bytes_default),
            cmocka_unit_test(test_errors),       cmocka_unit_test(test_output_mismatch_and_binary),
            cmocka_unit_test(test_half),         cmocka_unit_test(test_item_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
