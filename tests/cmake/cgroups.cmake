# cgroups module tests: unit (parsers, conversions, backends on a temp-dir root), integration
# (real kernel, root), and the resize benchmark (built, not run by the suite).
add_executable(test-cgroups ${PROJECT_SOURCE_DIR}/tests/unit/test-cgroups.c)
target_link_libraries(test-cgroups PRIVATE sponge_cgroups PkgConfig::CMOCKA)
sponge_add_test(NAME cgroups.unit COMMAND test-cgroups LABEL unit TIMEOUT 60)

# Also run by the VM harness (tests/vm) inside a cgroup-v2 guest: keep the target name.
add_executable(test-cgroups-integration
               ${PROJECT_SOURCE_DIR}/tests/integration/cgroups-resize.c)
target_link_libraries(test-cgroups-integration PRIVATE sponge_cgroups)
sponge_add_test(NAME cgroups.resize COMMAND test-cgroups-integration LABEL integration
                TIMEOUT 120)

add_executable(bench-resize ${PROJECT_SOURCE_DIR}/tests/bench/bench-resize.c)
target_link_libraries(bench-resize PRIVATE sponge_cgroups)
# A short run of the benchmark as a smoke test (the full run is manual: see cgroups/README.md).
sponge_add_test(NAME cgroups.bench-smoke COMMAND bench-resize --iterations 1000 --no-settle
                LABEL integration TIMEOUT 60)
