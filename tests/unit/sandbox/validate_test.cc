// validate(): every rejected request names the offending field.
#include "firerun/sandbox.h"

#include <gtest/gtest.h>

#include <functional>

namespace firerun::sandbox {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

CodeRequest good() {
  CodeRequest r;
  r.language = "python";
  r.code = "print('hi')\n";
  return r;
}

void expect_rejected(const std::function<void(CodeRequest&)>& change, const std::string& field) {
  CodeRequest r = good();
  change(r);
  auto s = validate(r);
  ASSERT_FALSE(s) << "accepted a request with a bad " << field;
  EXPECT_EQ(s.error().errc(), Errc::invalid_argument) << field;
  EXPECT_NE(s.error().message().find("request." + field), std::string::npos)
      << "message does not name " << field << ": " << s.error().message();
}

TEST(Validate, AcceptsReasonableRequests) {
  EXPECT_TRUE(validate(good()));
  CodeRequest r = good();
  r.language = "rs";
  r.files = {{"util.rs", "pub fn f() {}"}, {"data/input.txt", "1 2 3"}, {"data/more/deep.txt", ""}};
  r.args = {"a", "", "--flag"};
  r.env = {{"RUST_BACKTRACE", "1"}, {"_X", ""}};
  r.stdin_data = "input";
  r.timeout = 10min;
  r.compile_timeout = 1ms;
  r.output_cap = kMaxOutputCap;
  r.code = std::string(kMaxCodeBytes, 'x');
  EXPECT_TRUE(validate(r)) << validate(r).error().what();
}

TEST(Validate, RejectsUnknownOrEmptyLanguage) {
  expect_rejected([](auto& r) { r.language = "cobol"; }, "language");
  expect_rejected([](auto& r) { r.language = ""; }, "language");
}

TEST(Validate, RejectsEmptyOrHugeCode) {
  expect_rejected([](auto& r) { r.code.clear(); }, "code");
  expect_rejected([](auto& r) { r.code = std::string(kMaxCodeBytes + 1, 'x'); }, "code");
}

TEST(Validate, RejectsBadFileNames) {
  for (const std::string& name : std::vector<std::string>{"", "/etc/passwd", "../x", "a/../../x", "a/..", "a//b", "./a", "a/./b", "a/", "x\0y"s,
                           std::string(1025, 'a'), std::string(256, 'b') + "/c"}) {
    SCOPED_TRACE(name);
    expect_rejected([&](auto& r) { r.files = {{name, "x"}}; }, "files[0].name");
  }
  // The second file is the one named.
  expect_rejected([](auto& r) { r.files = {{"ok.py", ""}, {"/abs", ""}}; }, "files[1].name");
  // Duplicates, including the main source file.
  expect_rejected([](auto& r) { r.files = {{"a.py", ""}, {"a.py", ""}}; }, "files[1].name");
  expect_rejected([](auto& r) { r.files = {{"main.py", ""}}; }, "files[0].name");
  // A name used both as a file and a directory.
  expect_rejected([](auto& r) { r.files = {{"lib", ""}, {"lib/x.py", ""}}; }, "files");
  expect_rejected([](auto& r) { r.files = {{"main.py/x", ""}}; }, "files");
}

TEST(Validate, RejectsTooManyOrTooLargeFiles) {
  expect_rejected(
      [](auto& r) {
        for (std::size_t i = 0; i <= kMaxFiles; ++i) r.files.push_back({"f" + std::to_string(i), ""});
      },
      "files");
  expect_rejected(
      [](auto& r) {
        for (int i = 0; i < 17; ++i) r.files.push_back({"f" + std::to_string(i), std::string(1u << 20, 'x')});
      },
      "files");
}

TEST(Validate, RejectsBadTimeouts) {
  expect_rejected([](auto& r) { r.timeout = 0ms; }, "timeout");
  expect_rejected([](auto& r) { r.timeout = -5ms; }, "timeout");
  expect_rejected([](auto& r) { r.timeout = 10min + 1ms; }, "timeout");
  expect_rejected([](auto& r) { r.compile_timeout = 0ms; }, "compile_timeout");
  expect_rejected([](auto& r) { r.compile_timeout = 11min; }, "compile_timeout");
}

TEST(Validate, RejectsAbsurdOutputCaps) {
  expect_rejected([](auto& r) { r.output_cap = 0; }, "output_cap");
  expect_rejected([](auto& r) { r.output_cap = kMaxOutputCap + 1; }, "output_cap");
  expect_rejected([](auto& r) { r.output_cap = ~std::uint64_t{0}; }, "output_cap");
}

TEST(Validate, RejectsBadArgsEnvAndStdin) {
  expect_rejected([](auto& r) { r.args = {"ok", "a\0b"s}; }, "args[1]");
  expect_rejected([](auto& r) { r.args.assign(kMaxArgs + 1, "x"); }, "args");
  expect_rejected([](auto& r) { r.args.assign(2, std::string(600u << 10, 'x')); }, "args");
  expect_rejected([](auto& r) { r.env = {{"A=B", "x"}}; }, "env");
  expect_rejected([](auto& r) { r.env = {{"", "x"}}; }, "env");
  expect_rejected([](auto& r) { r.env = {{"1X", "x"}}; }, "env");
  expect_rejected([](auto& r) { r.env = {{"X", "a\0b"s}}; }, "env.X");
  expect_rejected(
      [](auto& r) {
        for (std::size_t i = 0; i <= kMaxEnv; ++i) r.env["V" + std::to_string(i)] = "";
      },
      "env");
  expect_rejected([](auto& r) { r.stdin_data = std::string(kMaxStdinBytes + 1, 'x'); }, "stdin");
}

}  // namespace
}  // namespace firerun::sandbox
