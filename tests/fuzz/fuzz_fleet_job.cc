// Shared-queue wire entries and redis:// URIs on arbitrary bytes: only the
// documented errors, and a decoded job re-encodes to an entry that decodes the same.
#include "firerun/fleet.h"
#include "fleet/redis_queue.h"

#include <cstdlib>

using namespace firerun;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto job = fleet::decode_job(text);
  if (!job && job.error() != Errc::protocol) std::abort();
  if (job) {
    if (!fleet::valid_fleet_name(job->id) || job->resources.vcpus == 0 || job->timeout.count() <= 0) std::abort();
    auto again = fleet::decode_job(fleet::encode_job(*job));
    if (!again || again->id != job->id || again->payload != job->payload || again->kind != job->kind ||
        again->priority != job->priority || again->resources.memory_mib != job->resources.memory_mib ||
        again->timeout != job->timeout)
      std::abort();
    // Sealed with a key, it opens with that key only.
    const std::string key(32, 'k');
    const std::string sealed = fleet::encode_job(*job, key);
    if (!fleet::decode_job(sealed, key) || fleet::decode_job(sealed, std::string(32, 'x')) || fleet::decode_job(sealed))
      std::abort();
  }
  // Signed-entry parsing on arbitrary input: only protocol errors.
  if (auto keyed = fleet::decode_job(text, "fuzz-key-fuzz-key-fuzz-key-fuzz-key"); !keyed && keyed.error() != Errc::protocol)
    std::abort();
  auto uri = fleet::detail::parse_redis_uri(text);
  if (!uri && uri.error() != Errc::invalid_argument) std::abort();
  if (uri && (uri->port == 0 || uri->db > 15 || !fleet::valid_fleet_name(uri->prefix))) std::abort();
  return 0;
}
