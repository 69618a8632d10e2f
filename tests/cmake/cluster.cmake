# cluster: sponged behind a load balancer (issue: past one node). Ports 18950-18969.
# cluster.agent-check drives the capacity signal (HAProxy agent-check protocol, /v1 JSON, the
# drain on SIGTERM) of one real sponged; cluster.haproxy runs three sponged nodes in network
# namespaces behind Debian's HAProxy with a trace load (root, real cgroups, ~3 min).
sponge_add_test(NAME cluster.agent-check LABEL integration TIMEOUT 120
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/cluster-agent-check.sh)
