// Shared declarations of the firerun CLI's subcommands.
#pragma once

#include "firerun/error.h"
#include "firerun/image.h"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace firerun::cli {

/// Documented exit codes for failures of firerun itself (guest exit codes pass through).
inline constexpr int kExitFirerunError = 125;
inline constexpr int kExitTimeout = 124;
inline constexpr int kExitInterrupted = 130;

/// The static guest agent: $FIRERUN_AGENT, the build tree, or the install location.
Result<std::filesystem::path> locate_agent();

/// Returns image `name`. prefer_cached: any verified cached build with the
/// current agent (no apt); otherwise resolve packages and build if the inputs
/// changed (progress on stderr). force: always rebuild. recipe_dirs: extra `*.yaml` recipe directories.
Result<image::Image> ensure_image(const std::string& name, const std::filesystem::path& cache_root, bool quiet,
                                  bool prefer_cached, bool force = false,
                                  const std::vector<std::filesystem::path>& recipe_dirs = {});

/// Prints an error the way every subcommand does.
int report_error(const Error& e);

void add_run_command(CLI::App& app, int& exit_code);
void add_image_commands(CLI::App& app, int& exit_code);
/// `image push|pull|list-remote` (call after add_image_commands).
void add_store_commands(CLI::App& app, int& exit_code);
/// `fleet hosts|provision|terminate|reconcile|user-data|spot-event` (cloud providers).
void add_fleet_commands(CLI::App& app, int& exit_code);

}  // namespace firerun::cli
