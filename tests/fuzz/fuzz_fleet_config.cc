// Fleet YAML (`firerun fleet --config`): parse_fleet_config() on arbitrary
// text, then user-data rendering of whatever parses. Only configuration
// errors are allowed, and a parsed config must satisfy its own invariants.
#include "cloud/fleet_config.h"

#include <cstdlib>

using namespace firerun::cloud;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = parse_fleet_config(text, "fuzz.yaml", "/nonexistent-fuzz-dir");
  if (!config) {
    if (config.error() != firerun::Errc::invalid_argument && config.error() != firerun::Errc::not_found) std::abort();
    return 0;
  }
  if (config->pool.empty() || config->provider.empty() || !config->request.validate()) std::abort();
  if (config->request.tags.at(std::string(kPoolTag)) != config->pool) std::abort();
  if (config->policy.max_hosts < config->policy.min_hosts || config->policy.jobs_per_host == 0) std::abort();
  auto rendered = render_fleet_user_data(*config);
  if (!rendered && rendered.error() != firerun::Errc::invalid_argument &&
      rendered.error() != firerun::Errc::limit_exceeded)
    std::abort();
  if (rendered && !rendered->starts_with("#cloud-config\n")) std::abort();
  return 0;
}
