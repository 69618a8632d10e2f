# control: black-box integration tests of sponged's control loop — the real daemon over HTTP,
# real flops workers in the kernel's real cgroups (root; skipped with 77 otherwise), load from
# sponge-load. Each script starts its own sponged on its own port (18830-18849) and cgroup root
# (sponged-ctl-NAME-PID); shared helpers in tests/integration/control-lib.sh (on top of
# lib-agent.sh). Scripts also run by hand:
#   bash tests/integration/control-step.sh BUILD_DIR [SOURCE_DIR]

# The exhaustive solver on pipeline files (control-two asks it whether a feasible split exists).
add_executable(control-oracle ${PROJECT_SOURCE_DIR}/tests/integration/control-oracle.c)
target_link_libraries(control-oracle PRIVATE sponge_plan)

set(SPONGE_CONTROL_ITESTS
    # name        timeout (s)
    step          120
    slo           90
    two           120
    solve-fail    90
    contention    120
    offloop       120)
while(SPONGE_CONTROL_ITESTS)
  list(POP_FRONT SPONGE_CONTROL_ITESTS name timeout)
  sponge_add_test(NAME agent.control-${name}
                  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/control-${name}.sh
                  LABEL integration TIMEOUT ${timeout})
endwhile()
