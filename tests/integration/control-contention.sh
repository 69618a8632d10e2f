#!/usr/bin/env bash
# agent.control-contention — with a CPU hog on the same cores the control loop sees contention
# (eBPF run-queue delay), plans with the reduced usable capacity and does not raise the stage's
# cores above it; with eBPF off the agent runs and says so (issue 12).
#
# Part 1, eBPF on. One stage (resnet18 of the flops worker, measured profile, policy vertical:
# one replica, 100-2000 millicores), 20 evenly spaced requests/s, SLO 500 ms. After HOG_AT s a
# hog starts: busy loops (`yes`), two pinned to each CPU with taskset, in their own cgroup with
# 10x the default CPU weight (v1 cpu.shares 10240 / v2 cpu.weight 1000), so the worker waits
# in the run queue although its quota is far from used. At HOG_END s the hog stops. On the
# timeline sampled every 0.2 s:
#   - while the hog runs, GET /v1/node says contended: true with millicores_usable <
#     millicores_total, and the stage's contention says contended with wait_share >= 0.2;
#   - in every sample where the node is contended, the plans' millicores (all pipelines) are
#     <= millicores_usable of that sample or of the next one (the status is read in two GETs,
#     a tick may fall between them): the stage's cores are never raised above what the
#     contended capacity allows;
#   - figures printed: run-queue p50/p99, wait share, slowdown, usable capacity, plan.
# Part 2, eBPF off ("ebpf": false), hog still running: sponged starts, GET /v1/node says
# ebpf "off (...)" and never contended, the pipeline answers requests.
# Usage: control-contention.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/control-lib.sh"
control_init contention 18838 "$@"

INTERVAL_MS=1000
RATE=20 SLO_MS=500
HOG_AT=6 HOG_END=20 TOTAL_S=24
if [ "$AGENT_SANITIZED" = 1 ]; then
        RATE=3 SLO_MS=3000
fi
HOG_CG=$CG_MOUNT/sponged-ctl-hog-$$
HOG_PIDS=()

# ctl_hog_start — two busy loops per CPU, pinned, in $HOG_CG with a high CPU weight; each
# bounded by timeout(1) so nothing outlives the test even if it is killed.
ctl_hog_start() {
        local cpu i
        mkdir -p "$HOG_CG" || die "cannot create $HOG_CG"
        if [ "$CG_VERSION" = v1 ]; then
                echo 10240 >"$HOG_CG/cpu.shares"
        else
                echo 1000 >"$HOG_CG/cpu.weight"
        fi
        for cpu in $(seq 0 $(($(nproc) - 1))); do
                for i in 1 2; do
                        # shellcheck disable=SC2016 # $$ is the inner shell's pid
                        bash -c 'echo $$ >"$1/cgroup.procs" && exec taskset -c "$2" timeout 90 yes' \
                                hog "$HOG_CG" "$cpu" >/dev/null &
                        HOG_PIDS+=("$!")
                done
        done
        sleep 0.2
        say "hog: ${#HOG_PIDS[@]} busy loops (pids ${HOG_PIDS[*]}) in $HOG_CG: $(tr '\n' ' ' <"$HOG_CG/cgroup.procs")"
}

ctl_hog_stop() {
        local pid
        for pid in "${HOG_PIDS[@]}"; do
                kill -TERM "$pid" 2>/dev/null
        done
        for pid in "${HOG_PIDS[@]}"; do
                wait "$pid" 2>/dev/null
        done
        HOG_PIDS=()
        if [ -d "$HOG_CG" ]; then
                for _ in $(seq 50); do
                        rmdir "$HOG_CG" 2>/dev/null && break
                        sleep 0.1
                done
                [ -d "$HOG_CG" ] && fail "hog cgroup $HOG_CG left behind"
        fi
        return 0
}
# The hog goes before lib-agent's checks for leftovers; the exit status is kept for them.
ctl_exit() {
        local rc=$?
        ctl_hog_stop
        (exit "$rc")
        agent_cleanup
}
trap ctl_exit EXIT

agent_config "\"control\": true, \"ebpf\": true, \"interval_ms\": $INTERVAL_MS,
        \"downscale_delay_ms\": 3000, \"millicores\": 2000, \"log_level\": \"info\""
agent_start
http GET /v1/node
ebpf=$(jget "$TMP/resp.body" 'j["ebpf"]')
case $ebpf in
on*) say "eBPF: $ebpf" ;;
*) skip "sponged cannot load its eBPF programs here ($ebpf): contention cannot be seen" ;;
esac

P=cont
ctl_pipe --name $P --slo-ms $SLO_MS --stage s0:resnet18 --policy vertical \
        --millicores 100,2000,100 --replicas 1,1 --max-batch 8 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"

mkdir -p "$TMP/run"
say "load: $RATE rps for $TOTAL_S s (SLO $SLO_MS ms); hog from $HOG_AT s to $HOG_END s"
ctl_drive --uniform --pipeline "$P=$RATE:$TOTAL_S=$SLO_MS" --out "$TMP/run" --tail 0.5 &
DRIVE=$!
sleep "$HOG_AT"
ctl_hog_start
sleep $((HOG_END - HOG_AT))
ctl_hog_stop
wait "$DRIVE" || fail "load generator failed: $(cat "$TMP/run/$P.load.err")"
say "sponge-load: $(tail -n1 "$TMP/run/$P.load.out" | cut -c1-200)"

"$PY" - "$CTLTOOL" "$TMP/run" "$P" "$HOG_AT" "$HOG_END" <<'EOF' ||
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ctltool", sys.argv[1])
ct = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ct)
d, P = sys.argv[2], sys.argv[3]
hog_at, hog_end = float(sys.argv[4]), float(sys.argv[5])
head, samples = ct.load_timeline(d)
t0 = head["starts"][P]
tl = ct.stage_series(samples, P, 0, t0)
ct.print_series(tl, "%s/s0" % P)
ok = True

def bad(msg):
    global ok
    ok = False
    print("FAIL: " + msg)

hog = [x for x in tl if hog_at + 1 < x["t"] <= hog_end]
node_c = [x for x in hog if x["node"].get("contended")
          and x["node"]["millicores_usable"] < x["node"]["millicores_total"]]
stage_c = [x for x in hog if x["contention"]["contended"] and x["contention"]["wait_share"] >= 0.2]
if hog:
    c = [x["contention"] for x in hog]
    print("with the hog: run-queue p50 max %.2f ms, p99 max %.2f ms, wait share max %.2f, "
          "slowdown max %.2f, usable min %d of %d millicores"
          % (max(y["runqueue_p50_ms"] for y in c), max(y["runqueue_p99_ms"] for y in c),
             max(y["wait_share"] for y in c), max(y["slowdown"] for y in c),
             min(x["node"]["millicores_usable"] for x in hog), hog[0]["node"]["millicores_total"]))
pre = [x for x in tl if x["t"] <= hog_at]
if pre:
    c = [x["contention"] for x in pre]
    print("before the hog: run-queue p50 max %.2f ms, wait share max %.2f, contended in %d of %d"
          " samples" % (max(y["runqueue_p50_ms"] for y in c), max(y["wait_share"] for y in c),
                        sum(1 for x in pre if x["node"].get("contended")), len(pre)))
print("contended samples while the hog ran: node %d, stage %d, of %d"
      % (len(node_c), len(stage_c), len(hog)))
if not node_c:
    bad("GET /v1/node never said contended with millicores_usable < total while the hog ran")
if not stage_c:
    bad("the stage was never reported contended (wait_share >= 0.2) while the hog ran")
# the plans never exceed the usable capacity while contended
over = []
for i, x in enumerate(tl):
    n = x["node"]
    if not n.get("contended"):
        continue
    lim = n["millicores_usable"]
    if i + 1 < len(tl) and tl[i + 1]["node"].get("millicores_usable") is not None:
        lim = max(lim, tl[i + 1]["node"]["millicores_usable"])
    if x["mc"] > lim:
        over.append((round(x["t"], 1), x["mc"], n["millicores_usable"], x["control"]["reason"]))
if over:
    bad("plan above the contended usable capacity (t, plan, usable, reason): %s" % over[:8])
else:
    print("in every contended sample the plan was within the usable capacity")
sys.exit(0 if ok else 1)
EOF
        fail "contention was not handled as required (figures above)"

# Part 2: eBPF off, hog on again — the agent runs and says eBPF is off.
agent_stop 20 || fail "sponged did not stop within 20 s"
[ "${AGENT_EXIT:-}" = 0 ] || fail "sponged exited with status ${AGENT_EXIT:-?} (expected 0)"
agent_config "\"control\": true, \"ebpf\": false, \"interval_ms\": $INTERVAL_MS,
        \"millicores\": 2000, \"log_level\": \"info\""
agent_start
ctl_hog_start
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || fail "pipeline $P never became ready with eBPF off"
for i in 1 2 3; do
        http POST /v1/pipelines/$P/infer --data-binary "req-$i"
        expect_status 200 "infer with eBPF off"
        sleep 0.7
done
http GET /v1/node
expect_status 200 "GET /v1/node with eBPF off"
say "eBPF off: ebpf \"$(jget "$TMP/resp.body" 'j["ebpf"]')\", contended $(jget "$TMP/resp.body" 'j["contended"]'), usable $(jget "$TMP/resp.body" 'j["millicores_usable"]')/$(jget "$TMP/resp.body" 'j["millicores_total"]'), iterations $(jget "$TMP/resp.body" 'j["control_loop"]["iterations"]')"
[ "$(jget "$TMP/resp.body" 'j["ebpf"].startswith("off")')" = True ] ||
        fail "with \"ebpf\": false GET /v1/node says ebpf \"$(jget "$TMP/resp.body" 'j["ebpf"]')\""
[ "$(jget "$TMP/resp.body" 'j["contended"] is False and j["millicores_usable"] == j["millicores_total"]')" = True ] ||
        fail "with eBPF off the node should not claim contention: $(cat "$TMP/resp.body")"
[ "$(jget "$TMP/resp.body" 'j["control_loop"]["iterations"] >= 1')" = True ] ||
        fail "the control loop did not run with eBPF off"
grep -q "eBPF" "$LOG" || true
ctl_hog_stop
agent_finish
