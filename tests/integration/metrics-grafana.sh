#!/usr/bin/env bash
# metrics.grafana — every query of systemd/grafana/sponged.json names metrics (and labels) the
# agent really exports: a live sponged with a two-stage pipeline and some traffic is scraped,
# and tests/integration/grafana-check.py checks the dashboard's PromQL against that scrape
# (and its syntax with promtool check rules).
# Usage: metrics-grafana.sh [BINARY_DIR [SOURCE_DIR]]
AGENT_PORTS=18930-18949
source "$(dirname "$0")/lib-agent.sh"
agent_init metrics.grafana 18933 "$@"
command -v promtool >/dev/null || skip "promtool is not installed (tests/setup.sh: prometheus)"
agent_config '"control": true, "interval_ms": 500'
agent_start
mkpipe --name graf --stage s0:resnet18,resnet34 --stage s1:echo --millicores 100,1000,100 \
        --replicas 1,2 >"$TMP/graf.json"
apply_pipeline "$TMP/graf.json"
wait_ready graf 30 || die "pipeline graf never became ready"
for i in 1 2 3 4 5; do
        http POST /v1/pipelines/graf/infer --data-binary "req-$i"
        expect_status 200 "infer $i"
done
curl -sf -m 10 -o "$TMP/metrics.prom" "$URL/metrics" || die "GET /metrics failed"
"$PY" "$SRC/tests/integration/grafana-check.py" "$SRC/systemd/grafana/sponged.json" \
        "$TMP/metrics.prom" || fail "the dashboard queries something the agent does not export"
agent_finish
