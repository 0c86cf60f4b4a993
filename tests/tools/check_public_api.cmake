# tests/tools/check_public_api.cmake - test_public_api_only: every source in
# SOURCES (paths relative to SOURCE_DIR) may reach, through any chain of
# #include "...", only headers under include/ (the installed public API) and
# core/train/ (the training layer's own private headers, held to the same
# rule because they are in the closure checked here). The compiler lists the
# closure (-MM: every non-system header, transitively), so an include of
# core/internal.h, or of a header that includes it, fails the test with the
# offending header named.
# Usage: cmake -DCC=gcc -DSOURCE_DIR=/path/to/fx "-DSOURCES=a.c;b.c" -P check_public_api.cmake
if(NOT CC OR NOT SOURCE_DIR OR NOT SOURCES)
  message(FATAL_ERROR "check_public_api.cmake: give -DCC, -DSOURCE_DIR and -DSOURCES")
endif()
set(bad 0)
foreach(src ${SOURCES})
  # The include path of the library's own build (the repository root and
  # include/), so that a private header is found exactly as in the build.
  execute_process(COMMAND ${CC} -std=c11 -D_GNU_SOURCE -MM -I${SOURCE_DIR}/include -I${SOURCE_DIR}
                          ${SOURCE_DIR}/${src}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE deps ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(SEND_ERROR "${src}: listing its headers failed (${rc}): ${err}")
    set(bad 1)
    continue()
  endif()
  string(REPLACE "\\\n" " " deps "${deps}")
  string(REGEX REPLACE "^[^:]*:" "" deps "${deps}")
  separate_arguments(deps UNIX_COMMAND "${deps}")
  set(count 0)
  foreach(dep ${deps})
    get_filename_component(dep "${dep}" ABSOLUTE BASE_DIR ${SOURCE_DIR})
    file(RELATIVE_PATH rel ${SOURCE_DIR} ${dep})
    if(rel STREQUAL src OR rel MATCHES "^\\.\\./")
      continue() # the file itself; a header outside the tree (system)
    endif()
    math(EXPR count "${count} + 1")
    if(NOT rel MATCHES "^include/fx/[^/]+\\.h$" AND NOT rel MATCHES "^core/train/[^/]+\\.h$")
      message(SEND_ERROR "${src} reaches the private header ${rel}, but it must use only the public API "
        "(FX_PUBLIC_API_ONLY_SOURCES in CMakeLists.txt): include include/fx/*.h instead, or add a documented "
        "accessor there (docs/design.md, \"Source tree\"). `${CC} -H` on the file shows the include chain.")
      set(bad 1)
    endif()
  endforeach()
  if(count EQUAL 0)
    message(SEND_ERROR "${src}: the compiler listed no headers of the tree; the check would prove nothing")
    set(bad 1)
  endif()
  message(STATUS "${src}: ${count} headers of the tree, all public or core/train")
endforeach()
if(bad)
  message(FATAL_ERROR "test_public_api_only: failed")
endif()
