// A private redis-server for tests: its own port and temp dir, append-only
// persistence (so a restart keeps the data), stopped and removed on destruction.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace firerun::testing {

class RedisServer {
 public:
  /// Where redis-server is, or empty when it is not installed (tests skip then).
  static std::string binary() {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
      std::string path = std::string(dir) + "/redis-server";
      if (::access(path.c_str(), X_OK) == 0) return path;
    }
    return {};
  }

  /// Starts a server; `extra` are more "--option value" arguments (e.g. {"--requirepass", "x"}).
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    dir_ = std::filesystem::temp_directory_path() /
           ("firerun-redis-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    port_ = free_port();
    start();
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  /// True once the server accepts connections.
  bool running() const { return pid_ > 1; }
  unsigned port() const { return port_; }
  std::string uri(const std::string& prefix = "firerun") const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/0?prefix=" + prefix;
  }

  /// Stops the server (SIGTERM, then waits); its data stays in the dir.
  void stop() {
    if (pid_ > 1) {  // never signal pid <= 1
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  /// Starts it again on the same port with the same data.
  bool start() {
    if (pid_ > 1) return true;
    const std::string bin = binary();
    if (bin.empty()) return false;
    std::vector<std::string> argv = {bin,          "--port",       std::to_string(port_), "--bind", "127.0.0.1",
                                     "--dir",      dir_.string(),  "--save",              "",       "--appendonly",
                                     "yes",        "--appendfsync", "always",             "--daemonize", "no",
                                     "--logfile",  (dir_ / "redis.log").string()};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawn(&pid_, bin.c_str(), nullptr, nullptr, args.data(), environ) != 0) {
      pid_ = -1;
      return false;
    }
    for (int i = 0; i < 200; ++i) {
      if (accepts()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    stop();
    return false;
  }

 private:
  static unsigned free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    unsigned port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port = ntohs(addr.sin_port);
    if (fd >= 0) ::close(fd);
    return port;
  }
  bool accepts() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (fd >= 0) ::close(fd);
    return ok;
  }

  std::vector<std::string> extra_;
  std::filesystem::path dir_;
  unsigned port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace firerun::testing
