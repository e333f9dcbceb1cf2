#include "agent/agent_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <exception>
#include <variant>

namespace firerun::agent {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Runs `op` against a deadline. On expiry the op is cancelled (possibly in the
// middle of a frame), so the stream is marked broken.
template <class T>
awaitable<Result<T>> race_deadline(awaitable<Result<T>> op, AgentClient::Clock::time_point deadline, bool& broken,
                                   std::string what) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  try {
    auto winner = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
    if (winner.index() == 0) co_return std::move(std::get<0>(winner));
  } catch (const std::exception& e) {
    broken = true;
    co_return Error(Errc::internal, what + ": unexpected exception: " + e.what());
  }
  broken = true;
  co_return Error(Errc::timeout, what + ": guest agent did not answer in time");
}

// Appends a chunk while never holding more than `cap` bytes; the kept part goes to the sink.
void append_capped(std::string& out, bool& truncated, std::string_view chunk, std::uint64_t cap,
                   const std::function<void(std::string_view)>* sink) {
  std::uint64_t room = cap > out.size() ? cap - out.size() : 0;
  std::string_view kept = chunk.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(room, chunk.size())));
  if (kept.size() < chunk.size()) truncated = true;
  if (kept.empty()) return;
  out.append(kept.data(), kept.size());
  if (sink && *sink) (*sink)(kept);
}

Error unexpected_reply(const Frame& frame, const char* request) {
  return Error(Errc::protocol, std::string("guest agent sent an unexpected ") + message_type_name(frame.type) +
                                   " frame in reply to " + request);
}

}  // namespace

class AgentClient::Busy {
 public:
  explicit Busy(bool& flag) : flag_(flag) { flag_ = true; }
  ~Busy() { flag_ = false; }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  bool& flag_;
};

AgentClient::AgentClient(Socket socket) : socket_(std::move(socket)) {}

Status AgentClient::check_usable() const {
  if (broken_) return Error(Errc::bad_state, "the connection to the guest agent is broken");
  if (busy_) return Error(Errc::bad_state, "another guest agent request is in flight");
  if (!socket_.is_open()) return Error(Errc::bad_state, "the guest agent socket is closed");
  return {};
}

std::uint32_t AgentClient::next_request_id() {
  // 0 means "no request" on the wire, so skip it when wrapping around.
  if (++last_request_id_ == 0) ++last_request_id_;
  return last_request_id_;
}

awaitable<Status> AgentClient::send(MessageType type, std::uint32_t request_id, std::string_view payload) {
  FIRERUN_CO_TRY(std::string frame, encode_frame(type, request_id, payload));
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(frame), use_tuple);
  if (ec) {
    broken_ = true;
    co_return Error(Errc::guest_failed, std::string("sending ") + message_type_name(type) +
                                            " to guest agent: " + ec.message());
  }
  co_return Status{};
}

awaitable<Result<Frame>> AgentClient::read_frame() {
  std::array<char, 64 * 1024> chunk;  // lives in the heap-allocated coroutine frame
  for (;;) {
    auto next = decoder_.next();
    if (!next) {
      broken_ = true;
      co_return std::move(next).error().with_context("reading from guest agent");
    }
    if (*next) co_return std::move(**next);
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), use_tuple);
    if (ec == asio::error::eof) {
      broken_ = true;
      co_return Error(Errc::guest_failed, "guest agent closed the connection");
    }
    if (ec) {
      broken_ = true;
      co_return Error(ec == asio::error::operation_aborted ? make_error_code(Errc::cancelled)
                                                           : make_error_code(Errc::guest_failed),
                      "reading from guest agent: " + ec.message());
    }
    decoder_.feed(std::string_view(chunk.data(), n));
  }
}

awaitable<Result<Frame>> AgentClient::read_reply(std::uint32_t request_id) {
  for (;;) {
    FIRERUN_CO_TRY(Frame frame, co_await read_frame());
    // Late output of an exec the host gave up on, or a re-sent hello: not ours.
    if (frame.request_id != request_id || frame.type == MessageType::hello) continue;
    co_return frame;
  }
}

awaitable<Result<Hello>> AgentClient::wait_ready(Clock::time_point deadline) {
  FIRERUN_CO_CHECK(check_usable());
  Busy busy(busy_);
  auto wait = [this]() -> awaitable<Result<Hello>> {
    FIRERUN_CO_TRY(Frame frame, co_await read_frame());
    if (frame.type != MessageType::hello) {
      broken_ = true;
      co_return Error(Errc::protocol, std::string("guest agent sent ") + message_type_name(frame.type) +
                                          " before hello");
    }
    auto hello = decode_hello(frame.payload);
    if (!hello) {
      broken_ = true;
      co_return std::move(hello).error();
    }
    if (hello->protocol_version != kProtocolVersion) {
      broken_ = true;
      co_return Error(Errc::protocol, "guest agent speaks protocol version " +
                                          std::to_string(hello->protocol_version) + ", host speaks " +
                                          std::to_string(kProtocolVersion));
    }
    co_return std::move(*hello);
  };
  co_return co_await race_deadline(wait(), deadline, broken_, "waiting for guest agent hello");
}

awaitable<Status> AgentClient::request_ok(MessageType type, std::string payload) {
  auto run = [this, type, payload = std::move(payload)]() -> awaitable<Status> {
    std::uint32_t id = next_request_id();
    FIRERUN_CO_CHECK(co_await send(type, id, payload));
    FIRERUN_CO_TRY(Frame reply, co_await read_reply(id));
    if (reply.type == MessageType::ok) co_return Status{};
    if (reply.type == MessageType::error) {
      co_return decode_error(reply.payload);
    }
    broken_ = true;
    co_return unexpected_reply(reply, message_type_name(type));
  };
  co_return co_await race_deadline(run(), Clock::now() + request_timeout_, broken_,
                                   std::string(message_type_name(type)));
}

awaitable<Status> AgentClient::send_stdin(std::uint32_t request_id, std::string_view data) {
  while (!data.empty()) {
    std::string_view chunk = data.substr(0, kMaxChunk);
    FIRERUN_CO_CHECK(co_await send(MessageType::stdin_chunk, request_id, chunk));
    data.remove_prefix(chunk.size());
  }
  co_return co_await send(MessageType::stdin_chunk, request_id, {});  // EOF
}

awaitable<Result<ExecResult>> AgentClient::collect_exec(std::uint32_t request_id, const ExecRequest& request,
                                                        const OutputSink* sink) {
  ExecResult out;
  for (;;) {
    FIRERUN_CO_TRY(Frame frame, co_await read_reply(request_id));
    switch (frame.type) {
      case MessageType::stdout_chunk:
        append_capped(out.stdout_data, out.stdout_truncated, frame.payload, request.output_cap,
                      sink ? &sink->on_stdout : nullptr);
        break;
      case MessageType::stderr_chunk:
        append_capped(out.stderr_data, out.stderr_truncated, frame.payload, request.output_cap,
                      sink ? &sink->on_stderr : nullptr);
        break;
      case MessageType::exit: {
        auto status = decode_exit(frame.payload);
        if (!status) {
          broken_ = true;
          co_return std::move(status).error();
        }
        status->stdout_truncated = status->stdout_truncated || out.stdout_truncated;
        status->stderr_truncated = status->stderr_truncated || out.stderr_truncated;
        status->stdout_data = std::move(out.stdout_data);
        status->stderr_data = std::move(out.stderr_data);
        co_return std::move(*status);
      }
      case MessageType::error: {
        co_return decode_error(frame.payload);
      }
      default:
        broken_ = true;
        co_return unexpected_reply(frame, "exec");
    }
  }
}

awaitable<Result<ExecResult>> AgentClient::exec(const ExecRequest& request, const OutputSink* sink) {
  FIRERUN_CO_CHECK(check_usable());
  if (request.argv.empty()) co_return Error(Errc::invalid_argument, "exec: argv must not be empty");
  Busy busy(busy_);
  std::uint32_t id = next_request_id();
  auto run = [this, id, &request, sink]() -> awaitable<Result<ExecResult>> {
    FIRERUN_CO_CHECK(co_await send(MessageType::exec, id, encode_exec(request)));
    if (!request.stdin_data) co_return co_await collect_exec(id, request, sink);
    // Feed stdin while reading output: the guest may block writing output until we read.
    using namespace asio::experimental::awaitable_operators;
    auto [sent, result] = co_await (send_stdin(id, *request.stdin_data) && collect_exec(id, request, sink));
    if (!result) co_return std::move(result).error();
    if (!sent) co_return std::move(sent).error();
    co_return std::move(*result);
  };
  // Plain if/else: GCC 12 miscompiles co_await inside a conditional expression.
  // co_await results are bound to named locals, never passed straight into a
  // call: GCC 12 bitwise-copies such temporaries (corrupting std::string SSO).
  if (request.timeout.count() <= 0) {
    auto result = co_await run();
    co_return add_context(std::move(result), "exec " + request.argv[0]);
  }
  auto deadline = Clock::now() + request.timeout + kExecGrace;
  auto result = co_await race_deadline(run(), deadline, broken_, "exec " + request.argv[0]);
  co_return add_context(std::move(result), "exec " + request.argv[0]);
}

awaitable<Status> AgentClient::write_file(std::string path, std::string_view data, std::uint32_t mode) {
  FIRERUN_CO_CHECK(check_usable());
  Busy busy(busy_);
  bool first = true;
  while (first || !data.empty()) {
    WriteFile slice{path, mode, !first, std::string(data.substr(0, kMaxFileSlice))};
    data.remove_prefix(slice.data.size());
    first = false;
    FIRERUN_CO_TRY(std::string payload, encode_write_file(slice));
    auto written = co_await request_ok(MessageType::write_file, std::move(payload));
    FIRERUN_CO_CHECK(add_context(std::move(written), "writing guest file " + path));
  }
  co_return Status{};
}

awaitable<Result<FileData>> AgentClient::read_slice(const ReadFile& request) {
  auto run = [this, &request]() -> awaitable<Result<FileData>> {
    std::uint32_t id = next_request_id();
    FIRERUN_CO_CHECK(co_await send(MessageType::read_file, id, encode_read_file(request)));
    FIRERUN_CO_TRY(Frame reply, co_await read_reply(id));
    if (reply.type == MessageType::error) {
      co_return decode_error(reply.payload);
    }
    if (reply.type != MessageType::file_data) {
      broken_ = true;
      co_return unexpected_reply(reply, "read_file");
    }
    auto data = decode_file_data(reply.payload);
    if (!data) broken_ = true;
    co_return data;
  };
  co_return co_await race_deadline(run(), Clock::now() + request_timeout_, broken_, "read_file");
}

awaitable<Result<std::string>> AgentClient::read_file(std::string path, std::uint64_t max_bytes) {
  FIRERUN_CO_CHECK(check_usable());
  Busy busy(busy_);
  std::string out;
  for (;;) {
    ReadFile request{path, out.size(), static_cast<std::uint32_t>(kMaxFileSlice)};
    auto read = co_await read_slice(request);
    FIRERUN_CO_TRY(FileData slice, add_context(std::move(read), "reading guest file " + path));
    if (slice.total_size > max_bytes)
      co_return Error(Errc::limit_exceeded, "guest file " + path + " has " + std::to_string(slice.total_size) +
                                                " bytes, more than the limit of " + std::to_string(max_bytes));
    if (slice.data.size() > kMaxFileSlice || out.size() + slice.data.size() > max_bytes) {
      broken_ = true;
      co_return Error(Errc::protocol, "guest agent sent more file data than requested for " + path);
    }
    out += slice.data;
    // An empty slice means end of file (the file may have shrunk since total_size was taken).
    if (slice.data.empty() || out.size() >= slice.total_size) co_return out;
  }
}

awaitable<Status> AgentClient::shutdown() {
  FIRERUN_CO_CHECK(check_usable());
  Busy busy(busy_);
  auto done = co_await request_ok(MessageType::shutdown, {});
  co_return add_context(std::move(done), "shutting down guest");
}

awaitable<Status> AgentClient::reseed(std::string entropy, std::optional<std::chrono::system_clock::time_point> now) {
  FIRERUN_CO_CHECK(check_usable());
  Busy busy(busy_);
  Reseed request{std::move(entropy), std::nullopt};
  if (now)
    request.unix_time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now->time_since_epoch()).count();
  FIRERUN_CO_TRY(std::string payload, encode_reseed(request));
  auto done = co_await request_ok(MessageType::reseed, std::move(payload));
  co_return add_context(std::move(done), "reseeding guest");
}

}  // namespace firerun::agent
