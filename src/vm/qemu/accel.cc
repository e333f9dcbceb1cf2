#include "vm/qemu/accel.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace firerun::qemu {
namespace {

// Empty string = usable; otherwise the reason it is not.
std::string kvm_unusable_reason(const AccelProbe& probe) {
  if (std::filesystem::exists(probe.sys_module / "kvm_pvm"))
    return "host KVM is the PVM hypervisor (" + (probe.sys_module / "kvm_pvm").string() +
           "), under which ordinary guest kernels hang";
  int fd = ::open(probe.kvm_device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return probe.kvm_device.string() + " is not usable: " + std::strerror(errno);
  int api = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  ::close(fd);
  if (api != KVM_API_VERSION) return probe.kvm_device.string() + " reports an unexpected KVM API version";
  return {};
}

}  // namespace

Result<AccelChoice> choose_accelerator(const std::string& requested, const AccelProbe& probe) {
  if (requested == "tcg") return AccelChoice{"tcg", "forced by configuration (accel=tcg)"};
  if (requested != "auto" && requested != "kvm")
    return make_error(Errc::invalid_argument, "accel must be auto, kvm or tcg, got '" + requested + "'");
  std::string why_not = kvm_unusable_reason(probe);
  if (requested == "kvm") {
    if (!why_not.empty()) return make_error(Errc::unsupported, "accel=kvm was forced but " + why_not);
    return AccelChoice{"kvm", "forced by configuration (accel=kvm)"};
  }
  if (why_not.empty()) return AccelChoice{"kvm", "auto: /dev/kvm is usable"};
  return AccelChoice{"tcg", "auto: software emulation because " + why_not};
}

}  // namespace firerun::qemu
