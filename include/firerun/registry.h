// One registry template for every pluggable interface (VM backends, schedulers,
// CI providers, cloud providers). Callers pick a backend by name or URI scheme;
// core code never names a backend.
#pragma once

#include "firerun/error.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace firerun {

/// What `firerun backends` shows about a backend.
struct BackendInfo {
  std::string name;         ///< registry key, e.g. "qemu"
  std::string description;  ///< one line
  std::string status;       ///< "stable" | "experimental"
  std::vector<std::string> requires_;  ///< e.g. {"qemu-system-x86_64"}, {"kvm"}
};

/// A factory type F must provide `BackendInfo info() const`.
template <class Factory>
class Registry {
 public:
  /// Adds a factory; a duplicate name is an error (never silently replaced).
  Status add(std::shared_ptr<Factory> factory) {
    std::lock_guard lock(mutex_);
    auto name = factory->info().name;
    if (!factories_.emplace(name, std::move(factory)).second)
      return make_error(Errc::already_exists, "backend '" + name + "' is already registered");
    return {};
  }

  /// Looks a backend up by name (or by the scheme of a URI such as "qemu:///?accel=tcg").
  Result<std::shared_ptr<Factory>> find(std::string_view name_or_uri) const {
    std::string key(name_or_uri.substr(0, name_or_uri.find(':')));
    std::lock_guard lock(mutex_);
    auto it = factories_.find(key);
    if (it == factories_.end()) {
      std::string known;
      for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
      return make_error(Errc::not_found, "no backend named '" + key + "' (known: " + known + ")");
    }
    return it->second;
  }

  std::vector<BackendInfo> list() const {
    std::lock_guard lock(mutex_);
    std::vector<BackendInfo> out;
    for (const auto& [n, f] : factories_) out.push_back(f->info());
    return out;
  }

  /// Removes a backend (for tests that inject a temporary one).
  void remove(const std::string& name) {
    std::lock_guard lock(mutex_);
    factories_.erase(name);
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Factory>, std::less<>> factories_;
};

}  // namespace firerun
