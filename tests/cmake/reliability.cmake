# reliability: issue 16, bounded failure — every accepted request answered in bounded time,
# whatever a worker or a client does. Black-box tests of the real sponged with stuck workers
# (SIGSTOP, or sponge-worker-echo --never-ready), clients that leave, slow or greedy clients,
# and the pipeline files. Ports 18870-18889 (tests/integration/reliability-lib.sh). By hand:
#   bash tests/integration/reliability-batch-deadline.sh BUILD_DIR [SOURCE_DIR]
set(SPONGE_RELIABILITY_ITESTS
    # name            timeout (s)
    batch-deadline    90
    expire            90
    startup           90
    retire            90
    files             120
    many-pipelines    400
    http              120)
while(SPONGE_RELIABILITY_ITESTS)
  list(POP_FRONT SPONGE_RELIABILITY_ITESTS name timeout)
  sponge_add_test(NAME reliability.${name}
                  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/reliability-${name}.sh
                  LABEL integration TIMEOUT ${timeout})
endwhile()
