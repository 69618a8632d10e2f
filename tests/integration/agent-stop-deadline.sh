#!/usr/bin/env bash
# agent.stop-deadline — SIGTERM while a worker is deep in a batch that outlives the drain: the
# agent answers every accepted request when drain_timeout_ms runs out (503, JSON), including
# the ones inside the worker's batch, then stops (kills) the worker and exits 0 with nothing
# left behind. The batch's requests are answered before the batch comes back: the agent must
# not touch them again when it finally kills that worker (a use-after-free the ASan run of the
# benchmark smoke found; this test fails under ASan if it returns).
# Usage: agent-stop-deadline.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
agent_init agent.stop-deadline 18777 "$@"
agent_config '"control": false, "drain_timeout_ms": 1000'
agent_start

P=slow
# resnet152 of the flops worker at 100 millicores: 1-2 s per item (profile: 104 ms·core); a
# batch of 7 (the batcher waits for it: the slack is long) takes 7-14 s, longer than the 1 s
# drain plus the 6 s the agent gives its workers to stop: the worker is killed mid-batch.
mkpipe --name $P --slo-ms 120000 --stage s0:resnet152 --max-batch 8 \
        --millicores 100,1000,100 --replicas 1,1 --plan resnet152:8:100:1 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 60 || die "pipeline $P never became ready"
WORKERS=$(sget $P '" ".join(str(r["pid"]) for s in j["stages"] for r in s["replica_list"])')

load_start tl --pipeline $P --count 8 --concurrency 8 --timeout 60
# The first request goes alone to the idle worker; the other 7 wait for it and then form one
# batch (7-14 s).
inflight() { [ "$(sget $P 'j["in_flight"] >= 4 and j["stages"][0]["queue_length"] == 0')" = True ]; }
wait_until 20 "a batch of several requests in the worker" inflight || die "no batch in flight"
sleep 0.3
t_term=$(now_s)
say "SIGTERM with $(sget $P 'j["in_flight"]') requests in flight (worker $WORKERS busy)"
agent_stop 30 || die "sponged did not exit within 30 s of SIGTERM"
t_exit=$(now_s)
took=$("$PY" -c "print('%.2f' % ($t_exit - $t_term))")
say "sponged exited with status $AGENT_EXIT after $took s"
[ "$AGENT_EXIT" = 0 ] || fail "exit status $AGENT_EXIT after SIGTERM, expected 0"
# drain 1 s, then at most 6 s for the workers to stop (agent/manager.c STOP_WORKERS_US)
"$PY" -c "import sys; sys.exit(0 if $took < 12 else 1)" ||
        fail "exit took $took s: the drain deadline did not bound it"
load_wait tl 60
say "load: $(cat "$TMP/tl.summary")"

"$PY" - "$TMP/tl.jsonl" >"$TMP/verdict" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
# the first (served alone before SIGTERM) 200; every other one 503 at the drain deadline
bad = [r for r in recs if not (r["status"] == 503 and r.get("json_error"))
       and not (r["status"] == 200 and r.get("echo_ok"))]
n503 = sum(1 for r in recs if r["status"] == 503)
if n503 < 4:
    bad.append({"i": -1, "status": "only %d answered 503 at the drain deadline" % n503})
print(len(recs))
for r in bad[:10]:
    print("request %d: %s %s %s" % (r["i"], r["status"], r.get("err") or "", r.get("body") or ""))
EOF
n=$(head -n1 "$TMP/verdict")
[ "$n" = 8 ] || fail "$n of 8 requests recorded"
if [ "$(wc -l <"$TMP/verdict")" -gt 1 ]; then
        fail "requests not answered as expected: $(tail -n +2 "$TMP/verdict" | tr '\n' ';')"
fi
grep -q 'did not finish in time' "$LOG" || fail "the log does not show the forced stop"
if grep -q 'Sanitizer' "$LOG"; then
        fail "sanitizer report: $(grep -m1 'ERROR: AddressSanitizer\|runtime error' "$LOG")"
fi
# shellcheck disable=SC2086 # a list of pids
agent_check_nothing_left $WORKERS

agent_finish
