#include "cloud/aws/spot_events.h"

#include "cloud/aws/credential_providers.h"

#include <boost/json.hpp>

namespace firerun::cloud::aws {
namespace {

constexpr std::size_t kMaxDocument = 256u << 10;

Error bad(std::string_view what, std::string detail) {
  return make_error(Errc::protocol, "malformed " + std::string(what) + ": " + std::move(detail));
}

Result<boost::json::object> parse_object(std::string_view json, std::string_view what) {
  if (json.size() > kMaxDocument) return bad(what, "larger than " + std::to_string(kMaxDocument) + " bytes");
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 32;
  auto value = boost::json::parse(json, ec, {}, opts);
  if (ec) return bad(what, "invalid JSON (" + ec.message() + ")");
  if (!value.is_object()) return bad(what, "expected a JSON object");
  return std::move(value.as_object());
}

Result<std::string> string_field(const boost::json::object& obj, std::string_view key, std::string_view what) {
  auto* v = obj.if_contains(key);
  if (!v) return bad(what, "missing \"" + std::string(key) + "\"");
  if (!v->is_string()) return bad(what, "\"" + std::string(key) + "\" is not a string");
  return std::string(v->as_string());
}

SpotAction parse_action(std::string_view s) {
  if (s == "terminate") return SpotAction::terminate;
  if (s == "stop") return SpotAction::stop;
  if (s == "hibernate") return SpotAction::hibernate;
  return SpotAction::unknown;
}

}  // namespace

std::string_view to_string(SpotAction a) noexcept {
  switch (a) {
    case SpotAction::terminate: return "terminate";
    case SpotAction::stop: return "stop";
    case SpotAction::hibernate: return "hibernate";
    case SpotAction::unknown: return "unknown";
  }
  return "unknown";
}

Result<SpotInterruption> parse_spot_interruption_event(std::string_view json) {
  constexpr std::string_view what = "spot interruption event";
  FIRERUN_TRY(auto obj, parse_object(json, what));
  FIRERUN_TRY(auto detail_type, string_field(obj, "detail-type", what));
  if (detail_type != "EC2 Spot Instance Interruption Warning")
    return make_error(Errc::invalid_argument, "not a spot interruption warning (detail-type '" + detail_type + "')");
  FIRERUN_TRY(auto source, string_field(obj, "source", what));
  if (source != "aws.ec2") return bad(what, "source is not aws.ec2");
  auto* detail = obj.if_contains("detail");
  if (!detail || !detail->is_object()) return bad(what, "missing \"detail\" object");
  SpotInterruption out;
  FIRERUN_TRY(out.instance_id, string_field(detail->as_object(), "instance-id", what));
  if (out.instance_id.empty()) return bad(what, "empty instance-id");
  FIRERUN_TRY(auto action, string_field(detail->as_object(), "instance-action", what));
  out.action = parse_action(action);
  if (auto* region = obj.if_contains("region"); region && region->is_string()) out.region = region->as_string();
  if (auto* time = obj.if_contains("time"); time && time->is_string()) {
    auto t = parse_iso8601_utc(time->as_string());
    if (t) out.time = *t;  // the documented example holds a placeholder; keep nullopt then
  }
  // "arn:aws:ec2:<az>:instance/<id>" (the docs' form) or "arn:aws:ec2:<region>:<account>:instance/<id>".
  if (auto* resources = obj.if_contains("resources"); resources && resources->is_array()) {
    for (const auto& r : resources->as_array()) {
      if (!r.is_string()) continue;
      std::string_view arn = r.as_string();
      if (!arn.starts_with("arn:aws:ec2:")) continue;
      arn.remove_prefix(12);
      auto zone = arn.substr(0, arn.find(':'));
      if (!zone.empty() && zone.size() > out.region.size() && zone.starts_with(out.region) &&
          std::isalpha(static_cast<unsigned char>(zone.back())))
        out.availability_zone = std::string(zone);
    }
  }
  return out;
}

Result<SpotInterruption> parse_imds_spot_instance_action(std::string_view json) {
  constexpr std::string_view what = "IMDS spot/instance-action document";
  FIRERUN_TRY(auto obj, parse_object(json, what));
  SpotInterruption out;
  FIRERUN_TRY(auto action, string_field(obj, "action", what));
  out.action = parse_action(action);
  if (out.action == SpotAction::unknown) return bad(what, "unknown action");
  FIRERUN_TRY(auto time, string_field(obj, "time", what));
  auto t = parse_iso8601_utc(time);
  if (!t) return bad(what, "\"time\" is not an ISO 8601 UTC time");
  out.time = *t;
  return out;
}

Result<SpotInterruption> parse_imds_termination_time(std::string_view text) {
  constexpr std::string_view what = "IMDS spot/termination-time";
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text.size() > 64) return bad(what, "too long");
  auto t = parse_iso8601_utc(text);
  if (!t) return bad(what, "not an ISO 8601 UTC time");
  SpotInterruption out;
  out.action = SpotAction::terminate;
  out.time = *t;
  return out;
}

Result<SpotInterruption> parse_spot_notice(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') return parse_imds_termination_time(text);
  constexpr std::string_view what = "spot notice";
  FIRERUN_TRY(auto obj, parse_object(text, what));
  if (obj.contains("detail-type")) return parse_spot_interruption_event(text);
  if (obj.contains("action")) return parse_imds_spot_instance_action(text);
  if (obj.contains("noticeTime"))
    return make_error(Errc::invalid_argument, "not a spot interruption warning (an IMDS rebalance recommendation)");
  return bad(what, "neither an EventBridge event nor an IMDS spot document");
}

}  // namespace firerun::cloud::aws
