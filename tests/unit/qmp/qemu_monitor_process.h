// Test support: a real qemu-system-x86_64 with no machine and no guest whose
// QMP monitor is one end of a socketpair, handed over as an inherited fd
// (`-chardev socket,id=mon,fd=N -mon chardev=mon,mode=control`).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

namespace firerun::qemu::testing {

/// Absolute path of qemu-system-x86_64 on $PATH, if installed.
std::optional<std::string> find_qemu_system_x86_64();

/// A running QEMU; the destructor SIGKILLs and reaps it if still alive.
class QemuMonitorProcess {
 public:
  /// Starts QEMU; returns null (with `error` set) if spawning failed.
  static std::unique_ptr<QemuMonitorProcess> start(const std::string& qemu, std::string& error);

  QemuMonitorProcess(const QemuMonitorProcess&) = delete;
  QemuMonitorProcess& operator=(const QemuMonitorProcess&) = delete;
  ~QemuMonitorProcess();

  /// Our end of the monitor socketpair; ownership passes to the caller.
  int release_monitor_fd();
  pid_t pid() const { return pid_; }
  /// Sends a signal (SIGSTOP, SIGKILL, ...).
  void signal(int signo) const;
  /// Blocks until QEMU exits; returns the raw waitpid status.
  int wait();

 private:
  QemuMonitorProcess(pid_t pid, int monitor_fd) : pid_(pid), monitor_fd_(monitor_fd) {}
  pid_t pid_ = -1;
  int monitor_fd_ = -1;
};

}  // namespace firerun::qemu::testing
