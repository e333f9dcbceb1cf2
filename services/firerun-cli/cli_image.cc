// `firerun image build|path`: build and locate guest images.
#include "cli.h"

#include <cstdio>

namespace firerun::cli {

void add_image_commands(CLI::App& app, int& exit_code) {
  auto* image = app.add_subcommand("image", "Build and inspect guest images");
  image->require_subcommand(1);

  struct BuildArgs {
    std::string name;
    std::string cache;
    std::vector<std::string> recipe_dirs;
    bool force = false;
    bool quiet = false;
  };
  auto args = std::make_shared<BuildArgs>();
  auto* build = image->add_subcommand("build", "Build (or verify the cached) image NAME from Debian packages");
  build->add_option("name", args->name, "Recipe name (bash, python, ...)")->required();
  build->add_option("--cache", args->cache, "Cache directory (default: $XDG_CACHE_HOME/firerun)");
  build->add_option("--recipes", args->recipe_dirs,
                    "Directory of extra *.yaml recipes (repeatable); relative archive/binary sources are found beside each recipe")
      ->check(CLI::ExistingDirectory);
  build->add_flag("--force", args->force, "Rebuild even if a verified image is cached");
  build->add_flag("-q,--quiet", args->quiet, "No progress output");
  build->callback([args, &exit_code] {
    const std::vector<std::filesystem::path> dirs(args->recipe_dirs.begin(), args->recipe_dirs.end());
    auto img = ensure_image(args->name, args->cache, args->quiet, /*prefer_cached=*/false, args->force, dirs);
    if (!img) {
      exit_code = report_error(img.error());
      return;
    }
    std::printf("%s %s%s\nkernel %s\ninitrd %s\nmanifest %s\n", img->name.c_str(), img->hash.c_str(),
                img->from_cache ? " (cached)" : "", img->kernel.c_str(), img->initrd.c_str(), img->manifest.c_str());
  });

  auto path_name = std::make_shared<std::string>();
  auto* path = image->add_subcommand("path", "Print the directory of the cached image NAME");
  path->add_option("name", *path_name)->required();
  path->callback([path_name, &exit_code] {
    auto img = image::find_image(*path_name);
    if (!img) {
      exit_code = report_error(img.error());
      return;
    }
    std::printf("%s\n", img->dir.c_str());
  });
}

}  // namespace firerun::cli
