// firerun-agent: the guest side of firerun. Runs as /init (PID 1) in the
// microVM's initramfs and serves the agent protocol on a virtio-serial port.
// `--serve-fd N` / `--serve-stdio` serve the same protocol on inherited file
// descriptors without touching the system, so host tests can run the real agent.
#include "firerun/version.h"
#include "init.h"
#include "server.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

using namespace firerun::agent;

constexpr int kPortWaitMs = 10'000;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: firerun-agent              run as the guest's init (PID 1 only)\n"
               "       firerun-agent --serve-fd N serve the agent protocol on fd N\n"
               "       firerun-agent --serve-stdio serve on stdin/stdout\n"
               "       firerun-agent --version\n");
}

[[noreturn]] void run_as_init() {
  init_system();
  log_line(std::string("starting, version ") + FIRERUN_VERSION_STRING);
  int port = open_agent_port(kPortWaitMs);
  if (port < 0) power_off("fatal: cannot reach the host");
  for (;;) {
    if (serve(port, port, ServeOptions{true}) == ServeEnd::shutdown) power_off("shutdown requested");
    // The host end of a virtio-serial port can go away and come back; wait for it.
    log_line("host disconnected; waiting for it to reconnect");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 1) {
    if (::getpid() != 1) {
      std::fprintf(stderr, "firerun-agent: refusing to act as init when not PID 1 (see --help)\n");
      return 2;
    }
    run_as_init();
  }
  std::string arg = argv[1];
  if (arg == "--serve-fd" && argc == 3) {
    char* end = nullptr;
    long fd = std::strtol(argv[2], &end, 10);
    if (!end || *end != '\0' || fd < 0 || fd > 65535) {
      std::fprintf(stderr, "firerun-agent: invalid fd '%s'\n", argv[2]);
      return 2;
    }
    serve(static_cast<int>(fd), static_cast<int>(fd), ServeOptions{false});
    return 0;
  }
  if (arg == "--serve-stdio" && argc == 2) {
    serve(0, 1, ServeOptions{false});
    return 0;
  }
  if (arg == "--version") {
    std::printf("firerun-agent %s\n", FIRERUN_VERSION_STRING);
    return 0;
  }
  usage(arg == "--help" ? stdout : stderr);
  return arg == "--help" ? 0 : 2;
}
