// Runs a test server script (python3 stdlib http.server and the like) that
// prints "PORT <n>" on stdout once it listens (on 127.0.0.1 unless told
// otherwise, e.g. a test host's address); stops it on destruction.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

extern char** environ;

namespace firerun::testing {

class ScriptServer {
 public:
  /// argv[0] is looked up in PATH, e.g. {"python3", "/path/fake_ec2.py", "arg"};
  /// `host` is the address the script listens on, for endpoint().
  explicit ScriptServer(const std::vector<std::string>& argv, const std::string& host = "127.0.0.1") {
    int fds[2];
    if (argv.empty() || ::pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    FILE* out = ::fdopen(fds[0], "r");
    int port = 0;
    if (out && std::fscanf(out, "PORT %d", &port) == 1) endpoint_ = "http://" + host + ":" + std::to_string(port);
    if (out) std::fclose(out);
  }
  ~ScriptServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  /// "http://<host>:<port>", or empty if the server did not start.
  const std::string& endpoint() const { return endpoint_; }

 private:
  pid_t pid_ = -1;
  std::string endpoint_;
};

}  // namespace firerun::testing
