// Runs a real firerund as a child process and talks HTTP to it.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "support/leak_check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace firerun::testing {

namespace http = boost::beast::http;

struct Reply {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  boost::json::value json() const { return boost::json::parse(body); }
};

/// One HTTP request on a fresh connection (tests want independence, not speed).
inline Reply http_request(unsigned short port, http::verb method, const std::string& target,
                          const std::string& body = {}, const std::string& token = {}) {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty() || method == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::write(stream, req);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  boost::beast::error_code ec;
  http::read(stream, buffer, parser, ec);
  if (ec) throw std::runtime_error(std::string("HTTP read failed: ") + ec.message());
  auto res = parser.release();
  return Reply{res.result_int(), res.body(), std::string(res[http::field::content_type])};
}

/// Open fds of a process.
inline std::size_t fd_count(int pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
  return n;
}

inline bool process_alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

/// A firerund child process with its own state dir.
class Daemon {
 public:
  /// `env`: FIRERUN_* settings on top of the test defaults.
  Daemon(std::filesystem::path state_dir, std::map<std::string, std::string> env = {})
      : state_dir_(std::move(state_dir)), env_(std::move(env)) {}
  ~Daemon() {
    if (pid_ > 0) terminate();
  }

  /// Sends the daemon's stderr (its log) to `path` instead of ours; call before start().
  void log_to(std::filesystem::path path) { log_path_ = std::move(path); }

  /// Limits the daemon's descriptors (soft and hard); call before start().
  void limit_open_files(rlim_t n) { nofile_limit_ = n; }

  void start() {
    const auto env = child_env();
    const char* binary = binary_path();
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      if (!log_path_.empty()) {
        int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log >= 0) ::dup2(log, STDERR_FILENO);
      }
      exec_child(binary, env);
    }
    ::close(out[1]);
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find("listening on") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    // Wait for the whole line: the port follows "listening on".
    auto at = line.find("listening on");
    for (int i = 0; at != std::string::npos && line.find('\n', at) == std::string::npos && i < 50; ++i) {
      pollfd p{out[0], POLLIN, 0};
      char buf[256];
      if (::poll(&p, 1, 100) > 0) {
        ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
      }
    }
    ::close(out[0]);
    if (at != std::string::npos) line = line.substr(at, line.find('\n', at) - at);
    auto colon = line.rfind(':');
    if (at == std::string::npos || colon == std::string::npos)
      throw std::runtime_error("firerund did not start: '" + line + "'");
    port_ = static_cast<unsigned short>(std::stoi(line.substr(colon + 1)));
  }

  /// SIGTERM and wait (up to `limit`); returns the exit status.
  int terminate(std::chrono::seconds limit = std::chrono::seconds(60)) {
    signal_daemon(SIGTERM);
    return reap(limit);
  }
  void kill9() {
    signal_daemon(SIGKILL);
    reap(std::chrono::seconds(10));
  }

  /// Runs a daemon that is expected to refuse to start: its exit status
  /// (-1 if it was still running after `limit` and had to be killed) and its stderr.
  int run_expecting_exit(std::string& stderr_text, std::chrono::seconds limit = std::chrono::seconds(30)) {
    const auto env = child_env();
    const char* binary = binary_path();
    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const int child = ::fork();
    if (child == 0) {
      ::dup2(err[1], STDERR_FILENO);
      exec_child(binary, env);
    }
    ::close(err[1]);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[512];
    for (;;) {
      pollfd p{err[0], POLLIN, 0};
      if (std::chrono::steady_clock::now() > deadline) break;
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::read(err[0], buf, sizeof buf);
      if (n <= 0) break;
      stderr_text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(err[0]);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(child, &status, WNOHANG) == child) return status;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    return -1;
  }

  int pid() const { return pid_; }
  unsigned short port() const { return port_; }
  Reply get(const std::string& target, const std::string& token = {}) const {
    return http_request(port_, http::verb::get, target, {}, token);
  }
  Reply post(const std::string& target, const std::string& body, const std::string& token = {}) const {
    return http_request(port_, http::verb::post, target, body, token);
  }
  Reply del(const std::string& target) const { return http_request(port_, http::verb::delete_, target); }

  /// A metric's value from /metrics (first sample whose name+labels start with `series`).
  double metric(const std::string& series, const std::string& token = {}) const {
    auto text = get("/metrics", token).body;
    std::size_t pos = 0;
    while ((pos = text.find(series, pos)) != std::string::npos) {
      if (pos == 0 || text[pos - 1] == '\n') {
        auto space = text.find(' ', pos);
        return std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
      }
      pos += series.size();
    }
    throw std::runtime_error("metric not found: " + series);
  }

 private:
  // Never kill(-1, ...): with no daemon running that would signal every process.
  void signal_daemon(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  int reap(std::chrono::seconds limit) {
    if (pid_ <= 0) return 0;
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "firerund did not exit within " << limit.count() << " s; killing it";
    signal_daemon(SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  static const char* binary_path() {
    const char* binary = std::getenv("FIRERUN_DAEMON");
#ifdef FIRERUN_DAEMON_PATH
    if (!binary) binary = FIRERUN_DAEMON_PATH;
#endif
    if (!binary) throw std::runtime_error("FIRERUN_DAEMON is not set");
    return binary;
  }

  std::map<std::string, std::string> child_env() const {
    const char* cache = std::getenv("FIRERUN_TEST_CACHE");
    std::map<std::string, std::string> env{{"FIRERUN_LISTEN", "127.0.0.1:0"},
                                           {"FIRERUN_STATE_DIR", state_dir_.string()},
                                           {"FIRERUN_IMAGE_CACHE", cache ? cache : ""},
                                           {"FIRERUN_LOG_LEVEL", "warn"},
                                           {"FIRERUN_LIMITS_RATE_LIMIT_PER_SECOND", "0"},
                                           {"FIRERUN_SCHEDULER_SHUTDOWN_GRACE_MS", "2000"}};
    if (const char* accel = std::getenv("FIRERUN_TEST_ACCEL")) env["FIRERUN_BACKEND"] = std::string("qemu:///?accel=") + accel;
    for (auto& [k, v] : env_) env[k] = v;
    return env;
  }

  /// In the forked child: environment, limits, exec.
  [[noreturn]] void exec_child(const char* binary, const std::map<std::string, std::string>& env) const {
    for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    if (nofile_limit_) {
      struct rlimit limit {*nofile_limit_, *nofile_limit_};
      ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    ::execl(binary, "firerund", static_cast<char*>(nullptr));
    ::_exit(127);
  }

  std::filesystem::path state_dir_;
  std::filesystem::path log_path_;
  std::map<std::string, std::string> env_;
  std::optional<rlim_t> nofile_limit_;
  int pid_ = -1;
  unsigned short port_ = 0;
};

/// A temporary directory removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    std::string pattern = (std::filesystem::temp_directory_path() / ("daemon-test-" + tag + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// Polls GET /v1/jobs/{id} until a terminal status.
inline boost::json::object wait_job(const Daemon& d, const std::string& id,
                                    std::chrono::seconds limit = std::chrono::seconds(300)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = d.get("/v1/jobs/" + id);
    if (r.status != 200) throw std::runtime_error("GET job: " + std::to_string(r.status) + " " + r.body);
    auto o = r.json().as_object();
    auto status = std::string(o.at("status").as_string());
    if (status != "queued" && status != "running") return o;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("job " + id + " did not finish");
}

}  // namespace firerun::testing
