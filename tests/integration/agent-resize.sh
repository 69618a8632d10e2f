#!/usr/bin/env bash
# agent.resize — in-place CPU resize: pin 300, then 1200, then 300 millicores on a one-stage
# pipeline; the kernel's limit file of the replica's cgroup follows (v1 cpu.cfs_quota_us /
# cpu.cfs_period_us, v2 cpu.max) while the worker process stays the same (same pid, same start
# time), stays in its cgroup, is told its new thread count, and keeps serving.
# Usage: agent-resize.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
agent_init agent.resize 18771 "$@"
agent_config '"control": false'
agent_start

P=resize
mkpipe --name $P --stage s0:resnet18 --millicores 100,2000,100 --replicas 1,2 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"

# The limit in force, read from the kernel: "QUOTA PERIOD" (QUOTA "max" when unlimited).
cg_limit() {
        if [ "$CG_VERSION" = v1 ]; then
                echo "$(cat "$1/cpu.cfs_quota_us") $(cat "$1/cpu.cfs_period_us")"
        else
                cat "$1/cpu.max"
        fi
}
proc_start() { awk '{print $22}' "/proc/$1/stat"; } # start time in clock ticks since boot

status_of $P || die "GET /v1/pipelines/$P failed"
PID=$(jget "$TMP/status.json" 'j["stages"][0]["replica_list"][0]["pid"]')
CG=$(jget "$TMP/status.json" 'j["stages"][0]["replica_list"][0]["cgroup"]')
START=$(proc_start "$PID")
say "worker pid $PID in $CG"
case $CG in
"$CG_ROOT"/$P/s0/*) ;;
*) die "replica cgroup $CG is not below $CG_ROOT/$P/s0/" ;;
esac
[ -d "$CG" ] || die "replica cgroup $CG does not exist in the kernel"
[ "$(cg_limit "$CG")" = "200000 100000" ] ||
        fail "initial plan (2000 millicores): limit \"$(cg_limit "$CG")\", expected \"200000 100000\""

resizes0=$(metric sponged_resizes_total)
n=0
for step in 300:30000:1 1200:120000:2 300:30000:1; do
        mc=${step%%:*} rest=${step#*:}
        quota=${rest%%:*} threads=${rest#*:}
        pin $P "resnet18:1:$mc:1" || continue
        n=$((n + 1))
        # The write is synchronous in the PUT handler: the limit is in force when it answers.
        [ "$(cg_limit "$CG")" = "$quota 100000" ] ||
                fail "$mc millicores: $CG limit \"$(cg_limit "$CG")\", expected \"$quota 100000\""
        status_of $P || fail "GET /v1/pipelines/$P after the resize"
        [ "$(jget "$TMP/status.json" "[(r['pid'], r['cgroup'], r['millicores'], r['threads'], r['state']) for r in j['stages'][0]['replica_list']] == [($PID, '$CG', $mc, $threads, 'ready')]")" = True ] ||
                fail "$mc millicores: replica list $(jget "$TMP/status.json" 'j["stages"][0]["replica_list"]') (expected the same pid $PID, $mc millicores, $threads threads)"
        [ -d "/proc/$PID" ] && [ "$(proc_start "$PID")" = "$START" ] ||
                fail "$mc millicores: worker $PID was replaced (pid gone or start time changed)"
        grep -qx "$PID" "$CG/cgroup.procs" || fail "$mc millicores: worker $PID no longer in $CG"
        [ "$(jget "$TMP/status.json" 'j["stages"][0]["plan"]["millicores"]')" = "$mc" ] ||
                fail "$mc millicores: plan shows $(jget "$TMP/status.json" 'j["stages"][0]["plan"]')"
        http POST /v1/pipelines/$P/infer --data-binary "after-$mc"
        expect_status 200 "infer at $mc millicores"
done
# The node's allocation and the resize counter follow.
http GET /v1/node
[ "$(jget "$TMP/resp.body" 'j["millicores_allocated"]')" = 300 ] ||
        fail "GET /v1/node: millicores_allocated is not 300: $(cat "$TMP/resp.body")"
resizes1=$(metric sponged_resizes_total)
[ "$((resizes1 - resizes0))" -eq "$n" ] ||
        fail "sponged_resizes_total went from $resizes0 to $resizes1 over $n resizes"
# The same plan again is no resize.
pin $P "resnet18:1:300:1"
[ "$(metric sponged_resizes_total)" = "$resizes1" ] || fail "re-pinning the same plan resized again"

# The quota really throttles: at 300 millicores the worker's cgroup may use at most 0.3 CPU.
# Over a burst of requests, compare cpuacct usage with the wall time (a counter, not a clock:
# busy machine or not, usage can only be lower than quota x time).
if [ "$CG_VERSION" = v1 ]; then
        ACCT=${CG_ACCT_ROOT:-$CG_ROOT}${CG#"$CG_ROOT"}
        usage() { cat "$ACCT/cpuacct.usage"; }
else
        usage() { awk '$1 == "usage_usec" {print $2 * 1000}' "$CG/cpu.stat"; }
fi
if [ -r "$ACCT/cpuacct.usage" ] || [ "$CG_VERSION" = v2 ]; then
        # Keep the worker saturated (4 clients, batches of 2) and measure over 2 s while it is.
        pin $P "resnet18:2:300:1"
        load_start burst --pipeline $P --count 10000 --concurrency 4 --timeout 60 \
                --stop-file "$TMP/stop-burst"
        sleep 1
        u0=$(usage)
        t0=$(date +%s%N)
        sleep 2
        u1=$(usage)
        t1=$(date +%s%N)
        touch "$TMP/stop-burst"
        load_wait burst 60
        [ "$(lget burst 'j["sent"] > 0 and j["by_status"] == {"200": j["sent"]}')" = True ] ||
                fail "burst at 300 millicores: $(cat "$TMP/burst.summary")"
        "$PY" - "$u0" "$u1" "$t0" "$t1" <<'EOF' || fail "usage above the 300-millicore quota"
import sys
u0, u1, t0, t1 = (int(x) for x in sys.argv[1:])
used, wall = (u1 - u0) / 1e9, (t1 - t0) / 1e9
print("agent.resize: %.3f CPU-s used in %.3f s at 300 millicores (%.2f cores)" % (used, wall, used / wall), file=sys.stderr)
# 0.3 cores, plus a period of slack at either end of the window
sys.exit(0 if 0 < used <= 0.3 * wall + 0.06 else 1)
EOF
else
        fail "no cpu usage counter for $CG"
fi

agent_finish
