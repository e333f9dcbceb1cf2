// snapshot.json: the backend-independent description of a saved VM.
#include "firerun/vm.h"
#include "vm/snapshot_meta.h"

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

namespace firerun {
namespace json = boost::json;

namespace detail {

Status write_snapshot_meta(const Snapshot& s) {
  json::object spec{{"kernel", s.spec.kernel.string()},
                    {"initrd", s.spec.initrd.string()},
                    {"kernel_cmdline", s.spec.kernel_cmdline},
                    {"vcpus", s.spec.vcpus},
                    {"memory_mib", s.spec.memory_mib},
                    {"network", s.spec.network},
                    {"console_log_cap", s.spec.console_log_cap}};
  json::object meta{{"format", 1},
                    {"backend", s.backend},
                    {"accelerator", s.accelerator},
                    {"machine", s.machine},
                    {"state_file", kSnapshotStateFile},
                    {"state_bytes", s.state_bytes},
                    {"spec", std::move(spec)}};
  const auto tmp = s.dir / (std::string(kSnapshotMetaFile) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << json::serialize(meta) << "\n";
    if (!out.flush()) return make_error(Errc::io, "writing " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, s.dir / kSnapshotMetaFile, ec);
  if (ec) return make_error(Errc::io, "renaming " + tmp.string() + ": " + ec.message());
  return {};
}

}  // namespace detail

namespace {

template <class T>
Result<T> field(const json::object& o, std::string_view key, const std::string& where) {
  auto* v = o.if_contains(key);
  boost::system::error_code ec;
  if (v) {
    auto r = json::try_value_to<T>(*v);
    if (r) return *r;
  }
  return make_error(Errc::invalid_argument, where + ": field '" + std::string(key) + "' is missing or has the wrong type");
}

}  // namespace

Result<Snapshot> open_snapshot(const std::filesystem::path& dir) {
  const std::string where = "snapshot " + dir.string();
  std::ifstream in(dir / detail::kSnapshotMetaFile, std::ios::binary);
  if (!in) return make_error(Errc::not_found, where + " has no " + detail::kSnapshotMetaFile + " (missing or partial)");
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) return make_error(Errc::invalid_argument, where + ": snapshot.json is not a JSON object");
  const auto& o = v.as_object();
  FIRERUN_TRY(auto format, field<std::int64_t>(o, "format", where));
  if (format != 1) return make_error(Errc::unsupported, where + ": unknown snapshot format " + std::to_string(format));
  Snapshot s;
  s.dir = dir;
  FIRERUN_TRY(s.backend, field<std::string>(o, "backend", where));
  FIRERUN_TRY(s.accelerator, field<std::string>(o, "accelerator", where));
  FIRERUN_TRY(s.machine, field<std::string>(o, "machine", where));
  FIRERUN_TRY(s.state_bytes, field<std::uint64_t>(o, "state_bytes", where));
  auto* spec = o.if_contains("spec");
  if (!spec || !spec->is_object()) return make_error(Errc::invalid_argument, where + ": no spec object");
  const auto& so = spec->as_object();
  FIRERUN_TRY(std::string kernel, field<std::string>(so, "kernel", where));
  FIRERUN_TRY(std::string initrd, field<std::string>(so, "initrd", where));
  s.spec.kernel = kernel;
  s.spec.initrd = initrd;
  FIRERUN_TRY(s.spec.kernel_cmdline, field<std::string>(so, "kernel_cmdline", where));
  FIRERUN_TRY(s.spec.vcpus, field<unsigned>(so, "vcpus", where));
  FIRERUN_TRY(s.spec.memory_mib, field<std::uint64_t>(so, "memory_mib", where));
  FIRERUN_TRY(s.spec.network, field<bool>(so, "network", where));
  FIRERUN_TRY(s.spec.console_log_cap, field<std::uint64_t>(so, "console_log_cap", where));
  std::error_code fec;
  auto size = std::filesystem::file_size(dir / detail::kSnapshotStateFile, fec);
  if (fec || size != s.state_bytes)
    return make_error(Errc::invalid_argument, where + ": state file is missing or truncated");
  FIRERUN_CHECK(add_context(validate(s.spec), where));
  return s;
}

}  // namespace firerun
