// Options of the QEMU backend ("qemu:///?accel=tcg&machine=microvm").
#pragma once

#include "firerun/error.h"

#include <string>
#include <string_view>

namespace firerun {

struct QemuOptions {
  std::string binary = "qemu-system-x86_64";
  /// "auto" picks KVM only where it can boot an ordinary kernel (not on PVM
  /// hosts), else TCG; "kvm" / "tcg" force one.
  std::string accel = "auto";
  /// "microvm" (fast, virtio-mmio) or "pc" (virtio-pci, widest compatibility).
  std::string machine = "microvm";
  /// Apply QEMU's seccomp sandbox to the VMM process.
  bool sandbox = true;

  /// Parses "qemu:///?accel=tcg&machine=pc&binary=/path&sandbox=off"; unknown keys are errors.
  static Result<QemuOptions> from_uri(std::string_view uri);
};

}  // namespace firerun
