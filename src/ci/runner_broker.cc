#include "ci/runner_broker.h"

#include "ci/github/github_broker.h"
#include "ci/gitlab/gitlab_broker.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>

namespace firerun::ci {

std::string SettingsReader::text(const std::string& key, const std::string& fallback) {
  used_.insert(key);
  auto it = settings_.find(key);
  return it == settings_.end() || it->second.empty() ? fallback : it->second;
}

Result<std::uint64_t> SettingsReader::number(const std::string& key, std::uint64_t fallback) {
  std::string value = text(key);
  if (value.empty()) return fallback;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n == 0)
    return make_error(Errc::invalid_argument, prefix_ + key + ": must be a positive integer");
  return n;
}

Result<std::optional<SecretString>> SettingsReader::secret(const std::string& key) {
  std::string direct = text(key);
  std::string file = text(key + "_file");
  if (!direct.empty() && !file.empty())
    return make_error(Errc::invalid_argument, prefix_ + key + ": give either " + key + " or " + key + "_file, not both");
  if (!direct.empty()) return std::optional<SecretString>(SecretString(std::move(direct)));
  if (file.empty()) return std::optional<SecretString>();
  FIRERUN_TRY(auto value, read_secret_file(file, prefix_ + key + "_file"));
  return std::optional<SecretString>(std::move(value));
}

Status SettingsReader::reject_unknown() const {
  for (const auto& [key, value] : settings_)
    if (!used_.count(key)) return make_error(Errc::invalid_argument, prefix_ + key + ": unknown key");
  return {};
}

Status read_retry_settings(SettingsReader& settings, RestClientOptions& options) {
  FIRERUN_TRY(auto attempts, settings.number("retry_attempts", options.retry.max_attempts));
  FIRERUN_TRY(auto initial, settings.number("retry_initial_backoff_ms",
                                            static_cast<std::uint64_t>(options.retry.initial_backoff.count())));
  FIRERUN_TRY(auto ceiling, settings.number("retry_max_backoff_ms",
                                            static_cast<std::uint64_t>(options.retry.max_backoff.count())));
  options.retry.max_attempts = static_cast<unsigned>(std::min<std::uint64_t>(attempts, 100));
  options.retry.initial_backoff = std::chrono::milliseconds(initial);
  options.retry.max_backoff = std::chrono::milliseconds(ceiling);
  return {};
}

std::string shell_quote(std::string_view word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

Status register_builtin_runner_brokers(RunnerBrokerRegistry& registry) {
  FIRERUN_CHECK(registry.add(github::make_broker_factory()));
  return registry.add(gitlab::make_broker_factory());
}

}  // namespace firerun::ci
