# Agent benchmarks (run on demand; see tests/bench/README.md).
add_executable(bench-adapt ${PROJECT_SOURCE_DIR}/tests/bench/bench-adapt.c)
target_link_libraries(bench-adapt PRIVATE sponge_agent)

# A short run of the data-plane benchmark so the harness cannot rot (fails when sponged does
# under a tenth of nginx's rate, answers wrongly, or does not exit cleanly).
sponge_add_test(NAME agent.dataplane-smoke LABEL integration TIMEOUT 180
  COMMAND env BENCH_DURATION=2 BENCH_ROUNDS=1 BENCH_WARMUP=1
          bash ${PROJECT_SOURCE_DIR}/tests/bench/bench-dataplane.sh ${PROJECT_BINARY_DIR})
