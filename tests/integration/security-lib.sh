# security-lib.sh — shared helpers of the security.* integration tests (issue 15: the trust
# boundary), sourced after nothing else: it sources lib-agent.sh with this family's ports.
#
# The tests run as root (sponged creates real cgroups) and make callers unprivileged with
# setpriv (uid nobody, group nogroup, no supplementary groups) or members of a configured
# api_group (adm). Would-be workers are "probe" scripts installed in a trusted worker directory
# made for the test under the build directory (root-owned, mode 0755, like every parent up to
# /), so only the agent's rule under test decides whether they run. A probe creates a marker
# file when it runs, then becomes the echo worker; "nothing ran" means the marker is absent.
#
# Ports: the security tests use 18850-18869 only (plus $SPONGE_TEST_PORT_OFFSET).
AGENT_PORTS=18850-18869
# shellcheck source=tests/integration/lib-agent.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-agent.sh"

# security_init TEST_NAME PORT ARGS... — agent_init, then a trusted worker directory TRUSTED
# under the build directory (removed on exit) and a TMP that unprivileged callers can traverse.
security_init() {
        agent_init "$@"
        command -v setpriv >/dev/null || skip "setpriv is not installed (util-linux)"
        TRUSTED=$BUILD/security-itest.$$
        mkdir -p "$TRUSTED" && chmod 0755 "$TRUSTED" || die "cannot create $TRUSTED"
        SECURITY_TRUSTED_DIRS+=("$TRUSTED")
        chmod 0755 "$TMP"
        MARKS=$TMP/marks
        mkdir -p "$MARKS" && chmod 0777 "$MARKS"
        NOBODY_OUT=$TMP/nobody
        mkdir -p "$NOBODY_OUT" && chmod 0777 "$NOBODY_OUT"
        trap 'security_cleanup' EXIT
}

SECURITY_TRUSTED_DIRS=()
security_cleanup() {
        local rc=$? d
        for d in "${SECURITY_TRUSTED_DIRS[@]}"; do
                rm -rf "$d"
        done
        (exit "$rc")
        agent_cleanup
}

# as_nobody CMD... — runs CMD as uid nobody, gid nogroup, no supplementary groups.
as_nobody() {
        setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

# nobody_http METHOD PATH [CURL_ARGS...] — http, but curl runs as nobody (bodies from stdin or
# files nobody can read). Sets HTTP_STATUS; the body is in $TMP/resp.body.
nobody_http() {
        local method=$1 path=$2
        shift 2
        # curl as nobody writes where nobody may (curl 7.88 crashes when -D cannot be opened).
        rm -f "$NOBODY_OUT/body" "$NOBODY_OUT/headers"
        HTTP_STATUS=$(as_nobody curl -sS -m 20 -X "$method" -o "$NOBODY_OUT/body" \
                -D "$NOBODY_OUT/headers" -w '%{http_code}' "$@" "$URL$path" 2>"$TMP/resp.err")
        cp "$NOBODY_OUT/body" "$TMP/resp.body" 2>/dev/null || : >"$TMP/resp.body"
        cp "$NOBODY_OUT/headers" "$TMP/resp.headers" 2>/dev/null || : >"$TMP/resp.headers"
        [ -n "$HTTP_STATUS" ] || HTTP_STATUS=000
}

# install_probe NAME [SHELL_LINES] — an executable /bin/sh worker in TRUSTED that creates
# $MARKS/NAME.ran (as whoever runs it), runs SHELL_LINES (their output goes to $MARKS/NAME.out),
# then execs the echo worker.
install_probe() {
        local name=$1 body=${2:-}
        cat >"$TRUSTED/$name" <<PROBE
#!/bin/sh
touch "$MARKS/$name.ran"
{
:
$body
} >"$MARKS/$name.out" 2>&1
exec "$BIN/sponge-worker-echo"
PROBE
        chmod 0755 "$TRUSTED/$name"
}

# probe_pipeline NAME COMMAND_JSON [EXTRA_ENV_JSON [EXTRA_STAGE_KEYS_JSON]] — a one-stage
# pipeline file $TMP/NAME.json whose variant runs COMMAND_JSON (e.g. '["/path/x"]') with
# ITEST_TAG and the extra env; the stage gets the extra keys (e.g. '{"pids_max": 8}').
probe_pipeline() {
        "$PY" - "$1" "$2" "${3:-{\}}" "$TAG" "${4:-{\}}" >"$TMP/$1.json" <<'PYEOF'
import json, sys
name, cmd, env, tag = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
extra = json.loads(sys.argv[5])
env["ITEST_TAG"] = tag
json.dump({"name": name, "slo_ms": 20000, "stages": [dict({
    "name": "s0", "max_batch": 4, "millicores": {"min": 100, "max": 1000, "step": 100},
    "replicas": {"min": 1, "max": 1},
    "variants": [{"name": "v", "accuracy": 50, "command": cmd, "env": env, "startup_ms": 100,
                  "profile": {"model": {"gamma": 0.01, "delta": 0.01, "epsilon": 0.01,
                                        "eta": 0.1}}}]}, **extra)]}, sys.stdout, indent=1)
PYEOF
        chmod 0644 "$TMP/$1.json"
}
