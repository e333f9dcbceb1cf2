#include "vm/qemu/qmp_message.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <string>
#include <utility>

namespace firerun::qemu {
namespace {

namespace json = boost::json;

Error protocol_error(std::string message) { return Error(Errc::protocol, "malformed QMP message: " + std::move(message)); }

// Member names come from the peer: keep them short and printable in diagnostics.
std::string printable_name(std::string_view name) {
  constexpr std::size_t kMaxShown = 32;
  std::string out;
  for (char c : name.substr(0, kMaxShown)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (name.size() > kMaxShown) out += "...";
  return out;
}

std::string member_names(const json::object& object) {
  constexpr std::size_t kMaxNames = 6;
  std::string out;
  std::size_t shown = 0;
  for (const auto& member : object) {
    if (shown == kMaxNames) {
      out += ", ...";
      break;
    }
    if (shown++ != 0) out += ", ";
    out += '"' + printable_name(member.key()) + '"';
  }
  return out.empty() ? "none" : out;
}

const char* json_kind_name(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "unknown";
}

Result<const json::object*> object_member(const json::object& parent, std::string_view key, std::string_view where) {
  const json::value* member = parent.if_contains(key);
  if (!member) return protocol_error(std::string(where) + " lacks member \"" + std::string(key) + "\"");
  if (!member->is_object())
    return protocol_error(std::string(where) + " member \"" + std::string(key) + "\" is " + json_kind_name(*member) +
                          ", expected an object");
  return &member->get_object();
}

Result<std::string> string_member(const json::object& parent, std::string_view key, std::string_view where) {
  const json::value* member = parent.if_contains(key);
  if (!member) return protocol_error(std::string(where) + " lacks member \"" + std::string(key) + "\"");
  if (!member->is_string())
    return protocol_error(std::string(where) + " member \"" + std::string(key) + "\" is " + json_kind_name(*member) +
                          ", expected a string");
  return std::string(member->get_string());
}

Result<std::int64_t> integer_member(const json::object& parent, std::string_view key, std::string_view where) {
  const json::value* member = parent.if_contains(key);
  if (!member) return protocol_error(std::string(where) + " lacks member \"" + std::string(key) + "\"");
  boost::system::error_code ec;
  auto number = member->to_number<std::int64_t>(ec);
  if (ec)
    return protocol_error(std::string(where) + " member \"" + std::string(key) + "\" is " + json_kind_name(*member) +
                          ", expected an integer in int64 range");
  return number;
}

std::optional<json::value> optional_id(const json::object& object) {
  if (const json::value* id = object.if_contains("id")) return *id;
  return std::nullopt;
}

Result<QmpMessage> parse_greeting(const json::object& message) {
  FIRERUN_TRY(const json::object* qmp, object_member(message, "QMP", "greeting"));
  FIRERUN_TRY(const json::object* version, object_member(*qmp, "version", "greeting"));
  FIRERUN_TRY(const json::object* qemu, object_member(*version, "qemu", "greeting version"));
  QmpGreeting greeting;
  FIRERUN_TRY(greeting.version.major, integer_member(*qemu, "major", "greeting version"));
  FIRERUN_TRY(greeting.version.minor, integer_member(*qemu, "minor", "greeting version"));
  FIRERUN_TRY(greeting.version.micro, integer_member(*qemu, "micro", "greeting version"));
  // "package" is informational; tolerate its absence but not a wrong type.
  if (version->contains("package")) {
    FIRERUN_TRY(greeting.version.package, string_member(*version, "package", "greeting version"));
  }
  const json::value* capabilities = qmp->if_contains("capabilities");
  if (!capabilities) return protocol_error("greeting lacks member \"capabilities\"");
  if (!capabilities->is_array())
    return protocol_error(std::string("greeting capabilities is ") + json_kind_name(*capabilities) +
                          ", expected an array");
  for (const json::value& capability : capabilities->get_array()) {
    if (!capability.is_string())
      return protocol_error(std::string("greeting capability is ") + json_kind_name(capability) +
                            ", expected a string");
    greeting.capabilities.emplace_back(capability.get_string());
  }
  return QmpMessage(std::move(greeting));
}

Result<QmpMessage> parse_error_reply(const json::object& message) {
  FIRERUN_TRY(const json::object* error, object_member(message, "error", "error reply"));
  QmpErrorReply reply;
  FIRERUN_TRY(reply.error_class, string_member(*error, "class", "error reply"));
  FIRERUN_TRY(reply.desc, string_member(*error, "desc", "error reply"));
  reply.id = optional_id(message);
  return QmpMessage(std::move(reply));
}

Result<QmpMessage> parse_event(const json::object& message) {
  QmpEvent event;
  FIRERUN_TRY(event.name, string_member(message, "event", "event"));
  if (message.contains("data")) {
    FIRERUN_TRY(const json::object* data, object_member(message, "data", "event"));
    event.data = *data;
  }
  FIRERUN_TRY(const json::object* timestamp, object_member(message, "timestamp", "event"));
  FIRERUN_TRY(event.timestamp.seconds, integer_member(*timestamp, "seconds", "event timestamp"));
  FIRERUN_TRY(event.timestamp.microseconds, integer_member(*timestamp, "microseconds", "event timestamp"));
  return QmpMessage(std::move(event));
}

}  // namespace

Result<QmpMessage> parse_qmp_message(std::string_view line) {
  json::parse_options options;
  options.max_depth = kQmpMaxJsonDepth;
  boost::system::error_code ec;
  json::value parsed = json::parse(line, ec, {}, options);
  if (ec) return protocol_error("invalid JSON: " + ec.message());
  if (!parsed.is_object()) return protocol_error(std::string("expected a JSON object, got ") + json_kind_name(parsed));
  const json::object& message = parsed.get_object();

  // Exactly one discriminating member decides the shape; two would be ambiguous.
  const bool is_greeting = message.contains("QMP");
  const bool is_return = message.contains("return");
  const bool is_error = message.contains("error");
  const bool is_event = message.contains("event");
  const int shapes = int(is_greeting) + int(is_return) + int(is_error) + int(is_event);
  if (shapes == 0) return protocol_error("unknown message shape (members: " + member_names(message) + ")");
  if (shapes > 1) return protocol_error("ambiguous message shape (members: " + member_names(message) + ")");

  if (is_greeting) return parse_greeting(message);
  if (is_error) return parse_error_reply(message);
  if (is_event) return parse_event(message);
  QmpReturn reply;
  reply.value = message.at("return");
  reply.id = optional_id(message);
  return QmpMessage(std::move(reply));
}

Result<std::string> format_qmp_command(std::string_view command, const json::object& args,
                                       std::optional<std::uint64_t> id) {
  if (command.empty()) return Error(Errc::invalid_argument, "QMP command name is empty");
  json::object message;
  message["execute"] = command;
  if (!args.empty()) message["arguments"] = args;
  if (id) message["id"] = *id;
  return json::serialize(message);
}

const char* qmp_message_kind(const QmpMessage& message) noexcept {
  switch (message.index()) {
    case 0: return "greeting";
    case 1: return "return";
    case 2: return "error";
    case 3: return "event";
  }
  return "unknown";
}

}  // namespace firerun::qemu
