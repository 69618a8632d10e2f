# queueing: unit tests (cmocka) and the queue benchmark.
add_executable(test-queueing ${PROJECT_SOURCE_DIR}/tests/unit/test-queueing.c
                             ${PROJECT_SOURCE_DIR}/tests/unit/queueing-sim.c)
target_link_libraries(test-queueing PRIVATE sponge_queueing PkgConfig::CMOCKA m)
# The in-repo slice of the Ghent log, for runs without the environment CTest sets.
target_compile_definitions(test-queueing PRIVATE
                           QUEUEING_GHENT_SLICE="${PROJECT_SOURCE_DIR}/tests/data/ghent-slice.txt")

foreach(t heap-basic heap-ties capacity remove drop-hopeless late-serve shed decide
          counters random-reference invariants sim)
  sponge_add_test(NAME queueing.${t} COMMAND test-queueing ${t} LABEL unit TIMEOUT 120)
endforeach()

add_executable(bench-queue ${PROJECT_SOURCE_DIR}/tests/bench/bench-queue.c)
target_link_libraries(bench-queue PRIVATE sponge_queueing)
# A smoke run (not a measurement): the benchmark runs and prints its JSON line.
sponge_add_test(NAME queueing.bench-smoke
                COMMAND bench-queue --queued 1000 --pairs 20000 --rounds 1 LABEL unit TIMEOUT 60)
set_tests_properties(queueing.bench-smoke PROPERTIES PASS_REGULAR_EXPRESSION "\"pairs_per_s\":")
