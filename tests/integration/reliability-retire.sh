#!/usr/bin/env bash
# reliability.retire — retiring and stopping are bounded even with a stuck worker (SIGSTOP):
#  1. DELETE of a pipeline whose worker holds a request: the request is answered (503, JSON)
#     within drain_timeout_ms, the stuck worker is killed, the pipeline and its cgroups go;
#  2. a variant switch while the old variant's worker is stuck with a request: once the new
#     worker is ready, the old one gets drain_timeout_ms to finish; then it is killed and the
#     request goes back to the queue and is served by the new variant (200);
#  3. SIGTERM with a stuck worker holding a request: the request is answered and sponged exits
#     0 within drain_timeout_ms plus a small constant, nothing left behind.
# Usage: reliability-retire.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/reliability-lib.sh"
reliability_init retire 18873 "$@"
DRAIN_MS=2000
agent_config "\"control\": false, \"drain_timeout_ms\": $DRAIN_MS"
agent_start

stuck_request() { # PIPELINE NAME — sends a request in the background to the stopped worker
        curl -s -m 60 -o "$TMP/$2.body" -w '%{http_code}' -X POST --data-binary "$2" \
                "$URL/v1/pipelines/$1/infer" >"$TMP/$2.code" 2>/dev/null &
        AGENT_BG+=("$!")
        eval "REQ_$2=$!"
}
REQ_a="" REQ_b="" # set by stuck_request

# 1. DELETE
P=del
mkpipe --name $P --slo-ms 120000 --stage s0:echo --replicas 1,1 --plan echo:1:200:1 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"
W=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
CG=$(sget $P 'j["stages"][0]["replica_list"][0]["cgroup"]')
kill -STOP "$W"
stuck_request $P a
held() { [ "$(sget $P 'j["in_flight"] == 1 and j["stages"][0]["queue_length"] == 0')" = True ]; }
wait_until 10 "request a in the stopped worker" held || die "a never reached the worker"
t0=$(now_s)
http DELETE /v1/pipelines/$P
expect_status 200 "DELETE of a pipeline with a stuck worker"
wait "$REQ_a"
took=$(elapsed "$t0")
say "request a answered $(cat "$TMP/a.code") after $took s: $(head -c 200 "$TMP/a.body")"
[ "$(cat "$TMP/a.code")" = 503 ] || fail "request a: HTTP $(cat "$TMP/a.code"), expected 503"
below "$took" $((DRAIN_MS / 1000 + 2)) || fail "request a took $took s (drain_timeout_ms $DRAIN_MS)"
gone() { [ ! -d "/proc/$W" ] && [ ! -d "$CG_MOUNT$CG" ] && [ ! -d "$CG" ]; }
wait_until 5 "stuck worker $W killed and its cgroup removed" gone
http GET /v1/pipelines/$P
expect_status 404 "the deleted pipeline"

# 2. a variant switch
V=switch
mkpipe --name $V --slo-ms 120000 --stage s0:echo,resnet18 --replicas 1,1 --plan echo:1:200:1 >"$TMP/$V.json"
apply_pipeline "$TMP/$V.json"
wait_ready $V 30 || die "pipeline $V never became ready"
W=$(sget $V 'j["stages"][0]["replica_list"][0]["pid"]')
kill -STOP "$W"
curl -s -m 60 -D "$TMP/c.headers" -o "$TMP/c.body" -w '%{http_code}' -X POST --data-binary c \
        "$URL/v1/pipelines/$V/infer" >"$TMP/c.code" 2>/dev/null &
AGENT_BG+=("$!")
REQ_c=$!
held() { [ "$(sget $V 'j["in_flight"] == 1 and j["stages"][0]["queue_length"] == 0')" = True ]; }
wait_until 10 "request c in the stopped worker" held || die "c never reached the worker"
t0=$(now_s)
pin $V resnet18:1:500:1
wait "$REQ_c"
took=$(elapsed "$t0")
say "request c answered $(cat "$TMP/c.code") after $took s by $(grep -i '^x-sponge-variants' "$TMP/c.headers" | tr -d '\r')"
[ "$(cat "$TMP/c.code")" = 200 ] || fail "request c: HTTP $(cat "$TMP/c.code"), expected 200 from the new variant"
grep -qi '^x-sponge-variants: resnet18' "$TMP/c.headers" || fail "request c not served by the new variant"
below "$took" $((DRAIN_MS / 1000 + 4)) || fail "the switch took $took s (drain_timeout_ms $DRAIN_MS)"
gone() { [ ! -d "/proc/$W" ]; }
wait_until 5 "the stuck old worker $W killed" gone

# 3. SIGTERM
Q=term
mkpipe --name $Q --slo-ms 120000 --stage s0:echo --replicas 1,1 --plan echo:1:200:1 >"$TMP/$Q.json"
apply_pipeline "$TMP/$Q.json"
wait_ready $Q 30 || die "pipeline $Q never became ready"
W=$(sget $Q 'j["stages"][0]["replica_list"][0]["pid"]')
kill -STOP "$W"
stuck_request $Q b
held() { [ "$(sget $Q 'j["in_flight"] == 1 and j["stages"][0]["queue_length"] == 0')" = True ]; }
wait_until 10 "request b in the stopped worker" held || die "b never reached the worker"
t0=$(now_s)
agent_stop 30 || die "sponged did not exit within 30 s of SIGTERM"
took=$(elapsed "$t0")
say "sponged exited $AGENT_EXIT after $took s (drain_timeout_ms $DRAIN_MS)"
[ "$AGENT_EXIT" = 0 ] || fail "exit status $AGENT_EXIT after SIGTERM"
below "$took" $((DRAIN_MS / 1000 + 3)) || fail "SIGTERM took $took s with drain_timeout_ms $DRAIN_MS"
wait "$REQ_b"
[ "$(cat "$TMP/b.code")" = 503 ] || fail "request b: HTTP $(cat "$TMP/b.code"), expected 503"
agent_check_nothing_left "$W"

agent_finish
