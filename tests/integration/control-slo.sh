#!/usr/bin/env bash
# agent.control-slo — tightening the SLO through the requests' own headers changes the plan.
#
# A one-stage pipeline (policy full: variants resnet18 and resnet34 of the flops worker with
# their measured profiles, 100-1000 millicores, 1-2 replicas, slo_ms 2000) gets a steady,
# evenly spaced 3 requests/s. For the first LOOSE_S seconds the requests carry
# X-Sponge-Slo-Ms: 2000 (the pipeline's own SLO: the profiles allow resnet34 on a few hundred
# millicores with batching); then the same rate carries X-Sponge-Slo-Ms: 100 — tighter, still
# feasible (the profiles: resnet18 at batch 1 needs about 400 millicores, resnet34 800).
# Checked on the sampled timeline:
#   - the control status's planning budget follows the headers (<= 200 ms) within 2 intervals;
#   - within 2 intervals of the switch a plan "faster" than the one in force at the switch is
#     applied: more millicores in total, or a lighter variant, or a smaller batch (down-scaling
#     drift goes the other way, so it cannot pass for this);
#   - >= 95% of the tight requests sent after those 2 intervals are answered within 100 ms.
# eBPF is off (see control-step.sh). Usage: control-slo.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/control-lib.sh"
control_init slo 18832 "$@"

INTERVAL_MS=1000
RATE=3 LOOSE_S=10 TIGHT_S=8
SLO_MS=2000 TIGHT_MS=100
if [ "$AGENT_SANITIZED" = 1 ]; then
        RATE=1 SLO_MS=10000 TIGHT_MS=400
fi
agent_config "\"control\": true, \"ebpf\": false, \"interval_ms\": $INTERVAL_MS,
        \"downscale_delay_ms\": 3000, \"millicores\": 2000, \"log_level\": \"info\""
agent_start
ctl_reserve_cpu

P=slo
ctl_pipe --name $P --slo-ms $SLO_MS --stage s0:resnet18,resnet34 --policy full \
        --millicores 100,1000,100 --replicas 1,2 --max-batch 8 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"

mkdir -p "$TMP/run"
say "load: $RATE rps, X-Sponge-Slo-Ms $SLO_MS for $LOOSE_S s, then $TIGHT_MS for $TIGHT_S s"
ctl_drive --uniform --pipeline "$P=$RATE:$LOOSE_S,0:$TIGHT_S=$SLO_MS=loose" \
        --pipeline "$P=0:$LOOSE_S,$RATE:$TIGHT_S=$TIGHT_MS=tight" --out "$TMP/run" --tail 0.5 ||
        fail "load generator failed: $(cat "$TMP/run/"*.load.err)"
say "loose: $(tail -n1 "$TMP/run/loose.load.out" | cut -c1-160)"
say "tight: $(tail -n1 "$TMP/run/tight.load.out" | cut -c1-160)"

"$PY" - "$CTLTOOL" "$TMP/run" "$P" "$INTERVAL_MS" "$LOOSE_S" "$TIGHT_MS" "$SRC" <<'EOF' ||
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("ctltool", sys.argv[1])
ct = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ct)
d, P = sys.argv[2], sys.argv[3]
interval, switch, tight = float(sys.argv[4]) / 1000, float(sys.argv[5]), float(sys.argv[6])
head, samples = ct.load_timeline(d)
t0 = head["starts"]["tight"]
tl = ct.stage_series(samples, P, 0, t0)
ct.print_series(tl, "%s/s0" % P)
ok = True

def bad(msg):
    global ok
    ok = False
    print("FAIL: " + msg)

gamma = {}
for v in ("resnet18", "resnet34"):
    with open(os.path.join(sys.argv[7], "pipelines/worker/profiles/%s.json" % v)) as f:
        gamma[v] = json.load(f)["model"]["gamma"]
before = [x for x in tl if x["t"] <= switch]
if not before:
    bad("no sample before the switch")
    sys.exit(1)
b = before[-1]
print("plan at the switch (%.1f s): %s, %d millicores in all; budget %.0f ms"
      % (switch, b["plan"], b["mc"], b["control"]["budget_ms"]))
if b["control"]["budget_ms"] < tight * 4:
    bad("planning budget %.0f ms before the switch: the loose requests were not planned for"
        % b["control"]["budget_ms"])

def faster(x):
    p, q = x["plan"], b["plan"]
    return (x["mc"] > b["mc"] or gamma[p["variant"]] < gamma[q["variant"]]
            or (p["variant"] == q["variant"] and p["batch"] < q["batch"]))

bud = next((x for x in tl if x["t"] > switch and x["control"]["budget_ms"] <= tight + 0.5), None)
if bud is None or bud["t"] - switch > 2 * interval + 0.25:
    bad("the planning budget did not follow the headers within 2 intervals (%s)"
        % ("never" if bud is None else "%.2f s" % (bud["t"] - switch)))
else:
    print("planning budget %.0f ms after %.2f s" % (bud["control"]["budget_ms"], bud["t"] - switch))
first = next((x for x in tl if x["t"] > switch and x["plan"] != b["plan"]), None)
if first is not None:
    print("first plan change %.2f s after the switch: %s, %d millicores in all (%s)"
          % (first["t"] - switch, first["plan"], first["mc"],
             "faster" if faster(first) else "not faster"))
ch = next((x for x in tl if x["t"] > switch and faster(x)), None)
if ch is None:
    bad("no faster plan (more cores, lighter variant or smaller batch than %s) after the SLO "
        "was tightened" % b["plan"])
else:
    r = ch["t"] - switch
    print("faster plan %.2f s (%.2f intervals) after the switch: %s, %d millicores in all"
          % (r, r / interval, ch["plan"], ch["mc"]))
    if r > 2 * interval + 0.25:
        bad("the faster plan came %.2f s after the switch (> 2 intervals)" % r)
rows = ct.load_csv(os.path.join(d, "tight.csv"))
kept = [r for r in rows if r["t"] >= switch + 2 * interval]
within = sum(1 for r in kept if r["within"])
att = 100.0 * within / len(kept) if kept else 0.0
print("tight requests after 2 intervals: %d/%d within %.0f ms = %.2f%%"
      % (within, len(kept), tight, att))
if not kept or att < 95.0:
    msg = ("attainment of the tight requests %.2f%% < 95%%; misses: %s"
           % (att, [r for r in kept if not r["within"]][:8]))
    bad(msg)
sys.exit(0 if ok else 1)
EOF
        fail "the plan did not follow the tighter SLO (figures above)"

agent_finish
