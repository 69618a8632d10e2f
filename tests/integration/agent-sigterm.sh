#!/usr/bin/env bash
# agent.sigterm — SIGTERM under load: sponged stops accepting, answers every request it had
# accepted (200 with the output: queued and in-flight ones alike), stops its workers, removes
# its cgroups and exits 0; no request is left hanging and nothing is left behind.
# Usage: agent-sigterm.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
agent_init agent.sigterm 18776 "$@"
agent_config '"control": false, "drain_timeout_ms": 25000'
agent_start

P=term
# About 0.1 s per request at stage s0 (resnet34 at 200 millicores, batch 1; several times that
# in a sanitizer build), then an echo stage: with 6 clients, requests wait in the queue. The SLO
# is long: the drain, not the deadline, must decide what happens to them.
mkpipe --name $P --slo-ms 120000 --stage s0:resnet34 --stage s1:echo --max-batch 2 \
        --millicores 100,1000,100 --replicas 1,1 --plan resnet34:1:200:1 --plan echo:2:100:1 \
        >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
wait_ready $P 30 || die "pipeline $P never became ready"
WORKERS=$(sget $P '" ".join(str(r["pid"]) for s in j["stages"] for r in s["replica_list"])')

load_start tl --pipeline $P --count 400 --concurrency 6 --timeout 60 --stop-on-refused
backlog() { [ "$(sget $P 'j["in_flight"] >= 4 and j["stages"][0]["queue_length"] >= 2 and j["answered"]["ok"] >= 1')" = True ]; }
wait_until 30 "requests queued behind the busy stage" backlog || die "no backlog to drain"
sleep 0.5
t_term=$(now_s)
inflight=$(sget $P 'j["in_flight"]')
say "SIGTERM with $inflight requests in flight (workers $WORKERS)"
agent_stop 60 || die "sponged did not exit within 60 s of SIGTERM"
t_exit=$(now_s)
say "sponged exited with status $AGENT_EXIT after $("$PY" -c "print('%.2f' % ($t_exit - $t_term))") s"
[ "$AGENT_EXIT" = 0 ] || fail "exit status $AGENT_EXIT after SIGTERM, expected 0"
load_wait tl 60
say "load: $(cat "$TMP/tl.summary")"

# Every request: answered, or refused at connect once the agent stopped listening. None hung.
"$PY" - "$TMP/tl.jsonl" "$t_term" >"$TMP/verdict" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
t_term = float(sys.argv[2])
bad = []
drained = 0
for r in recs:
    st, err = r["status"], r.get("err")
    if err == "hung":
        bad.append("request %d hung (no answer in 60 s)" % r["i"])
    elif r["t0"] < t_term - 0.5:
        # Sent well before SIGTERM: accepted, so it must be served in full.
        if st != 200 or not r.get("echo_ok"):
            bad.append("request %d sent %.2f s before SIGTERM got %s %s %s" % (
                r["i"], t_term - r["t0"], st, err or "", r.get("detail") or r.get("body") or ""))
        elif r["t1"] > t_term:
            drained += 1
    elif st is not None and st != 200 and not (st == 503 and r.get("json_error")):
        bad.append("request %d around/after SIGTERM got %s (expected 200, a JSON 503 or a refused connection)" % (r["i"], st))
    elif st is None and err not in ("refused",) and not err.startswith("oserror"):
        bad.append("request %d: %s" % (r["i"], err))
print(drained)
for b in bad[:10]:
    print(b)
EOF
drained=$(head -n1 "$TMP/verdict")
say "$drained requests accepted before SIGTERM were answered during the drain"
if [ "$(wc -l <"$TMP/verdict")" -gt 1 ]; then
        fail "requests not served as they should be: $(tail -n +2 "$TMP/verdict" | tr '\n' ';')"
fi
[ "$drained" -ge 2 ] || fail "only $drained requests were pending at SIGTERM: the drain was not exercised"
grep -q 'SIGTERM: no new requests' "$LOG" || fail "the log does not show the SIGTERM drain"
grep -q 'exiting' "$LOG" || fail "the log does not show the exit"

# Nothing left: no worker, no cgroup (v1: nor its cpuacct mirror).
# shellcheck disable=SC2086 # a list of pids
agent_check_nothing_left $WORKERS

agent_finish
