# agent.budget: the X-Sponge-* budget headers (agent/budget.c) on literal values, with the
# inputs fuzz-budget found (tests/fuzz/).
add_executable(test-budget ${PROJECT_SOURCE_DIR}/tests/unit/test-budget.c)
target_link_libraries(test-budget PRIVATE sponge_agent PkgConfig::CMOCKA)
sponge_add_test(NAME agent.budget COMMAND test-budget LABEL unit TIMEOUT 30)
