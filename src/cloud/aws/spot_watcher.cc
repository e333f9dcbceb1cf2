// The AWS provider's InterruptionWatcher: polls IMDSv2
// GET /latest/meta-data/spot/instance-action (404 = nothing scheduled).
#include "cloud/aws/spot_watcher.h"

#include "cloud/aws/credential_providers.h"
#include "cloud/aws/spot_events.h"

namespace firerun::cloud::aws {
namespace {

class SpotWatcher final : public InterruptionWatcher {
 public:
  explicit SpotWatcher(ImdsOptions options) : session_(std::move(options)) {}

  Result<std::optional<InterruptionNotice>> poll() override {
    FIRERUN_TRY(auto response, add_context(session_.get("/latest/meta-data/spot/instance-action"),
                                           "polling " + session_.options().endpoint + " for a spot interruption"));
    if (response.status == 404) return std::optional<InterruptionNotice>();
    if (response.status != 200)
      return make_error(Errc::protocol, "IMDS spot/instance-action returned HTTP " + std::to_string(response.status));
    FIRERUN_TRY(auto spot, parse_imds_spot_instance_action(response.body));
    return std::optional<InterruptionNotice>(InterruptionNotice{std::string(to_string(spot.action)), spot.time});
  }

 private:
  ImdsSession session_;
};

}  // namespace

Result<std::unique_ptr<InterruptionWatcher>> make_spot_watcher(const CloudProviderConfig& config) {
  ImdsOptions options = ImdsOptions::from_environment();
  for (const auto& [key, value] : config.options) {
    if (key != "imds_endpoint")
      return make_error(Errc::invalid_argument, "aws interruption watcher: unknown option '" + key + "'");
    std::string endpoint = value;
    while (endpoint.ends_with('/')) endpoint.pop_back();
    options.endpoint = std::move(endpoint);
  }
  return std::unique_ptr<InterruptionWatcher>(std::make_unique<SpotWatcher>(std::move(options)));
}

}  // namespace firerun::cloud::aws
