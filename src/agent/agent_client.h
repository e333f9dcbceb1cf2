// Host side of the guest-agent protocol: an Asio coroutine client over a
// connected stream socket (QEMU's virtio-serial chardev, or a socketpair to a
// `firerun-agent --serve-fd` process in tests).
//
// The guest is untrusted: every reply is validated, output is capped on the host
// too, and every wait has a deadline, so a hostile or dead guest yields an
// Errc::protocol / Errc::guest_failed / Errc::timeout error, never a hang or crash.
//
// One operation at a time: the client is not thread-safe and rejects a call
// made while another is in flight (Errc::bad_state). Use it from one strand.
#pragma once

#include "firerun/agent_protocol.h"
#include "firerun/error.h"
#include "firerun/exec.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace firerun::agent {

/// Receives output chunks as they arrive (already cut to the exec's output cap).
struct OutputSink {
  std::function<void(std::string_view)> on_stdout;  ///< may be empty
  std::function<void(std::string_view)> on_stderr;  ///< may be empty
};

class AgentClient {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;
  using Clock = std::chrono::steady_clock;

  /// Extra time the host grants past an exec's own timeout before giving up on the guest.
  static constexpr std::chrono::milliseconds kExecGrace{15000};  // generous: TCG guests on busy hosts are slow

  /// Takes ownership of a connected socket.
  explicit AgentClient(Socket socket);

  /// Waits for the agent's hello (ignoring nothing else: other frames before it are a protocol error).
  boost::asio::awaitable<Result<Hello>> wait_ready(Clock::time_point deadline);

  /// Runs a program; streams output to `sink` while also accumulating it (up to output_cap per stream).
  /// With a timeout, the host gives up at timeout + kExecGrace with Errc::timeout.
  boost::asio::awaitable<Result<ExecResult>> exec(const ExecRequest& request, const OutputSink* sink = nullptr);

  /// Writes a whole file (any size; sent in kMaxFileSlice slices).
  boost::asio::awaitable<Status> write_file(std::string path, std::string_view data, std::uint32_t mode = 0644);

  /// Reads a whole file; Errc::limit_exceeded when it is larger than max_bytes.
  boost::asio::awaitable<Result<std::string>> read_file(std::string path, std::uint64_t max_bytes = 64u << 20);

  /// Asks the guest to power off; returns once the agent acknowledged.
  boost::asio::awaitable<Status> shutdown();

  /// Mixes entropy into the guest RNG and optionally sets its wall clock (for snapshot restore).
  boost::asio::awaitable<Status> reseed(std::string entropy,
                                        std::optional<std::chrono::system_clock::time_point> now = std::nullopt);

  /// Deadline applied to write_file/read_file/shutdown/reseed (default 30 s).
  void set_request_timeout(std::chrono::milliseconds timeout) { request_timeout_ = timeout; }

  /// True once the stream is unusable (guest closed it, spoke garbage, or a deadline cut a frame short).
  bool broken() const noexcept { return broken_; }

  /// The underlying socket (e.g. to close it).
  Socket& socket() noexcept { return socket_; }

 private:
  class Busy;

  boost::asio::awaitable<Status> send(MessageType type, std::uint32_t request_id, std::string_view payload);
  boost::asio::awaitable<Result<Frame>> read_frame();
  boost::asio::awaitable<Result<Frame>> read_reply(std::uint32_t request_id);
  boost::asio::awaitable<Status> request_ok(MessageType type, std::string payload);
  boost::asio::awaitable<Result<FileData>> read_slice(const ReadFile& request);
  boost::asio::awaitable<Status> send_stdin(std::uint32_t request_id, std::string_view data);
  boost::asio::awaitable<Result<ExecResult>> collect_exec(std::uint32_t request_id, const ExecRequest& request,
                                                          const OutputSink* sink);
  Status check_usable() const;
  std::uint32_t next_request_id();

  Socket socket_;
  FrameDecoder decoder_;
  std::uint32_t last_request_id_ = 0;
  std::chrono::milliseconds request_timeout_{30000};
  bool busy_ = false;
  bool broken_ = false;
};

}  // namespace firerun::agent
