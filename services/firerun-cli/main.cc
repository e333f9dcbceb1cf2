// firerun: run a command in a fresh microVM, build images, list backends.
#include "cli.h"
#include "firerun/version.h"
#include "firerun/jail.h"
#include "firerun/vm.h"

#include <cstdio>

int main(int argc, char** argv) {
  using namespace firerun;
  CLI::App app{"firerun: run untrusted work in throwaway microVMs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", FIRERUN_VERSION_STRING);
  int exit_code = 0;

  cli::add_run_command(app, exit_code);
  cli::add_image_commands(app, exit_code);
  cli::add_store_commands(app, exit_code);
  cli::add_fleet_commands(app, exit_code);

  auto* backends = app.add_subcommand("backends", "List the VM backends built into this firerun");
  backends->callback([] {
    for (const auto& b : vm_backends().list()) {
      std::string req;
      for (const auto& r : b.requires_) req += (req.empty() ? "" : ",") + r;
      std::printf("%-18s %-13s requires=%-20s %s\n", b.name.c_str(), b.status.c_str(), req.c_str(),
                  b.description.c_str());
    }
  });

  auto* doctor = app.add_subcommand("doctor", "What this host supports for running jailed microVMs, and what firerun will use");
  doctor->callback([&exit_code] {
    bool all_ok = true;
    for (const auto& check : check_host(JailOptions{})) {
      std::printf("%-4s %-40s %s\n", check.ok ? "ok" : "--", check.what.c_str(), check.detail.c_str());
      if (check.what == "jail") all_ok = check.ok;
    }
    exit_code = all_ok ? 0 : 1;
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : cli::kExitFirerunError;
  }
  return exit_code;
}
