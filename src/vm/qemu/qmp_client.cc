#include "vm/qemu/qmp_client.h"

#include "core/process.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace firerun::qemu {

namespace asio = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using Timer = asio::steady_timer;
using asio::awaitable;
using asio::use_awaitable;
using std::chrono::milliseconds;

namespace detail {

struct PendingCommand {
  std::string command;
  std::optional<Result<json::value>> outcome;  // set by the reader, or by end_connection()
};

struct QmpClientState {
  QmpClientState(QmpClient::Socket s, QmpClientOptions o)
      : socket(std::move(s)), options(o), writer_wake(socket.get_executor()) {}

  QmpClient::Socket socket;
  QmpClientOptions options;

  bool started = false;  // handshake() was called: reader and writer run
  bool ready = false;    // capabilities negotiated: execute() allowed
  std::optional<QmpGreeting> greeting;

  std::string read_buffer;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::shared_ptr<PendingCommand>> pending;

  struct Outgoing {
    std::string line;
    std::shared_ptr<::firerun::detail::UniqueFd> fd;  ///< passed along with the line (SCM_RIGHTS)
  };
  std::deque<Outgoing> outbox;
  Timer writer_wake;

  std::deque<QmpEvent> events;
  QmpClient::EventHandler event_handler;

  // Every waiter sleeps on its own timer until its deadline; notify_all()
  // cancels them all and bumps `generation`, so a waiter can tell "something
  // changed" from its caller cancelling it.
  std::vector<std::shared_ptr<Timer>> waiters;
  std::uint64_t generation = 0;

  bool ended = false;
  bool clean_end = false;
  Error end_reason;

  std::size_t dropped_events = 0;
  std::size_t stray_replies = 0;
};

}  // namespace detail

namespace {

using State = detail::QmpClientState;
using StatePtr = std::shared_ptr<State>;

std::string command_context(std::string_view command) { return "QMP command '" + std::string(command) + "'"; }

std::string millis(milliseconds d) { return std::to_string(d.count()) + " ms"; }

void notify_all(State& s) {
  ++s.generation;
  for (auto& waiter : s.waiters) waiter->cancel();
}

enum class Wake { changed, timed_out, cancelled };

awaitable<Wake> wait_for_change(StatePtr s, Clock::time_point until) {
  auto timer = std::make_shared<Timer>(s->socket.get_executor(), until);
  s->waiters.push_back(timer);
  const std::uint64_t seen = s->generation;
  auto [ec] = co_await timer->async_wait(asio::as_tuple(use_awaitable));
  std::erase(s->waiters, timer);
  if (s->generation != seen) co_return Wake::changed;
  if (ec == asio::error::operation_aborted) co_return Wake::cancelled;
  co_return Wake::timed_out;
}

Error waiter_cancelled(std::string what) { return Error(Errc::cancelled, std::move(what) + " was cancelled"); }

// Records why the connection ended and fails everything still waiting. The
// first reason wins; later calls are no-ops.
void end_connection(State& s, Error reason, bool clean) {
  if (s.ended) return;
  s.ended = true;
  s.clean_end = clean;
  s.end_reason = std::move(reason);
  boost::system::error_code ignored;
  s.socket.close(ignored);
  for (auto& [id, command] : s.pending) command->outcome = Error(s.end_reason).with_context(command_context(command->command));
  s.pending.clear();
  s.outbox.clear();
  s.writer_wake.cancel();
  notify_all(s);
}

Error connection_lost_error() {
  return Error(Errc::backend_failed, "QMP connection closed by the peer (QEMU exited or crashed)");
}

Error socket_error(const boost::system::error_code& ec, std::string_view doing) {
  // On a Unix socket, ECONNRESET means the peer closed with some of our bytes
  // still unread (e.g. commands queued behind "quit"): it is gone all the same.
  if (ec == asio::error::broken_pipe || ec == asio::error::connection_reset)
    return Error(Errc::backend_failed, std::string(doing) + " the QMP socket failed: QMP connection lost (QEMU exited or crashed): " + ec.message());
  return Error(ec, std::string(doing) + " the QMP socket failed: " + ec.message());
}

// QEMU's error descriptions can quote guest-influenced strings; keep them bounded.
std::string bounded(std::string text) {
  constexpr std::size_t kMaxDesc = 1024;
  if (text.size() > kMaxDesc) {
    text.resize(kMaxDesc);
    text += "...";
  }
  return text;
}

std::optional<std::uint64_t> our_id(const std::optional<json::value>& id) {
  if (!id) return std::nullopt;
  boost::system::error_code ec;
  auto number = id->to_number<std::uint64_t>(ec);
  if (ec) return std::nullopt;
  return number;
}

// Finds the command a reply belongs to; replies with unknown ids are dropped as the spec asks.
std::shared_ptr<detail::PendingCommand> claim_pending(State& s, const std::optional<json::value>& id) {
  auto number = our_id(id);
  auto it = number ? s.pending.find(*number) : s.pending.end();
  if (it == s.pending.end()) {
    ++s.stray_replies;
    return nullptr;
  }
  auto command = std::move(it->second);
  s.pending.erase(it);
  return command;
}

Status deliver_event(State& s, QmpEvent event) {
  if (s.event_handler) {
    // A copy: the handler may replace itself via on_event().
    auto handler = s.event_handler;
    try {
      handler(event);
    } catch (const std::exception& e) {
      return Error(Errc::internal, std::string("QMP event handler threw: ") + e.what());
    } catch (...) {
      return Error(Errc::internal, "QMP event handler threw a non-standard exception");
    }
    return {};
  }
  s.events.push_back(std::move(event));
  while (s.events.size() > s.options.max_buffered_events) {
    s.events.pop_front();
    ++s.dropped_events;
  }
  notify_all(s);
  return {};
}

Status handle_line(State& s, std::string_view line) {
  FIRERUN_TRY(QmpMessage message, add_context(parse_qmp_message(line), "reading from QEMU's QMP monitor"));
  if (!s.greeting && !std::holds_alternative<QmpGreeting>(message))
    return Error(Errc::protocol, std::string("expected the QMP greeting first, got a ") + qmp_message_kind(message));

  if (auto* greeting = std::get_if<QmpGreeting>(&message)) {
    if (s.greeting) return Error(Errc::protocol, "unexpected second QMP greeting");
    s.greeting = std::move(*greeting);
    notify_all(s);
  } else if (auto* reply = std::get_if<QmpReturn>(&message)) {
    if (auto command = claim_pending(s, reply->id)) {
      command->outcome = std::move(reply->value);
      notify_all(s);
    }
  } else if (auto* error = std::get_if<QmpErrorReply>(&message)) {
    if (auto command = claim_pending(s, error->id)) {
      command->outcome = Error(Errc::backend_failed, "QMP command '" + command->command + "' failed: " +
                                                         error->error_class + ": " + bounded(error->desc));
      notify_all(s);
    }
  } else {
    return deliver_event(s, std::move(std::get<QmpEvent>(message)));
  }
  return {};
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

awaitable<void> read_loop(StatePtr s) {
  // +2 leaves room for the CRLF after a maximal message.
  const std::size_t buffer_limit = s->options.max_message_bytes + 2;
  for (;;) {
    auto [ec, length] = co_await asio::async_read_until(
        s->socket, asio::dynamic_buffer(s->read_buffer, buffer_limit), '\n', asio::as_tuple(use_awaitable));
    if (s->ended) co_return;  // close() or the writer already recorded why
    if (ec == asio::error::eof) {
      // Leftover bytes mean QEMU died in the middle of a message.
      end_connection(*s, connection_lost_error(), is_blank(s->read_buffer));
      co_return;
    }
    if (ec == asio::error::not_found) {
      end_connection(*s,
                     Error(Errc::protocol, "QMP message exceeds the " + std::to_string(s->options.max_message_bytes) +
                                               "-byte limit"),
                     false);
      co_return;
    }
    if (ec) {
      end_connection(*s, socket_error(ec, "reading from"), false);
      co_return;
    }
    std::string_view line(s->read_buffer.data(), length);
    if (!is_blank(line)) {
      if (auto handled = handle_line(*s, line); !handled) {
        end_connection(*s, std::move(handled).error(), false);
        co_return;
      }
      if (s->ended) co_return;  // an event handler closed the client
    }
    s->read_buffer.erase(0, length);
  }
}

/// Sends `line` with `fd` attached (QMP getfd); the line is short enough to
/// go in one sendmsg once the socket is writable.
awaitable<boost::system::error_code> send_with_fd(QmpClient::Socket& socket, const std::string& line, int fd) {
  std::size_t sent = 0;
  while (sent < line.size()) {
    msghdr msg{};
    iovec iov{const_cast<char*>(line.data() + sent), line.size() - sent};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (sent == 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n = ::sendmsg(socket.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      auto [ec] = co_await socket.async_wait(asio::socket_base::wait_write, asio::as_tuple(use_awaitable));
      if (ec) co_return ec;
      continue;
    }
    if (n < 0) co_return boost::system::error_code(errno, boost::system::system_category());
    sent += static_cast<std::size_t>(n);
  }
  co_return boost::system::error_code{};
}

awaitable<void> write_loop(StatePtr s) {
  while (!s->ended) {
    if (s->outbox.empty()) {
      s->writer_wake.expires_at(Clock::time_point::max());
      co_await s->writer_wake.async_wait(asio::as_tuple(use_awaitable));
      continue;
    }
    auto out = std::move(s->outbox.front());
    s->outbox.pop_front();
    boost::system::error_code ec;
    if (out.fd) {
      ec = co_await send_with_fd(s->socket, out.line, out.fd->get());
    } else {
      auto [wec, written] = co_await asio::async_write(s->socket, asio::buffer(out.line), asio::as_tuple(use_awaitable));
      ec = wec;
    }
    if (ec) {
      end_connection(*s, socket_error(ec, "writing to"), false);
      co_return;
    }
  }
}

// The loops only fail by exception on bugs or allocation failure; never let
// that leave commands hanging.
auto fail_connection_on_exception(StatePtr s, const char* loop) {
  return [s = std::move(s), loop](std::exception_ptr e) {
    if (!e) return;
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    end_connection(*s, Error(Errc::internal, std::string("QMP ") + loop + " failed: " + what), false);
  };
}

Error detached_client_error() { return Error(Errc::bad_state, "QMP client was moved from"); }

awaitable<Result<json::value>> execute_command(StatePtr s, std::string command, json::object args, milliseconds deadline,
                                               bool negotiating, std::shared_ptr<::firerun::detail::UniqueFd> fd = {}) {
  if (!s) co_return detached_client_error();
  if (s->ended) co_return Error(s->end_reason).with_context(command_context(command));
  if (!s->ready && !negotiating)
    co_return Error(Errc::bad_state, "QMP handshake has not completed").with_context(command_context(command));
  const std::uint64_t id = s->next_id++;
  // No line terminator: QEMU's JSON streamer needs none, and it reads its
  // monitor input only as far as the command it is executing, so a trailing
  // CRLF after "quit" would be left unread and turn QEMU's exit into a
  // connection reset instead of a clean EOF.
  FIRERUN_CO_TRY(std::string line, format_qmp_command(command, args, id));
  auto pending = std::make_shared<detail::PendingCommand>();
  pending->command = command;
  s->pending.emplace(id, pending);
  s->outbox.push_back({std::move(line), std::move(fd)});
  s->writer_wake.cancel();

  const auto until = Clock::now() + deadline;
  for (;;) {
    if (pending->outcome) co_return std::move(*pending->outcome);
    const Wake wake = co_await wait_for_change(s, until);
    if (wake == Wake::changed) continue;
    if (pending->outcome) co_return std::move(*pending->outcome);
    s->pending.erase(id);  // a late reply will be dropped as stray
    if (wake == Wake::timed_out)
      co_return Error(Errc::timeout, "no reply within " + millis(deadline)).with_context(command_context(command));
    co_return waiter_cancelled("waiting for the reply").with_context(command_context(command));
  }
}

awaitable<Result<QmpGreeting>> run_handshake(StatePtr s, milliseconds deadline) {
  if (!s) co_return detached_client_error();
  if (s->started) co_return Error(Errc::bad_state, "QMP handshake was already performed");
  s->started = true;
  const auto executor = s->socket.get_executor();
  asio::co_spawn(executor, read_loop(s), fail_connection_on_exception(s, "reader"));
  asio::co_spawn(executor, write_loop(s), fail_connection_on_exception(s, "writer"));

  const auto until = Clock::now() + deadline;
  while (!s->greeting) {
    if (s->ended) co_return Error(s->end_reason).with_context("waiting for the QMP greeting");
    const Wake wake = co_await wait_for_change(s, until);
    if (wake == Wake::timed_out) {
      Error error(Errc::timeout, "no QMP greeting within " + millis(deadline));
      end_connection(*s, error, false);
      co_return error;
    }
    if (wake == Wake::cancelled) {
      Error error = waiter_cancelled("waiting for the QMP greeting");
      end_connection(*s, error, false);
      co_return error;
    }
  }

  const auto remaining = std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(until - Clock::now()));
  auto negotiated = co_await execute_command(s, "qmp_capabilities", {}, remaining, /*negotiating=*/true);
  if (!negotiated) {
    end_connection(*s, negotiated.error(), false);
    co_return std::move(negotiated).error().with_context("negotiating QMP capabilities");
  }
  s->ready = true;
  co_return *s->greeting;
}

awaitable<Result<QmpEvent>> await_event(StatePtr s, milliseconds deadline) {
  if (!s) co_return detached_client_error();
  if (s->event_handler) co_return Error(Errc::bad_state, "QMP events go to the on_event() handler; next_event() is unavailable");
  const auto until = Clock::now() + deadline;
  for (;;) {
    if (!s->events.empty()) {
      QmpEvent event = std::move(s->events.front());
      s->events.pop_front();
      co_return event;
    }
    if (s->ended) co_return Error(s->end_reason).with_context("waiting for a QMP event");
    const Wake wake = co_await wait_for_change(s, until);
    if (wake == Wake::timed_out) co_return Error(Errc::timeout, "no QMP event within " + millis(deadline));
    if (wake == Wake::cancelled) co_return waiter_cancelled("waiting for a QMP event");
  }
}

awaitable<Status> await_closed(StatePtr s, milliseconds deadline) {
  if (!s) co_return Status();  // a moved-from client has no connection left
  const auto until = Clock::now() + deadline;
  while (!s->ended) {
    const Wake wake = co_await wait_for_change(s, until);
    if (wake == Wake::timed_out)
      co_return Error(Errc::timeout, "QMP connection still open after " + millis(deadline));
    if (wake == Wake::cancelled) co_return waiter_cancelled("waiting for the QMP connection to close");
  }
  if (s->clean_end) co_return Status();
  co_return s->end_reason;
}

}  // namespace

QmpClient::QmpClient(Socket socket, QmpClientOptions options)
    : state_(std::make_shared<detail::QmpClientState>(std::move(socket), options)) {}

QmpClient::~QmpClient() { close(); }

QmpClient::QmpClient(QmpClient&&) noexcept = default;

QmpClient& QmpClient::operator=(QmpClient&& other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
  }
  return *this;
}

// The public coroutines are thin non-coroutine wrappers: they copy their
// arguments (a string_view could dangle before the coroutine first runs) and
// share ownership of the state with the operation.
awaitable<Result<QmpGreeting>> QmpClient::handshake(milliseconds deadline) { return run_handshake(state_, deadline); }

awaitable<Result<json::value>> QmpClient::execute(std::string_view command, json::object args, milliseconds deadline) {
  return execute_command(state_, std::string(command), std::move(args), deadline, /*negotiating=*/false);
}

awaitable<Result<json::value>> QmpClient::execute_with_fd(std::string_view command, boost::json::object args, int fd,
                                                          milliseconds deadline) {
  auto owned = std::make_shared<::firerun::detail::UniqueFd>(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!*owned) {
    return [](std::string c) -> awaitable<Result<json::value>> {
      co_return Error(Errc::io, "duplicating a descriptor for QMP " + c + ": " + std::strerror(errno));
    }(std::string(command));
  }
  return execute_command(state_, std::string(command), std::move(args), deadline, /*negotiating=*/false, std::move(owned));
}

void QmpClient::on_event(EventHandler handler) {
  if (!state_) return;
  state_->event_handler = std::move(handler);
  // Hand over the backlog in order; stop early if the handler unsubscribes.
  while (state_->event_handler && !state_->events.empty()) {
    QmpEvent event = std::move(state_->events.front());
    state_->events.pop_front();
    auto current = state_->event_handler;
    current(event);
  }
}

awaitable<Result<QmpEvent>> QmpClient::next_event(milliseconds deadline) { return await_event(state_, deadline); }

awaitable<Status> QmpClient::wait_closed(milliseconds deadline) { return await_closed(state_, deadline); }

void QmpClient::close() {
  if (state_) end_connection(*state_, Error(Errc::cancelled, "QMP client was closed"), /*clean=*/true);
}

bool QmpClient::is_open() const noexcept { return state_ && !state_->ended; }

std::size_t QmpClient::dropped_events() const noexcept { return state_ ? state_->dropped_events : 0; }

std::size_t QmpClient::stray_replies() const noexcept { return state_ ? state_->stray_replies : 0; }

}  // namespace firerun::qemu
