// The agent's request loop: one poll() loop serving the protocol on a
// connection and multiplexing any number of running execs by request id.
#pragma once

#include <string_view>

namespace firerun::agent {

/// Writes "firerun-agent: <line>" to stderr (the console when running as PID 1).
void log_line(std::string_view line);

struct ServeOptions {
  /// Running as the guest's init: reseed may credit entropy and set the clock.
  /// Off in test mode, where the agent must not touch the host's clock.
  bool guest = false;
};

enum class ServeEnd {
  disconnected,  ///< the host closed the connection (or it failed)
  shutdown,      ///< the host asked for shutdown; `ok` has been sent
};

/// Sends hello, then serves requests until the host disconnects or asks for shutdown.
/// Running execs are killed when it returns.
ServeEnd serve(int in_fd, int out_fd, const ServeOptions& options);

}  // namespace firerun::agent
