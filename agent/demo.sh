#!/usr/bin/env bash
# The README's demo: set-up, build, then sponged on a real pipeline under a replayed segment of
# the Twitter trace (open loop, Poisson within each second, per-request budgets from the Ghent
# 4G log), with one line of live state per second and a summary.
#
# Usage: bash agent/demo.sh [SECONDS (default 75)] [SCALE] [PIPELINE (default fmnist-torch)]
# fmnist-torch (pipelines/examples/fmnist-torch.json): the two-stage PyTorch CNN pipeline, real
# Fashion-MNIST test images; its weights are committed, so the set-up only installs Debian's
# python3-torch (tests/setup.sh). Default SCALE 0.5: the segment's burst is about 120 req/s,
# more than one item at a time can serve, so the planner batches.
# video (pipelines/examples/video.json): the compute-calibrated stand-ins for ResNet/YOLO;
# default SCALE 0.09 (a burst of about 30 req/s fits this 2-core machine with the items' real
# CPU cost, about 1.6x the profiles; at 0.12 it does not, and attainment falls to about 95%).
# As root it uses the kernel's cgroups; otherwise the agent runs with the `none` backend
# (it applies nothing, and says so) and the set-up step is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
secs=${1:-75}
pipeline=${3:-fmnist-torch}
case $pipeline in
fmnist-torch) scale=${2:-0.5} ;;
video) scale=${2:-0.09} ;;
*) echo "demo: PIPELINE is fmnist-torch or video, not \"$pipeline\"" >&2; exit 2 ;;
esac
port=18750

if [ "$(id -u)" -eq 0 ]; then
  bash tests/setup.sh --run # build + run packages only (tests add qemu, chromium, ...)
  backend=auto
else
  echo "demo: not root — skipping package set-up; the agent runs with the 'none' cgroup backend" \
       "(records plans, applies nothing). Run as root for real cgroups."
  backend=none
fi
echo "demo: building (Release) in build/ ..."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 >/dev/null

work=$(mktemp -d /tmp/sponged-demo.XXXXXX)
mkdir -p "$work/pipelines.d"
cp "pipelines/examples/$pipeline.json" "$work/pipelines.d/"
cgroup="\"backend\": \"$backend\""
# cgroup v1 (the cpu controller mounted on its own): a root of our own under it.
[ -d /sys/fs/cgroup/cpu ] && cgroup="$cgroup, \"root\": \"/sys/fs/cgroup/cpu/sponged-demo\""
cat >"$work/node.json" <<EOF
{"listen": ["127.0.0.1:$port"], "pipelines_dir": "$work/pipelines.d",
 "cgroup": {$cgroup}, "interval_ms": 1000, "downscale_delay_ms": 5000}
EOF

cleanup() {
  [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null || true
  if [ -n "${agent_pid:-}" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid"
    wait "$agent_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

build/bin/sponged --config "$work/node.json" 2>"$work/sponged.log" &
agent_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/sponged.log"; exit 1; }
sed -n 's/^<[0-9]>//p' "$work/sponged.log" | grep -E "cgroups:|ready:" || true
sleep 2 # the first workers start

trace=$src/../shared/data/twitter-2018-04-rps.txt.gz
start=1301520
ghent=$src/../shared/data/ghent-4g-bus-bandwidth.log
if [ ! -f "$trace" ]; then trace=tests/data/twitter-bursty.txt; start=360; fi
[ -f "$ghent" ] || ghent=tests/data/ghent-slice.txt
if [ "$pipeline" = fmnist-torch ]; then
  # The body: a real test image (pipelines/examples/samples/fmnist-torch.bin, 784 grey bytes
  # of Fashion-MNIST's test set); a 200 ms SLO.
  body=(--body-file pipelines/examples/samples/fmnist-torch.bin) slo=200 upload=784
  # The workers load torch (about 2 s each): wait until both stages are ready.
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/v1/pipelines/$pipeline" 2>/dev/null |
      python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if all(r["state"] == "ready" for s in j["stages"] for r in s["replica_list"]) and all(s["replica_list"] for s in j["stages"]) else 1)' 2>/dev/null && break
    sleep 0.1
  done
else
  body=(--body-bytes 1024) slo=1000 upload=200000
fi
echo "demo: replaying $secs s of $(basename "$trace") from index $start at scale $scale;" \
     "budgets = $slo ms SLO minus a $upload-byte upload on the Ghent 4G log"
build/bin/sponge-load --url "http://127.0.0.1:$port/v1/pipelines/$pipeline/infer" \
  --trace "$trace" --start "$start" --length "$secs" --scale "$scale" \
  --ghent "$ghent" --image-bytes "$upload" --slo-ms "$slo" "${body[@]}" \
  >"$work/load.out" 2>"$work/load.err" &
load_pid=$!
build/bin/spongectl --url "http://127.0.0.1:$port" watch "$pipeline" "$secs" || true
wait "$load_pid" || true
load_pid=

summary=$(curl -sf "http://127.0.0.1:$port/v1/pipelines/$pipeline")
python3 - "$summary" "$(tail -n 1 "$work/load.out")" <<'EOF'
import json, sys
p = json.loads(sys.argv[1]); load = json.loads(sys.argv[2])
print("\n== summary ==")
print(f"requests sent {load['sent']}, answered {load['answered']}, within their budget "
      f"{load['within_budget']} ({load['attainment_pct']:.2f}%), p50 {load['p50_ms']:.1f} ms, "
      f"p99 {load['p99_ms']:.1f} ms")
ans = p["answered"]
print(f"agent: SLO attainment {p['slo_attainment_pct']:.2f}%, dropped early (504) {ans['deadline']}, "
      f"queue full (429) {ans['queue_full']}, worker errors {ans['worker_error']}")
print(f"core-seconds allocated {p['core_seconds']:.1f}, mean accuracy served {p['mean_accuracy']:.2f}")
for s in p["stages"]:
    pl = s["plan"]
    print(f"  {s['name']}: now {pl['variant']} batch {pl['batch']} {pl['millicores']} millicores "
          f"x{pl['replicas']}, {s['batches']} batches, {s['items']} items "
          f"(mean batch {s['items'] / max(1, s['batches']):.2f})")
EOF
echo "demo: agent log in $work/sponged.log"
