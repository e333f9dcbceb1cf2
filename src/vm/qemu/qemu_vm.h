// A VM run by a qemu-system-x86_64 child process: the "state" part of the
// backend (process, QMP monitor, console, agent channel).
#pragma once

#include "core/process.h"
#include "firerun/vm.h"
#include "firerun/vm/qemu.h"
#include "vm/qemu/accel.h"
#include "vm/qemu/argv_builder.h"

#include <memory>

namespace firerun::agent {
class AgentClient;
}

namespace firerun::qemu {

class QmpClient;
struct ConsoleCapture;

class QemuVm final : public Vm {
 public:
  QemuVm(VmSpec spec, QemuOptions options, boost::asio::any_io_executor executor, JailOptions jail);
  /// A VM whose start() restores `snapshot` instead of booting.
  QemuVm(const Snapshot& snapshot, QemuOptions options, boost::asio::any_io_executor executor, JailOptions jail);
  ~QemuVm() override;

 protected:
  Task<Status> do_start() override;
  Task<Status> do_stop(std::chrono::milliseconds grace) override;
  Task<Status> do_kill() override;
  Task<VmExit> do_wait() override;
  Task<Status> do_pause() override;
  Task<Status> do_resume() override;
  Task<Result<Snapshot>> do_snapshot(const std::filesystem::path& dir) override;
  std::string do_console_log() const override;

 private:
  Task<Status> launch();
  /// The command line, with every path as the jailed VMM sees it.
  Result<std::vector<std::string>> jailed_argv(const AccelChoice& accel, const ChannelFds& fds);
  Task<Status> connect_agent(std::unique_ptr<agent::AgentClient> agent);
  Error boot_failure(std::string what);
  VmExit classify_exit(const ::firerun::detail::ExitStatus& status) const;

  QemuOptions options_;
  std::unique_ptr<::firerun::detail::ChildProcess> process_;
  std::unique_ptr<QmpClient> qmp_;
  std::shared_ptr<ConsoleCapture> console_;
  bool stop_requested_ = false;
  bool kill_requested_ = false;
  std::string shutdown_reason_;  ///< from QEMU's SHUTDOWN event ("guest-shutdown", "guest-reset", ...)
  std::optional<Snapshot> restore_from_;
};

}  // namespace firerun::qemu
