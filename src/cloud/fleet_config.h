// A fleet: one YAML document naming a cloud provider (from the registry), its
// options, the pool policy, the shape of new hosts and their cloud-init
// user-data. Read by `firerun fleet ...`; see docs/cloud.md for the schema.
#pragma once

#include "cloud/reconciler.h"
#include "firerun/cloud.h"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace firerun::cloud {

/// Tag that marks a host as a member of a pool ("firerun:pool": <pool name>).
inline constexpr std::string_view kPoolTag = "firerun:pool";

/// How new hosts bootstrap (see user_data.h).
struct FleetUserData {
  std::string template_text;  ///< empty = default_user_data_template()
  std::map<std::string, std::string> values;  ///< placeholder values (never secrets)
};

struct FleetConfig {
  std::string source;    ///< the document's name in messages ("fleet.yaml")
  std::string provider;  ///< registry name; kDefaultCloudProvider when absent
  CloudProviderConfig provider_options;  ///< handed to the provider's factory
  std::string pool;      ///< pool name; new hosts are tagged kPoolTag=pool
  PoolPolicy policy;
  HostRequest request;   ///< count 1; tags include kPoolTag
  std::optional<FleetUserData> user_data;
};

/// Parses a fleet document. `source` labels errors; relative `template_file` paths resolve against
/// `base_dir`. Unknown keys and bad values are Errc::invalid_argument naming the key's YAML path.
Result<FleetConfig> parse_fleet_config(std::string_view yaml, std::string_view source,
                                       const std::filesystem::path& base_dir);

/// Reads and parses a fleet file (errors are labelled with its path).
Result<FleetConfig> load_fleet_config(const std::filesystem::path& file);

/// Renders the fleet's user-data (which never holds a secret: hosts fetch theirs at boot).
/// Errors name the placeholder, never a value.
Result<std::string> render_fleet_user_data(const FleetConfig& config);

}  // namespace firerun::cloud
