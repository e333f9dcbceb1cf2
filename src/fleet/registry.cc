// The shared-queue registry and its built-in backends.
#include "firerun/fleet.h"

#include "fleet/redis_queue.h"

namespace firerun::fleet {

Status register_builtin_shared_queues(SharedQueueRegistry& registry) {
  return registry.add(detail::make_redis_queue_factory());
}

SharedQueueRegistry& shared_queues() {
  static SharedQueueRegistry* registry = [] {
    auto* r = new SharedQueueRegistry;  // never destroyed: usable from static destructors
    (void)register_builtin_shared_queues(*r);
    return r;
  }();
  return *registry;
}

Result<std::unique_ptr<SharedQueue>> open_shared_queue(std::string_view uri, const QueueOptions& options) {
  FIRERUN_TRY(auto factory, shared_queues().find(uri));
  return add_context(factory->open(uri, options), "opening the shared queue");
}

}  // namespace firerun::fleet
