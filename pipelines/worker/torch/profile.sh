#!/usr/bin/env bash
# Profiles the PyTorch pipeline's workers with sponge-profile on this machine (root, cgroup cpu
# controller): pipelines/worker/profiles/torch-<variant>.json (the `profile` block of
# pipelines/examples/fmnist-torch.json) and torch-<variant>.report.json (start-up, R², every
# grid point). Items are real: the first t10k image for stage 1 (encode), and its float16
# features (stage 1's real output) for stage 2.
#
#   bash pipelines/worker/torch/profile.sh [BUILD_DIR] [VARIANT...]   (encode resnet-s ...)
set -euo pipefail
cd "$(dirname "$0")/../../.."
build=${1:-build}
shift || true
# shellcheck source=pipelines/worker/profiles/profile-lib.sh
. pipelines/worker/profiles/profile-lib.sh
profile_setup "$build" sponge-profile-torch
worker="$build/bin/sponge-worker-torch"
grid=(--batches 1,2,4,8,16,32 --millicores 500,1000,2000 --min-reps 5 --point-ms 1000)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PYEOF'
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, "pipelines/worker/torch")
import torch
import sponge_fmnist_torch as m
images, _ = m.read_idx("t10k")
enc = m.Encoder()
enc.load_state_dict(torch.load("pipelines/worker/torch/weights/encoder.pt"))
enc.eval()
with open(os.path.join(sys.argv[1], "image"), "wb") as f:
    f.write(images[0].numpy().tobytes())
with torch.no_grad(), open(os.path.join(sys.argv[1], "features"), "wb") as f:
    f.write(enc(m.pixels_to_input(images[:1])).half()[0].numpy().tobytes())
PYEOF

selected=("$@")
run() { # name, item file, worker args...
        local name=$1 item=$2
        shift 2
        profile_run "torch-$name" "${grid[@]}" --item-file "$item" -- "$worker" "$@"
}
if want encode; then run encode "$tmp/image" --stage encode; fi
for v in resnet-s resnet-m resnet-l; do
        if want "$v"; then run "$v" "$tmp/features" --stage classify --variant "$v"; fi
done
