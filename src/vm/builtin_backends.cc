#include "vm/builtin_backends.h"

namespace firerun::detail {

void register_builtin_vm_backends(Registry<VmBackendFactory>& registry) {
  // One line per built-in backend; Firecracker and Cloud Hypervisor join here.
  qemu::register_backend(registry);
}

}  // namespace firerun::detail
