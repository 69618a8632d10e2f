# sim: sponge-sim (agent/sim), bench-trace on a simulated node driven by the agent's own decision
# code. Unit tests against hand-computed cases and the exhaustive oracle (no root), and a smoke
# run of tests/bench/bench-sim.sh.
# sponge_loadgen, sponge_bench_oracle and sponge_bench_cli (the command line it shares with
# bench-oracle, and agent/util.c) come from loadgen.cmake and bench-trace.cmake, included before
# this file (tests/CMakeLists.txt lists sim after bench-trace).
add_executable(sponge-sim ${PROJECT_SOURCE_DIR}/agent/sim/main.c)
target_link_libraries(sponge-sim PRIVATE sponge_sim sponge_bench_oracle sponge_bench_cli
                                         sponge_loadgen PkgConfig::JANSSON m)

add_executable(test-sim ${PROJECT_SOURCE_DIR}/tests/unit/test-sim.c)
target_link_libraries(test-sim PRIVATE sponge_sim PkgConfig::CMOCKA)
sponge_add_test(NAME sim.hand COMMAND test-sim hand LABEL unit TIMEOUT 60)
sponge_add_test(NAME sim.oracle COMMAND test-sim oracle LABEL unit TIMEOUT 120)

# bench-sim's harness on 55 s of the bursty segment (the slice in tests/data without
# ../shared/data): every policy produces figures, the JSON parses. No root.
sponge_add_test(NAME sim.bench-smoke LABEL unit TIMEOUT 120
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/bench/bench-sim.sh --smoke ${PROJECT_BINARY_DIR})
