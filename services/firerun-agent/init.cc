#include "init.h"

#include "firerun/agent_protocol.h"
#include "server.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace firerun::agent {
namespace {

std::string trim(std::string s) {
  const char* space = " \t\r\n";
  s.erase(0, s.find_first_not_of(space));
  auto end = s.find_last_not_of(space);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void mount_fs(const char* source, const char* target, const char* type, unsigned long flags, const char* data) {
  ::mkdir(target, 0755);
  if (::mount(source, target, type, flags, data) != 0 && errno != EBUSY)
    log_line(std::string("mounting ") + type + " on " + target + " failed: " + std::strerror(errno));
}

void attach_console() {
  int fd = ::open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  for (int target = 0; target <= 2; ++target) ::dup2(fd, target);
  if (fd > 2) ::close(fd);
}

// Value of firerun.<key>= on the kernel command line, if present.
std::string cmdline_option(const std::string& key) {
  std::istringstream words(read_small_file("/proc/cmdline"));
  std::string word;
  std::string prefix = "firerun." + key + "=";
  while (words >> word)
    if (word.rfind(prefix, 0) == 0) return word.substr(prefix.size());
  return {};
}

void bring_up_loopback() {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) log_line(std::string("bringing up lo failed: ") + std::strerror(errno));
  }
  ::close(sock);
}

}  // namespace

int load_modules(const std::string& list_path) {
  std::ifstream list(list_path);
  if (!list) return 0;  // no modules needed: everything is built in
  int loaded = 0;
  std::string line;
  while (std::getline(list, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = trim(line);
    if (line.empty()) continue;
    int fd = ::open(line.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      log_line("module " + line + ": " + std::strerror(errno));
      continue;
    }
    if (::syscall(SYS_finit_module, fd, "", 0) == 0) {
      ++loaded;
    } else if (errno != EEXIST) {
      log_line("module " + line + ": " + std::strerror(errno));
    }
    ::close(fd);
  }
  return loaded;
}

void init_system() {
  mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  attach_console();
  mount_fs("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  mount_fs("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666");
  mount_fs("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  mount_fs("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  ::umask(022);

  std::string hostname = cmdline_option("hostname");
  if (hostname.empty()) hostname = "firerun";
  if (::sethostname(hostname.data(), hostname.size()) != 0)
    log_line(std::string("sethostname failed: ") + std::strerror(errno));

  ::setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  ::setenv("HOME", "/root", 1);
  ::setenv("TERM", "linux", 0);
  ::chdir("/");

  int loaded = load_modules(kModulesLoadFile);
  if (loaded > 0) log_line("loaded " + std::to_string(loaded) + " kernel modules");
  bring_up_loopback();
}

int open_agent_port(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (DIR* dir = ::opendir("/sys/class/virtio-ports")) {
      std::string device;
      while (dirent* entry = ::readdir(dir)) {
        std::string port = entry->d_name;
        if (port == "." || port == "..") continue;
        if (trim(read_small_file("/sys/class/virtio-ports/" + port + "/name")) == kPortName) {
          device = "/dev/" + port;
          break;
        }
      }
      ::closedir(dir);
      if (!device.empty()) {
        // The sysfs entry can appear before devtmpfs has created the node.
        int fd = ::open(device.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
          log_line("serving on " + device);
          return fd;
        }
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      log_line("virtio-serial port " + std::string(kPortName) + " not found");
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void power_off(const std::string& reason) {
  log_line(reason + "; powering off");
  ::kill(-1, SIGKILL);  // as PID 1 this spares only us
  ::sync();
  ::reboot(RB_POWER_OFF);
  // Only reached without CAP_SYS_BOOT; PID 1 must never exit (the kernel would panic).
  log_line(std::string("power off failed: ") + std::strerror(errno));
  for (;;) ::pause();
}

}  // namespace firerun::agent
