/* oip-tensor.h — the tensor codec of the Open Inference Protocol (KServe V2 REST): an inference
 * request body (JSON, optionally followed by binary tensor data) becomes the one item a pipeline's
 * first stage takes; the last stage's output bytes become the inference response body.
 *
 * Invariants: pure functions on memory buffers (no I/O, no clock, no agent state), so the unit
 * test links this file alone. A pipeline's tensors are its declared "inputs"/"outputs"
 * (pipelines/README.md "Tensors"), or one BYTES tensor each when it declares none. Outputs are
 * filled into caller-owned buffers and left untouched on failure; error text goes to err.
 * Spec: kserve/open-inference-protocol specification/protocol/inference_rest.md and the binary
 * tensor data extension (README.md "Open Inference Protocol (KServe V2)" has the mapping). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/util.h"
#include "pipelines/pipeline.h"

/* A borrowed list of tensors. */
typedef struct OipTensors {
        const pl_tensor *t;
        size_t n;
} OipTensors;

/* What an inference request asked for besides its inputs. */
typedef struct OipAsk {
        char *id;                    /* owned; NULL when the request has no "id" */
        uint64_t timeout_us;         /* parameters.timeout (µs, as Triton's), 0 = none */
        bool want[PL_MAX_TENSORS];   /* outputs to return (all when the request names none) */
        bool binary[PL_MAX_TENSORS]; /* ... as binary tensor data */
} OipAsk;

void oip_ask_done(OipAsk *a);

/* The pipeline's tensors: the declared ones, or the single BYTES tensor "input" / "output". */
OipTensors oip_inputs(const pl_pipeline *p);
OipTensors oip_outputs(const pl_pipeline *p);

/* Decodes an inference request. json_len is the length of the JSON part (the request's
 * Inference-Header-Content-Length); json_len == len means no binary data. On success appends the
 * item (the first stage's input) to *ret_item and fills *ret_ask. Returns 0, -EINVAL (a bad
 * request: err says what and where), -EFBIG (item larger than max_item) or -ENOMEM. */
int oip_decode_request(const OipTensors *in, const OipTensors *out, const uint8_t *body, size_t len,
                       size_t json_len, size_t max_item, OipAsk *ret_ask, Buf *ret_item, char *err,
                       size_t errlen);

/* Encodes the response to ask from the last stage's output bytes. Appends the body to *ret_body
 * and stores the length of its JSON part in *ret_json_len (< body length when binary data
 * follows). Returns 0, -EPROTO (the bytes do not fit the declared outputs: err says how) or
 * -ENOMEM. */
int oip_encode_response(const char *model, const OipTensors *out, const OipAsk *ask,
                        const uint8_t *data, size_t len, Buf *ret_body, size_t *ret_json_len,
                        char *err, size_t errlen);

/* IEEE 754 half <-> double (round to nearest even), for FP16 in JSON. */
uint16_t oip_half_from_double(double x);
double oip_half_to_double(uint16_t h);
