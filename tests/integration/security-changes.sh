#!/usr/bin/env bash
# security.changes — who may change things (issue 15, point 1). An unprivileged caller (uid
# nobody) cannot PUT or DELETE a pipeline, nor pin or unpin a plan, over TCP (401) or over the
# UNIX socket (403, SO_PEERCRED), and the program its pipeline names never runs (its marker
# file never appears, nothing is persisted); spongectl says what to do. Reads and inference stay
# open to it. Root over the socket may change things, so may a member of api_group (adm), and a
# TCP caller with the api_token_file's token; a wrong or missing token is 401. A token file
# readable by others stops sponged at start with a message naming the file and its mode.
# Usage: security-changes.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/security-lib.sh"
security_init security.changes 18850 "$@"

TOKEN_FILE=$TMP/token
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN_FILE"
chmod 0600 "$TOKEN_FILE"
agent_config "\"api_group\": \"adm\", \"api_token_file\": \"$TOKEN_FILE\",
              \"worker_dirs\": [\"$BIN\", \"$TRUSTED\"]"
agent_start
# The socket's file mode (0660) would stop nobody before the agent sees it; opened up here so
# that what is tested is the agent's own check of the caller.
chmod 0666 "$UNIX_SOCK"
CT=(-H 'Content-Type: application/json')

install_probe pwn
probe_pipeline pwn "[\"$TRUSTED/pwn\"]"
nobody_http PUT /v1/pipelines/pwn "${CT[@]}" --data-binary "@$TMP/pwn.json"
expect_json_error 401 "PUT from nobody over TCP" "UNIX socket"
[ -n "$(resp_header WWW-Authenticate)" ] || fail "401 without WWW-Authenticate"
nobody_http PUT /v1/pipelines/pwn --unix-socket "$UNIX_SOCK" "${CT[@]}" --data-binary "@$TMP/pwn.json"
expect_json_error 403 "PUT from nobody over the UNIX socket" "uid 65534"
HTTP_VIA=tcp http PUT /v1/pipelines/pwn "${CT[@]}" --data-binary "@$TMP/pwn.json"
expect_json_error 401 "PUT from root over TCP without a token" "Bearer"
HTTP_VIA=tcp http PUT /v1/pipelines/pwn "${CT[@]}" -H 'Authorization: Bearer not-the-token-at-all' \
        --data-binary "@$TMP/pwn.json"
expect_json_error 401 "PUT over TCP with a wrong token" "api_token_file"
if as_nobody "$BIN/spongectl" --url "$URL" --socket "$UNIX_SOCK" apply "$TMP/pwn.json" \
        2>"$TMP/ctl-nobody.err"; then
        fail "spongectl apply as nobody succeeded"
fi
grep -q "HTTP 403" "$TMP/ctl-nobody.err" && grep -q "member of group sponged" "$TMP/ctl-nobody.err" ||
        fail "spongectl's refusal does not say what to do: $(cat "$TMP/ctl-nobody.err")"
sleep 1
[ -e "$MARKS/pwn.ran" ] && fail "the refused pipeline's program ran"
[ -e "$PIPELINES_DIR/pwn.json" ] && fail "a refused PUT was persisted"
http GET /v1/pipelines/pwn
expect_status 404 "the refused pipeline exists"
pass "unprivileged PUT refused over TCP and the socket; nothing ran"

# Root over the socket: allowed; the program runs.
install_probe ok
probe_pipeline ok "[\"$TRUSTED/ok\"]"
apply_pipeline "$TMP/ok.json"
wait_ready ok 30 || die "pipeline ok never became ready"
[ -e "$MARKS/ok.ran" ] || fail "the accepted pipeline's program did not run"

# Unprivileged DELETE, pin and unpin: refused on both listeners; nothing changes.
PLAN='[{"variant": "v", "batch": 2, "millicores": 300, "replicas": 1}]'
for via in tcp unix; do
        extra=()
        [ $via = unix ] && extra=(--unix-socket "$UNIX_SOCK")
        want=401
        [ $via = unix ] && want=403
        nobody_http DELETE /v1/pipelines/ok "${extra[@]}"
        expect_json_error $want "DELETE from nobody over $via"
        nobody_http PUT /v1/pipelines/ok/plan "${extra[@]}" "${CT[@]}" --data-binary "$PLAN"
        expect_json_error $want "pin from nobody over $via"
        nobody_http DELETE /v1/pipelines/ok/plan "${extra[@]}"
        expect_json_error $want "unpin from nobody over $via"
done
[ "$(sget ok 'j["pinned"]')" = False ] || fail "a refused pin pinned the plan"
[ -e "$PIPELINES_DIR/ok.json" ] || fail "a refused DELETE removed the file"
pass "unprivileged DELETE, pin and unpin refused"

# Reads and inference stay open to nobody.
nobody_http GET /v1/pipelines/ok
expect_status 200 "GET from nobody"
nobody_http POST /v1/pipelines/ok/infer --data-binary hello
expect_status 200 "infer from nobody"
nobody_http GET /metrics
expect_status 200 "metrics from nobody"

# A member of api_group (adm) over the socket may pin.
HTTP_STATUS=$(setpriv --reuid=nobody --regid=nogroup --groups=adm curl -s -m 20 -o "$TMP/resp.body" \
        -w '%{http_code}' --unix-socket "$UNIX_SOCK" -X PUT "${CT[@]}" --data-binary "$PLAN" \
        "$URL/v1/pipelines/ok/plan")
expect_status 200 "pin from a member of api_group over the socket"
[ "$(sget ok 'j["pinned"]')" = True ] || fail "the group member's pin did not take"

# The token on TCP: spongectl --token-file sends changes to the URL with it.
timeout 30 "$BIN/spongectl" --url "$URL" --socket /nonexistent --token-file "$TOKEN_FILE" \
        unpin ok >"$TMP/unpin.out" 2>&1 || fail "unpin with the token over TCP: $(cat "$TMP/unpin.out")"
[ "$(sget ok 'j["pinned"]')" = False ] || fail "the token holder's unpin did not take"
HTTP_VIA=tcp http DELETE /v1/pipelines/ok -H "Authorization: Bearer $(cat "$TOKEN_FILE")"
expect_status 200 "DELETE with the token over TCP"
pass "root, api_group and the token may change things"

# A token file others can read: sponged refuses to start, naming the file and its mode.
chmod 0644 "$TOKEN_FILE"
if timeout 10 "$BIN/sponged" --config "$NODE_CONFIG" 2>"$TMP/bad-token.err"; then
        fail "sponged started with a token file of mode 0644"
fi
grep -q "$TOKEN_FILE has mode 0644" "$TMP/bad-token.err" ||
        fail "no clear message for a 0644 token file: $(cat "$TMP/bad-token.err")"
agent_finish
