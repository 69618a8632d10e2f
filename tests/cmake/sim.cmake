# sim: sponge-sim (agent/sim), bench-trace on a simulated node driven by the agent's own decision
# code. Unit tests against hand-computed cases and the exhaustive oracle (no root), and a smoke
# run of tests/bench/bench-sim.sh.
if(NOT TARGET sponge_loadgen)
  include(${CMAKE_CURRENT_LIST_DIR}/loadgen.cmake)
endif()
if(NOT TARGET sponge_bench_oracle)
  add_library(sponge_bench_oracle STATIC ${PROJECT_SOURCE_DIR}/tests/bench/oracle.c)
  target_include_directories(sponge_bench_oracle PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(sponge_bench_oracle PUBLIC sponge_plan PkgConfig::JANSSON m)
endif()

add_executable(sponge-sim ${PROJECT_SOURCE_DIR}/agent/sim/main.c)
target_link_libraries(sponge-sim PRIVATE sponge_sim sponge_bench_oracle sponge_loadgen
                                         PkgConfig::JANSSON m)
