#!/usr/bin/python3
"""oip-check.py URL FMNIST_DATA_DIR — the Open Inference Protocol checks of test oip.routes.

A real client (urllib) against a running sponged that serves the pipelines oip-routes.sh wrote:
raw (no declared tensors, echo, max_body_bytes 1000), tens (FP32 [2,2] + INT16 [-1] + BOOL [3]
-> FP32 [2,2] + UINT8 [-1], echo), strs (BYTES [-1] echo), half (FP16 [-1] echo), mism (FP32 [2]
in, FP64 [3] out: the echo cannot fit) and fm (UINT8 [1,784] -> BYTES [1], the Fashion-MNIST
softmax classifier). Prints one line per check; exits 1 if any failed.

The schemas below are written from the spec's text (kserve/open-inference-protocol,
specification/protocol/inference_rest.md: $metadata_server_response, $metadata_model_response,
$metadata_tensor, $inference_response, $response_output, $inference_error_response,
$ready_model_response; the OpenAPI file open_inference_rest.yaml marks the same required keys).
"""
import gzip
import json
import struct
import sys
import urllib.error
import urllib.request

import jsonschema

URL, DATA = sys.argv[1], sys.argv[2]
FAILS = 0

DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES"]
TENSOR_DATA = {"type": "array", "items": {"anyOf": [{"$ref": "#/$defs/data"}, {"type": "number"},
                                                    {"type": "string"}, {"type": "boolean"}]}}
PARAMETERS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
DEFS = {"data": TENSOR_DATA, "parameters": PARAMETERS,
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}}}
SERVER_META = {"type": "object", "required": ["name", "version", "extensions"],
               "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                              "extensions": {"type": "array", "items": {"type": "string"}}}}
META_TENSOR = {"type": "object", "required": ["name", "datatype", "shape"],
               "properties": {"name": {"type": "string"}, "datatype": {"enum": DATATYPES},
                              "shape": {"type": "array", "items": {"type": "integer"}}}}
MODEL_META = {"type": "object", "required": ["name", "platform", "inputs", "outputs"],
              "properties": {"name": {"type": "string"}, "platform": {"type": "string"},
                             "versions": {"type": "array", "items": {"type": "string"}},
                             "inputs": {"type": "array", "items": META_TENSOR},
                             "outputs": {"type": "array", "items": META_TENSOR}}}
RESPONSE_OUTPUT = {"type": "object", "required": ["name", "shape", "datatype"],
                   "properties": {"name": {"type": "string"}, "shape": {"$ref": "#/$defs/shape"},
                                  "datatype": {"enum": DATATYPES},
                                  "parameters": {"$ref": "#/$defs/parameters"},
                                  "data": {"$ref": "#/$defs/data"}},
                   # data, unless the binary extension's binary_data_size says where it is
                   "anyOf": [{"required": ["data"]},
                             {"required": ["parameters"],
                              "properties": {"parameters": {"required": ["binary_data_size"]}}}]}
INFER_RESPONSE = {"$defs": DEFS, "type": "object", "required": ["model_name", "outputs"],
                  "properties": {"model_name": {"type": "string"},
                                 "model_version": {"type": "string"}, "id": {"type": "string"},
                                 "parameters": {"$ref": "#/$defs/parameters"},
                                 "outputs": {"type": "array", "items": RESPONSE_OUTPUT}}}
ERROR = {"type": "object", "required": ["error"],
         "properties": {"error": {"type": "string", "minLength": 1}}}
MODEL_READY = {"type": "object", "required": ["name", "ready"],
               "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}}
LIVE = {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}}


def check(ok, what):
    global FAILS
    if ok:
        print("ok: " + what)
    else:
        FAILS += 1
        print("FAIL: " + what)
    return ok


def request(method, path, body=None, headers=None):
    """Returns (status, headers, body bytes)."""
    req = urllib.request.Request(URL + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def valid(doc, schema, what):
    try:
        jsonschema.validate(doc, schema)
        return True
    except jsonschema.ValidationError as e:
        check(False, "%s: schema: %s" % (what, e.message))
        return False


def get_json(path, status, schema, what):
    st, h, b = request("GET", path)
    try:
        j = json.loads(b)
    except ValueError:
        j = None
    ok = check(st == status and h.get("Content-Type", "").startswith("application/json"),
               "%s: GET %s -> %s (want %s) %s" % (what, path, st, status, b[:160]))
    return j if ok and valid(j, schema, what) else None


def infer(model, doc, binary=b"", headers=None):
    body = json.dumps(doc).encode()
    hdrs = {"Content-Type": "application/json"}
    if binary:
        hdrs["Inference-Header-Content-Length"] = str(len(body))
        hdrs["Content-Type"] = "application/octet-stream"
    hdrs.update(headers or {})
    return request("POST", "/v2/models/%s/infer" % model, body + binary, hdrs)


def split_binary(h, b):
    """The JSON part and the binary part of a response (binary extension)."""
    n = h.get("Inference-Header-Content-Length")
    if n is None:
        return json.loads(b), b""
    return json.loads(b[:int(n)]), b[int(n):]


def infer_ok(model, doc, what, binary=b"", headers=None):
    st, h, b = infer(model, doc, binary, headers)
    if not check(st == 200, "%s: HTTP %s %s" % (what, st, b[:300])):
        return None, b""
    j, rest = split_binary(h, b)
    if not valid(j, INFER_RESPONSE, what):
        return None, b""
    check(j["model_name"] == model, "%s: model_name %r" % (what, j["model_name"]))
    check(j.get("id") == doc.get("id"), "%s: id echoed (%r)" % (what, j.get("id")))
    return j, rest


def expect_error(model, doc, status, needle, what, binary=b"", headers=None, raw=None):
    if raw is not None:
        st, h, b = request("POST", "/v2/models/%s/infer" % model, raw,
                           headers or {"Content-Type": "application/json"})
    else:
        st, h, b = infer(model, doc, binary, headers)
    try:
        j = json.loads(b)
    except ValueError:
        j = None
    ok = (st == status and h.get("Content-Type", "").startswith("application/json")
          and isinstance(j, dict) and set(j) == {"error"} and needle in j.get("error", ""))
    check(ok and valid(j, ERROR, what), "%s: HTTP %s %s" % (what, st, b[:240].decode("latin-1")))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# ---- metadata, health ----------------------------------------------------------------------

def routes():
    for path in ("/v2", "/v2/"):
        j = get_json(path, 200, SERVER_META, "server metadata")
        check(j is not None and "binary_tensor_data" in j["extensions"] and j["name"] == "sponged",
              "server metadata names sponged and the binary_tensor_data extension")
    j = get_json("/v2/health/live", 200, LIVE, "server live")
    check(j == {"live": True}, "live answers {\"live\": true}: %s" % j)
    j = get_json("/v2/health/ready", 200, {"type": "object", "required": ["ready", "live"]},
                 "server ready")
    check(j is not None and j["ready"] is True, "server ready: ready true")
    j = get_json("/v2/models/tens", 200, MODEL_META, "model metadata (declared tensors)")
    check(j is not None and j["name"] == "tens" and
          j["inputs"] == [{"name": "a", "datatype": "FP32", "shape": [2, 2]},
                          {"name": "b", "datatype": "INT16", "shape": [-1]},
                          {"name": "c", "datatype": "BOOL", "shape": [3]}] and
          j["outputs"] == [{"name": "x", "datatype": "FP32", "shape": [2, 2]},
                           {"name": "rest", "datatype": "UINT8", "shape": [-1]}],
          "tens metadata lists the declared inputs and outputs: %s" % j)
    j = get_json("/v2/models/raw", 200, MODEL_META, "model metadata (none declared)")
    check(j is not None and j["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [1]}]
          and j["outputs"] == [{"name": "output", "datatype": "BYTES", "shape": [1]}],
          "a pipeline that declares nothing takes one BYTES tensor and answers one: %s" % j)
    j = get_json("/v2/models/tens/ready", 200, MODEL_READY, "model ready")
    check(j == {"name": "tens", "ready": True}, "model ready: %s" % j)
    for path in ("/v2/models/nope", "/v2/models/nope/ready", "/v2/models/Bad%20Name",
                 "/v2/models/tens/versions/1", "/v2/models/tens/versions/1/ready",
                 "/v2/no-such-route", "/v2/models/tens/whatever"):
        get_json(path, 404, ERROR, "404 with {\"error\"}")
    j = get_json("/v2/models/nope", 404, ERROR, "unknown model")
    check(j is not None and "unknown model" in j["error"] and "tens" in j["error"],
          "unknown model: the error names the models there are: %s" % j)
    st, h, b = request("GET", "/v2/models/tens/infer")
    check(st == 405 and h.get("Allow") == "POST" and "error" in json.loads(b),
          "GET on an inference route -> 405, Allow: POST (%s %s)" % (st, b[:100]))
    # Other methods on read routes: 405 — or 401/403 when the agent's caller check (changes need
    # an identified caller) answers first.
    for method, path in (("POST", "/v2/health/live"), ("DELETE", "/v2/models/tens"),
                         ("PUT", "/v2")):
        st, h, b = request(method, path, b"")
        check(st in (401, 403, 405) and "error" in json.loads(b),
              "%s %s -> %s with {\"error\"} (%s)" % (method, path, st, b[:100]))
    st, h, b = request("HEAD", "/v2/health/ready")
    check(st == 200 and b == b"", "HEAD /v2/health/ready -> 200, no body (%s)" % st)


# ---- inference -----------------------------------------------------------------------------

TENS_DOC = {"id": "42", "inputs": [
    {"name": "a", "shape": [2, 2], "datatype": "FP32", "data": [[1.5, -2.25], [3.1, 1e-3]]},
    {"name": "b", "shape": [3], "datatype": "INT16", "data": [-32768, 0, 32767]},
    {"name": "c", "shape": [3], "datatype": "BOOL", "data": [True, False, True]}]}
TENS_REST = struct.pack("<3h", -32768, 0, 32767) + bytes([1, 0, 1])
TENS_X = [f32(x) for x in (1.5, -2.25, 3.1, 1e-3)]


def infer_json():
    j, _ = infer_ok("tens", TENS_DOC, "JSON tensors (nested data, FP32/INT16/BOOL)")
    if j:
        out = {o["name"]: o for o in j["outputs"]}
        check(out["x"]["shape"] == [2, 2] and out["x"]["datatype"] == "FP32"
              and out["x"]["data"] == TENS_X, "x: FP32 [2,2] row-major, values as FP32: %s"
              % out["x"])
        check(out["rest"]["shape"] == [len(TENS_REST)] and out["rest"]["data"] == list(TENS_REST),
              "rest: UINT8 [-1] resolved to [%d], INT16 little-endian then BOOL bytes: %s"
              % (len(TENS_REST), out["rest"]))
    flat = json.loads(json.dumps(TENS_DOC))
    flat["inputs"][0]["data"] = [1.5, -2.25, 3.1, 1e-3]
    flat["id"] = "flat"
    j, _ = infer_ok("tens", flat, "flattened data")
    check(j is not None and j["outputs"][0]["data"] == TENS_X, "flattened = nested")
    noid = {k: v for k, v in flat.items() if k != "id"}
    j, _ = infer_ok("tens", noid, "no id")
    check(j is not None and "id" not in j, "no id in the request: none in the response")
    ask = dict(flat, outputs=[{"name": "rest"}])
    j, _ = infer_ok("tens", ask, "outputs names one output")
    check(j is not None and [o["name"] for o in j["outputs"]] == ["rest"],
          "only the requested output is returned")
    # The spec's own example request (two inputs, one requested output) against a pipeline
    # declared for it would need "input1" BOOL [3] with data [true]: its shape and data disagree,
    # and sponged refuses that.
    doc = {"id": "42", "inputs": [{"name": "a", "shape": [2, 2], "datatype": "FP32",
                                   "data": [1, 2, 3, 4]},
                                  {"name": "b", "shape": [0], "datatype": "INT16", "data": []},
                                  {"name": "c", "shape": [3], "datatype": "BOOL", "data": [True]}]}
    expect_error("tens", doc, 400, "data has 1 elements, the shape says 3",
                 "the spec example's shape/data mismatch (BOOL [3] with one element)")


def infer_binary():
    a = struct.pack("<4f", 1.5, -2.25, 3.1, 1e-3)
    doc = json.loads(json.dumps(TENS_DOC))
    doc["id"] = "bin"
    doc["inputs"][0] = {"name": "a", "shape": [2, 2], "datatype": "FP32",
                        "parameters": {"binary_data_size": len(a)}}
    doc["inputs"][1]["parameters"] = {"binary_data_size": 6}
    del doc["inputs"][1]["data"]
    j, rest = infer_ok("tens", doc, "binary inputs (Inference-Header-Content-Length)",
                       a + struct.pack("<3h", -32768, 0, 32767))
    check(j is not None and j["outputs"][0]["data"] == TENS_X and rest == b"",
          "binary inputs decode as their JSON twins")
    doc["parameters"] = {"binary_data_output": True}
    doc["outputs"] = [{"name": "x"}, {"name": "rest", "parameters": {"binary_data": False}}]
    j, rest = infer_ok("tens", doc, "binary_data_output with a per-output override",
                       a + struct.pack("<3h", -32768, 0, 32767))
    if j:
        x, r = j["outputs"]
        check(x["parameters"] == {"binary_data_size": 16} and "data" not in x and rest == a,
              "x comes as 16 bytes of binary data after the JSON: %s" % x)
        check(r["data"] == list(TENS_REST), "rest stays JSON (binary_data false)")
    # BYTES in binary: a non-UTF-8 element cannot be JSON, so it comes back as binary data
    elem = b"hi\x00\xff"
    doc = {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES",
                       "parameters": {"binary_data_size": 4 + len(elem)}}]}
    j, rest = infer_ok("raw", doc, "BYTES in binary", struct.pack("<I", len(elem)) + elem)
    check(j is not None and j["outputs"][0]["parameters"]["binary_data_size"] == 8
          and rest == struct.pack("<I", len(elem)) + elem,
          "non-UTF-8 BYTES output returned as binary data (length-prefixed): %r" % rest)
    st, h, b = request("POST", "/v1/pipelines/raw/infer", elem)
    check(st == 200 and b == elem, "/v1 sees the same bytes the OIP request carried")


def infer_kinds():
    j, _ = infer_ok("raw", {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES",
                                        "data": ["hello"]}]}, "default BYTES tensor")
    check(j is not None and j["outputs"] == [{"name": "output", "datatype": "BYTES",
                                              "shape": [1], "data": ["hello"]}],
          "default pipeline: BYTES in, BYTES out: %s" % (j and j["outputs"]))
    j, _ = infer_ok("strs", {"inputs": [{"name": "s", "shape": [3], "datatype": "BYTES",
                                         "data": ["a", "bc", ""]}]}, "BYTES [-1]")
    check(j is not None and j["outputs"][0]["data"] == ["a", "bc", ""]
          and j["outputs"][0]["shape"] == [3], "BYTES elements length-prefixed and back")
    j, _ = infer_ok("half", {"inputs": [{"name": "h", "shape": [3], "datatype": "FP16",
                                         "data": [1.5, -2.0, 0.1]}]}, "FP16 from JSON numbers")
    check(j is not None and j["outputs"][0]["data"] == [1.5, -2.0, 0.0999755859375],
          "FP16 rounded to nearest: %s" % (j and j["outputs"][0]["data"]))
    expect_error("mism", {"inputs": [{"name": "a", "shape": [2], "datatype": "FP32",
                                      "data": [1, 2]}]}, 502, "does not fit",
                 "a last-stage output that does not fit the declared outputs -> 502")


def malformed():
    good = TENS_DOC["inputs"]

    def with_input(i, **kw):
        inputs = json.loads(json.dumps(good))
        inputs[i].update(kw)
        return {"inputs": inputs}

    cases = [
        (None, b"{not json", "invalid JSON", "not JSON"),
        (None, b"[1, 2]", "expected a JSON object", "a JSON array"),
        ({"id": "1"}, None, "inputs: expected an array", "no inputs"),
        ({"inputs": good, "foo": 1}, None, "unknown key \"foo\"", "unknown top-level key"),
        ({"inputs": good, "id": 7}, None, "id: expected a string", "id not a string"),
        ({"inputs": "x"}, None, "inputs: expected an array", "inputs not an array"),
        (with_input(0, datatype="FP64"), None, "datatype: the pipeline takes FP32",
         "wrong datatype"),
        (with_input(0, shape=[4]), None, "shape: expected an array of 2 dimensions",
         "wrong rank"),
        (with_input(0, shape=[2, 3]), None, "shape[1]: expected 2, got 3", "wrong fixed dim"),
        (with_input(1, shape=[-1]), None, "shape[0]", "negative dim"),
        (with_input(0, data=[1, 2, 3]), None, "data has 3 elements, the shape says 4",
         "too few elements"),
        (with_input(0, data=[1, 2, "x", 4]), None, "data element 2: expected a finite number",
         "string in FP32 data"),
        (with_input(1, data=[1, 2, 40000]), None, "data element 2: expected an integer",
         "INT16 out of range"),
        (with_input(1, data=[1, 2, 2.5]), None, "data element 2", "fraction in INT16"),
        (with_input(2, data=[1, 0, 1]), None, "expected true or false", "numbers in BOOL"),
        (with_input(0, data=[1e39, 0, 0, 0]), None, "within FP32's range", "FP32 overflow"),
        (with_input(0, name="zz"), None, "naming one of the pipeline's inputs",
         "unknown input name"),
        ({"inputs": good[:2]}, None, "input \"c\" is missing", "missing input"),
        ({"inputs": good + good[:1]}, None, "given twice", "duplicate input"),
        (with_input(0, data=None), None, "data: expected an array", "null data"),
        ({"inputs": good, "outputs": [{"name": "nope"}]}, None,
         "naming one of the pipeline's outputs", "unknown output"),
        ({"inputs": good, "parameters": {"binary_data_output": "yes"}}, None,
         "binary_data_output: expected true or false", "binary_data_output not a boolean"),
        ({"inputs": good, "parameters": {"x": [1]}}, None, "expected a string, number or boolean",
         "a parameter that is not a string, number or boolean"),
        (with_input(0, data=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
         None, "nested deeper", "data nested too deep"),
    ]
    for doc, raw, needle, what in cases:
        expect_error("tens", doc, 400, needle, "malformed: " + what, raw=raw)
    # binary extension errors
    a = struct.pack("<4f", 1, 2, 3, 4)
    doc = with_input(0, parameters={"binary_data_size": 12})
    del doc["inputs"][0]["data"]
    expect_error("tens", doc, 400, "binary_data_size 12, but 4 FP32 elements take 16",
                 "binary: size does not match the shape", binary=a[:12])
    doc["inputs"][0]["parameters"]["binary_data_size"] = 16
    expect_error("tens", doc, 400, "binary_data_size: expected an integer in [0, 12]",
                 "binary: more than the body has", binary=a[:12])
    expect_error("tens", doc, 400, "binary data after the JSON", "binary: bytes left over",
                 binary=a + b"xx")
    doc2 = with_input(0, parameters={"binary_data_size": 16})
    expect_error("tens", doc2, 400, "not both", "binary: data and binary_data_size",
                 binary=a)
    body = json.dumps(TENS_DOC).encode()
    expect_error("tens", None, 400, "Inference-Header-Content-Length", "header > body",
                 raw=body, headers={"Inference-Header-Content-Length": str(len(body) + 1)})
    expect_error("tens", None, 400, "Inference-Header-Content-Length", "header not a number",
                 raw=body, headers={"Inference-Header-Content-Length": "12abc"})
    elem = b"xyz"
    doc = {"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES",
                       "parameters": {"binary_data_size": 7}}]}
    expect_error("strs", doc, 400, "binary data ends inside element 1",
                 "binary BYTES: fewer elements than the shape", binary=struct.pack("<I", 3) + elem)
    expect_error("raw", {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES",
                                     "data": ["x" * 1500]}]}, 413, "max_body_bytes",
                 "item larger than the pipeline's max_body_bytes -> 413")
    expect_error("nope", TENS_DOC, 404, "unknown model", "infer on an unknown model")
    st, h, b = request("POST", "/v2/models/tens/versions/1/infer", json.dumps(TENS_DOC).encode(),
                       {"Content-Type": "application/json"})
    check(st == 404 and "no versions" in json.loads(b)["error"],
          "infer with a version -> 404 (%s %s)" % (st, b[:100]))


def budgets():
    doc = dict(TENS_DOC, parameters={"timeout": 1})
    expect_error("tens", doc, 504, "deadline cannot be met", "parameters.timeout 1 us -> 504")
    doc = dict(TENS_DOC, parameters={"timeout": 10000000})
    infer_ok("tens", doc, "parameters.timeout 10 s -> 200")
    for bad in ("abc", 0, -5, 1.5, True):
        expect_error("tens", dict(TENS_DOC, parameters={"timeout": bad}), 400,
                     "parameters.timeout: expected microseconds", "timeout %r -> 400" % (bad,))
    expect_error("tens", TENS_DOC, 504, "deadline cannot be met",
                 "X-Sponge-Deadline-Ms 0.001 -> 504", headers={"X-Sponge-Deadline-Ms": "0.001"})
    expect_error("tens", TENS_DOC, 400, "X-Sponge-Slo-Ms", "bad X-Sponge-Slo-Ms -> 400",
                 headers={"X-Sponge-Slo-Ms": "soon"})
    infer_ok("tens", TENS_DOC, "X-Sponge-Slo-Ms 5000 -> 200", headers={"X-Sponge-Slo-Ms": "5000"})
    st, h, b = infer("tens", TENS_DOC)
    check(st == 200 and h.get("X-Sponge-Latency-Ms") and h.get("X-Sponge-Variants") == "echo",
          "timing headers on an OIP answer too (%s)" % dict(h))


# ---- a real classifier ---------------------------------------------------------------------

def fmnist():
    with gzip.open(DATA + "/t10k-images-idx3-ubyte.gz") as f:
        images = f.read()[16:16 + 784 * 10]
    with gzip.open(DATA + "/t10k-labels-idx1-ubyte.gz") as f:
        labels = f.read()[8:18]
    right = 0
    for i in range(10):
        img = images[784 * i:784 * (i + 1)]
        j, _ = infer_ok("fm", {"id": "img%d" % i, "inputs": [
            {"name": "image", "shape": [1, 784], "datatype": "UINT8", "data": list(img)}]},
            "fmnist image %d as JSON" % i)
        jb, _ = infer_ok("fm", {"id": "bin%d" % i, "inputs": [
            {"name": "image", "shape": [1, 784], "datatype": "UINT8",
             "parameters": {"binary_data_size": 784}}]}, "fmnist image %d binary" % i, img)
        st, h, v1 = request("POST", "/v1/pipelines/fm/infer", img)
        if not (j and jb and st == 200):
            check(False, "fmnist image %d answered on all three paths" % i)
            continue
        pred = j["outputs"][0]
        check(pred["name"] == "prediction" and pred["datatype"] == "BYTES"
              and pred["shape"] == [1] and pred["data"] == [v1.decode()]
              and jb["outputs"][0]["data"] == pred["data"],
              "image %d: OIP JSON, OIP binary and /v1 give the same answer %s" % (i, v1))
        right += json.loads(pred["data"][0])["class"] == labels[i]
    check(right >= 6, "the softmax classifier (84%% on the test set) got %d of 10 right" % right)


routes()
infer_json()
infer_binary()
infer_kinds()
malformed()
budgets()
fmnist()
print("%s: %d failed checks" % ("FAIL" if FAILS else "PASS", FAILS))
sys.exit(1 if FAILS else 0)
