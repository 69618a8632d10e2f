#!/usr/bin/env bash
# reliability.startup — a worker that never becomes ready (sponge-worker-echo --never-ready: its
# socket open, no READY) is killed at its start-up deadline (max(startup_timeout_min_ms,
# 4 x startup_ms)) and retried with the restart back-off; the status says why; a request that
# meanwhile waits for a replica is answered 504 when its deadline passes.
# Usage: reliability-startup.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/reliability-lib.sh"
reliability_init startup 18872 "$@"
agent_config '"control": false, "startup_timeout_min_ms": 1000, "restart_backoff_max_ms": 300'
agent_start

P=never
mkpipe --name $P --stage s0:echo --replicas 1,1 --plan echo:1:200:1 >"$TMP/$P.raw.json"
# the echo worker in its never-ready mode
"$PY" - "$TMP/$P.raw.json" >"$TMP/$P.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["stages"][0]["variants"][0]["command"].append("--never-ready")
json.dump(j, sys.stdout)
PYEOF
apply_pipeline "$TMP/$P.json"
starting() { [ "$(sget $P 'j["stages"][0]["replica_list"][0]["state"]')" = starting ]; }
wait_until 10 "the replica started" starting
FIRST=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
say "worker $FIRST started, never says READY"
t0=$(now_s)
retried() { [ "$(sget $P 'j["stages"][0]["replica_list"][0]["restarts"] >= 2')" = True ]; }
wait_until 10 "two start-up deadlines passed and the worker was retried" retried
say "two retries after $(elapsed "$t0") s"
gone() { [ ! -d "/proc/$FIRST" ]; }
wait_until 5 "the first worker $FIRST killed and reaped" gone
LAST=$(sget $P 'j["stages"][0]["replica_list"][0]["last_error"]')
say "replica last_error: $LAST"
case $LAST in
*"not ready within"*) ;;
*) fail "status last_error does not say the worker was not ready in time: $LAST" ;;
esac
http GET /v1/node
[ "$(jget "$TMP/resp.body" 'j["bounded"]["startup_timeouts"] >= 2')" = True ] ||
        fail "bounded.startup_timeouts not counted: $(jget "$TMP/resp.body" 'j.get("bounded")')"
grep -q "not ready within" "$LOG" || fail "the log does not say why the worker was killed"

t0=$(now_s)
HTTP_TIMEOUT=10 http POST /v1/pipelines/$P/infer -H 'X-Sponge-Deadline-Ms: 800' --data-binary x
took=$(elapsed "$t0")
expect_json_error 504 "a request with no ready replica, deadline 0.8 s"
below "$took" 2.5 || fail "the answer took $took s (deadline 0.8 s)"

agent_finish
