// check_host(): what `firerun doctor` prints, one line per capability.
#include "firerun/jail.h"
#include "jail/cgroup.h"
#include "jail/network.h"

#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace firerun {
namespace fs = std::filesystem;

std::vector<HostCheck> check_host(const JailOptions& options) {
  std::vector<HostCheck> out;
  std::error_code ec;
  auto add = [&](std::string what, bool ok, std::string detail) { out.push_back({std::move(what), ok, std::move(detail)}); };

  const bool kvm = fs::exists("/dev/kvm", ec);
  const bool pvm = fs::exists("/sys/module/kvm_pvm", ec);
  add("hardware acceleration", kvm && !pvm,
      !kvm ? "no /dev/kvm: QEMU uses TCG (software emulation, ~10x slower boots)"
           : pvm ? "/dev/kvm is the PVM hypervisor, which hangs ordinary guest kernels: QEMU uses TCG"
                 : "/dev/kvm: QEMU uses KVM");
  add("running as root", ::geteuid() == 0,
      ::geteuid() == 0 ? "yes: VMMs can be given their own uid, namespaces and cgroup"
                       : "uid " + std::to_string(::geteuid()) + ": jailing needs root (or jail: off)");
  bool all_ns = true;
  for (const char* ns : {"mnt", "pid", "net", "ipc", "uts", "user"}) all_ns = all_ns && fs::exists(fs::path("/proc/self/ns") / ns, ec);
  add("namespaces (mnt pid net ipc uts user)", all_ns, all_ns ? "all present" : "some are missing from /proc/self/ns");
  if (auto layout = jail::CgroupLayout::detect()) {
    std::string where;
    for (const auto& [controller, root] : layout->roots) where += (where.empty() ? "" : ", ") + root.string();
    add(std::string("cgroups (memory pids cpu)"), true, (layout->v2 ? "v2 at " : "v1/hybrid at ") + where);
  } else {
    add("cgroups (memory pids cpu)", false, layout.error().message());
  }
  auto nft = jail::find_system_tool("nft"), ip = jail::find_system_tool("ip");
  add("guest network policing (nft, ip)", nft && ip,
      (nft ? *nft : nft.error().message()) + ", " + (ip ? *ip : ip.error().message()));
  add("/dev/net/tun", fs::exists("/dev/net/tun", ec), fs::exists("/dev/net/tun", ec) ? "present (not needed: user-mode networking in a namespace)" : "absent (not needed)");

  // The uid range must be nobody's: look for accounts inside it.
  std::string owner;
  ::setpwent();
  while (passwd* pw = ::getpwent())
    if (pw->pw_uid >= options.uid_first && pw->pw_uid < options.uid_first + options.uid_count) owner = pw->pw_name;
  ::endpwent();
  const std::string range = std::to_string(options.uid_first) + "-" + std::to_string(options.uid_first + options.uid_count - 1);
  add("jail uid range " + range, owner.empty(),
      owner.empty() ? "no account uses it; one uid per VM" : "account '" + owner + "' has a uid in it: choose another range");
  auto supported = check_jail_support(options);
  add("jail", options.enabled && supported.has_value(),
      !options.enabled ? "OFF (jail: off): VMMs run unconfined as the caller"
                       : supported.has_value() ? "on: every VMM gets its own uid, namespaces, minimal root and cgroup"
                                        : supported.error().message());
  return out;
}

}  // namespace firerun
