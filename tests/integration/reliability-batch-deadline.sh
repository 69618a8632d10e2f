#!/usr/bin/env bash
# reliability.batch-deadline — a worker that stops answering (SIGSTOP) does not hold its requests:
# the batch is given up at its latest deadline plus the grace (a share of the SLO), the request
# is answered 504 with a JSON body that says the worker did not answer, the stuck worker is
# killed and replaced (a new pid, ready, one restart), the status says why, and the next request
# is served (200).
# Then a slow worker, not a stuck one: with a model that predicts 600 ms per batch, the worker is
# given up only at 8x that (4.8 s) + grace, but in a "late": "drop" pipeline its request is
# answered 504 at its deadline + grace (2.5 s) while the worker runs on; resumed, the worker
# finishes the batch (result dropped) and serves the next request, the same pid, no restart.
# Usage: reliability-batch-deadline.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/reliability-lib.sh"
reliability_init batch-deadline 18870 "$@"
# timed_infer PIPELINE BODY: one request (15 s client timeout); its time in $took.
timed_infer() {
        local t0
        t0=$(now_s)
        HTTP_TIMEOUT=15 http POST "/v1/pipelines/$1/infer" --data-binary "$2"
        took=$("$PY" -c "print('%.2f' % ($(now_s) - $t0))")
        say "$1: answer after $took s: HTTP $HTTP_STATUS $(head -c 300 "$TMP/resp.body")"
}
agent_config '"control": false, "restart_backoff_max_ms": 500'
agent_start

P=stuck
# SLO 2 s: the grace is 25% of it (500 ms); the batch is given up 2.5 s after it was sent.
mkpipe --name $P --slo-ms 2000 --stage s0:echo --max-batch 4 --millicores 100,1000,100 \
        --replicas 1,1 --plan echo:1:200:1 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"
http POST /v1/pipelines/$P/infer --data-binary warm-up
expect_status 200 "a request before the worker is stopped"
OLD=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')

kill -STOP "$OLD" || die "cannot stop worker $OLD"
say "worker $OLD stopped (SIGSTOP)"
timed_infer $P to-a-stopped-worker
expect_json_error 504 "a request to a stopped worker" "did not answer"
# SLO 2 s + grace 0.5 s, plus 1.5 s of slack for a loaded machine
"$PY" -c "import sys; sys.exit(0 if $took < 4.0 else 1)" ||
        fail "the answer took $took s (SLO 2 s + grace 0.5 s)"

replaced() {
        [ "$(sget $P "[(r['pid'] not in (0, $OLD), r['state'], r['restarts']) for r in j['stages'][0]['replica_list']] == [(True, 'ready', 1)]")" = True ]
}
wait_until 15 "the stuck worker replaced (new pid, ready, 1 restart)" replaced
gone() { [ ! -d "/proc/$OLD" ]; }
wait_until 5 "stopped worker $OLD killed and reaped" gone
LAST=$(sget $P 'j["stages"][0]["replica_list"][0]["last_error"]')
say "replica last_error: $LAST"
case $LAST in
*"did not answer"*) ;;
*) fail "status last_error does not say the worker did not answer: $LAST" ;;
esac
[ "$(sget $P 'j["stages"][0]["batch_timeouts"]')" = 1 ] || fail "stage batch_timeouts is not 1"
http GET /v1/node
[ "$(jget "$TMP/resp.body" 'j["bounded"]["batch_timeouts"]')" = 1 ] ||
        fail "node bounded.batch_timeouts is not 1: $(jget "$TMP/resp.body" 'j.get("bounded")')"
grep -q "did not answer a batch" "$LOG" || fail "the log does not say why the worker was killed"

http POST /v1/pipelines/$P/infer --data-binary after-replacement
expect_status 200 "the next request, served by the new worker"
[ "$(resp_body)" = after-replacement ] || fail "the new worker's answer is not the echo"

S=slow
mkpipe --name $S --slo-ms 2000 --stage s0:echo --max-batch 4 --millicores 100,1000,100 \
        --replicas 1,1 --plan echo:1:200:1 --late drop |
        "$PY" -c 'import json, sys
p = json.load(sys.stdin)
p["stages"][0]["variants"][0]["profile"]["model"] = {"gamma": 0, "delta": 0, "epsilon": 0, "eta": 600}
json.dump(p, sys.stdout)' >"$TMP/$S.json"
apply_pipeline "$TMP/$S.json"
wait_ready $S 30 || die "pipeline $S never became ready"
SPID=$(sget $S 'j["stages"][0]["replica_list"][0]["pid"]')
# The stage still runs that one worker, never restarted.
same_worker() {
        [ "$(sget $S "[(r['pid'], r['restarts']) for r in j['stages'][0]['replica_list']] == [($SPID, 0)]")" = True ]
}
kill -STOP "$SPID" || die "cannot stop worker $SPID"
timed_infer $S to-a-slow-worker
expect_json_error 504 "a request to a slow worker" "result is dropped"
# deadline 2 s + grace 0.5 s; the worker would be given up at 4.8 s + 0.5 s
"$PY" -c "import sys; sys.exit(0 if $took < 4.0 else 1)" ||
        fail "the answer took $took s (deadline 2 s + grace 0.5 s; not 8x the prediction)"
same_worker ||
        fail "the slow worker was replaced at its requests' deadline"
kill -CONT "$SPID"
grep -q "requests answered 504, the worker runs on" "$LOG" || fail "the log does not say the worker runs on"
http POST /v1/pipelines/$S/infer --data-binary after-resume
expect_status 200 "the next request, served by the resumed worker"
[ "$(resp_body)" = after-resume ] || fail "the resumed worker's answer is not the echo"
same_worker ||
        fail "the resumed worker was replaced"
[ "$(sget $S 'j["stages"][0]["batch_timeouts"]')" = 0 ] || fail "stage $S batch_timeouts is not 0"

agent_finish
