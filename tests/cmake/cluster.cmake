# cluster: sponged behind a load balancer (issue: past one node). Ports 18950-18969.
# cluster.agent-check drives the capacity signal (HAProxy agent-check protocol, /v1 JSON, the
# drain on SIGTERM) of one real sponged; cluster.haproxy runs three sponged nodes in network
# namespaces behind Debian's HAProxy with a trace load (root, real cgroups, ~3 min).
add_executable(test-capacity ${PROJECT_SOURCE_DIR}/tests/unit/test-capacity.c)
target_link_libraries(test-capacity PRIVATE sponge_agent PkgConfig::CMOCKA)
sponge_add_test(NAME cluster.capacity-unit COMMAND test-capacity LABEL unit TIMEOUT 30)
sponge_add_test(NAME cluster.agent-check LABEL integration TIMEOUT 120
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/cluster-agent-check.sh)
sponge_add_test(NAME cluster.haproxy LABEL integration TIMEOUT 400
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/integration/cluster-haproxy.py
          ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
# The Kubernetes manifests (systemd/k8s) against the Kubernetes API schemas (kubernetes-models
# from the npm registry, pinned by tests/k8s/package-lock.json) and sponged's own checks.
sponge_add_test(NAME k8s.manifests LABEL integration TIMEOUT 300
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/k8s/k8s-manifests.sh ${PROJECT_BINARY_DIR}
          ${PROJECT_SOURCE_DIR})
