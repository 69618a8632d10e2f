#!/usr/bin/env bash
# python.agent — a worker written with the Python library (pipelines/worker/python) behind the
# real sponged: READY and answers, batches > 1 when requests queue, SET_THREADS after an in-place
# resize reaches the set-threads hook, item errors (502), invalid input (400 with a JSON error),
# process() raising (the batch's items fail, the worker keeps serving), and a crash in the middle
# of a batch (every request answered, the replica restarted, serving again).
# Usage: python-agent.sh [BINARY_DIR [SOURCE_DIR]]
AGENT_PORTS=18890-18909
AGENT_TOOLS=sponge-worker-pytest
source "$(dirname "$0")/lib-agent.sh"
agent_init python.agent 18890 "$@"
agent_config '"control": false, "restart_backoff_max_ms": 300'
agent_start

P=py
cat >"$TMP/$P.json" <<JSON
{"name": "$P", "slo_ms": 3000, "late": "serve",
 "stages": [{"name": "s0", "max_batch": 8,
             "millicores": {"min": 100, "max": 3000, "step": 100},
             "replicas": {"min": 1, "max": 1},
             "variants": [{"name": "py", "accuracy": 1, "command": ["sponge-worker-pytest"],
                           "env": {"ITEST_TAG": "$TAG"}, "startup_ms": 300,
                           "profile": {"model": {"gamma": 0, "delta": 0.2, "epsilon": 0,
                                                 "eta": 1}}}]}]}
JSON
apply_pipeline "$TMP/$P.json"
pin $P py:1:1000:1
wait_ready $P 30 || die "pipeline $P never became ready"
pass "the Python worker sent READY (replica ready)"

# par BODY... — sends the bodies concurrently (urllib, one thread each; each waits 50 ms after
# the previous one starts) and prints a JSON list of [status, body text] in the same order.
par() {
        "$PY" - "$URL/v1/pipelines/$P/infer" "$@" <<'PYEOF'
import json, sys, threading, time, urllib.error, urllib.request
url, bodies = sys.argv[1], sys.argv[2:]
out = [None] * len(bodies)
def one(i):
    req = urllib.request.Request(url, data=bodies[i].encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            out[i] = [r.status, r.read().decode()]
    except urllib.error.HTTPError as e:
        out[i] = [e.code, e.read().decode()]
    except Exception as e:
        out[i] = [None, repr(e)]
ts = []
for i in range(len(bodies)):
    ts.append(threading.Thread(target=one, args=(i,)))
    ts[-1].start()
    time.sleep(0.05)
for t in ts:
    t.join()
print(json.dumps(out))
PYEOF
}
# pget JSON EXPR — a Python expression over the list r.
pget() { "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

http POST /v1/pipelines/$P/infer --data-binary hello
expect_status 200 "infer hello" && [ "$(resp_body)" = py:hello ] ||
        fail "output \"$(resp_body)\", expected py:hello"

# Threads: 1000 millicores → SPONGE_THREADS=1 and SET_THREADS 1; resized in place to 1500 → 2.
http POST /v1/pipelines/$P/infer --data-binary threads
[ "$(resp_body)" = 1/1 ] || fail "threads at 1000 millicores: \"$(resp_body)\", expected 1/1"
PID=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
pin $P py:1:1500:1
wait_ready $P 15 || fail "not ready after the resize"
threads2() {
        http POST /v1/pipelines/$P/infer --data-binary threads
        [ "$(resp_body)" = 2/2 ]
}
wait_until 10 "the hook got SET_THREADS 2 after the resize to 1500 millicores" threads2 &&
        pass "set-threads after a resize: $(resp_body)"
[ "$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')" = "$PID" ] ||
        fail "the resize restarted the worker (pid changed): not in place"

# Batches: batch 4; a slow item holds the worker, four more queue and go as one batch of 4.
pin $P py:4:1000:1
wait_ready $P 15 || fail "not ready at batch 4"
R=$(par sleep batch batch batch batch)
say "sleep + 4 concurrent: $R"
[ "$(pget "$R" 'all(s == 200 for s, _ in r)')" = True ] || fail "not all 200: $R"
[ "$(pget "$R" 'max(int(b) for _, b in r[1:])')" -gt 1 ] 2>/dev/null ||
        fail "no batch larger than 1 reached the Python worker: $R"
[ "$(pget "$R" 'max(int(b) for _, b in r[1:])')" = 4 ] 2>/dev/null &&
        pass "batch of 4 through the Python library"

# Errors: an item error is 502 with its message; invalid input is 400; the others in the same
# batch are served.
R=$(par fail invalid ok1 ok2)
say "fail + invalid + 2 ok in one batch: $R"
[ "$(pget "$R" '[s for s, _ in r]')" = "[502, 400, 200, 200]" ] || fail "statuses: $R"
[ "$(pget "$R" '"failed on purpose" in json.loads(r[0][1])["detail"]')" = True ] ||
        fail "the 502's detail lacks the worker's message: ${R}"
[ "$(pget "$R" 'json.loads(r[1][1])["error"]')" = "invalid input" ] ||
        fail "the 400's error is not \"invalid input\": $R"
[ "$(pget "$R" '"not a valid input" in json.loads(r[1][1])["detail"]')" = True ] ||
        fail "the 400's detail lacks the worker's message: $R"
[ "$(pget "$R" 'r[2][1] + r[3][1]')" = "py:ok1py:ok2" ] || fail "outputs of the good items: $R"
pin $P py:1:1000:1
wait_ready $P 15 || fail "not ready at batch 1"
http POST /v1/pipelines/$P/infer --data-binary invalid
expect_json_error 400 "invalid input, alone" "not a valid input"
http POST /v1/pipelines/$P/infer --data-binary raise
expect_json_error 502 "process() raised" "raised on purpose"
http POST /v1/pipelines/$P/infer --data-binary after-errors
expect_status 200 "served after the errors" && [ "$(resp_body)" = py:after-errors ] ||
        fail "after the errors: \"$(resp_body)\""
[ "$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')" = "$PID" ] ||
        fail "the errors restarted the worker"

# A crash in the middle of a batch: every request answered, the replica restarted.
pin $P py:4:1000:1
wait_ready $P 15 || fail "not ready at batch 4"
T0=$(now_s)
R=$(par sleep one crash two three)
say "a crash in a batch: $R (in $(awk "BEGIN{printf \"%.1f\", $(now_s) - $T0}") s)"
[ "$(pget "$R" 'all(s is not None for s, _ in r)')" = True ] || fail "requests without an answer: $R"
[ "$(pget "$R" 'r[2][0] in (502, 504)')" = True ] || fail "the crashing item: $R"
[ "$(pget "$R" 'all(s in (200, 502, 504) for s, _ in r)')" = True ] || fail "statuses: $R"
restarted() {
        [ "$(sget $P '[(r["pid"] != '"$PID"', r["state"], r["restarts"] >= 1) for r in j["stages"][0]["replica_list"]] == [(True, "ready", True)]')" = True ]
}
wait_until 15 "the crashed replica restarted and ready" restarted && pass "restarted after the crash"
grep -q "killed by signal" "$LOG" || fail "the log does not say that the worker was killed"
http POST /v1/pipelines/$P/infer --data-binary after-crash
expect_status 200 "served after the crash" && [ "$(resp_body)" = py:after-crash ] ||
        fail "after the crash: \"$(resp_body)\""
wait_until 10 "no request left live" live_is_zero

# Clean shutdown: SIGTERM → SHUTDOWN → the Python worker exits 0 (checked by the cleanup: no
# leftover process; sponged logs a worker that exited with a status other than 0).
W=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
agent_stop 20 || fail "sponged did not stop"
[ "$AGENT_EXIT" = 0 ] || fail "sponged exited $AGENT_EXIT"
agent_check_nothing_left "$W"
grep -q "stopped (exited with status 0)" "$LOG" ||
        fail "the Python worker $W did not exit with status 0 on SHUTDOWN: $(grep stopped "$LOG")"
agent_finish
