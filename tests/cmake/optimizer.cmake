# optimizer: unit tests (model, forecast, solve; real data when ../shared/data is there) and
# the solve-time benchmark (built, not run by the suite; a short smoke run is registered).
find_package(ZLIB REQUIRED)

# Helpers shared by the test and the benchmark: data readers and an independent checker.
add_library(sponge_optimizer_testutil STATIC
  ${PROJECT_SOURCE_DIR}/tests/unit/optimizer-data.c
  ${PROJECT_SOURCE_DIR}/tests/unit/optimizer-check.c)
target_include_directories(sponge_optimizer_testutil PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(sponge_optimizer_testutil PUBLIC sponge_optimizer ZLIB::ZLIB m)

add_executable(test-optimizer ${PROJECT_SOURCE_DIR}/tests/unit/test-optimizer.c)
target_link_libraries(test-optimizer PRIVATE sponge_optimizer_testutil PkgConfig::CMOCKA
                                             Threads::Threads)

sponge_add_test(NAME optimizer.model COMMAND test-optimizer model LABEL unit TIMEOUT 60)
sponge_add_test(NAME optimizer.forecast COMMAND test-optimizer forecast LABEL unit TIMEOUT 60)
sponge_add_test(NAME optimizer.solve COMMAND test-optimizer solve LABEL unit TIMEOUT 120)
# InfAdapter's variant mix and loading cost (issue 22): mixes against the exhaustive solver,
# the stage-level IP and plain enumeration.
sponge_add_test(NAME optimizer.mix COMMAND test-optimizer mix LABEL unit TIMEOUT 240)
# 30-100 pipelines, the decomposition against GLPK's branch and bound on the direct IP.
sponge_add_test(NAME optimizer.many COMMAND test-optimizer many LABEL unit TIMEOUT 300)
sponge_add_test(NAME optimizer.data COMMAND test-optimizer data LABEL unit TIMEOUT 120)

add_executable(bench-solve ${PROJECT_SOURCE_DIR}/tests/bench/bench-solve.c)
target_link_libraries(bench-solve PRIVATE sponge_optimizer_testutil)
sponge_add_test(NAME optimizer.bench-solve-smoke COMMAND bench-solve --smoke LABEL unit
                TIMEOUT 240)
