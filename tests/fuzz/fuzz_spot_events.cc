// Spot interruption notices: the EventBridge event, the IMDS instance-action
// document, the legacy termination-time text and the dispatching
// parse_spot_notice() on arbitrary bytes.
#include "cloud/aws/spot_events.h"

#include <cstdlib>

using namespace firerun::cloud::aws;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto event = parse_spot_interruption_event(text);
  if (!event && event.error() != firerun::Errc::protocol && event.error() != firerun::Errc::invalid_argument) std::abort();
  if (event && event->instance_id.empty()) std::abort();
  auto action = parse_imds_spot_instance_action(text);
  if (!action && action.error() != firerun::Errc::protocol) std::abort();
  if (action && (action->action == SpotAction::unknown || !action->time)) std::abort();
  auto legacy = parse_imds_termination_time(text);
  if (!legacy && legacy.error() != firerun::Errc::protocol) std::abort();
  auto notice = parse_spot_notice(text);
  if (!notice && notice.error() != firerun::Errc::protocol && notice.error() != firerun::Errc::invalid_argument)
    std::abort();
  return 0;
}
