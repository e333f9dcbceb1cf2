// EC2 error codes (Response/Errors/Error/Code) mapped to what firerun does
// about them: back off (throttling, server), skip a capacity pool (capacity),
// or give up with a typed firerun error.
#pragma once

#include "firerun/error.h"

#include <string>
#include <string_view>

namespace firerun::cloud::aws {

enum class Ec2ErrorKind {
  capacity,         ///< no capacity in this pool (InsufficientInstanceCapacity, ...): try another type/AZ
  throttling,       ///< RequestLimitExceeded and friends: back off and retry
  server,           ///< InternalError, Unavailable, HTTP 5xx: retry
  auth,             ///< AuthFailure, UnauthorizedOperation, signature problems
  quota,            ///< an account limit (VcpuLimitExceeded, ...LimitExceeded)
  not_found,        ///< *.NotFound
  conflict,         ///< duplicates, resources in use, wrong state
  unsupported,      ///< Unsupported*, not available in this AZ/region
  dry_run,          ///< DryRunOperation: the request would have succeeded
  invalid_request,  ///< malformed or invalid parameters (everything else)
};

/// "capacity", "throttling", ...
std::string_view to_string(Ec2ErrorKind kind) noexcept;
/// Classifies an EC2 error code (unknown codes are invalid_request; 5xx without a code is server).
Ec2ErrorKind classify_ec2_error(std::string_view code) noexcept;
/// The firerun condition for a kind (capacity/throttling/quota -> limit_exceeded, auth -> auth, ...).
Errc errc_for(Ec2ErrorKind kind) noexcept;
/// Worth retrying the same request after a back-off.
inline bool is_retryable(Ec2ErrorKind kind) noexcept {
  return kind == Ec2ErrorKind::throttling || kind == Ec2ErrorKind::server;
}

/// One EC2 error as returned on the wire.
struct Ec2Error {
  std::string code;        ///< "InsufficientInstanceCapacity"
  std::string message;     ///< AWS's message (ids, never secrets)
  std::string request_id;  ///< "RequestID" for support cases
  long http_status = 0;
  Ec2ErrorKind kind = Ec2ErrorKind::invalid_request;

  /// "EC2 <action>: <code>: <message> (request <id>, HTTP <status>)" with errc_for(kind);
  /// capacity errors start with "insufficient capacity".
  Error to_error(std::string_view action) const;
};

}  // namespace firerun::cloud::aws
