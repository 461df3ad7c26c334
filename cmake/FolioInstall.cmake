# Install rules for libfolio: the library, the two public headers, a CMake
# package (find_package(Folio) -> Folio::folio) and a pkg-config file (folio.pc).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS folio_sdk EXPORT FolioTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/sdk/include/folio/folio.h ${PROJECT_SOURCE_DIR}/sdk/include/folio/folio.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/folio)
install(EXPORT FolioTargets NAMESPACE Folio:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Folio)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/FolioConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/FolioConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Folio)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/FolioConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/FolioConfig.cmake ${PROJECT_BINARY_DIR}/cmake/FolioConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Folio)

# pkg-config: paths relative to ${prefix} so a relocated install still works.
file(RELATIVE_PATH FOLIO_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${PROJECT_SOURCE_DIR}/cmake/folio.pc.in ${PROJECT_BINARY_DIR}/cmake/folio.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/folio.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
