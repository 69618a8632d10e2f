#!/usr/bin/env bash
# k8s.manifests — systemd/k8s/*.yaml against the Kubernetes API schemas, and their contents
# against sponged's own checks:
#   1. every object validates (kubernetes-models, installed with `npm ci` from the lockfile here
#      into the build directory);
#   2. a broken copy (a field of the wrong type) is refused, so the check can fail;
#   3. the node config in the ConfigMap passes `sponged --check`, each pipeline file
#      `spongectl validate`;
#   4. the DaemonSet agrees with that config: CPU limit = millicores, the container ports are the
#      ports the config listens on, the probes name routes of the agent.
# Usage: k8s-manifests.sh [BINARY_DIR [SOURCE_DIR]]. Skips (77) without node/npm.
set -euo pipefail
SRC=${2:-${SPONGE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}}
BUILD=${1:-${SPONGE_BINARY_DIR:-$SRC/build-ci}}
PY=/usr/bin/python3
for tool in node npm; do
        command -v $tool >/dev/null || { echo "k8s.manifests: SKIP: $tool is not installed" >&2; exit 77; }
done
work=$BUILD/k8s-validate
mkdir -p "$work"
cp "$SRC/tests/k8s/package.json" "$SRC/tests/k8s/package-lock.json" "$SRC/tests/k8s/validate.mjs" "$work/"
if [ ! -d "$work/node_modules/kubernetes-models" ] ||
        ! cmp -s "$SRC/tests/k8s/package-lock.json" "$work/node_modules/.package-lock.json.src"; then
        (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
        cp "$SRC/tests/k8s/package-lock.json" "$work/node_modules/.package-lock.json.src"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== 1. the manifests against the Kubernetes API schemas"
node "$work/validate.mjs" "$out" "$SRC"/systemd/k8s/*.yaml

echo "== 2. a broken manifest is refused"
sed 's/^\( *\)containerPort: 8750$/\1containerPort: "eighty"/' "$SRC/systemd/k8s/sponged.yaml" >"$out/broken.yaml"
cmp -s "$out/broken.yaml" "$SRC/systemd/k8s/sponged.yaml" && { echo "FAIL: could not break the copy" >&2; exit 1; }
if node "$work/validate.mjs" "$out/broken-out" "$out/broken.yaml" >/dev/null 2>"$out/broken.err"; then
        echo "FAIL: a containerPort of type string was accepted" >&2
        exit 1
fi
grep -q 'containerPort must be integer' "$out/broken.err" || { cat "$out/broken.err" >&2; exit 1; }
echo "refused: $(grep -m1 containerPort "$out/broken.err")"

echo "== 3. the ConfigMaps' files against sponged's own checks"
"$BUILD/bin/sponged" --check --config "$out/sponged-config/sponged.json"
for f in "$out"/sponged-pipelines/*.json; do
        "$BUILD/bin/spongectl" validate "$f"
done

echo "== 4. the DaemonSet agrees with the node config"
"$PY" - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
objs = json.load(open(out + "/objects.json"))
ds = next(o for o in objs if o["kind"] == "DaemonSet")
cfg = json.load(open(out + "/sponged-config/sponged.json"))
c = ds["spec"]["template"]["spec"]["containers"][0]
cpu = str(c["resources"]["limits"]["cpu"])
mc = int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
assert mc == cfg["millicores"], "CPU limit %s != node config millicores %d" % (cpu, cfg["millicores"])
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
listen = [int(l.rsplit(":", 1)[1]) for l in cfg["listen"] if not l.startswith("unix:")]
assert ports["http"] in listen, "container port %d not in listen %s" % (ports["http"], listen)
assert ports["agent-check"] == int(cfg["agent_check"]["listen"].rsplit(":", 1)[1])
routes = {"/v2/health/ready", "/v2/health/live", "/healthz", "/metrics"}
for probe in ("readinessProbe", "livenessProbe"):
    assert c[probe]["httpGet"]["path"] in routes, probe
grace = ds["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] * 1000
assert grace > cfg["drain_grace_ms"] + cfg["drain_timeout_ms"], "grace period shorter than the drain"
print("DaemonSet: CPU limit %s = %d millicores, ports %s, probes %s, grace %d s" % (
    cpu, mc, ports, [c[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")],
    grace // 1000))
EOF
echo "k8s.manifests: PASS"
