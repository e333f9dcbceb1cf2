// The wire form of a job in a shared queue, and the names allowed in keys.
#include "firerun/fleet.h"

#include "core/crypto.h"

#include <boost/json.hpp>

#include <cstdint>
#include <limits>

namespace firerun::fleet {
namespace json = boost::json;
namespace {

constexpr std::int64_t kMaxTimeoutMs = 7ll * 24 * 3600 * 1000;
constexpr std::size_t kMaxWireBytes = 64u << 20;

Error bad(std::string what) { return Error(Errc::protocol, "fleet job entry: " + std::move(what)); }

Result<std::int64_t> integer_field(const json::object& o, std::string_view key, std::int64_t min, std::int64_t max) {
  const json::value* v = o.if_contains(key);
  if (!v) return bad("missing \"" + std::string(key) + "\"");
  std::int64_t n = 0;
  if (v->is_int64()) n = v->as_int64();
  else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    n = static_cast<std::int64_t>(v->as_uint64());
  else return bad("\"" + std::string(key) + "\" must be an integer");
  if (n < min || n > max)
    return bad("\"" + std::string(key) + "\" must be between " + std::to_string(min) + " and " + std::to_string(max));
  return n;
}

Result<std::string> string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return bad("\"" + std::string(key) + "\" must be a string");
  return std::string(v->as_string());
}

}  // namespace

bool valid_fleet_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

std::string job_mac_hex(std::string_view key, std::string_view inner) {
  return ::firerun::detail::hex(::firerun::detail::hmac_sha256(key, inner));
}

std::string encode_plain(const scheduler::Job& job);
Result<scheduler::Job> decode_plain(const json::object& entry);

/// An entry's JSON object, size-checked.
Result<json::object> parse_entry(std::string_view wire) {
  if (wire.size() > kMaxWireBytes) return bad("larger than " + std::to_string(kMaxWireBytes) + " bytes");
  boost::system::error_code ec;
  json::value doc = json::parse(wire, ec);
  if (ec) return bad("not valid JSON");
  if (!doc.is_object()) return bad("not a JSON object");
  return std::move(doc.as_object());
}

}  // namespace

std::string encode_job(const scheduler::Job& job, std::string_view key) {
  std::string plain = encode_plain(job);
  if (key.empty()) return plain;
  const std::string mac = job_mac_hex(key, plain);
  return json::serialize(json::object{{"v", 2}, {"job", std::move(plain)}, {"mac", mac}});
}

Result<scheduler::Job> decode_job(std::string_view wire, std::string_view key) {
  FIRERUN_TRY(auto o, parse_entry(wire));
  FIRERUN_TRY(auto version, integer_field(o, "v", 1, 2));
  if (version == 1) {
    if (!key.empty()) return bad("unsigned, and this queue requires entries signed with the fleet key");
    return decode_plain(o);
  }
  if (key.empty()) return bad("signed, and this host has no fleet key to check it");
  FIRERUN_TRY(auto inner, string_field(o, "job"));
  FIRERUN_TRY(auto mac, string_field(o, "mac"));
  const std::string expected = job_mac_hex(key, inner);
  // Constant time: the MAC must not be guessable byte by byte.
  if (!::firerun::detail::constant_time_equal(mac, expected))
    return bad("its MAC does not match (forged, altered or signed with another fleet key)");
  FIRERUN_TRY(auto plain, parse_entry(inner));
  return decode_plain(plain);
}

namespace {

std::string encode_plain(const scheduler::Job& job) {
  return json::serialize(json::object{{"v", 1},
                                      {"id", job.id},
                                      {"kind", job.kind},
                                      {"payload", job.payload},
                                      {"priority", job.priority},
                                      {"vcpus", job.resources.vcpus},
                                      {"memory_mib", job.resources.memory_mib},
                                      {"timeout_ms", static_cast<std::int64_t>(job.timeout.count())}});
}

Result<scheduler::Job> decode_plain(const json::object& o) {
  FIRERUN_TRY(auto version, integer_field(o, "v", 1, 1));
  (void)version;
  scheduler::Job job;
  FIRERUN_TRY(job.id, string_field(o, "id"));
  if (!valid_fleet_name(job.id)) return bad("\"id\" must be 1-128 characters of [A-Za-z0-9._-]");
  FIRERUN_TRY(job.kind, string_field(o, "kind"));
  FIRERUN_TRY(job.payload, string_field(o, "payload"));
  FIRERUN_TRY(auto priority, integer_field(o, "priority", std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
  job.priority = static_cast<int>(priority);
  FIRERUN_TRY(auto vcpus, integer_field(o, "vcpus", 1, 4096));
  job.resources.vcpus = static_cast<unsigned>(vcpus);
  FIRERUN_TRY(auto memory, integer_field(o, "memory_mib", 1, std::int64_t{1} << 40));
  job.resources.memory_mib = static_cast<std::uint64_t>(memory);
  FIRERUN_TRY(auto timeout, integer_field(o, "timeout_ms", 1, kMaxTimeoutMs));
  job.timeout = std::chrono::milliseconds(timeout);
  return job;
}

}  // namespace

}  // namespace firerun::fleet
