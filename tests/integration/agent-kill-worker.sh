#!/usr/bin/env bash
# agent.kill-worker — a worker SIGKILLed under load is restarted (a new pid in the status, the
# restart counted, the old process reaped), and every request is answered — 200 or an explicit
# JSON error — none left hanging, within a bounded time. Then once more with the worker idle.
# Usage: agent-kill-worker.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
agent_init agent.kill-worker 18773 "$@"
agent_config '"control": false, "restart_backoff_max_ms": 500'
agent_start

P=kw
mkpipe --name $P --stage s0:resnet18 --stage s1:echo --millicores 100,2000,100 \
        --replicas 1,2 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
pin $P resnet18:4:1000:1 echo:4:200:1
wait_ready $P 30 || die "pipeline $P never became ready"
OLD=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')

# Load: 6 clients for as long as the test says (a stop file): 10 answers before the kill, the
# kill, the restart, 10 answers after it. Each request waits at most 30 s for its answer.
load_start kl --pipeline $P --count 100000 --concurrency 6 --timeout 30 --stop-file "$TMP/stop-kl"
ok_count() { sget $P 'j["answered"]["ok"]'; }
answered_some() { [ "$(ok_count)" -ge "$1" ] 2>/dev/null; }
wait_until 30 "first 10 answers under load" answered_some 10
# Kill while the stage has work (requests in flight beyond its queue: a batch at the worker).
busy() { [ "$(sget $P 'j["in_flight"] > j["stages"][0]["queue_length"] + j["stages"][1]["queue_length"]')" = True ]; }
wait_until 10 "a batch in flight at stage s0" busy
kill -KILL "$OLD" || die "cannot kill worker $OLD"
say "killed worker $OLD under load"
restarted() {
        [ "$(sget $P "[(r['pid'] not in (0, $OLD), r['state'], r['restarts']) for r in j['stages'][0]['replica_list']] == [(True, 'ready', 1)]")" = True ]
}
wait_until 15 "stage s0's replica restarted (new pid, ready, 1 restart)" restarted
NEW=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
say "restarted as pid $NEW"
gone() { [ ! -d "/proc/$OLD" ]; }
wait_until 5 "killed worker $OLD reaped (no zombie)" gone
wait_until 30 "10 more answers after the restart" answered_some $(($(ok_count) + 10))
touch "$TMP/stop-kl"
load_wait kl 60
COUNT=$(lget kl 'j["sent"]')
say "load: $(cat "$TMP/kl.summary")"

[ "$(lget kl 'j["sent"] > 0 and j["answered"] == j["sent"]')" = True ] ||
        fail "requests without an answer (hung or connection failed): $(lget kl 'j["by_status"]'); $(grep '"status": null' "$TMP/kl.jsonl" | head -n 3)"
[ "$(lget kl 'set(j["by_status"]) <= {"200", "502", "503", "504"}')" = True ] ||
        fail "unexpected statuses: $(lget kl 'j["by_status"]')"
[ "$(lget kl 'j["non_json_errors"]')" = 0 ] ||
        fail "error answers without a JSON body: $(grep -v '"status": 200' "$TMP/kl.jsonl" | grep '"json_error": false' | head -n 3)"
[ "$(lget kl 'j["bad_echo"]')" = 0 ] || fail "some outputs do not carry their input"
[ "$(lget kl 'j["max_latency_s"] < 25')" = True ] || fail "a request took $(lget kl 'j["max_latency_s"]') s"
[ "$(lget kl "j['by_status'].get('200', 0) >= $COUNT - 6")" = True ] ||
        fail "more than 6 of $COUNT requests not served (the killed batch is 4): $(lget kl 'j["by_status"]')"
say "requests re-queued: $(metric sponged_requeued_total); answered 502: $(metric "sponged_requests_total{pipeline=\"$P\",outcome=\"worker_error\"}")"
[ "$(metric sponged_replica_restarts_total)" = 1 ] || fail "sponged_replica_restarts_total = $(metric sponged_replica_restarts_total), expected 1"
grep -q "(pid $OLD) killed by signal" "$LOG" || fail "the log does not say that worker $OLD was killed"
wait_until 10 "no request left live" live_is_zero

# Idle: kill again with nothing in flight; the next request is served by the new worker.
kill -KILL "$NEW"
restarted2() {
        [ "$(sget $P "[(r['pid'] not in (0, $NEW), r['state'], r['restarts']) for r in j['stages'][0]['replica_list']] == [(True, 'ready', 2)]")" = True ]
}
wait_until 15 "second restart" restarted2
http POST /v1/pipelines/$P/infer --data-binary after-restart
expect_status 200 "infer after an idle restart"

agent_finish
