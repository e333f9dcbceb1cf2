// EC2 Query API requests: "Action=...&Version=..." forms with flattened
// parameter names. EC2 lists are always flattened with 1-based indexes
// ("InstanceId.1"), nested structures join with '.'
// ("TagSpecification.1.Tag.1.Key", "Filter.1.Value.2",
// "LaunchTemplateConfigs.1.Overrides.3.InstanceType").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace firerun::cloud::aws {

/// The EC2 API version firerun speaks.
inline constexpr std::string_view kEc2ApiVersion = "2016-11-15";

/// "<prefix>.<index>" / "<prefix>.<index>.<member>": the EC2 flattening of list items.
std::string query_key(std::string_view prefix, std::size_t index, std::string_view member = {});

/// One EC2 filter ("Filter.N.Name" with "Filter.N.Value.M" values).
struct Ec2Filter {
  std::string name;
  std::vector<std::string> values;
};

/// An EC2 Query request being built; parameters keep insertion order.
class QueryParams {
 public:
  explicit QueryParams(std::string action, std::string version = std::string(kEc2ApiVersion));

  const std::string& action() const noexcept { return action_; }
  const std::string& version() const noexcept { return version_; }
  const std::vector<std::pair<std::string, std::string>>& params() const noexcept { return params_; }
  /// Value of a parameter or nullptr (for tests and for the retry logger).
  const std::string* find(std::string_view key) const;

  /// Sets key=value (replaces an earlier value of the same key).
  QueryParams& set(std::string key, std::string value);
  QueryParams& set(std::string key, const char* value) { return set(std::move(key), std::string(value)); }
  QueryParams& set(std::string key, std::int64_t value) { return set(std::move(key), std::to_string(value)); }
  QueryParams& set(std::string key, std::uint64_t value) { return set(std::move(key), std::to_string(value)); }
  QueryParams& set(std::string key, int value) { return set(std::move(key), std::to_string(value)); }
  QueryParams& set(std::string key, unsigned value) { return set(std::move(key), std::to_string(value)); }
  /// "true" / "false".
  QueryParams& set_bool(std::string key, bool value) { return set(std::move(key), value ? "true" : "false"); }
  /// prefix.1=v1, prefix.2=v2, ...
  QueryParams& set_list(std::string_view prefix, const std::vector<std::string>& values);
  /// prefix.N.Key / prefix.N.Value for each tag (prefix "Tag" or "TagSpecification.1.Tag").
  QueryParams& set_tags(std::string_view prefix, const std::map<std::string, std::string>& tags);
  /// Filter.N.Name / Filter.N.Value.M.
  QueryParams& set_filters(const std::vector<Ec2Filter>& filters);

  /// The form body: "Action=..&Version=..&k=v.." with RFC 3986 percent-encoding.
  std::string encode() const;

 private:
  std::string action_;
  std::string version_;
  std::vector<std::pair<std::string, std::string>> params_;
};

}  // namespace firerun::cloud::aws
