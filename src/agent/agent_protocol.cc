// Codec for the guest-agent protocol. Compiled into libfirerun AND into the
// static firerun-agent binary, so it depends only on error.cc and Boost.JSON.
#include "firerun/agent_protocol.h"

#include <boost/json.hpp>

#include <algorithm>
#include <limits>

namespace firerun::agent {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxErrorMessage = 4096;
constexpr std::size_t kMaxArgs = 4096;
constexpr std::size_t kMaxEnv = 4096;

Error protocol_error(std::string message) { return Error(Errc::protocol, std::move(message)); }

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

std::uint32_t get_u32(std::string_view in, std::size_t at) {
  auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

Result<json::object> parse_object(std::string_view text, const char* what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return protocol_error(std::string(what) + ": invalid JSON: " + ec.message());
  if (!v.is_object()) return protocol_error(std::string(what) + ": JSON payload is not an object");
  return std::move(v.as_object());
}

// Field readers: `required` fields must be present; optional ones keep their default.
Result<std::optional<std::uint64_t>> get_uint(const json::object& o, std::string_view key, bool required) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) return protocol_error("missing field '" + std::string(key) + "'");
    return std::optional<std::uint64_t>{};
  }
  if (const auto* i = v->if_int64()) {
    if (*i < 0) return protocol_error("field '" + std::string(key) + "' must not be negative");
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(*i));
  }
  if (const auto* u = v->if_uint64()) return std::optional<std::uint64_t>(*u);
  return protocol_error("field '" + std::string(key) + "' must be an unsigned integer");
}

Result<std::uint64_t> get_uint_or(const json::object& o, std::string_view key, std::uint64_t fallback,
                                  std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  FIRERUN_TRY(auto v, get_uint(o, key, false));
  std::uint64_t value = v.value_or(fallback);
  if (value > max) return protocol_error("field '" + std::string(key) + "' is out of range");
  return value;
}

Result<std::uint64_t> get_required_uint(const json::object& o, std::string_view key,
                                        std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
  FIRERUN_TRY(auto v, get_uint(o, key, true));
  if (*v > max) return protocol_error("field '" + std::string(key) + "' is out of range");
  return *v;
}

Result<std::optional<std::string>> get_string(const json::object& o, std::string_view key, bool required) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) return protocol_error("missing field '" + std::string(key) + "'");
    return std::optional<std::string>{};
  }
  const auto* s = v->if_string();
  if (!s) return protocol_error("field '" + std::string(key) + "' must be a string");
  return std::optional<std::string>(std::string(s->data(), s->size()));
}

Result<bool> get_bool_or(const json::object& o, std::string_view key, bool fallback) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return fallback;
  const auto* b = v->if_bool();
  if (!b) return protocol_error("field '" + std::string(key) + "' must be a boolean");
  return *b;
}

Result<std::optional<int>> get_small_int(const json::object& o, std::string_view key, int lo, int hi) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<int>{};
  const auto* i = v->if_int64();
  std::int64_t value = 0;
  if (i) {
    value = *i;
  } else if (const auto* u = v->if_uint64()) {
    value = *u > static_cast<std::uint64_t>(hi) ? std::int64_t{hi} + 1 : static_cast<std::int64_t>(*u);
  } else {
    return protocol_error("field '" + std::string(key) + "' must be an integer");
  }
  if (value < lo || value > hi) return protocol_error("field '" + std::string(key) + "' is out of range");
  return std::optional<int>(static_cast<int>(value));
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

Result<std::string> require_path(const json::object& o) {
  FIRERUN_TRY(auto path, get_string(o, "path", true));
  if (path->empty() || path->front() != '/') return protocol_error("field 'path' must be an absolute path");
  if (has_nul(*path)) return protocol_error("field 'path' contains a NUL byte");
  return std::move(*path);
}

// Blob payloads: u32 BE header length, JSON header object, then raw bytes.
std::string encode_blob(const json::object& header, std::string_view data) {
  std::string text = json::serialize(header);
  std::string out;
  out.reserve(4 + text.size() + data.size());
  put_u32(out, static_cast<std::uint32_t>(text.size()));
  out += text;
  out.append(data.data(), data.size());
  return out;
}

struct Blob {
  json::object header;
  std::string_view data;
};

Result<Blob> decode_blob(std::string_view payload, const char* what) {
  if (payload.size() < 4) return protocol_error(std::string(what) + ": payload shorter than its header length");
  std::uint32_t header_len = get_u32(payload, 0);
  if (header_len > payload.size() - 4)
    return protocol_error(std::string(what) + ": header length exceeds payload");
  FIRERUN_TRY(auto header, parse_object(payload.substr(4, header_len), what));
  return Blob{std::move(header), payload.substr(4 + header_len)};
}

template <class T>
Result<T> in_context(Result<T>&& r, const char* what) {
  if (r) return std::move(r);
  Error e = std::move(r).error();
  return Error(e.code(), std::string(what) + ": " + e.message());
}

}  // namespace

const char* message_type_name(MessageType type) noexcept {
  switch (type) {
    case MessageType::hello: return "hello";
    case MessageType::exec: return "exec";
    case MessageType::stdin_chunk: return "stdin";
    case MessageType::stdout_chunk: return "stdout";
    case MessageType::stderr_chunk: return "stderr";
    case MessageType::exit: return "exit";
    case MessageType::write_file: return "write_file";
    case MessageType::read_file: return "read_file";
    case MessageType::file_data: return "file_data";
    case MessageType::shutdown: return "shutdown";
    case MessageType::ok: return "ok";
    case MessageType::error: return "error";
    case MessageType::reseed: return "reseed";
  }
  return "unknown";
}

bool is_known_message_type(std::uint8_t raw) noexcept {
  return raw >= static_cast<std::uint8_t>(MessageType::hello) && raw <= static_cast<std::uint8_t>(MessageType::reseed);
}

Result<std::string> encode_frame(MessageType type, std::uint32_t request_id, std::string_view payload) {
  if (payload.size() > kMaxPayload)
    return Error(Errc::invalid_argument, std::string(message_type_name(type)) + " payload of " +
                                             std::to_string(payload.size()) + " bytes exceeds the frame limit");
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  out += "FR";
  out.push_back(static_cast<char>(kProtocolVersion));
  out.push_back(static_cast<char>(type));
  put_u32(out, request_id);
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload.data(), payload.size());
  return out;
}

void FrameDecoder::feed(std::string_view bytes) {
  // Compact lazily so a long stream of small frames does not grow the buffer.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
}

void FrameDecoder::reset() noexcept {
  buffer_.clear();
  consumed_ = 0;
}

Result<std::optional<Frame>> FrameDecoder::next() {
  std::string_view avail(buffer_.data() + consumed_, buffer_.size() - consumed_);
  // Check the magic as soon as its bytes arrive so garbage is reported early.
  if (!avail.empty() && avail[0] != 'F') {
    reset();
    return protocol_error("bad frame magic");
  }
  if (avail.size() >= 2 && avail[1] != 'R') {
    reset();
    return protocol_error("bad frame magic");
  }
  if (avail.size() < kHeaderSize) return std::optional<Frame>{};
  auto version = static_cast<std::uint8_t>(avail[2]);
  auto raw_type = static_cast<std::uint8_t>(avail[3]);
  std::uint32_t request_id = get_u32(avail, 4);
  std::uint32_t length = get_u32(avail, 8);
  if (version != kProtocolVersion) {
    reset();
    return protocol_error("unsupported protocol version " + std::to_string(version) + " (expected " +
                          std::to_string(kProtocolVersion) + ")");
  }
  if (!is_known_message_type(raw_type)) {
    reset();
    return protocol_error("unknown message type " + std::to_string(raw_type));
  }
  if (length > kMaxPayload) {
    reset();
    return protocol_error("frame payload length " + std::to_string(length) + " exceeds limit " +
                          std::to_string(kMaxPayload));
  }
  if (avail.size() - kHeaderSize < length) return std::optional<Frame>{};
  Frame frame;
  frame.type = static_cast<MessageType>(raw_type);
  frame.request_id = request_id;
  frame.payload.assign(avail.data() + kHeaderSize, length);
  consumed_ += kHeaderSize + length;
  if (consumed_ == buffer_.size()) reset();
  return std::optional<Frame>(std::move(frame));
}

std::string encode_hello(const Hello& hello) {
  json::object o;
  o["protocol_version"] = hello.protocol_version;
  o["agent_version"] = hello.agent_version;
  o["boot_time_ms"] = hello.boot_time_ms;
  o["kernel_release"] = hello.kernel_release;
  return json::serialize(o);
}

Result<Hello> decode_hello(std::string_view payload) {
  auto decode = [&]() -> Result<Hello> {
    FIRERUN_TRY(auto o, parse_object(payload, "hello"));
    Hello h;
    FIRERUN_TRY(h.protocol_version, get_required_uint(o, "protocol_version", 255));
    FIRERUN_TRY(auto version, get_string(o, "agent_version", true));
    h.agent_version = std::move(*version);
    FIRERUN_TRY(h.boot_time_ms, get_uint_or(o, "boot_time_ms", 0));
    FIRERUN_TRY(auto kernel, get_string(o, "kernel_release", false));
    h.kernel_release = kernel.value_or("");
    return h;
  };
  return in_context(decode(), "hello");
}

std::string encode_exec(const ExecRequest& request) {
  json::object o;
  json::array argv;
  for (const auto& a : request.argv) argv.emplace_back(a);
  o["argv"] = std::move(argv);
  json::object env;
  for (const auto& [k, v] : request.env) env[k] = v;
  o["env"] = std::move(env);
  o["cwd"] = request.cwd;
  o["uid"] = request.uid;
  o["gid"] = request.gid;
  o["timeout_ms"] = static_cast<std::uint64_t>(std::max<std::int64_t>(0, request.timeout.count()));
  o["output_cap"] = request.output_cap;
  o["has_stdin"] = request.stdin_data.has_value();
  return json::serialize(o);
}

Result<ExecStart> decode_exec(std::string_view payload) {
  auto decode = [&]() -> Result<ExecStart> {
    FIRERUN_TRY(auto o, parse_object(payload, "exec"));
    ExecStart start;
    ExecRequest& r = start.request;
    const json::value* argv = o.if_contains("argv");
    if (!argv || !argv->is_array()) return protocol_error("field 'argv' must be an array of strings");
    const auto& arr = argv->get_array();
    if (arr.empty()) return protocol_error("field 'argv' must not be empty");
    if (arr.size() > kMaxArgs) return protocol_error("field 'argv' has too many entries");
    r.argv.reserve(arr.size());
    for (const auto& a : arr) {
      const auto* s = a.if_string();
      if (!s) return protocol_error("field 'argv' must be an array of strings");
      if (has_nul(*s)) return protocol_error("argv entry contains a NUL byte");
      r.argv.emplace_back(s->data(), s->size());
    }
    if (r.argv[0].empty()) return protocol_error("argv[0] must not be empty");
    if (const json::value* env = o.if_contains("env"); env && !env->is_null()) {
      const auto* eo = env->if_object();
      if (!eo) return protocol_error("field 'env' must be an object of strings");
      if (eo->size() > kMaxEnv) return protocol_error("field 'env' has too many entries");
      for (const auto& kv : *eo) {
        const auto* s = kv.value().if_string();
        if (!s) return protocol_error("field 'env' must be an object of strings");
        std::string_view key = kv.key();
        if (key.empty() || key.find('=') != std::string_view::npos || has_nul(key) || has_nul(*s))
          return protocol_error("invalid environment variable name or value");
        r.env[std::string(key)] = std::string(s->data(), s->size());
      }
    }
    FIRERUN_TRY(auto cwd, get_string(o, "cwd", false));
    r.cwd = cwd.value_or("/");
    if (r.cwd.empty() || has_nul(r.cwd)) return protocol_error("field 'cwd' is invalid");
    FIRERUN_TRY(auto uid, get_uint_or(o, "uid", 0, std::numeric_limits<std::uint32_t>::max()));
    FIRERUN_TRY(auto gid, get_uint_or(o, "gid", 0, std::numeric_limits<std::uint32_t>::max()));
    r.uid = static_cast<std::uint32_t>(uid);
    r.gid = static_cast<std::uint32_t>(gid);
    // One year is far beyond any sane timeout and keeps chrono arithmetic from overflowing.
    FIRERUN_TRY(auto timeout, get_uint_or(o, "timeout_ms", 0, 365ull * 24 * 3600 * 1000));
    r.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout));
    FIRERUN_TRY(r.output_cap, get_uint_or(o, "output_cap", kDefaultOutputCap));
    FIRERUN_TRY(start.has_stdin, get_bool_or(o, "has_stdin", false));
    return start;
  };
  return in_context(decode(), "exec");
}

std::string encode_exit(const ExecResult& result) {
  json::object o;
  if (result.exit_code) o["exit_code"] = *result.exit_code;
  if (result.signal) o["signal"] = *result.signal;
  o["timed_out"] = result.timed_out;
  o["stdout_truncated"] = result.stdout_truncated;
  o["stderr_truncated"] = result.stderr_truncated;
  o["duration_ms"] = static_cast<std::uint64_t>(std::max<std::int64_t>(0, result.duration.count()));
  return json::serialize(o);
}

Result<ExecResult> decode_exit(std::string_view payload) {
  auto decode = [&]() -> Result<ExecResult> {
    FIRERUN_TRY(auto o, parse_object(payload, "exit"));
    ExecResult r;
    FIRERUN_TRY(r.exit_code, get_small_int(o, "exit_code", 0, 255));
    FIRERUN_TRY(r.signal, get_small_int(o, "signal", 1, 127));
    if (r.exit_code.has_value() == r.signal.has_value())
      return protocol_error("exactly one of 'exit_code' and 'signal' must be set");
    FIRERUN_TRY(r.timed_out, get_bool_or(o, "timed_out", false));
    FIRERUN_TRY(r.stdout_truncated, get_bool_or(o, "stdout_truncated", false));
    FIRERUN_TRY(r.stderr_truncated, get_bool_or(o, "stderr_truncated", false));
    FIRERUN_TRY(auto duration, get_uint_or(o, "duration_ms", 0, std::numeric_limits<std::int64_t>::max() / 1000000));
    r.duration = std::chrono::milliseconds(static_cast<std::int64_t>(duration));
    return r;
  };
  return in_context(decode(), "exit");
}

Result<std::string> encode_write_file(const WriteFile& request) {
  if (request.data.size() > kMaxFileSlice)
    return Error(Errc::invalid_argument, "write_file slice exceeds " + std::to_string(kMaxFileSlice) + " bytes");
  json::object o;
  o["path"] = request.path;
  o["mode"] = request.mode;
  o["append"] = request.append;
  return encode_blob(o, request.data);
}

Result<WriteFile> decode_write_file(std::string_view payload) {
  auto decode = [&]() -> Result<WriteFile> {
    FIRERUN_TRY(auto blob, decode_blob(payload, "write_file"));
    WriteFile w;
    FIRERUN_TRY(w.path, require_path(blob.header));
    FIRERUN_TRY(auto mode, get_uint_or(blob.header, "mode", 0644, 07777));
    w.mode = static_cast<std::uint32_t>(mode);
    FIRERUN_TRY(w.append, get_bool_or(blob.header, "append", false));
    w.data.assign(blob.data.data(), blob.data.size());
    return w;
  };
  return in_context(decode(), "write_file");
}

std::string encode_read_file(const ReadFile& request) {
  json::object o;
  o["path"] = request.path;
  o["offset"] = request.offset;
  o["max_bytes"] = request.max_bytes;
  return json::serialize(o);
}

Result<ReadFile> decode_read_file(std::string_view payload) {
  auto decode = [&]() -> Result<ReadFile> {
    FIRERUN_TRY(auto o, parse_object(payload, "read_file"));
    ReadFile r;
    FIRERUN_TRY(r.path, require_path(o));
    FIRERUN_TRY(r.offset, get_uint_or(o, "offset", 0, std::numeric_limits<std::int64_t>::max()));
    FIRERUN_TRY(auto max_bytes, get_uint_or(o, "max_bytes", kMaxFileSlice, kMaxFileSlice));
    r.max_bytes = static_cast<std::uint32_t>(max_bytes);
    return r;
  };
  return in_context(decode(), "read_file");
}

Result<std::string> encode_file_data(const FileData& data) {
  if (data.data.size() > kMaxFileSlice)
    return Error(Errc::invalid_argument, "file_data slice exceeds " + std::to_string(kMaxFileSlice) + " bytes");
  json::object o;
  o["total_size"] = data.total_size;
  return encode_blob(o, data.data);
}

Result<FileData> decode_file_data(std::string_view payload) {
  auto decode = [&]() -> Result<FileData> {
    FIRERUN_TRY(auto blob, decode_blob(payload, "file_data"));
    FileData d;
    FIRERUN_TRY(d.total_size, get_required_uint(blob.header, "total_size"));
    d.data.assign(blob.data.data(), blob.data.size());
    return d;
  };
  return in_context(decode(), "file_data");
}

Result<std::string> encode_reseed(const Reseed& request) {
  if (request.entropy.size() > kMaxFileSlice)
    return Error(Errc::invalid_argument, "reseed entropy exceeds " + std::to_string(kMaxFileSlice) + " bytes");
  json::object o;
  if (request.unix_time_ns) o["unix_time_ns"] = *request.unix_time_ns;
  return encode_blob(o, request.entropy);
}

Result<Reseed> decode_reseed(std::string_view payload) {
  auto decode = [&]() -> Result<Reseed> {
    FIRERUN_TRY(auto blob, decode_blob(payload, "reseed"));
    Reseed r;
    FIRERUN_TRY(auto t, get_uint(blob.header, "unix_time_ns", false));
    if (t) {
      if (*t > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return protocol_error("field 'unix_time_ns' is out of range");
      r.unix_time_ns = static_cast<std::int64_t>(*t);
    }
    r.entropy.assign(blob.data.data(), blob.data.size());
    return r;
  };
  return in_context(decode(), "reseed");
}

std::string encode_error(Errc code, std::string_view message) {
  json::object o;
  o["errc"] = static_cast<int>(code);
  o["name"] = errc_name(code);
  o["message"] = message.substr(0, kMaxErrorMessage);
  return json::serialize(o);
}

Error decode_error(std::string_view payload) {
  auto o = parse_object(payload, "error");
  if (!o) return Error(Errc::protocol, "guest agent sent a malformed error reply: " + o.error().message());
  auto raw = get_small_int(*o, "errc", 0, 1000);
  auto message = get_string(*o, "message", false);
  if (!raw || !message) {
    const Error& e = !raw ? raw.error() : message.error();
    return Error(Errc::protocol, "guest agent sent a malformed error reply: " + e.message());
  }
  Errc code = Errc::guest_failed;
  if (*raw && **raw > 0 && **raw <= static_cast<int>(Errc::internal)) code = static_cast<Errc>(**raw);
  std::string text = message->value_or("(no message)");
  if (text.size() > kMaxErrorMessage) text.resize(kMaxErrorMessage);
  return Error(code, "guest agent: " + text);
}

}  // namespace firerun::agent
