// JSON shapes of the HTTP API: request parsing (with limits) and response
// building for /v1 and the Piston-compatible /api/v2. Pure functions: no I/O.
#pragma once

#include "config.h"
#include "firerun/error.h"
#include "firerun/sandbox.h"
#include "firerun/scheduler.h"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace firerun::daemon {

/// A validated execution request plus the VM shape it asked for.
struct ExecuteInput {
  sandbox::CodeRequest request;
  std::uint64_t memory_mb = 0;  ///< 0 = default (raised to the language minimum later)
  unsigned vcpus = 1;
  /// "output_encoding": "base64": the result also carries stdout_base64 and
  /// stderr_base64, the exact bytes (stdout/stderr are always valid UTF-8 text).
  bool output_base64 = false;
};

/// Parses a `/v1/execute` or `/v1/jobs` body. With `limits`, enforces them
/// (sizes → limit_exceeded, ranges → invalid_argument); nullptr when re-reading
/// our own stored payloads.
Result<ExecuteInput> parse_execute(std::string_view body, const Limits* limits);
/// Parses a Piston `/api/v2/execute` body (first file is the main source;
/// utf8/base64/hex encodings).
Result<ExecuteInput> parse_piston_execute(std::string_view body, const Limits& limits);
/// The stored job payload (normalised /v1 request JSON, round-trips through parse_execute).
std::string payload_json(const ExecuteInput& input);

/// The /v1/execute response for a finished run (stored as the job result).
/// Output that is not valid UTF-8 has U+FFFD in its text fields; with
/// `with_base64` the exact bytes are added as stdout_base64 / stderr_base64.
std::string execute_result_json(const std::string& trace_id, const sandbox::CodeResult& result, bool with_base64);
/// Converts a stored /v1 result into Piston's `{language, version, run, compile?}`.
Result<boost::json::object> piston_result(std::string_view result_json, bool compiled_language);

/// `{id, status, attempts, created_at, ...}` for GET /v1/jobs/{id}.
boost::json::object job_json(const scheduler::JobRecord& record);
/// `{"error": {"code": ..., "message": ...}}`.
std::string error_json(const Error& error);
/// HTTP status for an error condition.
unsigned http_status_for(Errc e) noexcept;
/// "SIGKILL" for 9; "SIG<n>" when unknown.
std::string signal_name(int signal);

}  // namespace firerun::daemon
