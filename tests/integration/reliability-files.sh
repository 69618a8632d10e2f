#!/usr/bin/env bash
# reliability.files — the pipelines directory stays true to what runs:
#  1. temp files a previous run left ("*.json.tmp.*", "*.json.plan.tmp.*") are removed at start;
#  2. DELETE of a pipeline loaded from another file name removes that file (a reload does not
#     bring it back);
#  3. a plan pinned by hand survives a restart (a "FILE.plan" beside the pipeline's file), and
#     DELETE of the pin removes it (not pinned after the next restart);
#  4. DELETE (and PUT plan) on a directory that cannot be changed (chattr +i: root ignores
#     permission bits) answer 500 with a JSON error and change nothing: the pipeline still runs.
# Usage: reliability-files.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/reliability-lib.sh"
reliability_init files 18874 "$@"
agent_config '"control": false'

mkpipe --name fp --stage s0:echo --replicas 1,1 --plan echo:1:200:1 >"$PIPELINES_DIR/other-name.json"
echo '{"half": ' >"$PIPELINES_DIR/gone.json.tmp.4242.0"
echo '[' >"$PIPELINES_DIR/gone.json.plan.tmp.4242.1"
agent_start

# 1. stale temp files
for f in gone.json.tmp.4242.0 gone.json.plan.tmp.4242.1; do
        [ -e "$PIPELINES_DIR/$f" ] && fail "stale temp file $f not removed at start"
done

# 2. DELETE removes the file the pipeline came from
wait_ready fp 30 || die "pipeline fp (from other-name.json) never became ready"
http DELETE /v1/pipelines/fp
expect_status 200 "DELETE of fp"
[ -e "$PIPELINES_DIR/other-name.json" ] && fail "DELETE of fp left other-name.json, the file it came from"
kill -HUP "$SPONGED_PID"
reloaded() { [ "$(grep -c 'Reloading configuration' "$LOG")" -ge 1 ]; }
wait_until 10 "the reload" reloaded
sleep 0.5
http GET /v1/pipelines/fp
expect_status 404 "fp after DELETE and a reload"

# 3. a pinned plan across a restart
P=pinned
mkpipe --name $P --stage s0:echo --replicas 1,2 --plan echo:1:200:1 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
pin $P echo:3:300:2
[ -s "$PIPELINES_DIR/$P.json.plan" ] || fail "no pin file $P.json.plan beside $P.json"
agent_stop 30 || die "sponged did not stop"
agent_start
http GET /v1/pipelines/$P/plan
expect_status 200 "GET plan after a restart"
[ "$(jget "$TMP/resp.body" 'j["pinned"] and [(e["batch"], e["millicores"], e["replicas"]) for e in j["plan"]] == [(3, 300, 2)]')" = True ] ||
        fail "the pinned plan did not survive the restart: $(resp_body)"
http DELETE /v1/pipelines/$P/plan
expect_status 200 "unpin"
[ -e "$PIPELINES_DIR/$P.json.plan" ] && fail "the pin file stays after DELETE .../plan"
agent_stop 30 || die "sponged did not stop"
agent_start
http GET /v1/pipelines/$P/plan
[ "$(jget "$TMP/resp.body" 'j["pinned"]')" = False ] || fail "pinned again after unpin and a restart: $(resp_body)"

# 4. a directory that cannot be changed
wait_ready $P 30 || die "pipeline $P not ready"
if ! chattr +i "$PIPELINES_DIR" 2>/dev/null; then
        say "chattr +i is not supported on $PIPELINES_DIR's file system: part 4 not run"
else
        http DELETE /v1/pipelines/$P
        expect_json_error 500 "DELETE on an immutable directory" "nothing changed"
        http PUT /v1/pipelines/$P/plan -H 'Content-Type: application/json' \
                --data-binary '[{"variant": "echo", "batch": 2, "millicores": 200, "replicas": 1}]'
        expect_json_error 500 "PUT plan on an immutable directory" "nothing changed"
        chattr -i "$PIPELINES_DIR"
        http GET /v1/pipelines/$P
        expect_status 200 "the pipeline after a refused DELETE"
        [ "$(jget "$TMP/resp.body" 'j["pinned"]')" = False ] || fail "pinned although the pin could not be saved"
        [ -e "$PIPELINES_DIR/$P.json" ] || fail "$P.json gone after a refused DELETE"
        http DELETE /v1/pipelines/$P
        expect_status 200 "DELETE once the directory can be changed"
        [ -e "$PIPELINES_DIR/$P.json" ] && fail "$P.json stays after DELETE"
fi
LEFT=$(find "$PIPELINES_DIR" -mindepth 1 -printf '%f ')
[ -z "$LEFT" ] || fail "files left in the pipelines directory: $LEFT"

agent_finish
