#include "vm/qemu/qmp_message.h"

#include "qmp_test_support.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

namespace firerun::qemu {
namespace {

namespace json = boost::json;
namespace transcript = testing::transcript;

template <class T>
T parse_as(std::string_view line) {
  auto parsed = parse_qmp_message(line);
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().what());
  if (!parsed) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*parsed)) << "got a " << qmp_message_kind(*parsed);
  return std::holds_alternative<T>(*parsed) ? std::get<T>(std::move(*parsed)) : T{};
}

void expect_protocol_error(std::string_view line, std::string_view mentions = {}) {
  auto parsed = parse_qmp_message(line);
  ASSERT_FALSE(parsed) << "accepted: " << line.substr(0, 200);
  EXPECT_EQ(parsed.error().errc(), Errc::protocol) << parsed.error().what();
  EXPECT_NE(parsed.error().message().find(mentions), std::string::npos)
      << "'" << parsed.error().message() << "' does not mention '" << mentions << "'";
}

TEST(QmpMessage, ParsesRecordedQemuGreeting) {
  auto greeting = parse_as<QmpGreeting>(transcript::kGreeting);
  EXPECT_EQ(greeting.version.major, 7);
  EXPECT_EQ(greeting.version.minor, 2);
  EXPECT_EQ(greeting.version.micro, 22);
  EXPECT_EQ(greeting.version.package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
  EXPECT_EQ(greeting.capabilities, std::vector<std::string>{"oob"});
}

TEST(QmpMessage, GreetingWithoutPackageOrCapabilitiesEntriesIsFine) {
  auto greeting = parse_as<QmpGreeting>(R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 3}}, "capabilities": []}})");
  EXPECT_EQ(greeting.version.major, 3);
  EXPECT_TRUE(greeting.version.package.empty());
  EXPECT_TRUE(greeting.capabilities.empty());
}

TEST(QmpMessage, ParsesReturnWithIdAndCrlf) {
  auto reply = parse_as<QmpReturn>(std::string(R"({"return": )") + std::string(transcript::kQueryStatusReturn) +
                                   R"(, "id": 7})" + "\r\n");
  ASSERT_TRUE(reply.id);
  EXPECT_EQ(*reply.id, json::value(7));
  EXPECT_EQ(reply.value.at("status"), "running");
}

TEST(QmpMessage, ReturnMayBeAnyJsonValueAndIdMayBeAbsentOrAnyValue) {
  EXPECT_EQ(parse_as<QmpReturn>(R"({"return": {}})").value, json::value(json::object()));
  EXPECT_FALSE(parse_as<QmpReturn>(R"({"return": {}})").id);
  EXPECT_EQ(parse_as<QmpReturn>(R"({"return": [1, "two"]})").value, json::parse(R"([1, "two"])"));
  EXPECT_EQ(parse_as<QmpReturn>(R"({"return": 42, "id": "x"})").value, json::value(42));
  EXPECT_EQ(*parse_as<QmpReturn>(R"({"return": null, "id": [1, {"a": 2}]})").id, json::parse(R"([1, {"a": 2}])"));
}

TEST(QmpMessage, ParsesErrorReplyWithAndWithoutId) {
  auto error = parse_as<QmpErrorReply>(
      R"({"id": 2, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}})");
  EXPECT_EQ(error.error_class, "CommandNotFound");
  EXPECT_EQ(error.desc, "The command nope has not been found");
  ASSERT_TRUE(error.id);
  EXPECT_EQ(*error.id, json::value(2));
  EXPECT_FALSE(parse_as<QmpErrorReply>(transcript::kParseErrorNoId).id);
}

TEST(QmpMessage, ParsesEventsWithAndWithoutData) {
  auto shutdown = parse_as<QmpEvent>(transcript::kShutdownEvent);
  EXPECT_EQ(shutdown.name, "SHUTDOWN");
  EXPECT_EQ(shutdown.data.at("reason"), "host-qmp-quit");
  EXPECT_EQ(shutdown.timestamp.seconds, 1795346159);
  EXPECT_EQ(shutdown.timestamp.microseconds, 825171);

  auto stop = parse_as<QmpEvent>(transcript::kStopEvent);
  EXPECT_EQ(stop.name, "STOP");
  EXPECT_TRUE(stop.data.empty());
}

TEST(QmpMessage, EventTimestampOfMinusOneMeansClockFailureAndIsAccepted) {
  auto event = parse_as<QmpEvent>(R"({"event": "X", "timestamp": {"seconds": -1, "microseconds": -1}})");
  EXPECT_EQ(event.timestamp.seconds, -1);
  EXPECT_EQ(event.timestamp.microseconds, -1);
}

TEST(QmpMessage, UnknownExtraMembersAreIgnored) {
  auto reply = parse_as<QmpReturn>(R"({"return": {}, "id": 1, "__com.example_extra": true})");
  EXPECT_TRUE(reply.id);
  auto event = parse_as<QmpEvent>(R"({"event": "E", "timestamp": {"seconds": 1, "microseconds": 2, "nanos": 3}, "x": 1})");
  EXPECT_EQ(event.name, "E");
}

TEST(QmpMessage, MalformedJsonIsProtocolError) {
  expect_protocol_error("", "invalid JSON");
  expect_protocol_error("not json", "invalid JSON");
  expect_protocol_error(R"({"return": )", "invalid JSON");
  expect_protocol_error(R"({"return": {}} {"return": {}})", "invalid JSON");  // two messages on one line
  expect_protocol_error("{\"return\": \"\xff\xfe\"}", "invalid JSON");         // not UTF-8
  constexpr char kRawNul[] = "{\"return\": \"a\0b\"}";  // raw control characters are invalid in JSON strings
  expect_protocol_error(std::string(kRawNul, sizeof(kRawNul) - 1), "invalid JSON");
  expect_protocol_error(R"({'return': {}})", "invalid JSON");  // QEMU accepts single quotes as input, never sends them
}

TEST(QmpMessage, NonObjectsAreProtocolErrors) {
  expect_protocol_error("[1, 2]", "got an array");
  expect_protocol_error("42", "got a number");
  expect_protocol_error(R"("QMP")", "got a string");
  expect_protocol_error("null", "got null");
  expect_protocol_error("true", "got a boolean");
}

TEST(QmpMessage, UnknownAndAmbiguousShapesAreProtocolErrors) {
  expect_protocol_error("{}", "unknown message shape (members: none)");
  expect_protocol_error(R"({"foo": 1, "bar": 2})", R"(unknown message shape (members: "foo", "bar"))");
  expect_protocol_error(R"({"return": {}, "error": {"class": "A", "desc": "B"}})", "ambiguous");
  expect_protocol_error(R"({"event": "E", "return": 1, "timestamp": {"seconds": 1, "microseconds": 1}})", "ambiguous");
  // Peer-chosen member names are shortened and made printable in the message.
  auto parsed = parse_qmp_message("{\"" + std::string(200, 'k') + "\": 1, \"\\u0001\": 2}");
  ASSERT_FALSE(parsed);
  EXPECT_LT(parsed.error().message().size(), 150u) << parsed.error().message();
  EXPECT_NE(parsed.error().message().find("\"?\""), std::string::npos) << parsed.error().message();
}

TEST(QmpMessage, WrongTypesInGreetingAreProtocolErrors) {
  expect_protocol_error(R"({"QMP": []})", "\"QMP\" is an array");
  expect_protocol_error(R"({"QMP": {"capabilities": []}})", "lacks member \"version\"");
  expect_protocol_error(R"({"QMP": {"version": {}, "capabilities": []}})", "lacks member \"qemu\"");
  expect_protocol_error(R"({"QMP": {"version": {"qemu": {"major": "7", "minor": 2, "micro": 0}}, "capabilities": []}})",
                        "\"major\" is a string");
  expect_protocol_error(R"({"QMP": {"version": {"qemu": {"major": 1.5, "minor": 2, "micro": 0}}, "capabilities": []}})",
                        "\"major\"");
  expect_protocol_error(R"({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": 5}, "capabilities": []}})",
                        "\"package\" is a number");
  expect_protocol_error(R"({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}}})",
                        "lacks member \"capabilities\"");
  expect_protocol_error(R"({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": "oob"}})",
                        "capabilities is a string");
  expect_protocol_error(R"({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": [1]}})",
                        "capability is a number");
}

TEST(QmpMessage, WrongTypesInErrorsAndEventsAreProtocolErrors) {
  expect_protocol_error(R"({"error": "boom"})", "\"error\" is a string");
  expect_protocol_error(R"({"error": {"desc": "d"}})", "lacks member \"class\"");
  expect_protocol_error(R"({"error": {"class": 1, "desc": "d"}})", "\"class\" is a number");
  expect_protocol_error(R"({"error": {"class": "C", "desc": null}})", "\"desc\" is null");
  expect_protocol_error(R"({"event": 5, "timestamp": {"seconds": 1, "microseconds": 1}})", "\"event\" is a number");
  expect_protocol_error(R"({"event": "E", "data": [], "timestamp": {"seconds": 1, "microseconds": 1}})",
                        "\"data\" is an array");
  expect_protocol_error(R"({"event": "E"})", "lacks member \"timestamp\"");
  expect_protocol_error(R"({"event": "E", "timestamp": {"seconds": 1}})", "lacks member \"microseconds\"");
  expect_protocol_error(R"({"event": "E", "timestamp": {"seconds": 1e300, "microseconds": 1}})", "int64 range");
  expect_protocol_error(R"({"event": "E", "timestamp": {"seconds": 18446744073709551615, "microseconds": 1}})",
                        "int64 range");
}

TEST(QmpMessage, DeepNestingIsRejectedWithoutCrashing) {
  const std::string deep = "{\"return\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_protocol_error(deep, "invalid JSON");
  // Nesting within the limit is accepted.
  const std::size_t ok_depth = kQmpMaxJsonDepth - 2;
  auto reply = parse_as<QmpReturn>("{\"return\": " + std::string(ok_depth, '[') + std::string(ok_depth, ']') + "}");
  EXPECT_TRUE(reply.value.is_array());
}

TEST(QmpMessage, FormatsCommandsWithIdAndOptionalArguments) {
  auto plain = format_qmp_command("query-status", {}, 3);
  ASSERT_TRUE(plain);
  EXPECT_EQ(json::parse(*plain), json::parse(R"({"execute": "query-status", "id": 3})"));
  EXPECT_EQ(plain->find('\n'), std::string::npos);

  auto with_args = format_qmp_command("device_del", {{"id", "net\"0\n"}}, std::nullopt);
  ASSERT_TRUE(with_args);
  EXPECT_EQ(json::parse(*with_args), json::parse(R"({"execute": "device_del", "arguments": {"id": "net\"0\n"}})"));
  EXPECT_EQ(with_args->find('\n'), std::string::npos) << "newlines in strings must be escaped: " << *with_args;

  auto empty = format_qmp_command("", {}, 1);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().errc(), Errc::invalid_argument);
}

}  // namespace
}  // namespace firerun::qemu
