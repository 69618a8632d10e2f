# sponge-load: the open-loop HTTP load generator (tests/bench/loadgen*.c), its unit/robustness
# test (no root: an in-process misbehaving server) and the end-to-end test against sponged.
# Included from tests/cmake/agent.cmake; the guard keeps a second include (e.g. from the
# module list in tests/CMakeLists.txt) from defining the targets twice.
include_guard(GLOBAL)
find_package(ZLIB REQUIRED)

add_library(sponge_loadgen STATIC
  ${PROJECT_SOURCE_DIR}/tests/bench/loadgen-args.c
  ${PROJECT_SOURCE_DIR}/tests/bench/loadgen-http.c
  ${PROJECT_SOURCE_DIR}/tests/bench/loadgen-run.c
  ${PROJECT_SOURCE_DIR}/tests/bench/loadgen-sched.c
  ${PROJECT_SOURCE_DIR}/tests/bench/loadgen-stats.c)
target_include_directories(sponge_loadgen PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(sponge_loadgen PUBLIC ZLIB::ZLIB m)

add_executable(sponge-load ${PROJECT_SOURCE_DIR}/tests/bench/loadgen.c)
target_link_libraries(sponge-load PRIVATE sponge_loadgen)
target_compile_definitions(sponge-load PRIVATE SPONGED_VERSION="${PROJECT_VERSION}")
# installed with its man page (sponge-load(1)): the load generator the README's commands use
install(TARGETS sponge-load RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Parsers and generators on literal inputs, then whole runs against an in-process server that
# answers well, closes, sends garbage or never answers (no root, no agent).
add_executable(test-loadgen ${PROJECT_SOURCE_DIR}/tests/bench/loadgen-test.c)
target_link_libraries(test-loadgen PRIVATE sponge_loadgen PkgConfig::CMOCKA Threads::Threads)
sponge_add_test(NAME agent.loadgen-unit COMMAND test-loadgen unit LABEL unit TIMEOUT 60)
sponge_add_test(NAME agent.loadgen-smoke COMMAND test-loadgen engine LABEL unit TIMEOUT 120)

# End to end against sponged and the echo worker (root: the agent's cgroups).
sponge_add_test(NAME agent.loadgen
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/agent-loadgen.sh
                LABEL integration TIMEOUT 180)
