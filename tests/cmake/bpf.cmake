# eBPF run-queue delay (cgroups/bpf): unit tests of the pure helpers, integration tests that
# load the programs (root), and the ping-pong overhead benchmark with a short smoke run.
if(NOT TARGET sponge_cgroups_bpf)
  message(FATAL_ERROR "tests/cmake/bpf.cmake: target sponge_cgroups_bpf missing "
                      "(cgroups/CMakeLists.txt must add_subdirectory(bpf))")
endif()

add_executable(test-bpf ${PROJECT_SOURCE_DIR}/tests/unit/test-bpf.c)
target_link_libraries(test-bpf PRIVATE sponge_cgroups_bpf PkgConfig::CMOCKA m)
sponge_add_test(NAME cgroups.bpf_stats COMMAND test-bpf LABEL unit TIMEOUT 30)

add_executable(bpf-contention ${PROJECT_SOURCE_DIR}/tests/integration/bpf-contention.c)
target_link_libraries(bpf-contention PRIVATE sponge_cgroups_bpf Threads::Threads m)
sponge_add_test(NAME cgroups.bpf COMMAND bpf-contention LABEL integration TIMEOUT 120)
# The same scene timed by the fallback programs (sched_wakeup/_new stamps).
sponge_add_test(NAME cgroups.bpf_wakeup COMMAND bpf-contention --mode wakeup LABEL integration
                TIMEOUT 120)

add_executable(bpf-api ${PROJECT_SOURCE_DIR}/tests/integration/bpf-api.c)
target_link_libraries(bpf-api PRIVATE sponge_cgroups_bpf Threads::Threads m)
sponge_add_test(NAME cgroups.bpf_api COMMAND bpf-api LABEL integration TIMEOUT 60)

add_executable(bpf-noperm ${PROJECT_SOURCE_DIR}/tests/integration/bpf-noperm.c)
target_link_libraries(bpf-noperm PRIVATE sponge_cgroups_bpf)
sponge_add_test(NAME cgroups.bpf_noperm COMMAND bpf-noperm LABEL integration TIMEOUT 60)

add_executable(bench-bpf ${PROJECT_SOURCE_DIR}/tests/bench/bench-bpf.c)
target_link_libraries(bench-bpf PRIVATE sponge_cgroups_bpf m)
# Smoke run: small, checks that the programs saw every switch of the ping-pong and that the
# JSON line is produced; the overhead figure itself comes from a full run (see the README).
sponge_add_test(NAME cgroups.bpf_bench_smoke COMMAND bench-bpf --round-trips 20000 --rounds 2
                LABEL integration TIMEOUT 120)
