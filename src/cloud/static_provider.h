// The "static" cloud provider: a fixed list of existing machines from YAML.
// provision() claims unclaimed machines that fit, terminate() releases them.
#pragma once

#include "firerun/cloud.h"

#include <string_view>

namespace firerun::cloud {

/// Parses the hosts document; `source` only labels errors ("hosts.yaml: hosts[1].vcpus: ...").
Result<std::vector<Host>> parse_static_hosts(std::string_view yaml, std::string_view source);

/// A provider over `hosts` (all start unclaimed and running).
std::unique_ptr<CloudProvider> make_static_provider(std::vector<Host> hosts);

/// Factory for the registry: options "hosts_file" (path) or "hosts_yaml" (inline text).
std::shared_ptr<CloudProviderFactory> make_static_provider_factory();

}  // namespace firerun::cloud
