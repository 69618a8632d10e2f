#!/usr/bin/env bash
# agent.bad-requests — the HTTP API under bad input: bad JSON, invalid pipelines and plans,
# name mismatches, bad and negative budget headers, Slo+Deadline together, wrong methods,
# unknown pipelines and routes, oversized bodies (Content-Length and chunked), huge header
# values, slow clients, clients that go away mid-request, while queued and while in flight.
# Each gets the expected status and (where the server can answer) a JSON {"error","detail"}
# body; the daemon keeps serving others meanwhile, answers /healthz afterwards, and its metrics
# show no leaked request (sponged_requests_live back to 0, in_flight 0).
# Usage: agent-bad-requests.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
agent_init agent.bad-requests 18774 "$@"
agent_config '"control": false'
agent_start

P=bad
mkpipe --name $P --stage s0:echo --max-body-bytes 1024 --max-batch 4 --millicores 100,1000,100 \
        --replicas 1,2 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
# A slow pipeline (about half a second per request) to have requests queued and in flight.
# Sanitizer builds compute about 10 times slower: a smaller variant there.
SLOW=resnet152:1:100:1
[ "$AGENT_SANITIZED" = 1 ] && SLOW=resnet18:1:200:1
mkpipe --name slow --stage "s0:${SLOW%%:*}" --max-batch 1 --millicores 100,1000,100 \
        --replicas 1,1 --plan "$SLOW" >"$TMP/slow.json"
apply_pipeline "$TMP/slow.json"
wait_ready $P 30 || die "pipeline $P never became ready"
wait_ready slow 30 || die "pipeline slow never became ready"
CT=(-H 'Content-Type: application/json')

N=0
# bad CODE WHAT DETAIL_SUBSTRING METHOD PATH [CURL_ARGS...] — one bad request, JSON error expected.
bad() {
        local code=$1 what=$2 detail=$3
        shift 3
        N=$((N + 1))
        http "$@"
        expect_json_error "$code" "case $N ($what)" "$detail"
}
# A pipeline file with one change (a Python statement over j).
variant_of() {
        "$PY" - "$TMP/$P.json" "$1" >"$TMP/variant.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(j, sys.stdout)
EOF
}

# ---- pipeline and plan documents ----
bad 400 "PUT pipeline: truncated JSON" "invalid JSON" PUT /v1/pipelines/$P "${CT[@]}" --data-binary '{"name": "bad",'
bad 400 "PUT pipeline: not an object" "" PUT /v1/pipelines/$P "${CT[@]}" --data-binary '[1, 2]'
bad 400 "PUT pipeline: empty body" "" PUT /v1/pipelines/$P "${CT[@]}" --data-binary ''
variant_of 'j["slo_ms"] = -5'
bad 400 "PUT pipeline: negative slo_ms" "slo_ms" PUT /v1/pipelines/$P "${CT[@]}" --data-binary "@$TMP/variant.json"
variant_of 'j["stages"][0]["millicores"]["step"] = 70'
bad 400 "PUT pipeline: millicores step off" "stages[0].millicores.step" PUT /v1/pipelines/$P "${CT[@]}" --data-binary "@$TMP/variant.json"
variant_of 'j["colour"] = "blue"'
bad 400 "PUT pipeline: unknown key" "colour" PUT /v1/pipelines/$P "${CT[@]}" --data-binary "@$TMP/variant.json"
variant_of 'j["stages"][0]["variants"][0]["command"] = "sponge-worker-echo --fast"'
bad 400 "PUT pipeline: shell-string command" "command" PUT /v1/pipelines/$P "${CT[@]}" --data-binary "@$TMP/variant.json"
bad 400 "PUT pipeline: name differs from URL" "does not match" PUT /v1/pipelines/other "${CT[@]}" --data-binary "@$TMP/$P.json"
bad 400 "PUT pipeline: invalid name in URL" "[a-z0-9]" PUT /v1/pipelines/Bad_Name "${CT[@]}" --data-binary "@$TMP/$P.json"
[ -e "$PIPELINES_DIR/other.json" ] && fail "a rejected PUT left other.json behind"
bad 400 "PUT plan: bad JSON" "invalid JSON" PUT /v1/pipelines/$P/plan "${CT[@]}" --data-binary '[{"variant":'
bad 400 "PUT plan: unknown variant" "variant" PUT /v1/pipelines/$P/plan "${CT[@]}" \
        --data-binary '[{"variant": "nosuch", "batch": 1, "millicores": 200, "replicas": 1}]'
bad 400 "PUT plan: millicores off the grid" "millicores" PUT /v1/pipelines/$P/plan "${CT[@]}" \
        --data-binary '[{"variant": "echo", "batch": 1, "millicores": 150, "replicas": 1}]'
bad 400 "PUT plan: batch above max_batch" "batch" PUT /v1/pipelines/$P/plan "${CT[@]}" \
        --data-binary '[{"variant": "echo", "batch": 5, "millicores": 200, "replicas": 1}]'
bad 400 "PUT plan: negative replicas" "replicas" PUT /v1/pipelines/$P/plan "${CT[@]}" \
        --data-binary '[{"variant": "echo", "batch": 1, "millicores": 200, "replicas": -1}]'
bad 400 "PUT plan: two entries for one stage" "" PUT /v1/pipelines/$P/plan "${CT[@]}" \
        --data-binary '[{"variant": "echo", "batch": 1, "millicores": 200, "replicas": 1}, {"variant": "echo", "batch": 1, "millicores": 200, "replicas": 1}]'
bad 404 "PUT plan: unknown pipeline" "nosuch" PUT /v1/pipelines/nosuch/plan "${CT[@]}" \
        --data-binary '[{"variant": "echo", "batch": 1, "millicores": 200, "replicas": 1}]'
# Nothing of the above changed the running pipeline.
[ "$(sget $P '[s["plan"] for s in j["stages"]] == [{"variant": "echo", "batch": 1, "millicores": 1000, "replicas": 1}] and j["pinned"] == False')" = True ] ||
        fail "rejected PUTs changed the pipeline: $(sget $P '[j["pinned"]] + [s["plan"] for s in j["stages"]]')"
[ "$(jget "$PIPELINES_DIR/$P.json" 'j["slo_ms"]')" = 20000 ] || fail "rejected PUTs changed the persisted file"

# ---- routes and methods ----
bad 404 "infer on an unknown pipeline" "nosuch" POST /v1/pipelines/nosuch/infer --data-binary x
bad 404 "GET an unknown pipeline" "nosuch" GET /v1/pipelines/nosuch
bad 404 "DELETE an unknown pipeline" "nosuch" DELETE /v1/pipelines/nosuch
bad 404 "unknown route" "" GET /v3/things   # /v2 is the Open Inference Protocol (oip.routes)
bad 404 "unknown sub-route" "" GET /v1/pipelines/$P/bogus
bad 404 "pipeline name longer than allowed" "" GET "/v1/pipelines/$(printf 'a%.0s' $(seq 40))"
bad 400 "invalid pipeline name" "" GET /v1/pipelines/UPPER
bad 405 "DELETE /healthz" "" DELETE /healthz
[ -n "$(resp_header Allow)" ] || fail "405 without an Allow header"
bad 405 "POST /v1/node" "" POST /v1/node --data-binary x
bad 405 "GET .../infer" "" GET /v1/pipelines/$P/infer
bad 405 "POST /v1/pipelines" "" POST /v1/pipelines --data-binary x
bad 405 "PATCH a pipeline" "" PATCH /v1/pipelines/$P --data-binary x
bad 405 "POST /metrics" "" POST /metrics --data-binary x

# ---- budgets (headers) on infer ----
infer_400=0
hdr() { # CODE WHAT DETAIL HEADER...
        local code=$1 what=$2 detail=$3 args=() h
        shift 3
        for h in "$@"; do args+=(-H "$h"); done
        bad "$code" "$what" "$detail" POST /v1/pipelines/$P/infer --data-binary payload "${args[@]}"
        [ "$code" = 400 ] && infer_400=$((infer_400 + 1))
        return 0
}
hdr 400 "Slo not a number" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms: abc'
hdr 400 "Slo with a unit" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms: 12ms'
hdr 400 "Slo empty" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms;'
hdr 400 "negative Slo" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms: -5'
hdr 400 "zero Slo" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms: 0'
hdr 400 "Slo NaN" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms: nan'
hdr 400 "Slo infinite" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms: 1e400'
hdr 400 "Slo in hex" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms: 0x10'
hdr 400 "Slo in exponent form" "X-Sponge-Slo-Ms" 'X-Sponge-Slo-Ms: 1e3'
hdr 400 "negative Network" "X-Sponge-Network-Ms" 'X-Sponge-Network-Ms: -3'
hdr 400 "negative Deadline" "X-Sponge-Deadline-Ms" 'X-Sponge-Deadline-Ms: -1'
hdr 400 "Deadline with a comma" "X-Sponge-Deadline-Ms" 'X-Sponge-Deadline-Ms: 1,5'
hdr 400 "Slo and Deadline together" "not both" 'X-Sponge-Slo-Ms: 500' 'X-Sponge-Deadline-Ms: 400'
hdr 400 "Network and Deadline together" "not both" 'X-Sponge-Network-Ms: 5' 'X-Sponge-Deadline-Ms: 400'
hdr 400 "8 KiB Slo value" "X-Sponge-Slo-Ms" "X-Sponge-Slo-Ms: $(printf '1%.0s' $(seq 8192))"
hdr 504 "network time above the SLO" "no time left" 'X-Sponge-Slo-Ms: 100' 'X-Sponge-Network-Ms: 150'
hdr 504 "zero Deadline" "" 'X-Sponge-Deadline-Ms: 0'
hdr 504 "Deadline shorter than the service time" "" 'X-Sponge-Deadline-Ms: 0.0001'
# A huge value in an unrelated header is not the agent's business: served.
http POST /v1/pipelines/$P/infer --data-binary payload -H "X-Other: $(printf 'v%.0s' $(seq 8192))"
expect_status 200 "8 KiB unrelated header"

# ---- bodies ----
head -c 1024 /dev/urandom >"$TMP/1024"
head -c 1025 /dev/urandom >"$TMP/1025"
head -c 65536 /dev/urandom >"$TMP/64k"
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/1024"
expect_status 200 "a body of exactly max_body_bytes" && cmp -s "$TMP/resp.body" "$TMP/1024" ||
        fail "1024-byte body not echoed"
bad 413 "body one byte above max_body_bytes" "1024" POST /v1/pipelines/$P/infer --data-binary "@$TMP/1025"
bad 413 "64 KiB body" "1024" POST /v1/pipelines/$P/infer --data-binary "@$TMP/64k"
bad 413 "64 KiB chunked body" "1024" POST /v1/pipelines/$P/infer -H 'Transfer-Encoding: chunked' --data-binary "@$TMP/64k"
http POST /v1/pipelines/$P/infer -H 'Transfer-Encoding: chunked' --data-binary "@$TMP/1024"
expect_status 200 "chunked body of max_body_bytes" && cmp -s "$TMP/resp.body" "$TMP/1024" ||
        fail "chunked 1024-byte body not echoed"
head -c $((5 << 20)) /dev/zero >"$TMP/5m"
bad 413 "5 MiB PUT body" "" PUT /v1/pipelines/$P "${CT[@]}" --data-binary "@$TMP/5m"
too_large=3
say "$N bad requests answered with JSON errors"

# ---- below the handlers: the HTTP library answers (status only, its own body), or closes ----
raw() { # EXPECTED_CODES WHAT — stdin is sent as is on one connection
        local want=$1 what=$2 got
        N=$((N + 1))
        "$PY" "$PYTOOL" raw "$PORT" 10 >"$TMP/raw.out"
        got=$(head -n1 "$TMP/raw.out")
        case " $want " in
        *" $got "*) ;;
        *) fail "case $N ($what): expected HTTP $want, got $got" ;;
        esac
}
{
        printf 'POST /v1/pipelines/%s/infer HTTP/1.1\r\nHost: localhost\r\nX-Huge: ' $P
        head -c $((256 << 10)) /dev/zero | tr '\0' h
        printf '\r\nContent-Length: 1\r\n\r\nx'
} | raw "413 431" "256 KiB header value"
# libmicrohttpd closes the connection on a request line it cannot parse ("none").
printf 'GARBAGE\r\n\r\n' | raw "400 none" "malformed request line"
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: -4\r\n\r\n' | raw "400 none" "negative Content-Length"
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' | raw "200" "well-formed raw request (control)"

# ---- slow clients: the server keeps serving the others ----
{
        printf 'POST /v1/pipelines/%s/infer HTTP/1.1\r\nHost: localhost\r\nContent-Le' $P
} >"$TMP/half-headers"
{
        printf 'POST /v1/pipelines/%s/infer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nonly-part' $P
} >"$TMP/half-body"
holders=()
for i in $(seq 10); do
        "$PY" "$PYTOOL" hold "$PORT" 20 "$TMP/half-headers" >"$TMP/hold-h$i.out" 2>&1 &
        holders+=("$!")
        "$PY" "$PYTOOL" hold "$PORT" 20 "$TMP/half-body" >"$TMP/hold-b$i.out" 2>&1 &
        holders+=("$!")
done
AGENT_BG+=("${holders[@]}")
holding() { [ "$(cat "$TMP"/hold-*.out 2>/dev/null | grep -c sent)" = 20 ]; }
wait_until 10 "20 slow clients connected and stalled" holding
N=$((N + 1))
t0=$(date +%s%N)
for i in $(seq 5); do
        HTTP_TIMEOUT=5 http GET /healthz
        expect_status 200 "healthz while 20 clients stall"
        HTTP_TIMEOUT=5 http POST /v1/pipelines/$P/infer --data-binary "meanwhile-$i"
        expect_status 200 "infer while 20 clients stall" && [ "$(resp_body)" = "meanwhile-$i" ] ||
                fail "infer while clients stall: wrong output"
done
say "10 requests served in $((($(date +%s%N) - t0) / 1000000)) ms while 20 slow clients stalled"
# The stalled clients vanish (their sockets closed by the kernel): nothing of theirs stays live.
kill "${holders[@]}" 2>/dev/null
wait "${holders[@]}" 2>/dev/null
wait_until 10 "requests of the vanished slow clients released" live_is_zero

# ---- clients that go away ----
# Mid-body: headers and part of the body, then close.
N=$((N + 1))
printf 'POST /v1/pipelines/%s/infer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n0123456789' $P >"$TMP/cut-body"
"$PY" "$PYTOOL" hold "$PORT" 0.2 "$TMP/cut-body" >/dev/null || fail "mid-body client could not connect"
# Mid-headers.
N=$((N + 1))
"$PY" "$PYTOOL" hold "$PORT" 0.2 "$TMP/half-headers" >/dev/null || fail "mid-header client could not connect"
# While in flight and while queued: three requests on the slow pipeline (one at the worker,
# two waiting); the second and third clients leave; the first still gets its answer.
N=$((N + 2))
printf 'POST /v1/pipelines/slow/infer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfirst' >"$TMP/slow-first"
printf 'POST /v1/pipelines/slow/infer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\ngone' >"$TMP/slow-gone"
"$PY" "$PYTOOL" raw "$PORT" 30 <"$TMP/slow-first" >"$TMP/slow-first.out" &
first=$!
AGENT_BG+=("$first")
sleep 0.2
# (held for seconds: a client that leaves is noticed at once and its queued request cancelled,
# so the window in which all three are live is as long as the clients stay)
"$PY" "$PYTOOL" hold "$PORT" 4 "$TMP/slow-gone" >/dev/null &
g1=$!
"$PY" "$PYTOOL" hold "$PORT" 3 "$TMP/slow-gone" >/dev/null &
g2=$!
AGENT_BG+=("$g1" "$g2")
queued() { [ "$(sget slow 'j["in_flight"] >= 3 and j["stages"][0]["queue_length"] >= 1')" = True ]; }
wait_until 10 "3 requests in the slow pipeline, some queued" queued
say "slow pipeline: one request in flight, two queued; two clients leave"
wait "$g1" "$g2"
wait_until 30 "the first slow request answered" eval '! kill -0 '"$first"' 2>/dev/null'
wait "$first"
say "slow pipeline: the first request answered"
[ "$(head -n1 "$TMP/slow-first.out")" = 200 ] || fail "the request ahead of the leavers: $(head -c 300 "$TMP/slow-first.out")"
# The queued ones are dropped or served to nobody; either way none stays live.
slow_idle() { [ "$(sget slow 'j["in_flight"] == 0 and j["stages"][0]["queue_length"] == 0')" = True ]; }
wait_until 20 "slow pipeline: nothing left in flight after its clients left" slow_idle

say "slow pipeline idle"
# ---- afterwards ----
http GET /healthz
expect_status 200 "healthz after $N bad requests"
http POST /v1/pipelines/$P/infer --data-binary still-ok
expect_status 200 "infer after the bad requests" && [ "$(resp_body)" = still-ok ] || fail "final infer output"
wait_until 20 "sponged_requests_live back to 0" live_is_zero
status_of $P
[ "$(jget "$TMP/status.json" 'j["in_flight"]')" = 0 ] || fail "pipeline $P in_flight $(jget "$TMP/status.json" 'j["in_flight"]')"
# The outcome counters match what was sent to pipeline bad.
got=$(jget "$TMP/status.json" '[j["answered"]["bad_request"], j["answered"]["too_large"], j["answered"]["deadline"]]')
[ "$got" = "[$infer_400, $too_large, 3]" ] ||
        fail "answered {bad_request, too_large, deadline} of $P: $got, expected [$infer_400, $too_large, 3]"
v=$(metric "sponged_requests_total{pipeline=\"$P\",outcome=\"bad_request\"}")
[ "$v" = "$infer_400" ] || fail "sponged_requests_total{outcome=bad_request} = $v, expected $infer_400"
say "$N bad or hostile requests in all"
[ "$N" -ge 25 ] || fail "only $N cases"

agent_finish
