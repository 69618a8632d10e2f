#!/usr/bin/env bash
# agent.loadgen — sponge-load against a real sponged serving a one-stage echo pipeline:
#   1. 200 req/s Poisson for 3 s over TCP (127.0.0.1:18768): every request answered, SLO
#      attainment >= 95 %, one CSV line per request, and the agent's own count of 200s equals
#      sponge-load's;
#   2. 100 req/s uniform for 1 s over the agent's UNIX socket: exactly 100 sent and answered;
#   3. a non-loopback target is refused (exit 2);
#   4. SIGTERM: sponged exits 0, its workers are gone and its cgroup root is removed.
# Needs root (sponged creates a cgroup per worker); exits 77 (skipped) otherwise.
set -euo pipefail

fail() {
        echo "FAIL: $*" >&2
        if [ -s "${tmp:-}/sponged.log" ]; then
                echo "--- last lines of sponged's log:" >&2
                tail -n 20 "$tmp/sponged.log" >&2
        fi
        exit 1
}

if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: needs root (sponged puts its workers in cgroups it creates)"
        exit 77
fi
bin=${SPONGE_BINARY_DIR:?set by CTest}/bin
for b in sponged sponge-load sponge-worker-echo; do
        [ -x "$bin/$b" ] || fail "$bin/$b is not built"
done
command -v curl >/dev/null || fail "curl is missing (tests/setup.sh installs it)"

# A cgroup root of our own, so concurrent tests never share one.
name=sponged-loadgen-test-$$
if [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
        cgroot=/sys/fs/cgroup/cpu/$name
elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        cgroot=/sys/fs/cgroup/$name
else
        echo "SKIP: no cgroup cpu controller (neither v1 /sys/fs/cgroup/cpu nor v2 +cpu)"
        exit 77
fi

cgacct=${cgroot/\/cpu\//\/cpuacct\/} # v1 keeps a cpuacct mirror; same path on v2

port=18768
tmp=$(mktemp -d /tmp/agent-loadgen.XXXXXX)
pid=
# After a failure only: what a sponged that had to be killed left behind in OUR groups (its
# workers, then the groups, leaves first). A passing run checks that sponged removed them.
remove_leftovers() {
        local d p
        for d in "$cgroot" "$cgacct"; do
                [ -d "$d" ] || continue
                for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                        kill -KILL "$p" 2>/dev/null || true
                done
                sleep 0.2
                find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        done
}
cleanup() {
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null || true
                for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                if kill -0 "$pid" 2>/dev/null; then
                        echo "note: sponged ignored SIGTERM for 10 s; killed" >&2
                        kill -KILL "$pid" 2>/dev/null || true
                fi
                wait "$pid" 2>/dev/null || true
        fi
        remove_leftovers
        rm -rf "$tmp"
}
trap cleanup EXIT

mkdir "$tmp/p"
cat >"$tmp/p/echo.json" <<'EOF'
{
  "name": "echo",
  "slo_ms": 1000,
  "stages": [
    {
      "name": "echo",
      "max_batch": 16,
      "millicores": {"min": 100, "max": 1000, "step": 100},
      "replicas": {"min": 1, "max": 1},
      "variants": [
        {
          "name": "echo",
          "accuracy": 50,
          "command": ["sponge-worker-echo"],
          "startup_ms": 50,
          "profile": {"model": {"gamma": 0.01, "delta": 0.01, "epsilon": 0.01, "eta": 0.1}}
        }
      ]
    }
  ]
}
EOF
cat >"$tmp/node.json" <<EOF
{"listen": ["127.0.0.1:$port", "unix:$tmp/api.sock"], "pipelines_dir": "$tmp/p",
 "cgroup": {"root": "$cgroot"}}
EOF

"$bin/sponged" --config "$tmp/node.json" >"$tmp/sponged.log" 2>&1 &
pid=$!
ready=
for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || { cat "$tmp/sponged.log" >&2; fail "sponged exited at start"; }
        if curl -sf "http://127.0.0.1:$port/v1/pipelines/echo" 2>/dev/null |
                grep -q '"state": *"ready"'; then
                ready=1
                break
        fi
        sleep 0.1
done
[ -n "$ready" ] || { cat "$tmp/sponged.log" >&2; fail "echo pipeline not ready after 20 s"; }

# field NAME JSON → the integer or decimal value of "NAME": in the one-line JSON object.
field() {
        local v
        v=$(printf '%s' "$2" | grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2) || true
        [ -n "$v" ] || fail "no \"$1\" in: $2"
        printf '%s' "$v"
}

# 1. TCP, Poisson, 200 req/s for 3 s.
"$bin/sponge-load" --url "http://127.0.0.1:$port/v1/pipelines/echo/infer" --rate 200 \
        --duration 3 --slo-ms 1000 --body-bytes 256 --csv "$tmp/out.csv" \
        >"$tmp/run1.out" 2>"$tmp/run1.err" || { cat "$tmp/run1.err" >&2; fail "sponge-load failed"; }
cat "$tmp/run1.err"
json=$(tail -n 1 "$tmp/run1.out")
echo "$json"
sent=$(field sent "$json")
answered=$(field answered "$json")
not_sent=$(field not_sent "$json")
ok1=$(field ok "$json")
att=$(field attainment_pct "$json")
scheduled=$(field scheduled "$json")
[ "$sent" -ge 450 ] || fail "sent $sent requests, expected about 600"
if [ "$sent" -ne "$answered" ]; then
        # What the agent says about the missing answers: accepted / answered / in flight, and
        # requests still unread in its sockets (Recv-Q of connections on its port).
        curl -sf -m 2 "http://127.0.0.1:$port/v1/pipelines/echo" | tr -d ' \n' |
                grep -o '"in_flight":[0-9]*,"accepted":[0-9]*,"answered":{[^}]*}' >&2 || true
        echo "agent sockets with unread bytes: $(ss -tn state established "( sport = :$port )" |
                awk 'NR > 1 && $2 > 0' | wc -l)" >&2
        fail "sent $sent but answered $answered (the rest got no answer within --drain-s 10)"
fi
[ "$not_sent" -eq 0 ] || fail "$not_sent requests not sent"
awk -v a="$att" 'BEGIN { exit !(a >= 95) }' || fail "SLO attainment $att % < 95 %"
lines=$(($(wc -l <"$tmp/out.csv") - 1))
[ "$lines" -eq "$scheduled" ] || fail "CSV has $lines lines for $scheduled requests"
grep -q ',200,.*,1,"echo",answered$' "$tmp/out.csv" || fail "no answered line with variant echo"

# 2. UNIX socket, uniform: exactly 100.
"$bin/sponge-load" --unix "$tmp/api.sock" --path /v1/pipelines/echo/infer --rate 100 \
        --duration 1 --uniform --slo-ms 1000 --quiet >"$tmp/run2.out" ||
        fail "sponge-load over the UNIX socket failed"
json=$(tail -n 1 "$tmp/run2.out")
echo "$json"
[ "$(field sent "$json")" -eq 100 ] || fail "UNIX run: sent $(field sent "$json"), expected 100"
[ "$(field answered "$json")" -eq 100 ] || fail "UNIX run: answered $(field answered "$json")"
ok2=$(field ok "$json")

# The agent counted the same 200s (its Prometheus counter).
metrics=$(curl -sf -m 10 "http://127.0.0.1:$port/metrics") ||
        fail "GET /metrics failed (the agent does not answer)"
agent_ok=$(printf '%s\n' "$metrics" |
        sed -n 's/^sponged_requests_total{pipeline="echo",outcome="ok"} \([0-9]*\)$/\1/p')
[ -n "$agent_ok" ] || fail "no sponged_requests_total{pipeline=\"echo\",outcome=\"ok\"} in /metrics"
[ "$agent_ok" -eq $((ok1 + ok2)) ] ||
        fail "the agent answered $agent_ok requests with 200, sponge-load counted $((ok1 + ok2))"

# 3. Only loopback.
rc=0
"$bin/sponge-load" --url http://192.0.2.1:80/v1/pipelines/echo/infer --rate 1 --duration 1 \
        --slo-ms 100 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "a non-loopback target gave exit $rc, expected 2"

# 4. Clean shutdown.
workers=$(cat "$cgroot"/echo/echo/*/cgroup.procs 2>/dev/null || true)
[ -n "$workers" ] || fail "no worker pid found under $cgroot"
kill -TERM "$pid"
rc=0
for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "sponged still running 15 s after SIGTERM"
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || { cat "$tmp/sponged.log" >&2; fail "sponged exited $rc after SIGTERM"; }
for w in $workers; do
        kill -0 "$w" 2>/dev/null && fail "worker $w outlived sponged"
done
[ ! -e "$cgroot" ] || fail "cgroup root $cgroot left behind"
[ ! -e "$cgacct" ] || fail "cpuacct mirror $cgacct left behind"
echo "PASS: sent $sent, attainment $att %, agent and sponge-load agree on $agent_ok answers"
