// Pure translation of a VmSpec into a QEMU command line (golden-tested).
#pragma once

#include "firerun/vm.h"
#include "firerun/vm/qemu.h"
#include "vm/qemu/accel.h"

#include <string>
#include <vector>

namespace firerun::qemu {

/// Host ends of the channels QEMU inherits as already-connected sockets, so no
/// socket file ever exists on disk.
struct ChannelFds {
  int console = -1;  ///< serial console (ttyS0)
  int agent = -1;    ///< virtio-serial port org.firerun.agent.0
  int qmp = -1;      ///< QMP monitor
  int incoming = -1; ///< if set: a saved state file to restore (-incoming fd:N)
};

/// The name of the virtio-serial port the guest agent looks for.
inline constexpr const char* kAgentPortName = "org.firerun.agent.0";

/// The kernel command line firerun always uses, before VmSpec::kernel_cmdline.
std::string base_kernel_cmdline(const QemuOptions& options, const AccelChoice& accel);

/// The kernel parameter telling the agent how to configure the guest NIC.
std::string guest_network_cmdline();

/// Full argv (argv[0] = options.binary). Spec must already be validated.
std::vector<std::string> build_qemu_argv(const QemuOptions& options, const VmSpec& spec, const AccelChoice& accel,
                                         const ChannelFds& fds);

}  // namespace firerun::qemu
