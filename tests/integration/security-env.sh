#!/usr/bin/env bash
# security.env — secrets (issue 15, point 6). GET never shows a variant's env values: the names
# with "<redacted>", for any caller (root too), in GET /v1/pipelines/NAME and spongectl status
# --json; the worker still gets the value, and the operator's persisted file keeps it.
# Usage: security-env.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/security-lib.sh"
security_init security.env 18854 "$@"
agent_config "\"worker_dirs\": [\"$BIN\", \"$TRUSTED\"]"
agent_start
SECRET=s3cr3t-$$-value
install_probe envp
probe_pipeline envp "[\"$TRUSTED/envp\"]" "{\"API_KEY\": \"$SECRET\"}"
apply_pipeline "$TMP/envp.json"
grep -q "$SECRET" "$TMP/resp.body" && fail "the PUT's answer shows the env value"
wait_ready envp 30 || die "pipeline envp never became ready"
nobody_http GET /v1/pipelines/envp
expect_status 200 "GET as nobody"
grep -q "$SECRET" "$TMP/resp.body" && fail "GET shows the env value to nobody"
[ "$(jget "$TMP/resp.body" 'j["config"]["stages"][0]["variants"][0]["env"]["API_KEY"]')" = "<redacted>" ] ||
        fail "GET does not name API_KEY as <redacted>: $(head -c 600 "$TMP/resp.body")"
ctl --json status envp >"$TMP/ctl.json" 2>&1 || fail "spongectl status failed: $(cat "$TMP/ctl.json")"
grep -q "$SECRET" "$TMP/ctl.json" && fail "spongectl status --json shows the env value"
for u in /v1/pipelines /v1/pipelines/envp/plan /metrics; do
        http GET "$u"
        grep -q "$SECRET" "$TMP/resp.body" && fail "GET $u shows the env value"
done
pid=$(sget envp 'j["stages"][0]["replica_list"][0]["pid"]')
tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "API_KEY=$SECRET" || fail "the worker did not get API_KEY"
grep -q "$SECRET" "$PIPELINES_DIR/envp.json" || fail "the persisted file lost the value"
agent_finish
