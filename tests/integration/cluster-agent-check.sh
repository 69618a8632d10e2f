#!/usr/bin/env bash
# cluster.agent-check — the capacity signal a load balancer reads, from the real sponged:
# HAProxy's agent-check protocol on its own port (node and per-pipeline answers, weight from the
# usable millicores against the reference, maint for a pipeline this node lacks, bounded answers
# to silent and to many clients), the same signal in /v1/node and /v1/pipelines/P, and the drain
# on SIGTERM with drain_grace_ms: the agent says "drain" at once, still serves requests during
# the grace, then stops.
# Usage: cluster-agent-check.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
AGENT_PORTS=18950-18969
agent_init cluster.agent-check 18950 "$@"
ACHECK=$((PORT + 1))
# eBPF off: the weight is then the core share alone (exact figures); cluster.haproxy checks the
# run-queue part under a real CPU hog.
agent_config "\"control\": true, \"ebpf\": false, \"millicores\": 1500, \"drain_grace_ms\": 3000,
  \"agent_check\": {\"listen\": \"127.0.0.1:$ACHECK\", \"reference_millicores\": 1000}"
agent_start

# ask [LINE] [WAIT_S] — connects to the agent-check port, sends LINE (if any), prints the reply
# line and how long it took (s), e.g. "up ready 150%|0.001".
ask() {
        "$PY" - "$ACHECK" "${1:-}" "${2:-2}" <<'EOF'
import socket, sys, time
port, line, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
t0 = time.monotonic()
s = socket.create_connection(("127.0.0.1", port), timeout=limit)
if line:
    s.sendall(line.encode().decode("unicode_escape").encode("latin-1"))
data = b""
while True:
    b = s.recv(256)
    if not b:
        break
    data += b
print("%s|%.3f" % (data.decode("latin-1").rstrip("\n"), time.monotonic() - t0))
EOF
}

P=cap
mkpipe --name $P --slo-ms 2000 --stage s0:resnet18 --millicores 100,1000,50 --replicas 1,2 \
        >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"

# The node and the pipeline: up, weight = usable 1500 mc / reference 1000 mc.
r=$(ask) || fail "agent check without a line: no answer"
[ "${r%%|*}" = "up ready 150%" ] || fail "node answer \"${r%%|*}\", expected \"up ready 150%\""
t=${r##*|}
"$PY" -c "import sys; sys.exit(0 if 0.15 <= $t <= 1.5 else 1)" ||
        fail "a silent client was answered after $t s (expected the 0.2 s wait, bounded)"
r=$(ask "$P\n")
[ "${r%%|*}" = "up ready 150%" ] || fail "pipeline answer \"${r%%|*}\", expected \"up ready 150%\""
"$PY" -c "import sys; sys.exit(0 if ${r##*|} < 0.15 else 1)" ||
        fail "a client that sent its line waited ${r##*|} s (expected an answer at once)"
r=$(ask "nope\n")
[ "${r%%|*}" = "maint#no pipeline nope on this node" ] || fail "unknown pipeline answer \"${r%%|*}\""
# A line that is not a pipeline name (HAProxy sends what the operator wrote): the node's answer.
r=$(ask 'x y;rm -rf /\r\n')
[ "${r%%|*}" = "up ready 150%" ] || fail "garbage line answered \"${r%%|*}\""
[ "$AGENT_FAILURES" = 0 ] && pass "agent check: node, pipeline, unknown pipeline, garbage"

# Many clients at once: each answered or closed, none kept past the wait.
"$PY" - "$ACHECK" >"$TMP/many.out" <<'EOF' || fail "many clients: $(cat "$TMP/many.out")"
import socket, sys, time
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(100)]
t0 = time.monotonic()
answered = closed = 0
for s in socks:
    d = s.recv(256)
    answered += d.startswith(b"up ready")
    closed += d == b""
dt = time.monotonic() - t0
print("answered %d closed %d in %.2f s" % (answered, closed, dt))
sys.exit(0 if answered >= 64 and answered + closed == 100 and dt < 2.5 else 1)
EOF
pass "100 silent clients: $(cat "$TMP/many.out")"

# The same signal in the JSON status.
http GET /v1/node
expect_status 200 "GET /v1/node"
[ "$(jget "$TMP/resp.body" 'j["capacity"]["state"] + " " + str(j["capacity"]["weight_pct"])')" = "up 150" ] ||
        fail "/v1/node capacity: $(jget "$TMP/resp.body" 'j["capacity"]')"
sget $P 'j["capacity"]' >"$TMP/cap.json" || fail "GET /v1/pipelines/$P"
"$PY" - "$TMP/cap.json" <<'EOF' || fail "pipeline capacity: $(cat "$TMP/cap.json")"
import json, sys
c = json.load(open(sys.argv[1]))
ok = c["state"] == "up" and c["plan_rps"] > 0 and c["max_rps"] >= c["plan_rps"] and \
     c["headroom_rps"] >= 0 and c["allocated_cores"] > 0 and c["usable_cores"] == 1.5
sys.exit(0 if ok else 1)
EOF

# Drain: SIGTERM → "up drain" at once, requests still served during the 3 s grace, then exit.
t_sig=$(now_s)
kill -TERM "$SPONGED_PID"
sleep 0.3
r=$(ask "$P\n")
[ "${r%%|*}" = "up drain" ] || fail "after SIGTERM the agent check said \"${r%%|*}\", expected \"up drain\""
printf 'drain-test' >"$TMP/in"
http POST /v1/pipelines/$P/infer --data-binary "@$TMP/in"
expect_status 200 "a request during the drain grace"
# No second signal (it would stop at once): wait for the grace to end by itself.
gone() { ! kill -0 "$SPONGED_PID" 2>/dev/null || agent_is_zombie "$SPONGED_PID"; }
wait_until 20 "sponged to stop after the drain grace" gone
dt=$("$PY" -c "print(round($(now_s) - $t_sig, 2))")
wait "$SPONGED_PID"
st=$?
SPONGED_PID=""
"$PY" -c "import sys; sys.exit(0 if 2.9 <= $dt <= 10 else 1)" ||
        fail "sponged stopped ${dt} s after SIGTERM (grace 3 s)"
[ "$st" = 0 ] || fail "sponged exited with $st"
[ "$AGENT_FAILURES" = 0 ] && pass "drain: announced at once, served during the grace, stopped ${dt} s after SIGTERM"
agent_finish
