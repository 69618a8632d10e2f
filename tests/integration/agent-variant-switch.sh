#!/usr/bin/env bash
# agent.variant-switch — a variant change pinned under a steady load: the new worker starts,
# becomes ready, takes over the queue, the old one drains and exits; every request sent is
# answered, all with 200 (none dropped, no 5xx caused by the switch), and the answers show both
# variants (the switch happened while requests were flowing).
# Usage: agent-variant-switch.sh [BINARY_DIR [SOURCE_DIR]]
source "$(dirname "$0")/lib-agent.sh"
agent_init agent.variant-switch 18772 "$@"
agent_config '"control": false'
agent_start

P=switch
mkpipe --name $P --stage s0:resnet18,resnet34 --stage s1:echo --millicores 100,2000,100 \
        --replicas 1,2 >"$TMP/$P.json"
apply_pipeline "$TMP/$P.json"
pin $P resnet18:2:1000:1 echo:1:200:1
wait_ready $P 30 || die "pipeline $P never became ready"
OLD=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
say "old worker (resnet18) pid $OLD"

# Steady load: 4 clients, a short pause between requests, for as long as the test says
# (a stop file): 20 answers before the switch, the switch, 20 answers after it.
load_start steady --pipeline $P --count 100000 --concurrency 4 --pause-ms 20 --timeout 60 \
        --stop-file "$TMP/stop-steady"
ok_count() { sget $P 'j["answered"]["ok"]'; }
answered_some() { [ "$(ok_count)" -ge "$1" ] 2>/dev/null; }
wait_until 60 "first 20 answers under load" answered_some 20
say "$(ok_count) answered; pinning resnet34"

# The switch, and a resize of stage 1 in the same plan.
pin $P resnet34:2:1000:1 echo:1:300:1
switched() {
        [ "$(sget $P '[(r["variant"], r["state"]) for r in j["stages"][0]["replica_list"]] == [("resnet34", "ready")]')" = True ]
}
wait_until 20 "stage s0 served by one ready resnet34 replica, the resnet18 one gone" switched
t_switched=$(now_s)
say "switched to resnet34 (pid $(sget $P 'j["stages"][0]["replica_list"][0]["pid"]'))"
NEW=$(sget $P 'j["stages"][0]["replica_list"][0]["pid"]')
[ "$NEW" != "$OLD" ] || fail "the variant switch kept pid $OLD"
old_gone() { [ ! -d "/proc/$OLD" ] || agent_is_zombie "$OLD"; }
wait_until 10 "old worker $OLD exits" old_gone
wait_until 60 "20 more answers after the switch" answered_some $(($(ok_count) + 20))
touch "$TMP/stop-steady"
load_wait steady 90
COUNT=$(lget steady 'j["sent"]')

say "load: $(cat "$TMP/steady.summary")"
[ "$(lget steady 'j["answered"] == j["sent"]')" = True ] || fail "sent != answered: $(cat "$TMP/steady.summary")"
[ "$(lget steady 'j["by_status"]')" = "{\"200\": $COUNT}" ] ||
        fail "not every request answered 200: $(lget steady 'j["by_status"]'); first errors: $(grep -v '"status": 200' "$TMP/steady.jsonl" | head -n 3)"
[ "$(lget steady 'j["bad_echo"]')" = 0 ] || fail "some outputs do not carry their input"
[ "$(lget steady 'j["variants"]')" = '["resnet18,echo", "resnet34,echo"]' ] ||
        fail "variants seen under load: $(lget steady 'j["variants"]') (expected both resnet18,echo and resnet34,echo)"
# Requests sent after the old replica was gone were all served by the new variant, and the
# load really spanned the switch (some requests sent after it).
read -r late_old after <<<"$("$PY" - "$TMP/steady.jsonl" "$t_switched" <<'EOF'
import json, sys
t = float(sys.argv[2])
old = after = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["t0"] > t:
        after += 1
        old += r.get("variants") == "resnet18,echo"
print(old, after)
EOF
)"
[ "$late_old" = 0 ] || fail "$late_old requests sent after the switch completed were served by resnet18"
[ "$after" -ge 10 ] || fail "only $after requests were sent after the switch: the load did not span it"
http POST /v1/pipelines/$P/infer --data-binary after-switch
expect_status 200 "infer after the switch" && [ "$(resp_header X-Sponge-Variants)" = resnet34,echo ] ||
        fail "after the switch: X-Sponge-Variants \"$(resp_header X-Sponge-Variants)\""
[ "$(metric "sponged_requests_total{pipeline=\"$P\",outcome=\"worker_error\"}")" = 0 ] ||
        fail "worker errors counted during the switch"
wait_until 10 "no request left live" live_is_zero

agent_finish
