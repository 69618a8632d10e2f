#!/usr/bin/python3
"""api-openapi.py URL OPENAPI PIPELINE_SCHEMA PIPELINE_FILE — drives every route of
agent/openapi.json on a live sponged at URL and checks each answer against the description: the
path and method are documented, the status is one of the documented responses, the Content-Type
is a documented one, and a JSON body validates against its schema (python3-jsonschema, Draft
2020-12 as OpenAPI 3.1 uses). At the end every documented (path, method) must have been driven.
PIPELINE_FILE is a pipeline whose first stage accepts any bytes; its max_body_bytes must be
below 4096 (for the 413). Exit 0, or 1 with every mismatch on stderr."""
import json
import re
import sys
import time
import os
import urllib.error
import urllib.request

import jsonschema

url, doc_path, pschema_path, pfile = sys.argv[1:5]
doc = json.load(open(doc_path))
pschema = json.load(open(pschema_path))
pipeline = json.load(open(pfile))
P = pipeline["name"]
fails = []
driven = set()

resolver = jsonschema.RefResolver.from_schema(doc, store={pschema["$id"]: pschema})
for name, s in doc["components"]["schemas"].items():
    try:
        jsonschema.Draft202012Validator.check_schema(s)
    except jsonschema.SchemaError as e:
        fails.append("components.schemas.%s is not a valid schema: %s" % (name, e.message))

templates = []
for t in doc["paths"]:
    rx = "^" + re.sub(r"\\\{[a-z]+\\\}", "[^/]+", re.escape(t)) + "$"
    templates.append((t, re.compile(rx)))


def template_of(path):
    # the most specific template: literal /ui/ before /ui/{file}
    hits = [t for t, rx in templates if rx.match(path)]
    hits.sort(key=lambda t: t.count("{"))
    return hits[0] if hits else None


def call(method, path, body=None, headers=None, want=None):
    headers = dict(headers or {})
    # Changes over TCP need the operator's bearer token (agent/auth.h); the harness sets one.
    if method not in ("GET", "HEAD") and os.environ.get("SPONGE_API_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["SPONGE_API_TOKEN"]
    req = urllib.request.Request(url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, ctype, data = r.status, r.headers.get("Content-Type", ""), r.read()
            hlen = r.headers.get("Inference-Header-Content-Length")
    except urllib.error.HTTPError as e:
        status, ctype, data = e.code, e.headers.get("Content-Type", ""), e.read()
        hlen = e.headers.get("Inference-Header-Content-Length")
    where = "%s %s -> %d" % (method, path, status)
    if want is not None and status != want:
        fails.append("%s: expected %d (%s)" % (where, want, data[:200]))
    t = template_of(path)
    op = doc["paths"].get(t, {}).get(method.lower()) if t else None
    if not op:
        fails.append("%s: route not in the description" % where)
        return status, data
    driven.add((t, method.lower()))
    resp = op["responses"].get(str(status))
    if not resp:
        fails.append("%s: status not documented for %s %s" % (where, method, t))
        return status, data
    content = resp.get("content", {})
    media = ctype.split(";")[0].strip()
    if content and media not in content:
        fails.append("%s: Content-Type %r, documented %s" % (where, ctype, sorted(content)))
        return status, data
    if media == "application/octet-stream" and hlen is not None and "application/json" in content:
        # The binary tensor data extension: the JSON part, then the bytes; the JSON part is checked
        # against the route's JSON schema.
        data, media = data[:int(hlen)], "application/json"
    if media == "application/json":
        try:
            j = json.loads(data)
        except ValueError as e:
            fails.append("%s: body is not JSON: %s" % (where, e))
            return status, data
        v = jsonschema.Draft202012Validator(content[media]["schema"], resolver=resolver)
        errs = sorted(v.iter_errors(j), key=lambda e: list(e.path))
        for e in errs[:3]:
            fails.append("%s: %s at %s" % (where, e.message[:200], "/".join(map(str, e.path))))
        return status, j
    return status, data


J = {"Content-Type": "application/json"}
body = json.dumps(pipeline).encode()
call("GET", "/v1/pipelines", want=200)
call("PUT", "/v1/pipelines/" + P, body, J, want=201)
call("PUT", "/v1/pipelines/" + P, body, J, want=200)
call("PUT", "/v1/pipelines/" + P, b"{", J, want=400)
call("PUT", "/v1/pipelines/" + P, json.dumps(dict(pipeline, name="other")).encode(), J, want=400)
end = time.monotonic() + 60
while time.monotonic() < end:
    st, j = call("GET", "/v1/pipelines/" + P, want=200)
    if st == 200 and isinstance(j, dict) and all(
            s["replica_list"] and all(r["state"] == "ready" for r in s["replica_list"])
            for s in j["stages"]):
        break
    time.sleep(0.3)
else:
    fails.append("pipeline %s never ready" % P)
call("GET", "/v1/pipelines/nope", want=404)
for i in range(3):
    call("POST", "/v1/pipelines/%s/infer" % P, b"sample-%d" % i, want=200)
call("POST", "/v1/pipelines/%s/infer" % P, b"x", {"X-Sponge-Deadline-Ms": "soon"}, want=400)
call("POST", "/v1/pipelines/%s/infer" % P, b"x", {"X-Sponge-Deadline-Ms": "0.001"}, want=504)
call("POST", "/v1/pipelines/%s/infer" % P, b"x" * 4096, want=413)
call("POST", "/v1/pipelines/nope/infer", b"x", want=404)
st, plan = call("GET", "/v1/pipelines/%s/plan" % P, want=200)
if st == 200:
    call("PUT", "/v1/pipelines/%s/plan" % P, json.dumps(plan["plan"]).encode(), J, want=200)
call("PUT", "/v1/pipelines/%s/plan" % P, b"[]", J, want=400)
call("DELETE", "/v1/pipelines/%s/plan" % P, want=200)
call("GET", "/v1/pipelines/nope/plan", want=404)
call("GET", "/v1/pipelines", want=200)
call("GET", "/v1/node", want=200)
call("GET", "/metrics", want=200)
call("GET", "/healthz")
call("GET", "/ui/", want=200)
call("GET", "/ui/app.js", want=200)
call("GET", "/ui/app.css", want=200)
call("GET", "/ui/nope.js", want=404)
# The Open Inference Protocol routes (/v2): the pipeline declares no tensors, so it takes one
# BYTES input "input" of shape [1] and answers one output "output".
V2 = "/v2/models/" + P
call("GET", "/v2", want=200)
call("GET", "/v2/health/live", want=200)
call("GET", "/v2/health/ready")
call("GET", V2, want=200)
call("GET", "/v2/models/nope", want=404)
call("GET", V2 + "/ready")
call("GET", V2 + "/versions/1", want=404)


def oip(inputs, **kw):
    return json.dumps(dict({"id": "r1", "inputs": inputs}, **kw)).encode()


one = [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["sample-v2"]}]
st, j = call("POST", V2 + "/infer", oip(one), J, want=200)
if st == 200 and isinstance(j, dict) and j.get("id") != "r1":
    fails.append("POST %s/infer: id not echoed: %r" % (V2, j.get("id")))
st, data = call("POST", V2 + "/infer",
                oip(one, outputs=[{"name": "output", "parameters": {"binary_data": True}}]), J,
                want=200)
call("POST", V2 + "/infer", oip([dict(one[0], datatype="FP32", data=[1.0])]), J, want=400)
call("POST", V2 + "/infer", b"{", J, want=400)
call("POST", V2 + "/infer", oip([dict(one[0], data=["x" * 2048])]), J, want=413)
call("POST", V2 + "/infer", oip(one, parameters={"timeout": 1}), J, want=504)
call("POST", "/v2/models/nope/infer", oip(one), J, want=404)
call("DELETE", "/v1/pipelines/" + P, want=200)
call("DELETE", "/v1/pipelines/" + P, want=404)

for t, ops in doc["paths"].items():
    for m in ops:
        if m in ("get", "put", "post", "delete", "patch", "head") and (t, m) not in driven:
            fails.append("documented but not driven: %s %s" % (m.upper(), t))
print("api-openapi: %d routes driven, %d mismatches" % (len(driven), len(fails)), file=sys.stderr)
for f in fails:
    print("api-openapi: FAIL: " + f, file=sys.stderr)
sys.exit(1 if fails else 0)
