# plan: unit tests of agent/plan (sponge_plan) — the translation from pipeline files to the
# optimizer's problem, each decision rule of the control loop on a fake clock, and the solver
# thread. No root.
add_executable(test-plan ${PROJECT_SOURCE_DIR}/tests/unit/test-plan.c)
target_link_libraries(test-plan PRIVATE sponge_plan PkgConfig::CMOCKA)

sponge_add_test(NAME plan.translate COMMAND test-plan translate LABEL unit TIMEOUT 60)
sponge_add_test(NAME plan.mix COMMAND test-plan mix LABEL unit TIMEOUT 60)
sponge_add_test(NAME plan.decide COMMAND test-plan decide LABEL unit TIMEOUT 60)
sponge_add_test(NAME plan.planner COMMAND test-plan planner LABEL unit TIMEOUT 180)
