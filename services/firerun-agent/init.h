// PID 1 duties inside the microVM: bring up the minimal userspace the agent and
// the programs it runs need, find the host's virtio-serial port, power off.
#pragma once

#include <string>

namespace firerun::agent {

/// Where the initramfs lists kernel modules to load (absolute .ko paths, dependency order).
inline constexpr const char* kModulesLoadFile = "/etc/firerun/modules.load";

/// Mounts /proc /sys /dev /dev/pts /dev/shm /tmp /run, points stdio at /dev/console,
/// sets hostname, PATH and HOME, brings up lo and loads kernel modules. Failures are logged, not fatal.
void init_system();

/// Loads the modules listed in `list_path` with finit_module; returns how many loaded.
int load_modules(const std::string& list_path);

/// Finds the virtio-serial port named kPortName (retrying while devices appear) and opens it;
/// returns -1 after logging when it never shows up.
int open_agent_port(int timeout_ms);

/// Kills everything, syncs and powers the VM off. Never returns.
[[noreturn]] void power_off(const std::string& reason);

}  // namespace firerun::agent
