#!/usr/bin/env bash
# agent.control-step — the control loop follows a load step, low → high → low, on a one-stage
# flops pipeline (resnet18 worker, its measured profile, policy vertical: one replica whose
# cores change in place).
#
# Checked on a timeline sampled every 0.2 s (status + the kernel's quota file) while sponge-load
# sends the open-loop step schedule:
#   - the plan's millicores rise within 2 control intervals of the step up, and so does the
#     replica cgroup's quota in the kernel (v1 cpu.cfs_quota_us / v2 cpu.max);
#   - they fall back after the step down: below the peak, to at most half of it, and no
#     decrease comes sooner than downscale_delay_ms after the previous change (stabilisation);
#   - the kernel's quota always follows the replica's millicores (one sample of lag allowed);
#   - the worker's pid never changes (pure vertical changes are in place);
#   - >= 99% of the requests sent outside the 2 intervals after each step are answered within
#     their SLO (sponge-load --csv: send time and within-budget flag per request).
# The plan holds the peak for about 20 s after the step down by design: the forecast plans for
# the maximum of the last 20 s (IPA's setting, optimizer/forecast.c), then the stabilisation.
#
# eBPF is off here: on a shared machine other processes' load would be (rightly) seen as
# contention and cap the plan; agent.control-contention tests that part.
# Usage: control-step.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/control-lib.sh"
control_init step 18830 "$@"

INTERVAL_MS=1000
DELAY_MS=3000
LOW=${CTL_LOW:-2} HIGH=${CTL_HIGH:-12}
LOW1_S=8 HIGH_S=8 LOW2_S=28
SLO_MS=1000
if [ "$AGENT_SANITIZED" = 1 ]; then
        # The sanitized worker is ~10x slower (profiles scaled by CTL_SCALE): fewer requests,
        # a looser SLO.
        LOW=1 HIGH=4 SLO_MS=5000
fi
agent_config "\"control\": true, \"ebpf\": false, \"interval_ms\": $INTERVAL_MS,
        \"downscale_delay_ms\": $DELAY_MS, \"millicores\": 2000, \"log_level\": \"info\""
agent_start
ctl_reserve_cpu

P=step
ctl_pipe --name $P --slo-ms $SLO_MS --stage s0:resnet18 --policy vertical \
        --millicores 100,1000,100 --replicas 1,1 --max-batch 8 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"

mkdir -p "$TMP/run"
say "load: $LOW rps for $LOW1_S s, $HIGH rps for $HIGH_S s, $LOW rps for $LOW2_S s (SLO $SLO_MS ms)"
ctl_drive --uniform --pipeline "$P=$LOW:$LOW1_S,$HIGH:$HIGH_S,$LOW:$LOW2_S=$SLO_MS" --out "$TMP/run" \
        --tail 0.5 || fail "load generator failed: $(cat "$TMP/run/$P.load.err")"
say "sponge-load: $(tail -n1 "$TMP/run/$P.load.out")"

"$PY" - "$CTLTOOL" "$TMP/run" "$P" "$INTERVAL_MS" "$DELAY_MS" "$LOW1_S" "$HIGH_S" <<'EOF' ||
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ctltool", sys.argv[1])
ct = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ct)
d, P = sys.argv[2], sys.argv[3]
interval, delay = float(sys.argv[4]) / 1000, float(sys.argv[5]) / 1000
low1, high = float(sys.argv[6]), float(sys.argv[7])
head, samples = ct.load_timeline(d)
t0 = head["starts"][P]
up, down = t0 + low1, t0 + low1 + high
tl = ct.stage_series(samples, P, 0, t0)
ct.print_series(tl, "%s/s0" % P)
ok = True

def bad(msg):
    global ok
    ok = False
    print("FAIL: " + msg)

# plan before the step up: what is in force at the step
before = [x for x in tl if x["t"] <= low1]
if not before:
    bad("no sample before the step up")
    sys.exit(1)
mc_before = before[-1]["mc"]
# rise: the first sample after the step with more millicores than at the step
rise = next((x for x in tl if x["t"] > low1 and x["mc"] > mc_before), None)
peak = max(x["mc"] for x in tl if low1 < x["t"] <= low1 + high + 1)
if rise is None:
    bad("the plan never rose above %d millicores after the step up" % mc_before)
else:
    r = rise["t"] - low1
    print("step up at %.1f s: plan %d -> %d millicores after %.2f s (%.2f intervals); peak %d"
          % (low1, mc_before, rise["mc"], r, r / interval, peak))
    if r > 2 * interval + 0.25:  # one sampling period of slack
        bad("the plan rose %.2f s after the step up (> 2 intervals of %.1f s)" % (r, interval))
    k = next((x for x in tl if x["t"] > low1 and x["kernel"] is not None
              and x["kernel"] > mc_before), None)
    if k is None or k["t"] - low1 > 2 * interval + 0.25:
        bad("the kernel's quota did not rise within 2 intervals of the step up (%s)"
            % (None if k is None else "%.2f s" % (k["t"] - low1)))
    else:
        print("kernel quota %d millicores %.2f s after the step up" % (k["kernel"], k["t"] - low1))
# fall back: after the step down the plan ends below the peak, at most half of it
last = tl[-1]
fall = next((x for x in tl if x["t"] > low1 + high and x["mc"] <= peak / 2), None)
if last["mc"] >= peak or last["mc"] > peak / 2 or fall is None:
    bad("after the step down the plan did not fall back: %d millicores at the end, peak %d"
        % (last["mc"], peak))
else:
    print("step down at %.1f s: plan at <= half the peak (%d) after %.1f s, %d at the end"
          % (low1 + high, fall["mc"], fall["t"] - (low1 + high), last["mc"]))
    if last["kernel"] != last["mc"]:
        bad("kernel quota %s at the end, plan %d" % (last["kernel"], last["mc"]))
# stabilisation: a decrease comes >= delay after the previous change
changes = [(tl[i]["t"], tl[i - 1]["mc"], tl[i]["mc"]) for i in range(1, len(tl))
           if tl[i]["mc"] != tl[i - 1]["mc"]]
print("plan changes (t, from, to): " + ", ".join("(%.1f, %d, %d)" % c for c in changes))
for i, (t, a, b) in enumerate(changes):
    if b < a and i > 0 and t - changes[i - 1][0] < delay - 0.25:
        bad("decrease %d -> %d at %.1f s only %.2f s after the previous change (delay %.1f s)"
            % (a, b, t, t - changes[i - 1][0], delay))
# the kernel follows the replica's millicores (one sample of lag), the pid never changes
pids = sorted(set(p for x in tl for p in x["pids"]))
if len(pids) != 1 or any(len(x["pids"]) != 1 for x in tl):
    bad("replica pids changed or replicas came and went: %s" % pids)
else:
    print("one worker pid throughout: %d" % pids[0])
for i, x in enumerate(tl):
    if x["kernel"] != x["rep_mc"] and not (i + 1 < len(tl) and tl[i + 1]["kernel"] == tl[i + 1]["rep_mc"]):
        bad("at %.1f s the kernel's quota is %s, the replica's millicores %s"
            % (x["t"], x["kernel"], x["rep_mc"]))
        break
# attainment outside the 2 intervals after each step (the first request is the step 0 -> low)
rows = ct.load_csv("%s/%s.csv" % (d, P))
excl = [(0.0, 2 * interval), (low1, low1 + 2 * interval), (low1 + high, low1 + high + 2 * interval)]
kept = [r for r in rows if not any(a <= r["t"] < b for a, b in excl)]
within = sum(1 for r in kept if r["within"])
att = 100.0 * within / len(kept) if kept else 0.0
print("attainment outside the step windows: %d/%d = %.2f%% (all requests: %.2f%%)"
      % (within, len(kept), att, 100.0 * sum(r["within"] for r in rows) / max(1, len(rows))))
if not kept or att < 99.0:
    worst = [r for r in kept if not r["within"]][:10]
    bad("attainment %.2f%% < 99%% outside the step windows; first misses: %s" % (att, worst))
sys.exit(0 if ok else 1)
EOF
        fail "control loop did not follow the step (figures above)"

agent_finish
