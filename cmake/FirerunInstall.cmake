include(CMakePackageConfigHelpers)

install(TARGETS firerun EXPORT firerunTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/firerun DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/firerun/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/firerun)
install(EXPORT firerunTargets NAMESPACE firerun:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/firerun)
export(EXPORT firerunTargets NAMESPACE firerun:: FILE ${PROJECT_BINARY_DIR}/firerunTargets.cmake)

configure_package_config_file(cmake/firerunConfig.cmake.in ${PROJECT_BINARY_DIR}/firerunConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/firerun)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/firerunConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/firerunConfig.cmake ${PROJECT_BINARY_DIR}/firerunConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/firerun)

configure_file(cmake/firerun.pc.in ${PROJECT_BINARY_DIR}/firerun.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/firerun.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
