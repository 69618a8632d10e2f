#!/usr/bin/env bash
# ui.live — the web view /ui/ in headless Chromium (Debian's chromium, driven over its DevTools
# pipe by tests/integration/cdp.py): the files are served from the binary (types, no-cache,
# /ui redirects to /ui/, unknown files 404 as JSON), the page loads with no console error, shows
# both pipelines with their charts and stages, and its numbers change under load; a screenshot
# is saved as BUILD/ui-live.png.
# Usage: ui-live.sh [BINARY_DIR [SOURCE_DIR]]
AGENT_PORTS=18930-18949
source "$(dirname "$0")/lib-agent.sh"
agent_init ui.live 18931 "$@"
[ -x /usr/bin/chromium ] || skip "/usr/bin/chromium is not installed (tests/setup.sh: chromium)"
agent_config '"control": true, "interval_ms": 500'
agent_start

http GET /ui/
expect_status 200 "GET /ui/"
case $(resp_header Content-Type) in text/html*) ;; *) fail "/ui/ Content-Type: $(resp_header Content-Type)" ;; esac
grep -q '<script src="app.js">' "$TMP/resp.body" || fail "/ui/ is not the page"
http GET /ui/app.js
expect_status 200 "GET /ui/app.js" && cmp -s "$TMP/resp.body" "$SRC/agent/ui/app.js" ||
        fail "/ui/app.js is not agent/ui/app.js as built"
http GET /ui/vendor/uplot/LICENSE
expect_status 200 "the charting library's licence is served"
http GET /ui
expect_status 308 "GET /ui redirects" && [ "$(resp_header Location)" = /ui/ ] ||
        fail "GET /ui: Location \"$(resp_header Location)\""
http GET /ui/../etc/passwd
[ "$HTTP_STATUS" = 404 ] || fail "GET /ui/../etc/passwd: HTTP $HTTP_STATUS"
http GET /ui/nope.js
expect_json_error 404 "unknown file under /ui/"
http POST /ui/ --data x
expect_json_error 405 "POST /ui/"

A=uia B=uib
mkpipe --name $A --stage s0:resnet18,resnet34 --stage s1:echo --millicores 100,1000,100 \
        --replicas 1,2 --slo-ms 2000 >"$TMP/$A.json"
mkpipe --name $B --stage only:echo --millicores 100,500,100 --replicas 1,1 >"$TMP/$B.json"
apply_pipeline "$TMP/$A.json"
apply_pipeline "$TMP/$B.json"
wait_ready $A 30 || die "pipeline $A never became ready"
wait_ready $B 30 || die "pipeline $B never became ready"
load_start la --pipeline $A --count 100000 --concurrency 2 --pause-ms 30 --timeout 60 \
        --stop-file "$TMP/stop"
load_start lb --pipeline $B --count 100000 --concurrency 2 --pause-ms 30 --timeout 60 \
        --stop-file "$TMP/stop"

SHOT=$BUILD/ui-live.png
rm -f "$SHOT"
timeout 200 "$PY" "$SRC/tests/integration/ui-browser.py" "$URL/ui/" "$A,$B" "$SHOT" ||
        fail "the page in Chromium (see the lines above)"
[ -s "$SHOT" ] && [ "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] ||
        fail "no PNG screenshot at $SHOT"
touch "$TMP/stop"
load_wait la 60
load_wait lb 60
say "screenshot: $SHOT"
agent_finish
