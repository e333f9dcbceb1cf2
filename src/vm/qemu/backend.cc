// The "qemu" VM backend: options from URI, factory, registration.
#include "firerun/vm/qemu.h"
#include "vm/builtin_backends.h"
#include "vm/qemu/accel.h"
#include "vm/qemu/qemu_vm.h"

#include <boost/url/parse.hpp>

namespace firerun {

Result<QemuOptions> QemuOptions::from_uri(std::string_view uri) {
  QemuOptions o;
  if (uri == "qemu") return o;
  auto parsed = boost::urls::parse_uri(uri);
  if (!parsed) return make_error(Errc::invalid_argument, "malformed backend URI '" + std::string(uri) + "'");
  if (parsed->scheme() != "qemu")
    return make_error(Errc::invalid_argument, "URI scheme must be 'qemu', got '" + std::string(parsed->scheme()) + "'");
  for (auto param : parsed->params()) {
    const std::string key = param.key, value = param.value;
    if (key == "accel") {
      if (value != "auto" && value != "kvm" && value != "tcg")
        return make_error(Errc::invalid_argument, "accel must be auto, kvm or tcg, got '" + value + "'");
      o.accel = value;
    } else if (key == "machine") {
      if (value != "microvm" && value != "pc")
        return make_error(Errc::invalid_argument, "machine must be microvm or pc, got '" + value + "'");
      o.machine = value;
    } else if (key == "binary") {
      o.binary = value;
    } else if (key == "sandbox") {
      if (value != "on" && value != "off")
        return make_error(Errc::invalid_argument, "sandbox must be on or off, got '" + value + "'");
      o.sandbox = value == "on";
    } else {
      return make_error(Errc::invalid_argument, "unknown qemu backend option '" + key + "'");
    }
  }
  return o;
}

namespace qemu {
namespace {

BackendInfo qemu_info() {
  return {"qemu", "QEMU (microvm or pc machine) driven over QMP; KVM where usable, else TCG", "stable",
          {"qemu-system-x86_64"}};
}

class QemuBackend final : public VmBackend {
 public:
  QemuBackend(QemuOptions options, boost::asio::any_io_executor ex, JailOptions jail)
      : options_(std::move(options)), ex_(std::move(ex)), jail_(std::move(jail)) {}
  BackendInfo info() const override { return qemu_info(); }

  Result<std::string> snapshot_compat_key() const override {
    FIRERUN_TRY(auto accel, choose_accelerator(options_.accel));
    FIRERUN_TRY(auto binary, ::firerun::detail::find_executable(options_.binary));
    // A different QEMU build may not load the state: identify the binary.
    std::error_code ec;
    auto size = std::filesystem::file_size(binary, ec);
    auto mtime = std::filesystem::last_write_time(binary, ec).time_since_epoch().count();
    return "qemu;accel=" + accel.name + ";machine=" + options_.machine + ";binary=" + binary + ";" +
           std::to_string(size) + ";" + std::to_string(mtime);
  }

 protected:
  Result<std::unique_ptr<Vm>> do_create(VmSpec spec) override {
    return std::unique_ptr<Vm>(new QemuVm(std::move(spec), options_, ex_, jail_));
  }

  Result<std::unique_ptr<Vm>> do_restore(const Snapshot& snapshot) override {
    FIRERUN_TRY(auto accel, choose_accelerator(options_.accel));
    if (accel.name != snapshot.accelerator)
      return make_error(Errc::invalid_argument, "snapshot " + snapshot.dir.string() + " was taken under " +
                                                    snapshot.accelerator + " but this backend uses " + accel.name);
    return std::unique_ptr<Vm>(new QemuVm(snapshot, options_, ex_, jail_));
  }

 private:
  QemuOptions options_;
  boost::asio::any_io_executor ex_;
  JailOptions jail_;
};

class QemuBackendFactory final : public VmBackendFactory {
 public:
  BackendInfo info() const override { return qemu_info(); }
  Result<std::shared_ptr<VmBackend>> make(std::string_view uri, boost::asio::any_io_executor ex,
                                          const JailOptions& jail) const override {
    FIRERUN_TRY(auto options, QemuOptions::from_uri(uri));
    if (auto found = ::firerun::detail::find_executable(options.binary); !found)
      return std::move(found).error().with_context("QEMU binary (install qemu-system-x86 or set binary=)");
    return std::shared_ptr<VmBackend>(std::make_shared<QemuBackend>(std::move(options), std::move(ex), jail));
  }
};

}  // namespace

void register_backend(Registry<VmBackendFactory>& registry) {
  (void)registry.add(std::make_shared<QemuBackendFactory>());
}

}  // namespace qemu
}  // namespace firerun
