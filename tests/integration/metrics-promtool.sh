#!/usr/bin/env bash
# metrics.promtool — GET /metrics is clean under `promtool check metrics` (zero findings: HELP and
# TYPE for every family, families not split, counters _total, histograms complete, base units)
# after traffic on two pipelines, a worker killed and restarted, and a variant switch there and
# back; the number of series stays bounded (the same after a second round of switches and
# restarts: replica labels are indexes 0..n-1, not ids that grow); the new families are there and
# move (items by variant, plan changes by kind, core-seconds, solve histogram, process_*).
# Usage: metrics-promtool.sh [BINARY_DIR [SOURCE_DIR]]
AGENT_PORTS=18930-18949
source "$(dirname "$0")/lib-agent.sh"
agent_init metrics.promtool 18930 "$@"
command -v promtool >/dev/null || skip "promtool is not installed (tests/setup.sh: prometheus)"
agent_config '"control": false'
agent_start

A=ma B=mb
mkpipe --name $A --stage s0:resnet18,resnet34 --stage s1:echo --millicores 100,2000,100 \
        --replicas 1,2 >"$TMP/$A.json"
mkpipe --name $B --stage only:echo --millicores 100,1000,100 --replicas 1,2 >"$TMP/$B.json"
apply_pipeline "$TMP/$A.json"
apply_pipeline "$TMP/$B.json"
pin $A resnet18:2:500:1 echo:1:200:1
pin $B echo:1:200:1
wait_ready $A 30 || die "pipeline $A never became ready"
wait_ready $B 30 || die "pipeline $B never became ready"

load_start la --pipeline $A --count 100000 --concurrency 2 --pause-ms 20 --timeout 60 \
        --stop-file "$TMP/stop"
load_start lb --pipeline $B --count 100000 --concurrency 2 --pause-ms 20 --timeout 60 \
        --stop-file "$TMP/stop"

# scrape NAME — GET /metrics into $TMP/NAME.prom; promtool must print nothing and exit 0.
scrape() {
        curl -sf -m 10 -o "$TMP/$1.prom" "$URL/metrics" || {
                fail "GET /metrics failed ($1)"
                return 1
        }
        if ! promtool check metrics <"$TMP/$1.prom" >"$TMP/$1.promtool" 2>&1 ||
                [ -s "$TMP/$1.promtool" ]; then
                fail "promtool check metrics ($1): $(head -n 20 "$TMP/$1.promtool")"
                return 1
        fi
        pass "promtool check metrics ($1): clean, $(series "$1") series"
}
series() { grep -vc '^#' "$TMP/$1.prom"; }
val() { "$PY" "$PYTOOL" metric "$2" <"$TMP/$1.prom"; }
ok_count() { sget "$1" 'j["answered"]["ok"]'; }
answered_some() { [ "$(ok_count "$1")" -ge "$2" ] 2>/dev/null; }

# round N — a worker of A killed (restarted), A switched to resnet34 and back, under load.
round() {
        local pid
        pid=$(sget $A 'j["stages"][0]["replica_list"][0]["pid"]')
        kill -KILL "$pid" || die "cannot kill worker $pid"
        wait_until 30 "worker of $A/s0 restarted" all_ready $A
        pin $A resnet34:2:500:1 echo:1:300:1
        wait_until 30 "$A/s0 on resnet34" all_ready $A
        wait_until 30 "answers on resnet34" answered_some $A $(($(ok_count $A) + 10))
        pin $A resnet18:2:400:1 echo:1:200:1
        wait_until 30 "$A/s0 back on resnet18" all_ready $A
        wait_until 30 "answers after round $1" answered_some $A $(($(ok_count $A) + 10))
}

wait_until 30 "first answers on $A" answered_some $A 10
wait_until 30 "first answers on $B" answered_some $B 10
scrape start
round 1
scrape round1
round 2
scrape round2
touch "$TMP/stop"
load_wait la 60
load_wait lb 60
scrape end

[ "$(series round1)" = "$(series round2)" ] ||
        fail "series grew from $(series round1) to $(series round2) after a second round of restarts and switches: $(diff <(grep -v '^#' "$TMP/round1.prom" | sed 's/ [^ ]*$//') <(grep -v '^#' "$TMP/round2.prom" | sed 's/ [^ ]*$//') | head)"
# Replica labels are indexes; the replica of A/s0 restarted twice and was replaced four times
# and is still replica "0".
grep -q "^sponged_replica_cpu_seconds_total{pipeline=\"$A\",stage=\"s0\",replica=\"0\",variant=\"resnet18\"}" "$TMP/end.prom" ||
        fail "no replica=\"0\" series for $A/s0"
grep -Eq '^sponged_replica_[a-z_]+\{[^}]*replica="([2-9]|[0-9]{2,})"' "$TMP/end.prom" &&
        fail "replica index beyond the plan's replicas: $(grep -E 'replica="([2-9]|[0-9]{2,})"' "$TMP/end.prom" | head -n 2)"
# The families the issue asks for, with values that moved.
for s in "sponged_stage_items_total{pipeline=\"$A\",stage=\"s0\",variant=\"resnet18\"}" \
        "sponged_stage_items_total{pipeline=\"$A\",stage=\"s0\",variant=\"resnet34\"}" \
        "sponged_stage_batches_total{pipeline=\"$B\",stage=\"only\",variant=\"echo\"}" \
        "sponged_plan_changes_total{kind=\"variant\"}" "sponged_plan_changes_total{kind=\"cores\"}" \
        "sponged_stage_core_seconds_allocated_total{pipeline=\"$A\",stage=\"s0\"}" \
        "sponged_stage_cpu_used_seconds_total{pipeline=\"$A\",stage=\"s0\"}" \
        "sponged_accuracy_weighted_requests_total{pipeline=\"$A\"}" \
        "sponged_replica_restarts_total" "sponged_plan_updates_total" "process_cpu_seconds_total" \
        "process_resident_memory_bytes" \
        "process_open_fds" "sponged_request_duration_seconds_count{pipeline=\"$B\"}"; do
        v=$(val end "$s")
        [ -n "$v" ] && "$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$v" ||
                fail "$s = \"$v\", expected > 0"
done
[ "$(val end "sponged_plan_changes_total{kind=\"variant\"}")" -ge 4 ] ||
        fail "variant changes counted: $(val end "sponged_plan_changes_total{kind=\"variant\"}") (4 switches of $A/s0)"
[ "$(val end "sponged_stage_variant_active{pipeline=\"$A\",stage=\"s0\",variant=\"resnet18\"}")" = 1 ] &&
        [ "$(val end "sponged_stage_variant_active{pipeline=\"$A\",stage=\"s0\",variant=\"resnet34\"}")" = 0 ] ||
        fail "sponged_stage_variant_active does not show resnet18 as the variant in force"
grep -q '^sponged_build_info{version="[0-9.]*"} 1$' "$TMP/end.prom" || fail "no sponged_build_info"
# Counters did not go backwards across the rounds (the stage CPU counter survives replacements).
"$PY" - "$TMP/start.prom" "$TMP/round1.prom" "$TMP/round2.prom" "$TMP/end.prom" <<'PYEOF' || fail "a counter went backwards"
import sys
def load(p):
    types, vals = {}, {}
    for line in open(p):
        if line.startswith("# TYPE "):
            _, _, name, t = line.split()
            types[name] = t
        elif not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return types, vals
prev = None
bad = 0
for p in sys.argv[1:]:
    types, vals = load(p)
    if prev:
        for k, v in vals.items():
            fam = k.split("{")[0]
            if types.get(fam) == "counter" and fam.startswith("sponged_") and \
                    not fam.startswith("sponged_replica_") and k in prev and v < prev[k]:
                print("%s: %s from %g to %g" % (p, k, prev[k], v), file=sys.stderr)
                bad += 1
    prev = vals
sys.exit(1 if bad else 0)
PYEOF
agent_finish
