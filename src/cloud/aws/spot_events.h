// Spot interruption notices: the EventBridge "EC2 Spot Instance Interruption
// Warning" event and the IMDS spot/instance-action document, parsed into one
// typed value. Errors are Errc::protocol and never quote the input.
#pragma once

#include "firerun/error.h"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace firerun::cloud::aws {

enum class SpotAction { terminate, stop, hibernate, unknown };

/// "terminate" / "stop" / "hibernate" / "unknown".
std::string_view to_string(SpotAction a) noexcept;

struct SpotInterruption {
  std::string instance_id;  ///< empty for IMDS (it is "this" instance)
  SpotAction action = SpotAction::unknown;
  /// When the action happens (IMDS) or when the event was emitted (EventBridge); nullopt when the
  /// document carries no valid time (the docs' examples use a placeholder).
  std::optional<std::chrono::system_clock::time_point> time;
  std::string region;             ///< EventBridge only
  std::string availability_zone;  ///< from the resource ARN, EventBridge only
};

/// An EventBridge event whose detail-type is "EC2 Spot Instance Interruption Warning".
/// Other detail-types are Errc::invalid_argument (so a router can tell "not mine" from garbage).
Result<SpotInterruption> parse_spot_interruption_event(std::string_view json);
/// The body of GET /latest/meta-data/spot/instance-action.
Result<SpotInterruption> parse_imds_spot_instance_action(std::string_view json);
/// The body of the legacy GET /latest/meta-data/spot/termination-time (a bare timestamp).
Result<SpotInterruption> parse_imds_termination_time(std::string_view text);
/// Any of the three, told apart by content: a JSON object with "detail-type" is an EventBridge event,
/// one with "action" an IMDS instance-action document, other text a termination time. An IMDS
/// rebalance recommendation ({"noticeTime": ...}) is Errc::invalid_argument like other non-warnings.
Result<SpotInterruption> parse_spot_notice(std::string_view text);

}  // namespace firerun::cloud::aws
