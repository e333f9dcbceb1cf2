# The QMP client area (QEMU machine protocol over a Unix socket). Included by
# src/vm/CMakeLists.txt; kept separate so the QMP client builds on its own.
firerun_area(qmp SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/qmp_message.cc
  ${CMAKE_CURRENT_LIST_DIR}/qmp_client.cc)
