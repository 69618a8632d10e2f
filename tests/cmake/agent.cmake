# agent: black-box integration tests of the real sponged, spongectl and workers — real HTTP
# (curl, raw sockets), real signals, the kernel's real cgroups (root; skipped with 77 otherwise).
# Each script starts its own sponged on its own port (18770-18789) and cgroup root; the shared
# helpers are in tests/integration/lib-agent.sh. Scripts also run by hand:
#   bash tests/integration/agent-basic.sh BUILD_DIR [SOURCE_DIR]
set(SPONGE_AGENT_ITESTS
    # name            timeout (s)
    basic             120
    resize            120
    variant-switch    150
    kill-worker       150
    bad-requests      150
    reload            120
    sigterm           150
    stop-deadline     90)
while(SPONGE_AGENT_ITESTS)
  list(POP_FRONT SPONGE_AGENT_ITESTS name timeout)
  sponge_add_test(NAME agent.${name}
                  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/agent-${name}.sh
                  LABEL integration TIMEOUT ${timeout})
endwhile()

# The load generator's tests (written by its own owner) register themselves here when present.
include(${CMAKE_CURRENT_LIST_DIR}/loadgen.cmake OPTIONAL)
