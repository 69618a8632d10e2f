#!/usr/bin/env bash
# security.host — Host and Origin (issue 15, point 2). On TCP, a request whose Host is not a
# loopback name/address or one of api_hosts is refused with 421 (DNS rebinding: a web page in a
# browser on the node reaching the API by a name of its own), reads and inference included; a
# change with a foreign Origin is refused with 403 even with the token. Loopback names, loopback
# addresses with ports and configured names are served.
# Usage: security-host.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/security-lib.sh"
security_init security.host 18858 "$@"
TOKEN_FILE=$TMP/token
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN_FILE"
chmod 0600 "$TOKEN_FILE"
agent_config "\"api_token_file\": \"$TOKEN_FILE\", \"api_hosts\": [\"node1.example\"],
              \"worker_dirs\": [\"$BIN\", \"$TRUSTED\"]"
agent_start
install_probe h
probe_pipeline h "[\"$TRUSTED/h\"]"
apply_pipeline "$TMP/h.json"
wait_ready h 30 || die "pipeline h never became ready"

for host in attacker.example attacker.example:$PORT 10.0.0.1 "[2001:db8::1]:$PORT" localhost.attacker.example; do
        http GET /healthz -H "Host: $host"
        expect_json_error 421 "GET /healthz with Host $host" "api_hosts"
        http GET /v1/pipelines/h -H "Host: $host"
        expect_json_error 421 "GET a pipeline with Host $host"
        http POST /v1/pipelines/h/infer -H "Host: $host" --data-binary hi
        expect_json_error 421 "infer with Host $host"
done
for host in localhost "localhost:$PORT" "127.0.0.1:$PORT" 127.0.0.1 "[::1]:$PORT" NODE1.example node1.example:$PORT; do
        http GET /healthz -H "Host: $host"
        expect_status 200 "GET /healthz with Host $host"
done
http POST /v1/pipelines/h/infer -H "Host: localhost:$PORT" --data-binary hi
expect_status 200 "infer with a loopback Host"
pass "foreign Host refused (421), loopback and api_hosts served"

AUTH="Authorization: Bearer $(cat "$TOKEN_FILE")"
PLAN='[{"variant": "v", "batch": 2, "millicores": 300, "replicas": 1}]'
for origin in http://attacker.example "http://attacker.example:$PORT" null "https://127.0.0.1.attacker.example"; do
        HTTP_VIA=tcp http PUT /v1/pipelines/h/plan -H "$AUTH" -H "Origin: $origin" \
                -H 'Content-Type: application/json' --data-binary "$PLAN"
        expect_json_error 403 "pin with Origin $origin" "web page"
        HTTP_VIA=tcp http DELETE /v1/pipelines/h -H "$AUTH" -H "Origin: $origin"
        expect_json_error 403 "DELETE with Origin $origin"
done
[ "$(sget h 'j["pinned"]')" = False ] || fail "a pin with a foreign Origin took"
HTTP_VIA=tcp http PUT /v1/pipelines/h/plan -H "$AUTH" -H "Origin: http://localhost:$PORT" \
        -H 'Content-Type: application/json' --data-binary "$PLAN"
expect_status 200 "pin with a loopback Origin and the token"
pass "changes with a foreign Origin refused (403)"
agent_finish
