# pipelines: the per-pipeline JSON format (pipelines/read.c, load.c, print.c, jsoncheck.c).
# pipelines.config: examples accepted, every bad file rejected with its expected path, mutation
# sweep, defaults, plans, profiles. Reads pipelines/examples/ and tests/unit/pipelines-bad/.
add_executable(test-pipelines ${PROJECT_SOURCE_DIR}/tests/unit/test-pipelines.c)
target_link_libraries(test-pipelines PRIVATE sponge_pipelines PkgConfig::CMOCKA m)
target_compile_definitions(test-pipelines
                           PRIVATE SPONGE_SOURCE_DIR_DEFAULT="${PROJECT_SOURCE_DIR}")
sponge_add_test(NAME pipelines.config COMMAND test-pipelines LABEL unit TIMEOUT 60)

# pipelines.schema: pipelines/schema/pipeline.schema.json accepts every example and rejects
# every bad file a schema can see (skips when python3-jsonschema is missing).
find_program(SPONGE_PYTHON3 NAMES python3)
if(SPONGE_PYTHON3)
  sponge_add_test(NAME pipelines.schema
                  COMMAND ${SPONGE_PYTHON3} ${PROJECT_SOURCE_DIR}/pipelines/schema/check-schema.py
                          ${PROJECT_SOURCE_DIR}
                  LABEL unit TIMEOUT 60)
endif()
