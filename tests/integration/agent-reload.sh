#!/usr/bin/env bash
# agent.reload — SIGHUP re-reads the pipelines directory: a changed file is applied (status
# shows the change, requests keep being served), a broken file is rejected with a precise error
# in the log (file name and JSON path) while the running version is kept, a new file is added,
# and a removed file retires its pipeline (workers stop, cgroups go). The daemon keeps running
# through all of it.
# Usage: agent-reload.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
agent_init agent.reload 18775 "$@"
agent_config '"control": false'

# Two pipelines present at start-up.
mkpipe --name alpha --slo-ms 5000 --stage s0:echo --millicores 100,1000,100 >"$PIPELINES_DIR/alpha.json"
mkpipe --name beta --slo-ms 5000 --stage s0:echo --millicores 100,1000,100 >"$PIPELINES_DIR/beta.json"
agent_start
wait_ready alpha 30 || die "alpha never became ready"
wait_ready beta 30 || die "beta never became ready"
[ "$(sget alpha 'j["slo_ms"]')" = 5000.0 ] || fail "alpha's SLO at start: $(sget alpha 'j["slo_ms"]')"
BETA_PIDS=$(sget beta '" ".join(str(r["pid"]) for s in j["stages"] for r in s["replica_list"])')

hup() { # sends SIGHUP and waits until the log shows the reload began
        local before
        before=$(grep -c 'Reloading' "$LOG")
        kill -HUP "$SPONGED_PID" || die "cannot signal sponged"
        reloaded() { [ "$(grep -c 'Reloading' "$LOG")" -gt "$before" ]; }
        wait_until 10 "the log shows the reload" reloaded
}
alive() {
        kill -0 "$SPONGED_PID" 2>/dev/null || die "sponged died: $(tail -n 5 "$LOG")"
        http GET /healthz
        expect_status 200 "healthz after reload"
}

# 1. A changed file: applied.
mkpipe --name alpha --slo-ms 7000 --stage s0:echo --max-batch 4 --millicores 100,1000,100 >"$PIPELINES_DIR/alpha.json"
hup
changed() { [ "$(sget alpha 'j["slo_ms"] == 7000.0 and j["config"]["stages"][0]["max_batch"] == 4')" = True ]; }
wait_until 10 "alpha shows slo_ms 7000 and max_batch 4 after SIGHUP" changed
wait_ready alpha 30
alive
http POST /v1/pipelines/alpha/infer --data-binary after-change
expect_status 200 "infer on the changed alpha" && [ "$(resp_body)" = after-change ] || fail "alpha output after the change"
grep -q 'Pipeline alpha: replaced' "$LOG" || fail "the log does not say alpha was replaced"
# beta's file did not change: its workers were left alone.
[ "$(sget beta '" ".join(str(r["pid"]) for s in j["stages"] for r in s["replica_list"])')" = "$BETA_PIDS" ] ||
        fail "an unchanged pipeline (beta) got new workers on reload"

# 2. A broken file (invalid value): rejected with the file and the JSON path; alpha kept.
ALPHA_PIDS=$(sget alpha '" ".join(str(r["pid"]) for s in j["stages"] for r in s["replica_list"])')
"$PY" - "$PIPELINES_DIR/alpha.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["slo_ms"] = 6000
j["stages"][0]["millicores"]["min"] = -100
json.dump(j, open(sys.argv[1], "w"), indent=2)
EOF
hup
rejected() { grep -q "alpha.json: stages\[0\].millicores.min: .*keeping the running version" "$LOG"; }
wait_until 10 "log: alpha.json rejected at stages[0].millicores.min, running version kept" rejected ||
        say "log has: $(grep -i 'alpha' "$LOG" | tail -n 3)"
say "logged: $(grep 'Rejected pipeline file' "$LOG" | tail -n 1)"
grep "alpha.json" "$LOG" | grep -q '^<3>' || fail "the rejection is not logged at priority err (<3>)"
alive
[ "$(sget alpha 'j["slo_ms"]')" = 7000.0 ] || fail "broken file: alpha's SLO is now $(sget alpha 'j["slo_ms"]'), expected the running 7000"
[ "$(sget alpha '" ".join(str(r["pid"]) for s in j["stages"] for r in s["replica_list"])')" = "$ALPHA_PIDS" ] ||
        fail "a rejected file restarted alpha's workers"
http POST /v1/pipelines/alpha/infer --data-binary still-served
expect_status 200 "infer on alpha after a rejected reload"

# 3. A broken file (not JSON): the error carries line and column; still kept.
printf '{\n  "name": "alpha",\n  "slo_ms": 5000,\n' >"$PIPELINES_DIR/alpha.json"
hup
syntax() { grep -Eq "alpha.json:[0-9]+:[0-9]+: .*keeping the running version" "$LOG"; }
wait_until 10 "log: alpha.json rejected with line:column" syntax ||
        say "log has: $(grep -i 'alpha' "$LOG" | tail -n 3)"
say "logged: $(grep 'Rejected pipeline file' "$LOG" | tail -n 1)"
alive
[ "$(sget alpha 'j["slo_ms"]')" = 7000.0 ] || fail "truncated file: alpha's SLO is now $(sget alpha 'j["slo_ms"]')"
http POST /v1/pipelines/alpha/infer --data-binary still-served
expect_status 200 "infer on alpha after a truncated file"

# 4. A new file: added. 5. A removed file (beta): retired — gone from the API, workers and
# cgroups gone; the others untouched.
mkpipe --name gamma --stage s0:echo --millicores 100,1000,100 >"$PIPELINES_DIR/gamma.json"
rm "$PIPELINES_DIR/beta.json"
hup
added() { status_of gamma; }
wait_until 10 "gamma added" added
wait_ready gamma 30
retired() { ! status_of beta; }
wait_until 10 "beta gone from the API" retired
http GET /v1/pipelines/beta
expect_json_error 404 "GET beta after its file was removed"
grep -q 'Pipeline beta: its file is gone' "$LOG" || fail "the log does not say beta was retired"
beta_gone() {
        local p
        for p in $BETA_PIDS; do
                [ -d "/proc/$p" ] && ! agent_is_zombie "$p" && return 1
        done
        [ -z "$(find "$CG_ROOT/beta" -mindepth 1 -type d 2>/dev/null)" ]
}
wait_until 15 "beta's workers ($BETA_PIDS) exit and its replica cgroups go" beta_gone
alive
http POST /v1/pipelines/gamma/infer --data-binary new-one
expect_status 200 "infer on the added gamma"
[ "$(curl -sf -m 10 "$URL/v1/pipelines" | "$PY" -c 'import json,sys; print(sorted(p["name"] for p in json.load(sys.stdin)["pipelines"]))')" = "['alpha', 'gamma']" ] ||
        fail "pipelines after the reloads: $(curl -sf -m 10 "$URL/v1/pipelines" | head -c 300)"

# 6. Fixed again: applied.
mkpipe --name alpha --slo-ms 9000 --stage s0:echo --millicores 100,1000,100 >"$PIPELINES_DIR/alpha.json"
hup
fixed() { [ "$(sget alpha 'j["slo_ms"]')" = 9000.0 ]; }
wait_until 10 "alpha at slo_ms 9000 after the file was fixed" fixed
wait_ready alpha 30
http POST /v1/pipelines/alpha/infer --data-binary fixed
expect_status 200 "infer on the fixed alpha"

# 7. A broken node config: rejected with its key, the running one (and every pipeline) kept.
cp "$NODE_CONFIG" "$TMP/node.good"
"$PY" - "$NODE_CONFIG" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["interval_msec"] = 5
json.dump(j, open(sys.argv[1], "w"))
EOF
hup
node_rejected() { grep -q 'invalid node configuration.*interval_msec' "$LOG"; }
wait_until 10 "log: node config rejected at interval_msec" node_rejected
alive
for p in alpha gamma; do
        http POST /v1/pipelines/$p/infer --data-binary after-bad-node-config
        expect_status 200 "infer on $p after a rejected node config"
done
cp "$TMP/node.good" "$NODE_CONFIG"
wait_until 10 "no request left live" live_is_zero

agent_finish
