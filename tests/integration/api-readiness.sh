#!/usr/bin/env bash
# api.readiness — /healthz and the Open Inference Protocol's /v2/health/ready answer 200 only when
# the agent is ready: 503 while a pipeline has a stage without a ready replica (its worker keeps
# failing to start), and 503 while draining after SIGTERM (seen on a kept-alive connection: the
# listener is closed by then); the body says which pipeline and stage, or that it is draining.
# /v2/health/live stays 200 throughout, /v2/models/{p}/ready answers per pipeline. Ports: the
# oip tests' range 18910-18929 (plus $SPONGE_TEST_PORT_OFFSET).
# Usage: api-readiness.sh [BINARY_DIR [SOURCE_DIR]]
AGENT_PORTS=18910-18929
source "$(dirname "$0")/lib-agent.sh"
agent_init api.readiness 18911 "$@"
agent_config '"control": false, "drain_timeout_ms": 30000'

hup() { # sends SIGHUP and waits until the log shows the reload began
        local before
        before=$(grep -c 'Reloading' "$LOG")
        kill -HUP "$SPONGED_PID" || die "cannot signal sponged"
        reloaded() { [ "$(grep -c 'Reloading' "$LOG")" -gt "$before" ]; }
        wait_until 10 "the log shows the reload" reloaded
}
# ready_is CODE PATH EXPR — GET PATH answers CODE and the Python expression over its JSON j holds.
ready_is() {
        http GET "$2"
        [ "$HTTP_STATUS" = "$1" ] && [ "$(jget "$TMP/resp.body" "$3" 2>/dev/null)" = True ]
}
check_ready() { # CODE PATH EXPR WHAT
        if ready_is "$1" "$2" "$3"; then
                pass "$4"
        else
                fail "$4: GET $2 -> $HTTP_STATUS $(head -c 400 "$TMP/resp.body")"
        fi
}

# 1. No pipeline: ready.
agent_start
check_ready 200 /healthz 'j["status"] == "ok" and j["ready"] and not j["stopping"]' "healthz ready with no pipeline"

# 2. A pipeline whose worker starts: ready once its replica is.
mkpipe --name good --slo-ms 5000 --stage s0:echo --millicores 100,1000,100 >"$PIPELINES_DIR/good.json"
hup
wait_ready good 30 || die "pipeline good never became ready"
check_ready 200 /healthz 'j["ready"] and j["pipelines"]["good"]["ready"]' "healthz ready with good's replica ready"
check_ready 200 /v2/health/ready 'j["ready"] and j["live"]' "/v2/health/ready 200"

# 3. A pipeline whose worker never becomes ready (it refuses its arguments): 503, naming it.
mkpipe --name broken --slo-ms 5000 --stage s0:echo --millicores 100,1000,100 >"$PIPELINES_DIR/broken.json"
"$PY" - "$PIPELINES_DIR/broken.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["stages"][0]["variants"][0]["command"].append("--no-such-flag")
json.dump(j, open(sys.argv[1], "w"), indent=2)
PYEOF
hup
not_ready() { ready_is 503 /healthz 'not j["ready"] and j["status"] == "unavailable" and "broken" in j["reason"]'; }
wait_until 15 "healthz 503 naming pipeline broken" not_ready
check_ready 503 /healthz '"s0" in j["pipelines"]["broken"]["stages"] and j["pipelines"]["good"]["ready"] and not j["stopping"]' \
        "healthz body says which pipeline and stage"
say "healthz: $(head -c 400 "$TMP/resp.body" | tr -s ' \n' ' ')"
check_ready 503 /v2/health/ready 'not j["ready"] and j["live"] and "broken" in j["reason"]' "/v2/health/ready 503 with a broken pipeline"
check_ready 503 /v2/models/broken/ready 'j == {"name": "broken", "ready": False, "reason": j["reason"], "stages": j["stages"]}' "/v2/models/broken/ready 503"
check_ready 200 /v2/models/good/ready 'j == {"name": "good", "ready": True}' "/v2/models/good/ready 200 meanwhile"
check_ready 200 /v2/health/live 'j == {"live": True}' "/v2/health/live 200 meanwhile"

# 4. The broken pipeline removed: ready again.
rm "$PIPELINES_DIR/broken.json"
hup
ready_again() { ready_is 200 /healthz 'j["ready"] and "broken" not in j["pipelines"]'; }
wait_until 15 "healthz 200 once broken is gone" ready_again && pass "healthz 200 again without broken"

# 5. Draining: slow requests in flight, SIGTERM; a connection opened before asks again.
mkpipe --name slow --slo-ms 60000 --stage s0:resnet152 --millicores 100,1000,100 --replicas 1,1 \
        --policy static --plan resnet152:1:100:1 >"$PIPELINES_DIR/slow.json"
hup
wait_ready slow 30 || die "pipeline slow never became ready"
load_start sl --pipeline slow --count 6 --concurrency 3 --timeout 60 --stop-on-refused
busy() { [ "$(sget slow 'j["in_flight"] >= 2')" = True ]; }
wait_until 20 "requests in flight on slow" busy || die "no requests in flight to drain"
"$PY" - "$PORT" "$SPONGED_PID" >"$TMP/drain.out" 2>&1 <<'PYEOF'
import http.client, json, os, signal, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
def get(path):
    c.request("GET", path)
    r = c.getresponse()
    return r.status, json.loads(r.read())
print("before", *get("/healthz"))
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
for path in ("/healthz", "/v2/health/ready", "/v2/health/live"):
    st, j = get(path)
    print(path, st, json.dumps(j))
PYEOF
say "drain: $(tr '\n' ';' <"$TMP/drain.out")"
grep -q '^before 200' "$TMP/drain.out" || fail "healthz was not 200 before SIGTERM"
grep -Eq '^/healthz 503 .*"stopping": true' "$TMP/drain.out" && grep -q '^/healthz 503 .*draining' "$TMP/drain.out" ||
        fail "healthz while draining: expected 503 saying draining"
grep -q '^/v2/health/ready 503 .*draining' "$TMP/drain.out" || fail "/v2/health/ready while draining: expected 503"
grep -q '^/v2/health/live 200' "$TMP/drain.out" || fail "/v2/health/live while draining: expected 200"
for _ in $(seq 600); do
        kill -0 "$SPONGED_PID" 2>/dev/null && ! agent_is_zombie "$SPONGED_PID" || break
        sleep 0.1
done
wait "$SPONGED_PID"
st=$?
SPONGED_PID=""
[ "$st" = 0 ] || fail "sponged exited with $st after the drain"
load_wait sl 60
say "load: $(cat "$TMP/sl.summary")"
agent_finish
