# Runs PROG and passes only if it exits with status 0 and its standard output
# is exactly EXPECT. (ctest's PASS_REGULAR_EXPRESSION alone would ignore the
# exit status.) Usage: cmake -DPROG=... -DEXPECT=... -P expect_output.cmake
execute_process(COMMAND ${PROG} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${PROG} exited with ${rc}")
endif()
if(NOT out STREQUAL EXPECT)
  message(FATAL_ERROR "${PROG} printed\n${out}\ninstead of\n${EXPECT}")
endif()
