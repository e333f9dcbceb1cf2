#include "image/apt.h"

#include "image/command.h"
#include "image/digest.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <random>
#include <set>

namespace firerun::image::detail {
namespace fs = std::filesystem;
namespace {

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned v = 0;
      auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (r.ec == std::errc() && r.ptr == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\r') ++j;
    if (j > i) parts.push_back(s.substr(i, j - i));
    i = j;
  }
  return parts;
}

bool plain_file_name(std::string_view f) {
  return !f.empty() && f != "." && f != ".." && f.find('/') == std::string_view::npos &&
         f.find('\0') == std::string_view::npos;
}

std::string openssl_algorithm(std::string_view apt_name) {
  if (apt_name == "SHA256") return "SHA256";
  if (apt_name == "SHA512") return "SHA512";
  if (apt_name == "SHA1") return "SHA1";
  if (apt_name == "MD5Sum" || apt_name == "MD5") return "MD5";
  return {};
}

std::vector<std::string> apt_options(const AptContext& ctx) {
  // An empty status file makes apt treat the target as an empty system, so the
  // closure is complete; a private archives dir keeps the host cache out of it.
  return {"-o", "Dir::State::status=" + (ctx.state_dir / "status").string(),
          "-o", "Dir::Cache::archives=" + (ctx.state_dir / "archives").string(),
          "-o", "Debug::NoLocking=1",
          "-o", "APT::Install-Recommends=0",
          "-o", "APT::Install-Suggests=0",
          "-o", "APT::Get::Allow-Unauthenticated=0"};
}

Status prepare(const AptContext& ctx) {
  std::error_code ec;
  fs::create_directories(ctx.state_dir / "archives" / "partial", ec);
  if (ec) return make_error(Errc::io, "creating " + ctx.state_dir.string() + ": " + ec.message());
  if (!fs::exists(ctx.state_dir / "status")) {
    std::ofstream(ctx.state_dir / "status").flush();
  }
  return {};
}

Error classify_apt_error(Error e) {
  const auto& m = e.message();
  if (m.find("Unable to locate package") != std::string::npos ||
      m.find("has no installation candidate") != std::string::npos ||
      m.find("Couldn't find any package") != std::string::npos)
    return Error(Errc::not_found, m + " (if the package exists, run 'apt-get update')");
  return e;
}

}  // namespace

Result<std::vector<PackageRef>> parse_print_uris(std::string_view output) {
  std::vector<PackageRef> refs;
  std::size_t pos = 0;
  while (pos < output.size()) {
    auto end = output.find('\n', pos);
    if (end == std::string_view::npos) end = output.size();
    std::string_view line = output.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] != '\'') continue;
    auto close = line.find('\'', 1);
    if (close == std::string_view::npos) return make_error(Errc::protocol, "unterminated URI in apt output");
    PackageRef ref;
    ref.uri = std::string(line.substr(1, close - 1));
    auto fields = split_ws(line.substr(close + 1));
    if (fields.size() < 2) return make_error(Errc::protocol, "apt URI line without file name and size: " + ref.uri);
    ref.filename = std::string(fields[0]);
    if (!plain_file_name(ref.filename) || ref.filename.size() < 5 ||
        ref.filename.compare(ref.filename.size() - 4, 4, ".deb") != 0)
      return make_error(Errc::protocol, "unexpected file name in apt output: " + ref.filename);
    auto sr = std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), ref.size);
    if (sr.ec != std::errc() || sr.ptr != fields[1].data() + fields[1].size())
      return make_error(Errc::protocol, "bad size in apt output for " + ref.filename);
    if (fields.size() >= 3) {
      auto colon = fields[2].find(':');
      if (colon != std::string_view::npos) {
        ref.hash_algorithm = openssl_algorithm(fields[2].substr(0, colon));
        ref.hash = std::string(fields[2].substr(colon + 1));
        std::transform(ref.hash.begin(), ref.hash.end(), ref.hash.begin(), [](char c) { return c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c; });
        if (ref.hash_algorithm.empty() || ref.hash.empty() ||
            !std::all_of(ref.hash.begin(), ref.hash.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
          ref.hash_algorithm.clear();
          ref.hash.clear();
        }
      }
    }
    // name_version_arch.deb; Debian names and versions never contain '_'.
    std::string_view stem(ref.filename.data(), ref.filename.size() - 4);
    auto first = stem.find('_');
    auto last = stem.rfind('_');
    if (first == std::string_view::npos || first == last || first == 0 || last + 1 == stem.size())
      return make_error(Errc::protocol, "cannot split package file name " + ref.filename);
    ref.name = std::string(stem.substr(0, first));
    ref.version = percent_decode(stem.substr(first + 1, last - first - 1));
    ref.architecture = std::string(stem.substr(last + 1));
    if (ref.version.empty()) return make_error(Errc::protocol, "empty version in " + ref.filename);
    refs.push_back(std::move(ref));
  }
  return refs;
}

Result<std::string> parse_depends_target(std::string_view output, std::string_view prefix) {
  std::size_t pos = 0;
  while (pos < output.size()) {
    auto end = output.find('\n', pos);
    if (end == std::string_view::npos) end = output.size();
    auto fields = split_ws(output.substr(pos, end - pos));
    pos = end + 1;
    // "  Depends: name" or "  |Depends: name" (alternatives)
    if (fields.size() != 2) continue;
    auto key = fields[0];
    if (!key.empty() && key[0] == '|') key.remove_prefix(1);
    if (key != "Depends:" && key != "PreDepends:") continue;
    auto target = fields[1];
    if (target.size() > prefix.size() && target.substr(0, prefix.size()) == prefix && target[0] != '<')
      return std::string(target);
  }
  return make_error(Errc::not_found, "no dependency starting with '" + std::string(prefix) + "'");
}

Result<std::vector<PackageRef>> resolve_closure(const AptContext& ctx, const std::vector<std::string>& packages,
                                                const std::vector<std::string>& exclude) {
  FIRERUN_CHECK(prepare(ctx));
  std::vector<std::string> argv = {"apt-get", "install", "--print-uris", "-qq", "--no-install-recommends"};
  auto opts = apt_options(ctx);
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.push_back("--");
  argv.insert(argv.end(), packages.begin(), packages.end());
  auto out = run_command(argv);
  if (!out) return add_context(Result<std::vector<PackageRef>>(classify_apt_error(out.error())), "resolving packages");
  FIRERUN_TRY(auto refs, add_context(parse_print_uris(out->stdout_data), "resolving packages"));
  if (refs.empty()) return make_error(Errc::not_found, "apt resolved no packages (run 'apt-get update'?)");
  std::set<std::string> drop(exclude.begin(), exclude.end());
  std::erase_if(refs, [&](const PackageRef& r) { return drop.count(r.name) > 0; });
  std::sort(refs.begin(), refs.end(), [](const PackageRef& a, const PackageRef& b) { return a.name < b.name; });
  return refs;
}

Result<PackageRef> resolve_kernel(const AptContext& ctx, const std::string& kernel_package) {
  FIRERUN_CHECK(prepare(ctx));
  std::string versioned = kernel_package;
  std::vector<std::string> depends = {"apt-cache", "depends", "--no-recommends", "--no-suggests", "--", kernel_package};
  auto out = run_command(depends);
  if (!out) return add_context(Result<PackageRef>(classify_apt_error(out.error())), "resolving kernel " + kernel_package);
  if (auto target = parse_depends_target(out->stdout_data, "linux-image-")) versioned = *target;

  std::vector<std::string> argv = {"apt-get", "download", "--print-uris", "-qq"};
  auto opts = apt_options(ctx);
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.push_back("--");
  argv.push_back(versioned);
  auto uris = run_command(argv);
  if (!uris) return add_context(Result<PackageRef>(classify_apt_error(uris.error())), "resolving kernel " + versioned);
  FIRERUN_TRY(auto refs, parse_print_uris(uris->stdout_data));
  if (refs.size() != 1) return make_error(Errc::not_found, "apt gave no download for kernel " + versioned);
  return refs.front();
}

namespace {

Result<bool> deb_is_valid(const PackageRef& ref, const fs::path& file) {
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  if (ec || size != ref.size) return false;
  if (ref.hash_algorithm.empty()) return true;
  FIRERUN_TRY(auto digest, file_digest_hex(file, ref.hash_algorithm.c_str()));
  return digest == ref.hash;
}

}  // namespace

Status fetch_debs(const AptContext& ctx, const std::vector<PackageRef>& packages, const fs::path& deb_dir,
                  const std::function<void(std::size_t, std::size_t)>& progress) {
  std::error_code ec;
  fs::create_directories(deb_dir, ec);
  if (ec) return make_error(Errc::io, "creating " + deb_dir.string() + ": " + ec.message());
  std::vector<const PackageRef*> missing;
  for (const auto& p : packages) {
    FIRERUN_TRY(bool ok, deb_is_valid(p, deb_dir / p.filename));
    if (!ok) missing.push_back(&p);
  }
  const std::size_t total = packages.size();
  std::size_t done = total - missing.size();
  if (progress) progress(done, total);
  if (missing.empty()) return {};

  // Each process downloads into its own directory and renames verified files
  // into place, so concurrent builds never see a partial .deb.
  std::random_device rd;
  fs::path tmp = deb_dir / (".download-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(tmp, ec);
  if (ec) return make_error(Errc::io, "creating " + tmp.string() + ": " + ec.message());
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{tmp};

  const std::size_t batch = std::max<std::size_t>(1, (missing.size() + 9) / 10);
  for (std::size_t i = 0; i < missing.size(); i += batch) {
    std::vector<std::string> argv = {"apt-get", "download", "-qq"};
    auto opts = apt_options(ctx);
    argv.insert(argv.end(), opts.begin(), opts.end());
    argv.push_back("--");
    std::size_t end = std::min(missing.size(), i + batch);
    for (std::size_t j = i; j < end; ++j) argv.push_back(missing[j]->name + "=" + missing[j]->version);
    auto out = run_command(argv, CommandOptions{.cwd = tmp, .extra_env = {}});
    if (!out) return add_context(Status(classify_apt_error(out.error())), "downloading packages");
    for (std::size_t j = i; j < end; ++j) {
      const auto& p = *missing[j];
      FIRERUN_TRY(bool ok, deb_is_valid(p, tmp / p.filename));
      if (!ok) return make_error(Errc::io, "downloaded " + p.filename + " does not match apt's size/hash");
      fs::rename(tmp / p.filename, deb_dir / p.filename, ec);
      if (ec) return make_error(Errc::io, "storing " + p.filename + ": " + ec.message());
      if (progress) progress(++done, total);
    }
  }
  return {};
}

}  // namespace firerun::image::detail
