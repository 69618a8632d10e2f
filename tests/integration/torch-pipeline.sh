#!/usr/bin/env bash
# torch.pipeline — the two-stage PyTorch pipeline (pipelines/examples/fmnist-torch.json) end to
# end on the real sponged and the kernel's real cgroups: the accuracies written in the example
# are what the committed weights measure on the 10,000 test images; for each classify variant,
# the HTTP answers for real test images are the model's own predictions (computed in-process
# with the same weights, float16 features between the stages as served); a malformed image is
# answered 400; under load, batches larger than 1 reach the workers and every request is answered.
# Usage: torch-pipeline.sh [BINARY_DIR [SOURCE_DIR]]
AGENT_PORTS=18890-18909
AGENT_TOOLS=sponge-worker-torch
source "$(dirname "$0")/lib-agent.sh"
agent_init torch.pipeline 18891 "$@"
/usr/bin/python3 -c 'import torch' 2>/dev/null ||
        skip "Debian's python3-torch is not installed (tests/setup.sh installs it)"
CHECK=$SRC/tests/integration/torch-check.py
EXAMPLE=$SRC/pipelines/examples/fmnist-torch.json

say "accuracy of the committed weights vs the example"
nice -n 10 /usr/bin/python3 "$CHECK" accuracy "$SRC" "$EXAMPLE" >&2 ||
        fail "the example's accuracies are not what the weights measure"

agent_config '"control": true, "interval_ms": 1000'
agent_start
P=fmnist-torch
# The example as shipped, with the test's tag on every variant (leftover workers are found).
"$PY" - "$EXAMPLE" "$TAG" >"$TMP/$P.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
for s in j["stages"]:
    for v in s["variants"]:
        v["env"] = {"ITEST_TAG": sys.argv[2]}
json.dump(j, sys.stdout)
PYEOF
apply_pipeline "$TMP/$P.json"
wait_ready $P 60 || die "pipeline $P never became ready"
pass "both stages ready ($(sget $P '[(s["plan"]["variant"], s["plan"]["batch"], s["plan"]["millicores"]) for s in j["stages"]]'))"

for v in resnet-s resnet-m resnet-l; do
        pin $P stem:8:1000:1 "$v:8:1000:1"
        wait_ready $P 60 || fail "not ready with $v"
        nice -n 10 /usr/bin/python3 "$CHECK" predict "$SRC" "$URL/v1/pipelines/$P/infer" "$v" 16 >&2 ||
                fail "$v: answers differ from the model's predictions"
done

http POST /v1/pipelines/$P/infer --data-binary "not an image"
expect_json_error 400 "a 12-byte body" "expected 784 bytes"

# Under load: a plan of batch 16 on both stages; requests arriving faster than one at a time
# can be served queue up, and the batcher hands the real workers batches larger than 1.
pin $P stem:16:1000:1 resnet-s:16:1000:1
wait_ready $P 60 || fail "not ready at batch 16"
B0=$(sget $P '[s["batches"] for s in j["stages"]]')
I0=$(sget $P '[s["items"] for s in j["stages"]]')
zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | tail -c +17 | head -c 784 >"$TMP/image"
"$BIN/sponge-load" --url "$URL/v1/pipelines/$P/infer" --steps 20:2,150:8 --slo-ms 2000 \
        --body-file "$TMP/image" --drain-s 60 --timeout-s 60 --quiet >"$TMP/load.out" 2>"$TMP/load.err" ||
        fail "sponge-load failed: $(tail -n 3 "$TMP/load.err")"
tail -n 1 "$TMP/load.out" >"$TMP/load.json"
say "load: $(cat "$TMP/load.json")"
B1=$(sget $P '[s["batches"] for s in j["stages"]]')
I1=$(sget $P '[s["items"] for s in j["stages"]]')
say "batches $B0 → $B1, items $I0 → $I1; plan now $(sget $P '[(s["plan"]["variant"], s["plan"]["batch"], s["plan"]["millicores"], s["plan"]["replicas"]) for s in j["stages"]]')"
MEAN=$("$PY" -c "import sys; b0,b1,i0,i1=(eval(a) for a in sys.argv[1:]); print(min((i1[k]-i0[k])/max(1,b1[k]-b0[k]) for k in range(2)))" "$B0" "$B1" "$I0" "$I1")
say "mean batch under load (the smaller of the two stages): $MEAN"
"$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) > 1.0 else 1)" "$MEAN" ||
        fail "no batching under load: mean batch $MEAN"
[ "$(jget "$TMP/load.json" 'j["answered"] == j["sent"] > 0')" = True ] 2>/dev/null ||
        fail "not every request answered: $(cat "$TMP/load.json")"
agent_finish
