#!/usr/bin/env bash
# bench-soak — sponged under a long real load while its workers die and its pipeline is replaced:
# every request must get exactly one answer and the agent must not grow (fds, memory).
#
#   sudo nice bash tests/bench/bench-soak.sh [BUILD_DIR [SOURCE_DIR]] [OPTIONS]   (~11 min)
#   --duration S     seconds of load (default 600)
#   --start I        first line of the Twitter trace (default 1768800, IPA's steady-high slice)
#   --scale F        trace rate multiplier (default 0.05: ~10 req/s on this 2-core machine)
#   --kill-every S   SIGKILL one worker every S seconds (default 30)
#   --put-every S    PUT the pipeline again every S seconds, alternating two versions that
#                    differ in the classify variant's environment, so its workers are
#                    replaced (default 60)
#   --rss-slack-mib M  allowed VmRSS growth of the agent, idle before vs idle after (default 8)
#   --max-wait-ms W  the node's max_batch_wait_ms (default 50, a cap on a batch's wait for
#                    batch-mates; sponged's own default is 1000)
#   --smoke          CI: 30 s, a kill every 8 s, a PUT every 12 s, port +1
#
# Set-up (tests/integration/lib-agent.sh: the real sponged on its own port 18860 (+
# SPONGE_TEST_PORT_OFFSET), cgroup root and pipelines directory): pipeline "soak" with two
# stages, pre (sponge-worker-echo) → classify (sponge-worker-flops resnet18), policy static,
# 2 replicas per stage, SLO 1000 ms; control loop off so the replica count (and the agent's fd
# count) is fixed. Load: sponge-load replaying the trace (Poisson within each second). A 10 s
# warm-up load first; then, idle and every replica ready, the agent's VmRSS and open fds
# ("before"); the soak; then, idle and ready again, the same ("after").
# Checks: sent = answered, no transport errors or timeouts (each request got exactly one HTTP
# answer, within sponge-load's 30 s per request); no request live in the agent at the end; fds after = fds before; RSS growth within
# the slack; sponged exits 0 on SIGTERM leaving no process or cgroup behind.
# Output: progress on stderr; the last stdout line is one JSON object. Exit 0 pass, 1 fail,
# 77 cannot run here (not root, no cgroup cpu controller, binaries missing).
set -u
src_default=$(cd "$(dirname "$0")/../.." && pwd)
duration=600 start=1768800 scale=0.05 kill_every=30 put_every=60 rss_slack=8 max_wait=50
smoke=0 port=18860
pos=()
while [ $# -gt 0 ]; do
        case $1 in
        --duration) duration=$2; shift ;;
        --start) start=$2; shift ;;
        --scale) scale=$2; shift ;;
        --kill-every) kill_every=$2; shift ;;
        --put-every) put_every=$2; shift ;;
        --rss-slack-mib) rss_slack=$2; shift ;;
        --max-wait-ms) max_wait=$2; shift ;;
        --smoke) smoke=1 duration=30 kill_every=8 put_every=12 port=18861 ;;
        -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
        -*) echo "bench-soak: unknown option $1" >&2; exit 2 ;;
        *) pos+=("$1") ;;
        esac
        shift
done
for n in "$duration" "$kill_every" "$put_every" "$rss_slack" "$start" "$max_wait"; do
        case $n in '' | *[!0-9]*) echo "bench-soak: expected a whole number, got '$n'" >&2; exit 2 ;; esac
done
trace=${SPONGE_SHARED_DATA:-$src_default/../shared/data}/twitter-2018-04-rps.txt.gz

AGENT_PORTS=18860-18861
AGENT_TOOLS=sponge-load
AGENT_CG_NAME=sponged-soak-$$
# shellcheck source=../integration/lib-agent.sh
source "$src_default/tests/integration/lib-agent.sh"
agent_init bench.soak "$port" "${pos[@]}"
# Sanitizer builds: the flops worker is ~10x slower, so a tenth of the load; ASan's quarantine
# and shadow memory make VmRSS meaningless, so its growth is reported but not judged.
rss_judged=1
if [ "$AGENT_SANITIZED" = 1 ]; then
        scale=$("$PY" -c "import sys; print(float(sys.argv[1]) / 10)" "$scale")
        rss_judged=0
fi
[ -r "$trace" ] || skip "the Twitter trace $trace is not there"

# ---- the agent and its pipeline --------------------------------------------------------------

agent_config "\"control\": false, \"restart_backoff_max_ms\": 500, \"max_batch_wait_ms\": $max_wait"
agent_start

# pipeline_version GEN — the soak pipeline; GEN changes the classify variant's environment.
pipeline_version() {
        mkpipe --name soak --slo-ms 1000 --policy static --max-batch 8 --replicas 1,2 \
                --millicores 250,1000,250 --stage pre:echo --stage classify:resnet18 \
                --plan echo:8:250:2 --plan resnet18:4:500:2 >"$TMP/pipeline.json" || die "mkpipe"
        "$PY" - "$TMP/pipeline.json" "$1" <<'EOF' || die "cannot write the pipeline version"
import json, sys
p = json.load(open(sys.argv[1]))
p["stages"][1]["variants"][0]["env"]["SOAK_GEN"] = sys.argv[2]
json.dump(p, open(sys.argv[1], "w"), indent=2)
EOF
}

pipeline_version 0
apply_pipeline "$TMP/pipeline.json"
wait_ready soak 60 || die "the soak pipeline never became ready"

agent_fds() { find "/proc/$SPONGED_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
agent_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SPONGED_PID/status"; }
worker_pids() { sget soak '" ".join(str(r["pid"]) for s in j["stages"] for r in s["replica_list"] if r["state"] == "ready" and r["pid"] > 0)'; }

# idle_ready SECONDS — waits until no request is live and every replica is ready (bounded).
idle_ready() {
        wait_until "$1" "no request live in the agent" live_is_zero &&
                wait_ready soak "$1"
}

# run_load NAME SECONDS — sponge-load on the trace from $start, stdout's last line to NAME.json.
run_load() {
        timeout $(($2 + 60)) "$BIN/sponge-load" --url "$URL/v1/pipelines/soak/infer" \
                --trace "$trace" --start "$start" --length "$2" --scale "$scale" --slo-ms 1000 \
                --body-bytes 256 --drain-s 30 --quiet >"$TMP/$1.out" 2>"$TMP/$1.err"
        local st=$?
        tail -n1 "$TMP/$1.out" >"$TMP/$1.json"
        [ "$st" = 0 ] || fail "sponge-load ($1) exited with $st: $(tail -n3 "$TMP/$1.err")"
}

say "warm-up: 10 s of load"
run_load warmup 10
idle_ready 60 || die "not idle and ready after the warm-up"
sleep 2
fds_before=$(agent_fds) rss_before=$(agent_rss_kib)
say "before: $fds_before fds, VmRSS $rss_before KiB"

# ---- the soak ---------------------------------------------------------------------------------

say "soak: ${duration} s of trace line $start x$scale; a worker killed every ${kill_every} s, the pipeline PUT every ${put_every} s"
run_load soak "$duration" &
load_pid=$!
AGENT_BG+=("$load_pid")
t0=$(date +%s)
kills=0 puts=0 put_fail=0 gen=0 rss_max=$rss_before fds_max=$fds_before
next_kill=$kill_every next_put=$put_every next_sample=0
samples=()
while kill -0 "$load_pid" 2>/dev/null; do
        sleep 1
        el=$(($(date +%s) - t0))
        [ "$el" -lt "$duration" ] || continue
        rss=$(agent_rss_kib) fds=$(agent_fds)
        [ "$rss" -gt "$rss_max" ] && rss_max=$rss
        [ "$fds" -gt "$fds_max" ] && fds_max=$fds
        if [ "$el" -ge "$next_kill" ]; then
                next_kill=$((next_kill + kill_every))
                # shellcheck disable=SC2207 # pids are numbers
                pids=($(worker_pids 2>/dev/null))
                if [ ${#pids[@]} -gt 0 ]; then
                        victim=${pids[$((RANDOM % ${#pids[@]}))]}
                        kill -KILL "$victim" 2>/dev/null && kills=$((kills + 1))
                        say "t=${el}s: killed worker $victim (kill $kills)"
                else
                        say "t=${el}s: no ready worker to kill"
                fi
        fi
        if [ "$el" -ge "$next_put" ]; then
                next_put=$((next_put + put_every))
                gen=$((gen + 1))
                pipeline_version "$gen"
                http PUT /v1/pipelines/soak -H 'Content-Type: application/json' \
                        --data-binary "@$TMP/pipeline.json"
                case $HTTP_STATUS in
                200 | 201) puts=$((puts + 1)) ;;
                *)
                        put_fail=$((put_fail + 1))
                        fail "t=${el}s: PUT /v1/pipelines/soak: HTTP $HTTP_STATUS: $(head -c 300 "$TMP/resp.body")"
                        ;;
                esac
                say "t=${el}s: PUT version $gen: HTTP $HTTP_STATUS"
        fi
        if [ "$el" -ge "$next_sample" ]; then
                next_sample=$((next_sample + 30))
                samples+=("[$el,$rss,$fds]")
                say "t=${el}s: agent VmRSS $rss KiB, $fds fds"
        fi
done
wait "$load_pid"
say "load finished; waiting for the agent to be idle and ready"
idle_ready 90 || fail "not idle and ready after the soak"
sleep 2
fds_after=$(agent_fds) rss_after=$(agent_rss_kib)
say "after: $fds_after fds, VmRSS $rss_after KiB"

# ---- checks and the JSON ----------------------------------------------------------------------

restarts=$(sget soak 'sum(r["restarts"] for s in j["stages"] for r in s["replica_list"])' 2>/dev/null)
live=$(requests_live)
result=$("$PY" - <<EOF
import json
try:
    L = json.load(open("$TMP/soak.json"))
except Exception as e:
    L = {}
out = {
    "bench": "soak", "smoke": bool($smoke), "duration_s": $duration, "trace_start": $start,
    "scale": $scale, "kill_every_s": $kill_every, "put_every_s": $put_every,
    "max_batch_wait_ms": $max_wait,
    "sent": L.get("sent"), "answered": L.get("answered"), "not_sent": L.get("not_sent"),
    "errors": L.get("errors"), "timeout": L.get("timeout"), "by_status": L.get("by_status"),
    "attainment_pct": L.get("attainment_pct"), "p50_ms": L.get("p50_ms"),
    "p99_ms": L.get("p99_ms"), "max_ms": L.get("max_ms"), "offered_rps": L.get("offered_rps"),
    "workers_killed": $kills, "puts": $puts, "put_failures": $put_fail,
    "replica_restarts_last_version": ${restarts:-None}, "requests_live_after": ${live:-None},
    "agent_fds_before": $fds_before, "agent_fds_after": $fds_after, "agent_fds_max": $fds_max,
    "agent_rss_kib_before": $rss_before, "agent_rss_kib_after": $rss_after,
    "agent_rss_kib_max": $rss_max, "rss_slack_mib": $rss_slack,
    "rss_judged": bool($rss_judged), "sanitized": bool($AGENT_SANITIZED),
    "samples_t_rss_fds": [$(IFS=,; echo "${samples[*]}")],
}
print(json.dumps(out))
EOF
)
sent=$(jget "$TMP/soak.json" 'j["sent"]' 2>/dev/null)
answered=$(jget "$TMP/soak.json" 'j["answered"]' 2>/dev/null)
errors=$(jget "$TMP/soak.json" 'j["errors"] + j["timeout"]' 2>/dev/null)
[ -n "$sent" ] && [ "$sent" -gt 0 ] || fail "sponge-load sent nothing ($(tail -n2 "$TMP/soak.err"))"
[ "$sent" = "$answered" ] || fail "sent $sent requests, $answered answered"
[ "$errors" = 0 ] || fail "$errors requests ended in a transport error or a timeout"
[ "$live" = 0 ] || fail "$live requests still live in the agent after the soak"
[ "$fds_after" = "$fds_before" ] || fail "agent fds: $fds_before before, $fds_after after"
[ "$rss_judged" = 0 ] || [ $((rss_after - rss_before)) -le $((rss_slack * 1024)) ] ||
        fail "agent VmRSS grew by $(((rss_after - rss_before) / 1024)) MiB (allowed $rss_slack)"
[ "$kills" -ge 1 ] || fail "no worker was killed"
[ "$puts" -ge 1 ] || fail "the pipeline was never PUT again"
say "sent $sent, answered $answered; fds $fds_before -> $fds_after; VmRSS $rss_before -> $rss_after KiB (max $rss_max)"
echo "$result"
agent_finish
