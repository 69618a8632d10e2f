#!/usr/bin/env bash
# Regenerates the profile blocks of the example variants on this machine (root, cgroup cpu
# controller): pipelines/worker/profiles/<variant>.json (the `profile` block for the pipeline
# file) and <variant>.report.json (start-up time, R², every grid point).
#
#   bash pipelines/worker/profiles/regenerate.sh [BUILD_DIR] [VARIANT...]
#
# Each variant runs in a dedicated cgroups root with the highest CPU weight (--boost), so other
# load on the machine cannot take the time its quota grants. Grids follow the example stages'
# core ranges; the largest YOLO stand-ins (≈1–2 s of CPU per item) use batches up to 4 only, to
# keep the whole run near 20 minutes.
set -euo pipefail
cd "$(dirname "$0")/../../.."
build=${1:-build}
shift || true
# shellcheck source=pipelines/worker/profiles/profile-lib.sh
. pipelines/worker/profiles/profile-lib.sh
profile_setup "$build" sponge-profile
flops="$build/bin/sponge-worker-flops"
fmnist="$build/bin/sponge-worker-fmnist"

resnet=(--batches 1,2,4,8,16 --millicores 250,500,1000,1500,2000 --min-reps 5 --point-ms 1000)
yolo=(--batches 1,2,4,8 --millicores 250,500,1000,1500,2000 --min-reps 3 --point-ms 1000)
yolo_big=(--batches 1,2,4 --millicores 500,1000,1500,2000 --min-reps 3 --point-ms 1000)
fm=(--batches 1,4,16,64 --millicores 100,250,500,1000 --min-reps 20 --point-ms 1000)

item=$(mktemp)
trap 'rm -f "$item"' EXIT
# One real test image (the first of t10k) as every item: real images are half background,
# which the classifier skips, so random bytes would overstate its cost.
# (pipefail off: head closing the pipe early is success here)
set +o pipefail
zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | tail -c +17 | head -c 784 \
        > "$item"
set -o pipefail
[ "$(stat -c %s "$item")" -eq 784 ] || { echo "cannot read a Fashion-MNIST test image" >&2; exit 1; }

selected=("$@")
for v in resnet18 resnet34 resnet50 resnet101 resnet152; do
        if want "$v"; then profile_run "$v" "${resnet[@]}" -- "$flops" --variant "$v"; fi
done
for v in yolov5n yolov5s yolov5m; do
        if want "$v"; then profile_run "$v" "${yolo[@]}" -- "$flops" --variant "$v"; fi
done
for v in yolov5l yolov5x; do
        if want "$v"; then profile_run "$v" "${yolo_big[@]}" -- "$flops" --variant "$v"; fi
done
for s in softmax mlp wide; do
        if want "fmnist-$s"; then
                profile_run "fmnist-$s" "${fm[@]}" --item-file "$item" -- "$fmnist" --size "$s"
        fi
done
