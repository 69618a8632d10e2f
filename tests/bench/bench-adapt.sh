#!/usr/bin/env bash
# bench-adapt — the control loop's cost and its reaction time, in one run.
#  1. bench-adapt (C): cost of one iteration (observe, solve, act) with 1 and 10 pipelines.
#  2. Reaction: a live sponged (real cgroups, 1 s interval) serving a one-stage flops pipeline;
#     sponge-load steps from a low to a high rate; a poller reads the plan and the replica's
#     cgroup quota every 20 ms. Reaction = time from the step to the first plan with more
#     cores whose quota is in the cgroup file, in control intervals.
# Usage: bash tests/bench/bench-adapt.sh [BUILD_DIR]   (root; last line: one JSON object)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
[ "$(id -u)" -eq 0 ] || { echo "bench-adapt: needs root (real cgroups)"; exit 77; }
for b in sponged bench-adapt sponge-load sponge-worker-flops; do
  [ -x "$build/bin/$b" ] || { echo "bench-adapt: $build/bin/$b missing: build first"; exit 1; }
done

loop_json=$(SPONGE_SOURCE_DIR=$src "$build/bin/bench-adapt" 2>/dev/null | tail -n 1)

port=$((18805 + ${SPONGE_TEST_PORT_OFFSET:-0}))
work=$(mktemp -d /tmp/bench-adapt.XXXXXX)
mkdir -p "$work/p"
cgroot=/sys/fs/cgroup/cpu/sponged-bench-adapt
[ -d /sys/fs/cgroup/cpu ] || cgroot=/sys/fs/cgroup/sponged-bench-adapt
cat >"$work/node.json" <<EOF
{"listen": ["127.0.0.1:$port"], "pipelines_dir": "$work/p", "interval_ms": 1000,
 "downscale_delay_ms": 3000, "cgroup": {"root": "$cgroot"}, "log_level": "notice"}
EOF
model=$(python3 -c "import json;print(json.dumps(json.load(open('$src/pipelines/worker/profiles/resnet18.json'))))" 2>/dev/null ||
        echo '{"model":{"gamma":16,"delta":0.3,"epsilon":2,"eta":0,"margin":0.25}}')
cat >"$work/p/step.json" <<EOF
{"name": "step", "slo_ms": 400, "stages": [{"name": "classify", "max_batch": 8,
  "millicores": {"min": 250, "max": 2000, "step": 250}, "replicas": {"min": 1, "max": 2},
  "variants": [{"name": "resnet18", "accuracy": 69.8, "startup_ms": 50,
    "command": ["sponge-worker-flops", "--variant", "resnet18"], "profile": $model}]}]}
EOF
"$build/bin/sponged" --config "$work/node.json" 2>"$work/sponged.log" &
agent=$!
cleanup() {
  kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

low=3 high=90 before=8 after=12
python3 - "$port" "$((before + after))" >"$work/poll.csv" <<'EOF' &
import json, sys, time, urllib.request
port, secs = sys.argv[1], float(sys.argv[2])
t0 = time.monotonic()
while time.monotonic() - t0 < secs + 2:
    try:
        p = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/pipelines/step", timeout=1))
        s = p["stages"][0]
        quota = ""
        for r in s["replica_list"]:
            if r["state"] == "ready":
                for f in ("cpu.cfs_quota_us", "cpu.max"):
                    try:
                        quota = open(r["cgroup"] + "/" + f).read().split()[0]
                    except OSError:
                        pass
        print(f'{time.time():.3f},{s["plan"]["millicores"]},{s["plan"]["replicas"]},{quota}', flush=True)
    except Exception:
        pass
    time.sleep(0.02)
EOF
poller=$!
t_start=$(date +%s.%N)
"$build/bin/sponge-load" --url "http://127.0.0.1:$port/v1/pipelines/step/infer" \
  --steps "$low:$before,$high:$after" --slo-ms 400 --body-bytes 1024 --quiet \
  >"$work/load.out" 2>/dev/null || true
wait "$poller" || true

python3 - "$t_start" "$before" "$work/poll.csv" "$loop_json" "$(tail -n 1 "$work/load.out")" <<'EOF'
import json, sys
t_start, before, path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
loop = json.loads(sys.argv[4]); load = json.loads(sys.argv[5]) if sys.argv[5].startswith("{") else {}
rows = [l.strip().split(",") for l in open(path) if l.strip()]
t_step = t_start + before
cores_before = max((int(r[1]) * int(r[2]) for r in rows if float(r[0]) < t_step), default=0)
react = None
for r in rows:
    t, mc, n, q = float(r[0]), int(r[1]), int(r[2]), r[3]
    if t >= t_step and mc * n > cores_before and q not in ("", "-1", "max"):
        react = t - t_step
        break
out = dict(loop)
out["reaction_s"] = round(react, 3) if react is not None else None
out["reaction_intervals"] = round(react / 1.0, 2) if react is not None else None
out["millicores_before_step"] = cores_before
out["step_rps"] = [3, 90]
out["load_attainment_pct"] = load.get("attainment_pct")
print(f"reaction: {out['reaction_s']} s after the step from 3 to 90 req/s "
      f"(allocation before: {cores_before} millicores)")
print(json.dumps(out))
EOF
