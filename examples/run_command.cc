// Minimal embedding of firerun: boot a fresh VM from a cached image, run one
// command, print its output, destroy the VM.
//
//   run_command [--cache DIR] IMAGE -- COMMAND [ARGS...]
#include <firerun/blocking.h>
#include <firerun/image.h>

#include <cstdio>
#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  std::filesystem::path cache;
  int i = 1;
  if (i + 1 < argc && std::strcmp(argv[i], "--cache") == 0) {
    cache = argv[i + 1];
    i += 2;
  }
  if (i + 2 >= argc || std::strcmp(argv[i + 1], "--") != 0) {
    std::fprintf(stderr, "usage: %s [--cache DIR] IMAGE -- COMMAND [ARGS...]\n", argv[0]);
    return 2;
  }
  try {
    auto image = firerun::image::find_image(argv[i], cache).value();
    firerun::VmSpec spec;
    spec.kernel = image.kernel;
    spec.initrd = image.initrd;
    spec.kernel_cmdline = image.cmdline;
    spec.memory_mib = 512;

    auto runtime = std::make_shared<firerun::blocking::Runtime>();
    auto vm = firerun::blocking::Vm::create(runtime, "qemu", spec).value();
    vm->start().value();

    firerun::ExecRequest request;
    request.argv.assign(argv + i + 2, argv + argc);
    auto result = vm->exec(request).value();
    vm->stop().value();

    std::cout << result.stdout_data;
    std::cerr << result.stderr_data;
    return result.exit_code.value_or(128 + result.signal.value_or(0));
  } catch (const firerun::Exception& e) {
    std::fprintf(stderr, "run_command: %s\n", e.what());
    return 1;
  }
}
