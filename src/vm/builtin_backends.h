// Explicit registration of the built-in VM backends (no static initialisers:
// they are silently dropped when linking static archives).
#pragma once

#include "firerun/vm.h"

namespace firerun {
namespace qemu {
void register_backend(Registry<VmBackendFactory>& registry);
}
namespace detail {
void register_builtin_vm_backends(Registry<VmBackendFactory>& registry);
}
}  // namespace firerun
