#include "server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <limits>

namespace firerun::daemon {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

struct Server::Connection : std::enable_shared_from_this<Server::Connection> {
  Connection(tcp::socket socket, std::string client, std::uint64_t serial)
      : stream(std::move(socket)), read_deadline(stream.get_executor()), client(std::move(client)), serial(serial) {}
  /// Reads must finish by `after` from now. Unlike tcp_stream's own expiry
  /// (which closes the socket), this cancels the read and leaves the socket
  /// open, so the slow client still gets its 408.
  void arm_read_deadline(std::chrono::milliseconds after) {
    read_timed_out = false;
    stream.expires_never();
    read_deadline.expires_after(after);
    read_deadline.async_wait([this, alive = weak_from_this()](const boost::system::error_code& ec) {
      if (ec || alive.expired()) return;
      read_timed_out = true;
      boost::system::error_code ignored;
      stream.socket().cancel(ignored);
    });
  }
  void disarm_read_deadline() { read_deadline.cancel(); }
  beast::tcp_stream stream;
  asio::steady_timer read_deadline;
  bool read_timed_out = false;
  const std::string client;
  const std::uint64_t serial;
  bool busy = false;      ///< a request is being handled: never evicted
  bool evicted = false;
};

namespace {

/// The status for a request Beast refused to parse; 0 = say nothing (the
/// client went away or was silent).
unsigned status_for(const beast::error_code& ec, bool timed_out, const beast::flat_buffer& buffer, bool got_bytes,
                    std::string& message) {
  if (timed_out) {
    if (!got_bytes) return 0;  // an idle keep-alive connection: just close it
    message = "request not received in time";
    return 408;
  }
  if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::operation_aborted || ec == asio::error::broken_pipe)
    return 0;
  if (ec == http::error::partial_message) return 0;
  if (ec == http::error::header_limit) {
    // The request line never ended within the limit: the target is what is too long.
    const auto data = beast::buffers_to_string(buffer.data());
    if (data.find("\r\n") == std::string::npos && data.find('\n') == std::string::npos) {
      message = "request target too long";
      return 414;
    }
    message = "request headers too large";
    return 431;
  }
  if (ec == http::error::body_limit) {
    message = "request body too large";
    return 413;
  }
  message = "malformed HTTP request: " + ec.message();
  return 400;
}

/// Tells a connection we will not serve why, then closes it without a reset:
/// stop sending, read (and drop) what the client still sends for a moment, so
/// the kernel does not answer its pending bytes with RST before it reads ours.
Task<void> refuse_and_close(beast::tcp_stream& stream, HttpResponse response) {
  stream.expires_after(10s);
  auto [write_ec, written] = co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (write_ec) co_return;
  stream.expires_after(2s);
  std::array<char, 16384> sink;
  std::size_t drained = 0;
  while (drained < (64u << 20)) {
    auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
    if (read_ec) break;
    drained += n;
  }
}

}  // namespace

Server::Server(asio::any_io_executor executor, Api& api, const Limits& limits)
    : executor_(executor), api_(api), limits_(limits), acceptor_(executor), max_connections_(limits.max_connections) {
  // Never more connections than descriptors: the rest are kept for VMs
  // (QMP, agent, pipes), the databases and the log, so that a flood of
  // clients costs idle connections, not the ability to run jobs.
  struct rlimit nofile {};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    const std::uint64_t usable = nofile.rlim_cur > kReservedDescriptors + 16 ? nofile.rlim_cur - kReservedDescriptors : 16;
    if (usable < max_connections_) {
      spdlog::info("limits.max_connections: {} is more than RLIMIT_NOFILE ({}) allows; using {}", max_connections_,
                   nofile.rlim_cur, usable);
      max_connections_ = usable;
    }
  }
}

Result<tcp::endpoint> Server::listen(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return make_error(Errc::invalid_argument, "listen: expected host:port");
  std::string host = host_port.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return make_error(Errc::invalid_argument, "listen: '" + host + "' is not an IP address");
  unsigned port = static_cast<unsigned>(std::stoul(host_port.substr(colon + 1)));
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Errc::io, "listening on " + host_port + ": " + ec.message());
  auto bound = acceptor_.local_endpoint(ec);
  api_.set_bound_port(bound.port());
  asio::co_spawn(executor_, accept_loop(), asio::detached);
  return bound;
}

void Server::stop_accepting() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void Server::forget(const Connection& connection) {
  if (connections_.erase(connection.serial) == 0) return;
  auto it = per_client_.find(connection.client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

bool Server::evict_idle(const std::string* client) {
  for (auto& [serial, connection] : connections_) {
    if (connection->busy || (client && connection->client != *client)) continue;
    auto victim = connection;  // keep it alive past forget()
    victim->evicted = true;
    forget(*victim);
    boost::system::error_code ec;
    victim->stream.socket().close(ec);  // its session ends with operation_aborted
    return true;
  }
  return false;
}

bool Server::make_room(const std::string& client) {
  auto it = per_client_.find(client);
  if (it != per_client_.end() && it->second >= limits_.max_connections_per_client && !evict_idle(&client))
    return false;
  if (connections_.size() >= max_connections_ && !evict_idle(nullptr)) return false;
  return true;
}

Task<void> Server::accept_loop() {
  asio::steady_timer backoff_timer(executor_);
  auto backoff = 10ms;
  std::uint64_t unlogged_failures = 0;
  auto last_log = std::chrono::steady_clock::time_point{};
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
      // Out of descriptors (EMFILE/ENFILE) or memory: the pending connection
      // stays in the backlog, so retrying at once would spin. Free an idle
      // connection and wait; log at most every 10 s, with a count.
      ++unlogged_failures;
      if (const auto now = std::chrono::steady_clock::now(); now - last_log >= 10s) {
        spdlog::warn("accept: {} ({} times since the last report); backing off, closing idle connections",
                     ec.message(), unlogged_failures);
        unlogged_failures = 0;
        last_log = now;
      }
      evict_idle(nullptr);
      backoff_timer.expires_after(backoff);
      co_await backoff_timer.async_wait(asio::as_tuple(asio::use_awaitable));
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, 1000ms);
      continue;
    }
    backoff = 10ms;
    boost::system::error_code remote_ec;
    auto remote = socket.remote_endpoint(remote_ec);
    std::string client = remote_ec ? std::string("unknown") : remote.address().to_string();
    if (!make_room(client)) {
      // Every connection is running a request: say so and close.
      const auto mine = per_client_.find(client);
      const bool per_client = mine != per_client_.end() && mine->second >= limits_.max_connections_per_client;
      auto refused = api_.transport_error(503, std::string("too many busy connections (limits.max_connections") +
                                                   (per_client ? "_per_client)" : ")"));
      refused.set(http::field::retry_after, "1");
      auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
      asio::co_spawn(
          executor_, [stream, refused = std::move(refused)]() mutable -> Task<void> {
            co_await refuse_and_close(*stream, std::move(refused));
          },
          asio::detached);
      continue;
    }
    auto connection = std::make_shared<Connection>(std::move(socket), client, next_serial_++);
    connections_.emplace(connection->serial, connection);
    ++per_client_[client];
    asio::co_spawn(executor_, session(connection), asio::detached);
  }
}

Task<void> Server::session(std::shared_ptr<Connection> connection) {
  auto& stream = connection->stream;
  auto refuse = [&connection](HttpResponse response) {
    connection->disarm_read_deadline();
    return refuse_and_close(connection->stream, std::move(response));
  };
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    // The route's limit is known only once the target is: no limit while the
    // header is parsed (Beast would otherwise apply its own 1 MiB default to
    // Content-Length there), the route's own one right after.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    // A new connection has request_timeout for its first request; between
    // requests on a kept-alive one, the idle timeout applies. Either way the
    // whole header and body must arrive within it (slowloris).
    connection->arm_read_deadline(
        std::chrono::milliseconds(first ? limits_.request_timeout_ms : limits_.idle_timeout_ms));
    const std::size_t buffered_before = buffer.size();
    auto [header_ec, header_bytes] =
        co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (connection->evicted) co_return;
    if (header_ec) {
      std::string message;
      const unsigned status = status_for(header_ec, connection->read_timed_out, buffer,
                                         buffer.size() > 0 || buffered_before > 0, message);
      if (status) co_await refuse(api_.transport_error(status, message));
      break;
    }
    if (!first) connection->arm_read_deadline(std::chrono::milliseconds(limits_.request_timeout_ms));
    first = false;  // from here on the request timeout covers the body
    const auto& header = parser.get();
    if (header.target().size() > limits_.max_target_bytes) {
      co_await refuse(api_.transport_error(414, "request target too long", header.version()));
      break;
    }
    // Who may send this, and how much: decided before the body is buffered.
    if (auto refused = api_.admit(header, connection->client)) {
      co_await refuse(std::move(*refused));
      break;
    }
    const std::uint64_t limit = api_.body_limit(header.target());
    auto too_large = [&] {
      return api_.transport_error(413, "request body exceeds " + std::to_string(limit) + " bytes", header.version());
    };
    if (parser.content_length() && *parser.content_length() > limit) {
      co_await refuse(too_large());
      break;
    }
    parser.body_limit(limit);  // chunked bodies are counted as they arrive
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, header.version()};
      auto [continue_ec, n] = co_await http::async_write(stream, go_on, asio::as_tuple(asio::use_awaitable));
      if (continue_ec) break;
    }
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    connection->disarm_read_deadline();
    if (connection->evicted) co_return;
    if (read_ec) {
      std::string message;
      const unsigned status = status_for(read_ec, connection->read_timed_out, buffer, true, message);
      if (status == 413) co_await refuse(too_large());
      else if (status) co_await refuse(api_.transport_error(status, message, header.version()));
      break;
    }
    HttpRequest request = parser.release();
    connection->busy = true;
    // A synchronous execute may legitimately take minutes; while it runs, a
    // client that hangs up (EOF on its socket) cancels what it asked for.
    stream.expires_never();
    Call call;
    call.client = connection->client;
    auto hangup = call.hangup;
    const int fd = stream.socket().native_handle();
    stream.socket().async_wait(tcp::socket::wait_read, [hangup, fd](const boost::system::error_code& ec) {
      if (ec) return;
      char byte;
      const ssize_t got = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) hangup->fire();
      // got > 0: a pipelined request; read after this one.
    });
    auto response = co_await api_.handle(request, call);
    boost::system::error_code cancel_ec;
    stream.socket().cancel(cancel_ec);  // ends the hang-up watch
    if (hangup->fired()) break;
    stream.expires_after(std::chrono::milliseconds(limits_.request_timeout_ms));
    auto [write_ec, written] = co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
    connection->busy = false;
    if (write_ec || !response.keep_alive()) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  forget(*connection);
}

}  // namespace firerun::daemon
