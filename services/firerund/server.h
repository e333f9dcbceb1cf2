// The HTTP front: a listener accepting TCP connections and one session per
// connection (body limit, read/idle timeouts, keep-alive) handing requests to the Api.
#pragma once

#include "api.h"

#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace firerun::daemon {

class Server {
 public:
  /// `api` and `limits` must outlive the server.
  Server(boost::asio::any_io_executor executor, Api& api, const Limits& limits);
  /// Binds `host:port` (port 0 = any free port) and starts accepting.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host_port);
  /// Closes the listening socket; open connections finish their current request.
  void stop_accepting();

 private:
  Task<void> accept_loop();
  Task<void> session(boost::asio::ip::tcp::socket socket);

  boost::asio::any_io_executor executor_;
  Api& api_;
  const Limits& limits_;
  boost::asio::ip::tcp::acceptor acceptor_;
};

}  // namespace firerun::daemon
