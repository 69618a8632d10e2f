#!/usr/bin/env bash
# reliability.http — HTTP exhaustion is bounded:
#  1. a body on a route that takes none is refused (413, JSON);
#  2. a body above the worker frame limit (16 MiB) but under the pipeline's max_body_bytes is
#     refused 413 at admission (not sent to a worker to fail with 502);
#  3. the agent's budget of request bodies in flight (max_body_bytes_in_flight) refuses a
#     request past it with 503 as it begins;
#  4. a batch is built within the frame limit: three queued 6 MiB requests (18 MiB, batch limit
#     4) are all served, none fails with a batch-wide 502;
#  5. a client that sends its request head one byte at a time is cut off within
#     request_head_timeout_ms;
#  6. a client past max_connections_per_ip open connections is not served.
# Usage: reliability-http.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/reliability-lib.sh"
reliability_init http 18876 "$@"
MIB=1048576
agent_config "\"control\": false, \"request_head_timeout_ms\": 2000, \"max_body_bytes_in_flight\": $((32 * MIB)), \"max_connections_per_ip\": 8"
agent_start

P=big
mkpipe --name $P --slo-ms 60000 --stage s0:echo --max-batch 4 --replicas 1,1 \
        --max-body-bytes $((32 * MIB)) --plan echo:4:200:1 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"

# 1. no body where none is taken
http GET /healthz --data-binary 'a body'
expect_json_error 413 "GET /healthz with a body" "no body"
http DELETE /v1/pipelines/$P/plan --data-binary 'a body'
expect_json_error 413 "DELETE .../plan with a body" "no body"

# 2. above the frame limit
head -c $((17 * MIB)) /dev/zero >"$TMP/17m"
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/17m"
expect_json_error 413 "a 17 MiB body (frame limit 16 MiB, max_body_bytes 32 MiB)" "frame limit"

# 3. + 4. the worker stopped with one small request; three 6 MiB requests wait (18 MiB held)
W=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
kill -STOP "$W"
post_bg() { # NAME FILE
        curl -s -m 60 -o "$TMP/$1.body" -w '%{http_code}' -X POST --data-binary "@$2" \
                "$URL/v1/pipelines/$P/infer" >"$TMP/$1.code" 2>/dev/null &
        AGENT_BG+=("$!")
        eval "REQ_$1=$!"
}
echo small >"$TMP/small"
post_bg a "$TMP/small"
held() { [ "$(sget $P "j['in_flight'] == $1 and j['stages'][0]['queue_length'] == $2")" = True ]; }
wait_until 10 "request a in the stopped worker" held 1 0 || die "a never reached the worker"
head -c $((6 * MIB)) /dev/urandom >"$TMP/6m"
post_bg b "$TMP/6m"
post_bg c "$TMP/6m"
post_bg d "$TMP/6m"
wait_until 20 "three 6 MiB requests queued" held 4 3 || die "the 6 MiB requests were not queued"
head -c $((15 * MIB)) /dev/zero >"$TMP/15m"
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/15m"
expect_json_error 503 "a 15 MiB body with 18 MiB of 32 MiB held" "max_body_bytes_in_flight"
http GET /v1/node
[ "$(jget "$TMP/resp.body" 'j["bounded"]["http_budget_refused"]')" = 1 ] ||
        fail "bounded.http_budget_refused is not 1: $(jget "$TMP/resp.body" 'j.get("bounded")')"
kill -CONT "$W"
for r in a b c d; do
        eval "wait \$REQ_$r"
        [ "$(cat "$TMP/$r.code")" = 200 ] || fail "request $r: HTTP $(cat "$TMP/$r.code") $(head -c 200 "$TMP/$r.body")"
done
cmp -s "$TMP/b.body" "$TMP/6m" || fail "the 6 MiB answer is not the echo of its body"
say "6 MiB requests: $(sget $P 'j["stages"][0]["batches"]') batches, $(sget $P 'j["stages"][0]["items"]') items"

# 5. a slow request head
"$PY" - "$PORT" >"$TMP/slow" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
t0 = time.time()
head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100
closed = None
for i in range(len(head)):
    try:
        s.sendall(head[i:i + 1])
        s.settimeout(0.5)
        if s.recv(1) == b"":
            closed = time.time() - t0
            break
    except socket.timeout:
        pass
    except OSError:
        closed = time.time() - t0
        break
    if time.time() - t0 > 12:
        break
print("%.2f" % closed if closed is not None else "open")
PYEOF
say "slow head: closed after $(cat "$TMP/slow") s"
case $(cat "$TMP/slow") in
open) fail "a client sending its head a byte at a time was kept for 12 s (request_head_timeout_ms 2000)" ;;
*) below "$(cat "$TMP/slow")" 4 || fail "the slow head was cut after $(cat "$TMP/slow") s" ;;
esac

# 6. connections per IP
"$PY" - "$PORT" >"$TMP/perip" <<'PYEOF'
import socket, sys
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]
s = socket.create_connection(("127.0.0.1", port), timeout=2)
try:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = s.recv(100)
    print("served" if data.startswith(b"HTTP/1.1 200") else "refused")
except OSError:
    print("refused")
PYEOF
[ "$(cat "$TMP/perip")" = refused ] || fail "a ninth connection from one address was served (max_connections_per_ip 8)"
http GET /healthz
expect_status 200 "a request once the eight connections are closed"

agent_finish
