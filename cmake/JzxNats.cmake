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
  target_link_libraries(jzx_nats PUBLIC jzx PRIVATE PkgConfig::NATS Threads::Threads)
  jzx_target_warnings(jzx_nats)
  add_library(jzx::nats ALIAS jzx_nats)

  install(TARGETS jzx_nats EXPORT jzxTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES include/jzx/jzx_nats.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/jzx)
  configure_file(jzx-nats.pc.in jzx-nats.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/jzx-nats.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
message(STATUS "libjzx-nats: ${JZX_NATS_BUILT} (JZX_WITH_NATS=${JZX_WITH_NATS})")
