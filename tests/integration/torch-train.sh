#!/usr/bin/env bash
# torch.train — retrains the smallest variant of the PyTorch pipeline (the stem + resnet-s) with
# the project's trainer (fixed seed, one thread, bounded steps) into a temporary directory and
# checks its test-set accuracy against pipelines/examples/fmnist-torch.json; also that the
# committed weights stay under 10 MiB in all.
# Usage: torch-train.sh [BINARY_DIR [SOURCE_DIR]]
set -u
SRC=${2:-${SPONGE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}}
/usr/bin/python3 -c 'import torch' 2>/dev/null || {
        echo "torch.train: SKIP: Debian's python3-torch is not installed (tests/setup.sh)" >&2
        exit 77
}
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
        echo "torch.train: SKIP: dataset-fashion-mnist is not installed (tests/setup.sh)" >&2
        exit 77
}
TMP=$(mktemp -d /tmp/torch-train.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
size=$(du -cb "$SRC"/pipelines/worker/torch/weights/*.pt | tail -n 1 | cut -f1)
echo "torch.train: committed weights: $size bytes" >&2
[ "$size" -lt $((10 * 1024 * 1024)) ] || { echo "torch.train: FAIL: weights ≥ 10 MiB" >&2; fails=1; }
t0=$(date +%s)
nice -n 10 /usr/bin/python3 -B "$SRC/pipelines/worker/torch/train.py" --variant resnet-s \
        --out "$TMP" >"$TMP/out" || { echo "torch.train: FAIL: the trainer failed" >&2; exit 1; }
cat "$TMP/out" >&2
echo "torch.train: trained in $(($(date +%s) - t0)) s (wall, shared machine)" >&2
/usr/bin/python3 - "$TMP/out" "$SRC/pipelines/examples/fmnist-torch.json" <<'PYEOF' || fails=1
import json, sys
got = json.loads(open(sys.argv[1]).read().splitlines()[-1])
ex = json.load(open(sys.argv[2]))
want = [v for s in ex["stages"] for v in s["variants"] if v["name"] == "resnet-s"][0]["accuracy"]
# The run is deterministic on one machine (one thread, fixed seed); another CPU may round
# differently, so a small tolerance.
ok = abs(got["accuracy"] - want) <= 0.5
print(f"torch.train: retrained resnet-s: {got['accuracy']:.2f} %, example: {want:.2f} % "
      f"({'exact' if got['accuracy'] == want else 'within 0.5' if ok else 'FAIL'})",
      file=sys.stderr)
sys.exit(0 if ok else 1)
PYEOF
[ "$fails" = 0 ] && echo "torch.train: PASS" >&2
exit "$fails"
