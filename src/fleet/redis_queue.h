// The "redis" shared-queue backend (hiredis, blocking; see docs/fleet.md for the keys).
#pragma once

#include "firerun/fleet.h"

#include <chrono>
#include <string>

namespace firerun::fleet::detail {

/// What a redis:// URI says: redis://[[user]:password@]host[:port][/db][?prefix=P&timeout_ms=N].
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  unsigned port = 6379;
  unsigned db = 0;
  std::string user;
  std::string password;  ///< never logged
  std::string prefix = "firerun";
  std::chrono::milliseconds timeout{2000};  ///< connect and per-command
};

/// Parses a redis:// URI; errors name the bad part but never include the password.
Result<RedisEndpoint> parse_redis_uri(std::string_view uri);

/// The registry entry for "redis".
std::shared_ptr<SharedQueueFactory> make_redis_queue_factory();

}  // namespace firerun::fleet::detail
