#include "fleet/spot_watch.h"

#include <ctime>

namespace firerun::fleet {

namespace {
cloud::aws::ImdsOptions imds_options(std::string endpoint) {
  cloud::aws::ImdsOptions o;
  while (endpoint.ends_with('/')) endpoint.pop_back();
  o.endpoint = std::move(endpoint);
  return o;
}
}  // namespace

SpotWatcher::SpotWatcher(std::string imds_endpoint) : session_(imds_options(std::move(imds_endpoint))) {}

Result<std::optional<cloud::aws::SpotInterruption>> SpotWatcher::poll() {
  FIRERUN_TRY(auto response, add_context(session_.get("/latest/meta-data/spot/instance-action"),
                                         "polling " + session_.options().endpoint + " for a spot interruption"));
  if (response.status == 404) return std::optional<cloud::aws::SpotInterruption>();
  if (response.status != 200)
    return make_error(Errc::protocol, "IMDS spot/instance-action returned HTTP " + std::to_string(response.status));
  FIRERUN_TRY(auto notice, cloud::aws::parse_imds_spot_instance_action(response.body));
  return std::optional<cloud::aws::SpotInterruption>(std::move(notice));
}

std::string describe(const cloud::aws::SpotInterruption& notice) {
  std::string when = "unknown";
  if (notice.time) {
    std::time_t t = std::chrono::system_clock::to_time_t(*notice.time);
    std::tm tm{};
    char buf[32];
    if (::gmtime_r(&t, &tm) && std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm)) when = buf;
  }
  return "spot interruption: " + std::string(cloud::aws::to_string(notice.action)) + " at " + when;
}

}  // namespace firerun::fleet
