#!/bin/bash
# bench-dataplane.sh — sponged's data plane against nginx as a reverse proxy, same load, same run.
#
# What it measures
#   A: sponged serving a one-stage pipeline whose only variant is sponge-worker-echo (the worker
#      returns each item unchanged, so the figure is the agent's HTTP + queue + batcher + framing
#      + UNIX socket path and nothing else), plan pinned (policy "static": 1 replica, batch
#      $BENCH_BATCH, 2000 millicores), with 10 pipelines configured (bench0 is driven, bench1..9
#      are idle, each with its own echo worker). The node's max_batch_wait_ms is 0 by default:
#      a free replica takes what is queued (up to the batch) at once instead of holding requests
#      for batch-mates while their slack lasts. With a closed-loop client like wrk, waiting only
#      synchronises all connections on the slowest one and measures the batching policy, not
#      the data plane (BENCH_MAX_WAIT_MS=default keeps sponged's own default; see README).
#   B: nginx (Debian nginx-light, one worker process) as a reverse proxy, keep-alive to an
#      nginx upstream (one worker process) that echoes the POST body back with the echo module
#      Debian's nginx-light depends on: the same bytes move on both paths (1 KiB in, the same
#      1 KiB out), through two processes on both paths (front end + echo process).
#   Load: wrk, keep-alive, POST bodies of 1 KiB, $BENCH_CONNECTIONS connections, $BENCH_THREADS
#   threads, $BENCH_DURATION s per run, $BENCH_ROUNDS rounds alternating A and B (ABBA order, so
#   neither always runs first on this noisy machine); medians over the rounds are reported.
#   Before the rounds, a warm-up run of each checks every response (status 200, body == the
#   request body) with a wrk Lua response() hook; the timed runs use a script without the hook.
#   Also: sponged's VmRSS (the agent alone, not its workers) with the 10 pipelines, idle and
#   after the load, its VmHWM, and CPU time per request of every process involved
#   (/proc/PID/stat utime+stime deltas over the timed runs).
#
# Output: human-readable lines, then, as the LAST line, one JSON object (keys below).
# Exit: 0 ok; 77 cannot run here (not root, no wrk/nginx/echo module/curl/python3, no cgroup
#   cpu controller), printed why; 1 a failure (sponged died or stalled — a round where it did
#   under a tenth of nginx —, wrong answers, a process or cgroup left behind, ...).
#
# Usage: bench-dataplane.sh [BUILD_DIR]   (default $SPONGE_BINARY_DIR, else <repo>/build)
#   Environment: BENCH_DURATION (10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64),
#   BENCH_THREADS (2), BENCH_BATCH (32), BENCH_MAX_WAIT_MS (0; "default": sponged's default),
#   BENCH_WARMUP (3 s), BENCH_PERF=1 (one extra sponged run under `perf record -g`, top of the
#   report on stderr), BENCH_CGROUP_ROOT (default /sys/fs/cgroup/cpu/sponged-bench-dp on
#   cgroup v1, /sys/fs/cgroup/sponged-bench-dp on v2).
#   Ports: 18790 sponged, 18791 nginx proxy, 18792 nginx upstream (all on 127.0.0.1).
set -u -o pipefail

SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$SELF_DIR/../.." && pwd)
BUILD=${1:-${SPONGE_BINARY_DIR:-$SRC/build}}
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
BATCH=${BENCH_BATCH:-32}
MAX_WAIT_MS=${BENCH_MAX_WAIT_MS:-0}
WARMUP=${BENCH_WARMUP:-3}
N_PIPELINES=10
PORT_SPONGED=$((18790 + ${SPONGE_TEST_PORT_OFFSET:-0}))
PORT_PROXY=$((18791 + ${SPONGE_TEST_PORT_OFFSET:-0}))
PORT_UPSTREAM=$((18792 + ${SPONGE_TEST_PORT_OFFSET:-0}))
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so

say() { printf '%s\n' "$*"; }
err() { printf 'bench-dataplane: %s\n' "$*" >&2; }
skip() {
        err "SKIP: $*"
        exit 77
}

# ---- can it run here? -------------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root: sponged puts its workers into real cgroups (cpu controller)"
for tool in wrk nginx curl python3; do
        command -v "$tool" >/dev/null || skip "$tool not installed (Debian: see tests/setup.sh)"
done
[ -r "$ECHO_MODULE" ] || skip "$ECHO_MODULE missing (Debian package libnginx-mod-http-echo)"
if [ -n "${BENCH_CGROUP_ROOT:-}" ]; then
        CG_ROOT=$BENCH_CGROUP_ROOT
        CG_BACKEND=auto
elif [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
        CG_ROOT=/sys/fs/cgroup/cpu/sponged-bench-dp
        CG_BACKEND=v1
elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        CG_ROOT=/sys/fs/cgroup/sponged-bench-dp
        CG_BACKEND=v2
else
        skip "no cgroup cpu controller (neither v1 /sys/fs/cgroup/cpu nor v2 with cpu)"
fi
for b in sponged sponge-worker-echo; do
        if [ ! -x "$BUILD/bin/$b" ]; then
                err "$BUILD/bin/$b not found: build first (cmake --build $BUILD), or pass BUILD_DIR"
                exit 1
        fi
done
for p in $PORT_SPONGED $PORT_PROXY $PORT_UPSTREAM; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                err "port $p on 127.0.0.1 is in use: another bench-dataplane running?"
                exit 1
        fi
done
if [ -e "$CG_ROOT" ]; then
        err "$CG_ROOT exists: another bench-dataplane running, or a crashed one left it"
        exit 1
fi

# ---- set-up -----------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/bench-dataplane.XXXXXX) || exit 1
chmod 755 "$TMP" # nginx's workers run as nobody and need to reach their temp paths
SPONGED_PID=
PROXY_PID=
UPSTREAM_PID=
WORKER_PIDS=()
NGINX_WORKER_PIDS=()

# Stops one process we started: SIGTERM, up to $2 seconds, then SIGKILL. Returns 1 if it had
# to be killed (a failure: sponged must drain and exit 0 on SIGTERM).
stop_pid() {
        local pid=$1 secs=$2 i
        [ -n "$pid" ] || return 0
        kill -0 "$pid" 2>/dev/null || return 0
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < secs * 20; i++)); do
                kill -0 "$pid" 2>/dev/null || return 0
                sleep 0.05
        done
        err "pid $pid did not exit ${secs}s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        return 1
}

CLEANED=0
cleanup() {
        local rc=0 pid
        [ $CLEANED = 1 ] && return 0
        CLEANED=1
        stop_pid "$SPONGED_PID" 20 || rc=1
        [ -n "$SPONGED_PID" ] && { wait "$SPONGED_PID" 2>/dev/null; SPONGED_RC=$?; }
        stop_pid "$PROXY_PID" 10 || rc=1
        stop_pid "$UPSTREAM_PID" 10 || rc=1
        wait 2>/dev/null
        sleep 0.2
        for pid in "${WORKER_PIDS[@]}" "${NGINX_WORKER_PIDS[@]}"; do
                if kill -0 "$pid" 2>/dev/null; then
                        err "leftover process $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)"
                        kill -KILL "$pid" 2>/dev/null
                        rc=1
                fi
        done
        if [ -e "$CG_ROOT" ]; then
                err "cgroup root $CG_ROOT left behind: $(find "$CG_ROOT" -type d | tr '\n' ' ')"
                find "$CG_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
                rc=1
        fi
        return $rc
}
trap 'cleanup; rm -rf "$TMP"; exit 1' INT TERM
trap 'cleanup; rm -rf "$TMP"' EXIT

fail() {
        err "FAIL: $*"
        if [ -s "$TMP/sponged.log" ]; then
                err "last lines of sponged's log:"
                tail -n 20 "$TMP/sponged.log" >&2
        fi
        exit 1
}

# 1 KiB body: 64 × 16 bytes, the same in curl checks and in wrk.
BODY=$(printf '0123456789abcdef%.0s' $(seq 64))
printf '%s' "$BODY" >"$TMP/body"

mkdir -p "$TMP/pipelines" "$TMP/nginx"
wait_ms_json=
[ "$MAX_WAIT_MS" != default ] && wait_ms_json=", \"max_batch_wait_ms\": $MAX_WAIT_MS"
cat >"$TMP/node.json" <<EOF
{
  "listen": ["127.0.0.1:$PORT_SPONGED"],
  "pipelines_dir": "$TMP/pipelines",
  "cgroup": {"backend": "$CG_BACKEND", "root": "$CG_ROOT"},
  "worker_path": "$BUILD/bin",
  "control": false,
  "log_level": "notice"$wait_ms_json
}
EOF
# bench0 gets the whole machine (2000 millicores); the nine idle ones the stage minimum. The
# control loop is off: plans are static, so the node's capacity is not enforced on them.
for i in $(seq 0 $((N_PIPELINES - 1))); do
        mc=250
        [ "$i" = 0 ] && mc=2000
        cat >"$TMP/pipelines/bench$i.json" <<EOF
{
  "name": "bench$i",
  "slo_ms": 1000,
  "policy": "static",
  "stages": [
    {
      "name": "echo",
      "max_batch": 32,
      "millicores": {"min": 250, "max": 2000, "step": 250},
      "replicas": {"min": 1, "max": 1},
      "variants": [
        {"name": "echo", "accuracy": 100, "command": ["sponge-worker-echo"],
         "profile": {"model": {"gamma": 0.001, "delta": 0.001, "epsilon": 0.001, "eta": 0.05,
                               "margin": 0}}}
      ]
    }
  ],
  "plan": [{"variant": "echo", "batch": $BATCH, "millicores": $mc, "replicas": 1}]
}
EOF
done
for f in proxy upstream; do
        port=$PORT_PROXY
        [ $f = upstream ] && port=$PORT_UPSTREAM
        sed -e "s|@PREFIX@|$TMP/nginx|g" -e "s|@PORT@|$port|g" \
            -e "s|@UPSTREAM_PORT@|$PORT_UPSTREAM|g" "$SELF_DIR/nginx-$f.conf.in" \
            >"$TMP/nginx/$f.conf" || fail "cannot write $TMP/nginx/$f.conf"
done

# wrk scripts. Timed runs: method, body, and a done() hook printing one JSON line (latency in
# µs from wrk's own histogram). Warm-up: the same plus a response() check of every answer.
cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 64)
wrk.headers["Content-Type"] = "application/octet-stream"
function done(s, lat, req)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,' ..
    '"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    s.requests, s.duration, s.errors.status, s.errors.connect, s.errors.read, s.errors.write,
    s.errors.timeout, lat:percentile(50), lat:percentile(90), lat:percentile(99), lat.max))
end
EOF
cat >"$TMP/check.lua" <<EOF
wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 64)
wrk.headers["Content-Type"] = "application/octet-stream"
local threads = {}
function setup(t) table.insert(threads, t) end
function init(args) checked = 0; bad = 0; first_bad = "" end
function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 or body ~= wrk.body then
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 200) end
  end
end
function done(s, lat, req)
  local c, b, f = 0, 0, ""
  for _, t in ipairs(threads) do
    c = c + t:get("checked"); b = b + t:get("bad")
    if f == "" then f = t:get("first_bad") end
  end
  io.write(string.format("CHECK checked=%d bad=%d first_bad=%s\n", c, b, f))
end
EOF

# ---- helpers ----------------------------------------------------------------------------
cpu_ticks() { # utime + stime of pid $1, in clock ticks; 0 if gone
        local stat
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
        stat=${stat##*) } # fields after the command name (which may hold spaces)
        set -- $stat
        echo $((${12} + ${13}))
}
vm_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null; }

alive_or_fail() {
        kill -0 "$SPONGED_PID" 2>/dev/null || fail "sponged (pid $SPONGED_PID) died"
        kill -0 "$PROXY_PID" 2>/dev/null || fail "nginx proxy died: $(tail -3 "$TMP/nginx/proxy.out")"
        kill -0 "$UPSTREAM_PID" 2>/dev/null || fail "nginx upstream died"
}

URL_SPONGED="http://127.0.0.1:$PORT_SPONGED/v1/pipelines/bench0/infer"
URL_NGINX="http://127.0.0.1:$PORT_PROXY/v1/pipelines/bench0/infer"

# ---- start everything ---------------------------------------------------------------------
"$BUILD/bin/sponged" --config "$TMP/node.json" >"$TMP/sponged.log" 2>&1 &
SPONGED_PID=$!
nginx -p "$TMP/nginx" -c "$TMP/nginx/upstream.conf" >"$TMP/nginx/upstream.out" 2>&1 &
UPSTREAM_PID=$!
nginx -p "$TMP/nginx" -c "$TMP/nginx/proxy.conf" >"$TMP/nginx/proxy.out" 2>&1 &
PROXY_PID=$!

# All 10 pipelines' replicas ready (and the API up), within 20 s.
ready=0
for ((i = 0; i < 400; i++)); do
        alive_or_fail
        n=$(curl -s --max-time 2 "http://127.0.0.1:$PORT_SPONGED/v1/pipelines" |
                python3 -c 'import json,sys
d = json.load(sys.stdin)
print(sum(1 for p in d["pipelines"] for s in p["stages"] for r in s["replica_list"]
          if r["state"] == "ready"))' 2>/dev/null) || n=0
        if [ "$n" = $N_PIPELINES ]; then
                ready=1
                break
        fi
        sleep 0.05
done
[ $ready = 1 ] || fail "sponged: not all $N_PIPELINES replicas ready after 20 s"
for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT_PROXY/" && break
        sleep 0.05
done
alive_or_fail
# The echo workers (children of sponged) and the nginx workers (children of the masters).
mapfile -t WORKER_PIDS < <(children_of "$SPONGED_PID" | tr ' ' '\n' | grep .)
mapfile -t NGINX_WORKER_PIDS < <( (children_of "$PROXY_PID"; children_of "$UPSTREAM_PID") |
        tr ' ' '\n' | grep .)
[ ${#WORKER_PIDS[@]} = $N_PIPELINES ] ||
        fail "expected $N_PIPELINES echo workers under sponged, found ${#WORKER_PIDS[@]}"
BENCH0_WORKER=$(curl -s "http://127.0.0.1:$PORT_SPONGED/v1/pipelines/bench0" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["stages"][0]["replica_list"][0]["pid"])')
PROXY_WORKER=$(children_of "$PROXY_PID" | tr ' ' '\n' | grep . | head -1)
UPSTREAM_WORKER=$(children_of "$UPSTREAM_PID" | tr ' ' '\n' | grep . | head -1)
[ -n "$PROXY_WORKER" ] && [ -n "$UPSTREAM_WORKER" ] || fail "nginx worker processes not found"

# A single request through nginx returns the body unchanged (sponged is checked under load
# below: a lone request waits for batch-mates, see the README).
curl -s --max-time 5 --data-binary @"$TMP/body" -o "$TMP/answer" "$URL_NGINX" &&
        cmp -s "$TMP/body" "$TMP/answer" || fail "nginx proxy + echo upstream did not echo the body"

RSS_IDLE_KIB=$(vm_kib "$SPONGED_PID" VmRSS)
HWM_IDLE_KIB=$(vm_kib "$SPONGED_PID" VmHWM)
say "sponged pid $SPONGED_PID, $N_PIPELINES pipelines ready, VmRSS idle $RSS_IDLE_KIB KiB;" \
        "nginx proxy worker $PROXY_WORKER, upstream worker $UPSTREAM_WORKER"
say "load: wrk -t$THREADS -c$CONNS -d${DURATION}s, POST 1024 B, keep-alive;" \
        "sponged plan batch $BATCH, 1 replica, 2000 millicores, max_batch_wait_ms $MAX_WAIT_MS;" \
        "$ROUNDS rounds"

# ---- warm-up with checks --------------------------------------------------------------------
for target in sponged nginx; do
        url=$URL_SPONGED
        [ $target = nginx ] && url=$URL_NGINX
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$TMP/check.lua" "$url" 2>&1)
        alive_or_fail
        line=$(grep '^CHECK ' <<<"$out") || fail "warm-up on $target: no check line: $out"
        say "warm-up $target: $line"
        checked=$(sed -E 's/.*checked=([0-9]+).*/\1/' <<<"$line")
        bad=$(sed -E 's/.*bad=([0-9]+).*/\1/' <<<"$line")
        [ "$checked" -gt 0 ] && [ "$bad" = 0 ] || fail "warm-up on $target: wrong answers: $line"
done

# ---- timed rounds -----------------------------------------------------------------------------
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
run_one() { # target round
        local target=$1 round=$2 url pids p before=() after=() out line i
        if [ "$target" = sponged ]; then
                url=$URL_SPONGED
                pids=("$SPONGED_PID" "$BENCH0_WORKER")
        else
                url=$URL_NGINX
                pids=("$PROXY_WORKER" "$UPSTREAM_WORKER")
        fi
        for p in "${pids[@]}"; do before+=("$(cpu_ticks "$p")"); done
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/post.lua" "$url" 2>&1)
        for p in "${pids[@]}"; do after+=("$(cpu_ticks "$p")"); done
        alive_or_fail
        line=$(grep '^WRKJSON ' <<<"$out") || fail "wrk on $target gave no result: $out"
        line=${line#WRKJSON }
        printf '{"target":"%s","round":%d,"front_ticks":%d,"back_ticks":%d,"wrk":%s}\n' \
                "$target" "$round" $((after[0] - before[0])) $((after[1] - before[1])) "$line" \
                >>"$RESULTS"
        python3 - "$line" "$target" "$round" <<'EOF'
import json, sys
w = json.loads(sys.argv[1])
rps = w["requests"] / (w["duration_us"] / 1e6)
print("round %s %-7s %9.0f req/s  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  max %7.2f ms"
      "  non-2xx %d  socket errors %d" % (sys.argv[3], sys.argv[2], rps, w["p50_us"] / 1e3,
      w["p90_us"] / 1e3, w["p99_us"] / 1e3, w["max_us"] / 1e3, w["status"],
      w["connect"] + w["read"] + w["write"] + w["timeout"]))
EOF
}
for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then
                run_one sponged "$r"
                run_one nginx "$r"
        else
                run_one nginx "$r"
                run_one sponged "$r"
        fi
done

if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
        err "perf: one more sponged run under perf record -g (agent process only)"
        perf record -q -g -o "$TMP/perf.data" -p "$SPONGED_PID" -- sleep "$DURATION" \
                >/dev/null 2>&1 &
        perf_pid=$!
        wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$TMP/post.lua" "$URL_SPONGED" >/dev/null
        wait $perf_pid
        perf report -i "$TMP/perf.data" --stdio --no-children --percent-limit 1 -g none \
                2>/dev/null | grep -v '^#' | grep . | head -40 >&2
fi

# ---- after the load: RSS, sponged's own accounting ---------------------------------------------
sleep 0.5
RSS_KIB=$(vm_kib "$SPONGED_PID" VmRSS)
HWM_KIB=$(vm_kib "$SPONGED_PID" VmHWM)
PROXY_RSS_KIB=$(vm_kib "$PROXY_WORKER" VmRSS)
STATUS_JSON=$(curl -s --max-time 5 "http://127.0.0.1:$PORT_SPONGED/v1/pipelines/bench0")
[ -n "$STATUS_JSON" ] || fail "sponged does not answer GET /v1/pipelines/bench0 after the load"
printf '%s' "$STATUS_JSON" >"$TMP/status.json"
LOADAVG=$(cut -d' ' -f1 /proc/loadavg)

# ---- stop everything, check it is all gone -------------------------------------------------------
SPONGED_RC=
cleanup_rc=0
cleanup || cleanup_rc=1
if [ "$SPONGED_RC" != 0 ]; then
        err "sponged exited with status $SPONGED_RC after SIGTERM (expected 0); log:"
        tail -n 20 "$TMP/sponged.log" >&2
        cleanup_rc=1
fi
log_problems=$(grep -cE '^<[0-4]>' "$TMP/sponged.log")
if [ "$log_problems" -gt 0 ]; then
        err "sponged logged $log_problems warnings/errors:"
        grep -E '^<[0-4]>' "$TMP/sponged.log" | head -n 10 >&2
fi

python3 - "$RESULTS" "$TMP/status.json" "$RSS_IDLE_KIB" "$RSS_KIB" "$HWM_KIB" "$HWM_IDLE_KIB" \
        "$PROXY_RSS_KIB" "$(getconf CLK_TCK)" "$cleanup_rc" "$log_problems" "$LOADAVG" \
        "$DURATION" "$ROUNDS" "$CONNS" "$THREADS" "$BATCH" "$MAX_WAIT_MS" <<'EOF'
import json, statistics, sys
(res_path, status_path, rss_idle, rss, hwm, hwm_idle, proxy_rss, hz, cleanup_rc, log_problems, loadavg,
 duration, rounds, conns, threads, batch, max_wait) = sys.argv[1:]
hz = int(hz)
runs = [json.loads(l) for l in open(res_path)]
status = json.load(open(status_path))

def agg(target):
    rs = [r for r in runs if r["target"] == target]
    rps = [r["wrk"]["requests"] / (r["wrk"]["duration_us"] / 1e6) for r in rs]
    med = lambda xs: statistics.median(xs)
    n = [r["wrk"]["requests"] for r in rs]
    us_per_req = lambda key: med([r[key] * 1e6 / hz / max(1, r["wrk"]["requests"]) for r in rs])
    return {
        "rps": round(med(rps), 1),
        "rps_runs": [round(x) for x in rps],
        "p50_ms": round(med([r["wrk"]["p50_us"] for r in rs]) / 1e3, 3),
        "p90_ms": round(med([r["wrk"]["p90_us"] for r in rs]) / 1e3, 3),
        "p99_ms": round(med([r["wrk"]["p99_us"] for r in rs]) / 1e3, 3),
        "max_ms": round(max(r["wrk"]["max_us"] for r in rs) / 1e3, 3),
        "non2xx": sum(r["wrk"]["status"] for r in rs),
        "socket_errors": sum(r["wrk"][k] for r in rs for k in ("connect", "read", "write", "timeout")),
        "front_cpu_us_per_req": round(us_per_req("front_ticks"), 1),
        "back_cpu_us_per_req": round(us_per_req("back_ticks"), 1),
    }

s, g = agg("sponged"), agg("nginx")
st = status["stages"][0]
# A sponged run at under a tenth of the nginx run of the same round: the data plane stalled
# (as when libmicrohttpd was not run on its own timeout), not machine noise.
stalled = 0
for r in set(x["round"] for x in runs):
    rate = {x["target"]: x["wrk"]["requests"] / (x["wrk"]["duration_us"] / 1e6)
            for x in runs if x["round"] == r}
    if rate.get("sponged", 0) < 0.1 * rate.get("nginx", 0):
        stalled += 1
        print("bench-dataplane: WARNING: round %d: sponged %.0f req/s vs nginx %.0f: stalled?"
              % (r, rate["sponged"], rate["nginx"]), file=sys.stderr)
cpu_s = s["front_cpu_us_per_req"] + s["back_cpu_us_per_req"]
cpu_g = g["front_cpu_us_per_req"] + g["back_cpu_us_per_req"]
out = {
    "sponged_rps": s["rps"], "nginx_rps": g["rps"],
    "rps_ratio": round(s["rps"] / g["rps"], 3) if g["rps"] else None,
    "sponged_p50_ms": s["p50_ms"], "sponged_p99_ms": s["p99_ms"],
    "nginx_p50_ms": g["p50_ms"], "nginx_p99_ms": g["p99_ms"],
    "p99_ratio": round(s["p99_ms"] / g["p99_ms"], 3) if g["p99_ms"] else None,
    "rss_mib_10_pipelines": round(int(rss) / 1024, 2),
    "rss_mib_10_pipelines_idle": round(int(rss_idle) / 1024, 2),
    "rss_hwm_mib": round(int(hwm) / 1024, 2),
    "rss_hwm_mib_before_load": round(int(hwm_idle) / 1024, 2),
    "nginx_proxy_worker_rss_mib": round(int(proxy_rss or 0) / 1024, 2),
    "sponged_p90_ms": s["p90_ms"], "nginx_p90_ms": g["p90_ms"],
    "sponged_max_ms": s["max_ms"], "nginx_max_ms": g["max_ms"],
    "sponged_rps_runs": s["rps_runs"], "nginx_rps_runs": g["rps_runs"],
    "sponged_non2xx": s["non2xx"], "nginx_non2xx": g["non2xx"],
    "sponged_socket_errors": s["socket_errors"], "nginx_socket_errors": g["socket_errors"],
    "sponged_agent_cpu_us_per_req": s["front_cpu_us_per_req"],
    "sponged_worker_cpu_us_per_req": s["back_cpu_us_per_req"],
    "nginx_proxy_cpu_us_per_req": g["front_cpu_us_per_req"],
    "nginx_upstream_cpu_us_per_req": g["back_cpu_us_per_req"],
    "cpu_per_req_ratio": round(cpu_s / cpu_g, 3) if cpu_g else None,
    "sponged_stalled_runs": stalled,
    "sponged_mean_batch": round(st["items"] / st["batches"], 2) if st.get("batches") else None,
    "sponged_answered": status["answered"], "sponged_in_flight_after": status["in_flight"],
    "sponged_log_warnings": int(log_problems),
    "clean_exit": cleanup_rc == "0",
    "duration_s": int(duration), "rounds": int(rounds), "connections": int(conns),
    "threads": int(threads), "batch": int(batch), "body_bytes": 1024,
    "max_batch_wait_ms": None if max_wait == "default" else int(max_wait),
    "loadavg_1m_end": float(loadavg),
}
print("sponged %.0f req/s p50 %.2f ms p99 %.2f ms | nginx proxy %.0f req/s p50 %.2f ms p99 %.2f ms"
      " | ratio rps %.3f p99 %.3f | sponged VmRSS %.1f MiB with 10 pipelines (idle %.1f, peak %.1f)"
      % (s["rps"], s["p50_ms"], s["p99_ms"], g["rps"], g["p50_ms"], g["p99_ms"], out["rps_ratio"],
         out["p99_ratio"], out["rss_mib_10_pipelines"], out["rss_mib_10_pipelines_idle"],
         out["rss_hwm_mib"]))
print(json.dumps(out, separators=(",", ":")))
sys.exit(3 if stalled else 0)
EOF
[ $? = 0 ] || exit 1
exit $cleanup_rc
