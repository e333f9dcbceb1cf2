// QMP (QEMU Machine Protocol) messages: the typed form of one line the server
// sends, and the pure parser/formatter for them. No I/O lives here, so it can
// be unit tested and fuzzed on its own; QmpClient does the socket side.
#pragma once

#include "firerun/error.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace firerun::qemu {

/// Deepest JSON nesting accepted from the server (QEMU's own parser allows more,
/// but real replies such as long backing chains stay far below this).
inline constexpr std::size_t kQmpMaxJsonDepth = 256;

/// The server's version as announced in the greeting (same shape as query-version).
struct QmpVersion {
  std::int64_t major = 0;  ///< e.g. 7
  std::int64_t minor = 0;  ///< e.g. 2
  std::int64_t micro = 0;  ///< e.g. 22
  std::string package;     ///< distribution build string, may be empty
};

/// `{"QMP": {"version": ..., "capabilities": [...]}}`, sent once on connect.
struct QmpGreeting {
  QmpVersion version;                      ///< server version
  std::vector<std::string> capabilities;   ///< e.g. {"oob"}
};

/// `{"return": value, "id": id}`: a command succeeded.
struct QmpReturn {
  boost::json::value value;               ///< the command's result ({} when it returns nothing)
  std::optional<boost::json::value> id;   ///< echoed transaction id, absent if none was sent
};

/// `{"error": {"class": c, "desc": d}, "id": id}`: a command failed.
struct QmpErrorReply {
  std::string error_class;                ///< e.g. "CommandNotFound", "GenericError"
  std::string desc;                       ///< human-readable; not meant to be parsed
  std::optional<boost::json::value> id;   ///< absent when the server could not read the command's id
};

/// Event time as sent by QEMU; both are -1 when the host clock failed.
struct QmpTimestamp {
  std::int64_t seconds = 0;       ///< seconds since the Unix epoch
  std::int64_t microseconds = 0;  ///< sub-second part
};

/// `{"event": name, "data": {...}, "timestamp": {...}}`: asynchronous notification.
struct QmpEvent {
  std::string name;           ///< e.g. "SHUTDOWN", "STOP"
  boost::json::object data;   ///< event-specific members; empty when the server sent none
  QmpTimestamp timestamp;     ///< when it happened in the server
};

/// One server message.
using QmpMessage = std::variant<QmpGreeting, QmpReturn, QmpErrorReply, QmpEvent>;

/// Parses one server line (a single JSON object; trailing CR/LF and surrounding
/// whitespace are ignored). Unknown extra members are ignored as the spec asks;
/// malformed JSON, non-objects, unknown or ambiguous shapes and wrongly typed
/// members give Errc::protocol.
Result<QmpMessage> parse_qmp_message(std::string_view line);

/// Serialises a command line (without the trailing newline):
/// `{"execute": command, "arguments": args, "id": id}`; "arguments" is left out
/// when empty. Errc::invalid_argument for an empty command name.
Result<std::string> format_qmp_command(std::string_view command, const boost::json::object& args,
                                       std::optional<std::uint64_t> id);

/// Short name of a message's kind ("greeting", "return", "error", "event") for diagnostics.
const char* qmp_message_kind(const QmpMessage& message) noexcept;

}  // namespace firerun::qemu
