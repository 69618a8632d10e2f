# pipelines/worker: the protocol codec + worker library (unit, with real worker processes),
# the Fashion-MNIST accuracy test and the flops latency test (integration).
add_executable(test-protocol ${PROJECT_SOURCE_DIR}/tests/unit/test-protocol.c)
target_link_libraries(test-protocol PRIVATE sponge_worker sponge_protocol PkgConfig::CMOCKA)
add_dependencies(test-protocol sponge-worker-flops sponge-worker-echo)
sponge_add_test(NAME pipelines.protocol COMMAND test-protocol LABEL unit TIMEOUT 120)
set_property(TEST pipelines.protocol APPEND PROPERTY ENVIRONMENT
  "SPONGE_TEST_FLOPS_WORKER=$<TARGET_FILE:sponge-worker-flops>"
  "SPONGE_TEST_ECHO_WORKER=$<TARGET_FILE:sponge-worker-echo>")

# Accuracy of each Fashion-MNIST size on the 10,000 test images through the real worker,
# against pipelines/examples/fmnist.json (skips until that file exists).
add_executable(pipelines-fmnist ${PROJECT_SOURCE_DIR}/tests/integration/pipelines-fmnist.c)
target_link_libraries(pipelines-fmnist PRIVATE sponge_trust sponge_worker_client sponge_fmnist
                      PkgConfig::JANSSON m)
add_dependencies(pipelines-fmnist sponge-worker-fmnist)
sponge_add_test(NAME pipelines.fmnist
                COMMAND pipelines-fmnist $<TARGET_FILE:sponge-worker-fmnist>
                LABEL integration TIMEOUT 300)

# The flops worker in a real cgroup (root): latency at 500 vs 1000 millicores, and R² of the
# fitted l(b,c) on a batch × millicores grid (through the profiler's library).
add_executable(pipelines-flops ${PROJECT_SOURCE_DIR}/tests/integration/pipelines-flops.c)
target_link_libraries(pipelines-flops PRIVATE sponge_profile)
add_dependencies(pipelines-flops sponge-worker-flops)
sponge_add_test(NAME pipelines.flops
                COMMAND pipelines-flops $<TARGET_FILE:sponge-worker-flops>
                LABEL integration TIMEOUT 300)
