# Installation: public headers, static and shared libsio, libsio.pc and a
# CMake package (find_package(libsio) -> libsio::sio, libsio::sio_static).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The shared library exports the public API only: a version script lists
# every function declared in include/sio/*.h (read at configure time, so a
# new public function is exported without touching this file).
file(GLOB SIO_PUBLIC_HEADERS ${CMAKE_SOURCE_DIR}/include/sio/*.h)
set(SIO_EXPORTS "")
foreach(h ${SIO_PUBLIC_HEADERS})
  file(READ ${h} text)
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" text "${text}")
  string(REGEX REPLACE "//[^\n]*" "" text "${text}")
  string(REGEX MATCHALL "[a-z][a-z0-9_]*[ *\n]+(sio|eio)_[a-z0-9_]+[ \n]*\\(" decls "${text}")
  foreach(d ${decls})
    string(REGEX MATCH "(sio|eio)_[a-z0-9_]+[ \n]*\\($" name "${d}")
    string(REGEX REPLACE "[ \n]*\\($" "" name "${name}")
    list(APPEND SIO_EXPORTS ${name})
  endforeach()
endforeach()
list(REMOVE_DUPLICATES SIO_EXPORTS)
list(SORT SIO_EXPORTS)
string(REPLACE ";" ";\n    " SIO_EXPORTS_TEXT "${SIO_EXPORTS}")
file(WRITE ${CMAKE_BINARY_DIR}/libsio.map.tmp
     "/* generated from include/sio/*.h */\nLIBSIO_${PROJECT_VERSION_MAJOR} {\n  global:\n    ${SIO_EXPORTS_TEXT};\n  local: *;\n};\n")
configure_file(${CMAKE_BINARY_DIR}/libsio.map.tmp ${CMAKE_BINARY_DIR}/libsio.map COPYONLY)
set_property(TARGET sio_shared APPEND PROPERTY LINK_DEPENDS ${CMAKE_BINARY_DIR}/libsio.map)
target_link_options(sio_shared PRIVATE -Wl,--version-script=${CMAKE_BINARY_DIR}/libsio.map
)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${SIO_PUBLIC_HEADERS})

# Consumers see include/ in the tree and <prefix>/include once installed.
foreach(t sio_static sio_shared)
  set_target_properties(${t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
    "$<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>;$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
endforeach()
set_target_properties(sio_shared PROPERTIES EXPORT_NAME sio)
set_target_properties(sio_static PROPERTIES EXPORT_NAME sio_static)

install(TARGETS sio_static sio_shared EXPORT libsioTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${SIO_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sio)
install(EXPORT libsioTargets NAMESPACE libsio::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libsio)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/libsioConfig.cmake.in
  ${CMAKE_BINARY_DIR}/libsioConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libsio)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/libsioConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/libsioConfig.cmake ${CMAKE_BINARY_DIR}/libsioConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libsio)

# pkg-config: jansson and libevent_core are public (the API takes json_t
# and struct event_base), the rest is needed only for static linking.
set(SIO_MBED_LIBS "-lmbedtls -lmbedx509 -lmbedcrypto")
# Relocatable: the prefix is found from the .pc file's own place, so
# `cmake --install --prefix DIR` works without reconfiguring.
file(RELATIVE_PATH SIO_PC_UP "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" SIO_PC_UP "${SIO_PC_UP}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/libsio.pc.in ${CMAKE_BINARY_DIR}/libsio.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/libsio.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
