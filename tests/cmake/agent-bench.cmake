# Agent benchmarks (run on demand; see tests/bench/README.md).
add_executable(bench-adapt ${PROJECT_SOURCE_DIR}/tests/bench/bench-adapt.c)
target_link_libraries(bench-adapt PRIVATE sponge_agent)
