// Guest images: a kernel + initramfs for a microVM, built from Debian packages
// without installing anything on the host, and kept in a content-addressed cache.
//
// Typical use:
//   firerun::image::BuildOptions opts;
//   opts.recipe = "python";
//   opts.agent_path = "/usr/libexec/firerun/firerun-agent";
//   auto img = firerun::image::build_image(opts);   // cached after the first build
//   // boot img->kernel with img->initrd, cmdline = "console=ttyS0 ... " + img->cmdline
#pragma once

#include "firerun/error.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace firerun {
struct VmSpec;
}

namespace firerun::image {

/// A symlink placed into the image: `path` -> `target` (replaces whatever was there).
struct RecipeSymlink {
  std::string path;    ///< absolute path inside the guest
  std::string target;  ///< link target, relative or absolute
};

/// A small file written into the image (replaces whatever was there).
struct RecipeFile {
  std::string path;          ///< absolute path inside the guest
  std::string content;       ///< file bytes
  std::uint32_t mode = 0644; ///< permission bits
};

/// A user-provided tar archive unpacked into the image (e.g. a CI runner release).
/// The image hash covers the archive's content, not its path or mtime.
struct RecipeArchive {
  std::string source;  ///< host path as written: absolute or relative to the recipe's directory; ${VAR} expanded at build time
  std::string dest;    ///< absolute guest directory, created if missing
  std::string sha256;  ///< optional lowercase hex; a mismatch fails the build
};

/// A user-provided single file (e.g. a static runner binary) copied into the image.
struct RecipeBinary {
  std::string source;          ///< host path, as for RecipeArchive::source
  std::string path;            ///< absolute guest path
  std::uint32_t mode = 0755;   ///< permission bits
  std::string sha256;          ///< optional lowercase hex; a mismatch fails the build
};

/// Everything that defines an image. Pure data: built-ins and user files are YAML.
struct Recipe {
  std::string name;                          ///< image name, [a-z0-9][a-z0-9._-]*
  std::string description;                   ///< one line for humans
  std::vector<std::string> packages;         ///< Debian packages ("pkg" or "pkg=version"); apt adds dependencies
  std::vector<std::string> exclude_packages; ///< dropped from the resolved closure (install-time-only deps)
  std::vector<RecipeFile> files;             ///< extra files
  std::vector<RecipeSymlink> symlinks;       ///< extra symlinks (e.g. /usr/bin/sh -> bash)
  std::map<std::string, std::string> env;    ///< written to /etc/firerun/env (KEY=VALUE lines) for the agent
  std::vector<std::string> cmdline;          ///< extra kernel command-line words
  std::vector<std::string> prune;            ///< guest paths removed after unpacking (docs, man pages, locales)
  std::string kernel_package;                ///< Debian kernel (meta) package
  std::vector<std::string> modules;          ///< kernel modules loaded at boot; dependencies are added
  std::vector<RecipeArchive> archives;       ///< user archives (.tar, .tar.gz/.tgz, .tar.xz), unpacked before `files`
  std::vector<RecipeBinary> binaries;        ///< user files copied in, before `files`
  std::filesystem::path base_dir;            ///< where relative sources are found: the recipe file's directory (set by load_recipes), empty = current directory; not hashed
  std::string origin;                        ///< "builtin" or the file it was loaded from (not hashed)
};

/// Parses and validates one YAML recipe; absent optional keys get the defaults.
Result<Recipe> parse_recipe(std::string_view yaml_text, std::string_view origin = "<memory>");
/// The built-in recipes (bash, python), parsed from embedded YAML.
const std::vector<Recipe>& builtin_recipes();
/// Built-ins plus every `*.yaml` in `dirs`; later definitions of a name replace earlier ones.
Result<std::vector<Recipe>> load_recipes(const std::vector<std::filesystem::path>& dirs);
/// One recipe by name from built-ins plus `dirs`; not_found lists the known names.
Result<Recipe> find_recipe(std::string_view name, const std::vector<std::filesystem::path>& dirs = {});
/// Stable text form of everything in a recipe that affects the image (what gets hashed
/// together with the content digests of `archives` and `binaries`; their host paths are not part of it).
std::string canonical_recipe(const Recipe& recipe);

/// `$XDG_CACHE_HOME/firerun`, else `$HOME/.cache/firerun`.
std::filesystem::path default_cache_root();

/// Called with a stage name ("resolving", "downloading", "unpacking", "modules",
/// "packing", "hashing", "cached", "rebuilding") and a fraction in [0,1], or -1 when unknown.
using ProgressFn = std::function<void(std::string_view stage, double fraction)>;

/// Inputs of build_image().
struct BuildOptions {
  std::string recipe;                            ///< recipe name
  std::vector<std::filesystem::path> recipe_dirs;///< extra directories with `<name>.yaml` recipes
  std::filesystem::path cache_root;              ///< empty = default_cache_root()
  std::filesystem::path agent_path;              ///< static firerun-agent binary; becomes /init
  ProgressFn progress;                           ///< optional
  bool force = false;                            ///< rebuild even when a verified entry exists
};

/// A verified image in the cache.
struct Image {
  std::string name;                  ///< recipe name
  std::string hash;                  ///< hex sha256 over every build input
  std::filesystem::path dir;         ///< <cache>/images/<name>/<hash>
  std::filesystem::path kernel;      ///< bzImage
  std::filesystem::path initrd;      ///< uncompressed newc cpio
  std::filesystem::path manifest;    ///< manifest.json
  std::string kernel_release;        ///< e.g. "6.1.0-56-cloud-amd64"
  std::string cmdline;               ///< image's kernel-cmdline words (rdinit=/init + recipe's); add console etc.
  bool from_cache = false;           ///< true when build_image() reused an existing entry
};

/// `base` (default: a default VmSpec) booting `image`: its kernel, initrd and
/// kernel command line; size, network, limits and timeouts stay the caller's.
VmSpec vm_spec(const Image& image);
VmSpec vm_spec(const Image& image, VmSpec base);

/// Resolves the recipe's packages with apt, and returns the cached image for
/// exactly those inputs or builds it (downloads cached in <cache>/debs).
/// Broken or partial entries are detected and rebuilt. Safe across processes.
Result<Image> build_image(const BuildOptions& options);
/// The most recently built verified image called `name` (no apt, no network).
Result<Image> find_image(std::string_view name, const std::filesystem::path& cache_root = {});
/// Like find_image, but only if the image embeds exactly this agent binary
/// (not_found otherwise), so a firerun upgrade never boots a stale agent.
Result<Image> find_image_for_agent(std::string_view name, const std::filesystem::path& agent_path,
                                   const std::filesystem::path& cache_root = {});
/// Opens and verifies one entry directory (<cache>/images/<name>/<hash>).
Result<Image> open_image(const std::filesystem::path& entry_dir);

}  // namespace firerun::image
