#!/usr/bin/env bash
# reliability.many-pipelines — no fixed limit on the number of pipeline files: 300 files in the
# pipelines directory give 300 pipelines, at start and after a reload (SIGHUP). The node caps
# (max_pipelines, default 64; max_replicas, default 256) are the operator's limit, raised here.
# Usage: reliability-many-pipelines.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/reliability-lib.sh"
reliability_init many-pipelines 18875 "$@"
N=300
agent_config '"control": false, "ebpf": false, "millicores": 4000, "max_pipelines": 400, "max_replicas": 400'
mkpipe --name p0 --stage s0:echo --millicores 10,100,10 --replicas 1,1 --plan echo:1:10:1 >"$TMP/p.json"
"$PY" - "$TMP/p.json" "$PIPELINES_DIR" "$N" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
for i in range(int(sys.argv[3])):
    j["name"] = "p%d" % i
    with open("%s/p%d.json" % (sys.argv[2], i), "w") as f:
        json.dump(j, f)
PYEOF
agent_start
# One GET of 300 pipelines' status is slow on a loaded machine or a sanitizer build: its own
# bound.
count() { HTTP_TIMEOUT=90 http GET /v1/pipelines && jget "$TMP/resp.body" 'len(j["pipelines"])'; }
n=$(count)
say "pipelines at start: $n"
[ "$n" = $N ] || fail "$n pipelines from $N files"
kill -HUP "$SPONGED_PID"
reloaded() { [ "$(grep -c 'Reloading configuration' "$LOG")" -ge 1 ]; }
wait_until 30 "the reload" reloaded
n=$(count)
say "pipelines after a reload: $n"
[ "$n" = $N ] || fail "$n pipelines from $N files after a reload"
grep -q "its file is gone" "$LOG" && fail "pipelines retired although their files are there: $(grep -c 'its file is gone' "$LOG")"
agent_finish
