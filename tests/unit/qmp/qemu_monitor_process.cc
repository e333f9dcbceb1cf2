#include "qemu_monitor_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <utility>
#include <vector>

namespace firerun::qemu::testing {

std::optional<std::string> find_qemu_system_x86_64() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/qemu-system-x86_64";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::unique_ptr<QemuMonitorProcess> QemuMonitorProcess::start(const std::string& qemu, std::string& error) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    error = std::string("socketpair: ") + std::strerror(errno);
    return nullptr;
  }
  const int ours = fds[0];
  const int qemus = fds[1];
  const std::string chardev = "socket,id=mon,fd=" + std::to_string(qemus);
  std::vector<std::string> args = {qemu,        "-M",         "none",      "-nodefaults", "-no-user-config",
                                   "-display",  "none",       "-chardev",  chardev,       "-mon",
                                   "chardev=mon,mode=control"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    ::close(ours);
    ::close(qemus);
    return nullptr;
  }
  if (pid == 0) {
    // Only async-signal-safe calls here: let QEMU's end survive exec, nothing else.
    ::fcntl(qemus, F_SETFD, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(qemus);
  return std::unique_ptr<QemuMonitorProcess>(new QemuMonitorProcess(pid, ours));
}

QemuMonitorProcess::~QemuMonitorProcess() {
  if (monitor_fd_ >= 0) ::close(monitor_fd_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
}

int QemuMonitorProcess::release_monitor_fd() { return std::exchange(monitor_fd_, -1); }

void QemuMonitorProcess::signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

int QemuMonitorProcess::wait() {
  int status = 0;
  if (pid_ <= 0) return status;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

}  // namespace firerun::qemu::testing
