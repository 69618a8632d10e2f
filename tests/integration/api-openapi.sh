#!/usr/bin/env bash
# api.openapi — every route of agent/openapi.json driven on a live sponged (real HTTP, real
# workers), each answer checked against its documented status, Content-Type and JSON schema
# (tests/integration/api-openapi.py, python3-jsonschema); every documented route is driven.
# Usage: api-openapi.sh [BINARY_DIR [SOURCE_DIR]]
AGENT_PORTS=18930-18949
source "$(dirname "$0")/lib-agent.sh"
agent_init api.openapi 18932 "$@"
"$PY" -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema is not installed (tests/setup.sh)"
# Changes over TCP with the operator's token (the route x listener rules are security.*'s).
SPONGE_API_TOKEN=openapi-$RANDOM$RANDOM$RANDOM
export SPONGE_API_TOKEN
(umask 077 && printf '%s\n' "$SPONGE_API_TOKEN" >"$TMP/token")
agent_config "\"control\": true, \"interval_ms\": 500, \"api_token_file\": \"$TMP/token\""
agent_start
mkpipe --name oapi --stage s0:resnet18,resnet34 --stage s1:echo --millicores 100,1000,100 \
        --replicas 1,2 --max-body-bytes 1024 >"$TMP/oapi.json"
"$PY" "$SRC/tests/integration/api-openapi.py" "$URL" "$SRC/agent/openapi.json" \
        "$SRC/pipelines/schema/pipeline.schema.json" "$TMP/oapi.json" ||
        fail "answers that do not match agent/openapi.json (see above)"
agent_finish
