// Helpers for QMP client tests: run a coroutine on an io_context with a time
// limit, and a scripted QMP server ("peer") on the far end of a socketpair.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

namespace firerun::qemu::testing {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Socket = asio::local::stream_protocol::socket;
using namespace std::chrono_literals;

/// Runs `body` (and whatever it spawned) until it finishes or `limit` passes;
/// a body that does not finish in time is a test failure, never a hang.
inline void run_to_completion(asio::io_context& io, awaitable<void> body, std::chrono::milliseconds limit = 10s) {
  bool done = false;
  asio::co_spawn(io, std::move(body), [&](std::exception_ptr error) {
    done = true;
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "test coroutine threw: " << e.what();
      }
    }
    io.stop();
  });
  io.restart();
  io.run_for(limit);
  EXPECT_TRUE(done) << "test coroutine did not finish within " << limit.count() << " ms";
}

/// Spawns a peer script; a throw inside it is reported as a test failure.
inline void spawn_peer(asio::io_context& io, awaitable<void> script) {
  asio::co_spawn(io, std::move(script), [](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "fake QMP peer threw: " << e.what();
    }
  });
}

inline awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(use_awaitable);
}

/// The server end of a socketpair, driven line by line by a test script.
class FakeQmpPeer {
 public:
  explicit FakeQmpPeer(Socket socket) : socket_(std::move(socket)) {}

  /// The next command the client sent, parsed. Commands are JSON objects back
  /// to back, with no required separator (QEMU's reader needs none either).
  awaitable<boost::json::object> read_command() {
    boost::json::stream_parser parser;
    std::string text;
    for (;;) {
      if (!buffer_.empty()) {
        const std::size_t used = parser.write_some(buffer_.data(), buffer_.size());
        text += buffer_.substr(0, used);
        buffer_.erase(0, used);
        if (parser.done()) {
          last_command_text_ = text;
          co_return parser.release().as_object();
        }
      }
      char chunk[4096];
      std::size_t n = co_await socket_.async_read_some(asio::buffer(chunk), use_awaitable);
      buffer_.append(chunk, n);
    }
  }

  /// Exactly the bytes of the last command read (from its first to its last character).
  const std::string& last_command_text() const { return last_command_text_; }

  /// Sends one server line, CRLF-terminated as QEMU does.
  awaitable<void> send(std::string_view line) {
    std::string framed = std::string(line) + "\r\n";
    co_await asio::async_write(socket_, asio::buffer(framed), use_awaitable);
  }

  /// Sends bytes exactly as given (for partial or oversized messages).
  awaitable<void> send_raw(std::string bytes) { co_await asio::async_write(socket_, asio::buffer(bytes), use_awaitable); }

  /// Reads the capabilities command and accepts it, echoing its id.
  awaitable<void> accept_capabilities() {
    auto command = co_await read_command();
    EXPECT_EQ(command.at("execute"), "qmp_capabilities");
    EXPECT_FALSE(command.contains("arguments"));
    co_await reply(command, R"({})");
  }

  /// Sends `{"return": <value_json>, "id": <command's id>}`.
  awaitable<void> reply(const boost::json::object& command, std::string_view value_json) {
    co_await send(R"({"return": )" + std::string(value_json) + R"(, "id": )" +
                  boost::json::serialize(command.at("id")) + "}");
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  Socket& socket() { return socket_; }

 private:
  Socket socket_;
  std::string buffer_;
  std::string last_command_text_;
};

/// Lines recorded from QEMU 7.2 (-M none) on this machine's Debian build.
namespace transcript {
inline constexpr std::string_view kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}})";
inline constexpr std::string_view kQueryVersionReturn =
    R"({"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"})";
inline constexpr std::string_view kQueryStatusReturn = R"({"status": "running", "singlestep": false, "running": true})";
inline constexpr std::string_view kShutdownEvent =
    R"({"timestamp": {"seconds": 1795346159, "microseconds": 825171}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}})";
inline constexpr std::string_view kStopEvent = R"({"timestamp": {"seconds": 1795346160, "microseconds": 1}, "event": "STOP"})";
inline constexpr std::string_view kResumeEvent = R"({"timestamp": {"seconds": 1795346161, "microseconds": 2}, "event": "RESUME"})";
inline constexpr std::string_view kParseErrorNoId =
    R"({"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword 'not'"}})";
}  // namespace transcript

}  // namespace firerun::qemu::testing
