#include "init.h"

#include "firerun/agent_protocol.h"
#include "server.h"

#include <dirent.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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

bool set_ipv4(int sock, const char* ifname, unsigned long request, const std::string& address) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  if (::inet_pton(AF_INET, address.c_str(), &sin->sin_addr) != 1) return false;
  return ::ioctl(sock, request, &ifr) == 0;
}

std::string prefix_to_netmask(int prefix) {
  std::uint32_t mask = prefix <= 0 ? 0 : ~std::uint32_t{0} << (32 - std::min(prefix, 32));
  in_addr a{htonl(mask)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

// firerun.net=<addr>/<prefix>,<gateway>,<dns>,<mtu>: the host's plan for eth0,
// applied directly (no DHCP wait on the boot path).
void configure_network(const std::string& plan) {
  std::vector<std::string> f;
  std::stringstream in(plan);
  for (std::string part; std::getline(in, part, ',');) f.push_back(part);
  auto slash = f.empty() ? std::string::npos : f[0].find('/');
  if (f.size() != 4 || slash == std::string::npos) {
    log_line("firerun.net: malformed '" + plan + "'");
    return;
  }
  const std::string address = f[0].substr(0, slash), gateway = f[1], dns = f[2];
  const int prefix = std::atoi(f[0].c_str() + slash + 1), mtu = std::atoi(f[3].c_str());
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return;
  // The NIC appears once virtio_net has probed it.
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
  for (int i = 0; i < 200 && ::ioctl(sock, SIOCGIFFLAGS, &ifr) != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  bool ok = set_ipv4(sock, "eth0", SIOCSIFADDR, address) && set_ipv4(sock, "eth0", SIOCSIFNETMASK, prefix_to_netmask(prefix));
  if (ok && mtu > 0) {
    ifr.ifr_mtu = mtu;
    ok = ::ioctl(sock, SIOCSIFMTU, &ifr) == 0;
  }
  if (ok && ::ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ok = ::ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
  }
  if (ok) {
    rtentry route{};
    auto* dst = reinterpret_cast<sockaddr_in*>(&route.rt_dst);
    auto* gw = reinterpret_cast<sockaddr_in*>(&route.rt_gateway);
    auto* mask = reinterpret_cast<sockaddr_in*>(&route.rt_genmask);
    dst->sin_family = gw->sin_family = mask->sin_family = AF_INET;
    ::inet_pton(AF_INET, gateway.c_str(), &gw->sin_addr);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    char dev[] = "eth0";
    route.rt_dev = dev;
    ok = ::ioctl(sock, SIOCADDRT, &route) == 0;
  }
  if (!ok) log_line(std::string("configuring eth0 failed: ") + std::strerror(errno));
  ::close(sock);
  ::mkdir("/etc", 0755);
  std::ofstream("/etc/resolv.conf", std::ios::trunc) << "nameserver " << dns << "\n";
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
  if (auto plan = cmdline_option("net"); !plan.empty()) configure_network(plan);
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
