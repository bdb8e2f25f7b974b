# cmake/install.cmake - what `cmake --install` puts under the prefix, so a
# plugin can be built outside this tree:
#   bin/blockd                              the daemon
#   lib/blockd/libblockd-cuda.so            the CUDA backend, when built
#   include/blockd/engine/blockd_plugin.h   the plugin header and every
#                                           engine header it includes
#   share/cmake/blockd/                     find_package(blockd): the
#                                           INTERFACE target blockd::plugin
#   share/pkgconfig/blockd-plugin.pc        pkg-config --cflags blockd-plugin
# Plugins link no blockd library: engine symbols resolve from the daemon when
# it loads them, so the package is headers only (hence share/, not lib/).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# ---- the plugin ABI, in one place ----------------------------------------
# The public headers, relative to the source root; the engine headers they
# include with "..." are found and installed with them.
set(BLOCKD_PLUGIN_HEADERS engine/blockd_plugin.h)
# pkg-config modules of third-party headers those headers include: none
# since plugin ABI 2 (ABI 1 needed libcjson).
set(BLOCKD_PLUGIN_REQUIRES "")

# blockd_header_closure(<out-var> <header>...): the given headers plus every
# header they include with "...", transitively, as paths relative to the
# source root. A quoted include is looked up next to the including header,
# then at the source root, as the compiler does with -I<source root>.
function(blockd_header_closure out)
  set(todo ${ARGN})
  set(done "")
  while(todo)
    list(POP_FRONT todo h)
    if(h IN_LIST done)
      continue()
    endif()
    list(APPEND done ${h})
    file(STRINGS ${CMAKE_SOURCE_DIR}/${h} lines
         REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    get_filename_component(dir ${h} DIRECTORY)
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1"
             inc "${line}")
      if(EXISTS ${CMAKE_SOURCE_DIR}/${dir}/${inc})
        get_filename_component(abs ${CMAKE_SOURCE_DIR}/${dir}/${inc} ABSOLUTE)
      elseif(EXISTS ${CMAKE_SOURCE_DIR}/${inc})
        get_filename_component(abs ${CMAKE_SOURCE_DIR}/${inc} ABSOLUTE)
      else()
        message(FATAL_ERROR "${h} includes \"${inc}\", which does not exist")
      endif()
      file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${abs})
      list(APPEND todo ${rel})
    endforeach()
  endwhile()
  set(${out} ${done} PARENT_SCOPE)
endfunction()

blockd_header_closure(BLOCKD_PLUGIN_HEADER_CLOSURE ${BLOCKD_PLUGIN_HEADERS})
# Re-run configure when one of them changes its includes.
set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY
             CMAKE_CONFIGURE_DEPENDS ${BLOCKD_PLUGIN_HEADER_CLOSURE})

# blockd::plugin (blockd_plugin in this tree): what a plugin compiles with.
add_library(blockd_plugin INTERFACE)
add_library(blockd::plugin ALIAS blockd_plugin)
set_target_properties(blockd_plugin PROPERTIES EXPORT_NAME plugin)
target_include_directories(blockd_plugin INTERFACE
  $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/blockd>)
if(BLOCKD_PLUGIN_REQUIRES)
  pkg_check_modules(BLOCKD_PLUGIN_DEPS REQUIRED IMPORTED_TARGET
                    ${BLOCKD_PLUGIN_REQUIRES})
  # The installed package finds these itself (blockdConfig.cmake).
  target_link_libraries(blockd_plugin INTERFACE
                        $<BUILD_INTERFACE:PkgConfig::BLOCKD_PLUGIN_DEPS>)
endif()

# ---- install rules -------------------------------------------------------
install(TARGETS blockd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The CUDA module goes where the daemon looks for it: bin/../lib/blockd.
if(TARGET blockd_gpu)
  install(TARGETS blockd_gpu LIBRARY DESTINATION lib/blockd)
endif()
foreach(h IN LISTS BLOCKD_PLUGIN_HEADER_CLOSURE)
  get_filename_component(dir ${h} DIRECTORY)
  install(FILES ${h} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/blockd/${dir})
endforeach()

set(BLOCKD_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/blockd)
install(TARGETS blockd_plugin EXPORT blockdTargets)
install(EXPORT blockdTargets NAMESPACE blockd::
        DESTINATION ${BLOCKD_CMAKE_DIR})
configure_package_config_file(cmake/blockdConfig.cmake.in
  ${CMAKE_BINARY_DIR}/blockdConfig.cmake
  INSTALL_DESTINATION ${BLOCKD_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
# 0.x: minor versions may change the ABI (the plugin loader checks
# BLOCKD_PLUGIN_ABI_VERSION at load time in any case).
write_basic_package_version_file(${CMAKE_BINARY_DIR}/blockdConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_BINARY_DIR}/blockdConfig.cmake
              ${CMAKE_BINARY_DIR}/blockdConfigVersion.cmake
        DESTINATION ${BLOCKD_CMAKE_DIR})

string(REPLACE ";" " " BLOCKD_PLUGIN_PC_REQUIRES "${BLOCKD_PLUGIN_REQUIRES}")
configure_file(cmake/blockd-plugin.pc.in ${CMAKE_BINARY_DIR}/blockd-plugin.pc
               @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/blockd-plugin.pc
        DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)
