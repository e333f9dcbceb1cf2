#include "cloud/aws/ec2_errors.h"

#include <array>

namespace firerun::cloud::aws {
namespace {

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

template <std::size_t N>
bool one_of(std::string_view code, const std::array<std::string_view, N>& list) {
  for (auto c : list)
    if (c == code) return true;
  return false;
}

}  // namespace

std::string_view to_string(Ec2ErrorKind kind) noexcept {
  switch (kind) {
    case Ec2ErrorKind::capacity: return "capacity";
    case Ec2ErrorKind::throttling: return "throttling";
    case Ec2ErrorKind::server: return "server";
    case Ec2ErrorKind::auth: return "auth";
    case Ec2ErrorKind::quota: return "quota";
    case Ec2ErrorKind::not_found: return "not_found";
    case Ec2ErrorKind::conflict: return "conflict";
    case Ec2ErrorKind::unsupported: return "unsupported";
    case Ec2ErrorKind::dry_run: return "dry_run";
    case Ec2ErrorKind::invalid_request: return "invalid_request";
  }
  return "invalid_request";
}

Ec2ErrorKind classify_ec2_error(std::string_view code) noexcept {
  static constexpr std::array<std::string_view, 13> auth = {
      "AuthFailure", "UnauthorizedOperation", "Blocked", "IncompleteSignature", "InvalidClientTokenId",
      "MissingAuthenticationToken", "OptInRequired", "PendingVerification", "SignatureDoesNotMatch",
      "RequestExpired", "InvalidSecurity.RequestHasExpired", "SubscriptionRequired", "AccessDenied"};
  static constexpr std::array<std::string_view, 5> throttling = {
      "RequestLimitExceeded", "Throttling", "ThrottlingException", "BandwidthLimitExceeded", "TooManyRequests"};
  static constexpr std::array<std::string_view, 6> server = {
      "InternalError", "InternalFailure", "ServerInternal", "ServiceUnavailable", "Unavailable", "ServiceUnavailableException"};
  // Pool-specific failures: another instance type or AZ may well succeed.
  static constexpr std::array<std::string_view, 6> capacity = {
      "UnfulfillableCapacity", "SpotMaxPriceTooLow", "InsufficientFreeAddressesInSubnet",
      "ReservedInstancesUnavailable", "ScheduledInstanceSlotUnavailable", "UnavailableHostRequirements"};

  if (code == "DryRunOperation") return Ec2ErrorKind::dry_run;
  if (one_of(code, auth)) return Ec2ErrorKind::auth;
  if (one_of(code, throttling)) return Ec2ErrorKind::throttling;
  if (one_of(code, server)) return Ec2ErrorKind::server;
  if (code.starts_with("Insufficient") || one_of(code, capacity)) return Ec2ErrorKind::capacity;
  if (contains(code, "NotFound")) return Ec2ErrorKind::not_found;
  if (contains(code, "LimitExceeded") || contains(code, "Exceeded") || code.ends_with("Limit"))
    return Ec2ErrorKind::quota;
  if (code.starts_with("Unsupported") || contains(code, ".Unsupported") || contains(code, "NotSupported") ||
      code == "InvalidAMIID.Unavailable")
    return Ec2ErrorKind::unsupported;
  if (contains(code, "Duplicate") || contains(code, "AlreadyExists") || contains(code, "InUse") ||
      contains(code, "IncorrectState") || contains(code, "IncorrectInstanceState") || contains(code, "InvalidState") ||
      contains(code, "Conflict") || code == "IdempotentParameterMismatch" || code == "DependencyViolation")
    return Ec2ErrorKind::conflict;
  return Ec2ErrorKind::invalid_request;
}

Errc errc_for(Ec2ErrorKind kind) noexcept {
  switch (kind) {
    case Ec2ErrorKind::capacity:
    case Ec2ErrorKind::throttling:
    case Ec2ErrorKind::quota: return Errc::limit_exceeded;
    case Ec2ErrorKind::server: return Errc::backend_failed;
    case Ec2ErrorKind::auth: return Errc::auth;
    case Ec2ErrorKind::not_found: return Errc::not_found;
    case Ec2ErrorKind::conflict: return Errc::bad_state;
    case Ec2ErrorKind::unsupported: return Errc::unsupported;
    case Ec2ErrorKind::dry_run: return Errc::ok;
    case Ec2ErrorKind::invalid_request: return Errc::invalid_argument;
  }
  return Errc::invalid_argument;
}

Error Ec2Error::to_error(std::string_view action) const {
  std::string msg;
  if (kind == Ec2ErrorKind::capacity) msg = "insufficient capacity: ";
  msg += "EC2 " + std::string(action) + ": " + (code.empty() ? "HTTP error" : code);
  if (!message.empty()) msg += ": " + message;
  msg += " (";
  if (!request_id.empty()) msg += "request " + request_id + ", ";
  msg += "HTTP " + std::to_string(http_status) + ")";
  // A dry run "error" is success; callers check the kind before converting, so this is a bug guard.
  return make_error(kind == Ec2ErrorKind::dry_run ? Errc::internal : errc_for(kind), std::move(msg));
}

}  // namespace firerun::cloud::aws
