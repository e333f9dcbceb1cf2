// `firerun image push|pull|list-remote`: share images through an image store.
#include "cli.h"
#include "firerun/image_store.h"

#include <cstdio>
#include <cstdlib>

namespace firerun::cli {
namespace {

struct StoreArgs {
  std::string name;
  std::string hash = "latest";
  std::string store;
  std::string cache;
};

// --store, else $FIRERUN_IMAGE_STORE.
Result<std::unique_ptr<store::ImageStore>> open_store(const std::string& uri_arg) {
  std::string uri = uri_arg;
  if (uri.empty()) {
    if (const char* env = std::getenv("FIRERUN_IMAGE_STORE")) uri = env;
  }
  if (uri.empty())
    return make_error(Errc::invalid_argument,
                      "no image store: pass --store URI (file:///dir or s3://bucket/prefix) or set FIRERUN_IMAGE_STORE");
  store::ImageStoreRegistry registry;
  FIRERUN_CHECK(store::register_builtin_image_stores(registry));
  return store::open_image_store(registry, uri);
}

void add_common(CLI::App* cmd, StoreArgs& args) {
  cmd->add_option("name", args.name, "Image name (bash, python, ...)")->required();
  cmd->add_option("--store", args.store, "Image store URI (default: $FIRERUN_IMAGE_STORE)");
}

}  // namespace

void add_store_commands(CLI::App& app, int& exit_code) {
  CLI::App* image = app.get_subcommand("image");
  auto args = std::make_shared<StoreArgs>();

  auto* push = image->add_subcommand("push", "Upload the cached image NAME to an image store");
  add_common(push, *args);
  push->add_option("--cache", args->cache, "Cache directory (default: $XDG_CACHE_HOME/firerun)");
  push->callback([args, &exit_code] {
    auto img = image::find_image(args->name, args->cache);
    if (!img) return void(exit_code = report_error(img.error()));
    auto s = open_store(args->store);
    if (!s) return void(exit_code = report_error(s.error()));
    auto pushed = (*s)->push(*img);
    if (!pushed) return void(exit_code = report_error(pushed.error()));
    std::printf("pushed %s %s to %s\n", img->name.c_str(), img->hash.c_str(), (*s)->uri().c_str());
  });

  auto* pull = image->add_subcommand("pull", "Download image NAME from an image store into the cache (verified)");
  add_common(pull, *args);
  pull->add_option("--hash", args->hash, "Image hash, or 'latest' (default)");
  pull->add_option("--cache", args->cache, "Cache directory (default: $XDG_CACHE_HOME/firerun)");
  pull->callback([args, &exit_code] {
    auto s = open_store(args->store);
    if (!s) return void(exit_code = report_error(s.error()));
    auto img = (*s)->pull(args->name, args->hash, args->cache);
    if (!img) return void(exit_code = report_error(img.error()));
    std::printf("%s %s%s\n%s\n", img->name.c_str(), img->hash.c_str(), img->from_cache ? " (already cached)" : "",
                img->dir.c_str());
  });

  auto* list = image->add_subcommand("list-remote", "List the versions of image NAME in an image store");
  add_common(list, *args);
  list->callback([args, &exit_code] {
    auto s = open_store(args->store);
    if (!s) return void(exit_code = report_error(s.error()));
    auto versions = (*s)->list(args->name);
    if (!versions) return void(exit_code = report_error(versions.error()));
    for (const auto& v : *versions) std::printf("%s %s%s\n", v.name.c_str(), v.hash.c_str(), v.latest ? " latest" : "");
  });
}

}  // namespace firerun::cli
