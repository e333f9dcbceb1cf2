// Running a program inside a guest: the request and its outcome. Shared by the
// VM API (Vm::exec) and the guest-agent wire protocol.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun {

/// Default cap on each of stdout and stderr kept per exec.
inline constexpr std::uint64_t kDefaultOutputCap = 16u << 20;

/// The unprivileged guest user programs run as unless root is asked for: it
/// cannot signal the agent (pid 1), reboot, load modules or write the agent's files.
inline constexpr std::uint32_t kGuestUserId = 1000;

struct ExecRequest {
  std::vector<std::string> argv;               ///< argv[0] is looked up in PATH
  std::map<std::string, std::string> env;      ///< added to the agent's base environment
  std::string cwd = "/";
  std::optional<std::string> stdin_data;       ///< sent then closed; unset = /dev/null
  std::chrono::milliseconds timeout{0};        ///< 0 = no limit; enforced in guest and on host
  std::uint32_t uid = kGuestUserId;             ///< 0 = root
  std::uint32_t gid = kGuestUserId;
  std::uint64_t output_cap = kDefaultOutputCap; ///< per stream; excess is dropped and flagged
};

struct ExecResult {
  std::optional<int> exit_code;                ///< set when the program exited
  std::optional<int> signal;                   ///< set when it was killed by a signal
  bool timed_out = false;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  std::string stdout_data;
  std::string stderr_data;
  std::chrono::milliseconds duration{0};
};

/// Receives exec output chunks as they stream in; both callbacks optional.
struct OutputSink {
  std::function<void(std::string_view)> on_stdout;
  std::function<void(std::string_view)> on_stderr;
};

}  // namespace firerun
