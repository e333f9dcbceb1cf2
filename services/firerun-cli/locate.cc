#include "cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace firerun::cli {

Result<std::filesystem::path> locate_agent() {
  if (const char* env = std::getenv("FIRERUN_AGENT")) {
    if (::access(env, X_OK) == 0) return std::filesystem::path(env);
    return make_error(Errc::not_found, std::string("FIRERUN_AGENT=") + env + " is not an executable file");
  }
  for (const char* candidate : {FIRERUN_AGENT_BUILD_PATH, FIRERUN_AGENT_INSTALL_PATH})
    if (::access(candidate, X_OK) == 0) return std::filesystem::path(candidate);
  return make_error(Errc::not_found, std::string("firerun-agent not found (looked in $FIRERUN_AGENT, ") +
                                         FIRERUN_AGENT_BUILD_PATH + ", " + FIRERUN_AGENT_INSTALL_PATH + ")");
}

Result<image::Image> ensure_image(const std::string& name, const std::filesystem::path& cache_root, bool quiet,
                                  bool prefer_cached, bool force,
                                  const std::vector<std::filesystem::path>& recipe_dirs) {
  FIRERUN_TRY(auto agent, locate_agent());
  // A verified cached image with this agent is used as is: no apt, no network.
  if (prefer_cached)
    if (auto cached = image::find_image_for_agent(name, agent, cache_root)) return cached;
  image::BuildOptions opts;
  opts.recipe = name;
  opts.recipe_dirs = recipe_dirs;
  opts.cache_root = cache_root;
  opts.agent_path = agent;
  opts.force = force;
  const bool tty = ::isatty(STDERR_FILENO);
  std::string last_stage;
  if (!quiet)
    opts.progress = [&](std::string_view stage, double fraction) {
      // On a terminal, redraw one line; in logs, print each stage once.
      if (tty) {
        if (fraction >= 0)
          std::fprintf(stderr, "\rfirerun: image %s: %-12.*s %3d%%", name.c_str(), int(stage.size()), stage.data(),
                       int(fraction * 100));
        else
          std::fprintf(stderr, "\rfirerun: image %s: %-12.*s     ", name.c_str(), int(stage.size()), stage.data());
      } else if (stage != last_stage) {
        std::fprintf(stderr, "firerun: image %s: %.*s\n", name.c_str(), int(stage.size()), stage.data());
      }
      last_stage = stage;
    };
  auto img = image::build_image(opts);
  if (!quiet && tty) std::fprintf(stderr, "\n");
  return img;
}

int report_error(const Error& e) {
  std::fprintf(stderr, "firerun: error: %s\n", e.what().c_str());
  return e.errc() == Errc::timeout ? kExitTimeout : kExitFirerunError;
}

}  // namespace firerun::cli
