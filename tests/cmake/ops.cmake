# ops: what an operator sees — /metrics under promtool, the web view in a browser, the API
# against its OpenAPI description. Integration tests on ports 18930-18949 (lib-agent.sh).
sponge_add_test(NAME metrics.promtool
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/metrics-promtool.sh
                LABEL integration TIMEOUT 300)
sponge_add_test(NAME ui.live
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/ui-live.sh
                LABEL integration TIMEOUT 300)
sponge_add_test(NAME ops.conventions
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/ops-conventions.sh
                LABEL unit TIMEOUT 60)
sponge_add_test(NAME api.openapi
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/api-openapi.sh
                LABEL integration TIMEOUT 180)
sponge_add_test(NAME metrics.grafana
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/metrics-grafana.sh
                LABEL integration TIMEOUT 120)
