# lib-agent.sh — shared helpers of the agent.* integration tests (sourced, not run).
#
# The tests are black-box: they start the real sponged on a temporary node config (its own
# port, its own cgroup root in the kernel's real cpu hierarchy, its own pipelines directory),
# drive it over HTTP with curl and over spongectl, send it signals, and read the kernel's
# cgroup files. Nothing is faked.
#
# A test looks like:
#   source "$(dirname "$0")/lib-agent.sh"
#   agent_init agent.basic 18770 "$@"      # skips (77) when not root / no cpu controller
#   agent_config '"control": false'         # node.json (extra keys merged over the defaults)
#   agent_start                             # waits (bounded) for /healthz
#   http GET /v1/node; expect_status 200 "node"; ...
#   agent_finish                            # exit 0 unless a check failed
#
# On exit (any exit) the trap stops sponged with SIGTERM (bounded wait, then SIGKILL), and the
# test FAILS if sponged did not exit by itself, if any sponged or worker process of this test
# remains, or if its cgroup root (and the v1 cpuacct mirror) remains. Workers are recognised by
# the environment variable ITEST_TAG that every test pipeline gives its variants, and by their
# membership in the test's cgroup root.
#
# Every wait has a bound. Ports: the agent tests use 18770-18789 only, the security tests
# (security-lib.sh) 18850-18869, the python.* and torch.* tests (python-agent.sh,
# torch-pipeline.sh) 18890-18909, the ops tests (metrics.*, ui.*, api.*: AGENT_PORTS=18930-18949
# before sourcing) 18930-18949 (plus $SPONGE_TEST_PORT_OFFSET when set).
#
# Changes (anything but GET/HEAD and POST .../infer) go over the UNIX socket, where sponged
# identifies the caller (root here): TCP accepts no change without a token (agent/auth.h).
#
# Arguments of a test script: [BINARY_DIR [SOURCE_DIR]]; otherwise $SPONGE_BINARY_DIR and
# $SPONGE_SOURCE_DIR (set by CTest), otherwise the build-itest directory next to the sources.

set -u
set -o pipefail

AGENT_FAILURES=0
AGENT_PIDS=()   # every sponged this test started
AGENT_BG=()     # background helpers (load generators) to stop on exit
SPONGED_PID=""
AGENT_STOPPED_CLEANLY=1

AGENT_T0=$(date +%s%N)
# say MSG — a progress line on stderr, with the seconds since the test began.
say() { printf '%s: [%6.2fs] %s\n' "${TEST_NAME:-agent}" "$((($(date +%s%N) - AGENT_T0) / 10000000))e-2" "$*" >&2; }

# fail MSG — records a failed check and carries on.
fail() {
        AGENT_FAILURES=$((AGENT_FAILURES + 1))
        say "FAIL: $*"
}

# die MSG — a failed check after which the test cannot go on.
die() {
        fail "$*"
        exit 1
}

# skip MSG — the test cannot run here (exit 77, counted as skipped by CTest).
skip() {
        printf '%s: SKIP: %s\n' "${TEST_NAME:-agent}" "$*" >&2
        exit 77
}

pass() { say "ok: $*"; }

now_s() { date +%s.%N; }

# wait_until SECONDS DESCRIPTION CMD... — polls CMD every 0.1 s; returns 1 (after fail) on timeout.
wait_until() {
        local limit=$1 what=$2 end
        shift 2
        end=$(($(date +%s%N) + ${limit%.*} * 1000000000))
        while :; do
                if "$@"; then
                        return 0
                fi
                if [ "$(date +%s%N)" -ge "$end" ]; then
                        fail "timed out after ${limit} s waiting for: $what"
                        return 1
                fi
                sleep 0.1
        done
}

# ---- set-up ---------------------------------------------------------------------------------

# agent_init TEST_NAME PORT [BINARY_DIR [SOURCE_DIR]]
# Knobs another family of tests (control-lib.sh) sets before calling agent_init: its ports,
# the extra binaries it needs, its cgroup root's name, and a hook run once TMP exists.
AGENT_PORTS=${AGENT_PORTS:-18770-18789}
AGENT_TOOLS=${AGENT_TOOLS:-}
AGENT_CG_NAME=${AGENT_CG_NAME:-sponged-itest-$$}
agent_init() {
        TEST_NAME=$1
        PORT=$2
        shift 2
        SRC=${2:-${SPONGE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}}
        BUILD=${1:-${SPONGE_BINARY_DIR:-$SRC/build-itest}}
        BIN=$BUILD/bin
        # Each family of tests has its own ports (control-lib.sh sets AGENT_PORTS to its own).
        local lo=${AGENT_PORTS%-*} hi=${AGENT_PORTS#*-}
        [ "$PORT" -ge "$lo" ] && [ "$PORT" -le "$hi" ] ||
                die "port $PORT outside this test family's range $AGENT_PORTS"
        # SPONGE_TEST_PORT_OFFSET shifts every test port, so two checkouts can run their suites
        # side by side on one machine (default 0: the ranges documented above).
        PORT=$((PORT + ${SPONGE_TEST_PORT_OFFSET:-0}))
        if [ "$(id -u)" -ne 0 ]; then
                skip "needs root: sponged creates cgroups in the kernel's cpu hierarchy"
        fi
        local tool
        for tool in curl python3 timeout; do
                command -v "$tool" >/dev/null || skip "$tool is not installed (tests/setup.sh installs it)"
        done
        # The system's interpreter when there is one: a version manager's shim (pyenv) costs a
        # second per call on a loaded machine, and the tests call Python a lot.
        PY=$(command -v python3)
        [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
        # shellcheck disable=SC2086 # AGENT_TOOLS is a list
        for tool in sponged spongectl sponge-worker-flops sponge-worker-echo $AGENT_TOOLS; do
                [ -x "$BIN/$tool" ] || die "$BIN/$tool not built (build directory $BUILD)"
        done
        agent_detect_cgroup
        # Sanitizer builds run the flops workers about 10 times slower (said in the log line;
        # the loads are bounded by time, not by count, so they adapt).
        AGENT_SANITIZED=0
        if ldd "$BIN/sponge-worker-flops" 2>/dev/null | grep -Eq 'lib(a|ub)san' ||
                ldd "$BIN/sponged" 2>/dev/null | grep -Eq 'lib(a|ub)san'; then
                AGENT_SANITIZED=1
        fi
        TAG="itest$$"
        TMP=$(mktemp -d "/tmp/agent-itest.$TEST_NAME.XXXXXX") || die "mktemp failed"
        PIPELINES_DIR=$TMP/pipelines.d
        mkdir -p "$PIPELINES_DIR"
        LOG=$TMP/sponged.log
        URL=http://127.0.0.1:$PORT
        UNIX_SOCK=$TMP/api.sock
        agent_write_pytool
        [ -n "${AGENT_INIT_HOOK:-}" ] && "$AGENT_INIT_HOOK"
        trap agent_cleanup EXIT
        trap 'fail "interrupted"; exit 1' INT TERM
        if "$PY" "$PYTOOL" port-busy "$PORT"; then
                die "port $PORT is already in use (another test run?)"
        fi
        say "build $BUILD$([ "$AGENT_SANITIZED" = 1 ] && echo ' (sanitizers)'), cgroup $CG_VERSION, root $CG_ROOT, port $PORT, temp $TMP"
}

# Finds where the cpu controller is: v1 (a "cgroup" mount with the cpu option) or v2 (a
# "cgroup2" mount whose cgroup.controllers lists cpu). Sets CG_VERSION, CG_MOUNT, CG_ROOT and,
# on v1, CG_ACCT_ROOT (the cpuacct mirror of the root when cpuacct is a separate mount).
agent_detect_cgroup() {
        local line mnt fstype opts
        CG_VERSION="" CG_MOUNT="" CG_ACCT_ROOT=""
        # mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        while read -r line; do
                mnt=$(printf '%s\n' "$line" | awk '{print $5}')
                fstype=$(printf '%s\n' "${line#* - }" | awk '{print $1}')
                opts=$(printf '%s\n' "${line#* - }" | awk '{print $3}')
                if [ "$fstype" = cgroup ] && printf ',%s,' "$opts" | grep -q ',cpu,'; then
                        CG_VERSION=v1 CG_MOUNT=$mnt
                        break
                fi
                if [ "$fstype" = cgroup2 ] && [ -z "$CG_VERSION" ] &&
                        grep -qw cpu "$mnt/cgroup.controllers" 2>/dev/null; then
                        CG_VERSION=v2 CG_MOUNT=$mnt
                fi
        done </proc/self/mountinfo
        [ -n "$CG_VERSION" ] || skip "no cgroup cpu controller is mounted (neither v1 nor v2)"
        CG_ROOT=$CG_MOUNT/$AGENT_CG_NAME
        if [ "$CG_VERSION" = v1 ]; then
                local acct
                acct=$(awk '$0 ~ / - cgroup / { n=split($NF, o, ","); for (i = 1; i <= n; i++)
                        if (o[i] == "cpuacct") print $5 }' /proc/self/mountinfo | head -n1)
                if [ -n "$acct" ] && [ "$acct" != "$CG_MOUNT" ]; then
                        CG_ACCT_ROOT=$acct/$AGENT_CG_NAME
                fi
        fi
}

# agent_config [EXTRA_JSON_MEMBERS] — writes $TMP/node.json. The extra members (a JSON object's
# inside, e.g. '"control": true, "drain_timeout_ms": 5000') are merged over the defaults.
agent_config() {
        NODE_CONFIG=$TMP/node.json
        "$PY" "$PYTOOL" node-config "$NODE_CONFIG" "{${1:-}}" "$PORT" "$UNIX_SOCK" \
                "$PIPELINES_DIR" "$CG_VERSION" "$CG_ROOT" || die "cannot write the node config"
}

# agent_start — starts sponged in the background (stderr to $LOG) and waits up to 15 s for
# GET /healthz to answer 200. With AGENT_LIMIT_VM_KB set, sponged runs under that address-space
# limit (ulimit -v; its workers inherit it): a real, black-box way to make allocations fail.
agent_start() {
        [ -n "${NODE_CONFIG:-}" ] || agent_config ""
        if [ -n "${AGENT_LIMIT_VM_KB:-}" ]; then
                (ulimit -v "$AGENT_LIMIT_VM_KB" && exec "$BIN/sponged" --config "$NODE_CONFIG") \
                        2>>"$LOG" &
        else
                "$BIN/sponged" --config "$NODE_CONFIG" 2>>"$LOG" &
        fi
        SPONGED_PID=$!
        AGENT_PIDS+=("$SPONGED_PID")
        local i
        for i in $(seq 150); do
                if ! kill -0 "$SPONGED_PID" 2>/dev/null; then
                        wait "$SPONGED_PID"
                        die "sponged exited at start-up with status $? (log: $(tail -n 5 "$LOG"))"
                fi
                if [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ]; then
                        say "sponged $SPONGED_PID up after $((i / 10)).$((i % 10)) s"
                        return 0
                fi
                sleep 0.1
        done
        die "sponged did not answer /healthz within 15 s"
}

# agent_stop [SECONDS] — SIGTERM, waits at most SECONDS (default 20) for sponged to exit.
# Sets AGENT_EXIT to its exit status (or "timeout"). Returns 0 when it exited in time.
agent_stop() {
        local limit=${1:-20} i
        AGENT_EXIT=timeout
        [ -n "$SPONGED_PID" ] || return 0
        kill -TERM "$SPONGED_PID" 2>/dev/null
        for i in $(seq $((limit * 10))); do
                if ! kill -0 "$SPONGED_PID" 2>/dev/null || agent_is_zombie "$SPONGED_PID"; then
                        wait "$SPONGED_PID"
                        AGENT_EXIT=$?
                        SPONGED_PID=""
                        return 0
                fi
                sleep 0.1
        done
        return 1
}

agent_is_zombie() {
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# Processes that belong to this test: any sponged it started, and every process whose
# environment carries ITEST_TAG=$TAG or that sits in the test's cgroup root.
agent_leftover_pids() {
        local pid
        for pid in "${AGENT_PIDS[@]}"; do
                if kill -0 "$pid" 2>/dev/null && ! agent_is_zombie "$pid"; then
                        echo "$pid"
                fi
        done
        "$PY" "$PYTOOL" tagged-pids "ITEST_TAG=$TAG" "$CG_ROOT" $$
}

agent_cgroup_dirs() {
        local d
        for d in "$CG_ROOT" ${CG_ACCT_ROOT:+"$CG_ACCT_ROOT"}; do
                [ -d "$d" ] && echo "$d"
        done
        return 0
}

agent_cleanup() {
        local rc=$? pid left dirs d
        trap - EXIT INT TERM
        for pid in "${AGENT_BG[@]}"; do
                kill "$pid" 2>/dev/null
        done
        for pid in "${AGENT_BG[@]}"; do
                wait "$pid" 2>/dev/null
        done
        if [ -n "$SPONGED_PID" ] && kill -0 "$SPONGED_PID" 2>/dev/null; then
                if ! agent_stop 20; then
                        fail "sponged (pid $SPONGED_PID) did not exit within 20 s of SIGTERM; killing it"
                        kill -KILL "$SPONGED_PID" 2>/dev/null
                        wait "$SPONGED_PID" 2>/dev/null
                        SPONGED_PID=""
                elif [ "$AGENT_EXIT" != 0 ]; then
                        fail "sponged exited with status $AGENT_EXIT after SIGTERM (expected 0)"
                fi
        fi
        # Sanitizer builds: sponged's and its workers' reports land in the log.
        if [ -s "${LOG:-/nonexistent}" ] &&
                grep -Eq 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$LOG"; then
                fail "sanitizer report in $LOG: $(grep -Em1 'ERROR: |runtime error:' "$LOG")"
        fi
        # Workers get a moment to go (sponged reaps them before it exits, so normally none).
        for _ in $(seq 30); do
                left=$(agent_leftover_pids | sort -u | tr '\n' ' ')
                [ -z "$left" ] && break
                sleep 0.1
        done
        if [ -n "$left" ]; then
                fail "processes left behind: $(for pid in $left; do
                        printf '%s(%s) ' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
                done)"
                for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
                sleep 0.3
        fi
        dirs=$(agent_cgroup_dirs)
        if [ -n "$dirs" ]; then
                # shellcheck disable=SC2086 # one directory per line, no spaces in them
                fail "cgroups left behind: $(find $dirs -type d | tr '\n' ' ')"
                # shellcheck disable=SC2086
                find $dirs -depth -type d -exec rmdir {} + 2>/dev/null
        fi
        if [ "$rc" = 77 ] && [ "$AGENT_FAILURES" = 0 ]; then
                rm -rf "${TMP:-/nonexistent}"
                exit 77
        fi
        if [ "$AGENT_FAILURES" -gt 0 ] || [ "$rc" != 0 ]; then
                if [ -s "${LOG:-/nonexistent}" ]; then
                        say "last lines of $LOG:"
                        tail -n 40 "$LOG" | sed 's/^/    /' >&2
                fi
                say "FAILED ($AGENT_FAILURES failed checks, exit $rc); files kept in $TMP"
                exit 1
        fi
        if [ "${AGENT_KEEP:-0}" = 1 ]; then
                say "AGENT_KEEP=1: files kept in $TMP"
        else
                rm -rf "$TMP"
        fi
        say "PASS"
        exit 0
}

# agent_check_nothing_left PIDS... — after sponged exited: none of these workers, no process
# of the test's tag and no cgroup of the test (v1: nor its cpuacct mirror) is left.
agent_check_nothing_left() {
        local p
        for p in "$@"; do
                [ -d "/proc/$p" ] && fail "worker $p still exists after sponged exited"
        done
        [ -z "$(agent_leftover_pids)" ] || fail "processes left after exit: $(agent_leftover_pids | tr '\n' ' ')"
        [ -z "$(agent_cgroup_dirs)" ] || fail "cgroups left after exit: $(agent_cgroup_dirs | tr '\n' ' ')"
}

# agent_finish — ends the test (the EXIT trap checks for leftovers and sets the status).
agent_finish() {
        exit 0
}

# ---- HTTP -----------------------------------------------------------------------------------

# http METHOD PATH [CURL_ARGS...] — one request; sets HTTP_STATUS ("000" when no answer);
# the body is in $TMP/resp.body, the headers in $TMP/resp.headers.
http() {
        local method=$1 path=$2
        shift 2
        : >"$TMP/resp.headers"
        : >"$TMP/resp.body"
        # Changes go over the UNIX socket, where sponged identifies the caller (root here);
        # reads and inference over TCP (agent/auth.h). HTTP_VIA=tcp forces TCP.
        local via=()
        case $method in
        GET | HEAD) ;;
        POST) [[ $path == */infer ]] || via=(--unix-socket "$UNIX_SOCK") ;;
        *) via=(--unix-socket "$UNIX_SOCK") ;;
        esac
        [ "${HTTP_VIA:-}" = tcp ] && via=()
        HTTP_STATUS=$(curl -sS -m "${HTTP_TIMEOUT:-20}" -X "$method" -o "$TMP/resp.body" \
                -D "$TMP/resp.headers" -w '%{http_code}' "${via[@]}" "$@" "$URL$path" \
                2>"$TMP/resp.err")
        [ -n "$HTTP_STATUS" ] || HTTP_STATUS=000
}

# resp_header NAME — the value of a response header of the last http call ("" if absent).
resp_header() {
        grep -i "^$1:" "$TMP/resp.headers" | tail -n1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'
}

resp_body() { cat "$TMP/resp.body"; }

# expect_status CODE WHAT — checks the last http call's status; returns 1 after fail.
expect_status() {
        if [ "$HTTP_STATUS" != "$1" ]; then
                fail "$2: expected HTTP $1, got $HTTP_STATUS: $(head -c 400 "$TMP/resp.body") $(cat "$TMP/resp.err")"
                return 1
        fi
        return 0
}

# expect_json_error CODE WHAT [DETAIL_SUBSTRING] — status CODE, Content-Type application/json,
# and a body {"error": non-empty string, "detail": ...} whose detail contains the substring.
expect_json_error() {
        expect_status "$1" "$2" || return 1
        local ct
        ct=$(resp_header Content-Type)
        case $ct in
        application/json*) ;;
        *)
                fail "$2: Content-Type \"$ct\", expected application/json"
                return 1
                ;;
        esac
        if ! "$PY" "$PYTOOL" check-error "$TMP/resp.body" "${3:-}"; then
                fail "$2: body is not {\"error\",\"detail\"${3:+ with \"$3\"}}: $(head -c 400 "$TMP/resp.body")"
                return 1
        fi
        return 0
}

# jget FILE EXPR — evaluates a Python expression over the JSON document j in FILE and prints
# it (strings bare, other values as JSON). Example: jget f 'j["stages"][0]["plan"]["batch"]'.
jget() {
        "$PY" "$PYTOOL" json "$1" "$2"
}

# status_of PIPELINE — GET /v1/pipelines/PIPELINE into $TMP/status.json; returns 1 unless 200.
status_of() {
        curl -sf -m 10 -o "$TMP/status.json" "$URL/v1/pipelines/$1"
}

# sget PIPELINE EXPR — jget over a fresh GET /v1/pipelines/PIPELINE.
sget() {
        status_of "$1" || return 1
        jget "$TMP/status.json" "$2"
}

# metric 'NAME{LABELS}' — the value of one sample in GET /metrics ("" when absent).
metric() {
        curl -sf -m 10 "$URL/metrics" | "$PY" "$PYTOOL" metric "$1"
}

# ctl ARGS... — spongectl against this agent, bounded in time.
ctl() {
        timeout 30 "$BIN/spongectl" --url "$URL" --socket "$UNIX_SOCK" "$@"
}

# all_ready PIPELINE — every stage has as many ready replicas as its plan says, of the planned
# variant, and no replica in another state.
all_ready() {
        [ "$(sget "$1" 'all(len(s["replica_list"]) == s["plan"]["replicas"] and all(r["state"] == "ready" and r["variant"] == s["plan"]["variant"] and r["millicores"] == s["plan"]["millicores"] for r in s["replica_list"]) for s in j["stages"])' 2>/dev/null)" = True ]
}

# wait_ready PIPELINE [SECONDS]
wait_ready() {
        wait_until "${2:-30}" "pipeline $1: every replica ready with the planned variant" all_ready "$1"
}

# apply_pipeline FILE — PUT the file to /v1/pipelines/NAME with curl; expects 200 or 201.
apply_pipeline() {
        local name
        name=$(jget "$1" 'j["name"]')
        http PUT "/v1/pipelines/$name" -H 'Content-Type: application/json' --data-binary "@$1"
        case $HTTP_STATUS in
        200 | 201) return 0 ;;
        esac
        die "PUT /v1/pipelines/$name: HTTP $HTTP_STATUS: $(head -c 400 "$TMP/resp.body")"
}

# pin PIPELINE 'VARIANT:BATCH:MILLICORES:REPLICAS' ... — PUT /v1/pipelines/P/plan (one
# argument per stage); expects 200.
pin() {
        local p=$1
        shift
        "$PY" "$PYTOOL" plan "$@" >"$TMP/plan.json" || die "bad plan arguments $*"
        http PUT "/v1/pipelines/$p/plan" -H 'Content-Type: application/json' \
                --data-binary "@$TMP/plan.json"
        expect_status 200 "pin $p $*"
}

# mkpipe ARGS... — writes a test pipeline JSON to stdout, see `pytool mkpipe --help`. Every
# variant carries env ITEST_TAG=$TAG so leftover workers can be found.
mkpipe() {
        "$PY" "$PYTOOL" mkpipe --tag "$TAG" "$@"
}

# load_start NAME ARGS... — runs the load generator in the background (see pytool load);
# per-request records go to $TMP/NAME.jsonl, the summary to $TMP/NAME.summary.
load_start() {
        local name=$1
        shift
        "$PY" "$PYTOOL" load --port "$PORT" --out "$TMP/$name.jsonl" "$@" \
                >"$TMP/$name.summary" 2>"$TMP/$name.err" &
        eval "LOAD_PID_$name=$!"
        AGENT_BG+=("$!")
}

# load_wait NAME SECONDS — waits (bounded) for the load generator; fails if it does not end.
load_wait() {
        local name=$1 limit=$2 pid i
        eval "pid=\$LOAD_PID_$name"
        for i in $(seq $((limit * 10))); do
                if ! kill -0 "$pid" 2>/dev/null; then
                        wait "$pid"
                        local st=$?
                        [ "$st" = 0 ] || fail "load generator $name exited with $st: $(cat "$TMP/$name.err")"
                        return 0
                fi
                sleep 0.1
        done
        fail "load generator $name still running after $limit s (requests hanging?)"
        kill "$pid" 2>/dev/null
        return 1
}

# lget NAME EXPR — jget over the load summary of NAME.
lget() {
        jget "$TMP/$1.summary" "$2"
}

# requests_live — sponged_requests_live from /metrics.
requests_live() {
        metric sponged_requests_live
}

live_is_zero() {
        [ "$(requests_live)" = 0 ]
}

# ---- the Python helper ---------------------------------------------------------------------

agent_write_pytool() {
        PYTOOL=$TMP/pytool.py
        cat >"$PYTOOL" <<'PYEOF'
"""Helpers of the agent integration tests: JSON queries, node configs, test pipelines, plans,
a load generator and raw-socket clients. Standard library only."""
import argparse, json, os, re, socket, sys, threading, time


def cmd_json(a):
    with open(a[0]) as f:
        j = json.load(f)
    v = eval(a[1], {"j": j, "len": len, "all": all, "any": any, "sum": sum, "set": set,
                    "sorted": sorted, "min": min, "max": max})
    # Strings bare, booleans as True/False, containers and null as JSON, numbers as Python.
    print(v if isinstance(v, (str, bool)) else json.dumps(v) if isinstance(v, (dict, list)) or v is None else v)


def cmd_check_error(a):
    try:
        with open(a[0]) as f:
            j = json.load(f)
    except Exception:
        sys.exit(1)
    ok = (isinstance(j, dict) and isinstance(j.get("error"), str) and j["error"] != ""
          and "detail" in j)
    if ok and len(a) > 1 and a[1]:
        ok = a[1] in json.dumps(j.get("detail")) or a[1] in j["error"]
    sys.exit(0 if ok else 1)


def cmd_metric(a):
    want = a[0]
    for line in sys.stdin:
        if line.startswith("#"):
            continue
        parts = line.rsplit(" ", 1)
        if len(parts) == 2 and parts[0] == want:
            print(parts[1].strip())
            return
    print("")


def cmd_port_busy(a):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(a[0])))
        sys.exit(0)
    except OSError:
        sys.exit(1)


def cmd_node_config(a):
    path, extra, port, sock, pdir, cgv, cgroot = a
    c = {"listen": ["127.0.0.1:" + port, "unix:" + sock], "pipelines_dir": pdir,
         "cgroup": {"backend": cgv, "root": cgroot}, "millicores": 2000, "control": False,
         "log_level": "debug", "restart_backoff_max_ms": 1000, "drain_timeout_ms": 20000}
    c.update(json.loads(extra))
    with open(path, "w") as f:
        json.dump(c, f, indent=2)


# Variants of the test pipelines: worker argv and a latency model (ms) near what the flops
# worker does here (resnet18 ~9 ms per item on one core; see pipelines/worker/README.md).
VARIANTS = {
    "echo": (["sponge-worker-echo"], 0.01, 0.01, 0.01, 0.1, 99.0),
    "resnet18": (["sponge-worker-flops", "--variant", "resnet18"], 9.0, 0.2, 0.5, 1.0, 69.8),
    "resnet34": (["sponge-worker-flops", "--variant", "resnet34"], 18.0, 0.2, 0.5, 1.0, 73.3),
    "resnet50": (["sponge-worker-flops", "--variant", "resnet50"], 20.5, 0.2, 0.5, 1.0, 76.1),
    "resnet101": (["sponge-worker-flops", "--variant", "resnet101"], 39.0, 0.2, 0.5, 1.0, 77.4),
    "resnet152": (["sponge-worker-flops", "--variant", "resnet152"], 57.5, 0.2, 0.5, 1.0, 78.3),
}


def cmd_mkpipe(a):
    p = argparse.ArgumentParser(prog="mkpipe")
    p.add_argument("--tag", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--slo-ms", type=float, default=20000)
    p.add_argument("--stage", action="append", required=True,
                   help="NAME:VARIANT[,VARIANT...] (variants: %s)" % ", ".join(VARIANTS))
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--millicores", default="100,2000,100", help="min,max,step")
    p.add_argument("--replicas", default="1,2", help="min,max")
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--queue-limit", type=int)
    p.add_argument("--policy")
    p.add_argument("--late")
    p.add_argument("--plan", action="append", help="VARIANT:BATCH:MILLICORES:REPLICAS per stage")
    o = p.parse_args(a)
    mmin, mmax, mstep = (int(x) for x in o.millicores.split(","))
    rmin, rmax = (int(x) for x in o.replicas.split(","))
    stages = []
    for spec in o.stage:
        sname, vs = spec.split(":")
        variants = []
        for v in vs.split(","):
            argv, g, d, e, h, acc = VARIANTS[v]
            variants.append({"name": v, "accuracy": acc, "command": argv,
                             "env": {"ITEST_TAG": o.tag}, "startup_ms": 200,
                             "profile": {"model": {"gamma": g, "delta": d, "epsilon": e,
                                                   "eta": h}}})
        stages.append({"name": sname, "max_batch": o.max_batch,
                       "millicores": {"min": mmin, "max": mmax, "step": mstep},
                       "replicas": {"min": rmin, "max": rmax}, "variants": variants})
    j = {"name": o.name, "slo_ms": o.slo_ms, "stages": stages}
    for k in ("max_body_bytes", "queue_limit", "policy", "late"):
        if getattr(o, k) is not None:
            j[k] = getattr(o, k)
    if o.plan:
        j["plan"] = plan_entries(o.plan)
    json.dump(j, sys.stdout, indent=2)
    print()


def plan_entries(specs):
    out = []
    for s in specs:
        v, b, m, n = s.split(":")
        out.append({"variant": v, "batch": int(b), "millicores": int(m), "replicas": int(n)})
    return out


def cmd_plan(a):
    json.dump(plan_entries(a), sys.stdout)


def http_once(port, method, path, body, headers, timeout):
    """One request on a fresh connection. Returns (status or None, headers dict, body, error)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: %d\r\n" % (
            method, path, len(body))
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if b"\r\n\r\n" not in data:
        return None, {}, data, "incomplete response (%d bytes)" % len(data)
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, rest, None


def cmd_load(a):
    """Closed-loop load: CONCURRENCY clients, each sending requests one after the other (a new
    connection each) until COUNT requests are sent in total or STOP_FILE exists. Writes one JSON
    record per request and prints a summary. A request with no answer within TIMEOUT counts as
    'hung'."""
    p = argparse.ArgumentParser(prog="load")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pipeline", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--pause-ms", type=float, default=0)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--stop-file")
    p.add_argument("--stop-on-refused", action="store_true",
                   help="a client stops after its first refused connection (server gone)")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--out", required=True)
    o = p.parse_args(a)
    headers = [tuple(x.split(":", 1)) for x in o.header]
    lock = threading.Lock()
    state = {"next": 0}
    recs = []

    def client(cid):
        while True:
            with lock:
                if state["next"] >= o.count or (o.stop_file and os.path.exists(o.stop_file)):
                    return
                i = state["next"]
                state["next"] += 1
            body = ("req-%d-%d" % (cid, i)).encode()
            t0 = time.time()
            rec = {"i": i, "t0": t0}
            try:
                st, h, b, err = http_once(o.port, "POST", "/v1/pipelines/%s/infer" % o.pipeline,
                                          body, headers, o.timeout)
                rec.update(status=st, err=err, variants=h.get("x-sponge-variants"),
                           ctype=h.get("content-type"))
                if st == 200:
                    rec["echo_ok"] = b.startswith(body)
                else:
                    try:
                        jb = json.loads(b)
                        rec["json_error"] = isinstance(jb, dict) and isinstance(jb.get("error"), str)
                        rec["error"] = jb.get("error")
                        rec["detail"] = jb.get("detail")
                    except Exception:
                        rec["json_error"] = False
                        rec["body"] = b[:200].decode("latin-1")
            except socket.timeout:
                rec.update(status=None, err="hung")
            except ConnectionRefusedError:
                rec.update(status=None, err="refused")
            except OSError as e:
                rec.update(status=None, err="oserror: %s" % e)
            rec["t1"] = time.time()
            with lock:
                recs.append(rec)
            if o.stop_on_refused and rec.get("err") == "refused":
                return
            if o.pause_ms:
                time.sleep(o.pause_ms / 1000.0)

    ts = [threading.Thread(target=client, args=(c,)) for c in range(o.concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    recs.sort(key=lambda r: r["i"])
    with open(o.out, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    by = {}
    for r in recs:
        k = str(r["status"]) if r["status"] is not None else r["err"].split(":")[0]
        by[k] = by.get(k, 0) + 1
    variants = sorted(set(r.get("variants") for r in recs if r.get("variants")))
    json.dump({"sent": len(recs), "answered": sum(1 for r in recs if r["status"] is not None),
               "by_status": by, "variants": variants,
               "bad_echo": sum(1 for r in recs if r.get("status") == 200 and not r.get("echo_ok")),
               "non_json_errors": sum(1 for r in recs if r.get("status") not in (None, 200)
                                      and not r.get("json_error")),
               "max_latency_s": max([r["t1"] - r["t0"] for r in recs] or [0])}, sys.stdout)
    print()


def read_response(s, timeout):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
            if b"\r\n\r\n" in data:
                head, rest = data.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if m and len(rest) >= int(m.group(1)):
                    break
    except socket.timeout:
        pass
    if not data:
        return None, b""
    try:
        status = int(data.split(b" ", 2)[1])
    except Exception:
        status = -1
    return status, data


def cmd_raw(a):
    """raw PORT SECONDS — sends stdin as bytes on one connection (\\n in the input is turned into
    \\r\\n only in the header part if --crlf), prints the status line's code (or 'none')."""
    port, secs = int(a[0]), float(a[1])
    payload = sys.stdin.buffer.read()
    s = socket.create_connection(("127.0.0.1", port), timeout=secs)
    s.sendall(payload)
    st, data = read_response(s, secs)
    s.close()
    sys.stdout.write("%s\n" % (st if st is not None else "none"))
    sys.stdout.buffer.write(data)


def cmd_hold(a):
    """hold PORT SECONDS FILE — opens a connection, sends FILE's bytes, keeps the connection open
    (sending nothing more) for SECONDS, then closes it without reading. Prints 'sent'."""
    port, secs = int(a[0]), float(a[1])
    with open(a[2], "rb") as f:
        payload = f.read()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(payload)
    print("sent", flush=True)
    time.sleep(secs)
    s.close()


def cmd_tagged_pids(a):
    """tagged-pids NAME=VALUE CGROUP_ROOT SELF — live (non-zombie) processes whose environment
    has NAME=VALUE, and every process in a cgroup.procs below CGROUP_ROOT."""
    want, root, me = a[0].encode(), a[1], a[2]
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit() or d == me:
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read().split(b"\0")
            with open("/proc/%s/stat" % d) as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if want in env and not zombie:
            out.add(int(d))
    for dirpath, _, files in os.walk(root):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    out.update(int(x) for x in f.read().split())
            except OSError:
                pass
    for p in sorted(out):
        print(p)


def main():
    cmds = {"json": cmd_json, "check-error": cmd_check_error, "metric": cmd_metric,
            "port-busy": cmd_port_busy, "node-config": cmd_node_config, "mkpipe": cmd_mkpipe,
            "plan": cmd_plan, "load": cmd_load, "raw": cmd_raw, "hold": cmd_hold,
            "tagged-pids": cmd_tagged_pids}
    cmds[sys.argv[1]](sys.argv[2:])


main()
PYEOF
}
