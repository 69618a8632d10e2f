# fuzz: libFuzzer targets for the parsers that take untrusted bytes (sources in tests/fuzz/),
# built only with clang and -DSPONGE_FUZZ=ON:  cmake --preset fuzz && cmake --build --preset fuzz
# Each links the real module library (instrumented in that build). fuzz.<name> fuzzes for
# SPONGE_FUZZ_SECONDS under ASan+UBSan from its seeds: the module's examples and test files plus
# tests/fuzz/corpus/<name>/ (hand-made inputs and every input a fuzzer ever crashed on, so each
# run replays them first). The corpus a run grows stays in <build>/fuzz/corpus-<name>; a
# crashing input is written to <build>/fuzz/crash-* (leak-*, timeout-*) and fails the test.
if(NOT SPONGE_FUZZ)
  return()
endif()
set(SPONGE_FUZZ_SECONDS 45 CACHE STRING "Seconds each fuzz.* test fuzzes")
set(SPONGE_FUZZ_DIR ${PROJECT_BINARY_DIR}/fuzz)
set(SPONGE_FUZZ_SRC ${PROJECT_SOURCE_DIR}/tests/fuzz)
add_custom_target(fuzz) # every fuzz target and its seeds (the fuzz build preset builds this)

# sponge_add_fuzzer(<name> LIBS <libs...> MAX_LEN <bytes> [DICT <file>] [SEEDS <dirs...>])
function(sponge_add_fuzzer name)
  cmake_parse_arguments(F "" "MAX_LEN;DICT" "LIBS;SEEDS" ${ARGN})
  add_executable(fuzz-${name} ${SPONGE_FUZZ_SRC}/fuzz-${name}.c)
  target_link_libraries(fuzz-${name} PRIVATE ${F_LIBS})
  target_link_options(fuzz-${name} PRIVATE -fsanitize=fuzzer)
  add_dependencies(fuzz fuzz-${name})
  # libFuzzer exits 77 on a crash by default, which CTest reads as a skip (SKIP_RETURN_CODE 77):
  # a finding must fail the test.
  set(args -max_total_time=${SPONGE_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
           -error_exitcode=1 -timeout_exitcode=1
           -max_len=${F_MAX_LEN} -print_final_stats=1 -artifact_prefix=${SPONGE_FUZZ_DIR}/)
  if(F_DICT)
    list(APPEND args -dict=${SPONGE_FUZZ_SRC}/${F_DICT})
  endif()
  file(MAKE_DIRECTORY ${SPONGE_FUZZ_DIR}/corpus-${name})
  math(EXPR timeout "${SPONGE_FUZZ_SECONDS} + 120")
  sponge_add_test(NAME fuzz.${name}
                  COMMAND fuzz-${name} ${args} ${SPONGE_FUZZ_DIR}/corpus-${name}
                          ${SPONGE_FUZZ_SRC}/corpus/${name} ${F_SEEDS}
                  LABEL fuzz TIMEOUT ${timeout})
endfunction()

sponge_add_fuzzer(pipeline LIBS sponge_pipelines MAX_LEN 16384 DICT pipeline.dict
                  SEEDS ${PROJECT_SOURCE_DIR}/pipelines/examples
                        ${PROJECT_SOURCE_DIR}/tests/unit/pipelines-bad)

file(MAKE_DIRECTORY ${SPONGE_FUZZ_DIR}/seed-node-config)
file(COPY ${PROJECT_SOURCE_DIR}/systemd/sponged.json DESTINATION ${SPONGE_FUZZ_DIR}/seed-node-config)
sponge_add_fuzzer(node-config LIBS sponge_agent MAX_LEN 4096 DICT node-config.dict
                  SEEDS ${SPONGE_FUZZ_DIR}/seed-node-config)

# Protocol seeds: one file per frame type, written by the real encoder at build time.
add_executable(seeds-protocol ${SPONGE_FUZZ_SRC}/seeds-protocol.c)
target_link_libraries(seeds-protocol PRIVATE sponge_protocol)
add_custom_command(OUTPUT ${SPONGE_FUZZ_DIR}/seed-protocol/batch
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${SPONGE_FUZZ_DIR}/seed-protocol
                   COMMAND seeds-protocol ${SPONGE_FUZZ_DIR}/seed-protocol
                   DEPENDS seeds-protocol)
add_custom_target(seeds-protocol-files DEPENDS ${SPONGE_FUZZ_DIR}/seed-protocol/batch)
sponge_add_fuzzer(protocol LIBS sponge_protocol MAX_LEN 4096
                  SEEDS ${SPONGE_FUZZ_DIR}/seed-protocol)
add_dependencies(fuzz seeds-protocol-files)

sponge_add_fuzzer(budget LIBS sponge_agent MAX_LEN 1024)
