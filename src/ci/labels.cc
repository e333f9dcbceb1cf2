// Label/tag grammar (see docs/ci.md):
//   firerun                              all defaults
//   firerun/cpu=4/ram=8/disk=20/image=ubuntu/pool=default   any subset of keys
//   firecracker-2cpu-4gb                 FireRunner style: vCPUs and RAM (GiB)
// Matching is ASCII case-insensitive, like GitHub's runs-on matching. All
// firerun labels of a job are merged; a key set twice is an error.
#include "ci/headers.h"
#include "firerun/ci.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace firerun::ci {
namespace {

constexpr std::size_t kMaxLabelLength = 256;
constexpr std::size_t kMaxNameLength = 63;

enum class Key { cpu, ram, disk, image, pool };
constexpr std::array<std::string_view, 5> kKeyNames = {"cpu", "ram", "disk", "image", "pool"};
// Beyond these a value is a typo or an attack, not a request we could ever serve.
constexpr std::array<std::uint32_t, 3> kPlausibleMax = {1024, 16384, 65536};

struct Setting {
  std::string value;
  std::string label;  // which label set it, for duplicate-key messages
};

struct Request {
  std::array<std::optional<Setting>, kKeyNames.size()> settings;
};

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

bool is_firerun_label(std::string_view lowered) {
  return lowered == "firerun" || lowered.starts_with("firerun/") || lowered.starts_with("firecracker-");
}

Error label_error(Errc code, std::string_view label, const std::string& message) {
  return Error(code, "label " + quote_untrusted(label) + ": " + message);
}

Status set_key(Request& request, Key key, std::string value, std::string_view label) {
  auto& slot = request.settings[static_cast<std::size_t>(key)];
  if (slot)
    return label_error(Errc::invalid_argument, label,
                       "key '" + std::string(kKeyNames[static_cast<std::size_t>(key)]) + "' is already set by label " +
                           quote_untrusted(slot->label));
  slot = Setting{std::move(value), std::string(label)};
  return {};
}

Result<std::uint32_t> parse_size(std::string_view text, Key key, std::string_view label) {
  auto name = std::string(kKeyNames[static_cast<std::size_t>(key)]);
  if (text.empty()) return label_error(Errc::invalid_argument, label, name + " needs a value");
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return label_error(Errc::invalid_argument, label, name + "=" + quote_untrusted(text, 24) +
                                                          " must be a positive whole number");
  if (text.find_first_not_of('0') == std::string_view::npos)
    return label_error(Errc::invalid_argument, label, name + " must be at least 1");
  if (text.front() == '0')
    return label_error(Errc::invalid_argument, label, name + "=" + quote_untrusted(text, 24) + " has leading zeros");
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  auto cap = kPlausibleMax[static_cast<std::size_t>(key)];
  if (ec != std::errc() || ptr != text.data() + text.size() || value > cap)
    return label_error(Errc::invalid_argument, label,
                       name + "=" + quote_untrusted(text, 24) + " is not a plausible size (at most " +
                           std::to_string(cap) + ")");
  return static_cast<std::uint32_t>(value);
}

Status check_name(std::string_view text, std::string_view what, std::string_view label) {
  bool ok = !text.empty() && text.size() <= kMaxNameLength &&
            std::isalnum(static_cast<unsigned char>(text.front())) &&
            std::all_of(text.begin(), text.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
            });
  if (!ok)
    return label_error(Errc::invalid_argument, label,
                       std::string(what) + " name " + quote_untrusted(text, 24) +
                           " must be 1-63 characters of a-z, 0-9, '.', '_', '-' starting with a letter or digit");
  return {};
}

// "firerun/cpu=4/ram=8"; `rest` is everything after "firerun/".
Status parse_key_values(std::string_view rest, std::string_view label, Request& request) {
  while (true) {
    auto slash = rest.find('/');
    auto segment = rest.substr(0, slash);
    if (segment.empty()) return label_error(Errc::invalid_argument, label, "empty key=value segment");
    auto eq = segment.find('=');
    if (eq == std::string_view::npos)
      return label_error(Errc::invalid_argument, label,
                         "segment " + quote_untrusted(segment, 24) + " must be key=value");
    auto key_text = segment.substr(0, eq);
    auto it = std::find(kKeyNames.begin(), kKeyNames.end(), key_text);
    if (it == kKeyNames.end())
      return label_error(Errc::invalid_argument, label,
                         "unknown key " + quote_untrusted(key_text, 24) + " (known: cpu, ram, disk, image, pool)");
    FIRERUN_CHECK(set_key(request, static_cast<Key>(it - kKeyNames.begin()), std::string(segment.substr(eq + 1)), label));
    if (slash == std::string_view::npos) return {};
    rest = rest.substr(slash + 1);
  }
}

// "firecracker-<N>cpu-<M>gb"; `rest` is everything after "firecracker-".
Status parse_firecracker(std::string_view rest, std::string_view label, Request& request) {
  auto malformed = [&] {
    return label_error(Errc::invalid_argument, label, "expected firecracker-<N>cpu-<M>gb, e.g. firecracker-2cpu-4gb");
  };
  auto cpu_end = rest.find("cpu-");
  if (cpu_end == std::string_view::npos || !rest.ends_with("gb")) return malformed();
  auto cpus = rest.substr(0, cpu_end);
  auto ram = rest.substr(cpu_end + 4, rest.size() - cpu_end - 4 - 2);
  if (cpu_end + 4 > rest.size() - 2 || cpus.empty() || ram.empty()) return malformed();
  FIRERUN_CHECK(set_key(request, Key::cpu, std::string(cpus), label));
  return set_key(request, Key::ram, std::string(ram), label);
}

Status check_allowed(const std::string& value, const std::vector<std::string>& allowed, std::string_view what) {
  if (allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return {};
  std::string known;
  for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
  return make_error(Errc::limit_exceeded,
                    "asks for " + std::string(what) + " '" + value + "', hosts offer only: " + known);
}

Status check_limits(const VmShape& shape, const ShapeLimits& limits) {
  if (shape.vcpus > limits.max_vcpus)
    return make_error(Errc::limit_exceeded, "asks for " + std::to_string(shape.vcpus) + " vCPUs, hosts offer at most " +
                                                std::to_string(limits.max_vcpus));
  if (shape.memory_gib > limits.max_memory_gib)
    return make_error(Errc::limit_exceeded, "asks for " + std::to_string(shape.memory_gib) +
                                                " GiB of RAM, hosts offer at most " +
                                                std::to_string(limits.max_memory_gib) + " GiB");
  if (shape.disk_gib > limits.max_disk_gib)
    return make_error(Errc::limit_exceeded, "asks for " + std::to_string(shape.disk_gib) +
                                                " GiB of disk, hosts offer at most " +
                                                std::to_string(limits.max_disk_gib) + " GiB");
  FIRERUN_CHECK(check_allowed(shape.image, limits.images, "image"));
  return check_allowed(shape.pool, limits.pools, "pool");
}

}  // namespace

Status validate_label_policy(const LabelPolicy& policy) {
  const auto& d = policy.defaults;
  if (d.vcpus == 0 || d.memory_gib == 0 || d.disk_gib == 0)
    return make_error(Errc::invalid_argument, "default VM shape needs at least 1 vCPU, 1 GiB RAM and 1 GiB disk");
  FIRERUN_CHECK(add_context(check_name(d.image, "image", "(default)"), "default VM shape"));
  FIRERUN_CHECK(add_context(check_name(d.pool, "pool", "(default)"), "default VM shape"));
  return add_context(check_limits(d, policy.limits), "default VM shape exceeds the configured limits");
}

Result<std::optional<VmShape>> shape_from_labels(std::span<const std::string> labels, const LabelPolicy& policy) {
  Request request;
  bool ours = false;
  for (const auto& original : labels) {
    auto label = lowercase(original);
    if (!is_firerun_label(label)) continue;
    ours = true;
    if (label.size() > kMaxLabelLength)
      return label_error(Errc::invalid_argument, original,
                         "longer than " + std::to_string(kMaxLabelLength) + " characters");
    if (label == "firerun") continue;
    if (label.starts_with("firerun/")) {
      FIRERUN_CHECK(parse_key_values(std::string_view(label).substr(8), original, request));
    } else {
      FIRERUN_CHECK(parse_firecracker(std::string_view(label).substr(12), original, request));
    }
  }
  if (!ours) return std::optional<VmShape>{};

  VmShape shape = policy.defaults;
  std::array<std::uint32_t*, 3> sizes = {&shape.vcpus, &shape.memory_gib, &shape.disk_gib};
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    if (const auto& s = request.settings[k]) {
      FIRERUN_TRY(*sizes[k], parse_size(s->value, static_cast<Key>(k), s->label));
    }
  }
  if (const auto& s = request.settings[static_cast<std::size_t>(Key::image)]) {
    FIRERUN_CHECK(check_name(s->value, "image", s->label));
    shape.image = s->value;
  }
  if (const auto& s = request.settings[static_cast<std::size_t>(Key::pool)]) {
    FIRERUN_CHECK(check_name(s->value, "pool", s->label));
    shape.pool = s->value;
  }
  FIRERUN_CHECK(check_limits(shape, policy.limits));
  return std::optional<VmShape>(std::move(shape));
}

}  // namespace firerun::ci
