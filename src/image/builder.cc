// build_image(): resolve -> (cache hit?) -> download -> unpack -> modules -> pack -> hash -> publish.
#include "image/builder.h"

#include "firerun/image.h"
#include "image/command.h"
#include "image/cpio.h"
#include "image/digest.h"
#include "image/kmod.h"
#include "image/rootfs.h"
#include "image/sources.h"
#include "image/store.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <random>

namespace firerun::image {
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace detail;

namespace detail {

std::string compute_image_hash(const ImageInputs& in) {
  std::vector<std::string> pkgs;
  for (const auto& p : in.packages) pkgs.push_back(p.name + "\t" + p.version + "\t" + p.architecture);
  std::sort(pkgs.begin(), pkgs.end());
  Hasher h;
  h.update("firerun-image\nformat\t" + std::to_string(kBuilderFormatVersion) + "\n");
  h.update("recipe\n" + in.canonical_recipe);
  for (const auto& p : pkgs) h.update("deb\t" + p + "\n");
  h.update("kernel\t" + in.kernel.name + "\t" + in.kernel.version + "\t" + in.kernel.architecture + "\n");
  h.update("agent\t" + in.agent_sha256 + "\n");
  for (const auto& digest : in.source_sha256) h.update("source\t" + digest + "\n");
  return h.hex_final();
}

}  // namespace detail

namespace {

class TempDir {
 public:
  explicit TempDir(fs::path p) : path_(std::move(p)) {}
  TempDir(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string unique_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

Status io_check(const std::error_code& ec, const std::string& what) {
  if (ec) return make_error(Errc::io, what + ": " + ec.message());
  return {};
}

struct KernelTree {
  fs::path dir;       // extracted package root
  std::string release;
};

// The versioned kernel package unpacked once per cache and shared by all images.
Result<KernelTree> kernel_tree(const fs::path& cache, const PackageRef& kernel, const fs::path& deb_dir) {
  fs::path dir = cache / "kernels" / (kernel.name + "_" + kernel.version);
  std::error_code ec;
  if (!fs::exists(dir / "boot")) {
    fs::create_directories(dir.parent_path(), ec);
    FIRERUN_CHECK(io_check(ec, "creating " + dir.parent_path().string()));
    TempDir tmp(dir.parent_path() / (".unpack-" + unique_suffix()));
    FIRERUN_CHECK(run_command({"dpkg-deb", "-x", (deb_dir / kernel.filename).string(), tmp.path().string()}));
    fs::rename(tmp.path(), dir, ec);  // fails harmlessly if another build won the race
    if (ec && !fs::exists(dir / "boot")) return make_error(Errc::io, "storing kernel tree: " + ec.message());
  }
  KernelTree tree{dir, {}};
  for (const auto& e : fs::directory_iterator(dir / "lib" / "modules", ec)) {
    if (fs::exists(dir / "boot" / ("vmlinuz-" + e.path().filename().string()))) tree.release = e.path().filename().string();
  }
  if (tree.release.empty()) return make_error(Errc::not_found, "kernel package " + kernel.filename + " has no vmlinuz with modules");
  return tree;
}

std::string iso_time_utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string image_cmdline(const Recipe& r) {
  std::string s = "rdinit=/init";
  for (const auto& w : r.cmdline) s += " " + w;
  return s;
}

constexpr const char* kPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
constexpr const char* kGroup = "root:x:0:\nnogroup:x:65534:\n";

struct BuildContext {
  const BuildOptions& options;
  const Recipe& recipe;
  fs::path cache;
  std::vector<PackageRef> packages;
  PackageRef kernel;
  std::string agent_sha256;
  std::vector<ResolvedSource> sources;  // archives then binaries, as in the recipe
  std::string hash;
  void progress(std::string_view stage, double f) const {
    if (options.progress) options.progress(stage, f);
  }
};

// Fills build_dir/{rootfs, out}; out/ becomes the cache entry.
Result<Image> assemble(const BuildContext& ctx, const fs::path& build_dir) {
  const auto started = std::chrono::steady_clock::now();
  const fs::path deb_dir = ctx.cache / "debs";
  std::vector<PackageRef> all = ctx.packages;
  all.push_back(ctx.kernel);
  AptContext apt{ctx.cache / "apt"};
  FIRERUN_CHECK(fetch_debs(apt, all, deb_dir, [&](std::size_t done, std::size_t total) {
    ctx.progress("downloading", total ? double(done) / double(total) : 1.0);
  }));

  std::error_code ec;
  const fs::path root = build_dir / "rootfs";
  const fs::path out = build_dir / "out";
  fs::create_directories(root, ec);
  fs::create_directories(out, ec);
  FIRERUN_CHECK(io_check(ec, "creating " + build_dir.string()));

  // Each package is unpacked alone and merged without following symlinks, so a
  // package's absolute symlink can never redirect another package's files.
  std::vector<std::string> conflicts;
  for (std::size_t i = 0; i < ctx.packages.size(); ++i) {
    ctx.progress("unpacking", double(i) / double(ctx.packages.size()));
    const auto& p = ctx.packages[i];
    fs::path staging = build_dir / ("pkg-" + std::to_string(i));
    FIRERUN_CHECK(add_context(run_command({"dpkg-deb", "-x", (deb_dir / p.filename).string(), staging.string()}),
                              "unpacking " + p.filename));
    FIRERUN_CHECK(merge_tree(staging, root, /*src_wins=*/true, conflicts));
    fs::remove_all(staging, ec);
  }
  FIRERUN_CHECK(merge_usr(root, conflicts));
  for (const auto& p : ctx.recipe.prune) FIRERUN_CHECK(remove_in_root(root, p));
  ctx.progress("unpacking", 1.0);

  for (const char* d : {"/dev", "/proc", "/sys", "/run", "/tmp", "/root", "/etc/firerun", "/var/tmp"}) {
    FIRERUN_TRY(auto p, path_in_root(root, d));
    fs::create_directories(p, ec);
    FIRERUN_CHECK(io_check(ec, std::string("creating ") + d));
  }
  fs::permissions(root / "tmp", fs::perms(01777), ec);
  fs::permissions(root / "var" / "tmp", fs::perms(01777), ec);
  fs::permissions(root / "root", fs::perms(0700), ec);
  FIRERUN_TRY(auto passwd, path_in_root(root, "/etc/passwd"));
  if (!fs::exists(passwd)) FIRERUN_CHECK(write_in_root(root, "/etc/passwd", kPasswd, 0644));
  FIRERUN_TRY(auto group, path_in_root(root, "/etc/group"));
  if (!fs::exists(group)) FIRERUN_CHECK(write_in_root(root, "/etc/group", kGroup, 0644));
  // User archives and binaries come before `files` and `symlinks`, so a recipe can adjust what they ship.
  const std::size_t archive_count = ctx.recipe.archives.size();
  for (std::size_t i = 0; i < archive_count; ++i) {
    const auto& src = ctx.sources[i];
    FIRERUN_CHECK(add_context(unpack_archive(root, ctx.recipe.archives[i].dest, src.path,
                                             build_dir / ("archive-" + std::to_string(i)), conflicts),
                              src.key + " into " + ctx.recipe.archives[i].dest));
  }
  for (std::size_t i = 0; i < ctx.recipe.binaries.size(); ++i) {
    const auto& b = ctx.recipe.binaries[i];
    FIRERUN_CHECK(add_context(copy_into_root(root, b.path, ctx.sources[archive_count + i].path, b.mode),
                              ctx.sources[archive_count + i].key));
  }
  for (const auto& f : ctx.recipe.files) FIRERUN_CHECK(write_in_root(root, f.path, f.content, f.mode));
  for (const auto& l : ctx.recipe.symlinks) FIRERUN_CHECK(symlink_in_root(root, l.path, l.target));
  FIRERUN_CHECK(add_context(copy_into_root(root, "/init", ctx.options.agent_path, 0755), "installing the agent"));
  std::string env;
  for (const auto& [k, v] : ctx.recipe.env) env += k + "=" + v + "\n";
  FIRERUN_CHECK(write_in_root(root, "/etc/firerun/env", env, 0644));
  FIRERUN_CHECK(write_in_root(root, "/etc/firerun/image", ctx.recipe.name + " " + ctx.hash + "\n", 0644));

  // Kernel and modules.
  ctx.progress("modules", -1);
  FIRERUN_TRY(auto ktree, kernel_tree(ctx.cache, ctx.kernel, deb_dir));
  const fs::path module_dir = ktree.dir / "lib" / "modules" / ktree.release;
  FIRERUN_TRY(auto modules, add_context(resolve_modules(module_dir, ctx.recipe.modules), "resolving kernel modules"));
  std::string load_list;
  json::array module_names;
  for (const auto& m : modules) {
    std::string guest = "/lib/modules/" + ktree.release + "/" + m.relative_path;
    FIRERUN_CHECK(copy_into_root(root, guest, module_dir / m.relative_path, 0644));
    load_list += guest + "\n";
    module_names.push_back(json::value(m.name));
  }
  FIRERUN_CHECK(write_in_root(root, "/etc/firerun/modules.load", load_list, 0644));
  const fs::path vmlinuz_src = ktree.dir / "boot" / ("vmlinuz-" + ktree.release);
  fs::create_hard_link(vmlinuz_src, out / "vmlinuz", ec);  // the kernel is shared by all images
  if (ec) {
    ec.clear();
    fs::copy_file(vmlinuz_src, out / "vmlinuz", ec);
    FIRERUN_CHECK(io_check(ec, "copying the kernel"));
  }

  // Sanity: what every image must be able to run.
  FIRERUN_TRY(auto loader, resolve_in_root(root, "/lib64/ld-linux-x86-64.so.2"));
  if (!fs::is_regular_file(loader)) return make_error(Errc::internal, "image has no dynamic loader at /lib64/ld-linux-x86-64.so.2");
  FIRERUN_TRY(auto sh, resolve_in_root(root, "/bin/sh"));
  if (!fs::is_regular_file(sh)) return make_error(Errc::invalid_argument, "recipe " + ctx.recipe.name + " provides no /bin/sh");

  ctx.progress("packing", -1);
  FIRERUN_TRY(auto cpio, CpioWriter::create(out / "initrd.cpio"));
  FIRERUN_CHECK(cpio.add_tree(root));
  FIRERUN_CHECK(cpio.add_char_device("dev/console", 0600, 5, 1));
  FIRERUN_CHECK(cpio.add_char_device("dev/null", 0666, 1, 3));
  FIRERUN_CHECK(cpio.finish());
  ctx.progress("packing", 1.0);

  ctx.progress("hashing", -1);
  json::array pkgs;
  for (const auto& p : ctx.packages) {
    FIRERUN_TRY(auto sha, file_digest_hex(deb_dir / p.filename));
    pkgs.push_back(json::object{{"name", p.name}, {"version", p.version}, {"architecture", p.architecture},
                                {"size", p.size}, {"sha256", sha}});
  }
  json::array user_sources;
  for (std::size_t i = 0; i < ctx.sources.size(); ++i) {
    const bool archive = i < ctx.recipe.archives.size();
    const std::string& guest = archive ? ctx.recipe.archives[i].dest : ctx.recipe.binaries[i - ctx.recipe.archives.size()].path;
    user_sources.push_back(json::object{{"key", ctx.sources[i].key}, {"file", ctx.sources[i].path.filename().string()},
                                        {archive ? "dest" : "path", guest}, {"sha256", ctx.sources[i].sha256}});
  }
  json::array conflict_list;
  for (const auto& c : conflicts) conflict_list.push_back(json::value(c));
  Image img;
  img.name = ctx.recipe.name;
  img.hash = ctx.hash;
  img.kernel_release = ktree.release;
  img.cmdline = image_cmdline(ctx.recipe);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  json::object manifest{
      {"format", kBuilderFormatVersion},
      {"name", img.name},
      {"hash", img.hash},
      {"recipe", ctx.recipe.name},
      {"recipe_origin", ctx.recipe.origin},
      {"packages", std::move(pkgs)},
      {"kernel", json::object{{"meta_package", ctx.recipe.kernel_package},
                              {"package", ctx.kernel.name},
                              {"version", ctx.kernel.version},
                              {"release", ktree.release}}},
      {"modules", std::move(module_names)},
      {"sources", std::move(user_sources)},
      {"agent_sha256", ctx.agent_sha256},
      {"cmdline", img.cmdline},
      {"env", json::value_from(ctx.recipe.env)},
      {"sizes", json::object{{"vmlinuz", fs::file_size(out / "vmlinuz")}, {"initrd", fs::file_size(out / "initrd.cpio")}}},
      {"file_clashes", std::move(conflict_list)},
      {"built_at", iso_time_utc(std::chrono::system_clock::now())},
      {"build_seconds", seconds}};
  FIRERUN_CHECK(write_atomically(out / "manifest.json", json::serialize(manifest) + "\n"));
  FIRERUN_CHECK(write_completion_record(out, img));  // last: marks the entry complete
  ctx.progress("hashing", 1.0);
  return img;
}

Status point_current(const fs::path& image_dir, const std::string& hash) {
  fs::path tmp = image_dir / (".current-" + unique_suffix());
  std::error_code ec;
  fs::create_symlink(hash, tmp, ec);
  FIRERUN_CHECK(io_check(ec, "linking " + tmp.string()));
  fs::rename(tmp, image_dir / "current", ec);
  if (ec) fs::remove(tmp);
  return io_check(ec, "updating " + (image_dir / "current").string());
}

}  // namespace

Result<Image> build_image(const BuildOptions& options) {
  FIRERUN_TRY(auto recipe, find_recipe(options.recipe, options.recipe_dirs));
  const std::string what = "building image " + recipe.name;
  std::error_code ec;
  if (options.agent_path.empty() || !fs::is_regular_file(options.agent_path, ec))
    return make_error(Errc::not_found, "agent binary '" + options.agent_path.string() + "' not found").with_context(what);
  BuildContext ctx{options, recipe, options.cache_root.empty() ? default_cache_root() : options.cache_root, {}, {}, {}, {}, {}};
  ctx.cache = fs::absolute(ctx.cache, ec);
  fs::create_directories(ctx.cache, ec);
  FIRERUN_CHECK(add_context(io_check(ec, "creating cache " + ctx.cache.string()), what));

  ctx.progress("resolving", -1);
  // User files first: a missing runner archive should fail before any apt work.
  FIRERUN_TRY(ctx.sources, add_context(resolve_sources(recipe), what));
  AptContext apt{ctx.cache / "apt"};
  FIRERUN_TRY(ctx.packages, add_context(resolve_closure(apt, recipe.packages, recipe.exclude_packages), what));
  FIRERUN_TRY(ctx.kernel, add_context(resolve_kernel(apt, recipe.kernel_package), what));
  FIRERUN_TRY(ctx.agent_sha256, add_context(file_digest_hex(options.agent_path), what));
  std::vector<std::string> source_sha256;
  for (const auto& src : ctx.sources) source_sha256.push_back(src.sha256);
  ctx.hash = compute_image_hash({canonical_recipe(recipe), ctx.packages, ctx.kernel, ctx.agent_sha256, source_sha256});
  ctx.progress("resolving", 1.0);

  const fs::path image_dir = ctx.cache / "images" / recipe.name;
  fs::create_directories(image_dir, ec);
  FIRERUN_CHECK(add_context(io_check(ec, "creating " + image_dir.string()), what));
  FIRERUN_TRY(auto lock, add_context(FileLock::acquire(image_dir / ".lock"), what));

  // Holding the lock: leftovers of crashed builds of this image can go.
  for (const auto& e : fs::directory_iterator(image_dir, ec)) {
    auto n = e.path().filename().string();
    if (n.rfind(".build-", 0) == 0 || n.rfind(".broken-", 0) == 0 || n.rfind(".current-", 0) == 0) {
      std::error_code ignored;
      fs::remove_all(e.path(), ignored);
    }
  }

  const fs::path entry = image_dir / ctx.hash;
  if (fs::exists(entry)) {
    if (!options.force) {
      auto cached = open_image(entry);
      if (cached) {
        FIRERUN_CHECK(add_context(point_current(image_dir, ctx.hash), what));
        cached->from_cache = true;
        ctx.progress("cached", 1.0);
        return cached;
      }
      spdlog::warn("image cache entry is broken, rebuilding: {}", cached.error().what());
      ctx.progress("rebuilding", -1);
    }
    fs::path aside = image_dir / (".broken-" + unique_suffix());
    fs::rename(entry, aside, ec);
    FIRERUN_CHECK(add_context(io_check(ec, "moving aside " + entry.string()), what));
    fs::remove_all(aside, ec);
  }

  TempDir build(image_dir / (".build-" + ctx.hash.substr(0, 16) + "-" + unique_suffix()));
  FIRERUN_TRY(auto img, add_context(assemble(ctx, build.path()), what));
  fs::rename(build.path() / "out", entry, ec);
  FIRERUN_CHECK(add_context(io_check(ec, "publishing " + entry.string()), what));
  FIRERUN_CHECK(add_context(point_current(image_dir, ctx.hash), what));
  img.dir = entry;
  img.kernel = entry / "vmlinuz";
  img.initrd = entry / "initrd.cpio";
  img.manifest = entry / "manifest.json";
  return img;
}

}  // namespace firerun::image
