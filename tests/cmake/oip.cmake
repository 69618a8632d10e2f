# oip: the Open Inference Protocol (KServe V2 REST) of the agent (agent/oip.c, agent/oip-tensor.c)
# and the agent's readiness (agent/readiness.c).
# oip.codec: the tensor codec on memory buffers, linked alone (no agent state, no I/O).
add_executable(test-oip-tensor ${PROJECT_SOURCE_DIR}/tests/unit/test-oip-tensor.c
                               ${PROJECT_SOURCE_DIR}/agent/oip-tensor.c
                               ${PROJECT_SOURCE_DIR}/agent/util.c)
target_include_directories(test-oip-tensor PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(test-oip-tensor PRIVATE sponge_pipelines PkgConfig::JANSSON
                                              PkgConfig::CMOCKA m)
sponge_add_test(NAME oip.codec COMMAND test-oip-tensor LABEL unit TIMEOUT 30)

# oip.routes: every /v2 route against the real sponged with real workers (echo, Fashion-MNIST),
# driven by Debian python3's urllib (tests/integration/oip-check.py). Ports 18910-18929.
sponge_add_test(NAME oip.routes
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/oip-routes.sh
                LABEL integration TIMEOUT 240)
# api.readiness (issue 18 point 5): /healthz and /v2/health/ready answer 503 while a pipeline has
# no ready replica and while draining, 200 otherwise; the body says which. Registered here, with
# the routes it shares, so that api.cmake stays with the OpenAPI tests.
sponge_add_test(NAME api.readiness
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/api-readiness.sh
                LABEL integration TIMEOUT 240)
