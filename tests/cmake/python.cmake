# python: the Python worker library (pipelines/worker/python) against the real agent — real
# sponged, real HTTP, the kernel's real cgroups (root; skipped with 77 otherwise). Port 18890
# (+ $SPONGE_TEST_PORT_OFFSET); the python.* and torch.* tests own 18890-18909.
# The test worker is generated into bin/ (a worker directory, beside sponged).
set(SPONGE_PYLIB_DIR ${PROJECT_SOURCE_DIR}/pipelines/worker/python)
configure_file(${PROJECT_SOURCE_DIR}/tests/integration/python-worker.py.in
               ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/sponge-worker-pytest @ONLY
               FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
               WORLD_READ WORLD_EXECUTE)
sponge_add_test(NAME python.agent
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/python-agent.sh
                LABEL integration TIMEOUT 180)
