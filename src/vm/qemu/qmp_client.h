// Asynchronous QMP client over a connected Unix stream socket.
//
// One reader coroutine owns all socket reads and routes each server message:
// replies to the command waiting for that id, events to the subscriber (or a
// buffer until someone subscribes/asks). One writer coroutine owns all writes,
// so several coroutines may run commands at once. When the connection ends
// (QEMU exited, protocol violation, close()), every waiting operation fails
// promptly with the reason instead of hanging.
//
// Not thread-safe: use a QmpClient from its socket's executor only (a
// single-threaded io_context or a strand).
#pragma once

#include "firerun/error.h"
#include "vm/qemu/qmp_message.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

namespace firerun::qemu {

namespace detail {
struct QmpClientState;
}  // namespace detail

/// Default per-operation deadline for QMP round trips.
inline constexpr std::chrono::milliseconds kQmpDefaultDeadline{30'000};

/// Tunables; the defaults suit a QEMU monitor.
struct QmpClientOptions {
  std::size_t max_message_bytes = 16 * 1024 * 1024;  ///< a longer server line is a protocol error
  std::size_t max_buffered_events = 4096;            ///< oldest unclaimed events are dropped past this
};

/// Client side of one QMP connection.
class QmpClient {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;
  using EventHandler = std::function<void(const QmpEvent&)>;

  /// Takes a connected socket (e.g. one end of a socketpair whose other end QEMU got via -chardev fd=N).
  explicit QmpClient(Socket socket, QmpClientOptions options = {});
  /// Closes the connection; operations still waiting fail with Errc::cancelled.
  ~QmpClient();
  QmpClient(QmpClient&&) noexcept;
  QmpClient& operator=(QmpClient&&) noexcept;
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  /// Reads the server greeting and negotiates capabilities (none are enabled);
  /// must complete before execute(). The connection is closed if it fails.
  boost::asio::awaitable<Result<QmpGreeting>> handshake(std::chrono::milliseconds deadline = kQmpDefaultDeadline);

  /// Runs one command and returns its "return" value. A QMP error reply becomes
  /// Errc::backend_failed naming the command, error class and description;
  /// Errc::timeout after the deadline (a late reply is then dropped); a lost
  /// connection fails with the reason it ended (QEMU gone: Errc::backend_failed).
  boost::asio::awaitable<Result<boost::json::value>> execute(
      std::string_view command, boost::json::object args = {},
      std::chrono::milliseconds deadline = kQmpDefaultDeadline);

  /// Like execute(), with `fd` passed to QEMU alongside (SCM_RIGHTS), as
  /// "getfd" and "add-fd" expect; the caller keeps its own `fd`.
  boost::asio::awaitable<Result<boost::json::value>> execute_with_fd(
      std::string_view command, boost::json::object args, int fd,
      std::chrono::milliseconds deadline = kQmpDefaultDeadline);

  /// Sends every future event to `handler` (called on the reader, in arrival
  /// order; must not block). Events buffered so far are handed over first, in
  /// order, before this returns. Pass nullptr to buffer for next_event() again.
  void on_event(EventHandler handler);

  /// Next buffered event (oldest first), waiting up to the deadline. Fails once
  /// the connection has ended and the buffer is drained.
  boost::asio::awaitable<Result<QmpEvent>> next_event(std::chrono::milliseconds deadline = kQmpDefaultDeadline);

  /// Waits until the connection has ended. Ok when the peer closed it cleanly
  /// (e.g. after "quit") or close() was called; otherwise the error that ended it.
  boost::asio::awaitable<Status> wait_closed(std::chrono::milliseconds deadline = kQmpDefaultDeadline);

  /// Closes the socket; waiting commands fail with Errc::cancelled. Idempotent.
  void close();

  /// False once the connection has ended for any reason.
  bool is_open() const noexcept;
  /// Events discarded because the buffer was full.
  std::size_t dropped_events() const noexcept;
  /// Replies whose id matched no waiting command (late after a timeout, or id-less parse errors).
  std::size_t stray_replies() const noexcept;

 private:
  // Shared with the reader/writer coroutines, which may outlive a moved-from client.
  std::shared_ptr<detail::QmpClientState> state_;
};

}  // namespace firerun::qemu
