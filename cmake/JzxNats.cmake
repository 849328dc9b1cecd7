# libjzx-nats: libjzx nodes on NATS, a library of its own so that libjzx.so
# keeps libuv as its only dependency. JZX_WITH_NATS: AUTO builds it when
# libnats is found, ON requires it, OFF skips it.
set(JZX_WITH_NATS AUTO CACHE STRING "Build libjzx-nats (AUTO, ON, OFF)")
set_property(CACHE JZX_WITH_NATS PROPERTY STRINGS AUTO ON OFF)

set(JZX_NATS_BUILT OFF)
if(NOT JZX_WITH_NATS STREQUAL "OFF")
  if(JZX_WITH_NATS STREQUAL "ON")
    pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)
  else()
    pkg_check_modules(NATS QUIET IMPORTED_TARGET libnats)
  endif()
  if(NATS_FOUND)
    set(JZX_NATS_BUILT ON)
  endif()
endif()

if(JZX_NATS_BUILT)
  set(JZX_NATS_MAP "${CMAKE_CURRENT_SOURCE_DIR}/cmake/jzx-nats.map")
  add_library(jzx_nats SHARED src/nats/node.c src/nats/proxy.c src/nats/wire.c)
  set_target_properties(jzx_nats PROPERTIES
    OUTPUT_NAME jzx-nats
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    C_VISIBILITY_PRESET hidden
    LINK_DEPENDS "${JZX_NATS_MAP}")
  target_compile_definitions(jzx_nats PRIVATE JZX_NATS_BUILDING _GNU_SOURCE)
  target_link_options(jzx_nats PRIVATE "LINKER:--version-script=${JZX_NATS_MAP}"
    "LINKER:--no-undefined")
  target_include_directories(jzx_nats PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  # libnats is private: the header does not include it and there is no
  # static archive, so a consumer links jzx::nats (jzx::jzx comes along)
  # without libnats' headers or .pc file; the .so's DT_NEEDED finds libnats.
  target_link_libraries(jzx_nats PUBLIC jzx PRIVATE PkgConfig::NATS Threads::Threads)
  jzx_target_warnings(jzx_nats)
  # Consumers know it as jzx::nats, in the build tree and installed.
  set_target_properties(jzx_nats PROPERTIES EXPORT_NAME nats)
  add_library(jzx::nats ALIAS jzx_nats)

  # An export set of its own: jzxNatsTargets.cmake beside jzxTargets.cmake,
  # included by jzxConfig.cmake when it is there, so that libjzx's CMake
  # package works with or without libjzx-nats installed (Debian ships them in
  # libjzx-dev and libjzx-nats-dev).
  install(TARGETS jzx_nats EXPORT jzxNatsTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT jzxNatsTargets NAMESPACE jzx:: DESTINATION ${JZX_CMAKE_DIR})
  install(FILES include/jzx/jzx_nats.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/jzx)
  configure_file(jzx-nats.pc.in jzx-nats.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/jzx-nats.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

  # The overview page, and one page per function of jzx_nats.h written from
  # its comments as jzx.h's are (jzx.h lends the error codes' descriptions).
  install(FILES docs/man/jzx_nats.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
  if(JZX_BUILD_MANPAGES)
    set(JZX_NATS_MAN3 ${CMAKE_CURRENT_BINARY_DIR}/man3-nats)
    add_custom_command(OUTPUT ${JZX_NATS_MAN3}.stamp
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/scripts/manpages.py
        --library libjzx-nats --overview "jzx_nats(3)" --doc-dir ${CMAKE_INSTALL_FULL_DOCDIR}
        ${JZX_NATS_MAN3} ${CMAKE_CURRENT_SOURCE_DIR}/include/jzx/jzx_nats.h
        ${CMAKE_CURRENT_SOURCE_DIR}/include/jzx/jzx.h
      COMMAND ${CMAKE_COMMAND} -E touch ${JZX_NATS_MAN3}.stamp
      DEPENDS include/jzx/jzx_nats.h include/jzx/jzx.h scripts/manpages.py
      COMMENT "Man pages for the functions of jzx_nats.h"
      VERBATIM)
    add_custom_target(jzx_nats_manpages ALL DEPENDS ${JZX_NATS_MAN3}.stamp)
    install(DIRECTORY ${JZX_NATS_MAN3}/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
  endif()
endif()
message(STATUS "libjzx-nats: ${JZX_NATS_BUILT} (JZX_WITH_NATS=${JZX_WITH_NATS})")
