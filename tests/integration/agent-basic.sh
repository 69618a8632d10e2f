#!/usr/bin/env bash
# agent.basic — sponged end to end: start on a temporary node config, validate and apply a
# two-stage flops pipeline with spongectl, serve requests with curl (outputs and timing
# headers checked), read the state (spongectl status/plan/node, GET /v1/pipelines[/P],
# /v1/node, /metrics, the UNIX socket), pin a plan with spongectl, delete the pipeline.
# Usage: agent-basic.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
agent_init agent.basic 18770 "$@"
agent_config '"control": false'
agent_start

P=basic
mkpipe --name $P --slo-ms 20000 --stage s0:resnet18,resnet34 --stage s1:resnet50 \
        --millicores 100,2000,100 --replicas 1,2 >"$TMP/$P.json"

# validate needs no agent; a broken file is refused with its JSON path.
ctl validate "$TMP/$P.json" >"$TMP/validate.out" 2>&1 ||
        fail "spongectl validate rejected a valid file: $(cat "$TMP/validate.out")"
grep -q "valid pipeline \"$P\" (2 stages" "$TMP/validate.out" ||
        fail "spongectl validate output: $(cat "$TMP/validate.out")"
sed 's/"slo_ms": 20000.0/"slo_ms": -1/' "$TMP/$P.json" >"$TMP/bad.json"
if ctl validate "$TMP/bad.json" 2>"$TMP/validate.err"; then
        fail "spongectl validate accepted slo_ms -1"
fi
grep -q 'slo_ms' "$TMP/validate.err" || fail "validate error lacks the path: $(cat "$TMP/validate.err")"
if ctl apply "$TMP/bad.json" 2>"$TMP/apply-bad.err"; then
        fail "spongectl apply of a broken file succeeded"
fi
grep -q 'slo_ms' "$TMP/apply-bad.err" || fail "apply error lacks the path: $(cat "$TMP/apply-bad.err")"

# apply: created (201), persisted in the pipelines directory.
ctl apply "$TMP/$P.json" >"$TMP/apply.out" 2>&1 || die "spongectl apply failed: $(cat "$TMP/apply.out")"
grep -q "applied $P (HTTP 201)" "$TMP/apply.out" || fail "spongectl apply said: $(cat "$TMP/apply.out")"
[ -f "$PIPELINES_DIR/$P.json" ] || fail "applied pipeline not persisted as $PIPELINES_DIR/$P.json"
[ "$(jget "$PIPELINES_DIR/$P.json" 'j["name"]')" = $P ] || fail "persisted file is not pipeline $P"
wait_ready $P 30 || die "pipeline $P never became ready"
# Applying the same file again changes nothing (200, same workers).
pids_before=$(sget $P '[r["pid"] for s in j["stages"] for r in s["replica_list"]]')
ctl apply "$TMP/$P.json" >"$TMP/apply2.out" 2>&1 || fail "second apply failed: $(cat "$TMP/apply2.out")"
grep -q "applied $P (HTTP 200)" "$TMP/apply2.out" || fail "re-apply of the same file: $(cat "$TMP/apply2.out")"
[ "$(sget $P '[r["pid"] for s in j["stages"] for r in s["replica_list"]]')" = "$pids_before" ] ||
        fail "re-applying an unchanged pipeline restarted its workers"

# Requests: 200, the flops output of two stages (input echoed, then an 8-byte checksum per
# stage: 11 + 8 + 8 bytes), timing headers, the variant of each stage.
printf 'hello-itest' >"$TMP/in"
n_ok=0 # requests answered 200, counted as they come
count_ok() { [ "$HTTP_STATUS" = 200 ] && n_ok=$((n_ok + 1)); return 0; }
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/in" -H 'Content-Type: application/octet-stream'
expect_status 200 "infer"
count_ok
cp "$TMP/resp.body" "$TMP/out1"
[ "$(stat -c %s "$TMP/out1")" = 27 ] || fail "output of 2 flops stages: expected 27 bytes, got $(stat -c %s "$TMP/out1")"
[ "$(head -c 11 "$TMP/out1")" = hello-itest ] || fail "output does not start with the input"
[ "$(resp_header X-Sponge-Variants)" = resnet18,resnet50 ] ||
        fail "X-Sponge-Variants: \"$(resp_header X-Sponge-Variants)\", expected resnet18,resnet50"
for h in X-Sponge-Latency-Ms X-Sponge-Queue-Ms; do
        v=$(resp_header $h)
        [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "header $h: \"$v\" is not a number of ms"
done
lat=$(resp_header X-Sponge-Latency-Ms)
q=$(resp_header X-Sponge-Queue-Ms)
"$PY" -c "import sys; sys.exit(0 if 0 <= float('$q') <= float('$lat') < 20000 else 1)" ||
        fail "queue time $q ms not within end-to-end $lat ms"
# The same input gives the same output (the checksum is deterministic), another input another.
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/in"
expect_status 200 "infer again"
count_ok
cmp -s "$TMP/resp.body" "$TMP/out1" || fail "same input, different output"
http POST /v1/pipelines/$P/infer --data-binary 'other-input'
expect_status 200 "infer other"
count_ok
cmp -s "$TMP/resp.body" "$TMP/out1" && fail "different input, same output"
# An empty body is a valid (empty) input: 2 checksums.
http POST /v1/pipelines/$P/infer --data-binary ''
count_ok
expect_status 200 "infer empty" && [ "$(stat -c %s "$TMP/resp.body")" = 16 ] ||
        fail "empty input: expected 16 output bytes, got $(stat -c %s "$TMP/resp.body")"
# With an explicit budget.
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/in" -H 'X-Sponge-Slo-Ms: 15000' -H 'X-Sponge-Network-Ms: 20'
expect_status 200 "infer with SLO headers"
count_ok
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/in" -H 'X-Sponge-Deadline-Ms: 15000'
expect_status 200 "infer with a deadline header"
count_ok
# spongectl infer: stdin in, output out.
if ctl infer $P <"$TMP/in" >"$TMP/out-ctl" 2>"$TMP/infer.err"; then
        n_ok=$((n_ok + 1))
else
        fail "spongectl infer: $(cat "$TMP/infer.err")"
fi
cmp -s "$TMP/out-ctl" "$TMP/out1" || fail "spongectl infer output differs from curl's"
if ctl infer $P 15000 <"$TMP/in" >"$TMP/out-ctl2" 2>"$TMP/infer.err"; then
        n_ok=$((n_ok + 1))
        cmp -s "$TMP/out-ctl2" "$TMP/out1" || fail "spongectl infer with a budget: output differs"
else
        fail "spongectl infer with budget: $(cat "$TMP/infer.err")"
fi
if ctl infer nosuch <"$TMP/in" >/dev/null 2>"$TMP/infer-404.err"; then
        fail "spongectl infer on an unknown pipeline exited 0"
fi
grep -q 'HTTP 404' "$TMP/infer-404.err" || fail "spongectl infer nosuch: $(cat "$TMP/infer-404.err")"

# GET /v1/pipelines/P: the pipeline JSON and its live state.
http GET /v1/pipelines/$P
expect_status 200 "GET /v1/pipelines/$P"
cp "$TMP/resp.body" "$TMP/state.json"
check_state() { # EXPR WHAT
        [ "$(jget "$TMP/state.json" "$1")" = True ] || fail "GET /v1/pipelines/$P: $2 ($(jget "$TMP/state.json" "${3:-j}" | head -c 600))"
}
check_state 'j["name"] == "basic" and j["pinned"] == False and j["retired"] == False' "name/pinned/retired"
check_state 'j["config"]["name"] == "basic" and len(j["config"]["stages"]) == 2' "config echoed"
check_state '[s["name"] for s in j["stages"]] == ["s0", "s1"]' "stage names" 'j["stages"]'
check_state '[s["plan"] for s in j["stages"]] == [{"variant": "resnet18", "batch": 1, "millicores": 2000, "replicas": 1}, {"variant": "resnet50", "batch": 1, "millicores": 2000, "replicas": 1}]' \
        "initial plan (first variant, batch 1, millicores.max, replicas.min)" '[s["plan"] for s in j["stages"]]'
check_state "j[\"accepted\"] == $n_ok and j[\"answered\"][\"ok\"] == $n_ok and j[\"in_flight\"] == 0" \
        "accepted/answered counts ($n_ok ok)" '[j["accepted"], j["answered"], j["in_flight"]]'
check_state 'all(s["batches"] >= 1 and s["items"] == '$n_ok' and s["queue_length"] == 0 for s in j["stages"])' \
        "per-stage batches/items/queue" '[[s["batches"], s["items"], s["queue_length"]] for s in j["stages"]]'
check_state 'all(r["state"] == "ready" and r["pid"] > 0 and r["cgroup"].startswith("'"$CG_ROOT"'/basic/" + s["name"] + "/") for s in j["stages"] for r in s["replica_list"])' \
        "replicas ready in cgroups under $CG_ROOT/basic/STAGE/" '[s["replica_list"] for s in j["stages"]]'
check_state 'all(isinstance(j[k], (int, float)) for k in ("p50_ms", "p99_ms", "slo_attainment_pct", "slo_ms"))' "latency/attainment fields"
check_state 'j["slo_attainment_pct"] == 100.0 and 0 < j["p50_ms"] <= j["p99_ms"] < 20000' "attainment 100% and p50<=p99" '[j["p50_ms"], j["p99_ms"], j["slo_attainment_pct"]]'
# Each replica really runs in its cgroup.
for row in $(jget "$TMP/state.json" '" ".join("%d,%s" % (r["pid"], r["cgroup"]) for s in j["stages"] for r in s["replica_list"])'); do
        pid=${row%%,*} cg=${row#*,}
        grep -qx "$pid" "$cg/cgroup.procs" 2>/dev/null || fail "worker $pid is not in $cg/cgroup.procs"
        tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "ITEST_TAG=$TAG" || fail "worker $pid lacks the variant's env"
done

# GET /v1/pipelines lists it.
http GET /v1/pipelines
expect_status 200 "GET /v1/pipelines" &&
        [ "$(jget "$TMP/resp.body" '[p["name"] for p in j["pipelines"]]')" = '["basic"]' ] ||
        fail "GET /v1/pipelines: $(head -c 300 "$TMP/resp.body")"

# spongectl status: the table shows the plan of each stage.
ctl status >"$TMP/status.out" 2>&1 || fail "spongectl status failed: $(cat "$TMP/status.out")"
grep -Eq "^$P +s0 +resnet18 +1 +2000 +1 " "$TMP/status.out" || fail "status table lacks stage s0's plan: $(cat "$TMP/status.out")"
grep -Eq "^$P +s1 +resnet50 +1 +2000 +1 " "$TMP/status.out" || fail "status table lacks stage s1's plan: $(cat "$TMP/status.out")"
ctl status $P >"$TMP/status1.out" 2>&1 && grep -Eq "^$P +s1 +resnet50" "$TMP/status1.out" ||
        fail "spongectl status $P: $(cat "$TMP/status1.out")"
ctl --json status $P >"$TMP/status.json.out" 2>&1 &&
        [ "$(jget "$TMP/status.json.out" 'j["name"]')" = $P ] || fail "spongectl --json status $P"
if ctl status nosuch >/dev/null 2>"$TMP/status-404.err"; then
        fail "spongectl status nosuch exited 0"
fi
grep -q 'HTTP 404' "$TMP/status-404.err" || fail "spongectl status nosuch: $(cat "$TMP/status-404.err")"

# Pin a plan with spongectl; status, plan and the cgroup follow; the pin survives in GET.
"$PY" "$PYTOOL" plan resnet34:2:500:1 resnet50:4:700:1 >"$TMP/plan.json"
ctl pin $P "$TMP/plan.json" >"$TMP/pin.out" 2>&1 || fail "spongectl pin: $(cat "$TMP/pin.out")"
wait_ready $P 30
ctl plan $P >"$TMP/plan.out" 2>&1 || fail "spongectl plan: $(cat "$TMP/plan.out")"
[ "$(jget "$TMP/plan.out" 'j["pinned"] and j["plan"] == [{"variant": "resnet34", "batch": 2, "millicores": 500, "replicas": 1}, {"variant": "resnet50", "batch": 4, "millicores": 700, "replicas": 1}]')" = True ] ||
        fail "spongectl plan after pin: $(cat "$TMP/plan.out")"
ctl status $P >"$TMP/status2.out" 2>&1
grep -Eq "^$P +s0 +resnet34 +2 +500 +1 " "$TMP/status2.out" || fail "status after pin: $(cat "$TMP/status2.out")"
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/in"
expect_status 200 "infer after pin" && count_ok && [ "$(resp_header X-Sponge-Variants)" = resnet34,resnet50 ] ||
        fail "X-Sponge-Variants after pin: $(resp_header X-Sponge-Variants)"
ctl unpin $P >"$TMP/unpin.out" 2>&1 && [ "$(jget "$TMP/unpin.out" 'j["pinned"]')" = False ] ||
        fail "spongectl unpin: $(cat "$TMP/unpin.out")"

# /metrics: Prometheus text with the request counts.
http GET /metrics
expect_status 200 "GET /metrics"
case $(resp_header Content-Type) in text/plain*) ;; *) fail "/metrics Content-Type: $(resp_header Content-Type)" ;; esac
v=$("$PY" "$PYTOOL" metric "sponged_requests_total{pipeline=\"$P\",outcome=\"ok\"}" <"$TMP/resp.body")
[ "$v" = "$n_ok" ] || fail "sponged_requests_total{pipeline=\"$P\",outcome=\"ok\"} = \"$v\", expected $n_ok"
for m in sponged_requests_live sponged_node_cores sponged_node_cores_allocated; do
        grep -q "^$m " "$TMP/resp.body" || fail "/metrics lacks $m"
done
grep -q "^sponged_request_duration_seconds_bucket{pipeline=\"$P\"" "$TMP/resp.body" ||
        fail "/metrics lacks the latency histogram of $P"
grep -q "^sponged_stage_queue_length{pipeline=\"$P\",stage=\"s1\"} 0" "$TMP/resp.body" ||
        fail "/metrics lacks sponged_stage_queue_length of stage s1"
grep -q "^sponged_replica_cpu_seconds_total{pipeline=\"$P\",stage=\"s0\"" "$TMP/resp.body" ||
        fail "/metrics lacks the replicas' cpu.stat usage"
[ "$("$PY" "$PYTOOL" metric sponged_requests_live <"$TMP/resp.body")" = 0 ] || fail "requests live after all answered"

# GET /v1/node and spongectl node.
http GET /v1/node
expect_status 200 "GET /v1/node"
[ "$(jget "$TMP/resp.body" "j['backend'] == '$CG_VERSION' and j['cgroup_root'] == '$CG_ROOT' and j['millicores_total'] == 2000 and j['millicores_allocated'] == 1200 and j['control'] == False")" = True ] ||
        fail "GET /v1/node (expected backend $CG_VERSION, root $CG_ROOT, 2000 total, 500+700 allocated): $(cat "$TMP/resp.body")"
ctl node >"$TMP/node.out" 2>&1 && [ "$(jget "$TMP/node.out" 'j["backend"]')" = "$CG_VERSION" ] ||
        fail "spongectl node: $(cat "$TMP/node.out")"

# The UNIX socket: same API, mode 0660.
[ -S "$UNIX_SOCK" ] || fail "no UNIX socket at $UNIX_SOCK"
[ "$(stat -c %a "$UNIX_SOCK")" = 660 ] || fail "UNIX socket mode $(stat -c %a "$UNIX_SOCK"), expected 660"
st=$(curl -s -m 10 -o "$TMP/unix.out" -w '%{http_code}' --unix-socket "$UNIX_SOCK" \
        --data-binary @"$TMP/in" http://localhost/v1/pipelines/$P/infer)
[ "$st" = 200 ] && [ "$(head -c 11 "$TMP/unix.out")" = hello-itest ] || fail "infer over the UNIX socket: HTTP $st"
timeout 30 "$BIN/spongectl" --url "unix:$UNIX_SOCK" status >"$TMP/status-unix.out" 2>&1 &&
        grep -q "^$P " "$TMP/status-unix.out" || fail "spongectl over unix: $(cat "$TMP/status-unix.out")"

# delete: gone from the API and the directory; its workers and cgroups go.
worker_pids=$(sget $P '" ".join(str(r["pid"]) for s in j["stages"] for r in s["replica_list"])')
ctl delete $P >"$TMP/delete.out" 2>&1 || fail "spongectl delete: $(cat "$TMP/delete.out")"
http GET /v1/pipelines/$P
expect_json_error 404 "GET after delete"
[ ! -e "$PIPELINES_DIR/$P.json" ] || fail "deleted pipeline's file still in $PIPELINES_DIR"
workers_gone() {
        local p
        for p in $worker_pids; do
                [ -d "/proc/$p" ] && ! agent_is_zombie "$p" && return 1
        done
        [ ! -d "$CG_ROOT/$P" ] || [ -z "$(find "$CG_ROOT/$P" -mindepth 1 -type d)" ]
}
wait_until 15 "deleted pipeline's workers ($worker_pids) exit and their cgroups go" workers_gone
if ctl delete $P 2>"$TMP/delete2.err"; then fail "deleting a deleted pipeline exited 0"; fi
http GET /healthz
expect_status 200 "healthz at the end"

agent_finish
