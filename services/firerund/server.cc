#include "server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

namespace firerun::daemon {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

Server::Server(asio::any_io_executor executor, Api& api, const Limits& limits)
    : executor_(executor), api_(api), limits_(limits), acceptor_(executor) {}

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
  asio::co_spawn(executor_, accept_loop(), asio::detached);
  return bound;
}

void Server::stop_accepting() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

Task<void> Server::accept_loop() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
      spdlog::warn("accept: {}", ec.message());
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    asio::co_spawn(executor_, session(std::move(socket)), asio::detached);
  }
}

Task<void> Server::session(tcp::socket socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  const std::string client = ec ? std::string("unknown") : remote.address().to_string();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    // Between requests on a kept-alive connection the idle timeout applies.
    stream.expires_after(std::chrono::milliseconds(first ? limits_.request_timeout_ms : limits_.idle_timeout_ms));
    first = false;
    auto [header_ec, header_bytes] =
        co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (header_ec) break;  // closed, timed out or malformed: nothing useful to answer
    // The limit depends on the endpoint, so it is set once the target is known.
    const std::uint64_t limit = api_.body_limit(parser.get().target());
    parser.body_limit(limit);
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (read_ec == http::error::body_limit) {
      auto res = api_.body_too_large(parser.get().version(), limit);
      stream.expires_after(std::chrono::seconds(10));
      std::ignore = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      break;
    }
    if (read_ec) break;  // closed, timed out or malformed: nothing useful to answer
    HttpRequest request = parser.release();
    // A synchronous execute may legitimately take minutes.
    stream.expires_never();
    auto response = co_await api_.handle(request, client);
    stream.expires_after(std::chrono::milliseconds(limits_.request_timeout_ms));
    auto [write_ec, written] = co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
    if (write_ec || !response.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace firerun::daemon
