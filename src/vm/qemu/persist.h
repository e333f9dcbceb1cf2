// QEMU "persist" part: saving a paused VM's state with QEMU migration into a
// file, and the matching restore (`-incoming fd:N`, see argv_builder).
#pragma once

#include "firerun/error.h"
#include "vm/qemu/qmp_client.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>

namespace firerun::qemu {

/// Pauses the VM and streams its complete state into `file`; returns the
/// number of bytes written. The VM stays paused.
boost::asio::awaitable<Result<std::uint64_t>> save_state(QmpClient& qmp, const std::filesystem::path& file,
                                                         std::chrono::milliseconds deadline);

/// Waits until an incoming migration has been loaded and the VM runs.
boost::asio::awaitable<Status> wait_until_restored(QmpClient& qmp, std::chrono::milliseconds deadline);

}  // namespace firerun::qemu
