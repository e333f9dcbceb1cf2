#include "vm/qemu/argv_builder.h"

namespace firerun::qemu {
namespace {

// Device names differ between the virtio-mmio (microvm) and virtio-pci (pc) transports.
struct Transport {
  const char* serial_bus;
  const char* blk;
  const char* rng;
  const char* net;
};

Transport transport_for(const std::string& machine) {
  if (machine == "microvm")
    return {"virtio-serial-device", "virtio-blk-device", "virtio-rng-device", "virtio-net-device"};
  return {"virtio-serial-pci", "virtio-blk-pci", "virtio-rng-pci", "virtio-net-pci"};
}

std::string machine_arg(const QemuOptions& options, const AccelChoice& accel) {
  std::string m = options.machine + ",accel=" + accel.name;
  // microvm: no legacy PIT/PIC needed with the TSC deadline timer; keep ACPI
  // so virtio-mmio devices are discovered and power-off works.
  if (options.machine == "microvm") m += ",isa-serial=on,rtc=on";
  return m;
}

// QEMU's option syntax splits on commas; a literal comma is written twice.
std::string escape_option_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

}  // namespace

std::string base_kernel_cmdline(const QemuOptions& options, const AccelChoice& accel) {
  // panic=-1 + QEMU's -no-reboot turn a guest panic into a prompt VMM exit.
  std::string cmdline = "console=ttyS0 reboot=t panic=-1 quiet loglevel=4 random.trust_cpu=on";
  // Under TCG, TSC calibration on microvm hangs about one boot in six unless
  // the frequency is preset (measured: 10 of 10 boots with these values).
  if (accel.name == "tcg") cmdline += " tsc_early_khz=2500000 lpj=5000000";
  if (options.machine == "microvm") cmdline += " pci=off";
  return cmdline;
}

std::string guest_network_cmdline() {
  // User-mode networking's fixed plan: the agent configures eth0 from this at
  // boot, so there is no DHCP wait. Not a secret.
  return "firerun.net=10.0.2.15/24,10.0.2.2,10.0.2.3,1500";
}

std::vector<std::string> build_qemu_argv(const QemuOptions& options, const VmSpec& spec, const AccelChoice& accel,
                                         const ChannelFds& fds) {
  const Transport t = transport_for(options.machine);
  std::vector<std::string> a = {
      options.binary,
      "-name", spec.name,
      "-machine", machine_arg(options, accel),
      "-cpu", accel.name == "kvm" ? "host" : "max",
      "-smp", std::to_string(spec.vcpus),
      "-m", std::to_string(spec.memory_mib) + "M",
      "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
      "-kernel", spec.kernel.string(),
  };
  if (!spec.initrd.empty()) a.insert(a.end(), {"-initrd", spec.initrd.string()});

  std::string cmdline = base_kernel_cmdline(options, accel);
  if (spec.root_drive) cmdline += std::string(" root=/dev/vda") + (spec.root_drive->read_only ? " ro" : " rw");
  if (spec.network) cmdline += " " + guest_network_cmdline();
  if (!spec.kernel_cmdline.empty()) cmdline += " " + spec.kernel_cmdline;
  a.insert(a.end(), {"-append", cmdline});

  a.insert(a.end(), {"-chardev", "socket,id=console,fd=" + std::to_string(fds.console), "-serial", "chardev:console"});
  a.insert(a.end(), {"-chardev", "socket,id=agent,fd=" + std::to_string(fds.agent), "-device", t.serial_bus,
                     "-device", std::string("virtserialport,chardev=agent,name=") + kAgentPortName});
  a.insert(a.end(), {"-chardev", "socket,id=qmp,fd=" + std::to_string(fds.qmp), "-mon", "chardev=qmp,mode=control"});
  a.insert(a.end(), {"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", std::string(t.rng) + ",rng=rng0"});

  std::vector<DriveSpec> drives;
  if (spec.root_drive) drives.push_back(*spec.root_drive);
  drives.insert(drives.end(), spec.drives.begin(), spec.drives.end());
  for (std::size_t i = 0; i < drives.size(); ++i) {
    std::string id = "drive" + std::to_string(i);
    a.insert(a.end(), {"-drive", "id=" + id + ",file=" + escape_option_value(drives[i].path.string()) + ",if=none,format=raw" +
                                     (drives[i].read_only ? ",readonly=on" : ""),
                       "-device", std::string(t.blk) + ",drive=" + id});
  }
  if (spec.network)
    a.insert(a.end(), {"-netdev", "user,id=net0,ipv6=off", "-device", std::string(t.net) + ",netdev=net0"});
  if (fds.incoming >= 0) a.insert(a.end(), {"-incoming", "fd:" + std::to_string(fds.incoming)});
  if (options.sandbox)
    a.insert(a.end(), {"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"});
  return a;
}

}  // namespace firerun::qemu
