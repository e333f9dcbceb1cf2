// The HTTP front: a listener accepting TCP connections and one session per
// connection, hardened against hostile clients: connection caps (with eviction
// of idle connections), EMFILE back-off, header/target/body limits decided
// before the body is read, timeouts for slow clients, a status for every
// malformed request, and hang-up detection while a handler runs.
#pragma once

#include "api.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

namespace firerun::daemon {

class Server {
 public:
  /// `api` and `limits` must outlive the server.
  Server(boost::asio::any_io_executor executor, Api& api, const Limits& limits);
  /// Binds `host:port` (port 0 = any free port) and starts accepting.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& host_port);
  /// Closes the listening socket; open connections finish their current request.
  void stop_accepting();
  /// Connections open now (for metrics and tests).
  std::size_t open_connections() const noexcept { return connections_.size(); }

 private:
  struct Connection;
  Task<void> accept_loop();
  Task<void> session(std::shared_ptr<Connection> connection);
  /// Makes room for a connection from `client`: closes the oldest idle
  /// connection over the caps. False when every connection is busy.
  bool make_room(const std::string& client);
  /// Closes the oldest connection not running a request (of `client` if given).
  bool evict_idle(const std::string* client);
  void forget(const Connection& connection);

  boost::asio::any_io_executor executor_;
  Api& api_;
  const Limits& limits_;
  boost::asio::ip::tcp::acceptor acceptor_;
  static constexpr std::uint64_t kReservedDescriptors = 64;
  std::uint64_t max_connections_;  ///< limits.max_connections, capped by RLIMIT_NOFILE
  std::uint64_t next_serial_ = 0;
  std::map<std::uint64_t, std::shared_ptr<Connection>> connections_;  // oldest first
  std::unordered_map<std::string, std::size_t> per_client_;
};

}  // namespace firerun::daemon
