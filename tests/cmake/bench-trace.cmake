# bench-trace: the scaling policies against each other and the oracle on real trace segments
# (tests/bench/bench-trace.sh, run on demand, ~18 min; see tests/bench/README.md) and a short
# smoke run of its harness. bench-oracle computes the static/vertical/horizontal plans and the
# oracle from the profiles, reading the trace and the Ghent log with sponge-load's own parsers.
if(NOT TARGET sponge_loadgen)
  include(${CMAKE_CURRENT_LIST_DIR}/loadgen.cmake)
endif()

# The computation is a library (tests/bench/oracle.h): sponge-sim (agent/sim) links it too.
add_library(sponge_bench_oracle STATIC ${PROJECT_SOURCE_DIR}/tests/bench/oracle.c)
target_include_directories(sponge_bench_oracle PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(sponge_bench_oracle PUBLIC sponge_plan PkgConfig::JANSSON m)
# The command line bench-oracle and sponge-sim share (tests/bench/bench-cli.h), with agent/util.c:
# the agent's number parsers and cleanup helpers (no library of its own yet).
add_library(sponge_bench_cli STATIC ${PROJECT_SOURCE_DIR}/tests/bench/bench-cli.c
                                    ${PROJECT_SOURCE_DIR}/agent/util.c)
target_include_directories(sponge_bench_cli PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(sponge_bench_cli PUBLIC sponge_pipelines sponge_loadgen m)
add_executable(bench-oracle ${PROJECT_SOURCE_DIR}/tests/bench/bench-oracle.c)
target_link_libraries(bench-oracle PRIVATE sponge_bench_oracle sponge_bench_cli sponge_loadgen
                                           PkgConfig::JANSSON m)

# One policy (full) on 60 s of the bursty slice, with the same analysis, report and plots as
# the real run; fails when a stage of the harness breaks (no answers, no samples, no plot,
# bad JSON, sponged not exiting cleanly). Skips (77) without root or a cgroup cpu controller.
sponge_add_test(NAME agent.bench-trace-smoke LABEL integration TIMEOUT 240
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/bench/bench-trace.sh --smoke ${PROJECT_BINARY_DIR})
