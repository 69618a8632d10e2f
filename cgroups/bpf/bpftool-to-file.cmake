# cmake -DBPFTOOL=<path> -DOUT=<file> -DARGS=<;-list> -P bpftool-to-file.cmake
# Runs bpftool and stores its standard output in OUT (bpftool writes vmlinux.h and skeletons to
# stdout; a script keeps the redirection portable across CMake generators). Writes to a
# temporary file first so a failed run leaves no half-written header behind.
foreach(v BPFTOOL OUT ARGS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "bpftool-to-file.cmake: ${v} not set")
  endif()
endforeach()
execute_process(COMMAND ${BPFTOOL} ${ARGS} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "bpftool ${ARGS} failed (${rc}): ${err}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
