#!/usr/bin/env bash
# oip.routes — the Open Inference Protocol (KServe V2 REST) against the real sponged with real
# workers: every /v2 route, JSON tensors of every kind of datatype, the binary tensor data
# extension, id echo, parameters.timeout and the X-Sponge-* budgets, malformed tensors, wrong
# datatype/shape, unknown model, versions, methods, an output that does not fit its declaration,
# and the Fashion-MNIST classifier answering the same through /v2 as through /v1. The client is
# Debian python3's urllib (tests/integration/oip-check.py); every answer is checked against JSON
# Schemas written from the spec's text. Ports: the oip tests use 18910-18929 (plus
# $SPONGE_TEST_PORT_OFFSET).
# Usage: oip-routes.sh [BINARY_DIR [SOURCE_DIR]]
AGENT_PORTS=18910-18929
AGENT_TOOLS=sponge-worker-fmnist
source "$(dirname "$0")/lib-agent.sh"
agent_init oip.routes 18910 "$@"
"$PY" -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema is not installed (tests/setup.sh)"
DATA=${SPONGE_FMNIST_DATA:-/usr/share/datasets/fashion-mnist}
[ -r "$DATA/t10k-images-idx3-ubyte.gz" ] || skip "$DATA/t10k-*.gz missing (dataset-fashion-mnist)"
agent_config '"control": false'

# tensors FILE JSON — merges OIP members ("inputs", "outputs", ...) into a pipeline file.
tensors() {
        "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
j.update(json.loads(sys.argv[2]))
json.dump(j, open(sys.argv[1], "w"), indent=2)
PYEOF
}
pipe() { # NAME VARIANT [mkpipe args...] — one stage, static plan, one replica
        local name=$1 v=$2
        shift 2
        mkpipe --name "$name" --slo-ms 5000 --stage "s0:$v" --millicores 100,1000,100 \
                --policy static --plan "$v:4:1000:1" "$@" >"$PIPELINES_DIR/$name.json"
}
pipe raw echo --max-body-bytes 1000
pipe tens echo
tensors "$PIPELINES_DIR/tens.json" '{"inputs": [
    {"name": "a", "datatype": "FP32", "shape": [2, 2]},
    {"name": "b", "datatype": "INT16", "shape": [-1]},
    {"name": "c", "datatype": "BOOL", "shape": [3]}],
  "outputs": [
    {"name": "x", "datatype": "FP32", "shape": [2, 2]},
    {"name": "rest", "datatype": "UINT8", "shape": [-1]}]}'
pipe strs echo
tensors "$PIPELINES_DIR/strs.json" '{"inputs": [{"name": "s", "datatype": "BYTES", "shape": [-1]}],
  "outputs": [{"name": "s", "datatype": "BYTES", "shape": [-1]}]}'
pipe half echo
tensors "$PIPELINES_DIR/half.json" '{"inputs": [{"name": "h", "datatype": "FP16", "shape": [-1]}],
  "outputs": [{"name": "h", "datatype": "FP16", "shape": [-1]}]}'
pipe mism echo
tensors "$PIPELINES_DIR/mism.json" '{"inputs": [{"name": "a", "datatype": "FP32", "shape": [2]}],
  "outputs": [{"name": "y", "datatype": "FP64", "shape": [3]}]}'
pipe fm echo
tensors "$PIPELINES_DIR/fm.json" '{"max_body_bytes": 65536,
  "inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 784]}],
  "outputs": [{"name": "prediction", "datatype": "BYTES", "shape": [1]}]}'
"$PY" - "$PIPELINES_DIR/fm.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["stages"][0]["variants"][0]["command"] = ["sponge-worker-fmnist", "--size", "softmax"]
json.dump(j, open(sys.argv[1], "w"), indent=2)
PYEOF

# /healthz answers 200 only when every pipeline has a ready replica: agent_start waits for it.
agent_start
for p in raw tens strs half mism fm; do
        wait_ready "$p" 30 || die "pipeline $p never became ready"
done

"$PY" "$(dirname "$0")/oip-check.py" "$URL" "$DATA" || fail "oip-check.py reported failures"
kill -0 "$SPONGED_PID" 2>/dev/null || fail "sponged died during the OIP checks"
http GET /healthz
expect_status 200 "healthz after the OIP checks"
agent_finish
