#!/usr/bin/env bash
# security.limits — resource limits (issue 15, point 5), the parts that do not need a memory or
# pids controller: with the `none` cgroup backend a replica's whole process tree dies with it
# (its process group is killed when the worker exits or is stopped; the agent is a subreaper),
# on DELETE and on a restart after a crash; and the node-wide caps max_pipelines / max_replicas
# refuse a PUT past them with 409 and a clear reason, nothing persisted.
# Usage: security-limits.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/security-lib.sh"
security_init security.limits 18860 "$@"
agent_config "\"worker_dirs\": [\"$BIN\", \"$TRUSTED\"], \"cgroup\": {\"backend\": \"none\"},
              \"max_pipelines\": 2, \"max_replicas\": 3"
agent_start
http GET /v1/node
grep -q '"backend": "none"' "$TMP/resp.body" || die "the agent does not run the none backend"

# A worker that leaves a child behind: a sleep in its process group.
install_probe tree 'sleep 1000 & echo $! >"'"$MARKS"'/tree.child"'
probe_pipeline tree "[\"$TRUSTED/tree\"]"
apply_pipeline "$TMP/tree.json"
wait_ready tree 30 || die "pipeline tree never became ready"
child=$(cat "$MARKS/tree.child")
[ -d "/proc/$child" ] || die "the probe's child $child is not running"
pid=$(sget tree 'j["stages"][0]["replica_list"][0]["pid"]')
rm -f "$MARKS/tree.child"
kill -KILL "$pid"
gone() { [ ! -d "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
wait_until 10 "the crashed worker's child $child gone" gone "$child"
wait_until 20 "the restarted worker's child" test -s "$MARKS/tree.child"
wait_ready tree 30 || fail "pipeline tree did not come back after the crash"
child2=$(cat "$MARKS/tree.child")
http DELETE /v1/pipelines/tree
expect_status 200 "DELETE tree"
wait_until 15 "the deleted pipeline's worker child $child2 gone" gone "$child2"
pass "none backend: a replica's process tree dies on a crash and on DELETE"

# Node-wide caps: 2 pipelines, 3 replicas (the sum of replicas.max).
for n in a b; do
        probe_pipeline "cap$n" "[\"$BIN/sponge-worker-echo\"]"
        apply_pipeline "$TMP/cap$n.json"
done
probe_pipeline capc "[\"$BIN/sponge-worker-echo\"]"
http PUT /v1/pipelines/capc -H 'Content-Type: application/json' --data-binary "@$TMP/capc.json"
expect_json_error 409 "a third pipeline past max_pipelines 2" "max_pipelines"
[ -e "$PIPELINES_DIR/capc.json" ] && fail "the refused pipeline was persisted"
"$PY" -c 'import json, sys; j = json.load(open(sys.argv[1])); j["stages"][0]["replicas"]["max"] = 3
json.dump(j, open(sys.argv[2], "w"))' "$TMP/capa.json" "$TMP/capa2.json" || die "cannot write capa2.json"
http PUT /v1/pipelines/capa -H 'Content-Type: application/json' --data-binary "@$TMP/capa2.json"
expect_json_error 409 "replicas.max adding up past max_replicas 3" "max_replicas"
[ "$(jget "$PIPELINES_DIR/capa.json" 'j["stages"][0]["replicas"]["max"]')" = 1 ] ||
        fail "the refused replacement was persisted"
pass "max_pipelines and max_replicas refuse with 409"
agent_finish
