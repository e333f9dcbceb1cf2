// libFuzzer target for the QMP client's stream handling (vm/qemu/qmp_client.h):
// a hostile or broken monitor sends arbitrary bytes, cut into arbitrary
// chunks, to a real QmpClient over a socketpair while it handshakes, runs
// commands and waits for events. Every outcome must be a Result with a known
// error code, within the deadlines; nothing may crash, hang or leak.
// Input: byte 0 picks the chunk sizes; the rest is what the "monitor" sends.
#include "vm/qemu/qmp_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using firerun::Errc;

void check(const firerun::Error& e) {
  switch (e.errc()) {
    case Errc::protocol:
    case Errc::timeout:
    case Errc::backend_failed:
    case Errc::cancelled:
    case Errc::bad_state:
    case Errc::io:
      return;
    default:
      std::abort();  // e.g. internal: the stream reached a state the client did not expect
  }
}

asio::awaitable<void> feed(asio::local::stream_protocol::socket& peer, std::string data, unsigned chunk_seed) {
  std::size_t at = 0, step = 0;
  while (at < data.size()) {
    const std::size_t n = std::min<std::size_t>(data.size() - at, 1 + (chunk_seed * 31 + step++ * 17) % 97);
    auto [ec, written] =
        co_await asio::async_write(peer, asio::buffer(data.data() + at, n), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    at += written;
  }
  boost::system::error_code ignored;
  peer.shutdown(asio::socket_base::shutdown_send, ignored);
}

asio::awaitable<void> drive(firerun::qemu::QmpClient& client) {
  auto greeting = co_await client.handshake(300ms);
  if (!greeting) co_return check(greeting.error());
  for (const char* command : {"query-status", "stop"}) {
    auto r = co_await client.execute(command, {}, 200ms);
    if (!r) check(r.error());
  }
  auto event = co_await client.next_event(50ms);
  if (!event) check(event.error());
  auto closed = co_await client.wait_closed(200ms);
  if (!closed) check(closed.error());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  asio::io_context io;
  asio::local::stream_protocol::socket ours(io), peer(io);
  asio::local::connect_pair(ours, peer);
  firerun::qemu::QmpClientOptions options;
  options.max_message_bytes = 4096;  // small, so over-long lines are reachable
  options.max_buffered_events = 8;
  bool done = false;
  {
    firerun::qemu::QmpClient client(std::move(ours), options);
    asio::co_spawn(io, feed(peer, std::string(reinterpret_cast<const char*>(data + 1), size - 1), data[0]),
                   asio::detached);
    asio::co_spawn(io, drive(client), [&](std::exception_ptr e) {
      if (e) std::abort();  // the client must report errors as Results, not throw
      done = true;
    });
    io.run_for(3s);
    if (!done) std::abort();  // every operation has a deadline: the client must not hang
    client.close();
  }
  io.restart();
  io.poll();  // let the client's reader and writer finish after close
  return 0;
}
