// The baseline: QEMU launched by hand with the argv firerun would use, timed
// until the guest agent's hello frame arrives on a plain socketpair. No
// firerun VM object, QMP handshake, console capture or agent client in the
// path, so firerun's cold boot divided by this is firerun's own overhead.
#pragma once

#include "firerun/error.h"
#include "firerun/vm.h"
#include "firerun/vm/qemu.h"

#include <chrono>

namespace firerun::bench {

/// One raw boot's outcome.
struct RawBoot {
  double to_hello_ms = 0;  ///< fork until the first complete agent frame (a hello)
  double guest_boot_ms = 0; ///< the guest's own uptime when it sent hello
  std::string accelerator; ///< what the accelerator choice picked
};

/// Boots `spec` (validated here) with plain fork/exec + poll, waits for the
/// agent's hello, then SIGKILLs and reaps QEMU. Blocking.
Result<RawBoot> raw_qemu_boot(const QemuOptions& options, const VmSpec& spec);

}  // namespace firerun::bench
