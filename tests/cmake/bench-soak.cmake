# bench-soak: sponged under the Twitter trace while workers are killed and the pipeline is PUT
# again (tests/bench/bench-soak.sh, 10 min on demand; see tests/bench/README.md). The smoke:
# 30 s, a worker killed every 8 s, a PUT every 12 s; fails when a request goes unanswered, the
# agent's fds differ or its RSS grows past the slack, or it does not exit cleanly. Skips (77)
# without root, a cgroup cpu controller or the shared trace.
sponge_add_test(NAME agent.bench-soak-smoke LABEL integration TIMEOUT 240
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/bench/bench-soak.sh --smoke ${PROJECT_BINARY_DIR}
          ${PROJECT_SOURCE_DIR})
