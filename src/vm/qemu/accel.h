// Choosing QEMU's accelerator. KVM is only "usable" where it can boot an
// ordinary guest kernel: PVM hosts expose /dev/kvm but such guests hang there.
#pragma once

#include "firerun/error.h"

#include <filesystem>
#include <string>

namespace firerun::qemu {

struct AccelChoice {
  std::string name;    ///< "kvm" or "tcg"
  std::string reason;  ///< why, for logs and VmInfo
};

/// Where to look; overridable so tests can simulate hosts.
struct AccelProbe {
  std::filesystem::path kvm_device = "/dev/kvm";
  std::filesystem::path sys_module = "/sys/module";
};

/// requested: "auto" | "kvm" | "tcg". Forcing "kvm" where it is not usable is an error.
Result<AccelChoice> choose_accelerator(const std::string& requested, const AccelProbe& probe = {});

}  // namespace firerun::qemu
