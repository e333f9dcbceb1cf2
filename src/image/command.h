// Runs a host tool (apt-get, dpkg-deb) with an argv vector, never a shell
// string, and captures its output.
#pragma once

#include "firerun/error.h"

#include <filesystem>
#include <string>
#include <vector>

namespace firerun::image::detail {

struct CommandOutput {
  std::string stdout_data;
  std::string stderr_data;
};

struct CommandOptions {
  std::filesystem::path cwd;                    ///< empty = inherit
  std::vector<std::string> extra_env;           ///< "KEY=VALUE" added to the inherited environment
  std::size_t output_cap = 64u << 20;           ///< per stream; more is an error (limit_exceeded)
};

/// Runs argv[0] (looked up in PATH) to completion. A non-zero exit or a signal
/// is an error whose message names the command and carries its stderr tail.
Result<CommandOutput> run_command(const std::vector<std::string>& argv, const CommandOptions& options = {});

}  // namespace firerun::image::detail
