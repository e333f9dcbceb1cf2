// The host <-> guest-agent wire protocol (version 1): frames, message types and
// their payload codecs. Spoken over a virtio-serial port; see docs/agent-protocol.md.
//
// Every decoder treats its input as hostile: malformed bytes yield an
// Errc::protocol error, never a crash or an unbounded allocation.
#pragma once

#include "firerun/error.h"
#include "firerun/exec.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace firerun::agent {

/// Protocol version carried in every frame header; a peer rejects other versions.
inline constexpr std::uint8_t kProtocolVersion = 1;
/// Frame header: magic "FR", version u8, type u8, request_id u32 BE, payload_len u32 BE.
inline constexpr std::size_t kHeaderSize = 12;
/// Largest payload a frame may carry; longer length fields are rejected.
inline constexpr std::uint32_t kMaxPayload = 1u << 20;
/// Largest raw-data chunk (stdout/stderr/stdin/file bytes) one frame carries.
inline constexpr std::size_t kMaxChunk = 64u << 10;
/// Largest file slice one write_file / file_data frame carries (leaves room for its JSON header).
inline constexpr std::size_t kMaxFileSlice = kMaxPayload - 64u * 1024;
/// Name of the virtio-serial port the agent listens on (/sys/class/virtio-ports/*/name).
inline constexpr std::string_view kPortName = "org.firerun.agent.0";

/// Frame types. Direction in brackets: H = host sends, G = guest sends.
enum class MessageType : std::uint8_t {
  hello = 1,         ///< [G] agent is ready; JSON Hello
  exec = 2,          ///< [H] start a program; JSON ExecRequest fields + has_stdin
  stdin_chunk = 3,   ///< [H] raw bytes for the exec's stdin; empty = EOF
  stdout_chunk = 4,  ///< [G] raw bytes the exec wrote to stdout
  stderr_chunk = 5,  ///< [G] raw bytes the exec wrote to stderr
  exit = 6,          ///< [G] the exec finished; JSON exit status
  write_file = 7,    ///< [H] blob: JSON {path, mode, append} + file bytes; reply ok
  read_file = 8,     ///< [H] JSON {path, offset, max_bytes}; reply file_data
  file_data = 9,     ///< [G] blob: JSON {total_size} + file bytes
  shutdown = 10,     ///< [H] reply ok, then the guest powers off
  ok = 11,           ///< [G] request succeeded, empty payload
  error = 12,        ///< [G] request failed or frame malformed; JSON {errc, name, message}
  reseed = 13,       ///< [H] blob: JSON {unix_time_ns?} + entropy bytes; reply ok
};

/// Short stable name of a message type ("exec", ...), "unknown" otherwise.
const char* message_type_name(MessageType type) noexcept;
/// True when `raw` is one of the MessageType values above.
bool is_known_message_type(std::uint8_t raw) noexcept;

/// One decoded frame: its type, the request it belongs to, and its raw payload.
struct Frame {
  MessageType type = MessageType::ok;
  std::uint32_t request_id = 0;  ///< chosen by the host; replies and output echo it; 0 = none
  std::string payload;
};

/// Serialises a frame; fails with Errc::invalid_argument when the payload exceeds kMaxPayload.
Result<std::string> encode_frame(MessageType type, std::uint32_t request_id, std::string_view payload);

/// Incremental decoder: feed arbitrary chunks, take whole frames out.
class FrameDecoder {
 public:
  /// Appends received bytes.
  void feed(std::string_view bytes);
  /// The next whole frame, nullopt if more bytes are needed, or an Errc::protocol
  /// error (bad magic/version/type/oversize); after an error the buffered bytes are dropped.
  Result<std::optional<Frame>> next();
  /// Bytes buffered but not yet returned as frames.
  std::size_t buffered() const noexcept { return buffer_.size() - consumed_; }
  /// Drops all buffered bytes.
  void reset() noexcept;

 private:
  std::string buffer_;
  std::size_t consumed_ = 0;
};

/// Guest readiness announcement (hello).
struct Hello {
  std::uint32_t protocol_version = kProtocolVersion;  ///< agent's protocol version
  std::string agent_version;                          ///< firerun version the agent was built from
  std::uint64_t boot_time_ms = 0;                     ///< guest uptime when hello was sent (/proc/uptime)
  std::string kernel_release;                         ///< uname -r of the guest
};

/// A decoded exec request: the shared ExecRequest (stdin_data left unset) plus whether stdin frames follow.
struct ExecStart {
  ExecRequest request;
  bool has_stdin = false;  ///< false: the program's stdin is /dev/null
};

/// write_file: write (or append) one slice of a file.
struct WriteFile {
  std::string path;           ///< absolute path in the guest
  std::uint32_t mode = 0644;  ///< permission bits applied to the file
  bool append = false;        ///< false: create/truncate; true: append this slice
  std::string data;           ///< at most kMaxFileSlice bytes
};

/// read_file: read one slice of a file.
struct ReadFile {
  std::string path;                            ///< absolute path in the guest
  std::uint64_t offset = 0;                    ///< where the slice starts
  std::uint32_t max_bytes = kMaxFileSlice;     ///< at most kMaxFileSlice
};

/// file_data: a slice of a file and the file's total size.
struct FileData {
  std::uint64_t total_size = 0;  ///< size of the whole file
  std::string data;              ///< the slice
};

/// reseed: entropy to mix into the guest RNG and optionally the host's wall clock.
struct Reseed {
  std::string entropy;                       ///< at most kMaxFileSlice random bytes
  std::optional<std::int64_t> unix_time_ns;  ///< set the guest realtime clock to this
};

/// Payload codecs: encode_* never fail for valid values; decode_* reject hostile input with Errc::protocol.
std::string encode_hello(const Hello& hello);
Result<Hello> decode_hello(std::string_view payload);

/// Encodes an exec request; has_stdin is `request.stdin_data.has_value()` (the data itself travels in stdin_chunk frames).
std::string encode_exec(const ExecRequest& request);
Result<ExecStart> decode_exec(std::string_view payload);

/// Encodes the exit status fields of an ExecResult (stdout_data/stderr_data are not sent).
std::string encode_exit(const ExecResult& result);
/// Decodes an exit status; the data fields of the returned ExecResult are empty.
Result<ExecResult> decode_exit(std::string_view payload);

/// Fails with Errc::invalid_argument when data exceeds kMaxFileSlice.
Result<std::string> encode_write_file(const WriteFile& request);
Result<WriteFile> decode_write_file(std::string_view payload);

std::string encode_read_file(const ReadFile& request);
Result<ReadFile> decode_read_file(std::string_view payload);

/// Fails with Errc::invalid_argument when data exceeds kMaxFileSlice.
Result<std::string> encode_file_data(const FileData& data);
Result<FileData> decode_file_data(std::string_view payload);

/// Fails with Errc::invalid_argument when entropy exceeds kMaxFileSlice.
Result<std::string> encode_reseed(const Reseed& request);
Result<Reseed> decode_reseed(std::string_view payload);

/// Encodes an error reply (message is cut to a few KiB).
std::string encode_error(Errc code, std::string_view message);
/// Decodes an error reply into the Error it carries (unknown codes become Errc::guest_failed);
/// a malformed reply yields an Errc::protocol Error saying so.
Error decode_error(std::string_view payload);

}  // namespace firerun::agent
