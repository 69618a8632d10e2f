#!/usr/bin/env bash
# reliability.expire — hopeless requests leave at once, and clients that leave are noticed.
# The only replica of a stage is stuck (SIGSTOP) with a batch, so no replica is ever free:
#  1. a queued request whose deadline (X-Sponge-Deadline-Ms: 600) passes is answered 504 by the
#     timer within its deadline plus slack — not when a replica frees up;
#  2. a client that disconnects while its request is queued (curl -m 1) is noticed: the request
#     is cancelled (answered.cancelled, bounded.clients_gone), leaves the queue, and is never
#     sent to the worker (the stage's item count after SIGCONT is the stuck batch's only);
#  3. after SIGCONT the stuck batch's request is served (200).
# Usage: reliability-expire.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/reliability-lib.sh"
reliability_init expire 18871 "$@"
agent_config '"control": false'
agent_start

P=busy
mkpipe --name $P --slo-ms 60000 --stage s0:echo --millicores 100,1000,100 --replicas 1,1 \
        --plan echo:1:200:1 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"
http POST /v1/pipelines/$P/infer --data-binary warm-up
expect_status 200 "a request before the worker is stopped"
W=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
ITEMS0=$(sget $P 'j["stages"][0]["items"]')

kill -STOP "$W" || die "cannot stop worker $W"
# A: long deadline (60 s SLO); goes to the stopped worker and stays there.
curl -s -m 40 -o "$TMP/a.body" -w '%{http_code}' -X POST --data-binary held \
        "$URL/v1/pipelines/$P/infer" >"$TMP/a.code" 2>/dev/null &
A_PID=$!
AGENT_BG+=("$A_PID")
held() { [ "$(sget $P 'j["in_flight"] == 1 and j["stages"][0]["queue_length"] == 0')" = True ]; }
wait_until 10 "request A in the stopped worker" held || die "A never reached the worker"

# 1. B waits in the queue (no replica is free) and its deadline passes.
t0=$(now_s)
HTTP_TIMEOUT=10 http POST /v1/pipelines/$P/infer -H 'X-Sponge-Deadline-Ms: 600' --data-binary b
took=$(elapsed "$t0")
say "B answered after $took s: HTTP $HTTP_STATUS $(head -c 300 "$TMP/resp.body")"
expect_json_error 504 "a queued request whose deadline passed" "expired"
below "$took" 2.0 || fail "B took $took s (deadline 0.6 s)"
[ "$(sget $P 'j["stages"][0]["expired"]')" = 1 ] || fail "stage expired is not 1"

# 2. C's client gives up after 1 s while C is queued (deadline 30 s: not hopeless).
CANCELLED0=$(sget $P 'j["answered"]["cancelled"]')
curl -s -m 1 -o /dev/null -X POST -H 'X-Sponge-Deadline-Ms: 30000' --data-binary c \
        "$URL/v1/pipelines/$P/infer"
queued_gone() { [ "$(sget $P 'j["stages"][0]["queue_length"] == 0 and j["in_flight"] == 1')" = True ]; }
wait_until 3 "C cancelled and out of the queue once its client left" queued_gone
[ "$(sget $P "j['answered']['cancelled'] == $CANCELLED0 + 1")" = True ] ||
        fail "C not counted as cancelled: $(sget $P 'j["answered"]')"
http GET /v1/node
[ "$(jget "$TMP/resp.body" 'j["bounded"]["clients_gone"] >= 1')" = True ] ||
        fail "bounded.clients_gone not counted: $(jget "$TMP/resp.body" 'j.get("bounded")')"

# 3. The worker resumes: A is served; C was never sent to it.
kill -CONT "$W"
wait "$A_PID"
[ "$(cat "$TMP/a.code")" = 200 ] || fail "A after SIGCONT: HTTP $(cat "$TMP/a.code")"
sleep 0.5
ITEMS=$(sget $P 'j["stages"][0]["items"]')
[ "$ITEMS" = $((ITEMS0 + 1)) ] || fail "the worker processed $((ITEMS - ITEMS0)) items after the stop, expected 1 (A only)"
wait_until 5 "no request left live" live_is_zero

agent_finish
